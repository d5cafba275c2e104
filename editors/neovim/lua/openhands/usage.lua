--- What the agent's LLM calls cost, in words: per conversation (its `usage`) for lists and the buffer's header, and
--- this session's total (the server's own count, `openhands.status`) for the statusline's opt-in field.
local M = {}

--- `$0.0123` (enough digits below a cent), or `cost unknown`.
function M.cost(u)
  if u.costUsd == nil or u.costUsd == vim.NIL then
    return "cost unknown"
  end
  if u.costUsd >= 0.01 or u.costUsd <= 0 then
    return string.format("$%.2f", u.costUsd)
  end
  local digits = math.min(10, math.max(4, math.ceil(-math.log10(u.costUsd)) + 2))
  local text = string.format("%." .. digits .. "f", u.costUsd):gsub("0+$", "")
  return "$" .. text
end

--- `$0.0123 · 1234 tokens`, for a list row or a statusline.
function M.short(u)
  return string.format("%s · %d tokens", M.cost(u), (u.tokensIn or 0) + (u.tokensOut or 0))
end

--- `$0.0123 · 1234 tokens in (200 cached), 56 out · context 1290 of 128000 (1%) · 4.2 s of LLM time`.
function M.long(u)
  local cached = (u.cachedTokens or 0) > 0 and string.format(" (%d cached)", u.cachedTokens) or ""
  local parts = { M.cost(u), string.format("%d tokens in%s, %d out", u.tokensIn or 0, cached, u.tokensOut or 0) }
  if (u.contextWindow or 0) > 0 then
    local share = math.floor(100 * u.contextUsed / u.contextWindow + 0.5)
    table.insert(parts, string.format("context %d of %d (%d%%)", u.contextUsed, u.contextWindow, share))
  end
  if (u.llmSeconds or 0) > 0 then
    table.insert(parts, string.format("%.1f s of LLM time", u.llmSeconds))
  end
  return table.concat(parts, " · ")
end

--- The session's total, as the server last counted it (nil before anything was used).
M.session = nil
local seen = {}
local pending = false

--- A conversation changed: when its usage did, the session's total is asked for again (at most once a second).
function M.on_changed(c)
  local now = vim.json.encode(c.usage or vim.NIL)
  if seen[c.id] == now then
    return
  end
  seen[c.id] = now
  if pending then
    return
  end
  pending = true
  vim.defer_fn(function()
    pending = false
    require("openhands").execute("openhands.status", {}, function(err, status)
      if not err and status and type(status.usage) == "table" and (status.usage.conversations or 0) > 0 then
        M.session = status.usage
        vim.cmd.redrawstatus({ bang = true })
      end
      return true
    end)
  end, 1000)
end

return M

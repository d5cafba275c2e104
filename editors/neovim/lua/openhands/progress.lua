--- Work-done progress of the openhands client, from the LspProgress autocmd: vim.notify messages (optional) and a
--- statusline component. Reads only the autocmd's data, never the client's progress ring buffer, so it works
--- alongside fidget.nvim and other progress UIs.
local M = {}

local active = {} -- token -> { title, message, percentage }
local order = {} -- tokens, most recent last
local server_status = nil -- the last openhands/status params

local function is_ours(client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  return client ~= nil and client.name == require("openhands").NAME
end

local function notify(msg, level)
  if require("openhands").options.progress.notify then
    require("openhands.notify").say(msg, level)
  end
end

function M.on_progress(data)
  if not data or not is_ours(data.client_id) then
    return
  end
  local params = data.params or {}
  local token = tostring(params.token)
  local value = params.value or {}
  if value.kind == "begin" then
    active[token] = { title = value.title or "OpenHands", message = value.message }
    table.insert(order, token)
    notify((value.title or "OpenHands") .. (type(value.message) == "string" and (": " .. value.message) or ""))
  elseif value.kind == "report" and active[token] then
    active[token].message = value.message or active[token].message
  elseif value.kind == "end" then
    local entry = active[token]
    active[token] = nil
    order = vim.tbl_filter(function(t)
      return t ~= token
    end, order)
    local title = entry and entry.title or "OpenHands"
    local failed = type(value.message) == "string" and value.message:match("^failed")
    -- A failure is the server's error message to show (window/showMessage): said once, not here too.
    if not failed then
      -- A stuck agent needs the user as a failure does: said as a warning, not as news.
      local stuck = type(value.message) == "string" and value.message:match("^stuck")
      notify(title .. (type(value.message) == "string" and (": " .. value.message) or ""), stuck and vim.log.levels.WARN or nil)
    end
  end
  vim.cmd("redrawstatus")
end

function M.on_status(params)
  server_status = params
  vim.cmd("redrawstatus")
end

--- "OpenHands: <title>: <message>" for the newest progress, else a problem the server reports, else "".
function M.status()
  local token = order[#order]
  if token and active[token] then
    local entry = active[token]
    return entry.title .. (entry.message and (": " .. entry.message) or "")
  end
  if server_status and server_status.kind ~= "normal" then
    return "OpenHands: " .. server_status.message
  end
  return ""
end

--- Progress seen so far, for tests: { [token] = {title, message} }.
function M.active()
  return active
end

local group = nil
function M.setup()
  if group then
    return
  end
  group = vim.api.nvim_create_augroup("openhands.progress", { clear = true })
  vim.api.nvim_create_autocmd("LspProgress", {
    group = group,
    callback = function(ev)
      M.on_progress(ev.data)
    end,
  })
end

return M

--- When a conversation needs the user: it finished, failed or got stuck, or waits for an answer (a confirmation, its
--- budget). Each time one comes to need them, `User OpenHandsNeedsYou` fires with `data` = { conversationId, title,
--- reason = "finished" | "failed" | "stuck" | "confirmation" | "budget", message }: for statuslines, a desktop
--- notification, a sound. What the user reads comes from where it already is (the progress' end, the server's
--- error message, the question's prompt): said once.
local M = {}

--- Why conversation `c` needs the user now, if it does (only one this session runs: another's is not theirs here).
local function reason_of(c)
  if type(c) ~= "table" or c.live == false or c.runningElsewhere then
    return nil
  end
  if c.state == "waiting_for_confirmation" then
    return "confirmation"
  end
  if c.state == "paused" and type(c.budgetReached) == "string" then
    return "budget"
  end
  return ({ finished = "finished", error = "failed", stuck = "stuck" })[c.state]
end

local function text(v)
  return type(v) == "string" and v or nil
end

--- A conversation changed (`before`: what it was, nil when new): fires the event when it came to need the user.
function M.on_changed(before, now)
  local reason = reason_of(now)
  if not reason or reason == reason_of(before) then
    return
  end
  local message = text(now.error) or text(now.finalMessage) or text(now.budgetReached) or ""
  local data = { conversationId = now.id, title = now.title or now.id, reason = reason, message = message }
  vim.schedule(function()
    vim.api.nvim_exec_autocmds("User", { pattern = "OpenHandsNeedsYou", modeline = false, data = data })
  end)
end

return M

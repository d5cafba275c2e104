--- The agent's confirmations (window/showMessageRequest from openhands-lsp) through vim.ui.select.
local M = {}

local labels = {
  ["Allow"] = "Allow: run it",
  ["Allow for this conversation"] = "Allow for this conversation: stop asking",
  ["Reject"] = "Reject: the agent is told you said no",
}

--- Handler for window/showMessageRequest. Neovim runs server requests in a coroutine (0.10+): yield until the
--- user chooses; outside one, fall back to Neovim's own handler.
function M.handler(err, params, ctx, config)
  local co, is_main = coroutine.running()
  if not co or is_main then
    return vim.lsp.handlers["window/showMessageRequest"](err, params, ctx, config)
  end
  local actions = params.actions or {}
  vim.ui.select(actions, {
    kind = "openhands_confirmation",
    prompt = params.message,
    format_item = function(action)
      return labels[action.title] or action.title
    end,
  }, function(choice)
    vim.schedule(function()
      coroutine.resume(co, choice or vim.NIL)
    end)
  end)
  return coroutine.yield()
end

return M

-- Subcommands typed from an ordinary file buffer, with the server running: each sends its arguments as one JSON
-- object (an empty Lua table would be the JSON array `[]`, which the server refuses), and says what it did.
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
local ws, oh = T.setup_server()

T.case("the server runs for a file buffer", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "a.txt")))
  T.wait("the client to attach", function()
    return oh.get_client() ~= nil and oh.get_client().initialized
  end, 20000)
end)

T.case(":OpenHands list from a file buffer, without an id", function()
  local text = T.notes_from("OpenHands list")
  T.truthy(T.has(text, "no conversation yet"), text)
  T.truthy(not T.has(text, "must be a JSON object"), text)
end)

T.case(":OpenHands status from a file buffer", function()
  local text = T.notes_from("OpenHands status")
  T.truthy(T.has(text, "openhands-lsp ") and T.has(text, "backend process"), text)
  T.truthy(not T.has(text, "failed"), text)
end)

T.case("an empty argument table goes out as a JSON object", function()
  local result, err = oh.execute_sync("openhands.listConversations", {})
  T.truthy(err == nil, vim.inspect(err))
  T.truthy(result and result.conversations, vim.inspect(result))
  local _, err2 = oh.execute_sync("openhands.status", { conversationId = nil })
  T.truthy(err2 == nil, vim.inspect(err2))
end)

T.finish()

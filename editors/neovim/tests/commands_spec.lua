-- Subcommands typed from an ordinary file buffer, with the server running: each sends its arguments as one JSON
-- object (an empty Lua table would be the JSON array `[]`, which the server refuses), and says what it did.
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
vim.cmd("filetype on")
vim.cmd("runtime plugin/openhands.lua")
T.capture_notify()

local ws = assert(vim.env.OH_TEST_WORKSPACE, "OH_TEST_WORKSPACE")
local oh = require("openhands")
oh.setup({
  settings = {
    backend = "process",
    process = { command = vim.env.OPENHANDS_AGENT_SERVER, startupTimeoutSeconds = 180 },
    llm = { model = "openai/stub", baseUrl = vim.env.OH_TEST_LLM_URL, numRetries = 0 },
  },
})

--- The notes shown since `from`, joined.
local function notes_since(from)
  local out = {}
  for i = from + 1, #T.notes do
    table.insert(out, T.notes[i].msg)
  end
  return table.concat(out, "\n")
end

T.case("the server runs for a file buffer", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "a.txt")))
  T.wait("the client to attach", function()
    return oh.get_client() ~= nil and oh.get_client().initialized
  end, 20000)
end)

T.case(":OpenHands list from a file buffer, without an id", function()
  local from = #T.notes
  vim.cmd("OpenHands list")
  local text = T.wait("an answer", function()
    local t = notes_since(from)
    return t ~= "" and t or nil
  end)
  T.truthy(T.has(text, "no conversation yet"), text)
  T.truthy(not T.has(text, "must be a JSON object"), text)
end)

T.case(":OpenHands status from a file buffer", function()
  local from = #T.notes
  vim.cmd("OpenHands status")
  local text = T.wait("the status", function()
    local t = notes_since(from)
    return t ~= "" and t or nil
  end)
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

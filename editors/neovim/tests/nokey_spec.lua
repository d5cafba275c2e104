-- A user with no LLM key (none in the environment, none set) and a hosted model: the task does not start, and the
-- one message says what to type here.
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
local ws, oh = T.setup_server({ llm = { model = "anthropic/claude-sonnet-4-5-20250929", baseUrl = vim.NIL } })

T.case("a task without an LLM key says :OpenHands secret llm_api_key, once, and starts nothing", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "a.txt")))
  T.wait("the client to attach", function()
    return oh.get_client() ~= nil and oh.get_client().initialized
  end, 20000)
  local text = T.notes_from("OpenHands task Add a README")
  T.truthy(T.has(text, "OpenHands: could not start the task: no LLM API key is set for anthropic/"), text)
  T.truthy(T.has(text, "run :OpenHands secret llm_api_key"), text)
  T.truthy(not T.has(text, "OPENAI_API_KEY") and not T.has(text, "openhands.setSecret"), text)
  local about_key = vim.tbl_filter(function(n)
    return T.has(n.msg, "LLM API key")
  end, T.notes)
  T.eq(1, #about_key, "said once")
  T.eq(nil, require("openhands.conversation").id_of(0), "no conversation buffer")
  local list = oh.execute_sync("openhands.listConversations", {})
  T.eq(0, #(list and list.conversations or { "?" }), "nothing started")
end)

T.case(":checkhealth says the same, in Neovim's words", function()
  vim.cmd("checkhealth openhands")
  local text = T.buf_text(0)
  T.truthy(T.has(text, "no API key: run :OpenHands secret llm_api_key"), text)
end)

T.finish()

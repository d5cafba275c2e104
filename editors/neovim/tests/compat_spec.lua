-- The Neovim 0.10 paths, forced on the Neovim the suite runs (0.11+): no vim.lsp.config/enable (the server starts
-- on the first command, through vim.lsp.start) and the client's functions called as 0.10 has them
-- (client.request). A task runs through them from start to finish.
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
require("openhands").nvim_011 = false
local ws, oh = T.setup_server({ confirmation = "never" })

T.case("as on 0.10, setup attaches nothing to a buffer by itself", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "a.txt")))
  T.eq(0, #vim.lsp.get_clients({ name = oh.NAME }), "clients before any command")
end)

T.case(":OpenHands list starts the server and lists (nothing yet)", function()
  local text = T.notes_from("OpenHands list")
  T.truthy(T.has(text, "no conversation yet"), text)
  T.eq(1, #vim.lsp.get_clients({ name = oh.NAME }), "the client the command started")
  T.eq(ws, oh.get_client().root_dir, "its folder")
end)

local id
T.case("a task runs to its end and is listed", function()
  vim.cmd("OpenHands task Say hello")
  id = T.wait("the conversation buffer", function()
    return require("openhands.conversation").id_of(0)
  end)
  T.wait("the conversation to finish", function()
    local c = oh.conversations[id]
    return c and c.state == "finished"
  end, 240000)
  T.wait("the finish in the buffer", function()
    return T.has(T.buf_text(0), "✔ finished")
  end)
  local result, err = oh.execute_sync("openhands.listConversations", {})
  T.truthy(err == nil and result.conversations[1].id == id, vim.inspect(err or result))
end)

T.case("no error was shown (0.11's own note on the 0.10 call style aside)", function()
  for _, n in ipairs(T.notes) do
    local ours = not T.has(n.msg, "deprecated")
    T.truthy(not (ours and n.level and n.level >= vim.log.levels.WARN), n.msg)
  end
end)

T.finish()

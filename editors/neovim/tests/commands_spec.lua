-- Subcommands typed from an ordinary file buffer, with the server running: each sends its arguments as one JSON
-- object (an empty Lua table would be the JSON array `[]`, which the server refuses), and says what it did.
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
-- Info and up, as a user who wants to read the server's log sets it.
vim.lsp.set_log_level("INFO")
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

T.case(":OpenHands log opens the LSP log at its end, the server's lines at their own levels", function()
  T.notes_from("OpenHands status")
  local path = vim.lsp.get_log_path()
  T.wait("the server's info lines in the log", function()
    return T.has(T.read(path), "openhands_lsp::")
  end, 10000)
  vim.cmd("OpenHands log")
  local buf = vim.api.nvim_get_current_buf()
  T.eq(path, vim.api.nvim_buf_get_name(buf), "the log's buffer")
  T.eq(vim.api.nvim_buf_line_count(buf), vim.api.nvim_win_get_cursor(0)[1], "the cursor is on the last line")
  local infos, errors, ours = 0, {}, {}
  for _, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if T.has(line, "openhands_lsp::") then
      table.insert(ours, line)
      if line:sub(1, 6) == "[INFO]" then
        infos = infos + 1
      elseif line:sub(1, 7) == "[ERROR]" then
        table.insert(errors, line)
      end
    end
  end
  T.truthy(infos > 0, "the server's info lines are [INFO]: " .. table.concat(ours, "\n"))
  T.eq({}, errors, "no line of the server's is an [ERROR]")
  vim.cmd("tabclose")
end)

T.finish()

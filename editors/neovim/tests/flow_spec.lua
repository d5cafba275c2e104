-- A whole flow with the real server (process backend, the scripted LLM started by tests/tests/neovim.rs): start a
-- task, see its progress and the agent's command output in the conversation buffer, review the two changed files,
-- accept one and reject the other, apply: only the accepted file changes on disk.
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
local ws, oh = T.setup_server({ confirmation = "never" })

local id
T.case("a task starts from the command line and opens its conversation buffer", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "a.txt")))
  T.wait("the client to attach", function()
    return oh.get_client() ~= nil
  end, 20000)
  T.eq(ws, oh.get_client().root_dir, "the workspace folder")
  -- On a range, as from visual mode: the selected line goes with the task.
  vim.cmd("1OpenHands task Change a.txt and b.txt")
  id = T.wait("the conversation buffer", function()
    return require("openhands.conversation").id_of(0)
  end)
  -- Named by its title (what the tabline shows), not by a URI with the 32-hex id.
  T.truthy(vim.api.nvim_buf_get_name(0):find("OpenHands: Change a.txt and b.txt", 1, true), vim.api.nvim_buf_get_name(0))
end)

T.case("progress is seen through LspProgress", function()
  T.wait("a progress notification", function()
    for _, n in ipairs(T.notes) do
      if T.has(n.msg, "OpenHands: Change a.txt and b.txt") then
        return true
      end
    end
  end)
end)

T.case("the conversation buffer shows the agent's command and its output, folded", function()
  local buf = require("openhands.conversation").buf_of(id)
  local busy_status = false
  T.wait("the command output in the buffer", function()
    busy_status = busy_status or T.has(oh.status(), "Change a.txt and b.txt")
    return T.has(T.buf_text(buf), "  │ visible-output")
  end, 240000)
  T.truthy(busy_status, "the statusline component showed the running task")
  local text = T.buf_text(buf)
  T.truthy(T.has(text, "▶ $ echo visible-output"), text)
  local row
  for i, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if T.has(l, "  │ visible-output") then
      row = i
    end
  end
  T.truthy(vim.fn.foldlevel(row) >= 1, "output lines fold")
  T.wait("the conversation to finish", function()
    local c = oh.conversations[id]
    return c and c.state == "finished"
  end, 240000)
  T.wait("the header to say finished", function()
    return T.has(T.buf_text(buf), "state: finished")
  end)
  -- The progress ends in its own notification, which may come after the state change.
  T.wait("the statusline component to go idle", function()
    return not T.has(oh.status(), "Change a.txt")
  end)
end)

T.case("a conversation closed with q opens again whole: header, events, keys", function()
  local buf = require("openhands.conversation").buf_of(id)
  vim.api.nvim_set_current_buf(buf)
  vim.api.nvim_feedkeys("q", "x", false)
  T.truthy(vim.api.nvim_get_current_buf() ~= buf or not vim.api.nvim_buf_is_loaded(buf), "q closed it")
  vim.cmd("OpenHands open " .. id:sub(1, 8))
  local again = vim.api.nvim_get_current_buf()
  T.eq(id, require("openhands.conversation").id_of(again), "the conversation's buffer is current")
  T.wait("its header and events", function()
    local text = T.buf_text(again)
    return T.has(text, "# Change a.txt and b.txt") and T.has(text, "  │ visible-output")
  end, 10000)
  T.eq(false, vim.bo[again].modifiable, "not editable")
  T.truthy(vim.fn.maparg("q", "n", false, true).buffer == 1, "its keys are there")
end)

T.case("review lists the changed files; the accepted one is applied, the rejected one stays untouched", function()
  vim.cmd("OpenHands review " .. id)
  local review = require("openhands.review")
  T.wait("the review tab", function()
    local s = review.session(id)
    return s and s.files and #s.files == 2
  end)
  local s = review.session(id)
  local text = T.buf_text(s.list_buf)
  T.truthy(T.has(text, "modified a.txt") and T.has(text, "modified b.txt"), text)
  -- The diff of the first file is shown beside the list.
  T.truthy(vim.wo[s.right_win].diff, "the proposed side is in diff mode")
  T.truthy(T.has(T.buf_text(vim.api.nvim_win_get_buf(s.right_win)), "ONE"), "proposed text shown")
  vim.api.nvim_set_current_win(vim.fn.bufwinid(s.list_buf))
  for i, f in ipairs(s.files) do
    vim.api.nvim_win_set_cursor(0, { s.first_file_line + i - 1, 0 })
    vim.cmd("normal " .. (f.path == "a.txt" and "a" or "r"))
  end
  T.eq({ "a.txt" }, review.accepted(id), "accepted")
  text = T.buf_text(s.list_buf)
  T.truthy(T.has(text, "[✓] modified a.txt") and T.has(text, "[✗] modified b.txt"), text)
  vim.api.nvim_set_current_win(vim.fn.bufwinid(s.list_buf))
  vim.cmd("normal A")
  T.wait("a.txt to change on disk", function()
    return T.read(vim.fs.joinpath(ws, "a.txt")) == "ONE\n"
  end, 30000)
  T.eq("bee\n", T.read(vim.fs.joinpath(ws, "b.txt")), "the rejected file")
end)

--- The messages from the user's side (theirs, and the notes their editor gave the agent) whose text holds `needle`.
local function messages_with(needle)
  local page = oh.execute_sync("openhands.getEvents", { conversationId = id, after = 0, limit = 500 })
  return vim.tbl_filter(function(e)
    return e.kind == "MessageEvent" and (e.source == "user" or e.source == "openhands-lsp") and T.has(e.detail, needle)
  end, page and page.events or {})
end

T.case("pressing A again says the file is already applied, and the agent is told only once", function()
  local s = require("openhands.review").session(id)
  T.wait("the agent to be told what was applied", function()
    return #messages_with("Applied to their files now") == 1
  end, 30000)
  vim.api.nvim_set_current_win(vim.fn.bufwinid(s.list_buf))
  local from = #T.notes
  vim.cmd("normal A")
  local said = T.wait("what the second apply says", function()
    return T.notes[from + 1] and T.notes[from + 1].msg
  end, 30000)
  T.truthy(T.has(said, "already applied") and T.has(said, "a.txt"), said)
  T.truthy(not T.has(said, "applied 0 of"), said)
  -- A message the user sends after it lands after anything the second apply would have told the agent.
  oh.execute_sync("openhands.sendMessage", { conversationId = id, text = id:sub(1, 8) .. "-check" })
  T.wait("the user's message in the history", function()
    return #messages_with(id:sub(1, 8) .. "-check") == 1
  end, 30000)
  T.eq(1, #messages_with("Applied to their files now"), "the agent was told once")
  T.eq("ONE\n", T.read(vim.fs.joinpath(ws, "a.txt")), "a.txt as applied")
end)

T.case("the server's code actions appear in vim.lsp.buf.code_action(): fix a diagnostic", function()
  vim.cmd("tabonly")
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "a.txt")))
  local diagnostic = {
    range = { start = { line = 0, character = 0 }, ["end"] = { line = 0, character = 3 } },
    message = "ONE is shouting",
    source = "lint",
    severity = 2,
  }
  local titles = {}
  vim.lsp.buf.code_action({
    context = { diagnostics = { diagnostic }, only = { "quickfix" } },
    apply = true,
    filter = function(action)
      table.insert(titles, action.title)
      return action.title == 'OpenHands: fix "ONE is shouting"'
    end,
  })
  T.wait("a conversation started by the code action", function()
    for _, c in pairs(oh.conversations) do
      if c.title == "Fix: ONE is shouting" then
        return true
      end
    end
  end, 30000)
  T.truthy(vim.tbl_contains(titles, 'OpenHands: fix "ONE is shouting"'), vim.inspect(titles))
end)

T.finish()

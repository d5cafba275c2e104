-- The review tab with changes that are more than text: a link out of the workspace (marked, its target shown, never
-- what it points to, and why it can't be applied), a link inside it, a mode change. Applying all of them changes
-- exactly what can be applied (the Rust wrapper checks the disk).
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
local ws, oh = T.setup_server({ confirmation = "never" })
local review = require("openhands.review")

local id, s
T.case("the agent's links and mode change are listed compactly", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "a.txt")))
  T.wait("the client to attach", function()
    return oh.get_client() ~= nil
  end, 20000)
  vim.cmd("OpenHands task Make links")
  id = T.wait("the conversation buffer", function()
    return require("openhands.conversation").id_of(0)
  end)
  T.wait("the task to finish", function()
    local c = oh.conversations[id]
    return c and c.state == "finished"
  end, 240000)
  vim.cmd("OpenHands review " .. id)
  s = T.wait("the review tab", function()
    local r = review.session(id)
    return r and r.files and #r.files == 3 and r
  end)
  local text = T.buf_text(s.list_buf)
  T.truthy(T.has(text, "[!] added    out_link → /etc/hostname  (can't apply)"), text)
  T.truthy(T.has(text, "[ ] added    in_link → a.txt"), text)
  T.truthy(T.has(text, "[ ] modified run.sh  +x"), text)
end)

T.case("a link's diff shows its target and why it can't be applied, never what it points to", function()
  vim.api.nvim_set_current_win(vim.fn.bufwinid(s.list_buf))
  for i, f in ipairs(s.files) do
    if f.path == "out_link" then
      vim.api.nvim_win_set_cursor(0, { s.first_file_line + i - 1, 0 })
    end
  end
  vim.cmd("normal \r")
  local right = T.wait("the link's diff", function()
    local t = T.buf_text(vim.api.nvim_win_get_buf(s.right_win))
    return T.has(t, "symbolic link") and t
  end)
  T.truthy(T.has(right, "(symbolic link → /etc/hostname)"), right)
  T.truthy(T.has(right, "Can't apply: it is a symbolic link to"), right)
  local hostname = vim.trim(T.read("/etc/hostname"))
  T.truthy(hostname == "" or not T.has(right, hostname), "the target's content is not shown: " .. right)
end)

T.case("applying everything applies what can be, and says so", function()
  vim.api.nvim_set_current_win(vim.fn.bufwinid(s.list_buf))
  for i = 1, #s.files do
    vim.api.nvim_win_set_cursor(0, { s.first_file_line + i - 1, 0 })
    vim.cmd("normal a")
  end
  vim.cmd("normal A")
  T.wait("the outcome", function()
    for _, n in ipairs(T.notes) do
      if T.has(n.msg, "applied 2 of 3 accepted file(s)") then
        return true
      end
    end
  end, 30000)
end)

T.finish()

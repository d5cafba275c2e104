-- A task across two folders from Neovim: with a second workspace folder added to the client, `:OpenHands task` asks
-- whether the task works in this folder only or in both; in both, the conversation's header names them, the review
-- tab lists the other folder's file under its name, and applying everything writes each file in its own folder
-- (the Rust wrapper checks the disk).
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
local ws, oh = T.setup_server({ confirmation = "never" })
local other = assert(vim.env.OH_TEST_OTHER, "OH_TEST_OTHER")
local review = require("openhands.review")

local asked
vim.ui.select = function(items, opts, on_choice)
  asked = { prompt = opts.prompt, items = items }
  on_choice(items[2], 2)
end

local id, s
T.case("with two workspace folders, the task asks which and works in both", function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.fs.joinpath(ws, "app.txt")))
  T.wait("the client to attach", function()
    return oh.get_client() ~= nil
  end, 20000)
  vim.lsp.buf.add_workspace_folder(other)
  T.wait("the second workspace folder", function()
    return #(oh.get_client().workspace_folders or {}) == 2
  end)
  vim.cmd("OpenHands task Bump both versions")
  T.truthy(asked and T.has(asked.prompt, "which folders"), vim.inspect(asked))
  T.truthy(asked.items[1] == "only this folder", vim.inspect(asked))
  T.truthy(T.has(asked.items[2], "all 2 folders: app, api"), vim.inspect(asked))
  id = T.wait("the conversation buffer", function()
    return require("openhands.conversation").id_of(0)
  end)
  T.wait("the task to finish", function()
    local c = oh.conversations[id]
    return c and c.state == "finished"
  end, 240000)
  local header = T.wait("the folders in the header", function()
    local text = T.buf_text(0)
    return T.has(text, "folders: ") and text
  end)
  T.truthy(T.has(header, "folders: app (working folder), api"), header)
end)

T.case("the review tab lists both folders' files and applying writes each in its own folder", function()
  vim.cmd("OpenHands review " .. id)
  s = T.wait("the review tab", function()
    local r = review.session(id)
    return r and r.files and #r.files == 2 and r
  end)
  local text = T.buf_text(s.list_buf)
  T.truthy(T.has(text, "modified api/api.txt"), text)
  T.truthy(T.has(text, "modified app.txt"), text)
  vim.api.nvim_set_current_win(vim.fn.bufwinid(s.list_buf))
  for i = 1, #s.files do
    vim.api.nvim_win_set_cursor(0, { s.first_file_line + i - 1, 0 })
    vim.cmd("normal a")
  end
  vim.cmd("normal A")
  T.wait("the outcome", function()
    for _, n in ipairs(T.notes) do
      if T.has(n.msg, "applied 2 of 2 accepted file(s)") then
        return true
      end
    end
  end, 30000)
  T.wait("both files written", function()
    return T.read(vim.fs.joinpath(other, "api.txt")) == "v2\n" and T.read(vim.fs.joinpath(ws, "app.txt")) == "v2\n"
  end)
end)

T.finish()

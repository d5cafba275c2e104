--- Review before apply: a tab per conversation with its changed files on the left and, for the file under the
--- cursor, a diff of the original and the proposed text on the right. `a` accepts a file, `r` rejects it, `A`
--- applies the accepted files through the server (openhands.applyChanges), `<CR>` shows a file's diff, `q` closes.
---
--- Neovim before 0.12 applies annotated workspace edits without asking, so the choice is made here, before the
--- server is asked to apply anything: rejected and undecided files are never sent.
local M = {}

local sessions = {} -- id -> { files, decision = { [path] = "accepted"|"rejected" }, tab, list_buf, ... }

local mark = { accepted = "[✓]", rejected = "[✗]" }

local named = {} -- buffer name -> buffer (names are shown as they are; bufnr() would read them as patterns)
local owner = {} -- buffer name -> the conversation whose review made it

--- `base` as a buffer name of conversation `id`'s review: as it is, unless another review holds it (then with the
--- conversation's short id).
local function name_in(id, base)
  if owner[base] == nil or owner[base] == id or not (named[base] and vim.api.nvim_buf_is_valid(named[base])) then
    owner[base] = id
    return base
  end
  return string.format("%s [%s]", base, id:sub(1, 8))
end

--- A scratch buffer called `name` (what the tabline and statusline show: words, not a URI), made or refilled.
local function scratch(name, lines, filetype)
  local buf = named[name]
  if not (buf and vim.api.nvim_buf_is_valid(buf)) then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, name)
    named[name] = buf
  end
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  if filetype and filetype ~= "" then
    vim.bo[buf].filetype = filetype
  end
  return buf
end

local function text_lines(text)
  if text == nil or text == vim.NIL then
    return {}
  end
  local lines = vim.split(text, "\n", { plain = true })
  if lines[#lines] == "" then
    table.remove(lines)
  end
  return lines
end

local function render_list(s)
  local lines = {
    "OpenHands review: " .. (s.title or s.id),
    "a accept  r reject  <CR> diff  A apply accepted  q close",
    "",
  }
  s.first_file_line = #lines + 1
  for _, f in ipairs(s.files) do
    local label = f.status == "renamed" and (f.oldPath .. " → " .. f.path) or f.path
    -- Compact, from the change's fields: a link's target, a mode change, and whether it can be applied at all
    -- (the full reason is in its diff, <CR>).
    local link = type(f.symlink) == "table" and f.symlink.proposed
    if link and link ~= vim.NIL then
      label = label .. " → " .. link
    end
    if type(f.executable) == "table" then
      label = label .. (f.executable.proposed and "  +x" or "  -x")
    end
    local refused = f.refusal ~= nil and f.refusal ~= vim.NIL
    if refused then
      label = label .. "  (can't apply)"
    end
    local box = mark[s.decision[f.path]] or (refused and "[!]" or "[ ]")
    table.insert(lines, string.format("%s %-8s %s", box, f.status, label))
  end
  if #s.files == 0 then
    table.insert(lines, "(no changes)")
  end
  vim.bo[s.list_buf].modifiable = true
  vim.api.nvim_buf_set_lines(s.list_buf, 0, -1, false, lines)
  vim.bo[s.list_buf].modifiable = false
end

local function file_under_cursor(s)
  local row = vim.api.nvim_win_get_cursor(0)[1]
  return s.files[row - s.first_file_line + 1]
end

--- Shows `file`'s diff (original | proposed) in the right half of the review tab.
local function show_diff(s, file)
  if not file then
    return
  end
  local ft = vim.filetype.match({ filename = file.path }) or ""
  -- A symbolic link shows its target, never what it points to.
  local function side(name)
    local link = type(file.symlink) == "table" and file.symlink[name]
    if link and link ~= vim.NIL then
      local lines = { "(symbolic link → " .. link .. ")" }
      if name == "proposed" and file.refusal and file.refusal ~= vim.NIL then
        -- Diff windows do not wrap: wrap the reason to the pane.
        table.insert(lines, "")
        local line = "Can't apply:"
        for word in tostring(file.refusal):gmatch("%S+") do
          if #line + #word >= 46 then
            table.insert(lines, line)
            line = word
          else
            line = line .. " " .. word
          end
        end
        table.insert(lines, line)
      end
      return lines
    end
    return text_lines(file[name])
  end
  -- Named after the file and the side (what the status lines show).
  local left = scratch(name_in(s.id, (file.oldPath or file.path) .. " (original)"), side("original"), ft)
  local right = scratch(name_in(s.id, file.path .. " (proposed)"), side("proposed"), ft)
  local list_win = vim.api.nvim_get_current_win()
  for _, win in ipairs({ s.left_win, s.right_win }) do
    if win and vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_call(win, function()
        vim.cmd("diffoff")
      end)
    end
  end
  if not (s.left_win and vim.api.nvim_win_is_valid(s.left_win)) then
    vim.cmd("rightbelow vsplit")
    s.left_win = vim.api.nvim_get_current_win()
    vim.cmd("rightbelow vsplit")
    s.right_win = vim.api.nvim_get_current_win()
  end
  vim.api.nvim_win_set_buf(s.left_win, left)
  vim.api.nvim_win_set_buf(s.right_win, right)
  for _, win in ipairs({ s.left_win, s.right_win }) do
    vim.api.nvim_win_call(win, function()
      vim.cmd("diffthis")
    end)
  end
  vim.api.nvim_set_current_win(list_win)
  s.shown = file.path
end

local function decide(s, decision)
  local file = file_under_cursor(s)
  if not file then
    return
  end
  s.decision[file.path] = decision
  local row = vim.api.nvim_win_get_cursor(0)[1]
  render_list(s)
  -- On to the next file, as in a review queue.
  local next_row = math.min(row + 1, s.first_file_line + #s.files - 1)
  vim.api.nvim_win_set_cursor(0, { next_row, 0 })
  show_diff(s, file_under_cursor(s))
end

--- The paths accepted so far.
function M.accepted(id)
  local s = sessions[id]
  local out = {}
  for _, f in ipairs(s and s.files or {}) do
    if s.decision[f.path] == "accepted" then
      table.insert(out, f.path)
    end
  end
  return out
end

--- Applies the accepted files through the server, then writes the buffers it changed (review.write).
---@param on_done? fun(result: table|nil, err: table|nil)
function M.apply(id, on_done)
  local files = M.accepted(id)
  if #files == 0 then
    require("openhands.notify").say("OpenHands: no file accepted (a to accept the file under the cursor)", vim.log.levels.WARN)
    return
  end
  require("openhands").execute("openhands.applyChanges", { conversationId = id, files = files }, function(err, result)
    if not err and result then
      M.write_applied(result)
      local said = M.outcome_message(result, #files)
      if said then
        require("openhands.notify").say(said)
      end
    end
    if on_done then
      on_done(result, err)
    end
    return false
  end)
end

--- What an apply did, in one line: the files applied and those already applied before; nil when it only refused
--- (the server's warning says which and why: one message per error).
function M.outcome_message(result, accepted)
  local by = { applied = {}, unchanged = {} }
  for _, f in ipairs(result.files or {}) do
    if by[f.outcome] then
      table.insert(by[f.outcome], f.path)
    end
  end
  local parts = {}
  if #by.applied > 0 then
    table.insert(parts, string.format("applied %d of %d accepted file(s): %s", #by.applied, accepted,
      table.concat(by.applied, ", ")))
  end
  if #by.unchanged > 0 then
    table.insert(parts, "already applied (your files are as the agent proposed): " .. table.concat(by.unchanged, ", "))
  end
  return #parts > 0 and ("OpenHands: " .. table.concat(parts, "; ")) or nil
end

--- Neovim applies workspace edits to buffers: save the ones the apply changed, so the files on disk change.
function M.write_applied(result)
  if not require("openhands").options.review.write then
    return
  end
  local root = require("openhands").root_for(0)
  local client = require("openhands").get_client()
  if client and client.root_dir then
    root = client.root_dir
  end
  for _, f in ipairs(result.files or {}) do
    if f.outcome == "applied" then
      local path = vim.fs.joinpath(root, f.path)
      local buf = vim.fn.bufnr(path)
      if buf ~= -1 and vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].modified then
        vim.api.nvim_buf_call(buf, function()
          vim.cmd("silent noautocmd update")
        end)
      end
    end
  end
end

--- Opens the review tab of a conversation.
function M.open(id)
  require("openhands").execute("openhands.reviewChanges", { conversationId = id }, function(err, review)
    if err or not review then
      return
    end
    local s = sessions[id] or { decision = {} }
    sessions[id] = s
    s.id, s.title, s.files = id, review.title, review.files or {}
    if s.tab and vim.api.nvim_tabpage_is_valid(s.tab) then
      vim.api.nvim_set_current_tabpage(s.tab)
    else
      vim.cmd("tabnew")
      s.tab = vim.api.nvim_get_current_tabpage()
      s.left_win, s.right_win = nil, nil
    end
    s.list_buf = scratch(name_in(id, "OpenHands review: " .. require("openhands").short_title(id)), {}, "openhands-review")
    vim.bo[s.list_buf].bufhidden = "hide"
    vim.api.nvim_win_set_buf(0, s.list_buf)
    render_list(s)
    local map = function(key, fn, desc)
      vim.keymap.set("n", key, fn, { buffer = s.list_buf, desc = "OpenHands review: " .. desc })
    end
    map("a", function()
      decide(s, "accepted")
    end, "accept the file")
    map("r", function()
      decide(s, "rejected")
    end, "reject the file")
    map("<CR>", function()
      show_diff(s, file_under_cursor(s))
    end, "show the diff")
    map("A", function()
      M.apply(id)
    end, "apply the accepted files")
    map("q", function()
      vim.cmd("tabclose")
    end, "close")
    if #s.files > 0 then
      vim.api.nvim_win_set_cursor(0, { s.first_file_line, 0 })
      show_diff(s, s.files[1])
    end
    return false
  end)
end

--- The review state of a conversation (for tests).
function M.session(id)
  return sessions[id]
end

return M

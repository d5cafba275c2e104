--- Review before apply: a tab per conversation with its changed files on the left and, for the file under the
--- cursor, a diff of the original and the proposed text on the right. `a` accepts a file, `r` rejects it, `A`
--- applies the accepted files through the server (openhands.applyChanges), `<CR>` shows a file's diff, `q` closes.
--- In the proposed side of a diff, the agent's changes one by one: `]c` / `[c` move between them, `a` accepts the
--- change under the cursor, `r` rejects it (the agent is told why, and it is taken out of the agent's copy), `A`
--- applies what was accepted (whole files and single changes).
--- A file the server refused because the user's edits and the agent's overlap shows the user's text against the
--- agent's, and `m` opens the user's file with the overlaps marked, to resolve by hand and write.
---
--- Neovim before 0.12 applies annotated workspace edits without asking, so the choice is made here, before the
--- server is asked to apply anything: rejected and undecided files are never sent.
local M = {}

local sessions = {} -- id -> { files, decision = { [path] = "accepted"|"rejected"|"resolved" }, hunks = { [hunk id] = "accepted"|"applied" }, refused, tab, ... }

local hunk_ns = vim.api.nvim_create_namespace("openhands.review.hunks")

local hunk_counts, decide_hunk, reject_hunk -- defined below, used by the list and the diff

local mark = { accepted = "[✓]", rejected = "[✗]", resolved = "[✓]" }

local CONFLICT_MARKER = "^\\(<<<<<<< \\|||||||| \\|=======$\\|>>>>>>> \\)"

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

--- The folder the user's files are in: the running client's, else the current buffer's.
local function workspace_root()
  local client = require("openhands").get_client()
  if client and client.root_dir then
    return client.root_dir
  end
  return require("openhands").root_for(0)
end

--- Where the user has a reviewed (or applied) file: its `uri` (a task across folders has files in several), else
--- its path in the workspace folder.
function M.user_path(file)
  if type(file.uri) == "string" and file.uri ~= "" then
    return vim.uri_to_fname(file.uri)
  end
  return vim.fs.joinpath(workspace_root(), file.path)
end

--- The user's text of `file` now: the buffer's (unsaved edits included) when it is loaded, else the file's.
local function user_lines(file)
  local abs = M.user_path(file)
  local buf = vim.fn.bufnr(abs)
  if buf ~= -1 and vim.api.nvim_buf_is_loaded(buf) then
    return vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  end
  return vim.fn.filereadable(abs) == 1 and vim.fn.readfile(abs) or {}
end

--- How many of `file`'s hunks are accepted (not applied yet), and how many were applied.
hunk_counts = function(s, file)
  local chosen, applied = 0, 0
  for _, h in ipairs(type(file.hunks) == "table" and file.hunks or {}) do
    if s.hunks[h.id] == "accepted" then
      chosen = chosen + 1
    elseif s.hunks[h.id] == "applied" then
      applied = applied + 1
    end
  end
  return chosen, applied
end

--- The hunk of `file` at line `lnum` of its proposed side (a removal: the line where its lines were).
local function hunk_at(file, lnum)
  for _, h in ipairs(type(file.hunks) == "table" and file.hunks or {}) do
    local last = h.proposedStart + math.max(h.proposedLines, 1) - 1
    if lnum >= h.proposedStart and lnum <= last then
      return h
    end
  end
end

--- A hunk's lines in the agent's version, in words.
local function lines_of(h)
  if h.proposedLines == 0 then
    return string.format("line %d removed", h.originalStart)
  elseif h.proposedLines == 1 then
    return string.format("line %d", h.proposedStart)
  end
  return string.format("lines %d-%d", h.proposedStart, h.proposedStart + h.proposedLines - 1)
end

--- Marks each hunk on the proposed side with what was decided of it.
local function mark_hunks(s, file, buf)
  vim.api.nvim_buf_clear_namespace(buf, hunk_ns, 0, -1)
  local count = vim.api.nvim_buf_line_count(buf)
  for _, h in ipairs(type(file.hunks) == "table" and file.hunks or {}) do
    local decided = s.hunks[h.id]
    local text = decided == "accepted" and "✓ accepted" or decided == "applied" and "✓ applied" or "a accept · r reject"
    local group = decided and "DiagnosticOk" or "Comment"
    local row = math.min(math.max(h.proposedStart - 1, 0), count - 1)
    vim.api.nvim_buf_set_extmark(buf, hunk_ns, row, 0, { virt_text = { { "  " .. text, group } }, virt_text_pos = "eol" })
  end
end

local function render_list(s)
  local lines = {
    "OpenHands review: " .. (s.title or s.id),
    "a accept  r reject  A apply accepted",
    "<CR> diff  m resolve an overlap  q close",
    "in a diff: ]c [c next/previous change,",
    "a accept, r reject the change there",
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
    local after_apply = s.refused[f.path]
    if refused then
      label = label .. "  (can't apply)"
    elseif after_apply and after_apply.conflict then
      label = label .. "  (overlaps your edit: m)"
    elseif after_apply then
      label = label .. "  (not applied: " .. after_apply.reason .. ")"
    elseif s.decision[f.path] == "resolved" then
      label = label .. "  (resolved by hand)"
    end
    local chosen, applied = hunk_counts(s, f)
    if s.decision[f.path] == nil and (chosen > 0 or applied > 0) then
      local parts = {}
      if chosen > 0 then
        table.insert(parts, string.format("%d of %d accepted", chosen, #f.hunks))
      end
      if applied > 0 then
        table.insert(parts, string.format("%d applied", applied))
      end
      label = label .. "  (" .. table.concat(parts, ", ") .. ")"
    end
    local box = mark[s.decision[f.path]] or ((refused or after_apply) and "[!]" or (chosen > 0 and "[~]" or "[ ]"))
    table.insert(lines, string.format("%s %-8s %s", box, f.status, label))
  end
  if #s.files == 0 then
    table.insert(lines, "(no changes)")
  end
  vim.bo[s.list_buf].modifiable = true
  vim.api.nvim_buf_set_lines(s.list_buf, 0, -1, false, lines)
  vim.bo[s.list_buf].modifiable = false
  -- As wide as the keys and the files (the title may wrap).
  s.list_width = 0
  for i = 2, #lines do
    s.list_width = math.max(s.list_width, vim.fn.strdisplaywidth(lines[i]))
  end
end

--- The list as wide as its lines (up to almost half the screen, then wrapped at words), the two sides of the diff
--- sharing the rest.
local function layout(s)
  local list_win = s.list_buf and (vim.fn.win_findbuf(s.list_buf)[1] or -1) or -1
  if list_win == -1 then
    return
  end
  vim.wo[list_win].wrap = true
  vim.wo[list_win].linebreak = true
  vim.wo[list_win].breakindent = true
  if not (s.left_win and vim.api.nvim_win_is_valid(s.left_win) and s.right_win and vim.api.nvim_win_is_valid(s.right_win)) then
    return
  end
  local width = math.max(30, math.min((s.list_width or 0) + 1, math.floor(vim.o.columns * 0.4)))
  vim.api.nvim_win_set_width(list_win, width)
  vim.api.nvim_win_set_width(s.left_win, math.floor((vim.o.columns - width - 2) / 2))
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
  -- Named after the file and the side (what the status lines show). Once the apply refused it, what stands
  -- against the agent's text is the user's, not the original.
  local left
  if s.refused[file.path] then
    left = scratch(name_in(s.id, file.path .. " (yours)"), user_lines(file), ft)
  else
    left = scratch(name_in(s.id, (file.oldPath or file.path) .. " (original)"), side("original"), ft)
  end
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
    -- The tab's first window took the conversation buffer's fold settings ("N line(s) of output"): a diff folds
    -- unchanged lines, told as Vim tells them.
    vim.wo[win].foldtext = "foldtext()"
    vim.wo[win].foldminlines = 1
    vim.wo[win].fillchars = vim.go.fillchars
    -- Neovim's own status line gives a narrow pane's name to the ruler ("<xt (proposed)"): the name, whole.
    -- A user's own status line is left as it is.
    if vim.go.statusline == "" then
      vim.wo[win].statusline = " %f"
    end
  end
  mark_hunks(s, file, right)
  local function map(key, fn, desc)
    vim.keymap.set("n", key, fn, { buffer = right, desc = "OpenHands review: " .. desc })
  end
  map("a", function()
    decide_hunk(s, file, "accepted")
  end, "accept the change under the cursor")
  map("r", function()
    reject_hunk(s, file)
  end, "reject the change under the cursor")
  map("A", function()
    M.apply(s.id)
  end, "apply what was accepted")
  map("q", function()
    vim.cmd("tabclose")
  end, "close")
  vim.api.nvim_set_current_win(list_win)
  s.shown = file.path
  layout(s)
end

--- `a` in the proposed side: the change under the cursor is accepted, and the cursor moves on to the next.
decide_hunk = function(s, file, decision)
  local h = hunk_at(file, vim.api.nvim_win_get_cursor(0)[1])
  if not h then
    require("openhands.notify").say(
      (type(file.hunks) == "table" and #file.hunks > 0) and "OpenHands: no change of the agent's on this line (]c goes to the next)"
        or "OpenHands: " .. file.path .. " is applied whole: accept it in the list (a)",
      vim.log.levels.WARN
    )
    return
  end
  s.hunks[h.id] = decision
  mark_hunks(s, file, vim.api.nvim_get_current_buf())
  render_list(s)
  pcall(vim.cmd, "normal! ]c")
end

--- `r` in the proposed side: asks why, tells the agent, and takes the change out of its copy (the diff then shows
--- what is left).
reject_hunk = function(s, file)
  local h = hunk_at(file, vim.api.nvim_win_get_cursor(0)[1])
  if not h then
    require("openhands.notify").say("OpenHands: no change of the agent's on this line (]c goes to the next)", vim.log.levels.WARN)
    return
  end
  vim.ui.input({ prompt = "Why not? (the agent reads it; Enter for no reason) " }, function(reason)
    if reason == nil then
      return
    end
    local args = { conversationId = s.id, hunks = { h.id }, revert = true }
    if vim.trim(reason) ~= "" then
      args.reason = vim.trim(reason)
    end
    require("openhands").execute("openhands.rejectHunks", args, function(err)
      if err then
        return
      end
      s.hunks[h.id] = nil
      M.reload(s.id, function()
        require("openhands.notify").say(string.format("OpenHands: rejected the change to %s, %s; the agent was told%s",
          file.path, lines_of(h), args.reason and " why" or ""))
      end)
    end)
  end)
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

--- The list again, and the diff on show with it (a refused file's stands the user's text against the agent's).
local function refresh(s)
  if not (s.list_buf and vim.api.nvim_buf_is_valid(s.list_buf)) then
    return
  end
  render_list(s)
  layout(s)
  local list_win = (vim.fn.win_findbuf(s.list_buf)[1] or -1)
  for _, f in ipairs(s.files) do
    if f.path == s.shown and list_win ~= -1 then
      vim.api.nvim_win_call(list_win, function()
        show_diff(s, f)
      end)
    end
  end
end

--- `m`: the user's own file, in a tab of its own, holding the user's text with each overlap marked (yours, the
--- original, the agent's). The user keeps what they want and writes it; nothing is written for them.
local function resolve(s, file)
  if not file then
    return
  end
  local r = s.refused[file.path]
  if not (r and r.conflict) then
    require("openhands.notify").say(
      "OpenHands: m resolves a file the apply refused because your edits and the agent's overlap; "
        .. file.path
        .. " is not one",
      vim.log.levels.WARN
    )
    return
  end
  local path = M.user_path(file)
  vim.cmd("tabedit " .. vim.fn.fnameescape(path))
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, text_lines(r.conflict))
  vim.fn.matchadd("DiffText", CONFLICT_MARKER)
  local first = vim.fn.search("^<<<<<<< ", "cw")
  local overlaps = 0
  for _, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if l:find("^<<<<<<< ") then
      overlaps = overlaps + 1
    end
  end
  if first > 0 then
    vim.cmd("normal! zz")
  end
  local group = vim.api.nvim_create_augroup("openhands_resolve_" .. buf, { clear = true })
  vim.api.nvim_create_autocmd("BufWritePost", {
    group = group,
    buffer = buf,
    callback = function()
      -- Said in place of the write's own message (after it, a second line would ask for Enter).
      local function say(msg, level)
        vim.schedule(function()
          vim.cmd("redraw")
          require("openhands.notify").say(msg, level)
        end)
      end
      if vim.fn.search(CONFLICT_MARKER, "nw") > 0 then
        say("OpenHands: " .. file.path .. " still has conflict markers: keep one side of each, then :w", vim.log.levels.WARN)
        return
      end
      vim.api.nvim_del_augroup_by_id(group)
      s.refused[file.path] = nil
      s.decision[file.path] = "resolved"
      refresh(s)
      say("OpenHands: " .. file.path .. " resolved by hand and written")
    end,
  })
  require("openhands.notify").say(string.format(
    "OpenHands: %s: your edits and the agent's overlap in %d place(s), marked <<<<<<< yours … ||||||| original … "
      .. "======= … >>>>>>> agent. Keep what you want, delete the markers, then :w (:e! leaves your file as it was).",
    file.path,
    overlaps
  ))
end

--- Notes what the apply refused (and why), so the list and the diff show it and `m` can resolve an overlap.
local function note_outcomes(s, result)
  for _, f in ipairs(result.files or {}) do
    if f.outcome == "refused" then
      s.decision[f.path] = nil
      s.refused[f.path] = {
        reason = type(f.reason) == "string" and f.reason or "refused",
        conflict = type(f.conflict) == "string" and f.conflict or nil,
      }
    elseif f.outcome == "applied" or f.outcome == "unchanged" then
      s.refused[f.path] = nil
    end
  end
  refresh(s)
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

--- The hunks accepted so far, of files not accepted whole.
function M.accepted_hunks(id)
  local s = sessions[id]
  local out = {}
  for _, f in ipairs(s and s.files or {}) do
    if s.decision[f.path] ~= "accepted" then
      for _, h in ipairs(type(f.hunks) == "table" and f.hunks or {}) do
        if s.hunks[h.id] == "accepted" then
          table.insert(out, h.id)
        end
      end
    end
  end
  return out
end

--- Applies the accepted files and changes through the server, then writes the buffers it changed (review.write).
---@param on_done? fun(result: table|nil, err: table|nil)
function M.apply(id, on_done)
  local files, hunks = M.accepted(id), M.accepted_hunks(id)
  if #files == 0 and #hunks == 0 then
    require("openhands.notify").say("OpenHands: nothing accepted (a accepts the file, or in its diff the change, under the cursor)", vim.log.levels.WARN)
    return
  end
  local args = { conversationId = id, files = files }
  if #hunks > 0 then
    args.hunks = hunks
  end
  require("openhands").execute("openhands.applyChanges", args, function(err, result)
    if not err and result then
      M.write_applied(result)
      local s = sessions[id]
      if s then
        for _, h in ipairs(hunks) do
          s.hunks[h] = "applied"
        end
        note_outcomes(s, result)
      end
      local said = M.outcome_message(result, #files + (#hunks > 0 and 1 or 0))
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

--- Fetches the conversation's changes again (after a change was taken out of the agent's copy) and shows them.
function M.reload(id, on_done)
  require("openhands").execute("openhands.reviewChanges", { conversationId = id }, function(err, review)
    local s = sessions[id]
    if err or not review or not s then
      return false
    end
    s.files = review.files or {}
    refresh(s)
    if on_done then
      on_done()
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
  for _, f in ipairs(result.files or {}) do
    if f.outcome == "applied" then
      local path = M.user_path(f)
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
    local s = sessions[id] or { decision = {}, refused = {}, hunks = {} }
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
    map("m", function()
      resolve(s, file_under_cursor(s))
    end, "resolve an overlap by hand")
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

--- Conversation buffers (named "OpenHands: <title>") stream the conversation's events live (messages, the
--- agent's thoughts, commands with their output folded, edits, errors). Keys: `i` sends a message, `<CR>` acts on
--- the line under the cursor (opens the file of an edit, folds or unfolds a command's output), `R` restores the
--- conversation to the checkpoint after the step under the cursor, `q` closes, `g?` lists the keys. Colours come
--- from highlight groups linked to standard ones, so colour schemes apply.
local M = {}

local ns = vim.api.nvim_create_namespace("openhands.conversation")
local checkpoint_ns = vim.api.nvim_create_namespace("openhands.conversation.checkpoints")

--- Highlight groups, each linked to a standard one (`:hi link OpenHandsThought ...` to change).
local GROUPS = {
  OpenHandsTitle = "Title",
  OpenHandsHeader = "Comment",
  OpenHandsKeys = "Comment",
  OpenHandsUser = "Special",
  OpenHandsAgent = "Identifier",
  OpenHandsThought = "Comment",
  OpenHandsCommand = "Statement",
  OpenHandsOutput = "NonText",
  OpenHandsEdit = "Type",
  OpenHandsDone = "DiagnosticOk",
  OpenHandsError = "DiagnosticError",
  OpenHandsCheckpoint = "DiagnosticHint",
}
for group, link in pairs(GROUPS) do
  vim.api.nvim_set_hl(0, group, { link = link, default = true })
end

local KEYS =
  "i send a message   a queue one for after the turn   x take back   <CR> open the edited file / fold the output   R restore to here   q close   g? keys"

--- The agent works on a turn in this session: a message steers it (i) or waits for the turn's end (a).
local function working(c)
  return c.live ~= false
    and not c.runningElsewhere
    and (c.state == "running" or c.state == "waiting_for_confirmation" or c.state == "starting")
end

--- Per conversation: events by seq (from the live stream and getEvents), the next seq to render, its buffer once
--- opened, and the event each rendered line belongs to.
local state = {} -- id -> { events = {}, rendered = number, buf = number|nil, line_seq = { [lnum] = seq }, checkpoints, restores }

local function conv(id)
  state[id] = state[id] or { events = {}, rendered = 0, line_seq = {}, checkpoints = { list = {} } }
  return state[id]
end

--- The conversation's state when its buffer is open (nil: nothing to draw on).
local function shown(id)
  local c = conv(id)
  if c.buf and vim.api.nvim_buf_is_valid(c.buf) then
    return c
  end
end

--- The event id of the step whose line is `lnum`: the observation that answers it (what a checkpoint follows).
local function step_event_at(c, lnum)
  local event = c.events[c.line_seq[lnum] or -1]
  if not event then
    return nil
  end
  if event.kind == "ObservationEvent" then
    return event.id
  end
  if event.kind == "ActionEvent" and event.id then
    for _, e in pairs(c.events) do
      if e.kind == "ObservationEvent" and e.raw and e.raw.action_id == event.id then
        return e.id
      end
    end
  end
end

--- Marks the steps checkpoints follow ("⎇ checkpoint 2 · R restores here") at the end of the step's line.
local function show_checkpoints(id)
  local c = shown(id)
  if not c then
    return
  end
  vim.api.nvim_buf_clear_namespace(c.buf, checkpoint_ns, 0, -1)
  local by_event = {}
  for _, k in ipairs(c.checkpoints.list) do
    by_event[k.eventId] = k
  end
  local marked = {}
  for lnum = 1, vim.api.nvim_buf_line_count(c.buf) do
    local event_id = c.line_seq[lnum] and step_event_at(c, lnum)
    local k = event_id and by_event[event_id]
    if k and not marked[k.number] then
      marked[k.number] = true
      local here = k.number == c.checkpoints.current
      local text = string.format("  ⎇ checkpoint %d%s", k.number, here and " · the files are here" or " · R restores here")
      vim.api.nvim_buf_set_extmark(c.buf, checkpoint_ns, lnum - 1, 0, {
        virt_text = { { text, "OpenHandsCheckpoint" } },
        virt_text_pos = "eol",
      })
    end
  end
end

--- Asks the server for the conversation's checkpoints, then marks them.
local function fetch_checkpoints(id)
  local conversation = require("openhands").conversations[id] or {}
  if type(conversation.isolation) ~= "table" then
    return
  end
  require("openhands").execute("openhands.listCheckpoints", { conversationId = id }, function(err, list)
    if not err and list then
      conv(id).checkpoints = { list = list.checkpoints or {}, current = list.current }
      show_checkpoints(id)
    end
    -- Quiet: a copy discarded meanwhile has none, and nothing asked for them.
    return true
  end)
end

function M.on_checkpoint(id)
  fetch_checkpoints(id)
end

--- Restores conversation `id` to checkpoint `number` once the user says so (what it does is said first).
function M.restore(id, number)
  local c = require("openhands").conversations[id] or {}
  local question = string.format(
    "Restore %q to checkpoint %d? The agent's copy of the files and what it remembers go back to that step; "
      .. "what came after stays in the history. Your files are not touched.",
    c.title or id,
    number
  )
  vim.ui.select({ "Restore", "Cancel" }, { prompt = question }, function(choice)
    if choice ~= "Restore" then
      return
    end
    require("openhands").execute("openhands.restoreCheckpoint", { conversationId = id, checkpoint = number }, function(err)
      if not err then
        require("openhands.notify").say(string.format(
          "OpenHands: back at checkpoint %d: i sends a message to go on from there",
          number
        ))
      end
      return false
    end)
  end)
end

local function split(text)
  return vim.split(text or "", "\n", { plain = true, trimempty = false })
end

--- The agent's thinking before an action: its thought text and the model's reasoning, if any.
local function thoughts_of(event)
  local raw = event.raw or {}
  local parts = {}
  if type(raw.reasoning_content) == "string" and vim.trim(raw.reasoning_content) ~= "" then
    table.insert(parts, raw.reasoning_content)
  end
  if type(raw.thought) == "table" then
    for _, t in ipairs(raw.thought) do
      if type(t) == "table" and type(t.text) == "string" and vim.trim(t.text) ~= "" then
        table.insert(parts, t.text)
      end
    end
  end
  return vim.trim(table.concat(parts, "\n"))
end

--- The lines for one event, each with its highlight group. Output lines start with "  │ " so that foldexpr folds
--- them.
local function lines_for(event)
  local kind = event.kind or "?"
  local out = {}
  local function add(text, group)
    table.insert(out, { text, group })
  end
  local detail = event.detail or event.summary or ""
  if kind == "ActionEvent" then
    local thought = thoughts_of(event)
    if thought ~= "" then
      for _, l in ipairs(split(thought)) do
        add("  " .. l, "OpenHandsThought")
      end
    end
    local tool = event.raw and event.raw.tool_name
    if tool == "terminal" then
      add("▶ " .. (event.summary or ""), "OpenHandsCommand")
    elseif tool == "file_editor" or tool == "str_replace_editor" then
      add("✎ " .. (event.summary or ""), "OpenHandsEdit")
    elseif tool == "finish" then
      add("✔ finished", "OpenHandsDone")
    elseif tool ~= "think" then
      add("• " .. (event.summary or ""), "OpenHandsAgent")
    end
  elseif kind == "ObservationEvent" then
    -- A command that printed nothing shows nothing (not an empty bar); the finish's own echo of its message is
    -- in the header ("final:").
    local tool = event.raw and event.raw.tool_name
    if vim.trim(detail) == "" or tool == "finish" or tool == "think" then
      return {}
    end
    for _, l in ipairs(split(detail)) do
      add("  │ " .. l, "OpenHandsOutput")
    end
  elseif kind == "MessageEvent" and event.source == "openhands-lsp" then
    -- What the editor told the agent (what was applied, what the user declined): not the user's words.
    local text = split(detail)
    add("Note to the agent: " .. (text[1] or ""), "OpenHandsThought")
    for i = 2, #text do
      add("  " .. text[i], "OpenHandsThought")
    end
  elseif kind == "MessageEvent" then
    local who = event.source == "user" and "You" or "Agent"
    local thought = event.source ~= "user" and thoughts_of(event) or ""
    for _, l in ipairs(thought ~= "" and split(thought) or {}) do
      add("  " .. l, "OpenHandsThought")
    end
    local text = split(detail)
    add(who .. ": " .. (text[1] or ""), who == "You" and "OpenHandsUser" or "OpenHandsAgent")
    for i = 2, #text do
      add("  " .. text[i], false)
    end
  elseif kind:match("Error") then
    for i, l in ipairs(split(detail)) do
      add((i == 1 and "✖ " or "  ") .. l, "OpenHandsError")
    end
  elseif kind == "UserRejectObservation" then
    -- The reason alone: the summary repeats the word ("rejected: …").
    local reason = split(event.detail ~= "" and event.detail or "")[1] or ""
    add("✖ rejected" .. (reason ~= "" and (": " .. reason) or ""), "OpenHandsError")
  end
  return out -- state updates, system prompts: not for reading
end

local function header(id)
  local c = require("openhands").conversations[id] or {}
  -- Titles are cut for lists; here the whole first line of the task fits (the window wraps it).
  local title = c.title or id
  if type(c.instruction) == "string" and vim.endswith(title, "…") then
    title = vim.split(vim.trim(c.instruction), "\n", { plain = true })[1]
  end
  local lines = {
    { "# " .. title, "OpenHandsTitle" },
    { string.format("state: %s   backend: %s   id: %s", c.state or "?", c.backend or "?", id), "OpenHandsHeader" },
  }
  if type(c.usage) == "table" then
    table.insert(lines, { "llm: " .. require("openhands.usage").long(c.usage), "OpenHandsHeader" })
  end
  -- The project's image it runs in (its toolchain), when it is not the agent-server image.
  if type(c.image) == "table" and type(c.image.name) == "string" then
    table.insert(lines, { string.format("image: %s, from %s", c.image.name, c.image.origin or "?"), "OpenHandsHeader" })
  end
  -- A task across folders: where it works, and the others it changes (each reviewed and applied in its own).
  if type(c.folders) == "table" and #c.folders > 0 then
    local names = { vim.fs.basename(c.workspace or "?") .. " (working folder)" }
    for _, f in ipairs(c.folders) do
      table.insert(names, f.name)
    end
    table.insert(lines, { "folders: " .. table.concat(names, ", "), "OpenHandsHeader" })
  end
  if type(c.budgetReached) == "string" and c.state == "paused" then
    table.insert(lines, { "budget reached: it " .. c.budgetReached, "OpenHandsError" })
  end
  if c.error and c.error ~= vim.NIL then
    table.insert(lines, { "error: " .. c.error:gsub("\n", " "), "OpenHandsError" })
  end
  if c.finalMessage and c.finalMessage ~= vim.NIL then
    table.insert(lines, { "final: " .. c.finalMessage:gsub("\n", " "), "OpenHandsDone" })
  end
  if working(c) then
    table.insert(lines, { "working: i steers it (read before its next step), a queues one for after this turn", "OpenHandsHeader" })
  end
  -- Messages waiting for the turn's end, each on its line: x there takes it back.
  for _, q in ipairs(type(c.queued) == "table" and c.queued or {}) do
    local text = tostring(q.text or ""):gsub("\n", " ")
    table.insert(lines, { "queued: " .. text .. "   (x takes it back)", "OpenHandsHeader", q.id })
  end
  -- An earlier session's: whether a message goes on with it, or why not.
  if c.live == false and not c.runningElsewhere then
    if type(c.cannotContinue) == "string" then
      table.insert(lines, { "cannot go on: " .. c.cannotContinue, "OpenHandsError" })
    else
      table.insert(lines, { "earlier session: i goes on where it left off (its sandbox starts again)", "OpenHandsHeader" })
    end
  end
  table.insert(lines, { KEYS, "OpenHandsKeys" })
  table.insert(lines, { "", false })
  return lines
end

--- Replaces lines `first`..`last` (end-exclusive, -1: the end) with `lines` ({ text, group } pairs).
local function set_lines(buf, first, last, lines)
  local texts = vim.tbl_map(function(l)
    return l[1]
  end, lines)
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, first, last, false, texts)
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
  local start = first >= 0 and first or (vim.api.nvim_buf_line_count(buf) - #lines)
  for i, l in ipairs(lines) do
    if l[2] then
      vim.api.nvim_buf_set_extmark(buf, ns, start + i - 1, 0, { end_row = start + i, hl_group = l[2], hl_eol = false })
    end
  end
end

--- Appends the contiguous events not yet shown.
local function render_new(id)
  local c = shown(id)
  if not c then
    return
  end
  local add, seqs = {}, {}
  while c.events[c.rendered] do
    for _, l in ipairs(lines_for(c.events[c.rendered])) do
      table.insert(add, l)
      table.insert(seqs, c.rendered)
    end
    c.rendered = c.rendered + 1
  end
  if #add > 0 then
    local before = vim.api.nvim_buf_line_count(c.buf)
    set_lines(c.buf, -1, -1, add)
    for i, seq in ipairs(seqs) do
      c.line_seq[before + i] = seq
    end
    if #c.checkpoints.list > 0 then
      show_checkpoints(id)
    end
    for _, win in ipairs(vim.fn.win_findbuf(c.buf)) do
      local count = vim.api.nvim_buf_line_count(c.buf)
      if vim.api.nvim_win_get_cursor(win)[1] >= count - #add - 1 then
        vim.api.nvim_win_set_cursor(win, { count, 0 })
      end
    end
  end
end

local function render_header(id)
  local c = shown(id)
  if not c then
    return
  end
  local old = vim.b[c.buf].openhands_header_lines or 0
  local lines = header(id)
  -- Unchanged (a conversation changes more often than its header shows: its usage, its time): left alone, not
  -- rewritten with its highlights on every update.
  local now = vim.api.nvim_buf_get_lines(c.buf, 0, old, false)
  if #now == #lines and vim.iter(ipairs(lines)):all(function(i, l)
    return now[i] == l[1]
  end) then
    return
  end
  vim.api.nvim_buf_clear_namespace(c.buf, ns, 0, old)
  set_lines(c.buf, 0, old, lines)
  -- Lines below moved with the header.
  local shift = #lines - old
  if shift ~= 0 then
    local moved = {}
    for lnum, seq in pairs(c.line_seq) do
      moved[lnum + shift] = seq
    end
    c.line_seq = moved
  end
  vim.b[c.buf].openhands_header_lines = #lines
  -- Which header line holds which queued message (for x).
  c.queued_at = {}
  for i, l in ipairs(lines) do
    if l[3] then
      c.queued_at[i] = l[3]
    end
  end
end

--- Fetches the events this session has not seen (all of them after a restart), page by page; then the checkpoints.
local function fetch(id, after)
  require("openhands").execute("openhands.getEvents", { conversationId = id, after = after, limit = 500 }, function(err, page)
    if err or not page then
      return
    end
    local c = conv(id)
    for _, e in ipairs(page.events or {}) do
      c.events[e.seq] = e
    end
    render_new(id)
    if page.next and page.total and page.next < page.total then
      fetch(id, page.next)
    else
      fetch_checkpoints(id)
    end
  end)
end

function M.refetch(id)
  fetch(id, 0)
end

function M.on_event(event)
  local c = conv(event.conversationId)
  c.events[event.seq] = event
  if c.buf and event.seq > c.rendered then
    -- A gap (events from before this buffer existed are still being fetched): they render when they arrive.
    return
  end
  render_new(event.conversationId)
end

function M.on_changed(conversation)
  local c = conv(conversation.id)
  local restores = conversation.restores or 0
  if c.restores ~= nil and c.restores ~= restores and c.buf and vim.api.nvim_buf_is_valid(c.buf) then
    -- Restored: the history is shorter now; shown again from the server's.
    c.restores = restores
    c.events, c.rendered, c.line_seq = {}, 0, {}
    local header_lines = vim.b[c.buf].openhands_header_lines or 0
    vim.bo[c.buf].modifiable = true
    vim.api.nvim_buf_set_lines(c.buf, header_lines, -1, false, {})
    vim.bo[c.buf].modifiable = false
    render_header(conversation.id)
    M.refetch(conversation.id)
    return
  end
  c.restores = restores
  render_header(conversation.id)
end

--- The id of the conversation shown in `buf`, if it is a conversation buffer.
function M.id_of(buf)
  local ok, id = pcall(function()
    return vim.b[buf or 0].openhands_conversation
  end)
  return ok and id or nil
end

--- A buffer name for the conversation: its title (what the tabline shows), made unique.
local function name_for(id)
  local name = "OpenHands: " .. require("openhands").short_title(id)
  -- (Neovim keeps the name as a path in the current folder: compare the ends.)
  local taken = vim.iter(vim.api.nvim_list_bufs()):any(function(b)
    return vim.api.nvim_buf_get_name(b):sub(-#name) == name
  end)
  if taken then
    name = string.format("%s (%s)", name, id:sub(1, 8))
  end
  return name
end

--- Prompts for a message and sends it to the conversation (an earlier session's goes on where it was); one that cannot
--- go on says why instead. While the agent works, the message steers it, or (`mode` "queue") waits for the turn's
--- end. `default`: the text the prompt starts with (a message taken back).
function M.prompt_send(id, mode, default)
  local c = require("openhands").conversations[id] or {}
  if c.live == false and type(c.cannotContinue) == "string" then
    require("openhands.notify").say("OpenHands: this conversation cannot go on: " .. c.cannotContinue, vim.log.levels.WARN)
    return
  end
  local prompt = c.live == false and "Message to go on where it left off: " or "Message to the agent: "
  if working(c) then
    prompt = mode == "queue" and "Queue for after this turn: " or "Steer the agent (it reads this before its next step): "
  end
  vim.ui.input({ prompt = prompt, default = default }, function(text)
    if text and text ~= "" then
      -- While it works, the server steers unless told to queue; when it does not, both start a turn.
      local args = { conversationId = id, text = text, mode = mode == "queue" and "queue" or nil }
      require("openhands").execute("openhands.sendMessage", args)
    end
  end)
end

--- `x` on a queued message's line: taken back before it is sent, and offered again to edit and queue (Esc drops it).
function M.take_back(id)
  local c = conv(id)
  local message_id = (c.queued_at or {})[vim.api.nvim_win_get_cursor(0)[1]]
  if not message_id then
    require("openhands.notify").say("OpenHands: no queued message on this line (queued ones show in the header)", vim.log.levels.WARN)
    return
  end
  local args = { conversationId = id, messageId = message_id }
  require("openhands").execute("openhands.unqueueMessage", args, function(err, result)
    if err or type(result) ~= "table" or type(result.message) ~= "table" then
      return false
    end
    vim.schedule(function()
      -- Gone from the header now: the prompt below holds the editor until it is answered, so the server's own
      -- notice of the change would show only after it.
      local known = require("openhands").conversations[id]
      if known and type(known.queued) == "table" then
        known.queued = vim.tbl_filter(function(q)
          return q.id ~= message_id
        end, known.queued)
      end
      render_header(id)
      vim.cmd("redraw")
      M.prompt_send(id, "queue", result.message.text)
    end)
    return true
  end)
end

--- The user's file an edit event is about: its path in the agent's copy, made relative to where the agent works and
--- joined to the user's folder.
local function edited_file(id, event)
  local action = event.raw and event.raw.action or {}
  local path = type(action.path) == "string" and action.path or nil
  if not path then
    return nil
  end
  local c = require("openhands").conversations[id] or {}
  local roots = { "/workspace/" }
  local iso = c.isolation
  if type(iso) == "table" and type(iso.root) == "string" then
    table.insert(roots, 1, iso.root .. "/")
  end
  if type(c.workspace) == "string" then
    table.insert(roots, c.workspace .. "/")
  end
  for _, root in ipairs(roots) do
    if path:sub(1, #root) == root then
      return vim.fs.joinpath(c.workspace or vim.fn.getcwd(), path:sub(#root + 1))
    end
  end
  if path:sub(1, 1) ~= "/" then
    return vim.fs.joinpath(c.workspace or vim.fn.getcwd(), path)
  end
end

--- `<CR>`: the edit's file opens (the user's own, in the previous window); a command or its output folds or unfolds.
function M.act(id)
  local c = conv(id)
  local lnum = vim.api.nvim_win_get_cursor(0)[1]
  local event = c.events[c.line_seq[lnum] or -1]
  if not event then
    return
  end
  local line = vim.api.nvim_get_current_line()
  if event.kind == "ActionEvent" and line:sub(1, #"✎") == "✎" then
    local file = edited_file(id, event)
    if file then
      vim.cmd("wincmd p")
      vim.cmd("edit " .. vim.fn.fnameescape(file))
    end
    return
  end
  local below = vim.fn.getline(lnum + 1)
  if vim.fn.foldlevel(lnum) > 0 or below:sub(1, #"  │") == "  │" then
    local target = vim.fn.foldlevel(lnum) > 0 and lnum or lnum + 1
    vim.api.nvim_win_set_cursor(0, { target, 0 })
    vim.cmd("normal! za")
    vim.api.nvim_win_set_cursor(0, { lnum, 0 })
  end
end

--- Opens (or shows) the conversation's buffer in the current window.
function M.open(id)
  local c = conv(id)
  if c.buf and vim.api.nvim_buf_is_valid(c.buf) and vim.api.nvim_buf_is_loaded(c.buf) then
    vim.api.nvim_set_current_buf(c.buf)
    return c.buf
  end
  if c.buf and vim.api.nvim_buf_is_valid(c.buf) then
    -- Closed (`q`, :bdelete): its lines are gone with it. Make it again.
    vim.api.nvim_buf_delete(c.buf, { force = true })
  end
  local buf = vim.api.nvim_create_buf(true, true)
  vim.b[buf].openhands_conversation = id
  vim.api.nvim_buf_set_name(buf, name_for(id))
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = "openhands"
  c.buf = buf
  c.rendered = 0
  c.line_seq = {}
  c.restores = (require("openhands").conversations[id] or {}).restores or 0
  vim.api.nvim_set_current_buf(buf)
  local win = vim.api.nvim_get_current_win()
  vim.wo[win].foldmethod = "expr"
  vim.wo[win].foldexpr = "getline(v:lnum)=~'^  │'?1:0"
  vim.wo[win].foldlevel = 0
  -- One line of output folds too (the default minimum is two), and a fold says what it holds.
  vim.wo[win].foldminlines = 0
  vim.wo[win].foldtext = "'  ⋯ '.(v:foldend-v:foldstart+1).' line(s) of output (<CR> to show)'"
  vim.wo[win].fillchars = "fold: "
  vim.wo[win].wrap = true
  -- Long lines (a reason, a message) wrap between words, not inside them.
  vim.wo[win].linebreak = true
  -- The header takes the place of the new buffer's one empty line.
  vim.b[buf].openhands_header_lines = 1
  render_header(id)
  local function map(key, fn, desc)
    vim.keymap.set("n", key, fn, { buffer = buf, desc = "OpenHands: " .. desc })
  end
  map("i", function()
    M.prompt_send(id)
  end, "send a message (while it works: steer it)")
  map("a", function()
    M.prompt_send(id, "queue")
  end, "queue a message for after the running turn")
  map("x", function()
    M.take_back(id)
  end, "take back the queued message on this line")
  map("<CR>", function()
    M.act(id)
  end, "open the edited file, or fold/unfold the output")
  map("R", function()
    local c = conv(id)
    local event_id = step_event_at(c, vim.api.nvim_win_get_cursor(0)[1])
    for _, k in ipairs(c.checkpoints.list) do
      if k.eventId == event_id then
        return M.restore(id, k.number)
      end
    end
    require("openhands.notify").say("OpenHands: no checkpoint after this step (one is taken after each step that changes files)", vim.log.levels.WARN)
  end, "restore to the checkpoint after the step under the cursor")
  map("q", "<cmd>bdelete<cr>", "close")
  map("g?", function()
    require("openhands.notify").say("OpenHands conversation keys: " .. KEYS)
  end, "list the keys")
  render_new(id)
  fetch(id, 0)
  return buf
end

--- The buffer of a conversation, if open (for tests).
function M.buf_of(id)
  return state[id] and state[id].buf
end

return M

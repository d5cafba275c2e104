--- Conversation buffers: `openhands://conversation/<id>` streams the conversation's events live (messages,
--- commands with their output folded, edits, errors); `i` or `<CR>` prompts for a message to send.
local M = {}

local PREFIX = "openhands://conversation/"

--- Per conversation: events by seq (from the live stream and getEvents), and its buffer once opened.
local state = {} -- id -> { events = { [seq] = event }, rendered = number (next seq to render), buf = number|nil }

local function conv(id)
  state[id] = state[id] or { events = {}, rendered = 0 }
  return state[id]
end

local function split(text)
  return vim.split(text or "", "\n", { plain = true, trimempty = false })
end

--- The lines for one event. Output lines start with "  │ " so that foldexpr folds them.
local function lines_for(event)
  local kind = event.kind or "?"
  local out = {}
  local detail = event.detail or event.summary or ""
  if kind == "ActionEvent" then
    local tool = event.raw and event.raw.tool_name
    if tool == "terminal" then
      table.insert(out, "▶ " .. (event.summary or ""))
    elseif tool == "file_editor" or tool == "str_replace_editor" then
      table.insert(out, "✎ " .. (event.summary or ""))
    elseif tool == "finish" then
      table.insert(out, "✔ finished")
      if vim.trim(detail) ~= "" then
        for _, l in ipairs(split(detail)) do
          table.insert(out, "  " .. l)
        end
      end
    else
      table.insert(out, "• " .. (event.summary or ""))
    end
  elseif kind == "ObservationEvent" then
    -- A command that printed nothing shows nothing (not an empty bar); the finish's own echo of its message is
    -- already under "✔ finished".
    if vim.trim(detail) == "" or (event.raw and event.raw.tool_name == "finish") then
      return {}
    end
    for _, l in ipairs(split(detail)) do
      table.insert(out, "  │ " .. l)
    end
  elseif kind == "MessageEvent" then
    local who = event.source == "user" and "You" or "Agent"
    local text = split(detail)
    table.insert(out, who .. ": " .. (text[1] or ""))
    for i = 2, #text do
      table.insert(out, "  " .. text[i])
    end
  elseif kind:match("Error") then
    for i, l in ipairs(split(detail)) do
      table.insert(out, (i == 1 and "✖ " or "  ") .. l)
    end
  elseif kind == "UserRejectObservation" then
    -- The reason alone: the summary repeats the word ("rejected: …").
    local reason = split(event.detail ~= "" and event.detail or "")[1] or ""
    table.insert(out, "✖ rejected" .. (reason ~= "" and (": " .. reason) or ""))
  else
    return {} -- state updates, system prompts: not for reading
  end
  return out
end

local function header(id)
  local c = require("openhands").conversations[id] or {}
  local lines = {
    "# " .. (c.title or id),
    string.format("state: %s   backend: %s   id: %s", c.state or "?", c.backend or "?", id),
  }
  if c.error and c.error ~= vim.NIL then
    table.insert(lines, "error: " .. c.error:gsub("\n", " "))
  end
  if c.finalMessage and c.finalMessage ~= vim.NIL then
    table.insert(lines, "final: " .. c.finalMessage:gsub("\n", " "))
  end
  table.insert(lines, "")
  return lines
end

local function set_lines(buf, first, last, lines)
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, first, last, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
end

--- Appends the contiguous events not yet shown.
local function render_new(id)
  local c = conv(id)
  if not c.buf or not vim.api.nvim_buf_is_valid(c.buf) then
    return
  end
  local add = {}
  while c.events[c.rendered] do
    vim.list_extend(add, lines_for(c.events[c.rendered]))
    c.rendered = c.rendered + 1
  end
  if #add > 0 then
    set_lines(c.buf, -1, -1, add)
    for _, win in ipairs(vim.fn.win_findbuf(c.buf)) do
      local count = vim.api.nvim_buf_line_count(c.buf)
      if vim.api.nvim_win_get_cursor(win)[1] >= count - #add - 1 then
        vim.api.nvim_win_set_cursor(win, { count, 0 })
      end
    end
  end
end

local function render_header(id)
  local c = conv(id)
  if not c.buf or not vim.api.nvim_buf_is_valid(c.buf) then
    return
  end
  local old = vim.b[c.buf].openhands_header_lines or 0
  local lines = header(id)
  set_lines(c.buf, 0, old, lines)
  vim.b[c.buf].openhands_header_lines = #lines
end

--- Fetches the events this session has not seen (all of them after a restart), page by page.
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
    end
  end)
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
  render_header(conversation.id)
end

--- The id of the conversation shown in `buf`, if it is a conversation buffer.
function M.id_of(buf)
  local name = vim.api.nvim_buf_get_name(buf or 0)
  return name:sub(1, #PREFIX) == PREFIX and name:sub(#PREFIX + 1) or nil
end

--- Prompts for a message and sends it to the conversation.
function M.prompt_send(id)
  vim.ui.input({ prompt = "Message to the agent: " }, function(text)
    if text and text ~= "" then
      require("openhands").execute("openhands.sendMessage", { conversationId = id, text = text })
    end
  end)
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
  vim.api.nvim_buf_set_name(buf, PREFIX .. id)
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = "openhands"
  c.buf = buf
  c.rendered = 0
  vim.api.nvim_set_current_buf(buf)
  local win = vim.api.nvim_get_current_win()
  vim.wo[win].foldmethod = "expr"
  vim.wo[win].foldexpr = "getline(v:lnum)=~'^  │'?1:0"
  vim.wo[win].foldlevel = 0
  vim.wo[win].wrap = true
  render_header(id)
  for _, key in ipairs({ "i", "<CR>" }) do
    vim.keymap.set("n", key, function()
      M.prompt_send(id)
    end, { buffer = buf, desc = "OpenHands: send a message" })
  end
  vim.keymap.set("n", "q", "<cmd>bdelete<cr>", { buffer = buf, desc = "OpenHands: close" })
  render_new(id)
  fetch(id, 0)
  return buf
end

--- The buffer of a conversation, if open (for tests).
function M.buf_of(id)
  return state[id] and state[id].buf
end

return M

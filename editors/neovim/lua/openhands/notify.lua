--- Messages to the user without hit-enter prompts. With a notification plugin (nvim-notify, snacks, fidget...)
--- everything goes to vim.notify as is. With Neovim's own vim.notify, a message that does not fit the command line
--- would stop the editor with "Press ENTER": it shows in a small floating window instead (closing by itself after a
--- few seconds, or at the next key pressed), and one line of it goes to :messages.
local M = {}

--- How long a floating message stays, in milliseconds.
M.float_ms = 8000

local function builtin_notify()
  local info = debug.getinfo(vim.notify, "S")
  return info ~= nil and info.source ~= nil and info.source:find("vim/_editor.lua", 1, true) ~= nil
end

local HIGHLIGHT = {
  [vim.log.levels.ERROR] = "ErrorMsg",
  [vim.log.levels.WARN] = "WarningMsg",
}

local open = nil -- the floating message shown now: { win, buf, timer }
local key_ns = vim.api.nvim_create_namespace("openhands.notify.keys")

local function close()
  vim.on_key(nil, key_ns)
  if not open then
    return
  end
  if open.timer then
    open.timer:stop()
    open.timer:close()
  end
  if vim.api.nvim_win_is_valid(open.win) then
    vim.api.nvim_win_close(open.win, true)
  end
  open = nil
end

--- The floating window of `text`, bottom right above the status line (a buffer's header stays in view), wrapped
--- to at most 80 columns.
local function float(text, level)
  close()
  local width = math.min(80, math.max(20, vim.o.columns - 4))
  local lines = {}
  for _, paragraph in ipairs(vim.split(text, "\n", { plain = true })) do
    local rest = paragraph
    repeat
      local cut = #rest <= width and #rest or (rest:sub(1, width):match(".*() ") or width)
      table.insert(lines, (rest:sub(1, cut):gsub("%s+$", "")))
      rest = rest:sub(cut + 1):gsub("^%s+", "")
    until rest == ""
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].bufhidden = "wipe"
  local win = vim.api.nvim_open_win(buf, false, {
    relative = "editor",
    anchor = "SE",
    row = vim.o.lines - vim.o.cmdheight - (vim.o.laststatus > 0 and 1 or 0),
    col = vim.o.columns - 1,
    width = width,
    height = math.min(#lines, math.max(1, vim.o.lines - 4)),
    style = "minimal",
    border = "rounded",
    title = " OpenHands ",
    focusable = false,
    noautocmd = true,
  })
  vim.wo[win].winhighlight = "NormalFloat:" .. (HIGHLIGHT[level] and "Normal" or "NormalFloat")
    .. ",FloatBorder:" .. (HIGHLIGHT[level] or "FloatBorder")
  local timer = vim.uv.new_timer()
  open = { win = win, buf = buf, timer = timer }
  timer:start(M.float_ms, 0, vim.schedule_wrap(close))
  -- Read, then out of the way: the next key the user presses closes it.
  vim.on_key(function()
    vim.schedule(close)
  end, key_ns)
end

--- Shows `msg` once, at `level` (vim.log.levels).
function M.say(msg, level)
  level = level or vim.log.levels.INFO
  if not builtin_notify() then
    return vim.notify(msg, level, { title = "OpenHands" })
  end
  local room = vim.v.echospace > 0 and vim.v.echospace or (vim.o.columns - 12)
  if not msg:find("\n", 1, true) and vim.fn.strdisplaywidth(msg) <= room then
    return vim.notify(msg, level)
  end
  -- (The window's title says OpenHands.)
  float((msg:gsub("^OpenHands: ", "")), level)
  -- One line in :messages (and on the command line), short enough never to ask for Enter.
  local first = msg:gsub("\n.*", "")
  local short = vim.fn.strcharpart(first, 0, math.max(10, room - 2))
  if short ~= msg then
    short = short .. "…"
  end
  vim.api.nvim_echo({ { short, HIGHLIGHT[level] } }, true, {})
end

--- The message shown in a floating window now (for tests): its lines, or nil.
function M.shown()
  if open and vim.api.nvim_buf_is_valid(open.buf) then
    return vim.api.nvim_buf_get_lines(open.buf, 0, -1, false)
  end
end

return M

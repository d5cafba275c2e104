--- A small test runner for `nvim --headless -u NONE --cmd 'set rtp^=editors/neovim' -l <test>.lua`: cases run in
--- order, every condition is waited for with vim.wait, and the run ends with one summary line and exit code 1 on
--- any failure (the Rust wrapper in tests/tests/neovim.rs checks both).
local T = { passed = 0, failed = 0, notes = {} }

function T.case(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    T.passed = T.passed + 1
    io.stdout:write("ok   " .. name .. "\n")
  else
    T.failed = T.failed + 1
    io.stdout:write("FAIL " .. name .. "\n" .. tostring(err) .. "\n")
  end
end

--- Waits for `cond()` to be truthy (processing events meanwhile); fails naming `what` after `timeout_ms`.
function T.wait(what, cond, timeout_ms)
  local value
  local started = vim.uv.now()
  local ok, why = vim.wait(timeout_ms or 60000, function()
    value = cond()
    return value
  end, 20)
  if not ok then
    local notes = vim.tbl_map(function(n)
      return n.msg
    end, T.notes)
    error(string.format("%s waiting for %s after %d ms; messages: %s", why == -2 and "interrupted" or "timed out", what,
      vim.uv.now() - started, vim.inspect(notes)), 2)
  end
  return value
end

function T.eq(want, got, what)
  if not vim.deep_equal(want, got) then
    error(string.format("%s: want %s, got %s", what or "value", vim.inspect(want), vim.inspect(got)), 2)
  end
end

function T.truthy(v, what)
  if not v then
    error((what or "condition") .. " is false", 2)
  end
  return v
end

--- Records vim.notify messages (what the user would see).
function T.capture_notify()
  vim.notify = function(msg, level)
    table.insert(T.notes, { msg = msg, level = level })
  end
end

--- Plain substring search (no Lua patterns).
function T.has(text, needle)
  return text ~= nil and text:find(needle, 1, true) ~= nil
end

function T.buf_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

function T.read(path)
  local f = io.open(path, "r")
  if not f then
    return nil
  end
  local s = f:read("*a")
  f:close()
  return s
end

function T.finish()
  io.stdout:write(string.format("neovim: %d passed, %d failed\n", T.passed, T.failed))
  io.stdout:flush()
  if T.failed > 0 or T.passed == 0 then
    vim.cmd("cquit 1")
  end
  vim.cmd("qall!")
end

--- Loads the plugin, captures notifications, and sets it up against the real server with the process backend and
--- the scripted LLM the Rust wrapper started (OH_TEST_LLM_URL); `settings` is merged over that. Returns the
--- workspace (OH_TEST_WORKSPACE) and the plugin's module.
function T.setup_server(settings)
  vim.cmd("filetype on")
  vim.cmd("runtime plugin/openhands.lua")
  T.capture_notify()
  local oh = require("openhands")
  oh.setup({
    settings = vim.tbl_deep_extend("force", {
      backend = "process",
      process = { command = vim.env.OPENHANDS_AGENT_SERVER, startupTimeoutSeconds = 180 },
      llm = { model = "openai/stub", baseUrl = vim.env.OH_TEST_LLM_URL, numRetries = 0 },
    }, settings or {}),
  })
  return assert(vim.env.OH_TEST_WORKSPACE, "OH_TEST_WORKSPACE"), oh
end

--- Runs the Ex command `command` and waits for what it shows (the notifications it causes, joined).
function T.notes_from(command)
  local from = #T.notes
  vim.cmd(command)
  return T.wait("what " .. command .. " shows", function()
    local out = {}
    for i = from + 1, #T.notes do
      table.insert(out, T.notes[i].msg)
    end
    return #out > 0 and table.concat(out, "\n") or nil
  end)
end

return T

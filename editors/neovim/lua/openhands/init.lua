--- openhands.nvim: OpenHands coding agents in Neovim, through the openhands-lsp language server.
---
--- require("openhands").setup(opts) starts nothing by itself: the server starts with the first buffer (0.11+,
--- vim.lsp.enable) or the first :OpenHands command.
local M = {}

---@class openhands.Options
---@field cmd? string[] The server command; default: $OPENHANDS_LSP_PATH, else the one `:OpenHands install` put in
--- stdpath("data"), else `openhands-lsp` on PATH.
---@field install? { url: string } Where `:OpenHands install` downloads from: the release's folder, `{version}` in it
--- replaced by the plugin's version (default: the GitHub release).
---@field settings? table The `openhands` settings (docs/configuration.md), sent as initializationOptions.
---@field root_markers? string[] How the workspace folder is found.
---@field filetypes? string[]|nil Buffers the server attaches to on 0.11+ (nil: every filetype).
---@field progress? { notify: boolean } Progress as vim.notify messages (default true).
---@field review? { write: boolean } Write files after apply (default true).

---@type openhands.Options
M.defaults = {
  cmd = nil,
  settings = {},
  root_markers = { ".git" },
  filetypes = nil,
  progress = { notify = true },
  review = { write = true },
  install = { url = nil },
}

---@type openhands.Options
M.options = vim.deepcopy(M.defaults)
M.configured = false
M.NAME = "openhands"

--- Conversations known to this session: id -> Conversation (from openhands/conversationChanged and lists).
M.conversations = {}

--- Whether this Neovim has 0.11's LSP API (vim.lsp.config/enable, client methods called with `:`). Without it
--- (0.10) the server starts on the first command instead of with the first buffer. Tests set it to false to run
--- the 0.10 paths on a newer Neovim.
M.nvim_011 = vim.fn.has("nvim-0.11") == 1

--- The server command: opts.cmd, then $OPENHANDS_LSP_PATH, then the one `:OpenHands install` put in place, then
--- PATH. Returns the command, nil and where it came from; or nil and why none is found.
---@return string[]|nil, string|nil, string|nil
function M.server_cmd()
  if M.options.cmd then
    return M.options.cmd, nil, "setup({ cmd })"
  end
  local env = vim.env.OPENHANDS_LSP_PATH
  if env and env ~= "" then
    if vim.fn.executable(env) == 1 then
      return { env }, nil, "$OPENHANDS_LSP_PATH"
    end
    return nil, "OPENHANDS_LSP_PATH=" .. env .. " is not an executable file"
  end
  local installed = require("openhands.install").installed()
  if installed then
    return { installed }, nil, ":OpenHands install"
  end
  local found = vim.fn.exepath("openhands-lsp")
  if found ~= "" then
    return { found }, nil, "PATH"
  end
  return nil,
    "openhands-lsp not found: run :OpenHands install, put openhands-lsp on PATH, set $OPENHANDS_LSP_PATH, or pass "
      .. "setup({ cmd = { '/path/to/openhands-lsp' } })"
end

local function handlers()
  local conversation = require("openhands.conversation")
  return {
    ["openhands/event"] = function(_, params)
      conversation.on_event(params)
    end,
    ["openhands/conversationChanged"] = function(_, params)
      local before = M.conversations[params.id]
      M.conversations[params.id] = params
      require("openhands.needs").on_changed(before, params)
      conversation.on_changed(params)
      require("openhands.usage").on_changed(params)
    end,
    ["openhands/checkpoint"] = function(_, params)
      conversation.on_checkpoint(params.conversationId)
    end,
    ["openhands/status"] = function(_, params)
      require("openhands.progress").on_status(params)
    end,
    ["window/showMessageRequest"] = require("openhands.confirm").handler,
    -- Once, at its level, and never as a hit-enter prompt (the server's messages are full sentences).
    ["window/showMessage"] = function(_, params)
      local levels = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO, vim.log.levels.DEBUG }
      require("openhands.notify").say(params.message, levels[params.type] or vim.log.levels.INFO)
    end,
  }
end

--- The workspace folder of a buffer: the nearest parent with one of the root markers, else the current directory.
--- (Found here rather than by vim.fs.root, which misses markers under hidden directories such as /tmp/.tmpXYZ.)
function M.root_for(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr or 0)
  if name == "" then
    return vim.fn.getcwd()
  end
  local path = vim.fn.fnamemodify(name, ":p")
  for dir in vim.fs.parents(path) do
    for _, marker in ipairs(M.options.root_markers or {}) do
      if vim.uv.fs_stat(vim.fs.joinpath(dir, marker)) then
        return dir
      end
    end
  end
  return vim.fn.getcwd()
end

--- The client configuration (vim.lsp.ClientConfig), or nil and why.
--- A code action's command that starts a conversation (fix an issue, fix a problem) runs through the plugin, so the
--- conversation opens in its buffer as after `:OpenHands fix` (the answer to Neovim's own request is read by nobody).
local function starting_commands()
  local out = {}
  for _, name in ipairs({ "openhands.fixIssue", "openhands.fixDiagnostic", "openhands.startTask" }) do
    out[name] = function(command)
      M.execute(name, (command.arguments or {})[1], function(err, result)
        if not err and result and result.conversationId then
          M.conversations[result.conversationId] = result.conversation
          require("openhands.conversation").open(result.conversationId)
        end
      end)
    end
  end
  return out
end

function M.client_config()
  local cmd, why = M.server_cmd()
  if not cmd then
    return nil, why
  end
  return {
    name = M.NAME,
    cmd = cmd,
    -- Real files only: conversation and review buffers are the plugin's own.
    root_dir = function(bufnr, on_dir)
      if vim.bo[bufnr].buftype == "" and vim.api.nvim_buf_get_name(bufnr) ~= "" then
        on_dir(M.root_for(bufnr))
      end
    end,
    filetypes = M.options.filetypes,
    init_options = M.options.settings,
    settings = { openhands = M.options.settings },
    handlers = handlers(),
    commands = starting_commands(),
  }
end

---@param opts? openhands.Options
function M.setup(opts)
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  M.configured = true
  require("openhands.progress").setup()
  if M.nvim_011 then
    local config, why = M.client_config()
    if not config then
      require("openhands.notify").say("OpenHands: " .. why, vim.log.levels.WARN)
      return
    end
    vim.lsp.config(M.NAME, config)
    vim.lsp.enable(M.NAME)
  end
end

--- The running client: the one attached to the current buffer, else any (the newest).
function M.get_client()
  local here = vim.lsp.get_clients({ name = M.NAME, bufnr = 0 })[1]
  if here then
    return here
  end
  local all = vim.lsp.get_clients({ name = M.NAME })
  return all[#all]
end

--- The running client, started (attached to the current buffer) when there is none.
---@return vim.lsp.Client|nil, string|nil
function M.client()
  if not M.configured then
    M.setup()
  end
  local client = M.get_client()
  if client then
    return client
  end
  local config, why = M.client_config()
  if not config then
    return nil, why
  end
  local root = M.root_for(0)
  config.root_dir = root
  config.workspace_folders = { { uri = vim.uri_from_fname(root), name = vim.fs.basename(root) } }
  local id = vim.lsp.start(config, { bufnr = vim.api.nvim_get_current_buf() })
  if not id then
    return nil, "the openhands-lsp server did not start (see :OpenHands log)"
  end
  return vim.lsp.get_client_by_id(id)
end

local when_initialized

local function request(client, method, params, handler, bufnr)
  if M.nvim_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- Calls `ready()` once the client has finished `initialize` (a just-started client has not: requests before that
--- are refused), or `failed(why)` if it stops or takes longer than 30 s.
when_initialized = function(client, ready, failed)
  if client.initialized then
    return ready()
  end
  local waited = 0
  local timer = assert(vim.uv.new_timer())
  timer:start(20, 20, vim.schedule_wrap(function()
    waited = waited + 20
    if client.initialized then
      timer:stop()
      timer:close()
      ready()
    elseif client:is_stopped() or waited > 30000 then
      timer:stop()
      timer:close()
      failed("the openhands-lsp server did not start (see :OpenHands log)")
    end
  end))
end

--- A conversation's title short enough for a tab label or a status line (28 characters and "…").
function M.short_title(id)
  local title = (M.conversations[id] or {}).title or id:sub(1, 8)
  title = title:gsub("…$", "")
  if vim.fn.strchars(title) > 28 then
    title = vim.fn.strcharpart(title, 0, 28) .. "…"
  end
  return title
end

--- What failed, in the user's words, by server command.
local FAILED = {
  ["openhands.startTask"] = "could not start the task",
  ["openhands.fixIssue"] = "could not start on the issue",
  ["openhands.fixDiagnostic"] = "could not start the fix",
  ["openhands.sendMessage"] = "could not send the message",
  ["openhands.unqueueMessage"] = "could not take the message back",
  ["openhands.pause"] = "could not pause",
  ["openhands.resume"] = "could not resume",
  ["openhands.stop"] = "could not stop",
  ["openhands.reviewChanges"] = "could not open the review",
  ["openhands.applyChanges"] = "could not apply",
  ["openhands.discardChanges"] = "could not discard",
  ["openhands.pushChanges"] = "could not push",
  ["openhands.createPullRequest"] = "could not open the pull request",
  ["openhands.listConversations"] = "could not list the conversations",
  ["openhands.getEvents"] = "could not load the conversation's history",
  ["openhands.setSecret"] = "could not set the secret",
  ["openhands.status"] = "could not get the status",
  ["openhands.suggestedTasks"] = "could not list suggested tasks",
  ["openhands.attachConversation"] = "could not follow the cloud conversation",
  ["openhands.respondToConfirmation"] = "could not answer",
}

--- "OpenHands: could not start the task: <why>" (one line per error, said once).
function M.failure_message(command, why)
  return string.format("OpenHands: %s: %s", FAILED[command] or (command .. " failed"), why)
end

--- Runs a server command (workspace/executeCommand) with one argument object; `callback(err, result)`.
--- Errors are reported with vim.notify unless the callback returns true.
---@param command string e.g. "openhands.startTask"
---@param argument table|nil
---@param callback? fun(err: table|nil, result: any): boolean|nil
function M.execute(command, argument, callback)
  local client, why = M.client()
  if not client then
    require("openhands.notify").say("OpenHands: " .. why, vim.log.levels.ERROR)
    return
  end
  -- Every command takes one JSON object. An empty Lua table (or one whose fields were all nil, such as
  -- { conversationId = nil }) would go out as a JSON array, `[]`: send `{}` instead.
  if argument == nil or (type(argument) == "table" and next(argument) == nil) then
    argument = vim.empty_dict()
  end
  local params = { command = command, arguments = { argument } }
  local function send()
    -- No buffer: Neovim then sends every buffer's pending (debounced) changes first, so the server merges and
    -- applies against the text the user sees, not the one from 150 ms ago.
    request(client, "workspace/executeCommand", params, function(err, result)
      local handled = callback and callback(err, result)
      if err and not handled then
        require("openhands.notify").say(M.failure_message(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      end
    end, nil)
  end
  when_initialized(client, send, function(why)
    local err = { message = why }
    if not (callback and callback(err, nil)) then
      require("openhands.notify").say(M.failure_message(command, why), vim.log.levels.ERROR)
    end
  end)
end

--- Runs a server command and waits for its result (for tests and :checkhealth).
function M.execute_sync(command, argument, timeout_ms)
  local done, err, res = false, nil, nil
  M.execute(command, argument, function(e, r)
    done, err, res = true, e, r
    return true
  end)
  vim.wait(timeout_ms or 10000, function()
    return done
  end, 10)
  if not done then
    return nil, { message = command .. " timed out" }
  end
  return res, err
end

--- A statusline component: what OpenHands is doing ("" when idle and fine). `opts.usage`: also what this session's
--- LLM calls cost (`OpenHands $0.0123 · 1234 tokens`), once there is any.
---@param opts? { usage?: boolean }
function M.status(opts)
  local now = require("openhands.progress").status()
  local session = require("openhands.usage").session
  if not (opts and opts.usage and session) then
    return now
  end
  local spent = require("openhands.usage").short(session)
  return now == "" and ("OpenHands " .. spent) or (now .. " · " .. spent)
end

return M

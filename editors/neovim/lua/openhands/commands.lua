--- :OpenHands {subcommand} [args]: the plugin's one user command, with completion.
local M = {}

local function oh()
  return require("openhands")
end

local SECRETS =
  { "llm_api_key", "github_token", "gitlab_token", "bitbucket_token", "cloud_api_key", "jira_token", "linear_api_key" }

--- Known conversations, newest first.
local function conversations()
  local list = vim.tbl_values(oh().conversations)
  table.sort(list, function(a, b)
    return (a.updatedAt or 0) > (b.updatedAt or 0)
  end)
  return list
end

local function label(c)
  local state = c.state or "?"
  if c.runningElsewhere == true then
    state = state .. " in another editor"
  end
  local spent = type(c.usage) == "table" and ("  " .. require("openhands.usage").short(c.usage)) or ""
  -- A row fits a narrow window with its state and cost: long titles are cut here (the buffer's header has it all).
  local title = c.title or "?"
  if vim.fn.strchars(title) > 40 then
    title = vim.fn.strcharpart(title, 0, 39) .. "…"
  end
  return string.format("%s  [%s, %s]%s  %s", title, state, c.backend or "?", spent, c.id:sub(1, 8))
end

--- Calls `fn(id)` with one picked with vim.ui.select among the conversations the server lists.
local function pick(fn)
  oh().execute("openhands.listConversations", {}, function(err, result)
    if err then
      return
    end
    for _, c in ipairs(result.conversations or {}) do
      oh().conversations[c.id] = c
    end
    local list = conversations()
    if #list == 0 then
      require("openhands.notify").say("OpenHands: no conversation yet (:OpenHands task)", vim.log.levels.INFO)
      return
    end
    vim.ui.select(list, { prompt = "OpenHands conversation", format_item = label }, function(choice)
      if choice then
        fn(choice.id)
      end
    end)
  end)
end

--- Calls `fn(id)` with the conversation named by `arg` (an id or its prefix), else the one of the current buffer,
--- else one picked with vim.ui.select among those the server lists.
local function with_conversation(arg, fn)
  if arg and arg ~= "" then
    for id in pairs(oh().conversations) do
      if id:sub(1, #arg) == arg then
        return fn(id)
      end
    end
    return fn(arg)
  end
  local current = require("openhands.conversation").id_of(0)
  if current then
    return fn(current)
  end
  pick(fn)
end

--- Starts a conversation on an issue (or pull request) and opens its buffer. The current file resolves `#12`
--- against its repository's remote.
local function fix_issue(reference)
  local name = vim.api.nvim_buf_get_name(0)
  local uri = (name ~= "" and vim.bo.buftype == "") and vim.uri_from_fname(name) or nil
  oh().execute("openhands.fixIssue", { reference = reference, uri = uri }, function(err, result)
    if not err and result and result.conversationId then
      require("openhands.conversation").open(result.conversationId)
    end
  end)
end

--- A subcommand that runs one of the server's commands on a conversation.
local function on_conversation(desc, command)
  return {
    desc = desc,
    run = function(arg)
      with_conversation(arg, function(id)
        oh().execute(command, { conversationId = id })
      end)
    end,
  }
end

--- A buffer's diagnostics (on lines `first`..`last`, 0-based, when given) as the server takes them (LSP's).
local function problems(buf, first, last)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if not first or (d.lnum <= last and (d.end_lnum or d.lnum) >= first) then
      local lsp = d.user_data and d.user_data.lsp
      table.insert(out, lsp or {
        range = {
          start = { line = d.lnum, character = d.col },
          ["end"] = { line = d.end_lnum or d.lnum, character = d.end_col or d.col },
        },
        severity = d.severity,
        source = d.source,
        code = d.code,
        message = d.message,
      })
    end
  end
  return #out > 0 and out or nil
end

--- Opens the buffer of a conversation a command started.
local function opened(err, result)
  if err then
    return
  end
  oh().conversations[result.conversationId] = result.conversation
  require("openhands.conversation").open(result.conversationId)
end

--- `:OpenHands fix` without an issue: the diagnostic under the cursor, else all of the buffer's; false when the
--- buffer has none.
local function fix_problems()
  local buf = vim.api.nvim_get_current_buf()
  if vim.api.nvim_buf_get_name(buf) == "" or vim.bo[buf].buftype ~= "" then
    return false
  end
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  local here = problems(buf, row, row)
  if here then
    oh().execute("openhands.fixDiagnostic", { uri = vim.uri_from_bufnr(buf), diagnostic = here[1] }, opened)
    return true
  end
  local all = problems(buf)
  if not all then
    return false
  end
  local name = vim.fs.basename(vim.api.nvim_buf_get_name(buf))
  oh().execute("openhands.startTask", {
    instruction = "Fix the problems the editor reports in this file. Fix their causes, not only the messages; then run "
      .. "the project's tests, if it has any.",
    title = string.format("Fix %d problem%s in %s", #all, #all == 1 and "" or "s", name),
    uri = vim.uri_from_bufnr(buf),
    diagnostics = all,
  }, opened)
  return true
end

--- The start of a task: the instruction, with the file and (from a range) the selected lines and their problems as
--- context.
local function start_task(instruction, opts)
  local args = { instruction = instruction }
  local buf = vim.api.nvim_get_current_buf()
  local name = vim.api.nvim_buf_get_name(buf)
  if name ~= "" and vim.bo[buf].buftype == "" then
    args.uri = vim.uri_from_bufnr(buf)
    if opts.range and opts.range > 0 then
      local last = vim.api.nvim_buf_get_lines(buf, opts.line2 - 1, opts.line2, false)[1] or ""
      args.range = { start = { line = opts.line1 - 1, character = 0 }, ["end"] = { line = opts.line2 - 1, character = #last } }
      args.selectedText = table.concat(vim.api.nvim_buf_get_lines(buf, opts.line1 - 1, opts.line2, false), "\n")
      args.diagnostics = problems(buf, opts.line1 - 1, opts.line2 - 1)
    end
  end
  -- Several workspace folders (`vim.lsp.buf.add_workspace_folder()`): the task works in the current one, or in all
  -- of them (each with its own copy, reviewed and applied together), as the user says.
  local client = oh().get_client()
  local folders = client and client.workspace_folders or {}
  if #folders < 2 then
    return oh().execute("openhands.startTask", args, opened)
  end
  local names = vim.tbl_map(function(f)
    return vim.fs.basename(vim.uri_to_fname(f.uri))
  end, folders)
  local all = string.format("all %d folders: %s", #folders, table.concat(names, ", "))
  vim.ui.select({ "only this folder", all }, { prompt = "OpenHands: which folders does the task work in?" }, function(choice)
    if not choice then
      return
    end
    if choice == all then
      args.folders = vim.tbl_map(function(f)
        return f.uri
      end, folders)
    end
    oh().execute("openhands.startTask", args, opened)
  end)
end

local function prompt(text, fn)
  vim.ui.input({ prompt = text }, function(input)
    if input and input ~= "" then
      fn(input)
    end
  end)
end

---@type table<string, { run: fun(arg: string, opts: table), complete?: fun(): string[], desc: string }>
M.subcommands = {
  task = {
    desc = "start a task (on a range: with the selected lines)",
    run = function(arg, opts)
      if arg ~= "" then
        return start_task(arg, opts)
      end
      prompt("OpenHands task: ", function(text)
        start_task(text, opts)
      end)
    end,
  },
  fix = {
    desc = "fix an issue (#12, owner/repo#12, PROJ-123, ENG-42 or an issue URL); without one, the buffer's problems",
    run = function(arg)
      local go = function(reference)
        fix_issue(reference)
      end
      if arg ~= "" then
        return go(arg)
      end
      if fix_problems() then
        return
      end
      -- An empty answer asks the server for the Jira or Linear issue the branch (or its latest commits) names.
      vim.ui.input({ prompt = "Issue to fix (#12, PROJ-123, URL; empty: the one your branch names): " }, function(input)
        if input then
          go(vim.trim(input))
        end
      end)
    end,
  },
  list = {
    desc = "pick a conversation and open it",
    run = function()
      -- Always the list, even from a conversation's buffer.
      pick(require("openhands.conversation").open)
    end,
  },
  open = {
    desc = "open a conversation's buffer",
    run = function(arg)
      with_conversation(arg, require("openhands.conversation").open)
    end,
  },
  send = {
    desc = "send a message to a conversation",
    run = function(arg)
      with_conversation(nil, function(id)
        if arg ~= "" then
          oh().execute("openhands.sendMessage", { conversationId = id, text = arg })
        else
          require("openhands.conversation").prompt_send(id)
        end
      end)
    end,
  },
  pause = on_conversation("pause a conversation", "openhands.pause"),
  resume = on_conversation("resume a paused conversation", "openhands.resume"),
  stop = on_conversation("stop a conversation (its history stays)", "openhands.stop"),
  review = {
    desc = "review a conversation's changes file by file",
    run = function(arg)
      with_conversation(arg, require("openhands.review").open)
    end,
  },
  restore = {
    desc = "put a conversation back to a checkpoint (the agent's copy and memory; your files are not touched)",
    run = function(arg)
      with_conversation(arg, function(id)
        oh().execute("openhands.listCheckpoints", { conversationId = id }, function(err, list)
          if err or not list then
            return false
          end
          local items = {}
          for i = #(list.checkpoints or {}), 1, -1 do
            table.insert(items, list.checkpoints[i])
          end
          if #items == 0 then
            require("openhands.notify").say("OpenHands: no checkpoints yet (one is taken after each step that changes files)")
            return false
          end
          vim.ui.select(items, {
            prompt = "Restore to which checkpoint?",
            format_item = function(k)
              return string.format("checkpoint %d, after step %d: %s%s", k.number, k.step, table.concat(k.files, ", "),
                k.number == list.current and "  (the files are here)" or "")
            end,
          }, function(choice)
            if choice then
              require("openhands.conversation").restore(id, choice.number)
            end
          end)
          return false
        end)
      end)
    end,
  },
  apply = {
    desc = "apply the files accepted in review (all files when none was reviewed)",
    run = function(arg)
      with_conversation(arg, function(id)
        local session = require("openhands.review").session(id)
        if session then
          return require("openhands.review").apply(id)
        end
        vim.ui.select({ "Apply all changed files", "Review first" }, { prompt = "No review yet" }, function(choice)
          if choice == "Review first" then
            require("openhands.review").open(id)
          elseif choice then
            oh().execute("openhands.applyChanges", { conversationId = id }, function(err, result)
              if not err and result then
                require("openhands.review").write_applied(result)
              end
            end)
          end
        end)
      end)
    end,
  },
  discard = {
    desc = "discard a conversation's changes (your files are not touched)",
    run = function(arg)
      with_conversation(arg, function(id)
        vim.ui.select({ "Discard", "Keep" }, { prompt = "Discard the conversation's changes?" }, function(choice)
          if choice == "Discard" then
            oh().execute("openhands.discardChanges", { conversationId = id })
          end
        end)
      end)
    end,
  },
  pr = on_conversation("open a pull request from a conversation's changes", "openhands.createPullRequest"),
  tasks = {
    desc = "suggested tasks (issues and pull requests waiting for you)",
    run = function()
      oh().execute("openhands.suggestedTasks", {}, function(err, result)
        if err or not result then
          return
        end
        vim.ui.select(result.tasks or {}, {
          prompt = "OpenHands suggested task",
          format_item = function(t)
            return string.format("%s  (%s)", t.title or "?", t.description or t.reference or "")
          end,
        }, function(choice)
          -- Each task names the issue or pull request to start on.
          if choice and choice.reference then
            fix_issue(choice.reference)
          end
        end)
      end)
    end,
  },
  attach = {
    desc = "follow an OpenHands Cloud conversation (one started on the web, or before a restart)",
    run = function(arg)
      local attach = function(id)
        oh().execute("openhands.attachConversation", { cloudConversationId = id }, function(err, result)
          if not err and result and result.conversationId then
            oh().conversations[result.conversationId] = result.conversation
            require("openhands.conversation").open(result.conversationId)
          end
        end)
      end
      if arg ~= "" then
        return attach(arg)
      end
      oh().execute("openhands.listConversations", { cloud = true }, function(err, result)
        if err or not result then
          return
        end
        if result.cloudError then
          return require("openhands.notify").say("OpenHands: " .. result.cloudError, vim.log.levels.ERROR)
        end
        local open = vim.tbl_filter(function(c)
          return c.attachedAs == nil or c.attachedAs == vim.NIL
        end, result.cloudConversations or {})
        vim.ui.select(open, {
          prompt = "OpenHands Cloud conversation",
          format_item = function(c)
            local title = (c.title ~= vim.NIL and c.title) or c.id
            local repo = (c.repository ~= vim.NIL and c.repository) or "no repository"
            return string.format("%s  (%s, %s)", title, repo, c.sandboxStatus or "?")
          end,
        }, function(choice)
          if choice then
            attach(choice.id)
          end
        end)
      end)
    end,
  },
  secret = {
    desc = "set a secret (LLM key, provider token, an MCP server's ${secret:NAME}) for this session",
    complete = function()
      -- Ours, and those the settings' MCP servers name.
      local names = vim.deepcopy(SECRETS)
      local servers = vim.json.encode((oh().options.settings or {}).mcpServers or vim.empty_dict())
      for name in servers:gmatch("%${secret:([%a_][%w_]*)}") do
        if not vim.tbl_contains(names, name) then
          table.insert(names, name)
        end
      end
      return names
    end,
    run = function(arg)
      local set = function(name)
        local value = vim.fn.inputsecret(name .. ": ")
        if value ~= "" then
          oh().execute("openhands.setSecret", { name = name, value = value }, function(err)
            if not err then
              require("openhands.notify").say("OpenHands: " .. name .. " set for this session")
            end
          end)
        end
      end
      if arg ~= "" then
        return set(arg)
      end
      vim.ui.select(M.subcommands.secret.complete(), { prompt = "Which secret" }, function(choice)
        if choice then
          set(choice)
        end
      end)
    end,
  },
  install = {
    desc = "download this plugin's server from its release (checked by sha256), or build it with cargo",
    run = function()
      if require("openhands.install").install() and oh().get_client() then
        require("openhands.notify").say("OpenHands: the running server stays until Neovim restarts (or :LspRestart)")
      end
    end,
  },
  log = {
    desc = "open the LSP log at its newest lines (the server's messages go there, each at its level)",
    run = function()
      vim.cmd("tabnew " .. vim.fn.fnameescape(vim.lsp.get_log_path()))
      vim.cmd("normal! G")
    end,
  },
  status = {
    desc = "what the server can use right now",
    run = function()
      oh().execute("openhands.status", {}, function(err, status)
        if err or not status then
          return
        end
        local lines = { string.format("openhands-lsp %s, backend %s: %s", status.version, status.backend, status.ok and "ok" or "PROBLEM") }
        for _, c in ipairs(status.checks or {}) do
          table.insert(lines, string.format("  %-18s %-8s %s", c.name, c.status, c.detail))
        end
        require("openhands.notify").say(table.concat(lines, "\n"), status.ok and vim.log.levels.INFO or vim.log.levels.WARN)
      end)
    end,
  },
}

local function names()
  local out = vim.tbl_keys(M.subcommands)
  table.sort(out)
  return out
end

--- Completion for :OpenHands: subcommands, then their arguments (conversation ids, secret names).
function M.complete(arglead, cmdline)
  local words = vim.split(cmdline:gsub("^%s*%S*%s*", ""), "%s+", { trimempty = false })
  if #words <= 1 then
    return vim.tbl_filter(function(n)
      return n:sub(1, #arglead) == arglead
    end, names())
  end
  local sub = M.subcommands[words[1]]
  local candidates = {}
  if sub and sub.complete then
    candidates = sub.complete()
  elseif words[1] ~= "task" and words[1] ~= "fix" and words[1] ~= "send" then
    candidates = vim.tbl_keys(oh().conversations)
  end
  return vim.tbl_filter(function(c)
    return c:sub(1, #arglead) == arglead
  end, candidates)
end

function M.run(opts)
  local sub, arg = opts.args:match("^%s*(%S+)%s*(.-)%s*$")
  if not sub then
    require("openhands.notify").say("OpenHands: subcommands: " .. table.concat(names(), ", "), vim.log.levels.INFO)
    return
  end
  local entry = M.subcommands[sub]
  if not entry then
    require("openhands.notify").say(string.format("OpenHands: unknown subcommand %q; try one of: %s", sub, table.concat(names(), ", ")), vim.log.levels.ERROR)
    return
  end
  entry.run(arg or "", opts)
end

return M

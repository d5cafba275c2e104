-- The plugin loads, :OpenHands and its completion exist, :checkhealth openhands runs clean.
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
vim.cmd("filetype on")
vim.cmd("runtime plugin/openhands.lua")
T.capture_notify()

T.case("the :OpenHands command exists once the plugin is on the runtimepath", function()
  T.eq(2, vim.fn.exists(":OpenHands"), "exists(':OpenHands')")
end)

T.case("completion lists every subcommand, then conversation ids and secret names", function()
  local subs = vim.fn.getcompletion("OpenHands ", "cmdline")
  for _, want in ipairs({ "task", "fix", "list", "open", "send", "pause", "resume", "stop", "review", "apply",
    "discard", "pr", "tasks", "attach", "secret", "log", "status" }) do
    T.truthy(vim.tbl_contains(subs, want), "completion has " .. want .. ": " .. vim.inspect(subs))
  end
  T.eq({ "review" }, vim.fn.getcompletion("OpenHands rev", "cmdline"), "prefix completion")
  T.eq({ "github_token", "gitlab_token" }, vim.fn.getcompletion("OpenHands secret g", "cmdline"), "secret names")
  require("openhands").conversations["0123456789abcdef"] = { id = "0123456789abcdef", title = "t", state = "finished" }
  T.eq({ "0123456789abcdef" }, vim.fn.getcompletion("OpenHands review 01", "cmdline"), "conversation ids")
end)

T.case(":help finds the plugin and each subcommand without running :helptags first", function()
  local subs = vim.tbl_keys(require("openhands.commands").subcommands)
  table.sort(subs)
  for _, sub in ipairs(subs) do
    vim.cmd("help :OpenHands-" .. sub)
    T.truthy(vim.api.nvim_buf_get_name(0):match("openhands%.txt$"), sub .. ": " .. vim.api.nvim_buf_get_name(0))
    T.truthy(T.has(vim.api.nvim_get_current_line(), "*:OpenHands-" .. sub .. "*"), sub .. ": on its tag")
    vim.cmd("helpclose")
  end
  vim.cmd("help openhands")
  T.truthy(vim.api.nvim_buf_get_name(0):match("openhands%.txt$"), "help openhands")
  vim.cmd("helpclose")
end)

T.case("an unknown subcommand says which exist", function()
  vim.cmd("OpenHands frobnicate")
  local last = T.notes[#T.notes]
  T.truthy(last and T.has(last.msg, 'unknown subcommand "frobnicate"') and T.has(last.msg, "review"), vim.inspect(last))
end)

T.case("setup registers the server with vim.lsp.config on 0.11", function()
  require("openhands").setup({
    settings = { backend = "process", process = { command = vim.env.OPENHANDS_AGENT_SERVER } },
  })
  local config = vim.lsp.config.openhands
  T.truthy(config and config.cmd and config.cmd[1] == vim.env.OPENHANDS_LSP_PATH, vim.inspect(config and config.cmd))
  T.eq("process", config.init_options.backend, "init_options")
end)

T.case(":checkhealth openhands runs clean", function()
  vim.cmd("checkhealth openhands")
  local text = T.buf_text(0)
  T.truthy(T.has(text, "openhands-lsp 0."), text)
  T.truthy(T.has(text, "the server starts"), text)
  T.truthy(T.has(text, "state directory"), text)
  T.truthy(T.has(text, "agent-server smoke check: booted in") and T.has(text, "created and deleted a conversation"),
    "the agent-server was tried: " .. text)
  T.truthy(T.has(text, "llm_api_key (set from the environment)"), "secrets by name: " .. text)
  T.truthy(not T.has(text, "ERROR"), "no error: " .. text)
  T.truthy(not T.has(text, "sk-scripted"), "no secret value: " .. text)
end)

T.case(":checkhealth says how to install a missing server", function()
  local saved = vim.env.OPENHANDS_LSP_PATH
  vim.env.OPENHANDS_LSP_PATH = "/nonexistent/openhands-lsp"
  vim.cmd("checkhealth openhands")
  local text = T.buf_text(0)
  vim.env.OPENHANDS_LSP_PATH = saved
  T.truthy(T.has(text, "ERROR") and T.has(text, "is not an executable file"), text)
end)

T.case(":checkhealth reports a cmd that names a missing binary as an error with the fix, not a crash", function()
  local oh = require("openhands")
  local saved = oh.options.cmd
  oh.options.cmd = { "/nonexistent/bin/openhands-lsp" }
  local ok, err = pcall(vim.cmd, "checkhealth openhands")
  local text = T.buf_text(0)
  oh.options.cmd = saved
  T.truthy(ok, "checkhealth ran: " .. tostring(err))
  T.truthy(not T.has(text, "ENOENT") and not T.has(text, "Failed to run healthcheck"), text)
  T.truthy(T.has(text, "ERROR") and T.has(text, "/nonexistent/bin/openhands-lsp is not an executable file"), text)
  T.truthy(T.has(text, "cmd = {"), "says how to point at it: " .. text)
end)

T.case(":checkhealth warns about a setting it did not understand, in words", function()
  local oh = require("openhands")
  local saved = oh.options.settings
  oh.options.settings = vim.tbl_deep_extend("force", saved or {}, { maxIterations = "lots" })
  vim.cmd("checkhealth openhands")
  local text = T.buf_text(0)
  oh.options.settings = saved
  T.truthy(T.has(text, "WARNING") and T.has(text, "openhands.maxIterations: expected a whole number"), text)
end)

T.case("the help file has valid tags for the command and each section", function()
  local rtp = vim.fn.tempname()
  vim.fn.mkdir(rtp .. "/doc", "p")
  vim.fn.writefile(vim.fn.readfile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/doc/openhands.txt")), rtp .. "/doc/openhands.txt")
  vim.cmd("helptags " .. rtp .. "/doc")
  vim.opt.runtimepath:append(rtp)
  for _, tag in ipairs({ ":OpenHands", "openhands-review", "openhands-progress", "openhands-health" }) do
    vim.cmd("help " .. tag)
    T.eq("help", vim.bo.buftype, "help " .. tag)
    vim.cmd("helpclose")
  end
end)

T.finish()

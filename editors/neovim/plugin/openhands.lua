-- :OpenHands, available as soon as the plugin is on the runtimepath; the server starts on first use (or with the
-- first buffer after require("openhands").setup() on Neovim 0.11+).
if vim.g.loaded_openhands then
  return
end
vim.g.loaded_openhands = true

vim.api.nvim_create_user_command("OpenHands", function(opts)
  require("openhands.commands").run(opts)
end, {
  nargs = "*",
  range = true,
  desc = "OpenHands: task, fix, list, open, send, pause, resume, stop, review, apply, discard, pr, tasks, secret, log, status, install",
  complete = function(arglead, cmdline)
    return require("openhands.commands").complete(arglead, cmdline)
  end,
})

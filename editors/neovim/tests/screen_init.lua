-- The init file of the terminal-level tests (tests/tests/neovim.rs, in tmux): the plugin from this repository, set
-- up as a user's init.lua would, with the settings the test passes in OH_TEST_SETTINGS (JSON).
vim.opt.runtimepath:prepend(vim.env.OH_TEST_PLUGIN)
vim.cmd("runtime plugin/openhands.lua")
vim.o.swapfile = false
require("openhands").setup({ settings = vim.json.decode(vim.env.OH_TEST_SETTINGS) })

-- :OpenHands install as a new user (no server anywhere, no cargo): from a release folder served over HTTP (the Rust
-- wrapper serves scripts/release's target/dist at OH_TEST_RELEASE_URL, a copy with a wrong sha256 at
-- OH_TEST_DAMAGED_URL, and nothing at OH_TEST_EMPTY_URL). :checkhealth then names the installed server.
local T = dofile(vim.fs.joinpath(vim.fn.getcwd(), "editors/neovim/tests/helpers.lua"))
vim.cmd("runtime plugin/openhands.lua")
T.capture_notify()
-- Nothing of this machine's: the server is found only where :OpenHands install puts it.
vim.env.OPENHANDS_LSP_PATH = nil
local oh = require("openhands")
local install = require("openhands.install")
local settings = {
  backend = "process",
  process = { command = vim.env.OPENHANDS_AGENT_SERVER, startupTimeoutSeconds = 180 },
  llm = { model = "openai/stub", baseUrl = "http://127.0.0.1:9/v1", numRetries = 0 },
}

local function setup(url)
  oh.setup({ settings = settings, install = { url = url } })
end

local function said_since(from)
  local out = {}
  for i = from + 1, #T.notes do
    table.insert(out, T.notes[i].msg)
  end
  return table.concat(out, "\n")
end

T.case("before: no server is found, and the reason names :OpenHands install", function()
  T.eq(0, vim.fn.executable("cargo"), "no cargo on PATH")
  local cmd, why = oh.server_cmd()
  T.eq(nil, cmd, "no server")
  T.truthy(T.has(why, ":OpenHands install"), why)
end)

T.case("a download that does not match its sha256 is refused in words, and nothing is installed", function()
  setup(vim.env.OH_TEST_DAMAGED_URL)
  local from = #T.notes
  vim.cmd("OpenHands install")
  local said = said_since(from)
  T.truthy(T.has(said, "does not match its sha256") and T.has(said, "Nothing was installed"), said)
  T.eq(nil, install.installed(), "nothing installed")
  T.eq(0, vim.fn.isdirectory(install.dir()) == 1 and #vim.fn.readdir(install.dir()) or 0, "no file left behind")
end)

T.case("a release without this version's archive, and no cargo, is said with what to do", function()
  setup(vim.env.OH_TEST_EMPTY_URL)
  local path, why = install.install()
  T.eq(nil, path)
  T.truthy(T.has(why, "not found") and T.has(why, "cargo is not installed") and T.has(why, "rustup.rs"), why)
end)

T.case(":OpenHands install fetches the plugin's version, checks it and keeps it under stdpath('data')", function()
  setup(vim.env.OH_TEST_RELEASE_URL)
  local from = #T.notes
  vim.cmd("OpenHands install")
  local said = said_since(from)
  local want = vim.fs.joinpath(vim.fn.stdpath("data"), "openhands", install.VERSION, "openhands-lsp")
  T.eq(want, install.installed(), "installed: " .. said)
  T.truthy(T.has(said, "openhands-lsp " .. install.VERSION .. " is installed"), said)
  local cmd, _, source = oh.server_cmd()
  T.eq({ want }, cmd, "the plugin starts it")
  T.eq(":OpenHands install", source)
  -- Again: the same version replaces itself in place.
  vim.cmd("OpenHands install")
  T.eq(want, install.installed())
end)

T.case(":checkhealth openhands is green and names the installed server", function()
  vim.cmd("checkhealth openhands")
  local text = T.buf_text(0)
  T.truthy(T.has(text, "from :OpenHands install") and T.has(text, "openhands-lsp " .. install.VERSION), text)
  T.truthy(T.has(text, "the server starts"), text)
  T.truthy(not T.has(text, "ERROR") and not T.has(text, "WARNING"), "no error or warning: " .. text)
end)

T.finish()

--- :checkhealth openhands: the server binary and its version, whether it starts, the backend's status from
--- openhands.status (or `openhands-lsp doctor --json` when no server runs), and which secrets are set (by name).
--- Both run the agent-server smoke check: the agent-server boots and creates a conversation (seconds).
local M = {}

-- How long the checks may take: the smoke check boots an agent-server (a container's can take a minute when cold).
local SMOKE_CHECK_MS = 150000

local function report_checks(status)
  vim.health.start("openhands: backend " .. tostring(status.backend))
  for _, c in ipairs(status.checks or {}) do
    local text = string.format("%s: %s", c.name, c.detail)
    if c.status == "ok" then
      vim.health.ok(text)
    elseif c.status == "warning" or not c.required then
      vim.health.warn(text)
    else
      vim.health.error(text)
    end
  end
end

function M.check()
  local oh = require("openhands")
  vim.health.start("openhands: server")
  if vim.fn.has("nvim-0.10") == 0 then
    vim.health.error("Neovim 0.10 or newer is required")
    return
  end
  local cmd, why, source = oh.server_cmd()
  if not cmd then
    vim.health.error(why)
    return
  end
  if vim.fn.executable(cmd[1]) ~= 1 then
    vim.health.error(string.format("%s is not an executable file", cmd[1]), {
      "Run :OpenHands install, or point setup({ cmd = { '/path/to/openhands-lsp' } }) at the server",
      "or put openhands-lsp on PATH, or set $OPENHANDS_LSP_PATH",
    })
    return
  end
  local ok, proc = pcall(vim.system, { cmd[1], "--version" }, { text = true })
  local version = ok and proc:wait(5000) or { code = -1, stderr = tostring(proc) }
  if version.code ~= 0 then
    vim.health.error(string.format("%s --version failed: %s", cmd[1], vim.trim(version.stderr or "")))
    return
  end
  local said = vim.trim(version.stdout)
  vim.health.ok(string.format("%s (%s, from %s)", cmd[1], said, source))
  local plugin = require("openhands.version")
  if said ~= "openhands-lsp " .. plugin then
    vim.health.warn(string.format("the plugin is %s and the server says %q", plugin, said), {
      ":OpenHands install gets the server of the plugin's version",
    })
  end

  local status
  if oh.get_client() then
    local result, err = oh.execute_sync("openhands.status", { smokeCheck = true }, SMOKE_CHECK_MS)
    if err then
      vim.health.error("openhands.status failed: " .. (err.message or vim.inspect(err)))
      return
    end
    vim.health.ok("the server is running (client id " .. oh.get_client().id .. ")")
    status = result
  else
    local settings = vim.json.encode(oh.options.settings or vim.empty_dict())
    local doctor = vim.system({ cmd[1], "doctor", "--json", "--settings", settings }, { text = true }):wait(SMOKE_CHECK_MS)
    local ok, decoded = pcall(vim.json.decode, doctor.stdout or "")
    if not ok or type(decoded) ~= "table" then
      vim.health.error("the server does not start: " .. vim.trim((doctor.stderr or "") .. (doctor.stdout or "")))
      return
    end
    vim.health.ok("the server starts (no session is running: facts from `openhands-lsp doctor`)")
    status = decoded
  end
  report_checks(status)
end

return M

--- :OpenHands install: the server of this plugin's version, from its release (setup({ install = { url = ... } }),
--- for mirrors), checked against the release's sha256, kept under stdpath("data")/openhands/<version>/. With no
--- archive for this system, `cargo build --release` in the plugin's own repository. It runs to the end before it
--- returns, so a lazy.nvim `build = ":OpenHands install"` waits for it.
local M = {}

M.VERSION = require("openhands.version")
M.DEFAULT_URL = "https://github.com/openhands/openhands-lsp/releases/download/v{version}"

local function exe()
  return vim.fn.has("win32") == 1 and "openhands-lsp.exe" or "openhands-lsp"
end

--- Where this version's server is kept.
function M.dir()
  return vim.fs.joinpath(vim.fn.stdpath("data"), "openhands", M.VERSION)
end

--- The installed server of this version, if there is one.
function M.installed()
  local path = vim.fs.joinpath(M.dir(), exe())
  return vim.fn.executable(path) == 1 and path or nil
end

--- The release's name for this system and its archive's ending; nil when the release has none.
function M.target()
  local u = vim.uv.os_uname()
  local arch = ({ x86_64 = "x86_64", amd64 = "x86_64", aarch64 = "aarch64", arm64 = "aarch64" })[u.machine]
  if not arch then
    return nil
  end
  if u.sysname == "Linux" then
    return arch .. "-unknown-linux-gnu", ".tar.gz"
  elseif u.sysname == "Darwin" then
    return arch .. "-apple-darwin", ".tar.gz"
  elseif u.sysname:find("Windows") and arch == "x86_64" then
    return "x86_64-pc-windows-msvc", ".zip"
  end
  return nil
end

local function say(text, level)
  require("openhands.notify").say("OpenHands install: " .. text, level or vim.log.levels.INFO)
end

local function run(cmd, opts)
  local ok, proc = pcall(vim.system, cmd, vim.tbl_extend("force", { text = true }, opts or {}))
  if not ok then
    return { code = -1, stderr = tostring(proc), stdout = "" }
  end
  return proc:wait()
end

--- Downloads `url` to `dest`. Returns true, or false, why, and whether the server said there is no such file.
local function download(url, dest)
  local r
  if vim.fn.executable("curl") == 1 then
    r = run({ "curl", "-fsSL", "--retry", "2", "-o", dest, url })
    if r.code == 22 and (r.stderr or ""):find("404") then
      return false, "not found", true
    end
  elseif vim.fn.executable("wget") == 1 then
    r = run({ "wget", "-q", "-O", dest, url })
    if r.code == 8 then
      return false, "not found", true
    end
  else
    return false, "neither curl nor wget is installed"
  end
  if r.code ~= 0 then
    return false, vim.trim(r.stderr or "") ~= "" and vim.trim(r.stderr) or ("exit code " .. r.code)
  end
  return true
end

local function sha256_of(file)
  local cmd = vim.fn.executable("sha256sum") == 1 and { "sha256sum", file }
    or vim.fn.executable("shasum") == 1 and { "shasum", "-a", "256", file }
    or nil
  if not cmd then
    return nil, "neither sha256sum nor shasum is installed"
  end
  local r = run(cmd)
  return r.code == 0 and (r.stdout or ""):match("^(%x+)") or nil, r.stderr
end

--- Puts `binary` in place as this version's server: copied beside, then renamed, so a half-copied file is never
--- the one that starts.
local function put_in_place(binary)
  vim.fn.mkdir(M.dir(), "p")
  local final = vim.fs.joinpath(M.dir(), exe())
  local beside = final .. ".new"
  local ok, err = vim.uv.fs_copyfile(binary, beside)
  if not ok then
    return false, err
  end
  vim.uv.fs_chmod(beside, tonumber("755", 8))
  ok, err = vim.uv.fs_rename(beside, final)
  if not ok then
    return false, err
  end
  local r = run({ final, "--version" })
  local want = "openhands-lsp " .. M.VERSION
  if r.code ~= 0 or vim.trim(r.stdout or "") ~= want then
    os.remove(final)
    return false, string.format("%s --version said %q, not %q", final, vim.trim((r.stdout or "") .. (r.stderr or "")), want)
  end
  return true, final
end

--- The release archive: downloaded, checked, unpacked. Returns true, or false and why (`missing` when the release
--- has no archive for this system, so that building is the next thing to try).
local function from_release(url, tmp)
  local target, ending = M.target()
  if not target then
    local u = vim.uv.os_uname()
    return false, string.format("the release has no archive for %s %s", u.sysname, u.machine), true
  end
  local name = string.format("openhands-lsp-%s-%s%s", M.VERSION, target, ending)
  local archive = vim.fs.joinpath(tmp, name)
  say("downloading " .. url .. "/" .. name)
  local ok, why, missing = download(url .. "/" .. name .. ".sha256", archive .. ".sha256")
  if ok then
    ok, why, missing = download(url .. "/" .. name, archive)
  end
  if not ok then
    return false, string.format("%s/%s: %s", url, name, why), missing
  end
  local f = io.open(archive .. ".sha256", "r")
  local want = f and (f:read("*a") or ""):match("^(%x+)")
  if f then
    f:close()
  end
  local got, err = sha256_of(archive)
  if not got then
    return false, err
  end
  if not want or want:lower() ~= got:lower() then
    return false,
      string.format(
        "%s does not match its sha256 (the release says %s, the download is %s). Nothing was installed: try again, "
          .. "and if it says this again, the release or its mirror is damaged",
        name,
        want or "nothing",
        got
      )
  end
  local unpacked = vim.fs.joinpath(tmp, "unpacked")
  vim.fn.mkdir(unpacked, "p")
  local r = ending == ".zip" and run({ "tar", "-xf", archive, "-C", unpacked })
    or run({ "tar", "-xzf", archive, "-C", unpacked })
  if r.code ~= 0 then
    return false, "unpacking " .. name .. ": " .. vim.trim(r.stderr or "")
  end
  return put_in_place(vim.fs.joinpath(unpacked, exe()))
end

--- The plugin's repository, when the plugin came with it (lazy.nvim, packer, a clone): where `cargo build` works.
function M.repository()
  local source = debug.getinfo(1, "S").source:sub(2)
  local root = vim.fs.normalize(vim.fn.fnamemodify(source, ":p:h:h:h:h:h"))
  return vim.fn.filereadable(vim.fs.joinpath(root, "server", "Cargo.toml")) == 1 and root or nil
end

local function from_source()
  local root = M.repository()
  if not root then
    return false, "the plugin's folder holds no server sources to build"
  end
  if vim.fn.executable("cargo") ~= 1 then
    return false, "cargo is not installed (https://rustup.rs), so the server cannot be built from " .. root
  end
  say("building the server with cargo in " .. root .. " (a few minutes)")
  local r = run({ "cargo", "build", "--release", "--locked", "-p", "openhands-lsp" }, { cwd = root })
  if r.code ~= 0 then
    local lines = vim.split(vim.trim(r.stderr or ""), "\n")
    return false, "cargo build failed: " .. table.concat(vim.list_slice(lines, math.max(1, #lines - 5)), "\n")
  end
  return put_in_place(vim.fs.joinpath(root, "target", "release", exe()))
end

--- Installs this version's server. Returns the binary's path, or nil and why (already said to the user).
function M.install()
  local options = require("openhands").options.install or {}
  local url = (options.url or M.DEFAULT_URL):gsub("{version}", M.VERSION):gsub("/+$", "")
  local tmp = vim.fn.tempname()
  vim.fn.mkdir(tmp, "p")
  local ok, result, missing = from_release(url, tmp)
  if not ok and missing then
    local why = result
    ok, result = from_source()
    if not ok then
      result = why .. "; and " .. result
    end
  end
  vim.fn.delete(tmp, "rf")
  if not ok then
    say(result, vim.log.levels.ERROR)
    return nil, result
  end
  say(string.format("openhands-lsp %s is installed: %s", M.VERSION, result))
  return result
end

return M

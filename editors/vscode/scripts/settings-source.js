// Where the test suite and sync-settings find the server binary, and the settings that are the extension's own.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

/** Settings read by the extension itself and never sent to the server. */
const EXTENSION_ONLY_SETTINGS = ["openhands.server.path", "openhands.trace.server", "openhands.notifyWhenAway"];

/** `OPENHANDS_LSP_PATH`, else the workspace's debug build. */
function serverBinaryForTests() {
  const fromEnv = process.env.OPENHANDS_LSP_PATH;
  if (fromEnv) {
    return fromEnv;
  }
  const built = path.join(__dirname, "..", "..", "..", "target", "debug", "openhands-lsp");
  if (!fs.existsSync(built)) {
    throw new Error(`no openhands-lsp binary: set OPENHANDS_LSP_PATH or run \`cargo build\` (looked for ${built})`);
  }
  return built;
}

module.exports = { EXTENSION_ONLY_SETTINGS, serverBinaryForTests };

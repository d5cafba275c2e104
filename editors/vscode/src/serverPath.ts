// Which openhands-lsp binary to start: `OPENHANDS_LSP_PATH`, then the `openhands.server.path` setting, then the
// binary bundled in the extension (`server/openhands-lsp`), then PATH. Pure apart from the file checks, so tests
// can drive every branch.
import * as fs from "node:fs";
import * as path from "node:path";

export interface ServerPathInputs {
  env: NodeJS.ProcessEnv;
  setting: string | null | undefined;
  extensionPath: string;
  platform: NodeJS.Platform;
}

export interface FoundServer {
  path: string;
  source: "OPENHANDS_LSP_PATH" | "openhands.server.path" | "bundled" | "PATH";
}

/** The server that runs: its binary, where that was found, and the version it said at start. */
export interface RunningServer extends FoundServer {
  version: string;
}

export type ServerLookup = { found: FoundServer } | { problem: string };

// Plain words: notifications do not render Markdown.
const INSTALL_HINT =
  "Install it (cargo install --git https://github.com/openhands/openhands-lsp openhands-lsp), then reload the " +
  "window, or set openhands.server.path to the binary (in a remote window: in the Remote settings).";

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function exeName(platform: NodeJS.Platform): string {
  return platform === "win32" ? "openhands-lsp.exe" : "openhands-lsp";
}

export function findServer(inputs: ServerPathInputs): ServerLookup {
  // An explicit choice that is wrong is an error, not a reason to silently pick another binary.
  const explicit: [string | undefined | null, FoundServer["source"]][] = [
    [inputs.env.OPENHANDS_LSP_PATH, "OPENHANDS_LSP_PATH"],
    [inputs.setting, "openhands.server.path"],
  ];
  for (const [value, source] of explicit) {
    if (value) {
      return isExecutable(value)
        ? { found: { path: value, source } }
        : { problem: `${source} is ${value}, which is not an executable file. Fix or clear it. ${INSTALL_HINT}` };
    }
  }
  const bundled = path.join(inputs.extensionPath, "server", exeName(inputs.platform));
  if (isExecutable(bundled)) {
    return { found: { path: bundled, source: "bundled" } };
  }
  const separator = inputs.platform === "win32" ? ";" : ":";
  for (const dir of (inputs.env.PATH ?? "").split(separator)) {
    const candidate = dir && path.join(dir, exeName(inputs.platform));
    if (candidate && isExecutable(candidate)) {
      return { found: { path: candidate, source: "PATH" } };
    }
  }
  return { problem: `The openhands-lsp server was not found (OPENHANDS_LSP_PATH, openhands.server.path, this extension, PATH). ${INSTALL_HINT}` };
}

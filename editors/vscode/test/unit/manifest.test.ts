// The manifest and the code agree: every command in package.json is registered and every registered command is in
// package.json; menus name real commands; the settings are exactly the server's own (plus the extension's).
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as vscode from "vscode";
import { activate } from "../../src/extension";
import { commands as stubCommands, createExtensionContext, stub } from "../stub/vscode";
import { cargoBinary, extensionRoot, waitFor } from "../support/util";

const pkg = JSON.parse(fs.readFileSync(path.join(extensionRoot, "package.json"), "utf8"));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { EXTENSION_ONLY_SETTINGS } = require(path.join(extensionRoot, "scripts", "settings-source.js"));

/**
 * Runs `body` with no server to be found (a path that does not exist, which must be reported, not crash
 * activation), then disposes what the extension registered and puts the environment back.
 */
async function withoutServer(body: (context: ReturnType<typeof createExtensionContext>) => Promise<void>): Promise<void> {
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), "oh-vscode-"));
  const context = createExtensionContext(extensionRoot, storage);
  stub.settings.set("openhands.server.path", path.join(storage, "no-such-openhands-lsp"));
  const saved = process.env.OPENHANDS_LSP_PATH;
  delete process.env.OPENHANDS_LSP_PATH;
  try {
    await body(context);
  } finally {
    for (const d of context.subscriptions) {
      d.dispose();
    }
    stub.settings.delete("openhands.server.path");
    if (saved !== undefined) {
      process.env.OPENHANDS_LSP_PATH = saved;
    }
    stub.reset();
  }
}

test("every command in package.json is registered, and every registered command is in package.json", () =>
  withoutServer(async (context) => {
    const api = activate(context);
    const declared: string[] = pkg.contributes.commands.map((c: { command: string }) => c.command).sort();
    assert.deepEqual([...api.commands].sort(), declared);
    assert.deepEqual(stubCommands.registered().sort(), declared, "the commands VS Code knows");
    assert.equal(await api.started, false, "no server: not started");
    const shown = await waitFor("the missing-server message", () => stub.messages.find((m) => m.level === "error"));
    assert.match(shown.message, /openhands\.server\.path is .*no-such-openhands-lsp, which is not an executable file/);
    assert.match(shown.message, /cargo install/, "it says how to install");
    assert.match(api.statusBar.item.text, /\$\(error\)/, "the status bar shows the problem");
    // Commands fail with the reason, not a crash.
    stub.inputBoxAnswers.push("do something");
    await vscode.commands.executeCommand("openhands.ui.startTask");
    assert.ok(stub.messages.some((m) => m.level === "error" && /not an executable file/.test(m.message)), JSON.stringify(stub.messages));
  }));

test("commands have titles under the OpenHands category, and menus name declared commands", () => {
  const ids = new Set(pkg.contributes.commands.map((c: { command: string }) => c.command));
  for (const c of pkg.contributes.commands) {
    assert.equal(c.category, "OpenHands", c.command);
    assert.ok(c.title.length > 0, c.command);
  }
  const required = [
    "Start Task", "Start Task with Selection", "Start Task with File", "Fix Issue...", "Show Conversations", "Open Conversation",
    "Send Message", "Pause", "Resume", "Stop", "Review Changes", "Apply Changes", "Discard Changes", "Create Pull Request",
    "Suggested Tasks", "Set LLM API Key", "Set GitHub Token", "Set GitLab Token", "Set Bitbucket Token", "Set Cloud API Key",
    "Show Logs", "Restart Server",
  ];
  const titles = pkg.contributes.commands.map((c: { title: string }) => c.title);
  for (const t of required) {
    assert.ok(titles.includes(t), `a command titled "${t}"`);
  }
  for (const [menu, entries] of Object.entries<{ command: string }[]>(pkg.contributes.menus)) {
    for (const e of entries) {
      assert.ok(ids.has(e.command), `${menu} names ${e.command}`);
    }
  }
  const editorMenu = pkg.contributes.menus["editor/context"].map((e: { command: string }) => e.command);
  assert.deepEqual(editorMenu, [
    "openhands.ui.startTaskWithSelection",
    "openhands.ui.startTaskWithFile",
    "openhands.ui.fixProblemsInFile",
  ]);
});

test("contributes.configuration is the server's settings plus the extension's own", () => {
  const generated = JSON.parse(execFileSync(cargoBinary("openhands-lsp"), ["generate", "vscode-settings"], { encoding: "utf8" }));
  const all: Record<string, unknown> = pkg.contributes.configuration.properties;
  for (const key of EXTENSION_ONLY_SETTINGS) {
    assert.ok(all[key], `${key} is declared`);
  }
  const declared = Object.fromEntries(Object.entries(all).filter(([key]) => !EXTENSION_ONLY_SETTINGS.includes(key)));
  assert.deepEqual(
    declared,
    generated,
    "package.json's settings drifted from the server's: run `npm run sync-settings` in editors/vscode",
  );
});

test("the esbuild bundle (what the .vsix ships) loads and activates", () => {
  const bundle = path.join(extensionRoot, pkg.main);
  assert.ok(fs.existsSync(bundle), `${bundle} is missing: run \`npm run bundle\``);
  return withoutServer(async (context) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const bundled = require(bundle) as typeof import("../../src/extension");
    const api = bundled.activate(context);
    assert.equal(api.commands.length, pkg.contributes.commands.length);
    assert.equal(await api.started, false);
  });
});

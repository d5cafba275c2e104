// The parts that do not need a server: finding the binary, the settings sent, tree item flags, event ordering.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as vscode from "vscode";
import { ConversationStore } from "../../src/conversations";
import { ConversationPanel } from "../../src/panel";
import { AgentEvent, Conversation } from "../../src/protocol";
import { ServerConnection, serverSettings, settingGroups } from "../../src/server";
import { findServer } from "../../src/serverPath";
import { contextValue, tooltip } from "../../src/tree";
import { stub } from "../stub/vscode";
import { extensionRoot } from "../support/util";

function executable(dir: string, name: string): string {
  const p = path.join(dir, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, "#!/bin/sh\n");
  fs.chmodSync(p, 0o755);
  return p;
}

test("the server binary: OPENHANDS_LSP_PATH, then the setting, then bundled, then PATH, else how to install", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oh-path-"));
  const fromEnv = executable(dir, "env/openhands-lsp");
  const fromSetting = executable(dir, "setting/openhands-lsp");
  const ext = path.join(dir, "ext");
  const onPath = executable(dir, "bin/openhands-lsp");
  const base = { env: { PATH: `/nonexistent:${path.dirname(onPath)}` }, setting: null, extensionPath: ext, platform: "linux" as const };
  assert.deepEqual(findServer(base), { found: { path: onPath, source: "PATH" } });
  const bundled = executable(ext, "server/openhands-lsp");
  assert.deepEqual(findServer(base), { found: { path: bundled, source: "bundled" } });
  assert.deepEqual(findServer({ ...base, setting: fromSetting }), { found: { path: fromSetting, source: "openhands.server.path" } });
  assert.deepEqual(
    findServer({ ...base, setting: fromSetting, env: { ...base.env, OPENHANDS_LSP_PATH: fromEnv } }),
    { found: { path: fromEnv, source: "OPENHANDS_LSP_PATH" } },
  );
  // A wrong explicit choice is reported, not skipped.
  const wrong = findServer({ ...base, setting: path.join(dir, "missing") });
  assert.ok("problem" in wrong && /openhands\.server\.path is .*missing, which is not an executable file/.test(wrong.problem));
  const none = findServer({ env: { PATH: "/nonexistent" }, setting: undefined, extensionPath: path.join(dir, "nothing"), platform: "linux" });
  assert.ok("problem" in none && /not found/.test(none.problem) && /cargo install/.test(none.problem));
});

test("the settings sent to the server: nested, with defaults, without the extension's own", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(extensionRoot, "package.json"), "utf8"));
  stub.loadManifestDefaults(pkg);
  const groups = settingGroups(pkg);
  assert.ok(!groups.includes("server") && !groups.includes("trace"), groups.join(","));
  stub.settings.set("openhands.llm.model", "openai/gpt-4o");
  stub.settings.set("openhands.server.path", "/somewhere");
  try {
    const sent = serverSettings(groups);
    assert.equal((sent.llm as Record<string, unknown>).model, "openai/gpt-4o");
    assert.equal((sent.docker as Record<string, unknown>).warmPool, 1, "defaults from the manifest");
    assert.equal(sent.backend, "docker");
    assert.ok(!("server" in sent) && !("trace" in sent));
  } finally {
    stub.settings.clear();
  }
});

function conversation(over: Partial<Conversation>): Conversation {
  return {
    id: "c1", title: "T", instruction: "i", workspace: "/w", backend: "process", state: "running", createdAt: 1, updatedAt: 1,
    finalMessage: null, error: null, sandboxUrl: null, eventCount: 0, live: true, ...over,
  };
}

test("tree items carry the flags the inline actions key on", () => {
  assert.equal(
    contextValue(conversation({ state: "running" }), undefined),
    "conversation;running;live;active;pausable;messageable;",
  );
  assert.equal(
    contextValue(conversation({ state: "waiting_for_confirmation" }), undefined),
    "conversation;running;waiting;live;active;pausable;messageable;",
  );
  assert.equal(
    contextValue(conversation({ state: "paused" }), 0),
    "conversation;paused;live;active;resumable;messageable;isolated;",
  );
  assert.equal(
    contextValue(conversation({ state: "finished" }), 2),
    "conversation;finished;live;messageable;isolated;changes;",
  );
  // An earlier session's conversation goes on with a message, unless it cannot or another editor runs it.
  assert.equal(contextValue(conversation({ state: "finished", live: false }), null), "conversation;finished;messageable;");
  assert.equal(
    contextValue(conversation({ state: "finished", live: false, cannotContinue: "made before" }), null),
    "conversation;finished;",
  );
  assert.equal(
    contextValue(conversation({ state: "running", live: false, runningElsewhere: true }), null),
    "conversation;running;",
    "running in another editor",
  );
});

test("a cloud conversation's tooltip links to it and names the pull requests the agent opened", () => {
  const cloud = { conversationId: "3f2a", url: "https://app.all-hands.dev/conversations/3f2a", pullRequests: [7] };
  const text = tooltip(conversation({ backend: "cloud", cloud }), 2).value;
  assert.ok(text.includes("[Open in OpenHands Cloud](https://app.all-hands.dev/conversations/3f2a)"), text);
  assert.ok(text.includes("pull requests \\#7"), text);
  assert.ok(!tooltip(conversation({}), 0).value.includes("OpenHands Cloud"));
});

test("the conversation view gets each event once, in order, whether live or from history", async () => {
  const store = new ConversationStore();
  store.upsert(conversation({}));
  const pages: unknown[] = [];
  const server = {
    store,
    execute: async (_command: string, args: { after: number }) => {
      pages.push(args);
      return { events: [0, 1, 2].map(event), next: 3, total: 3 };
    },
  } as unknown as ServerConnection;
  const webview = vscode.window.createWebviewPanel("openhands.conversation", "c1", vscode.ViewColumn.Beside);
  const panel = new ConversationPanel("c1", webview, vscode.Uri.file(extensionRoot), server, Promise.resolve(true));
  panel.add([event(4), event(3)]); // live events ahead of the history: held back
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  panel.add([event(2), event(5)]);
  const seqs = panel.posted.flatMap((m) => (m.type === "events" ? m.events.map((e) => e.seq) : []));
  assert.deepEqual(seqs, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(pages, [{ conversationId: "c1", after: 0, limit: 500 }]);
  const view = stub.webviews.at(-1);
  assert.ok(view && /Content-Security-Policy/.test(view.html) && !/unsafe-inline/.test(view.html), "a strict CSP");
  panel.webview.dispose();
});

function event(seq: number): AgentEvent {
  return { conversationId: "c1", seq, kind: "MessageEvent", summary: `m${seq}`, detail: `m${seq}` };
}

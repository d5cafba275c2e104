// An editor's agent panel, as far as ACP goes, made of the official TypeScript SDK (@agentclientprotocol/sdk): it
// starts `openhands-lsp acp`, serves fs/read_text_file (its open buffers first, with their unsaved text, as Zed
// does), fs/write_text_file and session/request_permission as a user answers them, and records everything it is
// shown. Scenarios import `run` and print one JSON object (what the Rust test asserts on) on stdout.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { Readable, Writable } from "node:stream";
import { client, methods, ndJsonStream } from "@agentclientprotocol/sdk";

const TIMEOUT_MS = Number(process.env.ACP_TIMEOUT_MS ?? 240000);

/** Starts the agent (`openhands-lsp acp --settings $SETTINGS`) and connects this editor to it. */
export function startAgent({ buffers = {}, answer = () => "cancelled", fsCapable = true } = {}) {
  const args = ["acp"];
  if (process.env.SETTINGS) {
    args.push("--settings", process.env.SETTINGS);
  }
  const proc = spawn(process.env.OPENHANDS_LSP_BIN, args, { stdio: ["pipe", "pipe", "pipe"], env: process.env });
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr += d));
  const shown = { updates: [], permissions: [], reads: [], writes: [] };
  const waiters = [];
  const changed = () => {
    for (const w of [...waiters]) {
      const found = w.pred();
      if (found) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(found);
      }
    }
  };
  const app = client({ name: "acp-test-editor" })
    .onNotification(methods.client.session.update, ({ params }) => {
      shown.updates.push(params);
      changed();
    })
    .onRequest(methods.client.session.requestPermission, async ({ params }) => {
      shown.permissions.push(params);
      changed();
      const chosen = await answer(params);
      return chosen === "cancelled"
        ? { outcome: { outcome: "cancelled" } }
        : { outcome: { outcome: "selected", optionId: chosen } };
    })
    .onRequest(methods.client.fs.readTextFile, ({ params }) => {
      shown.reads.push(params.path);
      const content = params.path in buffers ? buffers[params.path] : fs.readFileSync(params.path, "utf8");
      return { content };
    })
    .onRequest(methods.client.fs.writeTextFile, ({ params }) => {
      shown.writes.push({ path: params.path, content: params.content });
      // The buffer takes the text and is saved, as an editor does with an agent's write.
      buffers[params.path] = params.content;
      fs.writeFileSync(params.path, params.content);
      return {};
    });
  const stream = ndJsonStream(Writable.toWeb(proc.stdin), Readable.toWeb(proc.stdout));
  const connection = app.connect(stream);
  const agent = connection.agent;
  return {
    proc,
    agent,
    shown,
    stderr: () => stderr,
    fsCapable,
    /** Resolves with the first truthy value of `pred()`, checked on every update and permission request. */
    until(what, pred, timeout = TIMEOUT_MS) {
      const now = pred();
      if (now) {
        return Promise.resolve(now);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms waiting for ${what}`)), timeout);
        waiters.push({ pred, resolve: (v) => (clearTimeout(timer), resolve(v)) });
      });
    },
    /** The updates of session `id` of kind `kind`. */
    updatesOf(id, kind) {
      return shown.updates.filter((u) => u.sessionId === id && (!kind || u.update.sessionUpdate === kind)).map((u) => u.update);
    },
    async initialize() {
      return agent.request(methods.agent.initialize, {
        protocolVersion: 1,
        clientCapabilities: { fs: { readTextFile: fsCapable, writeTextFile: fsCapable }, terminal: false },
        clientInfo: { name: "acp-test-editor", version: "1.0.0" },
      });
    },
    async close() {
      connection.close();
      proc.stdin.end();
      await new Promise((resolve) => {
        if (proc.exitCode !== null) {
          return resolve();
        }
        const timer = setTimeout(() => (proc.kill("SIGKILL"), resolve()), 15000);
        proc.on("exit", () => (clearTimeout(timer), resolve()));
      });
    },
  };
}

/** Opens a gate of the scripted LLM (tests/src/llm.rs). */
export async function openGate(name) {
  const res = await fetch(`${process.env.LLM_URL}/test/gates/${name}`, { method: "POST" });
  if (!res.ok) {
    throw new Error(`opening gate ${name}: ${res.status}`);
  }
}

/** Waits until the scripted LLM has had `n` requests (each arrives before its answer, held ones too). */
export async function llmRequests(n, timeout = TIMEOUT_MS) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const count = Number(await (await fetch(`${process.env.LLM_URL}/test/requests`)).text());
    if (count >= n) {
      return count;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for LLM request ${n} (${count} so far)`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs `scenario`, prints its result as JSON; a failure prints the error and the agent's log, and exits 1. */
export async function run(scenario) {
  try {
    const result = await scenario();
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(0);
  } catch (e) {
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exit(1);
  }
}

// The real vscode-languageclient starts the real openhands-lsp (process backend, the real agent-server, the scripted
// LLM from `target/debug/scripted-llm`): a secret set through the command, the lightbulb's fix-diagnostic action,
// Start Task, progress reported, the conversation in the tree and its view, Review Changes opening diffs, and Apply
// Changes editing the accepted file through workspace.applyEdit while the other stays untouched.
import * as assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import * as vscode from "vscode";
import { Api, activate } from "../../src/extension";
import { ToWebview } from "../../src/panel";
import { StartResult } from "../../src/protocol";
import { Node } from "../../src/tree";
import { CancellationTokenSource, Diagnostic, LogLevel, Range, createExtensionContext, stub } from "../stub/vscode";
import { cargoBinary, extensionRoot, waitFor } from "../support/util";

const RUN_TIMEOUT = 240_000;
const SECRET = "sk-vscode-test-secret-4242";

let llm: ChildProcess;
let api: Api;
let context: ReturnType<typeof createExtensionContext>;
let ws: string;

async function startLlm(steps: unknown[], dir: string): Promise<string> {
  const script = path.join(dir, "script.json");
  fs.writeFileSync(script, JSON.stringify(steps));
  llm = spawn(cargoBinary("scripted-llm"), [script], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  llm.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  const line = await waitFor("the scripted LLM's address", () => (out.includes("\n") ? out.split("\n")[0] : undefined), 20_000);
  return JSON.parse(line).baseUrl;
}

before(async () => {
  const agentServer = process.env.OPENHANDS_AGENT_SERVER;
  assert.ok(agentServer, "OPENHANDS_AGENT_SERVER must name the agent-server command (scripts/test sets it)");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "oh-vscode-it-"));
  ws = path.join(tmp, "ws");
  fs.mkdirSync(ws);
  const git = (...args: string[]) => execFileSync("git", args, { cwd: ws, stdio: "pipe" });
  git("init", "-q");
  git("config", "user.email", "t@example.com");
  git("config", "user.name", "T");
  fs.writeFileSync(path.join(ws, "a.txt"), "one\n");
  fs.writeFileSync(path.join(ws, "b.txt"), "bee\n");
  git("add", "-A");
  git("commit", "-qm", "init");
  const baseUrl = await startLlm(
    [
      { tool: "terminal", args: { command: "true", security_risk: "LOW" } },
      { tool: "terminal", args: { command: "echo visible-output", security_risk: "LOW" } },
      { tool: "terminal", args: { command: "printf 'ONE\\n' > a.txt && printf 'BEE\\n' > b.txt", security_risk: "LOW" } },
      { tool: "finish", args: { message: "changed both" } },
    ],
    tmp,
  );
  process.env.OPENHANDS_LSP_PATH = cargoBinary("openhands-lsp");
  process.env.XDG_STATE_HOME = path.join(tmp, "state");
  delete process.env.LLM_API_KEY; // the key must come from the Set LLM API Key command
  stub.setWorkspaceFolders([ws]);
  const settings: Record<string, unknown> = {
    "openhands.backend": "process",
    "openhands.process.command": agentServer,
    "openhands.process.startupTimeoutSeconds": 180,
    "openhands.llm.model": "openai/stub",
    "openhands.llm.baseUrl": baseUrl,
    "openhands.llm.numRetries": 0,
    "openhands.confirmation": "never",
  };
  for (const [k, v] of Object.entries(settings)) {
    stub.settings.set(k, v);
  }
  // The message trace on, at its most verbose: secrets must still not reach the output channel.
  stub.logLevel = LogLevel.Trace;
  stub.settings.set("openhands.trace.server", "verbose");
  context = createExtensionContext(extensionRoot, path.join(tmp, "vscode-storage"));
  api = activate(context);
  // A command given as VS Code opens, while the server is still starting, waits for it instead of failing with
  // "the OpenHands server is not running".
  const early = api.server.execute<{ checks: unknown[] }>("openhands.status");
  assert.equal(await api.started, true, `the server started: ${api.server.problem ?? ""}`);
  assert.ok((await early).checks.length > 0, "the early command's answer");
});

after(async () => {
  for (const d of context?.subscriptions ?? []) {
    d.dispose();
  }
  await api?.server.stop();
  llm?.stdin?.end();
});

test("Set LLM API Key stores it in SecretStorage and gives it to the server, never to settings or logs", { timeout: 30_000 }, async () => {
  stub.inputBoxAnswers.push(SECRET);
  assert.equal(await vscode.commands.executeCommand("openhands.ui.setLlmApiKey"), "llm_api_key");
  assert.ok(stub.inputBoxes.at(-1).password, "typed into a password box");
  assert.equal(context.secrets._all.get("openhands.secret.llm_api_key"), SECRET);
  assert.ok(![...stub.settings.values()].includes(SECRET), "not in settings");
  const status = await api.server.execute<{ checks: { name: string; detail: string }[] }>("openhands.status");
  const llmCheck = status.checks.find((c) => c.name === "LLM");
  assert.ok(llmCheck && !/no API key/.test(llmCheck.detail), JSON.stringify(status.checks));
  const traced = stub.outputLines.filter((l) => l.includes("openhands.setSecret"));
  assert.ok(traced.length > 0, "the trace is on");
  assert.ok(!stub.outputLines.some((l) => l.includes(SECRET)), "the key is masked in the trace");
  assert.ok(stub.outputLines.some((l) => l.includes("llm_api_key") && l.includes("***")), traced.join("\n"));
});

test("a server that crashes is restarted by the language client and gets the secrets again", { timeout: 60_000 }, async () => {
  // By the process's name, not its command line: the scripted LLM's path holds "openhands-lsp" too when the
  // repository is a folder of that name (a clone's default), and killing it instead failed the next test.
  const pids = () => execFileSync("pgrep", ["-P", String(process.pid), "-x", "openhands-lsp"], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  const [pid] = pids();
  assert.ok(pid, "the server runs as a child of this process");
  process.kill(Number(pid), "SIGKILL");
  await waitFor("a new server process", () => { try { const now = pids(); return now.length > 0 && !now.includes(pid as string); } catch { return false; } }, 30_000);
  await waitFor("the restarted server", () => api.server.isRunning(), 30_000);
  const status = await waitFor("the restarted server's status, with the key", async () => {
    const s = await api.server.execute<{ checks: { name: string; detail: string }[] }>("openhands.status").catch(() => undefined);
    const check = s?.checks.find((c) => c.name === "LLM");
    return check && !/no API key/.test(check.detail) && s;
  }, 30_000);
  assert.ok(status);
  stub.messages.length = 0; // the client's own "server crashed" notice
});

test("the server's fix-diagnostic action is in the lightbulb", { timeout: 30_000 }, async () => {
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path.join(ws, "a.txt")));
  const provider = await waitFor("the language client's code action provider", () => stub.codeActionProviders[0]);
  const diagnostic = new Diagnostic(new Range(0, 0, 0, 3), "unknown word `one`");
  diagnostic.source = "spell";
  const actions = await provider.provider.provideCodeActions(
    doc,
    new Range(0, 0, 0, 3),
    { diagnostics: [diagnostic], triggerKind: 1, only: undefined },
    new CancellationTokenSource().token,
  );
  const titles = (actions ?? []).map((a: { title: string }) => a.title);
  assert.ok(titles.includes('OpenHands: fix "unknown word `one`"'), JSON.stringify(titles));
  const action = actions.find((a: { title: string }) => a.title.startsWith("OpenHands: fix"));
  assert.equal(action.command.command, "openhands.fixDiagnostic");
});

test("Start Task → progress → tree → view → Review Changes → Apply Changes of the accepted file", { timeout: RUN_TIMEOUT + 60_000 }, async () => {
  await vscode.window.showTextDocument(vscode.Uri.file(path.join(ws, "a.txt")));
  stub.inputBoxAnswers.push("Change a.txt and b.txt");
  const started = await vscode.commands.executeCommand<StartResult>("openhands.ui.startTask");
  assert.ok(started?.conversationId, JSON.stringify(stub.messages));
  const id = started.conversationId;

  // Progress is VS Code's own, cancellable.
  const progress = await waitFor("the task's progress", () =>
    stub.progress.find((p) => p.options.title === "OpenHands: Change a.txt and b.txt"),
  );
  assert.equal(progress.options.cancellable, true);

  // The conversation view streams the agent's command output.
  const view = await waitFor("the conversation view", () => stub.webviews.find((w) => w.title.includes("Change a.txt and b.txt")));
  const sawOutput = () =>
    (view.posted as ToWebview[]).some(
      (m) => m.type === "events" && m.events.some((e) => e.kind === "ObservationEvent" && /visible-output/.test(e.detail)),
    );
  await waitFor("the command's output in the conversation view", sawOutput, RUN_TIMEOUT, () => JSON.stringify(view.posted).slice(-2000));

  // The tree: the conversation, finished, with two changed files.
  const tree = stub.treeViews.get("openhands.conversations")?.treeDataProvider;
  assert.ok(tree, "the Conversations view is registered");
  const item = await waitFor(
    "the finished conversation with 2 changed files in the tree",
    async () => {
      const roots: Node[] = await tree.getChildren();
      const node = roots.find((n) => n.id === id);
      const it = node && tree.getTreeItem(node);
      return it && /finished/.test(it.description) && /2 files changed/.test(it.description) && it;
    },
    RUN_TIMEOUT,
    () => JSON.stringify(api.server.store.get(id)),
  );
  assert.match(item.contextValue, /;changes;/);
  assert.ok(progress.reports.length > 0, "progress reported steps");
  await waitFor("the progress to end", () => progress.done, 30_000);

  // Review Changes: a list of the two files; choosing one opens its diff, whose sides the content provider serves.
  stub.quickPickAnswers.push((items: { label: string }[]) => items.find((i) => i.label === "a.txt"));
  await vscode.commands.executeCommand("openhands.ui.reviewChanges", { kind: "conversation", id });
  assert.deepEqual(stub.quickPicks.at(-1)?.items.map((i: { label: string }) => i.label).sort(), ["a.txt", "b.txt"]);
  const diff = stub.executed.find((e) => e.command === "vscode.diff");
  assert.ok(diff, JSON.stringify(stub.messages));
  const [left, right] = diff.args as vscode.Uri[];
  assert.equal((await vscode.workspace.openTextDocument(left as vscode.Uri)).getText(), "one\n");
  assert.equal((await vscode.workspace.openTextDocument(right as vscode.Uri)).getText(), "ONE\n");

  // Apply Changes with only a.txt picked: the pick is the user's confirmation, so the edit asks for no second one
  // (VS Code's refactor preview would open with every change unticked).
  stub.quickPickAnswers.push((items: { label: string }[]) => items.filter((i) => i.label === "a.txt"));
  const outcome = await vscode.commands.executeCommand<{ applied: boolean }>("openhands.ui.applyChanges", { kind: "conversation", id });
  assert.equal(outcome?.applied, true, JSON.stringify(stub.messages));
  const edit = stub.appliedEdits.at(-1);
  assert.ok(edit && !edit.needsConfirmation, "no second confirmation");
  // a.txt held no unsaved work of the user's: the extension saves it, so the file on disk changes.
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path.join(ws, "a.txt")));
  assert.equal(doc.getText(), "ONE\n");
  assert.ok(!doc.isDirty, "saved after the apply");
  assert.equal(fs.readFileSync(path.join(ws, "a.txt"), "utf8"), "ONE\n");
  assert.equal(fs.readFileSync(path.join(ws, "b.txt"), "utf8"), "bee\n", "the file not picked is untouched");
  assert.ok(stub.messages.some((m) => m.message === "OpenHands: applied 1 file."), JSON.stringify(stub.messages));

  // The status bar mirrored openhands/status: busy while the agent ran, then ready.
  const texts: string[] = (api.statusBar.item as unknown as { texts: string[] }).texts;
  assert.ok(texts.some((t) => /\$\(sync~spin\) OpenHands: 1 conversation running/.test(t)), texts.join(" | "));
  await waitFor("the status bar back to idle", () => api.statusBar.item.text === "$(hubot) OpenHands", 30_000);

  // A message typed in the conversation view reaches the agent, which runs again.
  view.receive({ type: "send", text: "Also say thanks" });
  await waitFor(
    "the follow-up in the conversation view",
    () => (view.posted as ToWebview[]).some((m) => m.type === "events" && m.events.some((e) => e.kind === "MessageEvent" && e.source === "user" && /Also say thanks/.test(e.detail))),
    RUN_TIMEOUT,
  );

  // The secret never reached the logs, the view or the tree.
  const seen = JSON.stringify([stub.outputLines, view.posted, stub.messages]);
  assert.ok(!seen.includes(SECRET), "the LLM key leaked into what the user sees");
  assert.deepEqual(stub.unexpected, [], "API the stub does not model");
  assert.deepEqual(stub.listenerErrors, []);
});

// The conversation view: a webview per conversation that streams `openhands/event` live (after the history from
// `openhands.getEvents`), shows the state, and has an input box to send a message and buttons for the actions.
import * as vscode from "vscode";
import { AgentEvent, CheckpointList, EventsPage, ServerCommand, canMessage, isSettled, usageLong } from "./protocol";
import { ServerConnection, message } from "./server";

/** What the webview script receives. */
export type ToWebview =
  | {
      type: "conversation";
      /** Kept in the webview's state, so VS Code can bring the view back after a reload. */
      id: string;
      title: string;
      state: string;
      backend: string;
      error: string | null;
      finalMessage: string | null;
      /** This session runs it: it can be answered and sent messages. */
      live: boolean;
      /** Live and not settled: it can be paused and stopped. */
      active: boolean;
      /** A message goes on with it (live, or an earlier session's that starts again); else why not. */
      canMessage: boolean;
      cannotContinue: string | null;
      /** It works in a copy of its own: its changes can be reviewed and applied. */
      isolated: boolean;
      /** Where the agent works: stripped from the paths it prints. */
      roots: string[];
      /** What its LLM calls cost so far, in words (empty before the first). */
      usage: string;
      budgetReached: string | null;
      /** The project's image it runs in, in words (empty: the agent-server image). */
      image: string;
      /** A task across folders: its folders, in words (empty: one folder). */
      folders: string;
      /** The agent works on a turn: a message steers it, or is queued for after the turn. */
      working: boolean;
      /** Messages queued for when the turn ends, in order. */
      queued: { id: string; text: string }[];
    }
  | { type: "events"; events: AgentEvent[] }
  /** The steps a live conversation can be restored to: by the event each follows. */
  | { type: "checkpoints"; live: boolean; current: number | null; checkpoints: { number: number; step: number; eventId: string }[] }
  /** The history was cut back (a restore): the events are sent again from the start. */
  | { type: "reset" }
  | { type: "sent"; ok: boolean; text: string }
  /** A queued message taken back: its text goes back to the box (when the user typed nothing since). */
  | { type: "unqueued"; text: string };

/** What the webview script sends. */
export type FromWebview =
  | { type: "ready" }
  | { type: "send"; text: string; mode: "steer" | "queue" }
  | { type: "unqueue"; id: string }
  | { type: "restore"; checkpoint: number }
  | { type: "action"; name: "pause" | "resume" | "stop" | "review" | "apply" | "allow" | "allowAll" | "reject" };

export class ConversationPanels implements vscode.Disposable {
  private readonly panels = new Map<string, ConversationPanel>();
  private readonly subscriptions: vscode.Disposable[];
  private readonly shown = new vscode.EventEmitter<string>();
  /** A conversation's view came into sight (opened, revealed, its tab chosen). */
  readonly onDidShow = this.shown.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly server: ServerConnection,
  ) {
    this.subscriptions = [
      server.onEvent((e) => this.panels.get(e.conversationId)?.add([e])),
      server.onCheckpoint((id) => void this.panels.get(id)?.fetchCheckpoints()),
      server.store.onDidChange((id) => {
        for (const [pid, panel] of this.panels) {
          if (id === undefined || id === pid) {
            panel.postConversation();
          }
        }
      }),
    ];
  }

  /** Opens (or reveals) the conversation's view, in the column the other conversations are in (one column for
   * them all, not a new one each time), else beside the editor. */
  open(id: string, preserveFocus = false): ConversationPanel {
    const existing = this.panels.get(id);
    if (existing) {
      existing.webview.reveal(undefined, preserveFocus);
      return existing;
    }
    const column = [...this.panels.values()].map((p) => p.webview.viewColumn).find((c) => c !== undefined);
    const webview = vscode.window.createWebviewPanel(
      VIEW_TYPE,
      `OpenHands: ${this.server.store.get(id)?.title ?? id}`,
      { viewColumn: column ?? vscode.ViewColumn.Beside, preserveFocus },
      webviewOptions(this.extensionUri),
    );
    return this.adopt(id, webview, Promise.resolve(true));
  }

  /** Takes over `webview` for conversation `id`: a new one, or one VS Code restored after a reload (filled once
   * the server has `started`). */
  adopt(id: string, webview: vscode.WebviewPanel, started: Promise<boolean>): ConversationPanel {
    const panel = new ConversationPanel(id, webview, this.extensionUri, this.server, started);
    this.panels.set(id, panel);
    panel.webview.onDidDispose(() => {
      if (this.panels.get(id) === panel) {
        this.panels.delete(id);
      }
    });
    panel.webview.onDidChangeViewState((e) => {
      if (e.webviewPanel.visible) this.shown.fire(id);
    });
    if (webview.visible) this.shown.fire(id);
    return panel;
  }

  get(id: string): ConversationPanel | undefined {
    return this.panels.get(id);
  }

  /** The conversation whose view has focus, if any. */
  activeId(): string | undefined {
    for (const [id, panel] of this.panels) {
      if (panel.webview.active) {
        return id;
      }
    }
    return undefined;
  }

  dispose(): void {
    this.shown.dispose();
    for (const s of this.subscriptions) {
      s.dispose();
    }
    for (const p of this.panels.values()) {
      p.webview.dispose();
    }
  }
}

export class ConversationPanel {
  readonly webview: vscode.WebviewPanel;
  /** Events by seq; `next` is the first seq not yet sent to the webview (they go in order, without gaps). */
  private readonly events = new Map<number, AgentEvent>();
  private next = 0;
  /** Every message posted, in order (also for tests: the webview's own DOM is not reachable from them). */
  readonly posted: ToWebview[] = [];
  /** The webview's script has loaded and listens: messages go out as they come; before, they wait. */
  private ready = false;
  /** How many times the conversation was restored when its history was last loaded. */
  private restores: number;

  constructor(
    readonly id: string,
    webview: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly server: ServerConnection,
    started: Promise<boolean>,
  ) {
    const media = vscode.Uri.joinPath(extensionUri, "media");
    this.webview = webview;
    // A view VS Code restored after a reload comes without them.
    this.webview.webview.options = webviewOptions(extensionUri);
    this.webview.iconPath = vscode.Uri.joinPath(media, "openhands.svg");
    this.webview.webview.html = html(this.webview.webview, media);
    this.webview.webview.onDidReceiveMessage((m: FromWebview) => void this.onMessage(m));
    this.restores = server.store.get(id)?.restores ?? 0;
    void started.then((ok) => {
      if (ok) {
        this.postConversation();
        void this.fetchHistory(0).then(() => this.fetchCheckpoints());
      }
    });
  }

  /** The checkpoints, for "Restore to here" on their steps (a conversation with its own copy only). */
  async fetchCheckpoints(): Promise<void> {
    const c = this.server.store.get(this.id);
    const isolated = (c as { isolation?: unknown } | undefined)?.isolation;
    if (!c || !isolated || !this.server.supports(ServerCommand.listCheckpoints)) {
      return;
    }
    try {
      const list = await this.server.execute<CheckpointList>(ServerCommand.listCheckpoints, { conversationId: this.id });
      const checkpoints = list.checkpoints.map((k) => ({ number: k.number, step: k.step, eventId: k.eventId }));
      // A task across folders cannot be restored (its checkpoints hold the working folder only): no button for it.
      const restorable = c.live && !c.runningElsewhere && !c.folders?.length;
      this.post({ type: "checkpoints", live: restorable, current: list.current, checkpoints });
    } catch {
      // Its copy was discarded: nothing to restore to.
    }
  }

  /** After a restore the history is shorter: the view starts over from the server's. */
  private resetIfRestored(): void {
    const restores = this.server.store.get(this.id)?.restores ?? 0;
    if (restores === this.restores) {
      return;
    }
    this.restores = restores;
    this.events.clear();
    this.next = 0;
    const conversation = this.posted.filter((m) => m.type === "conversation").slice(-1);
    this.posted.length = 0;
    this.posted.push(...conversation);
    this.post({ type: "reset" });
    void this.fetchHistory(0).then(() => this.fetchCheckpoints());
  }

  /** Live events and history pages both land here; each is sent once, in order. */
  add(events: AgentEvent[]): void {
    for (const e of events) {
      if (e.seq >= this.next) {
        this.events.set(e.seq, e);
      }
    }
    const ready: AgentEvent[] = [];
    let e: AgentEvent | undefined;
    while ((e = this.events.get(this.next)) !== undefined) {
      ready.push(e);
      this.events.delete(this.next);
      this.next += 1;
    }
    if (ready.length > 0) {
      this.post({ type: "events", events: ready });
    }
  }

  private async fetchHistory(after: number): Promise<void> {
    try {
      const page = await this.server.execute<EventsPage>(ServerCommand.getEvents, { conversationId: this.id, after, limit: 500 });
      this.add(page.events);
      if (page.next < page.total) {
        await this.fetchHistory(page.next);
      }
    } catch (e) {
      void vscode.window.showErrorMessage(`OpenHands: could not load the conversation's history: ${message(e)}`);
    }
  }

  postConversation(): void {
    const c = this.server.store.get(this.id);
    if (!c) {
      return;
    }
    this.resetIfRestored();
    this.webview.title = `OpenHands: ${c.title}`;
    const isolation = (c as { isolation?: { root?: string } | null }).isolation;
    const roots = [isolation?.root ?? "", c.backend === "docker" ? "/workspace" : ""].filter((r) => r !== "");
    this.post({
      type: "conversation",
      id: c.id,
      title: c.title,
      state: c.state,
      backend: c.backend,
      error: c.error,
      finalMessage: c.finalMessage,
      live: c.live && !c.runningElsewhere,
      active: c.live && !c.runningElsewhere && !isSettled(c.state),
      canMessage: canMessage(c),
      cannotContinue: c.runningElsewhere ? "another editor runs it: send it messages there" : (c.cannotContinue ?? null),
      isolated: isolation !== null && isolation !== undefined,
      roots,
      usage: c.usage ? usageLong(c.usage) : "",
      budgetReached: c.budgetReached ?? null,
      image: c.image ? `${c.image.name}, from ${c.image.origin}` : "",
      // A task across folders: where it works, and the others it changes.
      folders: c.folders?.length
        ? [`${c.workspace.split("/").pop() ?? c.workspace} (working folder)`, ...c.folders.map((f) => f.name)].join(", ")
        : "",
      working: c.live && !c.runningElsewhere && ["starting", "running", "waiting_for_confirmation"].includes(c.state),
      queued: c.queued ?? [],
    });
  }

  private post(m: ToWebview): void {
    this.posted.push(m);
    if (this.ready) {
      void this.webview.webview.postMessage(m);
    }
  }

  /** The webview's document (re)loaded (a new view, or one VS Code restored after a reload): it gets everything
   * from the start, in order, so nothing posted while it was loading is lost. */
  private replay(): void {
    this.ready = true;
    for (const m of this.posted) {
      void this.webview.webview.postMessage(m);
    }
  }

  private async onMessage(m: FromWebview): Promise<void> {
    if (m.type === "ready") {
      this.replay();
      return;
    }
    const node = { kind: "conversation", id: this.id };
    if (m.type === "restore") {
      await vscode.commands.executeCommand("openhands.ui.restoreCheckpoint", node, m.checkpoint);
      return;
    }
    if (m.type === "send") {
      // The command says what failed; the box keeps the text unless it was sent.
      const sent = await vscode.commands.executeCommand<boolean | undefined>("openhands.ui.sendMessage", node, m.text, m.mode);
      this.post({ type: "sent", ok: sent === true, text: m.text });
      return;
    }
    if (m.type === "unqueue") {
      const text = await vscode.commands.executeCommand<string | undefined>("openhands.ui.unqueueMessage", node, m.id);
      if (text !== undefined) {
        this.post({ type: "unqueued", text });
      }
      return;
    }
    const command = (
      {
        pause: "openhands.ui.pause",
        resume: "openhands.ui.resume",
        stop: "openhands.ui.stop",
        review: "openhands.ui.reviewChanges",
        apply: "openhands.ui.applyChanges",
        allow: "openhands.ui.allowAction",
        allowAll: "openhands.ui.allowAllActions",
        reject: "openhands.ui.rejectAction",
      } as const
    )[m.name];
    await vscode.commands.executeCommand(command, node);
  }
}

export const VIEW_TYPE = "openhands.conversation";

function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  const media = vscode.Uri.joinPath(extensionUri, "media");
  return { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [media] };
}

function nonce(): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let out = "";
  for (let i = 0; i < 32; i++) {
    out += chars.charAt(Math.floor(Math.random() * chars.length));
  }
  return out;
}

function html(webview: vscode.Webview, media: vscode.Uri): string {
  const n = nonce();
  const script = webview.asWebviewUri(vscode.Uri.joinPath(media, "conversation.js"));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(media, "conversation.css"));
  // Event text is untrusted (agent output): the script only ever sets textContent, and the CSP forbids inline code.
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${n}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link href="${style}" rel="stylesheet">
<title>OpenHands</title>
</head>
<body>
<header>
  <h1 id="title"></h1>
  <div id="state" role="status"></div>
  <div id="usage" hidden></div>
  <div id="image" hidden></div>
  <div id="folders" hidden></div>
  <nav class="answer" aria-label="The agent waits for your answer" hidden>
    <span>The agent waits for your answer:</span>
    <button data-action="allow" class="primary">Allow</button>
    <button data-action="allowAll">Allow for this conversation</button>
    <button data-action="reject">Reject</button>
  </nav>
  <nav class="actions" hidden>
    <button data-action="pause">Pause</button>
    <button data-action="resume">Resume</button>
    <button data-action="stop">Stop</button>
    <button data-action="review">Review Changes</button>
    <button data-action="apply">Apply Changes</button>
  </nav>
</header>
<main id="events" aria-live="polite"></main>
<form id="send">
  <section id="queued" aria-label="Messages queued for after this turn" hidden>
    <h2>Queued for after this turn</h2>
    <ul></ul>
  </section>
  <textarea id="message" rows="2" placeholder="Message the agent (Enter to send, Shift+Enter for a new line)"></textarea>
  <div class="buttons">
    <button type="submit" id="send-button">Send</button>
    <button type="button" id="queue-button" hidden title="Send it when the agent's turn ends (Alt+Enter)">Queue</button>
  </div>
  <div id="mode-hint" hidden>The agent is working. <b>Enter</b> steers it: it reads your message before its next step. <b>Alt+Enter</b> queues it for after this turn.</div>
</form>
<script nonce="${n}" src="${script}"></script>
</body>
</html>`;
}

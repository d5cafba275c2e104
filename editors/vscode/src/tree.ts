// The Conversations view: one item per conversation (state, backend, changed-file count, inline actions), its
// changed files as children (click: the diff).
import * as vscode from "vscode";
import { ChangedFile, Conversation, ConversationState, canMessage, isSettled, usageLong, usageShort } from "./protocol";
import { Review, describe } from "./review";
import { ServerConnection } from "./server";

export type Node = { kind: "conversation"; id: string } | { kind: "file"; id: string; file: ChangedFile };

const ICONS: Record<ConversationState, [string, string?]> = {
  starting: ["loading~spin"],
  running: ["sync~spin"],
  paused: ["debug-pause"],
  waiting_for_confirmation: ["question", "list.warningForeground"],
  finished: ["pass", "testing.iconPassed"],
  error: ["error", "list.errorForeground"],
  stuck: ["warning", "list.warningForeground"],
  stopped: ["circle-slash"],
  damaged: ["warning", "list.warningForeground"],
};

const STATE_LABELS: Record<ConversationState, string> = {
  starting: "starting",
  running: "running",
  paused: "paused",
  waiting_for_confirmation: "waiting for you",
  finished: "finished",
  error: "failed",
  stuck: "stuck",
  stopped: "stopped",
  damaged: "damaged (see tooltip)",
};

/** How many of the newest settled conversations get their changed files counted when the list arrives. */
const MAX_COUNTED = 50;

export class ConversationsTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly subscription: vscode.Disposable;
  /** Conversations whose changed files are being counted now. */
  private readonly counting = new Set<string>();

  constructor(
    private readonly server: ServerConnection,
    private readonly review: Review,
  ) {
    this.subscription = server.store.onDidChange((id) => {
      // Settled conversations without a known count get one (a review fetch), so the row shows it and offers
      // Review before anyone expands it: also the earlier sessions' ones, which arrive all at once (id undefined).
      const ids = id !== undefined ? [id] : server.store.list().slice(0, MAX_COUNTED).map((c) => c.id);
      for (const each of ids) {
        const c = server.store.get(each);
        if (c && isSettled(c.state) && server.store.changedFiles(each) === undefined && !this.counting.has(each)) {
          this.counting.add(each);
          void this.review
            .fetch(each)
            .catch(() => undefined)
            .finally(() => this.counting.delete(each));
        }
      }
      this.emitter.fire(undefined);
    });
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === "file") {
      const item = new vscode.TreeItem(node.file.path, vscode.TreeItemCollapsibleState.None);
      item.description = describe(node.file);
      if (node.file.refusal ?? node.file.note) {
        item.tooltip = node.file.refusal ? `Can't apply: ${node.file.refusal}` : node.file.note;
      }
      item.resourceUri = vscode.Uri.parse(node.file.uri);
      item.contextValue = "file";
      item.command = { command: "openhands.ui.openChangedFile", title: "Open Diff", arguments: [node] };
      return item;
    }
    const c = this.server.store.get(node.id);
    const item = new vscode.TreeItem(c?.title ?? node.id, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = node.id;
    if (!c) {
      return item;
    }
    const changed = this.server.store.changedFiles(c.id);
    const parts = [c.runningElsewhere ? `${STATE_LABELS[c.state]} in another editor` : STATE_LABELS[c.state]];
    // What it cost comes before the rest: a narrow view still shows it.
    if (c.usage) {
      parts.push(usageShort(c.usage));
    }
    parts.push(c.backend);
    if (typeof changed === "number") {
      parts.push(`${changed} file${changed === 1 ? "" : "s"} changed`);
      const waiting = this.server.store.changesWaiting(c.id);
      if (changed > 0 && waiting !== undefined) {
        parts.push(waiting === 0 ? "all applied" : `${waiting} change${waiting === 1 ? "" : "s"} to review`);
      }
    }
    if (c.budgetReached && c.state === "paused") {
      parts.push("budget reached");
    }
    if (!c.live) {
      parts.push("earlier session");
    }
    item.description = parts.join(" · ");
    const [icon, color] = ICONS[c.state];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    item.tooltip = tooltip(c, changed);
    item.contextValue = contextValue(c, changed);
    item.collapsibleState =
      changed === null || changed === 0 ? vscode.TreeItemCollapsibleState.None : vscode.TreeItemCollapsibleState.Collapsed;
    item.command = { command: "openhands.ui.openConversation", title: "Open Conversation", arguments: [node] };
    return item;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (!node) {
      return this.server.store.list().map((c) => ({ kind: "conversation", id: c.id }));
    }
    if (node.kind === "file") {
      return [];
    }
    const result = await this.review.fetch(node.id).catch(() => null);
    return (result?.files ?? []).map((file) => ({ kind: "file", id: node.id, file }));
  }

  refresh(): void {
    this.emitter.fire(undefined);
  }

  dispose(): void {
    this.subscription.dispose();
    this.emitter.dispose();
  }
}

/** `conversation;<flags>;` for the menus' `viewItem =~ /;flag;/` conditions. */
export function contextValue(c: Conversation, changed: number | null | undefined): string {
  const flags: string[] = c.state === "waiting_for_confirmation" ? ["running", "waiting"] : [c.state];
  if (c.live) {
    flags.push("live");
    if (!isSettled(c.state)) {
      flags.push("active");
    }
    // Only what works on it now is offered: an earlier session's conversation cannot be paused or resumed.
    if (c.state === "running" || c.state === "waiting_for_confirmation") {
      flags.push("pausable");
    }
    if (c.state === "paused") {
      flags.push("resumable");
    }
  }
  if (canMessage(c)) {
    flags.push("messageable");
  }
  if (typeof changed === "number") {
    flags.push("isolated");
  }
  if (typeof changed === "number" && changed > 0) {
    flags.push("changes");
  }
  return `conversation;${flags.join(";")};`;
}

export function tooltip(c: Conversation, changed: number | null | undefined): vscode.MarkdownString {
  const md = new vscode.MarkdownString();
  md.appendMarkdown(`**${escape(c.title)}**\n\n`);
  md.appendMarkdown(`${STATE_LABELS[c.state]} · ${c.backend} · ${new Date(c.createdAt).toLocaleString()}\n\n`);
  if (typeof changed === "number") {
    md.appendMarkdown(`${changed} file(s) changed\n\n`);
  }
  if (c.image) {
    md.appendMarkdown(`Image: \`${c.image.name}\`, from ${escape(c.image.origin)}\n\n`);
  }
  if (c.usage) {
    md.appendMarkdown(`LLM: ${escape(usageLong(c.usage))}\n\n`);
  }
  if (c.budgetReached) {
    md.appendMarkdown(`Budget: it ${escape(c.budgetReached)}\n\n`);
  }
  if (c.error) {
    md.appendMarkdown(`Error: ${escape(c.error)}\n\n`);
  }
  if (c.finalMessage) {
    // The agent writes Markdown: rendered (an untrusted MarkdownString runs no command links and no HTML).
    md.appendMarkdown(`${c.finalMessage}\n\n`);
  }
  if (c.cloud) {
    const prs = c.cloud.pullRequests.map((n) => `#${n}`).join(", ");
    md.appendMarkdown(`[Open in OpenHands Cloud](${encodeURI(c.cloud.url)})${prs ? ` · pull requests ${escape(prs)}` : ""}\n\n`);
  }
  md.appendMarkdown(`Workspace: \`${c.workspace}\``);
  return md;
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!<>|]/g, "\\$&");
}

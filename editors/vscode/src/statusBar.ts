// A status bar item mirroring `openhands/status` (busy, a message, warning or error); click: the conversations.
import * as vscode from "vscode";
import { StatusParams, Usage, usageLong } from "./protocol";
import type { RunningServer } from "./serverPath";

const SOURCES: Record<RunningServer["source"], string> = {
  bundled: "bundled with the extension",
  "openhands.server.path": "the openhands.server.path setting",
  PATH: "found on PATH",
  OPENHANDS_LSP_PATH: "$OPENHANDS_LSP_PATH",
};

/** The tooltip's line about the server: its version, where it came from, its path. */
export function serverLine(s: RunningServer): string {
  return `Server: openhands-lsp ${s.version}, ${SOURCES[s.source]} (${s.path})`;
}

export class StatusBar implements vscode.Disposable {
  readonly item: vscode.StatusBarItem;
  private last: StatusParams = { busy: false, kind: "normal", message: "Starting…" };
  /** This session's LLM use (`openhands.status`), with how many conversations. */
  private session: (Usage & { conversations: number }) | null = null;
  private server: RunningServer | null = null;

  constructor() {
    this.item = vscode.window.createStatusBarItem("openhands.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "OpenHands";
    this.item.command = "openhands.ui.showConversations";
    this.show({ busy: false, kind: "normal", message: "Starting…" });
    this.item.show();
  }

  show(status: StatusParams): void {
    const icon = status.busy ? "$(sync~spin)" : status.kind === "error" ? "$(error)" : status.kind === "warning" ? "$(warning)" : "$(hubot)";
    // Busy: the count of running conversations fits; otherwise the icon says it and the tooltip has the words.
    this.item.text = status.busy ? `${icon} OpenHands: ${status.message}` : `${icon} OpenHands`;
    this.last = status;
    const s = this.session;
    const total = s && s.conversations > 0 ? `\nThis session: ${usageLong(s)} (${s.conversations} conversation${s.conversations === 1 ? "" : "s"})` : "";
    const server = this.server ? `\n${serverLine(this.server)}` : "";
    this.item.tooltip = `OpenHands: ${status.message}${total}${server}`;
    this.item.backgroundColor =
      status.kind === "error"
        ? new vscode.ThemeColor("statusBarItem.errorBackground")
        : status.kind === "warning"
          ? new vscode.ThemeColor("statusBarItem.warningBackground")
          : undefined;
  }

  showUsage(session: (Usage & { conversations: number }) | null): void {
    this.session = session;
    this.show(this.last);
  }

  showServer(server: RunningServer): void {
    this.server = server;
    this.show(this.last);
  }

  dispose(): void {
    this.item.dispose();
  }
}

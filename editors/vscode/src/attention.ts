// Telling the user when a conversation needs them while they look elsewhere: it finished, failed or got stuck while
// this window was not focused or the conversation's view was hidden (a notification with what to do next), and the
// OpenHands view's badge counts what needs them (a question, a budget, an outcome not looked at yet). Questions and
// failures are already said by the server, wherever the user looks: they count, but are not said twice.
import * as vscode from "vscode";
import { ConversationPanels } from "./panel";
import { Conversation, isSettled } from "./protocol";
import { ServerConnection } from "./server";

const SETTING = "openhands.notifyWhenAway";

export class Attention implements vscode.Disposable {
  /** Each conversation's state when last seen, to tell a change from a repeat. */
  private readonly states = new Map<string, string>();
  /** Conversations whose outcome came while the user looked elsewhere, until they look at its view. */
  private readonly unseen = new Set<string>();
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly server: ServerConnection,
    private readonly panels: ConversationPanels,
    private readonly view: vscode.TreeView<unknown>,
  ) {
    this.subscriptions = [
      server.store.onDidChange((id) => {
        for (const c of id ? [server.store.get(id)] : server.store.list()) {
          if (c) this.changed(c);
        }
        this.showBadge();
      }),
      panels.onDidShow((id) => {
        if (this.unseen.delete(id)) this.showBadge();
      }),
      vscode.window.onDidChangeWindowState((state) => {
        const active = this.panels.activeId();
        if (state.focused && active && this.unseen.delete(active)) this.showBadge();
      }),
    ];
  }

  private changed(c: Conversation): void {
    const before = this.states.get(c.id);
    this.states.set(c.id, c.state);
    if (before === undefined || before === c.state || !c.live || c.runningElsewhere) {
      return;
    }
    if (!isSettled(c.state)) {
      // It works again: what it ended with before is old news.
      this.unseen.delete(c.id);
      return;
    }
    if (c.state === "stopped" || this.looking(c.id)) {
      return;
    }
    this.unseen.add(c.id);
    if (!vscode.workspace.getConfiguration().get<boolean>(SETTING, true)) {
      return;
    }
    // A failure is the server's error message, already shown: said once.
    if (c.state === "finished" || c.state === "stuck") {
      void this.tell(c);
    }
  }

  /** The user looks at the conversation: this window has focus and its view shows. */
  private looking(id: string): boolean {
    const panel = this.panels.get(id);
    return vscode.window.state.focused && panel !== undefined && panel.webview.visible;
  }

  private async tell(c: Conversation): Promise<void> {
    const outcome = c.state === "stuck" ? `is stuck: ${c.error ?? ""}` : `finished${c.finalMessage ? `: ${c.finalMessage}` : "."}`;
    const text = `OpenHands: "${c.title}" ${outcome}`;
    const actions = c.isolation ? ["Review Changes", "Open"] : ["Open"];
    const show = c.state === "stuck" ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    const chosen = await show(text, ...actions);
    const node = { kind: "conversation", id: c.id };
    if (chosen === "Review Changes") {
      await vscode.commands.executeCommand("openhands.ui.reviewChanges", node);
    } else if (chosen === "Open") {
      this.panels.open(c.id);
    }
  }

  /** How many conversations need the user now: a question or a budget waits, or an outcome not looked at. */
  private showBadge(): void {
    const needing = this.server.store
      .list()
      .filter(
        (c) =>
          c.live &&
          !c.runningElsewhere &&
          (c.state === "waiting_for_confirmation" || (c.state === "paused" && !!c.budgetReached) || this.unseen.has(c.id)),
      ).length;
    this.view.badge =
      needing > 0 ? { value: needing, tooltip: `OpenHands: ${needing} conversation${needing === 1 ? " needs" : "s need"} you` } : undefined;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }
}

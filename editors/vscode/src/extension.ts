// The OpenHands extension: starts openhands-lsp and puts its conversations in the command palette, the editor's
// context menu and lightbulb, a Conversations view, conversation views and the status bar.
import * as vscode from "vscode";
import { Attention } from "./attention";
import { registerCommands } from "./commands";
import { ConversationStore } from "./conversations";
import { HunkLenses } from "./hunkLenses";
import { ConversationPanels, VIEW_TYPE } from "./panel";
import { REVIEW_SCHEME, Review } from "./review";
import { ServerCommand, Usage } from "./protocol";
import { ServerConnection } from "./server";
import { StatusBar } from "./statusBar";
import { ConversationsTree } from "./tree";

/** What `activate` returns: the parts, for tests and for other extensions. */
export interface Api {
  server: ServerConnection;
  review: Review;
  panels: ConversationPanels;
  tree: ConversationsTree;
  statusBar: StatusBar;
  commands: string[];
  /** Settles when the first start of the server has (true) or has not (false) succeeded. */
  started: Promise<boolean>;
}

export function activate(context: vscode.ExtensionContext): Api {
  const output = vscode.window.createOutputChannel("OpenHands", { log: true });
  const store = new ConversationStore();
  const server = new ServerConnection(context, output, store);
  const review = new Review(server);
  const panels = new ConversationPanels(context.extensionUri, server);
  const tree = new ConversationsTree(server, review);
  const lenses = new HunkLenses(review);
  const statusBar = new StatusBar();
  context.subscriptions.push(
    output,
    store,
    server,
    review,
    panels,
    tree,
    statusBar,
    server.onStatus((s) => statusBar.show(s)),
    server.onServer((s) => statusBar.showServer(s)),
    server.onStartedByAction((id) => panels.open(id, true)),
    followSessionUsage(server, store, statusBar),
    vscode.workspace.registerTextDocumentContentProvider(REVIEW_SCHEME, review),
    lenses,
    vscode.languages.registerCodeLensProvider({ scheme: REVIEW_SCHEME }, lenses),
  );
  const treeView = vscode.window.createTreeView("openhands.conversations", { treeDataProvider: tree, showCollapseAll: true });
  context.subscriptions.push(treeView, new Attention(server, panels, treeView));
  const commands = registerCommands({ context, server, review, panels, output });
  // The server starts in the background: activation must not wait for it.
  const started = server.start();
  // Conversation views open before a reload come back with it (their state holds the conversation's id).
  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
      deserializeWebviewPanel: async (webview: vscode.WebviewPanel, state: unknown) => {
        const id = typeof state === "object" && state !== null ? (state as { id?: unknown }).id : undefined;
        if (typeof id !== "string") {
          webview.dispose();
          return;
        }
        panels.adopt(id, webview, started);
      },
    }),
  );
  return { server, review, panels, tree, statusBar, commands, started };
}

export function deactivate(): Promise<void> | undefined {
  // The subscriptions (and with them the server) are disposed by VS Code.
  return undefined;
}

/** The status bar's tooltip has this session's LLM use: the server's total, asked again (at most once a second)
 * when a conversation's usage changes. */
function followSessionUsage(server: ServerConnection, store: ConversationStore, statusBar: StatusBar): vscode.Disposable {
  const seen = new Map<string, string>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const refresh = () => {
    timer = undefined;
    server
      .execute<{ usage?: (Usage & { conversations: number }) | null }>(ServerCommand.status, {})
      .then((status) => statusBar.showUsage(status.usage ?? null))
      .catch(() => undefined);
  };
  const listener = store.onDidChange((id) => {
    const changed = (id ? [store.get(id)] : store.list()).filter((c) => c && JSON.stringify(c.usage ?? null) !== seen.get(c.id));
    for (const c of changed) {
      if (c) seen.set(c.id, JSON.stringify(c.usage ?? null));
    }
    if (changed.length > 0 && !timer) {
      timer = setTimeout(refresh, 1000);
    }
  });
  return new vscode.Disposable(() => {
    listener.dispose();
    if (timer) clearTimeout(timer);
  });
}

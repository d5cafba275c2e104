// The extension's commands (package.json `contributes.commands`): each asks what it needs, runs the server's
// command, and says what happened. Commands that act on a conversation take it from the tree item or view they
// were run from, else the focused conversation view, else a pick.
import * as vscode from "vscode";
import { ConversationPanels } from "./panel";
import {
  CheckpointList,
  CloudConversation,
  Conversation,
  Hunk,
  PushResult,
  QueuedMessage,
  SecretName,
  SendResult,
  ServerCommand,
  StartResult,
  SuggestedTask,
  canMessage,
  isSettled,
} from "./protocol";
import { Review } from "./review";
import { MCP_SECRET_NAMES, ServerConnection, mcpSecretNames, message, secretKey } from "./server";
import { Node } from "./tree";

export interface Deps {
  context: vscode.ExtensionContext;
  server: ServerConnection;
  review: Review;
  panels: ConversationPanels;
  output: vscode.LogOutputChannel;
}

type Handler = (...args: unknown[]) => Promise<unknown>;

const SECRETS: [string, SecretName, string][] = [
  ["setLlmApiKey", "llm_api_key", "LLM API key"],
  ["setGithubToken", "github_token", "GitHub token"],
  ["setGitlabToken", "gitlab_token", "GitLab token"],
  ["setBitbucketToken", "bitbucket_token", "Bitbucket token (or user:app_password)"],
  ["setCloudApiKey", "cloud_api_key", "OpenHands Cloud API key"],
  ["setJiraToken", "jira_token", "Jira API token (Cloud, with openhands.jira.email) or personal access token"],
  ["setLinearApiKey", "linear_api_key", "Linear personal API key"],
];

/** Registers every command; returns their ids (the unit tests compare them with package.json). */
export function registerCommands(deps: Deps): string[] {
  const { context, server, review, panels, output } = deps;

  const pick = (arg: unknown, title: string, filter: (c: Conversation) => boolean = () => true) =>
    pickConversation(server, panels, arg, title, filter);

  /** Answers an agent that waits for the user's confirmation (also after its question was dismissed). */
  const answer = async (arg: unknown, given: string | undefined): Promise<string | undefined> => {
    const c = await pick(arg, "Answer the agent of which conversation?", (c) => c.live && c.state === "waiting_for_confirmation");
    if (!c) {
      return undefined;
    }
    let decision = given;
    if (!decision) {
      const choice = await vscode.window.showQuickPick(
        [
          { label: "Allow", description: "run what the agent asked for", decision: "allow" },
          { label: "Allow for this conversation", description: "and stop asking", decision: "allowAll" },
          { label: "Reject", description: "the agent is told you said no", decision: "reject" },
        ],
        // Stays open when focus moves: closing the palette gives focus back to the active editor, and a
        // conversation view (a webview) takes it a moment later, after this pick opened, which would close it
        // before the user saw it (microsoft/vscode#75209). The same holds for every pick below. Escape cancels.
        { title: `OpenHands: "${c.title}" waits for your answer`, placeHolder: "Your answer to the agent", ignoreFocusOut: true },
      );
      decision = choice?.decision;
    }
    if (!decision) {
      return undefined;
    }
    let reason: string | undefined;
    if (decision === "reject") {
      reason = await vscode.window.showInputBox({
        title: `OpenHands: reject the action of "${c.title}"`,
        prompt: "Why not? The agent reads it (optional: Enter to reject without a reason, Escape to cancel).",
        ignoreFocusOut: true,
      });
      if (reason === undefined) {
        return undefined;
      }
    }
    await server.execute(ServerCommand.respondToConfirmation, {
      conversationId: c.id,
      decision,
      ...(reason?.trim() ? { reason: reason.trim() } : {}),
    });
    return decision;
  };

  const startTask = async (
    extra: Record<string, unknown>,
    placeHolder: string,
    more: () => Promise<Record<string, unknown> | undefined> = async () => ({}),
  ) => {
    const instruction = await vscode.window.showInputBox({
      title: "OpenHands: Start Task",
      prompt: "What should the agent do?",
      placeHolder,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : "Say what the agent should do."),
    });
    if (!instruction?.trim()) {
      return undefined;
    }
    const asked = await more();
    if (!asked) {
      return undefined;
    }
    const result = await server.execute<StartResult>(ServerCommand.startTask, { instruction, ...extra, ...asked });
    server.store.upsert(result.conversation);
    panels.open(result.conversationId, true);
    return result;
  };

  /** The problems VS Code shows for `uri` (within `range`, when given), as the server takes them. */
  const problemsOf = (uri: vscode.Uri, range?: vscode.Range) => {
    const shown = vscode.languages.getDiagnostics(uri).filter((d) => !range || d.range.intersection(range));
    return shown.length > 0 && server.converter ? server.converter.asDiagnosticsSync(shown) : undefined;
  };

  /** In a multi-root workspace, the folders a task from the palette works in (the active file's folder first and
   * picked already); `{}` with one folder; undefined when the user cancelled. */
  const pickFolders = async (): Promise<Record<string, unknown> | undefined> => {
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length < 2) {
      return {};
    }
    const active = vscode.window.activeTextEditor?.document.uri;
    const here = (active && vscode.workspace.getWorkspaceFolder(active)) ?? folders[0];
    const items = [here, ...folders.filter((f) => f !== here)].map((folder) => ({
      label: folder.name,
      description: folder === here ? "the agent's working folder" : undefined,
      detail: folder.uri.fsPath,
      picked: folder === here,
      folder,
    }));
    const picked = await vscode.window.showQuickPick(items, {
      title: "OpenHands: Start Task",
      placeHolder: "Which folders does the task work in? (each gets its own copy)",
      canPickMany: true,
      ignoreFocusOut: true,
    });
    if (!picked?.length) {
      return undefined;
    }
    return { folders: picked.map((p) => p.folder.uri.toString()) };
  };

  /** For a conversation across folders, which folder's repository a branch or pull request is for. */
  const pickRepository = async (c: Conversation): Promise<{ folder?: string } | undefined> => {
    if (!c.folders?.length) {
      return {};
    }
    const workspace = { label: c.workspace.split("/").pop() ?? c.workspace, detail: c.workspace, folder: undefined };
    const others = c.folders.map((f) => ({ label: f.name, detail: f.path, folder: f.name }));
    const picked = await vscode.window.showQuickPick([workspace, ...others], {
      title: "OpenHands: this conversation changed several folders",
      placeHolder: "Which folder's repository is this for?",
    });
    return picked && (picked.folder ? { folder: picked.folder } : {});
  };

  const handlers: Record<string, Handler> = {
    startTask: () => startTask({}, "e.g. Add a unit test for parse()", pickFolders),
    startTaskWithSelection: async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor || editor.selection.isEmpty) {
        void vscode.window.showWarningMessage("OpenHands: select some code first, then run Start Task with Selection.");
        return undefined;
      }
      const range = server.converter?.asRange(editor.selection);
      const diagnostics = problemsOf(editor.document.uri, editor.selection);
      return startTask(
        { uri: editor.document.uri.toString(), range, selectedText: editor.document.getText(editor.selection), diagnostics },
        "e.g. Make this function handle empty input",
      );
    },
    startTaskWithFile: async (arg) => {
      const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
      if (!uri) {
        void vscode.window.showWarningMessage("OpenHands: open a file first, then run Start Task with File.");
        return undefined;
      }
      return startTask(
        { uri: uri.toString(), diagnostics: problemsOf(uri) },
        `e.g. Add tests for ${uri.path.split("/").pop() ?? "this file"}`,
      );
    },
    fixProblemsInFile: async (arg) => {
      const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
      if (!uri) {
        void vscode.window.showWarningMessage("OpenHands: open a file first, then run Fix Problems in File.");
        return undefined;
      }
      const diagnostics = problemsOf(uri);
      const name = uri.path.split("/").pop() ?? "this file";
      if (!diagnostics) {
        void vscode.window.showInformationMessage(`OpenHands: VS Code shows no problems in ${name}.`);
        return undefined;
      }
      const result = await server.execute<StartResult>(ServerCommand.startTask, {
        instruction:
          "Fix the problems the editor reports in this file. Fix their causes, not only the messages; then run the project's tests, if it has any.",
        title: `Fix ${diagnostics.length === 1 ? "1 problem" : `${diagnostics.length} problems`} in ${name}`,
        uri: uri.toString(),
        diagnostics,
      });
      server.store.upsert(result.conversation);
      panels.open(result.conversationId, true);
      return result;
    },
    fixIssue: async () => {
      if (!requireCommand(server, ServerCommand.fixIssue, "fetch issues")) {
        return undefined;
      }
      const reference = await vscode.window.showInputBox({
        title: "OpenHands: Fix Issue",
        prompt: "The issue to fix",
        placeHolder: "#12, owner/repo#12, PROJ-123, or the issue's URL (empty: the issue your branch names)",
        ignoreFocusOut: true,
      });
      if (reference === undefined) {
        return undefined;
      }
      // Empty: the server takes the Jira or Linear issue the branch (or its latest commits) names.
      const uri = activeFileUri();
      const result = await server.execute<StartResult>(ServerCommand.fixIssue, { reference: reference.trim(), uri });
      server.store.upsert(result.conversation);
      panels.open(result.conversationId, true);
      return result;
    },
    suggestedTasks: async () => {
      if (!requireCommand(server, ServerCommand.suggestedTasks, "suggest tasks")) {
        return undefined;
      }
      const { tasks, problems } = await server.execute<{ tasks: SuggestedTask[]; problems?: string[] }>(ServerCommand.suggestedTasks, {
        uri: activeFileUri(),
      });
      for (const problem of problems ?? []) {
        output.warn(`suggested tasks: ${problem}`);
      }
      if (tasks.length === 0) {
        void vscode.window.showInformationMessage("OpenHands: no suggested tasks (no open issues or pull requests need you).");
        return undefined;
      }
      const chosen = await vscode.window.showQuickPick(
        tasks.map((t) => ({ label: t.title, description: t.reference, detail: t.description, task: t })),
        { title: "OpenHands: Suggested Tasks", matchOnDescription: true, matchOnDetail: true, ignoreFocusOut: true },
      );
      if (!chosen) {
        return undefined;
      }
      const result = await server.execute<StartResult>(ServerCommand.fixIssue, { reference: chosen.task.reference });
      server.store.upsert(result.conversation);
      panels.open(result.conversationId, true);
      return result;
    },
    attachCloudConversation: async () => {
      if (!requireCommand(server, ServerCommand.attachConversation, "attach to cloud conversations")) {
        return undefined;
      }
      const listed = await server.execute<{ cloudConversations?: CloudConversation[]; cloudError?: string }>(ServerCommand.listConversations, {
        cloud: true,
      });
      if (listed.cloudError) {
        void vscode.window.showErrorMessage(`OpenHands: ${listed.cloudError}`);
        return undefined;
      }
      const open = (listed.cloudConversations ?? []).filter((c) => !c.attachedAs);
      if (open.length === 0) {
        void vscode.window.showInformationMessage("OpenHands: no cloud conversation to attach to.");
        return undefined;
      }
      const chosen = await vscode.window.showQuickPick(
        open.map((c) => ({
          label: c.title ?? c.id,
          description: [c.repository, c.branch].filter(Boolean).join(" @ "),
          detail: `${c.sandboxStatus.toLowerCase()}${c.executionStatus ? `, ${c.executionStatus}` : ""} · ${c.url}`,
          conversation: c,
        })),
        { title: "OpenHands: Attach to Cloud Conversation", matchOnDescription: true, ignoreFocusOut: true },
      );
      if (!chosen) {
        return undefined;
      }
      const result = await server.execute<StartResult>(ServerCommand.attachConversation, {
        cloudConversationId: chosen.conversation.id,
        uri: activeFileUri(),
      });
      server.store.upsert(result.conversation);
      panels.open(result.conversationId, true);
      return result;
    },
    showConversations: async () => {
      await vscode.commands.executeCommand("openhands.conversations.focus");
    },
    refreshConversations: () => server.refreshConversations(),
    openConversation: async (arg) => {
      const c = await pick(arg, "Open which conversation?");
      return c && panels.open(c.id);
    },
    sendMessage: async (arg, text, mode) => {
      const c = await pick(arg, "Send a message to which conversation?", canMessage);
      if (!c) {
        return undefined;
      }
      const body =
        typeof text === "string" && text.trim()
          ? text
          : await vscode.window.showInputBox({ title: `OpenHands: message to "${c.title}"`, prompt: "Your message to the agent", ignoreFocusOut: true });
      if (!body?.trim()) {
        return undefined;
      }
      // While the agent works: "steer" (the server's default) puts it into the running turn, "queue" after it.
      const args = { conversationId: c.id, text: body, ...(mode === "queue" ? { mode: "queue" } : {}) };
      const sent = await server.execute<SendResult>(ServerCommand.sendMessage, args);
      // Seen where the user is, also when sent from the tree (the view shows the message itself).
      const said = sent?.delivery === "queued" ? `queued for after the turn of "${c.title}"` : `sent to "${c.title}"`;
      vscode.window.setStatusBarMessage(`$(send) OpenHands: message ${said}`, 4000);
      return true;
    },
    unqueueMessage: async (arg, messageId) => {
      const c = await pick(arg, "Take a queued message back from which conversation?", (c) => (c.queued ?? []).length > 0);
      if (!c) {
        return undefined;
      }
      const queued = c.queued ?? [];
      const id =
        typeof messageId === "string"
          ? messageId
          : (await vscode.window.showQuickPick(
              queued.map((q) => ({ label: q.text, id: q.id })),
              { title: "OpenHands: take back which queued message?" },
            ))?.id;
      if (!id) {
        return undefined;
      }
      const back = await server.execute<{ message: QueuedMessage }>(ServerCommand.unqueueMessage, { conversationId: c.id, messageId: id });
      return back?.message.text;
    },
    respondToConfirmation: async (arg, decision) => answer(arg, typeof decision === "string" ? decision : undefined),
    allowAction: async (arg) => answer(arg, "allow"),
    allowAllActions: async (arg) => answer(arg, "allowAll"),
    rejectAction: async (arg) => answer(arg, "reject"),
    pause: async (arg) => {
      const c = await pick(arg, "Pause which conversation?", (c) => c.live && (c.state === "running" || c.state === "waiting_for_confirmation"));
      return c && server.execute(ServerCommand.pause, { conversationId: c.id });
    },
    resume: async (arg) => {
      const c = await pick(arg, "Resume which conversation?", (c) => c.live && c.state === "paused");
      return c && server.execute(ServerCommand.resume, { conversationId: c.id });
    },
    stop: async (arg) => {
      const c = await pick(arg, "Stop which conversation?", (c) => c.live && !isSettled(c.state));
      return c && server.execute(ServerCommand.stop, { conversationId: c.id });
    },
    reviewChanges: async (arg) => {
      const c = await pick(arg, "Review the changes of which conversation?");
      return c && review.review(c.id);
    },
    applyChanges: async (arg) => {
      const c = await pick(arg, "Apply the changes of which conversation?");
      return c && review.apply(c.id);
    },
    discardChanges: async (arg) => {
      const c = await pick(arg, "Discard the changes of which conversation?");
      if (!c) {
        return undefined;
      }
      const answer = await vscode.window.showWarningMessage(
        `Discard the changes of "${c.title}"? Its worktree and branch are removed; your files are not touched.`,
        { modal: true },
        "Discard",
      );
      if (answer !== "Discard") {
        return undefined;
      }
      await server.execute(ServerCommand.discardChanges, { conversationId: c.id });
      review.forget(c.id);
      server.store.setChangedFiles(c.id, null);
      return null;
    },
    createPullRequest: async (arg) => {
      const c = await pick(arg, "Open a pull request for which conversation?");
      if (!c) {
        return undefined;
      }
      const repository = await pickRepository(c);
      if (!repository) {
        return undefined;
      }
      if (server.supports(ServerCommand.createPullRequest)) {
        // The server opens the page itself (window/showDocument); this says what happened.
        const { url } = await server.execute<{ url: string }>(ServerCommand.createPullRequest, {
          conversationId: c.id,
          ...repository,
        });
        void vscode.window.showInformationMessage(`OpenHands: pull request opened: ${url}`);
        return url;
      }
      const push = await vscode.window.showWarningMessage(
        "OpenHands: this openhands-lsp cannot open pull requests yet (no openhands.createPullRequest). Push the changes as a new branch instead?",
        "Push Branch",
      );
      if (push !== "Push Branch") {
        return undefined;
      }
      const pushed = await server.execute<PushResult>(ServerCommand.pushChanges, { conversationId: c.id, ...repository });
      void vscode.window.showInformationMessage(`OpenHands: pushed ${pushed.branch} to ${pushed.remote}.`);
      return pushed;
    },
    showLogs: async () => output.show(),
    restartServer: () => server.restart(),
    openChangedFile: async (arg) => {
      const node = arg as Node | undefined;
      return node?.kind === "file" ? review.openDiff(node.id, node.file) : undefined;
    },
    // From the lenses in a review diff: the conversation, the file, and the hunks (or the hunk) they stand over.
    applyHunks: async (id, path, hunks) => review.applyHunks(String(id), String(path), hunks as string[]),
    rejectHunk: async (id, path, hunk) => review.rejectHunk(String(id), String(path), hunk as Hunk),
    applyFile: async (id, path) => review.applyFile(String(id), String(path)),
    restoreCheckpoint: async (arg, checkpoint) => {
      const c = await pick(arg, "Restore which conversation to a checkpoint?", (c) => c.live && Boolean(c.checkpoint));
      return c && restoreCheckpoint(server, c, typeof checkpoint === "number" ? checkpoint : undefined);
    },
  };

  /** Asks for a secret's value in a password box; stores it (empty: removes it) and sends it to the server. The
   * value given, or undefined when the user cancelled. */
  const askAndStoreSecret = async (name: string, label: string, what: string) => {
    const value = await vscode.window.showInputBox({
      title: `OpenHands: ${label}`,
      prompt: `${what}, kept in VS Code's secret storage (never in settings). Leave empty to remove the stored one.`,
      password: true,
      ignoreFocusOut: true,
    });
    if (value === undefined) {
      return undefined;
    }
    if (value === "") {
      await context.secrets.delete(secretKey(name));
    } else {
      await context.secrets.store(secretKey(name), value);
    }
    await server.pushSecret(name, value);
    void vscode.window.showInformationMessage(value === "" ? `OpenHands: ${label} removed.` : `OpenHands: ${label} saved.`);
    return value;
  };

  handlers.setMcpSecret = async () => {
    const configured = mcpSecretNames(vscode.workspace.getConfiguration("openhands").get("mcpServers"));
    const stored = context.globalState.get<string[]>(MCP_SECRET_NAMES, []);
    const names = [...new Set([...configured, ...stored])];
    const other = "Another name…";
    const picked = names.length
      ? await vscode.window.showQuickPick([...names, other], {
          title: "OpenHands: Set MCP Server Secret",
          placeHolder: "Which secret? (openhands.mcpServers names them as ${secret:NAME})",
          ignoreFocusOut: true,
        })
      : other;
    const name =
      picked === other
        ? await vscode.window.showInputBox({
            title: "OpenHands: Set MCP Server Secret",
            prompt: "The secret's name, as openhands.mcpServers writes it: ${secret:NAME}",
            validateInput: (v) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(v) ? undefined : "Letters, digits and _, not first a digit."),
          })
        : picked;
    if (!name) {
      return undefined;
    }
    const value = await askAndStoreSecret(name, name, `The value of ${name}`);
    if (value !== undefined) {
      // Remembered by name, so the next start sends it again.
      const kept = value === "" ? stored.filter((n) => n !== name) : [...new Set([...stored, name])];
      await context.globalState.update(MCP_SECRET_NAMES, kept);
    }
    return value === undefined ? undefined : name;
  };

  for (const [id, name, label] of SECRETS) {
    handlers[id] = async () => ((await askAndStoreSecret(name, label, `Your ${label}`)) === undefined ? undefined : name);
  }

  const ids: string[] = [];
  for (const [name, handler] of Object.entries(handlers)) {
    const id = `openhands.ui.${name}`;
    ids.push(id);
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await handler(...args);
        } catch (e) {
          output.error(`${id}: ${message(e)}`);
          void vscode.window.showErrorMessage(`OpenHands: ${message(e)}`);
          return undefined;
        }
      }),
    );
  }
  return ids;
}

/** Restores a conversation to a checkpoint: `number`, else one picked from its list (newest first). The agent's
 * copy goes back to it and the agent forgets what came after; the user's own files are not touched. */
async function restoreCheckpoint(server: ServerConnection, c: Conversation, number?: number): Promise<unknown> {
  let chosen = number;
  if (chosen === undefined) {
    const list = await server.execute<CheckpointList>(ServerCommand.listCheckpoints, { conversationId: c.id });
    if (list.checkpoints.length === 0) {
      void vscode.window.showInformationMessage(`OpenHands: "${c.title}" has no checkpoints yet (one is taken after each step that changes files).`);
      return undefined;
    }
    const pick = await vscode.window.showQuickPick(
      [...list.checkpoints].reverse().map((k) => ({
        label: `Checkpoint ${k.number}: after step ${k.step}`,
        description: `${k.number === list.current ? "current · " : ""}${new Date(k.time * 1000).toLocaleTimeString()}`,
        detail: k.files.join(", "),
        number: k.number,
      })),
      { title: `OpenHands: restore "${c.title}" to a checkpoint`, placeHolder: "The agent's files and memory go back to it; your files are not touched", ignoreFocusOut: true },
    );
    chosen = pick?.number;
  }
  if (chosen === undefined) {
    return undefined;
  }
  if (number !== undefined) {
    // From a step's "Restore to here": said what it does before it is done (the pick above is that, otherwise).
    const answer = await vscode.window.showWarningMessage(
      `Restore "${c.title}" to checkpoint ${chosen}? The agent's copy of the files and what it remembers go back to that step; what came after is kept in the history. Your files are not touched.`,
      { modal: true },
      "Restore",
    );
    if (answer !== "Restore") {
      return undefined;
    }
  }
  const result = await server.execute<{ earlierBranch: string }>(ServerCommand.restoreCheckpoint, {
    conversationId: c.id,
    checkpoint: chosen,
  });
  void vscode.window.showInformationMessage(
    `OpenHands: "${c.title}" is back at checkpoint ${chosen}. Send a message to go on from there; what came after is kept in the history.`,
  );
  return result;
}

/** The active editor's file, so the server resolves `#12` against that file's repository. */
function activeFileUri(): string | undefined {
  const uri = vscode.window.activeTextEditor?.document.uri;
  return uri?.scheme === "file" ? uri.toString() : undefined;
}

function requireCommand(server: ServerConnection, command: string, what: string): boolean {
  if (server.supports(command)) {
    return true;
  }
  void vscode.window.showErrorMessage(
    `OpenHands: this openhands-lsp cannot ${what} (it has no ${command} command). Update openhands-lsp, then run OpenHands: Restart Server.`,
  );
  return false;
}

/** The conversation a command is about: from its argument, the focused view, or a pick among `filter`'s. */
async function pickConversation(
  server: ServerConnection,
  panels: ConversationPanels,
  arg: unknown,
  title: string,
  filter: (c: Conversation) => boolean,
): Promise<Conversation | undefined> {
  const fromArg =
    typeof arg === "string" ? arg : typeof arg === "object" && arg !== null && "id" in arg ? String((arg as { id: unknown }).id) : undefined;
  const id = fromArg ?? panels.activeId();
  if (id) {
    const c = server.store.get(id);
    if (!c) {
      throw new Error(`no conversation ${id} (OpenHands: Refresh Conversations)`);
    }
    return c;
  }
  const candidates = server.store.list().filter(filter);
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage("OpenHands: no conversation fits. Start one with OpenHands: Start Task.");
    return undefined;
  }
  const chosen = await vscode.window.showQuickPick(
    candidates.map((c) => ({
      label: c.title,
      description: `${c.state.replace(/_/g, " ")} · ${c.backend}`,
      detail: new Date(c.createdAt).toLocaleString(),
      conversation: c,
    })),
    { title: `OpenHands: ${title}`, matchOnDescription: true, ignoreFocusOut: true },
  );
  return chosen?.conversation;
}

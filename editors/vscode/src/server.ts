// The connection to openhands-lsp: starts it with vscode-languageclient, keeps the conversation store and the
// status current from its notifications, sends the stored secrets, and runs its commands.
import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";
import { ConversationStore } from "./conversations";
import {
  AgentEvent,
  Conversation,
  Notification,
  SecretName,
  SecretNames,
  ServerCommand,
  StartResult,
  StatusParams,
} from "./protocol";

/** The server's commands a code action runs that start a conversation. */
const STARTING_COMMANDS: string[] = [ServerCommand.fixIssue, ServerCommand.fixDiagnostic, ServerCommand.startTask];
import { SecretValues, redactingChannel } from "./redact";
import { RunningServer, findServer } from "./serverPath";

/** Settings groups this extension reads itself and never sends (`openhands.server.*`, `openhands.trace.*`). */
const EXTENSION_ONLY = new Set(["server", "trace"]);

/** The top-level keys of the server's settings, from the manifest's `contributes.configuration`. */
export function settingGroups(packageJSON: { contributes?: { configuration?: { properties?: object } } }): string[] {
  const keys = Object.keys(packageJSON.contributes?.configuration?.properties ?? {});
  const groups = keys.map((k) => k.replace(/^openhands\./, "").split(".")[0] ?? "");
  return [...new Set(groups)].filter((g) => g && !EXTENSION_ONLY.has(g));
}

/** The `openhands` section as the server reads it: nested keys, without the extension's own settings. */
export function serverSettings(groups: string[]): Record<string, unknown> {
  const section = vscode.workspace.getConfiguration("openhands");
  const out: Record<string, unknown> = {};
  for (const key of groups) {
    const value = section.get<unknown>(key);
    if (value !== undefined) {
      out[key] = value;
    }
  }
  return out;
}

export function secretKey(name: string): string {
  return `openhands.secret.${name}`;
}

/** Where the names of the MCP servers' secrets (`${secret:NAME}`) set in this VS Code are kept (their values are in
 * the secret storage, under `secretKey(name)`). */
export const MCP_SECRET_NAMES = "openhands.mcpSecretNames";

/** The secrets `openhands.mcpServers` names (`${secret:NAME}`), in the order they appear. */
export function mcpSecretNames(servers: unknown): string[] {
  const found = JSON.stringify(servers ?? {}).match(/\$\{secret:([A-Za-z_][A-Za-z0-9_]*)\}/g) ?? [];
  return [...new Set(found.map((m) => m.slice("${secret:".length, -1)))];
}

export class ServerConnection implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private readonly statusEmitter = new vscode.EventEmitter<StatusParams>();
  private readonly eventEmitter = new vscode.EventEmitter<AgentEvent>();
  private readonly checkpointEmitter = new vscode.EventEmitter<string>();
  /** A conversation took a checkpoint (its id). */
  readonly onCheckpoint = this.checkpointEmitter.event;
  private readonly startedEmitter = new vscode.EventEmitter<string>();
  /** A code action's command (fix an issue, fix a problem) started a conversation (its id): its view opens. */
  readonly onStartedByAction = this.startedEmitter.event;
  private readonly serverEmitter = new vscode.EventEmitter<RunningServer>();
  /** A server started: which binary, from where, of which version. */
  readonly onServer = this.serverEmitter.event;
  private readonly disposables: vscode.Disposable[] = [];
  readonly onStatus = this.statusEmitter.event;
  readonly onEvent = this.eventEmitter.event;
  private readonly groups: string[];
  /** The secret values sent to the server, masked in the message trace. */
  private readonly secretValues = new SecretValues();
  /** Set once the first start succeeded: later transitions to Running are the client's restarts after a crash. */
  private everStarted = false;
  /** Set while the server starts: a command given meanwhile (VS Code has just opened) waits for it. */
  private starting: Promise<boolean> | undefined;
  /** start() or stop() is under way: state changes are theirs, not a crash's. */
  private busy = false;
  /** The value last sent for each secret, so a change echoed by SecretStorage is not sent twice. */
  private readonly pushed = new Map<string, string>();
  /** Why the server is not running, when it is not. */
  problem: string | undefined;
  /** The extension is being disposed: the output channel goes with it. */
  private disposed = false;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
    readonly store: ConversationStore,
  ) {
    this.groups = settingGroups(context.extension.packageJSON);
    // Secrets changed in another window reach this window's server too.
    this.disposables.push(
      context.secrets.onDidChange(async (e) => {
        const name = this.secretNames().find((n) => secretKey(n) === e.key);
        const value = name && ((await context.secrets.get(e.key)) ?? "");
        if (name && value !== this.pushed.get(name) && this.isRunning()) {
          await this.pushSecret(name, value ?? "");
        }
      }),
    );
  }

  isRunning(): boolean {
    return this.client?.state === State.Running;
  }

  /** Starts the server; on failure, says why (once) and leaves `problem` set. */
  async start(): Promise<boolean> {
    this.busy = true;
    const starting = this.startClient();
    this.starting = starting;
    try {
      return await starting;
    } finally {
      this.busy = false;
      if (this.starting === starting) {
        this.starting = undefined;
      }
    }
  }

  private async startClient(): Promise<boolean> {
    const lookup = findServer({
      env: process.env,
      setting: vscode.workspace.getConfiguration("openhands").get<string | null>("server.path"),
      extensionPath: this.context.extensionUri.fsPath,
      platform: process.platform,
    });
    if ("problem" in lookup) {
      return this.fail(lookup.problem);
    }
    this.output.info(`starting ${lookup.found.path} (from ${lookup.found.source})`);
    const serverOptions: ServerOptions = {
      command: lookup.found.path,
      args: [],
      transport: TransportKind.stdio,
    };
    const clientOptions: LanguageClientOptions = {
      // Every file: code actions on any diagnostic, and the open text of any file for tasks.
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      outputChannel: redactingChannel(this.output, this.secretValues, () => !this.disposed),
      traceOutputChannel: redactingChannel(this.output, this.secretValues, () => !this.disposed),
      initializationOptions: serverSettings(this.groups),
      synchronize: { configurationSection: "openhands" },
      middleware: {
        // A code action runs its server command through VS Code's command registry, whose answer nobody reads:
        // the conversation it started is shown, as after the palette's commands.
        executeCommand: async (command, args, next) => {
          const result: unknown = await next(command, args);
          const started = result as Partial<StartResult> | undefined;
          if (STARTING_COMMANDS.includes(command) && started?.conversationId && started.conversation) {
            this.store.upsert(started.conversation);
            this.startedEmitter.fire(started.conversationId);
          }
          return result;
        },
        workspace: {
          configuration: async (params, token, next) => {
            // The server's section without the extension's own settings.
            const answer = await next(params, token);
            return Array.isArray(answer)
              ? answer.map((v: unknown, i) => (params.items[i]?.section === "openhands" ? serverSettings(this.groups) : v))
              : answer;
          },
        },
      },
    };
    const client = new LanguageClient("openhands", "OpenHands", serverOptions, clientOptions);
    this.client = client;
    client.onNotification(Notification.status, (p: StatusParams) => this.statusEmitter.fire(p));
    client.onNotification(Notification.event, (e: AgentEvent) => this.eventEmitter.fire(e));
    client.onNotification(Notification.checkpoint, (p: { conversationId: string }) =>
      this.checkpointEmitter.fire(p.conversationId),
    );
    client.onNotification(Notification.conversationChanged, (c: Conversation) => this.store.upsert(c));
    client.onDidChangeState((e) => void this.onStateChange(client, e.newState));
    try {
      await client.start();
    } catch (e) {
      this.client = undefined;
      return this.fail(`openhands-lsp (${lookup.found.path}) did not start: ${message(e)}`);
    }
    this.problem = undefined;
    const info = client.initializeResult?.serverInfo;
    this.serverEmitter.fire({ ...lookup.found, version: info?.version ?? "unknown" });
    await this.afterStart();
    this.everStarted = true;
    return true;
  }

  /** A new server process knows nothing yet: it gets the secrets, and the list is read again. */
  private async afterStart(): Promise<void> {
    await this.pushAllSecrets();
    await this.loadConversations().catch((e: unknown) => this.output.warn(`listConversations: ${message(e)}`));
  }

  private async onStateChange(client: LanguageClient, state: State): Promise<void> {
    if (client !== this.client || this.busy) {
      return;
    }
    if (state === State.Running && this.everStarted) {
      // The language client restarted a server that crashed.
      this.output.warn("the server was restarted after it stopped unexpectedly");
      await this.afterStart();
    } else if (state === State.Stopped && this.everStarted) {
      this.statusEmitter.fire({
        busy: false,
        kind: "error",
        message: "the server stopped. Run OpenHands: Restart Server, and see OpenHands: Show Logs for why.",
      });
    }
  }

  private fail(problem: string): false {
    this.problem = problem;
    this.output.error(problem);
    this.statusEmitter.fire({ busy: false, kind: "error", message: problem });
    void vscode.window.showErrorMessage(`OpenHands: ${problem}`, "Open Settings", "Show Logs").then((choice) => {
      if (choice === "Open Settings") {
        // The path is a machine's (scope machine-overridable): in a remote window (Remote-SSH, WSL, Codespaces,
        // code-server) it is set in the remote's settings, where the user-settings tab shows nothing.
        const where = vscode.env.remoteName ? "workbench.action.openRemoteSettings" : "workbench.action.openSettings";
        void vscode.commands.executeCommand(where, { query: "openhands.server.path" });
      } else if (choice === "Show Logs") {
        this.output.show();
      }
    });
    return false;
  }

  async restart(): Promise<boolean> {
    await this.stop();
    return this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client && client.state !== State.Stopped) {
      this.busy = true;
      try {
        await client.stop().catch((e: unknown) => {
          if (!this.disposed) {
            this.output.warn(`stopping the server: ${message(e)}`);
          }
        });
      } finally {
        this.busy = false;
      }
    }
  }

  /** Whether the running server implements `command` (newer commands are used only when it does). */
  supports(command: string): boolean {
    return this.client?.initializeResult?.capabilities.executeCommandProvider?.commands.includes(command) ?? false;
  }

  /** Runs one of the server's commands with its single object argument, once a start in progress is done (a
   * command run as VS Code opens would otherwise find the server not running yet). */
  async execute<T>(command: string, args: object = {}): Promise<T> {
    await this.starting;
    return this.send<T>(command, args);
  }

  /** `execute` without waiting for the start: the start's own requests. */
  private async send<T>(command: string, args: object = {}): Promise<T> {
    const client = this.client;
    if (!client || client.state !== State.Running) {
      throw new Error(this.problem ?? "the OpenHands server is not running (OpenHands: Restart Server)");
    }
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [args] })) as T;
  }

  async refreshConversations(): Promise<void> {
    await this.starting;
    await this.loadConversations();
  }

  private async loadConversations(): Promise<void> {
    const { conversations } = await this.send<{ conversations: Conversation[] }>(ServerCommand.listConversations);
    this.store.replaceAll(conversations);
  }

  /** Ours, and the MCP servers' secrets set in this VS Code. */
  private secretNames(): string[] {
    return [...SecretNames, ...this.context.globalState.get<string[]>(MCP_SECRET_NAMES, [])];
  }

  private async pushAllSecrets(): Promise<void> {
    for (const name of this.secretNames()) {
      const value = await this.context.secrets.get(secretKey(name));
      if (value) {
        await this.storeSecret(name, value);
      }
    }
  }

  async pushSecret(name: SecretName | string, value: string): Promise<void> {
    await this.starting;
    await this.storeSecret(name, value);
  }

  private async storeSecret(name: SecretName | string, value: string): Promise<void> {
    this.secretValues.add(value);
    this.pushed.set(name, value);
    try {
      await this.send(ServerCommand.setSecret, { name, value });
    } catch (e) {
      // Never the value: only the name and the server's answer.
      this.output.warn(`setSecret ${name}: ${message(e)}`);
    }
  }

  /** The LSP converters, for ranges in the negotiated encoding. */
  get converter() {
    return this.client?.code2ProtocolConverter;
  }

  dispose(): void {
    this.disposed = true;
    void this.stop();
    this.statusEmitter.dispose();
    this.eventEmitter.dispose();
    this.checkpointEmitter.dispose();
    this.serverEmitter.dispose();
    this.startedEmitter.dispose();
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

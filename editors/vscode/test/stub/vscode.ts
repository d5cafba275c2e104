// A faithful stub of the `vscode` module for tests under `node --test` (VS Code itself cannot run here): the API
// shapes and behaviours the extension and vscode-languageclient use, with the user's side scripted through `stub`.
// Uri is the real one (vscode-uri is VS Code's own implementation); configuration falls back to the defaults in
// package.json as VS Code's does; `workspace.applyEdit` really edits the files; registering a command twice throws
// as in VS Code.
/* eslint-disable @typescript-eslint/no-explicit-any */
import * as fs from "node:fs";
import * as path from "node:path";
import { URI, Utils } from "vscode-uri";

// ---- basics -------------------------------------------------------------------------------------------------------

export class Disposable {
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((d) => d.dispose()));
  }
  private fn: (() => unknown) | undefined;
  constructor(fn: () => unknown) {
    this.fn = fn;
  }
  dispose(): void {
    const fn = this.fn;
    this.fn = undefined;
    fn?.();
  }
}

export type Event<T> = (listener: (e: T) => unknown, thisArgs?: unknown, disposables?: Disposable[]) => Disposable;

export class EventEmitter<T> {
  private listeners = new Set<(e: T) => unknown>();
  readonly event: Event<T> = (listener, thisArgs, disposables) => {
    const bound = (e: T) => listener.call(thisArgs, e);
    this.listeners.add(bound);
    const d = new Disposable(() => this.listeners.delete(bound));
    disposables?.push(d);
    return d;
  };
  fire(data: T): void {
    for (const l of [...this.listeners]) {
      try {
        l(data);
      } catch (e) {
        stub.listenerErrors.push(e);
      }
    }
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class CancellationError extends Error {
  constructor() {
    super("Canceled");
    this.name = "Canceled";
  }
}

export class CancellationTokenSource {
  private emitter = new EventEmitter<void>();
  private cancelled = false;
  readonly token = {
    isCancellationRequested: false,
    onCancellationRequested: this.emitter.event,
  };
  cancel(): void {
    if (!this.cancelled) {
      this.cancelled = true;
      this.token.isCancellationRequested = true;
      this.emitter.fire();
    }
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

export class Uri extends URI {
  static override parse(value: string, strict?: boolean): Uri {
    return URI.parse(value, strict) as Uri;
  }
  static override file(p: string): Uri {
    return URI.file(p) as Uri;
  }
  static override from(components: { scheme: string; authority?: string; path?: string; query?: string; fragment?: string }): Uri {
    return URI.from(components) as Uri;
  }
  static joinPath(base: URI, ...segments: string[]): Uri {
    return Utils.joinPath(base, ...segments) as Uri;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {
    if (line < 0 || character < 0) {
      throw new Error("Illegal argument: line and character must be non-negative");
    }
  }
  isBefore(o: Position): boolean {
    return this.line < o.line || (this.line === o.line && this.character < o.character);
  }
  isBeforeOrEqual(o: Position): boolean {
    return this.isBefore(o) || this.isEqual(o);
  }
  isAfter(o: Position): boolean {
    return !this.isBeforeOrEqual(o);
  }
  isAfterOrEqual(o: Position): boolean {
    return !this.isBefore(o);
  }
  isEqual(o: Position): boolean {
    return this.line === o.line && this.character === o.character;
  }
  compareTo(o: Position): number {
    return this.isBefore(o) ? -1 : this.isEqual(o) ? 0 : 1;
  }
  translate(lineDelta = 0, characterDelta = 0): Position {
    return new Position(this.line + lineDelta, this.character + characterDelta);
  }
  with(line = this.line, character = this.character): Position {
    return new Position(line, character);
  }
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    const [s, e] =
      typeof a === "number" ? [new Position(a, b as number), new Position(c as number, d as number)] : [a, b as Position];
    [this.start, this.end] = s.isBeforeOrEqual(e) ? [s, e] : [e, s];
  }
  get isEmpty(): boolean {
    return this.start.isEqual(this.end);
  }
  get isSingleLine(): boolean {
    return this.start.line === this.end.line;
  }
  contains(p: Position | Range): boolean {
    return p instanceof Range
      ? this.contains(p.start) && this.contains(p.end)
      : p.isAfterOrEqual(this.start) && p.isBeforeOrEqual(this.end);
  }
  isEqual(o: Range): boolean {
    return this.start.isEqual(o.start) && this.end.isEqual(o.end);
  }
  with(start = this.start, end = this.end): Range {
    return new Range(start, end);
  }
}

export class Selection extends Range {
  constructor(
    readonly anchor: Position,
    readonly active: Position,
  ) {
    super(anchor, active);
  }
  get isReversed(): boolean {
    return this.active.isBefore(this.anchor);
  }
}

export class Location {
  constructor(
    readonly uri: Uri,
    readonly range: Range,
  ) {}
}

export enum DiagnosticSeverity {
  Error = 0,
  Warning = 1,
  Information = 2,
  Hint = 3,
}
export enum DiagnosticTag {
  Unnecessary = 1,
  Deprecated = 2,
}
export class DiagnosticRelatedInformation {
  constructor(
    readonly location: Location,
    readonly message: string,
  ) {}
}
export class Diagnostic {
  source?: string;
  code?: string | number | { value: string | number; target: Uri };
  relatedInformation?: DiagnosticRelatedInformation[];
  tags?: DiagnosticTag[];
  constructor(
    public range: Range,
    public message: string,
    public severity: DiagnosticSeverity = DiagnosticSeverity.Error,
  ) {}
}

export class TextEdit {
  static replace(range: Range, newText: string): TextEdit {
    return new TextEdit(range, newText);
  }
  static insert(position: Position, newText: string): TextEdit {
    return new TextEdit(new Range(position, position), newText);
  }
  static delete(range: Range): TextEdit {
    return new TextEdit(range, "");
  }
  constructor(
    public range: Range,
    public newText: string,
  ) {}
}

export interface WorkspaceEditEntryMetadata {
  needsConfirmation: boolean;
  label: string;
  description?: string;
}

type FileOp =
  | { kind: "create"; uri: Uri; options?: { overwrite?: boolean; ignoreIfExists?: boolean }; metadata?: WorkspaceEditEntryMetadata }
  | { kind: "delete"; uri: Uri; options?: { recursive?: boolean; ignoreIfNotExists?: boolean }; metadata?: WorkspaceEditEntryMetadata }
  | { kind: "rename"; from: Uri; to: Uri; options?: { overwrite?: boolean }; metadata?: WorkspaceEditEntryMetadata };

export class WorkspaceEdit {
  /** In order: text edits and file operations, as VS Code keeps them. */
  readonly operations: ({ kind: "text"; uri: Uri; edit: TextEdit; metadata?: WorkspaceEditEntryMetadata } | FileOp)[] = [];
  get size(): number {
    return new Set(this.operations.map((o) => (o.kind === "rename" ? o.from.toString() : o.uri.toString()))).size;
  }
  replace(uri: Uri, range: Range, newText: string, metadata?: WorkspaceEditEntryMetadata): void {
    this.operations.push({ kind: "text", uri, edit: new TextEdit(range, newText), metadata });
  }
  insert(uri: Uri, position: Position, newText: string, metadata?: WorkspaceEditEntryMetadata): void {
    this.replace(uri, new Range(position, position), newText, metadata);
  }
  delete(uri: Uri, range: Range, metadata?: WorkspaceEditEntryMetadata): void {
    this.replace(uri, range, "", metadata);
  }
  set(uri: Uri, edits: (TextEdit | [TextEdit, WorkspaceEditEntryMetadata])[]): void {
    for (const e of edits) {
      const [edit, metadata] = Array.isArray(e) ? e : [e, undefined];
      this.operations.push({ kind: "text", uri, edit, metadata });
    }
  }
  has(uri: Uri): boolean {
    return this.operations.some((o) => o.kind === "text" && o.uri.toString() === uri.toString());
  }
  get(uri: Uri): TextEdit[] {
    return this.operations.flatMap((o) => (o.kind === "text" && o.uri.toString() === uri.toString() ? [o.edit] : []));
  }
  entries(): [Uri, TextEdit[]][] {
    const map = new Map<string, [Uri, TextEdit[]]>();
    for (const o of this.operations) {
      if (o.kind === "text") {
        const entry = map.get(o.uri.toString()) ?? [o.uri, []];
        entry[1].push(o.edit);
        map.set(o.uri.toString(), entry);
      }
    }
    return [...map.values()];
  }
  createFile(uri: Uri, options?: { overwrite?: boolean; ignoreIfExists?: boolean }, metadata?: WorkspaceEditEntryMetadata): void {
    this.operations.push({ kind: "create", uri, options, metadata });
  }
  deleteFile(uri: Uri, options?: { recursive?: boolean; ignoreIfNotExists?: boolean }, metadata?: WorkspaceEditEntryMetadata): void {
    this.operations.push({ kind: "delete", uri, options, metadata });
  }
  renameFile(from: Uri, to: Uri, options?: { overwrite?: boolean }, metadata?: WorkspaceEditEntryMetadata): void {
    this.operations.push({ kind: "rename", from, to, options, metadata });
  }
}

export class CodeActionKind {
  static readonly Empty = new CodeActionKind("");
  static readonly QuickFix = new CodeActionKind("quickfix");
  static readonly Refactor = new CodeActionKind("refactor");
  static readonly RefactorExtract = new CodeActionKind("refactor.extract");
  static readonly RefactorInline = new CodeActionKind("refactor.inline");
  static readonly RefactorMove = new CodeActionKind("refactor.move");
  static readonly RefactorRewrite = new CodeActionKind("refactor.rewrite");
  static readonly Source = new CodeActionKind("source");
  static readonly SourceOrganizeImports = new CodeActionKind("source.organizeImports");
  static readonly SourceFixAll = new CodeActionKind("source.fixAll");
  static readonly Notebook = new CodeActionKind("notebook");
  constructor(readonly value: string) {}
  append(part: string): CodeActionKind {
    return new CodeActionKind(this.value ? `${this.value}.${part}` : part);
  }
  contains(other: CodeActionKind): boolean {
    return this.value === "" || other.value === this.value || other.value.startsWith(this.value + ".");
  }
  intersects(other: CodeActionKind): boolean {
    return this.contains(other) || other.contains(this);
  }
}
export enum CodeActionTriggerKind {
  Invoke = 1,
  Automatic = 2,
}
export class CodeAction {
  command?: { title: string; command: string; arguments?: unknown[] };
  diagnostics?: Diagnostic[];
  edit?: WorkspaceEdit;
  isPreferred?: boolean;
  disabled?: { reason: string };
  constructor(
    public title: string,
    public kind?: CodeActionKind,
  ) {}
}

export class MarkdownString {
  isTrusted?: boolean;
  supportHtml?: boolean;
  supportThemeIcons?: boolean;
  constructor(public value = "") {}
  appendText(text: string): MarkdownString {
    this.value += text.replace(/[\\`*_{}[\]()#+\-.!]/g, "\\$&");
    return this;
  }
  appendMarkdown(text: string): MarkdownString {
    this.value += text;
    return this;
  }
  appendCodeblock(code: string, language = ""): MarkdownString {
    this.value += `\n\`\`\`${language}\n${code}\n\`\`\`\n`;
    return this;
  }
}

export class ThemeIcon {
  static readonly File = new ThemeIcon("file");
  static readonly Folder = new ThemeIcon("folder");
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}
export class ThemeColor {
  constructor(readonly id: string) {}
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}
export class TreeItem {
  id?: string;
  description?: string | boolean;
  tooltip?: string | MarkdownString;
  iconPath?: ThemeIcon | Uri;
  contextValue?: string;
  resourceUri?: Uri;
  command?: { title: string; command: string; arguments?: unknown[] };
  label?: string;
  constructor(
    labelOrUri: string | Uri,
    public collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {
    if (typeof labelOrUri === "string") {
      this.label = labelOrUri;
    } else {
      this.resourceUri = labelOrUri;
    }
  }
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}
export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
  Two = 2,
  Three = 3,
}
export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}
export enum LogLevel {
  Off = 0,
  Trace = 1,
  Debug = 2,
  Info = 3,
  Warning = 4,
  Error = 5,
}
export enum TextDocumentSaveReason {
  Manual = 1,
  AfterDelay = 2,
  FocusOut = 3,
}
export enum EndOfLine {
  LF = 1,
  CRLF = 2,
}
export enum UIKind {
  Desktop = 1,
  Web = 2,
}
export class RelativePattern {
  constructor(
    readonly base: Uri | string,
    readonly pattern: string,
  ) {}
}
export class SnippetString {
  constructor(public value = "") {}
}
// Tab inputs: classes for the language client's `instanceof` checks.
export class TabInputText {
  constructor(readonly uri: Uri) {}
}
export class TabInputTextDiff {
  constructor(
    readonly original: Uri,
    readonly modified: Uri,
  ) {}
}
export class TabInputNotebook {
  constructor(
    readonly uri: Uri,
    readonly notebookType: string,
  ) {}
}
export class TabInputCustom {
  constructor(
    readonly uri: Uri,
    readonly viewType: string,
  ) {}
}
// Classes the language client extends at load time; this server's features never construct them.
// eslint-disable-next-line @typescript-eslint/no-extraneous-class
class Unused {
  constructor(...args: unknown[]) {
    stub.unexpected.push(`${new.target.name}(${args.length} arguments)`);
  }
}
export class CallHierarchyItem extends Unused {}
export class CodeLens extends Unused {}
export class CompletionItem extends Unused {}
export class DocumentLink extends Unused {}
export class InlayHint extends Unused {}
export class SymbolInformation extends Unused {}
export class TypeHierarchyItem extends Unused {}

export const version = "1.91.0";

// ---- documents ----------------------------------------------------------------------------------------------------

export class TextDocument {
  version = 1;
  isDirty = false;
  isClosed = false;
  readonly eol = EndOfLine.LF;
  readonly isUntitled: boolean;
  constructor(
    readonly uri: Uri,
    private text: string,
    readonly languageId = "plaintext",
  ) {
    this.isUntitled = uri.scheme === "untitled";
  }
  get fileName(): string {
    return this.uri.fsPath;
  }
  get lineCount(): number {
    return this.text.split("\n").length;
  }
  getText(range?: Range): string {
    return range ? this.text.slice(this.offsetAt(range.start), this.offsetAt(range.end)) : this.text;
  }
  offsetAt(p: Position): number {
    const lines = this.text.split("\n");
    let offset = 0;
    for (let i = 0; i < Math.min(p.line, lines.length); i++) {
      offset += (lines[i] as string).length + 1;
    }
    const line = lines[p.line] ?? "";
    return Math.min(offset + Math.min(p.character, line.length), this.text.length);
  }
  positionAt(offset: number): Position {
    const before = this.text.slice(0, Math.max(0, offset)).split("\n");
    return new Position(before.length - 1, (before[before.length - 1] as string).length);
  }
  lineAt(line: number): { text: string; lineNumber: number; range: Range } {
    const text = this.text.split("\n")[line] ?? "";
    return { text, lineNumber: line, range: new Range(line, 0, line, text.length) };
  }
  validateRange(r: Range): Range {
    return r;
  }
  validatePosition(p: Position): Position {
    return p;
  }
  async save(): Promise<boolean> {
    if (this.uri.scheme === "file") {
      fs.writeFileSync(this.uri.fsPath, this.text);
    }
    this.isDirty = false;
    return true;
  }
  /** Applies edits as the editor would (one version bump). */
  applyEdits(edits: TextEdit[]): void {
    const sorted = [...edits].sort((a, b) => b.range.start.compareTo(a.range.start));
    let text = this.text;
    for (const e of sorted) {
      text = text.slice(0, this.offsetAt(e.range.start)) + e.newText + text.slice(this.offsetAt(e.range.end));
    }
    this.text = text;
    this.version += 1;
    this.isDirty = this.uri.scheme === "file";
  }
}

// ---- what the test scripts and observes -----------------------------------------------------------------------------

type Answer<A extends unknown[], R> = R | ((...args: A) => R | Promise<R>);

interface ProgressRecord {
  options: { location: unknown; title?: string; cancellable?: boolean };
  reports: { message?: string; increment?: number }[];
  done: boolean;
  cancel(): void;
}

interface MessageRecord {
  level: "info" | "warning" | "error";
  message: string;
  items: string[];
  modal: boolean;
}

export interface StubWebviewPanel {
  viewType: string;
  title: string;
  html: string;
  posted: unknown[];
  disposed: boolean;
  /** Simulates the webview's script posting a message. */
  receive(message: unknown): void;
}

export const stub = {
  /** Answers for the next prompts, in order; each a value or a function of the prompt's arguments. */
  inputBoxAnswers: [] as Answer<[any], string | undefined>[],
  quickPickAnswers: [] as Answer<[any[], any], any>[],
  /** Picks a message's button; default: none (dismissed). */
  messageAnswer: undefined as ((m: MessageRecord) => string | undefined) | undefined,
  /** Whether the user accepts the refactor preview of an edit that needs confirmation. */
  acceptRefactorPreview: true,
  messages: [] as MessageRecord[],
  inputBoxes: [] as any[],
  quickPicks: [] as { items: any[]; options: any }[],
  progress: [] as ProgressRecord[],
  executed: [] as { command: string; args: unknown[] }[],
  appliedEdits: [] as { edit: WorkspaceEdit; metadata: unknown; needsConfirmation: boolean; accepted: boolean }[],
  webviews: [] as StubWebviewPanel[],
  statusBarItems: [] as any[],
  treeViews: new Map<string, { treeDataProvider: any }>(),
  serializers: new Map<string, unknown>(),
  contentProviders: new Map<string, any>(),
  codeActionProviders: [] as { selector: unknown; provider: any }[],
  outputLines: [] as string[],
  openedExternal: [] as string[],
  listenerErrors: [] as unknown[],
  /** The log level of output channels created from now on ("Developer: Set Log Level"). */
  logLevel: LogLevel.Info,
  /** API the stub does not model that was used anyway. */
  unexpected: [] as string[],
  /** Settings as the user set them (`openhands.backend` → value); the rest come from package.json defaults. */
  settings: new Map<string, unknown>(),
  defaults: new Map<string, unknown>(),
  /** Loads the defaults of `contributes.configuration` from a manifest, as VS Code does. */
  loadManifestDefaults(packageJSON: any): void {
    const props = packageJSON.contributes?.configuration?.properties ?? {};
    for (const [key, spec] of Object.entries<any>(props)) {
      this.defaults.set(key, spec.default);
    }
  },
  setWorkspaceFolders(paths: string[]): void {
    workspace.workspaceFolders = paths.map((p, index) => ({ uri: Uri.file(p), name: path.basename(p), index }));
    workspaceFoldersEmitter.fire({ added: workspace.workspaceFolders, removed: [] });
  },
  reset(): void {
    this.inputBoxAnswers.length = 0;
    this.quickPickAnswers.length = 0;
    this.messageAnswer = undefined;
    this.messages.length = 0;
    this.inputBoxes.length = 0;
    this.quickPicks.length = 0;
    this.executed.length = 0;
  },
};

async function answer<A extends unknown[], R>(queue: Answer<A, R>[], args: A): Promise<R | undefined> {
  const next = queue.shift();
  if (next === undefined) {
    return undefined;
  }
  return typeof next === "function" ? (next as (...a: A) => R | Promise<R>)(...args) : next;
}

// ---- commands -----------------------------------------------------------------------------------------------------

const registeredCommands = new Map<string, (...args: any[]) => unknown>();

export const commands = {
  registerCommand(id: string, fn: (...args: any[]) => unknown, thisArg?: unknown): Disposable {
    if (registeredCommands.has(id)) {
      throw new Error(`command '${id}' already exists`);
    }
    registeredCommands.set(id, thisArg ? fn.bind(thisArg) : fn);
    return new Disposable(() => registeredCommands.delete(id));
  },
  async executeCommand<T>(id: string, ...args: unknown[]): Promise<T> {
    stub.executed.push({ command: id, args });
    const fn = registeredCommands.get(id);
    if (fn) {
      return (await fn(...args)) as T;
    }
    // Built-in commands the extension uses: recorded only (vscode.diff, focus, settings).
    if (id === "vscode.diff" || id.startsWith("workbench.") || id.endsWith(".focus") || id === "setContext") {
      return undefined as T;
    }
    throw new Error(`command '${id}' not found`);
  },
  async getCommands(): Promise<string[]> {
    return [...registeredCommands.keys()];
  },
  /** For tests: the ids registered so far. */
  registered(): string[] {
    return [...registeredCommands.keys()];
  },
};

// ---- window -------------------------------------------------------------------------------------------------------

function showMessage(level: MessageRecord["level"]) {
  return async (message: string, ...rest: any[]): Promise<any> => {
    const options = rest.length > 0 && typeof rest[0] === "object" && !("title" in rest[0]) ? rest.shift() : {};
    const items: any[] = rest;
    const record: MessageRecord = {
      level,
      message,
      items: items.map((i) => (typeof i === "string" ? i : i.title)),
      modal: !!options?.modal,
    };
    stub.messages.push(record);
    const title = stub.messageAnswer?.(record);
    return title === undefined ? undefined : items.find((i) => (typeof i === "string" ? i : i.title) === title);
  };
}

function outputChannel(name: string, log: boolean): any {
  const line = (level: string) => (msg: string, ...args: unknown[]) =>
    stub.outputLines.push(`[${name}] ${level ? level + " " : ""}${[msg, ...args.map(String)].join(" ")}`);
  const levelEmitter = new EventEmitter<LogLevel>();
  return {
    name,
    logLevel: stub.logLevel,
    onDidChangeLogLevel: levelEmitter.event,
    append: line(""),
    appendLine: line(""),
    replace: line(""),
    clear() {},
    show() {
      stub.executed.push({ command: `output.show:${name}`, args: [] });
    },
    hide() {},
    dispose() {},
    ...(log ? { trace: line("trace"), debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") } : {}),
  };
}

const activeEditorEmitter = new EventEmitter<any>();
const visibleEditorsEmitter = new EventEmitter<any[]>();

export const window = {
  activeTextEditor: undefined as any,
  visibleTextEditors: [] as any[],
  onDidChangeActiveTextEditor: activeEditorEmitter.event,
  onDidChangeVisibleTextEditors: visibleEditorsEmitter.event,
  onDidChangeWindowState: new EventEmitter<any>().event,
  state: { focused: true, active: true },
  tabGroups: {
    all: [] as any[],
    activeTabGroup: { tabs: [] as any[], isActive: true, viewColumn: ViewColumn.One, activeTab: undefined },
    onDidChangeTabs: new EventEmitter<any>().event,
    onDidChangeTabGroups: new EventEmitter<any>().event,
    close: async () => true,
  },
  showInformationMessage: showMessage("info"),
  showWarningMessage: showMessage("warning"),
  showErrorMessage: showMessage("error"),
  async showInputBox(options: any = {}): Promise<string | undefined> {
    stub.inputBoxes.push(options);
    const value = await answer(stub.inputBoxAnswers, [options]);
    // VS Code does not accept a value its validator rejects.
    if (value !== undefined && options.validateInput && (await options.validateInput(value))) {
      return undefined;
    }
    return value;
  },
  async showQuickPick(items: any, options: any = {}): Promise<any> {
    const resolved = await items;
    stub.quickPicks.push({ items: resolved, options });
    return answer(stub.quickPickAnswers, [resolved, options]);
  },
  async withProgress<R>(options: any, task: (progress: any, token: any) => Promise<R>): Promise<R> {
    const cts = new CancellationTokenSource();
    const record: ProgressRecord = { options, reports: [], done: false, cancel: () => cts.cancel() };
    stub.progress.push(record);
    try {
      return await task({ report: (value: any) => record.reports.push(value) }, cts.token);
    } finally {
      record.done = true;
    }
  },
  createOutputChannel(name: string, options?: string | { log: true }): any {
    return outputChannel(name, typeof options === "object" && options.log);
  },
  createStatusBarItem(...args: any[]): any {
    const [id, alignment, priority] = typeof args[0] === "string" ? args : [undefined, ...args];
    let text = "";
    const item = {
      id, alignment, priority, tooltip: undefined, command: undefined, name: undefined, backgroundColor: undefined, visible: false,
      /** Every text it showed, in order. */
      texts: [] as string[],
      get text() {
        return text;
      },
      set text(t: string) {
        text = t;
        item.texts.push(t);
      },
      show() { item.visible = true; }, hide() { item.visible = false; }, dispose() { item.visible = false; },
    };
    stub.statusBarItems.push(item);
    return item;
  },
  createTreeView(id: string, options: { treeDataProvider: any }): any {
    stub.treeViews.set(id, options);
    return { visible: true, onDidChangeVisibility: new EventEmitter<any>().event, onDidChangeSelection: new EventEmitter<any>().event, reveal: async () => undefined, dispose: () => stub.treeViews.delete(id) };
  },
  registerTreeDataProvider(id: string, treeDataProvider: any): Disposable {
    stub.treeViews.set(id, { treeDataProvider });
    return new Disposable(() => stub.treeViews.delete(id));
  },
  registerWebviewPanelSerializer(viewType: string, serializer: unknown): Disposable {
    stub.serializers.set(viewType, serializer);
    return new Disposable(() => stub.serializers.delete(viewType));
  },
  createWebviewPanel(viewType: string, title: string, showOptions: any, options: any = {}): any {
    const received = new EventEmitter<unknown>();
    const disposed = new EventEmitter<void>();
    const record: StubWebviewPanel = {
      viewType,
      title,
      html: "",
      posted: [],
      disposed: false,
      receive: (m) => received.fire(m),
    };
    stub.webviews.push(record);
    const panel = {
      viewType,
      get title() {
        return record.title;
      },
      set title(t: string) {
        record.title = t;
      },
      iconPath: undefined as unknown,
      options,
      viewColumn: typeof showOptions === "object" ? showOptions.viewColumn : showOptions,
      active: !(typeof showOptions === "object" && showOptions.preserveFocus),
      visible: true,
      webview: {
        options,
        cspSource: "vscode-webview-resource:",
        get html() {
          return record.html;
        },
        set html(h: string) {
          record.html = h;
          // As the real view's script does once its document has loaded.
          setImmediate(() => received.fire({ type: "ready" }));
        },
        asWebviewUri: (uri: Uri) => uri.with({ scheme: "vscode-webview-resource" }),
        postMessage: async (m: unknown) => {
          record.posted.push(m);
          return !record.disposed;
        },
        onDidReceiveMessage: received.event,
      },
      onDidDispose: disposed.event,
      onDidChangeViewState: new EventEmitter<any>().event,
      reveal(_column?: ViewColumn, preserveFocus?: boolean) {
        panel.active = !preserveFocus;
      },
      dispose() {
        if (!record.disposed) {
          record.disposed = true;
          disposed.fire();
        }
      },
    };
    return panel;
  },
  async showTextDocument(docOrUri: TextDocument | Uri, options?: any): Promise<any> {
    const doc = docOrUri instanceof TextDocument ? docOrUri : await workspace.openTextDocument(docOrUri);
    const selection = options?.selection ? new Selection(options.selection.start, options.selection.end) : new Selection(new Position(0, 0), new Position(0, 0));
    const editor = { document: doc, selection, selections: [selection], visibleRanges: [], viewColumn: ViewColumn.One, options: {} };
    window.activeTextEditor = editor;
    window.visibleTextEditors = [editor];
    activeEditorEmitter.fire(editor);
    visibleEditorsEmitter.fire(window.visibleTextEditors);
    return editor;
  },
};

// ---- workspace ----------------------------------------------------------------------------------------------------

const workspaceFoldersEmitter = new EventEmitter<any>();
const configurationEmitter = new EventEmitter<{ affectsConfiguration(section: string): boolean }>();
const openEmitter = new EventEmitter<TextDocument>();
const closeEmitter = new EventEmitter<TextDocument>();
const changeEmitter = new EventEmitter<any>();
const saveEmitter = new EventEmitter<TextDocument>();

function settingValue(key: string): unknown {
  if (stub.settings.has(key)) {
    return stub.settings.get(key);
  }
  if (stub.defaults.has(key)) {
    return stub.defaults.get(key);
  }
  // A section: the nested object of every key under it, as VS Code builds it.
  const prefix = key + ".";
  const keys = new Set([...stub.defaults.keys(), ...stub.settings.keys()].filter((k) => k.startsWith(prefix)));
  if (keys.size === 0) {
    return undefined;
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const parts = k.slice(prefix.length).split(".");
    let node: any = out;
    for (const p of parts.slice(0, -1)) {
      node = node[p] ??= {};
    }
    node[parts[parts.length - 1] as string] = settingValue(k);
  }
  return out;
}

export const workspace = {
  workspaceFolders: undefined as { uri: Uri; name: string; index: number }[] | undefined,
  get name(): string | undefined {
    return workspace.workspaceFolders?.[0]?.name;
  },
  textDocuments: [] as TextDocument[],
  notebookDocuments: [] as any[],
  isTrusted: true,
  onDidChangeWorkspaceFolders: workspaceFoldersEmitter.event,
  onDidChangeConfiguration: configurationEmitter.event,
  onDidOpenTextDocument: openEmitter.event,
  onDidCloseTextDocument: closeEmitter.event,
  onDidChangeTextDocument: changeEmitter.event,
  onDidSaveTextDocument: saveEmitter.event,
  onWillSaveTextDocument: new EventEmitter<any>().event,
  onDidCreateFiles: new EventEmitter<any>().event,
  onDidDeleteFiles: new EventEmitter<any>().event,
  onDidRenameFiles: new EventEmitter<any>().event,
  onWillCreateFiles: new EventEmitter<any>().event,
  onWillDeleteFiles: new EventEmitter<any>().event,
  onWillRenameFiles: new EventEmitter<any>().event,
  getWorkspaceFolder(uri: Uri) {
    return workspace.workspaceFolders?.find((f) => uri.fsPath === f.uri.fsPath || uri.fsPath.startsWith(f.uri.fsPath + path.sep));
  },
  getConfiguration(section?: string, _scope?: unknown) {
    const full = (key: string) => (section ? `${section}.${key}` : key);
    return {
      get<T>(key: string, defaultValue?: T): T | undefined {
        const v = settingValue(full(key));
        return (v === undefined ? defaultValue : v) as T | undefined;
      },
      has(key: string): boolean {
        return settingValue(full(key)) !== undefined;
      },
      inspect(key: string) {
        return { key: full(key), defaultValue: stub.defaults.get(full(key)), globalValue: stub.settings.get(full(key)) };
      },
      async update(key: string, value: unknown): Promise<void> {
        const k = full(key);
        if (value === undefined) {
          stub.settings.delete(k);
        } else {
          stub.settings.set(k, value);
        }
        configurationEmitter.fire({ affectsConfiguration: (s: string) => k === s || k.startsWith(s + ".") || s.startsWith(k + ".") });
      },
    };
  },
  createFileSystemWatcher(): any {
    const e = () => new EventEmitter<Uri>().event;
    return { onDidCreate: e(), onDidChange: e(), onDidDelete: e(), dispose() {}, ignoreCreateEvents: false, ignoreChangeEvents: false, ignoreDeleteEvents: false };
  },
  registerTextDocumentContentProvider(scheme: string, provider: any): Disposable {
    stub.contentProviders.set(scheme, provider);
    return new Disposable(() => stub.contentProviders.delete(scheme));
  },
  async openTextDocument(arg: Uri | string | { content?: string; language?: string }): Promise<TextDocument> {
    const uri = arg instanceof URI ? (arg as Uri) : typeof arg === "string" ? Uri.file(arg) : undefined;
    const open = uri && workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (open) {
      return open;
    }
    let doc: TextDocument;
    if (!uri) {
      const a = arg as { content?: string; language?: string };
      doc = new TextDocument(Uri.from({ scheme: "untitled", path: `Untitled-${workspace.textDocuments.length + 1}` }), a.content ?? "", a.language);
    } else if (uri.scheme === "file") {
      doc = new TextDocument(uri, fs.readFileSync(uri.fsPath, "utf8"), languageOf(uri));
    } else {
      const provider = stub.contentProviders.get(uri.scheme);
      if (!provider) {
        throw new Error(`cannot open ${uri.toString()}: no content provider for ${uri.scheme}`);
      }
      doc = new TextDocument(uri, (await provider.provideTextDocumentContent(uri, new CancellationTokenSource().token)) ?? "");
    }
    workspace.textDocuments.push(doc);
    openEmitter.fire(doc);
    return doc;
  },
  async applyEdit(edit: WorkspaceEdit, metadata?: { isRefactoring?: boolean }): Promise<boolean> {
    const needsConfirmation = edit.operations.some((o) => o.metadata?.needsConfirmation);
    // Edits that need confirmation go through the refactor preview first; the user may cancel it.
    const accepted = !needsConfirmation || stub.acceptRefactorPreview;
    stub.appliedEdits.push({ edit, metadata, needsConfirmation, accepted });
    if (!accepted) {
      return false;
    }
    for (const op of edit.operations) {
      if (op.kind === "create") {
        if (!(fs.existsSync(op.uri.fsPath) && op.options?.ignoreIfExists)) {
          fs.mkdirSync(path.dirname(op.uri.fsPath), { recursive: true });
          fs.writeFileSync(op.uri.fsPath, "");
        }
      } else if (op.kind === "delete") {
        fs.rmSync(op.uri.fsPath, { force: !!op.options?.ignoreIfNotExists, recursive: !!op.options?.recursive });
      } else if (op.kind === "rename") {
        fs.mkdirSync(path.dirname(op.to.fsPath), { recursive: true });
        fs.renameSync(op.from.fsPath, op.to.fsPath);
      }
    }
    for (const [uri, edits] of edit.entries()) {
      const open = workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
      if (open) {
        open.applyEdits(edits);
        changeEmitter.fire({ document: open, contentChanges: edits.map((e) => ({ range: e.range, text: e.newText })), reason: undefined });
      } else {
        // VS Code opens the file, edits it and (for a refactoring) leaves it dirty; saving here stands in for the user.
        const doc = new TextDocument(uri, fs.existsSync(uri.fsPath) ? fs.readFileSync(uri.fsPath, "utf8") : "");
        doc.applyEdits(edits);
        fs.writeFileSync(uri.fsPath, doc.getText());
      }
    }
    return true;
  },
  fs: {
    readFile: async (uri: Uri) => fs.readFileSync(uri.fsPath),
    writeFile: async (uri: Uri, content: Uint8Array) => fs.writeFileSync(uri.fsPath, content),
    stat: async (uri: Uri) => fs.statSync(uri.fsPath),
  },
};

function languageOf(uri: Uri): string {
  const ext = path.extname(uri.path);
  return ({ ".rs": "rust", ".ts": "typescript", ".js": "javascript", ".py": "python", ".md": "markdown", ".txt": "plaintext" } as Record<string, string>)[ext] ?? "plaintext";
}

// ---- languages ----------------------------------------------------------------------------------------------------

function providerRegistration(name: string) {
  return (selector: unknown, provider: any): Disposable => {
    if (name === "codeActions") {
      stub.codeActionProviders.push({ selector, provider });
    }
    return new Disposable(() => undefined);
  };
}

export const languages = {
  /** VS Code's scoring of a document selector: 10 exact, 5 wildcard, 0 no match. */
  match(selector: any, document: TextDocument): number {
    const filters = Array.isArray(selector) ? selector : [selector];
    let best = 0;
    for (const f of filters) {
      const filter = typeof f === "string" ? { language: f } : f;
      let score = 10;
      if (filter.language && filter.language !== "*" && filter.language !== document.languageId) continue;
      if (filter.scheme && filter.scheme !== "*" && filter.scheme !== document.uri.scheme) continue;
      if (filter.language === "*" || filter.scheme === "*") score = 5;
      best = Math.max(best, score);
    }
    return best;
  },
  createDiagnosticCollection(name?: string): any {
    const map = new Map<string, Diagnostic[]>();
    return {
      name,
      set: (uri: Uri, d: Diagnostic[]) => map.set(uri.toString(), d),
      get: (uri: Uri) => map.get(uri.toString()),
      delete: (uri: Uri) => map.delete(uri.toString()),
      clear: () => map.clear(),
      forEach: (fn: any) => map.forEach((d, k) => fn(Uri.parse(k), d)),
      has: (uri: Uri) => map.has(uri.toString()),
      dispose: () => map.clear(),
    };
  },
  getDiagnostics: () => [],
  onDidChangeDiagnostics: new EventEmitter<any>().event,
  registerCodeActionsProvider: providerRegistration("codeActions"),
  ...Object.fromEntries(
    [
      "registerCompletionItemProvider", "registerHoverProvider", "registerSignatureHelpProvider", "registerDefinitionProvider",
      "registerReferenceProvider", "registerDocumentHighlightProvider", "registerDocumentSymbolProvider", "registerWorkspaceSymbolProvider",
      "registerCodeLensProvider", "registerDocumentFormattingEditProvider", "registerDocumentRangeFormattingEditProvider",
      "registerOnTypeFormattingEditProvider", "registerRenameProvider", "registerDocumentLinkProvider", "registerColorProvider",
      "registerFoldingRangeProvider", "registerDeclarationProvider", "registerSelectionRangeProvider", "registerCallHierarchyProvider",
      "registerTypeDefinitionProvider", "registerImplementationProvider", "registerLinkedEditingRangeProvider",
      "registerTypeHierarchyProvider", "registerInlineValuesProvider", "registerInlayHintsProvider", "registerInlineCompletionItemProvider",
      "registerDocumentSemanticTokensProvider", "registerDocumentRangeSemanticTokensProvider",
    ].map((n) => [n, providerRegistration(n)]),
  ),
};

export const env = {
  appName: "Visual Studio Code",
  appRoot: "/nonexistent/vscode",
  language: "en",
  machineId: "stub-machine",
  sessionId: "stub-session",
  uriScheme: "vscode",
  uiKind: UIKind.Desktop,
  remoteName: undefined,
  async openExternal(uri: Uri): Promise<boolean> {
    stub.openedExternal.push(uri.toString());
    return true;
  },
  clipboard: { readText: async () => "", writeText: async () => undefined },
};

export const extensions = { all: [] as any[], getExtension: () => undefined, onDidChange: new EventEmitter<void>().event };

// ---- the extension's context ----------------------------------------------------------------------------------------

/** An ExtensionContext for the extension at `extensionPath` (its package.json is read as VS Code reads it). */
export function createExtensionContext(extensionPath: string, storagePath: string): any {
  const packageJSON = JSON.parse(fs.readFileSync(path.join(extensionPath, "package.json"), "utf8"));
  stub.loadManifestDefaults(packageJSON);
  const secrets = new Map<string, string>();
  const secretEmitter = new EventEmitter<{ key: string }>();
  const memento = () => {
    const m = new Map<string, unknown>();
    return { get: (k: string, d?: unknown) => (m.has(k) ? m.get(k) : d), update: async (k: string, v: unknown) => void m.set(k, v), keys: () => [...m.keys()], setKeysForSync() {} };
  };
  return {
    subscriptions: [] as { dispose(): unknown }[],
    extensionPath,
    extensionUri: Uri.file(extensionPath),
    extension: { id: `${packageJSON.publisher}.${packageJSON.name}`, extensionUri: Uri.file(extensionPath), extensionPath, packageJSON, isActive: true },
    globalState: memento(),
    workspaceState: memento(),
    storageUri: Uri.file(path.join(storagePath, "workspace")),
    globalStorageUri: Uri.file(path.join(storagePath, "global")),
    logUri: Uri.file(path.join(storagePath, "logs")),
    asAbsolutePath: (p: string) => path.join(extensionPath, p),
    secrets: {
      get: async (key: string) => secrets.get(key),
      store: async (key: string, value: string) => {
        secrets.set(key, value);
        secretEmitter.fire({ key });
      },
      delete: async (key: string) => {
        secrets.delete(key);
        secretEmitter.fire({ key });
      },
      onDidChange: secretEmitter.event,
      /** For tests: what is stored. */
      _all: secrets,
    },
  };
}

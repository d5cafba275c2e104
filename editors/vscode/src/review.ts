// Review before apply: the agent's changes as VS Code diffs (original ↔ proposed, served by a content provider from
// `openhands.reviewChanges`), then apply all or some files, chosen in a pick, through the server's
// `workspace/applyEdit` (the changed lines only, one undo step).
import * as vscode from "vscode";
import { ApplyResult, ChangedFile, Hunk, ReviewResult, ServerCommand, changesWaiting } from "./protocol";
import { ServerConnection } from "./server";

export const REVIEW_SCHEME = "openhands-review";

type Side = "original" | "proposed";

/** `openhands-review:/<conversation>/<side>/<path>`: one side of one changed file. */
export function reviewUri(conversationId: string, side: Side, path: string): vscode.Uri {
  return vscode.Uri.from({ scheme: REVIEW_SCHEME, path: `/${conversationId}/${side}/${path}` });
}

export function parseReviewUri(uri: vscode.Uri): { id: string; side: Side; path: string } | undefined {
  const m = /^\/([^/]+)\/(original|proposed)\/(.+)$/.exec(uri.path);
  return m ? { id: m[1] as string, side: m[2] as Side, path: m[3] as string } : undefined;
}

export class Review implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly results = new Map<string, ReviewResult>();
  /** Files that left a conversation's review since its diff was opened (applied, or taken back): their diffs show
   * the user's file on both sides, no change left, instead of a change that is no longer there. Path → file URI. */
  private readonly settled = new Map<string, Map<string, string>>();
  /** Hunks applied in this session, per conversation: their lenses say so, and they no longer count as waiting. */
  private readonly appliedHunks = new Map<string, Set<string>>();
  private readonly changeEmitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changeEmitter.event;
  private readonly fetchedEmitter = new vscode.EventEmitter<string>();
  /** A conversation's review was fetched again (its hunks may have changed). */
  readonly onDidFetch = this.fetchedEmitter.event;

  constructor(private readonly server: ServerConnection) {}

  /** Fetches the conversation's changes (and updates its changed-file count); null when it has no isolated copy. */
  async fetch(id: string): Promise<ReviewResult | null> {
    let result: ReviewResult;
    try {
      result = await this.server.execute<ReviewResult>(ServerCommand.reviewChanges, { conversationId: id });
    } catch (e) {
      if (isInvalidParams(e)) {
        this.server.store.setChangedFiles(id, null);
        return null;
      }
      throw e;
    }
    const before = this.results.get(id)?.files ?? [];
    this.results.set(id, result);
    this.server.store.setChangedFiles(id, result.files.length, changesWaiting(result.files, this.applied(id)));
    const settled = this.settled.get(id) ?? new Map<string, string>();
    for (const f of before.filter((b) => !result.files.some((r) => r.path === b.path))) {
      settled.set(f.path, f.uri);
    }
    for (const f of result.files) {
      settled.delete(f.path);
    }
    this.settled.set(id, settled);
    for (const path of [...result.files.map((f) => f.path), ...settled.keys()]) {
      this.changeEmitter.fire(reviewUri(id, "original", path));
      this.changeEmitter.fire(reviewUri(id, "proposed", path));
    }
    this.fetchedEmitter.fire(id);
    return result;
  }

  /** The hunks of conversation `id` applied in this session. */
  applied(id: string): ReadonlySet<string> {
    return this.appliedHunks.get(id) ?? new Set();
  }

  /** Applies some hunks of one file (the lens's Apply, or Apply all of the file); the rest stay in the agent's
   * copy. */
  async applyHunks(id: string, path: string, hunks: string[]): Promise<ApplyResult | undefined> {
    const result = this.results.get(id) ?? (await this.fetch(id));
    if (!result) {
      return undefined;
    }
    const outcome = await this.applyWith(id, result, { hunks });
    const file = outcome.files.find((f) => f.path === path);
    if (file && (file.outcome === "applied" || file.outcome === "unchanged")) {
      const set = this.appliedHunks.get(id) ?? new Set<string>();
      hunks.forEach((h) => set.add(h));
      this.appliedHunks.set(id, set);
      const n = hunks.length;
      void vscode.window.showInformationMessage(`OpenHands: applied ${n === 1 ? "1 change" : `${n} changes`} to ${path}.`);
    }
    await this.fetch(id);
    return outcome;
  }

  /** Applies one file whole (a new, deleted or renamed file, a binary one, a link). */
  async applyFile(id: string, path: string): Promise<ApplyResult | undefined> {
    const result = this.results.get(id) ?? (await this.fetch(id));
    if (!result) {
      return undefined;
    }
    const outcome = await this.applyWith(id, result, { files: [path] });
    if (outcome.files.some((f) => f.path === path && f.outcome === "applied")) {
      void vscode.window.showInformationMessage(`OpenHands: applied ${path}.`);
    }
    return outcome;
  }

  /** Declines one hunk: asks why (the agent is told), and takes it out of the agent's copy, so the diff shows
   * what is left. */
  async rejectHunk(id: string, path: string, hunk: Hunk): Promise<boolean> {
    const lines = describeLines(hunk);
    const reason = await vscode.window.showInputBox({
      title: `OpenHands: reject the change to ${path}, ${lines}`,
      prompt: "Why not? The agent reads it (optional: Enter to reject without a reason, Escape to cancel).",
      ignoreFocusOut: true,
    });
    if (reason === undefined) {
      return false;
    }
    await this.server.execute(ServerCommand.rejectHunks, {
      conversationId: id,
      hunks: [hunk.id],
      revert: true,
      ...(reason.trim() ? { reason: reason.trim() } : {}),
    });
    await this.fetch(id);
    void vscode.window.showInformationMessage(
      `OpenHands: rejected the change to ${path}, ${lines}; the agent was told${reason.trim() ? " why" : ""}.`,
    );
    return true;
  }

  /** Runs `openhands.applyChanges` with the user's choice (already made in the editor: no second confirmation),
   * saves what it changed, and says what did not go in. */
  private async applyWith(
    id: string,
    result: ReviewResult,
    choice: { files?: string[]; hunks?: string[] },
  ): Promise<ApplyResult> {
    // VS Code applies an edit to a file that is not open in memory only, and leaves it unsaved: the disk would
    // not change. Files the user had no unsaved work in are saved after; the others stay for the user to save.
    const unsavedBefore = new Set(vscode.workspace.textDocuments.filter((d) => d.isDirty).map((d) => d.uri.toString()));
    const outcome = await this.server.execute<ApplyResult>(ServerCommand.applyChanges, {
      conversationId: id,
      ...choice,
      reviewed: true,
    });
    await saveApplied(outcome, result, unsavedBefore);
    if (!outcome.applied && outcome.failureReason) {
      void vscode.window.showWarningMessage(`OpenHands: nothing was applied: ${outcome.failureReason}`);
    }
    return outcome;
  }

  cached(id: string): ReviewResult | undefined {
    return this.results.get(id);
  }

  forget(id: string): void {
    this.results.delete(id);
    this.settled.delete(id);
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const parsed = parseReviewUri(uri);
    if (!parsed) {
      return "";
    }
    const result = this.results.get(parsed.id) ?? (await this.fetch(parsed.id));
    const file = result?.files.find((f) => f.path === parsed.path);
    if (!file) {
      const uri = this.settled.get(parsed.id)?.get(parsed.path);
      if (!uri) {
        return "";
      }
      try {
        return new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.parse(uri)));
      } catch {
        return "";
      }
    }
    const target = parsed.side === "original" ? file.symlink?.original : file.symlink?.proposed;
    if (target) {
      const why = parsed.side === "proposed" && file.refusal ? `\n${wrap(`Can't apply: ${file.refusal}`, 60)}\n` : "";
      return `(symbolic link → ${target})\n${why}`;
    }
    if (file.binary) {
      return "(binary file: not shown)";
    }
    return (parsed.side === "original" ? file.original : file.proposed) ?? "";
  }

  /** Opens the diff of one changed file. */
  async openDiff(id: string, file: ChangedFile): Promise<void> {
    const title = `${file.path} — ${describe(file)} · OpenHands`;
    // Both sides live under the new path; a renamed file's original side is its old text.
    const left = reviewUri(id, "original", file.path);
    await vscode.commands.executeCommand("vscode.diff", left, reviewUri(id, "proposed", file.path), title, {
      preview: true,
    });
  }

  /** Review Changes: one file opens its diff at once; several are offered in a list (the list reopens after each). */
  async review(id: string): Promise<void> {
    const result = await this.fetch(id);
    if (!result) {
      void vscode.window.showInformationMessage(
        "OpenHands: this conversation worked directly in your folder (openhands.isolation is none), so there is nothing to review: your files already have its changes.",
      );
      return;
    }
    if (result.files.length === 0) {
      void vscode.window.showInformationMessage(`OpenHands: "${result.title}" changed no files.`);
      return;
    }
    if (result.files.length === 1) {
      await this.openDiff(id, result.files[0] as ChangedFile);
      return;
    }
    const pick = await vscode.window.showQuickPick(
      result.files.map((f) => ({ label: f.path, description: describeIn(f), file: f })),
      { title: `OpenHands: changes of "${result.title}"`, placeHolder: "Open the diff of a file", ignoreFocusOut: true },
    );
    if (pick) {
      await this.openDiff(id, pick.file);
    }
  }

  /** Apply Changes: all files picked by default; the server's edit goes through VS Code's refactor preview. */
  async apply(id: string): Promise<ApplyResult | undefined> {
    const result = await this.fetch(id);
    if (!result || result.files.length === 0) {
      void vscode.window.showInformationMessage("OpenHands: there are no changes to apply.");
      return undefined;
    }
    const picks = await vscode.window.showQuickPick(
      result.files.map((f) => ({ label: f.path, description: describeIn(f), picked: !f.refusal, file: f })),
      { title: `OpenHands: apply the changes of "${result.title}"`, canPickMany: true, placeHolder: "Files to apply", ignoreFocusOut: true },
    );
    if (!picks || picks.length === 0) {
      return undefined;
    }
    const files = picks.length === result.files.length ? undefined : picks.map((p) => p.file.path);
    // The pick above is the user's confirmation: the edit then applies at once (as an annotated edit needing
    // confirmation it would open VS Code's refactor preview with every change unticked).
    const outcome = await this.applyWith(id, result, { files });
    const applied = outcome.files.filter((f) => f.outcome === "applied").length;
    if (outcome.applied && applied > 0) {
      // Refused files were already listed by the server's own warning.
      void vscode.window.showInformationMessage(`OpenHands: applied ${applied} file${applied === 1 ? "" : "s"}.`);
    }
    return outcome;
  }

  dispose(): void {
    this.changeEmitter.dispose();
    this.fetchedEmitter.dispose();
  }
}

/** A hunk's lines in the agent's version, in words: `line 10`, `lines 10–12` (a removal: where it was). */
export function describeLines(h: Hunk): string {
  if (h.proposedLines === 0) {
    return h.originalLines === 1 ? `line ${h.originalStart} removed` : `lines ${h.originalStart}–${h.originalStart + h.originalLines - 1} removed`;
  }
  return h.proposedLines === 1 ? `line ${h.proposedStart}` : `lines ${h.proposedStart}–${h.proposedStart + h.proposedLines - 1}`;
}

/** Saves the documents the apply changed that held no unsaved work of the user's before it. */
async function saveApplied(outcome: ApplyResult, review: ReviewResult, unsavedBefore: Set<string>): Promise<void> {
  const applied = new Set(outcome.files.filter((f) => f.outcome === "applied").map((f) => f.path));
  const uris = review.files.filter((f) => applied.has(f.path)).map((f) => vscode.Uri.parse(f.uri).toString());
  for (const doc of vscode.workspace.textDocuments) {
    const uri = doc.uri.toString();
    if (doc.isDirty && uris.includes(uri) && !unsavedBefore.has(uri)) {
      await doc.save();
    }
  }
}

/** The status, compactly with what the change is when it is more than text: a link's target, a mode change, and
 * whether it can be applied at all (the full reason is `file.refusal`, shown in tooltips). */
/** `describe`, with the folder an extra folder's file is in (a task across folders). */
function describeIn(file: ChangedFile): string {
  return file.folder ? `${describe(file)} · in the folder ${file.folder}` : describe(file);
}

export function describe(file: ChangedFile): string {
  const parts = [file.status === "renamed" && file.oldPath ? `renamed from ${file.oldPath}` : file.status];
  if (file.symlink?.proposed) {
    parts.push(`→ ${file.symlink.proposed}`);
  }
  if (file.executable) {
    parts.push(file.executable.proposed ? "+x" : "-x");
  }
  if (file.refusal) {
    parts.push("(can't apply)");
  }
  return parts.join(" ");
}

/** `text` in lines of at most about `width` characters (diff editors do not wrap). */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length >= width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  lines.push(line);
  return lines.join("\n");
}

function isInvalidParams(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === -32602;
}

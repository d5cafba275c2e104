// Review before apply: the agent's changes as VS Code diffs (original ↔ proposed, served by a content provider from
// `openhands.reviewChanges`), then apply all or some files, chosen in a pick, through the server's
// `workspace/applyEdit` (the changed lines only, one undo step).
import * as vscode from "vscode";
import { ApplyResult, ChangedFile, ReviewResult, ServerCommand } from "./protocol";
import { ServerConnection } from "./server";

export const REVIEW_SCHEME = "openhands-review";

type Side = "original" | "proposed";

/** `openhands-review:/<conversation>/<side>/<path>`: one side of one changed file. */
export function reviewUri(conversationId: string, side: Side, path: string): vscode.Uri {
  return vscode.Uri.from({ scheme: REVIEW_SCHEME, path: `/${conversationId}/${side}/${path}` });
}

function parseReviewUri(uri: vscode.Uri): { id: string; side: Side; path: string } | undefined {
  const m = /^\/([^/]+)\/(original|proposed)\/(.+)$/.exec(uri.path);
  return m ? { id: m[1] as string, side: m[2] as Side, path: m[3] as string } : undefined;
}

export class Review implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly results = new Map<string, ReviewResult>();
  private readonly changeEmitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changeEmitter.event;

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
    this.results.set(id, result);
    this.server.store.setChangedFiles(id, result.files.length);
    for (const f of result.files) {
      this.changeEmitter.fire(reviewUri(id, "original", f.path));
      this.changeEmitter.fire(reviewUri(id, "proposed", f.path));
    }
    return result;
  }

  cached(id: string): ReviewResult | undefined {
    return this.results.get(id);
  }

  forget(id: string): void {
    this.results.delete(id);
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const parsed = parseReviewUri(uri);
    if (!parsed) {
      return "";
    }
    const result = this.results.get(parsed.id) ?? (await this.fetch(parsed.id));
    const file = result?.files.find((f) => f.path === parsed.path);
    if (!file) {
      return "";
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
      result.files.map((f) => ({ label: f.path, description: describe(f), file: f })),
      { title: `OpenHands: changes of "${result.title}"`, placeHolder: "Open the diff of a file" },
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
      result.files.map((f) => ({ label: f.path, description: describe(f), picked: !f.refusal, file: f })),
      { title: `OpenHands: apply the changes of "${result.title}"`, canPickMany: true, placeHolder: "Files to apply" },
    );
    if (!picks || picks.length === 0) {
      return undefined;
    }
    const files = picks.length === result.files.length ? undefined : picks.map((p) => p.file.path);
    // VS Code applies an edit to a file that is not open in memory only, and leaves it unsaved: the disk would
    // not change. Files the user had no unsaved work in are saved after; the others stay for the user to save.
    const unsavedBefore = new Set(vscode.workspace.textDocuments.filter((d) => d.isDirty).map((d) => d.uri.toString()));
    // The pick above is the user's confirmation: the edit then applies at once (as an annotated edit needing
    // confirmation it would open VS Code's refactor preview with every change unticked).
    const outcome = await this.server.execute<ApplyResult>(ServerCommand.applyChanges, {
      conversationId: id,
      files,
      reviewed: true,
    });
    const applied = outcome.files.filter((f) => f.outcome === "applied").length;
    await saveApplied(outcome, result, unsavedBefore);
    if (!outcome.applied && outcome.failureReason) {
      void vscode.window.showWarningMessage(`OpenHands: nothing was applied: ${outcome.failureReason}`);
    } else if (applied > 0) {
      // Refused files were already listed by the server's own warning.
      void vscode.window.showInformationMessage(`OpenHands: applied ${applied} file${applied === 1 ? "" : "s"}.`);
    }
    return outcome;
  }

  dispose(): void {
    this.changeEmitter.dispose();
  }
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

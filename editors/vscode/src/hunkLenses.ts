// Per-hunk review in the diff of a changed file: above each of the agent's changes on its side of the diff, Apply
// and Reject…; at the top, Apply all the file's changes (or, for a file applied whole, Apply this file). VS Code
// shows lenses in diff editors when `diffEditor.codeLens` is on: the extension turns it on by default
// (package.json `configurationDefaults`).
import * as vscode from "vscode";
import { ChangedFile, Hunk } from "./protocol";
import { Review, describeLines, parseReviewUri } from "./review";

export class HunkLenses implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly review: Review) {
    this.subscription = review.onDidFetch(() => this.changed.fire());
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const parsed = parseReviewUri(doc.uri);
    if (!parsed || parsed.side !== "proposed") {
      return [];
    }
    const file = this.review.cached(parsed.id)?.files.find((f) => f.path === parsed.path);
    return file ? lenses(parsed.id, file, this.review.applied(parsed.id), doc.lineCount) : [];
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

function lenses(id: string, file: ChangedFile, applied: ReadonlySet<string>, lineCount: number): vscode.CodeLens[] {
  const at = (line: number) => {
    const l = Math.min(Math.max(line, 0), Math.max(lineCount - 1, 0));
    return new vscode.Range(l, 0, l, 0);
  };
  const lens = (line: number, title: string, command?: string, args: unknown[] = []) =>
    new vscode.CodeLens(at(line), { title, command: command ?? "", arguments: args });
  const hunks = file.hunks ?? [];
  if (hunks.length === 0) {
    return file.refusal ? [lens(0, `$(circle-slash) Can't apply: ${file.refusal}`)] : [lens(0, "$(check) Apply this file", "openhands.ui.applyFile", [id, file.path])];
  }
  const waiting = hunks.filter((h) => !applied.has(h.id));
  const out: vscode.CodeLens[] = [];
  if (waiting.length > 1) {
    out.push(lens(0, `$(check-all) Apply all ${waiting.length} changes`, "openhands.ui.applyHunks", [id, file.path, waiting.map((h) => h.id)]));
  }
  for (const h of hunks) {
    const line = lineOf(h);
    if (applied.has(h.id)) {
      out.push(lens(line, `$(pass-filled) Applied (${describeLines(h)})`));
      continue;
    }
    out.push(lens(line, "$(check) Apply", "openhands.ui.applyHunks", [id, file.path, [h.id]]));
    out.push(lens(line, "$(close) Reject…", "openhands.ui.rejectHunk", [id, file.path, h]));
  }
  return out;
}

/** The 0-based line a hunk's lenses go above in the agent's version (a removal: where its lines were). */
function lineOf(h: Hunk): number {
  return h.proposedStart - 1;
}

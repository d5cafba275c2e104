// What the extension knows of the server's conversations: their summaries (from `listConversations` and
// `openhands/conversationChanged`) and how many files each changed (from `reviewChanges`, fetched lazily).
import * as vscode from "vscode";
import { Conversation, isSettled } from "./protocol";

export class ConversationStore implements vscode.Disposable {
  private readonly byId = new Map<string, Conversation>();
  /** Changed-file counts; absent = not known yet, null = the conversation has no isolated copy to review. */
  private readonly changed = new Map<string, number | null>();
  private readonly waiting = new Map<string, number>();
  private readonly changedEmitter = new vscode.EventEmitter<string | undefined>();
  /** Fires with a conversation id, or undefined when the whole list changed. */
  readonly onDidChange = this.changedEmitter.event;

  replaceAll(conversations: Conversation[]): void {
    this.byId.clear();
    for (const c of conversations) {
      this.byId.set(c.id, c);
    }
    this.changedEmitter.fire(undefined);
  }

  upsert(conversation: Conversation): void {
    const before = this.byId.get(conversation.id);
    this.byId.set(conversation.id, conversation);
    // A turn that ended may have changed files: count again.
    if (before && !isSettled(before.state) && isSettled(conversation.state)) {
      this.changed.delete(conversation.id);
    }
    this.changedEmitter.fire(conversation.id);
  }

  get(id: string): Conversation | undefined {
    return this.byId.get(id);
  }

  /** Newest first, as the server lists them. */
  list(): Conversation[] {
    return [...this.byId.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  changedFiles(id: string): number | null | undefined {
    return this.changed.get(id);
  }

  /** How many of its changes wait for the user (a hunk each in modified text files, else a file each). */
  changesWaiting(id: string): number | undefined {
    return this.waiting.get(id);
  }

  setChangedFiles(id: string, count: number | null, waiting?: number): void {
    if (this.changed.get(id) !== count || this.waiting.get(id) !== waiting) {
      this.changed.set(id, count);
      if (waiting === undefined) {
        this.waiting.delete(id);
      } else {
        this.waiting.set(id, waiting);
      }
      this.changedEmitter.fire(id);
    }
  }

  forgetChangedFiles(id: string): void {
    if (this.changed.delete(id)) {
      this.changedEmitter.fire(id);
    }
  }

  dispose(): void {
    this.changedEmitter.dispose();
  }
}

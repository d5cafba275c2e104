// The server's LSP extensions as this extension uses them (docs/protocol.md is the reference).

export const ServerCommand = {
  status: "openhands.status",
  startTask: "openhands.startTask",
  sendMessage: "openhands.sendMessage",
  unqueueMessage: "openhands.unqueueMessage",
  pause: "openhands.pause",
  resume: "openhands.resume",
  stop: "openhands.stop",
  listConversations: "openhands.listConversations",
  getEvents: "openhands.getEvents",
  setSecret: "openhands.setSecret",
  reviewChanges: "openhands.reviewChanges",
  applyChanges: "openhands.applyChanges",
  discardChanges: "openhands.discardChanges",
  pushChanges: "openhands.pushChanges",
  rejectHunks: "openhands.rejectHunks",
  listCheckpoints: "openhands.listCheckpoints",
  restoreCheckpoint: "openhands.restoreCheckpoint",
  respondToConfirmation: "openhands.respondToConfirmation",
  // Provider commands: used when the server advertises them.
  fixIssue: "openhands.fixIssue",
  fixDiagnostic: "openhands.fixDiagnostic",
  suggestedTasks: "openhands.suggestedTasks",
  createPullRequest: "openhands.createPullRequest",
  // Cloud commands: used when the server advertises them.
  attachConversation: "openhands.attachConversation",
} as const;

/** A message waiting for the running turn to end (`openhands.sendMessage` with `mode: "queue"`). */
export interface QueuedMessage {
  id: string;
  text: string;
}

/** What `openhands.sendMessage` answers. */
export interface SendResult {
  delivery: "sent" | "queued";
  queued?: QueuedMessage;
}

/** An OpenHands Cloud conversation, as `openhands.listConversations` lists it. */
export interface CloudConversation {
  origin: "cloud";
  id: string;
  title?: string | null;
  url: string;
  sandboxStatus: string;
  executionStatus?: string | null;
  repository?: string | null;
  branch?: string | null;
  attachedAs?: string | null;
}

export const Notification = {
  status: "openhands/status",
  event: "openhands/event",
  conversationChanged: "openhands/conversationChanged",
  checkpoint: "openhands/checkpoint",
} as const;

export type ConversationState =
  | "starting"
  | "running"
  | "paused"
  | "waiting_for_confirmation"
  | "finished"
  | "error"
  | "stuck"
  | "stopped"
  /** Its meta.json could not be read: listed with what could be read; its changes can still be reviewed or discarded. */
  | "damaged";

export interface Conversation {
  id: string;
  title: string;
  instruction: string;
  workspace: string;
  backend: string;
  state: ConversationState;
  createdAt: number;
  updatedAt: number;
  finalMessage: string | null;
  error: string | null;
  sandboxUrl: string | null;
  eventCount: number;
  live: boolean;
  /** Another openhands-lsp (another editor on this machine) runs it: it can be looked at here, not controlled. */
  runningElsewhere?: boolean;
  /** Why a message cannot make it go on; `null`: it runs here, or a message starts it again where it was. */
  cannotContinue?: string | null;
  /** The checkpoint its copy's files are at, and how many times it was restored (its history was cut back). */
  checkpoint?: number | null;
  restores?: number;
  /** The earlier branch a restore left: of which conversation, restored to which checkpoint. */
  branchOf?: { conversationId: string; checkpoint: number } | null;
  /** What its LLM calls cost so far (`null` before the first). */
  usage?: Usage | null;
  /** Paused on its budget (and kept once stopped there): what it spent. */
  budgetReached?: string | null;
  /** Messages queued for when the running turn ends, in order (absent when none). */
  queued?: QueuedMessage[];
  /** Its own copy, when it works in one (`null`: in the user's folder). */
  isolation?: { root: string; branch: string | null } | null;
  /** The folders it works in besides `workspace` (a task across folders), each with its own copy. */
  folders?: { name: string; path: string; isolation: { root: string; branch: string | null } | null }[];
  /** The project's image it runs in (docker backend), when it is not the agent-server image. */
  image?: { name: string; origin: string } | null;
  /** The OpenHands Cloud conversation it follows (backend `cloud`). */
  cloud?: { conversationId: string; url: string; repository?: string | null; branch?: string | null; pullRequests: number[] };
}

export interface Usage {
  /** US dollars; `null` when the model's price is not known. */
  costUsd: number | null;
  tokensIn: number;
  tokensOut: number;
  cachedTokens: number;
  contextUsed: number;
  contextWindow: number;
  llmSeconds: number;
}

/** `$0.0123` (enough digits below a cent), or `cost unknown`. */
export function cost(u: Usage): string {
  if (u.costUsd === null) {
    return "cost unknown";
  }
  if (u.costUsd >= 0.01 || u.costUsd <= 0) {
    return `$${u.costUsd.toFixed(2)}`;
  }
  const digits = Math.min(10, Math.max(4, Math.ceil(-Math.log10(u.costUsd)) + 2));
  return `$${u.costUsd.toFixed(digits).replace(/0+$/, "")}`;
}

/** `1.2k`: a token count that fits a tree row. */
export function count(n: number): string {
  return n < 1000 ? String(n) : n < 1_000_000 ? `${(n / 1000).toFixed(1)}k` : `${(n / 1_000_000).toFixed(1)}M`;
}

/** `$0.0123 · 1.2k tokens`: short, for a row. */
export function usageShort(u: Usage): string {
  return `${cost(u)} · ${count(u.tokensIn + u.tokensOut)} tokens`;
}

/** `$0.0123 · 1234 tokens in (200 cached), 56 out · context 1290 of 128000 (1%) · 4.2 s of LLM time`. */
export function usageLong(u: Usage): string {
  const parts = [cost(u), `${u.tokensIn} tokens in${u.cachedTokens ? ` (${u.cachedTokens} cached)` : ""}, ${u.tokensOut} out`];
  if (u.contextWindow > 0) {
    parts.push(`context ${u.contextUsed} of ${u.contextWindow} (${Math.round((100 * u.contextUsed) / u.contextWindow)}%)`);
  }
  if (u.llmSeconds > 0) {
    parts.push(`${u.llmSeconds.toFixed(1)} s of LLM time`);
  }
  return parts.join(" · ");
}

export interface AgentEvent {
  conversationId: string;
  seq: number;
  id?: string;
  kind: string;
  source?: string;
  timestamp?: string;
  summary: string;
  detail: string;
  raw?: { tool_name?: string; [key: string]: unknown };
}

export interface StatusParams {
  busy: boolean;
  message: string;
  kind: "normal" | "warning" | "error";
}

export interface EventsPage {
  events: AgentEvent[];
  next: number;
  total: number;
}

export type FileStatus = "added" | "modified" | "deleted" | "renamed";

export interface ChangedFile {
  /** Relative to its folder; an extra folder's (a task across folders) starts with the folder's name. */
  path: string;
  uri: string;
  /** The extra folder it is in (absent: the conversation's workspace). */
  folder?: string;
  status: FileStatus;
  oldPath?: string;
  oldUri?: string;
  original: string | null;
  proposed: string | null;
  binary: boolean;
  /** Targets when either side is a symbolic link (shown, never read through). */
  symlink?: { original: string | null; proposed: string | null };
  /** When the executable bit changed. */
  executable?: { original: boolean; proposed: boolean };
  /** One line for a change that is more than text: a link, a mode change. */
  note?: string;
  /** Why the server will never apply it (a link out of the workspace, an unreadable file). */
  refusal?: string;
  /** A text file the agent modified, in runs of changed lines; `[]` for a file applied whole. */
  hunks: Hunk[];
}

/** One run of changed lines (1-based starts; a side with no lines starts where the other side's lines go). */
export interface Hunk {
  id: string;
  originalStart: number;
  originalLines: number;
  proposedStart: number;
  proposedLines: number;
  original: string;
  proposed: string;
}

/** How many changes of a review wait for the user: each hunk of a modified text file, each other file once. */
export function changesWaiting(files: ChangedFile[], applied: ReadonlySet<string> = new Set()): number {
  return files.reduce((n, f) => n + (f.hunks?.length ? f.hunks.filter((h) => !applied.has(h.id)).length : 1), 0);
}

export interface ReviewResult {
  conversationId: string;
  title: string;
  files: ChangedFile[];
}

export interface ApplyResult {
  applied: boolean;
  failureReason: string | null;
  files: { path: string; outcome: "applied" | "unchanged" | "refused" | "skipped"; reason?: string; conflict?: string }[];
}

export interface Checkpoint {
  number: number;
  step: number;
  parent: number | null;
  /** The agent-server event it follows (an `AgentEvent.id`). */
  eventId: string;
  time: number;
  files: string[];
}

export interface CheckpointList {
  conversationId: string;
  current: number | null;
  checkpoints: Checkpoint[];
}

export interface StartResult {
  conversationId: string;
  conversation: Conversation;
}

export interface PushResult {
  branch: string;
  commit: string;
  remote: string;
}

export interface SuggestedTask {
  title: string;
  reference: string;
  description?: string;
}

/** The settled states: the agent is not working. */
export function isSettled(state: ConversationState): boolean {
  return state === "finished" || state === "error" || state === "stuck" || state === "stopped" || state === "damaged";
}

export const SecretNames = [
  "llm_api_key",
  "github_token",
  "gitlab_token",
  "bitbucket_token",
  "cloud_api_key",
  "jira_token",
  "linear_api_key",
] as const;
export type SecretName = (typeof SecretNames)[number];

/** A message can go on with it: it runs here, or its sandbox starts again where it was (an earlier session's). */
export function canMessage(c: Conversation): boolean {
  return !c.runningElsewhere && (c.live || !c.cannotContinue);
}

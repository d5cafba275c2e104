//! Agent-server events: the few fields every event has, typed views of the kinds we act on, and the normalised
//! form editors receive (one-line summary, capped detail). Unknown kinds are kept whole and forwarded.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event as the agent-server sent it. `raw` is the whole event, unknown fields included.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEvent {
    pub id: String,
    pub kind: String,
    pub source: String,
    pub timestamp: String,
    pub raw: Value,
}

#[derive(Debug, thiserror::Error)]
#[error("not an agent-server event: {0}")]
pub struct NotAnEvent(String);

/// The agent's tools that touch nothing (it finishing, it thinking): no confirmation, no checkpoint, and the sandbox
/// hook does not hold the agent for them (`sandbox::step_acks_env`).
pub const QUIET_TOOLS: &[&str] = &["finish", "think"];

/// The first line of every note openhands-lsp gives the agent (what was applied, which changes the user declined):
/// the agent-server keeps them as the user's messages, and this tells them apart, for the agent and for every front.
pub const NOTE_MARK: &str = "[A note from the user's editor, not a message the user typed]";

/// The `source` of such a note, as editors receive it (`user` for the user's own messages, `agent`, `environment`).
pub const NOTE_SOURCE: &str = "openhands-lsp";

impl AgentEvent {
    pub fn from_json(raw: Value) -> Result<Self, NotAnEvent> {
        let field = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
        let id = field("id").ok_or_else(|| NotAnEvent("no \"id\"".into()))?;
        let kind = field("kind").ok_or_else(|| NotAnEvent("no \"kind\"".into()))?;
        let mut source = field("source").unwrap_or_default();
        if kind == "MessageEvent" && source == "user" && message_text(raw.get("llm_message")).starts_with(NOTE_MARK) {
            source = NOTE_SOURCE.to_owned();
        }
        Ok(AgentEvent { id, kind, source, timestamp: field("timestamp").unwrap_or_default(), raw })
    }

    pub fn view(&self) -> View<'_> {
        let r = &self.raw;
        match self.kind.as_str() {
            "ConversationStateUpdateEvent" => View::StateUpdate {
                key: r.get("key").and_then(Value::as_str).unwrap_or_default(),
                value: r.get("value").unwrap_or(&Value::Null),
            },
            "ActionEvent" => View::Action {
                tool: r.get("tool_name").and_then(Value::as_str).unwrap_or_default(),
                action: r.get("action").unwrap_or(&Value::Null),
            },
            "ObservationEvent" => View::Observation {
                tool: r.get("tool_name").and_then(Value::as_str).unwrap_or_default(),
                observation: r.get("observation").unwrap_or(&Value::Null),
            },
            "MessageEvent" => {
                let text = message_text(r.get("llm_message"));
                // A note reads without its mark (which is for the agent and for telling notes apart).
                match text.strip_prefix(NOTE_MARK).filter(|_| self.source == NOTE_SOURCE) {
                    Some(rest) => View::Message { text: rest.trim_start().to_owned() },
                    None => View::Message { text },
                }
            }
            "AgentErrorEvent" => View::Error { message: text_of(r, &["error", "detail", "message"]) },
            "ConversationErrorEvent" => View::Error { message: text_of(r, &["detail", "error", "message", "code"]) },
            "UserRejectObservation" => View::Rejected { reason: text_of(r, &["rejection_reason", "reason"]) },
            "StreamingDeltaEvent" => View::Delta,
            "SystemPromptEvent" => View::SystemPrompt,
            _ => View::Other,
        }
    }

    /// `execution_status` as reported by a state update (plain or inside `full_state`).
    pub fn execution_status(&self) -> Option<&str> {
        match self.view() {
            View::StateUpdate { key: "execution_status", value } => value.as_str(),
            View::StateUpdate { key: "full_state", value } => value.get("execution_status").and_then(Value::as_str),
            _ => None,
        }
    }

    /// The agent-server's `stats` (a state update, or inside `full_state`): every LLM of the conversation summed.
    pub fn stats(&self) -> Option<Stats> {
        match self.view() {
            View::StateUpdate { key: "stats", value } => Stats::from_json(value),
            View::StateUpdate { key: "full_state", value } => Stats::from_json(value.get("stats")?),
            _ => None,
        }
    }

    /// A connection-level snapshot: sent on every (re)connect with a fresh id and never stored by the server.
    pub fn is_snapshot(&self) -> bool {
        matches!(self.view(), View::StateUpdate { key: "full_state", .. })
    }

    /// The `action_id` an observation, rejection or error answers, if any.
    pub fn answers_action(&self) -> Option<&str> {
        self.raw.get("action_id").and_then(Value::as_str)
    }

    /// The message of a `FinishAction`.
    pub fn finish_message(&self) -> Option<String> {
        match self.view() {
            View::Action { action, .. } if action.get("kind").and_then(Value::as_str) == Some("FinishAction") => {
                Some(action.get("message").and_then(Value::as_str).unwrap_or_default().to_owned())
            }
            _ => None,
        }
    }

    /// One line for a progress report or a list: `$ cargo test`, `edit src/lib.rs`, `thinking`.
    pub fn summary(&self) -> String {
        self.summary_within(&[])
    }

    /// The summary, with a path under one of `roots` (where the agent works, as it and as the user see it) shown
    /// relative to it: `edit src/lib.rs`, not the conversation copy's absolute path.
    pub fn summary_within(&self, roots: &[String]) -> String {
        let line = match self.view() {
            View::Action { tool, action } => summarize_action(tool, action, roots),
            View::Observation { tool, observation } => summarize_observation(tool, observation),
            View::Message { text } => match self.source.as_str() {
                "user" => format!("you: {}", first_line(&text)),
                NOTE_SOURCE => format!("note to the agent: {}", first_line(&text)),
                _ => format!("agent: {}", first_line(&text)),
            },
            View::StateUpdate { key: "execution_status", value } => {
                format!("status: {}", value.as_str().unwrap_or("?").replace('_', " "))
            }
            View::StateUpdate { key, .. } => format!("state: {key}"),
            View::Error { message } => format!("error: {}", first_line(&message)),
            View::Rejected { reason } => format!("rejected: {}", first_line(&reason)),
            View::Delta => "…".to_owned(),
            View::SystemPrompt => "system prompt".to_owned(),
            View::Other => self.kind.clone(),
        };
        truncate_chars(&line, SUMMARY_MAX_CHARS)
    }

    /// Readable text of the event (command output, message, error), at most `max` bytes with a marker.
    pub fn detail(&self, max: usize) -> String {
        let text = match self.view() {
            View::Action { tool, action } => match tool {
                "terminal" => {
                    action.get("command").and_then(Value::as_str).map(|c| format!("$ {c}")).unwrap_or_default()
                }
                "file_editor" => [action.get("file_text"), action.get("new_str")]
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => thought_text(&self.raw),
            },
            View::Observation { observation, .. } => content_text(observation.get("content")),
            View::Message { text } => text,
            View::Error { message } => message,
            View::Rejected { reason } => reason,
            _ => String::new(),
        };
        cap(&text, max)
    }
}

pub const SUMMARY_MAX_CHARS: usize = 160;

/// What a conversation's LLM calls cost so far, as the agent-server counts them (LiteLLM's prices: 0 for a model it
/// has no price for).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub cost: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    /// The model's context window (0: not known).
    pub context_window: u64,
    /// Tokens of the last call, prompt and answer: how much of the window the conversation fills now.
    pub last_call_tokens: u64,
    /// Seconds the LLM took to answer, all calls: only the full stats have the latencies (`None` in the snapshots
    /// the events carry).
    pub llm_seconds: Option<f64>,
}

impl Stats {
    /// From the agent-server's `ConversationStats` (`{"usage_to_metrics": {usage id: metrics}}`): every LLM summed.
    pub fn from_json(value: &Value) -> Option<Stats> {
        let metrics = value.get("usage_to_metrics")?.as_object()?;
        let mut stats = Stats::default();
        for m in metrics.values() {
            let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
            let tokens = m.get("accumulated_token_usage").unwrap_or(&Value::Null);
            stats.cost += m.get("accumulated_cost").and_then(Value::as_f64).unwrap_or(0.0);
            stats.prompt_tokens += n(tokens, "prompt_tokens");
            stats.completion_tokens += n(tokens, "completion_tokens");
            stats.cache_read_tokens += n(tokens, "cache_read_tokens");
            stats.cache_write_tokens += n(tokens, "cache_write_tokens");
            stats.reasoning_tokens += n(tokens, "reasoning_tokens");
            stats.context_window = stats.context_window.max(n(tokens, "context_window"));
            stats.last_call_tokens = stats.last_call_tokens.max(n(tokens, "per_turn_token"));
            if let Some(latencies) = m.get("response_latencies").and_then(Value::as_array) {
                let seconds: f64 = latencies.iter().filter_map(|l| l.get("latency")?.as_f64()).sum();
                stats.llm_seconds = Some(stats.llm_seconds.unwrap_or(0.0) + seconds);
            }
        }
        Some(stats)
    }
}

#[derive(Debug, Clone)]
pub enum View<'a> {
    StateUpdate { key: &'a str, value: &'a Value },
    Action { tool: &'a str, action: &'a Value },
    Observation { tool: &'a str, observation: &'a Value },
    Message { text: String },
    Error { message: String },
    Rejected { reason: String },
    Delta,
    SystemPrompt,
    Other,
}

/// `path` relative to the longest of `roots` it lies under, if any.
pub fn relative_to_roots<'a>(path: &'a str, roots: &[String]) -> Option<&'a str> {
    let mut best: Option<&'a str> = None;
    let mut best_len = 0;
    for root in roots.iter().map(|r| r.trim_end_matches('/')).filter(|r| !r.is_empty()) {
        if let Some(rest) = path.strip_prefix(root).and_then(|rest| rest.strip_prefix('/')) {
            let rest = rest.trim_start_matches('/');
            if root.len() > best_len && !rest.is_empty() {
                best = Some(rest);
                best_len = root.len();
            }
        }
    }
    best
}

/// `path` relative to the longest of `roots` it lies under; as it is otherwise.
fn shown_path<'a>(path: &'a str, roots: &[String]) -> &'a str {
    relative_to_roots(path, roots).unwrap_or(path)
}

fn summarize_action(tool: &str, action: &Value, roots: &[String]) -> String {
    let s = |k: &str| action.get(k).and_then(Value::as_str).unwrap_or_default();
    match (tool, action.get("kind").and_then(Value::as_str).unwrap_or_default()) {
        ("terminal", _) | (_, "TerminalAction") => format!("$ {}", first_line(s("command"))),
        ("file_editor", _) | (_, "FileEditorAction") => {
            let verb = match s("command") {
                "create" => "create",
                "view" => "view",
                "str_replace" | "insert" => "edit",
                "undo_edit" => "undo edit",
                other => other,
            };
            format!("{verb} {}", shown_path(s("path"), roots))
        }
        (_, "FinishAction") | ("finish", _) => format!("finish: {}", first_line(s("message"))),
        (_, "ThinkAction") | ("think", _) => "thinking".to_owned(),
        ("task_tracker", _) => "update the task list".to_owned(),
        (tool, kind) if !tool.is_empty() => format!("{tool} ({kind})"),
        (_, kind) => kind.to_owned(),
    }
}

fn summarize_observation(tool: &str, observation: &Value) -> String {
    match tool {
        "terminal" => {
            let code = observation.get("exit_code").and_then(Value::as_i64);
            let out = content_text(observation.get("content"));
            let last = out.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
            match code {
                Some(c) => format!("exit {c}: {}", last.trim()),
                None => format!("output: {}", last.trim()),
            }
        }
        _ => {
            let text = content_text(observation.get("content"));
            format!("{tool}: {}", first_line(&text))
        }
    }
}

/// Text parts of an LLM message (`{"content": [{"type":"text","text":...}]}`).
fn message_text(message: Option<&Value>) -> String {
    content_text(message.and_then(|m| m.get("content")))
}

fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

fn thought_text(raw: &Value) -> String {
    content_text(raw.get("thought"))
}

fn text_of(raw: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| raw.get(*k).filter(|v| !v.is_null()))
        .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
        .unwrap_or_default()
}

fn first_line(text: &str) -> &str {
    text.trim().lines().next().unwrap_or_default()
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// `text` cut to at most `max` bytes on a char boundary, with a marker saying how much was left out.
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… [{} more bytes not shown]", &text[..end], text.len() - end)
}

/// The event as editors receive it in `openhands/event`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalizedEvent {
    pub conversation_id: String,
    /// Position in the conversation's event log, from 0; the cursor for `openhands.getEvents`.
    pub seq: u64,
    pub id: String,
    pub kind: String,
    pub source: String,
    pub timestamp: String,
    pub summary: String,
    pub detail: String,
    pub raw: Value,
}

/// Largest `detail` sent to editors.
pub const DETAIL_MAX_BYTES: usize = 16 * 1024;
/// Longest string kept inside `raw` when sent to editors (the full event stays in events.jsonl).
pub const RAW_STRING_MAX_BYTES: usize = 64 * 1024;

impl NormalizedEvent {
    /// Takes the event: its JSON becomes `raw` as it is (long strings capped in place), not a copy of it. Paths
    /// under `roots` are summarised relative to them (`AgentEvent::summary_within`).
    pub fn new(conversation_id: &str, seq: u64, event: AgentEvent, roots: &[String]) -> Self {
        let summary = event.summary_within(roots);
        let detail = event.detail(DETAIL_MAX_BYTES);
        let AgentEvent { id, kind, source, timestamp, mut raw } = event;
        cap_strings(&mut raw, RAW_STRING_MAX_BYTES);
        NormalizedEvent {
            conversation_id: conversation_id.to_owned(),
            seq,
            id,
            kind,
            source,
            timestamp,
            summary,
            detail,
            raw,
        }
    }
}

/// Caps every string in `value` longer than `max` bytes (terminal output can be megabytes).
pub fn cap_strings(value: &mut Value, max: usize) {
    match value {
        Value::String(s) if s.len() > max => *s = cap(s, max),
        Value::Array(items) => items.iter_mut().for_each(|v| cap_strings(v, max)),
        Value::Object(map) => map.values_mut().for_each(|v| cap_strings(v, max)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture_events() -> Vec<AgentEvent> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/agent-server-1.58.0/events_nostream.json");
        let text = std::fs::read_to_string(path).expect("fixture");
        let v: Value = serde_json::from_str(&text).expect("json");
        v["ws_events"]
            .as_array()
            .expect("array")
            .iter()
            .map(|e| AgentEvent::from_json(e.clone()).expect("event"))
            .collect()
    }

    #[test]
    fn summaries_of_a_real_run() {
        let summaries: Vec<String> = fixture_events().iter().map(AgentEvent::summary).collect();
        expect_test::expect![[r#"
            [
                "state: full_state",
                "system prompt",
                "you: Create hello.txt containing hello",
                "state: last_user_message_id",
                "status: running",
                "$ echo hello > hello.txt && ls",
                "exit 0: hello.txt",
                "state: stats",
                "state: stats",
                "finish: Created hello.txt",
                "finish: Created hello.txt",
                "status: finished",
            ]
        "#]]
        .assert_debug_eq(&summaries);
    }

    #[test]
    fn snapshot_and_status() {
        let events = fixture_events();
        assert!(events[0].is_snapshot());
        assert_eq!(events[0].execution_status(), Some("idle"));
        assert_eq!(events.last().unwrap().execution_status(), Some("finished"));
        assert_eq!(events[9].finish_message().as_deref(), Some("Created hello.txt"));
        assert_eq!(events[6].answers_action(), Some(events[5].id.as_str()));
    }

    #[test]
    fn edited_paths_are_shown_relative_to_where_the_agent_works() {
        let edit = |path: &str| {
            AgentEvent::from_json(
                json!({"id": "a", "kind": "ActionEvent", "source": "agent", "tool_name": "file_editor",
                "action": {"kind": "FileEditorAction", "command": "str_replace", "path": path}}),
            )
            .unwrap()
        };
        let roots = ["/home/me/.local/state/c/1/worktree".to_owned(), "/workspace/".to_owned()];
        let within = |path: &str| edit(path).summary_within(&roots);
        assert_eq!(within("/home/me/.local/state/c/1/worktree//src/a.txt"), "edit src/a.txt");
        assert_eq!(within("/workspace/a.txt"), "edit a.txt");
        assert_eq!(within("/etc/hosts"), "edit /etc/hosts", "outside every root: as it is");
        assert_eq!(within("/workspace-other/a.txt"), "edit /workspace-other/a.txt", "a root is a whole folder");
        assert_eq!(edit("/workspace/a.txt").summary(), "edit /workspace/a.txt");
    }

    #[test]
    fn unknown_kinds_are_kept_whole() {
        let raw = json!({"id": "x", "kind": "BrandNewEvent", "source": "agent", "timestamp": "t", "payload": [1, 2]});
        let e = AgentEvent::from_json(raw.clone()).unwrap();
        assert_eq!(e.summary(), "BrandNewEvent");
        assert_eq!(NormalizedEvent::new("c", 0, e, &[]).raw, raw);
    }

    #[test]
    fn huge_output_is_capped_with_a_marker() {
        let big = "x".repeat(1_000_000);
        let raw = json!({"id": "o", "kind": "ObservationEvent", "tool_name": "terminal",
            "observation": {"content": [{"type": "text", "text": big}], "exit_code": 0}});
        let n = NormalizedEvent::new("c", 0, AgentEvent::from_json(raw).unwrap(), &[]);
        assert!(n.detail.len() < DETAIL_MAX_BYTES + 100 && n.detail.contains("more bytes not shown"));
        assert!(n.raw.to_string().len() < RAW_STRING_MAX_BYTES + 1000);
    }

    #[test]
    fn events_without_id_or_kind_are_rejected() {
        assert!(AgentEvent::from_json(json!({"kind": "X"})).is_err());
        assert!(AgentEvent::from_json(json!({"id": "X"})).is_err());
    }

    #[test]
    fn a_note_to_the_agent_is_no_message_of_the_users_and_reads_without_its_mark() {
        let text = format!("{NOTE_MARK}\nThe user reviewed your changes. Applied to their files now: a.txt.");
        let raw = json!({"id": "n", "kind": "MessageEvent", "source": "user", "timestamp": "t",
                         "llm_message": {"role": "user", "content": [{"type": "text", "text": text}]}});
        let note = AgentEvent::from_json(raw).unwrap();
        assert_eq!(note.source, NOTE_SOURCE);
        assert_eq!(
            note.summary(),
            "note to the agent: The user reviewed your changes. Applied to their files now: a.txt."
        );
        assert!(!note.detail(DETAIL_MAX_BYTES).contains(NOTE_MARK));
        let raw = json!({"id": "u", "kind": "MessageEvent", "source": "user", "timestamp": "t",
                         "llm_message": {"role": "user", "content": [{"type": "text", "text": "Do it"}]}});
        assert_eq!(AgentEvent::from_json(raw).unwrap().source, "user", "the user's own words stay theirs");
    }
}

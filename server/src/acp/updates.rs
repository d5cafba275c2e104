//! The agent's events as ACP `session/update`s: its messages and thoughts as chunks (streamed deltas when the
//! model streams), each tool call with its kind, status and content (a terminal command's output capped, an edit as
//! a diff of the user's file), the task tracker as the plan, the agent-server's stats as usage.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use agent_client_protocol_schema::v1::{
    ContentBlock, ContentChunk, Cost, Diff, Plan, PlanEntry, PlanEntryPriority, PlanEntryStatus, SessionUpdate,
    TextContent, ToolCall, ToolCallContent, ToolCallLocation, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields,
    ToolKind, UsageUpdate,
};
use serde_json::Value;

use crate::agent_server::events::{DETAIL_MAX_BYTES, NormalizedEvent};

/// What a conversation's events need to be told: where the user's files are, and what came before.
pub struct Mapper {
    /// The user's folder: an edited file's diff names the file there (where an apply will put the change).
    cwd: PathBuf,
    /// Where the agent works (its copy, a container's `/workspace`): paths under them are the user's files.
    roots: Vec<String>,
    /// The same for each extra folder of a task across folders, with the user's folder they stand for.
    folders: Vec<(Vec<String>, PathBuf)>,
    /// Deltas were streamed since the last message or action: its text was seen already.
    streamed: bool,
    /// Tool call ids by the id of the action event that made them (what confirmations and errors refer to).
    calls: HashMap<String, String>,
    /// The turn's agent hit its iteration limit.
    pub hit_iteration_limit: bool,
}

pub fn text_chunk(text: impl Into<String>) -> ContentChunk {
    ContentChunk::new(ContentBlock::Text(TextContent::new(text)))
}

fn text_content(text: impl Into<String>) -> ToolCallContent {
    ToolCallContent::Content(agent_client_protocol_schema::v1::Content::new(ContentBlock::Text(TextContent::new(text))))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Text parts of a content list (`[{"type": "text", "text": ...}]`) or a plain string.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

impl Mapper {
    pub fn new(cwd: PathBuf, roots: Vec<String>) -> Self {
        Mapper { cwd, roots, folders: Vec::new(), streamed: false, calls: HashMap::new(), hit_iteration_limit: false }
    }

    /// Where the agent works, once its conversation has a copy (the roots a path is the user's file under), and
    /// where it sees each extra folder.
    pub fn set_roots(&mut self, roots: Vec<String>, folders: Vec<(Vec<String>, PathBuf)>) {
        self.roots = roots;
        self.folders = folders;
    }

    /// The tool call an action event made, for a permission request about it.
    pub fn tool_call_of(&self, action_id: &str) -> Option<&str> {
        self.calls.get(action_id).map(String::as_str)
    }

    /// A path the agent named, as the user's file: under one of the agent's roots (the longest that holds it) it
    /// is the same path in the user's folder; anything else stays as it is.
    pub fn user_path(&self, path: &str) -> PathBuf {
        for (roots, folder) in &self.folders {
            if let Some(rest) = crate::agent_server::events::relative_to_roots(path, roots) {
                return folder.join(rest);
            }
        }
        match crate::agent_server::events::relative_to_roots(path, &self.roots) {
            Some(rest) => self.cwd.join(rest),
            None if Path::new(path).is_relative() => self.cwd.join(path),
            None => PathBuf::from(path),
        }
    }

    /// The updates an event makes. `replay`: a user's message is shown too (when loading a session's history).
    pub fn map(&mut self, event: &NormalizedEvent, replay: bool) -> Vec<SessionUpdate> {
        let raw = &event.raw;
        match event.kind.as_str() {
            "StreamingDeltaEvent" => self.delta(raw),
            "MessageEvent" => {
                let streamed = std::mem::take(&mut self.streamed);
                let text = text_of(raw.get("llm_message").and_then(|m| m.get("content")));
                if text.trim().is_empty() {
                    return Vec::new();
                }
                match event.source.as_str() {
                    "user" if replay => vec![SessionUpdate::UserMessageChunk(text_chunk(text))],
                    "agent" if !streamed => vec![SessionUpdate::AgentMessageChunk(text_chunk(text))],
                    _ => Vec::new(),
                }
            }
            "ActionEvent" => self.action(event),
            "ObservationEvent" => self.observation(raw),
            "UserRejectObservation" => self.failed(raw, &format!("Rejected: {}", event.detail)),
            "AgentErrorEvent" => self.failed(raw, &format!("Error: {}", event.detail)),
            "ConversationErrorEvent" => {
                if str_of(raw, "code") == "MaxIterationsReached" {
                    self.hit_iteration_limit = true;
                }
                // The turn ends with it: the prompt's answer says it.
                Vec::new()
            }
            "ConversationStateUpdateEvent" if str_of(raw, "key") == "stats" => {
                usage(raw.get("value")).map(SessionUpdate::UsageUpdate).into_iter().collect()
            }
            _ => Vec::new(),
        }
    }

    fn delta(&mut self, raw: &Value) -> Vec<SessionUpdate> {
        let mut out = Vec::new();
        let reasoning = str_of(raw, "reasoning_content");
        if !reasoning.is_empty() {
            out.push(SessionUpdate::AgentThoughtChunk(text_chunk(reasoning)));
        }
        let content = str_of(raw, "content");
        if !content.is_empty() {
            out.push(SessionUpdate::AgentMessageChunk(text_chunk(content)));
        }
        self.streamed |= !out.is_empty();
        out
    }

    fn action(&mut self, event: &NormalizedEvent) -> Vec<SessionUpdate> {
        let raw = &event.raw;
        let streamed = std::mem::take(&mut self.streamed);
        let mut out = Vec::new();
        if !streamed {
            let mut thought = text_of(raw.get("thought"));
            let reasoning = str_of(raw, "reasoning_content");
            if !reasoning.is_empty() {
                thought = if thought.is_empty() { reasoning.to_owned() } else { format!("{reasoning}\n\n{thought}") };
            }
            if !thought.trim().is_empty() {
                out.push(SessionUpdate::AgentThoughtChunk(text_chunk(thought)));
            }
        }
        let action = raw.get("action").unwrap_or(&Value::Null);
        let tool = str_of(raw, "tool_name");
        let call_id = match str_of(raw, "tool_call_id") {
            "" => event.id.clone(),
            id => id.to_owned(),
        };
        match (tool, str_of(action, "kind")) {
            ("finish", _) | (_, "FinishAction") => {
                let message = str_of(action, "message");
                if !message.trim().is_empty() {
                    out.push(SessionUpdate::AgentMessageChunk(text_chunk(message)));
                }
                return out;
            }
            ("think", _) | (_, "ThinkAction") => {
                // The agent's think tool: a tool call of kind `think` holding the thought (its observation adds
                // nothing).
                let thought = str_of(action, "thought");
                let call = ToolCall::new(call_id, "Thinking")
                    .kind(ToolKind::Think)
                    .status(ToolCallStatus::Completed)
                    .content(vec![text_content(thought)]);
                out.push(SessionUpdate::ToolCall(call));
                return out;
            }
            ("task_tracker", _) if action.get("task_list").is_some_and(Value::is_array) => {
                out.push(SessionUpdate::Plan(plan(action)));
                return out;
            }
            _ => {}
        }
        self.calls.insert(event.id.clone(), call_id.clone());
        let mut call = ToolCall::new(call_id, event.summary.clone())
            .status(ToolCallStatus::InProgress)
            .raw_input(Some(action.clone()));
        call = match tool {
            "file_editor" => self.file_call(call, action),
            tool => call.kind(kind_of_tool(tool)),
        };
        out.push(SessionUpdate::ToolCall(call));
        out
    }

    fn file_call(&self, call: ToolCall, action: &Value) -> ToolCall {
        let path = self.user_path(str_of(action, "path"));
        let call = call.locations(vec![ToolCallLocation::new(path.clone())]);
        match str_of(action, "command") {
            "view" => call.kind(ToolKind::Read),
            "create" => call
                .kind(ToolKind::Edit)
                .content(vec![ToolCallContent::Diff(Diff::new(path, str_of(action, "file_text")))]),
            "str_replace" => call.kind(ToolKind::Edit).content(vec![ToolCallContent::Diff(
                Diff::new(path, str_of(action, "new_str")).old_text(Some(str_of(action, "old_str").to_owned())),
            )]),
            _ => call.kind(ToolKind::Edit),
        }
    }

    fn observation(&mut self, raw: &Value) -> Vec<SessionUpdate> {
        let call_id = str_of(raw, "tool_call_id");
        let tool = str_of(raw, "tool_name");
        if call_id.is_empty() || matches!(tool, "finish" | "think" | "task_tracker") {
            return Vec::new();
        }
        let obs = raw.get("observation").unwrap_or(&Value::Null);
        let failed = obs.get("is_error").and_then(Value::as_bool).unwrap_or(false);
        let text = crate::agent_server::events::cap(&text_of(obs.get("content")), DETAIL_MAX_BYTES);
        let content = match tool {
            "terminal" => {
                let code = obs.get("exit_code").and_then(Value::as_i64);
                let mut shown = format!("```console\n{}\n```", text.trim_end());
                if let Some(code) = code.filter(|c| *c != 0) {
                    shown.push_str(&format!("\nexit code {code}"));
                }
                vec![text_content(shown)]
            }
            "file_editor" if obs.get("new_content").is_some_and(Value::is_string) && !failed => {
                let path = self.user_path(str_of(obs, "path"));
                let old = obs.get("old_content").and_then(Value::as_str).map(str::to_owned);
                vec![ToolCallContent::Diff(Diff::new(path, str_of(obs, "new_content")).old_text(old))]
            }
            _ if text.trim().is_empty() => Vec::new(),
            _ => vec![text_content(text)],
        };
        let status = if failed { ToolCallStatus::Failed } else { ToolCallStatus::Completed };
        let mut fields = ToolCallUpdateFields::new().status(status).raw_output(Some(obs.clone()));
        if !content.is_empty() {
            fields = fields.content(Some(content));
        }
        vec![SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(call_id.to_owned(), fields))]
    }

    /// A rejection or an error that answers an action: its tool call failed, saying why.
    fn failed(&mut self, raw: &Value, text: &str) -> Vec<SessionUpdate> {
        let call = match str_of(raw, "tool_call_id") {
            "" => raw.get("action_id").and_then(Value::as_str).and_then(|a| self.calls.get(a)).cloned(),
            id => Some(id.to_owned()),
        };
        match call {
            Some(id) => {
                let fields =
                    ToolCallUpdateFields::new().status(ToolCallStatus::Failed).content(Some(vec![text_content(text)]));
                vec![SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(id, fields))]
            }
            None => vec![SessionUpdate::AgentMessageChunk(text_chunk(text))],
        }
    }
}

/// The task tracker's list as ACP's plan.
fn plan(action: &Value) -> Plan {
    let entries = action
        .get("task_list")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|task| {
            let status = match str_of(task, "status") {
                "done" | "completed" => PlanEntryStatus::Completed,
                "in_progress" => PlanEntryStatus::InProgress,
                _ => PlanEntryStatus::Pending,
            };
            PlanEntry::new(str_of(task, "title"), PlanEntryPriority::Medium, status)
        })
        .collect();
    Plan::new(entries)
}

/// The agent-server's `stats` as usage: the tokens the last call used of the model's context window, and the cost
/// so far (in USD). Nothing while the model's window is not known: a size of 0 would read as a full context.
fn usage(stats: Option<&Value>) -> Option<UsageUpdate> {
    let metrics = stats?.get("usage_to_metrics")?.as_object()?;
    let agent = metrics.get("agent").or_else(|| metrics.values().next())?;
    let tokens = agent.get("accumulated_token_usage")?;
    let window = tokens.get("context_window").and_then(Value::as_u64).filter(|w| *w > 0)?;
    let used = tokens.get("per_turn_token").and_then(Value::as_u64).unwrap_or(0);
    let mut update = UsageUpdate::new(used, window);
    if let Some(cost) = agent.get("accumulated_cost").and_then(Value::as_f64) {
        update = update.cost(Some(Cost::new(cost, "USD")));
    }
    Some(update)
}

/// The kind of a tool call of the agent's `tool` (a file editor's view is a read, told by its command).
pub fn kind_of_tool(tool: &str) -> ToolKind {
    match tool {
        "terminal" => ToolKind::Execute,
        "file_editor" => ToolKind::Edit,
        "think" => ToolKind::Think,
        _ => ToolKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(raw: Value) -> NormalizedEvent {
        let e = crate::agent_server::events::AgentEvent::from_json(raw).expect("event");
        NormalizedEvent::new("c", 0, e, &["/work/copy".to_owned()])
    }

    fn mapper() -> Mapper {
        Mapper::new(PathBuf::from("/home/me/proj"), vec!["/work/copy".into(), "/workspace".into()])
    }

    #[test]
    fn a_path_is_mapped_by_the_longest_root_that_holds_it() {
        // The user opened a subfolder of a repository: the agent works in the same subfolder of its copy.
        let m = Mapper::new(
            PathBuf::from("/home/me/repo/sub"),
            vec!["/workspace".into(), "/workspace/sub".into(), "/state/c/worktree/sub".into()],
        );
        assert_eq!(m.user_path("/workspace/sub/a.rs"), PathBuf::from("/home/me/repo/sub/a.rs"));
        assert_eq!(m.user_path("/state/c/worktree/sub/b/c.rs"), PathBuf::from("/home/me/repo/sub/b/c.rs"));
        assert_eq!(m.user_path("/etc/hosts"), PathBuf::from("/etc/hosts"));
        assert_eq!(m.user_path("d.rs"), PathBuf::from("/home/me/repo/sub/d.rs"));
    }

    fn as_json(updates: &[SessionUpdate]) -> Value {
        serde_json::to_value(updates).expect("json")
    }

    #[test]
    fn a_command_is_an_execute_call_completed_with_its_output() {
        let mut m = mapper();
        let action = event(json!({"id": "a1", "kind": "ActionEvent", "source": "agent", "tool_name": "terminal",
            "tool_call_id": "call_1", "thought": [{"type": "text", "text": "Listing."}],
            "action": {"kind": "TerminalAction", "command": "ls"}}));
        let u = as_json(&m.map(&action, false));
        assert_eq!(u[0]["sessionUpdate"], "agent_thought_chunk");
        assert_eq!(u[0]["content"]["text"], "Listing.");
        assert_eq!(u[1]["sessionUpdate"], "tool_call");
        assert_eq!(u[1]["toolCallId"], "call_1");
        assert_eq!(u[1]["kind"], "execute");
        assert_eq!(u[1]["status"], "in_progress");
        assert_eq!(u[1]["title"], "$ ls");
        assert_eq!(m.tool_call_of("a1"), Some("call_1"));
        let obs =
            event(json!({"id": "o1", "kind": "ObservationEvent", "source": "environment", "tool_name": "terminal",
            "tool_call_id": "call_1", "action_id": "a1",
            "observation": {"content": [{"type": "text", "text": "a.txt"}], "exit_code": 2, "is_error": false}}));
        let u = as_json(&m.map(&obs, false));
        assert_eq!(u[0]["sessionUpdate"], "tool_call_update");
        assert_eq!(u[0]["status"], "completed");
        assert_eq!(u[0]["content"][0]["content"]["text"], "```console\na.txt\n```\nexit code 2");
    }

    #[test]
    fn an_edit_is_a_diff_of_the_users_file() {
        let mut m = mapper();
        let action = event(json!({"id": "a2", "kind": "ActionEvent", "source": "agent", "tool_name": "file_editor",
            "tool_call_id": "call_2", "action": {"kind": "FileEditorAction", "command": "str_replace",
            "path": "/work/copy/src/a.rs", "old_str": "one", "new_str": "two"}}));
        let u = as_json(&m.map(&action, false));
        assert_eq!(u[0]["kind"], "edit");
        assert_eq!(u[0]["content"][0]["type"], "diff");
        assert_eq!(u[0]["content"][0]["path"], "/home/me/proj/src/a.rs");
        assert_eq!(u[0]["content"][0]["oldText"], "one");
        assert_eq!(u[0]["locations"][0]["path"], "/home/me/proj/src/a.rs");
        let obs = event(json!({"id": "o2", "kind": "ObservationEvent", "source": "environment",
            "tool_name": "file_editor", "tool_call_id": "call_2", "observation": {"content": [],
            "path": "/workspace/src/a.rs", "old_content": "one\n", "new_content": "two\n", "is_error": false}}));
        let u = as_json(&m.map(&obs, false));
        assert_eq!(u[0]["content"][0]["path"], "/home/me/proj/src/a.rs");
        assert_eq!(u[0]["content"][0]["oldText"], "one\n");
        assert_eq!(u[0]["content"][0]["newText"], "two\n");
    }

    #[test]
    fn streamed_text_is_not_sent_twice_and_the_task_list_is_the_plan() {
        let mut m = mapper();
        let delta = event(json!({"id": "d", "kind": "StreamingDeltaEvent", "source": "agent", "content": "Hel"}));
        assert_eq!(as_json(&m.map(&delta, false))[0]["sessionUpdate"], "agent_message_chunk");
        let message = event(json!({"id": "m", "kind": "MessageEvent", "source": "agent",
            "llm_message": {"content": [{"type": "text", "text": "Hello"}]}}));
        assert!(m.map(&message, false).is_empty(), "streamed already");
        assert_eq!(as_json(&m.map(&message, false))[0]["content"]["text"], "Hello", "a message not streamed");
        let tracker = event(json!({"id": "t", "kind": "ActionEvent", "source": "agent", "tool_name": "task_tracker",
            "action": {"kind": "TaskTrackerAction", "command": "plan", "task_list": [
                {"title": "Read", "status": "done"}, {"title": "Write", "status": "in_progress"},
                {"title": "Test", "status": "todo"}]}}));
        let u = as_json(&m.map(&tracker, false));
        assert_eq!(u[0]["sessionUpdate"], "plan");
        let statuses: Vec<&str> =
            u[0]["entries"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["completed", "in_progress", "pending"]);
    }

    #[test]
    fn the_think_tool_is_a_think_call_with_the_thought() {
        let mut m = mapper();
        let think = event(json!({"id": "k", "kind": "ActionEvent", "source": "agent", "tool_name": "think",
            "tool_call_id": "call_k", "action": {"kind": "ThinkAction", "thought": "Two ways to do it."}}));
        let u = as_json(&m.map(&think, false));
        assert_eq!(u[0]["sessionUpdate"], "tool_call");
        assert_eq!(u[0]["kind"], "think");
        assert_eq!(u[0]["status"], "completed");
        assert_eq!(u[0]["content"][0]["content"]["text"], "Two ways to do it.");
        let obs = event(json!({"id": "ko", "kind": "ObservationEvent", "source": "environment", "tool_name": "think",
            "tool_call_id": "call_k", "observation": {"content": [{"type": "text", "text": "Your thought has been logged."}]}}));
        assert!(m.map(&obs, false).is_empty());
    }

    #[test]
    fn usage_needs_the_models_window() {
        let stats = |window: u64| {
            event(json!({"id": "s", "kind": "ConversationStateUpdateEvent", "source": "environment", "key": "stats",
                "value": {"usage_to_metrics": {"agent": {"accumulated_cost": 0.25, "accumulated_token_usage":
                {"prompt_tokens": 100, "completion_tokens": 5, "context_window": window, "per_turn_token": 105}}}}}))
        };
        let mut m = mapper();
        assert!(m.map(&stats(0), false).is_empty());
        let u = as_json(&m.map(&stats(128000), false));
        assert_eq!(u[0]["sessionUpdate"], "usage_update");
        assert_eq!(u[0]["used"], 105);
        assert_eq!(u[0]["size"], 128000);
        assert_eq!(u[0]["cost"]["amount"], 0.25);
        assert_eq!(u[0]["cost"]["currency"], "USD");
    }
}

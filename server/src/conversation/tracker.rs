//! What a runner remembers across a conversation's events: the actions awaiting an answer (and which the user
//! allowed or was asked about), the risk each was rated, the last error, the finish message, the model's silence.

use std::collections::HashMap;

use super::PendingAction;
use crate::agent_server::events::{AgentEvent, DETAIL_MAX_BYTES, View};
use crate::config::ConfirmationMode;

/// What the runner remembers across events: actions awaiting an answer, the last error, the finish message.
#[derive(Default)]
pub(super) struct Tracker {
    /// Where the agent works, as it and the user see it: paths under them are shown relative.
    pub roots: Vec<String>,
    pub open_actions: HashMap<String, PendingAction>,
    /// Open actions by their tool call id: an `AgentErrorEvent` answers an action by that id alone.
    pub tool_calls: HashMap<String, String>,
    pub order: Vec<String>,
    /// Actions the user allowed (they may still be running).
    pub allowed: std::collections::HashSet<String>,
    /// The risk the model stated for each action (`security_risk`).
    pub risk: HashMap<String, String>,
    /// Action ids (and tool call ids) that have their observation, rejection or error.
    pub answered: std::collections::HashSet<String>,
    /// Since when the agent waits on the model (a turn began, a tool's result came back, a token streamed in).
    pub model_since: Option<std::time::Instant>,
    /// When the last event came.
    pub last_event: Option<std::time::Instant>,
    /// The sandbox was frozen from outside while the agent worked: resuming only thaws it.
    pub paused_outside: bool,
    /// The user was asked and has not answered yet.
    pub awaiting_answer: bool,
    pub last_error: Option<String>,
    pub finish_message: Option<String>,
    /// Set while an error status waits for its detail.
    pub error_deadline: Option<tokio::time::Instant>,
    /// Actions the user was already asked about.
    pub asked: std::collections::HashSet<String>,
    /// A turn was started and the agent-server has not yet reported it running.
    pub awaiting_run: bool,
    /// The next snapshot is the agent-server's record of an earlier sandbox's state (see `resume`).
    pub stale_snapshot: bool,
    /// The agent's files came back from a remote engine since it last acted (see [`Tracker::files_due`]).
    pub files_back_since_acted: bool,
}

impl Tracker {
    pub fn observe(&mut self, event: &AgentEvent) {
        self.last_event = Some(std::time::Instant::now());
        if matches!(
            event.kind.as_str(),
            "ActionEvent" | "ObservationEvent" | "UserRejectObservation" | "AgentErrorEvent"
        ) {
            self.files_back_since_acted = false;
        }
        let tool_call = event.raw.get("tool_call_id").and_then(|v| v.as_str());
        self.model_since = match (event.kind.as_str(), event.source.as_str()) {
            // A tool is running (its silence is the tool's, not the model's), or the agent spoke.
            ("ActionEvent", _) | ("MessageEvent", "agent") => None,
            // The model's turn: after a tool's result, a rejection, an error of a tool, the user's message, or
            // while tokens stream in (each one restarts the clock).
            ("ObservationEvent" | "UserRejectObservation" | "AgentErrorEvent" | "StreamingDeltaEvent", _)
            | ("MessageEvent", "user") => Some(std::time::Instant::now()),
            _ => self.model_since,
        };
        let answered_action = match event.answers_action() {
            Some(action) => Some(action.to_owned()),
            None if event.kind == "AgentErrorEvent" => tool_call.and_then(|c| self.tool_calls.get(c).cloned()),
            None => None,
        };
        match answered_action {
            Some(action) if self.open_actions.contains_key(&action) => self.forget(&action),
            // An answer before its action (a replay): remembered until the action arrives.
            _ => {
                if let Some(key) = event.answers_action().or(tool_call.filter(|_| event.kind == "AgentErrorEvent")) {
                    self.answered.insert(key.to_owned());
                }
            }
        }
        match event.view() {
            View::Action { tool, .. } => {
                // A replay (the cloud's) can deliver an answer before its action: such an action is not open.
                // Taken, not looked at: a remembered answer is used once.
                let answered = self.answered.remove(&event.id) | tool_call.is_some_and(|c| self.answered.remove(c));
                if !answered {
                    if let Some(call) = tool_call {
                        self.tool_calls.insert(call.to_owned(), event.id.clone());
                    }
                    if let Some(risk) = event.raw.get("security_risk").and_then(|v| v.as_str()) {
                        self.risk.insert(event.id.clone(), risk.to_owned());
                    }
                    self.open_actions.insert(
                        event.id.clone(),
                        PendingAction {
                            id: event.id.clone(),
                            tool: tool.to_owned(),
                            summary: event.summary_within(&self.roots),
                            detail: event.detail(DETAIL_MAX_BYTES),
                        },
                    );
                    self.order.push(event.id.clone());
                }
                if let Some(m) = event.finish_message() {
                    self.finish_message = Some(m);
                }
            }
            View::Error { message } => self.last_error = Some(message),
            View::Message { .. } if event.source == "user" => {
                self.finish_message = None;
                self.last_error = None;
            }
            _ => {}
        }
    }

    /// True when some of `actions` were never asked about (and remembers them as asked).
    pub fn first_time_asked(&mut self, actions: &[PendingAction]) -> bool {
        let mut new = false;
        for a in actions {
            new |= self.asked.insert(a.id.clone());
        }
        new
    }

    /// An answered action: nothing more is kept of it.
    pub fn forget(&mut self, action: &str) {
        self.open_actions.remove(action);
        self.risk.remove(action);
        self.allowed.remove(action);
        self.tool_calls.retain(|_, a| a != action);
    }

    /// The user allowed what is pending now.
    pub fn allow_pending(&mut self) {
        let pending: Vec<String> = self.pending().into_iter().map(|a| a.id).collect();
        self.allowed.extend(pending);
        self.awaiting_answer = false;
    }

    pub fn pending(&mut self) -> Vec<PendingAction> {
        self.order.retain(|id| self.open_actions.contains_key(id));
        self.order.iter().filter_map(|id| self.open_actions.get(id).cloned()).collect()
    }
}

/// Whether the agent-server's policy asks about an action of this risk (as the SDK's `ConfirmRisky` does: HIGH, or
/// a risk the model did not state).
pub(super) fn policy_asks(mode: ConfirmationMode, risk: Option<&str>) -> bool {
    match mode {
        ConfirmationMode::Never => false,
        ConfirmationMode::Always => true,
        ConfirmationMode::Risky => !matches!(risk, Some("LOW" | "MEDIUM")),
    }
}

/// Actions confirmed without asking, and steps without a checkpoint: they touch nothing.
pub(super) use crate::agent_server::events::QUIET_TOOLS as HARMLESS_TOOLS;

/// Resolves at `deadline` (the tracker's error deadline); never without one.
pub(super) async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Tracker {
    /// Whether the agent's files must come back from a remote engine now that the agent-server reports `status`:
    /// when it comes to rest (a turn's end, a question, a pause, an error), but not again for a resting status it
    /// publishes anew (after an answer, on a reconnect) while the agent did nothing.
    pub fn files_due(&mut self, status: &str) -> bool {
        match status {
            "running" => {
                self.files_back_since_acted = false;
                false
            }
            "finished" | "error" | "stuck" | "paused" | "waiting_for_confirmation" => {
                !std::mem::replace(&mut self.files_back_since_acted, true)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: serde_json::Value) -> AgentEvent {
        AgentEvent::from_json(v).unwrap()
    }

    fn action(id: &str, call: &str, risk: &str) -> AgentEvent {
        event(json!({"kind": "ActionEvent", "id": id, "source": "agent", "tool_name": "terminal",
            "tool_call_id": call, "security_risk": risk, "action": {"kind": "TerminalAction", "command": "ls"}}))
    }

    #[test]
    fn an_answer_replayed_before_its_action_leaves_nothing_open() {
        let mut t = Tracker::default();
        t.observe(&event(json!({"kind": "ObservationEvent", "id": "o1", "source": "environment", "action_id": "a1",
            "observation": {"kind": "TerminalObservation"}})));
        t.observe(&action("a1", "c1", "LOW"));
        assert!(t.pending().is_empty());
    }

    #[test]
    fn an_agent_error_answers_by_tool_call_id() {
        let mut t = Tracker::default();
        t.observe(&action("a1", "c1", "HIGH"));
        assert_eq!(t.pending().len(), 1);
        t.observe(&event(json!({"kind": "AgentErrorEvent", "id": "e1", "source": "agent", "tool_call_id": "c1",
            "error": "interrupted"})));
        assert!(t.pending().is_empty());
    }

    #[test]
    fn files_come_back_once_per_rest_not_for_a_status_published_again() {
        let mut t = Tracker::default();
        assert!(t.files_due("waiting_for_confirmation"), "the first rest");
        assert!(!t.files_due("waiting_for_confirmation"), "published again after an answer: nothing ran");
        assert!(!t.files_due("paused"), "paused while waiting: nothing ran");
        t.observe(&action("a1", "c1", "LOW"));
        assert!(t.files_due("paused"), "the agent acted since");
        assert!(!t.files_due("running") && t.files_due("finished"), "a new turn ran");
        assert!(!t.files_due("idle"));
    }

    #[test]
    fn the_risky_policy_asks_for_high_and_unrated_actions() {
        assert!(policy_asks(ConfirmationMode::Risky, Some("HIGH")));
        assert!(policy_asks(ConfirmationMode::Risky, Some("UNKNOWN")));
        assert!(policy_asks(ConfirmationMode::Risky, None));
        assert!(!policy_asks(ConfirmationMode::Risky, Some("LOW")));
        assert!(policy_asks(ConfirmationMode::Always, Some("LOW")));
        assert!(!policy_asks(ConfirmationMode::Never, Some("HIGH")));
    }
}

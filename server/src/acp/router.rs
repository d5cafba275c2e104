//! The manager's updates to the client: each event as session updates (in order, per session), a turn ended when
//! its conversation settles or pauses, a permission asked when the agent waits, the start of a sandbox shown.

use std::sync::Arc;

use agent_client_protocol_schema::v1::{SessionUpdate, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields};
use tokio::sync::mpsc;

use super::front::Front;
use super::session::TurnEnd;
use crate::conversation::{Observer, State, Update};

/// The manager's observer: updates go to the router in order.
pub struct ChannelObserver(pub mpsc::UnboundedSender<Update>);

impl Observer for ChannelObserver {
    fn update(&self, update: Update) {
        let _ = self.0.send(update);
    }
}

/// Routes the manager's updates until the manager is gone.
pub async fn route(front: Arc<Front>, mut updates: mpsc::UnboundedReceiver<Update>) {
    while let Some(update) = updates.recv().await {
        match update {
            Update::Event(event, credit) => {
                let id = event.conversation_id.clone();
                let out = front.with_session(&id, |s| {
                    let mut out = Vec::new();
                    if let Some(call) = s.starting_call.take() {
                        out.push(start_call_done(&call, ToolCallStatus::Completed, None));
                    }
                    out.extend(s.mapper.map(&event, false));
                    out
                });
                for update in out.into_iter().flatten() {
                    front.send(&id, update);
                }
                // The event is on its way: the conversation may take the next.
                drop(credit);
            }
            Update::Progress { conversation_id, message } => {
                let call = front.with_session(&conversation_id, |s| s.starting_call.clone()).ok().flatten();
                if let Some(call) = call {
                    let fields = ToolCallUpdateFields::new().title(Some(message));
                    front.send(&conversation_id, SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(call, fields)));
                }
            }
            Update::Notice { conversation_id, message } => {
                front.send(&conversation_id, super::review::message(format!("Note: {message}\n\n")));
            }
            Update::ConfirmationNeeded { conversation_id, actions } => {
                tokio::spawn(super::turn::ask_permission(front.clone(), conversation_id, actions));
            }
            Update::BudgetReached { conversation_id, spent, raise } => {
                tokio::spawn(super::turn::ask_budget(front.clone(), conversation_id, spent, raise));
            }
            Update::Settled { conversation_id, state, message } => {
                let failed_start = front
                    .with_session(&conversation_id, |s| {
                        let call = s.starting_call.take();
                        s.end_turn(TurnEnd::Settled { state, message: message.clone() });
                        call
                    })
                    .ok()
                    .flatten();
                if let Some(call) = failed_start {
                    let update = start_call_done(&call, ToolCallStatus::Failed, Some(message));
                    front.send(&conversation_id, update);
                }
            }
            Update::Changed(summary) => {
                let roots =
                    crate::conversation::shown_roots(&summary.meta, crate::sandbox::docker::CONTAINER_WORKSPACE);
                let folders = crate::conversation::folder_roots(&summary.meta);
                let _ = front.with_session(&summary.meta.id, |s| {
                    s.mapper.set_roots(roots, folders);
                    // A pause on the budget is a question within the turn, not its end.
                    if summary.meta.state == State::Paused && summary.meta.budget_reached.is_none() {
                        s.end_turn(TurnEnd::Paused);
                    }
                });
            }
            Update::Checkpoint { .. } => {}
        }
    }
}

/// The start's tool call, ended: a short title (panels cut long ones), why it failed in its content, and the
/// whole text in `rawOutput`.
fn start_call_done(call: &str, status: ToolCallStatus, why: Option<String>) -> SessionUpdate {
    let mut fields = ToolCallUpdateFields::new().status(status);
    if let Some(why) = why {
        let first = why.lines().next().unwrap_or_default();
        let shown = crate::agent_server::events::cap(first, 600);
        fields = fields
            .title(Some("The agent did not start".to_owned()))
            .content(Some(vec![super::review::text_content(shown)]))
            .raw_output(Some(serde_json::json!({"error": why})));
    } else {
        fields = fields.title(Some("Agent started".to_owned()));
    }
    SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(call.to_owned(), fields))
}

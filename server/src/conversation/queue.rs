//! Messages the user sends while the agent works: steered into the running turn (the agent's next step reads them),
//! or queued for when the turn ends, shown as queued and taken back until then.

use tokio::sync::oneshot;

use super::model::{Delivery, SendMode};
use super::runner::Runner;
use super::store::QueuedMessage;
use super::tracker::Tracker;
use super::{ConversationError, State};
use crate::agent_server::stream;
use crate::agent_server::{AgentServerClient, AgentServerError};
use crate::sandbox::Sandbox;

/// Adds the message between two steps, never with a run: a run while an action waits for the user's answer would
/// run that action unasked (the agent-server's implicit confirmation), and the step under way may have just asked.
/// Taken, the message is read by the turn's next step; a turn that ended meanwhile (the message left it idle) is
/// run again for it; one that waits for an answer keeps it for after the answer.
async fn steer(client: &AgentServerClient, id: &str, text: &str, images: &[String]) -> Result<(), AgentServerError> {
    client.steer_message(id, text, images).await?;
    let status = client.get_conversation(id).await?;
    if status.get("execution_status").and_then(serde_json::Value::as_str) == Some("idle") {
        super::runner::run_when_idle(client, id).await?;
    }
    Ok(())
}

impl Runner {
    /// Whether a message queued now waits: the agent works on a turn (or the user must answer it first).
    pub(super) fn turn_under_way(&self) -> bool {
        matches!(self.meta().state, State::Starting | State::Running | State::WaitingForConfirmation)
    }

    /// A message from the user: steered into the running turn, queued after it, or sent (it starts a turn).
    pub(super) async fn on_send(
        &mut self,
        (text, images, run, mode): (String, Vec<String>, bool, SendMode),
        reply: oneshot::Sender<Result<Delivery, ConversationError>>,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &stream::Subscription,
        tracker: &mut Tracker,
    ) {
        let running = self.meta().state == State::Running;
        if run && mode == SendMode::Queue && self.turn_under_way() {
            let _ = reply.send(Ok(self.enqueue(text, images)));
        } else if run && running {
            // Steered: the agent-server takes it once the running step ends (the step holds the conversation), so
            // it is sent beside the runner, which meanwhile follows the step (and records its checkpoint, which
            // the step waits for). The agent's next step reads it; the turn's own `finished` ends the turn.
            let (client, id) = (client.clone(), self.agent_id().to_owned());
            tokio::spawn(async move {
                let sent = steer(&client, &id, &text, &images).await;
                let _ = reply.send(sent.map(|()| Delivery::Sent).map_err(ConversationError::from));
            });
        } else {
            let sent = self.send_within_budget((text, images, run), sandbox, client, sub, tracker).await;
            let _ = reply.send(sent.map(|()| Delivery::Sent));
        }
    }

    /// Puts a message in the queue (the conversation's `queued`, which editors see), its images beside it.
    pub(super) fn enqueue(&mut self, text: String, images: Vec<String>) -> Delivery {
        let message = QueuedMessage { id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(), text };
        if !images.is_empty() {
            self.queued_images.insert(message.id.clone(), images);
        }
        self.update_meta(|m| m.queued.push(message.clone()));
        Delivery::Queued(message)
    }

    /// Takes a queued message back before it is sent: the message, for the editor to put back in its box.
    pub(super) fn unqueue(&mut self, message_id: &str) -> Result<QueuedMessage, ConversationError> {
        let message = self.meta().queued.iter().find(|q| q.id == message_id).cloned();
        let message = message
            .ok_or_else(|| ConversationError::NotQueued { id: self.id.clone(), message: message_id.to_owned() })?;
        self.update_meta(|m| m.queued.retain(|q| q.id != message_id));
        self.queued_images.remove(message_id);
        Ok(message)
    }

    /// Drops what is queued (the conversation stopped: no turn comes after).
    pub(super) fn drop_queue(&mut self) {
        let dropped = self.meta().queued.len();
        if dropped > 0 {
            tracing::info!(conversation = %self.id, "{dropped} queued message(s) dropped: the conversation stopped");
            self.queued_images.clear();
            self.update_meta(|m| m.queued.clear());
        }
    }

    /// Once a turn finished: what was queued goes to the agent, in order, and the last starts the next turn.
    pub(super) async fn send_queued(
        &mut self,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &stream::Subscription,
        tracker: &mut Tracker,
    ) {
        let queued = {
            let meta = self.meta();
            if meta.queued.is_empty() || meta.state != State::Finished {
                return;
            }
            meta.queued.clone()
        };
        self.update_meta(|m| m.queued.clear());
        for (i, message) in queued.iter().enumerate() {
            let images = self.queued_images.remove(&message.id).unwrap_or_default();
            let sent = (message.text.clone(), images.clone(), i + 1 == queued.len());
            if let Err(e) = self.send_within_budget(sent, sandbox, client, sub, tracker).await {
                // What did not reach the agent stays queued, to be taken back or sent after the next turn.
                if !images.is_empty() {
                    self.queued_images.insert(message.id.clone(), images);
                }
                self.update_meta(|m| m.queued = queued[i..].to_vec());
                self.settle(State::Error, None, Some(format!("a queued message could not be sent: {e}")));
                return;
            }
        }
    }
}

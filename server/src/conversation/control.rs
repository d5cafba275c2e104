//! What the manager asks of a conversation's runner, and the answer when the runner cannot do it now.

use tokio::sync::{mpsc, oneshot};

use super::model::{Delivery, SendMode};
use super::store::QueuedMessage;
use super::{ConversationError, Decision};

pub(super) enum Control {
    /// `run`: the agent works on it now (or, queued, once the running turn ends); otherwise it is only added to the
    /// conversation for its next turn.
    Send {
        text: String,
        images: Vec<String>,
        run: bool,
        mode: SendMode,
        reply: oneshot::Sender<Result<Delivery, ConversationError>>,
    },
    /// A queued message taken back before it was sent.
    Unqueue {
        message: String,
        reply: oneshot::Sender<Result<QueuedMessage, ConversationError>>,
    },
    Pause {
        reply: oneshot::Sender<Result<(), ConversationError>>,
    },
    Resume {
        reply: oneshot::Sender<Result<(), ConversationError>>,
    },
    Stop {
        reply: oneshot::Sender<Result<(), ConversationError>>,
    },
    Confirm {
        decision: Decision,
        reply: oneshot::Sender<Result<(), ConversationError>>,
    },
    ReconnectStream,
    /// From now on: another model, another confirmation mode.
    Configure {
        model: Option<String>,
        confirmation: Option<crate::config::ConfirmationMode>,
        reply: oneshot::Sender<Result<(), ConversationError>>,
    },
    /// The budget grows by its own amount again and the agent goes on.
    RaiseBudget {
        reply: oneshot::Sender<Result<(), ConversationError>>,
    },
    /// Back to a checkpoint; the answer is the id of the branch left (kept in history).
    Restore {
        checkpoint: u32,
        reply: oneshot::Sender<Result<String, ConversationError>>,
    },
}

pub(super) fn refuse(msg: Control, id: &str, state: &'static str) {
    let err = |action| ConversationError::WrongState { id: id.to_owned(), state, action };
    match msg {
        Control::Send { reply, .. } => drop(reply.send(Err(err("sending a message")))),
        Control::Unqueue { reply, .. } => drop(reply.send(Err(err("taking a message back")))),
        Control::Pause { reply } => drop(reply.send(Err(err("pausing")))),
        Control::Resume { reply } => drop(reply.send(Err(err("resuming")))),
        Control::Stop { reply } => drop(reply.send(Ok(()))),
        Control::Confirm { reply, .. } => drop(reply.send(Err(err("confirming")))),
        Control::ReconnectStream => {}
        Control::Configure { reply, .. } => drop(reply.send(Err(err("changing its settings")))),
        Control::RaiseBudget { reply } => drop(reply.send(Err(err("raising its budget")))),
        Control::Restore { reply, .. } => drop(reply.send(Err(err("restoring a checkpoint")))),
    }
}

/// After the sandbox is gone: answer what is still queued, then end (the manager forgets the conversation).
pub(super) async fn drain_refusing(mut control: mpsc::Receiver<Control>, id: &str, state: &'static str) {
    control.close();
    while let Some(msg) = control.recv().await {
        refuse(msg, id, state);
    }
}

//! The runner keeping the conversation's budget (`openhands.maxBudgetPerTask`, `openhands.maxTokensPerTask`): the
//! agent-server only counts, so when what the conversation spent goes past a limit the runner pauses the agent at
//! once and the user is asked. Nothing goes on until they raise it: not a resume, not a new message.

use super::runner::Runner;
use super::tracker::Tracker;
use super::{ConversationError, State, Update, Usage};
use crate::agent_server::{AgentServerClient, stream};
use crate::sandbox::Sandbox;

impl Runner {
    /// What the conversation spent, when it is past its budget.
    pub(super) fn over_budget(&self) -> Option<Usage> {
        let usage = self.meta().usage?;
        self.settings.budget.crossed(&usage).then_some(usage)
    }

    /// After each event and answer: a working agent past its budget is paused, and the user asked. One that works
    /// while the question is open (an action the user allowed meanwhile ran, and the agent went on) is paused again,
    /// the question still standing.
    pub(super) async fn keep_budget(
        &mut self,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &stream::Subscription,
    ) {
        if !self.settings.budget.is_set() {
            return;
        }
        let (state, held) = {
            let meta = self.meta();
            (meta.state, meta.budget_reached.is_some())
        };
        if state != State::Running {
            return;
        }
        if held {
            if let Err(e) = self.pause(sandbox, client, sub).await {
                tracing::warn!(conversation = %self.id, "pausing on the budget failed: {e}");
            }
        } else if let Some(usage) = self.over_budget() {
            self.hold_for_budget(usage, sandbox, client, sub).await;
        }
    }

    pub(super) async fn hold_for_budget(
        &mut self,
        usage: Usage,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &stream::Subscription,
    ) {
        let spent = self.settings.budget.spent(&usage);
        tracing::info!(conversation = %self.id, "budget reached: it {spent}");
        // Marked before the pause, so fronts tell this pause from one the user asked for.
        self.update_meta(|m| m.budget_reached = Some(spent));
        if self.meta().state != State::Paused
            && let Err(e) = self.pause(sandbox, client, sub).await
        {
            tracing::warn!(conversation = %self.id, "pausing on the budget failed: {e}");
        }
        self.ask_budget();
    }

    /// Asks the user (again) what to do about the spent budget.
    pub(super) fn ask_budget(&self) {
        let Some(spent) = self.meta().budget_reached.clone() else { return };
        let raise = self.settings.budget.raise_label();
        self.observer.update(Update::BudgetReached { conversation_id: self.id.clone(), spent, raise });
    }

    /// Whether the conversation waits on the user about its budget.
    pub(super) fn held_on_budget(&self) -> bool {
        self.meta().budget_reached.is_some()
    }

    /// The user's "go on": each limit grows by its own amount; past it still, they are asked again.
    pub(super) async fn raise_budget(
        &mut self,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &stream::Subscription,
        tracker: &mut Tracker,
    ) -> Result<(), ConversationError> {
        if !self.held_on_budget() {
            let state = self.meta().state.as_str();
            return Err(ConversationError::WrongState { id: self.id.clone(), state, action: "raising its budget" });
        }
        self.settings.budget.raise();
        if let Some(usage) = self.over_budget() {
            let spent = self.settings.budget.spent(&usage);
            self.update_meta(|m| m.budget_reached = Some(spent));
            self.ask_budget();
            return Ok(());
        }
        // Cleared once it runs again: a paused conversation without the mark is one the user paused (a front ends
        // the turn on it).
        self.resume(sandbox, client, sub, tracker).await?;
        self.update_meta(|m| m.budget_reached = None);
        Ok(())
    }

    /// The user's resume: past its budget, it is no answer to the question, which is asked again.
    pub(super) async fn resume_within_budget(
        &mut self,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &stream::Subscription,
        tracker: &mut Tracker,
    ) -> Result<(), ConversationError> {
        if self.held_on_budget() {
            self.ask_budget();
            return Ok(());
        }
        self.resume(sandbox, client, sub, tracker).await
    }

    /// A message that would start a turn past the budget (the last turn spent it) is only added: the user is asked
    /// first.
    pub(super) async fn send_within_budget(
        &mut self,
        (text, images, run): (String, Vec<String>, bool),
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &stream::Subscription,
        tracker: &mut Tracker,
    ) -> Result<(), ConversationError> {
        let over = if run { self.over_budget() } else { None };
        self.send(text, images, run && over.is_none(), client, tracker).await?;
        if let Some(usage) = over {
            self.hold_for_budget(usage, sandbox, client, sub).await;
        }
        Ok(())
    }

    /// The words a stop settles with: why, when it was the budget.
    pub(super) fn stop_message(&self) -> Option<String> {
        self.meta().budget_reached.as_ref().map(|spent| format!("{}: it {spent}", super::BUDGET_STOPPED))
    }
}

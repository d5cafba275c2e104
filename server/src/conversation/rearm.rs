//! A restore's fork gets its model and keys again (its copies of them are masked) with its next message, not before:
//! the agent-server counts a model's calls in the conversation's stats only when the model is given to an agent
//! already set up (it sets the agent up on the first message or run). Given before, the fork's calls would count
//! nowhere, and its budget would never be reached.

use super::ConversationError;
use super::runner::Runner;
use crate::agent_server::AgentServerClient;
use crate::config::ConfirmationMode;

impl Runner {
    /// Sends a message (`run`: and starts a turn); a fork's model goes with its first, once the message set the
    /// agent up.
    pub(super) async fn deliver(
        &mut self,
        client: &AgentServerClient,
        (text, images): (&str, &[String]),
        run: bool,
    ) -> Result<(), ConversationError> {
        if !self.rearm_due {
            return Ok(client.send_message_with_images(self.agent_id(), text, images, run).await?);
        }
        client.send_message_with_images(self.agent_id(), text, images, false).await?;
        self.arm_before_run(client).await?;
        if run {
            client.run(self.agent_id()).await?;
        }
        Ok(())
    }

    /// A fork's model and keys, when they are still due (a resume with no message: given before the run, the only
    /// moment left, its calls count afresh).
    pub(super) async fn arm_before_run(&mut self, client: &AgentServerClient) -> Result<(), ConversationError> {
        if self.rearm_due {
            client.rearm(self.agent_id(), &self.llm, &self.secrets).await?;
            self.rearm_due = false;
        }
        Ok(())
    }

    /// Another model or confirmation mode for the agent from its next step on (an ACP session's config options).
    pub(super) async fn configure(
        &mut self,
        model: Option<String>,
        confirmation: Option<ConfirmationMode>,
        client: &AgentServerClient,
    ) -> Result<(), ConversationError> {
        if let Some(model) = model {
            self.llm.model = model.clone();
            // A fork's model goes with its next message anyway.
            if !self.rearm_due {
                client.rearm(self.agent_id(), &self.llm, &self.secrets).await?;
            }
            self.settings.llm_model = model;
        }
        if let Some(mode) = confirmation {
            client.set_confirmation_policy(self.agent_id(), mode).await?;
            self.settings.confirmation = mode;
        }
        Ok(())
    }
}

//! The runner's look, before the agent starts, for the stdio MCP servers' commands where the agent runs (in its
//! container: the image may lack them, and the agent-server would only log it and go on without the tools).

use super::ConversationError;
use super::runner::Runner;
use crate::sandbox::Sandbox;

impl Runner {
    /// Before the agent starts in a container: a stdio MCP server whose command the image lacks fails the start,
    /// named (the agent-server would only log it and go on without the tools).
    pub(super) async fn check_mcp_commands(&self, sandbox: &Sandbox) -> Result<(), ConversationError> {
        if self.settings.mcp_commands.is_empty() {
            return Ok(());
        }
        let commands: Vec<String> = self.settings.mcp_commands.iter().map(|(_, c)| c.clone()).collect();
        let missing = sandbox.handle.missing_commands(&commands).await;
        match self.settings.mcp_commands.iter().find(|(_, c)| missing.contains(c)) {
            Some((name, command)) => Err(ConversationError::Mcp(format!(
                "MCP server {name:?}: its command {command} is not in the agent's container ({}): use an image that \
                 has it (docs/configuration.md, MCP servers), or an http server",
                sandbox.handle.describe()
            ))),
            None => Ok(()),
        }
    }
}

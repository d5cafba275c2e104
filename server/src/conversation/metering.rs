//! The runner keeping what the conversation's LLM calls cost: each stats event, and the agent-server's own count
//! when a turn ends (the event with the last call's can come after the turn's end).

use super::Usage;
use super::runner::Runner;
use crate::agent_server::AgentServerClient;
use crate::agent_server::events::Stats;

/// How long the end of a turn waits for the agent-server's own count.
const FINAL_USAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Runner {
    /// Keeps the agent-server's stats with the conversation (and tells the editor) when they changed.
    pub(super) fn record_usage(&self, stats: Stats) {
        let mut usage = Usage::from(stats);
        // The events' stats carry no latencies: the time counted at the last full count stands.
        if stats.llm_seconds.is_none() {
            usage.llm_seconds = self.meta().usage.map_or(0.0, |u| u.llm_seconds);
        }
        if self.meta().usage.as_ref() != Some(&usage) {
            self.update_meta(|m| m.usage = Some(usage));
        }
    }

    /// The stats as the agent-server has them when the turn ends: the event with the last call's can come after.
    pub(super) async fn final_usage(&self, client: &AgentServerClient) {
        // A slow agent-server must not hold up the end of the turn: the figures are a nicety there.
        let info = tokio::time::timeout(FINAL_USAGE_WAIT, client.get_conversation(self.agent_id())).await;
        if let Some(stats) = info.ok().and_then(Result::ok).and_then(|i| Stats::from_json(i.get("stats")?)) {
            self.record_usage(stats);
        }
    }
}

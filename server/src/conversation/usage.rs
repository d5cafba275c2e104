//! What a conversation's LLM calls cost: the agent-server's stats kept with the conversation (so they survive a
//! restart), a price the model does not have said as unknown rather than 0, and in words for the terminal.

use serde::{Deserialize, Serialize};

use crate::agent_server::events::Stats;

/// A conversation's LLM use so far.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// In US dollars; `None` when the model's price is unknown (tokens were used, yet nothing was counted).
    pub cost_usd: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    /// The model's context window (0: not known).
    pub context_window: u64,
    /// Tokens of the last call: how much of the window is used.
    pub context_used: u64,
}

impl From<Stats> for Usage {
    fn from(s: Stats) -> Self {
        let used = s.prompt_tokens + s.completion_tokens > 0;
        Usage {
            cost_usd: (s.cost > 0.0 || !used).then_some(s.cost),
            prompt_tokens: s.prompt_tokens,
            completion_tokens: s.completion_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            reasoning_tokens: s.reasoning_tokens,
            context_window: s.context_window,
            context_used: s.last_call_tokens,
        }
    }
}

impl Usage {
    /// `$0.0123, 1,234 tokens in (200 cached), 56 out` (or `cost unknown, …`).
    pub fn describe(&self) -> String {
        let cost = match self.cost_usd {
            Some(c) if c < 0.01 => format!("${c:.4}"),
            Some(c) => format!("${c:.2}"),
            None => "cost unknown".to_owned(),
        };
        let cached =
            if self.cache_read_tokens > 0 { format!(" ({} cached)", self.cache_read_tokens) } else { String::new() };
        format!("{cost}, {} tokens in{cached}, {} out", self.prompt_tokens, self.completion_tokens)
    }

    /// The sum of several conversations' (unknown if any one's is).
    pub fn total<'a>(all: impl Iterator<Item = &'a Usage>) -> Usage {
        all.fold(Usage { cost_usd: Some(0.0), ..Usage::default() }, |t, u| Usage {
            cost_usd: t.cost_usd.zip(u.cost_usd).map(|(a, b)| a + b),
            prompt_tokens: t.prompt_tokens + u.prompt_tokens,
            completion_tokens: t.completion_tokens + u.completion_tokens,
            cache_read_tokens: t.cache_read_tokens + u.cache_read_tokens,
            cache_write_tokens: t.cache_write_tokens + u.cache_write_tokens,
            reasoning_tokens: t.reasoning_tokens + u.reasoning_tokens,
            context_window: 0,
            context_used: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unpriced_model_costs_unknown_and_totals_say_so() {
        let priced = Usage::from(Stats { cost: 0.25, prompt_tokens: 100, completion_tokens: 5, ..Stats::default() });
        let unpriced = Usage::from(Stats { cost: 0.0, prompt_tokens: 10, completion_tokens: 5, ..Stats::default() });
        let unused = Usage::from(Stats::default());
        assert_eq!(priced.cost_usd, Some(0.25));
        assert_eq!(unpriced.cost_usd, None, "tokens used and nothing counted: the price is unknown, not 0");
        assert_eq!(unused.cost_usd, Some(0.0));
        assert_eq!(priced.describe(), "$0.25, 100 tokens in, 5 out");
        assert_eq!(unpriced.describe(), "cost unknown, 10 tokens in, 5 out");
        let total = Usage::total([priced, unused].iter());
        assert_eq!((total.cost_usd, total.prompt_tokens), (Some(0.25), 100));
        assert_eq!(Usage::total([priced, unpriced].iter()).cost_usd, None);
    }
}

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
    /// Seconds spent waiting for the model, all calls.
    #[serde(default)]
    pub llm_seconds: f64,
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
            llm_seconds: s.llm_seconds.unwrap_or(0.0),
        }
    }
}

impl Usage {
    /// Tokens in and out: what `openhands.maxTokensPerTask` counts.
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// `$0.0123, 1234 tokens in (200 cached), 56 out` (or `cost unknown, …`).
    pub fn describe(&self) -> String {
        let cost = self.cost_usd.map(dollars).unwrap_or_else(|| "cost unknown".to_owned());
        let cached =
            if self.cache_read_tokens > 0 { format!(" ({} cached)", self.cache_read_tokens) } else { String::new() };
        let time =
            if self.llm_seconds > 0.0 { format!(", {:.1} s of LLM time", self.llm_seconds) } else { String::new() };
        format!("{cost}, {} tokens in{cached}, {} out{time}", self.prompt_tokens, self.completion_tokens)
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
            llm_seconds: t.llm_seconds + u.llm_seconds,
        })
    }
}

/// The words a conversation stopped on its budget settles with (fronts tell it from a stop the user chose).
pub const BUDGET_STOPPED: &str = "stopped on its budget";

/// What a conversation may spend (`openhands.maxBudgetPerTask`, `openhands.maxTokensPerTask`), raised by the same
/// amount each time the user says go on.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Budget {
    pub usd: Option<f64>,
    pub tokens: Option<u64>,
    step_usd: Option<f64>,
    step_tokens: Option<u64>,
}

impl Budget {
    pub fn new(usd: Option<f64>, tokens: Option<u64>) -> Self {
        Budget { usd, tokens, step_usd: usd, step_tokens: tokens }
    }

    /// Whether any limit is set (most conversations have none: nothing to check after their events).
    pub fn is_set(&self) -> bool {
        self.usd.is_some() || self.tokens.is_some()
    }

    /// Whether `usage` went past a limit. A cost the model's price leaves unknown crosses no dollar limit.
    pub fn crossed(&self, usage: &Usage) -> bool {
        let dollars = self.usd.zip(usage.cost_usd).is_some_and(|(limit, cost)| cost > limit);
        dollars || self.tokens.is_some_and(|limit| usage.tokens() > limit)
    }

    /// Go on: each limit grows by what it was at first.
    pub fn raise(&mut self) {
        self.usd = self.usd.zip(self.step_usd).map(|(l, s)| l + s);
        self.tokens = self.tokens.zip(self.step_tokens).map(|(l, s)| l + s);
    }

    /// `has spent $0.0123 and 1234 tokens of its budget of $0.01` (the limits set, in their own units).
    pub fn spent(&self, usage: &Usage) -> String {
        let limits: Vec<String> =
            [self.usd.map(dollars), self.tokens.map(|t| format!("{t} tokens"))].into_iter().flatten().collect();
        let cost = usage.cost_usd.map(dollars).unwrap_or_else(|| "an unknown cost".into());
        format!("has spent {cost} and {} tokens of its budget of {}", usage.tokens(), limits.join(" and "))
    }

    /// The answer that goes on: `Raise by $0.01 and go on`.
    pub fn raise_label(&self) -> String {
        let steps: Vec<String> = [self.step_usd.map(dollars), self.step_tokens.map(|t| format!("{t} tokens"))]
            .into_iter()
            .flatten()
            .collect();
        format!("Raise by {} and go on", steps.join(" and "))
    }
}

/// `$1.25`; below a cent, enough digits to tell small budgets apart (`$0.00015`), never rounded to nothing.
fn dollars(c: f64) -> String {
    if c >= 0.01 || c <= 0.0 {
        return format!("${c:.2}");
    }
    let digits = ((-c.log10()).ceil() as usize + 2).clamp(4, 10);
    let text = format!("{c:.digits$}");
    format!("${}", text.trim_end_matches('0'))
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

    #[test]
    fn a_budget_is_crossed_raised_by_its_own_amount_and_said() {
        let mut budget = Budget::new(Some(0.01), Some(100));
        let usage = Usage { cost_usd: Some(0.02), prompt_tokens: 50, completion_tokens: 10, ..Usage::default() };
        assert!(budget.crossed(&usage), "the dollars");
        assert_eq!(budget.spent(&usage), "has spent $0.02 and 60 tokens of its budget of $0.01 and 100 tokens");
        assert_eq!(budget.raise_label(), "Raise by $0.01 and 100 tokens and go on");
        budget.raise();
        assert_eq!((budget.usd, budget.tokens), (Some(0.02), Some(200)));
        assert!(!budget.crossed(&usage), "at the limit is not past it");
        let unpriced = Usage { cost_usd: None, prompt_tokens: 150, completion_tokens: 60, ..Usage::default() };
        assert!(!Budget::new(Some(0.0), None).crossed(&unpriced), "an unknown cost crosses no dollar limit");
        assert_eq!(
            [dollars(0.00015), dollars(0.0001), dollars(0.000075), dollars(0.0), dollars(2.5)],
            ["$0.00015", "$0.0001", "$0.000075", "$0.00", "$2.50"]
        );
        assert!(budget.crossed(&unpriced), "its tokens do");
        assert!(!Budget::default().crossed(&unpriced), "no limits");
        assert_eq!(Budget::new(None, Some(10)).raise_label(), "Raise by 10 tokens and go on");
    }
}

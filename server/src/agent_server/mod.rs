//! The OpenHands agent-server: a typed REST client, the event model, and the live event stream.

pub mod client;
pub mod events;
pub mod stream;
pub mod warm;

pub use client::{AgentServerClient, AgentServerError, Endpoint, LlmConfig, NewConversation};

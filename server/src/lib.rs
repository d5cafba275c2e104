//! openhands-lsp: the editor-side orchestrator of OpenHands agents, served over the Language Server Protocol and the
//! Agent Client Protocol.
//!
//! See docs/architecture.md for the map of modules.

pub mod acp;
pub mod agent_server;
pub mod backends;
pub mod batch;
pub mod clock;
pub mod cloud;
pub mod cloud_start;
pub mod config;
pub mod conversation;
pub mod credentials;
pub mod declined;
pub mod doctor;
pub mod editor;
pub mod git;
pub mod headless;
pub mod hunks;
pub mod instance;
pub mod issues;
pub mod logging;
pub mod login;
pub mod lsp;
pub mod mcp;
pub mod platform;
pub mod providers;
pub mod review;
pub mod sandbox;
pub mod secrets;
pub mod smoke;
pub mod state_dir;
pub mod tasks;
pub mod trackers;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

//! Test support for openhands-lsp's end-to-end tests: everything here drives real processes.

pub mod agent;
pub mod cloud_mock;
pub mod git_http;
pub mod llm;
pub mod lsp_client;
pub mod openapi;
pub mod provider_mock;
pub mod repo;
pub mod stdio_peer;

pub use lsp_client::{Options, RpcError, Server};

//! The agent-server smoke check (`openhands-lsp doctor`, `openhands.status` with `smokeCheck`): boots the configured
//! agent-server as a conversation would (a local process, or a container of the image), creates a conversation that
//! makes no model call (no message is sent, and its model points nowhere), asks the server for its versions, deletes
//! the conversation and stops the server. A broken install (a dependency that moved under it, a broken image) fails
//! here, in words, before any task does: creating a conversation encrypts its key and secrets, which is where a
//! `cryptography` that no longer takes the SDK's keys fails.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::agent_server::{AgentServerClient, AgentServerError, NewConversation};
use crate::config::{Backend, Settings};
use crate::sandbox::docker::{self, DockerProvider};
use crate::sandbox::process::{ProcessConfig, ProcessProvider};
use crate::sandbox::{SandboxSpec, SharedProvider, random_key};
use crate::secrets::{Secret, SecretStore};

/// How the check ended, with a line for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed(String),
    Failed(String),
    /// Not run: there is nothing of ours to check (the cloud's server), or what it needs is missing, which another
    /// check reports.
    Skipped(String),
}

/// Runs the check for the backend `settings` select.
pub async fn run(settings: &Settings, secrets: &SecretStore) -> Outcome {
    let provider: SharedProvider = match settings.backend {
        Backend::Process => {
            Arc::new(ProcessProvider::new(ProcessConfig::from_settings(&settings.process), secrets.clone()))
        }
        Backend::Docker => {
            let engine = docker::engine::Engine::current(&settings.docker);
            if let Err(why) = docker::probe(&settings.docker.image, engine).await.image {
                return Outcome::Skipped(format!("not run: {why}"));
            }
            // A provider of its own, without a pool: the check neither takes a warm container nor leaves one.
            Arc::new(DockerProvider::new(settings.docker.clone(), None))
        }
        Backend::Cloud => return Outcome::Skipped("not run: OpenHands Cloud runs its own agent-server".into()),
    };
    let dir = std::env::temp_dir().join(format!("openhands-lsp-smoke-{}", uuid::Uuid::new_v4().simple()));
    let outcome = boot_and_exercise(provider.clone(), &dir).await;
    provider.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Ok(line) => Outcome::Passed(line),
        Err(why) => Outcome::Failed(match provider.repair_hint() {
            Some(hint) => format!("{}. {hint}", why.trim_end_matches('.')),
            None => why,
        }),
    }
}

async fn boot_and_exercise(provider: SharedProvider, dir: &std::path::Path) -> Result<String, String> {
    let workspace = dir.join("workspace");
    std::fs::create_dir_all(&workspace).map_err(|e| format!("cannot make {}: {e}", workspace.display()))?;
    let spec = SandboxSpec {
        conversation_id: uuid::Uuid::new_v4().simple().to_string(),
        workspace: workspace.clone(),
        scratch: dir.join("scratch"),
        workspace_is_ours: true,
        source: workspace,
        title: "smoke check".into(),
        ..Default::default()
    };
    let started = Instant::now();
    let sandbox = provider.start(spec).await.map_err(|e| format!("the agent-server did not start: {e}"))?;
    let booted = started.elapsed();
    let client = AgentServerClient::new(sandbox.endpoint.clone());
    let exercised = exercise(&client, &sandbox.working_dir).await;
    sandbox.handle.stop().await;
    let versions = exercised?;
    Ok(format!("booted in {:.1} s, created and deleted a conversation{versions}", booted.as_secs_f64()))
}

/// Creates a conversation that calls no model, reads the server's versions, deletes the conversation.
async fn exercise(client: &AgentServerClient, working_dir: &str) -> Result<String, String> {
    // Nothing listens at the model's address, and no message is sent: no model is ever called. A key of its own and
    // a secret, so their encryption runs as a real conversation's would.
    let mut request = NewConversation::throwaway(working_dir, "openai/smoke-check", "http://127.0.0.1:9/v1".into());
    request.llm.api_key = Some(Secret::new(random_key()));
    request.secrets = BTreeMap::from([("OPENHANDS_SMOKE_CHECK".to_owned(), Secret::new(random_key()))]);
    let id = request.conversation_id.clone();
    client.create_conversation(&request).await.map_err(|e| match e {
        AgentServerError::Failed { reason, .. } => {
            format!("the agent-server failed to create a conversation: {reason}")
        }
        other => other.to_string(),
    })?;
    let versions = client.server_info().await.map(|info| describe_versions(&info)).unwrap_or_default();
    client.delete(&id).await.map_err(|e| format!("deleting the check's conversation: {e}"))?;
    Ok(versions)
}

/// `; agent-server 1.58.0 (SDK 1.58.0, tools 1.58.0, Python 3.12.1)` from `GET /server_info`.
fn describe_versions(info: &Value) -> String {
    let field = |key: &str| info.get(key).and_then(Value::as_str).filter(|v| !v.is_empty() && *v != "unknown");
    let Some(server) = field("version") else { return String::new() };
    let mut parts: Vec<String> = Vec::new();
    if let Some(v) = field("sdk_version") {
        parts.push(format!("SDK {v}"));
    }
    if let Some(v) = field("tools_version") {
        parts.push(format!("tools {v}"));
    }
    if let Some(v) = field("python_version").and_then(|v| v.split_whitespace().next()) {
        parts.push(format!("Python {v}"));
    }
    if parts.is_empty() {
        format!("; agent-server {server}")
    } else {
        format!("; agent-server {server} ({})", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_said_from_server_info() {
        let info = serde_json::json!({
            "version": "1.58.0", "sdk_version": "1.58.0", "tools_version": "1.58.0",
            "python_version": "3.12.1 (main, Jan  1 2024) [GCC 12]"
        });
        assert_eq!(describe_versions(&info), "; agent-server 1.58.0 (SDK 1.58.0, tools 1.58.0, Python 3.12.1)");
        assert_eq!(describe_versions(&serde_json::json!({"version": "1.58.0"})), "; agent-server 1.58.0");
        assert_eq!(describe_versions(&serde_json::json!({})), "");
    }

    #[tokio::test]
    async fn the_cloud_is_not_checked() {
        let settings = Settings { backend: Backend::Cloud, ..Settings::default() };
        assert!(matches!(run(&settings, &SecretStore::default()).await, Outcome::Skipped(_)));
    }

    #[tokio::test]
    async fn an_agent_server_that_cannot_start_fails_with_how_to_install_it() {
        let mut settings = Settings { backend: Backend::Process, ..Settings::default() };
        settings.process.command = "/nonexistent/agent-server".into();
        let Outcome::Failed(why) = run(&settings, &SecretStore::default()).await else { panic!("not failed") };
        assert!(why.contains("did not start") && why.contains("locks/agent-server.txt"), "{why}");
    }
}

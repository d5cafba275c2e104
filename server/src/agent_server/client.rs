//! REST client for the OpenHands agent-server (`/api/conversations/...`), authenticated with `X-Session-API-Key`.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::ConfirmationMode;
use crate::secrets::Secret;

/// Where an agent-server listens and the key it wants.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base_url: String,
    pub session_key: Secret,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AgentServerError {
    #[error(
        "the agent-server rejected the session key (401): the sandbox was probably restarted; stop this conversation and start a new one"
    )]
    Unauthorized,
    #[error("the agent-server does not know {what} (404)")]
    NotFound { what: String },
    #[error("the agent-server refused {what}: the conversation is already running (409)")]
    Conflict { what: String },
    #[error("the agent-server did not answer {what} within {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("cannot reach the agent-server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the agent-server answered {status} to {what}: {body}")]
    Http { status: u16, what: String, body: String },
    /// A 5xx with the agent-server's own reason (its handler of unexpected errors names the exception).
    #[error("the agent-server failed at {what}: {reason}")]
    Failed { what: String, reason: String },
    #[error("unexpected answer from the agent-server to {what}: {reason}")]
    Decode { what: String, reason: String },
}

/// The agent-server's confirmation policy for a mode.
fn policy(mode: ConfirmationMode) -> Value {
    match mode {
        ConfirmationMode::Never => json!({"kind": "NeverConfirm"}),
        ConfirmationMode::Risky => json!({"kind": "ConfirmRisky", "threshold": "HIGH", "confirm_unknown": true}),
        ConfirmationMode::Always => json!({"kind": "AlwaysConfirm"}),
    }
}

/// The LLM the agent uses.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub model: String,
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    pub num_retries: Option<u32>,
    /// Seconds one LLM call may take.
    pub timeout_seconds: u32,
    /// Stream tokens (the editor then receives `StreamingDeltaEvent`s as the model writes).
    pub stream: bool,
}

impl LlmConfig {
    /// The agent's `llm` object. Secret values are written out only here and in [`secrets_body`], and go only to the
    /// agent-server.
    fn body(&self) -> Value {
        let mut llm = json!({"model": self.model, "usage_id": "agent"});
        if let Some(url) = &self.base_url {
            llm["base_url"] = json!(url);
        }
        if self.stream {
            llm["stream"] = json!(true);
        }
        // Retries sized for someone watching an editor: the agent-server's own (5, waiting 8 to 64 s) take two
        // minutes to report a dead model.
        llm["num_retries"] = json!(self.num_retries.unwrap_or(DEFAULT_RETRIES));
        llm["retry_min_wait"] = json!(2);
        llm["retry_max_wait"] = json!(8);
        llm["retry_multiplier"] = json!(2);
        llm["timeout"] = json!(self.timeout_seconds);
        if let Some(key) = &self.api_key {
            llm["api_key"] = json!(key.expose());
        }
        llm
    }
}

fn secrets_body(secrets: &BTreeMap<String, Secret>) -> serde_json::Map<String, Value> {
    secrets
        .iter()
        .map(|(name, value)| (name.clone(), json!({"kind": "StaticSecret", "value": value.expose()})))
        .collect()
}

/// What `POST /api/conversations` needs from us.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub conversation_id: String,
    /// The directory the agent works in, as the agent-server sees it.
    pub working_dir: String,
    pub llm: LlmConfig,
    /// Exposed to the agent's shell under these names (e.g. `GITHUB_TOKEN`).
    pub secrets: BTreeMap<String, Secret>,
    pub confirmation: ConfirmationMode,
    pub max_iterations: u32,
    /// The agent's MCP servers (a server by name); may hold secrets, written out only into the body.
    pub mcp_config: Option<Value>,
    /// Added to the agent's system prompt (where its other folders are, in a task across folders).
    pub system_message_suffix: Option<String>,
}

impl NewConversation {
    /// A conversation made only to be deleted again (a warm-up, a smoke check): its model is `model` at
    /// `llm_base_url`, where no real model is, with no retries, no secrets and one iteration.
    pub fn throwaway(working_dir: &str, model: &str, llm_base_url: String) -> Self {
        NewConversation {
            conversation_id: uuid::Uuid::new_v4().simple().to_string(),
            working_dir: working_dir.to_owned(),
            llm: LlmConfig {
                model: model.to_owned(),
                base_url: Some(llm_base_url),
                api_key: Some(Secret::new(model)),
                num_retries: Some(0),
                timeout_seconds: 10,
                stream: false,
            },
            secrets: BTreeMap::new(),
            confirmation: ConfirmationMode::Never,
            max_iterations: 1,
            mcp_config: None,
            system_message_suffix: None,
        }
    }

    /// The request body. The only place secret values are written out, and they go only to the agent-server.
    fn body(&self) -> Value {
        let llm = self.llm.body();
        let secrets = secrets_body(&self.secrets);
        let mut body = json!({
            "conversation_id": self.conversation_id,
            "workspace": {"kind": "LocalWorkspace", "working_dir": self.working_dir},
            "agent": {
                "kind": "Agent",
                "llm": llm,
                "tools": [{"name": "terminal"}, {"name": "file_editor"}, {"name": "task_tracker"}],
                // The repository's own guidance, as OpenHands gives it: AGENTS.md (and .cursorrules and the like),
                // .agents/skills, .openhands/skills and .openhands/microagents, from the working folder and the
                // repository's root. Not the user's or the public skills: those are read from places this server
                // does not choose (the home folder, the network).
                "agent_context": {"load_project_skills": true, "load_user_skills": false, "load_public_skills": false},
            },
            "secrets": secrets,
            "confirmation_policy": policy(self.confirmation),
            "max_iterations": self.max_iterations,
            "autotitle": false,
        });
        if let Some(mcp) = &self.mcp_config {
            body["agent"]["mcp_config"] = mcp.clone();
        }
        if let Some(suffix) = &self.system_message_suffix {
            body["agent"]["agent_context"]["system_message_suffix"] = json!(suffix);
        }
        if self.confirmation == ConfirmationMode::Risky {
            // Without an analyzer every action's risk is UNKNOWN, which would make "risky" ask for everything.
            body["security_analyzer"] = json!({"kind": "LLMSecurityAnalyzer"});
        }
        body
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventPage {
    pub items: Vec<Value>,
    pub next_page_id: Option<String>,
}

#[derive(Clone)]
pub struct AgentServerClient {
    endpoint: Endpoint,
    http: reqwest::Client,
}

/// A user message as the agent-server's `POST …/events` takes it.
fn message_body(text: &str, images: &[String], run: bool) -> Value {
    let mut content = vec![json!({"type": "text", "text": text})];
    if !images.is_empty() {
        content.push(json!({"type": "image", "image_urls": images}));
    }
    json!({"role": "user", "content": content, "run": run})
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A steered message waits for the running step (a build, a test run) to end.
const STEER_TIMEOUT: Duration = Duration::from_secs(900);

/// Attempts at an LLM call in all (the SDK's `num_retries` counts attempts) when the settings name none: waits of
/// 2, 4 and 8 s between them.
pub const DEFAULT_RETRIES: u32 = 4;

impl AgentServerClient {
    pub fn new(endpoint: Endpoint) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        AgentServerClient { endpoint, http }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `GET /health` with a short timeout, for polling while a server boots.
    pub async fn health(&self, timeout: Duration) -> Result<(), AgentServerError> {
        self.call(Method::GET, "/health", None, "GET /health", Some(timeout)).await.map(|_| ())
    }

    pub async fn create_conversation(&self, req: &NewConversation) -> Result<Value, AgentServerError> {
        self.call(Method::POST, "/api/conversations", Some(req.body()), "creating the conversation", None).await
    }

    /// `GET /server_info`: the agent-server's own versions (its package, the SDK's, the tools', Python's).
    pub async fn server_info(&self) -> Result<Value, AgentServerError> {
        self.call(Method::GET, "/server_info", None, "GET /server_info", None).await
    }

    pub async fn get_conversation(&self, id: &str) -> Result<Value, AgentServerError> {
        self.call(Method::GET, &format!("/api/conversations/{id}"), None, &format!("conversation {id}"), None).await
    }

    /// Sends a user message; `run` starts the agent on it.
    pub async fn send_message(&self, id: &str, text: &str, run: bool) -> Result<(), AgentServerError> {
        self.send_message_with_images(id, text, &[], run).await
    }

    /// A message with images (URLs, `data:` URLs included); the agent's LLM gets them when its model takes images.
    pub async fn send_message_with_images(
        &self,
        id: &str,
        text: &str,
        images: &[String],
        run: bool,
    ) -> Result<(), AgentServerError> {
        let body = message_body(text, images, run);
        let path = format!("/api/conversations/{id}/events");
        self.call(Method::POST, &path, Some(body), "sending a message", None).await.map(|_| ())
    }

    /// A message into the running turn, added without a run of its own: the agent-server takes it once the running
    /// step ends (which may be a long command's end), and only then answers.
    pub async fn steer_message(&self, id: &str, text: &str, images: &[String]) -> Result<(), AgentServerError> {
        let body = message_body(text, images, false);
        let path = format!("/api/conversations/{id}/events");
        self.call(Method::POST, &path, Some(body), "steering the agent", Some(STEER_TIMEOUT)).await.map(|_| ())
    }

    pub async fn pause(&self, id: &str) -> Result<(), AgentServerError> {
        self.post_empty(id, "pause").await
    }

    pub async fn run(&self, id: &str) -> Result<(), AgentServerError> {
        self.post_empty(id, "run").await
    }

    pub async fn interrupt(&self, id: &str) -> Result<(), AgentServerError> {
        self.post_empty(id, "interrupt").await
    }

    /// A copy of conversation `id` with its history up to and including event `from_event_id` (the fork's HEAD
    /// there, its status idle); the fork's id.
    pub async fn fork(&self, id: &str, from_event_id: &str) -> Result<String, AgentServerError> {
        let path = format!("/api/conversations/{id}/fork");
        // What the branch left spent stays spent: the fork's usage (and with it the budget) goes on from it.
        let body = json!({"from_event_id": from_event_id, "reset_metrics": false});
        let info = self.call(Method::POST, &path, Some(body), "forking the conversation", None).await?;
        info.get("id").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| AgentServerError::Decode {
            what: "forking the conversation".into(),
            reason: "the answer has no conversation id".into(),
        })
    }

    /// Gives conversation `id` its LLM and secrets again: a fork's copy of them has the keys masked.
    pub async fn rearm(
        &self,
        id: &str,
        llm: &LlmConfig,
        secrets: &BTreeMap<String, Secret>,
    ) -> Result<(), AgentServerError> {
        let body = json!({"llm": llm.body()});
        self.call(Method::POST, &format!("/api/conversations/{id}/switch_llm"), Some(body), "setting the model", None)
            .await?;
        let body = json!({"secrets": secrets_body(secrets)});
        let path = format!("/api/conversations/{id}/secrets");
        self.call(Method::POST, &path, Some(body), "setting the secrets", None).await.map(|_| ())
    }

    pub async fn delete(&self, id: &str) -> Result<(), AgentServerError> {
        let path = format!("/api/conversations/{id}");
        self.call(Method::DELETE, &path, None, "deleting the conversation", None).await.map(|_| ())
    }

    pub async fn search_events(
        &self,
        id: &str,
        page_id: Option<&str>,
        limit: u32,
    ) -> Result<EventPage, AgentServerError> {
        let mut path = format!("/api/conversations/{id}/events/search?limit={}", limit.clamp(1, 100));
        if let Some(page) = page_id {
            path.push_str("&page_id=");
            path.push_str(&encode_query(page));
        }
        let value = self.call(Method::GET, &path, None, "searching events", None).await?;
        serde_json::from_value(value)
            .map_err(|e| AgentServerError::Decode { what: "searching events".into(), reason: e.to_string() })
    }

    pub async fn respond_to_confirmation(&self, id: &str, accept: bool, reason: &str) -> Result<(), AgentServerError> {
        let path = format!("/api/conversations/{id}/events/respond_to_confirmation");
        let body = json!({"accept": accept, "reason": reason});
        self.call(Method::POST, &path, Some(body), "answering a confirmation", None).await.map(|_| ())
    }

    pub async fn set_confirmation_policy(&self, id: &str, mode: ConfirmationMode) -> Result<(), AgentServerError> {
        let path = format!("/api/conversations/{id}/confirmation_policy");
        let body = json!({"policy": policy(mode)});
        self.call(Method::POST, &path, Some(body), "changing the confirmation policy", None).await.map(|_| ())
    }

    pub async fn final_response(&self, id: &str) -> Result<String, AgentServerError> {
        let path = format!("/api/conversations/{id}/agent_final_response");
        let v = self.call(Method::GET, &path, None, "reading the final response", None).await?;
        Ok(v.get("response").and_then(Value::as_str).unwrap_or_default().to_owned())
    }

    /// Files changed in the git repository at `path` (inside the sandbox), as the agent-server reports them.
    pub async fn git_changes(&self, path: &str) -> Result<Value, AgentServerError> {
        let query = format!("/api/git/changes?path={}", encode_query(path));
        self.call(Method::GET, &query, None, "listing git changes", None).await
    }

    /// Original and modified text of one file (`{"original": …, "modified": …}`).
    pub async fn git_diff(&self, path: &str) -> Result<Value, AgentServerError> {
        let query = format!("/api/git/diff?path={}", encode_query(path));
        self.call(Method::GET, &query, None, "reading a git diff", None).await
    }

    async fn post_empty(&self, id: &str, verb: &str) -> Result<(), AgentServerError> {
        let path = format!("/api/conversations/{id}/{verb}");
        self.call(Method::POST, &path, None, verb, None).await.map(|_| ())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
        timeout: Option<Duration>,
    ) -> Result<Value, AgentServerError> {
        let url = format!("{}{path}", self.endpoint.base_url);
        let mut req = self.http.request(method, &url).header("X-Session-API-Key", self.endpoint.session_key.expose());
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let after = timeout.unwrap_or(REQUEST_TIMEOUT);
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                AgentServerError::Timeout { what: what.to_owned(), after }
            } else {
                AgentServerError::Unreachable { url: self.endpoint.base_url.clone(), reason: root_cause(&e) }
            }
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| AgentServerError::Unreachable {
            url: self.endpoint.base_url.clone(),
            reason: root_cause(&e),
        })?;
        match status {
            s if s.is_success() => {
                if text.trim().is_empty() {
                    Ok(Value::Null)
                } else {
                    serde_json::from_str(&text)
                        .map_err(|e| AgentServerError::Decode { what: what.to_owned(), reason: e.to_string() })
                }
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(AgentServerError::Unauthorized),
            StatusCode::NOT_FOUND => Err(AgentServerError::NotFound { what: what.to_owned() }),
            StatusCode::CONFLICT => Err(AgentServerError::Conflict { what: what.to_owned() }),
            s => {
                // The raw answer, whole and with its line breaks, for the log; people get it in words.
                tracing::warn!(status = s.as_u16(), "the agent-server's answer to {what}:\n{text}");
                Err(match failure_reason(&text).filter(|_| s.is_server_error()) {
                    Some(reason) => AgentServerError::Failed { what: what.to_owned(), reason },
                    None => AgentServerError::Http {
                        status: s.as_u16(),
                        what: what.to_owned(),
                        body: request_problems(&text).unwrap_or_else(|| crate::agent_server::events::cap(&text, 2000)),
                    },
                })
            }
        }
    }
}

/// The agent-server's reason for a 500: its handler of unexpected errors answers
/// `{"detail": "Internal Server Error", "exception": "...", "error_id": "..."}`.
fn failure_reason(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let reason = value.get("exception").and_then(Value::as_str).filter(|r| !r.trim().is_empty())?;
    let reason = validation_in_words(reason).unwrap_or_else(|| reason.trim().to_owned());
    Some(crate::agent_server::events::cap(&reason, 500))
}

/// A pydantic validation error (`1 validation error for LLM\nmodel\n  Field required [type=missing, input_value=…,
/// input_type=dict]\n    For further information visit https://…`) as one line: `LLM: model: Field required`.
fn validation_in_words(text: &str) -> Option<String> {
    let mut lines = text.trim().lines();
    let head = lines.next()?;
    let (_, model) = head.split_once(" for ").filter(|_| head.contains("validation error"))?;
    let mut problems = Vec::new();
    let mut field = None;
    for line in lines {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("For further information") {
            continue;
        }
        if line.starts_with(' ') {
            // The message, without pydantic's bracketed internals (its type, the input it got).
            let message = trimmed.split(" [type=").next().unwrap_or(trimmed);
            problems.push(format!("{}: {message}", field.take().unwrap_or("?")));
        } else {
            field = Some(trimmed);
        }
    }
    (!problems.is_empty()).then(|| format!("{} not accepted: {}", model.trim(), problems.join("; ")))
}

/// FastAPI's answer to a request it cannot take (`{"detail": [{"loc": ["body", "agent", "llm"], "msg": "…"}]}`) as
/// one line: `body.agent.llm: …`.
fn request_problems(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let problems: Vec<String> = value
        .get("detail")?
        .as_array()?
        .iter()
        .map(|d| {
            let at = d.get("loc").and_then(Value::as_array).map(|loc| {
                loc.iter().map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned)).collect::<Vec<_>>()
            });
            let msg = d.get("msg").and_then(Value::as_str).unwrap_or("not accepted");
            match at {
                Some(at) if !at.is_empty() => format!("{}: {msg}", at.join(".")),
                _ => msg.to_owned(),
            }
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

impl AgentServerError {
    /// The agent-server itself broke (not the request, nor the connection): its install is the suspect.
    pub fn is_internal(&self) -> bool {
        matches!(self, AgentServerError::Failed { .. })
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

pub(crate) fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_carries_secrets_only_in_their_places() {
        let req = NewConversation {
            conversation_id: "c1".into(),
            working_dir: "/w".into(),
            llm: LlmConfig {
                model: "openai/m".into(),
                base_url: Some("http://x/v1".into()),
                api_key: Some(Secret::new("sk-1")),
                num_retries: None,
                timeout_seconds: 120,
                stream: false,
            },
            secrets: [("GITHUB_TOKEN".to_owned(), Secret::new("ghp_1"))].into_iter().collect(),
            confirmation: ConfirmationMode::Risky,
            max_iterations: 50,
            mcp_config: None,
            system_message_suffix: Some("Your other folder: /folders/api".into()),
        };
        let body = req.body();
        assert_eq!(body["agent"]["agent_context"]["system_message_suffix"], "Your other folder: /folders/api");
        assert_eq!(body["agent"]["llm"]["api_key"], "sk-1");
        assert_eq!(body["agent"]["agent_context"]["load_project_skills"], true);
        assert_eq!(body["secrets"]["GITHUB_TOKEN"], json!({"kind": "StaticSecret", "value": "ghp_1"}));
        assert_eq!(body["confirmation_policy"]["kind"], "ConfirmRisky");
        assert_eq!(body["security_analyzer"]["kind"], "LLMSecurityAnalyzer");
        assert_eq!(format!("{req:?}").matches("sk-1").count(), 0, "Debug never shows secrets");
    }

    #[test]
    fn a_500_names_the_agent_servers_own_reason() {
        let body = r#"{"detail": "Internal Server Error", "exception": "Fernet key must be 32 url-safe base64-encoded bytes.", "error_id": "e1"}"#;
        assert_eq!(failure_reason(body).as_deref(), Some("Fernet key must be 32 url-safe base64-encoded bytes."));
        assert_eq!(failure_reason("Internal Server Error"), None, "a body that is not the handler's says nothing");
        assert_eq!(failure_reason(r#"{"detail": "x", "exception": " "}"#), None);
    }

    #[test]
    fn pydantic_and_fastapi_errors_are_said_in_one_line_without_their_internals() {
        let raw = "2 validation errors for LLM\nmodel\n  Field required [type=missing, input_value={'x': 1}, input_type=dict]\n    For further information visit https://errors.pydantic.dev/2.11/v/missing\ntemperature\n  Input should be a valid number [type=float_parsing, input_value='hot', input_type=str]\n";
        assert_eq!(
            validation_in_words(raw).as_deref(),
            Some("LLM not accepted: model: Field required; temperature: Input should be a valid number")
        );
        assert_eq!(validation_in_words("KeyError: 'x'"), None);
        let body =
            r#"{"detail": [{"loc": ["body", "agent", "llm", "model"], "msg": "Field required", "type": "missing"}]}"#;
        assert_eq!(request_problems(body).as_deref(), Some("body.agent.llm.model: Field required"));
        assert_eq!(request_problems(r#"{"detail": "Not Found"}"#), None);
    }
}

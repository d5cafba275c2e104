//! The OpenHands app server's V1 API (OpenHands Cloud or a self-hosted server): the routes the cloud backend uses,
//! their shapes, and what its errors mean to the user.
//!
//! Every request carries `Authorization: Bearer <api key>`. Rate limits (429) and failures to reach the server
//! (connection errors, 502/503/504) are retried with backoff; anything else is reported at once.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::secrets::Secret;

/// Attempts per request before a rate limit or a network failure is reported.
const ATTEMPTS: u32 = 5;
/// The longest a single wait between attempts may be (a longer `Retry-After` is reported, not waited for).
const MAX_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, thiserror::Error)]
pub enum CloudError {
    #[error(
        "no OpenHands Cloud API key: set it with openhands.setSecret (name cloud_api_key) or the OPENHANDS_API_KEY environment variable (create one at {0}/settings/api-keys)"
    )]
    NoKey(String),
    #[error(
        "{0} rejected the API key (401): it is wrong, revoked or expired. Set a valid one with openhands.setSecret (name cloud_api_key) or OPENHANDS_API_KEY"
    )]
    Unauthorized(String),
    #[error(
        "{url} refused {what} (402 Payment Required): your account is out of credits; add credits at {url}/settings/billing"
    )]
    Payment { url: String, what: String },
    #[error("{url} is rate limiting requests (429) and still was after {attempts} attempts; try again {retry}")]
    RateLimited { url: String, attempts: u32, retry: String },
    #[error("cannot reach {url} ({reason}) after {attempts} attempts: check openhands.cloud.url and your network")]
    Network { url: String, reason: String, attempts: u32 },
    #[error("{url} answered {status} to {what}: {detail}")]
    Api { url: String, what: String, status: u16, detail: String },
    #[error("{url} sent an answer to {what} that is not what its API describes: {detail}")]
    BadAnswer { url: String, what: String, detail: String },
}

/// `AppConversationStartTask`: the progress of a conversation's start.
#[derive(Debug, Clone, Deserialize)]
pub struct StartTask {
    pub id: String,
    #[serde(default = "working")]
    pub status: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub app_conversation_id: Option<String>,
    #[serde(default)]
    pub agent_server_url: Option<String>,
    #[serde(default)]
    pub sandbox_id: Option<String>,
}

fn working() -> String {
    "WORKING".into()
}

/// `AppConversation`, the fields openhands-lsp uses.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct AppConversation {
    pub id: String,
    pub sandbox_id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default = "missing")]
    pub sandbox_status: String,
    #[serde(default)]
    pub execution_status: Option<String>,
    #[serde(default)]
    pub selected_repository: Option<String>,
    #[serde(default)]
    pub selected_branch: Option<String>,
    #[serde(default)]
    pub git_provider: Option<String>,
    #[serde(default)]
    pub conversation_url: Option<String>,
    #[serde(default)]
    pub pr_number: Vec<u64>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The sandbox's session key; never serialized onward.
    #[serde(default, skip_serializing)]
    pub session_api_key: Option<String>,
}

fn missing() -> String {
    "MISSING".into()
}

/// `SandboxInfo`, the fields openhands-lsp uses.
#[derive(Debug, Clone, Deserialize)]
pub struct SandboxInfo {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub session_api_key: Option<String>,
    #[serde(default)]
    pub exposed_urls: Option<Vec<ExposedUrl>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExposedUrl {
    pub name: String,
    pub url: String,
}

/// What a new cloud conversation starts from.
#[derive(Debug, Clone)]
pub struct StartConversation {
    pub title: String,
    pub instruction: String,
    pub repository: Option<String>,
    pub branch: Option<String>,
    /// `github`, `gitlab` or `bitbucket`.
    pub provider: Option<String>,
    /// The conversation's secrets (provider tokens under the names the agent's shell knows).
    pub secrets: Vec<(String, Secret)>,
}

#[derive(Clone)]
pub struct AppServer {
    http: reqwest::Client,
    base: String,
    key: Secret,
}

/// The client for the app server's API (cheap to clone; clones share the connection pool).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("openhands-lsp/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

impl AppServer {
    pub fn new(http: reqwest::Client, base: &str, key: Secret) -> Self {
        AppServer { http, base: base.trim_end_matches('/').to_owned(), key }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// `POST /api/v1/app-conversations`.
    pub async fn start_conversation(&self, req: &StartConversation) -> Result<StartTask, CloudError> {
        let secrets: serde_json::Map<String, Value> =
            req.secrets.iter().map(|(name, value)| (name.clone(), Value::String(value.expose().to_owned()))).collect();
        let body = json!({
            "title": req.title,
            "initial_message": {"role": "user", "content": [{"type": "text", "text": req.instruction}], "run": true},
            "selected_repository": req.repository,
            "selected_branch": req.branch,
            "git_provider": req.provider,
            "secrets": if secrets.is_empty() { Value::Null } else { Value::Object(secrets) },
        });
        self.json(Method::POST, "/api/v1/app-conversations", Some(body), "starting a conversation").await
    }

    /// `GET /api/v1/app-conversations/start-tasks?ids=`: `None` when the server no longer knows the task.
    pub async fn start_task(&self, id: &str) -> Result<Option<StartTask>, CloudError> {
        let path = format!("/api/v1/app-conversations/start-tasks?ids={}", encode(id));
        let list: Vec<Option<StartTask>> = self.json(Method::GET, &path, None, "reading the start task").await?;
        Ok(list.into_iter().next().flatten())
    }

    /// `GET /api/v1/app-conversations?ids=`.
    pub async fn conversation(&self, id: &str) -> Result<Option<AppConversation>, CloudError> {
        let path = format!("/api/v1/app-conversations?ids={}", encode(id));
        let list: Vec<Option<AppConversation>> = self.json(Method::GET, &path, None, "reading a conversation").await?;
        Ok(list.into_iter().next().flatten())
    }

    /// `GET /api/v1/app-conversations/search`: the newest first, at most `limit`.
    pub async fn search(&self, limit: u32) -> Result<Vec<AppConversation>, CloudError> {
        #[derive(Deserialize)]
        struct Page {
            items: Vec<AppConversation>,
        }
        let path = format!("/api/v1/app-conversations/search?limit={}", limit.clamp(1, 100));
        let page: Page = self.json(Method::GET, &path, None, "listing conversations").await?;
        Ok(page.items)
    }

    /// `GET /api/v1/sandboxes?id=`: `None` when the sandbox no longer exists.
    pub async fn sandbox(&self, id: &str) -> Result<Option<SandboxInfo>, CloudError> {
        let path = format!("/api/v1/sandboxes?id={}", encode(id));
        let list: Vec<Option<SandboxInfo>> = self.json(Method::GET, &path, None, "reading a sandbox").await?;
        Ok(list.into_iter().next().flatten())
    }

    pub async fn pause_sandbox(&self, id: &str) -> Result<(), CloudError> {
        let path = format!("/api/v1/sandboxes/{}/pause", encode(id));
        self.json::<Value>(Method::POST, &path, None, "pausing the sandbox").await.map(drop)
    }

    pub async fn resume_sandbox(&self, id: &str) -> Result<(), CloudError> {
        let path = format!("/api/v1/sandboxes/{}/resume", encode(id));
        self.json::<Value>(Method::POST, &path, None, "resuming the sandbox").await.map(drop)
    }

    /// `POST /api/v1/secrets/git-providers`: keeps the user's provider tokens in their cloud account.
    pub async fn store_provider_tokens(&self, tokens: &[(&str, Option<String>, Secret)]) -> Result<(), CloudError> {
        let map: serde_json::Map<String, Value> = tokens
            .iter()
            .map(|(provider, host, token)| ((*provider).to_owned(), json!({"token": token.expose(), "host": host})))
            .collect();
        let body = json!({"provider_tokens": map});
        self.json::<Value>(Method::POST, "/api/v1/secrets/git-providers", Some(body), "storing provider tokens")
            .await
            .map(drop)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<T, CloudError> {
        let text = self.send(method, path, body, what).await?;
        serde_json::from_str(&text).map_err(|e| CloudError::BadAnswer {
            url: self.base.clone(),
            what: what.to_owned(),
            detail: e.to_string(),
        })
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>, what: &str) -> Result<String, CloudError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.request(method.clone(), &url).bearer_auth(self.key.expose());
            if let Some(body) = &body {
                request = request.json(body);
            }
            let failure = match request.send().await {
                Err(e) => Retry::Network(network_reason(e)),
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(response.headers());
                    let text = response.text().await.unwrap_or_default();
                    match status {
                        s if s.is_success() => return Ok(text),
                        StatusCode::UNAUTHORIZED => return Err(CloudError::Unauthorized(self.base.clone())),
                        StatusCode::PAYMENT_REQUIRED => {
                            return Err(CloudError::Payment { url: self.base.clone(), what: what.to_owned() });
                        }
                        StatusCode::TOO_MANY_REQUESTS => Retry::RateLimited(wait),
                        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                            Retry::Network(format!("{status}"))
                        }
                        _ => {
                            return Err(CloudError::Api {
                                url: self.base.clone(),
                                what: what.to_owned(),
                                status: status.as_u16(),
                                detail: detail(&text),
                            });
                        }
                    }
                }
            };
            let wait = match &failure {
                Retry::RateLimited(Some(wait)) => *wait,
                _ => backoff(attempt),
            };
            tracing::info!(url = %url, attempt, "{what}: {failure:?}; retrying in {wait:?}");
            if attempt >= ATTEMPTS || wait > MAX_WAIT {
                return Err(match failure {
                    Retry::RateLimited(wait) => CloudError::RateLimited {
                        url: self.base.clone(),
                        attempts: attempt,
                        retry: wait.map(|w| format!("in {} s", w.as_secs().max(1))).unwrap_or_else(|| "later".into()),
                    },
                    Retry::Network(reason) => CloudError::Network { url: self.base.clone(), reason, attempts: attempt },
                });
            }
            tokio::time::sleep(wait).await;
        }
    }
}

#[derive(Debug)]
enum Retry {
    RateLimited(Option<Duration>),
    Network(String),
}

/// 0.5 s, 1 s, 2 s, 4 s, ...
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64 << (attempt.saturating_sub(1)).min(5))
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

fn network_reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        // Without the URL: it is already in the message, and the chain can be long.
        e.without_url().to_string()
    }
}

/// FastAPI's `{"detail": ...}`, or the body's start.
fn detail(text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let detail = parsed.as_ref().and_then(|v| v.get("detail")).map(|d| match d {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let text = detail.unwrap_or_else(|| text.trim().to_owned());
    if text.len() > 300 { format!("{}…", &text[..text.floor_char_boundary(300)]) } else { text }
}

fn encode(text: &str) -> String {
    crate::providers::http::encode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_half_a_second() {
        let waits: Vec<u64> = (1..=4).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, vec![500, 1000, 2000, 4000]);
    }

    #[test]
    fn details_come_from_fastapi_bodies() {
        assert_eq!(detail(r#"{"detail":"Not enough credits"}"#), "Not enough credits");
        assert_eq!(detail(r#"{"detail":[{"loc":["body"],"msg":"bad"}]}"#), r#"[{"loc":["body"],"msg":"bad"}]"#);
        assert_eq!(detail("  plain text "), "plain text");
    }
}

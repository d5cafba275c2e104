//! The HTTP layer every provider shares: base URLs, authentication with the user's token, one retry after
//! refreshing the token through `tokenCommand` on 401, rate limits (a short `Retry-After` or reset is waited out
//! once; a long one is an error saying when), and errors that say what happened and what to do.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ProviderError, ProviderKind};
use crate::config::ProviderSettings;
use crate::secrets::{Secret, SecretStore};

/// The longest rate-limit wait done silently before retrying; longer ones are reported.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(10);
const TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Api {
    pub kind: ProviderKind,
    /// The REST base URL, without a trailing slash.
    pub base: String,
    token_command: Option<String>,
    secrets: SecretStore,
    client: reqwest::Client,
}

impl Api {
    pub fn new(
        kind: ProviderKind,
        host: &str,
        settings: &ProviderSettings,
        secrets: SecretStore,
        client: reqwest::Client,
    ) -> Self {
        let base = settings
            .api_url
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| default_api_url(kind, host))
            .trim_end_matches('/')
            .to_owned();
        Api {
            kind,
            base,
            token_command: settings.token_command.clone().filter(|c| !c.trim().is_empty()),
            secrets,
            client,
        }
    }

    fn provider(&self) -> &'static str {
        self.kind.name()
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// GET `path` (relative to the base, or a full URL from a `next` link) and parse the JSON body.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, ProviderError> {
        let response = self.send(Method::GET, path, None, what).await?;
        self.json(response, what).await
    }

    /// GET returning the body and the response headers (for pagination).
    pub async fn get_with_headers<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<(T, reqwest::header::HeaderMap), ProviderError> {
        let response = self.send(Method::GET, path, None, what).await?;
        let headers = response.headers().clone();
        Ok((self.json(response, what).await?, headers))
    }

    pub async fn get_text(&self, path: &str, what: &str) -> Result<String, ProviderError> {
        let response = self.send(Method::GET, path, None, what).await?;
        response.text().await.map_err(|e| self.network(path, e))
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value, what: &str) -> Result<T, ProviderError> {
        let response = self.send(Method::POST, path, Some(body), what).await?;
        self.json(response, what).await
    }

    async fn json<T: DeserializeOwned>(&self, response: Response, what: &str) -> Result<T, ProviderError> {
        let bytes = response.bytes().await.map_err(|e| self.network(what, e))?;
        serde_json::from_slice(&bytes).map_err(|e| ProviderError::Invalid {
            provider: self.provider(),
            what: what.to_owned(),
            reason: e.to_string(),
        })
    }

    fn network(&self, url: &str, e: reqwest::Error) -> ProviderError {
        // The URL is named once, by us; ours never has credentials in it.
        ProviderError::Network { provider: self.provider(), url: url.to_owned(), reason: e.without_url().to_string() }
    }

    /// Sends one request with the token; on 401 refreshes the token once through `tokenCommand` and retries; waits
    /// out one short rate limit.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response, ProviderError> {
        let url = self.url(path);
        let mut token = self.secrets.get(self.kind.secret());
        let mut refreshed = false;
        let mut waited = false;
        if token.is_none() && self.token_command.is_some() {
            token = Some(self.refresh().await?);
            refreshed = true;
        }
        let Some(mut token) = token else {
            return Err(ProviderError::NoToken {
                provider: self.provider(),
                secret: self.kind.secret().as_str(),
                env: self.kind.secret().env_var(),
                key: self.kind.id(),
            });
        };
        loop {
            let request = self.authorize(self.client.request(method.clone(), &url), &token);
            let request = self.headers(request);
            let request = match body {
                Some(b) => request.json(b),
                None => request,
            };
            let response = request.send().await.map_err(|e| self.network(&url, e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED {
                if !refreshed && self.token_command.is_some() {
                    tracing::info!(provider = self.provider(), "401: refreshing the token through tokenCommand");
                    token = self.refresh().await?;
                    refreshed = true;
                    continue;
                }
                return Err(ProviderError::Unauthorized {
                    provider: self.provider(),
                    secret: self.kind.secret().as_str(),
                    env: self.kind.secret().env_var(),
                    refreshed: if refreshed { ", also after refreshing it with tokenCommand" } else { "" },
                });
            }
            if let Some(wait) = rate_limit_wait(status, response.headers()) {
                match wait {
                    Some(d) if d <= MAX_RATE_LIMIT_WAIT && !waited => {
                        tracing::info!(provider = self.provider(), seconds = d.as_secs_f32(), "rate limited: waiting");
                        tokio::time::sleep(d).await;
                        waited = true;
                        continue;
                    }
                    reset_in => return Err(ProviderError::RateLimited { provider: self.provider(), reset_in }),
                }
            }
            let message = error_message(response).await;
            return Err(match status {
                StatusCode::FORBIDDEN => {
                    ProviderError::Forbidden { provider: self.provider(), what: what.to_owned(), message }
                }
                StatusCode::NOT_FOUND => ProviderError::NotFound { provider: self.provider(), what: what.to_owned() },
                _ => ProviderError::Http {
                    provider: self.provider(),
                    what: what.to_owned(),
                    status: status.as_u16(),
                    message,
                },
            });
        }
    }

    fn authorize(&self, request: RequestBuilder, token: &Secret) -> RequestBuilder {
        match (self.kind, token.expose().split_once(':')) {
            // Bitbucket app passwords come as `user:app_password` (Basic); access tokens are Bearer.
            (ProviderKind::Bitbucket, Some((user, password))) => request.basic_auth(user, Some(password)),
            _ => request.bearer_auth(token.expose()),
        }
    }

    fn headers(&self, request: RequestBuilder) -> RequestBuilder {
        match self.kind {
            ProviderKind::GitHub => request
                .header("Accept", "application/vnd.github+json, application/json")
                .header("X-GitHub-Api-Version", "2022-11-28"),
            _ => request.header("Accept", "application/json"),
        }
    }

    /// Runs `tokenCommand` (through `sh -c`) and keeps its output as the provider's token (in memory).
    async fn refresh(&self) -> Result<Secret, ProviderError> {
        let key = self.kind.id();
        let Some(command) = &self.token_command else {
            return Err(ProviderError::TokenCommand { key, reason: "not set".into() });
        };
        let run = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(TOKEN_COMMAND_TIMEOUT, run)
            .await
            .map_err(|_| ProviderError::TokenCommand { key, reason: format!("{command:?} took over 30 s") })?
            .map_err(|e| ProviderError::TokenCommand { key, reason: format!("{command:?} could not run: {e}") })?;
        if !output.status.success() {
            // Its stderr may say why (not logged in); its stdout might be a token, so it is never shown.
            let stderr = String::from_utf8_lossy(&output.stderr);
            let reason = stderr.lines().next().unwrap_or("").chars().take(200).collect::<String>();
            return Err(ProviderError::TokenCommand {
                key,
                reason: format!("{command:?} exited with {}: {reason}", output.status),
            });
        }
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if token.is_empty() {
            return Err(ProviderError::TokenCommand { key, reason: format!("{command:?} printed no token") });
        }
        self.secrets.set(self.kind.secret(), &token);
        Ok(Secret::new(token))
    }
}

fn default_api_url(kind: ProviderKind, host: &str) -> String {
    match kind {
        ProviderKind::GitHub if host == "github.com" => "https://api.github.com".into(),
        ProviderKind::GitHub => format!("https://{host}/api/v3"),
        ProviderKind::GitLab => format!("https://{host}/api/v4"),
        ProviderKind::Bitbucket if host == "bitbucket.org" => "https://api.bitbucket.org/2.0".into(),
        ProviderKind::Bitbucket => format!("https://{host}/2.0"),
    }
}

/// `Some(wait)` when the response is a rate limit: 429, or GitHub's 403 with no requests left or a
/// `Retry-After`. The wait comes from `Retry-After` (seconds) or the reset headers (epoch seconds, or seconds from
/// now for GitLab's `RateLimit-Reset` when small), `None` inside when neither says.
fn rate_limit_wait(status: StatusCode, headers: &reqwest::header::HeaderMap) -> Option<Option<Duration>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let retry_after = header("retry-after").and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
    let exhausted = header("x-ratelimit-remaining").or(header("ratelimit-remaining")) == Some("0");
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (exhausted || retry_after.is_some()));
    if !limited {
        return None;
    }
    if retry_after.is_some() {
        return Some(retry_after);
    }
    let reset = header("x-ratelimit-reset").or(header("ratelimit-reset")).and_then(|v| v.parse::<u64>().ok());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Some(reset.map(|r| Duration::from_secs(if r > 1_000_000_000 { r.saturating_sub(now) } else { r })))
}

/// The provider's own words for an error, from its JSON body (`message`, `error.message`, `error`).
async fn error_message(response: Response) -> String {
    let text = response.text().await.unwrap_or_default();
    let from_json = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        [v.pointer("/message"), v.pointer("/error/message"), v.pointer("/error"), v.pointer("/error_description")]
            .into_iter()
            .flatten()
            .find_map(|m| m.as_str().map(str::to_owned).or_else(|| (!m.is_null()).then(|| m.to_string())))
    });
    let message = from_json.unwrap_or(text);
    message.chars().take(300).collect()
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.split(';').any(|p| p.trim() == "rel=\"next\"").then(|| url.trim().trim_matches(['<', '>']).to_owned())
    })
}

/// The `page` query parameter of a URL.
pub(crate) fn page_param(url: &str) -> Option<u32> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| kv.strip_prefix("page=")).and_then(|v| v.parse().ok())
}

/// Percent-encodes one path segment or query value.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn rate_limits_are_recognised_with_their_wait() {
        let ok = StatusCode::OK;
        assert_eq!(rate_limit_wait(ok, &headers(&[])), None);
        assert_eq!(rate_limit_wait(StatusCode::FORBIDDEN, &headers(&[])), None, "a plain 403 is not a rate limit");
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &headers(&[("retry-after", "3")])),
            Some(Some(Duration::from_secs(3)))
        );
        let soon = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 100;
        let wait = rate_limit_wait(
            StatusCode::FORBIDDEN,
            &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &soon.to_string())]),
        );
        assert!(matches!(wait, Some(Some(d)) if (98..=100).contains(&d.as_secs())), "{wait:?}");
        assert_eq!(rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &headers(&[])), Some(None));
    }

    #[test]
    fn next_links_and_pages() {
        let h = headers(&[(
            "link",
            "<https://api.github.com/user/repos?page=3&per_page=30>; rel=\"next\", <https://api.github.com/user/repos?page=9>; rel=\"last\"",
        )]);
        let next = next_link(&h).unwrap();
        assert_eq!(next, "https://api.github.com/user/repos?page=3&per_page=30");
        assert_eq!(page_param(&next), Some(3));
        assert_eq!(next_link(&headers(&[("link", "<https://x/?page=1>; rel=\"prev\"")])), None);
    }

    #[test]
    fn default_api_urls() {
        assert_eq!(default_api_url(ProviderKind::GitHub, "github.com"), "https://api.github.com");
        assert_eq!(default_api_url(ProviderKind::GitHub, "ghe.example"), "https://ghe.example/api/v3");
        assert_eq!(default_api_url(ProviderKind::GitLab, "gitlab.com"), "https://gitlab.com/api/v4");
        assert_eq!(default_api_url(ProviderKind::Bitbucket, "bitbucket.org"), "https://api.bitbucket.org/2.0");
        assert_eq!(encode("group/sub repo"), "group%2Fsub%20repo");
    }
}

//! The HTTP both trackers share: one request with the user's credentials, its answer read as JSON, and the statuses
//! turned into errors that say what to do (which token to set, how long to wait, which setting to check).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use super::{TrackerError, TrackerKind};

pub(super) struct Http {
    pub kind: TrackerKind,
    /// The settings key that names the address (`jira.url`, `linear.apiUrl`), for errors.
    pub setting: &'static str,
    pub client: reqwest::Client,
    pub authorization: HeaderValue,
    /// What to say on 401.
    pub unauthorized_hint: String,
}

impl Http {
    fn tracker(&self) -> &'static str {
        self.kind.name()
    }

    /// Sends a request and returns the JSON answer of a 2xx; any other status is an error in words. `what` names
    /// the thing asked for ("issue PROJ-1"); `not_found` is added to a 404's words.
    pub async fn json(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        what: &str,
        not_found: &str,
    ) -> Result<(Value, HeaderMap), TrackerError> {
        let mut request = self
            .client
            .request(method, url)
            .header("authorization", self.authorization.clone())
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| TrackerError::Network {
            tracker: self.tracker(),
            url: url.to_owned(),
            reason: e.without_url().to_string(),
            key: self.setting,
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let is_json = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("json"));
        let text = read(response).await;
        let value: Option<Value> = serde_json::from_str(&text).ok();
        match status {
            s if s.is_success() => match value {
                Some(v) if is_json || v.is_object() || v.is_array() => Ok((v, headers)),
                _ => Err(self.not_a_site(url, format!("{} answered with a page, not JSON", status.as_u16()))),
            },
            StatusCode::UNAUTHORIZED => {
                Err(TrackerError::Unauthorized { tracker: self.tracker(), hint: self.unauthorized_hint.clone() })
            }
            StatusCode::FORBIDDEN => Err(TrackerError::Forbidden {
                tracker: self.tracker(),
                what: what.to_owned(),
                message: message_of(value.as_ref()).map(|m| format!(" ({m})")).unwrap_or_default(),
            }),
            StatusCode::NOT_FOUND if value.is_none() => {
                Err(self.not_a_site(url, "404 with no JSON: there is no such API here".into()))
            }
            StatusCode::NOT_FOUND => Err(TrackerError::NotFound {
                tracker: self.tracker(),
                what: what.to_owned(),
                hint: not_found.to_owned(),
            }),
            StatusCode::TOO_MANY_REQUESTS => {
                Err(TrackerError::RateLimited { tracker: self.tracker(), wait: wait_of(&headers) })
            }
            _ if value.is_none() && !status.is_server_error() => {
                Err(self.not_a_site(url, format!("{} answered with a page, not JSON", status.as_u16())))
            }
            _ => Err(TrackerError::Http {
                tracker: self.tracker(),
                what: what.to_owned(),
                status: status.as_u16(),
                message: message_of(value.as_ref()).unwrap_or_else(|| text.chars().take(200).collect()),
            }),
        }
    }

    pub fn not_a_site(&self, url: &str, reason: String) -> TrackerError {
        let base = url.split("/rest/").next().unwrap_or(url).to_owned();
        TrackerError::NotASite { tracker: self.tracker(), url: base, reason, key: self.setting }
    }

    pub fn invalid(&self, what: &str, reason: impl ToString) -> TrackerError {
        TrackerError::Invalid { tracker: self.tracker(), what: what.to_owned(), reason: reason.to_string() }
    }
}

async fn read(response: Response) -> String {
    response.text().await.unwrap_or_default()
}

/// Jira's `errorMessages`/`errors`, GraphQL's `errors[].message`, or a `message`.
fn message_of(value: Option<&Value>) -> Option<String> {
    let value = value?;
    let mut parts: Vec<String> = Vec::new();
    for m in value["errorMessages"].as_array().into_iter().flatten() {
        parts.extend(m.as_str().map(str::to_owned));
    }
    if let Some(errors) = value["errors"].as_object() {
        parts.extend(errors.iter().map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default())));
    }
    for e in value["errors"].as_array().into_iter().flatten() {
        parts.extend(e["message"].as_str().map(str::to_owned));
    }
    if parts.is_empty() {
        parts.extend(value["message"].as_str().map(str::to_owned));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `Retry-After` (seconds), else Linear's `X-RateLimit-Requests-Reset` (epoch milliseconds).
pub(super) fn wait_of(headers: &HeaderMap) -> Option<Duration> {
    let header =
        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(secs) = header("retry-after") {
        return Some(Duration::from_secs(secs));
    }
    let reset_ms = header("x-ratelimit-requests-reset")?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(Duration::from_millis(reset_ms.saturating_sub(now_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_read_from_either_shape() {
        let jira = serde_json::json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}});
        assert_eq!(
            message_of(Some(&jira)).as_deref(),
            Some("Issue does not exist or you do not have permission to see it.")
        );
        let graphql = serde_json::json!({"errors": [{"message": "Entity not found: Issue"}]});
        assert_eq!(message_of(Some(&graphql)).as_deref(), Some("Entity not found: Issue"));
    }
}

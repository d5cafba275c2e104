//! Issue trackers that are not git hosts: Jira (Cloud REST v3 with an email and an API token, Data Center REST v2
//! with a personal access token) and Linear (GraphQL with an API key).
//!
//! One interface for both: [`Trackers`] reads an issue by its key (`PROJ-123`, `ENG-42`), comments on it, lists the
//! issues assigned to the user, and knows which keys exist (Jira's project keys and Linear's team keys, read from the
//! trackers, never guessed) so that `reference` can tell `PROJ-123` from `UTF-8` in a comment. The keys are kept in a
//! [`KeyCache`] the fronts hold for the session: code actions, asked for on every cursor move, read it without
//! waiting. `adf` turns Jira's documents into Markdown.

pub mod adf;
mod http;
mod jira;
mod linear;
pub mod reference;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{JiraSettings, LinearSettings, Settings};
use crate::secrets::{SecretName, SecretStore};

/// How long the known keys are trusted before they are read again.
const KEYS_FRESH_FOR: Duration = Duration::from_secs(600);
/// How long after a read began (one at a time) or failed the background does not try again (a missing token, a
/// tracker that is down): code actions come on every cursor move. Asking for an issue always tries, and says what
/// failed.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
/// How many of an issue's comments (the newest) the agent is given.
pub const MAX_COMMENTS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackerKind {
    Jira,
    Linear,
}

impl TrackerKind {
    pub const ALL: [TrackerKind; 2] = [TrackerKind::Jira, TrackerKind::Linear];

    pub fn id(self) -> &'static str {
        match self {
            TrackerKind::Jira => "jira",
            TrackerKind::Linear => "linear",
        }
    }

    pub fn from_id(id: &str) -> Option<TrackerKind> {
        TrackerKind::ALL.into_iter().find(|k| k.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            TrackerKind::Jira => "Jira",
            TrackerKind::Linear => "Linear",
        }
    }

    pub fn secret(self) -> SecretName {
        match self {
            TrackerKind::Jira => SecretName::JiraToken,
            TrackerKind::Linear => SecretName::LinearApiKey,
        }
    }
}

/// An issue in a tracker, its text already Markdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackerIssue {
    pub tracker: TrackerKind,
    /// `PROJ-123`, `ENG-42`.
    pub key: String,
    pub title: String,
    pub url: String,
    pub description: String,
    pub status: Option<String>,
    pub kind: Option<String>,
    pub labels: Vec<String>,
    /// Acceptance criteria, where the tracker has a field for them.
    pub criteria: Option<String>,
    /// The newest first, at most [`MAX_COMMENTS`].
    pub comments: Vec<TrackerComment>,
    pub attachments: Vec<String>,
    /// Linear's id of the issue (its comment mutation wants it); Jira takes the key.
    #[serde(skip)]
    pub internal_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackerComment {
    pub author: String,
    pub body: String,
}

/// An issue assigned to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assigned {
    pub tracker: TrackerKind,
    pub key: String,
    pub title: String,
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error("{0}")]
    NotConfigured(String),
    #[error(
        "no {tracker} token: set {secret} with openhands.setSecret (in VS Code: OpenHands: Set {tracker} Token), or \
         the {env} environment variable{extra}"
    )]
    NoToken { tracker: &'static str, secret: &'static str, env: &'static str, extra: &'static str },
    #[error("{tracker} rejected the token (401 Unauthorized): {hint}")]
    Unauthorized { tracker: &'static str, hint: String },
    #[error("{tracker} refused {what} (403 Forbidden): the token may read it but not do this{message}")]
    Forbidden { tracker: &'static str, what: String, message: String },
    #[error("{tracker}: {what} was not found, or the token cannot see it{hint}")]
    NotFound { tracker: &'static str, what: String, hint: String },
    #[error("{tracker}'s rate limit is used up{}; try again then", wait_text(*.wait))]
    RateLimited { tracker: &'static str, wait: Option<Duration> },
    #[error("{url} does not look like a {tracker} site ({reason}): check openhands.{key}")]
    NotASite { tracker: &'static str, url: String, reason: String, key: &'static str },
    #[error("{tracker} could not be reached at {url}: {reason}. Check openhands.{key} and your network")]
    Network { tracker: &'static str, url: String, reason: String, key: &'static str },
    #[error("{tracker} answered {status} to {what}: {message}")]
    Http { tracker: &'static str, what: String, status: u16, message: String },
    #[error("{tracker} sent an answer openhands-lsp does not understand for {what}: {reason}")]
    Invalid { tracker: &'static str, what: String, reason: String },
}

fn wait_text(wait: Option<Duration>) -> String {
    match wait {
        Some(d) if d.as_secs() >= 120 => format!(" for {} minutes", d.as_secs().div_ceil(60)),
        Some(d) => format!(" for {} seconds", d.as_secs().max(1)),
        None => String::new(),
    }
}

/// When a tracker's keys were read, and the keys.
type ReadKeys = (Instant, Vec<String>);

/// The keys each tracker has (by its address), and when they were read; shared by a front's requests (cheap to
/// clone).
#[derive(Clone, Default)]
pub struct KeyCache {
    /// The HTTP client of every request of the front (built once: code actions come on every cursor move).
    client: Arc<std::sync::OnceLock<reqwest::Client>>,
    inner: Arc<Mutex<HashMap<String, ReadKeys>>>,
    /// When reading a tracker's keys last began, until it succeeds.
    attempted: Arc<Mutex<HashMap<String, Instant>>>,
}

impl KeyCache {
    fn client(&self) -> reqwest::Client {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .user_agent(concat!("openhands-lsp/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(Duration::from_secs(10))
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap_or_default()
            })
            .clone()
    }

    fn get(&self, site: &str) -> Option<(bool, Vec<String>)> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.get(site).map(|(at, keys)| (at.elapsed() < KEYS_FRESH_FOR, keys.clone()))
    }

    /// Forgets every tracker's keys and failures (a new token may see other projects).
    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.attempted.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn put(&self, site: &str, keys: Vec<String>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.insert(site.to_owned(), (Instant::now(), keys));
        self.attempted.lock().unwrap_or_else(|p| p.into_inner()).remove(site);
    }

    fn attempt(&self, site: &str) {
        self.attempted.lock().unwrap_or_else(|p| p.into_inner()).insert(site.to_owned(), Instant::now());
    }

    fn attempted_lately(&self, site: &str) -> bool {
        let attempted = self.attempted.lock().unwrap_or_else(|p| p.into_inner());
        attempted.get(site).is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE)
    }
}

/// The configured trackers, for one request: built from the settings, the secrets and the front's key cache.
#[derive(Clone)]
pub struct Trackers {
    jira: JiraSettings,
    linear: LinearSettings,
    secrets: SecretStore,
    cache: KeyCache,
    client: reqwest::Client,
}

impl Trackers {
    pub fn new(settings: &Settings, secrets: SecretStore, cache: KeyCache) -> Self {
        let client = cache.client();
        Trackers { jira: settings.jira.clone(), linear: settings.linear.clone(), secrets, cache, client }
    }

    /// The trackers set up: Jira with a site, Linear with a key (its API has one address).
    pub fn configured(&self) -> Vec<TrackerKind> {
        let mut out = Vec::new();
        if self.jira.url.as_deref().is_some_and(|u| !u.trim().is_empty()) {
            out.push(TrackerKind::Jira);
        }
        if self.secrets.get(SecretName::LinearApiKey).is_some() {
            out.push(TrackerKind::Linear);
        }
        out
    }

    /// Jira's site (no trailing slash), when set.
    pub fn jira_site(&self) -> Option<String> {
        self.jira.url.as_deref().map(|u| u.trim().trim_end_matches('/').to_owned()).filter(|u| !u.is_empty())
    }

    fn site_of(&self, kind: TrackerKind) -> String {
        match kind {
            TrackerKind::Jira => self.jira_site().unwrap_or_default(),
            TrackerKind::Linear => self.linear.api_url.clone(),
        }
    }

    /// The keys already known, without asking anyone (for code actions); `stale` when they should be read again
    /// (not while a read runs, nor within 10 s of a failed one).
    pub fn cached_keys(&self) -> Vec<(TrackerKind, Vec<String>, bool)> {
        self.configured()
            .into_iter()
            .map(|kind| {
                let site = self.site_of(kind);
                let retry = !self.cache.attempted_lately(&site);
                match self.cache.get(&site) {
                    Some((fresh, keys)) => (kind, keys, !fresh && retry),
                    None => (kind, Vec::new(), retry),
                }
            })
            .collect()
    }

    /// The keys of one tracker, read from it when not known or stale.
    pub async fn keys(&self, kind: TrackerKind) -> Result<Vec<String>, TrackerError> {
        let site = self.site_of(kind);
        if let Some((true, keys)) = self.cache.get(&site) {
            return Ok(keys);
        }
        let read = match kind {
            TrackerKind::Jira => async { jira::Jira::new(self)?.project_keys().await }.await,
            TrackerKind::Linear => async { linear::Linear::new(self)?.team_keys().await }.await,
        };
        match read {
            Ok(keys) => {
                self.cache.put(&site, keys.clone());
                Ok(keys)
            }
            Err(e) => {
                self.cache.attempt(&site);
                Err(e)
            }
        }
    }

    /// Reads the keys of every configured tracker that has none fresh (in the background of code actions);
    /// failures are logged, and said when the user asks for an issue.
    pub async fn refresh_keys(&self) {
        for (kind, _, stale) in self.cached_keys() {
            if !stale {
                continue;
            }
            // Marked before the read: the requests that come while it runs do not start reads of their own.
            self.cache.attempt(&self.site_of(kind));
            if let Err(e) = self.keys(kind).await {
                tracing::info!("reading {}'s keys failed: {e}", kind.name());
            }
        }
    }

    /// Which tracker has `key`'s project or team (`PROJ` of `PROJ-123`), asking the trackers when needed.
    pub async fn tracker_of(&self, key: &str) -> Result<Option<TrackerKind>, TrackerError> {
        let Some((prefix, _)) = key.rsplit_once('-') else { return Ok(None) };
        let mut first_error = None;
        for kind in self.configured() {
            match self.keys(kind).await {
                Ok(keys) if keys.iter().any(|k| k.eq_ignore_ascii_case(prefix)) => return Ok(Some(kind)),
                Ok(_) => {}
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    pub async fn issue(&self, kind: TrackerKind, key: &str) -> Result<TrackerIssue, TrackerError> {
        match kind {
            TrackerKind::Jira => jira::Jira::new(self)?.issue(key).await,
            TrackerKind::Linear => linear::Linear::new(self)?.issue(key).await,
        }
    }

    /// Comments on issue `key`: `text`, then `link` as a link.
    pub async fn comment(&self, kind: TrackerKind, key: &str, text: &str, link: &str) -> Result<(), TrackerError> {
        match kind {
            TrackerKind::Jira => jira::Jira::new(self)?.comment(key, text, link).await,
            TrackerKind::Linear => linear::Linear::new(self)?.comment(key, text, link).await,
        }
    }

    /// The open issues assigned to the user, in the configured projects or teams.
    pub async fn assigned(&self, kind: TrackerKind) -> Result<Vec<Assigned>, TrackerError> {
        match kind {
            TrackerKind::Jira => {
                let projects = list(self.jira.projects.as_deref());
                jira::Jira::new(self)?.assigned(&projects).await
            }
            TrackerKind::Linear => {
                let teams = list(self.linear.teams.as_deref());
                linear::Linear::new(self)?.assigned(&teams).await
            }
        }
    }
}

/// `"PROJ, OPS"` → `["PROJ", "OPS"]`.
fn list(setting: Option<&str>) -> Vec<String> {
    setting
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_say_how_long() {
        let e = TrackerError::RateLimited { tracker: "Linear", wait: Some(Duration::from_secs(30)) };
        assert_eq!(e.to_string(), "Linear's rate limit is used up for 30 seconds; try again then");
        let e = TrackerError::RateLimited { tracker: "Jira", wait: Some(Duration::from_secs(900)) };
        assert_eq!(e.to_string(), "Jira's rate limit is used up for 15 minutes; try again then");
    }

    #[test]
    fn project_lists_are_read_loosely() {
        assert_eq!(list(Some("proj, OPS  web")), vec!["PROJ", "OPS", "WEB"]);
        assert!(list(None).is_empty());
    }
}

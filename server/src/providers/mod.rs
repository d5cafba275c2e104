//! The user's git hosting providers (GitHub, GitLab, Bitbucket) through their APIs, with the user's tokens.
//!
//! One interface, [`GitService`], three implementations (`github`, `gitlab`, `bitbucket`), the editor-side
//! counterpart of OpenHands' `ProviderHandler`/`GitService`. [`Providers`] builds the service for a repository's
//! host from the settings (custom hosts for GitHub Enterprise and self-managed GitLab) and the secret store. The
//! HTTP layer (`http`) owns authentication, the one retry after refreshing a token on 401 (`tokenCommand`), rate
//! limits and the errors users read. `remote` finds the provider and repository from git remotes; `reference`
//! finds issue references in text.

mod bitbucket;
mod github;
mod gitlab;
pub(crate) mod http;
pub mod reference;
pub mod remote;

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::config::{ProviderSettings, Settings};
use crate::secrets::{SecretName, SecretStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    GitHub,
    GitLab,
    Bitbucket,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [ProviderKind::GitHub, ProviderKind::GitLab, ProviderKind::Bitbucket];

    /// The lowercase id used in settings keys (`openhands.<id>.host`), stored links and the cloud API.
    pub fn id(self) -> &'static str {
        match self {
            ProviderKind::GitHub => "github",
            ProviderKind::GitLab => "gitlab",
            ProviderKind::Bitbucket => "bitbucket",
        }
    }

    pub fn from_id(id: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::GitHub => "GitHub",
            ProviderKind::GitLab => "GitLab",
            ProviderKind::Bitbucket => "Bitbucket",
        }
    }

    pub fn secret(self) -> SecretName {
        match self {
            ProviderKind::GitHub => SecretName::GithubToken,
            ProviderKind::GitLab => SecretName::GitlabToken,
            ProviderKind::Bitbucket => SecretName::BitbucketToken,
        }
    }

    /// The public host.
    pub fn default_host(self) -> &'static str {
        match self {
            ProviderKind::GitHub => "github.com",
            ProviderKind::GitLab => "gitlab.com",
            ProviderKind::Bitbucket => "bitbucket.org",
        }
    }

    /// What the provider calls a pull request.
    pub fn pull_request_noun(self) -> &'static str {
        match self {
            ProviderKind::GitLab => "merge request",
            _ => "pull request",
        }
    }
}

/// A repository on a provider: `path` is `owner/repo` (GitLab: `group/subgroup/repo`; Bitbucket: `workspace/repo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RepoRef {
    pub kind: ProviderKind,
    pub host: String,
    pub path: String,
}

impl std::fmt::Display for RepoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub login: String,
    pub name: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    pub full_name: String,
    pub url: String,
    pub default_branch: Option<String>,
    pub private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Branch {
    pub name: String,
    pub commit: Option<String>,
}

/// One page of a listing; `next` is the next page's number when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub next: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    pub author: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: String,
    pub url: String,
    pub author: Option<String>,
    pub labels: Vec<String>,
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    pub url: String,
    pub state: String,
    pub open: bool,
    pub draft: bool,
    pub head: String,
    pub base: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPullRequest {
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub draft: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TaskKind {
    OpenIssue,
    FailingChecks,
    MergeConflicts,
    UnresolvedComments,
}

impl TaskKind {
    fn describe(self) -> &'static str {
        match self {
            TaskKind::OpenIssue => "open issue assigned to you",
            TaskKind::FailingChecks => "your pull request has failing checks",
            TaskKind::MergeConflicts => "your pull request has merge conflicts",
            TaskKind::UnresolvedComments => "your pull request has unresolved review comments",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestedTask {
    pub kind: TaskKind,
    /// `github`, `gitlab`, `bitbucket`, or a tracker's `jira`, `linear`.
    pub provider: String,
    pub repository: String,
    pub number: u64,
    pub title: String,
    pub url: String,
    /// What `openhands.fixIssue` takes to start on it (`owner/repo#12`, or the URL).
    pub reference: String,
    pub description: String,
}

impl SuggestedTask {
    fn new(kind: TaskKind, provider: ProviderKind, repository: &str, number: u64, title: &str, url: &str) -> Self {
        SuggestedTask {
            kind,
            provider: provider.id().into(),
            repository: repository.to_owned(),
            number,
            title: title.to_owned(),
            url: url.to_owned(),
            reference: url.to_owned(),
            description: format!("{repository}#{number}: {}", kind.describe()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Microagent {
    pub name: String,
    pub path: String,
    pub content: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(
        "no {provider} token: set {secret} with openhands.setSecret (in VS Code: OpenHands: Set {provider} Token), the \
         {env} environment variable, or openhands.{key}.tokenCommand"
    )]
    NoToken { provider: &'static str, secret: &'static str, env: &'static str, key: &'static str },
    #[error(
        "{provider} rejected the token (401 Unauthorized{refreshed}): set a valid {secret} with openhands.setSecret or \
         {env}"
    )]
    Unauthorized { provider: &'static str, secret: &'static str, env: &'static str, refreshed: &'static str },
    #[error("{provider} refused {what} (403 Forbidden): {message}. Check that the token has the needed scopes")]
    Forbidden { provider: &'static str, what: String, message: String },
    #[error("{provider}: {what} was not found (404), or the token cannot see it")]
    NotFound { provider: &'static str, what: String },
    #[error("{provider}'s rate limit is used up{}; try again then", reset_text(*.reset_in))]
    RateLimited { provider: &'static str, reset_in: Option<Duration> },
    #[error("{provider} answered {status} to {what}: {message}")]
    Http { provider: &'static str, what: String, status: u16, message: String },
    #[error("{provider} could not be reached ({url}): {reason}")]
    Network { provider: &'static str, url: String, reason: String },
    #[error("{provider} sent an answer openhands-lsp does not understand for {what}: {reason}")]
    Invalid { provider: &'static str, what: String, reason: String },
    #[error("openhands.{key}.tokenCommand failed: {reason}")]
    TokenCommand { key: &'static str, reason: String },
    #[error("{0}")]
    Unsupported(String),
}

fn reset_text(reset_in: Option<Duration>) -> String {
    match reset_in {
        Some(d) if d.as_secs() >= 120 => format!(" until it resets in {} minutes", d.as_secs().div_ceil(60)),
        Some(d) => format!(" until it resets in {} seconds", d.as_secs().max(1)),
        None => String::new(),
    }
}

type Fut<'a, T> = BoxFuture<'a, Result<T, ProviderError>>;

/// One provider's API, for one host. Arguments are owned so implementations can move them into their futures.
pub trait GitService: Send + Sync {
    fn kind(&self) -> ProviderKind;
    fn current_user(&self) -> Fut<'_, User>;
    /// The user's repositories (`query`: those whose name matches), one page (from 1).
    fn repositories(&self, query: Option<String>, page: u32) -> Fut<'_, Page<Repository>>;
    /// A repository's branches (`query`: those whose name starts with or contains it), one page (from 1).
    fn branches(&self, repo: RepoRef, query: Option<String>, page: u32) -> Fut<'_, Page<Branch>>;
    /// An issue with its labels and comments.
    fn issue(&self, repo: RepoRef, number: u64) -> Fut<'_, Issue>;
    fn pull_request(&self, repo: RepoRef, number: u64) -> Fut<'_, PullRequest>;
    fn create_pull_request(&self, repo: RepoRef, new: NewPullRequest) -> Fut<'_, PullRequest>;
    /// Comments on an issue; returns the comment's URL.
    fn comment_on_issue(&self, repo: RepoRef, number: u64, body: String) -> Fut<'_, String>;
    /// Open issues assigned to the user and the user's pull requests that need work. `repo` narrows it where the
    /// provider has no cross-repository listing (Bitbucket issues).
    fn suggested_tasks(&self, repo: Option<RepoRef>) -> Fut<'_, Vec<SuggestedTask>>;
    /// `.openhands/microagents/*.md` of the repository's default branch.
    fn microagents(&self, repo: RepoRef) -> Fut<'_, Vec<Microagent>>;
    /// The open issues of `repo` with every one of `labels` (Bitbucket: in the component named so), not pull
    /// requests, at most `limit`.
    fn open_issues(&self, repo: RepoRef, labels: Vec<String>, limit: usize) -> Fut<'_, Vec<ListedIssue>>;
}

/// An issue in a list (`open_issues`): enough to name it and to fix it by its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedIssue {
    pub number: u64,
    pub title: String,
    pub url: String,
}

/// Reads pages (from 1) of a listing until one says it is the last, `limit` items are there, or 10 pages were read.
/// `page_of` gives a page's items and whether more follow.
async fn list_pages<F, P>(limit: usize, mut page_of: F) -> Result<Vec<ListedIssue>, ProviderError>
where
    F: FnMut(u32) -> P,
    P: std::future::Future<Output = Result<(Vec<ListedIssue>, bool), ProviderError>>,
{
    let mut out = Vec::new();
    for page in 1..=10 {
        let (items, more) = page_of(page).await?;
        out.extend(items);
        if !more || out.len() >= limit {
            break;
        }
    }
    out.truncate(limit);
    Ok(out)
}

/// Builds the service for a host from the settings and the secrets.
#[derive(Clone)]
pub struct Providers {
    settings: ProvidersSettings,
    secrets: SecretStore,
    client: reqwest::Client,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProvidersSettings {
    pub github: ProviderSettings,
    pub gitlab: ProviderSettings,
    pub bitbucket: ProviderSettings,
}

impl ProvidersSettings {
    pub fn from_settings(s: &Settings) -> Self {
        ProvidersSettings { github: s.github.clone(), gitlab: s.gitlab.clone(), bitbucket: s.bitbucket.clone() }
    }

    pub fn get(&self, kind: ProviderKind) -> &ProviderSettings {
        match kind {
            ProviderKind::GitHub => &self.github,
            ProviderKind::GitLab => &self.gitlab,
            ProviderKind::Bitbucket => &self.bitbucket,
        }
    }

    /// The host the user set for a provider, or its public one.
    pub fn host(&self, kind: ProviderKind) -> String {
        self.get(kind).host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| kind.default_host().to_owned())
    }

    /// Which provider serves `host`: the configured hosts first, then the public ones, then the name's hint
    /// (`gitlab.example.com` is a GitLab).
    pub fn kind_of_host(&self, host: &str) -> Option<ProviderKind> {
        let host = host.to_ascii_lowercase();
        let kinds = ProviderKind::ALL;
        kinds
            .into_iter()
            .find(|k| self.host(*k).eq_ignore_ascii_case(&host))
            .or_else(|| kinds.into_iter().find(|k| k.default_host() == host))
            .or_else(|| {
                if host.contains("gitlab") {
                    Some(ProviderKind::GitLab)
                } else if host.contains("github") {
                    Some(ProviderKind::GitHub)
                } else if host.contains("bitbucket") {
                    Some(ProviderKind::Bitbucket)
                } else {
                    None
                }
            })
    }
}

impl Providers {
    pub fn new(settings: ProvidersSettings, secrets: SecretStore) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("openhands-lsp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        Providers { settings, secrets, client }
    }

    pub fn settings(&self) -> &ProvidersSettings {
        &self.settings
    }

    /// The service for a provider on `host` (its public host when `None`).
    pub fn service(&self, kind: ProviderKind, host: Option<&str>) -> Box<dyn GitService> {
        let settings = self.settings.get(kind);
        let host = host.map(str::to_owned).unwrap_or_else(|| self.settings.host(kind));
        let api = http::Api::new(kind, &host, settings, self.secrets.clone(), self.client.clone());
        match kind {
            ProviderKind::GitHub => Box::new(github::GitHub::new(api)),
            ProviderKind::GitLab => Box::new(gitlab::GitLab::new(api)),
            ProviderKind::Bitbucket => Box::new(bitbucket::Bitbucket::new(api)),
        }
    }

    pub fn for_repo(&self, repo: &RepoRef) -> Box<dyn GitService> {
        self.service(repo.kind, Some(&repo.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_providers() {
        let mut s = ProvidersSettings::default();
        s.github.host = Some("ghe.corp.example".into());
        s.gitlab.host = Some("code.corp.example".into());
        assert_eq!(s.kind_of_host("github.com"), Some(ProviderKind::GitHub));
        assert_eq!(s.kind_of_host("GHE.corp.example"), Some(ProviderKind::GitHub));
        assert_eq!(s.kind_of_host("code.corp.example"), Some(ProviderKind::GitLab));
        assert_eq!(s.kind_of_host("gitlab.example.org"), Some(ProviderKind::GitLab));
        assert_eq!(s.kind_of_host("bitbucket.org"), Some(ProviderKind::Bitbucket));
        assert_eq!(s.kind_of_host("example.com"), None);
    }

    #[test]
    fn rate_limit_messages_say_when() {
        let e = ProviderError::RateLimited { provider: "GitHub", reset_in: Some(Duration::from_secs(600)) };
        assert_eq!(e.to_string(), "GitHub's rate limit is used up until it resets in 10 minutes; try again then");
        let e = ProviderError::RateLimited { provider: "GitLab", reset_in: None };
        assert_eq!(e.to_string(), "GitLab's rate limit is used up; try again then");
    }
}

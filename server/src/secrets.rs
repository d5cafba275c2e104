//! The user's secrets (LLM API key, provider tokens), held in memory only.
//!
//! A [`Secret`] cannot be printed or serialized by accident: its `Debug` and `Display` say `***` and it has no
//! `Serialize`. The one way out is [`Secret::expose`], used where a value must travel (the agent-server's create
//! request). Text that leaves the process from elsewhere (agent-server logs, events) goes through [`Redactor`].

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::from(value.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The names editors may set through `openhands.setSecret`, and the environment variable each falls back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretName {
    LlmApiKey,
    GithubToken,
    GitlabToken,
    BitbucketToken,
    /// The OpenHands Cloud API key (the cloud backend's, never a conversation's).
    CloudApiKey,
    /// Jira: an API token (Cloud, with `openhands.jira.email`) or a personal access token (Data Center).
    JiraToken,
    /// Linear: a personal API key.
    LinearApiKey,
}

impl SecretName {
    pub const ALL: [SecretName; 7] = [
        SecretName::LlmApiKey,
        SecretName::GithubToken,
        SecretName::GitlabToken,
        SecretName::BitbucketToken,
        SecretName::CloudApiKey,
        SecretName::JiraToken,
        SecretName::LinearApiKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::LlmApiKey => "llm_api_key",
            SecretName::GithubToken => "github_token",
            SecretName::GitlabToken => "gitlab_token",
            SecretName::BitbucketToken => "bitbucket_token",
            SecretName::CloudApiKey => "cloud_api_key",
            SecretName::JiraToken => "jira_token",
            SecretName::LinearApiKey => "linear_api_key",
        }
    }

    pub fn env_var(self) -> &'static str {
        match self {
            SecretName::LlmApiKey => "LLM_API_KEY",
            SecretName::GithubToken => "GITHUB_TOKEN",
            SecretName::GitlabToken => "GITLAB_TOKEN",
            SecretName::BitbucketToken => "BITBUCKET_TOKEN",
            SecretName::CloudApiKey => "OPENHANDS_API_KEY",
            SecretName::JiraToken => "JIRA_API_TOKEN",
            SecretName::LinearApiKey => "LINEAR_API_KEY",
        }
    }

    /// Provider tokens reach each conversation as its secrets, under the name the agent expects in its shell.
    pub fn is_provider_token(self) -> bool {
        matches!(self, SecretName::GithubToken | SecretName::GitlabToken | SecretName::BitbucketToken)
    }
}

/// Where a secret's value came from, for `status` (never the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    Editor,
    Environment,
    /// Kept by `openhands-lsp login` (the keyring, or the file the user asked for).
    Login,
}

/// Secrets set from the editor, over the environment. Cheap to clone; shared by the server and its conversations.
#[derive(Clone, Default)]
pub struct SecretStore {
    from_editor: Arc<RwLock<BTreeMap<SecretName, Secret>>>,
    from_env: Arc<BTreeMap<SecretName, Secret>>,
    /// What `openhands-lsp login` kept (`credentials`), under the environment's: read in the background from the
    /// start, waited for only when a secret is asked for that neither the editor nor the environment has.
    from_login: Arc<LoginKeys>,
    /// Secrets of other names (`${secret:NAME}` in MCP servers' settings), set from the editor.
    named: Arc<RwLock<BTreeMap<String, Secret>>>,
    /// The values to mask, kept current on every change: every [`Redactor`] of this store reads them.
    masks: Masks,
}

type Masks = Arc<RwLock<Arc<Vec<String>>>>;

/// The keys `openhands-lsp login` kept, by name.
pub type LoginKept = BTreeMap<SecretName, Secret>;

/// Login's keys: read once, when first needed, from the background read started with the store.
#[derive(Default)]
struct LoginKeys {
    kept: OnceLock<LoginKept>,
    pending: Mutex<Option<(Receiver<LoginKept>, Instant)>>,
}

impl SecretStore {
    pub fn from_env() -> Self {
        Self::with_env(|name| std::env::var(name).ok())
    }

    pub fn with_env(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let from_env = SecretName::ALL
            .iter()
            .filter_map(|n| lookup(n.env_var()).filter(|v| !v.is_empty()).map(|v| (*n, Secret::new(v))))
            .collect();
        let store = SecretStore {
            from_editor: Arc::default(),
            from_env: Arc::new(from_env),
            from_login: Arc::default(),
            named: Arc::default(),
            masks: Masks::default(),
        };
        store.refresh_masks();
        store
    }

    /// The store with what `openhands-lsp login` kept, as `pending` delivers it (a keyring read on a thread of its
    /// own), waited for until `deadline` at most; used where neither the editor nor the environment sets a secret.
    pub fn with_login(mut self, pending: Receiver<LoginKept>, deadline: Instant) -> Self {
        self.from_login = Arc::new(LoginKeys { kept: OnceLock::new(), pending: Mutex::new(Some((pending, deadline))) });
        self
    }

    /// What login kept: at the first need, what the read delivered by its deadline (nothing after it).
    fn login(&self) -> &LoginKept {
        let mut fresh = false;
        let kept = self.from_login.kept.get_or_init(|| {
            fresh = true;
            let pending = self.from_login.pending.lock().unwrap_or_else(|p| p.into_inner()).take();
            pending
                .and_then(|(rx, deadline)| rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok())
                .unwrap_or_default()
        });
        if fresh {
            self.refresh_masks();
        }
        kept
    }

    /// An empty value clears the editor's value (the environment's, if any, applies again).
    pub fn set(&self, name: SecretName, value: &str) {
        {
            let mut map = self.from_editor.write().unwrap_or_else(|p| p.into_inner());
            if value.is_empty() {
                map.remove(&name);
            } else {
                map.insert(name, Secret::new(value));
            }
        }
        self.refresh_masks();
    }

    /// Sets a secret of another name (an empty value clears it).
    pub fn set_named(&self, name: &str, value: &str) {
        {
            let mut map = self.named.write().unwrap_or_else(|p| p.into_inner());
            if value.is_empty() {
                map.remove(name);
            } else {
                map.insert(name.to_owned(), Secret::new(value));
            }
        }
        self.refresh_masks();
    }

    /// A secret by the name settings give it: one of ours (`github_token`), else one set under that name, else the
    /// environment variable of that name, which is masked from then on.
    pub fn named(&self, name: &str) -> Option<Secret> {
        if let Some(known) = SecretName::ALL.into_iter().find(|n| n.as_str() == name) {
            return self.get(known);
        }
        if let Some(set) = self.named.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Some(set.clone());
        }
        let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
        self.mask(&value);
        Some(Secret::new(value))
    }

    /// Whether a secret of that name is set (for `status` and `doctor`), without reading a value out.
    pub fn has_named(&self, name: &str) -> bool {
        SecretName::ALL.into_iter().find(|n| n.as_str() == name).map_or_else(
            || {
                self.named.read().unwrap_or_else(|p| p.into_inner()).contains_key(name)
                    || std::env::var_os(name).is_some_and(|v| !v.is_empty())
            },
            |known| self.get(known).is_some(),
        )
    }

    fn mask(&self, value: &str) {
        let old = self.masks.read().unwrap_or_else(|p| p.into_inner()).clone();
        if value.len() < 6 || old.iter().any(|v| v == value) {
            return;
        }
        let mut values: Vec<String> = old.iter().cloned().chain([value.to_owned()]).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        *self.masks.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(values);
    }

    pub fn get(&self, name: SecretName) -> Option<Secret> {
        let editor = self.from_editor.read().unwrap_or_else(|p| p.into_inner()).get(&name).cloned();
        editor.or_else(|| self.from_env.get(&name).cloned()).or_else(|| self.login().get(&name).cloned())
    }

    pub fn source(&self, name: SecretName) -> Option<SecretSource> {
        if self.from_editor.read().unwrap_or_else(|p| p.into_inner()).contains_key(&name) {
            Some(SecretSource::Editor)
        } else if self.from_env.contains_key(&name) {
            Some(SecretSource::Environment)
        } else if self.login().contains_key(&name) {
            Some(SecretSource::Login)
        } else {
            None
        }
    }

    /// A redactor for every value this store holds, now and after later changes: a value set while a
    /// conversation runs is masked in it from then on.
    pub fn redactor(&self) -> Redactor {
        Redactor { values: self.masks.clone() }
    }

    fn refresh_masks(&self) {
        // Every value ever set stays masked: text that quoted an old token must not leak it once it is replaced.
        let old = self.masks.read().unwrap_or_else(|p| p.into_inner()).clone();
        let editor: Vec<String> = self
            .from_editor
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|s| s.expose().to_owned())
            .collect();
        // Login's keys once read (reading them here would wait for the keyring): a key is masked from its first use.
        let login = self.from_login.kept.get().into_iter().flat_map(BTreeMap::values);
        let env = self.from_env.values().chain(login).map(|s| s.expose().to_owned());
        let named: Vec<String> =
            self.named.read().unwrap_or_else(|p| p.into_inner()).values().map(|s| s.expose().to_owned()).collect();
        let mut values: Vec<String> = old.iter().cloned().chain(editor).chain(env).chain(named).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        // Very short values would redact ordinary text; no real key or token is that short.
        values.retain(|v| v.len() >= 6);
        *self.masks.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(values);
    }
}

impl std::fmt::Debug for SecretStore {
    /// Names and where they came from, never values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for name in SecretName::ALL {
            if let Some(source) = self.source(name) {
                map.entry(&name.as_str(), &source);
            }
        }
        map.finish()
    }
}

/// Replaces known secret values in text with `***`.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Masks,
}

pub const MASK: &str = "***";

impl Redactor {
    pub fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let values = self.values.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = std::borrow::Cow::Borrowed(text);
        for value in values.iter() {
            if memchr::memmem::find(out.as_bytes(), value.as_bytes()).is_some() {
                out = std::borrow::Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.values.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("sk-abcdef123");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }

    #[test]
    fn editor_beats_environment_and_empty_clears() {
        let store = SecretStore::with_env(|n| (n == "GITHUB_TOKEN").then(|| "env-token-1".to_owned()));
        assert_eq!(store.source(SecretName::GithubToken), Some(SecretSource::Environment));
        store.set(SecretName::GithubToken, "editor-token");
        assert_eq!(store.get(SecretName::GithubToken).unwrap().expose(), "editor-token");
        store.set(SecretName::GithubToken, "");
        assert_eq!(store.get(SecretName::GithubToken).unwrap().expose(), "env-token-1");
        assert_eq!(store.get(SecretName::LlmApiKey), None);
    }

    #[test]
    fn redactor_masks_every_known_value() {
        let store = SecretStore::default();
        store.set(SecretName::LlmApiKey, "sk-live-key-123");
        store.set(SecretName::GithubToken, "ghp_token_456");
        let r = store.redactor();
        assert_eq!(r.redact("a sk-live-key-123 b ghp_token_456 c"), "a *** b *** c");
        assert!(matches!(r.redact("nothing here"), std::borrow::Cow::Borrowed(_)));
        // Set after the redactor was made, and replaced: both masked.
        store.set(SecretName::GitlabToken, "glpat-later-789");
        store.set(SecretName::GitlabToken, "glpat-newer-000");
        assert_eq!(r.redact("glpat-later-789 glpat-newer-000"), "*** ***");
    }
}

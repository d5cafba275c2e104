//! On-disk state of conversations: `<state dir>/conversations/<id>/meta.json` and an append-only `events.jsonl`
//! (one redacted agent-server event per line, in delivery order).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::State;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub id: String,
    pub title: String,
    pub instruction: String,
    pub workspace: PathBuf,
    pub backend: String,
    pub state: State,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub updated_at: u64,
    #[serde(default)]
    pub final_message: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    /// Where the agent-server listened (no key), while it lived.
    #[serde(default)]
    pub sandbox_url: Option<String>,
    #[serde(default)]
    pub event_count: u64,
    /// The conversation's own copy, when it works in one.
    #[serde(default)]
    pub isolation: Option<IsolationMeta>,
    /// The issue the conversation works on, when it was started from one (`openhands.fixIssue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<IssueLink>,
    /// The OpenHands Cloud conversation it follows (the `cloud` backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<CloudLink>,
}

/// A conversation in OpenHands Cloud (or a self-hosted OpenHands server).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CloudLink {
    /// The app conversation's id (also its id on the sandbox's agent-server).
    pub conversation_id: String,
    pub sandbox_id: String,
    /// The conversation's page in the web UI.
    pub url: String,
    /// `owner/repo` the cloud cloned, and the branch it started from.
    pub repository: Option<String>,
    pub branch: Option<String>,
    /// Pull requests the agent opened (numbers on the repository's provider).
    #[serde(default)]
    pub pull_requests: Vec<u64>,
}

/// An issue on a git hosting provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IssueLink {
    /// `github`, `gitlab` or `bitbucket`.
    pub provider: String,
    pub host: String,
    /// `owner/repo` (GitLab: with subgroups).
    pub repository: String,
    pub number: u64,
    pub title: String,
    pub url: String,
}

/// Enough to find the isolated copy again (also after a restart).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IsolationMeta {
    /// Where the agent works.
    pub root: PathBuf,
    /// The folder holding the copy (the worktree's top).
    pub dest: PathBuf,
    /// `None` for a copy of a plain folder.
    pub repo: Option<PathBuf>,
    pub branch: Option<String>,
    /// The baseline commit, hex.
    pub baseline: String,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write conversation data under {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("no conversation {0} in the state directory")]
    Unknown(String),
    #[error("{0}")]
    BadId(#[from] BadId),
}

/// A conversation id in the form the server creates: 32 lowercase hex digits (a UUID without dashes). Ids name
/// folders under the state directory, so nothing else may ever be used as one: `../..` or an absolute path would
/// lead the server out of the folder it owns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConversationId(String);

#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{0:?} is not a conversation id (ids are the 32 hex digits openhands.startTask and openhands.listConversations give)"
)]
pub struct BadId(String);

impl ConversationId {
    pub fn new_random() -> Self {
        ConversationId(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn parse(id: &str) -> Result<Self, BadId> {
        if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(ConversationId(id.to_owned()))
        } else {
            // Shown back to the user: keep a hostile value short.
            Err(BadId(id.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ConversationId {
    type Error = BadId;
    fn try_from(id: String) -> Result<Self, BadId> {
        Self::parse(&id)
    }
}

impl From<ConversationId> for String {
    fn from(id: ConversationId) -> String {
        id.0
    }
}

impl std::ops::Deref for ConversationId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ConversationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// `state_dir` is the openhands-lsp state directory.
    pub fn new(state_dir: &Path) -> Self {
        Store { root: state_dir.join("conversations") }
    }

    /// The folder of conversation `id`: only ever for an id of the server's own form.
    pub fn dir(&self, id: &ConversationId) -> PathBuf {
        self.root.join(id.as_str())
    }

    /// The folder of an id that came from outside (an editor, a file name, a `meta.json`), checked first.
    fn checked_dir(&self, id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.dir(&ConversationId::parse(id)?))
    }

    pub fn create(&self, meta: &Meta) -> Result<EventLog, StoreError> {
        let dir = self.checked_dir(&meta.id)?;
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io { path: dir.clone(), source })?;
        self.save(meta)?;
        EventLog::open(&dir.join("events.jsonl"))
    }

    /// Writes meta.json atomically (write a temporary file, then rename).
    pub fn save(&self, meta: &Meta) -> Result<(), StoreError> {
        let dir = self.checked_dir(&meta.id)?;
        let tmp = dir.join("meta.json.tmp");
        let path = dir.join("meta.json");
        let text = serde_json::to_vec_pretty(meta).unwrap_or_default();
        std::fs::write(&tmp, text).map_err(|source| StoreError::Io { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &path).map_err(|source| StoreError::Io { path, source })
    }

    pub fn load(&self, id: &str) -> Result<Meta, StoreError> {
        let path = self.checked_dir(id)?.join("meta.json");
        let text = std::fs::read(&path).map_err(|_| StoreError::Unknown(id.to_owned()))?;
        let meta: Meta = serde_json::from_slice(&text).map_err(|_| StoreError::Unknown(id.to_owned()))?;
        // A meta.json names its conversation: one copied into another's folder must not act for it.
        if meta.id != id {
            return Err(StoreError::Unknown(id.to_owned()));
        }
        Ok(meta)
    }

    /// Every conversation on disk, newest first. Unreadable entries are skipped with a warning.
    pub fn list(&self) -> Vec<Meta> {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return Vec::new() };
        let mut metas: Vec<Meta> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let id = e.file_name().to_string_lossy().into_owned();
                // Not a conversation's folder (something else put there): not ours to list.
                ConversationId::parse(&id).ok()?;
                match self.load(&id) {
                    Ok(m) => Some(m),
                    Err(err) => {
                        tracing::warn!("skipping {}: {err}", e.path().display());
                        None
                    }
                }
            })
            .collect();
        metas.sort_by_key(|m| std::cmp::Reverse(m.created_at));
        metas
    }

    /// Events `after..after+limit` of the log (0-based), and the total count.
    pub fn read_events(&self, id: &str, after: u64, limit: usize) -> Result<(Vec<Value>, u64), StoreError> {
        let path = self.checked_dir(id)?.join("events.jsonl");
        let file = File::open(&path).map_err(|_| StoreError::Unknown(id.to_owned()))?;
        let mut out = Vec::new();
        let mut total = 0u64;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|source| StoreError::Io { path: path.clone(), source })?;
            if line.trim().is_empty() {
                continue;
            }
            if total >= after && out.len() < limit {
                match serde_json::from_str(&line) {
                    Ok(v) => out.push(v),
                    Err(e) => tracing::warn!("{}: bad line {total}: {e}", path.display()),
                }
            }
            total += 1;
        }
        Ok((out, total))
    }
}

/// The append-only event log of one conversation.
pub struct EventLog {
    file: File,
    path: PathBuf,
}

impl EventLog {
    fn open(path: &Path) -> Result<Self, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| StoreError::Io { path: path.to_owned(), source })?;
        Ok(EventLog { file, path: path.to_owned() })
    }

    /// Appends one line (already redacted JSON without newlines).
    pub fn append(&mut self, line: &str) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.file.write_all(&buf).map_err(|source| StoreError::Io { path: self.path.clone(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, created_at: u64) -> Meta {
        Meta {
            id: id.into(),
            title: "t".into(),
            instruction: "i".into(),
            workspace: "/w".into(),
            backend: "process".into(),
            state: State::Starting,
            created_at,
            updated_at: created_at,
            final_message: None,
            error: None,
            sandbox_url: None,
            event_count: 0,
            isolation: None,
            issue: None,
            cloud: None,
        }
    }

    #[test]
    fn round_trip_and_paging() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let (a, b) = ("a".repeat(32), "b".repeat(32));
        let mut log = store.create(&meta(&a, 1)).unwrap();
        store.create(&meta(&b, 2)).unwrap();
        for i in 0..5 {
            log.append(&format!("{{\"n\":{i}}}")).unwrap();
        }
        let (page, total) = store.read_events(&a, 3, 10).unwrap();
        assert_eq!(total, 5);
        assert_eq!(page, vec![serde_json::json!({"n": 3}), serde_json::json!({"n": 4})]);
        let ids: Vec<String> = store.list().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![b, a], "newest first");
        assert!(matches!(store.load(&"c".repeat(32)), Err(StoreError::Unknown(_))));
    }

    #[test]
    fn ids_of_another_form_never_become_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let store = Store::new(&state);
        // A meta.json outside the state directory, where a traversal would find it.
        let outside = tmp.path().join("ws/.hidden/evil");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("meta.json"), serde_json::to_vec(&meta("../../ws/.hidden/evil", 1)).unwrap())
            .unwrap();
        std::fs::write(outside.join("events.jsonl"), "{}\n").unwrap();
        for id in ["../../ws/.hidden/evil", "/etc", outside.to_str().unwrap(), "", "A".repeat(32).as_str()] {
            assert!(matches!(store.load(id), Err(StoreError::BadId(_))), "{id}");
            assert!(matches!(store.read_events(id, 0, 10), Err(StoreError::BadId(_))), "{id}");
            assert!(matches!(store.save(&meta(id, 1)), Err(StoreError::BadId(_))), "{id}");
        }
        assert!(serde_json::from_value::<ConversationId>(serde_json::json!("../x")).is_err());
        // A folder of the right name whose meta.json names another conversation is not that conversation.
        let (real, other) = ("d".repeat(32), "e".repeat(32));
        std::fs::create_dir_all(state.join("conversations").join(&real)).unwrap();
        std::fs::write(
            state.join("conversations").join(&real).join("meta.json"),
            serde_json::to_vec(&meta(&other, 1)).unwrap(),
        )
        .unwrap();
        assert!(matches!(store.load(&real), Err(StoreError::Unknown(_))));
    }
}

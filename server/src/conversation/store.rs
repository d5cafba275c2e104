//! On-disk state of conversations: `<state dir>/conversations/<id>/meta.json` and an append-only `events.jsonl`
//! (one redacted agent-server event per line, in delivery order).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lifecycle of a conversation as editors see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Starting,
    Running,
    Paused,
    WaitingForConfirmation,
    Finished,
    Error,
    Stuck,
    Stopped,
    /// Its `meta.json` could not be read (a crash, a full disk, an edit): listed with what could be read, its copy
    /// still reviewable and discardable.
    Damaged,
}

impl State {
    /// The agent is not working and will not until it gets a new message.
    pub fn is_settled(self) -> bool {
        matches!(self, State::Finished | State::Error | State::Stuck | State::Stopped | State::Damaged)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Paused => "paused",
            State::WaitingForConfirmation => "waiting_for_confirmation",
            State::Finished => "finished",
            State::Error => "error",
            State::Stuck => "stuck",
            State::Stopped => "stopped",
            State::Damaged => "damaged",
        }
    }
}

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
    /// The project's image it runs in (docker backend; `None`: the agent-server image, or another backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<SandboxImage>,
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
    pub cloud: Option<crate::sandbox::CloudLink>,
    /// The openhands-lsp process that runs it: another one sharing the state directory leaves it alone while that
    /// process lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::instance::Instance>,
    /// The checkpoint its copy's files are at now: the last one taken on its branch, or the one restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<u32>,
    /// How many times it was restored to a checkpoint: its history was cut back each time (editors showing its
    /// events read them again when this changes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub restores: u32,
    /// Its conversation on the agent-server when not its own id (a fork made by a restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_conversation: Option<String>,
    /// For the earlier branch of a restored conversation, kept in history: which one, and where it was restored to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_of: Option<BranchOf>,
    /// What its LLM calls cost so far, once it made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<super::usage::Usage>,
    /// Paused on its budget: what it spent, until the user raises the budget or stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_reached: Option<String>,
    /// Its changes were discarded (its copy and the agent's record went with them): it cannot go on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discarded: bool,
    /// Messages the user queued for when the running turn ends, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<QueuedMessage>,
    /// The folders it works in besides `workspace` (a task across repositories), each with its own copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<ExtraFolder>,
}

/// A folder a conversation works in besides its workspace: mounted in its sandbox under its name, reviewed and
/// applied against its own repository.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExtraFolder {
    /// One path component, unique in the conversation: where the sandbox mounts it, and the prefix of its files'
    /// paths in a review.
    pub name: String,
    /// The user's folder.
    pub workspace: PathBuf,
    /// Its own copy, when the conversation works in copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationMeta>,
}

/// A message waiting for the turn to end, as editors show it (kept in `meta.json`, so it outlives a restart).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedMessage {
    pub id: String,
    pub text: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where an earlier branch came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BranchOf {
    pub conversation: String,
    /// The checkpoint the conversation was restored to when this branch was left.
    pub checkpoint: u32,
}

/// An issue on a git hosting provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IssueLink {
    /// `github`, `gitlab`, `bitbucket`, `jira` or `linear`.
    pub provider: String,
    pub host: String,
    /// `owner/repo` (GitLab: with subgroups).
    pub repository: String,
    /// The forge issue's number (a tracker issue's: the number of its key).
    pub number: u64,
    pub title: String,
    pub url: String,
    /// A Jira or Linear issue's key (`PROJ-123`); `provider` is then `jira` or `linear`, `repository` empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl IssueLink {
    /// How the issue is named to people: `PROJ-123`, or `#12`.
    pub fn label(&self) -> String {
        self.key.clone().unwrap_or_else(|| format!("#{}", self.number))
    }
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
    /// The copy of `repo` is a repository of its own (its branch exists only there), not a worktree.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_git: bool,
    /// The baseline commit, hex.
    pub baseline: String,
}

/// A project's image a conversation runs in: its name and where it comes from, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxImage {
    pub name: String,
    pub origin: String,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub use crate::clock::rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write conversation data under {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
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

    /// The conversation's metadata. A `meta.json` that is missing, empty, cut short or otherwise unreadable (what
    /// a crash or a full disk leaves) does not lose the conversation: what can be read of it is kept, its copy is
    /// found again from git, and it is `damaged`, with the reason in `error`.
    pub fn load(&self, id: &str) -> Result<Meta, StoreError> {
        let dir = self.checked_dir(id)?;
        let path = dir.join("meta.json");
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            // A folder with a history but no metadata is still a conversation; an empty folder is not.
            Err(_) if dir.join("events.jsonl").is_file() || dir.join("worktree").is_dir() => Vec::new(),
            Err(_) => return Err(StoreError::Unknown(id.to_owned())),
        };
        let meta = match serde_json::from_slice::<Meta>(&text) {
            Ok(meta) => meta,
            Err(e) => {
                let reason = if text.is_empty() { "missing or empty".to_owned() } else { e.to_string() };
                tracing::warn!("{}: {reason}; listing the conversation as damaged", path.display());
                salvage(id, &dir, &text, &format!("{} is damaged ({reason})", path.display()))
            }
        };
        // A meta.json names its conversation: one copied into another's folder must not act for it.
        if meta.id != id {
            return Err(StoreError::Unknown(id.to_owned()));
        }
        Ok(meta)
    }

    /// Sets `meta.event_count` to what its log holds when the log changed after `meta.json` was written (a crash
    /// before the last save, events after it); true when it changed.
    pub fn recount(&self, meta: &mut Meta) -> bool {
        let Ok(id) = ConversationId::parse(&meta.id) else { return false };
        let log = self.dir(&id).join("events.jsonl");
        let modified = std::fs::metadata(&log).and_then(|m| m.modified()).ok();
        let log_ms = modified.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_millis() as u64);
        if log_ms <= meta.updated_at && meta.state.is_settled() {
            return false;
        }
        let count = count_events(&log);
        let changed = count != meta.event_count;
        meta.event_count = count;
        changed
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

    /// The event log of a conversation, to append to.
    pub fn log(&self, id: &str) -> Result<EventLog, StoreError> {
        EventLog::open(&self.checked_dir(id)?.join("events.jsonl"))
    }

    /// A restore's split of history: `archive` (a new conversation, the earlier branch) gets the whole log, and
    /// conversation `id` keeps its events up to and including `through` (an agent-server event id). Returns how many
    /// it kept and the timestamp of the last. The cut log is written beside and renamed into place.
    pub fn branch_off(&self, id: &str, through: &str, archive: &Meta) -> Result<(u64, Option<String>), StoreError> {
        let path = self.checked_dir(id)?.join("events.jsonl");
        let read = |source| StoreError::Read { path: path.clone(), source };
        let lines: Vec<Vec<u8>> =
            whole_lines(File::open(&path).map_err(read)?).collect::<Result<_, _>>().map_err(read)?;
        let field = |line: &[u8], name: &str| {
            serde_json::from_slice::<Value>(line).ok().and_then(|v| v.get(name)?.as_str().map(str::to_owned))
        };
        let keep = lines
            .iter()
            .position(|l| field(l, "id").as_deref() == Some(through))
            .map(|i| i + 1)
            .ok_or_else(|| StoreError::Unknown(format!("event {through} in conversation {id}")))?;
        let archive_dir = self.checked_dir(&archive.id)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        std::fs::create_dir_all(&archive_dir).map_err(io(&archive_dir))?;
        std::fs::copy(&path, archive_dir.join("events.jsonl")).map_err(io(&archive_dir))?;
        self.save(archive)?;
        let tmp = path.with_extension("jsonl.tmp");
        let kept: Vec<u8> = lines[..keep].concat();
        std::fs::write(&tmp, kept).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok((keep as u64, field(&lines[keep - 1], "timestamp")))
    }

    /// Up to `limit` events from position `after` (0-based lines of the log). Each keeps its position as its
    /// `seq`, also past a line that cannot be read (skipped, with a warning); `next` is the position after the last
    /// line looked at, so paging always ends. A last line without its newline (cut by a crash) is not an event yet.
    /// A missing log is an empty history.
    pub fn read_events(&self, id: &str, after: u64, limit: usize) -> Result<EventPage, StoreError> {
        let dir = self.checked_dir(id)?;
        let path = dir.join("events.jsonl");
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.is_dir() => {
                return Ok(EventPage { events: Vec::new(), next: after, total: 0 });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::Unknown(id.to_owned())),
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        let mut page = EventPage { events: Vec::new(), next: after, total: 0 };
        for line in whole_lines(file) {
            let line = line.map_err(|source| StoreError::Read { path: path.clone(), source })?;
            let seq = page.total;
            page.total += 1;
            if seq < after || page.events.len() >= limit {
                continue;
            }
            page.next = seq + 1;
            // One bad byte spoils one event's text, not the history.
            match serde_json::from_str(&String::from_utf8_lossy(&line)) {
                Ok(v) => page.events.push((seq, v)),
                Err(e) => tracing::warn!("{}: line {} is not an event ({e}); skipped", path.display(), seq + 1),
            }
        }
        Ok(page)
    }
}

/// A page of a conversation's history: events with their positions, where the next page starts, how many lines.
#[derive(Debug, Default)]
pub struct EventPage {
    pub events: Vec<(u64, Value)>,
    pub next: u64,
    pub total: u64,
}

/// The append-only event log of one conversation.
pub struct EventLog {
    file: File,
    path: PathBuf,
    /// Bytes of whole lines: where the file is cut back to when an append fails half-way.
    len: u64,
}

impl EventLog {
    fn open(path: &Path) -> Result<Self, StoreError> {
        let io = |source| StoreError::Io { path: path.to_owned(), source };
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(path).map_err(io)?;
        let len = whole_lines_len(&mut file).map_err(io)?;
        // A torn tail (a crash mid-write) would glue the next event onto it: cut it off first.
        if file.metadata().map_err(io)?.len() != len {
            tracing::warn!("{}: cutting off a torn last line", path.display());
            file.set_len(len).map_err(io)?;
        }
        Ok(EventLog { file, path: path.to_owned(), len })
    }

    /// Appends one line (already redacted JSON without newlines). A failed write (a full disk) is cut back, so the
    /// log never holds half a line before the next one.
    pub fn append(&mut self, line: &str) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        match self.file.write_all(&buf) {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(source) => {
                let _ = self.file.set_len(self.len);
                Err(StoreError::Io { path: self.path.clone(), source })
            }
        }
    }
}

/// The length of `file` up to and including its last newline.
fn whole_lines_len(file: &mut File) -> std::io::Result<u64> {
    let size = file.metadata()?.len();
    let mut end = size;
    let mut buf = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The number of whole lines (events) in a conversation's log; 0 without one.
pub fn count_events(path: &Path) -> u64 {
    File::open(path).map_or(0, |file| whole_lines(file).map_while(Result::ok).count() as u64)
}

/// The log's events: its lines that end with a newline (a last line without one is a torn tail, not an event yet),
/// blank ones skipped.
fn whole_lines(file: File) -> impl Iterator<Item = std::io::Result<Vec<u8>>> {
    let mut reader = BufReader::new(file);
    std::iter::from_fn(move || {
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Err(e) => return Some(Err(e)),
                Ok(0) => return None,
                Ok(_) if line.last() != Some(&b'\n') => return None,
                Ok(_) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(_) => return Some(Ok(line)),
            }
        }
    })
}

/// What can be kept of a conversation whose `meta.json` cannot be read: the fields that still parse, its copy found
/// again from git, the time of its folder; `damaged`, with `reason` as its error.
fn salvage(id: &str, dir: &Path, text: &[u8], reason: &str) -> Meta {
    let value: Value = serde_json::from_slice(text).unwrap_or(Value::Null);
    let note = format!("{reason}; what could be read is kept, and its copy can still be reviewed or discarded");
    // Only the state unreadable (an unknown value): keep all the rest.
    if let Value::Object(mut fields) = value.clone() {
        fields.insert("state".into(), Value::from("damaged"));
        if let Ok(mut meta) = serde_json::from_value::<Meta>(Value::Object(fields)) {
            meta.error = Some(note);
            return meta;
        }
    }
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let number = |key: &str| value.get(key).and_then(Value::as_u64);
    let isolation = value
        .get("isolation")
        .and_then(|i| serde_json::from_value::<IsolationMeta>(i.clone()).ok())
        .or_else(|| recover_isolation(&dir.join("worktree")));
    let changed = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
    let folder_time = changed.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_millis() as u64);
    let created_at = number("createdAt").or(folder_time).unwrap_or(0);
    let workspace = text("workspace")
        .map(PathBuf::from)
        .or_else(|| isolation.as_ref().and_then(|i| i.repo.clone()))
        .unwrap_or_default();
    Meta {
        id: id.to_owned(),
        title: text("title").unwrap_or_else(|| format!("Damaged conversation {}", &id[..8.min(id.len())])),
        instruction: text("instruction").unwrap_or_default(),
        workspace,
        backend: text("backend").unwrap_or_else(|| "unknown".into()),
        state: State::Damaged,
        created_at,
        updated_at: number("updatedAt").unwrap_or(created_at),
        final_message: text("finalMessage"),
        error: Some(note),
        sandbox_url: None,
        image: None,
        event_count: count_events(&dir.join("events.jsonl")),
        isolation,
        issue: None,
        cloud: None,
        owner: None,
        checkpoint: None,
        restores: 0,
        agent_conversation: None,
        branch_of: None,
        usage: None,
        budget_reached: None,
        discarded: false,
        queued: Vec::new(),
        folders: Vec::new(),
    }
}

/// The conversation's copy described from git alone (its repository, branch and baseline commit).
fn recover_isolation(worktree: &Path) -> Option<IsolationMeta> {
    let found = crate::git::describe_copy(worktree)?;
    Some(IsolationMeta {
        root: worktree.to_owned(),
        dest: worktree.to_owned(),
        repo: found.repo,
        branch: found.branch,
        own_git: found.own_git,
        baseline: found.baseline.to_string(),
    })
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;

//! What the agent changed in its copy, against where it started or what the user applied of it since (each file's
//! original and proposed text, what it holds beyond text), read without following links out of the copy; whether the
//! user's folder holds a change already; and the three-way merge of a file.

use std::path::{Path, PathBuf};

use git2::{Delta, DiffFindOptions, DiffOptions};

use super::{Entry, GitError, Isolated, entry, io, open_copy, ready};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
}

/// One file that differs from the baseline. Paths are relative to [`Isolated::root`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub status: ChangeStatus,
    pub path: PathBuf,
    /// For renames: where it was.
    pub old_path: Option<PathBuf>,
    /// Text at the baseline (`None` when added, binary, or not a file).
    pub original: Option<String>,
    /// Text now (`None` when deleted, binary, or not a file).
    pub proposed: Option<String>,
    pub binary: bool,
    /// What the path held at the baseline and holds now (`None`: nothing). A change of kind (a file replaced by a
    /// link) or of mode (`chmod +x`) is a change even when the text is the same.
    pub before: Option<Entry>,
    pub after: Option<Entry>,
    /// Why what the agent left at this path could not be read (it is shown, never applied).
    pub unreadable: Option<String>,
    /// Set when the file is not shown or applied as text (binary, not UTF-8, too large to show): it is applied
    /// whole, byte for byte.
    pub whole: Option<Whole>,
}

/// Why a file is applied whole rather than as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WholeReason {
    /// It holds NUL bytes.
    Binary,
    /// Its bytes are not UTF-8 text.
    NotUtf8,
    /// A side is over [`SHOW_LIMIT`] bytes.
    TooLarge,
}

/// A file applied whole: what it was (to check the user's file is still that) and what the agent made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whole {
    pub reason: WholeReason,
    /// The blob id of the file at the baseline (`None` when added, or when a link was there).
    pub original: Option<git2::Oid>,
    /// The bytes now (`None` when deleted).
    pub proposed: Option<Vec<u8>>,
    /// The larger side's size in bytes.
    pub size: u64,
}

/// Files above this size are not shown as text (nor diffed in hunks): a review would carry megabytes to the editor
/// for a change nobody reads line by line. They are listed and applied whole.
pub const SHOW_LIMIT: usize = 1024 * 1024;

/// A size in words: `12 KB`, `5.2 MB`.
fn size_in_words(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{} KB", b.div_ceil(1024)),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

impl FileChange {
    /// Why this change can never be applied to the user's workspace, whatever they choose.
    pub fn refusal(&self) -> Option<String> {
        if let Some(why) = &self.unreadable {
            return Some(format!("cannot read what the agent left there: {why}"));
        }
        self.after.as_ref().and_then(Entry::target).and_then(|t| entry::link_escapes(&self.path, t))
    }

    /// One line for what a review shows beside the path when the change is more than text: a link and its
    /// target, a mode change, a file that cannot be read. `None` for a plain text change.
    pub fn note(&self) -> Option<String> {
        let refusal = self.refusal();
        let link = |t: &str| match &refusal {
            Some(_) if self.unreadable.is_none() => {
                format!("symbolic link → {t} (points outside your workspace: not applied)")
            }
            _ => format!("symbolic link → {t}"),
        };
        if let Some(why) = &self.unreadable {
            return Some(format!("cannot be read: {why}"));
        }
        let kind = match (&self.before, &self.after) {
            (Some(Entry::File { .. }), Some(Entry::Symlink { target })) => {
                Some(format!("file replaced by a {}", link(target)))
            }
            (Some(Entry::Symlink { .. }), Some(Entry::File { .. })) => Some("symbolic link replaced by a file".into()),
            (Some(Entry::Symlink { target: old }), Some(Entry::Symlink { target })) => {
                Some(format!("{} (was → {old})", link(target)))
            }
            (_, Some(Entry::Symlink { target })) => Some(link(target)),
            (Some(Entry::Symlink { target }), None) => Some(format!("symbolic link → {target} removed")),
            _ => self
                .mode_change()
                .map(|x| if x { "made executable (+x)".into() } else { "no longer executable (-x)".into() }),
        };
        let whole = self.whole.as_ref().map(|w| {
            let what = match w.reason {
                WholeReason::Binary => "binary file",
                WholeReason::NotUtf8 => "not UTF-8 text",
                WholeReason::TooLarge => "too large to show",
            };
            let done = if self.status == ChangeStatus::Deleted { "deleted whole" } else { "applied whole" };
            format!("{what} ({}): {done}", size_in_words(w.size))
        });
        match (whole, kind) {
            (Some(w), Some(k)) => Some(format!("{w}; {k}")),
            (w, k) => w.or(k),
        }
    }

    /// Whether the user's folder `source` holds this change's result already (applied before, or made the same by
    /// hand): nothing to review or apply. Read without following links; what cannot be read is not the same.
    pub fn already_in(&self, source: &Path) -> bool {
        let at = |rel: &Path| user_entry(source, rel);
        if let Some(old) = &self.old_path
            && !matches!(at(old), Some(None))
        {
            return false;
        }
        match (at(&self.path), &self.after) {
            (Some(None), None) => self.status == ChangeStatus::Deleted,
            (Some(Some((entry, bytes))), Some(after)) if entry == *after => {
                after.is_symlink()
                    || bytes.as_deref()
                        == self
                            .whole
                            .as_ref()
                            .map_or(self.proposed.as_deref().map(str::as_bytes), |w| w.proposed.as_deref())
            }
            _ => false,
        }
    }

    /// This change as the user has it once applied: whole, or with `partial` as its text (only some of its hunks).
    /// `None` when it cannot be said (what the agent left could not be read).
    pub fn as_applied(&self, partial: Option<String>) -> Option<super::applied::AppliedFile> {
        let entry = match (&self.after, self.status) {
            (_, ChangeStatus::Deleted) => None,
            (None, _) => return None,
            (Some(entry), _) => {
                let bytes = match (entry, partial, &self.whole, &self.proposed) {
                    (Entry::Symlink { target }, ..) => target.clone().into_bytes(),
                    (_, Some(text), ..) => text.into_bytes(),
                    (_, None, Some(whole), _) => whole.proposed.clone()?,
                    (_, None, None, proposed) => proposed.clone()?.into_bytes(),
                };
                Some((entry.clone(), bytes))
            }
        };
        Some(super::applied::AppliedFile { path: self.path.clone(), old_path: self.old_path.clone(), entry })
    }

    /// Either side is a symbolic link.
    pub fn involves_link(&self) -> bool {
        [&self.before, &self.after].into_iter().flatten().any(Entry::is_symlink)
    }

    /// Only the executable bit changed (or changed along with the text).
    pub fn mode_change(&self) -> Option<bool> {
        match (&self.before, &self.after) {
            (Some(Entry::File { executable: a }), Some(Entry::File { executable: b })) if a != b => Some(*b),
            _ => None,
        }
    }
}

/// Everything that differs between the baseline (or what the user applied since: see `applied.rs`) and the files in
/// the copy now (committed by the agent or not).
/// Links are read as links (their targets are never followed), and one file that cannot be read is reported as such
/// without failing the rest.
pub fn changes(iso: &Isolated) -> Result<Vec<FileChange>, GitError> {
    ready();
    let repo = open_copy(iso)?;
    let workdir = repo.workdir().map(Path::to_path_buf).unwrap_or_else(|| iso.root.clone());
    let real_workdir = workdir.canonicalize().map_err(io(&workdir))?;
    let baseline = repo.find_commit(super::applied::review_base(&repo, iso))?.tree()?;
    let mut opts = DiffOptions::new();
    // Typechanges (a file replaced by a link) as one change, not a deletion and an addition.
    opts.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true).include_typechange(true);
    let mut diff = repo.diff_tree_to_workdir(Some(&baseline), Some(&mut opts))?;
    let mut find = DiffFindOptions::new();
    find.renames(true).for_untracked(true);
    diff.find_similar(Some(&mut find))?;
    let prefix = iso.root.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default();

    let mut out = Vec::new();
    for delta in diff.deltas() {
        let status = match delta.status() {
            Delta::Added | Delta::Untracked => ChangeStatus::Added,
            Delta::Modified | Delta::Typechange => ChangeStatus::Modified,
            Delta::Deleted => ChangeStatus::Deleted,
            Delta::Renamed => ChangeStatus::Renamed,
            _ => continue,
        };
        // Submodules are not files the agent edits.
        if [delta.old_file().mode(), delta.new_file().mode()].contains(&git2::FileMode::Commit) {
            continue;
        }
        let new_path = delta.new_file().path().map(Path::to_path_buf);
        let old_path = delta.old_file().path().map(Path::to_path_buf);
        let Some(path) = new_path.clone().or_else(|| old_path.clone()) else { continue };
        // Only what lies below the folder the user opened.
        let Ok(rel) = path.strip_prefix(&prefix).map(Path::to_path_buf) else { continue };
        let (before, original, original_id) = match status {
            ChangeStatus::Added => (None, None, None),
            _ => {
                let blob = repo.find_blob(delta.old_file().id())?;
                let bytes = blob.content().to_vec();
                match delta.old_file().mode() {
                    git2::FileMode::Link => {
                        (Some(Entry::Symlink { target: String::from_utf8_lossy(&bytes).into_owned() }), None, None)
                    }
                    mode => {
                        let entry = Entry::File { executable: mode == git2::FileMode::BlobExecutable };
                        (Some(entry), Some(bytes), Some(blob.id()))
                    }
                }
            }
        };
        let (after, proposed, unreadable) = match status {
            ChangeStatus::Deleted => (None, None, None),
            _ => match read_inside(&real_workdir, &workdir.join(&path)) {
                Ok(Some((entry, bytes))) => (Some(entry), bytes, None),
                Ok(None) => continue, // gone since the diff was taken
                Err(e) => (None, None, Some(e.to_string())),
            },
        };
        let whole = whole_of(original.as_deref(), proposed.as_deref(), original_id);
        let binary = whole.as_ref().is_some_and(|w| matches!(w.reason, WholeReason::Binary | WholeReason::NotUtf8));
        let text = |b: Option<Vec<u8>>| if whole.is_some() { None } else { b.and_then(|b| String::from_utf8(b).ok()) };
        out.push(FileChange {
            status,
            path: rel,
            old_path: if status == ChangeStatus::Renamed {
                old_path.and_then(|p| p.strip_prefix(&prefix).ok().map(Path::to_path_buf))
            } else {
                None
            },
            original: text(original),
            proposed: text(proposed),
            binary,
            before,
            after,
            unreadable,
            whole,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// How a file whose sides hold these bytes is applied: `None` as text, else whole (and why).
fn whole_of(original: Option<&[u8]>, proposed: Option<&[u8]>, original_id: Option<git2::Oid>) -> Option<Whole> {
    let sides = || [original, proposed].into_iter().flatten();
    let reason = if sides().any(|b| b.iter().take(8000).any(|c| *c == 0)) {
        WholeReason::Binary
    } else if sides().any(|b| std::str::from_utf8(b).is_err()) {
        WholeReason::NotUtf8
    } else if sides().any(|b| b.len() > SHOW_LIMIT) {
        WholeReason::TooLarge
    } else {
        return None;
    };
    let size = sides().map(|b| b.len() as u64).max().unwrap_or(0);
    Some(Whole { reason, original: original_id, proposed: proposed.map(<[u8]>::to_vec), size })
}

/// [`entry::read`] of `path`, refused when a folder on its way is a link out of the copy (the diff never reports
/// such a path; one swapped in since must not be followed).
fn read_inside(real_root: &Path, path: &Path) -> std::io::Result<Option<(Entry, Option<Vec<u8>>)>> {
    if let Some(parent) = path.parent()
        && !parent.canonicalize()?.starts_with(real_root)
    {
        return Err(std::io::Error::other("a folder on its path is a link out of the conversation's copy"));
    }
    entry::read(path)
}

/// What a three-way merge of the user's and the agent's edits gives.
#[derive(Debug, PartialEq)]
pub enum Merged {
    /// Both sets of edits, where they do not overlap.
    Clean(String),
    /// They overlap: the user's text with conflict markers (diff3 style: yours, the original, the agent's) around
    /// each overlap, for the user to resolve by hand.
    Overlap(String),
}

/// The user's and the agent's edits of the same original, merged.
pub fn merge3(original: &str, user: &str, agent: &str) -> Result<Merged, GitError> {
    ready();
    if user == original {
        return Ok(Merged::Clean(agent.to_owned()));
    }
    if agent == original || agent == user {
        return Ok(Merged::Clean(user.to_owned()));
    }
    let mut base = git2::MergeFileInput::new();
    base.content(original.as_bytes());
    let mut ours = git2::MergeFileInput::new();
    ours.content(user.as_bytes());
    let mut theirs = git2::MergeFileInput::new();
    theirs.content(agent.as_bytes());
    let mut options = git2::MergeFileOptions::new();
    options.style_diff3(true).our_label("yours").ancestor_label("original").their_label("agent");
    let result = git2::merge_file(&base, &ours, &theirs, Some(&mut options))?;
    let text = String::from_utf8_lossy(result.content()).into_owned();
    Ok(if result.is_automergeable() { Merged::Clean(text) } else { Merged::Overlap(text) })
}

/// What the user's folder holds at `rel`: `Some(None)` for nothing, `None` when it cannot be told (a folder on the
/// way is a link out of it, or the path cannot be read).
fn user_entry(source: &Path, rel: &Path) -> Option<Option<(Entry, Option<Vec<u8>>)>> {
    if !rel.components().all(|c| matches!(c, std::path::Component::Normal(_))) {
        return None;
    }
    let root = source.canonicalize().ok()?;
    let path = root.join(rel);
    match path.parent().map(Path::canonicalize) {
        Some(Ok(parent)) if parent.starts_with(&root) => entry::read(&path).ok(),
        Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Some(None),
        _ => None,
    }
}

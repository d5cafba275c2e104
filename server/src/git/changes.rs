//! What the agent changed in its copy, against where it started (each file's original and proposed text, what it
//! holds beyond text), read without following links out of the copy; and the three-way merge of a file.

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
        match (&self.before, &self.after) {
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
        }
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

/// Everything that differs between the baseline and the files in the copy now (committed by the agent or not).
/// Links are read as links (their targets are never followed), and one file that cannot be read is reported as such
/// without failing the rest.
pub fn changes(iso: &Isolated) -> Result<Vec<FileChange>, GitError> {
    ready();
    let repo = open_copy(iso)?;
    let workdir = repo.workdir().map(Path::to_path_buf).unwrap_or_else(|| iso.root.clone());
    let real_workdir = workdir.canonicalize().map_err(io(&workdir))?;
    let baseline = repo.find_commit(iso.baseline)?.tree()?;
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
        let (before, original) = match status {
            ChangeStatus::Added => (None, None),
            _ => {
                let blob = repo.find_blob(delta.old_file().id())?;
                let bytes = blob.content().to_vec();
                match delta.old_file().mode() {
                    git2::FileMode::Link => {
                        (Some(Entry::Symlink { target: String::from_utf8_lossy(&bytes).into_owned() }), None)
                    }
                    mode => (Some(Entry::File { executable: mode == git2::FileMode::BlobExecutable }), Some(bytes)),
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
        let binary = [&original, &proposed].into_iter().flatten().any(|b| is_binary(b));
        let text = |b: Option<Vec<u8>>| if binary { None } else { b.and_then(|b| String::from_utf8(b).ok()) };
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
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
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

fn is_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8000).any(|b| *b == 0) || std::str::from_utf8(bytes).is_err()
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

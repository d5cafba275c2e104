//! What the user applied of a conversation's changes, kept as the base its next review starts from: after an
//! apply, the applied text of each file is "where the user is", so the agent editing the same lines again is a
//! change to review, not an overlap with the user's own edits, and a file applied whole is no longer listed.
//!
//! Kept as a commit in the copy's repository (the baseline's tree with each applied file as it was applied), named by
//! a ref of the copy's own (`refs/openhands/applied/<branch>`), so git's clean-up keeps it and the conversation's
//! removal drops it. The baseline itself never moves: restoring the conversation's start still means its start.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::{Entry, GitError, Isolated, Kind, open_copy, ready};

/// One file as the user now has it from the agent: `entry` `None` when it was deleted; `old_path` for a rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedFile {
    /// Relative to [`Isolated::root`].
    pub path: PathBuf,
    pub old_path: Option<PathBuf>,
    /// What the path holds and its bytes (a link's target for a link).
    pub entry: Option<(Entry, Vec<u8>)>,
}

/// The ref naming the applied base of the conversation working in `iso`: per branch in a shared repository (a
/// worktree's refs are its repository's), one name in a repository only the conversation has.
fn ref_name(iso: &Isolated) -> String {
    match &iso.kind {
        Kind::Worktree { branch, .. } => format!("refs/openhands/applied/{branch}"),
        Kind::Clone { .. } | Kind::Copy => "refs/openhands/applied/copy".to_owned(),
    }
}

/// The commit the next review compares the copy with: what was last applied, else the baseline.
pub(super) fn review_base(repo: &Repository, iso: &Isolated) -> Oid {
    repo.find_reference(&ref_name(iso)).ok().and_then(|r| r.target()).unwrap_or(iso.baseline)
}

/// Records `files` as applied, on top of what was applied before.
pub fn record(iso: &Isolated, files: &[AppliedFile]) -> Result<(), GitError> {
    if files.is_empty() {
        return Ok(());
    }
    ready();
    let repo = open_copy(iso)?;
    let prefix = prefix_of(&repo, iso);
    let parent = repo.find_commit(review_base(&repo, iso))?;
    let mut index = git2::Index::new()?;
    index.read_tree(&parent.tree()?)?;
    for file in files {
        if let Some(old) = &file.old_path {
            index.remove_path(&prefix.join(old))?;
        }
        let path = prefix.join(&file.path);
        match &file.entry {
            None => {
                // Gone from the index whether it was a file or held files (a folder replaced).
                let _ = index.remove_path(&path);
            }
            Some((entry, bytes)) => {
                let mode = match entry {
                    Entry::Symlink { .. } => git2::FileMode::Link,
                    Entry::File { executable: true } => git2::FileMode::BlobExecutable,
                    Entry::File { executable: false } => git2::FileMode::Blob,
                };
                let id = repo.blob(bytes)?;
                index.add(&index_entry(&path, u32::from(mode) as _, id, bytes.len()))?;
            }
        }
    }
    let tree = repo.find_tree(index.write_tree_to(&repo)?)?;
    let signature = git2::Signature::now("openhands-lsp", "openhands-lsp@localhost")?;
    let commit = repo.commit(None, &signature, &signature, "openhands: applied to your files", &tree, &[&parent])?;
    repo.reference(&ref_name(iso), commit, true, "openhands-lsp: applied")?;
    Ok(())
}

/// Drops the record, in the user's repository for a worktree (the conversation's copy is being removed; a copy
/// with a repository of its own takes it along).
pub(super) fn forget(repo: &Repository, iso: &Isolated) -> Result<(), GitError> {
    if let Ok(mut r) = repo.find_reference(&ref_name(iso)) {
        r.delete()?;
    }
    Ok(())
}

/// Where the copy's root lies inside its repository's work folder (as [`super::changes`] reads it).
fn prefix_of(repo: &Repository, iso: &Isolated) -> PathBuf {
    let workdir = repo.workdir().map(Path::to_path_buf).unwrap_or_else(|| iso.root.clone());
    iso.root.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default()
}

fn index_entry(path: &Path, mode: u32, id: Oid, size: usize) -> git2::IndexEntry {
    let zero = git2::IndexTime::new(0, 0);
    git2::IndexEntry {
        ctime: zero,
        mtime: zero,
        dev: 0,
        ino: 0,
        mode,
        uid: 0,
        gid: 0,
        file_size: u32::try_from(size).unwrap_or(u32::MAX),
        id,
        flags: 0,
        flags_extended: 0,
        path: path.to_string_lossy().into_owned().into_bytes(),
    }
}

//! Checkpoints: the state of a conversation's copy after an agent step that changed files, kept as a commit on a
//! ref of the conversation's own namespace (`refs/openhands/checkpoints/<conversation>/<n>`, never a branch of the
//! user's), and the copy put back to one of them.
//!
//! Cheap per step: the commit is made from an index of its own (a file in the conversation's folder, so the agent's
//! own `git add` is never disturbed), whose stat data lets git hash only the files that changed since the last one;
//! unchanged files and folders are the objects already there.

use std::path::Path;

use git2::{Delta, DiffOptions, Oid, Repository, Signature};

use super::{GitError, Isolated, io, loose, open_copy, ready};

/// One checkpoint, as read back from its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its number in the conversation (1, 2, …; a restored conversation's next one goes on counting).
    pub number: u32,
    pub commit: Oid,
    /// The checkpoint it follows (`None`: the state the agent started from).
    pub parent: Option<u32>,
    /// The agent-server event after which it was taken (the observation of the step).
    pub event_id: String,
    /// The how-manieth file-changing step it is on its branch.
    pub step: u32,
    /// When it was taken (seconds since the epoch).
    pub time: i64,
    /// The files the step changed (relative to the copy's top), sorted.
    pub files: Vec<String>,
}

/// Where the agent's step ended: the event it follows.
#[derive(Debug, Clone)]
pub struct Mark<'a> {
    pub event_id: &'a str,
}

fn prefix(conversation: &str) -> String {
    format!("refs/openhands/checkpoints/{conversation}/")
}

/// The index checkpoints are made from, opened on `repo` and in step with the files of the copy. Made the first
/// time from the copy's own index (whose stat data spares hashing every file of the repository once).
///
/// One pass over the copy finds what changed since the last checkpoint (git's stat data: unchanged files are not
/// read); only those are hashed and written.
fn synced_index(repo: &Repository, path: &Path) -> Result<git2::Index, GitError> {
    if !path.exists() {
        let own = repo.index()?.path().map(Path::to_path_buf);
        if let Some(own) = own.filter(|p| p.exists()) {
            std::fs::copy(&own, path).map_err(io(path))?;
        }
    }
    let mut index = git2::Index::open(path)?;
    repo.set_index(&mut index)?;
    let workdir = repo.workdir().map(Path::to_path_buf).ok_or_else(|| GitError::Tampered(path.to_owned()))?;
    let mut opts = DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_typechange(true).update_index(true);
    let diff = repo.diff_index_to_workdir(Some(&index), Some(&mut opts))?;
    let mut changed = Vec::new();
    for delta in diff.deltas() {
        let file = delta.new_file();
        let Some(rel) = file.path().or_else(|| delta.old_file().path()).map(Path::to_path_buf) else { continue };
        // The workdir side's id, when git computed it to compare (a modified file): not hashed twice.
        let id = file.is_valid_id().then(|| file.id()).filter(|id| !id.is_zero());
        changed.push((rel, delta.status(), id));
    }
    drop(diff);
    let objects = repo.commondir().join("objects");
    for (rel, status, id) in changed.into_iter() {
        let added = match status {
            Delta::Deleted => index.remove_path(&rel),
            _ => add(repo, &mut index, &objects, &workdir, &rel, id),
        };
        // One file that cannot be taken (a nested repository, a file gone meanwhile) does not lose the step.
        if let Err(e) = added {
            tracing::debug!("checkpoint: {}: {e}", rel.display());
        }
    }
    Ok(index)
}

/// Files above this size are written uncompressed: compressing 5 MB costs 150 ms here, and a step must not. (git's
/// next `gc` packs them, compressed and as deltas of each other.)
const STORED_ABOVE: u64 = 512 * 1024;

/// Puts the file at `rel` into the index (its object written when new).
fn add(
    repo: &Repository,
    index: &mut git2::Index,
    objects: &Path,
    workdir: &Path,
    rel: &Path,
    id: Option<Oid>,
) -> Result<(), git2::Error> {
    let full = workdir.join(rel);
    let meta = match std::fs::symlink_metadata(&full) {
        Ok(m) => m,
        Err(_) => return index.remove_path(rel),
    };
    if !meta.is_file() || meta.len() <= STORED_ABOVE {
        return index.add_path(rel);
    }
    let bytes = std::fs::read(&full).map_err(|e| git2::Error::from_str(&e.to_string()))?;
    let id = match id {
        Some(id) => id,
        None => Oid::hash_object(git2::ObjectType::Blob, &bytes)?,
    };
    if !repo.odb()?.exists(id) {
        loose::write_stored(objects, id, &bytes).map_err(|e| git2::Error::from_str(&e.to_string()))?;
    }
    index.add(&entry(&meta, id, rel))
}

/// An index entry with the file's stat data, so the next look at the copy need not read it again.
fn entry(meta: &std::fs::Metadata, id: Oid, rel: &Path) -> git2::IndexEntry {
    use std::os::unix::fs::MetadataExt;
    let time = |secs: i64, nanos: i64| git2::IndexTime::new(secs as i32, nanos as u32);
    let path = rel.as_os_str().as_encoded_bytes().to_vec();
    git2::IndexEntry {
        ctime: time(meta.ctime(), meta.ctime_nsec()),
        mtime: time(meta.mtime(), meta.mtime_nsec()),
        dev: meta.dev() as u32,
        ino: meta.ino() as u32,
        mode: if meta.mode() & 0o111 != 0 { 0o100755 } else { 0o100644 },
        uid: meta.uid(),
        gid: meta.gid(),
        file_size: meta.len() as u32,
        id,
        flags: path.len().min(0xfff) as u16,
        flags_extended: 0,
        path,
    }
}

/// The commit a checkpoint number (or, for `None`, the baseline) stands for.
fn commit_of(repo: &Repository, iso: &Isolated, conversation: &str, number: Option<u32>) -> Result<Oid, GitError> {
    match number {
        None => Ok(iso.baseline),
        Some(n) => {
            let name = format!("{}{n}", prefix(conversation));
            Ok(repo.find_reference(&name).map_err(|_| GitError::NoCheckpoint(n))?.peel_to_commit()?.id())
        }
    }
}

/// Records the copy's files as a checkpoint following `parent` (`None`: the baseline), when they differ from it.
/// `index` is the conversation's checkpoint index file.
pub fn record(
    iso: &Isolated,
    conversation: &str,
    index: &Path,
    parent: Option<u32>,
    mark: &Mark<'_>,
) -> Result<Option<Checkpoint>, GitError> {
    ready();
    let repo = open_copy(iso)?;
    let mut idx = synced_index(&repo, index)?;
    let tree = repo.find_tree(idx.write_tree()?)?;
    // Written after the tree: the index keeps the trees it computed, and the next step rebuilds only the folders
    // that changed.
    idx.write()?;
    let parent_commit = repo.find_commit(commit_of(&repo, iso, conversation, parent)?)?;
    if parent_commit.tree_id() == tree.id() {
        return Ok(None);
    }
    let all = numbered(&repo, conversation)?;
    let number = all.iter().map(|(n, _)| *n).max().unwrap_or(0) + 1;
    let step = match parent {
        Some(p) => {
            field(&repo.find_commit(commit_of(&repo, iso, conversation, Some(p))?)?, "step").parse().unwrap_or(0)
        }
        None => 0,
    } + 1;
    let message = format!(
        "openhands checkpoint {number}\n\nevent: {}\nstep: {step}\nparent: {}\n",
        mark.event_id,
        parent.map_or("baseline".to_owned(), |p| p.to_string())
    );
    let sig = Signature::now("OpenHands", "openhands@all-hands.dev")?;
    let commit = repo.commit(None, &sig, &sig, &message, &tree, &[&parent_commit])?;
    repo.reference(&format!("{}{number}", prefix(conversation)), commit, false, "openhands: checkpoint")?;
    read(&repo, number, commit).map(Some)
}

/// The numbers of the conversation's checkpoints with their commits.
fn numbered(repo: &Repository, conversation: &str) -> Result<Vec<(u32, Oid)>, GitError> {
    let mut out = Vec::new();
    for reference in repo.references_glob(&format!("{}*", prefix(conversation)))?.flatten() {
        let number = reference.name().ok().and_then(|n| n.rsplit('/').next()).and_then(|n| n.parse().ok());
        if let (Some(number), Some(commit)) = (number, reference.target()) {
            out.push((number, commit));
        }
    }
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

/// Every checkpoint of the conversation (all its branches), by number.
pub fn list(iso: &Isolated, conversation: &str) -> Result<Vec<Checkpoint>, GitError> {
    ready();
    let repo = open_copy(iso)?;
    numbered(&repo, conversation)?.into_iter().map(|(number, commit)| read(&repo, number, commit)).collect()
}

/// A `name: value` line of a checkpoint's commit message.
fn field(commit: &git2::Commit<'_>, name: &str) -> String {
    let message = commit.message().unwrap_or_default();
    message.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned)).unwrap_or_default()
}

fn read(repo: &Repository, number: u32, oid: Oid) -> Result<Checkpoint, GitError> {
    let commit = repo.find_commit(oid)?;
    let field = |name: &str| field(&commit, name);
    let before = commit.parent(0).ok().map(|p| p.tree()).transpose()?;
    let diff = repo.diff_tree_to_tree(before.as_ref(), Some(&commit.tree()?), None)?;
    let mut files: Vec<String> = diff
        .deltas()
        .filter_map(|d| d.new_file().path().or_else(|| d.old_file().path()).map(|p| p.display().to_string()))
        .collect();
    files.sort();
    Ok(Checkpoint {
        number,
        commit: oid,
        parent: field("parent").parse().ok(),
        event_id: field("event"),
        step: field("step").parse().unwrap_or(0),
        time: commit.time().seconds(),
        files,
    })
}

/// Puts the copy's files back to checkpoint `number`: changed files rewritten, files made since removed (ignored
/// ones are left alone, as checkpoints never hold them). The copy's branch and its own index are not touched.
pub fn restore(iso: &Isolated, conversation: &str, index: &Path, number: u32) -> Result<Checkpoint, GitError> {
    ready();
    let repo = open_copy(iso)?;
    let oid = commit_of(&repo, iso, conversation, Some(number))?;
    // The index first in step with the files: what is not in the checkpoint is then known to be removed.
    let _idx = synced_index(&repo, index)?;
    let tree = repo.find_commit(oid)?.tree()?;
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force().remove_untracked(true);
    repo.checkout_tree(tree.as_object(), Some(&mut checkout))?;
    read(&repo, number, oid)
}

/// Removes the conversation's checkpoints (its refs; the objects go with git's next clean-up).
pub fn remove_all(iso: &Isolated, conversation: &str) -> Result<(), GitError> {
    ready();
    let repo = open_copy(iso)?;
    let names: Vec<String> = repo
        .references_glob(&format!("{}*", prefix(conversation)))?
        .flatten()
        .filter_map(|r| r.name().ok().map(str::to_owned))
        .collect();
    for name in names {
        repo.find_reference(&name)?.delete()?;
    }
    Ok(())
}

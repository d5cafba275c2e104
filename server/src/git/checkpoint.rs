//! Checkpoints: the state of a conversation's copy after an agent step that changed files, kept as a commit on a
//! ref of the conversation's own namespace (`refs/openhands/checkpoints/<conversation>/<n>`, never a branch of the
//! user's), and the copy put back to one of them.
//!
//! Cheap per step: the commit is made from an index of its own (a file in the conversation's folder, so the agent's
//! own `git add` is never disturbed), whose stat data lets git hash only the files that changed since the last one;
//! unchanged files and folders are the objects already there.

use std::path::Path;

use git2::{Oid, Repository, Signature};

use super::{GitError, Isolated, io, open_copy, ready, snapshot};

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

/// The index checkpoints are made from, opened on `repo` and in step with the files of the copy (see
/// [`super::snapshot`]); and the paths that changed since it last was. Made the first time from the copy's own index
/// (whose stat data spares hashing every file of the repository once).
fn synced_index(repo: &Repository, path: &Path) -> Result<(git2::Index, Vec<Vec<u8>>), GitError> {
    if !path.exists() {
        let own = repo.index()?.path().map(Path::to_path_buf);
        if let Some(own) = own.filter(|p| p.exists()) {
            std::fs::copy(&own, path).map_err(io(path))?;
        }
    }
    let written = std::fs::metadata(path).ok().map(|m| crate::platform::stat(&m).mtime);
    let mut index = git2::Index::open(path)?;
    repo.set_index(&mut index)?;
    let workdir = repo.workdir().map(Path::to_path_buf).ok_or_else(|| GitError::Tampered(path.to_owned()))?;
    let changed = snapshot::sync(repo, &mut index, &workdir, written);
    Ok((index, changed))
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
    let (mut idx, changed) = synced_index(&repo, index)?;
    let parent_commit = repo.find_commit(commit_of(&repo, iso, conversation, parent)?)?;
    // After the first, the index was in step with the parent checkpoint (it is written only once that is recorded):
    // its tree with the step's paths replaced is the step's tree, and only the folders on those paths are written.
    // The first's parent is the baseline, which the copy's own index (where this one started) may not match.
    let tree = match parent {
        None => repo.find_tree(idx.write_tree()?)?,
        Some(_) => repo.find_tree(updated_tree(&repo, &idx, &parent_commit.tree()?, &changed)?)?,
    };
    if parent_commit.tree_id() == tree.id() {
        idx.write()?;
        return Ok(None);
    }
    let all = numbered(&repo, conversation)?;
    let number = all.iter().map(|(n, _)| *n).max().unwrap_or(0) + 1;
    // The parent's step, from the commit already at hand (the baseline has none: 0).
    let step = parent.map_or(0, |_| field(&parent_commit, "step").parse().unwrap_or(0)) + 1;
    let message = format!(
        "openhands checkpoint {number}\n\nevent: {}\nstep: {step}\nparent: {}\n",
        mark.event_id,
        parent.map_or("baseline".to_owned(), |p| p.to_string())
    );
    let sig = Signature::now("OpenHands", "openhands@all-hands.dev")?;
    let commit = repo.commit(None, &sig, &sig, &message, &tree, &[&parent_commit])?;
    repo.reference(&format!("{}{number}", prefix(conversation)), commit, false, "openhands: checkpoint")?;
    idx.write()?;
    if parent.is_none() {
        return read(&repo, number, commit).map(Some);
    }
    let time = repo.find_commit(commit)?.time().seconds();
    let event_id = mark.event_id.to_owned();
    let files = changed.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    Ok(Some(Checkpoint { number, commit, parent, event_id, step, time, files }))
}

/// `base` with the index's entries at `paths` put in (or taken out, where the index has none).
fn updated_tree(
    repo: &Repository,
    idx: &git2::Index,
    base: &git2::Tree<'_>,
    paths: &[Vec<u8>],
) -> Result<Oid, GitError> {
    let mut update = git2::build::TreeUpdateBuilder::new();
    for path in paths {
        match idx.get_path(&crate::platform::path_from_bytes(path), 0) {
            Some(e) => {
                let mode = match e.mode {
                    0o100755 => git2::FileMode::BlobExecutable,
                    0o120000 => git2::FileMode::Link,
                    0o160000 => git2::FileMode::Commit,
                    _ => git2::FileMode::Blob,
                };
                update.upsert(path.as_slice(), e.id, mode);
            }
            None => {
                update.remove(path.as_slice());
            }
        }
    }
    Ok(update.create_updated(repo, base)?)
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
    let _synced = synced_index(&repo, index)?;
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::{Mark, list, record, remove_all, restore};
    use crate::git::{GitData, isolate};

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git").args(args).current_dir(dir).status().unwrap().success();
        assert!(ok, "git {args:?}");
    }

    fn files(dir: &Path) -> Vec<(String, Vec<u8>, bool)> {
        let mut out = Vec::new();
        for e in walk(dir) {
            let rel = e.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&e).unwrap();
            let bytes = if meta.file_type().is_symlink() {
                std::fs::read_link(&e).unwrap().into_os_string().into_encoded_bytes()
            } else {
                std::fs::read(&e).unwrap()
            };
            out.push((rel, bytes, meta.permissions().mode() & 0o100 != 0));
        }
        out.sort();
        out
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[cfg_attr(feature = "portable-platform", ignore = "executable bits and links are Unix's")]
    #[test]
    fn steps_are_recorded_with_their_files_and_restored_byte_for_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("repo");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join(".gitignore"), "*.log\nbuild/\n").unwrap();
        std::fs::write(src.join("a.txt"), "a\n").unwrap();
        std::fs::write(src.join("gone.txt"), "bye\n").unwrap();
        std::fs::write(src.join("sub/kept.log"), "tracked, though ignored\n").unwrap();
        git(&src, &["init", "-q"]);
        git(&src, &["add", "-A"]);
        git(&src, &["add", "-f", "sub/kept.log"]);
        git(&src, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]);
        let iso = isolate(&src, &tmp.path().join("copy"), "openhands/t", u64::MAX, GitData::Shared).unwrap();
        let (copy, index, conv) = (iso.root.clone(), tmp.path().join("index"), "c1");

        // Step 1: a new folder and file, a change, +x, a link.
        std::fs::create_dir_all(copy.join("new/deep")).unwrap();
        std::fs::write(copy.join("new/deep/n.txt"), "n\n").unwrap();
        std::fs::write(copy.join("a.txt"), "A\n").unwrap();
        std::fs::set_permissions(copy.join("a.txt"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a.txt", copy.join("link")).unwrap();
        let one = record(&iso, conv, &index, None, &Mark { event_id: "e1" }).unwrap().unwrap();
        assert_eq!(one.files, ["a.txt", "link", "new/deep/n.txt"]);
        let at_one = files(&copy);

        // Nothing changed: no checkpoint.
        assert!(record(&iso, conv, &index, Some(1), &Mark { event_id: "e1b" }).unwrap().is_none());

        // Step 2: a deletion, a change to a tracked file that is ignored, a new file; an ignored build output.
        std::fs::remove_file(copy.join("gone.txt")).unwrap();
        std::fs::remove_dir_all(copy.join("new")).unwrap();
        std::fs::write(copy.join("sub/kept.log"), "changed\n").unwrap();
        std::fs::write(copy.join("later.txt"), "later\n").unwrap();
        std::fs::create_dir_all(copy.join("build")).unwrap();
        std::fs::write(copy.join("build/out.bin"), "ignored\n").unwrap();
        let two = record(&iso, conv, &index, Some(1), &Mark { event_id: "e2" }).unwrap().unwrap();
        assert_eq!((two.number, two.step, two.parent), (2, 2, Some(1)));
        assert_eq!(two.files, ["gone.txt", "later.txt", "new/deep/n.txt", "sub/kept.log"]);
        // The tree is what git itself makes of the copy (no folder left empty by the step).
        let ours = std::process::Command::new("git")
            .args(["ls-tree", "-r", "-t", &two.commit.to_string()])
            .current_dir(&copy)
            .output()
            .unwrap()
            .stdout;
        let scratch = tmp.path().join("scratch-index");
        let theirs = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(&copy)
                .env("GIT_INDEX_FILE", &scratch)
                .output()
                .unwrap()
                .stdout
        };
        theirs(&["add", "-A"]);
        theirs(&["add", "-f", "sub/kept.log"]);
        let tree = String::from_utf8(theirs(&["write-tree"])).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs(&["ls-tree", "-r", "-t", tree.trim()])).unwrap()
        );
        assert_eq!(list(&iso, conv).unwrap().iter().map(|c| c.number).collect::<Vec<_>>(), [1, 2]);

        // Back to 1: byte for byte and mode for mode; the ignored build output left alone.
        restore(&iso, conv, &index, 1).unwrap();
        let mut expected = at_one.clone();
        expected.push(("build/out.bin".into(), b"ignored\n".to_vec(), false));
        expected.sort();
        assert_eq!(files(&copy), expected);

        remove_all(&iso, conv).unwrap();
        assert!(list(&iso, conv).unwrap().is_empty());
    }
}

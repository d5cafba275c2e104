//! A repository at a given commit, for batch tasks: one local mirror per repository (a folder or a URL), fetched once
//! per run, and a checkout of it at each task's base commit. The conversation's own copy is made from that checkout,
//! as the editors make it from the user's folder, so the agent starts from exactly the base commit.

use std::path::{Path, PathBuf};

use git2::{FetchOptions, Oid, Repository};

use super::{GitError, io, ready};

/// Where a repository named `source` (a folder or a git URL) is mirrored under `cache`: the same place every run.
pub fn mirror_path(source: &str, cache: &Path) -> PathBuf {
    use sha1::Digest as _;
    let digest = sha1::Sha1::digest(source.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let name: String = source
        .rsplit(['/', '\\', ':'])
        .find(|s| !s.is_empty())
        .unwrap_or("repo")
        .trim_end_matches(".git")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    cache.join(format!("{name}-{hex}.git"))
}

/// Brings the mirror of `source` up to date (made at the first use): every branch and tag, as the source has them.
/// `origin` is the remote the copies get: the folder's own `origin` (so that issue references and pull requests
/// name the forge), else `source` itself.
pub fn mirror(source: &str, dest: &Path) -> Result<(), GitError> {
    ready();
    let repo = match Repository::open_bare(dest) {
        Ok(repo) => repo,
        Err(_) => {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            Repository::init_bare(dest)?
        }
    };
    let mut remote = repo.remote_anonymous(source)?;
    let refs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];
    remote.fetch(&refs, Some(FetchOptions::new().download_tags(git2::AutotagOption::All)), None)?;
    // The branch the source's HEAD names (the fetch's list of refs stays after its connection closed): a task
    // without a base commit starts from it.
    let head =
        remote.default_branch().ok().and_then(|b| b.as_str().ok()?.strip_prefix("refs/heads/").map(str::to_owned));
    let origin = Repository::open(source)
        .ok()
        .and_then(|r| r.find_remote("origin").ok().and_then(|o| o.url().ok().map(str::to_owned)))
        .unwrap_or_else(|| source.to_owned());
    if repo.find_remote("origin").is_ok() {
        repo.remote_set_url("origin", &origin)?;
    } else {
        repo.remote("origin", &origin)?;
    }
    if let Some(head) = head {
        repo.set_head(&format!("refs/heads/{head}"))?;
    }
    Ok(())
}

/// The commit `base` names in the mirror (a hash, a branch, a tag); the mirror's HEAD when `None`.
pub fn resolve(mirror: &Path, base: Option<&str>) -> Result<Oid, GitError> {
    ready();
    let repo = Repository::open_bare(mirror)?;
    let object = match base {
        Some(base) => repo.revparse_single(base)?,
        None => repo.head()?.peel(git2::ObjectType::Commit)?,
    };
    Ok(object.peel_to_commit()?.id())
}

/// Adding and removing worktrees of one repository from several threads at once fails in libgit2 ("already checked
/// out", a worktree's record half written): the tasks of a run take turns (each takes milliseconds).
static WORKTREES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A checkout of `commit` at `dest` (a worktree of the mirror on a branch of its own, `name`).
pub fn checkout(mirror: &Path, commit: Oid, dest: &Path, name: &str) -> Result<(), GitError> {
    ready();
    let _turn = WORKTREES.lock().unwrap_or_else(|p| p.into_inner());
    let repo = Repository::open_bare(mirror)?;
    let branch = repo.branch(&branch_name(name), &repo.find_commit(commit)?, true)?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut opts = git2::WorktreeAddOptions::new();
    opts.reference(Some(branch.get()));
    repo.worktree(name, dest, Some(&opts))?;
    Ok(())
}

/// A branch of the mirror whose tip is `commit` (the default branch first): what a backend that starts from a branch
/// (OpenHands Cloud clones a branch, never a commit) can start from.
pub fn branch_at(mirror: &Path, commit: Oid) -> Result<Option<String>, GitError> {
    ready();
    let repo = Repository::open_bare(mirror)?;
    let default = repo.head().ok().and_then(|h| h.shorthand().ok().map(str::to_owned));
    let mut found = Vec::new();
    for branch in repo.branches(Some(git2::BranchType::Local))? {
        let (branch, _) = branch?;
        let Some(name) = branch.name()?.map(str::to_owned) else { continue };
        if !name.starts_with("openhands-batch/") && branch.get().target() == Some(commit) {
            found.push(name);
        }
    }
    found.sort_by_key(|n| Some(n) != default.as_ref());
    Ok(found.into_iter().next())
}

/// A repository of its own at `dest`, cloned from the mirror, on `branch` (tasks on the same branch do not collide),
/// with the mirror's `origin`: for a backend that reads the branch and the remote from the folder.
pub fn clone_on(mirror: &Path, branch: &str, dest: &Path) -> Result<(), GitError> {
    ready();
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mirror_path = mirror.to_string_lossy();
    let repo = git2::build::RepoBuilder::new().branch(branch).clone(&mirror_path, dest)?;
    let origin = Repository::open_bare(mirror)?.find_remote("origin")?.url().ok().map(str::to_owned);
    if let Some(origin) = origin {
        repo.remote_set_url("origin", &origin)?;
    }
    Ok(())
}

/// Removes what [`checkout`] made: the folder, the mirror's record of it and its branch.
pub fn remove_checkout(mirror: &Path, dest: &Path, name: &str) -> Result<(), GitError> {
    ready();
    let _turn = WORKTREES.lock().unwrap_or_else(|p| p.into_inner());
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(io(dest))?;
    }
    let repo = Repository::open_bare(mirror)?;
    if let Ok(wt) = repo.find_worktree(name) {
        // Only the record: the folder is gone above (prune's own deletion would follow whatever path it names).
        wt.prune(Some(git2::WorktreePruneOptions::new().valid(true)))?;
    }
    if let Ok(mut b) = repo.find_branch(&branch_name(name), git2::BranchType::Local) {
        b.delete()?;
    }
    Ok(())
}

fn branch_name(name: &str) -> String {
    format!("openhands-batch/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git").args(args).current_dir(dir).status().map(|s| s.success());
        assert!(matches!(ok, Ok(true)), "git {args:?}");
    }

    #[test]
    fn a_checkout_is_at_the_base_commit_and_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        git(&src, &["init", "-q", "-b", "main"]);
        git(&src, &["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty", "-m", "one"]);
        std::fs::write(src.join("f.txt"), "two\n").unwrap();
        git(&src, &["add", "f.txt"]);
        git(&src, &["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "-m", "two"]);
        let source = src.to_string_lossy().into_owned();
        let mirror_at = mirror_path(&source, &tmp.path().join("cache"));
        mirror(&source, &mirror_at).unwrap();
        // Twice: the second only fetches.
        mirror(&source, &mirror_at).unwrap();
        let head = resolve(&mirror_at, None).unwrap();
        let first = resolve(&mirror_at, Some("main~1")).unwrap();
        assert_ne!(head, first);
        let dest = tmp.path().join("work/t1");
        checkout(&mirror_at, first, &dest, "t1").unwrap();
        assert!(!dest.join("f.txt").exists(), "the base commit has no f.txt");
        assert_eq!(Repository::open(&dest).unwrap().head().unwrap().peel_to_commit().unwrap().id(), first);
        // The conversation's copy is made from the checkout, as from a user's folder, and read back.
        for data in [super::super::GitData::Shared, super::super::GitData::Own] {
            let copy = tmp.path().join(format!("copy-{data:?}"));
            let iso = super::super::isolate(&dest, &copy, "openhands/c", 1 << 30, data).unwrap();
            std::fs::write(copy.join("new.txt"), "new\n").unwrap();
            assert!(super::super::patch(&iso).unwrap().contains("+++ b/new.txt"), "{data:?}");
            super::super::remove(&iso, &copy).unwrap();
        }
        remove_checkout(&mirror_at, &dest, "t1").unwrap();
        assert!(!dest.exists());
        // For the cloud: the branch at a commit, and a clone on it that names the source's remote.
        assert_eq!(branch_at(&mirror_at, head).unwrap().as_deref(), Some("main"));
        assert_eq!(branch_at(&mirror_at, first).unwrap(), None);
        let clone = tmp.path().join("work/c1");
        clone_on(&mirror_at, "main", &clone).unwrap();
        let repo = Repository::open(&clone).unwrap();
        assert_eq!(repo.head().unwrap().shorthand().unwrap(), "main");
        assert_eq!(repo.find_remote("origin").unwrap().url().unwrap(), source);
        remove_checkout(&mirror_at, &clone, "c1").unwrap();
        assert!(!clone.exists());
        let repo = Repository::open_bare(&mirror_at).unwrap();
        assert!(repo.find_worktree("t1").is_err());
        assert!(repo.find_branch("openhands-batch/t1", git2::BranchType::Local).is_err());
        assert!(resolve(&mirror_at, Some("no-such-commit")).is_err());
    }
}

//! Isolated copies of the user's project, and what changed in them.
//!
//! A conversation works in its own copy so the user's files change only when the user applies the result:
//! - a git repository gets a **worktree** at HEAD on a new branch, with the user's uncommitted changes and untracked
//!   (not ignored) files carried over, so the agent sees what the user sees;
//! - where the sandbox sees only the copy (a container), a worktree would be no repository in there (its git data is
//!   in the user's `.git`), so the copy is a **repository of its own** instead: the user's objects, branches, tags
//!   and remotes copied in, then the same branch and carried-over work ([`GitData::Own`]);
//! - any other folder is **copied** (respecting .gitignore-style ignores, within a size limit) into a fresh repository.
//!
//! Either way the starting point is recorded as a *baseline* commit in the copy, and [`changes`] lists what differs
//! from it (added, modified, deleted, renamed) with the original and proposed text of each file.
//! [`merge3`] merges the user's own edits made meanwhile with the agent's.

use std::path::{Path, PathBuf};

pub mod applied;
pub mod base;
mod changes;
pub mod checkpoint;
pub mod entry;
mod loose;
mod patch;
pub mod push;
mod snapshot;

pub use changes::{ChangeStatus, FileChange, Merged, SHOW_LIMIT, Whole, WholeReason, changes, merge3};
pub use entry::Entry;
pub use patch::patch;

use git2::{IndexAddOption, Oid, Repository, Signature, StatusOptions};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// libgit2's message without its class and code numbers, which mean nothing to the people who read it.
    #[error("git: {}", .0.message())]
    Git(#[from] git2::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "{path} is too large to copy for the agent ({size_mb} MB in {files} files; the limit is {limit_mb} MB): make it a git repository (only tracked and untracked-but-not-ignored files are carried over) or add ignores"
    )]
    TooLarge { path: PathBuf, size_mb: u64, files: u64, limit_mb: u64 },
    #[error(
        "the conversation's copy at {0} is no longer a repository of its own work folder (its git settings or .git \
         were changed in the sandbox); openhands-lsp will not read or push it"
    )]
    Tampered(PathBuf),
    #[error("the conversation has no checkpoint {0} (list them with openhands.listCheckpoints)")]
    NoCheckpoint(u32),
}

/// Run as root, openhands-lsp hands its own worktrees to the sandbox's non-root user (docker backend), and libgit2
/// would then refuse to open them ("not owned by current user"). Root reads every repository anyway, and libgit2
/// runs no hooks or fsmonitor commands from a repository's config, so the check protects nothing for root.
///
/// Must run before any thread uses libgit2.
#[allow(unsafe_code)]
fn relax_owner_check_for_root() {
    // SAFETY: set_verify_owner_validation writes a libgit2 global without synchronisation; it runs once, inside
    // `INIT`, and every use of libgit2 waits for `INIT` first (`ready`).
    unsafe {
        if crate::platform::is_root()
            && let Err(e) = git2::opts::set_verify_owner_validation(false)
        {
            tracing::warn!("cannot relax libgit2's owner check: {e}");
        }
    }
}

static INIT: std::sync::Once = std::sync::Once::new();

/// Sets libgit2 up at the first use of git, not at start-up: its first call loads OpenSSL and parses the system's
/// CA bundle (about 30 ms and 4 MB), which an editor waiting for `initialize` should not pay. Every use of git2 calls
/// this first.
pub fn ready() {
    INIT.call_once(relax_owner_check_for_root);
}

/// The branch checked out in the repository holding `folder` (`None`: not a repository, or a detached HEAD).
pub fn current_branch(folder: &Path) -> Option<String> {
    ready();
    branch_of(&git2::Repository::discover(folder).ok()?)
}

/// The messages of the latest `n` commits reachable from HEAD, the newest first, with their ids.
pub fn recent_messages(folder: &Path, n: usize) -> Vec<(String, String)> {
    ready();
    let Ok(repo) = git2::Repository::discover(folder) else { return Vec::new() };
    let Ok(mut walk) = repo.revwalk() else { return Vec::new() };
    if walk.push_head().is_err() {
        return Vec::new();
    }
    walk.filter_map(Result::ok)
        .take(n)
        .filter_map(|oid| {
            let commit = repo.find_commit(oid).ok()?;
            Some((oid.to_string(), commit.message().unwrap_or_default().to_owned()))
        })
        .collect()
}

fn branch_of(repo: &Repository) -> Option<String> {
    let head = repo.head().ok()?;
    if head.is_branch() { head.shorthand().ok().map(str::to_owned) } else { None }
}

/// The URL of remote `name` of the repository holding `folder`.
pub fn remote_url(folder: &Path, name: &str) -> Option<String> {
    ready();
    let repo = git2::Repository::discover(folder).ok()?;
    let remote = repo.find_remote(name).ok()?;
    remote.url().ok().map(str::to_owned)
}

/// How the local branch stands against its remote branch: what a remote-only agent (the cloud) would not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncState {
    pub branch: String,
    /// The remote the branch tracks, or `origin` when it tracks none.
    pub remote: String,
    /// The branch exists on the remote (as its upstream or under the same name).
    pub on_remote: bool,
    /// Local commits the remote branch does not have.
    pub ahead: usize,
    /// Files with uncommitted changes (untracked ones included).
    pub dirty: usize,
}

impl SyncState {
    pub fn in_sync(&self) -> bool {
        self.on_remote && self.ahead == 0 && self.dirty == 0
    }
}

/// `None` when `folder` is not in a repository with a branch checked out.
pub fn sync_state(folder: &Path) -> Option<SyncState> {
    ready();
    let repo = git2::Repository::discover(folder).ok()?;
    let branch = branch_of(&repo)?;
    let local = repo.find_branch(&branch, git2::BranchType::Local).ok()?;
    let head = local.get().target()?;
    let (remote, tracked) = match local.upstream() {
        Ok(up) => {
            let name = up.get().name().unwrap_or_default().to_owned();
            let remote = repo.branch_remote_name(&name).ok().and_then(|b| b.as_str().ok().map(str::to_owned));
            (remote.unwrap_or_else(|| "origin".into()), up.get().target())
        }
        Err(_) => {
            let same = repo.find_reference(&format!("refs/remotes/origin/{branch}")).ok().and_then(|r| r.target());
            ("origin".to_owned(), same)
        }
    };
    let ahead = match tracked {
        Some(t) => repo.graph_ahead_behind(head, t).map(|(a, _)| a).unwrap_or(0),
        None => {
            let mut walk = repo.revwalk().ok()?;
            walk.push(head).ok()?;
            walk.count()
        }
    };
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    let dirty = repo.statuses(Some(&mut opts)).map(|s| s.len()).unwrap_or(0);
    Some(SyncState { branch, remote, on_remote: tracked.is_some(), ahead, dirty })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GitError + '_ {
    move |source| GitError::Io { path: path.to_owned(), source }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A worktree of the user's repository, on `branch`.
    Worktree { repo: PathBuf, branch: String },
    /// A repository of its own made from the user's `repo`, on `branch` (which exists only in the copy).
    Clone { repo: PathBuf, branch: String },
    /// A copy of a folder that is not a git repository (or has no commit yet).
    Copy,
}

/// The conversation's own copy of the user's folder.
#[derive(Debug, Clone)]
pub struct Isolated {
    /// Where the agent works.
    pub root: PathBuf,
    /// The user's folder it was made from.
    pub source: PathBuf,
    pub kind: Kind,
    /// The commit (in `root`'s repository) holding the state the agent started from.
    pub baseline: Oid,
}

/// Where a copy of a git repository keeps its git data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitData {
    /// In the user's repository: a worktree (cheap; the branch is the user's to see).
    Shared,
    /// Inside the copy, for a sandbox that sees nothing else: git works in there as in the user's repository.
    Own,
}

/// The config key naming, in a copy with its own git data, the user's repository it was made from.
const SOURCE_KEY: &str = "openhands.source";

/// A conversation's copy as git alone describes it: found again when its `meta.json` is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedCopy {
    /// The user's repository (`None` for a copy of a plain folder).
    pub repo: Option<PathBuf>,
    pub branch: Option<String>,
    /// The copy holds its own git data ([`GitData::Own`]).
    pub own_git: bool,
    /// The commit `isolate` made of the starting point.
    pub baseline: Oid,
}

/// Reads what [`isolate`] left at `dest`: the repository a worktree belongs to, its branch, and the baseline commit
/// (found by its message). `None` when `dest` is not such a copy.
pub fn describe_copy(dest: &Path) -> Option<DescribedCopy> {
    ready();
    let repo = Repository::open(dest).ok()?;
    let mut walk = repo.revwalk().ok()?;
    walk.push_head().ok()?;
    let marked = walk
        .flatten()
        .filter_map(|oid| repo.find_commit(oid).ok())
        .find(|c| c.message().is_ok_and(|m| m.starts_with("openhands: baseline")))
        .map(|c| c.id());
    // Without uncommitted work to carry over, the baseline is where the branch was made: its oldest reflog entry.
    let created = || {
        let name = repo.head().ok()?.name().ok()?.to_owned();
        let log = repo.reflog(&name).ok()?;
        log.get(log.len().checked_sub(1)?).map(|e| e.id_new())
    };
    let baseline = marked.or_else(created)?;
    if repo.is_worktree() {
        // The main repository's work folder: the parent of the shared `.git`.
        let main = repo.commondir().parent().map(Path::to_path_buf);
        Some(DescribedCopy { repo: main, branch: branch_of(&repo), own_git: false, baseline })
    } else if let Some(source) = repo.config().ok().and_then(|c| c.get_path(SOURCE_KEY).ok()) {
        Some(DescribedCopy { repo: Some(source), branch: branch_of(&repo), own_git: true, baseline })
    } else {
        Some(DescribedCopy { repo: None, branch: None, own_git: false, baseline })
    }
}

/// Default copy limit for folders that are not git repositories.
pub const DEFAULT_COPY_LIMIT_BYTES: u64 = 512 * 1024 * 1024;

/// Makes the isolated copy of `source` at `dest` (which must not exist). `branch` names the copy's branch; `data`
/// says where a copy of a git repository keeps its git data.
pub fn isolate(
    source: &Path,
    dest: &Path,
    branch: &str,
    copy_limit_bytes: u64,
    data: GitData,
) -> Result<Isolated, GitError> {
    ready();
    let source = source.canonicalize().map_err(io(source))?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    match Repository::discover(&source) {
        Ok(repo) if repo.workdir().is_some() && repo.head().is_ok() => {
            // (Only a copy with its own git data looks at the objects: a worktree start stays one git call.)
            if data == GitData::Own {
                let objects = files_under(&repo.commondir().join("objects"));
                let size: u64 = objects.iter().map(|(_, len)| len).sum();
                if size <= copy_limit_bytes {
                    return own_repository(&repo, &source, dest, branch, &objects);
                }
                tracing::warn!(
                    size_mb = size / (1024 * 1024),
                    "the repository's objects are too large to copy into the sandbox: a worktree is used, and git \
                     will not work inside the sandbox"
                );
            }
            worktree(&repo, &source, dest, branch)
        }
        _ => copy(&source, dest, copy_limit_bytes),
    }
}

fn worktree(repo: &Repository, source: &Path, dest: &Path, branch: &str) -> Result<Isolated, GitError> {
    let workdir = repo.workdir().map(Path::to_path_buf).unwrap_or_else(|| source.to_owned());
    let head = repo.head()?.peel_to_commit()?;
    // A folder that is itself a worktree: the copy is a worktree of the main repository, as `git worktree add` makes
    // it (libgit2 would record it inside the folder's own git data, where nothing finds it again).
    let main = if repo.is_worktree() { Some(Repository::open(repo.commondir())?) } else { None };
    let owner = main.as_ref().unwrap_or(repo);
    let branch_ref = owner.branch(branch, &owner.find_commit(head.id())?, false)?;
    // The name of the worktree's entry in the repository (.git/worktrees/NAME): unique per conversation, as the
    // branch is, so that conversations on the same repository never collide.
    let name = worktree_name(branch);
    let mut opts = git2::WorktreeAddOptions::new();
    opts.reference(Some(branch_ref.get()));
    owner.worktree(&name, dest, Some(&opts))?;
    let kind = Kind::Worktree { repo: workdir.clone(), branch: branch.to_owned() };
    carried_over(repo, &workdir, source, dest, kind)
}

/// A repository of its own at `dest`, made from the user's `repo` as `git clone --local` would (objects copied, not
/// linked: a hard link would let the sandbox's user change the user's own object files), with the user's branches,
/// tags, remote-tracking branches and remotes, so that `git log`, `git diff main`, `git branch -a` and `git remote`
/// work in there as in the user's repository.
/// `objects` are the files of the user's object folder, listed by the caller.
fn own_repository(
    repo: &Repository,
    source: &Path,
    dest: &Path,
    branch: &str,
    objects: &[(PathBuf, u64)],
) -> Result<Isolated, GitError> {
    let workdir = repo.workdir().map(Path::to_path_buf).unwrap_or_else(|| source.to_owned());
    let copy = Repository::init(dest)?;
    copy_files(&repo.commondir().join("objects"), objects, &copy.path().join("objects"))?;
    let shallow = repo.commondir().join("shallow");
    if shallow.is_file() {
        std::fs::copy(&shallow, copy.path().join("shallow")).map_err(io(&shallow))?;
    }
    for reference in repo.references()?.flatten() {
        let Ok(name) = reference.name() else { continue };
        // Other conversations' branches are theirs.
        let wanted = ["refs/heads/", "refs/tags/", "refs/remotes/"].iter().any(|p| name.starts_with(p));
        if !wanted || name.starts_with("refs/heads/openhands/") {
            continue;
        }
        let made = match (reference.target(), reference.symbolic_target().ok().flatten()) {
            (Some(oid), _) => copy.reference(name, oid, true, "openhands: from the user's repository").map(drop),
            (None, Some(target)) => {
                copy.reference_symbolic(name, target, true, "openhands: from the user's repository").map(drop)
            }
            _ => Ok(()),
        };
        if let Err(e) = made {
            tracing::debug!("copying {name} into the conversation's repository: {e}");
        }
    }
    copy_remotes(repo, &copy)?;
    let head = copy.find_commit(repo.head()?.peel_to_commit()?.id())?;
    copy.branch(branch, &head, true)?;
    copy.set_head(&format!("refs/heads/{branch}"))?;
    copy.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))?;
    let mut config = copy.config()?;
    config.set_str(SOURCE_KEY, &workdir.to_string_lossy())?;
    // The sandbox has no git identity of its own (the host's ~/.gitconfig is not in there): the agent commits as
    // the user would here.
    let (name, email) = identity(repo);
    config.set_str("user.name", &name)?;
    config.set_str("user.email", &email)?;
    let kind = Kind::Clone { repo: workdir.clone(), branch: branch.to_owned() };
    carried_over(repo, &workdir, source, dest, kind)
}

/// Who commits in `repo`: the user's git identity, or openhands' when there is none.
fn identity(repo: &Repository) -> (String, String) {
    let config = repo.config().ok();
    let get = |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok()).filter(|v| !v.is_empty());
    match (get("user.name"), get("user.email")) {
        (Some(name), Some(email)) => (name, email),
        _ => ("openhands".to_owned(), "openhands@all-hands.dev".to_owned()),
    }
}

/// The user's remotes (names and URLs) in `copy`, replacing any it has.
fn copy_remotes(repo: &Repository, copy: &Repository) -> Result<(), GitError> {
    for name in copy.remotes()?.iter().flatten().flatten().map(str::to_owned).collect::<Vec<_>>() {
        copy.remote_delete(&name)?;
    }
    for name in repo.remotes()?.iter().flatten().flatten() {
        let remote = repo.find_remote(name)?;
        let Ok(url) = remote.url() else { continue };
        copy.remote(name, url)?;
        if let Ok(Some(push)) = remote.pushurl() {
            copy.remote_set_pushurl(name, Some(push))?;
        }
    }
    Ok(())
}

/// The user's uncommitted work carried into the fresh checkout at `dest` (modified, added, deleted, and
/// untracked-but-not-ignored files), committed there as the baseline.
fn carried_over(
    repo: &Repository,
    workdir: &Path,
    source: &Path,
    dest: &Path,
    kind: Kind,
) -> Result<Isolated, GitError> {
    let mut status_opts = StatusOptions::new();
    status_opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false).exclude_submodules(true);
    for entry in repo.statuses(Some(&mut status_opts))?.iter() {
        let Ok(rel) = entry.path() else { continue };
        let from = workdir.join(rel);
        let to = dest.join(rel);
        if from.is_file() {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::copy(&from, &to).map_err(io(&from))?;
        } else if !from.exists() && to.exists() {
            std::fs::remove_file(&to).map_err(io(&to))?;
        }
    }
    let copy = Repository::open(dest)?;
    let baseline = commit_all(&copy, "openhands: baseline (your uncommitted changes)")?;
    // A copy of a subfolder of the repository works in the same subfolder.
    let root = match source.strip_prefix(workdir) {
        Ok(rel) if !rel.as_os_str().is_empty() => dest.join(rel),
        _ => dest.to_owned(),
    };
    Ok(Isolated { root, source: source.to_owned(), kind, baseline })
}

/// The regular files under `dir` with their sizes (every file, hidden or ignored; links not followed).
fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
    ignore::WalkBuilder::new(dir)
        .standard_filters(false)
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(|e| {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            (e.into_path(), len)
        })
        .collect()
}

/// Copies `files` (found under `from`) to the same places under `to`, folders made as needed.
fn copy_files(from: &Path, files: &[(PathBuf, u64)], to: &Path) -> Result<(), GitError> {
    for (file, _) in files {
        let rel = file.strip_prefix(from).unwrap_or(file);
        let target = to.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(file, &target).map_err(io(file))?;
    }
    Ok(())
}

fn copy(source: &Path, dest: &Path, limit: u64) -> Result<Isolated, GitError> {
    let walker = ignore::WalkBuilder::new(source)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git")
        .build();
    let mut files = Vec::new();
    let (mut total, mut count) = (0u64, 0u64);
    for entry in walker.flatten() {
        if entry.file_type().is_some_and(|t| t.is_file()) {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
            count += 1;
            if total > limit {
                return Err(GitError::TooLarge {
                    path: source.to_owned(),
                    size_mb: total / (1024 * 1024),
                    files: count,
                    limit_mb: limit / (1024 * 1024),
                });
            }
            files.push(entry.into_path());
        }
    }
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    for from in files {
        let rel = from.strip_prefix(source).unwrap_or(&from);
        let to = dest.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(&from, &to).map_err(io(&from))?;
    }
    let repo = Repository::init(dest)?;
    let baseline = commit_all(&repo, "openhands: baseline (copy of your folder)")?;
    Ok(Isolated { root: dest.to_owned(), source: source.to_owned(), kind: Kind::Copy, baseline })
}

/// Stages everything (additions and deletions) and commits it on HEAD; returns HEAD when nothing changed.
pub(crate) fn commit_all(repo: &Repository, message: &str) -> Result<Oid, GitError> {
    let mut index = repo.index()?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
    index.update_all(["*"], None)?;
    index.write()?;
    let tree_id = index.write_tree()?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    if let Some(p) = &parent
        && p.tree_id() == tree_id
    {
        return Ok(p.id());
    }
    let tree = repo.find_tree(tree_id)?;
    let sig = repo.signature().or_else(|_| Signature::now("openhands", "openhands@all-hands.dev"))?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    Ok(repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?)
}

/// The copy's repository, refused when its work folder is not the copy: a sandbox that can write the copy's git
/// settings (`core.worktree`) or replace its `.git` must not make review read, or a push publish, another folder.
pub(crate) fn open_copy(iso: &Isolated) -> Result<Repository, GitError> {
    let repo = Repository::discover(&iso.root)?;
    let root = iso.root.canonicalize().map_err(io(&iso.root))?;
    let workdir = repo.workdir().and_then(|w| w.canonicalize().ok()).ok_or_else(|| GitError::Tampered(root.clone()))?;
    // Where the git data must be: the user's repository for a worktree, `.git` in the copy for the others.
    let expected = match &iso.kind {
        Kind::Worktree { repo: user, .. } => {
            Repository::open(user).ok().and_then(|r| r.commondir().canonicalize().ok())
        }
        Kind::Clone { .. } | Kind::Copy => {
            let dot_git = workdir.join(".git");
            let real = std::fs::symlink_metadata(&dot_git).is_ok_and(|m| m.is_dir());
            real.then(|| dot_git.canonicalize().ok()).flatten()
        }
    };
    let common = repo.commondir().canonicalize().ok();
    if !root.starts_with(&workdir) || expected.is_none() || common != expected {
        return Err(GitError::Tampered(root));
    }
    Ok(repo)
}

/// Puts back the git settings openhands-lsp gave a copy with its own git data, before it is pushed: the sandbox can
/// write them, and settings there (`url.*.insteadOf`, a remote's URL, `include.path`) would otherwise decide where
/// the user's token goes. Remotes are taken again from the user's repository.
pub(crate) fn reset_config(iso: &Isolated) -> Result<(), GitError> {
    let Kind::Clone { repo: user, .. } = &iso.kind else { return Ok(()) };
    let gitdir = open_copy(iso)?.path().to_owned();
    let path = gitdir.join("config");
    std::fs::remove_file(&path).map_err(io(&path))?;
    // A `commondir` file would make this folder a worktree of some other repository.
    let _ = std::fs::remove_file(gitdir.join("commondir"));
    let mut config = git2::Config::open(&path)?;
    config.set_i32("core.repositoryformatversion", 0)?;
    config.set_bool("core.filemode", true)?;
    config.set_bool("core.bare", false)?;
    config.set_bool("core.logallrefupdates", true)?;
    config.set_str(SOURCE_KEY, &user.to_string_lossy())?;
    drop(config);
    copy_remotes(&Repository::open(user)?, &Repository::open(&gitdir)?)
}

fn worktree_name(branch: &str) -> String {
    branch.replace('/', "-")
}

/// Removes the copy: the worktree and its branch, or the copied folder (a copy with its own git data has nothing
/// in the user's repository).
pub fn remove(iso: &Isolated, dest: &Path) -> Result<(), GitError> {
    ready();
    if let Kind::Worktree { repo, branch } = &iso.kind {
        let repo = Repository::open(repo)?;
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(io(dest))?;
        }
        // Worktrees made before names were per branch are named after their folder.
        let legacy = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // libgit2 may have recorded the folder through a resolved parent (a state directory behind a symlink).
        let resolved = dest.parent().and_then(|p| p.canonicalize().ok()).map(|p| p.join(&legacy));
        let ours = |p: &Path| p == dest || Some(p) == resolved.as_deref();
        for name in [worktree_name(branch), legacy.clone()] {
            if let Ok(wt) = repo.find_worktree(&name)
                && ours(wt.path())
            {
                // Only the repository's record of the worktree: its folder is `dest`, removed above. (Letting prune
                // delete "the working tree" would delete whatever folder that record names.)
                let mut prune = git2::WorktreePruneOptions::new();
                prune.valid(true);
                wt.prune(Some(&mut prune))?;
                break;
            }
        }
        if let Ok(mut b) = repo.find_branch(branch, git2::BranchType::Local) {
            b.delete()?;
        }
        applied::forget(&repo, iso)?;
        return Ok(());
    }
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(io(dest))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

//! Against real repositories made in temporary folders (with the git CLI, as a user would).

use std::path::Path;
use std::process::Command;

use super::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(dir: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(rel)).ok()
}

/// A repository with one commit, then uncommitted work of every kind.
fn user_repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    git(d, &["init", "-q"]);
    write(d, ".gitignore", "target/\n*.log\n");
    write(d, "src/lib.rs", "fn a() {}\n");
    write(d, "gone.txt", "to be deleted\n");
    write(d, "README.md", "hello\n");
    git(d, &["add", "-A"]);
    git(d, &["commit", "-qm", "init"]);
    write(d, "src/lib.rs", "fn a() {}\nfn b() {}\n"); // modified, unstaged
    write(d, "staged.txt", "staged\n");
    git(d, &["add", "staged.txt"]); // added, staged
    write(d, "notes/untracked.md", "mine\n"); // untracked
    write(d, "debug.log", "ignored\n"); // ignored
    write(d, "target/out.bin", "ignored\n"); // ignored dir
    std::fs::remove_file(d.join("gone.txt")).unwrap(); // deleted
    tmp
}

#[test]
fn worktree_carries_the_users_uncommitted_and_untracked_files_but_not_ignored_ones() {
    let user = user_repo();
    let state = tempfile::tempdir().unwrap();
    let dest = state.path().join("wt");
    let iso = isolate(user.path(), &dest, "openhands/test", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    assert!(matches!(&iso.kind, Kind::Worktree { branch, .. } if branch == "openhands/test"));
    let w = &iso.root;
    assert_eq!(read(w, "src/lib.rs").as_deref(), Some("fn a() {}\nfn b() {}\n"));
    assert_eq!(read(w, "staged.txt").as_deref(), Some("staged\n"));
    assert_eq!(read(w, "notes/untracked.md").as_deref(), Some("mine\n"));
    assert_eq!(read(w, "README.md").as_deref(), Some("hello\n"));
    assert!(!w.join("gone.txt").exists(), "deleted by the user, deleted in the copy");
    assert!(!w.join("debug.log").exists() && !w.join("target").exists(), "ignored files stay behind");
    // The starting point is the baseline: nothing differs yet.
    assert_eq!(changes(&iso).unwrap(), vec![]);
    // The user's own repository is untouched (still the same uncommitted state).
    assert_eq!(read(user.path(), "src/lib.rs").as_deref(), Some("fn a() {}\nfn b() {}\n"));
}

#[test]
fn changes_lists_added_modified_deleted_and_renamed_files_with_their_text() {
    let user = user_repo();
    let state = tempfile::tempdir().unwrap();
    let dest = state.path().join("wt");
    let iso = isolate(user.path(), &dest, "openhands/changes", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    let w = &iso.root;
    write(w, "src/lib.rs", "fn a() {}\nfn b() {}\nfn c() {}\n");
    write(w, "new/file.rs", "pub fn new() {}\n");
    std::fs::remove_file(w.join("README.md")).unwrap();
    let long = "line of text that makes the file long enough to be similar\n".repeat(20);
    write(w, "notes/untracked.md", &long);
    let iso2 = Isolated { baseline: commit_all(&Repository::open(w).unwrap(), "long").unwrap(), ..iso.clone() };
    std::fs::rename(w.join("notes/untracked.md"), w.join("notes/moved.md")).unwrap();

    let got = changes(&iso).unwrap();
    let summary: Vec<(ChangeStatus, String)> = got.iter().map(|c| (c.status, c.path.display().to_string())).collect();
    assert_eq!(
        summary,
        vec![
            (ChangeStatus::Deleted, "README.md".into()),
            (ChangeStatus::Added, "new/file.rs".into()),
            (ChangeStatus::Added, "notes/moved.md".into()),
            (ChangeStatus::Deleted, "notes/untracked.md".into()),
            (ChangeStatus::Modified, "src/lib.rs".into()),
        ]
    );
    let lib = got.iter().find(|c| c.path == Path::new("src/lib.rs")).unwrap();
    assert_eq!(lib.original.as_deref(), Some("fn a() {}\nfn b() {}\n"));
    assert_eq!(lib.proposed.as_deref(), Some("fn a() {}\nfn b() {}\nfn c() {}\n"));

    // Against a baseline that has the long file, the move is a rename.
    let renamed = changes(&iso2).unwrap();
    let r = renamed.iter().find(|c| c.status == ChangeStatus::Renamed).expect("a rename");
    assert_eq!(r.path, Path::new("notes/moved.md"));
    assert_eq!(r.old_path.as_deref(), Some(Path::new("notes/untracked.md")));
    assert_eq!(r.proposed.as_deref(), Some(long.as_str()));
}

#[test]
fn a_subfolder_of_a_repository_works_in_the_same_subfolder() {
    let user = user_repo();
    let state = tempfile::tempdir().unwrap();
    let (sub, dest) = (user.path().join("src"), state.path().join("wt"));
    let iso = isolate(&sub, &dest, "openhands/sub", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    assert!(iso.root.ends_with("wt/src"));
    write(&iso.root, "lib.rs", "changed\n");
    write(&state.path().join("wt"), "README.md", "outside the folder\n");
    let got = changes(&iso).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, Path::new("lib.rs"));
}

#[test]
fn a_plain_folder_is_copied_respecting_ignores() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, ".gitignore", "build/\n");
    write(d, "a.txt", "a\n");
    write(d, ".config/x.toml", "x = 1\n");
    write(d, "build/big.o", "ignored\n");
    let state = tempfile::tempdir().unwrap();
    let iso = isolate(d, &state.path().join("copy"), "unused", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    assert_eq!(iso.kind, Kind::Copy);
    assert_eq!(read(&iso.root, "a.txt").as_deref(), Some("a\n"));
    assert_eq!(read(&iso.root, ".config/x.toml").as_deref(), Some("x = 1\n"), "dotfiles are copied");
    assert!(!iso.root.join("build").exists());
    write(&iso.root, "a.txt", "b\n");
    let got = changes(&iso).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].status, got[0].original.as_deref(), got[0].proposed.as_deref()),
        (ChangeStatus::Modified, Some("a\n"), Some("b\n"))
    );
    assert!(!d.join(".git").exists(), "the user's folder did not become a repository");
}

#[test]
fn a_folder_over_the_limit_is_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "big.bin", &"x".repeat(3 * 1024 * 1024));
    let state = tempfile::tempdir().unwrap();
    let err = isolate(tmp.path(), &state.path().join("copy"), "b", 1024 * 1024, GitData::Shared).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("too large") && text.contains("limit is 1 MB"), "{text}");
}

#[test]
fn binary_files_are_flagged_without_text() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a.txt", "a\n");
    let state = tempfile::tempdir().unwrap();
    let iso = isolate(tmp.path(), &state.path().join("copy"), "b", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    std::fs::write(iso.root.join("img.png"), [0x89, b'P', b'N', b'G', 0, 1, 2]).unwrap();
    let got = changes(&iso).unwrap();
    assert!(got[0].binary && got[0].proposed.is_none());
}

#[test]
fn merge3_merges_separate_edits_and_marks_overlapping_ones() {
    let original = "one\ntwo\nthree\nfour\nfive\n";
    let user = "ONE\ntwo\nthree\nfour\nfive\n";
    let agent = "one\ntwo\nthree\nfour\nFIVE\n";
    assert_eq!(merge3(original, user, agent).unwrap(), Merged::Clean("ONE\ntwo\nthree\nfour\nFIVE\n".into()));
    let clash = "one\ntwo\nthree\nfour\nfive!\n";
    let Merged::Overlap(marked) = merge3(original, clash, agent).unwrap() else { panic!("an overlap merged") };
    assert_eq!(
        marked, "one\ntwo\nthree\nfour\n<<<<<<< yours\nfive!\n||||||| original\nfive\n=======\nFIVE\n>>>>>>> agent\n",
        "the user's text with the overlap marked, both sides and the original"
    );
    assert_eq!(merge3(original, original, agent).unwrap(), Merged::Clean(agent.into()), "user unchanged: the agent's");
    assert_eq!(merge3(original, user, original).unwrap(), Merged::Clean(user.into()), "agent unchanged: the user's");
}

#[test]
fn remove_deletes_the_worktree_and_its_branch() {
    let user = user_repo();
    let state = tempfile::tempdir().unwrap();
    let dest = state.path().join("wt");
    let iso = isolate(user.path(), &dest, "openhands/remove", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    remove(&iso, &dest).unwrap();
    assert!(!dest.exists());
    let repo = Repository::open(user.path()).unwrap();
    assert!(repo.find_branch("openhands/remove", git2::BranchType::Local).is_err());
    assert!(repo.worktrees().unwrap().is_empty());
    // The user's files are as they were.
    assert_eq!(read(user.path(), "notes/untracked.md").as_deref(), Some("mine\n"));
}

#[test]
fn conversations_on_the_same_repository_get_worktrees_of_their_own() {
    let user = user_repo();
    let state = tempfile::tempdir().unwrap();
    // Every conversation's copy is a folder named `worktree` (in its own conversation folder).
    let first_dest = state.path().join("c1/worktree");
    let second_dest = state.path().join("c2/worktree");
    let first =
        isolate(user.path(), &first_dest, "openhands/one-11111111", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    let second =
        isolate(user.path(), &second_dest, "openhands/two-22222222", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared)
            .unwrap();
    assert_eq!(read(&second.root, "README.md").as_deref(), Some("hello\n"));
    remove(&first, &first_dest).unwrap();
    assert!(!first_dest.exists());
    assert_eq!(read(&second.root, "README.md").as_deref(), Some("hello\n"), "the other copy is untouched");
    let repo = Repository::open(user.path()).unwrap();
    let names: Vec<String> = repo.worktrees().unwrap().iter().flatten().flatten().map(str::to_owned).collect();
    assert_eq!(names, ["openhands-two-22222222"]);
}

/// A user repository with a remote (a bare repository on disk), a tag and a second branch.
fn user_repo_with_remote() -> (tempfile::TempDir, tempfile::TempDir) {
    let user = user_repo();
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["init", "-q", "--bare"]);
    let d = user.path();
    git(d, &["remote", "add", "origin", remote.path().to_str().unwrap()]);
    git(d, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    git(d, &["fetch", "-q", "origin"]);
    git(d, &["tag", "v1"]);
    git(d, &["branch", "feature"]);
    (user, remote)
}

#[test]
fn a_copy_with_its_own_git_data_is_a_repository_without_the_users_folder() {
    let (user, _remote) = user_repo_with_remote();
    let state = tempfile::tempdir().unwrap();
    let dest = state.path().join("wt");
    let iso = isolate(user.path(), &dest, "openhands/own-1", DEFAULT_COPY_LIMIT_BYTES, GitData::Own).unwrap();
    assert!(matches!(&iso.kind, Kind::Clone { branch, .. } if branch == "openhands/own-1"), "{:?}", iso.kind);
    assert!(dest.join(".git").is_dir(), "the git data is inside the copy");
    // The user's work came over, as for a worktree.
    assert_eq!(read(&dest, "src/lib.rs").as_deref(), Some("fn a() {}\nfn b() {}\n"));
    assert_eq!(read(&dest, "notes/untracked.md").as_deref(), Some("mine\n"));

    // As in a sandbox that sees nothing else: the user's folder out of reach.
    let away = user.path().with_extension("away");
    std::fs::rename(user.path(), &away).unwrap();
    let status = git(&dest, &["status", "--short"]);
    assert_eq!(status, "", "a clean copy at its baseline: {status}");
    let branches = git(&dest, &["branch", "-a", "--format=%(refname:short)"]);
    for b in ["feature", "main", "openhands/own-1", "origin/main"] {
        assert!(branches.lines().any(|l| l == b), "{b} in {branches}");
    }
    assert_eq!(git(&dest, &["tag"]).trim(), "v1");
    assert!(git(&dest, &["log", "--format=%s"]).contains("init"), "the user's history is there");
    assert_eq!(git(&dest, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "openhands/own-1");
    assert!(git(&dest, &["diff", "main", "--stat"]).contains("src/lib.rs"));
    write(&dest, "src/lib.rs", "fn agent() {}\n");
    git(&dest, &["commit", "-qam", "agent's commit"]);
    git(&dest, &["fsck", "--no-progress"]);
    std::fs::rename(&away, user.path()).unwrap();

    // Review sees the agent's commit against the baseline.
    let got = changes(&iso).unwrap();
    assert_eq!(got.iter().map(|c| c.path.display().to_string()).collect::<Vec<_>>(), ["src/lib.rs"]);
    // Objects were copied, not linked: the sandbox's user cannot reach the user's own files through them.
    let packs_or_loose = files_under(&dest.join(".git/objects"));
    assert!(!packs_or_loose.is_empty());
    for (f, _) in packs_or_loose {
        assert_eq!(std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(&f).unwrap()), 1, "{}", f.display());
    }
    // The user's repository got nothing: no branch, no worktree.
    let repo = Repository::open(user.path()).unwrap();
    assert!(repo.find_branch("openhands/own-1", git2::BranchType::Local).is_err());
    assert!(repo.worktrees().unwrap().is_empty());
    // Found again from git alone.
    let found = describe_copy(&dest).unwrap();
    assert!(found.own_git);
    assert_eq!(found.repo.as_deref().map(|p| p.canonicalize().unwrap()), Some(user.path().canonicalize().unwrap()));
    assert_eq!(found.branch.as_deref(), Some("openhands/own-1"));
    assert_eq!(found.baseline, iso.baseline);
    remove(&iso, &dest).unwrap();
    assert!(!dest.exists());
    assert_eq!(read(user.path(), "src/lib.rs").as_deref(), Some("fn a() {}\nfn b() {}\n"));
}

#[test]
fn a_copy_whose_git_settings_the_sandbox_changed_is_not_read_and_pushes_only_where_the_user_said() {
    let (user, remote) = user_repo_with_remote();
    let state = tempfile::tempdir().unwrap();
    let dest = state.path().join("wt");
    let iso = isolate(user.path(), &dest, "openhands/own-2", DEFAULT_COPY_LIMIT_BYTES, GitData::Own).unwrap();
    // The sandbox points review at another folder of the host.
    let elsewhere = tempfile::tempdir().unwrap();
    write(elsewhere.path(), "secret.txt", "host file\n");
    git(&dest, &["config", "core.worktree", elsewhere.path().to_str().unwrap()]);
    let err = changes(&iso).unwrap_err();
    assert!(matches!(err, GitError::Tampered(_)), "{err}");
    git(elsewhere.path(), &["init", "-q"]); // (a repository of its own there changes nothing)
    assert!(matches!(changes(&iso), Err(GitError::Tampered(_))));

    // It sends the push somewhere else: another remote URL, and a rewrite of the user's.
    let evil = tempfile::tempdir().unwrap();
    git(evil.path(), &["init", "-q", "--bare"]);
    let cfg = dest.join(".git/config");
    let mut text =
        std::fs::read_to_string(&cfg).unwrap().replace(&format!("worktree = {}", elsewhere.path().display()), "");
    text = text.replace(remote.path().to_str().unwrap(), evil.path().to_str().unwrap());
    text.push_str(&format!("[url \"{}\"]\n\tinsteadOf = {}\n", evil.path().display(), remote.path().display()));
    std::fs::write(&cfg, text).unwrap();
    write(&dest, "src/lib.rs", "fn pushed() {}\n");
    let auth = push::HttpsAuth { username: "x".into(), token: None };
    let published = push::commit_and_push(&iso, "origin", "openhands/own-2", "the agent's work", &auth).unwrap();
    assert_eq!(published.branch, "openhands/own-2");
    let pushed = git(remote.path(), &["branch", "--list", "openhands/own-2"]);
    assert!(pushed.contains("openhands/own-2"), "pushed to the user's remote: {pushed:?}");
    assert_eq!(git(evil.path(), &["branch"]), "", "nothing went to the sandbox's URL");
    // And a `.git` swapped for a link to another repository is refused.
    std::fs::rename(dest.join(".git"), dest.join("git-moved")).unwrap();
    std::os::unix::fs::symlink(user.path().join(".git"), dest.join(".git")).unwrap();
    assert!(matches!(changes(&iso), Err(GitError::Tampered(_))));
}

#[test]
fn the_patch_holds_new_folders_edits_and_deletions_and_applies_at_the_base() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("src");
    std::fs::create_dir_all(&d).unwrap();
    git(&d, &["init", "-q"]);
    write(&d, "a.txt", "one\n");
    write(&d, "gone.txt", "bye\n");
    git(&d, &["add", "-A"]);
    git(&d, &["commit", "-qm", "init"]);
    let dest = tmp.path().join("copy");
    let iso = isolate(&d, &dest, "openhands/t", DEFAULT_COPY_LIMIT_BYTES, GitData::Own).unwrap();
    write(&dest, "notes/deep/new.txt", "new\n");
    write(&dest, "a.txt", "one\ntwo\n");
    std::fs::remove_file(dest.join("gone.txt")).unwrap();
    let text = patch(&iso).unwrap();
    for path in ["notes/deep/new.txt", "a.txt", "gone.txt"] {
        assert!(text.contains(&format!("diff --git a/{path} b/{path}")), "{path}: {text}");
    }
    std::fs::write(tmp.path().join("p.diff"), &text).unwrap();
    git(&d, &["apply", "--index", tmp.path().join("p.diff").to_str().unwrap()]);
    assert_eq!(read(&d, "notes/deep/new.txt").as_deref(), Some("new\n"));
    assert_eq!(read(&d, "gone.txt"), None);
}

#[test]
fn a_folder_that_is_a_worktree_gets_a_copy_that_is_read_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let main = tmp.path().join("main");
    std::fs::create_dir_all(&main).unwrap();
    git(&main, &["init", "-q"]);
    write(&main, "a.txt", "one\n");
    git(&main, &["add", "-A"]);
    git(&main, &["commit", "-qm", "init"]);
    let folder = tmp.path().join("feature");
    git(&main, &["worktree", "add", "-q", "-b", "feature", folder.to_str().unwrap()]);
    let dest = tmp.path().join("copy");
    let iso = isolate(&folder, &dest, "openhands/w", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    write(&dest, "b.txt", "new\n");
    assert!(patch(&iso).unwrap().contains("+++ b/b.txt"));
    assert_eq!(changes(&iso).unwrap().len(), 1);
    // Git itself lists the copy beside the user's worktree.
    assert!(git(&main, &["worktree", "list"]).contains(dest.canonicalize().unwrap().to_str().unwrap()));
    remove(&iso, &dest).unwrap();
    assert!(!dest.exists());
    assert!(!git(&main, &["branch"]).contains("openhands/w"));
}

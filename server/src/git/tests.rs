//! Against real repositories made in temporary folders (with the git CLI, as a user would).

use std::path::Path;
use std::process::Command;

use super::*;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
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
    let iso = isolate(user.path(), &dest, "openhands/test", DEFAULT_COPY_LIMIT_BYTES).unwrap();
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
    let iso = isolate(user.path(), &dest, "openhands/changes", DEFAULT_COPY_LIMIT_BYTES).unwrap();
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
    let iso =
        isolate(&user.path().join("src"), &state.path().join("wt"), "openhands/sub", DEFAULT_COPY_LIMIT_BYTES).unwrap();
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
    let iso = isolate(d, &state.path().join("copy"), "unused", DEFAULT_COPY_LIMIT_BYTES).unwrap();
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
    let err = isolate(tmp.path(), &state.path().join("copy"), "b", 1024 * 1024).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("too large") && text.contains("limit is 1 MB"), "{text}");
}

#[test]
fn binary_files_are_flagged_without_text() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a.txt", "a\n");
    let state = tempfile::tempdir().unwrap();
    let iso = isolate(tmp.path(), &state.path().join("copy"), "b", DEFAULT_COPY_LIMIT_BYTES).unwrap();
    std::fs::write(iso.root.join("img.png"), [0x89, b'P', b'N', b'G', 0, 1, 2]).unwrap();
    let got = changes(&iso).unwrap();
    assert!(got[0].binary && got[0].proposed.is_none());
}

#[test]
fn merge3_merges_separate_edits_and_refuses_overlapping_ones() {
    let original = "one\ntwo\nthree\nfour\nfive\n";
    let user = "ONE\ntwo\nthree\nfour\nfive\n";
    let agent = "one\ntwo\nthree\nfour\nFIVE\n";
    assert_eq!(merge3(original, user, agent).unwrap().as_deref(), Some("ONE\ntwo\nthree\nfour\nFIVE\n"));
    let clash = "one\ntwo\nthree\nfour\nfive!\n";
    assert_eq!(merge3(original, clash, agent).unwrap(), None);
    assert_eq!(merge3(original, original, agent).unwrap().as_deref(), Some(agent), "user unchanged: the agent's");
    assert_eq!(merge3(original, user, original).unwrap().as_deref(), Some(user), "agent unchanged: the user's");
}

#[test]
fn remove_deletes_the_worktree_and_its_branch() {
    let user = user_repo();
    let state = tempfile::tempdir().unwrap();
    let dest = state.path().join("wt");
    let iso = isolate(user.path(), &dest, "openhands/remove", DEFAULT_COPY_LIMIT_BYTES).unwrap();
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
    let first = isolate(user.path(), &first_dest, "openhands/one-11111111", DEFAULT_COPY_LIMIT_BYTES).unwrap();
    let second = isolate(user.path(), &second_dest, "openhands/two-22222222", DEFAULT_COPY_LIMIT_BYTES).unwrap();
    assert_eq!(read(&second.root, "README.md").as_deref(), Some("hello\n"));
    remove(&first, &first_dest).unwrap();
    assert!(!first_dest.exists());
    assert_eq!(read(&second.root, "README.md").as_deref(), Some("hello\n"), "the other copy is untouched");
    let repo = Repository::open(user.path()).unwrap();
    let names: Vec<String> = repo.worktrees().unwrap().iter().flatten().flatten().map(str::to_owned).collect();
    assert_eq!(names, ["openhands-two-22222222"]);
}

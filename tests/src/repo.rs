//! Real git repositories for tests, made with the git CLI as a user would.

use std::path::Path;
use std::process::Command;

/// Runs git in `dir` with a fixed identity and default branch; panics with git's stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file below `root` (for "this was written nowhere" checks). Links are listed, never followed: one that
/// points out of `root` must not make the walk read what is outside.
pub fn files_under(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) { stack.push(path) } else { out.push(path) }
        }
    }
    out
}

/// A repository at `root/<name>` with one committed file (`file`, which may be in a subfolder, holding `text`), for
/// each of `repos`: the folders of a task across repositories. Their paths, in order.
pub fn repositories(root: &Path, repos: &[(&str, &str, &str)]) -> Vec<std::path::PathBuf> {
    repos
        .iter()
        .map(|(name, file, text)| {
            let dir = root.join(name);
            std::fs::create_dir_all(dir.join(file).parent().expect("a file's folder")).expect("the repository");
            git(&dir, &["init", "-q"]);
            std::fs::write(dir.join(file), text).expect("its file");
            git(&dir, &["add", "-A"]);
            git(&dir, &["commit", "-qm", "init"]);
            dir
        })
        .collect()
}

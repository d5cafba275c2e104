//! The agent's work in a copy as one patch against the baseline, in `git diff` format with new files and binary
//! changes included: what `git apply` takes at the commit the copy started from (a batch run's `model_patch`).

use git2::{DiffFormat, DiffOptions};

use super::{GitError, Isolated, open_copy, ready};

pub fn patch(iso: &Isolated) -> Result<String, GitError> {
    ready();
    let repo = open_copy(iso)?;
    let tree = repo.find_commit(iso.baseline)?.tree()?;
    let mut opts = DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true).show_binary(true);
    let diff = repo.diff_tree_to_workdir(Some(&tree), Some(&mut opts))?;
    let mut out = Vec::new();
    diff.print(DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            out.push(line.origin() as u8);
        }
        out.extend_from_slice(line.content());
        true
    })?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

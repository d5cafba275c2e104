//! Checkpoints: the cost of recording one agent step (a repository of 10,000 files, a step that rewrites a 5 MB
//! file and two small ones), in time and disk, and of restoring an earlier checkpoint; beside the git command line
//! doing the same the way shadow-git checkpoints of other agents do (`git add -A` into an index of its own,
//! `write-tree`, `commit-tree`, `update-ref`; restore with `read-tree -u --reset` and `clean`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use openhands_lsp::git::checkpoint::{self, Mark};
use openhands_lsp::git::{GitData, Isolated};

use super::Row;

const FILES: usize = 10_000;
const BIG: usize = 5 * 1024 * 1024;

fn git(dir: &Path, index: Option<&Path>, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(dir);
    if let Some(index) = index {
        cmd.env("GIT_INDEX_FILE", index);
    }
    let out = cmd.output().with_context(|| format!("git {args:?}"))?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A repository of `FILES` small files in 100 folders and a 5 MB file, committed; and its conversation copy.
fn repository(root: &Path) -> Result<Isolated> {
    let src = root.join("repo");
    for i in 0..FILES {
        let dir = src.join(format!("dir{:03}", i % 100));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("file{i:05}.txt")), format!("file {i}\n").repeat(20))?;
    }
    std::fs::write(src.join("big.txt"), big(0))?;
    git(&src, None, &["init", "-q"])?;
    git(&src, None, &["add", "-A"])?;
    git(&src, None, &["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"])?;
    Ok(openhands_lsp::git::isolate(&src, &root.join("copy"), "openhands/bench", u64::MAX, GitData::Shared)?)
}

/// 5 MB of text that compresses as source does not (each step's differs).
fn big(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..BIG)
        .map(|i| {
            if i % 80 == 79 {
                return b'\n';
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"abcdefghijklmnopqrstuvwxyz0123456789 "[(x % 37) as usize]
        })
        .collect()
}

/// One agent step: the big file rewritten, one small file changed, one added.
fn step(copy: &Path, n: u64) -> Result<()> {
    std::fs::write(copy.join("big.txt"), big(n))?;
    std::fs::write(copy.join("dir007/file00007.txt"), format!("changed in step {n}\n"))?;
    std::fs::write(copy.join(format!("new{n}.txt")), "new\n")?;
    Ok(())
}

/// Bytes of the files under `path` (their sizes: the blocks a file takes are counted by the file system only once
/// it is written back, which can be after the measurement).
fn du(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.is_dir() {
        std::fs::read_dir(path).map(|d| d.flatten().map(|e| du(&e.path())).sum()).unwrap_or(0)
    } else {
        meta.len()
    }
}

pub fn checkpoints(runs: usize, only: Option<&str>) -> Result<Vec<Row>> {
    let wanted = |scenario: &str| only.is_none_or(|o| scenario.contains(o));
    let tmp = tempfile::tempdir()?;
    let iso = repository(tmp.path())?;
    let copy = iso.root.clone();
    let objects = tmp.path().join("repo/.git/objects");
    let index = tmp.path().join("checkpoints.index");
    let conv = "0123456789abcdef0123456789abcdef";
    let (mut ours, mut ours_disk, mut first) = (Vec::new(), Vec::new(), Duration::ZERO);
    let mut parent = None;
    for n in 1..=runs as u64 + 1 {
        step(&copy, n)?;
        let before = du(&objects);
        let started = Instant::now();
        let id = format!("event-{n}");
        let made = checkpoint::record(&iso, conv, &index, parent, &Mark { event_id: &id })?.context("no checkpoint")?;
        let took = started.elapsed();
        // Fast by being right: the step's three files, and only they.
        let expected = vec!["big.txt".to_owned(), "dir007/file00007.txt".to_owned(), format!("new{n}.txt")];
        if n > 1 && made.files != expected {
            bail!("checkpoint {} holds {:?}, not the step's {expected:?}", made.number, made.files);
        }
        parent = Some(made.number);
        // The first of a conversation builds its index from the copy's own.
        if n == 1 {
            first = took;
        } else {
            ours.push(took);
            ours_disk.push(du(&objects).saturating_sub(before) as f64 / (1024.0 * 1024.0));
        }
    }
    let mut restores = Vec::new();
    for i in 0..runs {
        // Back to the first checkpoint, then to the last: each restore puts back the 5 MB file and two small ones.
        let target = if i % 2 == 0 { 1 } else { parent.unwrap_or(1) };
        let started = Instant::now();
        checkpoint::restore(&iso, conv, &index, target)?;
        restores.push(started.elapsed());
    }

    // The git command line, the same steps on the same copy, with an index of its own.
    let peer_index = tmp.path().join("peer.index");
    let (mut peer, mut peer_disk, mut peer_restores) = (Vec::new(), Vec::new(), Vec::new());
    let mut peer_parent = git(&copy, None, &["rev-parse", "HEAD"])?;
    let mut commits = Vec::new();
    for n in 1..=runs as u64 + 1 {
        step(&copy, 100 + n)?;
        let before = du(&objects);
        let started = Instant::now();
        git(&copy, Some(&peer_index), &["add", "-A", "."])?;
        let tree = git(&copy, Some(&peer_index), &["write-tree"])?;
        let commit = git(
            &copy,
            None,
            &[
                "-c",
                "user.name=b",
                "-c",
                "user.email=b@b",
                "commit-tree",
                &tree,
                "-p",
                &peer_parent,
                "-m",
                "checkpoint",
            ],
        )?;
        git(&copy, None, &["update-ref", &format!("refs/peer/{n}"), &commit])?;
        let took = started.elapsed();
        if n > 1 {
            peer.push(took);
            peer_disk.push(du(&objects).saturating_sub(before) as f64 / (1024.0 * 1024.0));
        }
        commits.push(commit.clone());
        peer_parent = commit;
    }
    for i in 0..runs {
        let target = if i % 2 == 0 { &commits[0] } else { &peer_parent };
        let started = Instant::now();
        git(&copy, Some(&peer_index), &["read-tree", "-u", "--reset", target])?;
        git(&copy, Some(&peer_index), &["clean", "-fdq"])?;
        peer_restores.push(started.elapsed());
    }

    let group = "checkpoint";
    let mut rows = Vec::new();
    let mut push = |name: &str, row: Row| {
        if wanted(name) {
            rows.push(row);
        }
    };
    let name = "openhands-lsp: record a step (10,000 files; 5 MB file rewritten, 2 small files)";
    push(name, Row::new(group, name, ours));
    let name = "git CLI, shadow-git way (add -A, write-tree, commit-tree, update-ref): record a step";
    push(name, Row::new(group, name, peer));
    let name = "openhands-lsp: first checkpoint of a conversation (index from the copy's own)";
    push(name, Row::new(group, name, vec![first]));
    let name = "openhands-lsp: disk per step";
    push(name, Row::values(group, name, "MB", ours_disk));
    let name = "git CLI, shadow-git way: disk per step";
    push(name, Row::values(group, name, "MB", peer_disk));
    let name = "openhands-lsp: restore a checkpoint (5 MB file and 2 small ones back)";
    push(name, Row::new(group, name, restores));
    let name = "git CLI, shadow-git way (read-tree -u --reset, clean -fd): restore";
    push(name, Row::new(group, name, peer_restores));
    Ok(rows)
}

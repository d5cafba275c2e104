//! The files of a conversation's copy read into an index of checkpoints, cheaply: one walk of the copy (ignored
//! files skipped, as git skips them), each file's stat data compared with the index's, and only the files whose
//! stat changed read, hashed (once) and written as objects. A large file is written uncompressed
//! ([`super::loose`]). libgit2's own status walk hashes a changed file to tell whether it changed, and then adding
//! it hashed it again: 5 MB twice, on every step.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use git2::{Index, IndexEntry, IndexTime, Oid, Repository};
use sha1::{Digest, Sha1};

use super::loose;
use crate::platform::{self, path_bytes, path_from_bytes};

/// Files above this size are written uncompressed: compressing 5 MB costs 150 ms here, and a step must not. (git's
/// next `gc` packs them, compressed and as deltas of each other.)
const STORED_ABOVE: usize = 512 * 1024;

const MODE_FILE: u32 = 0o100644;
const MODE_EXECUTABLE: u32 = 0o100755;
const MODE_LINK: u32 = 0o120000;
const MODE_GITLINK: u32 = 0o160000;

/// Brings `index` in step with the files under `workdir`; returns the paths that changed (sorted, as git stores
/// them: bytes).
/// `written` is when the index was last written: an entry changed in that same instant may not show in its stat
/// data ("racily clean", as git calls it) and is read again.
pub fn sync(repo: &Repository, index: &mut Index, workdir: &Path, written: Option<(i64, i64)>) -> Vec<Vec<u8>> {
    let known: Known = index.iter().map(|e| (e.path.clone(), (e, AtomicBool::new(false)))).collect();
    let objects = repo.commondir().join("objects");
    let candidates = walk(workdir, &known, written);
    let mut changed = Vec::new();
    for key in candidates {
        let path = workdir.join(path_from_bytes(&key));
        if let Err(e) = look_at(repo, index, &objects, &path, &key, known.get(&key).map(|(e, _)| e), &mut changed) {
            tracing::debug!("checkpoint: {}: {e}", path.display());
        }
    }
    // What the walk did not see: gone, or tracked though ignored now (git keeps tracking those).
    for (key, (before, _)) in known.iter().filter(|(_, (_, seen))| !seen.load(Ordering::Relaxed)) {
        if before.mode == MODE_GITLINK {
            continue;
        }
        let path = workdir.join(path_from_bytes(key));
        let result = match std::fs::symlink_metadata(&path) {
            Ok(meta) if stat_says_same(before, &meta, written) => Ok(()),
            Ok(_) => look_at(repo, index, &objects, &path, key, Some(before), &mut changed),
            Err(_) => {
                changed.push(key.clone());
                index.remove_path(&path_from_bytes(key))
            }
        };
        if let Err(e) = result {
            tracing::debug!("checkpoint: {}: {e}", path.display());
        }
    }
    changed.sort();
    changed
}

/// The index's entries by path, each marked once the walk has seen its file.
type Known = HashMap<Vec<u8>, (IndexEntry, AtomicBool)>;

/// Walks the copy on two threads (its time is the file system's: a `stat` per file), marking the entries it sees;
/// returns the paths whose stat data differs from their entry's (or that have none).
fn walk(workdir: &Path, known: &Known, written: Option<(i64, i64)>) -> Vec<Vec<u8>> {
    let found: Found = std::sync::Mutex::new(Vec::new());
    ignore::WalkBuilder::new(workdir)
        .hidden(false)
        .parents(false)
        // git's ignores only (not ripgrep's `.ignore` files).
        .ignore(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        .require_git(false)
        .threads(2)
        // The copy's git data, and repositories nested in it (git leaves those to themselves).
        .filter_entry(|e| e.file_name() != ".git")
        .build_parallel()
        .run(|| {
            let mut batch = Batch { found: &found, differ: Vec::new() };
            Box::new(move |item| {
                let Ok(item) = item else { return ignore::WalkState::Continue };
                if item.file_type().is_none_or(|t| t.is_dir()) {
                    return ignore::WalkState::Continue;
                }
                let Ok(rel) = item.path().strip_prefix(workdir) else { return ignore::WalkState::Continue };
                let key = path_bytes(rel);
                let same = match known.get(&*key) {
                    Some((e, seen)) => {
                        seen.store(true, Ordering::Relaxed);
                        std::fs::symlink_metadata(item.path()).is_ok_and(|meta| stat_says_same(e, &meta, written))
                    }
                    None => false,
                };
                if !same {
                    batch.differ.push(key.to_vec());
                }
                ignore::WalkState::Continue
            })
        });
    found.into_inner().unwrap_or_else(|p| p.into_inner())
}

type Found = std::sync::Mutex<Vec<Vec<u8>>>;

/// One walking thread's findings, handed over when the thread is done with it.
struct Batch<'a> {
    found: &'a Found,
    differ: Vec<Vec<u8>>,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.found.lock().unwrap_or_else(|p| p.into_inner()).append(&mut self.differ);
    }
}

/// The entry's stat data matches the file's, and the file did not change in the instant the index was written.
fn stat_says_same(e: &IndexEntry, meta: &std::fs::Metadata, written: Option<(i64, i64)>) -> bool {
    mode_of(meta).is_some_and(|mode| same_stat(e, meta, mode)) && !racy(e, written)
}

/// The git mode of what `meta` describes: a link, an executable or a plain file (`None`: nothing git keeps, such as
/// a socket or a fifo).
fn mode_of(meta: &std::fs::Metadata) -> Option<u32> {
    if meta.file_type().is_symlink() {
        Some(MODE_LINK)
    } else if !meta.is_file() {
        None
    } else if platform::mode(meta) & 0o100 != 0 {
        Some(MODE_EXECUTABLE)
    } else {
        Some(MODE_FILE)
    }
}

/// One path of the copy whose stat data changed: read, hashed, written when new, and put in the index.
fn look_at(
    repo: &Repository,
    index: &mut Index,
    objects: &Path,
    path: &Path,
    key: &[u8],
    before: Option<&IndexEntry>,
    changed: &mut Vec<Vec<u8>>,
) -> Result<(), git2::Error> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| git2::Error::from_str(&e.to_string()))?;
    let Some(mode) = mode_of(&meta) else { return Ok(()) };
    let bytes = if mode == MODE_LINK {
        std::fs::read_link(path).map(|t| t.into_os_string().into_encoded_bytes())
    } else {
        std::fs::read(path)
    }
    .map_err(|e| git2::Error::from_str(&e.to_string()))?;
    let id = blob_id(&bytes)?;
    if before.is_some_and(|e| e.id == id && e.mode == mode) {
        // Touched, not changed: only its stat data is new.
        return index.add(&entry(&meta, id, mode, key));
    }
    let odb = repo.odb()?;
    if !odb.exists(id) {
        if bytes.len() > STORED_ABOVE {
            loose::write_stored(objects, id, &bytes).map_err(|e| git2::Error::from_str(&e.to_string()))?;
        } else {
            odb.write(git2::ObjectType::Blob, &bytes)?;
        }
    }
    changed.push(key.to_vec());
    index.add(&entry(&meta, id, mode, key))
}

/// A blob's id, with SHA-1 in the CPU's own instructions where it has them (git's collision-detecting SHA-1, which
/// libgit2 uses, is several times slower: 11 ms for 5 MB here).
fn blob_id(bytes: &[u8]) -> Result<Oid, git2::Error> {
    let mut hash = Sha1::new();
    hash.update(format!("blob {}\0", bytes.len()).as_bytes());
    hash.update(bytes);
    Oid::from_bytes(&hash.finalize())
}

fn same_stat(e: &IndexEntry, meta: &std::fs::Metadata, mode: u32) -> bool {
    e.mode == mode && e.file_size == meta.len() as u32 && {
        let stat = platform::stat(meta);
        (e.mtime.seconds(), e.mtime.nanoseconds()) == (stat.mtime.0 as i32, stat.mtime.1 as u32)
            && (e.ctime.seconds(), e.ctime.nanoseconds()) == (stat.ctime.0 as i32, stat.ctime.1 as u32)
            && e.ino == stat.ino as u32
    }
}

/// Changed in the instant the index was written: a later change in that instant would not show in the stat data.
fn racy(e: &IndexEntry, written: Option<(i64, i64)>) -> bool {
    let Some((secs, nanos)) = written else { return true };
    (i64::from(e.mtime.seconds()), i64::from(e.mtime.nanoseconds())) >= (secs, nanos)
}

/// An index entry with the path's stat data, so the next look at the copy need not read it again.
fn entry(meta: &std::fs::Metadata, id: Oid, mode: u32, key: &[u8]) -> IndexEntry {
    let time = |(secs, nanos): (i64, i64)| IndexTime::new(secs as i32, nanos as u32);
    let stat = platform::stat(meta);
    IndexEntry {
        ctime: time(stat.ctime),
        mtime: time(stat.mtime),
        dev: stat.dev as u32,
        ino: stat.ino as u32,
        mode,
        uid: stat.uid,
        gid: stat.gid,
        file_size: meta.len() as u32,
        id,
        flags: key.len().min(0xfff) as u16,
        flags_extended: 0,
        path: key.to_vec(),
    }
}

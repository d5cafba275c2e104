//! A remote engine's containers see none of this machine's folders. The conversation's copy (and its extra folders,
//! and the agent-server's record) go into the container as an archive before it starts; what the agent changed comes
//! back the same way, into the same folders, where review, apply and the record's keeping find it as with a mount.
//!
//! What changed is asked of the container, not downloaded whole: `find` lists its files, and those whose status
//! changed after the upload (`-cnewer` a marker made once the upload was in; `-newer` where `find` lacks it) or that
//! the copy lacks are fetched as one archive that `tar` makes in the container (one archive request each where it has
//! no `tar`). Files git ignores (build outputs the agent made) stay there.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder};
use futures::{StreamExt, TryStreamExt};

use super::handle::{exec_stdout, exec_streamed};
use super::{AGENT_RECORD_DIR, CONTAINER_FOLDERS, CONTAINER_WORKSPACE};
use crate::sandbox::{FilesBack, SandboxError, SandboxSpec};

/// Made in the container once the upload is in: files whose status changed after it are the agent's doing.
const MARKER: &str = "/tmp/agent-server-state/.openhands-lsp-uploaded";

/// Files fetched at once when changes come back one by one.
const FETCHES: usize = 8;

/// Files named to one `tar` in the container (its command line has room for some 100 kB of names).
const BATCH: usize = 500;

/// One folder of this machine placed in the container.
#[derive(Debug, Clone)]
pub(super) struct Placed {
    /// Its path in the container (absolute).
    pub container: String,
    pub host: PathBuf,
    /// The agent-server's record: brought back whole (it is small and has no ignore rules).
    pub whole: bool,
}

/// What a remote engine's container gets uploaded: the workspace, the extra folders, the agent-server's record.
pub(super) fn placed(spec: &SandboxSpec) -> Vec<Placed> {
    let folder = |container: String, host: &Path, whole| Placed { container, host: host.to_owned(), whole };
    let mut placed = vec![folder(CONTAINER_WORKSPACE.into(), &spec.workspace, false)];
    placed.extend(spec.folders.iter().map(|(name, host)| folder(format!("{CONTAINER_FOLDERS}/{name}"), host, false)));
    placed.extend(spec.agent_record.iter().map(|record| folder(AGENT_RECORD_DIR.into(), record, true)));
    placed
}

/// The sandbox's [`FilesBack`]: brings the changes in container `id` back into `placed`.
pub(super) fn back(docker: &Docker, id: &str, placed: Vec<Placed>) -> FilesBack {
    let (docker, id, placed) = (docker.clone(), id.to_owned(), Arc::new(placed));
    Arc::new(move || {
        let (docker, id, placed) = (docker.clone(), id.clone(), placed.clone());
        Box::pin(async move { bring_back(&docker, &id, &placed).await })
    })
}

/// Uploads a remote engine's folders into the created container, owned by the agent's user (its ids, or its name
/// in the image); returns them.
pub(super) async fn upload_as(
    docker: &Docker,
    id: &str,
    placed: Vec<Placed>,
    owner: Result<(u32, u32), Option<&str>>,
) -> Result<Vec<Placed>, SandboxError> {
    let began = std::time::Instant::now();
    let owner = match owner {
        Ok(ids) => ids,
        Err(Some(user)) => super::handle::ids_before_start(docker, id, user).await.unwrap_or((0, 0)),
        Err(None) => (0, 0),
    };
    upload(docker, id, &placed, owner).await?;
    tracing::debug!(container = super::short(id), "workspace uploaded in {:?}", began.elapsed());
    Ok(placed)
}

/// Uploads `placed` into the (created, not yet started) container, owned by `owner` (uid, gid) there. Streamed: a
/// large copy is never held in memory.
pub(super) async fn upload(
    docker: &Docker,
    id: &str,
    placed: &[Placed],
    owner: (u32, u32),
) -> Result<(), SandboxError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(16);
    let folders = placed.to_vec();
    let writer = tokio::task::spawn_blocking(move || {
        let mut builder = tar::Builder::new(ChannelWriter { tx: tx.clone(), buffer: Vec::with_capacity(CHUNK) });
        builder.follow_symlinks(false);
        let written = folders.iter().try_for_each(|p| append_tree(&mut builder, &p.host, &p.container, owner));
        let finished = written.and_then(|()| builder.into_inner()).and_then(|mut w| w.flush());
        if let Err(e) = &finished {
            // The request fails with it rather than upload a part of the workspace.
            let _ = tx.blocking_send(Err(std::io::Error::new(e.kind(), e.to_string())));
        }
        finished
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let options = UploadToContainerOptionsBuilder::default().path("/").build();
    // No request time limit: a large copy over a slow network takes what it takes.
    let uploader = docker.clone().with_timeout(Duration::from_secs(u64::from(u32::MAX)));
    let sent = uploader.upload_to_container(id, Some(options), bollard::body_try_stream(stream)).await;
    let written = writer.await.map_err(|e| SandboxError::Io(e.to_string()))?;
    written.map_err(|e| SandboxError::Io(format!("reading the workspace to upload it: {e}")))?;
    sent.map_err(|e| SandboxError::Docker(format!("uploading the workspace into the container: {e}")))
}

/// Where the agent's changes are told from: made once the upload is in and the container runs.
pub(super) async fn mark_uploaded(docker: &Docker, id: &str) -> Result<(), SandboxError> {
    exec_stdout(docker, id, vec!["touch".into(), MARKER.into()]).await.map(drop)
}

/// Writes what changed in the container into the placed folders; returns how many files changed here.
async fn bring_back(docker: &Docker, id: &str, placed: &[Placed]) -> Result<usize, SandboxError> {
    let mut changed = 0;
    for folder in placed {
        changed += if folder.whole {
            bring_back_whole(docker, id, folder).await?
        } else {
            bring_back_tree(docker, id, folder).await?
        };
    }
    Ok(changed)
}

/// Lists the container's files under `folder` (all, and those changed since the upload), fetches what differs from
/// the host's, and removes from the host what the container no longer has.
async fn bring_back_tree(docker: &Docker, id: &str, folder: &Placed) -> Result<usize, SandboxError> {
    let script = r#"cd "$1" || exit 3
if find . -maxdepth 0 -cnewer "$2" >/dev/null 2>&1; then since=-cnewer; else since=-newer; fi
find . -path ./.git -prune -o ! -type d -print0
printf '//\0'
find . -path ./.git -prune -o ! -type d "$since" "$2" -print0"#;
    let cmd = ["sh", "-c", script, "sh", &folder.container, MARKER].map(str::to_owned).to_vec();
    let listing = exec_stdout(docker, id, cmd).await?;
    let (all, newer) = split_listing(&listing);
    let host = folder.host.clone();
    let plan = tokio::task::spawn_blocking(move || plan_tree(&host, &all, &newer))
        .await
        .map_err(|e| SandboxError::Io(e.to_string()))??;
    let Plan { fetch, remove } = plan;
    let mut fetched = 0;
    let mut one_by_one = Vec::new();
    for batch in fetch.chunks(BATCH) {
        match fetch_batch(docker, id, folder, batch).await? {
            Some(wrote) => fetched += wrote,
            None => one_by_one.extend_from_slice(batch),
        }
    }
    fetched += futures::stream::iter(one_by_one)
        .map(|rel| async move { fetch_file(docker, id, folder, &rel).await })
        .buffer_unordered(FETCHES)
        .try_fold(0, |n, wrote| async move { Ok(n + usize::from(wrote)) })
        .await?;
    let host = folder.host.clone();
    let removed = tokio::task::spawn_blocking(move || remove_gone(&host, &remove))
        .await
        .map_err(|e| SandboxError::Io(e.to_string()))??;
    Ok(fetched + removed)
}

/// The container's two lists: every file, then the files changed since the upload (`./`-relative, NUL-separated,
/// the two parted by `//`, which `find` never prints).
fn split_listing(listing: &[u8]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut all = Vec::new();
    let mut newer = Vec::new();
    let mut second = false;
    for item in listing.split(|b| *b == 0).filter(|i| !i.is_empty()) {
        if item == b"//" {
            second = true;
            continue;
        }
        let Some(rel) = relative(item) else { continue };
        if second { newer.push(rel) } else { all.push(rel) }
    }
    (all, newer)
}

/// A path `find` printed (`./a/b`) as a relative path that stays inside the folder.
fn relative(item: &[u8]) -> Option<PathBuf> {
    let text = String::from_utf8_lossy(item);
    let path = Path::new(text.strip_prefix("./")?);
    path.components().all(|c| matches!(c, Component::Normal(_))).then(|| path.to_owned())
}

/// What to fetch and what to remove, git's ignore rules applied on the host's copy.
#[derive(Debug, Default)]
struct Plan {
    fetch: Vec<PathBuf>,
    remove: Vec<PathBuf>,
}

fn plan_tree(host: &Path, all: &[PathBuf], newer: &[PathBuf]) -> Result<Plan, SandboxError> {
    let mut ignored = Ignored::new(host);
    let there: HashSet<&PathBuf> = all.iter().collect();
    let here = host_files(host);
    let mut fetch: Vec<PathBuf> = newer.iter().filter(|p| !ignored.is(p)).cloned().collect();
    let wanted: HashSet<PathBuf> = fetch.iter().cloned().collect();
    fetch.extend(all.iter().filter(|p| !here.contains(*p) && !wanted.contains(*p) && !ignored.is(p)).cloned());
    let remove = here.into_iter().filter(|p| !there.contains(p) && !ignored.is(p)).collect();
    Ok(Plan { fetch, remove })
}

/// The files (and links) of the host's copy, `.git` left out.
fn host_files(root: &Path) -> HashSet<PathBuf> {
    let walk = ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .filter_entry(|e| e.depth() != 1 || e.file_name() != ".git")
        .build();
    walk.flatten()
        .filter(|e| e.file_type().is_some_and(|t| !t.is_dir()))
        .filter_map(|e| e.path().strip_prefix(root).ok().map(Path::to_path_buf))
        .collect()
}

/// git's ignore rules of the host's copy (none where it is no repository), a folder's answer kept for its files.
struct Ignored {
    repo: Option<git2::Repository>,
    folders: HashMap<PathBuf, bool>,
}

impl Ignored {
    fn new(root: &Path) -> Self {
        Ignored { repo: git2::Repository::open(root).ok(), folders: HashMap::new() }
    }

    fn is(&mut self, rel: &Path) -> bool {
        let Some(repo) = &self.repo else { return false };
        let mut folder = PathBuf::new();
        for part in rel.parent().into_iter().flat_map(Path::components) {
            folder.push(part);
            let ignored = *self
                .folders
                .entry(folder.clone())
                .or_insert_with(|| repo.is_path_ignored(format!("{}/", folder.display())).unwrap_or(false));
            if ignored {
                return true;
            }
        }
        repo.is_path_ignored(rel).unwrap_or(false)
    }
}

/// Fetches `rels` of `folder` as one archive made by `tar` in the container, streamed into the host's copy; how many
/// changed here. `None` when that `tar` failed (none there, or a file went meanwhile): then they come one by one.
async fn fetch_batch(
    docker: &Docker,
    id: &str,
    folder: &Placed,
    rels: &[PathBuf],
) -> Result<Option<usize>, SandboxError> {
    let mut cmd = ["sh", "-c", r#"cd "$1" && shift && exec tar -cf - -- "$@""#, "sh", &folder.container]
        .map(str::to_owned)
        .to_vec();
    cmd.extend(rels.iter().map(|rel| rel.to_string_lossy().into_owned()));
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let root = folder.host.clone();
    let unpack =
        tokio::task::spawn_blocking(move || unpack_changed(ChannelReader { rx, piece: bytes::Bytes::new() }, &root));
    let code = exec_streamed(docker, id, cmd, tx).await;
    let written = unpack.await.map_err(|e| SandboxError::Io(e.to_string()))?;
    let written = written
        .map_err(|e| SandboxError::Io(format!("writing the agent's changes to {}: {e}", folder.host.display())))?;
    Ok((code? == 0).then_some(written))
}

/// Writes each entry of a `tar` of files (paths relative to the folder) into `root` where it differs; how many did.
fn unpack_changed(reader: impl std::io::Read, root: &Path) -> std::io::Result<usize> {
    let mut archive = tar::Archive::new(reader);
    let mut written = 0;
    for entry in archive.entries()? {
        let entry = entry?;
        let path = entry.path()?.into_owned();
        let rel: PathBuf = path.components().filter(|c| !matches!(c, Component::CurDir)).collect();
        if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            continue;
        }
        // Never through a link the copy has where the container has a folder (see `fetch_file`).
        unlink_parents(root, &rel)?;
        written += usize::from(write_tar_entry(entry, &root.join(&rel))?);
    }
    Ok(written)
}

/// The pieces of a stream as one `Read`, for the `tar` reader on a blocking thread.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    piece: bytes::Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.piece.is_empty() {
            match self.rx.blocking_recv() {
                Some(piece) => self.piece = piece,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len());
        buf[..n].copy_from_slice(&self.piece.split_to(n));
        Ok(n)
    }
}

/// Fetches one file (or link) of the container into the host's copy; true when the host's changed.
async fn fetch_file(docker: &Docker, id: &str, folder: &Placed, rel: &Path) -> Result<bool, SandboxError> {
    let path = format!("{}/{}", folder.container.trim_end_matches('/'), rel.to_string_lossy());
    let archive = download(docker, id, &path).await;
    let archive = match archive {
        Ok(a) => a,
        // Gone since it was listed (the agent is still at work): the next bring-back tells.
        Err(e) if e.contains("404") || e.contains("No such") => return Ok(false),
        Err(e) => return Err(SandboxError::Docker(format!("bringing {} back from the container: {e}", rel.display()))),
    };
    let (root, rel_owned) = (folder.host.clone(), rel.to_owned());
    tokio::task::spawn_blocking(move || {
        // The container has folders where the host's copy may have links (the agent replaced one): never write
        // through a link, out of the copy.
        unlink_parents(&root, &rel_owned)?;
        write_entry(&archive, &root.join(&rel_owned))
    })
    .await
    .map_err(|e| SandboxError::Io(e.to_string()))?
    .map_err(|e| SandboxError::Io(format!("writing the agent's change to {}: {e}", folder.host.join(rel).display())))
}

async fn download(docker: &Docker, id: &str, path: &str) -> Result<Vec<u8>, String> {
    let options = DownloadFromContainerOptionsBuilder::default().path(path).build();
    let mut stream = docker.download_from_container(id, Some(options));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
    }
    Ok(bytes)
}

/// Writes the archive's one entry at `target` when it differs (content, link target or executable bit).
fn write_entry(archive: &[u8], target: &Path) -> std::io::Result<bool> {
    let mut archive = tar::Archive::new(archive);
    let Some(entry) = archive.entries()?.next() else { return Ok(false) };
    write_tar_entry(entry?, target)
}

/// Writes `entry` at `target` when it differs (content, link target or executable bit).
fn write_tar_entry<R: std::io::Read>(mut entry: tar::Entry<'_, R>, target: &Path) -> std::io::Result<bool> {
    let kind = entry.header().entry_type();
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let here = std::fs::symlink_metadata(target).ok();
    if kind.is_symlink() {
        let Some(link) = entry.link_name()?.map(|l| l.into_owned()) else { return Ok(false) };
        if here.as_ref().is_some_and(|m| m.is_symlink()) && std::fs::read_link(target).ok().as_ref() == Some(&link) {
            return Ok(false);
        }
        remove_any(target)?;
        crate::platform::symlink(&link, target)?;
        return Ok(true);
    }
    if !kind.is_file() {
        return Ok(false);
    }
    let wanted = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
    let mut content = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut content)?;
    let same_content = here.as_ref().is_some_and(|m| m.is_file()) && std::fs::read(target).is_ok_and(|c| c == content);
    let was = here.as_ref().filter(|m| m.is_file()).map(executable);
    if same_content && was == Some(wanted) {
        return Ok(false);
    }
    if !same_content {
        if here.as_ref().is_some_and(|m| !m.is_file()) {
            remove_any(target)?;
        }
        std::fs::write(target, &content)?;
    }
    crate::git::entry::set_executable(target, wanted)?;
    // Where the system keeps no executable bit (Windows), a mode alone changes nothing here.
    Ok(!same_content || was != Some(executable(&std::fs::symlink_metadata(target)?)))
}

fn executable(meta: &std::fs::Metadata) -> bool {
    crate::platform::mode(meta) & 0o111 != 0
}

/// Removes the links among `rel`'s parent folders in `root`.
fn unlink_parents(root: &Path, rel: &Path) -> std::io::Result<()> {
    let mut at = root.to_path_buf();
    for part in rel.parent().into_iter().flat_map(Path::components) {
        at.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_symlink()) {
            std::fs::remove_file(&at)?;
        }
    }
    Ok(())
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes the host's files the container no longer has, and the folders that leaves empty.
fn remove_gone(root: &Path, gone: &[PathBuf]) -> Result<usize, SandboxError> {
    for rel in gone {
        let path = root.join(rel);
        remove_any(&path).map_err(|e| SandboxError::Io(format!("removing {}: {e}", path.display())))?;
        let mut parent = path.parent();
        while let Some(dir) = parent.filter(|d| *d != root) {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
            parent = dir.parent();
        }
    }
    Ok(gone.len())
}

/// The agent-server's record: fetched whole and written over the host's.
async fn bring_back_whole(docker: &Docker, id: &str, folder: &Placed) -> Result<usize, SandboxError> {
    let archive = download(docker, id, &folder.container)
        .await
        .map_err(|e| SandboxError::Docker(format!("bringing the agent-server's record back: {e}")))?;
    let host = folder.host.clone();
    tokio::task::spawn_blocking(move || unpack_below(&archive, &host))
        .await
        .map_err(|e| SandboxError::Io(e.to_string()))?
        .map_err(|e| SandboxError::Io(format!("writing the agent-server's record to {}: {e}", folder.host.display())))
}

/// Unpacks an archive of a folder (its entries named `folder/…`) into `host`; returns the files written.
fn unpack_below(archive: &[u8], host: &Path) -> std::io::Result<usize> {
    let mut archive = tar::Archive::new(archive);
    let mut written = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let rel: PathBuf = path.components().skip(1).collect();
        if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            continue;
        }
        let target = host.join(&rel);
        match entry.header().entry_type() {
            t if t.is_dir() => std::fs::create_dir_all(&target)?,
            t if t.is_file() => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut content = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut content)?;
                std::fs::write(&target, content)?;
                written += 1;
            }
            _ => {}
        }
    }
    Ok(written)
}

/// The size of the pieces the upload is sent in.
const CHUNK: usize = 256 * 1024;

/// Hands what `tar` writes to the upload's request body, a piece at a time.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let piece = bytes::Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(piece))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload ended early"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Appends `host` (a folder) to the archive as `container` (an absolute path), every entry owned by `owner`.
fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    host: &Path,
    container: &str,
    owner: (u32, u32),
) -> std::io::Result<()> {
    let base = PathBuf::from(container.trim_start_matches('/'));
    let walk = ignore::WalkBuilder::new(host).standard_filters(false).follow_links(false).build();
    for entry in walk {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry.path().strip_prefix(host).map_err(std::io::Error::other)?;
        let name = if rel.as_os_str().is_empty() { base.clone() } else { base.join(rel) };
        let meta = std::fs::symlink_metadata(entry.path())?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_uid(owner.0.into());
        header.set_gid(owner.1.into());
        if meta.is_symlink() {
            let link = std::fs::read_link(entry.path())?;
            builder.append_link(&mut header, &name, &link)?;
        } else if meta.is_dir() {
            builder.append_data(&mut header, &name, std::io::empty())?;
        } else if meta.is_file() {
            let file = std::fs::File::open(entry.path())?;
            builder.append_data(&mut header, &name, file)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_containers_lists_are_read_as_paths_inside_the_folder() {
        let listing = b"./a.txt\0./src/b.rs\0./../escape\0/abs\0//\0./src/b.rs\0";
        let (all, newer) = split_listing(listing);
        assert_eq!(all, [PathBuf::from("a.txt"), PathBuf::from("src/b.rs")]);
        assert_eq!(newer, [PathBuf::from("src/b.rs")]);
    }

    #[test]
    fn changed_and_new_files_are_fetched_ignored_ones_left_and_gone_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git2::Repository::init(root).unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
        for file in ["kept.txt", "changed.txt", "removed.txt", "old.log"] {
            std::fs::write(root.join(file), "x").unwrap();
        }
        let paths = |names: &[&str]| names.iter().map(PathBuf::from).collect::<Vec<_>>();
        let all = paths(&[".gitignore", "kept.txt", "changed.txt", "new.txt", "target/debug/app", "build.log"]);
        let newer = paths(&["changed.txt", "target/debug/app", "build.log"]);
        let plan = plan_tree(root, &all, &newer).unwrap();
        assert_eq!(plan.fetch, paths(&["changed.txt", "new.txt"]));
        // old.log is ignored: the container's lack of it says nothing the review would show.
        assert_eq!(plan.remove, paths(&["removed.txt"]));
    }

    #[test]
    fn an_entry_is_written_only_when_it_differs_and_keeps_its_executable_bit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("bin/run.sh");
        let archive = |content: &[u8], mode: u32| {
            let mut builder = tar::Builder::new(Vec::new());
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(mode);
            header.set_cksum();
            builder.append_data(&mut header, "run.sh", content).unwrap();
            builder.into_inner().unwrap()
        };
        assert!(write_entry(&archive(b"echo hi\n", 0o755), &target).unwrap());
        assert_eq!(std::fs::read(&target).unwrap(), b"echo hi\n");
        assert!(!write_entry(&archive(b"echo hi\n", 0o755), &target).unwrap(), "the same file is not written again");
        #[cfg(all(unix, not(feature = "portable-platform")))]
        {
            assert!(executable(&std::fs::metadata(&target).unwrap()));
            assert!(write_entry(&archive(b"echo hi\n", 0o644), &target).unwrap(), "a mode change comes back");
            assert!(!executable(&std::fs::metadata(&target).unwrap()));
        }
    }

    #[test]
    fn a_tar_of_changed_files_is_written_where_it_differs_never_outside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("copy");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/same.txt"), "same\n").unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        for (name, content) in [("src/same.txt", "same\n"), ("src/new/made.txt", "made\n"), ("./seed.txt", "edited\n")]
        {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, content.as_bytes()).unwrap();
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        header.set_mode(0o644);
        header.as_old_mut().name[..13].copy_from_slice(b"../escape.txt");
        header.set_cksum();
        builder.append(&header, &b"evil"[..]).unwrap();
        let bytes = builder.into_inner().unwrap();
        // Read as the container's stream comes: in small pieces.
        let (tx, rx) = tokio::sync::mpsc::channel(bytes.len());
        for piece in bytes.chunks(100) {
            tx.try_send(bytes::Bytes::copy_from_slice(piece)).unwrap();
        }
        drop(tx);
        let written = unpack_changed(ChannelReader { rx, piece: bytes::Bytes::new() }, &root).unwrap();
        assert_eq!(written, 2, "the unchanged file is not written again");
        assert_eq!(std::fs::read_to_string(root.join("src/new/made.txt")).unwrap(), "made\n");
        assert_eq!(std::fs::read_to_string(root.join("seed.txt")).unwrap(), "edited\n");
        assert!(!dir.path().join("escape.txt").exists(), "nothing outside the folder");
    }

    #[test]
    fn a_folder_goes_up_with_its_owner_and_links_as_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("src/main.rs", dir.path().join("link")).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        append_tree(&mut builder, dir.path(), "/workspace", (10001, 10002)).unwrap();
        let bytes = builder.into_inner().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            assert_eq!((entry.header().uid().unwrap(), entry.header().gid().unwrap()), (10001, 10002));
            seen.push((entry.path().unwrap().display().to_string(), entry.header().entry_type().is_symlink()));
        }
        seen.sort();
        assert!(seen.contains(&("workspace".into(), false)), "{seen:?}");
        assert!(seen.contains(&("workspace/src/main.rs".into(), false)), "{seen:?}");
        #[cfg(unix)]
        assert!(seen.contains(&("workspace/link".into(), true)), "{seen:?}");
    }
}

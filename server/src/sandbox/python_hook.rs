//! The start-up hook openhands-lsp gives the agent-server's Python: fewer full garbage collections while it boots
//! (about a second of a cold start; `sitecustomize.py` says why), and then out of the way of the agent's own
//! commands.
//!
//! Python finds it as `sitecustomize` through `PYTHONPATH`, which keeps what was there before (the image's, or
//! openhands-lsp's own environment's). A container gets it as a file copied in between create and start (no host
//! path to mount, so it works for any image and daemon); a local agent-server, in a folder of the conversation's.

use std::path::Path;

/// The hook's source.
const SOURCE: &str = include_str!("sitecustomize.py");

/// The directory in a container that holds the hook (created by the copy).
pub const CONTAINER_DIR: &str = "/opt/openhands-lsp/python";

/// `PYTHONPATH` for an agent-server: the hook's directory first, then the entries that were there before (the hook
/// takes its directory out again at start-up). `None` when the directory cannot be named in a `PYTHONPATH` (it holds
/// the separator, `:`).
pub fn python_path(hook_dir: &Path, before: Option<&str>) -> Option<String> {
    let before = before.filter(|p| !p.is_empty()).into_iter().flat_map(std::env::split_paths);
    std::env::join_paths(std::iter::once(hook_dir.to_owned()).chain(before)).ok()?.into_string().ok()
}

/// Writes the hook into `dir` for an agent-server on this machine, and returns the `PYTHONPATH` to start it with
/// (openhands-lsp's own after the hook's folder). `None` when the hook cannot be used: the agent-server then starts
/// as it would have without it (the hook is only a speed-up).
pub fn local(dir: &Path) -> Option<String> {
    let path = python_path(dir, std::env::var("PYTHONPATH").ok().as_deref())?;
    let written = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(dir.join("sitecustomize.py"), SOURCE));
    if let Err(e) = written {
        tracing::warn!("the start-up hook was not written to {}: {e}", dir.display());
        return None;
    }
    Some(path)
}

/// A tar archive of the hook, to be extracted at `/` in a container. Only the hook's own directory has an entry:
/// the parents keep their owner and mode (or are created if the image lacks them).
pub fn archive() -> std::io::Result<Vec<u8>> {
    let dir = CONTAINER_DIR.trim_start_matches('/');
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o755);
    header.set_size(0);
    header.set_mtime(0);
    builder.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(SOURCE.len() as u64);
    header.set_mtime(0);
    builder.append_data(&mut header, format!("{dir}/sitecustomize.py"), SOURCE.as_bytes())?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_holds_the_hook_under_its_directory_and_nothing_else() {
        let bytes = archive().unwrap();
        let mut entries = Vec::new();
        let mut archive = tar::Archive::new(bytes.as_slice());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mode = entry.header().mode().unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            entries.push((path, mode, text.len()));
        }
        assert_eq!(
            entries,
            [
                ("opt/openhands-lsp/python/".to_owned(), 0o755, 0),
                ("opt/openhands-lsp/python/sitecustomize.py".to_owned(), 0o644, SOURCE.len()),
            ]
        );
    }

    #[test]
    fn a_local_hook_is_written_and_a_folder_python_cannot_name_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hook");
        let path = local(&dir).unwrap();
        assert!(path.starts_with(dir.to_str().unwrap()), "{path}");
        assert_eq!(std::fs::read_to_string(dir.join("sitecustomize.py")).unwrap(), SOURCE);
        assert_eq!(local(&tmp.path().join("a:b")), None);
        assert!(!tmp.path().join("a:b").exists());
    }

    #[test]
    fn what_was_on_the_python_path_is_kept_after_the_hook() {
        assert_eq!(python_path(Path::new(CONTAINER_DIR), None).as_deref(), Some(CONTAINER_DIR));
        assert_eq!(python_path(Path::new("/h"), Some("")).as_deref(), Some("/h"));
        assert_eq!(python_path(Path::new("/h"), Some("/app/lib:/x")).as_deref(), Some("/h:/app/lib:/x"));
        assert_eq!(python_path(Path::new("/a:b"), None), None);
    }
}

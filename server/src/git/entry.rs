//! What a path holds (a file, an executable file, a symbolic link) and the file system operations that review and
//! apply need, all without following links: a link the agent made is a change of its own, never a way to read or
//! write what it points to.

use std::io::Read;

use crate::platform;
use std::path::{Component, Path, PathBuf};

/// One side of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File { executable: bool },
    Symlink { target: String },
}

impl Entry {
    pub fn is_symlink(&self) -> bool {
        matches!(self, Entry::Symlink { .. })
    }

    pub fn executable(&self) -> bool {
        matches!(self, Entry::File { executable: true })
    }

    pub fn target(&self) -> Option<&str> {
        match self {
            Entry::Symlink { target } => Some(target),
            Entry::File { .. } => None,
        }
    }
}

/// What is at `path` now, read without following a link: the entry, and the bytes of a regular file.
/// `Ok(None)` when nothing is there.
pub fn read(path: &Path) -> std::io::Result<Option<(Entry, Option<Vec<u8>>)>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path)?;
        return Ok(Some((Entry::Symlink { target: target.to_string_lossy().into_owned() }, None)));
    }
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    // O_NOFOLLOW: should the file become a link between the look and the read, the read fails instead of
    // following it.
    let mut file = platform::open_no_follow(path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(Some((Entry::File { executable: platform::mode(&meta) & 0o111 != 0 }, Some(bytes))))
}

/// Why a link at `rel` (relative to the workspace) pointing at `target` must not be created in the user's
/// workspace: an absolute target, or one that climbs out of the workspace. `None` when it stays inside.
pub fn link_escapes(rel: &Path, target: &str) -> Option<String> {
    let t = Path::new(target);
    if t.is_absolute() {
        return Some(format!(
            "it is a symbolic link to {target}, an absolute path: only links that stay inside your workspace are applied"
        ));
    }
    let mut depth: i64 = 0;
    let parent = rel.parent().unwrap_or(Path::new(""));
    for c in parent.components().chain(t.components()) {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => depth -= 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => depth = -1,
        }
        if depth < 0 {
            return Some(format!(
                "it is a symbolic link to {target}, outside your workspace: only links that stay inside it are applied"
            ));
        }
    }
    None
}

/// `root.join(rel)` when no folder on the way is a link out of `root` (the user's own links included): what
/// apply writes lands inside the workspace. Creates missing folders.
pub fn place_inside(root: &Path, rel: &Path) -> std::io::Result<PathBuf> {
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(std::io::Error::other("not a plain relative path"));
    }
    let root = root.canonicalize()?;
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
        if !parent.canonicalize()?.starts_with(&root) {
            return Err(std::io::Error::other("a folder on its path is a link out of your workspace"));
        }
    }
    Ok(path)
}

/// Makes `path` hold `after` (a link, or a file with `content`), replacing whatever entry is there; `None` removes
/// it. Never follows a link at `path`. A file is written beside it and renamed into place: a write cut short (a full
/// disk) leaves the user's file as it was, never half of the new one.
pub fn replace(path: &Path, after: Option<&Entry>, content: Option<&[u8]>) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => return Err(std::io::Error::other("a folder is in the way")),
        Ok(_) | Err(_) if after.is_some() => {}
        Ok(_) => return std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.openhands-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let made = match after {
        Some(Entry::Symlink { target }) => platform::symlink(Path::new(target), &temp),
        Some(Entry::File { executable }) => write_new(&temp, *executable, content.unwrap_or_default()),
        None => Ok(()),
    };
    match made.and_then(|()| std::fs::rename(&temp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

fn write_new(path: &Path, executable: bool, content: &[u8]) -> std::io::Result<()> {
    let mode = if executable { 0o755 } else { 0o644 };
    let mut file = platform::create_new_file(path, mode)?;
    std::io::Write::write_all(&mut file, content)?;
    file.sync_data()
}

/// Sets or clears the executable bits of the regular file at `path` (for whoever may read it), never through a link.
pub fn set_executable(path: &Path, executable: bool) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mode = platform::mode(&meta);
    let new = if executable { mode | ((mode & 0o444) >> 2) } else { mode & !0o111 };
    platform::set_mode(path, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_that_climb_out_or_are_absolute_escape() {
        assert!(link_escapes(Path::new("passwd_link"), "/etc/passwd").is_some());
        assert!(link_escapes(Path::new("a/b"), "../../x").is_some());
        assert!(link_escapes(Path::new("a/b"), "../x/../../../y").is_some());
        assert_eq!(link_escapes(Path::new(".venv/lib64"), "lib"), None);
        assert_eq!(link_escapes(Path::new("a/b"), "../c"), None);
        assert_eq!(link_escapes(Path::new("a/b"), "./c/../d"), None);
    }

    #[cfg_attr(feature = "portable-platform", ignore = "executable bits and links are Unix's")]
    #[test]
    fn reads_links_as_links_and_files_with_their_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.join("l")).unwrap();
        assert_eq!(read(&d.join("l")).unwrap().unwrap(), (Entry::Symlink { target: "/etc/hostname".into() }, None));
        set_executable(&d.join("f"), true).unwrap();
        assert_eq!(read(&d.join("f")).unwrap().unwrap(), (Entry::File { executable: true }, Some(b"x".to_vec())));
        assert!(read(&d.join("missing")).unwrap().is_none());
        replace(&d.join("f"), Some(&Entry::Symlink { target: "l".into() }), None).unwrap();
        assert!(read(&d.join("f")).unwrap().unwrap().0.is_symlink());
    }

    #[test]
    fn nothing_is_placed_through_a_link_out_of_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, outside) = (tmp.path().join("root"), tmp.path().join("outside"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        assert!(place_inside(&root, Path::new("out/x")).is_err());
        assert!(place_inside(&root, Path::new("../x")).is_err());
        assert!(place_inside(&root, Path::new("new/dir/x")).is_ok());
    }
}

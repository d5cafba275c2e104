//! Where openhands-lsp keeps conversations: `$XDG_STATE_HOME/openhands-lsp`, else `~/.local/state/openhands-lsp`;
//! and where its configuration is (`$XDG_CONFIG_HOME/openhands-lsp`).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error(
        "cannot find a state directory: neither XDG_STATE_HOME nor HOME (USERPROFILE on Windows) is set; set one of them"
    )]
    NoHome,
    #[error("state directory {path} is not writable ({source}): fix its permissions or set XDG_STATE_HOME")]
    NotWritable { path: PathBuf, source: std::io::Error },
}

pub const APP_DIR: &str = "openhands-lsp";

/// The state directory, from the environment; not created.
pub fn resolve() -> Result<PathBuf, StateDirError> {
    resolve_from(|name| std::env::var_os(name))
}

fn resolve_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf, StateDirError> {
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(xdg) = env("XDG_STATE_HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(xdg.join(APP_DIR));
    }
    // USERPROFILE: Windows' home, where HOME is seldom set.
    let home = (env("HOME").or_else(|| env("USERPROFILE")))
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .ok_or(StateDirError::NoHome)?;
    Ok(home.join(".local").join("state").join(APP_DIR))
}

/// This program's configuration folder (settings for agent panels, login's credentials file):
/// `$XDG_CONFIG_HOME/openhands-lsp`, else `~/.config/openhands-lsp`; not created.
pub fn config_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home_dir().map(|h| h.join(".config")))?;
    Some(base.join(APP_DIR))
}

/// The user's home: `HOME`, else `USERPROFILE` (Windows' home, where `HOME` is seldom set).
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).map(PathBuf::from)
}

/// Writes `contents` to `path` whole or not at all: into a new file beside it, created with `mode` (so a 0600 file
/// is never readable by others, not even for a moment), then renamed into place. Creates the parent folder.
pub fn replace_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut beside = path.as_os_str().to_owned();
    beside.push(".new");
    let beside = PathBuf::from(beside);
    let _ = std::fs::remove_file(&beside);
    let mut file = crate::platform::create_new_file(&beside, mode)?;
    file.write_all(contents).and_then(|()| file.sync_all())?;
    std::fs::rename(&beside, path)
}

/// Creates the directory if needed and proves it writable by writing and removing a probe file.
pub fn ensure_writable(dir: &Path) -> Result<(), StateDirError> {
    let not_writable = |source| StateDirError::NotWritable { path: dir.to_owned(), source };
    std::fs::create_dir_all(dir).map_err(not_writable)?;
    // Unique per call: checks may run concurrently in one process.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = dir.join(format!(".probe-{}-{n}", std::process::id()));
    std::fs::write(&probe, b"ok").map_err(not_writable)?;
    std::fs::remove_file(&probe).map_err(not_writable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn xdg_wins_over_home() {
        let dir = resolve_from(env(&[("XDG_STATE_HOME", "/x/state"), ("HOME", "/home/u")])).unwrap();
        assert_eq!(dir, PathBuf::from("/x/state/openhands-lsp"));
    }

    #[test]
    fn relative_xdg_is_ignored() {
        let dir = resolve_from(env(&[("XDG_STATE_HOME", "rel"), ("HOME", "/home/u")])).unwrap();
        assert_eq!(dir, PathBuf::from("/home/u/.local/state/openhands-lsp"));
    }

    #[test]
    fn nothing_set_is_an_error() {
        assert!(matches!(resolve_from(env(&[])), Err(StateDirError::NoHome)));
    }

    #[test]
    fn unwritable_dir_is_reported_with_its_path() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let err = ensure_writable(&file.join("sub")).unwrap_err();
        assert!(err.to_string().contains("a-file"), "{err}");
    }
}

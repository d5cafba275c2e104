//! The keys `openhands-lsp login` keeps for the fronts that have no shell around them (an agent panel that installed
//! the agent from the ACP registry): the LLM key and the OpenHands Cloud key, in the OS keyring (the Secret Service
//! on Linux, the Keychain on macOS), or, only when the user asks for it where no keyring exists, in a file of this
//! user's alone (mode 0600). The fronts read them after the environment and the editor's own secrets.
//!
//! The keyring is reached on a thread of its own with a time limit: its D-Bus client runs a runtime of its own,
//! which must not start inside the server's, and a locked keyring may wait for the user.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::secrets::{Secret, SecretName};

/// The keyring's service name for every entry (the entry's user is the secret's name, `llm_api_key`).
pub const SERVICE: &str = "openhands-lsp";

/// What login keeps.
pub const NAMES: [SecretName; 2] = [SecretName::LlmApiKey, SecretName::CloudApiKey];

/// How long a front waits for the keyring at start before it goes on without it.
pub const READ_LIMIT: Duration = Duration::from_secs(3);

/// Where a key was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Keyring,
    File(PathBuf),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Keyring => f.write_str("the keyring"),
            Place::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "no keyring could be used ({0}). Start one (on Linux a Secret Service such as GNOME Keyring or KeePassXC, \
         in the desktop session), or run `openhands-lsp login --file` to keep the key in a file only you can read"
    )]
    NoKeyring(String),
    #[error("the keyring did not answer within {0} s (is it locked and waiting for you to unlock it?)")]
    Timeout(u64),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
}

/// The credentials file, for `login --file`: `$XDG_CONFIG_HOME/openhands-lsp/credentials.json`.
pub fn file() -> Option<PathBuf> {
    crate::state_dir::config_dir().map(|dir| dir.join("credentials.json"))
}

/// The keys login kept, each with where it was found: the keyring first, then the file. Errors of either are
/// logged and read as "none there": a front starts without them and says what is missing as it does today.
pub fn read_all() -> BTreeMap<SecretName, (Secret, Place)> {
    let mut found = BTreeMap::new();
    match on_keyring_thread(READ_LIMIT, keyring_read_all) {
        Ok(values) => {
            for (name, value) in values {
                found.insert(name, (Secret::new(value), Place::Keyring));
            }
        }
        Err(e) => tracing::debug!("no keys from the keyring: {e}"),
    }
    if let Some(path) = file() {
        for (name, value) in read_file(&path) {
            found.entry(name).or_insert((Secret::new(value), Place::File(path.clone())));
        }
    }
    found
}

/// The secrets of a front: the environment's, with what login kept under them. The keyring is read on a thread
/// of its own from now on, and waited for (up to [`READ_LIMIT`] from now) only when a key is first needed that the
/// editor and the environment do not give: it adds nothing to a front's start.
pub fn secret_store() -> crate::secrets::SecretStore {
    let deadline = std::time::Instant::now() + READ_LIMIT;
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("login-keys".to_owned()).spawn(move || {
        let kept = read_all().into_iter().map(|(name, (secret, _))| (name, secret)).collect();
        let _ = tx.send(kept);
    });
    if let Err(e) = spawned {
        tracing::debug!("no keys from login: {e}");
    }
    crate::secrets::SecretStore::from_env().with_login(rx, deadline)
}

/// Keeps `value` as `name`'s key: in the keyring, or in the file when `to_file` (the user asked for it).
pub fn store(name: SecretName, value: &str, to_file: bool) -> Result<Place, CredentialError> {
    if to_file {
        let path = file().ok_or_else(|| CredentialError::File {
            path: "~/.config/openhands-lsp/credentials.json".to_owned(),
            reason: "neither XDG_CONFIG_HOME nor HOME is set".to_owned(),
        })?;
        let mut all = read_file(&path);
        all.insert(name, value.to_owned());
        write_file(&path, &all)?;
        return Ok(Place::File(path));
    }
    let value = value.to_owned();
    on_keyring_thread(Duration::from_secs(60), move || keyring_entry(name)?.set_password(&value))?;
    Ok(Place::Keyring)
}

/// Forgets every key login kept, in the keyring and in the file; returns where each was.
pub fn remove_all() -> Vec<(SecretName, Place)> {
    let mut removed = Vec::new();
    for name in NAMES {
        let gone = on_keyring_thread(READ_LIMIT * 5, move || match keyring_entry(name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(e),
        });
        match gone {
            Ok(true) => removed.push((name, Place::Keyring)),
            Ok(false) => {}
            Err(e) => tracing::warn!("the keyring: {e}"),
        }
    }
    if let Some(path) = file().filter(|p| p.exists()) {
        removed.extend(read_file(&path).into_keys().map(|name| (name, Place::File(path.clone()))));
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!("{}: {e}", path.display());
        }
    }
    removed
}

fn keyring_entry(name: SecretName) -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, name.as_str())
}

fn keyring_read_all() -> keyring::Result<Vec<(SecretName, String)>> {
    let mut values = Vec::new();
    for name in NAMES {
        match keyring_entry(name)?.get_password() {
            Ok(value) if !value.is_empty() => values.push((name, value)),
            Ok(_) | Err(keyring::Error::NoEntry) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(values)
}

/// Runs `work` on a thread of its own, waiting at most `limit`.
fn on_keyring_thread<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> keyring::Result<T> + Send + 'static,
) -> Result<T, CredentialError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("keyring".to_owned()).spawn(move || {
        let _ = tx.send(work());
    });
    if let Err(e) = spawned {
        return Err(CredentialError::NoKeyring(e.to_string()));
    }
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(CredentialError::NoKeyring(e.to_string())),
        Err(_) => Err(CredentialError::Timeout(limit.as_secs())),
    }
}

fn read_file(path: &std::path::Path) -> BTreeMap<SecretName, String> {
    let Ok(text) = std::fs::read_to_string(path) else { return BTreeMap::new() };
    let Ok(map) = serde_json::from_str::<BTreeMap<String, String>>(&text) else {
        tracing::warn!("{} is not a JSON object of keys: ignored (run openhands-lsp login again)", path.display());
        return BTreeMap::new();
    };
    NAMES
        .into_iter()
        .filter_map(|name| map.get(name.as_str()).filter(|v| !v.is_empty()).map(|v| (name, v.clone())))
        .collect()
}

/// Mode 0600: never readable by others (`state_dir::replace_file`).
fn write_file(path: &std::path::Path, all: &BTreeMap<SecretName, String>) -> Result<(), CredentialError> {
    let map: BTreeMap<&str, &str> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let text = serde_json::to_string_pretty(&map).unwrap_or_default();
    crate::state_dir::replace_file(path, text.as_bytes(), 0o600)
        .map_err(|e| CredentialError::File { path: path.display().to_string(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(feature = "portable-platform", ignore = "file modes are Unix's")]
    #[test]
    fn the_file_is_written_for_this_user_alone_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("openhands-lsp/credentials.json");
        let all = BTreeMap::from([(SecretName::LlmApiKey, "sk-file-kept".to_owned())]);
        write_file(&path, &all).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_file(&path), all);
        std::fs::write(&path, "not json").unwrap();
        assert!(read_file(&path).is_empty(), "a torn file is read as none");
    }
}

//! `openhands-lsp login`, `login --status` and `logout`: sign-in without environment variables, for agent panels
//! that start the agent with no shell around it (the ACP registry's installs; the `terminal` auth method runs
//! `openhands-lsp acp login`). The model goes in the settings file agent panels read; the key goes in the OS keyring
//! (`credentials`), or in a 0600 file only when the user asks for one. Nothing else is written, and no key is
//! printed, logged or echoed as it is typed.

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::{Value, json};

use crate::credentials::{self, CredentialError, Place};
use crate::secrets::SecretName;

#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// Sign in to OpenHands Cloud (its API key; the `cloud` backend) instead of a model's provider.
    pub cloud: bool,
    /// Keep the key in a file only this user can read, for systems with no keyring.
    pub to_file: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("nothing was typed: nothing was kept")]
    Empty,
    #[error("the settings file {0} is not a JSON object: fix it (or remove it) first, then log in again")]
    Settings(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The terminal the answers come from: its lines, and whether what is typed is seen (a terminal: the key is read
/// without echo).
pub struct Terminal<'a> {
    pub input: &'a mut dyn BufRead,
    pub out: &'a mut dyn Write,
    pub is_tty: bool,
}

impl Terminal<'_> {
    fn ask(&mut self, prompt: &str, hidden: bool) -> std::io::Result<String> {
        write!(self.out, "{prompt}")?;
        self.out.flush()?;
        let mut line = String::new();
        if hidden && self.is_tty {
            crate::platform::without_echo(|| self.input.read_line(&mut line))?;
            writeln!(self.out)?;
        } else {
            self.input.read_line(&mut line)?;
        }
        Ok(line.trim().to_owned())
    }
}

/// Asks for the model and its key (or the Cloud key), keeps them, and says where.
pub fn login(opts: &LoginOptions, term: &mut Terminal<'_>) -> Result<(), LoginError> {
    let settings_file = crate::state_dir::config_dir().map(|d| d.join("settings.json"));
    if opts.cloud {
        let key = term.ask("OpenHands Cloud API key (app.all-hands.dev, Settings > API Keys; not shown): ", true)?;
        if key.is_empty() {
            return Err(LoginError::Empty);
        }
        let place = credentials::store(SecretName::CloudApiKey, &key, opts.to_file)?;
        say_kept(term.out, "The OpenHands Cloud key", &place)?;
        if let Some(file) = &settings_file {
            update_settings(file, |s| s["backend"] = json!("cloud"))?;
            writeln!(term.out, "Conversations run on OpenHands Cloud (\"backend\": \"cloud\" in {}).", file.display())?;
        }
        return Ok(());
    }
    let current = settings_file.as_deref().and_then(read_model);
    let model_default = current.clone().unwrap_or_else(|| crate::config::Settings::default().llm.model);
    let model = term.ask(&format!("Model [{model_default}]: "), false)?;
    let model = if model.is_empty() { model_default } else { model };
    let key = term.ask(&format!("API key for {model} (not shown): "), true)?;
    if key.is_empty() {
        return Err(LoginError::Empty);
    }
    let place = credentials::store(SecretName::LlmApiKey, &key, opts.to_file)?;
    say_kept(term.out, "The LLM key", &place)?;
    if let Some(file) = &settings_file
        && current.as_deref() != Some(model.as_str())
    {
        update_settings(file, |s| s["llm"]["model"] = json!(model))?;
        writeln!(term.out, "The model {model} is in {}.", file.display())?;
    }
    Ok(())
}

fn say_kept(out: &mut dyn Write, what: &str, place: &Place) -> std::io::Result<()> {
    match place {
        Place::Keyring => writeln!(out, "{what} is kept in the keyring (service \"{}\").", credentials::SERVICE),
        Place::File(path) => writeln!(out, "{what} is kept in {} (readable by you alone).", path.display()),
    }
}

/// What is kept and where, never the values.
pub fn status(out: &mut dyn Write) -> std::io::Result<()> {
    let kept = credentials::read_all();
    for name in credentials::NAMES {
        let env = std::env::var(name.env_var()).is_ok_and(|v| !v.is_empty());
        let line = match (kept.get(&name), env) {
            (_, true) => format!("{}: from the environment ({})", name.as_str(), name.env_var()),
            (Some((_, place)), false) => format!("{}: kept in {place}", name.as_str()),
            (None, false) => format!("{}: not set", name.as_str()),
        };
        writeln!(out, "{line}")?;
    }
    let file = crate::state_dir::config_dir().map(|d| d.join("settings.json"));
    match file.as_deref().and_then(read_model) {
        Some(model) => writeln!(out, "model: {model}"),
        None => writeln!(out, "model: the default ({})", crate::config::Settings::default().llm.model),
    }
}

/// Forgets what login kept; says what it was.
pub fn logout(out: &mut dyn Write) -> std::io::Result<()> {
    let removed = credentials::remove_all();
    if removed.is_empty() {
        return writeln!(out, "Nothing was kept by openhands-lsp login.");
    }
    for (name, place) in removed {
        writeln!(out, "Removed {} from {place}.", name.as_str())?;
    }
    Ok(())
}

/// The model of the settings file (bare or under `openhands`).
fn read_model(file: &Path) -> Option<String> {
    let value: Value = serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    let object = value.get(crate::config::SECTION).unwrap_or(&value);
    object["llm"]["model"].as_str().map(str::to_owned)
}

/// Changes the settings file where it keeps its settings (bare, or under `openhands`), keeping everything else.
fn update_settings(file: &Path, change: impl FnOnce(&mut Value)) -> Result<(), LoginError> {
    let mut value = match std::fs::read_to_string(file) {
        Ok(text) => serde_json::from_str::<Value>(&text)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| LoginError::Settings(file.display().to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(e.into()),
    };
    let section = crate::config::SECTION;
    let target = if value.get(section).is_some_and(Value::is_object) { &mut value[section] } else { &mut value };
    if target.get("llm").is_some_and(|l| !l.is_object()) {
        return Err(LoginError::Settings(file.display().to_string()));
    }
    change(target);
    let text = serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
    crate::state_dir::replace_file(file, text.as_bytes(), 0o644)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_file_keeps_what_it_had_and_a_broken_one_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        std::fs::write(&file, r#"{"openhands": {"backend": "process", "llm": {"baseUrl": "http://x"}}}"#).unwrap();
        update_settings(&file, |s| s["llm"]["model"] = json!("openai/gpt-4o")).unwrap();
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(
            value,
            json!({"openhands": {"backend": "process", "llm": {"baseUrl": "http://x", "model": "openai/gpt-4o"}}})
        );
        assert_eq!(read_model(&file).as_deref(), Some("openai/gpt-4o"));
        std::fs::write(&file, "{ not json").unwrap();
        assert!(matches!(update_settings(&file, |_| {}), Err(LoginError::Settings(_))));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "{ not json", "untouched");
    }
}

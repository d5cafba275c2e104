//! An ACP agent gets no settings from its editor: they come from `--settings FILE`, else
//! `$XDG_CONFIG_HOME/openhands-lsp/settings.json` (`~/.config/…`), as the same `openhands` object LSP clients send
//! (bare, or under an `"openhands"` key), with secrets from the environment only.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::{self, Settings};

/// The settings in effect, and what was wrong with them in words that name the key and the file.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub settings: Settings,
    pub problems: Vec<String>,
}

/// The default file: `$XDG_CONFIG_HOME/openhands-lsp/settings.json`, else under `~/.config`.
pub fn default_file() -> Option<PathBuf> {
    Some(crate::state_dir::config_dir()?.join("settings.json"))
}

/// Reads `explicit` (which must exist), else the default file when there is one, else the defaults.
pub fn load(explicit: Option<&Path>) -> Loaded {
    let file = match explicit {
        Some(path) => Some(path.to_owned()),
        None => default_file().filter(|p| p.exists()),
    };
    let Some(file) = file else { return Loaded::default() };
    let shown = file.display().to_string();
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) => {
            return Loaded {
                problems: vec![format!("cannot read the settings file {shown}: {e}")],
                ..Loaded::default()
            };
        }
    };
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            return Loaded {
                problems: vec![format!(
                    "the settings file {shown} is not JSON ({e}): fix it, or remove it for the defaults"
                )],
                ..Loaded::default()
            };
        }
    };
    let object = value.get(config::SECTION).cloned().unwrap_or(value);
    let parsed = config::parse(&object);
    // An agent panel has no settings screen to warn in: a session with a bad setting is refused (see
    // dispatch.rs), so the problem does not say a default is used, as it does for editors.
    let problems = parsed
        .problems
        .iter()
        .map(|p| format!("{}: {} (in {shown})", p.key, p.problem.trim_end_matches(config::DEFAULT_USED)))
        .collect();
    for key in &parsed.unknown_keys {
        tracing::warn!("{shown}: unknown setting {key}");
    }
    Loaded { settings: parsed.settings, problems }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_is_named_with_its_key_and_file() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("settings.json");
        std::fs::write(&file, r#"{"openhands": {"backend": "moon", "llm": {"model": "openai/gpt-4o"}}}"#)
            .expect("write");
        let loaded = load(Some(&file));
        assert_eq!(loaded.settings.llm.model, "openai/gpt-4o");
        assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
        assert!(loaded.problems[0].starts_with("openhands.backend: "), "{:?}", loaded.problems);
        assert!(loaded.problems[0].contains(&file.display().to_string()));
        std::fs::write(&file, "{").expect("write");
        assert!(load(Some(&file)).problems[0].contains("is not JSON"));
        assert!(load(Some(&dir.path().join("missing.json"))).problems[0].contains("cannot read"));
    }
}

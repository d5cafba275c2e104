//! What the server can use right now: one row per capability. Shared by `openhands-lsp doctor` (a table) and the
//! `openhands.status` command (JSON). Rows name things, never secret values.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::Settings;
use crate::state_dir;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    /// Works, but something is worth knowing.
    Warning,
    /// Does not work.
    Error,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: &'static str,
    pub status: CheckStatus,
    /// A failing required check makes `doctor` exit non-zero.
    pub required: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub version: &'static str,
    pub backend: &'static str,
    /// False when a required check failed.
    pub ok: bool,
    pub checks: Vec<Check>,
}

/// What the checks look at; built by the CLI from the environment, by the LSP server from its session.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub settings: Settings,
    pub state_dir: Result<PathBuf, String>,
}

impl Inputs {
    pub fn from_env(settings: Settings) -> Self {
        Inputs { settings, state_dir: state_dir::resolve().map_err(|e| e.to_string()) }
    }
}

pub async fn run(inputs: &Inputs) -> Report {
    let mut checks = Vec::new();
    checks.push(check_state_dir(inputs).await);
    checks.push(Check {
        name: "backend",
        status: CheckStatus::Ok,
        required: false,
        detail: format!("openhands.backend = {}", inputs.settings.backend.as_str()),
    });
    let ok = !checks.iter().any(|c| c.required && c.status == CheckStatus::Error);
    Report { version: crate::VERSION, backend: inputs.settings.backend.as_str(), ok, checks }
}

async fn check_state_dir(inputs: &Inputs) -> Check {
    let name = "state directory";
    let dir = match &inputs.state_dir {
        Ok(dir) => dir.clone(),
        Err(e) => return Check { name, status: CheckStatus::Error, required: true, detail: e.clone() },
    };
    let probe_dir = dir.clone();
    let result = tokio::task::spawn_blocking(move || state_dir::ensure_writable(&probe_dir)).await;
    match result {
        Ok(Ok(())) => {
            Check { name, status: CheckStatus::Ok, required: true, detail: format!("{} (writable)", dir.display()) }
        }
        Ok(Err(e)) => Check { name, status: CheckStatus::Error, required: true, detail: e.to_string() },
        Err(e) => Check { name, status: CheckStatus::Error, required: true, detail: format!("check failed: {e}") },
    }
}

impl Report {
    /// A plain table for a terminal.
    pub fn render_table(&self) -> String {
        let rows: Vec<[String; 3]> = self
            .checks
            .iter()
            .map(|c| {
                let status = match (c.status, c.required) {
                    (CheckStatus::Ok, _) => "ok",
                    (CheckStatus::Warning, _) => "warning",
                    (CheckStatus::Error, true) => "MISSING",
                    (CheckStatus::Error, false) => "unavailable",
                };
                [c.name.to_owned(), status.to_owned(), c.detail.clone()]
            })
            .collect();
        let header = ["CHECK".to_owned(), "STATUS".to_owned(), "DETAIL".to_owned()];
        let w0 = rows.iter().chain([&header]).map(|r| r[0].len()).max().unwrap_or(0);
        let w1 = rows.iter().chain([&header]).map(|r| r[1].len()).max().unwrap_or(0);
        let mut out = format!("openhands-lsp {}\n\n", self.version);
        for row in std::iter::once(&header).chain(rows.iter()) {
            let _ = writeln!(out, "{:<w0$}  {:<w1$}  {}", row[0], row[1], row[2]);
        }
        let _ = writeln!(
            out,
            "\n{}",
            if self.ok {
                "Everything required is available."
            } else {
                "Something required is missing: see MISSING above."
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writable_state_dir_is_ok() {
        let tmp = tempfile::tempdir().unwrap();
        let inputs = Inputs { settings: Settings::default(), state_dir: Ok(tmp.path().join("s")) };
        let report = run(&inputs).await;
        assert!(report.ok);
        let table = report.render_table();
        assert!(table.contains("state directory") && table.contains("writable"), "{table}");
    }

    #[tokio::test]
    async fn missing_state_dir_fails_the_report() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        let inputs = Inputs { settings: Settings::default(), state_dir: Ok(file.join("sub")) };
        let report = run(&inputs).await;
        assert!(!report.ok);
        assert!(report.render_table().contains("MISSING"));
    }
}

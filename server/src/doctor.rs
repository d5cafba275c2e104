//! What the server can use right now: one row per capability. Shared by `openhands-lsp doctor` (a table) and the
//! `openhands.status` command (JSON). Rows name things, never secret values.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::{Backend, Settings};
use crate::secrets::{SecretName, SecretSource, SecretStore};
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
    /// Where the report is read: how to set a missing key is said in its words.
    pub editor: crate::editor::Editor,
    pub settings: std::sync::Arc<Settings>,
    /// What was wrong with the settings given (each with its key); the defaults are used for those.
    pub settings_problems: Vec<String>,
    pub state_dir: Result<PathBuf, String>,
    pub secrets: SecretStore,
    /// Run the agent-server smoke check (`smoke`): boots an agent-server, so seconds, not milliseconds.
    pub smoke: bool,
    /// The folder whose conversations' image is reported (docker backend).
    pub folder: Option<PathBuf>,
}

impl Inputs {
    pub fn from_env(parsed: crate::config::Parsed) -> Self {
        Inputs {
            editor: crate::editor::Editor::Terminal,
            settings: std::sync::Arc::new(parsed.settings),
            settings_problems: parsed.problems.iter().map(ToString::to_string).collect(),
            state_dir: state_dir::resolve().map_err(|e| e.to_string()),
            secrets: crate::credentials::secret_store(),
            smoke: true,
            folder: std::env::current_dir().ok(),
        }
    }
}

pub async fn run(inputs: &Inputs) -> Report {
    let mut checks = Vec::new();
    checks.push(check_state_dir(inputs).await);
    checks.push(Check {
        name: "settings",
        status: if inputs.settings_problems.is_empty() { CheckStatus::Ok } else { CheckStatus::Warning },
        required: false,
        detail: if inputs.settings_problems.is_empty() {
            "understood".to_owned()
        } else {
            format!("not understood: {}", inputs.settings_problems.join("; "))
        },
    });
    checks.push(Check {
        name: "backend",
        status: CheckStatus::Ok,
        required: false,
        detail: format!("openhands.backend = {}", inputs.settings.backend.as_str()),
    });
    match inputs.settings.backend {
        Backend::Process => checks.push(check_agent_server_command(&inputs.settings.process.command)),
        Backend::Docker => {
            let [daemon, image] = check_docker(&inputs.settings.docker).await;
            let reachable = daemon.status == CheckStatus::Ok;
            checks.extend([daemon, image]);
            if let (true, Some(folder)) = (reachable, &inputs.folder) {
                checks.push(check_sandbox_image(&inputs.settings.docker, folder).await);
            }
        }
        Backend::Cloud => checks.push(check_cloud(inputs)),
    }
    // Only where what it needs is there: a missing command or daemon is said by its own row already.
    let ready = !checks.iter().any(|c| c.required && c.status == CheckStatus::Error);
    if inputs.smoke && ready && inputs.settings.backend != Backend::Cloud {
        checks.push(check_smoke(inputs).await);
    }
    // In the cloud the agent uses the LLM of the user's cloud account.
    if inputs.settings.backend != Backend::Cloud {
        checks.push(check_llm(inputs));
    }
    checks.push(check_provider_tokens(&inputs.secrets));
    if !inputs.settings.mcp_servers.is_empty() {
        checks.push(check_mcp(inputs));
    }
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

/// Boots the agent-server and creates a conversation with it (no model call): see `smoke`.
async fn check_smoke(inputs: &Inputs) -> Check {
    let name = "agent-server smoke check";
    let (status, detail) = match crate::smoke::run(&inputs.settings, &inputs.secrets).await {
        crate::smoke::Outcome::Passed(line) => (CheckStatus::Ok, line),
        crate::smoke::Outcome::Failed(why) => (CheckStatus::Error, why),
        crate::smoke::Outcome::Skipped(why) => (CheckStatus::Warning, why),
    };
    Check { name, status, required: true, detail }
}

fn check_cloud(inputs: &Inputs) -> Check {
    let url = inputs.settings.cloud.url.trim_end_matches('/');
    match inputs.secrets.source(SecretName::CloudApiKey) {
        Some(source) => Check {
            name: "cloud",
            status: CheckStatus::Ok,
            required: true,
            detail: format!("{url}; cloud_api_key {}", source_label(Some(source))),
        },
        None => Check {
            name: "cloud",
            status: CheckStatus::Error,
            required: true,
            detail: format!(
                "{url}: no API key: set cloud_api_key with openhands.setSecret or OPENHANDS_API_KEY (create one at {url}/settings/api-keys)"
            ),
        },
    }
}

fn check_agent_server_command(command: &str) -> Check {
    let name = "agent-server";
    if let Err(why) = crate::platform::PROCESS_BACKEND {
        return Check { name, status: CheckStatus::Error, required: true, detail: why.to_owned() };
    }
    let program = command.split_whitespace().next().unwrap_or_default();
    match crate::platform::find_program(std::path::Path::new(program)) {
        Some(path) => Check { name, status: CheckStatus::Ok, required: true, detail: format!("{}", path.display()) },
        None => Check {
            name,
            status: CheckStatus::Error,
            required: true,
            detail: format!(
                "{program:?} not found: install it ({}) and set openhands.process.command to V/bin/agent-server",
                crate::config::AGENT_SERVER_INSTALL
            ),
        },
    }
}

async fn check_docker(settings: &crate::config::DockerSettings) -> [Check; 2] {
    let engine = crate::sandbox::docker::engine::Engine::current(settings);
    let probe = crate::sandbox::docker::probe(&settings.image, engine).await;
    let daemon = match probe.daemon {
        Ok(version) => {
            let detail = format!("{version}, {}", probe.engine.describe());
            Check { name: "docker", status: CheckStatus::Ok, required: true, detail }
        }
        Err(detail) => Check { name: "docker", status: CheckStatus::Error, required: true, detail },
    };
    let image = match probe.image {
        Ok(detail) => Check { name: "agent-server image", status: CheckStatus::Ok, required: false, detail },
        Err(detail) => Check { name: "agent-server image", status: CheckStatus::Warning, required: false, detail },
    };
    [daemon, image]
}

/// Which image the folder's conversations run in (its dev container's, `openhands.docker.baseImage`, or the
/// agent-server image) and whether it is there.
async fn check_sandbox_image(docker: &crate::config::DockerSettings, folder: &std::path::Path) -> Check {
    match crate::sandbox::docker::plan_image(docker, folder).await {
        Ok(plan) => Check {
            name: "sandbox image",
            status: if plan.ready == Some(true) { CheckStatus::Ok } else { CheckStatus::Warning },
            required: false,
            detail: format!("{}: {}", folder.display(), plan.summary),
        },
        Err(e) => Check { name: "sandbox image", status: CheckStatus::Warning, required: false, detail: e },
    }
}

fn source_label(source: Option<SecretSource>) -> &'static str {
    match source {
        Some(SecretSource::Editor) => "set from the editor",
        Some(SecretSource::Environment) => "set from the environment",
        Some(SecretSource::Login) => "kept by openhands-lsp login",
        None => "not set",
    }
}

/// The model, and the key it will be called with: the LLM key, or for OpenHands' own models the OpenHands key.
fn check_llm(inputs: &Inputs) -> Check {
    let model = &inputs.settings.llm.model;
    let ours = model.starts_with(crate::editor::OPENHANDS_MODELS);
    let base = match inputs.settings.llm.base_url.as_deref() {
        Some(u) => format!(" at {u}"),
        None if ours => " through OpenHands' LLM proxy".to_owned(),
        None => String::new(),
    };
    let llm = inputs.secrets.source(SecretName::LlmApiKey);
    let cloud = inputs.secrets.source(SecretName::CloudApiKey).filter(|_| ours);
    let (status, key) = match (llm, cloud) {
        (Some(_), _) => (CheckStatus::Ok, format!("the key llm_api_key ({})", source_label(llm))),
        (None, Some(_)) => (CheckStatus::Ok, format!("your OpenHands API key cloud_api_key ({})", source_label(cloud))),
        (None, None) if ours => (
            CheckStatus::Warning,
            format!(
                "no key: {}; or give your OpenHands API key: {}",
                inputs.editor.how_to_set(SecretName::LlmApiKey),
                inputs.editor.how_to_set(SecretName::CloudApiKey)
            ),
        ),
        (None, None) => {
            (CheckStatus::Warning, format!("no API key: {}", inputs.editor.how_to_set(SecretName::LlmApiKey)))
        }
    };
    let detail =
        if status == CheckStatus::Ok { format!("{model}{base}, with {key}") } else { format!("{model}{base}; {key}") };
    Check { name: "LLM", status, required: false, detail }
}

/// The agent's MCP servers: each with its command or URL and its secrets (set or not, never their values).
fn check_mcp(inputs: &Inputs) -> Check {
    let servers = &inputs.settings.mcp_servers;
    let missing = if inputs.settings.backend == Backend::Process { servers.missing_commands() } else { Vec::new() };
    let mut warn = !missing.is_empty();
    let said: Vec<String> = servers
        .0
        .iter()
        .map(|(name, s)| {
            let mut text = format!("{name} ({}: {})", s.kind().as_str(), s.target());
            if missing.iter().any(|(n, _)| n == name) {
                text.push_str(", its command is not found on this machine");
            }
            for secret in s.secrets() {
                let set = inputs.secrets.has_named(&secret);
                warn |= !set;
                text.push_str(&format!(", secret {secret} {}", if set { "set" } else { "NOT set" }));
            }
            text
        })
        .collect();
    let status = if warn { CheckStatus::Warning } else { CheckStatus::Ok };
    Check { name: "MCP servers", status, required: false, detail: said.join("; ") }
}

fn check_provider_tokens(secrets: &SecretStore) -> Check {
    let detail = SecretName::ALL
        .into_iter()
        .filter(|n| n.is_provider_token() || matches!(n, SecretName::JiraToken | SecretName::LinearApiKey))
        .map(|n| format!("{} {}", n.as_str(), source_label(secrets.source(n))))
        .collect::<Vec<_>>()
        .join("; ");
    Check { name: "provider tokens", status: CheckStatus::Ok, required: false, detail }
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
        let mut settings = Settings { backend: Backend::Process, ..Settings::default() };
        settings.process.command = "/bin/sh".into();
        let inputs = Inputs {
            editor: crate::editor::Editor::Other,
            settings: settings.into(),
            settings_problems: Vec::new(),
            state_dir: Ok(tmp.path().join("s")),
            secrets: SecretStore::default(),
            smoke: false,
            folder: None,
        };
        let report = run(&inputs).await;
        assert_eq!(report.ok, crate::platform::PROCESS_BACKEND.is_ok(), "{}", report.render_table());
        let table = report.render_table();
        assert!(table.contains("state directory") && table.contains("writable"), "{table}");
        assert!(table.contains("no API key"), "{table}");
    }

    #[tokio::test]
    async fn a_missing_agent_server_fails_with_how_to_install() {
        let mut settings = Settings { backend: Backend::Process, ..Settings::default() };
        settings.process.command = "/nonexistent/agent-server --flag".into();
        let tmp = tempfile::tempdir().unwrap();
        let inputs = Inputs {
            editor: crate::editor::Editor::Other,
            settings: settings.into(),
            settings_problems: Vec::new(),
            state_dir: Ok(tmp.path().into()),
            secrets: SecretStore::default(),
            smoke: true,
            folder: None,
        };
        let report = run(&inputs).await;
        assert!(!report.ok);
        let row = report.checks.iter().find(|c| c.name == "agent-server").unwrap();
        // Where the process backend cannot run, that is what the row says instead (`platform::PROCESS_BACKEND`).
        let expected =
            if crate::platform::PROCESS_BACKEND.is_ok() { "pip install --require-hashes" } else { "not supported" };
        assert!(row.detail.contains(expected), "{}", row.detail);
        assert!(!report.checks.iter().any(|c| c.name == "agent-server smoke check"), "not run without a command");
    }

    #[tokio::test]
    async fn secrets_appear_by_name_and_source_only() {
        let secrets = SecretStore::default();
        secrets.set(SecretName::GithubToken, "ghp_secretvalue");
        secrets.set(SecretName::LlmApiKey, "sk-secretvalue");
        let tmp = tempfile::tempdir().unwrap();
        let settings = Settings { backend: Backend::Process, ..Settings::default() };
        let inputs = Inputs {
            editor: crate::editor::Editor::Other,
            settings: settings.into(),
            settings_problems: Vec::new(),
            state_dir: Ok(tmp.path().into()),
            secrets,
            smoke: false,
            folder: None,
        };
        let text = serde_json::to_string(&run(&inputs).await).unwrap();
        assert!(
            text.contains("github_token set from the editor") && text.contains("llm_api_key (set from the editor)")
        );
        assert!(!text.contains("secretvalue"));
    }

    #[tokio::test]
    async fn missing_state_dir_fails_the_report() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        let settings = Settings { backend: Backend::Process, ..Settings::default() };
        let inputs = Inputs {
            editor: crate::editor::Editor::Other,
            settings: settings.into(),
            settings_problems: Vec::new(),
            state_dir: Ok(file.join("sub")),
            secrets: SecretStore::default(),
            smoke: false,
            folder: None,
        };
        let report = run(&inputs).await;
        assert!(!report.ok);
        assert!(report.render_table().contains("MISSING"));
    }
}

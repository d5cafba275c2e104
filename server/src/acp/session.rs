//! One ACP session: a conversation (the session id is the conversation's id, given before its first prompt), the
//! folder it works in, its own choices of model, confirmation mode and backend (ACP config options, which clients
//! show as pickers), its MCP servers, and the turn a prompt waits on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use agent_client_protocol_schema::v1::{
    McpServer, SessionConfigOption, SessionConfigOptionCategory, SessionConfigOptionValue, SessionConfigSelectOption,
};
use serde_json::Value;
use tokio::sync::oneshot;

use super::errors::RpcError;
use super::updates::Mapper;
use crate::config::{Backend, Settings};
use crate::conversation::State;
use crate::mcp::{self, McpKind, McpServers};

/// What `/discard` says, and a prompt after it.
pub const DISCARDED: &str = "The agent's changes and its copy are gone; your files are as they were. This \
                             conversation is over: start a new session (a new thread) for another task.";

/// How a turn ended, for the prompt waiting on it.
#[derive(Debug)]
pub enum TurnEnd {
    Settled {
        state: State,
        message: String,
    },
    /// Paused (by `session/cancel`, or from another editor).
    Paused,
}

pub struct Turn {
    pub done: Option<oneshot::Sender<TurnEnd>>,
    pub cancelled: bool,
    /// Which of the session's turns (a cancel's late answer must not end the next one).
    pub number: u64,
}

pub struct Session {
    pub cwd: PathBuf,
    /// The folders the task works in besides `cwd` (`additionalDirectories`), each with its own copy.
    pub additional_directories: Vec<PathBuf>,
    /// The settings this session's conversation starts with (its config options applied).
    pub settings: Settings,
    /// The agent's MCP servers (may hold secrets: never logged or stored).
    pub mcp_servers: McpServers,
    pub mapper: Mapper,
    /// Its conversation exists (first prompt sent, or loaded from history).
    pub started: bool,
    pub turn: Option<Turn>,
    /// The user chose "reject always": the agent's requests are declined for the rest of the session.
    pub reject_always: bool,
    /// The tool call that shows the sandbox starting, until the agent's first event.
    pub starting_call: Option<String>,
    /// The changes offered for apply at the end of a turn (a fingerprint per file's change): the same ones are not
    /// asked about again after every turn.
    pub offered: std::collections::HashSet<u64>,
    /// `/discard` ended its conversation: a prompt is answered with what to do instead.
    pub discarded: bool,
    /// The pull request `/pr` opened for a Jira or Linear issue, until `/comment-issue` puts its link there.
    pub tracker_pull: Option<(crate::conversation::IssueLink, String)>,
    /// Turns begun so far.
    pub turns: u64,
    /// When the last `session/cancel` came (the order messages arrived in): a prompt that came before it and still
    /// waits behind the running turn is cancelled with it.
    pub cancelled_before: u64,
    /// Changes when the turn ends or is cancelled: prompts queued behind it look again.
    pub turn_free: tokio::sync::watch::Sender<u64>,
}

impl Session {
    pub fn new(cwd: PathBuf, settings: Settings, roots: Vec<String>) -> Self {
        Session {
            mapper: Mapper::new(cwd.clone(), roots),
            cwd,
            additional_directories: Vec::new(),
            settings,
            mcp_servers: McpServers::default(),
            started: false,
            turn: None,
            reject_always: false,
            starting_call: None,
            offered: Default::default(),
            discarded: false,
            tracker_pull: None,
            turns: 0,
            cancelled_before: 0,
            turn_free: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The turn slot is free again, or a cancel came: prompts queued behind it look again.
    pub fn wake_queued(&self) {
        self.turn_free.send_modify(|n| *n += 1);
    }

    /// Ends the turn, if one waits.
    pub fn end_turn(&mut self, end: TurnEnd) {
        if let Some(tx) = self.turn.as_mut().and_then(|t| t.done.take()) {
            let _ = tx.send(end);
        }
    }
}

pub const MODEL: &str = "model";
pub const CONFIRMATION: &str = "confirmation";
pub const BACKEND: &str = "backend";

/// Models offered beside the configured one (LiteLLM names; the key comes from the environment).
const KNOWN_MODELS: &[(&str, &str)] = &[
    ("anthropic/claude-sonnet-4-5-20250929", "Claude Sonnet 4.5"),
    ("anthropic/claude-opus-4-1-20250805", "Claude Opus 4.1"),
    ("openai/gpt-5", "GPT-5"),
    ("openai/gpt-4o", "GPT-4o"),
    ("gemini/gemini-2.5-pro", "Gemini 2.5 Pro"),
    ("openhands/claude-sonnet-4-5-20250929", "OpenHands LLM proxy: Claude Sonnet 4.5"),
];

/// A setting's value by its name in settings (`"always"`, `"docker"`): the names the config options offer.
pub fn named<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(Value::String(name.to_owned())).ok()
}

/// The session's config options as ACP describes them, with their current values.
pub fn config_options(settings: &Settings, folder: &std::path::Path) -> Vec<SessionConfigOption> {
    let current = settings.llm.model.clone();
    let mut models: Vec<SessionConfigSelectOption> = Vec::new();
    if !KNOWN_MODELS.iter().any(|(id, _)| *id == current) {
        models.push(
            SessionConfigSelectOption::new(current.clone(), current.clone())
                .description(Some("from your settings".to_owned())),
        );
    }
    models.extend(KNOWN_MODELS.iter().map(|(id, name)| SessionConfigSelectOption::new(*id, *name)));
    let confirmation = [
        ("never", "Never ask", "the agent runs every action"),
        ("risky", "Ask for risky actions", "the agent asks before actions it rates high-risk"),
        ("always", "Always ask", "the agent asks before every action"),
    ]
    .map(|(id, name, about)| SessionConfigSelectOption::new(id, name).description(Some(about.to_owned())));
    let docker = format!(
        "a container per conversation that sees only its copy of your folder, {}",
        crate::sandbox::docker::describe_image(&settings.docker, folder)
    );
    let backends = [
        ("docker", "Docker sandbox", docker.as_str()),
        ("process", "Local process", "an agent-server on this machine, no sandbox"),
        ("cloud", "OpenHands Cloud", "clones your remote branch; changes come back for review"),
    ]
    .map(|(id, name, about)| SessionConfigSelectOption::new(id, name).description(Some(about.to_owned())));
    vec![
        SessionConfigOption::select(MODEL, "Model", current, models).category(Some(SessionConfigOptionCategory::Model)),
        SessionConfigOption::select(
            CONFIRMATION,
            "Confirm actions",
            settings.confirmation.as_str(),
            confirmation.to_vec(),
        )
        .category(Some(SessionConfigOptionCategory::Mode)),
        SessionConfigOption::select(BACKEND, "Run the agent in", settings.backend.as_str(), backends.to_vec())
            .category(Some(SessionConfigOptionCategory::Other("backend".into()))),
    ]
}

/// Sets one config option of `settings`: an unknown option or value is the caller's mistake, named.
pub fn set_option(settings: &mut Settings, id: &str, value: &SessionConfigOptionValue) -> Result<(), RpcError> {
    let SessionConfigOptionValue::ValueId { value } = value else {
        return Err(RpcError::invalid_params(format!("config option {id} takes one of its values, not true/false")));
    };
    let value: &str = &value.0;
    let bad =
        |allowed: &str| RpcError::invalid_params(format!("config option {id} has no value {value:?} ({allowed})"));
    match id {
        MODEL if value.contains('/') => settings.llm.model = value.to_owned(),
        MODEL => return Err(bad("a LiteLLM model name: provider/model")),
        CONFIRMATION => settings.confirmation = named(value).ok_or_else(|| bad("never, risky or always"))?,
        BACKEND => settings.backend = named(value).ok_or_else(|| bad("docker, process or cloud"))?,
        other => {
            return Err(RpcError::invalid_params(format!(
                "no config option {other:?}: the options are {MODEL}, {CONFIRMATION} and {BACKEND}"
            )));
        }
    }
    Ok(())
}

/// ACP's MCP servers as the core takes them. A stdio server must be runnable where the agent runs: on this machine
/// for the process backend (its command is looked up now); in the image for docker (looked up when it starts).
pub fn mcp_servers(servers: &[McpServer], backend: Backend) -> Result<McpServers, RpcError> {
    let mut all = BTreeMap::new();
    for server in servers {
        let (name, entry) = match server {
            McpServer::Http(s) => (
                &s.name,
                remote(McpKind::Http, &s.url, s.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect()),
            ),
            McpServer::Sse(s) => (
                &s.name,
                remote(McpKind::Sse, &s.url, s.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect()),
            ),
            McpServer::Stdio(s) => (
                &s.name,
                mcp::McpServer {
                    kind: Some(McpKind::Stdio),
                    command: Some(s.command.to_string_lossy().into_owned()),
                    args: s.args.clone(),
                    env: s.env.iter().map(|e| (e.name.clone(), e.value.clone())).collect(),
                    ..mcp::McpServer::default()
                },
            ),
            _ => {
                return Err(RpcError::invalid_params(
                    "an MCP server of a kind this agent does not take (http, sse, stdio)",
                ));
            }
        };
        all.insert(name.clone(), entry);
    }
    let servers = McpServers(all);
    servers.check_runnable(backend.as_str()).map_err(|e| RpcError::invalid_params(e.0))?;
    Ok(servers)
}

fn remote(kind: McpKind, url: &str, headers: BTreeMap<String, String>) -> mcp::McpServer {
    mcp::McpServer { kind: Some(kind), url: Some(url.to_owned()), headers, ..mcp::McpServer::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfirmationMode;
    use serde_json::json;

    #[test]
    fn options_are_set_by_value_and_bad_ones_named() {
        let mut s = Settings::default();
        set_option(&mut s, CONFIRMATION, &SessionConfigOptionValue::value_id("always")).expect("set");
        assert_eq!(s.confirmation, ConfirmationMode::Always);
        set_option(&mut s, MODEL, &SessionConfigOptionValue::value_id("openai/gpt-4o")).expect("set");
        assert_eq!(s.llm.model, "openai/gpt-4o");
        let e = set_option(&mut s, BACKEND, &SessionConfigOptionValue::value_id("moon")).expect_err("bad");
        assert!(e.message.contains("docker, process or cloud"), "{}", e.message);
        let e = set_option(&mut s, "colour", &SessionConfigOptionValue::value_id("red")).expect_err("bad");
        assert!(e.message.contains("no config option"), "{}", e.message);
        let options = serde_json::to_value(config_options(&s, std::path::Path::new("/nowhere"))).expect("json");
        assert!(
            options[2]["options"][0]["description"]
                .as_str()
                .unwrap()
                .ends_with("in the agent-server image (Python only: the folder has no dev container)"),
            "{options}"
        );
        assert_eq!(options[1]["currentValue"], "always");
        assert_eq!(options[0]["currentValue"], "openai/gpt-4o");
    }

    #[test]
    fn mcp_servers_become_the_agents_config() {
        let servers: Vec<McpServer> = serde_json::from_value(json!([
            {"type": "http", "name": "docs", "url": "http://127.0.0.1:9/mcp", "headers": [{"name": "Authorization", "value": "Bearer x"}]},
            {"name": "local", "command": "sh", "args": ["-c", "true"], "env": [{"name": "TOKEN", "value": "t"}]},
        ]))
        .expect("servers");
        let servers = mcp_servers(&servers, Backend::Process).expect("ok");
        let config = servers.agent_config(&|_| None).expect("ok").expect("some");
        assert_eq!(config["docs"]["transport"], "http");
        assert_eq!(config["docs"]["headers"]["Authorization"], "Bearer x");
        assert_eq!(config["local"]["command"], "sh");
        assert_eq!(config["local"]["env"]["TOKEN"], "t");
        let missing: Vec<McpServer> =
            serde_json::from_value(json!([{"name": "gone", "command": "no-such-mcp-server", "args": [], "env": []}]))
                .expect("servers");
        let e = mcp_servers(&missing, Backend::Process).expect_err("missing command");
        assert!(e.message.contains("no-such-mcp-server") && e.message.contains("not found"), "{}", e.message);
        assert!(mcp_servers(&missing, Backend::Docker).is_ok(), "in the image: looked up when the container is up");
    }
}

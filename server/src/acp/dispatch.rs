//! The one table of ACP methods: each method's parameters parsed into the official types (a bad field named),
//! its handler, its answer; an unknown method answered as such; `session/cancel` as a notification.

use std::sync::Arc;

use agent_client_protocol_schema::ProtocolVersion;
use agent_client_protocol_schema::v1::{
    AgentCapabilities, AuthMethod, AuthMethodAgent, AuthMethodTerminal, AuthenticateResponse, Implementation,
    InitializeRequest, InitializeResponse, McpCapabilities, NewSessionRequest, NewSessionResponse, PromptCapabilities,
    SessionAdditionalDirectoriesCapabilities, SessionCapabilities, SessionCloseCapabilities, SessionListCapabilities,
    SessionResumeCapabilities, SetSessionConfigOptionRequest, SetSessionConfigOptionResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::errors::RpcError;
use super::front::{ClientFacts, Front};
use super::session::{BACKEND, CONFIRMATION, MODEL, Session, config_options, mcp_servers, set_option};
use super::transport::Incoming;
use crate::secrets::SecretName;

fn parse<T: DeserializeOwned>(method: &str, params: Value) -> Result<T, RpcError> {
    serde_path_to_error::deserialize(params)
        .map_err(|e| RpcError::invalid_params(format!("{method}: {} (at {})", e.inner(), e.path())))
}

fn answer<T: Serialize>(result: Result<T, RpcError>) -> Result<Value, RpcError> {
    result.and_then(|r| serde_json::to_value(r).map_err(|e| RpcError::internal(e.to_string())))
}

/// Handles one message from the client; requests are answered here.
/// `arrived`: its place in the order messages came in.
pub async fn handle(front: Arc<Front>, incoming: Incoming, arrived: u64) {
    match incoming {
        Incoming::Request { id, method, params } => {
            let result = request(&front, &method, params, arrived).await;
            if let Err(e) = &result {
                tracing::info!("{method}: {}", e.message);
            }
            front.peer.respond(id, result);
        }
        Incoming::Notification { method, params } => match method.as_str() {
            "session/cancel" => {
                if let Ok(n) = parse::<agent_client_protocol_schema::v1::CancelNotification>(&method, params) {
                    super::turn::cancel(front, n.session_id.0.to_string(), arrived).await;
                }
            }
            // Extension notifications and ones this agent does not know are ignored, as JSON-RPC says.
            other => tracing::debug!("notification {other} ignored"),
        },
    }
}

/// The methods this agent serves (`request`'s table; docs/acp.md documents each).
pub const METHODS: &[&str] = &[
    "initialize",
    "authenticate",
    "session/new",
    "session/set_config_option",
    "session/prompt",
    "session/list",
    "session/load",
    "session/resume",
    "session/close",
    "session/cancel",
    "_session/steering",
];

async fn request(front: &Arc<Front>, method: &str, params: Value, arrived: u64) -> Result<Value, RpcError> {
    match method {
        "initialize" => answer(initialize(front, parse(method, params)?)),
        "authenticate" => answer(authenticate(front)),
        "session/new" => {
            let created = new_session(front, parse(method, params)?);
            if let Ok(session) = &created {
                // After the answer (this task answers before the spawned one runs): the client knows the session.
                let (front, id) = (front.clone(), session.session_id.0.to_string());
                tokio::spawn(async move { front.send(&id, super::slash::available()) });
            }
            answer(created)
        }
        "session/set_config_option" => answer(set_config_option(front, parse(method, params)?).await),
        "session/prompt" => answer(prompt(front, parse(method, params)?, arrived).await),
        "session/list" => answer(super::history::list(front, parse(method, params)?).await),
        "session/load" => answer(super::history::load(front, parse(method, params)?).await),
        "session/resume" => answer(super::history::resume(front, parse(method, params)?).await),
        "session/close" => answer(super::history::close(front, parse(method, params)?).await),
        "_session/steering" => answer(super::steer::steer(front, parse(method, params)?).await),
        other => Err(RpcError::method_not_found(other)),
    }
}

/// A prompt: a slash command of ours, or a turn of the agent.
async fn prompt(
    front: &Arc<Front>,
    req: agent_client_protocol_schema::v1::PromptRequest,
    arrived: u64,
) -> Result<agent_client_protocol_schema::v1::PromptResponse, RpcError> {
    let id = req.session_id.0.to_string();
    let instruction = super::turn::instruction_of(&req.prompt);
    if instruction.text.trim().is_empty() && instruction.images.is_empty() {
        return Err(RpcError::invalid_params("the prompt is empty: say what the agent should do"));
    }
    match super::slash::parse(&instruction.text) {
        Some(command) => super::slash::run(front, &id, command).await,
        None => super::turn::prompt(front.clone(), id, instruction, arrived).await,
    }
}

const AUTH_METHOD: &str = "llm-api-key";
const LOGIN_METHOD: &str = "login";

fn initialize(front: &Front, req: InitializeRequest) -> Result<InitializeResponse, RpcError> {
    // Version 1 is the one this agent speaks: a client asking for another gets 1, and decides.
    if req.protocol_version != ProtocolVersion::V1 {
        tracing::info!("the client asked for ACP version {}: answering with 1", req.protocol_version);
    }
    front.set_client(ClientFacts {
        read_text_file: req.client_capabilities.fs.read_text_file,
        write_text_file: req.client_capabilities.fs.write_text_file,
    });
    let capabilities = AgentCapabilities::new()
        .load_session(true)
        .prompt_capabilities(PromptCapabilities::new().image(true).embedded_context(true))
        .mcp_capabilities(McpCapabilities::new().http(true).sse(true))
        .session_capabilities(
            SessionCapabilities::new()
                .list(Some(SessionListCapabilities::new()))
                .resume(Some(SessionResumeCapabilities::new()))
                .close(Some(SessionCloseCapabilities::new()))
                .additional_directories(Some(SessionAdditionalDirectoriesCapabilities::new())),
        )
        .meta(super::steer::announcement());
    let how = crate::editor::Editor::AgentPanel.how_to_set(SecretName::LlmApiKey);
    let auth = AuthMethod::Agent(
        AuthMethodAgent::new(AUTH_METHOD, "LLM API key").description(Some(format!("The model's API key: {how}."))),
    );
    // The panel runs this program again in a terminal with `login` appended (`openhands-lsp acp login`).
    let login = AuthMethod::Terminal(
        AuthMethodTerminal::new(LOGIN_METHOD, "Sign in in a terminal")
            .description(Some("Type the model and its API key; they are kept in your system's keyring.".to_owned()))
            .args(vec!["login".to_owned()]),
    );
    Ok(InitializeResponse::new(ProtocolVersion::V1)
        .agent_capabilities(capabilities)
        .auth_methods(vec![auth, login])
        .meta(super::steer::announcement())
        .agent_info(Some(Implementation::new("openhands-lsp", crate::VERSION).title(Some("OpenHands".to_owned())))))
}

/// The key comes from the environment: authenticating only checks that it is there.
fn authenticate(front: &Front) -> Result<AuthenticateResponse, RpcError> {
    check_key(front, &front.loaded.settings)?;
    Ok(AuthenticateResponse::new())
}

fn check_key(front: &Front, settings: &crate::config::Settings) -> Result<(), RpcError> {
    let needs = settings.backend != crate::config::Backend::Cloud
        && crate::editor::model_needs_key(&settings.llm.model, settings.llm.base_url.as_deref());
    if needs && front.secrets.get(SecretName::LlmApiKey).is_none() {
        let how = crate::editor::Editor::AgentPanel.how_to_set(SecretName::LlmApiKey);
        return Err(RpcError::auth_required(format!("no LLM API key is set for {}: {how}", settings.llm.model)));
    }
    Ok(())
}

/// `session/new`: at once, with no sandbox booted (the docker pool is warming already); the conversation starts
/// with the first prompt, under this session's id.
fn new_session(front: &Front, req: NewSessionRequest) -> Result<NewSessionResponse, RpcError> {
    if let Some(problem) = front.loaded.problems.first() {
        return Err(RpcError::invalid_params(format!(
            "bad settings: {problem}. No session starts with it: fix the file, then start a new session"
        )));
    }
    // No conversation could be had: say so now, not at the first prompt.
    front.manager()?;
    if !req.cwd.is_absolute() || !req.cwd.is_dir() {
        return Err(RpcError::invalid_params(format!("cwd {} is not an absolute path to a folder", req.cwd.display())));
    }
    // Each must be there now: the task gets a copy of each at its first prompt.
    if let Some(bad) = req.additional_directories.iter().find(|d| !d.is_absolute() || !d.is_dir()) {
        return Err(RpcError::invalid_params(format!(
            "additionalDirectories: {} is not an absolute path to a folder",
            bad.display()
        )));
    }
    let settings = front.loaded.settings.clone();
    check_key(front, &settings)?;
    let mcp = mcp_servers(&req.mcp_servers, settings.backend)?;
    let id = String::from(crate::conversation::ConversationId::new_random());
    let cwd = req.cwd.canonicalize().unwrap_or(req.cwd);
    let roots = vec![cwd.to_string_lossy().into_owned(), crate::sandbox::docker::CONTAINER_WORKSPACE.to_owned()];
    let options = config_options(&settings, &cwd);
    let mut session = Session::new(cwd, settings, roots);
    session.mcp_servers = mcp;
    session.additional_directories = req.additional_directories;
    front.insert_session(id.clone(), session);
    Ok(NewSessionResponse::new(id).config_options(Some(options)))
}

/// A config option of the session; for a conversation that runs, from the agent's next step on.
async fn set_config_option(
    front: &Front,
    req: SetSessionConfigOptionRequest,
) -> Result<SetSessionConfigOptionResponse, RpcError> {
    let id = req.session_id.0.to_string();
    let option: &str = &req.config_id.0;
    let (settings, started, cwd) = front.with_session(&id, |s| {
        if s.started && option == BACKEND {
            return Err(RpcError::invalid_params(
                "the backend of a conversation that has started cannot change: start a new session for another",
            ));
        }
        set_option(&mut s.settings, option, &req.value)?;
        Ok((s.settings.clone(), s.started, s.cwd.clone()))
    })??;
    let manager = front.manager()?;
    if started && manager.get(&id).is_ok_and(|s| s.live) {
        let model = (option == MODEL).then(|| settings.llm.model.clone());
        let confirmation = (option == CONFIRMATION).then_some(settings.confirmation);
        manager.configure(&id, model, confirmation).await?;
    }
    Ok(SetSessionConfigOptionResponse::new(config_options(&settings, &cwd)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_serves_exactly_the_methods_listed() {
        let source = include_str!("dispatch.rs");
        let mut served: Vec<&str> =
            source.lines().filter_map(|l| l.trim().strip_prefix('"')?.split_once("\" =>").map(|(m, _)| m)).collect();
        served.sort_unstable();
        served.dedup();
        let mut listed = super::METHODS.to_vec();
        listed.sort_unstable();
        assert_eq!(served, listed);
    }
}

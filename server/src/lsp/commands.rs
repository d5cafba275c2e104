//! `workspace/executeCommand`: the command names, argument parsing, and the mapping of errors to JSON-RPC codes.

use serde::de::DeserializeOwned;
use serde_json::Value;
use tower_lsp_server::jsonrpc::{Error, ErrorCode};

pub const STATUS: &str = "openhands.status";
pub const START_TASK: &str = "openhands.startTask";
pub const SEND_MESSAGE: &str = "openhands.sendMessage";
pub const PAUSE: &str = "openhands.pause";
pub const RESUME: &str = "openhands.resume";
pub const STOP: &str = "openhands.stop";
pub const LIST_CONVERSATIONS: &str = "openhands.listConversations";
pub const GET_EVENTS: &str = "openhands.getEvents";
pub const RESPOND_TO_CONFIRMATION: &str = "openhands.respondToConfirmation";
pub const SET_SECRET: &str = "openhands.setSecret";
pub const REVIEW_CHANGES: &str = "openhands.reviewChanges";
pub const APPLY_CHANGES: &str = "openhands.applyChanges";
pub const DISCARD_CHANGES: &str = "openhands.discardChanges";
pub const PUSH_CHANGES: &str = "openhands.pushChanges";
pub const FIX_DIAGNOSTIC: &str = "openhands.fixDiagnostic";
pub const FIX_ISSUE: &str = "openhands.fixIssue";
pub const CREATE_PULL_REQUEST: &str = "openhands.createPullRequest";
pub const SUGGESTED_TASKS: &str = "openhands.suggestedTasks";
pub const ATTACH_CONVERSATION: &str = "openhands.attachConversation";
pub const STORE_PROVIDER_TOKENS_IN_CLOUD: &str = "openhands.storeProviderTokensInCloud";

/// Exactly the commands this server implements; advertised in `executeCommandProvider`.
pub const ALL: &[&str] = &[
    STATUS,
    START_TASK,
    SEND_MESSAGE,
    PAUSE,
    RESUME,
    STOP,
    LIST_CONVERSATIONS,
    GET_EVENTS,
    RESPOND_TO_CONFIRMATION,
    SET_SECRET,
    REVIEW_CHANGES,
    APPLY_CHANGES,
    DISCARD_CHANGES,
    PUSH_CHANGES,
    FIX_DIAGNOSTIC,
    FIX_ISSUE,
    CREATE_PULL_REQUEST,
    SUGGESTED_TASKS,
    ATTACH_CONVERSATION,
    STORE_PROVIDER_TOKENS_IN_CLOUD,
];

/// Every command takes one JSON object as its single argument; no argument means `{}`.
pub fn parse_args<T: DeserializeOwned>(command: &str, arguments: Vec<Value>) -> Result<T, Error> {
    let value = match arguments.len() {
        0 => Value::Object(Default::default()),
        1 => match arguments.into_iter().next() {
            Some(Value::Null) | None => Value::Object(Default::default()),
            Some(v @ Value::Object(_)) => v,
            Some(other) => {
                return Err(invalid_params(format!(
                    "{command}: arguments[0] must be a JSON object, got {}",
                    short(&other)
                )));
            }
        },
        n => return Err(invalid_params(format!("{command} takes one JSON object argument, got {n} arguments"))),
    };
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { format!(".{path}") };
        invalid_params(format!("{command}: arguments[0]{field}: {}", e.inner()))
    })
}

pub fn unknown_command(command: &str) -> Error {
    Error {
        code: ErrorCode::MethodNotFound,
        message: format!("unknown command {command:?}; this server implements: {}", ALL.join(", ")).into(),
        data: None,
    }
}

pub fn invalid_params(message: String) -> Error {
    Error { code: ErrorCode::InvalidParams, message: message.into(), data: None }
}

/// A well-formed request that failed (LSP's RequestFailed, -32803), with the domain's message.
pub fn request_failed(message: String) -> Error {
    Error { code: ErrorCode::ServerError(-32803), message: message.into(), data: None }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 60 { format!("{}…", &text[..text.floor_char_boundary(60)]) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        #[allow(dead_code)]
        instruction: String,
    }

    #[test]
    fn names_the_bad_field() {
        let err = parse_args::<Args>("openhands.x", vec![json!({"instruction": 5})]).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParams);
        assert!(err.message.contains("arguments[0].instruction"), "{}", err.message);
    }

    #[test]
    fn names_the_missing_field() {
        let err = parse_args::<Args>("openhands.x", vec![json!({})]).unwrap_err();
        assert!(err.message.contains("instruction"), "{}", err.message);
    }

    #[test]
    fn rejects_non_objects_and_extra_arguments() {
        assert!(parse_args::<Args>("c", vec![json!("text")]).unwrap_err().message.contains("must be a JSON object"));
        assert!(parse_args::<Args>("c", vec![json!({}), json!({})]).unwrap_err().message.contains("2 arguments"));
    }
}

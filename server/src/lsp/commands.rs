//! `workspace/executeCommand`: the command names, argument parsing, and the one table from a command to its
//! handler.

use serde::de::DeserializeOwned;
use serde_json::Value;
use tower_lsp_server::jsonrpc::{Error, ErrorCode};

use super::args::{
    ApplyArgs, AttachArgs, ConfirmationArgs, ConversationArgs, CreatePullRequestArgs, FixDiagnosticArgs, FixIssueArgs,
    GetEventsArgs, ListArgs, NoArgs, PushArgs, RejectHunksArgs, RestoreArgs, SendMessageArgs, SetSecretArgs,
    StartTaskArgs, StatusArgs, SuggestedTasksArgs, UnqueueMessageArgs,
};
use super::errors::invalid_params;
use super::names::*;
use super::state::Ctx;
use super::{checkpoints, cloud, conversations, issues, review, status};

/// Runs `command` with its arguments; an unknown one is MethodNotFound naming the commands there are.
pub async fn execute(ctx: &Ctx, command: &str, arguments: Vec<Value>) -> Result<Value, Error> {
    let args = arguments;
    match command {
        STATUS => status::command(ctx, parse::<StatusArgs>(command, args)?).await,
        START_TASK => conversations::start_task(ctx, parse::<StartTaskArgs>(command, args)?).await,
        FIX_DIAGNOSTIC => conversations::fix_diagnostic(ctx, parse::<FixDiagnosticArgs>(command, args)?).await,
        SEND_MESSAGE => conversations::send_message(ctx, parse::<SendMessageArgs>(command, args)?).await,
        UNQUEUE_MESSAGE => conversations::unqueue_message(ctx, parse::<UnqueueMessageArgs>(command, args)?).await,
        PAUSE => conversations::pause(ctx, parse::<ConversationArgs>(command, args)?).await,
        RESUME => conversations::resume(ctx, parse::<ConversationArgs>(command, args)?).await,
        STOP => conversations::stop(ctx, parse::<ConversationArgs>(command, args)?).await,
        LIST_CONVERSATIONS => conversations::list(ctx, parse::<ListArgs>(command, args)?).await,
        GET_EVENTS => conversations::events(ctx, parse::<GetEventsArgs>(command, args)?).await,
        RESPOND_TO_CONFIRMATION => conversations::confirm(ctx, parse::<ConfirmationArgs>(command, args)?).await,
        SET_SECRET => conversations::set_secret(ctx, parse::<SetSecretArgs>(command, args)?),
        REVIEW_CHANGES => review::review(ctx, parse::<ConversationArgs>(command, args)?).await,
        APPLY_CHANGES => review::apply(ctx, parse::<ApplyArgs>(command, args)?).await,
        DISCARD_CHANGES => review::discard(ctx, parse::<ConversationArgs>(command, args)?).await,
        REJECT_HUNKS => review::reject_hunks(ctx, parse::<RejectHunksArgs>(command, args)?).await,
        PUSH_CHANGES => review::push(ctx, parse::<PushArgs>(command, args)?).await,
        LIST_CHECKPOINTS => checkpoints::list(ctx, parse::<ConversationArgs>(command, args)?).await,
        RESTORE_CHECKPOINT => checkpoints::restore(ctx, parse::<RestoreArgs>(command, args)?).await,
        FIX_ISSUE => issues::fix_issue(ctx, parse::<FixIssueArgs>(command, args)?).await,
        CREATE_PULL_REQUEST => issues::create_pull_request(ctx, parse::<CreatePullRequestArgs>(command, args)?).await,
        SUGGESTED_TASKS => issues::suggested_tasks(ctx, parse::<SuggestedTasksArgs>(command, args)?).await,
        ATTACH_CONVERSATION => cloud::attach(ctx, parse::<AttachArgs>(command, args)?).await,
        STORE_PROVIDER_TOKENS_IN_CLOUD => cloud::store_provider_tokens(ctx, parse::<NoArgs>(command, args)?).await,
        other => Err(unknown_command(other)),
    }
}

/// Every command takes one JSON object as its single argument; no argument means `{}`.
pub fn parse<T: DeserializeOwned>(command: &str, arguments: Vec<Value>) -> Result<T, Error> {
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
        let err = parse::<Args>("openhands.x", vec![json!({"instruction": 5})]).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParams);
        assert!(err.message.contains("arguments[0].instruction"), "{}", err.message);
    }

    #[test]
    fn names_the_missing_field() {
        let err = parse::<Args>("openhands.x", vec![json!({})]).unwrap_err();
        assert!(err.message.contains("instruction"), "{}", err.message);
    }

    #[test]
    fn rejects_non_objects_and_extra_arguments() {
        assert!(parse::<Args>("c", vec![json!("text")]).unwrap_err().message.contains("must be a JSON object"));
        assert!(parse::<Args>("c", vec![json!({}), json!({})]).unwrap_err().message.contains("2 arguments"));
    }
}

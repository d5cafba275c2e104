//! The one place where the core's errors become JSON-RPC errors: the caller's mistakes are InvalidParams, a
//! request the user cancelled is RequestCancelled, everything else is a well-formed request that failed
//! (RequestFailed, -32803) with the domain's message, which says what to do.

use tower_lsp_server::jsonrpc::{Error, ErrorCode};

use crate::cloud::CloudError;
use crate::conversation::ConversationError;
use crate::declined::RejectError;
use crate::issues::IssueError;
use crate::providers::ProviderError;

/// LSP's RequestFailed: the request was valid, the server could not do it.
pub const REQUEST_FAILED: i64 = -32803;

fn error(code: ErrorCode, message: String) -> Error {
    Error { code, message: message.into(), data: None }
}

pub fn invalid_params(message: String) -> Error {
    error(ErrorCode::InvalidParams, message)
}

pub fn request_failed(message: String) -> Error {
    error(ErrorCode::ServerError(REQUEST_FAILED), message)
}

pub fn cancelled(message: String) -> Error {
    error(ErrorCode::RequestCancelled, message)
}

/// Conversations cannot be had at all (an unusable state directory).
pub fn unavailable(reason: &str) -> Error {
    request_failed(format!("conversations are unavailable: {reason}"))
}

/// An invalid argument of `command`, named in the message.
pub fn bad_argument(command: &str, message: impl std::fmt::Display) -> Error {
    invalid_params(format!("{command}: {message}"))
}

impl From<ConversationError> for Error {
    fn from(err: ConversationError) -> Self {
        let code = match err {
            ConversationError::Unknown(_)
            | ConversationError::BadId(_)
            | ConversationError::BadWorkspace(_)
            | ConversationError::NotIsolated(_) => ErrorCode::InvalidParams,
            _ => ErrorCode::ServerError(REQUEST_FAILED),
        };
        error(code, err.to_string())
    }
}

impl From<CloudError> for Error {
    fn from(err: CloudError) -> Self {
        request_failed(err.to_string())
    }
}

impl From<ProviderError> for Error {
    fn from(err: ProviderError) -> Self {
        request_failed(err.to_string())
    }
}

impl From<RejectError> for Error {
    fn from(err: RejectError) -> Self {
        match err {
            RejectError::UnknownHunk(_) => invalid_params(err.to_string()),
            RejectError::Conversation(e) => e.into(),
        }
    }
}

/// Issue errors of `command`: a bad input names the command.
pub fn issue(command: &str, err: IssueError) -> Error {
    match err {
        IssueError::BadInput(message) => bad_argument(command, message),
        IssueError::Provider(e) => e.into(),
        IssueError::Conversation(e) => e.into(),
        IssueError::Failed(message) => request_failed(message),
    }
}

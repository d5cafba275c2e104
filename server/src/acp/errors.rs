//! The one place where errors become ACP's JSON-RPC errors: the caller's mistakes are InvalidParams (an unknown
//! session is ACP's resource-not-found), a missing LLM key is ACP's auth-required, everything else an internal
//! error whose message says what happened and what to do.

use serde_json::{Value, json};

use crate::conversation::ConversationError;

/// JSON-RPC's codes, and ACP's own.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// ACP: the agent needs authentication (here: an LLM key) before it can make sessions.
    pub const AUTH_REQUIRED: i64 = -32000;
    /// ACP: a resource (a session) that does not exist.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
}

#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }
    pub fn parse(message: impl Into<String>) -> Self {
        Self::new(code::PARSE_ERROR, message)
    }
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_REQUEST, message)
    }
    pub fn method_not_found(method: &str) -> Self {
        Self::new(code::METHOD_NOT_FOUND, format!("openhands-lsp acp does not serve {method}"))
    }
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMS, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(code::INTERNAL_ERROR, message)
    }
    pub fn auth_required(message: impl Into<String>) -> Self {
        Self::new(code::AUTH_REQUIRED, message)
    }
    pub fn unknown_session(id: &str) -> Self {
        let mut e = Self::new(
            code::RESOURCE_NOT_FOUND,
            format!("no session {id}: it was never made here, or it was closed (session/list shows what there is)"),
        );
        e.data = Some(json!({"sessionId": id}));
        e
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            v["data"] = data.clone();
        }
        v
    }

    /// An error the client answered one of our requests with.
    pub fn from_client(error: &Value) -> Self {
        RpcError {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(code::INTERNAL_ERROR),
            message: error.get("message").and_then(Value::as_str).unwrap_or("the editor refused").to_owned(),
            data: error.get("data").cloned(),
        }
    }
}

impl From<ConversationError> for RpcError {
    fn from(err: ConversationError) -> Self {
        let message = err.to_string();
        match err {
            ConversationError::NoLlmKey { .. } => RpcError::auth_required(message),
            ConversationError::Unknown(id) => RpcError::unknown_session(&id),
            ConversationError::BadId(_)
            | ConversationError::BadWorkspace(_)
            | ConversationError::NotIsolated(_)
            | ConversationError::AlreadyExists(_) => RpcError::invalid_params(message),
            _ => RpcError::internal(message),
        }
    }
}

impl From<crate::declined::RejectError> for RpcError {
    fn from(err: crate::declined::RejectError) -> Self {
        match err {
            crate::declined::RejectError::UnknownHunk(_) => RpcError::invalid_params(err.to_string()),
            crate::declined::RejectError::Conversation(e) => e.into(),
        }
    }
}

impl From<crate::issues::IssueError> for RpcError {
    fn from(err: crate::issues::IssueError) -> Self {
        match err {
            crate::issues::IssueError::BadInput(message) => RpcError::invalid_params(message),
            other => RpcError::internal(other.to_string()),
        }
    }
}

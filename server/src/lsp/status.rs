//! The server's health and settings as the editor sees them: `openhands/status` (a popup once per new blocking
//! problem), `openhands.status`, and settings applied from the client (their problems shown once per distinct set).

use serde_json::{Value, json};
use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc::Error;
use tower_lsp_server::lsp_types::MessageType;

use super::args::StatusArgs;
use super::ext::{Status, StatusKind, StatusParams};
use super::state::{Ctx, Shared};
use crate::doctor;

/// Called with a check of whether the server is still idle at the moment of publishing.
pub type StillIdle = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

fn doctor_inputs(shared: &Shared, smoke: bool) -> doctor::Inputs {
    let (snap, problems) = {
        let session = shared.session();
        (session.snapshot(), session.settings_problems.clone())
    };
    doctor::Inputs {
        editor: snap.editor(),
        settings: snap.settings,
        settings_problems: problems,
        state_dir: shared.state_dir.clone(),
        secrets: shared.secrets.clone(),
        smoke,
        folder: snap.roots.first().cloned(),
    }
}

/// Applies new settings, shows their problems once, logs unknown keys, and publishes the status.
pub async fn apply_settings(client: &Client, shared: &Shared, value: &Value, origin: &str) {
    let parsed = crate::config::parse(value);
    for key in &parsed.unknown_keys {
        tracing::warn!("{origin}: unknown setting {key} (ignored)");
    }
    let problems: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
    shared.set_settings(parsed.settings, problems.clone());
    let to_show = {
        let mut session = shared.session();
        if problems.is_empty() || session.last_shown_problems.as_ref() == Some(&problems) {
            None
        } else {
            session.last_shown_problems = Some(problems.clone());
            Some(problems)
        }
    };
    if let Some(problems) = to_show {
        show_settings_problems(client, &problems).await;
    }
    publish(client, shared, true, None).await;
}

/// One warning naming each setting that was not understood (each problem says the default is used instead).
pub async fn show_settings_problems(client: &Client, problems: &[String]) {
    let message = format!("OpenHands: settings not understood: {}", problems.join("; "));
    tracing::warn!("{message}");
    client.show_message(MessageType::WARNING, message).await;
}

/// Sends `openhands/status` from the server's checks. `announce`: a new problem is also shown in a popup (else only
/// in the status). `still_idle`: published only if it still holds once the checks are done.
pub async fn publish(client: &Client, shared: &Shared, announce: bool, still_idle: Option<StillIdle>) {
    let report = doctor::run(&doctor_inputs(shared, false)).await;
    let problems = shared.session().settings_problems.clone();
    let params = if !report.ok {
        let failing: Vec<String> =
            report.checks.iter().filter(|c| c.status == doctor::CheckStatus::Error).map(|c| c.detail.clone()).collect();
        let message = failing.join("; ");
        let first_time = {
            let mut session = shared.session();
            let new = session.last_shown_status_error.as_ref() != Some(&message);
            if announce {
                session.last_shown_status_error = Some(message.clone());
            }
            new && announce
        };
        if first_time {
            client.show_message(MessageType::ERROR, format!("OpenHands: {message}")).await;
        }
        StatusParams { busy: false, message, kind: StatusKind::Error }
    } else if !problems.is_empty() {
        StatusParams {
            busy: false,
            message: format!("Invalid settings: {}", problems.join("; ")),
            kind: StatusKind::Warning,
        }
    } else {
        StatusParams { busy: false, message: "Ready".into(), kind: StatusKind::Normal }
    };
    if still_idle.is_none_or(|idle| idle()) {
        client.send_notification::<Status>(params).await;
    }
}

/// `openhands.status`: the checks, with the session's facts.
pub async fn command(ctx: &Ctx, args: StatusArgs) -> Result<Value, Error> {
    let shared = &ctx.shared;
    let report = doctor::run(&doctor_inputs(shared, args.smoke_check)).await;
    let mut value = serde_json::to_value(&report).unwrap_or(Value::Null);
    let usage = session_usage(ctx);
    let session = shared.session();
    if let Value::Object(map) = &mut value {
        map.insert(
            "workspaceFolders".into(),
            session.workspace_folders().iter().map(|f| json!({"uri": f.uri.as_str(), "name": f.name})).collect(),
        );
        map.insert("settingsProblems".into(), json!(session.settings_problems));
        map.insert("openDocuments".into(), json!(session.documents.len()));
        map.insert("warmPool".into(), json!(shared.backends.docker.pool_status()));
        map.insert("positionEncoding".into(), json!(if ctx.snap.client.utf8_positions { "utf-8" } else { "utf-16" }));
        map.insert("usage".into(), json!(usage));
    }
    Ok(value)
}

/// The LLM use of the conversations this server ran, summed (kept in memory: the history is not read), with how
/// many there were.
fn session_usage(ctx: &Ctx) -> Value {
    let Ok(manager) = ctx.manager() else { return Value::Null };
    let (total, conversations) = manager.session_usage();
    let mut total = json!(super::wire::Usage::from(total));
    total["conversations"] = json!(conversations);
    total
}

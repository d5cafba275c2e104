//! Before the agent starts in a sandbox that runs set-up (a container): what the project's configuration asks that is
//! not applied, said once, then its set-up commands (the dev container's `postCreateCommand`, then the folder's
//! `.openhands/setup.sh`), each shown as a step of the conversation with its output. A failure is said there and
//! the agent starts anyway: it can still read the code, and it sees what failed.

use serde_json::json;

use super::Update;
use super::runner::Runner;
use super::store::{now_ms, rfc3339};
use super::tracker::Tracker;
use crate::agent_server::AgentServerClient;
use crate::agent_server::events::AgentEvent;
use crate::sandbox::Sandbox;
use crate::sandbox::devcontainer::SetupCommand;

/// OpenHands' own convention: a folder's set-up script, run where the agent works before it starts.
pub(super) const SETUP_SCRIPT: &str = ".openhands/setup.sh";

impl Runner {
    /// Whether the agent's folder has [`SETUP_SCRIPT`].
    pub(super) fn has_setup_script(folder: &std::path::Path) -> bool {
        folder.join(SETUP_SCRIPT).is_file()
    }

    /// The project's image a sandbox runs, for the conversation's record.
    pub(super) fn image_of(environment: &crate::sandbox::Environment) -> Option<super::store::SandboxImage> {
        let (name, origin) = (environment.image.clone()?, environment.origin.clone()?);
        Some(super::store::SandboxImage { name, origin })
    }

    /// Says the environment's notice and runs its set-up commands (`script`: the folder has [`SETUP_SCRIPT`]).
    pub(super) async fn set_up(
        &mut self,
        sandbox: &Sandbox,
        script: bool,
        tracker: &mut Tracker,
        client: &AgentServerClient,
    ) {
        let environment = &sandbox.environment;
        if let Some(notice) = &environment.notice {
            self.observer.update(Update::Notice { conversation_id: self.id.clone(), message: notice.clone() });
        }
        let mut commands = environment.setup.clone();
        if script {
            commands.push((SETUP_SCRIPT.to_owned(), SetupCommand::Exec(vec!["bash".into(), SETUP_SCRIPT.into()])));
        }
        for (i, (name, command)) in commands.iter().enumerate() {
            let shown = match command {
                SetupCommand::Shell(text) => text.clone(),
                SetupCommand::Exec(argv) => argv.join(" "),
            };
            let label = if name == "postCreateCommand" || name == SETUP_SCRIPT {
                name.clone()
            } else {
                format!("postCreateCommand {name}")
            };
            self.observer
                .update(Update::Progress { conversation_id: self.id.clone(), message: format!("set-up: {label}…") });
            let Some(run) = sandbox.handle.run_setup(command, environment.setup_timeout).await else {
                // This backend runs no set-up: nothing to show.
                return;
            };
            let outcome = match (run.timed_out, run.exit_code) {
                (true, _) => format!(
                    "[set-up: {label} did not finish within {} s (openhands.docker.setupTimeoutSeconds) and was \
                     stopped; the agent starts anyway]",
                    environment.setup_timeout.as_secs()
                ),
                (false, Some(0)) => String::new(),
                (false, Some(code)) => format!("[set-up: {label} failed (exit code {code}); the agent starts anyway]"),
                (false, None) => format!("[set-up: {label} could not run; the agent starts anyway]"),
            };
            let output = [run.output.trim_end(), outcome.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("\n");
            let exit_code = run.exit_code.unwrap_or(-1);
            let id = format!("setup-{i}-{}", uuid::Uuid::new_v4().simple());
            let timestamp = rfc3339(now_ms());
            let action = json!({
                "id": format!("{id}-action"), "kind": "ActionEvent", "source": "environment", "timestamp": timestamp,
                "tool_name": "terminal", "tool_call_id": id, "thought": [],
                "action": {"kind": "TerminalAction", "command": shown, "is_input": false},
                "summary": format!("set-up: {label}"),
            });
            let observation = json!({
                "id": format!("{id}-observation"), "kind": "ObservationEvent", "source": "environment",
                "timestamp": timestamp, "tool_name": "terminal", "tool_call_id": id, "action_id": format!("{id}-action"),
                "observation": {
                    "kind": "TerminalObservation", "command": shown, "exit_code": exit_code,
                    "content": [{"type": "text", "text": output}],
                },
            });
            for raw in [action, observation] {
                match AgentEvent::from_json(raw) {
                    Ok(event) => self.on_event(event, tracker, client).await,
                    Err(e) => tracing::warn!(conversation = %self.id, "set-up step not shown: {e}"),
                }
            }
        }
    }
}

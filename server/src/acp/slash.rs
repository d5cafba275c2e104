//! Slash commands (`available_commands_update`): what the LSP front offers as commands, typed in the agent panel.
//! Each answers with a message and ends the turn; none reaches the model.

use std::sync::Arc;

use agent_client_protocol_schema::v1::{
    AvailableCommand, AvailableCommandInput, AvailableCommandsUpdate, PromptResponse, SessionUpdate, StopReason,
    UnstructuredCommandInput,
};

use super::errors::RpcError;
use super::front::Front;
use super::review::message;

/// A slash command as typed: its name and the rest of the line.
#[derive(Debug, PartialEq)]
pub struct Command {
    pub name: &'static str,
    pub argument: String,
}

const COMMANDS: &[(&str, &str, Option<&str>)] = &[
    ("review", "Show the agent's changes as diffs", None),
    ("apply", "Apply the agent's changes to your files (merged with your edits)", None),
    ("discard", "Drop the agent's changes and its copy", None),
    ("pr", "Push the changes as a new branch and open a pull request", None),
    ("comment-issue", "Put the pull request's link on its Jira or Linear issue", None),
    (
        "fix-issue",
        "Start on an issue: #12, owner/repo#12, PROJ-123 or its URL (none: the one your branch names)",
        Some("#12, PROJ-123 or the issue's URL"),
    ),
    ("pause", "Pause the agent", None),
    ("resume", "Resume the agent (it asks again for anything unconfirmed)", None),
];

/// The commands' names (docs/acp.md documents each).
pub fn names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|(name, _, _)| *name)
}

/// The commands, for `available_commands_update`.
pub fn available() -> SessionUpdate {
    let commands = COMMANDS
        .iter()
        .map(|(name, about, hint)| {
            let command = AvailableCommand::new(*name, *about);
            match hint {
                Some(hint) => {
                    command.input(Some(AvailableCommandInput::Unstructured(UnstructuredCommandInput::new(*hint))))
                }
                None => command,
            }
        })
        .collect();
    SessionUpdate::AvailableCommandsUpdate(AvailableCommandsUpdate::new(commands))
}

/// `/name rest` when `name` is one of ours; anything else is a prompt for the agent.
pub fn parse(text: &str) -> Option<Command> {
    let rest = text.trim().strip_prefix('/')?;
    let (name, argument) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let name = COMMANDS.iter().map(|(n, _, _)| *n).find(|n| *n == name)?;
    Some(Command { name, argument: argument.trim().to_owned() })
}

pub async fn run(front: &Arc<Front>, id: &str, command: Command) -> Result<PromptResponse, RpcError> {
    let started = front.with_session(id, |s| s.started)?;
    if !started && command.name != "fix-issue" {
        return Err(RpcError::invalid_request(format!(
            "/{} needs a conversation: this session has none yet (say what the agent should do first)",
            command.name
        )));
    }
    let text = match command.name {
        "review" => super::review::show(front, id).await?,
        "apply" => super::review::apply_all(front, id).await?.0,
        "discard" => {
            front.manager()?.discard(id).await?;
            front.with_session(id, |s| s.discarded = true)?;
            super::session::DISCARDED.to_owned()
        }
        "pr" => pull_request(front, id).await?,
        "comment-issue" => comment_issue(front, id).await?,
        "fix-issue" => return fix_issue(front, id, &command.argument).await,
        "pause" => {
            front.manager()?.pause(id).await?;
            "Paused. /resume goes on.".to_owned()
        }
        "resume" => {
            front.manager()?.resume(id).await?;
            "Resumed.".to_owned()
        }
        _ => return Err(RpcError::method_not_found(command.name)),
    };
    front.send(id, message(text));
    Ok(PromptResponse::new(StopReason::EndTurn))
}

async fn pull_request(front: &Arc<Front>, id: &str) -> Result<String, RpcError> {
    let manager = front.manager()?;
    let settings = front.with_session(id, |s| s.settings.clone())?;
    let providers = crate::providers::Providers::new(
        crate::providers::ProvidersSettings::from_settings(&settings),
        front.secrets.clone(),
    );
    let opened = crate::issues::open_pull_request(manager, (id, None), &providers, &front.secrets, false).await?;
    let mut text = format!(
        "Opened pull request #{} ({}) from branch {}: {}",
        opened.pull.number, opened.pull.title, opened.branch, opened.pull.url
    );
    if let Some(link) = opened.tracker_issue {
        text.push_str(&format!("\n\n/comment-issue puts its link on {} too.", link.label()));
        front.with_session(id, |s| s.tracker_pull = Some((link, opened.pull.url.clone())))?;
    }
    Ok(text)
}

/// `/comment-issue`: the user's yes to a comment with the pull request's link on its Jira or Linear issue.
async fn comment_issue(front: &Arc<Front>, id: &str) -> Result<String, RpcError> {
    let (pull, settings) = front.with_session(id, |s| (s.tracker_pull.clone(), s.settings.clone()))?;
    let Some((link, url)) = pull else {
        return Err(RpcError::invalid_request(
            "no pull request for a Jira or Linear issue yet: /pr opens one for a session started with /fix-issue",
        ));
    };
    crate::issues::tracker::comment_with_pull(&link, "pull request", &url, &front.trackers(&settings)).await?;
    front.with_session(id, |s| s.tracker_pull = None)?;
    Ok(format!("Commented on {} with the pull request's link.", link.label()))
}

/// `/fix-issue #12` (or `PROJ-123`, or nothing: the issue the branch names): the issue becomes this session's task
/// (a session that has no conversation yet).
async fn fix_issue(front: &Arc<Front>, id: &str, reference: &str) -> Result<PromptResponse, RpcError> {
    let (cwd, settings, started) = front.with_session(id, |s| (s.cwd.clone(), s.settings.clone(), s.started))?;
    if started {
        return Err(RpcError::invalid_request(
            "this session has a conversation already: start a new session for the issue",
        ));
    }
    let providers = crate::providers::Providers::new(
        crate::providers::ProvidersSettings::from_settings(&settings),
        front.secrets.clone(),
    );
    let sources = (&providers, &front.trackers(&settings));
    let req = crate::issues::fix_task(reference, None, std::slice::from_ref(&cwd), sources).await?;
    front.send(id, message(format!("Working on {}.", req.title)));
    // A session with no conversation yet has no turn to be queued behind.
    super::turn::run_turn(front, id, u64::MAX, async { super::turn::start(front, id, req, &settings) }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_commands_are_commands() {
        assert_eq!(parse("/fix-issue  #12 "), Some(Command { name: "fix-issue", argument: "#12".into() }));
        assert_eq!(parse("/review"), Some(Command { name: "review", argument: String::new() }));
        assert_eq!(parse("/etc/hosts is broken"), None);
        assert_eq!(parse("please /review"), None);
    }
}

//! Jira and Linear issues made into tasks: the reference read (given, or the one the branch or its latest commits
//! name), the issue fetched and told to the agent, and the comment with the pull request's link put back on it.

use std::path::Path;

use super::IssueError;
use crate::conversation::{IssueLink, StartRequest};
use crate::providers::{SuggestedTask, TaskKind};
use crate::tasks::title_from;
use crate::trackers::reference::{self, Known};
use crate::trackers::{TrackerIssue, TrackerKind, Trackers};

/// How many of the branch's latest commits are read for a reference.
const COMMITS_READ: usize = 10;

/// What is known without asking the trackers: the cached keys and Jira's site.
pub fn known(trackers: &Trackers) -> Known {
    Known {
        keys: trackers.cached_keys().into_iter().map(|(kind, keys, _)| (kind, keys)).collect(),
        jira_site: trackers.jira_site(),
    }
}

/// Everything known, the keys read from the trackers where not cached (their errors are logged).
async fn known_fresh(trackers: &Trackers) -> Known {
    trackers.refresh_keys().await;
    known(trackers)
}

/// The key `text` names, when it is a tracker reference, with its tracker checked.
async fn resolve(text: &str, trackers: &Trackers) -> Result<Option<(String, TrackerKind)>, IssueError> {
    let Some((key, kind)) = reference::parse(text, &known(trackers)) else { return Ok(None) };
    if let Some(kind) = kind {
        return Ok(Some((key, kind)));
    }
    let configured = trackers.configured();
    if configured.is_empty() {
        return Err(IssueError::BadInput(format!(
            "{key} looks like a Jira or Linear issue, and neither is set up: set openhands.jira.url (and jira_token), \
             or linear_api_key"
        )));
    }
    match trackers.tracker_of(&key).await.map_err(|e| IssueError::Failed(e.to_string()))? {
        Some(kind) => Ok(Some((key, kind))),
        None => {
            let prefix = key.rsplit_once('-').map_or(key.as_str(), |(p, _)| p);
            let seen: Vec<String> = known(trackers)
                .keys
                .iter()
                .map(|(kind, keys)| {
                    format!("{}: {}", kind.name(), if keys.is_empty() { "none".into() } else { keys.join(", ") })
                })
                .collect();
            Err(IssueError::BadInput(format!(
                "{key}: no project or team {prefix} that the token can see ({})",
                seen.join("; ")
            )))
        }
    }
}

/// The task for a Jira or Linear reference, run in `workspace`; `None` when `text` is no tracker reference.
pub async fn fix_task(text: &str, workspace: &Path, trackers: &Trackers) -> Result<Option<StartRequest>, IssueError> {
    let Some((key, kind)) = resolve(text, trackers).await? else { return Ok(None) };
    let issue = trackers.issue(kind, &key).await.map_err(|e| IssueError::Failed(e.to_string()))?;
    let title = title_from(&format!("Fix {}: {}", issue.key, issue.title));
    Ok(Some(StartRequest {
        instruction: instruction(&issue),
        title,
        workspace: workspace.to_path_buf(),
        issue: Some(link_of(&issue, trackers)),
        attach: None,
        ..Default::default()
    }))
}

fn link_of(issue: &TrackerIssue, trackers: &Trackers) -> IssueLink {
    let host = match issue.tracker {
        TrackerKind::Jira => trackers.jira_site().unwrap_or_default(),
        TrackerKind::Linear => "linear.app".into(),
    };
    IssueLink {
        provider: issue.tracker.id().into(),
        host: host.trim_start_matches("https://").trim_start_matches("http://").to_owned(),
        repository: String::new(),
        number: issue.key.rsplit_once('-').and_then(|(_, n)| n.parse().ok()).unwrap_or(0),
        title: issue.title.clone(),
        url: issue.url.clone(),
        key: Some(issue.key.clone()),
    }
}

/// The reference `workspace`'s branch names, else the newest of its latest commits' messages.
pub async fn from_branch(workspace: &Path, trackers: &Trackers) -> Option<(String, String)> {
    if trackers.configured().is_empty() {
        return None;
    }
    let known = known_fresh(trackers).await;
    if let Some(branch) = crate::git::current_branch(workspace)
        && let Some(found) = reference::in_branch(&branch, &known)
    {
        return Some((found.key, format!("your branch {branch}")));
    }
    crate::git::recent_messages(workspace, COMMITS_READ).into_iter().find_map(|(commit, message)| {
        let found = message.lines().flat_map(|line| reference::find_in_line(line, &known)).next()?;
        Some((found.key, format!("commit {}", &commit[..commit.len().min(8)])))
    })
}

/// Puts a comment with the pull request's link on the issue (the user said yes).
pub async fn comment_with_pull(link: &IssueLink, noun: &str, url: &str, trackers: &Trackers) -> Result<(), IssueError> {
    let (Some(kind), Some(key)) = (TrackerKind::from_id(&link.provider), link.key.as_deref()) else {
        return Err(IssueError::BadInput("the conversation's issue is not a Jira or Linear issue".into()));
    };
    let text = format!("OpenHands opened a {noun} for this issue:");
    trackers.comment(kind, key, &text, url).await.map_err(|e| IssueError::Failed(e.to_string()))
}

/// The issues assigned to the user in the configured trackers, and what failed.
pub async fn suggested(trackers: &Trackers) -> (Vec<SuggestedTask>, Vec<String>) {
    let mut tasks = Vec::new();
    let mut problems = Vec::new();
    for kind in trackers.configured() {
        match trackers.assigned(kind).await {
            Ok(found) => tasks.extend(found.into_iter().map(|a| SuggestedTask {
                kind: TaskKind::OpenIssue,
                provider: kind.id().into(),
                repository: String::new(),
                number: a.key.rsplit_once('-').and_then(|(_, n)| n.parse().ok()).unwrap_or(0),
                description: format!("{}: open {} issue assigned to you", a.key, kind.name()),
                reference: a.key,
                title: a.title,
                url: a.url,
            })),
            Err(e) => problems.push(e.to_string()),
        }
    }
    (tasks, problems)
}

/// What the agent is told about a tracker issue: where it is, its words, criteria, discussion and attachments.
fn instruction(issue: &TrackerIssue) -> String {
    let mut out = format!(
        "Fix {} issue {} ({}) in this repository.\n\nTitle: {}\n",
        issue.tracker.name(),
        issue.key,
        issue.url,
        issue.title
    );
    if let Some(kind) = &issue.kind {
        out.push_str(&format!("Type: {kind}\n"));
    }
    if let Some(status) = &issue.status {
        out.push_str(&format!("Status: {status}\n"));
    }
    if !issue.labels.is_empty() {
        out.push_str(&format!("Labels: {}\n", issue.labels.join(", ")));
    }
    let body = issue.description.trim();
    out.push_str(&format!("\n{}\n", if body.is_empty() { "(The issue has no description.)" } else { body }));
    if let Some(criteria) = &issue.criteria {
        out.push_str(&format!("\nAcceptance criteria:\n{}\n", criteria.trim()));
    }
    if !issue.attachments.is_empty() {
        out.push_str(&format!("\nAttachments (not included here): {}\n", issue.attachments.join(", ")));
    }
    if !issue.comments.is_empty() {
        out.push_str("\nComments, the newest first:\n");
        for c in &issue.comments {
            out.push_str(&format!("\n--- {} wrote:\n{}\n", c.author, c.body.trim()));
        }
    }
    out.push_str(&format!(
        "\nMake the change in this repository, add or update tests that show the issue is fixed, and run the \
         project's tests before you finish. Mention {} in your commit messages. End with a short summary of what you \
         changed and why.",
        issue.key
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trackers::TrackerComment;

    #[test]
    fn a_tracker_issue_becomes_an_instruction() {
        let issue = TrackerIssue {
            tracker: TrackerKind::Jira,
            key: "PROJ-123".into(),
            title: "Greeting is rude".into(),
            url: "https://acme.atlassian.net/browse/PROJ-123".into(),
            description: "Say *hello*.".into(),
            status: Some("To Do".into()),
            kind: Some("Bug".into()),
            labels: vec!["ux".into()],
            criteria: Some("- says Hello, world".into()),
            comments: vec![TrackerComment { author: "Bob".into(), body: "Newest".into() }],
            attachments: vec!["screen.png".into()],
            internal_id: None,
        };
        let text = instruction(&issue);
        for part in [
            "Fix Jira issue PROJ-123 (https://acme.atlassian.net/browse/PROJ-123)",
            "Type: Bug",
            "Say *hello*.",
            "Acceptance criteria:\n- says Hello, world",
            "Attachments (not included here): screen.png",
            "--- Bob wrote:\nNewest",
            "Mention PROJ-123 in your commit messages",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
    }
}

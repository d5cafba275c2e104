//! Issues and pull requests, before any protocol: an issue (or a pull request to bring to a mergeable state) made
//! into a task, the folder it runs in, the pull request a conversation opens (push, open, comment on the issue), and
//! the tasks the user's providers suggest.

pub mod tracker;

use std::path::{Path, PathBuf};

use crate::conversation::{ConversationError, IssueLink, Manager, StartRequest};
use crate::providers::reference::{self, Reference};
use crate::providers::{
    Issue, NewPullRequest, ProviderError, ProviderKind, Providers, ProvidersSettings, PullRequest, RepoRef,
    SuggestedTask, remote,
};
use crate::secrets::SecretStore;
use crate::tasks::{title_from, workspace_for};
use crate::trackers::Trackers;

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The caller's mistake (a reference that is none, no folder to work in): the front says which argument.
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Conversation(#[from] ConversationError),
    /// Nothing the caller could have known (no remote to open a pull request on, every provider failed).
    #[error("{0}")]
    Failed(String),
}

/// The task of fixing the issue `reference` names (`#12`, `owner/repo#12`, an issue's or a pull request's URL, a Jira
/// or Linear key or URL; empty: the one the branch or its latest commits name), run in the workspace folder whose
/// remote is the issue's repository, else the one holding `file`, else the first.
pub async fn fix_task(
    reference_text: &str,
    file: Option<&Path>,
    roots: &[PathBuf],
    (providers, trackers): (&Providers, &Trackers),
) -> Result<StartRequest, IssueError> {
    let here = || {
        workspace_for(file, roots)
            .ok_or_else(|| IssueError::BadInput("no workspace folder to work in: open the repository's folder".into()))
    };
    let named_by_branch;
    let reference_text = if reference_text.trim().is_empty() {
        let workspace = here()?;
        named_by_branch = tracker::from_branch(&workspace, trackers).await.ok_or_else(|| {
            IssueError::BadInput(
                "give the issue to fix (#12, owner/repo#12, PROJ-123, or its URL): the branch and its latest commits \
                 name none"
                    .into(),
            )
        })?;
        named_by_branch.0.as_str()
    } else {
        reference_text
    };
    let Some(reference) = reference::parse(reference_text, providers.settings()) else {
        let workspace = here()?;
        return tracker::fix_task(reference_text, &workspace, trackers).await?.ok_or_else(|| {
            IssueError::BadInput(format!(
                "{reference_text:?} is not an issue reference: give #12, owner/repo#12, PROJ-123, or the issue's URL"
            ))
        });
    };
    let named = match &reference {
        Reference::Url { repo, .. } => Some(repo.clone()),
        _ => None,
    };
    let workspace = named
        .as_ref()
        .and_then(|repo| roots.iter().find(|r| remote::detect(r, providers.settings()).as_ref() == Some(repo)).cloned())
        .or_else(|| workspace_for(file, roots))
        .ok_or_else(|| IssueError::BadInput("no workspace folder to work in: open the repository's folder".into()))?;
    let here = remote::detect(&workspace, providers.settings());
    let (repo, number) = reference.resolve(here.as_ref()).ok_or_else(|| {
        IssueError::BadInput(format!(
            "{} needs a repository, and {} has no GitHub, GitLab or Bitbucket remote: give owner/repo#N or the \
             issue's URL",
            reference_text.trim(),
            workspace.display()
        ))
    })?;
    let service = providers.for_repo(&repo);
    if let Reference::Url { pull: true, .. } = reference {
        // A pull or merge request (a suggested task): work on its branch until it can merge.
        let pull = service.pull_request(repo.clone(), number).await?;
        let instruction = pull_instruction(&repo, &pull);
        let title = title_from(&format!("Fix {} #{number}: {}", noun_short(repo.kind), pull.title));
        return Ok(StartRequest { instruction, title, workspace, issue: None, attach: None, ..Default::default() });
    }
    let issue = service.issue(repo.clone(), number).await?;
    let instruction = issue_instruction(&repo, &issue);
    let title = title_from(&format!("Fix issue #{number}: {}", issue.title));
    let link = IssueLink {
        provider: repo.kind.id().into(),
        host: repo.host.clone(),
        repository: repo.path.clone(),
        number,
        title: issue.title.clone(),
        url: issue.url.clone(),
        key: None,
    };
    Ok(StartRequest { instruction, title, workspace, issue: Some(link), attach: None, ..Default::default() })
}

/// A pull request a conversation opened.
#[derive(Debug, Clone)]
pub struct OpenedPull {
    pub pull: PullRequest,
    pub branch: String,
    pub commit: String,
    /// The issue got a comment pointing to it.
    pub commented_on_issue: bool,
    /// The conversation's Jira or Linear issue: the front asks whether to comment on it (`tracker::comment_with_pull`).
    pub tracker_issue: Option<IssueLink>,
}

/// Pushes the conversation's changes as a new branch and opens a pull request for them on the repository of its
/// issue (else of its workspace's remote); an issue gets a comment pointing to it.
/// `folder`: one of the conversation's extra folders, by name, for its own repository (`None`: the workspace's).
pub async fn open_pull_request(
    manager: &Manager,
    (id, folder): (&str, Option<&str>),
    providers: &Providers,
    secrets: &SecretStore,
    draft: bool,
) -> Result<OpenedPull, IssueError> {
    let meta = manager.get(id)?.meta;
    let source = manager.folder_source(id, folder)?;
    // The issue is the workspace's repository's; a tracker's issue has no repository, and is named in the title.
    let in_workspace = meta.issue.as_ref().filter(|_| source == meta.workspace);
    let tracker_issue = in_workspace.filter(|l| l.key.is_some()).cloned();
    let issue = in_workspace.filter(|l| l.key.is_none());
    let repo = match issue {
        Some(link) => repo_of_link(link, providers.settings()),
        None => remote::detect(&source, providers.settings()),
    }
    .ok_or_else(|| {
        IssueError::Failed(format!(
            "{} has no GitHub, GitLab or Bitbucket remote to open a pull request on (openhands.pushChanges pushes a \
             branch to any remote)",
            source.display()
        ))
    })?;
    let remote_name = remote::remote_name_for(&source, &repo, providers.settings()).unwrap_or_else(|| "origin".into());
    let url = manager.remote_url(id, folder, &remote_name)?;
    let auth = remote::push_auth(&url, secrets, providers.settings());
    let published = manager.publish(id, folder, &remote_name, None, auth).await?;
    let base = crate::git::current_branch(&source).unwrap_or_else(|| "main".into());
    let summary = meta.final_message.clone().filter(|m| !m.trim().is_empty());
    let (title, body) = match (issue, &tracker_issue) {
        (Some(link), _) => (
            format!("Fix issue #{}: {}", link.number, link.title),
            format!(
                "This pull request fixes #{}.\n\n{}",
                link.number,
                summary.as_deref().unwrap_or("The agent's changes are in the commits.")
            ),
        ),
        (None, Some(link)) => (
            format!("Fix {}: {}", link.label(), link.title),
            format!(
                "Fixes [{}]({}): {}\n\n{}",
                link.label(),
                link.url,
                link.title,
                summary.as_deref().unwrap_or("The agent's changes are in the commits.")
            ),
        ),
        (None, None) => (
            meta.title.clone(),
            format!(
                "{}\n\n---\nThe task: {}",
                summary.as_deref().unwrap_or("Changes made by OpenHands."),
                meta.instruction
            ),
        ),
    };
    let service = providers.for_repo(&repo);
    let new = NewPullRequest { title, body, head: published.branch.clone(), base, draft };
    let pull = service.create_pull_request(repo.clone(), new).await?;
    let mut commented_on_issue = false;
    if let Some(link) = issue {
        let text = format!("OpenHands opened a {} for this issue: {}", repo.kind.pull_request_noun(), pull.url);
        match service.comment_on_issue(repo.clone(), link.number, text).await {
            Ok(_) => commented_on_issue = true,
            // The pull request exists; a failed comment is worth a line, not an error.
            Err(e) => tracing::warn!(conversation = %id, "commenting on the issue failed: {e}"),
        }
    }
    Ok(OpenedPull { pull, branch: published.branch, commit: published.commit, commented_on_issue, tracker_issue })
}

/// The tasks the user's providers suggest (their open issues and pull requests), with what failed along the way.
/// Providers without a token are skipped unless `here` (the repository at hand) is on them.
/// Jira's and Linear's issues assigned to the user come after the providers' work.
pub async fn suggested_tasks(
    (providers, trackers): (&Providers, &Trackers),
    secrets: &SecretStore,
    here: Option<RepoRef>,
) -> Result<(Vec<SuggestedTask>, Vec<String>), IssueError> {
    let (mut tasks, mut problems) = (Vec::new(), Vec::new());
    let mut asked = trackers.configured().len();
    for kind in ProviderKind::ALL {
        let has_token = secrets.get(kind.secret()).is_some()
            || providers.settings().get(kind).token_command.as_deref().is_some_and(|c| !c.trim().is_empty());
        let ours = here.as_ref().filter(|r| r.kind == kind);
        if !has_token && ours.is_none() {
            continue;
        }
        asked += 1;
        let service = match ours {
            Some(r) => providers.for_repo(r),
            None => providers.service(kind, None),
        };
        match service.suggested_tasks(ours.cloned()).await {
            Ok(found) => tasks.extend(found),
            Err(e) => problems.push(e.to_string()),
        }
    }
    let (assigned, failed) = tracker::suggested(trackers).await;
    tasks.extend(assigned);
    problems.extend(failed);
    if asked == 0 {
        return Err(ProviderError::Unsupported(
            "no provider token is set: set github_token, gitlab_token, bitbucket_token, jira_token (with \
             openhands.jira.url) or linear_api_key with openhands.setSecret (or a tokenCommand) to see your issues \
             and pull requests"
                .into(),
        )
        .into());
    }
    if tasks.is_empty() && !problems.is_empty() {
        return Err(IssueError::Failed(problems.join("; ")));
    }
    Ok((tasks, problems))
}

/// The repository of the workspace folder holding `file` (else the first folder), if it is on a provider.
pub fn repository_at(file: Option<&Path>, roots: &[PathBuf], settings: &ProvidersSettings) -> Option<RepoRef> {
    workspace_for(file, roots).and_then(|w| remote::detect(&w, settings))
}

fn repo_of_link(link: &IssueLink, settings: &ProvidersSettings) -> Option<RepoRef> {
    let kind = match ProviderKind::from_id(&link.provider) {
        Some(kind) => kind,
        None => settings.kind_of_host(&link.host)?,
    };
    Some(RepoRef { kind, host: link.host.clone(), path: link.repository.clone() })
}

fn noun_short(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::GitLab => "MR",
        _ => "PR",
    }
}

/// What the agent is told about a pull request it should bring to a mergeable state.
fn pull_instruction(repo: &RepoRef, pull: &PullRequest) -> String {
    let noun = repo.kind.pull_request_noun();
    format!(
        "Work on {noun} #{} of the {} repository {} ({}): {}.\n\nIts branch is `{}`, to be merged into `{}`. Fetch and check \
         out that branch first (`git fetch origin {} && git checkout {}`), then fix what keeps it from merging: failing \
         checks, merge conflicts with `{}`, and unresolved review comments. Run the project's tests before you finish, \
         and end with a short summary of what you changed.",
        pull.number,
        repo.kind.name(),
        repo.path,
        pull.url,
        pull.title,
        pull.head,
        pull.base,
        pull.head,
        pull.head,
        pull.base
    )
}

/// What the agent is told about an issue: where, the issue's words and discussion, and to test its fix.
fn issue_instruction(repo: &RepoRef, issue: &Issue) -> String {
    let mut out = format!(
        "Fix issue #{} of the {} repository {} ({}).\n\nTitle: {}\n",
        issue.number,
        repo.kind.name(),
        repo.path,
        issue.url,
        issue.title
    );
    if !issue.labels.is_empty() {
        out.push_str(&format!("Labels: {}\n", issue.labels.join(", ")));
    }
    if let Some(author) = &issue.author {
        out.push_str(&format!("Opened by: {author}\n"));
    }
    let body = issue.body.trim();
    out.push_str(&format!("\n{}\n", if body.is_empty() { "(The issue has no description.)" } else { body }));
    if !issue.comments.is_empty() {
        out.push_str("\nComments:\n");
        for c in &issue.comments {
            out.push_str(&format!("\n--- {} wrote:\n{}\n", c.author, c.body.trim()));
        }
    }
    out.push_str(
        "\nMake the change in this repository, add or update tests that show the issue is fixed, and run the \
         project's tests before you finish. End with a short summary of what you changed and why.",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Comment;

    #[test]
    fn a_merge_request_becomes_work_on_its_branch() {
        let repo = RepoRef { kind: ProviderKind::GitLab, host: "gitlab.com".into(), path: "g/p".into() };
        let pull = crate::providers::PullRequest {
            number: 7,
            title: "Add cache".into(),
            url: "https://gitlab.com/g/p/-/merge_requests/7".into(),
            state: "opened".into(),
            open: true,
            draft: false,
            head: "feature/cache".into(),
            base: "main".into(),
        };
        let text = pull_instruction(&repo, &pull);
        assert!(text.starts_with("Work on merge request #7 of the GitLab repository g/p"), "{text}");
        assert!(text.contains("git fetch origin feature/cache && git checkout feature/cache"), "{text}");
        assert!(text.contains("merge conflicts with `main`"), "{text}");
    }

    #[test]
    fn an_issue_becomes_an_instruction() {
        let repo = RepoRef { kind: ProviderKind::GitHub, host: "github.com".into(), path: "octo/hello".into() };
        let issue = Issue {
            number: 12,
            title: "Crash on empty input".into(),
            body: "Run `hello ''` and it panics.".into(),
            state: "open".into(),
            url: "https://github.com/octo/hello/issues/12".into(),
            author: Some("alice".into()),
            labels: vec!["bug".into()],
            comments: vec![Comment { author: "bob".into(), body: "Also with spaces.".into() }],
        };
        let text = issue_instruction(&repo, &issue);
        for part in [
            "Fix issue #12 of the GitHub repository octo/hello (https://github.com/octo/hello/issues/12)",
            "Title: Crash on empty input",
            "Labels: bug",
            "Run `hello ''` and it panics.",
            "--- bob wrote:\nAlso with spaces.",
            "run the project's tests",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
    }
}

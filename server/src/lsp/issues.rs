//! Issues and pull requests: `openhands.fixIssue`, `openhands.createPullRequest`, `openhands.suggestedTasks`, the
//! "fix issue" code action on references in open documents, and what a finished issue conversation offers next.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::UriExt;
use tower_lsp_server::jsonrpc::Error;
use tower_lsp_server::lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Command, MessageType, Range, ShowDocumentParams, Uri,
};

use super::commands::{self, invalid_params};
use super::conversations::{title_from, to_rpc, workspace_for};
use super::review::ApplyArgs;
use super::server::Backend;
use crate::config::Settings;
use crate::conversation::{IssueLink, StartRequest};
use crate::providers::reference::{self, Reference};
use crate::providers::{
    Issue, NewPullRequest, ProviderError, ProviderKind, Providers, ProvidersSettings, RepoRef, remote,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixIssueArgs {
    /// `#12`, `owner/repo#12`, or an issue URL.
    pub reference: String,
    /// The document the reference was found in: its workspace folder's remote resolves `#12`.
    #[serde(default)]
    pub uri: Option<Uri>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePullRequestArgs {
    pub conversation_id: crate::conversation::ConversationId,
    /// Draft by default, where the provider has drafts.
    #[serde(default = "yes")]
    pub draft: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuggestedTasksArgs {
    /// A document of the repository at hand (for providers that list issues per repository).
    #[serde(default)]
    pub uri: Option<Uri>,
}

/// Provider failures are well-formed requests that failed: RequestFailed with the provider's story.
fn provider_rpc(e: ProviderError) -> Error {
    super::commands::request_failed(e.to_string())
}

const APPLY: &str = "Apply";
const OPEN_PR: &str = "Open pull request";
const DISCARD: &str = "Discard";

impl Backend {
    /// The session's settings, and the providers built from them (one look at the session).
    fn providers(&self) -> (Settings, Providers) {
        let settings = self.shared.session().settings.clone();
        let providers = Providers::new(ProvidersSettings::from_settings(&settings), self.shared.secrets.clone());
        (settings, providers)
    }

    fn workspace_roots(&self) -> Vec<PathBuf> {
        let session = self.shared.session();
        session.workspace_folders.iter().filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned())).collect()
    }

    pub(super) async fn fix_issue(&self, args: FixIssueArgs) -> Result<Value, Error> {
        let (settings, providers) = self.providers();
        let reference = reference::parse(&args.reference, providers.settings()).ok_or_else(|| {
            invalid_params(format!(
                "{}: {:?} is not an issue reference: give #12, owner/repo#12, or the issue's URL",
                commands::FIX_ISSUE,
                args.reference
            ))
        })?;
        let roots = self.workspace_roots();
        let file = args.uri.as_ref().and_then(|u| u.to_file_path()).map(|p| p.into_owned());
        // The folder to work in: the one whose remote is the issue's repository, else the document's, else the first.
        let named = match &reference {
            Reference::Url { repo, .. } => Some(repo.clone()),
            _ => None,
        };
        let workspace = named
            .as_ref()
            .and_then(|repo| {
                roots.iter().find(|r| remote::detect(r, providers.settings()).as_ref() == Some(repo)).cloned()
            })
            .or_else(|| workspace_for(file.as_deref(), &roots))
            .ok_or_else(|| {
                invalid_params(format!(
                    "{}: no workspace folder to work in: open the repository's folder",
                    commands::FIX_ISSUE
                ))
            })?;
        let here = remote::detect(&workspace, providers.settings());
        let (repo, number) = reference.resolve(here.as_ref()).ok_or_else(|| {
            invalid_params(format!(
                "{}: {} needs a repository, and {} has no GitHub, GitLab or Bitbucket remote: give owner/repo#N or the \
                 issue's URL",
                commands::FIX_ISSUE,
                args.reference.trim(),
                workspace.display()
            ))
        })?;
        let service = providers.for_repo(&repo);
        if let Reference::Url { pull: true, .. } = reference {
            // A pull or merge request (a suggested task): work on its branch until it can merge.
            let pull = service.pull_request(repo.clone(), number).await.map_err(provider_rpc)?;
            let instruction = pull_instruction(&repo, &pull);
            let title = title_from(&format!("Fix {} #{number}: {}", noun_short(repo.kind), pull.title));
            return self
                .start_conversation(
                    StartRequest { instruction, title, workspace, issue: None, attach: None },
                    &settings,
                )
                .await;
        }
        let issue = service.issue(repo.clone(), number).await.map_err(provider_rpc)?;
        let instruction = issue_instruction(&repo, &issue);
        let title = title_from(&format!("Fix issue #{number}: {}", issue.title));
        let link = IssueLink {
            provider: repo.kind.id().into(),
            host: repo.host.clone(),
            repository: repo.path.clone(),
            number,
            title: issue.title.clone(),
            url: issue.url.clone(),
        };
        self.start_conversation(
            StartRequest { instruction, title, workspace, issue: Some(link), attach: None },
            &settings,
        )
        .await
    }

    pub(super) async fn create_pull_request(&self, args: CreatePullRequestArgs) -> Result<Value, Error> {
        let manager = self.manager()?;
        let meta = manager.get(&args.conversation_id).map_err(to_rpc)?.meta;
        let (_, providers) = self.providers();
        let repo = match &meta.issue {
            Some(link) => repo_of_link(link, providers.settings()),
            None => remote::detect(&meta.workspace, providers.settings()),
        }
        .ok_or_else(|| {
            super::commands::request_failed(format!(
                "{} has no GitHub, GitLab or Bitbucket remote to open a pull request on (openhands.pushChanges \
                     pushes a branch to any remote)",
                meta.workspace.display()
            ))
        })?;
        let remote_name =
            remote::remote_name_for(&meta.workspace, &repo, providers.settings()).unwrap_or_else(|| "origin".into());
        let url = manager.remote_url(&args.conversation_id, &remote_name).map_err(to_rpc)?;
        let auth = super::review::https_auth_for(&url, &self.shared.secrets, providers.settings());
        let published = manager.publish(&args.conversation_id, &remote_name, None, auth).await.map_err(to_rpc)?;
        let base = crate::git::current_branch(&meta.workspace).unwrap_or_else(|| "main".into());
        let summary = meta.final_message.clone().filter(|m| !m.trim().is_empty());
        let (title, body) = match &meta.issue {
            Some(link) => (
                format!("Fix issue #{}: {}", link.number, link.title),
                format!(
                    "This pull request fixes #{}.\n\n{}",
                    link.number,
                    summary.as_deref().unwrap_or("The agent's changes are in the commits.")
                ),
            ),
            None => (
                meta.title.clone(),
                format!(
                    "{}\n\n---\nThe task: {}",
                    summary.as_deref().unwrap_or("Changes made by OpenHands."),
                    meta.instruction
                ),
            ),
        };
        let service = providers.for_repo(&repo);
        let new = NewPullRequest { title, body, head: published.branch.clone(), base, draft: args.draft };
        let pull = service.create_pull_request(repo.clone(), new).await.map_err(provider_rpc)?;
        let mut commented = false;
        if let Some(link) = &meta.issue {
            let noun = repo.kind.pull_request_noun();
            let text = format!("OpenHands opened a {noun} for this issue: {}", pull.url);
            match service.comment_on_issue(repo.clone(), link.number, text).await {
                Ok(_) => commented = true,
                // The pull request exists; a failed comment is worth a line, not an error.
                Err(e) => tracing::warn!(conversation = %args.conversation_id, "commenting on the issue failed: {e}"),
            }
        }
        self.show_url(&pull.url).await;
        Ok(json!({
            "url": pull.url, "number": pull.number, "draft": pull.draft, "branch": published.branch,
            "commit": published.commit, "commentedOnIssue": commented,
        }))
    }

    pub(super) async fn suggested_tasks(&self, args: SuggestedTasksArgs) -> Result<Value, Error> {
        let (_, providers) = self.providers();
        let roots = self.workspace_roots();
        let file = args.uri.as_ref().and_then(|u| u.to_file_path()).map(|p| p.into_owned());
        let here = workspace_for(file.as_deref(), &roots).and_then(|w| remote::detect(&w, providers.settings()));
        let mut tasks = Vec::new();
        let mut problems = Vec::new();
        let mut asked = 0;
        for kind in ProviderKind::ALL {
            let has_token = self.shared.secrets.get(kind.secret()).is_some()
                || providers.settings().get(kind).token_command.as_deref().is_some_and(|c| !c.trim().is_empty());
            // Providers without a token are skipped unless the repository at hand is on them.
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
        if asked == 0 {
            return Err(provider_rpc(ProviderError::Unsupported(
                "no provider token is set: set github_token, gitlab_token or bitbucket_token with openhands.setSecret \
                 (or a tokenCommand) to see your issues and pull requests"
                    .into(),
            )));
        }
        if tasks.is_empty() && !problems.is_empty() {
            return Err(super::commands::request_failed(problems.join("; ")));
        }
        Ok(json!({"tasks": tasks, "problems": problems}))
    }

    /// A finished conversation on an issue: Apply, Open pull request, or Discard.
    pub(super) async fn offer_issue_outcome(&self, id: String) {
        let Ok(manager) = self.manager() else { return };
        let Ok(summary) = manager.get(&id) else { return };
        let Some(link) = summary.meta.issue.clone() else { return };
        let isolated = summary.meta.isolation.is_some();
        let mut actions = Vec::new();
        if isolated {
            actions.push(APPLY);
        }
        actions.push(OPEN_PR);
        if isolated {
            actions.push(DISCARD);
        }
        let message = format!("OpenHands finished issue #{} ({}). What next?", link.number, link.title);
        let choice = match self.ask(MessageType::INFO, message, &actions).await {
            Ok(Some(title)) => title,
            Ok(None) => return,
            Err(e) => {
                tracing::info!(conversation = %id, "the next-step question failed: {e}");
                return;
            }
        };
        let Ok(conversation_id) = crate::conversation::ConversationId::parse(&id) else { return };
        let outcome = match choice.as_str() {
            APPLY => self
                .apply_changes(ApplyArgs { conversation_id: conversation_id.clone(), files: None, reviewed: false })
                .await
                .map(|_| ()),
            OPEN_PR => self
                .create_pull_request(CreatePullRequestArgs { conversation_id: conversation_id.clone(), draft: true })
                .await
                .map(|_| ()),
            DISCARD => {
                self.discard_changes(super::conversations::ConversationArgs { conversation_id }).await.map(|_| ())
            }
            _ => Ok(()),
        };
        if let Err(e) = outcome {
            self.client.show_message(MessageType::ERROR, format!("OpenHands: {choice} failed: {}", e.message)).await;
        }
    }

    /// Opens a URL in the user's browser when the client can, else says where it is.
    async fn show_url(&self, url: &str) {
        let supported = self.shared.session().client.show_document;
        let uri = url.parse::<Uri>().ok();
        if let (true, Some(uri)) = (supported, uri) {
            let params = ShowDocumentParams { uri, external: Some(true), take_focus: Some(true), selection: None };
            if let Ok(result) = self.client.show_document(params).await
                && result
            {
                return;
            }
        }
        self.client.show_message(MessageType::INFO, format!("OpenHands: pull request opened: {url}")).await;
    }

    /// "Fix issue" actions for the references on the requested lines of an open document.
    pub(super) fn issue_code_actions(&self, uri: &Uri, range: Range) -> Vec<CodeActionOrCommand> {
        // Only the requested lines are copied out of the session (code actions are asked for on every cursor move).
        let (first, last) = (range.start.line as usize, range.end.line as usize);
        let (lines, settings): (Vec<String>, ProvidersSettings) = {
            let session = self.shared.session();
            let Some(doc) = session.documents.get(uri) else { return Vec::new() };
            let lines = doc.text.lines().skip(first).take(last.saturating_sub(first) + 1).map(str::to_owned).collect();
            (lines, ProvidersSettings::from_settings(&session.settings))
        };
        let mut seen = Vec::new();
        let mut actions = Vec::new();
        for line in &lines {
            for found in reference::find_in_line(line, &settings) {
                if seen.contains(&found.text) {
                    continue;
                }
                seen.push(found.text.clone());
                let title = format!("OpenHands: fix issue {}", found.text);
                let command = Command {
                    title: title.clone(),
                    command: commands::FIX_ISSUE.into(),
                    arguments: Some(vec![json!({"reference": found.text, "uri": uri})]),
                };
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    command: Some(command),
                    ..Default::default()
                }));
            }
        }
        actions
    }
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
fn pull_instruction(repo: &RepoRef, pull: &crate::providers::PullRequest) -> String {
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

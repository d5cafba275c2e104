//! GitLab (gitlab.com and self-managed): REST v4. Projects are addressed by their URL-encoded path, so nested
//! groups (`group/subgroup/repo`) work.

use serde::Deserialize;
use serde_json::json;

use super::http::{Api, encode};
use super::{
    Branch, Comment, Fut, GitService, Issue, ListedIssue, Microagent, NewPullRequest, Page, ProviderError,
    ProviderKind, PullRequest, RepoRef, Repository, SuggestedTask, TaskKind, User,
};

const PER_PAGE: u32 = 30;

pub(super) struct GitLab {
    api: Api,
}

impl GitLab {
    pub fn new(api: Api) -> Self {
        GitLab { api }
    }

    fn project(repo: &RepoRef) -> String {
        format!("/projects/{}", encode(&repo.path))
    }

    fn page<T>(items: Vec<T>, page: u32, headers: &reqwest::header::HeaderMap) -> Page<T> {
        let next = headers.get("x-next-page").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        Page { items, page, next }
    }
}

#[derive(Deserialize)]
struct GlUser {
    username: String,
    name: Option<String>,
    web_url: Option<String>,
}

#[derive(Deserialize)]
struct GlProject {
    path_with_namespace: String,
    web_url: String,
    default_branch: Option<String>,
    visibility: Option<String>,
}

#[derive(Deserialize)]
struct GlIssue {
    iid: u64,
    title: String,
    description: Option<String>,
    state: String,
    web_url: String,
    author: Option<GlUser>,
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(Deserialize)]
struct GlNote {
    body: String,
    author: Option<GlUser>,
    #[serde(default)]
    system: bool,
}

#[derive(Deserialize)]
struct GlMergeRequest {
    iid: u64,
    title: String,
    web_url: String,
    state: String,
    #[serde(default)]
    draft: bool,
    source_branch: String,
    target_branch: String,
    #[serde(default)]
    has_conflicts: bool,
    #[serde(default)]
    blocking_discussions_resolved: Option<bool>,
    #[serde(default)]
    head_pipeline: Option<GlPipeline>,
    #[serde(default)]
    references: Option<GlReferences>,
}

#[derive(Deserialize)]
struct GlPipeline {
    status: String,
}

#[derive(Deserialize)]
struct GlReferences {
    full: String,
}

impl From<GlMergeRequest> for PullRequest {
    fn from(m: GlMergeRequest) -> Self {
        PullRequest {
            number: m.iid,
            title: m.title,
            url: m.web_url,
            open: m.state == "opened",
            state: m.state,
            draft: m.draft,
            head: m.source_branch,
            base: m.target_branch,
        }
    }
}

impl GitService for GitLab {
    fn kind(&self) -> ProviderKind {
        ProviderKind::GitLab
    }

    fn current_user(&self) -> Fut<'_, User> {
        Box::pin(async move {
            let u: GlUser = self.api.get("/user", "the current user").await?;
            Ok(User { login: u.username, name: u.name, url: u.web_url })
        })
    }

    fn repositories(&self, query: Option<String>, page: u32) -> Fut<'_, Page<Repository>> {
        Box::pin(async move {
            let page = page.max(1);
            let mut path =
                format!("/projects?membership=true&order_by=last_activity_at&per_page={PER_PAGE}&page={page}");
            if let Some(q) = query.filter(|q| !q.trim().is_empty()) {
                path.push_str(&format!("&search={}", encode(&q)));
            }
            let (projects, headers): (Vec<GlProject>, _) = self.api.get_with_headers(&path, "your projects").await?;
            let items = projects
                .into_iter()
                .map(|p| Repository {
                    full_name: p.path_with_namespace,
                    url: p.web_url,
                    default_branch: p.default_branch,
                    private: p.visibility.as_deref() != Some("public"),
                })
                .collect();
            Ok(Self::page(items, page, &headers))
        })
    }

    fn branches(&self, repo: RepoRef, query: Option<String>, page: u32) -> Fut<'_, Page<Branch>> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct GlCommit {
                id: String,
            }
            #[derive(Deserialize)]
            struct GlBranch {
                name: String,
                commit: Option<GlCommit>,
            }
            let page = page.max(1);
            let mut path = format!("{}/repository/branches?per_page={PER_PAGE}&page={page}", Self::project(&repo));
            if let Some(q) = query.filter(|q| !q.is_empty()) {
                path.push_str(&format!("&search={}", encode(&q)));
            }
            let (branches, headers): (Vec<GlBranch>, _) =
                self.api.get_with_headers(&path, &format!("the branches of {repo}")).await?;
            let items = branches.into_iter().map(|b| Branch { name: b.name, commit: b.commit.map(|c| c.id) }).collect();
            Ok(Self::page(items, page, &headers))
        })
    }

    fn issue(&self, repo: RepoRef, number: u64) -> Fut<'_, Issue> {
        Box::pin(async move {
            let what = format!("issue #{number} of {repo}");
            let base = format!("{}/issues/{number}", Self::project(&repo));
            let issue: GlIssue = self.api.get(&base, &what).await?;
            let notes: Vec<GlNote> = self
                .api
                .get(
                    &format!("{base}/notes?sort=asc&order_by=created_at&per_page=100"),
                    &format!("the comments of {what}"),
                )
                .await?;
            Ok(Issue {
                number: issue.iid,
                title: issue.title,
                body: issue.description.unwrap_or_default(),
                state: issue.state,
                url: issue.web_url,
                author: issue.author.map(|a| a.username),
                labels: issue.labels,
                // System notes ("changed the label") are GitLab's bookkeeping, not discussion.
                comments: notes
                    .into_iter()
                    .filter(|n| !n.system)
                    .map(|n| Comment { author: n.author.map(|a| a.username).unwrap_or_default(), body: n.body })
                    .collect(),
            })
        })
    }

    fn pull_request(&self, repo: RepoRef, number: u64) -> Fut<'_, PullRequest> {
        Box::pin(async move {
            let what = format!("merge request !{number} of {repo}");
            let mr: GlMergeRequest =
                self.api.get(&format!("{}/merge_requests/{number}", Self::project(&repo)), &what).await?;
            Ok(mr.into())
        })
    }

    fn create_pull_request(&self, repo: RepoRef, new: NewPullRequest) -> Fut<'_, PullRequest> {
        Box::pin(async move {
            // GitLab marks drafts by title.
            let title = if new.draft { format!("Draft: {}", new.title) } else { new.title };
            let body = json!({
                "source_branch": new.head, "target_branch": new.base, "title": title, "description": new.body,
                "remove_source_branch": true,
            });
            let what = format!("creating a merge request on {repo}");
            let mr: GlMergeRequest =
                self.api.post(&format!("{}/merge_requests", Self::project(&repo)), &body, &what).await?;
            Ok(mr.into())
        })
    }

    fn comment_on_issue(&self, repo: RepoRef, number: u64, body: String) -> Fut<'_, String> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct Created {
                id: u64,
            }
            let what = format!("commenting on #{number} of {repo}");
            let base = format!("{}/issues/{number}", Self::project(&repo));
            let note: Created = self.api.post(&format!("{base}/notes"), &json!({"body": body}), &what).await?;
            let issue: GlIssue = self.api.get(&base, &what).await?;
            Ok(format!("{}#note_{}", issue.web_url, note.id))
        })
    }

    fn suggested_tasks(&self, _repo: Option<RepoRef>) -> Fut<'_, Vec<SuggestedTask>> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct GlIssueRef {
                iid: u64,
                title: String,
                web_url: String,
                references: Option<GlReferences>,
            }
            let mut tasks = Vec::new();
            let issues: Vec<GlIssueRef> =
                self.api.get("/issues?scope=assigned_to_me&state=opened&per_page=50", "issues assigned to you").await?;
            for i in issues {
                let repo = repo_of(i.references.as_ref().map(|r| r.full.as_str()), &i.web_url);
                tasks.push(SuggestedTask::new(
                    TaskKind::OpenIssue,
                    ProviderKind::GitLab,
                    &repo,
                    i.iid,
                    &i.title,
                    &i.web_url,
                ));
            }
            let mrs: Vec<GlMergeRequest> = self
                .api
                .get("/merge_requests?scope=created_by_me&state=opened&per_page=50", "your merge requests")
                .await?;
            for m in mrs {
                let repo = repo_of(m.references.as_ref().map(|r| r.full.as_str()), &m.web_url);
                let failing = m.head_pipeline.as_ref().is_some_and(|p| p.status == "failed");
                let kinds = [
                    (failing, TaskKind::FailingChecks),
                    (m.has_conflicts, TaskKind::MergeConflicts),
                    (m.blocking_discussions_resolved == Some(false), TaskKind::UnresolvedComments),
                ];
                for (applies, kind) in kinds {
                    if applies {
                        tasks.push(SuggestedTask::new(kind, ProviderKind::GitLab, &repo, m.iid, &m.title, &m.web_url));
                    }
                }
            }
            Ok(tasks)
        })
    }

    fn open_issues(&self, repo: RepoRef, labels: Vec<String>, limit: usize) -> Fut<'_, Vec<ListedIssue>> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct Item {
                iid: u64,
                title: String,
                web_url: String,
            }
            let labels =
                if labels.is_empty() { String::new() } else { format!("&labels={}", encode(&labels.join(","))) };
            let (api, what) = (&self.api, format!("the open issues of {repo}"));
            super::list_pages(limit, |page| {
                let path = format!("{}/issues?state=opened&per_page=100&page={page}{labels}", Self::project(&repo));
                let what = what.clone();
                async move {
                    let items: Vec<Item> = api.get(&path, &what).await?;
                    let full = items.len() == 100;
                    let listed =
                        items.into_iter().map(|i| ListedIssue { number: i.iid, title: i.title, url: i.web_url });
                    Ok((listed.collect(), full))
                }
            })
            .await
        })
    }

    fn microagents(&self, repo: RepoRef) -> Fut<'_, Vec<Microagent>> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct Entry {
                name: String,
                path: String,
                #[serde(rename = "type")]
                kind: String,
            }
            let what = format!("the microagents of {repo}");
            let tree_path =
                format!("{}/repository/tree?path=.openhands/microagents&per_page=100", Self::project(&repo));
            let entries: Vec<Entry> = match self.api.get(&tree_path, &what).await {
                Ok(e) => e,
                Err(ProviderError::NotFound { .. }) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let mut out = Vec::new();
            for e in entries.into_iter().filter(|e| e.kind == "blob" && e.name.ends_with(".md")) {
                let raw = format!("{}/repository/files/{}/raw?ref=HEAD", Self::project(&repo), encode(&e.path));
                let content = self.api.get_text(&raw, &what).await?;
                out.push(Microagent { name: e.name.trim_end_matches(".md").to_owned(), path: e.path, content });
            }
            Ok(out)
        })
    }
}

/// `group/repo` from a reference like `group/repo#12` / `group/repo!7`, else from the web URL.
fn repo_of(reference: Option<&str>, web_url: &str) -> String {
    if let Some(r) = reference.and_then(|r| r.split(['#', '!']).next()).filter(|r| !r.is_empty()) {
        return r.to_owned();
    }
    let path = web_url.split("://").nth(1).and_then(|rest| rest.split_once('/')).map(|(_, p)| p).unwrap_or_default();
    path.split("/-/").next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn repo_from_reference_or_url() {
        assert_eq!(super::repo_of(Some("grp/sub/repo#12"), ""), "grp/sub/repo");
        assert_eq!(super::repo_of(None, "https://gitlab.com/grp/repo/-/merge_requests/7"), "grp/repo");
    }
}

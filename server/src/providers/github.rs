//! GitHub (github.com and GitHub Enterprise Server): REST v3, and GraphQL for the suggested tasks.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Api, encode, next_link, page_param};
use super::{
    Branch, Comment, Fut, GitService, Issue, ListedIssue, Microagent, NewPullRequest, Page, ProviderError,
    ProviderKind, PullRequest, RepoRef, Repository, SuggestedTask, TaskKind, User,
};

const PER_PAGE: u32 = 30;

pub(super) struct GitHub {
    api: Api,
}

impl GitHub {
    pub fn new(api: Api) -> Self {
        GitHub { api }
    }

    fn graphql_url(&self) -> String {
        // api.github.com/graphql; GHES: https://host/api/graphql (its REST base ends in /api/v3).
        match self.api.base.strip_suffix("/v3") {
            Some(api) => format!("{api}/graphql"),
            None => format!("{}/graphql", self.api.base),
        }
    }

    fn page<T>(items: Vec<T>, page: u32, headers: &reqwest::header::HeaderMap) -> Page<T> {
        let next = next_link(headers).map(|n| page_param(&n).unwrap_or(page + 1));
        Page { items, page, next }
    }
}

#[derive(Deserialize)]
struct GhUser {
    login: String,
    name: Option<String>,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct GhRepo {
    full_name: String,
    html_url: String,
    default_branch: Option<String>,
    #[serde(default)]
    private: bool,
}

impl From<GhRepo> for Repository {
    fn from(r: GhRepo) -> Self {
        Repository { full_name: r.full_name, url: r.html_url, default_branch: r.default_branch, private: r.private }
    }
}

#[derive(Deserialize)]
struct GhLabel {
    name: String,
}

#[derive(Deserialize)]
struct GhIssue {
    number: u64,
    title: String,
    body: Option<String>,
    state: String,
    html_url: String,
    user: Option<GhUser>,
    #[serde(default)]
    labels: Vec<GhLabel>,
}

#[derive(Deserialize)]
struct GhComment {
    body: Option<String>,
    user: Option<GhUser>,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct GhRef {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct GhPull {
    number: u64,
    title: String,
    html_url: String,
    state: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    merged: bool,
    head: GhRef,
    base: GhRef,
}

impl From<GhPull> for PullRequest {
    fn from(p: GhPull) -> Self {
        PullRequest {
            number: p.number,
            title: p.title,
            url: p.html_url,
            open: p.state == "open",
            state: if p.merged { "merged".into() } else { p.state },
            draft: p.draft,
            head: p.head.name,
            base: p.base.name,
        }
    }
}

const SUGGESTED_TASKS_QUERY: &str = r#"query SuggestedTasks {
  viewer {
    login
    pullRequests(first: 50, states: OPEN, orderBy: {field: UPDATED_AT, direction: DESC}) {
      nodes {
        number title url mergeable
        repository { nameWithOwner }
        commits(last: 1) { nodes { commit { statusCheckRollup { state } } } }
        reviewThreads(first: 100) { nodes { isResolved } }
      }
    }
  }
  search(query: "is:open is:issue assignee:@me archived:false", type: ISSUE, first: 50) {
    nodes { ... on Issue { number title url repository { nameWithOwner } } }
  }
}"#;

impl GitService for GitHub {
    fn kind(&self) -> ProviderKind {
        ProviderKind::GitHub
    }

    fn current_user(&self) -> Fut<'_, User> {
        Box::pin(async move {
            let u: GhUser = self.api.get("/user", "the current user").await?;
            Ok(User { login: u.login, name: u.name, url: u.html_url })
        })
    }

    fn repositories(&self, query: Option<String>, page: u32) -> Fut<'_, Page<Repository>> {
        Box::pin(async move {
            let page = page.max(1);
            match query.filter(|q| !q.trim().is_empty()) {
                None => {
                    let path = format!("/user/repos?per_page={PER_PAGE}&page={page}&sort=pushed");
                    let (repos, headers): (Vec<GhRepo>, _) =
                        self.api.get_with_headers(&path, "your repositories").await?;
                    Ok(Self::page(repos.into_iter().map(Into::into).collect(), page, &headers))
                }
                Some(q) => {
                    #[derive(Deserialize)]
                    struct Found {
                        items: Vec<GhRepo>,
                    }
                    let path = format!(
                        "/search/repositories?q={}&per_page={PER_PAGE}&page={page}",
                        encode(&format!("{q} in:name"))
                    );
                    let (found, headers): (Found, _) = self.api.get_with_headers(&path, "repositories").await?;
                    Ok(Self::page(found.items.into_iter().map(Into::into).collect(), page, &headers))
                }
            }
        })
    }

    fn branches(&self, repo: RepoRef, query: Option<String>, page: u32) -> Fut<'_, Page<Branch>> {
        Box::pin(async move {
            let page = page.max(1);
            #[derive(Deserialize)]
            struct GhCommit {
                sha: String,
            }
            #[derive(Deserialize)]
            struct GhBranch {
                name: String,
                commit: Option<GhCommit>,
            }
            let what = format!("the branches of {repo}");
            let path = format!("/repos/{}/branches?per_page={PER_PAGE}&page={page}", repo.path);
            let (branches, headers): (Vec<GhBranch>, _) = self.api.get_with_headers(&path, &what).await?;
            let mut items: Vec<Branch> =
                branches.into_iter().map(|b| Branch { name: b.name, commit: b.commit.map(|c| c.sha) }).collect();
            // REST has no branch search: filter the page (the editor pages on while it needs more).
            if let Some(q) = query.filter(|q| !q.is_empty()) {
                let q = q.to_lowercase();
                items.retain(|b| b.name.to_lowercase().contains(&q));
            }
            Ok(Self::page(items, page, &headers))
        })
    }

    fn issue(&self, repo: RepoRef, number: u64) -> Fut<'_, Issue> {
        Box::pin(async move {
            let what = format!("issue #{number} of {repo}");
            let issue: GhIssue = self.api.get(&format!("/repos/{}/issues/{number}", repo.path), &what).await?;
            let comments: Vec<GhComment> = self
                .api
                .get(
                    &format!("/repos/{}/issues/{number}/comments?per_page=100", repo.path),
                    &format!("the comments of {what}"),
                )
                .await?;
            Ok(Issue {
                number: issue.number,
                title: issue.title,
                body: issue.body.unwrap_or_default(),
                state: issue.state,
                url: issue.html_url,
                author: issue.user.map(|u| u.login),
                labels: issue.labels.into_iter().map(|l| l.name).collect(),
                comments: comments
                    .into_iter()
                    .filter(|c| c.html_url.is_some() || c.body.is_some())
                    .map(|c| Comment {
                        author: c.user.map(|u| u.login).unwrap_or_else(|| "someone".into()),
                        body: c.body.unwrap_or_default(),
                    })
                    .collect(),
            })
        })
    }

    fn pull_request(&self, repo: RepoRef, number: u64) -> Fut<'_, PullRequest> {
        Box::pin(async move {
            let what = format!("pull request #{number} of {repo}");
            let pull: GhPull = self.api.get(&format!("/repos/{}/pulls/{number}", repo.path), &what).await?;
            Ok(pull.into())
        })
    }

    fn create_pull_request(&self, repo: RepoRef, new: NewPullRequest) -> Fut<'_, PullRequest> {
        Box::pin(async move {
            let body =
                json!({"title": new.title, "body": new.body, "head": new.head, "base": new.base, "draft": new.draft});
            let what = format!("creating a pull request on {repo}");
            let pull: GhPull = self.api.post(&format!("/repos/{}/pulls", repo.path), &body, &what).await?;
            Ok(pull.into())
        })
    }

    fn comment_on_issue(&self, repo: RepoRef, number: u64, body: String) -> Fut<'_, String> {
        Box::pin(async move {
            let what = format!("commenting on #{number} of {repo}");
            let c: GhComment = self
                .api
                .post(&format!("/repos/{}/issues/{number}/comments", repo.path), &json!({"body": body}), &what)
                .await?;
            Ok(c.html_url.unwrap_or_default())
        })
    }

    fn suggested_tasks(&self, _repo: Option<RepoRef>) -> Fut<'_, Vec<SuggestedTask>> {
        Box::pin(async move {
            let answer: Value =
                self.api.post(&self.graphql_url(), &json!({"query": SUGGESTED_TASKS_QUERY}), "suggested tasks").await?;
            if let Some(errors) = answer.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
                let message = errors.iter().filter_map(|e| e["message"].as_str()).collect::<Vec<_>>().join("; ");
                return Err(ProviderError::Http {
                    provider: "GitHub",
                    what: "suggested tasks (GraphQL)".into(),
                    status: 200,
                    message,
                });
            }
            Ok(tasks_from_graphql(&answer))
        })
    }

    fn open_issues(&self, repo: RepoRef, labels: Vec<String>, limit: usize) -> Fut<'_, Vec<ListedIssue>> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct Item {
                number: u64,
                title: String,
                html_url: String,
                /// Set on pull requests, which GitHub lists with the issues.
                #[serde(default)]
                pull_request: Option<Value>,
            }
            let labels =
                if labels.is_empty() { String::new() } else { format!("&labels={}", encode(&labels.join(","))) };
            let (api, what) = (&self.api, format!("the open issues of {repo}"));
            super::list_pages(limit, |page| {
                let path = format!("/repos/{}/issues?state=open&per_page=100&page={page}{labels}", repo.path);
                let what = what.clone();
                async move {
                    let items: Vec<Item> = api.get(&path, &what).await?;
                    let full = items.len() == 100;
                    let issues = items.into_iter().filter(|i| i.pull_request.is_none());
                    let listed = issues.map(|i| ListedIssue { number: i.number, title: i.title, url: i.html_url });
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
            #[derive(Deserialize)]
            struct File {
                content: Option<String>,
            }
            let what = format!("the microagents of {repo}");
            let entries: Vec<Entry> =
                match self.api.get(&format!("/repos/{}/contents/.openhands/microagents", repo.path), &what).await {
                    Ok(e) => e,
                    Err(ProviderError::NotFound { .. }) => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                };
            let mut out = Vec::new();
            for e in entries.into_iter().filter(|e| e.kind == "file" && e.name.ends_with(".md")) {
                let file: File = self.api.get(&format!("/repos/{}/contents/{}", repo.path, e.path), &what).await?;
                let raw = file.content.unwrap_or_default().replace(['\n', '\r'], "");
                let bytes = base64::engine::general_purpose::STANDARD.decode(raw).map_err(|err| {
                    ProviderError::Invalid { provider: "GitHub", what: e.path.clone(), reason: err.to_string() }
                })?;
                out.push(Microagent {
                    name: e.name.trim_end_matches(".md").to_owned(),
                    path: e.path,
                    content: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
            Ok(out)
        })
    }
}

/// Suggested tasks from the GraphQL answer: assigned issues, then the viewer's pull requests that need work.
fn tasks_from_graphql(answer: &Value) -> Vec<SuggestedTask> {
    let mut tasks = Vec::new();
    let str_at = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    for issue in answer.pointer("/data/search/nodes").and_then(Value::as_array).into_iter().flatten() {
        let Some(number) = issue["number"].as_u64() else { continue };
        tasks.push(SuggestedTask::new(
            TaskKind::OpenIssue,
            ProviderKind::GitHub,
            &str_at(issue, "/repository/nameWithOwner"),
            number,
            &str_at(issue, "/title"),
            &str_at(issue, "/url"),
        ));
    }
    for pr in answer.pointer("/data/viewer/pullRequests/nodes").and_then(Value::as_array).into_iter().flatten() {
        let Some(number) = pr["number"].as_u64() else { continue };
        let repo = str_at(pr, "/repository/nameWithOwner");
        let (title, url) = (str_at(pr, "/title"), str_at(pr, "/url"));
        let check = pr.pointer("/commits/nodes/0/commit/statusCheckRollup/state").and_then(Value::as_str);
        let unresolved = pr
            .pointer("/reviewThreads/nodes")
            .and_then(Value::as_array)
            .is_some_and(|threads| threads.iter().any(|t| t["isResolved"] == Value::Bool(false)));
        let kinds = [
            (matches!(check, Some("FAILURE" | "ERROR")), TaskKind::FailingChecks),
            (pr["mergeable"] == "CONFLICTING", TaskKind::MergeConflicts),
            (unresolved, TaskKind::UnresolvedComments),
        ];
        for (applies, kind) in kinds {
            if applies {
                tasks.push(SuggestedTask::new(kind, ProviderKind::GitHub, &repo, number, &title, &url));
            }
        }
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_from_a_graphql_answer() {
        let answer = json!({"data": {
            "viewer": {"login": "me", "pullRequests": {"nodes": [
                {"number": 7, "title": "Add cache", "url": "https://github.com/o/r/pull/7", "mergeable": "CONFLICTING",
                 "repository": {"nameWithOwner": "o/r"},
                 "commits": {"nodes": [{"commit": {"statusCheckRollup": {"state": "FAILURE"}}}]},
                 "reviewThreads": {"nodes": [{"isResolved": true}, {"isResolved": false}]}},
                {"number": 8, "title": "Fine", "url": "https://github.com/o/r/pull/8", "mergeable": "MERGEABLE",
                 "repository": {"nameWithOwner": "o/r"},
                 "commits": {"nodes": [{"commit": {"statusCheckRollup": {"state": "SUCCESS"}}}]},
                 "reviewThreads": {"nodes": []}}
            ]}},
            "search": {"nodes": [{"number": 12, "title": "Crash", "url": "https://github.com/o/r/issues/12",
                                  "repository": {"nameWithOwner": "o/r"}}]}
        }});
        let kinds: Vec<(TaskKind, u64)> = tasks_from_graphql(&answer).iter().map(|t| (t.kind, t.number)).collect();
        assert_eq!(
            kinds,
            [
                (TaskKind::OpenIssue, 12),
                (TaskKind::FailingChecks, 7),
                (TaskKind::MergeConflicts, 7),
                (TaskKind::UnresolvedComments, 7)
            ]
        );
    }
}

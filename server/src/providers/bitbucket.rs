//! Bitbucket Cloud: REST 2.0. Tokens are access tokens (Bearer) or `user:app_password` (Basic).

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Api, encode, page_param};
use super::{
    Branch, Comment, Fut, GitService, Issue, ListedIssue, Microagent, NewPullRequest, Page, ProviderError,
    ProviderKind, PullRequest, RepoRef, Repository, SuggestedTask, TaskKind, User,
};

const PAGE_LEN: u32 = 30;

pub(super) struct Bitbucket {
    api: Api,
}

impl Bitbucket {
    pub fn new(api: Api) -> Self {
        Bitbucket { api }
    }

    fn repo(repo: &RepoRef) -> String {
        format!("/repositories/{}", repo.path)
    }
}

/// Bitbucket's paginated envelope.
#[derive(Deserialize)]
struct Paged<T> {
    values: Vec<T>,
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    next: Option<String>,
}

impl<T> Paged<T> {
    fn into_page<U>(self, page: u32, f: impl FnMut(T) -> U) -> Page<U> {
        let next = self.next.as_deref().map(|n| page_param(n).unwrap_or(page + 1));
        Page { items: self.values.into_iter().map(f).collect(), page: self.page.unwrap_or(page), next }
    }
}

#[derive(Deserialize)]
struct BbLink {
    href: String,
}

#[derive(Deserialize)]
struct BbLinks {
    html: Option<BbLink>,
}

#[derive(Deserialize)]
struct BbUser {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    display_name: Option<String>,
    links: Option<BbLinks>,
}

impl BbUser {
    fn login(&self) -> String {
        self.username
            .clone()
            .or_else(|| self.nickname.clone())
            .or_else(|| self.display_name.clone())
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct BbContent {
    raw: Option<String>,
}

#[derive(Deserialize)]
struct BbBranchRef {
    name: String,
}

#[derive(Deserialize)]
struct BbEndpoint {
    branch: BbBranchRef,
}

#[derive(Deserialize)]
struct BbPull {
    id: u64,
    title: String,
    state: String,
    #[serde(default)]
    draft: bool,
    source: BbEndpoint,
    destination: BbEndpoint,
    links: BbLinks,
}

impl From<BbPull> for PullRequest {
    fn from(p: BbPull) -> Self {
        PullRequest {
            number: p.id,
            title: p.title,
            url: p.links.html.map(|l| l.href).unwrap_or_default(),
            open: p.state == "OPEN",
            state: p.state.to_lowercase(),
            draft: p.draft,
            head: p.source.branch.name,
            base: p.destination.branch.name,
        }
    }
}

impl GitService for Bitbucket {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Bitbucket
    }

    fn current_user(&self) -> Fut<'_, User> {
        Box::pin(async move {
            let u: BbUser = self.api.get("/user", "the current user").await?;
            Ok(User {
                login: u.login(),
                name: u.display_name.clone(),
                url: u.links.and_then(|l| l.html).map(|h| h.href),
            })
        })
    }

    fn repositories(&self, query: Option<String>, page: u32) -> Fut<'_, Page<Repository>> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct BbMain {
                name: String,
            }
            #[derive(Deserialize)]
            struct BbRepo {
                full_name: String,
                #[serde(default)]
                is_private: bool,
                mainbranch: Option<BbMain>,
                links: BbLinks,
            }
            let page = page.max(1);
            let mut path = format!("/repositories?role=member&sort=-updated_on&pagelen={PAGE_LEN}&page={page}");
            if let Some(q) = query.filter(|q| !q.trim().is_empty()) {
                path.push_str(&format!("&q={}", encode(&format!("name ~ \"{}\"", q.replace('"', "")))));
            }
            let repos: Paged<BbRepo> = self.api.get(&path, "your repositories").await?;
            Ok(repos.into_page(page, |r| Repository {
                full_name: r.full_name,
                url: r.links.html.map(|h| h.href).unwrap_or_default(),
                default_branch: r.mainbranch.map(|m| m.name),
                private: r.is_private,
            }))
        })
    }

    fn branches(&self, repo: RepoRef, query: Option<String>, page: u32) -> Fut<'_, Page<Branch>> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct BbTarget {
                hash: Option<String>,
            }
            #[derive(Deserialize)]
            struct BbBranch {
                name: String,
                target: Option<BbTarget>,
            }
            let page = page.max(1);
            let mut path = format!("{}/refs/branches?pagelen={PAGE_LEN}&page={page}", Self::repo(&repo));
            if let Some(q) = query.filter(|q| !q.is_empty()) {
                path.push_str(&format!("&q={}", encode(&format!("name ~ \"{}\"", q.replace('"', "")))));
            }
            let branches: Paged<BbBranch> = self.api.get(&path, &format!("the branches of {repo}")).await?;
            Ok(branches.into_page(page, |b| Branch { name: b.name, commit: b.target.and_then(|t| t.hash) }))
        })
    }

    fn issue(&self, repo: RepoRef, number: u64) -> Fut<'_, Issue> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct BbIssue {
                id: u64,
                title: String,
                content: Option<BbContent>,
                state: String,
                kind: Option<String>,
                priority: Option<String>,
                reporter: Option<BbUser>,
                links: BbLinks,
            }
            #[derive(Deserialize)]
            struct BbComment {
                content: Option<BbContent>,
                user: Option<BbUser>,
            }
            let what = format!("issue #{number} of {repo}");
            let base = format!("{}/issues/{number}", Self::repo(&repo));
            let issue: BbIssue = self.api.get(&base, &what).await?;
            let comments: Paged<BbComment> =
                self.api.get(&format!("{base}/comments?pagelen=100"), &format!("the comments of {what}")).await?;
            Ok(Issue {
                number: issue.id,
                title: issue.title,
                body: issue.content.and_then(|c| c.raw).unwrap_or_default(),
                state: issue.state,
                url: issue.links.html.map(|h| h.href).unwrap_or_default(),
                author: issue.reporter.map(|r| r.login()),
                // Bitbucket issues have a kind and a priority instead of labels.
                labels: [issue.kind, issue.priority].into_iter().flatten().collect(),
                comments: comments
                    .values
                    .into_iter()
                    .filter_map(|c| {
                        let body = c.content.and_then(|c| c.raw).filter(|b| !b.is_empty())?;
                        Some(Comment { author: c.user.map(|u| u.login()).unwrap_or_default(), body })
                    })
                    .collect(),
            })
        })
    }

    fn pull_request(&self, repo: RepoRef, number: u64) -> Fut<'_, PullRequest> {
        Box::pin(async move {
            let what = format!("pull request #{number} of {repo}");
            let pull: BbPull = self.api.get(&format!("{}/pullrequests/{number}", Self::repo(&repo)), &what).await?;
            Ok(pull.into())
        })
    }

    fn create_pull_request(&self, repo: RepoRef, new: NewPullRequest) -> Fut<'_, PullRequest> {
        Box::pin(async move {
            let body = json!({
                "title": new.title,
                "description": new.body,
                "source": {"branch": {"name": new.head}},
                "destination": {"branch": {"name": new.base}},
                "draft": new.draft,
                "close_source_branch": true,
            });
            let what = format!("creating a pull request on {repo}");
            let pull: BbPull = self.api.post(&format!("{}/pullrequests", Self::repo(&repo)), &body, &what).await?;
            Ok(pull.into())
        })
    }

    fn comment_on_issue(&self, repo: RepoRef, number: u64, body: String) -> Fut<'_, String> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct Created {
                links: BbLinks,
            }
            let what = format!("commenting on #{number} of {repo}");
            let c: Created = self
                .api
                .post(
                    &format!("{}/issues/{number}/comments", Self::repo(&repo)),
                    &json!({"content": {"raw": body}}),
                    &what,
                )
                .await?;
            Ok(c.links.html.map(|h| h.href).unwrap_or_default())
        })
    }

    fn suggested_tasks(&self, repo: Option<RepoRef>) -> Fut<'_, Vec<SuggestedTask>> {
        Box::pin(async move {
            let me: Me = self.api.get("/user", "the current user").await?;
            let mut tasks = Vec::new();
            // Bitbucket lists issues per repository only.
            if let Some(repo) = &repo {
                let q = encode(&format!("assignee.uuid = \"{}\" AND (state = \"new\" OR state = \"open\")", me.uuid));
                let path = format!("{}/issues?q={q}&pagelen=50", Self::repo(repo));
                match self.api.get::<Paged<BbIssueRef>>(&path, "issues assigned to you").await {
                    Ok(issues) => {
                        for i in issues.values {
                            let url = i.links.html.map(|h| h.href).unwrap_or_default();
                            tasks.push(SuggestedTask::new(
                                TaskKind::OpenIssue,
                                ProviderKind::Bitbucket,
                                &repo.path,
                                i.id,
                                &i.title,
                                &url,
                            ));
                        }
                    }
                    // A repository without the issue tracker answers 404.
                    Err(ProviderError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let path = format!("/pullrequests/{}?state=OPEN&pagelen=50", encode(&me.uuid));
            let pulls: Paged<BbPullRef> = self.api.get(&path, "your pull requests").await?;
            for p in pulls.values {
                let repo_name = p.destination.repository.full_name;
                let statuses: Paged<BbStatus> = self
                    .api
                    .get(&format!("/repositories/{repo_name}/pullrequests/{}/statuses", p.id), "pull request checks")
                    .await?;
                let url = p.links.html.map(|h| h.href).unwrap_or_default();
                let kinds = [
                    (statuses.values.iter().any(|s| s.state == "FAILED"), TaskKind::FailingChecks),
                    (p.task_count > 0 || p.comment_count > 0, TaskKind::UnresolvedComments),
                ];
                for (applies, kind) in kinds {
                    if applies {
                        tasks.push(SuggestedTask::new(kind, ProviderKind::Bitbucket, &repo_name, p.id, &p.title, &url));
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
                id: u64,
                title: String,
                links: BbLinks,
            }
            // Bitbucket's issues have no labels: a component plays their part.
            let mut query = String::from("(state=\"new\" OR state=\"open\")");
            for label in &labels {
                query.push_str(&format!(" AND component.name=\"{}\"", label.replace('"', "")));
            }
            let (api, what) = (&self.api, format!("the open issues of {repo}"));
            super::list_pages(limit, |page| {
                let path = format!("{}/issues?pagelen=100&page={page}&q={}", Self::repo(&repo), encode(&query));
                let what = what.clone();
                async move {
                    let items: Paged<Item> = api.get(&path, &what).await?;
                    let more = items.next.is_some();
                    let listed = items.values.into_iter().map(|i| ListedIssue {
                        number: i.id,
                        title: i.title,
                        url: i.links.html.map(|h| h.href).unwrap_or_default(),
                    });
                    Ok((listed.collect(), more))
                }
            })
            .await
        })
    }

    fn microagents(&self, repo: RepoRef) -> Fut<'_, Vec<Microagent>> {
        Box::pin(async move {
            let what = format!("the microagents of {repo}");
            let listing = format!("{}/src/HEAD/.openhands/microagents/?pagelen=100", Self::repo(&repo));
            let entries: Paged<Value> = match self.api.get(&listing, &what).await {
                Ok(e) => e,
                Err(ProviderError::NotFound { .. }) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let mut out = Vec::new();
            for e in entries.values {
                let (Some(path), Some("commit_file")) = (e["path"].as_str(), e["type"].as_str()) else { continue };
                if !path.ends_with(".md") {
                    continue;
                }
                let content = self.api.get_text(&format!("{}/src/HEAD/{path}", Self::repo(&repo)), &what).await?;
                let name = path.rsplit('/').next().unwrap_or(path).trim_end_matches(".md").to_owned();
                out.push(Microagent { name, path: path.to_owned(), content });
            }
            Ok(out)
        })
    }
}
// What `suggested_tasks` reads of Bitbucket's answers.
#[derive(Deserialize)]
struct BbIssueRef {
    id: u64,
    title: String,
    links: BbLinks,
}
#[derive(Deserialize)]
struct BbPullRef {
    id: u64,
    title: String,
    links: BbLinks,
    destination: BbRepoEnd,
    #[serde(default)]
    comment_count: u64,
    #[serde(default)]
    task_count: u64,
}
#[derive(Deserialize)]
struct BbRepoEnd {
    repository: BbRepoName,
}
#[derive(Deserialize)]
struct BbRepoName {
    full_name: String,
}
#[derive(Deserialize)]
struct BbStatus {
    state: String,
}
#[derive(Deserialize)]
struct Me {
    uuid: String,
}

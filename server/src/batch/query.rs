//! `--tasks github:owner/repo?label=bug`: a provider's open issues (with every label named) as a batch's tasks, each
//! one fixed as **Fix Issue** fixes it (its URL is the task's `issue`). Its instance ids are `owner__repo-12`, as
//! SWE-bench names instances, so that a second run goes on where the first stopped.

use std::path::Path;

use super::tasks::{Task, What};
use crate::providers::{ProviderKind, Providers, RepoRef};

/// A provider query: `github:octo/hello?label=bug&label=ui` (also `labels=bug,ui`), `gitlab:group/project`,
/// `bitbucket:workspace/repo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub kind: ProviderKind,
    pub path: String,
    pub labels: Vec<String>,
}

/// `None` when `text` is no query (a file's name).
pub fn parse(text: &str) -> Option<Result<Query, String>> {
    let (provider, rest) = text.split_once(':')?;
    let kind = ProviderKind::from_id(provider)?;
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.trim_matches('/');
    if path.split('/').filter(|p| !p.is_empty()).count() < 2 {
        return Some(Err(format!("{text}: name the repository as {provider}:owner/name")));
    }
    let mut labels = Vec::new();
    for pair in params.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("label" | "labels", value)) => {
                labels.extend(value.split(',').map(|l| l.trim().replace("%20", " ")).filter(|l| !l.is_empty()))
            }
            _ => return Some(Err(format!("{text}: {pair:?} is not understood (label=NAME is)"))),
        }
    }
    Some(Ok(Query { kind, path: path.to_owned(), labels }))
}

/// The open issues the query names, as tasks in the folder `here` when it is a clone of the repository (else in a
/// clone of the forge's).
pub async fn tasks(query: &Query, providers: &Providers, here: &Path) -> Result<Vec<Task>, String> {
    let repo = RepoRef { kind: query.kind, host: providers.settings().host(query.kind), path: query.path.clone() };
    let issues = providers
        .for_repo(&repo)
        .open_issues(repo.clone(), query.labels.clone(), 1000)
        .await
        .map_err(|e| format!("listing the open issues of {repo}: {e}"))?;
    let (folder, settings) = (here.to_owned(), providers.settings().clone());
    let local = tokio::task::spawn_blocking(move || crate::providers::remote::detect(&folder, &settings))
        .await
        .ok()
        .flatten()
        .filter(|found| found.kind == repo.kind && found.path.eq_ignore_ascii_case(&repo.path));
    let source = match local {
        Some(_) => here.to_string_lossy().into_owned(),
        None => format!("https://{}/{}.git", repo.host, repo.path),
    };
    let prefix = repo.path.replace('/', "__");
    Ok(issues
        .into_iter()
        .map(|i| Task {
            instance_id: format!("{prefix}-{}", i.number),
            repo: source.clone(),
            base_commit: None,
            what: What::Issue(i.url),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_read_and_files_are_not_queries() {
        let q = parse("github:octo/hello?label=bug&labels=good%20first%20issue,ui").unwrap().unwrap();
        assert_eq!(q.kind, ProviderKind::GitHub);
        assert_eq!(q.path, "octo/hello");
        assert_eq!(q.labels, ["bug", "good first issue", "ui"]);
        assert_eq!(parse("gitlab:group/sub/project").unwrap().unwrap().path, "group/sub/project");
        assert!(parse("tasks.jsonl").is_none());
        assert!(parse("C:/tasks.jsonl").is_none(), "a Windows path is no query");
        assert!(parse("github:hello").unwrap().unwrap_err().contains("github:owner/name"));
        assert!(parse("github:octo/hello?sort=new").unwrap().unwrap_err().contains("not understood"));
    }
}

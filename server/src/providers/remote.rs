//! The provider, host and repository of a git remote URL, in its HTTPS and SSH forms.

use std::path::Path;

use super::{ProviderKind, ProvidersSettings, RepoRef};
use crate::git::push::HttpsAuth;
use crate::secrets::{Secret, SecretName, SecretStore};

/// Parses `https://[user@]host[:port]/owner/repo[.git]`, `ssh://[user@]host[:port]/owner/repo[.git]` and the scp form
/// `[user@]host:owner/repo[.git]`. GitLab paths may have subgroups.
pub fn parse_remote(url: &str, settings: &ProvidersSettings) -> Option<RepoRef> {
    let url = url.trim();
    let (host, path) = if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(scheme, "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git") {
            return None;
        }
        let (authority, path) = rest.split_once('/')?;
        let host = authority.rsplit('@').next()?;
        let host = host.split(':').next()?;
        (host, path)
    } else {
        // scp-like: no scheme, a colon before the first slash.
        let (authority, path) = url.split_once(':')?;
        if authority.contains('/') || authority.is_empty() {
            return None;
        }
        (authority.rsplit('@').next()?, path)
    };
    let kind = settings.kind_of_host(host)?;
    let path = path.trim_matches('/').trim_end_matches(".git").trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let enough = match kind {
        super::ProviderKind::GitLab => segments.len() >= 2,
        _ => segments.len() == 2,
    };
    enough.then(|| RepoRef { kind, host: host.to_ascii_lowercase(), path: segments.join("/") })
}

/// The repository of the folder's git remotes: `origin` first, then `upstream`, then any other.
pub fn detect(folder: &Path, settings: &ProvidersSettings) -> Option<RepoRef> {
    crate::git::ready();
    let repo = git2::Repository::discover(folder).ok()?;
    let names = repo.remotes().ok()?;
    let mut names: Vec<String> = names.iter().filter_map(|n| n.ok().flatten().map(str::to_owned)).collect();
    names.sort_by_key(|n| match n.as_str() {
        "origin" => 0,
        "upstream" => 1,
        _ => 2,
    });
    names.iter().find_map(|n| parse_remote(repo.find_remote(n).ok()?.url().ok()?, settings))
}

/// The name of the remote whose URL is `repo` (for pushing there).
pub fn remote_name_for(folder: &Path, repo: &RepoRef, settings: &ProvidersSettings) -> Option<String> {
    crate::git::ready();
    let git = git2::Repository::discover(folder).ok()?;
    let names = git.remotes().ok()?;
    names.iter().filter_map(|n| n.ok().flatten()).find_map(|n| {
        let url = git.find_remote(n).ok()?.url().ok().map(str::to_owned)?;
        (parse_remote(&url, settings).as_ref() == Some(repo)).then(|| n.to_owned())
    })
}

/// The user name and token a push to `url` authenticates with: the token of the provider serving its host (custom
/// hosts, GitHub Enterprise or a self-managed GitLab, from the provider settings); GitHub's when none matches.
pub fn push_auth(url: &str, secrets: &SecretStore, providers: &ProvidersSettings) -> HttpsAuth {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', ':']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or(host);
    let (name, username) = match providers.kind_of_host(host) {
        Some(ProviderKind::GitLab) => (SecretName::GitlabToken, "oauth2"),
        Some(ProviderKind::Bitbucket) => (SecretName::BitbucketToken, "x-token-auth"),
        _ => (SecretName::GithubToken, "x-access-token"),
    };
    let token = secrets.get(name);
    // Bitbucket app passwords come as `user:app_password`.
    if let Some((user, pass)) =
        token.as_ref().and_then(|t| t.expose().split_once(':')).filter(|_| name == SecretName::BitbucketToken)
    {
        return HttpsAuth { username: user.to_owned(), token: Some(Secret::new(pass)) };
    }
    HttpsAuth { username: username.to_owned(), token }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderKind::{Bitbucket, GitHub, GitLab};

    fn repo(kind: crate::providers::ProviderKind, host: &str, path: &str) -> Option<RepoRef> {
        Some(RepoRef { kind, host: host.into(), path: path.into() })
    }

    #[test]
    fn remotes_in_every_form() {
        let s = ProvidersSettings::default();
        let cases = [
            ("https://github.com/octo/hello.git", repo(GitHub, "github.com", "octo/hello")),
            ("https://github.com/octo/hello", repo(GitHub, "github.com", "octo/hello")),
            ("https://x-access-token:abc@github.com/octo/hello.git", repo(GitHub, "github.com", "octo/hello")),
            ("git@github.com:octo/hello.git", repo(GitHub, "github.com", "octo/hello")),
            ("ssh://git@github.com:22/octo/hello.git", repo(GitHub, "github.com", "octo/hello")),
            ("https://gitlab.com/grp/sub/proj.git", repo(GitLab, "gitlab.com", "grp/sub/proj")),
            ("git@gitlab.com:grp/proj.git", repo(GitLab, "gitlab.com", "grp/proj")),
            ("https://me@bitbucket.org/team/repo.git", repo(Bitbucket, "bitbucket.org", "team/repo")),
            ("git@bitbucket.org:team/repo.git", repo(Bitbucket, "bitbucket.org", "team/repo")),
            ("https://gitlab.example.org/a/b", repo(GitLab, "gitlab.example.org", "a/b")),
            // Not a provider repository:
            ("/srv/git/repo.git", None),
            ("file:///srv/git/repo.git", None),
            ("https://example.com/a/b.git", None),
            ("https://github.com/octo", None),
            ("https://github.com/octo/hello/extra", None),
        ];
        for (url, want) in cases {
            assert_eq!(parse_remote(url, &s), want, "{url}");
        }
    }

    #[test]
    fn enterprise_hosts_from_settings() {
        let mut s = ProvidersSettings::default();
        s.github.host = Some("code.corp.example".into());
        assert_eq!(
            parse_remote("git@code.corp.example:team/app.git", &s),
            repo(GitHub, "code.corp.example", "team/app")
        );
    }

    #[test]
    fn push_tokens_are_chosen_by_host() {
        let secrets = SecretStore::default();
        secrets.set(SecretName::GithubToken, "gh");
        secrets.set(SecretName::GitlabToken, "gl");
        secrets.set(SecretName::BitbucketToken, "me:app-pass");
        let pick = |url: &str| {
            let a = push_auth(url, &secrets, &ProvidersSettings::default());
            (a.username, a.token.map(|t| t.expose().to_owned()))
        };
        assert_eq!(pick("https://github.com/o/r.git"), ("x-access-token".into(), Some("gh".into())));
        assert_eq!(pick("https://gitlab.com/o/r.git"), ("oauth2".into(), Some("gl".into())));
        assert_eq!(pick("https://user@bitbucket.org/o/r.git"), ("me".into(), Some("app-pass".into())));
        assert_eq!(pick("git@github.com:o/r.git").1, Some("gh".into()));
    }
}

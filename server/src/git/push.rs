//! Commit the conversation's changes and push them as a new branch.
//!
//! Over HTTPS the user's provider token goes only through git2's credentials callback: never into the remote URL,
//! the repository's config, a log line or a notification. Over SSH the user's SSH agent answers.

use std::cell::Cell;

use git2::{Cred, CredentialType, Direction, PushOptions, RemoteCallbacks, Repository};

use super::{GitError, Isolated, commit_all};
use crate::secrets::Secret;

/// How to authenticate an HTTPS push.
#[derive(Debug, Clone)]
pub struct HttpsAuth {
    /// The user name the host expects with a token (`x-access-token` for GitHub, `oauth2` for GitLab,
    /// `x-token-auth` for Bitbucket).
    pub username: String,
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The branch as named on the remote (`openhands/<slug>`, or with `-tryK` when that was taken).
    pub branch: String,
    pub commit: String,
    pub remote: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("nothing to commit: the agent changed no files")]
    NothingToCommit,
    #[error("the repository has no remote {0:?} to push to")]
    NoRemote(String),
    #[error("pushing to {remote} was refused: authentication failed. {hint}")]
    Auth { remote: String, hint: String },
    #[error("pushing to {remote} failed: {reason}")]
    Failed { remote: String, reason: String },
    #[error(transparent)]
    Git(#[from] GitError),
}

/// Commits everything in the copy (on its branch) and pushes it to `remote_name` as `wanted_branch`, or
/// `wanted_branch-tryK` when the remote has that branch already.
pub fn commit_and_push(
    iso: &Isolated,
    remote_name: &str,
    wanted_branch: &str,
    message: &str,
    auth: &HttpsAuth,
) -> Result<Published, PushError> {
    super::ready();
    super::reset_config(iso)?;
    let repo = super::open_copy(iso)?;
    let commit = commit_all(&repo, message)?;
    if commit == iso.baseline {
        return Err(PushError::NothingToCommit);
    }
    let local_branch = repo.head().map_err(GitError::from)?.name().unwrap_or("HEAD").to_owned();
    let mut remote = repo.find_remote(remote_name).map_err(|_| PushError::NoRemote(remote_name.to_owned()))?;
    let shown = remote.url().map(redact_url).unwrap_or_default();

    let taken = remote_branches(&mut remote, auth).map_err(|e| classify(e, &shown, auth))?;
    let branch = (1..=20)
        .map(|k| if k == 1 { wanted_branch.to_owned() } else { format!("{wanted_branch}-try{k}") })
        .find(|b| !taken.iter().any(|t| t == &format!("refs/heads/{b}")))
        .ok_or_else(|| PushError::Failed {
            remote: shown.clone(),
            reason: format!("{wanted_branch} and 19 retries are taken"),
        })?;

    push_refspec(&mut remote, &format!("{local_branch}:refs/heads/{branch}"), auth, &shown)?;
    tracing::info!(remote = %shown, %branch, "pushed");
    Ok(Published { branch, commit: commit.to_string(), remote: shown })
}

/// Pushes the checked-out branch of the repository holding `folder` to the same branch on `remote_name`.
pub fn push_current(folder: &std::path::Path, remote_name: &str, auth: &HttpsAuth) -> Result<Published, PushError> {
    super::ready();
    let repo = Repository::discover(folder).map_err(GitError::from)?;
    let head = repo.head().map_err(GitError::from)?;
    let branch = head.shorthand().unwrap_or("HEAD").to_owned();
    let commit = head.target();
    let mut remote = repo.find_remote(remote_name).map_err(|_| PushError::NoRemote(remote_name.to_owned()))?;
    let shown = remote.url().map(redact_url).unwrap_or_default();
    push_refspec(&mut remote, &format!("refs/heads/{branch}:refs/heads/{branch}"), auth, &shown)?;
    // The remote-tracking branch now matches; record it as git's own push would.
    if let Some(oid) = commit {
        let _ = repo.reference(&format!("refs/remotes/{remote_name}/{branch}"), oid, true, "openhands-lsp: push");
    }
    tracing::info!(remote = %shown, %branch, "pushed the current branch");
    Ok(Published { branch, commit: commit.map(|c| c.to_string()).unwrap_or_default(), remote: shown })
}

/// Pushes one refspec; a ref the remote refused is an error with its reason.
fn push_refspec(remote: &mut git2::Remote<'_>, refspec: &str, auth: &HttpsAuth, shown: &str) -> Result<(), PushError> {
    let rejected = std::cell::RefCell::new(None::<String>);
    let mut callbacks = callbacks(auth);
    callbacks.push_update_reference(|_, status| {
        if let Some(msg) = status {
            *rejected.borrow_mut() = Some(msg.to_owned());
        }
        Ok(())
    });
    let mut opts = PushOptions::new();
    opts.remote_callbacks(callbacks);
    remote.push(&[refspec], Some(&mut opts)).map_err(|e| classify(e, shown, auth))?;
    drop(opts);
    match rejected.into_inner() {
        Some(reason) => Err(PushError::Failed { remote: shown.to_owned(), reason }),
        None => Ok(()),
    }
}

/// Branches the remote has, as `refs/heads/...`.
fn remote_branches(remote: &mut git2::Remote<'_>, auth: &HttpsAuth) -> Result<Vec<String>, git2::Error> {
    let connection = remote.connect_auth(Direction::Push, Some(callbacks(auth)), None)?;
    let refs =
        connection.list()?.iter().map(|h| h.name().to_owned()).filter(|n| n.starts_with("refs/heads/")).collect();
    Ok(refs)
}

fn callbacks(auth: &HttpsAuth) -> RemoteCallbacks<'_> {
    let mut callbacks = RemoteCallbacks::new();
    // libgit2 asks again after a failure; answering once makes a bad token an error instead of a loop.
    let attempts = Cell::new(0u32);
    callbacks.credentials(move |_url, username, allowed| {
        attempts.set(attempts.get() + 1);
        if attempts.get() > 1 {
            return Err(git2::Error::from_str("authentication failed"));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            return match &auth.token {
                Some(token) => Cred::userpass_plaintext(&auth.username, token.expose()),
                None => Err(git2::Error::from_str("no token")),
            };
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            return Cred::ssh_key_from_agent(username.unwrap_or("git"));
        }
        Err(git2::Error::from_str("no usable credentials"))
    });
    callbacks
}

fn classify(e: git2::Error, remote: &str, auth: &HttpsAuth) -> PushError {
    let auth_failed = e.class() == git2::ErrorClass::Http && e.message().contains("401")
        || e.code() == git2::ErrorCode::Auth
        || e.message().contains("authentication")
        || e.message().contains("no token");
    if auth_failed {
        let hint = if auth.token.is_none() {
            "No token is set for this host: set it with openhands.setSecret (github_token, gitlab_token or \
             bitbucket_token) or the matching environment variable."
        } else {
            "The token was rejected: check that it is valid and may push to this repository."
        };
        return PushError::Auth { remote: remote.to_owned(), hint: hint.to_owned() };
    }
    PushError::Failed { remote: remote.to_owned(), reason: e.message().to_owned() }
}

/// A remote URL as it may be shown: any user info removed.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}{}", &url[..scheme + 3], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(redact_url("https://user:tok@github.com/o/r.git"), "https://github.com/o/r.git");
        assert_eq!(redact_url("git@github.com:o/r.git"), "git@github.com:o/r.git");
        assert_eq!(redact_url("/srv/bare.git"), "/srv/bare.git");
    }
}

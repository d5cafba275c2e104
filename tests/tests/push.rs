//! Commit and push the conversation's changes: to a local bare repository, and over smart HTTP to a real
//! `git http-backend` behind a server that demands the token.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openhands_lsp::git::push::{HttpsAuth, PushError, commit_and_push};
use openhands_lsp::git::{DEFAULT_COPY_LIMIT_BYTES, GitData, isolate};
use openhands_lsp::secrets::Secret;
use openhands_lsp_tests::git_http::GitHttpServer;
use openhands_lsp_tests::repo::{files_under, git};

/// A bare repository at `bare` and a user's clone-like repository pushing to it as `origin`.
fn repos(root: &Path) -> (PathBuf, PathBuf) {
    let bare = root.join("srv/project.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare"]);
    let user = root.join("user");
    std::fs::create_dir_all(&user).unwrap();
    git(&user, &["init", "-q"]);
    std::fs::write(user.join("README.md"), "hello\n").unwrap();
    git(&user, &["add", "-A"]);
    git(&user, &["commit", "-qm", "init"]);
    git(&user, &["remote", "add", "origin", bare.to_str().unwrap()]);
    git(&user, &["push", "-q", "origin", "main"]);
    (bare, user)
}

fn no_auth() -> HttpsAuth {
    HttpsAuth { username: "x-access-token".into(), token: None }
}

#[test]
fn push_to_a_local_bare_repository_with_try_suffixes() {
    captured_logs();
    let tmp = tempfile::tempdir().unwrap();
    let (bare, user) = repos(tmp.path());
    let state = tmp.path().join("state");

    let iso =
        isolate(&user, &state.join("wt1"), "openhands/local-1", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    std::fs::write(iso.root.join("fix.txt"), "fixed\n").unwrap();
    let published =
        commit_and_push(&iso, "origin", "openhands/fix", "Fix things\n\nBy OpenHands.", &no_auth()).unwrap();
    assert_eq!(published.branch, "openhands/fix");
    assert_eq!(git(&bare, &["show", "openhands/fix:fix.txt"]), "fixed\n");
    assert_eq!(git(&bare, &["log", "-1", "--format=%s", "openhands/fix"]).trim(), "Fix things");

    // The same branch name again: taken on the remote, so -try2.
    let iso2 =
        isolate(&user, &state.join("wt2"), "openhands/local-2", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    std::fs::write(iso2.root.join("other.txt"), "other\n").unwrap();
    let second = commit_and_push(&iso2, "origin", "openhands/fix", "Another fix", &no_auth()).unwrap();
    assert_eq!(second.branch, "openhands/fix-try2");

    // Nothing changed: nothing to push.
    let iso3 =
        isolate(&user, &state.join("wt3"), "openhands/local-3", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared).unwrap();
    let err = commit_and_push(&iso3, "origin", "openhands/none", "Nothing", &no_auth()).unwrap_err();
    assert!(matches!(err, PushError::NothingToCommit), "{err}");
    // The user's own branch is untouched.
    assert_eq!(git(&user, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
}

/// A `Write` that appends to a shared buffer, for capturing trace logs.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One capturing subscriber for this whole test binary: tracing caches per call site whether anyone listens, so a
/// subscriber scoped to one test can miss call sites another test reached first.
fn captured_logs() -> Capture {
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            let writer = capture.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
            capture
        })
        .clone()
}

#[test]
fn push_over_smart_http_needs_the_token_and_leaves_it_nowhere() {
    const TOKEN: &str = "ghp_pushcanary_0123456789";
    let tmp = tempfile::tempdir().unwrap();
    let (bare, user) = repos(tmp.path());
    let server = GitHttpServer::start(tmp.path().join("srv"), "x-access-token", TOKEN);
    git(&user, &["remote", "set-url", "origin", &server.url("project.git")]);
    let iso =
        isolate(&user, &tmp.path().join("state/wt"), "openhands/http-1", DEFAULT_COPY_LIMIT_BYTES, GitData::Shared)
            .unwrap();
    std::fs::write(iso.root.join("over-http.txt"), "pushed over http\n").unwrap();

    let logs = captured_logs();
    {
        // Without a token: a clear error that says how to set one.
        let err = commit_and_push(&iso, "origin", "openhands/http", "Over HTTP", &no_auth()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, PushError::Auth { .. }) && text.contains("openhands.setSecret"), "{text}");
        // A wrong token is rejected, also clearly.
        let wrong = HttpsAuth { username: "x-access-token".into(), token: Some(Secret::new("ghp_wrong")) };
        let err = commit_and_push(&iso, "origin", "openhands/http", "Over HTTP", &wrong).unwrap_err();
        assert!(err.to_string().contains("rejected"), "{err}");
        // With the token it lands.
        let auth = HttpsAuth { username: "x-access-token".into(), token: Some(Secret::new(TOKEN)) };
        let published = commit_and_push(&iso, "origin", "openhands/http", "Over HTTP", &auth).unwrap();
        assert_eq!(published.branch, "openhands/http");
        assert!(!published.remote.contains(TOKEN));
    }
    assert!(server.authorised_requests() > 0);
    assert_eq!(git(&bare, &["show", "openhands/http:over-http.txt"]), "pushed over http\n");

    // The token is nowhere on disk (the user's repository and config, the worktree) nor in the trace logs.
    for file in files_under(tmp.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "token written to {}", file.display());
    }
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logged.contains("pushed"), "the library's own log lines were captured: {logged}");
    assert!(!logged.contains(TOKEN), "token in the logs");
    assert!(!git(&user, &["remote", "get-url", "origin"]).contains(TOKEN));
}

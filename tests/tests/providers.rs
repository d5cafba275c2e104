//! The provider clients against stand-ins that speak the real wire format: GitHub through Prism validating every
//! request against GitHub's official OpenAPI description, GitLab and Bitbucket from responses recorded from their API
//! documentation (tests/fixtures/providers/README.md). Tokens, 401 with a refresh, rate limits, pagination.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openhands_lsp::config::ProviderSettings;
use openhands_lsp::providers::{
    NewPullRequest, ProviderError, ProviderKind, Providers, ProvidersSettings, RepoRef, TaskKind,
};
use openhands_lsp::secrets::{SecretName, SecretStore};
use openhands_lsp_tests::provider_mock::{Canned, ProviderMock};
use serde_json::json;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn providers(
    kind: ProviderKind,
    api_url: String,
    token: Option<&str>,
    token_command: Option<&str>,
) -> (Providers, SecretStore) {
    let secrets = SecretStore::with_env(|_| None);
    if let Some(t) = token {
        secrets.set(kind.secret(), t);
    }
    let p = ProviderSettings { host: None, api_url: Some(api_url), token_command: token_command.map(str::to_owned) };
    let mut settings = ProvidersSettings::default();
    match kind {
        ProviderKind::GitHub => settings.github = p,
        ProviderKind::GitLab => settings.gitlab = p,
        ProviderKind::Bitbucket => settings.bitbucket = p,
    }
    (Providers::new(settings, secrets.clone()), secrets)
}

fn repo(kind: ProviderKind, path: &str) -> RepoRef {
    RepoRef { kind, host: kind.default_host().into(), path: path.into() }
}

#[test]
fn github_requests_pass_githubs_openapi_description() {
    let mock = ProviderMock::github();
    mock.on_fixture("GET", "/repos/octo/hello/issues/12", "github/issue_12.json");
    mock.on_fixture("GET", "/repos/octo/hello/issues/12/comments", "github/issue_12_comments.json");
    mock.on_fixture("POST", "/graphql", "github/graphql_suggested_tasks.json");
    mock.on(
        "GET",
        "/repos/octo/hello/contents/.openhands/microagents",
        vec![Canned::json(json!([
            {"type": "file", "name": "repo.md", "path": ".openhands/microagents/repo.md", "sha": "a", "size": 5},
            {"type": "dir", "name": "more", "path": ".openhands/microagents/more", "sha": "b", "size": 0}
        ]))],
    );
    mock.on(
        "GET",
        "/repos/octo/hello/contents/.openhands/microagents/repo.md",
        vec![Canned::json(json!({"type": "file", "encoding": "base64", "content": "UnVuIGBjYXJn\nbyB0ZXN0YC4K", "name": "repo.md", "path": ".openhands/microagents/repo.md"}))],
    );
    let (p, _) = providers(ProviderKind::GitHub, mock.url(), Some("ghp_test_token_123"), None);
    let gh = p.service(ProviderKind::GitHub, None);
    let hello = repo(ProviderKind::GitHub, "octo/hello");
    runtime().block_on(async {
        let user = gh.current_user().await.unwrap();
        assert!(!user.login.is_empty());
        let repos = gh.repositories(None, 1).await.unwrap();
        assert!(!repos.items.is_empty());
        assert_eq!(repos.next, Some(2), "the Link header's next page");
        gh.repositories(Some("hello".into()), 1).await.unwrap();
        gh.branches(hello.clone(), None, 1).await.unwrap();

        let issue = gh.issue(hello.clone(), 12).await.unwrap();
        assert_eq!(issue.title, "Greeting is not polite");
        assert!(issue.body.contains("zebra-kiwi-42"));
        assert_eq!(issue.labels, ["bug"]);
        assert_eq!(issue.comments.len(), 1);
        assert_eq!(issue.comments[0].author, "hubot");

        let pr = gh.pull_request(hello.clone(), 1347).await.unwrap();
        assert!(!pr.url.is_empty());
        let new = NewPullRequest {
            title: "Fix issue #12: Greeting is not polite".into(),
            body: "This pull request fixes #12.".into(),
            head: "openhands/fix-issue-12".into(),
            base: "main".into(),
            draft: true,
        };
        gh.create_pull_request(hello.clone(), new).await.unwrap();
        gh.comment_on_issue(hello.clone(), 12, "OpenHands opened a pull request".into()).await.unwrap();

        let agents = gh.microagents(hello.clone()).await.unwrap();
        assert_eq!(agents.len(), 1, "{:?}", mock.violations());
        assert_eq!(agents[0].name, "repo");
        assert_eq!(agents[0].content, "Run `cargo test`.\n");

        let tasks = gh.suggested_tasks(None).await.unwrap();
        let kinds: Vec<(TaskKind, u64)> = tasks.iter().map(|t| (t.kind, t.number)).collect();
        assert_eq!(
            kinds,
            [
                (TaskKind::OpenIssue, 12),
                (TaskKind::FailingChecks, 7),
                (TaskKind::MergeConflicts, 7),
                (TaskKind::UnresolvedComments, 7)
            ]
        );
        assert_eq!(tasks[0].reference, "https://github.com/octo/hello/issues/12");
    });
    assert_eq!(mock.violations(), Vec::<String>::new(), "requests GitHub's description does not allow");
    let created = mock.requests_to("POST", "/repos/octo/hello/pulls");
    assert_eq!(created[0].body["draft"], true);
    assert_eq!(created[0].body["head"], "openhands/fix-issue-12");
    assert!(mock.recorded().iter().all(|r| r.authorization.as_deref() == Some("Bearer ghp_test_token_123")));
    let graphql = &mock.requests_to("POST", "/graphql")[0];
    assert!(graphql.body["query"].as_str().unwrap().contains("statusCheckRollup"));

    // The validator bites: a pull request without `head` is not what GitHub accepts.
    let invalid = post_status(&format!("{}/repos/octo/hello/pulls", mock.url()), json!({"title": "x"}));
    assert!(invalid >= 400, "{invalid}");
    assert_eq!(mock.violations().len(), 1, "{:?}", mock.violations());
}

#[test]
fn a_401_refreshes_the_token_through_token_command_once_then_succeeds() {
    let mock = ProviderMock::plain();
    mock.on(
        "GET",
        "/user",
        vec![
            Canned::status(401, json!({"message": "Bad credentials"})),
            Canned::json(json!({"login": "octocat", "name": "The Octocat", "html_url": "https://github.com/octocat"})),
        ],
    );
    let (p, secrets) =
        providers(ProviderKind::GitHub, mock.url(), Some("old-token-1"), Some("printf 'new-token-2\\n'"));
    let user = runtime().block_on(p.service(ProviderKind::GitHub, None).current_user()).unwrap();
    assert_eq!(user.login, "octocat");
    let auth: Vec<_> = mock.recorded().iter().map(|r| r.authorization.clone().unwrap_or_default()).collect();
    assert_eq!(auth, ["Bearer old-token-1", "Bearer new-token-2"]);
    assert_eq!(secrets.get(SecretName::GithubToken).unwrap().expose(), "new-token-2", "kept for the next call");
}

#[test]
fn a_401_without_a_way_to_refresh_says_how_to_set_a_token() {
    let mock = ProviderMock::plain();
    mock.on("GET", "/user", vec![Canned::status(401, json!({"message": "Bad credentials"}))]);
    let (plain, _) = providers(ProviderKind::GitHub, mock.url(), Some("bad-token-1"), None);
    let err = runtime().block_on(plain.service(ProviderKind::GitHub, None).current_user()).unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("401") && text.contains("github_token") && text.contains("openhands.setSecret"), "{text}");
    assert!(!text.contains("bad-token-1"), "the token is never in a message");
    // A refresh that fails says so.
    let (failing, _) = providers_with_failing_command(&mock);
    let err = runtime().block_on(failing.service(ProviderKind::GitHub, None).current_user()).unwrap_err();
    assert!(err.to_string().contains("tokenCommand failed") && err.to_string().contains("not logged in"), "{err}");
    // No token at all.
    let (none, _) = providers(ProviderKind::GitLab, mock.url(), None, None);
    let err = runtime().block_on(none.service(ProviderKind::GitLab, None).current_user()).unwrap_err();
    assert!(err.to_string().starts_with("no GitLab token: set gitlab_token"), "{err}");
}

fn providers_with_failing_command(mock: &ProviderMock) -> (Providers, SecretStore) {
    providers(ProviderKind::GitHub, mock.url(), Some("bad-token-1"), Some("echo 'not logged in' >&2; exit 1"))
}

#[test]
fn rate_limits_are_waited_out_when_short_and_reported_when_long() {
    let mock = ProviderMock::plain();
    let user = json!({"login": "octocat"});
    mock.on(
        "GET",
        "/user",
        vec![Canned::status(429, json!({"message": "slow down"})).header("retry-after", "1"), Canned::json(user)],
    );
    let (p, _) = providers(ProviderKind::GitHub, mock.url(), Some("token-abc"), None);
    let started = Instant::now();
    runtime().block_on(p.service(ProviderKind::GitHub, None).current_user()).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950), "Retry-After: 1 was honoured ({:?})", started.elapsed());
    assert_eq!(mock.requests_to("GET", "/user").len(), 2);

    let reset = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    mock.on(
        "GET",
        "/repos/octo/hello/issues/3",
        vec![
            Canned::status(403, json!({"message": "API rate limit exceeded"}))
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-reset", &reset.to_string()),
        ],
    );
    let err = runtime()
        .block_on(p.service(ProviderKind::GitHub, None).issue(repo(ProviderKind::GitHub, "octo/hello"), 3))
        .unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err:?}");
    assert!(err.to_string().contains("resets in 10 minutes"), "{err}");

    mock.on("GET", "/repos/octo/hello/issues/4", vec![Canned::status(404, json!({"message": "Not Found"}))]);
    let err = runtime()
        .block_on(p.service(ProviderKind::GitHub, None).issue(repo(ProviderKind::GitHub, "octo/hello"), 4))
        .unwrap_err();
    assert_eq!(err.to_string(), "GitHub: issue #4 of octo/hello was not found (404), or the token cannot see it");
    mock.on(
        "GET",
        "/repos/octo/hello/issues/5",
        vec![Canned::status(403, json!({"message": "Resource not accessible by integration"}))],
    );
    let err = runtime()
        .block_on(p.service(ProviderKind::GitHub, None).issue(repo(ProviderKind::GitHub, "octo/hello"), 5))
        .unwrap_err();
    assert!(err.to_string().contains("403 Forbidden") && err.to_string().contains("Resource not accessible"), "{err}");
}

#[test]
fn gitlab_from_its_documented_responses() {
    let mock = ProviderMock::plain();
    let project = "/api/v4/projects/my-group%2Fmy-project";
    mock.on_fixture("GET", &format!("{project}/issues/6"), "gitlab/issue.json");
    mock.on_fixture("GET", &format!("{project}/issues/6/notes"), "gitlab/issue_notes.json");
    mock.on_fixture("POST", &format!("{project}/merge_requests"), "gitlab/merge_request_created.json");
    mock.on_fixture("POST", &format!("{project}/issues/6/notes"), "gitlab/note_created.json");
    mock.on_fixture("GET", "/api/v4/issues", "gitlab/issues_assigned.json");
    mock.on_fixture("GET", "/api/v4/merge_requests", "gitlab/merge_requests_mine.json");
    mock.on(
        "GET",
        "/api/v4/projects",
        vec![Canned::json(json!([{"path_with_namespace": "my-group/my-project", "web_url": "https://gitlab.example.com/my-group/my-project", "default_branch": "main", "visibility": "private"}])).header("x-next-page", "2")],
    );
    let (p, _) = providers(ProviderKind::GitLab, format!("{}/api/v4", mock.url()), Some("glpat-test-token"), None);
    let gl = p.service(ProviderKind::GitLab, None);
    let proj = repo(ProviderKind::GitLab, "my-group/my-project");
    runtime().block_on(async {
        let issue = gl.issue(proj.clone(), 6).await.unwrap();
        assert_eq!(issue.body, "Ratione dolores corrupti mollitia soluta quia.");
        assert_eq!(issue.labels, ["foo", "bar"]);
        assert_eq!(issue.comments.len(), 1, "system notes are not discussion");
        let mr = gl
            .create_pull_request(
                proj.clone(),
                NewPullRequest {
                    title: "test1".into(),
                    body: "b".into(),
                    head: "test1".into(),
                    base: "main".into(),
                    draft: true,
                },
            )
            .await
            .unwrap();
        assert!(mr.open && mr.draft);
        let url = gl.comment_on_issue(proj.clone(), 6, "done".into()).await.unwrap();
        assert_eq!(url, "https://gitlab.example.com/my-group/my-project/-/issues/6#note_1659");
        let page = gl.repositories(Some("my".into()), 1).await.unwrap();
        assert_eq!((page.items.len(), page.next), (1, Some(2)));
        let kinds: Vec<(TaskKind, u64)> =
            gl.suggested_tasks(None).await.unwrap().iter().map(|t| (t.kind, t.number)).collect();
        assert_eq!(kinds, [(TaskKind::OpenIssue, 6), (TaskKind::MergeConflicts, 1), (TaskKind::UnresolvedComments, 1)]);
    });
    let created = &mock.requests_to("POST", &format!("{project}/merge_requests"))[0];
    assert_eq!(created.body["title"], "Draft: test1", "GitLab drafts are marked by title");
    assert_eq!(
        (created.body["source_branch"].as_str(), created.body["target_branch"].as_str()),
        (Some("test1"), Some("main"))
    );
    assert!(mock.requests_to("GET", "/api/v4/projects?").iter().any(|r| r.path.contains("search=my")));
    assert!(mock.recorded().iter().all(|r| r.authorization.as_deref() == Some("Bearer glpat-test-token")));
}

#[test]
fn bitbucket_from_its_documented_responses_with_an_app_password() {
    let mock = ProviderMock::plain();
    mock.on_fixture("GET", "/2.0/repositories/team/repo/issues/8", "bitbucket/issue.json");
    mock.on_fixture("GET", "/2.0/repositories/team/repo/issues/8/comments", "bitbucket/issue_comments.json");
    mock.on_fixture("POST", "/2.0/repositories/team/repo/pullrequests", "bitbucket/pullrequest_created.json");
    mock.on_fixture("GET", "/2.0/repositories", "bitbucket/repositories_page1.json");
    let (p, _) = providers(ProviderKind::Bitbucket, format!("{}/2.0", mock.url()), Some("jdoe:app-pass-123"), None);
    let bb = p.service(ProviderKind::Bitbucket, None);
    let r = repo(ProviderKind::Bitbucket, "team/repo");
    runtime().block_on(async {
        let issue = bb.issue(r.clone(), 8).await.unwrap();
        assert_eq!(issue.body, "The app crashes when the config file is empty.");
        assert_eq!(issue.labels, ["bug", "major"]);
        assert_eq!(issue.author.as_deref(), Some("jdoe"));
        assert_eq!(issue.comments.len(), 1, "empty comments are dropped");
        let pr = bb
            .create_pull_request(
                r.clone(),
                NewPullRequest {
                    title: "Fix issue #8: Crash on start".into(),
                    body: "This pull request fixes #8.".into(),
                    head: "openhands/fix-issue-8".into(),
                    base: "main".into(),
                    draft: true,
                },
            )
            .await
            .unwrap();
        assert_eq!(pr.url, "https://bitbucket.org/team/repo/pull-requests/21");
        let page = bb.repositories(None, 1).await.unwrap();
        assert_eq!((page.items.len(), page.next), (2, Some(2)));
    });
    let created = &mock.requests_to("POST", "/2.0/repositories/team/repo/pullrequests")[0];
    assert_eq!(created.body["source"]["branch"]["name"], "openhands/fix-issue-8");
    assert_eq!(created.body["destination"]["branch"]["name"], "main");
    assert_eq!(created.body["draft"], true);
    // user:app_password goes as Basic auth.
    let basic = format!("Basic {}", base64_of("jdoe:app-pass-123"));
    assert!(mock.recorded().iter().all(|r| r.authorization.as_deref() == Some(basic.as_str())));
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn post_status(url: &str, body: serde_json::Value) -> u16 {
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let response = client
            .post(url)
            .header("accept", "application/json")
            .header("authorization", "Bearer t")
            .json(&body)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    })
}

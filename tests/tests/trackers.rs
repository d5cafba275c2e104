//! Issues from Jira and Linear, end to end: `PROJ-123` in a comment becomes a code action titled with the issue's
//! title (the project keys read from Jira, Prism checking every request against Atlassian's description), the task
//! is built from the issue (ADF turned into Markdown, acceptance criteria, comments, attachments' names), the real
//! agent-server works on it with the scripted LLM, the pull request names and links the issue, and with the user's
//! yes the issue gets a comment with its link. Linear's `ENG-42` comes from the branch name, through the source
//! action (every request validated against Linear's GraphQL schema). Errors are checked for their words, and the
//! tokens for never leaving.

use openhands_lsp_tests::Server;
use openhands_lsp_tests::agent::{RUN_TIMEOUT, assert_secrets_absent, file_uri, init_params, options, wait_state};
use openhands_lsp_tests::git_http::GitHttpServer;
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::provider_mock::{Canned, ProviderMock};
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::tracker_answers::{JIRA_TITLE, LINEAR_TITLE, jira_issue, linear_issue};
use serde_json::{Value, json};

const GITHUB_TOKEN: &str = "ghp_tracker_flow_token_31";
const JIRA_TOKEN: &str = "jira_canary_token_5150";
const LINEAR_KEY: &str = "lin_api_canary_key_8080";

fn agent_steps() -> Vec<Step> {
    vec![
        Step::terminal("true"),
        Step::terminal("printf 'Hello, world\\n' > greeting.txt"),
        Step::finish("Changed the greeting to Hello, world."),
    ]
}

/// Code actions on `line` of `uri` (of kinds `only`), asked again until one's title starts with `prefix`: the keys
/// are read from the tracker in the background of the first request.
fn action_titled(server: &mut Server, uri: &str, line: u32, only: Option<&str>, prefix: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut context = json!({"diagnostics": []});
        if let Some(kind) = only {
            context["only"] = json!([kind]);
        }
        let range = json!({"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}});
        let actions = server
            .request(
                "textDocument/codeAction",
                json!({"textDocument": {"uri": uri}, "range": range, "context": context}),
            )
            .unwrap()
            .unwrap();
        if let Some(found) = actions
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["title"].as_str().is_some_and(|t| t.starts_with(prefix)))
        {
            return found.clone();
        }
        if std::time::Instant::now() > deadline {
            let log = server.stderr_complete();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!("no action titled {prefix:?}: {actions}\nthe server's log, newest first:\n{}", tail.join("\n"));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A server for the issue-to-pull-request flow: worktree isolation, GitHub at the stand-in with its token, the
/// tracker's settings, and the user's answers: "Open pull request" when the issue is done, then `answer` to
/// `question` (whether to comment on the issue).
fn pull_request_server(
    (llm, ws, github): (&ScriptedLlm, &std::path::Path, &ProviderMock),
    tracker: Value,
    options: openhands_lsp_tests::Options,
    (question, answer): (&'static str, &'static str),
) -> Server {
    let mut settings = json!({"isolation": "worktree", "github": {"host": "127.0.0.1", "apiUrl": github.url()}});
    openhands_lsp_tests::lsp_client::merge(&mut settings, tracker);
    let mut params = init_params(llm, ws, settings);
    params["capabilities"]["window"]["showDocument"] = json!({"support": true});
    let (mut server, _) = Server::start(options, params).unwrap();
    server.on_request("window/showMessageRequest", move |p| {
        let message = p["message"].as_str().unwrap_or_default();
        if message.contains("What next?") {
            Ok(json!({"title": "Open pull request"}))
        } else {
            assert_eq!(message, question);
            Ok(json!({"title": answer}))
        }
    });
    server.on_request("window/showDocument", |_| Ok(json!({"success": true})));
    server.command("openhands.setSecret", json!({"name": "github_token", "value": GITHUB_TOKEN})).unwrap().unwrap();
    server
}

/// The pull request's page shown once "Open pull request" was answered.
fn shown_pull_request(server: &Server) -> String {
    let shown: Value = server
        .wait_for("window/showDocument", RUN_TIMEOUT, |msgs| {
            if let Some(failed) = msgs.iter().find(|m| m["method"] == "window/showMessage" && m["params"]["type"] == 1)
            {
                panic!("an error was shown instead: {}", failed["params"]["message"]);
            }
            msgs.iter().find(|m| m["method"] == "window/showDocument").map(|m| m["params"].clone())
        })
        .unwrap();
    shown["uri"].as_str().unwrap().to_owned()
}

#[test]
fn a_jira_reference_in_a_comment_becomes_a_task_and_a_pull_request_that_links_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let notes = "# Notes\n// TODO(PROJ-123): be polite, not UTF-8 or ISO-8601\n";
    let (git_server, bare, ws) =
        GitHttpServer::with_octo_hello(&root, GITHUB_TOKEN, &[("greeting.txt", "hi\n"), ("notes.md", notes)]);
    let github = ProviderMock::github();
    let jira = ProviderMock::jira_cloud();
    jira_issue(&jira, false);
    let llm = ScriptedLlm::start(agent_steps());
    let tracker = json!({"jira": {"url": jira.url(), "email": "ada@example.com"}});
    // The Jira token from the environment, as a shell user sets it.
    let asked = ("Add a comment with the pull request's link to PROJ-123 in Jira?", "Comment");
    let mut server =
        pull_request_server((&llm, &ws, &github), tracker, options().env("JIRA_API_TOKEN", JIRA_TOKEN), asked);

    let uri = file_uri(&ws.join("notes.md"));
    open_document(&server, &uri, "markdown", notes);
    let action = action_titled(&mut server, &uri, 1, None, "OpenHands: fix PROJ-123");
    assert_eq!(action["title"], format!("OpenHands: fix PROJ-123 \"{JIRA_TITLE}\""));
    assert_eq!(action["kind"], "quickfix");
    let titles: Vec<&str> = vec![action["title"].as_str().unwrap()];
    assert!(!titles.iter().any(|t| t.contains("UTF-8") || t.contains("ISO-8601")), "only known project keys");

    let started = server.command("openhands.fixIssue", action["command"]["arguments"][0].clone()).unwrap().unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    assert_eq!(started["conversation"]["title"], format!("Fix PROJ-123: {JIRA_TITLE}"));
    assert_eq!(started["conversation"]["issue"]["key"], "PROJ-123");
    assert_eq!(started["conversation"]["issue"]["provider"], "jira");
    wait_state(&server, &id, "finished");
    let first = llm.requests()[0].body.to_string();
    for part in [
        "Fix Jira issue PROJ-123",
        "Reported by @Ada Lovelace: the greeting file says `hi`.",
        "- say **Hello, world**",
        "```sh\\ncat greeting.txt  # zebra-kiwi-42\\n```",
        "Acceptance criteria:\\nThe file says Hello, world",
        "screenshot.png",
        "--- Bob wrote:\\nKeep the trailing newline.",
    ] {
        assert!(first.contains(part), "{part:?} did not reach the agent: {first}");
    }

    let pr_url = shown_pull_request(&server);
    let created = github.requests_to("POST", "/repos/octo/hello/pulls");
    assert_eq!(created.len(), 1, "{:?}", github.recorded());
    assert_eq!(created[0].body["title"], format!("Fix PROJ-123: {JIRA_TITLE}"));
    let body = created[0].body["body"].as_str().unwrap();
    let issue_url = format!("{}/browse/PROJ-123", jira.url());
    assert!(body.starts_with(&format!("Fixes [PROJ-123]({issue_url}): {JIRA_TITLE}")), "{body}");
    let branch = created[0].body["head"].as_str().unwrap().to_owned();
    assert_eq!(git(&bare, &["show", &format!("{branch}:greeting.txt")]), "Hello, world\n", "the branch was pushed");
    assert!(git_server.authorised_requests() > 0);

    // The user said yes: the issue has a comment with the pull request's link, in ADF.
    let comment = jira
        .wait_for_request("POST", "/rest/api/3/issue/PROJ-123/comment", std::time::Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no comment on PROJ-123: {:?}", jira.recorded()));
    assert_eq!(comment.body["body"]["type"], "doc");
    assert!(comment.body.to_string().contains(&pr_url), "{}", comment.body);
    assert_eq!(jira.violations(), Vec::<String>::new(), "every request fits Jira's description");
    assert_eq!(github.violations(), Vec::<String>::new());
    let basic = format!("Basic {}", base64_of(&format!("ada@example.com:{JIRA_TOKEN}")));
    assert!(jira.recorded().iter().all(|r| r.authorization.as_deref() == Some(basic.as_str())));
    assert_eq!(std::fs::read_to_string(ws.join("greeting.txt")).unwrap(), "hi\n", "the user's file is untouched");

    server.shutdown_and_exit().unwrap();
    assert_secrets_absent(
        &server,
        &[JIRA_TOKEN, GITHUB_TOKEN, &base64_of(&format!("ada@example.com:{JIRA_TOKEN}"))],
        &[&started],
    );
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn a_linear_issue_named_by_the_branch_is_offered_as_a_source_action_and_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (_git_server, _bare, ws) =
        GitHttpServer::with_octo_hello(&root, GITHUB_TOKEN, &[("greeting.txt", "hi\n"), ("main.rs", "fn main() {}\n")]);
    git(&ws, &["checkout", "-q", "-b", "alice/eng-42-fix-login"]);
    let github = ProviderMock::github();
    let linear = ProviderMock::linear();
    linear_issue(&linear);
    let llm = ScriptedLlm::start(agent_steps());
    let tracker = json!({"linear": {"apiUrl": format!("{}/graphql", linear.url()), "teams": "eng"}});
    let asked = ("Add a comment with the pull request's link to ENG-42 in Linear?", "Not now");
    let mut server = pull_request_server((&llm, &ws, &github), tracker, options(), asked);
    server.command("openhands.setSecret", json!({"name": "linear_api_key", "value": LINEAR_KEY})).unwrap().unwrap();

    // The issues assigned to the user, from the teams of the settings (Linear's filter checked against its schema).
    linear.on_graphql(
        "Assigned",
        vec![Canned::json(json!({"data": {"viewer": {"assignedIssues": {"nodes": [
            {"identifier": "ENG-42", "title": LINEAR_TITLE, "url": "https://linear.app/acme/issue/ENG-42/login-fails-with-spaces"}
        ]}}}}))],
    );
    let listed = server.command("openhands.suggestedTasks", json!({})).unwrap().unwrap();
    let task = listed["tasks"].as_array().unwrap().iter().find(|t| t["provider"] == "linear").cloned();
    let task = task.unwrap_or_else(|| panic!("no Linear task: {listed}"));
    assert_eq!(task["reference"], "ENG-42");
    assert_eq!(task["description"], "ENG-42: open Linear issue assigned to you");
    let assigned =
        linear.recorded().into_iter().find(|r| r.body["query"].as_str().is_some_and(|q| q.contains("assignedIssues")));
    assert_eq!(assigned.unwrap().body["variables"]["filter"]["team"]["key"]["in"], json!(["ENG"]));

    let uri = file_uri(&ws.join("main.rs"));
    open_document(&server, &uri, "rust", "fn main() {}\n");
    // A quick fix would light the bulb on every line: the branch's issue is a source action only.
    let quick = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                   "context": {"diagnostics": [], "only": ["quickfix"]}}),
        )
        .unwrap()
        .unwrap();
    assert_eq!(quick, json!([]), "no quick fix on a line that names nothing");
    let action = action_titled(&mut server, &uri, 0, Some("source"), "OpenHands: fix ENG-42");
    assert_eq!(
        action["title"],
        format!("OpenHands: fix ENG-42 \"{LINEAR_TITLE}\" (named by your branch alice/eng-42-fix-login)")
    );
    assert_eq!(action["kind"], "source");

    let started = server.command("openhands.fixIssue", action["command"]["arguments"][0].clone()).unwrap().unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    assert_eq!(started["conversation"]["title"], format!("Fix ENG-42: {LINEAR_TITLE}"));
    wait_state(&server, &id, "finished");
    let first = llm.requests()[0].body.to_string();
    for part in ["Fix Linear issue ENG-42", "- trim the name", "trace.log", "Comments, the newest first"] {
        assert!(first.contains(part), "{part:?} did not reach the agent: {first}");
    }
    let newest = first.find("Keep the trailing newline.").unwrap();
    let older = first.find("Older comment").unwrap();
    assert!(newest < older, "the newest comment first");

    shown_pull_request(&server);
    let created = github.requests_to("POST", "/repos/octo/hello/pulls");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].body["title"], format!("Fix ENG-42: {LINEAR_TITLE}"));
    let body = created[0].body["body"].as_str().unwrap();
    assert!(body.starts_with("Fixes [ENG-42](https://linear.app/acme/issue/ENG-42/login-fails-with-spaces)"), "{body}");
    // The user said "Not now": the question was asked, no comment went to Linear.
    server
        .wait_for("the comment question", RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .any(|m| {
                    m["method"] == "window/showMessageRequest"
                        && m["params"]["message"].as_str().is_some_and(|t| t.contains("ENG-42"))
                })
                .then_some(())
        })
        .unwrap();
    let operations: Vec<String> =
        linear.recorded().iter().map(|r| r.body["query"].as_str().unwrap_or("").to_owned()).collect();
    assert!(!operations.iter().any(|q| q.contains("commentCreate")), "{operations:?}");
    assert_eq!(linear.violations(), Vec::<String>::new(), "every request fits Linear's schema");
    assert!(linear.recorded().iter().all(|r| r.authorization.as_deref() == Some(LINEAR_KEY)));
    server.shutdown_and_exit().unwrap();
    assert_secrets_absent(&server, &[LINEAR_KEY, GITHUB_TOKEN], &[&started]);
}

/// A server with Jira and Linear set up against the stand-ins, and nothing else.
fn tracker_server(ws: &std::path::Path, settings: Value, env: &[(&str, &str)]) -> Server {
    let llm = ScriptedLlm::start(vec![]);
    let params = init_params(&llm, ws, settings);
    let mut opts = options();
    for (k, v) in env {
        opts = opts.env(k.to_owned(), v.to_owned());
    }
    Server::start(opts, params).unwrap().0
}

/// A folder with an empty git repository.
fn empty_repository() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    git(&ws, &["init", "-q"]);
    (tmp, ws)
}

fn open_document(server: &Server, uri: &str, language: &str, text: &str) {
    let item = json!({"uri": uri, "languageId": language, "version": 1, "text": text});
    server.notify("textDocument/didOpen", json!({"textDocument": item})).unwrap();
}

fn fix_error(server: &mut Server, reference: &str) -> String {
    let answer = server.command("openhands.fixIssue", json!({"reference": reference})).unwrap();
    match answer {
        Err(e) => e.message,
        Ok(v) => panic!("{reference} started a task: {v}"),
    }
}

#[test]
fn tracker_errors_say_what_happened_and_what_to_do() {
    let (_tmp, ws) = empty_repository();

    // A wrong token: Jira answers 401.
    let jira = ProviderMock::jira_cloud();
    jira.on("GET", "/rest/api/3/project/search", vec![Canned::status(401, json!({"errorMessages": ["Unauthorized"]}))]);
    let settings = json!({"jira": {"url": jira.url(), "email": "ada@example.com"}});
    let mut server = tracker_server(&ws, settings, &[("JIRA_API_TOKEN", JIRA_TOKEN)]);
    let message = fix_error(&mut server, "PROJ-1");
    assert!(message.contains("Jira rejected the token (401 Unauthorized)"), "{message}");
    assert!(message.contains("jira_token") && message.contains("openhands.jira.email"), "{message}");

    // A project the token cannot see, an issue it cannot see, a rate limit.
    let jira = ProviderMock::jira_cloud();
    jira_issue(&jira, false);
    jira.on(
        "GET",
        "/rest/api/3/issue/PROJ-999",
        vec![Canned::status(
            404,
            json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
        )],
    );
    jira.on(
        "GET",
        "/rest/api/3/issue/PROJ-7",
        vec![Canned::status(429, json!({"errorMessages": ["Rate limit exceeded"]})).header("Retry-After", "30")],
    );
    let settings = json!({"jira": {"url": jira.url(), "email": "ada@example.com"}});
    let mut server = tracker_server(&ws, settings, &[("JIRA_API_TOKEN", JIRA_TOKEN)]);
    let message = fix_error(&mut server, "NOPE-5");
    assert_eq!(message, "openhands.fixIssue: NOPE-5: no project or team NOPE that the token can see (Jira: PROJ)");
    let message = fix_error(&mut server, "PROJ-999");
    assert_eq!(
        message,
        "Jira: issue PROJ-999 was not found, or the token cannot see it (is project PROJ one the token's account may \
         browse?)"
    );
    let message = fix_error(&mut server, "PROJ-7");
    assert_eq!(message, "Jira's rate limit is used up for 30 seconds; try again then");
    assert_eq!(jira.violations(), Vec::<String>::new());

    // A site that is not Jira (it answers pages, not JSON).
    let not_jira = ProviderMock::plain();
    let settings = json!({"jira": {"url": not_jira.url(), "email": "ada@example.com"}});
    let mut server = tracker_server(&ws, settings, &[("JIRA_API_TOKEN", JIRA_TOKEN)]);
    let message = fix_error(&mut server, "PROJ-1");
    assert!(message.starts_with(&format!("{} does not look like a Jira site", not_jira.url())), "{message}");
    assert!(message.ends_with("check openhands.jira.url"), "{message}");

    // Linear with a revoked key: a GraphQL authentication error.
    let linear = ProviderMock::linear();
    linear.on_graphql(
        "Teams",
        vec![Canned::status(400, json!({"errors": [{"message": "Authentication required, not authenticated", "extensions": {"code": "AUTHENTICATION_ERROR"}}]}))],
    );
    let settings = json!({"linear": {"apiUrl": format!("{}/graphql", linear.url())}});
    let mut server = tracker_server(&ws, settings, &[("LINEAR_API_KEY", LINEAR_KEY)]);
    let message = fix_error(&mut server, "ENG-1");
    assert!(
        message.starts_with("Linear rejected the token (401 Unauthorized): set a valid linear_api_key"),
        "{message}"
    );
    assert_eq!(linear.violations(), Vec::<String>::new());

    // Neither tracker set up.
    let mut server = tracker_server(&ws, json!({}), &[]);
    let message = fix_error(&mut server, "PROJ-1");
    assert!(message.contains("set openhands.jira.url"), "{message}");
    server.shutdown_and_exit().unwrap();
    assert_secrets_absent(&server, &[JIRA_TOKEN, LINEAR_KEY], &[]);
}

#[test]
fn jira_data_center_over_rest_v2_suggests_the_assigned_issue_and_offers_the_one_the_latest_commit_names() {
    let (_tmp, ws) = empty_repository();
    // The latest commit names the issue: the source action offers it, naming the commit.
    std::fs::write(ws.join("greeting.txt"), "hi\n").unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "PROJ-123: greet politely"]);
    let commit = git(&ws, &["rev-parse", "--short=8", "HEAD"]).trim().to_owned();
    let jira = ProviderMock::jira_data_center();
    jira_issue(&jira, true);
    let settings = json!({"jira": {"url": jira.url(), "projects": "PROJ"}});
    let mut server = tracker_server(&ws, settings, &[("JIRA_API_TOKEN", JIRA_TOKEN)]);
    jira.on(
        "GET",
        "/rest/api/2/search",
        vec![Canned::json(json!({"startAt": 0, "maxResults": 30, "total": 1, "issues": [{"id": "10123", "key": "PROJ-123", "fields": {"summary": JIRA_TITLE}}]}))],
    );
    let listed = server.command("openhands.suggestedTasks", json!({})).unwrap().unwrap();
    let tasks = listed["tasks"].as_array().unwrap();
    assert!(
        tasks.iter().any(|t| t["reference"] == "PROJ-123" && t["provider"] == "jira" && t["title"] == JIRA_TITLE),
        "{listed}"
    );
    let uri = file_uri(&ws.join("greeting.txt"));
    open_document(&server, &uri, "plaintext", "hi\n");
    let action = action_titled(&mut server, &uri, 0, Some("source"), "OpenHands: fix PROJ-123");
    assert_eq!(action["title"], format!("OpenHands: fix PROJ-123 \"{JIRA_TITLE}\" (named by commit {commit})"));
    let search = &jira.requests_to("GET", "/rest/api/2/search")[0];
    assert!(search.path.contains("project%20in%20%28PROJ%29"), "the configured projects only: {}", search.path);
    assert!(jira.recorded().iter().all(|r| r.authorization.as_deref() == Some(&format!("Bearer {JIRA_TOKEN}"))));
    assert_eq!(jira.violations(), Vec::<String>::new());
    server.shutdown_and_exit().unwrap();
}

/// The stand-ins refuse what the real trackers would: a field Linear's schema lacks, variables of the wrong type, a
/// Jira parameter outside its description.
#[test]
fn the_stand_ins_refuse_requests_the_trackers_would_refuse() {
    let linear = ProviderMock::linear();
    let post = |url: String, body: Value| {
        let out = std::process::Command::new("curl")
            .args(["-s", "-X", "POST", "-H", "content-type: application/json", "-d", &body.to_string(), &url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let url = format!("{}/graphql", linear.url());
    post(url.clone(), json!({"query": "query Issue { issue(id: \"ENG-1\") { identifier nosuchfield } }"}));
    post(
        url.clone(),
        json!({"query": "query Issue($id: String!) { issue(id: $id) { identifier } }", "variables": {"id": 5}}),
    );
    post(url, json!({"query": "query Teams { teams(first: 250) { nodes { key } } }"}));
    let violations = linear.violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert!(violations[0].contains("nosuchfield"), "{violations:?}");
    assert!(violations[1].contains("variables do not fit"), "{violations:?}");

    let jira = ProviderMock::jira_cloud();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-u",
            "a@example.com:t",
            &format!("{}/rest/api/3/issue/PROJ-1/comment?orderBy=newest", jira.url()),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(jira.violations().len(), 1, "{:?}", jira.violations());
}

/// A title Jira refused is not asked for again on every cursor move; a new token is, and brings the title.
#[test]
fn a_refused_title_is_asked_again_only_after_a_new_token() {
    let (_tmp, ws) = empty_repository();
    let jira = ProviderMock::jira_cloud();
    jira_issue(&jira, false);
    let answer = jira.canned("GET", "/rest/api/3/issue/PROJ-123").expect("the issue's answer");
    jira.on(
        "GET",
        "/rest/api/3/issue/PROJ-123",
        vec![Canned::status(401, json!({"errorMessages": ["Unauthorized"]})), answer],
    );
    let settings = json!({"jira": {"url": jira.url(), "email": "ada@example.com"}});
    let mut server = tracker_server(&ws, settings, &[("JIRA_API_TOKEN", "jira_old_token_1")]);
    let uri = file_uri(&ws.join("notes.md"));
    open_document(&server, &uri, "markdown", "see PROJ-123\n");
    let action = action_titled(&mut server, &uri, 0, None, "OpenHands: fix PROJ-123");
    assert_eq!(action["title"], "OpenHands: fix PROJ-123", "no title from a refused read");
    let again = action_titled(&mut server, &uri, 0, None, "OpenHands: fix PROJ-123");
    assert_eq!(again["title"], "OpenHands: fix PROJ-123");
    assert_eq!(jira.requests_to("GET", "/rest/api/3/issue/PROJ-123").len(), 1, "read once, not on every request");

    server.command("openhands.setSecret", json!({"name": "jira_token", "value": "jira_new_token_2"})).unwrap().unwrap();
    let titled = action_titled(&mut server, &uri, 0, None, "OpenHands: fix PROJ-123 \"");
    assert_eq!(titled["title"], format!("OpenHands: fix PROJ-123 \"{JIRA_TITLE}\""));
    server.shutdown_and_exit().unwrap();
}

/// A tracker that refuses the token is not asked again on every cursor move (code actions come on each); asking for
/// the issue tries again and says why it failed.
#[test]
fn a_refusing_tracker_is_not_asked_on_every_cursor_move() {
    let (_tmp, ws) = empty_repository();
    let jira = ProviderMock::jira_cloud();
    jira.on("GET", "/rest/api/3/project/search", vec![Canned::status(401, json!({"errorMessages": ["Unauthorized"]}))]);
    let settings = json!({"jira": {"url": jira.url(), "email": "ada@example.com"}});
    let mut server = tracker_server(&ws, settings, &[("JIRA_API_TOKEN", "jira_revoked_token_3")]);
    let uri = file_uri(&ws.join("notes.md"));
    open_document(&server, &uri, "markdown", "see PROJ-1\n");
    let range = json!({"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}});
    let ask = json!({"textDocument": {"uri": uri}, "range": range, "context": {"diagnostics": []}});
    server.request("textDocument/codeAction", ask.clone()).unwrap().unwrap();
    let first = jira.wait_for_request("GET", "/rest/api/3/project/search", std::time::Duration::from_secs(10));
    assert!(first.is_some(), "the keys are read once");
    for _ in 0..5 {
        let actions = server.request("textDocument/codeAction", ask.clone()).unwrap().unwrap();
        assert_eq!(actions, json!([]), "no key known, no action");
    }
    assert_eq!(jira.requests_to("GET", "/rest/api/3/project/search").len(), 1, "not asked on every cursor move");
    let message = fix_error(&mut server, "PROJ-1");
    assert!(message.contains("Jira rejected the token (401 Unauthorized)"), "{message}");
    assert_eq!(jira.requests_to("GET", "/rest/api/3/project/search").len(), 2, "asking for the issue tries again");
    server.shutdown_and_exit().unwrap();
}

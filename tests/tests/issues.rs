//! "Fix this issue" end to end: the code action on `TODO(#12)`, `openhands.fixIssue` fetching the issue from the
//! GitHub stand-in (Prism validating every request against GitHub's OpenAPI description), the real agent-server
//! driven by the scripted LLM, then "Open pull request": the branch pushed over smart HTTP to a real git
//! http-backend, the pull request
//! created with the expected title and body, the issue commented, and the page shown with `window/showDocument`.

use openhands_lsp_tests::Server;
use openhands_lsp_tests::agent::{RUN_TIMEOUT, file_uri, init_params, options, wait_state};
use openhands_lsp_tests::git_http::GitHttpServer;
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::provider_mock::ProviderMock;
use openhands_lsp_tests::repo::git;
use serde_json::{Value, json};

const TOKEN: &str = "ghp_issue_flow_token_77";

#[test]
fn fix_issue_from_a_code_action_to_an_opened_pull_request() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    // A GitHub Enterprise on 127.0.0.1 (`openhands.github.host`): git over smart HTTP (the real git http-backend,
    // which wants the token), its API at the stand-in.
    let (git_server, bare, ws) = GitHttpServer::with_octo_hello(
        &root,
        TOKEN,
        &[("greeting.txt", "hi\n"), ("notes.md", "# Notes\nTODO(#12): be polite\n")],
    );

    let mock = ProviderMock::github();
    mock.on_fixture("GET", "/repos/octo/hello/issues/12", "github/issue_12.json");
    mock.on_fixture("GET", "/repos/octo/hello/issues/12/comments", "github/issue_12_comments.json");
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::terminal("printf 'Hello, world\\n' > greeting.txt"),
        Step::finish("Changed the greeting to Hello, world."),
    ]);
    let mut params =
        init_params(&llm, &ws, json!({"isolation": "worktree", "github": {"host": "127.0.0.1", "apiUrl": mock.url()}}));
    params["capabilities"]["window"]["showDocument"] = json!({"support": true});
    let (mut server, _) = Server::start(options(), params).unwrap();
    server.on_request("window/showMessageRequest", |p| {
        let message = p["message"].as_str().unwrap_or_default();
        assert!(message.contains("What next?"), "unexpected question: {message}");
        Ok(json!({"title": "Open pull request"}))
    });
    server.on_request("window/showDocument", |_| Ok(json!({"success": true})));
    server.command("openhands.setSecret", json!({"name": "github_token", "value": TOKEN})).unwrap().unwrap();

    // The picker's list: work waiting for the user on the repository's provider (GraphQL, a recorded answer).
    mock.on_fixture("POST", "/graphql", "github/graphql_suggested_tasks.json");
    let notes_uri = file_uri(&ws.join("notes.md"));
    let listed = server.command("openhands.suggestedTasks", json!({"uri": notes_uri})).unwrap().unwrap();
    let tasks = listed["tasks"].as_array().unwrap();
    assert!(
        tasks.iter().any(|t| t["kind"] == "openIssue" && t["reference"] == "https://github.com/octo/hello/issues/12"),
        "{listed}"
    );
    assert_eq!(listed["problems"], json!([]));

    // The code action on the reference.
    let notes = file_uri(&ws.join("notes.md"));
    server
        .notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": notes, "languageId": "markdown", "version": 1, "text": "# Notes\nTODO(#12): be polite\n"}}),
        )
        .unwrap();
    let actions = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": notes}, "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}}, "context": {"diagnostics": []}}),
        )
        .unwrap()
        .unwrap();
    let action = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "OpenHands: fix issue #12")
        .unwrap_or_else(|| panic!("no fix-issue action in {actions}"))
        .clone();
    assert_eq!(action["command"]["command"], "openhands.fixIssue");

    // Run it as the editor would.
    let started = server.command("openhands.fixIssue", action["command"]["arguments"][0].clone()).unwrap().unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    assert_eq!(started["conversation"]["title"], "Fix issue #12: Greeting is not polite");
    assert_eq!(started["conversation"]["issue"]["url"], "https://github.com/octo/hello/issues/12");
    assert_eq!(started["conversation"]["issue"]["host"], "127.0.0.1");
    let finished = wait_state(&server, &id, "finished");
    assert_eq!(finished["finalMessage"], "Changed the greeting to Hello, world.");
    let first = llm.requests()[0].body.to_string();
    assert!(
        first.contains("zebra-kiwi-42") && first.contains("Keep the trailing newline."),
        "the issue reached the agent: {first}"
    );

    // "Open pull request" was answered: the pull request's page is shown.
    let shown: Value = server
        .wait_for("window/showDocument", RUN_TIMEOUT, |msgs| {
            if let Some(failed) = msgs.iter().find(|m| m["method"] == "window/showMessage" && m["params"]["type"] == 1)
            {
                panic!("an error was shown instead: {}", failed["params"]["message"]);
            }
            msgs.iter().find(|m| m["method"] == "window/showDocument").map(|m| m["params"].clone())
        })
        .unwrap();
    assert_eq!(shown["external"], true);
    let pr_url = shown["uri"].as_str().unwrap().to_owned();
    assert!(pr_url.starts_with("https://github.com/"), "{pr_url}");

    assert_eq!(server.server_requests("window/showMessageRequest").len(), 1, "asked once what to do next");
    let created = mock.requests_to("POST", "/repos/octo/hello/pulls");
    assert_eq!(created.len(), 1, "{:?}", mock.recorded());
    let pr = &created[0].body;
    assert_eq!(pr["title"], "Fix issue #12: Greeting is not polite");
    let body = pr["body"].as_str().unwrap();
    assert!(body.starts_with("This pull request fixes #12.") && body.contains("Changed the greeting"), "{body}");
    assert_eq!(pr["base"], "main");
    assert_eq!(pr["draft"], true);
    let branch = pr["head"].as_str().unwrap().to_owned();
    assert!(branch.starts_with("openhands/"), "{branch}");
    assert_eq!(git(&bare, &["show", &format!("{branch}:greeting.txt")]), "Hello, world\n", "the branch was pushed");
    assert!(git_server.authorised_requests() > 0, "the push carried the token");
    let comment = &mock.requests_to("POST", "/repos/octo/hello/issues/12/comments")[0];
    assert!(comment.body["body"].as_str().unwrap().contains(&pr_url), "{}", comment.body);
    assert_eq!(mock.violations(), Vec::<String>::new());
    assert!(mock.recorded().iter().all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))));

    // The user's folder is untouched (the agent worked in its own worktree) and the token went nowhere else.
    assert_eq!(std::fs::read_to_string(ws.join("greeting.txt")).unwrap(), "hi\n");
    server.shutdown_and_exit().unwrap();
    assert!(!server.stderr_complete().contains(TOKEN), "the token is in the server's log");
    let from_server = serde_json::to_string(&server.messages()).unwrap();
    assert!(!from_server.contains(TOKEN), "the token went back to the editor");
}

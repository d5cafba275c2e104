//! The cloud backend against a stand-in for OpenHands Cloud (`tests/src/cloud_mock.rs`): the V1 routes, each
//! request and answer checked against the app server's OpenAPI description, each conversation provisioned on a
//! REAL agent-server process driven by the scripted LLM.

use std::path::Path;
use std::time::{Duration, Instant};

use openhands_lsp_tests::Server;
use openhands_lsp_tests::agent::{RUN_TIMEOUT, assert_secrets_absent, options, wait_event, wait_state};
use openhands_lsp_tests::cloud_mock::{CloudMock, OctoHello};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::git;
use serde_json::{Value, json};

const API_KEY: &str = "oh-cloud-key-canary-4411";
const GITHUB_TOKEN: &str = "ghp_cloud_canary_9x8y7z";

type Fixture = OctoHello;

fn fixture() -> Fixture {
    OctoHello::new()
}

fn cloud(fx: &Fixture, llm: &ScriptedLlm) -> CloudMock {
    fx.cloud(API_KEY, llm.base_url())
}

fn session(ws: &Path, cloud_url: &str) -> Server {
    session_with(ws, cloud_url, json!({}))
}

fn session_with(ws: &Path, cloud_url: &str, overrides: Value) -> Server {
    session_in(ws, cloud_url, overrides, None)
}

/// A session with its state in `state` (`None`: a folder of its own).
fn session_in(ws: &Path, cloud_url: &str, overrides: Value, state: Option<&Path>) -> Server {
    let mut init = json!({"backend": "cloud", "cloud": {"url": cloud_url, "startupTimeoutSeconds": 300}});
    openhands_lsp_tests::lsp_client::merge(&mut init, overrides);
    let params = json!({
        "capabilities": {"window": {"workDoneProgress": true}, "workspace": {"workspaceEdit": {"documentChanges": true}}},
        "workspaceFolders": [{"uri": format!("file://{}", ws.display()), "name": "ws"}],
        "initializationOptions": init,
    });
    let mut opts = options().arg("--log-level").arg("trace");
    if let Some(state) = state {
        opts.state_home = Some(state.to_path_buf());
    }
    let (mut server, _) = Server::start(opts, params).unwrap();
    server.on_request("workspace/applyEdit", |_| Ok(json!({"applied": true})));
    server.command("openhands.setSecret", json!({"name": "cloud_api_key", "value": API_KEY})).unwrap().unwrap();
    server
}

fn start(server: &mut Server, instruction: &str) -> String {
    let started = server.command("openhands.startTask", json!({"instruction": instruction})).unwrap().unwrap();
    assert_eq!(started["conversation"]["backend"], "cloud", "{started}");
    started["conversationId"].as_str().unwrap().to_owned()
}

/// The `$/progress` report messages sent so far, in order.
fn progress_messages(server: &Server) -> Vec<String> {
    server
        .notifications("$/progress")
        .iter()
        .filter_map(|n| n["value"]["message"].as_str().map(str::to_owned))
        .collect()
}

fn cloud_id(server: &Server, id: &str) -> String {
    server
        .wait_for("the cloud link", RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/conversationChanged" && m["params"]["id"] == id)
                .find_map(|m| m["params"]["cloud"]["conversationId"].as_str().map(str::to_owned))
        })
        .unwrap()
}

#[test]
fn a_cloud_conversation_runs_from_the_editor_and_its_changes_come_back_for_review() {
    let fx = fixture();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::terminal("printf 'HELLO\\n' > greeting.txt && printf 'new\\n' > added.txt && echo token=$GITHUB_TOKEN"),
        Step::finish("Shouted the greeting.").gated("pr"),
    ]);
    let mock = cloud(&fx, &llm);
    let mut server = session(&fx.ws, &mock.url());
    server.command("openhands.setSecret", json!({"name": "github_token", "value": GITHUB_TOKEN})).unwrap().unwrap();

    let id = start(&mut server, "Shout the greeting");
    // Before it finishes, the agent opens a pull request in the cloud.
    let cloud_conversation = cloud_id(&server, &id);
    assert!(llm.wait_requests(3, RUN_TIMEOUT), "the agent is at its last step");
    mock.set_pull_requests(&cloud_conversation, &[7]);
    llm.open_gate("pr");
    let finished = wait_state(&server, &id, "finished");
    assert_eq!(finished["cloud"]["pullRequests"], json!([7]), "the pull request the agent opened is shown: {finished}");
    assert_eq!(finished["finalMessage"], "Shouted the greeting.", "{finished}");
    let link = &finished["cloud"];
    assert_eq!(link["repository"], "octo/hello", "{finished}");
    assert_eq!(link["branch"], "main", "{finished}");
    assert!(link["url"].as_str().unwrap().starts_with(&format!("{}/conversations/", mock.url())), "{finished}");

    // Phases reported in order: each seen phase comes after the ones before it.
    let messages = progress_messages(&server);
    let phases = ["waiting for a sandbox", "preparing the repository", "starting the conversation", "Cloud: ready"];
    let positions: Vec<usize> = phases
        .iter()
        .map(|p| messages.iter().position(|m| m.contains(p)).unwrap_or_else(|| panic!("no {p:?} in {messages:?}")))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of order: {messages:?}");

    // The request: repository, branch and provider from the remote; the first message; the token as a secret.
    let post =
        mock.recorded().into_iter().find(|r| r.method == "POST" && r.path == "/api/v1/app-conversations").unwrap();
    assert_eq!(post.authorization.as_deref(), Some(format!("Bearer {API_KEY}").as_str()));
    assert_eq!(post.body["selected_repository"], "octo/hello");
    assert_eq!(post.body["selected_branch"], "main");
    assert_eq!(post.body["git_provider"], "github");
    assert_eq!(post.body["secrets"]["GITHUB_TOKEN"], GITHUB_TOKEN);
    assert!(post.body["initial_message"]["content"][0]["text"].as_str().unwrap().contains("Shout the greeting"));
    assert!(llm.requests()[0].body.to_string().contains("Shout the greeting"));

    // Events streamed from the cloud's agent-server; the agent's shell had the token, masked in its output.
    let output = wait_event(&server, &id, "the command's output", |e| {
        e["kind"] == "ObservationEvent" && e["detail"].as_str().is_some_and(|d| d.contains("token="))
    });
    // The agent-server knows it as one of the conversation's secrets: it masks it itself.
    let detail = output["detail"].as_str().unwrap();
    assert!(detail.contains("token=<secret-hidden>") || detail.contains("token=***"), "{output}");

    // The changes came back into the conversation's own copy: reviewed, then applied through the editor.
    let (files, review) = openhands_lsp_tests::agent::reviewed_files(&mut server, &id);
    assert_eq!(
        files,
        vec![("added.txt".into(), "added".into()), ("greeting.txt".into(), "modified".into())],
        "{review}"
    );
    assert_eq!(std::fs::read_to_string(fx.ws.join("greeting.txt")).unwrap(), "hello\n", "untouched before apply");
    server.command("openhands.applyChanges", json!({"conversationId": id})).unwrap().unwrap();
    let edit = server.server_requests("workspace/applyEdit");
    let edit = edit.last().expect("an applyEdit").to_string();
    assert!(edit.contains("HELLO\\n") && edit.contains("added.txt"), "{edit}");

    // Listed with the local conversations, marked as the cloud's and as followed by this one.
    let listed = server.command("openhands.listConversations", json!({})).unwrap().unwrap();
    let cloud_entry =
        listed["cloudConversations"].as_array().unwrap().iter().find(|c| c["id"] == link["conversationId"]);
    let cloud_entry = cloud_entry.unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(cloud_entry["origin"], "cloud");
    assert_eq!(cloud_entry["attachedAs"], id.as_str());

    assert_eq!(mock.violations(), Vec::<String>::new());
    // Stop stops the spending: the sandbox is paused (the conversation stays in the cloud).
    server.command("openhands.stop", json!({"conversationId": id})).unwrap().unwrap();
    mock.wait_request("the sandbox paused", Duration::from_secs(30), |r| {
        r.method == "POST" && r.path.ends_with("/pause")
    });
    // The request is recorded as it arrives; the sandbox is paused as it is handled.
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.sandbox_status(&cloud_conversation) != "PAUSED" {
        assert!(Instant::now() < deadline, "the sandbox was not paused");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    server.shutdown_and_exit().unwrap();
    assert_secrets_absent(&server, &[API_KEY, GITHUB_TOKEN], &[&status]);
}

#[test]
fn attach_to_a_conversation_started_through_the_api_as_the_web_ui_would() {
    let fx = fixture();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::terminal("echo web > web.txt"),
        Step::finish("Wrote web.txt."),
    ]);
    let mock = cloud(&fx, &llm);
    let task = mock.start_via_api(json!({
        "title": "Started on the web",
        "initial_message": {"role": "user", "content": [{"type": "text", "text": "Write web.txt, from the web"}], "run": true},
        "selected_repository": "octo/hello",
        "selected_branch": "main",
        "git_provider": "github",
    }));
    let cloud_conversation = mock.wait_ready(&task, RUN_TIMEOUT);

    let mut server = session(&fx.ws, &mock.url());
    let listed = server.command("openhands.listConversations", json!({"cloud": true})).unwrap().unwrap();
    let entry = listed["cloudConversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == cloud_conversation.as_str())
        .cloned();
    let entry = entry.unwrap_or_else(|| panic!("{listed}"));
    assert_eq!((entry["origin"].as_str(), entry["title"].as_str()), (Some("cloud"), Some("Started on the web")));
    assert_eq!(entry["attachedAs"], Value::Null);

    let attached = server
        .command("openhands.attachConversation", json!({"cloudConversationId": cloud_conversation}))
        .unwrap()
        .unwrap();
    let id = attached["conversationId"].as_str().unwrap().to_owned();
    assert_eq!(attached["conversation"]["title"], "Started on the web");
    wait_state(&server, &id, "finished");
    // The history from before the attach came too: the web's first message.
    wait_event(&server, &id, "the first message", |e| e.to_string().contains("from the web"));
    let again =
        server.command("openhands.attachConversation", json!({"cloudConversationId": cloud_conversation})).unwrap();
    assert!(again.unwrap_err().message.contains("already followed"));
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert!(review["files"].as_array().unwrap().iter().any(|f| f["path"] == "web.txt"), "{review}");
    let unknown = server.command("openhands.attachConversation", json!({"cloudConversationId": "nope"})).unwrap();
    assert!(unknown.unwrap_err().message.contains("has no conversation nope"));
    assert_eq!(mock.violations(), Vec::<String>::new());
    server.shutdown_and_exit().unwrap();
}

#[test]
fn bad_key_rate_limits_network_failures_start_errors_and_a_vanished_sandbox_are_each_reported() {
    let fx = fixture();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::terminal("sleep 1").gated("held"),
        Step::finish("never"),
    ]);
    let mock = cloud(&fx, &llm);
    let mut server = session(&fx.ws, &mock.url());

    // 401: the listing says what is wrong and what to do; a start fails the same way.
    server.command("openhands.setSecret", json!({"name": "cloud_api_key", "value": "wrong-key"})).unwrap().unwrap();
    let listed = server.command("openhands.listConversations", json!({"cloud": true})).unwrap().unwrap();
    let error = listed["cloudError"].as_str().unwrap_or_else(|| panic!("{listed}"));
    assert!(error.contains("401") && error.contains("cloud_api_key"), "{error}");
    let id = start(&mut server, "Anything");
    let failed = wait_state(&server, &id, "error");
    assert!(failed["error"].as_str().unwrap().contains("rejected the API key (401)"), "{failed}");

    // 429 twice, then success: retried after Retry-After.
    server.command("openhands.setSecret", json!({"name": "cloud_api_key", "value": API_KEY})).unwrap().unwrap();
    let searches = |mock: &CloudMock| {
        mock.recorded().iter().filter(|r| r.path.starts_with("/api/v1/app-conversations/search")).count()
    };
    let before = searches(&mock);
    mock.rate_limit_next(2);
    let began = Instant::now();
    let listed = server.command("openhands.listConversations", json!({"cloud": true})).unwrap().unwrap();
    assert!(listed.get("cloudError").is_none(), "{listed}");
    assert_eq!(searches(&mock) - before, 3, "two 429s, then the answer");
    assert!(began.elapsed() >= Duration::from_secs(2), "Retry-After: 1 was honoured twice");
    // Rate limited past patience: reported.
    mock.rate_limit_next(100);
    let listed = server.command("openhands.listConversations", json!({"cloud": true})).unwrap().unwrap();
    assert!(listed["cloudError"].as_str().unwrap().contains("rate limiting requests (429)"), "{listed}");
    mock.rate_limit_next(0);

    // The start task ends in ERROR: its detail is the conversation's error.
    mock.fail_next_start("no sandbox capacity in this region");
    let id = start(&mut server, "Anything");
    let failed = wait_state(&server, &id, "error");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("could not start the conversation: no sandbox capacity in this region"), "{failed}");
    assert!(progress_messages(&server).iter().any(|m| m.contains("waiting for a sandbox")));

    // The sandbox goes away mid-run: an error naming it, not a hang.
    let id = start(&mut server, "Work until the sandbox vanishes");
    let cloud_conversation = cloud_id(&server, &id);
    assert!(llm.wait_requests(2, RUN_TIMEOUT), "the agent is at its second step");
    mock.kill_sandbox(&cloud_conversation);
    let failed = wait_state(&server, &id, "error");
    assert!(failed["error"].as_str().unwrap().contains("is gone"), "{failed}");
    llm.open_gate("held");
    assert_eq!(mock.violations(), Vec::<String>::new());
    server.shutdown_and_exit().unwrap();

    // Unreachable: retried with backoff, then reported.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut server = session(&fx.ws, &format!("http://{closed}"));
    let listed = server.command("openhands.listConversations", json!({"cloud": true})).unwrap().unwrap();
    let error = listed["cloudError"].as_str().unwrap_or_else(|| panic!("{listed}"));
    assert!(error.contains("cannot reach") && error.contains("after 5 attempts"), "{error}");
    server.shutdown_and_exit().unwrap();
    assert_secrets_absent(&server, &[API_KEY], &[]);
}

#[test]
fn a_start_with_unpushed_work_asks_first_and_cancel_starts_nothing() {
    let fx = fixture();
    let llm = ScriptedLlm::start(vec![]);
    let mock = cloud(&fx, &llm);
    std::fs::write(fx.ws.join("local.txt"), "not committed\n").unwrap();
    std::fs::write(fx.ws.join("greeting.txt"), "hi\n").unwrap();
    git(&fx.ws, &["commit", "-qam", "local only"]);
    let mut server = session(&fx.ws, &mock.url());
    // No key: refused at once, nothing started.
    server.command("openhands.setSecret", json!({"name": "cloud_api_key", "value": ""})).unwrap().unwrap();
    let no_key = server.command("openhands.startTask", json!({"instruction": "Anything"})).unwrap().unwrap_err();
    assert!(
        no_key.message.contains("no OpenHands Cloud API key") && no_key.message.contains("OPENHANDS_API_KEY"),
        "{}",
        no_key.message
    );
    server.command("openhands.setSecret", json!({"name": "cloud_api_key", "value": API_KEY})).unwrap().unwrap();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let seen = asked.clone();
    server.on_request("window/showMessageRequest", move |p| {
        seen.lock().unwrap().push(p.clone());
        Ok(json!({"title": "Cancel"}))
    });
    let err = server.command("openhands.startTask", json!({"instruction": "Anything"})).unwrap().unwrap_err();
    assert!(err.message.contains("not started"), "{}", err.message);
    let question = asked.lock().unwrap()[0].clone();
    let text = question["message"].as_str().unwrap();
    assert!(
        text.contains("origin/main")
            && text.contains("1 local commit is not pushed")
            && text.contains("1 file has uncommitted changes"),
        "{text}"
    );
    let titles: Vec<&str> =
        question["actions"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(titles, vec!["Push and start", "Start anyway", "Cancel"]);
    assert!(mock.recorded().iter().all(|r| r.method != "POST"), "nothing was started in the cloud");
    let listed = server.command("openhands.listConversations", json!({"cloud": false})).unwrap().unwrap();
    assert_eq!(listed["conversations"], json!([]));
    assert!(listed.get("cloudConversations").is_none());

    // Provider tokens are kept in the cloud account only when the user asks.
    let none = server.command("openhands.storeProviderTokensInCloud", json!({})).unwrap().unwrap_err();
    assert!(none.message.contains("no provider token is set"), "{}", none.message);
    server.command("openhands.setSecret", json!({"name": "github_token", "value": GITHUB_TOKEN})).unwrap().unwrap();
    let stored = server.command("openhands.storeProviderTokensInCloud", json!({})).unwrap().unwrap();
    assert_eq!(stored, json!({"stored": ["github"]}));
    assert_eq!(
        mock.stored_provider_tokens(),
        vec![json!({"provider_tokens": {"github": {"token": GITHUB_TOKEN, "host": null}}})]
    );
    assert_eq!(mock.violations(), Vec::<String>::new());
    server.shutdown_and_exit().unwrap();
    assert_secrets_absent(&server, &[API_KEY, GITHUB_TOKEN], &[]);
}

#[test]
fn pause_and_resume_pause_and_resume_the_cloud_sandbox() {
    let fx = fixture();
    // Pause interrupts the LLM call held at the gate; whether or not that reply is used, the agent goes on to
    // write two.txt after resuming.
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo one"),
        Step::terminal("echo one-b").gated("go"),
        Step::terminal("echo two > two.txt"),
        Step::finish("resumed and done"),
    ]);
    // The project has a dev container, which the cloud does not use: said once, as a warning, at the start.
    std::fs::create_dir_all(fx.ws.join(".devcontainer")).unwrap();
    std::fs::write(fx.ws.join(".devcontainer/devcontainer.json"), r#"{"image": "rust:1"}"#).unwrap();
    git(&fx.ws, &["add", "-A"]);
    git(&fx.ws, &["commit", "-qm", "dev container"]);
    git(&fx.ws, &["push", "-q", fx.bare.to_str().unwrap(), "main"]);
    git(&fx.ws, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
    let mock = cloud(&fx, &llm);
    let mut server = session(&fx.ws, &mock.url());
    let id = start(&mut server, "Count to two");
    let cloud_conversation = cloud_id(&server, &id);
    let notice = server
        .wait_notification("window/showMessage", |m| m["message"].as_str().is_some_and(|t| t.contains("dev container")))
        .unwrap();
    assert_eq!(notice["type"], 2, "a warning: {notice}");
    let text = notice["message"].as_str().unwrap();
    assert!(
        text.contains("(.devcontainer/devcontainer.json), but OpenHands Cloud runs the agent in its own"),
        "{text}"
    );
    assert!(text.contains("use the docker backend"), "{text}");
    assert!(llm.wait_requests(2, RUN_TIMEOUT), "the agent is waiting on its second LLM call");

    server.command("openhands.pause", json!({"conversationId": id})).unwrap().unwrap();
    wait_state(&server, &id, "paused");
    assert_eq!(mock.sandbox_status(&cloud_conversation), "PAUSED");

    llm.open_gate("go");
    server.command("openhands.resume", json!({"conversationId": id})).unwrap().unwrap();
    assert_eq!(mock.sandbox_status(&cloud_conversation), "RUNNING");
    let done = wait_state(&server, &id, "finished");
    assert_eq!(done["finalMessage"], "resumed and done");
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert!(review["files"].as_array().unwrap().iter().any(|f| f["path"] == "two.txt"), "{review}");
    assert_eq!(mock.violations(), Vec::<String>::new());
    let said = server.notifications("window/showMessage");
    let notices = said.iter().filter(|m| m["message"].as_str().is_some_and(|t| t.contains("dev container"))).count();
    assert_eq!(notices, 1, "said once, not again at resume: {said:?}");
    server.shutdown_and_exit().unwrap();
}

#[test]
fn push_and_start_pushes_the_local_commits_the_cloud_then_sees() {
    let fx = fixture();
    // The remote is a GitHub Enterprise on 127.0.0.1 serving the bare repository over smart HTTP with the token.
    let git_server =
        openhands_lsp_tests::git_http::GitHttpServer::start(fx.root.join("srv"), "x-access-token", GITHUB_TOKEN);
    git(&fx.ws, &["remote", "set-url", "origin", &git_server.url("octo/hello.git")]);
    std::fs::write(fx.ws.join("local.txt"), "made locally\n").unwrap();
    git(&fx.ws, &["add", "local.txt"]);
    git(&fx.ws, &["commit", "-qm", "local work"]);
    let head = git(&fx.ws, &["rev-parse", "HEAD"]);

    let llm =
        ScriptedLlm::start(vec![Step::terminal("true"), Step::terminal("cat local.txt"), Step::finish("Read it.")]);
    let mock = cloud(&fx, &llm);
    let mut server = session_with(&fx.ws, &mock.url(), json!({"github": {"host": "127.0.0.1"}}));
    server.command("openhands.setSecret", json!({"name": "github_token", "value": GITHUB_TOKEN})).unwrap().unwrap();
    server.on_request("window/showMessageRequest", |p| {
        assert!(p["message"].as_str().unwrap().contains("1 local commit is not pushed"), "{p}");
        Ok(json!({"title": "Push and start"}))
    });
    let id = start(&mut server, "Read the local file");
    assert_eq!(git(&fx.bare, &["rev-parse", "main"]), head, "the local commit was pushed before the start");
    assert!(git_server.authorised_requests() > 0, "pushed with the token");
    let output = wait_event(&server, &id, "cat's output", |e| {
        e["kind"] == "ObservationEvent" && e["raw"]["observation"]["command"] == "cat local.txt"
    });
    assert!(
        output["detail"].as_str().unwrap().contains("made locally"),
        "the cloud cloned the pushed commit: {output}"
    );
    wait_state(&server, &id, "finished");
    assert_eq!(mock.violations(), Vec::<String>::new());
    server.shutdown_and_exit().unwrap();
    assert_secrets_absent(&server, &[API_KEY, GITHUB_TOKEN], &[]);
}

/// A cloud conversation goes on after a restart through the app server: its paused sandbox is started again, the
/// message starts a turn there, and the changes come back into the same copy. One whose sandbox the cloud removed
/// says so in words.
#[test]
fn a_cloud_conversation_goes_on_after_a_restart_and_a_removed_sandbox_is_said_in_words() {
    let fx = fixture();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo one > one.txt"),
        Step::finish("first turn in the cloud"),
        Step::terminal("echo two > two.txt"),
        Step::finish("second turn in the cloud"),
    ]);
    let mock = cloud(&fx, &llm);
    let state = tempfile::tempdir().unwrap();
    let session = |ws: &Path, url: &str| session_in(ws, url, json!({}), Some(state.path()));
    let mut first = session(&fx.ws, &mock.url());
    let id = start(&mut first, "Write one.txt");
    let cloud_conversation = cloud_id(&first, &id);
    wait_state(&first, &id, "finished");
    first.shutdown_and_exit().unwrap();
    mock.pause_sandbox(&cloud_conversation);
    let requests_before = llm.requests().len();

    let mut second = session(&fx.ws, &mock.url());
    let list = second.command("openhands.listConversations", json!({})).unwrap().unwrap();
    let entry = list["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap();
    assert_eq!((entry["live"].clone(), entry["cannotContinue"].clone()), (json!(false), Value::Null), "{entry}");
    second.command("openhands.sendMessage", json!({"conversationId": id, "text": "Now two.txt"})).unwrap().unwrap();
    let done = second
        .wait_for("the second turn", RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/conversationChanged" && m["params"]["id"] == id.as_str())
                .find(|m| m["params"]["state"] == "finished" || m["params"]["state"] == "error")
                .filter(|m| {
                    m["params"]["state"] == "error" || m["params"]["finalMessage"] == "second turn in the cloud"
                })
                .map(|m| m["params"].clone())
        })
        .unwrap();
    assert_eq!(done["state"], "finished", "{done}");
    assert_eq!(mock.sandbox_status(&cloud_conversation), "RUNNING", "the paused sandbox was started again");
    let messages = llm.requests()[requests_before].body["messages"].to_string();
    assert!(
        messages.contains("echo one > one.txt"),
        "the earlier turn: {}",
        &messages[messages.len().saturating_sub(3000)..]
    );
    assert!(messages.contains("Now two.txt"), "the message: {}", &messages[messages.len().saturating_sub(3000)..]);
    let review = second.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    let files: Vec<&str> = review["files"].as_array().unwrap().iter().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(files, ["one.txt", "two.txt"], "both turns' changes came back into the same copy: {review}");
    second.shutdown_and_exit().unwrap();

    // The cloud removed the sandbox: going on says why.
    mock.kill_sandbox(&cloud_conversation);
    let mut third = session(&fx.ws, &mock.url());
    third.command("openhands.sendMessage", json!({"conversationId": id, "text": "Three"})).unwrap().unwrap();
    let failed = wait_state(&third, &id, "error");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("is gone"), "{error}");
    assert_eq!(mock.violations(), Vec::<String>::new());
}

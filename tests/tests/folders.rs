//! A task across two repositories over LSP (`startTask {folders}`), with the real agent-server on the process
//! backend: each folder gets its own copy, the agent is told where they are, and review, apply and push work per
//! folder, each against its own repository.

use std::path::{Path, PathBuf};
use std::time::Duration;

use openhands_lsp_tests::agent::{file_uri, init_params, options};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::{git, repositories};
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

/// A bare `origin` beside repository `dir`.
fn with_origin(dir: &Path) -> PathBuf {
    let bare = dir.with_extension("origin.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare"]);
    git(dir, &["remote", "add", "origin", bare.to_str().unwrap()]);
    bare
}

fn wait_state(server: &Server, id: &str, state: &str) -> Value {
    server
        .wait_for(state, Duration::from_secs(240), |msgs| {
            msgs.iter()
                .rev()
                .find(|m| {
                    m["method"] == "openhands/conversationChanged"
                        && m["params"]["id"] == id
                        && m["params"]["state"] == state
                })
                .map(|m| m["params"].clone())
        })
        .unwrap()
}

#[test]
fn a_task_across_two_repositories_works_reviews_applies_and_pushes_each_in_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repos = repositories(&root, &[("app", "app.txt", "app v1\n"), ("api", "api.txt", "api v1\n")]);
    let (app, api) = (repos[0].clone(), repos[1].clone());
    with_origin(&app);
    let api_origin = with_origin(&api);
    let state = tempfile::tempdir().unwrap();
    // The agent's working folder is its copy of `app`; the copy of `api` is beside it (the process backend shows
    // the agent the copies where they are, and tells it so).
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo 'app v2' > app.txt && cd ../folders/api && echo 'api v2' > api.txt && echo new > new.txt"),
        Step::finish("changed both"),
    ]);
    let mut params = init_params(&llm, &app, json!({}));
    params["initializationOptions"].as_object_mut().unwrap().remove("isolation");
    params["capabilities"]["workspace"] = json!({"workspaceEdit": {"documentChanges": true,
        "resourceOperations": ["create", "rename", "delete"]}});
    params["workspaceFolders"] =
        json!([{"uri": file_uri(&app), "name": "app"}, {"uri": file_uri(&api), "name": "api"}]);
    let opts = Options { state_home: Some(state.path().to_path_buf()), ..options() };
    let (mut server, _) = Server::start(opts, params).unwrap();
    server.on_request("workspace/applyEdit", |_| Ok(json!({"applied": true})));

    // A folder inside another is refused in words, before anything starts.
    std::fs::create_dir_all(app.join("sub")).unwrap();
    let nested = server
        .command("openhands.startTask", json!({"instruction": "x", "folders": [file_uri(&app), app.join("sub")]}))
        .unwrap()
        .unwrap_err();
    assert!(nested.message.contains("is inside"), "{}", nested.message);

    let started = server
        .command(
            "openhands.startTask",
            json!({"instruction": "Bump both versions", "uri": file_uri(&app.join("app.txt")),
                   "folders": [file_uri(&app), api.display().to_string()]}),
        )
        .unwrap()
        .unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    let done = wait_state(&server, &id, "finished");
    let conv_dir = state.path().join(format!("openhands-lsp/conversations/{id}"));
    let api_copy = conv_dir.join("folders/api");
    assert_eq!(done["workspace"], json!(app));
    assert_eq!(done["folders"][0]["name"], "api", "{done:#}");
    assert_eq!(done["folders"][0]["path"], json!(api));
    assert_eq!(done["folders"][0]["isolation"]["root"], json!(api_copy));

    // The agent was told where the other folder is.
    let system = llm.requests()[0].body["messages"][0].to_string();
    assert!(system.contains("This task spans several folders"), "{system}");
    assert!(system.contains(&api_copy.display().to_string()), "{system}");

    // The user's folders are untouched; each copy holds its own change.
    assert_eq!(std::fs::read_to_string(app.join("app.txt")).unwrap(), "app v1\n");
    assert_eq!(std::fs::read_to_string(api.join("api.txt")).unwrap(), "api v1\n");
    assert_eq!(std::fs::read_to_string(api_copy.join("api.txt")).unwrap(), "api v2\n");

    // One review of both: the other folder's paths start with its name, and say which folder they are in.
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    let mut listed: Vec<(String, String, String)> = review["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let folder = f["folder"].as_str().unwrap_or("").to_owned();
            (f["path"].as_str().unwrap().to_owned(), folder, f["uri"].as_str().unwrap().to_owned())
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("api/api.txt".to_owned(), "api".to_owned(), file_uri(&api.join("api.txt"))),
            ("api/new.txt".to_owned(), "api".to_owned(), file_uri(&api.join("new.txt"))),
            ("app.txt".to_owned(), String::new(), file_uri(&app.join("app.txt"))),
        ]
    );
    assert_eq!(review["folders"], json!([{"name": "api", "uri": file_uri(&api)}]));
    let api_hunk = review["files"].as_array().unwrap().iter().find(|f| f["path"] == "api/api.txt").unwrap()["hunks"][0]
        ["id"]
        .clone();
    let app_hunk =
        review["files"].as_array().unwrap().iter().find(|f| f["path"] == "app.txt").unwrap()["hunks"][0]["id"].clone();
    assert_ne!(api_hunk, app_hunk);

    // Apply: one edit per folder, each with its own files only.
    let applied =
        server.command("openhands.applyChanges", json!({"conversationId": id, "reviewed": true})).unwrap().unwrap();
    assert_eq!(applied["applied"], true, "{applied:#}");
    let mut outcomes: Vec<(String, String)> = applied["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["outcome"].as_str().unwrap().to_owned()))
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [("api/api.txt", "applied"), ("api/new.txt", "applied"), ("app.txt", "applied")]
            .map(|(p, o)| (p.to_owned(), o.to_owned()))
    );
    let edits = server.server_requests("workspace/applyEdit");
    assert_eq!(edits.len(), 2, "{edits:#?}");
    let uris = |edit: &Value| -> Vec<String> {
        edit["edit"]["documentChanges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op["textDocument"]["uri"].as_str().or(op["uri"].as_str()).unwrap().to_owned())
            .collect()
    };
    let (mut first, mut second) = (uris(&edits[0]), uris(&edits[1]));
    first.dedup();
    second.dedup();
    assert_eq!(first, [file_uri(&app.join("app.txt"))]);
    assert_eq!(second, [file_uri(&api.join("api.txt")), file_uri(&api.join("new.txt"))], "a create and its text");
    // What was applied is each folder's base now: nothing is left to review.
    let after = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert_eq!(after["files"], json!([]), "{after:#}");

    // Push the other folder's changes to its own repository, not the workspace's.
    let pushed = server
        .command("openhands.pushChanges", json!({"conversationId": id, "folder": "api", "branch": "openhands/both"}))
        .unwrap()
        .unwrap();
    assert_eq!(pushed["branch"], "openhands/both", "{pushed:#}");
    let shown = std::process::Command::new("git")
        .args(["--git-dir", api_origin.to_str().unwrap(), "show", "openhands/both:api.txt"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shown.stdout), "api v2\n");
    let app_origin = app.with_extension("origin.git");
    let none = std::process::Command::new("git")
        .args(["--git-dir", app_origin.to_str().unwrap(), "rev-parse", "--verify", "-q", "openhands/both"])
        .output()
        .unwrap();
    assert!(!none.status.success(), "the workspace's repository got no branch");
    let unknown =
        server.command("openhands.pushChanges", json!({"conversationId": id, "folder": "web"})).unwrap().unwrap_err();
    assert!(unknown.message.contains("has no folder \"web\""), "{}", unknown.message);

    // Restoring a checkpoint would put back only the workspace's files: refused in words.
    let restore = server
        .command("openhands.restoreCheckpoint", json!({"conversationId": id, "checkpoint": 1}))
        .unwrap()
        .unwrap_err();
    assert!(restore.message.contains("several folders"), "{}", restore.message);

    // Discarding removes both copies and the branches they were on.
    server.command("openhands.discardChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert!(!api_copy.exists() && !conv_dir.join("worktree").exists());
    let branches =
        std::process::Command::new("git").args(["branch", "--list", "openhands/*"]).current_dir(&api).output();
    assert_eq!(String::from_utf8_lossy(&branches.unwrap().stdout).trim(), "");
}

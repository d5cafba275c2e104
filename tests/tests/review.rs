//! Review before apply, end to end: a real git repository, the real agent-server working in the conversation's own
//! worktree, and `workspace/applyEdit` payloads checked as the editor would receive them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use expect_test::expect;
use openhands_lsp_tests::agent::{file_uri, init_params, options};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

const A: &str = "one\ntwo\nthree\nfour\nfive\n";

fn user_repo() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().canonicalize().unwrap();
    git(&d, &["init", "-q"]);
    std::fs::write(d.join(".gitignore"), "*.log\n").unwrap();
    std::fs::write(d.join("a.txt"), A).unwrap();
    std::fs::write(d.join("b.txt"), "bee\n").unwrap();
    std::fs::write(d.join("gone.txt"), "bye\n").unwrap();
    std::fs::write(d.join("old.md"), "a long enough line to be recognised as the same file\n".repeat(10)).unwrap();
    git(&d, &["add", "-A"]);
    git(&d, &["commit", "-qm", "init"]);
    let bare = d.join(".bare-origin.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare"]);
    git(&d, &["remote", "add", "origin", bare.to_str().unwrap()]);
    std::fs::write(d.join(".git/info/exclude"), ".bare-origin.git/\n").unwrap();
    std::fs::write(d.join("mine.txt"), "mine, uncommitted\n").unwrap();
    std::fs::write(d.join("secret.log"), "ignored\n").unwrap();
    (tmp, d)
}

fn caps(resource_ops: bool) -> Value {
    if resource_ops {
        json!({"workspace": {"workspaceEdit": {"documentChanges": true, "resourceOperations": ["create", "rename", "delete"],
               "changeAnnotationSupport": {"groupsOnLabel": true}}}, "window": {"workDoneProgress": true}})
    } else {
        json!({"workspace": {"workspaceEdit": {"documentChanges": false}}, "window": {"workDoneProgress": true}})
    }
}

fn session(llm: &ScriptedLlm, ws: &Path, opts: Options, resource_ops: bool) -> Server {
    let mut params = init_params(llm, ws, json!({}));
    // Not set: the default, the conversation's own worktree.
    params["initializationOptions"].as_object_mut().unwrap().remove("isolation");
    params["capabilities"] = caps(resource_ops);
    let (mut server, _) = Server::start(opts, params).unwrap();
    session_applies(&mut server);
    server
}

/// The editor applies every edit it is sent.
fn session_applies(server: &mut Server) {
    server.on_request("workspace/applyEdit", |_| Ok(json!({"applied": true})));
}

fn wait_finished(server: &Server, id: &str) {
    server
        .wait_for("finished", Duration::from_secs(240), |msgs| {
            msgs.iter()
                .find(|m| {
                    m["method"] == "openhands/conversationChanged"
                        && m["params"]["id"] == id
                        && m["params"]["state"] == "finished"
                })
                .cloned()
        })
        .unwrap();
}

/// The payload with the temporary paths replaced, for a stable snapshot.
fn normalized(value: &Value, ws: &Path) -> String {
    let text = openhands_lsp_tests::sorted_json(value);
    text.replace(&file_uri(ws), "file://<ws>").replace(&ws.display().to_string(), "<ws>")
}

#[test]
fn review_then_apply_merges_refuses_overlaps_and_tells_the_agent() {
    let (_tmp, ws) = user_repo();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("cat mine.txt; ls"),
        Step::terminal(
            "sed -i 's/five/FIVE/' a.txt && printf 'bee!\\n' > b.txt && printf 'new\\n' > added.txt && rm gone.txt && mv old.md new.md",
        ),
        Step::finish("changed five files"),
    ]);
    let opts = Options { state_home: Some(state.path().to_path_buf()), ..options() };
    let mut server = session(&llm, &ws, opts.clone(), true);
    let id = server.command("openhands.startTask", json!({"instruction": "Change things"})).unwrap().unwrap()["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_finished(&server, &id);

    // The agent worked in a copy holding the user's uncommitted file but not the ignored one; the user's files are
    // untouched.
    let copy = state.path().join(format!("openhands-lsp/conversations/{id}/worktree"));
    assert_eq!(std::fs::read_to_string(copy.join("mine.txt")).unwrap(), "mine, uncommitted\n");
    assert!(!copy.join("secret.log").exists());
    assert_eq!(std::fs::read_to_string(copy.join("added.txt")).unwrap(), "new\n", "the agent's work is in the copy");
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), A);
    assert!(!ws.join("added.txt").exists() && ws.join("gone.txt").exists() && ws.join("old.md").exists());

    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    let files: Vec<(String, String)> = review["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["status"].as_str().unwrap().to_owned(), f["path"].as_str().unwrap().to_owned()))
        .collect();
    let as_str: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        as_str,
        [
            ("modified", "a.txt"),
            ("added", "added.txt"),
            ("modified", "b.txt"),
            ("deleted", "gone.txt"),
            ("renamed", "new.md")
        ]
    );
    let a = review["files"].as_array().unwrap().iter().find(|f| f["path"] == "a.txt").unwrap();
    assert_eq!(a["original"], A);
    assert_eq!(a["proposed"], "one\ntwo\nthree\nfour\nFIVE\n");
    assert_eq!(a["uri"], file_uri(&ws.join("a.txt")));

    // Meanwhile the user edited a.txt in the editor (not overlapping) and b.txt on disk (overlapping).
    server
        .notify("textDocument/didOpen", json!({"textDocument": {"uri": file_uri(&ws.join("a.txt")), "languageId": "text", "version": 7, "text": "ONE\ntwo\nthree\nfour\nfive\n"}}))
        .unwrap();
    std::fs::write(ws.join("b.txt"), "buzz\n").unwrap();

    // Partial apply: two files selected.
    let partial = server
        .command("openhands.applyChanges", json!({"conversationId": id, "files": ["a.txt", "b.txt"]}))
        .unwrap()
        .unwrap();
    assert_eq!(partial["applied"], true, "{partial}");
    let outcome = |r: &Value, path: &str| {
        r["files"].as_array().unwrap().iter().find(|f| f["path"] == path).unwrap()["outcome"].clone()
    };
    assert_eq!(outcome(&partial, "a.txt"), "applied");
    assert_eq!(outcome(&partial, "b.txt"), "refused");
    assert_eq!(outcome(&partial, "added.txt"), "skipped");
    assert_eq!(std::fs::read_to_string(ws.join("b.txt")).unwrap(), "buzz\n", "the user's text is untouched");
    // An overlap comes with the text to resolve it from: the user's, with both sides of the overlap marked.
    let b = partial["files"].as_array().unwrap().iter().find(|f| f["path"] == "b.txt").unwrap();
    let conflict = b["conflict"].as_str().unwrap_or_default();
    assert!(conflict.starts_with("<<<<<<< yours\nbuzz\n") && conflict.ends_with(">>>>>>> agent\n"), "{b}");
    let a = partial["files"].as_array().unwrap().iter().find(|f| f["path"] == "a.txt").unwrap();
    assert!(a.get("conflict").is_none(), "a merged file has no conflict: {a}");
    let shown = server
        .wait_notification("window/showMessage", |m| m["message"].as_str().unwrap_or("").contains("not applied"))
        .unwrap();
    assert!(shown["message"].as_str().unwrap().contains("b.txt (your edits and the agent's overlap"), "{shown}");
    // The agent is told what did not land.
    let note = server
        .wait_for("note to the agent", Duration::from_secs(30), |msgs| {
            msgs.iter()
                .filter(|m| {
                    m["method"] == "openhands/event"
                        && m["params"]["kind"] == "MessageEvent"
                        && m["params"]["source"] == "openhands-lsp"
                })
                .find(|m| m["params"]["detail"].as_str().unwrap_or("").contains("Not applied"))
                .cloned()
        })
        .unwrap();
    let note = note["params"]["detail"].as_str().unwrap().to_owned();
    assert!(
        note.contains("Applied to their files now: a.txt")
            && note.contains("b.txt (your edits and the agent's overlap"),
        "{note}"
    );
    assert!(note.contains("added.txt (not selected)"), "{note}");

    // Chosen in the editor's own review (`reviewed`): no second confirmation asked. Cancelled in the editor all
    // the same: nothing applied, and the agent is told nothing (nothing was reviewed or refused on its merits).
    server.on_request("workspace/applyEdit", |_| Ok(json!({"applied": false})));
    let declined = server
        .command("openhands.applyChanges", json!({"conversationId": id, "files": ["added.txt"], "reviewed": true}))
        .unwrap()
        .unwrap();
    assert_eq!((declined["applied"].clone(), outcome(&declined, "added.txt")), (json!(false), json!("refused")));
    let asked = server.server_requests("workspace/applyEdit")[1].clone();
    let annotation = asked["edit"]["changeAnnotations"].as_object().and_then(|a| a.values().next()).cloned();
    assert_eq!(annotation.unwrap_or_default()["needsConfirmation"], false, "{asked}");
    assert!(!ws.join("added.txt").exists());

    // Full apply: the payload the editor gets, with file operations. The user cancels its preview (nothing of it is
    // applied, so another editor below is offered the same changes).
    server.command("openhands.applyChanges", json!({"conversationId": id})).unwrap().unwrap();
    let notes = |msgs: &[Value]| -> Vec<String> {
        msgs.iter()
            .filter(|m| {
                m["method"] == "openhands/event"
                    && m["params"]["kind"] == "MessageEvent"
                    && m["params"]["source"] == "openhands-lsp"
            })
            .filter_map(|m| m["params"]["detail"].as_str().filter(|d| d.contains("Not applied")).map(str::to_owned))
            .collect()
    };
    let told = server.wait_for("the partial apply's note", Duration::from_secs(30), |msgs| {
        let n = notes(msgs);
        (!n.is_empty()).then_some(n)
    });
    assert_eq!(told.unwrap().len(), 1, "the partial apply's; nothing for the cancelled ones");
    let all = server.server_requests("workspace/applyEdit");
    assert_eq!(all.len(), 3, "partial, cancelled, full");
    let edits = [all[0].clone(), all[2].clone()];
    expect![[r#"
        {
          "edit": {
            "changeAnnotations": {
              "openhands-0": {
                "description": "create added.txt",
                "label": "OpenHands: Change things",
                "needsConfirmation": true
              },
              "openhands-1": {
                "description": "modify b.txt",
                "label": "OpenHands: Change things",
                "needsConfirmation": true
              },
              "openhands-2": {
                "description": "delete gone.txt",
                "label": "OpenHands: Change things",
                "needsConfirmation": true
              },
              "openhands-3": {
                "description": "rename new.md",
                "label": "OpenHands: Change things",
                "needsConfirmation": true
              }
            },
            "documentChanges": [
              {
                "annotationId": "openhands-0",
                "kind": "create",
                "options": {
                  "ignoreIfExists": false,
                  "overwrite": false
                },
                "uri": "file://<ws>/added.txt"
              },
              {
                "edits": [
                  {
                    "annotationId": "openhands-0",
                    "newText": "new\n",
                    "range": {
                      "end": {
                        "character": 0,
                        "line": 0
                      },
                      "start": {
                        "character": 0,
                        "line": 0
                      }
                    }
                  }
                ],
                "textDocument": {
                  "uri": "file://<ws>/added.txt",
                  "version": null
                }
              },
              {
                "kind": "delete",
                "options": {
                  "annotationId": "openhands-2",
                  "ignoreIfNotExists": true,
                  "recursive": false
                },
                "uri": "file://<ws>/gone.txt"
              },
              {
                "annotationId": "openhands-3",
                "kind": "rename",
                "newUri": "file://<ws>/new.md",
                "oldUri": "file://<ws>/old.md",
                "options": {
                  "ignoreIfExists": false,
                  "overwrite": false
                }
              }
            ]
          },
          "label": "OpenHands: Change things"
        }"#]]
    .assert_eq(&normalized(&edits[1], &ws));

    // Commit and push the conversation's work as a branch (the remote is a local bare repository).
    let pushed = server.command("openhands.pushChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert_eq!(pushed["branch"], "openhands/change-things");
    let bare = ws.join(".bare-origin.git");
    let show =
        Command::new("git").args(["show", "openhands/change-things:added.txt"]).current_dir(&bare).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&show.stdout), "new\n");
    let log = Command::new("git")
        .args(["log", "-1", "--format=%B", "openhands/change-things"])
        .current_dir(&bare)
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&log.stdout).into_owned();
    assert!(message.starts_with("Change things\n") && message.contains("Co-authored-by: openhands"), "{message}");
    server.shutdown_and_exit().unwrap();

    // Another editor without file operations: text edits only, the rest refused with the reason. The user took
    // their edit of b.txt back meanwhile: the agent's change of it applies now.
    std::fs::write(ws.join("b.txt"), "bee\n").unwrap();
    let mut plain = session(&llm, &ws, opts.clone(), false);
    let result = plain.command("openhands.applyChanges", json!({"conversationId": id})).unwrap().unwrap();
    let reasons: Vec<String> = result["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["path"].as_str().unwrap(),
                f["outcome"].as_str().unwrap(),
                f["reason"].as_str().unwrap_or("")
            )
        })
        .collect();
    expect![[r#"
        [
            "added.txt refused your editor cannot create files over LSP (no resourceOperations \"create\")",
            "b.txt applied ",
            "gone.txt refused your editor cannot delete files over LSP (no resourceOperations \"delete\")",
            "new.md refused your editor cannot rename files over LSP (no resourceOperations \"rename\")",
        ]
    "#]]
    .assert_debug_eq(&reasons);
    let edit = &plain.server_requests("workspace/applyEdit")[0];
    expect![[r#"
        {
          "edit": {
            "changes": {
              "file://<ws>/b.txt": [
                {
                  "newText": "bee!\n",
                  "range": {
                    "end": {
                      "character": 0,
                      "line": 1
                    },
                    "start": {
                      "character": 0,
                      "line": 0
                    }
                  }
                }
              ]
            }
          },
          "label": "OpenHands: Change things"
        }"#]]
    .assert_eq(&normalized(edit, &ws));

    // Discard: the worktree and its branch are gone; the user's files are as they were.
    plain.command("openhands.discardChanges", json!({"conversationId": id})).unwrap().unwrap();
    let worktree = state.path().join(format!("openhands-lsp/conversations/{id}/worktree"));
    assert!(!worktree.exists());
    let branches = Command::new("git").args(["branch", "--list", "openhands/*"]).current_dir(&ws).output().unwrap();
    assert!(
        String::from_utf8_lossy(&branches.stdout).trim().is_empty(),
        "{}",
        String::from_utf8_lossy(&branches.stdout)
    );
    let err = plain.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap_err();
    assert!(err.message.contains("no isolated copy"), "{}", err.message);
}

/// `text` with LSP text edits applied (ASCII text: characters are bytes).
fn with_edits(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| {
        let (line, character) = (p["line"].as_u64().unwrap() as usize, p["character"].as_u64().unwrap() as usize);
        text.split_inclusive('\n').take(line).map(str::len).sum::<usize>() + character
    };
    let mut spans: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| (offset(&e["range"]["start"]), offset(&e["range"]["end"]), e["newText"].as_str().unwrap().to_owned()))
        .collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = text.to_owned();
    for (start, end, new) in spans {
        out.replace_range(start..end, &new);
    }
    out
}

/// The hunks of one file, by their original start line.
fn hunks_of(review: &Value, path: &str) -> Vec<Value> {
    let file = review["files"].as_array().unwrap().iter().find(|f| f["path"] == path).cloned().unwrap();
    file["hunks"].as_array().unwrap().clone()
}

#[test]
fn hunks_are_applied_one_by_one_and_a_declined_one_is_told_to_the_agent_and_taken_out_of_its_copy() {
    let original: String = (1..=12).map(|i| format!("line {i}\n")).collect();
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().canonicalize().unwrap();
    git(&ws, &["init", "-q"]);
    std::fs::write(ws.join("a.txt"), &original).unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "init"]);
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("sed -i 's/^line 2$/LINE TWO/; s/^line 10$/LINE TEN/' a.txt && printf 'new\\n' > c.txt"),
        Step::finish("changed two lines and added c.txt"),
        Step::finish("noted"),
    ]);
    let opts = Options { state_home: Some(state.path().to_path_buf()), ..options() };
    let mut server = session(&llm, &ws, opts, true);
    let id = server.command("openhands.startTask", json!({"instruction": "Shout two lines"})).unwrap().unwrap()
        ["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_finished(&server, &id);

    // Two hunks in a.txt, each with both sides and its lines; the new file comes whole.
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    let hunks = hunks_of(&review, "a.txt");
    assert_eq!(hunks.len(), 2, "{review:#}");
    let (two, ten) = (hunks[0].clone(), hunks[1].clone());
    assert_eq!(
        (two["originalStart"].clone(), two["original"].clone(), two["proposed"].clone()),
        (json!(2), json!("line 2\n"), json!("LINE TWO\n"))
    );
    assert_eq!((ten["proposedStart"].clone(), ten["proposed"].clone()), (json!(10), json!("LINE TEN\n")));
    assert_eq!(hunks_of(&review, "c.txt"), Vec::<Value>::new(), "an added file is applied whole");
    // The ids stay while the change does.
    let again = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert_eq!(hunks_of(&again, "a.txt"), hunks);

    // The user edits another line meanwhile; only the first hunk and the new file are applied, merged with it.
    let mine = original.replace("line 6\n", "line six, mine\n");
    std::fs::write(ws.join("a.txt"), &mine).unwrap();
    let applied = server
        .command(
            "openhands.applyChanges",
            json!({"conversationId": id, "hunks": [two["id"]], "files": ["c.txt"], "reviewed": true}),
        )
        .unwrap()
        .unwrap();
    assert_eq!(applied["applied"], true, "{applied:#}");
    let a = applied["files"].as_array().unwrap().iter().find(|f| f["path"] == "a.txt").cloned().unwrap();
    assert_eq!(
        (a["outcome"].clone(), a["reason"].clone()),
        (json!("applied"), json!("only part of it; not applied: line 10"))
    );
    // What the editor was asked to do (the harness answers `applied` without writing): to the user's text, the
    // chosen hunk only; c.txt created.
    let edit = server.server_requests("workspace/applyEdit").last().cloned().unwrap()["edit"].clone();
    let ops = edit["documentChanges"].as_array().unwrap();
    let a_uri = file_uri(&ws.join("a.txt"));
    let a_edits: Vec<Value> = ops
        .iter()
        .filter(|op| op["textDocument"]["uri"] == a_uri.as_str())
        .flat_map(|op| op["edits"].as_array().unwrap().clone())
        .collect();
    assert_eq!(
        with_edits(&mine, &a_edits),
        mine.replace("line 2\n", "LINE TWO\n"),
        "the chosen hunk, the user's line kept, the other hunk not applied: {edit:#}"
    );
    assert!(
        ops.iter().any(|op| op["kind"] == "create" && op["uri"] == file_uri(&ws.join("c.txt")).as_str()),
        "{edit:#}"
    );

    // What was applied is the base now: the review keeps only the other hunk, with its id.
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert_eq!(hunks_of(&review, "a.txt"), vec![ten.clone()]);

    // An unknown hunk is the caller's mistake, named.
    let err = server
        .command("openhands.rejectHunks", json!({"conversationId": id, "hunks": ["0000000000000000"]}))
        .unwrap()
        .unwrap_err();
    assert!(err.code == -32602 && err.message.contains("no change 0000000000000000"), "{err}");

    // The other hunk is declined with a reason and taken out of the agent's copy: nothing of a.txt is left to review.
    let rejected = server
        .command(
            "openhands.rejectHunks",
            json!({"conversationId": id, "hunks": [ten["id"]], "reason": "keep ten as it is", "revert": true}),
        )
        .unwrap()
        .unwrap();
    assert_eq!(rejected, json!({"files": ["a.txt"], "reverted": true}));
    let copy = state.path().join(format!("openhands-lsp/conversations/{id}/worktree/a.txt"));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), original.replace("line 2\n", "LINE TWO\n"));
    let after = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert!(after["files"].as_array().unwrap().iter().all(|f| f["path"] != "a.txt"), "{after:#}");

    // The agent's next request to the model carries what was declined and why.
    let before = llm.requests().len();
    server.command("openhands.sendMessage", json!({"conversationId": id, "text": "go on"})).unwrap().unwrap();
    assert!(llm.wait_requests(before + 1, Duration::from_secs(120)), "the agent asked the model again");
    let asked = llm.requests()[before].body.to_string();
    assert!(
        asked.contains("declined these") && asked.contains("keep ten as it is") && asked.contains("LINE TEN"),
        "{asked}"
    );
}

/// The changes of `review` as `path: original → proposed` lines.
fn review_lines(review: &Value) -> Vec<String> {
    review["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}: {:?} → {:?}", f["path"].as_str().unwrap(), f["original"], f["proposed"]))
        .collect()
}

/// Iterate and apply: the agent edits a line, the user applies it; asked for more, the agent edits the same line
/// again, and that applies too (what was applied is the base now, not the conversation's start). The review lists
/// only what differs from the user's files, and the note the agent gets about a partial apply is true and is never
/// shown as the user's words.
#[test]
fn the_same_lines_apply_again_after_more_work_and_the_review_shows_only_what_is_not_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().canonicalize().unwrap();
    git(&ws, &["init", "-q"]);
    std::fs::write(ws.join("hello.txt"), "hello\nworld\n").unwrap();
    std::fs::write(ws.join("README.md"), "readme\n").unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "init"]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("printf 'hello\\nWORLD\\n' > hello.txt"),
        Step::finish("first"),
        Step::terminal("printf 'hello\\nWORLD!\\n' > hello.txt && printf 'readme, updated\\n' > README.md"),
        Step::finish("second"),
        Step::finish("third"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let opts = Options { state_home: Some(state.path().to_path_buf()), ..options() };
    let mut server = session(&llm, &ws, opts, true);
    // The editor applies the edits to the files, as an editor that saves them.
    server.on_request("workspace/applyEdit", |p| match openhands_lsp_tests::workspace_edit::apply(&p["edit"]) {
        Ok(()) => Ok(json!({"applied": true})),
        Err(e) => Ok(json!({"applied": false, "failureReason": e})),
    });
    let started = server.command("openhands.startTask", json!({"instruction": "Shout"})).unwrap().unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    wait_finished(&server, &id);
    let applied = server.command("openhands.applyChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert_eq!(applied["files"][0]["outcome"], "applied", "{applied}");
    assert_eq!(std::fs::read_to_string(ws.join("hello.txt")).unwrap(), "hello\nWORLD\n");
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert_eq!(review_lines(&review), Vec::<String>::new(), "what was applied is no change any more");

    server.command("openhands.sendMessage", json!({"conversationId": id, "text": "Louder"})).unwrap().unwrap();
    wait_llm_then_finished(&server, &llm, &id, 4);
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert_eq!(
        review_lines(&review),
        [
            r#"README.md: String("readme\n") → String("readme, updated\n")"#,
            r#"hello.txt: String("hello\nWORLD\n") → String("hello\nWORLD!\n")"#,
        ],
        "each against the user's text"
    );
    // The same line again: applied, not refused as an overlap. README.md stays for later.
    let applied = server
        .command("openhands.applyChanges", json!({"conversationId": id, "files": ["hello.txt"]}))
        .unwrap()
        .unwrap();
    let outcomes: Vec<String> = applied["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["path"].as_str().unwrap(), f["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(outcomes, ["README.md skipped", "hello.txt applied"], "{applied}");
    assert_eq!(std::fs::read_to_string(ws.join("hello.txt")).unwrap(), "hello\nWORLD!\n");
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert_eq!(review_lines(&review), [r#"README.md: String("readme\n") → String("readme, updated\n")"#]);
    // Asked to apply it again (an editor's list from before): said to be applied before, nothing sent.
    let again = server
        .command("openhands.applyChanges", json!({"conversationId": id, "files": ["hello.txt"]}))
        .unwrap()
        .unwrap();
    let hello = again["files"].as_array().unwrap().iter().find(|f| f["path"] == "hello.txt").cloned().unwrap();
    assert_eq!((hello["outcome"].clone(), again["applied"].clone()), (json!("unchanged"), json!(false)), "{again}");
    assert_eq!(again["failureReason"], "already applied: the files are as the agent proposed", "{again}");

    // The agent was told, in a note that is not the user's message and says only what is true.
    let note = server
        .wait_for("the note to the agent", Duration::from_secs(30), |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/event" && m["params"]["kind"] == "MessageEvent")
                .find(|m| m["params"]["source"] == "openhands-lsp")
                .cloned()
        })
        .unwrap();
    let summary = note["params"]["summary"].as_str().unwrap();
    assert!(summary.starts_with("note to the agent: The user reviewed your changes."), "{summary}");
    let detail = note["params"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("Applied to their files now: hello.txt. Not applied: README.md (not selected)."),
        "{detail}"
    );
    let shown_as_user = server.notifications("openhands/event").into_iter().any(|e| {
        e["source"] == "user" && e["detail"].as_str().is_some_and(|d| d.contains("The user reviewed your changes"))
    });
    assert!(!shown_as_user, "a note is never the user's message");
    server.shutdown_and_exit().unwrap();
}

/// Waits until the LLM has served `requests` calls and the conversation is finished again.
fn wait_llm_then_finished(server: &Server, llm: &ScriptedLlm, id: &str, requests: usize) {
    assert!(llm.wait_requests(requests, Duration::from_secs(240)), "the agent's second turn");
    server
        .wait_for("finished again", Duration::from_secs(240), |msgs| {
            let last =
                msgs.iter().rfind(|m| m["method"] == "openhands/conversationChanged" && m["params"]["id"] == id)?;
            (last["params"]["state"] == "finished").then(|| last.clone())
        })
        .unwrap();
}

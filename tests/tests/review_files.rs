//! Review and apply of files that are more than lines of text (binary, not UTF-8, CRLF, renamed, deleted, made
//! executable, too large to show, a link out of the workspace), end to end: a real git repository, the real
//! agent-server working in the conversation's own copy, and an editor that applies the `workspace/applyEdit` it is
//! sent to the files on disk. Every outcome is compared byte for byte.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use openhands_lsp_tests::agent::{init_params, options, wait_state};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::{Options, Server, workspace_edit};
use serde_json::{Value, json};

const CRLF: &str = "alpha\r\nbeta\r\ngamma\r\n";

fn binary(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) % 7).collect() // holds NUL bytes
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o111 != 0
}

#[test]
fn hard_files_are_listed_with_what_happens_applied_whole_and_never_corrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let ws = ws.canonicalize().unwrap();
    git(&ws, &["init", "-q"]);
    std::fs::write(ws.join("logo.bin"), binary(1, 3000)).unwrap();
    std::fs::write(ws.join("theirs.bin"), binary(2, 100)).unwrap();
    std::fs::write(ws.join("latin1.txt"), b"caf\xe9\n").unwrap();
    std::fs::write(ws.join("crlf.txt"), CRLF).unwrap();
    std::fs::write(ws.join("moved.bin"), binary(3, 2000)).unwrap();
    std::fs::write(ws.join("delete-me.bin"), binary(4, 50)).unwrap();
    std::fs::write(ws.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "init"]);

    // What the agent does, as one script outside the workspace (the process backend runs it on this machine).
    let script = tmp.path().join("agent.sh");
    std::fs::write(
        &script,
        r#"set -e
printf '\000\001tail' >> logo.bin
printf '\000changed' >> theirs.bin
printf 'na\xefve\n' >> latin1.txt
sed -i 's/^beta\r$/BETA\r/' crlf.txt
mv moved.bin renamed.bin
rm delete-me.bin
chmod +x run.sh
yes 'a line of a file too large to show in a review' | head -c 5242880 > big.txt
printf 'new\000binary' > new.bin
ln -s /etc/passwd escape
"#,
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![
        Step::terminal(&format!("bash {}", script.display())),
        Step::finish("changed the hard files"),
    ]);
    let mut params = init_params(&llm, &ws, json!({}));
    params["initializationOptions"].as_object_mut().unwrap().remove("isolation");
    params["capabilities"] = json!({"workspace": {"workspaceEdit": {"documentChanges": true,
        "resourceOperations": ["create", "rename", "delete"]}}, "window": {"workDoneProgress": true}});
    let opts = Options { state_home: Some(state.path().to_path_buf()), ..options() };
    let (mut server, _) = Server::start(opts, params).unwrap();
    server.on_request("workspace/applyEdit", |p| match workspace_edit::apply(&p["edit"]) {
        Ok(()) => Ok(json!({"applied": true})),
        Err(e) => Ok(json!({"applied": false, "failureReason": e})),
    });
    let id = server.command("openhands.startTask", json!({"instruction": "Change the hard files"})).unwrap().unwrap()
        ["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_state(&server, &id, "finished");
    let copy = state.path().join(format!("openhands-lsp/conversations/{id}/worktree"));
    assert_eq!(std::fs::read(copy.join("big.txt")).unwrap().len(), 5242880, "the agent's work is in its copy");

    // The review lists every file with what will happen to it; none of the bytes travel as text.
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    let file = |path: &str| -> Value {
        review["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("{path} is not in the review: {review:#}"))
    };
    let listed: Vec<(String, String, String)> = review["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().into(),
                f["status"].as_str().unwrap().into(),
                f["note"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let expected: Vec<(&str, &str, &str)> = vec![
        ("big.txt", "added", "too large to show (5.0 MB): applied whole"),
        ("crlf.txt", "modified", ""),
        ("delete-me.bin", "deleted", "binary file (50 bytes): deleted whole"),
        ("escape", "added", "symbolic link → /etc/passwd (points outside your workspace: not applied)"),
        ("latin1.txt", "modified", "not UTF-8 text (11 bytes): applied whole"),
        ("logo.bin", "modified", "binary file (3 KB): applied whole"),
        ("new.bin", "added", "binary file (10 bytes): applied whole"),
        ("renamed.bin", "renamed", "binary file (2 KB): applied whole"),
        ("run.sh", "modified", "made executable (+x)"),
        ("theirs.bin", "modified", "binary file (108 bytes): applied whole"),
    ];
    let got: Vec<(&str, &str, &str)> = listed.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
    assert_eq!(got, expected, "{review:#}");
    assert_eq!(file("big.txt")["whole"], json!({"reason": "tooLarge", "size": 5242880}));
    assert_eq!(file("latin1.txt")["whole"]["reason"], "notUtf8");
    assert_eq!(
        (file("logo.bin")["original"].clone(), file("logo.bin")["proposed"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(file("logo.bin")["hunks"], json!([]));
    assert_eq!(file("crlf.txt")["hunks"][0]["proposed"], "BETA\r\n", "CRLF text is shown with its line ends");
    assert!(file("escape")["refusal"].as_str().unwrap().contains("only links that stay inside your workspace"));
    assert!(serde_json::to_string(&review).unwrap().len() < 200_000, "the large file's text is not in the review");

    // Meanwhile the user changed theirs.bin.
    let users = b"the user's own bytes\x00".to_vec();
    std::fs::write(ws.join("theirs.bin"), &users).unwrap();

    let applied = server.command("openhands.applyChanges", json!({"conversationId": id})).unwrap().unwrap();
    let outcome = |path: &str| {
        let f = applied["files"].as_array().unwrap().iter().find(|f| f["path"] == path).cloned().unwrap();
        (f["outcome"].as_str().unwrap().to_owned(), f["reason"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(applied["applied"], true, "{applied:#}");
    for path in ["big.txt", "crlf.txt", "delete-me.bin", "latin1.txt", "logo.bin", "new.bin", "renamed.bin", "run.sh"] {
        assert_eq!(outcome(path).0, "applied", "{path}: {applied:#}");
    }
    assert_eq!(
        outcome("theirs.bin"),
        ("refused".into(), "you changed this file meanwhile; your version is untouched".into())
    );
    assert_eq!(outcome("escape").0, "refused");

    // Byte for byte what the agent made, modes included; the user's own file untouched; no link out.
    for path in ["big.txt", "crlf.txt", "latin1.txt", "logo.bin", "new.bin", "renamed.bin", "run.sh"] {
        assert!(std::fs::read(ws.join(path)).unwrap() == std::fs::read(copy.join(path)).unwrap(), "{path} differs");
    }
    assert_eq!(std::fs::read_to_string(ws.join("crlf.txt")).unwrap(), CRLF.replace("beta", "BETA"));
    assert!(executable(&ws.join("run.sh")));
    assert!(!ws.join("moved.bin").exists() && !ws.join("delete-me.bin").exists());
    assert_eq!(std::fs::read(ws.join("theirs.bin")).unwrap(), users);
    assert!(std::fs::symlink_metadata(ws.join("escape")).is_err(), "no link out of the workspace was made");
    // No temporary file was left beside the user's files.
    let leftovers: Vec<String> = std::fs::read_dir(&ws)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".openhands-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

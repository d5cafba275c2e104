//! The VS Code extension in a real VS Code: code-server 4.139.1 (VS Code OSS 1.139.1) with the `.vsix` users
//! install, driven in Debian's Chromium as a user clicks and types (scenarios in tests/vscode-e2e/), with the real
//! server, the real agent-server and the scripted LLM. Screenshots of every step: target/test-logs/vscode-e2e/.

use std::path::{Path, PathBuf};

use openhands_lsp_tests::agent::agent_server_command;
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::lsp_client::server_binary;
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::vscode::Workbench;
use serde_json::{Value, json};

/// A git repository holding `files`, committed.
fn repository(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("project");
    std::fs::create_dir(&ws).unwrap();
    git(&ws, &["init", "-q"]);
    for (name, text) in files {
        std::fs::create_dir_all(ws.join(name).parent().unwrap()).unwrap();
        std::fs::write(ws.join(name), text).unwrap();
    }
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "init"]);
    (dir, ws)
}

/// The settings a user of the process backend would have, with the scripted model.
fn settings(llm: &ScriptedLlm) -> Value {
    json!({
        "openhands.backend": "process",
        "openhands.process.command": agent_server_command(),
        "openhands.process.startupTimeoutSeconds": 180,
        "openhands.llm.model": "openai/stub",
        "openhands.llm.baseUrl": llm.base_url(),
        "openhands.llm.numRetries": 0,
        "openhands.confirmation": "never",
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": false,
        "telemetry.telemetryLevel": "off",
        // VS Code 1.139 opens its own Chat beside the editor at first start: out of the screenshots.
        "chat.disableAIFeatures": true,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
    })
}

fn start(test: &str, ws: &Path, llm: &ScriptedLlm, state: &Path) -> Workbench {
    start_with(test, ws, settings(llm), state)
}

/// [`settings`] for the docker backend with the image scripts/test builds, and `warm_pool` containers kept ready.
fn docker_settings(llm: &ScriptedLlm, warm_pool: u32) -> Value {
    let image = std::env::var("OPENHANDS_TEST_IMAGE").expect("OPENHANDS_TEST_IMAGE (scripts/test sets it)");
    let mut settings = settings(llm);
    settings["openhands.backend"] = json!("docker");
    settings["openhands.llm.baseUrl"] = json!(llm.container_base_url());
    settings["openhands.docker.image"] = json!(image);
    settings["openhands.docker.warmPool"] = json!(warm_pool);
    settings["openhands.docker.startupTimeoutSeconds"] = json!(180);
    settings
}

fn start_with(test: &str, ws: &Path, settings: Value, state: &Path) -> Workbench {
    let env = [
        ("OPENHANDS_LSP_PATH", server_binary().display().to_string()),
        ("LLM_API_KEY", "sk-scripted-test-key".to_owned()),
        ("XDG_STATE_HOME", state.display().to_string()),
    ];
    Workbench::start(test, ws, settings, &env)
}

/// The scenario's result: the JSON line it printed last.
fn result_of(out: &str) -> Value {
    serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn apply_changes_as_shown_applies_the_agents_change_beside_the_users_edit() {
    let (_dir, ws) = repository(&[("a.txt", "one\ntwo\nthree\nfour\nfive\n")]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::tool(
            "file_editor",
            json!({"command": "str_replace", "path": "{workdir}/a.txt", "old_str": "five", "new_str": "FIVE",
                   "security_risk": "LOW"}),
        )
        .thinking("The last line should shout."),
        Step::finish("five is now FIVE"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let bench = start("apply-as-shown", &ws, &llm, state.path());
    let out = bench.drive("apply_as_shown", &[]);
    let result: Value = serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(ws.join("a.txt")).unwrap(),
        "zero\none\ntwo\nthree\nfour\nFIVE\n",
        "the agent's change beside the user's edit, saved: {result}"
    );
    // The conversation view as read: the agent's thought, the selection as code (no Markdown marks), the command
    // that printed nothing without an empty output, the final message once in the finish box (and in the header),
    // and the agent's paths relative to the folder.
    let view = result["view"].as_str().unwrap_or_default();
    assert!(view.contains("The last line should shout."), "the thought: {view}");
    assert!(!view.contains("```") && !view.contains("**"), "Markdown shown as text: {view}");
    assert_eq!(view.matches("five is now FIVE").count(), 2, "header and finish box only: {view}");
    assert!(!view.contains("worktree"), "the agent's copy's paths: {view}");
    let toast = result["toast"].as_str().unwrap_or_default();
    assert!(toast.contains("applied 1 file"), "{result}");
    let forwarded = result["ports"].to_string();
    assert!(!forwarded.contains("agent-server"), "the agent-server's port was forwarded: {forwarded}");
    // The selection went with the task.
    let first = llm.requests()[0].body.to_string();
    assert!(first.contains("File: a.txt, lines 1-"), "{first}");
}

/// Iterate and apply in the real VS Code: Apply Changes from the view, a message for more on the same line, Apply
/// Changes again: the second apply lands (it used to be refused as an overlap), and its pick offers only what is not
/// applied yet.
#[test]
fn apply_changes_twice_in_one_conversation_applies_the_same_line_again() {
    let (_dir, ws) = repository(&[("a.txt", "one\ntwo\nthree\nfour\nfive\n"), ("b.txt", "bee\n")]);
    let edit = |old: &str, new: &str| {
        Step::tool(
            "file_editor",
            json!({"command": "str_replace", "path": "{workdir}/a.txt", "old_str": old, "new_str": new,
                   "security_risk": "LOW"}),
        )
    };
    let llm = ScriptedLlm::start(vec![
        edit("five", "FIVE"),
        Step::finish("first done"),
        edit("FIVE", "FIVE!"),
        Step::tool(
            "file_editor",
            json!({"command": "str_replace", "path": "{workdir}/b.txt", "old_str": "bee", "new_str": "bee, noted",
                   "security_risk": "LOW"}),
        ),
        Step::finish("louder done"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let bench = start("apply-twice", &ws, &llm, state.path());
    let out = bench.drive("apply_twice", &[]);
    let result = result_of(&out);
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "one\ntwo\nthree\nfour\nFIVE!\n", "{result}");
    assert_eq!(std::fs::read_to_string(ws.join("b.txt")).unwrap(), "bee, noted\n", "{result}");
    let toast = result["second"]["toast"].as_str().unwrap_or_default();
    assert!(toast.contains("applied 2 files") && !toast.contains("overlap"), "{result}");
    let pick = result["second"]["pick"].as_str().unwrap_or_default();
    assert!(pick.contains("a.txt") && pick.contains("b.txt"), "{pick}");
    let notes = result["notifications"].to_string();
    assert!(!notes.contains("overlap") && !notes.contains("not applied"), "{notes}");
}

#[test]
fn questions_are_answered_from_the_notification_the_view_and_the_palette() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::terminal("echo first-check").risk("HIGH"),
        Step::terminal("echo second-check").risk("HIGH"),
        Step::terminal("rm -rf build").risk("HIGH"),
        Step::terminal("echo fourth-check").risk("HIGH"),
        Step::finish("checks done"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let mut settings = settings(&llm);
    settings["openhands.confirmation"] = json!("risky");
    let bench = start_with("questions", &ws, settings, state.path());
    let result = result_of(&bench.drive("confirm", &[]));
    let view = result["view"].as_str().unwrap_or_default();
    assert!(view.contains("first-check") && view.contains("second-check"), "both allowed commands ran: {view}");
    assert!(view.contains("not the build folder"), "the rejection and its reason: {view}");
    assert!(view.contains("fourth-check"), "allowed from the list's row: {view}");
    let actions = result["rowActions"].to_string();
    assert!(actions.contains("\"Allow\"") && actions.contains("\"Reject\""), "the waiting row's buttons: {actions}");
    // What the model saw: the reason, and no result of the rejected command.
    let last = llm.requests().last().map(|r| r.body.to_string()).unwrap_or_default();
    assert!(last.contains("not the build folder"), "{last}");
}

#[test]
fn reload_window_brings_the_conversation_back_in_one_column_without_extension_host_errors() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo hi > hello.txt"),
        Step::finish("**hello** there"),
        Step::terminal("echo again >> hello.txt"),
        Step::finish("said again after the reload"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let bench = start("reload", &ws, &llm, state.path());
    let result = result_of(&bench.drive("reload", &[("STATE", state.path().display().to_string())]));
    assert_eq!(result["emptyGroups"], 0, "no empty editor group is left: {result}");
    assert_eq!(result["groupsAfter"], result["groupsBefore"], "the same columns: {result}");
    assert_eq!(result["groupsLast"], result["groupsBefore"], "opening it again adds no column: {result}");
    assert_eq!(result["tabs"], 1, "one tab for the conversation: {result}");
    // After the reload the conversation is an earlier session's: nothing offered that cannot work, and its box
    // says that a message goes on with it.
    assert_eq!(result["box"]["disabled"], false, "{result}");
    assert!(result["box"]["placeholder"].as_str().unwrap_or_default().contains("go on where it left off"), "{result}");
    let offered = result["offered"].to_string();
    assert!(!offered.contains("Pause") && !offered.contains("Stop"), "{offered}");
    // The message typed after the reload went on: its step and its end show, and the model had the first turn.
    let went_on = result["wentOn"].as_str().unwrap_or_default();
    assert!(went_on.contains("echo again") && went_on.contains("said again after the reload"), "{went_on}");
    let last = llm.requests().last().unwrap().body["messages"].to_string();
    assert!(last.contains("echo hi > hello.txt") && last.contains("And say it again"), "{last}");
    // One from before the agent's memory was kept says why it cannot go on, where the user would type.
    assert_eq!(result["oldBox"]["disabled"], true, "{result}");
    assert!(result["oldBox"]["placeholder"].as_str().unwrap_or_default().contains("made before"), "{result}");
    // The agent's Markdown is rendered in the row's tooltip, not shown as marks.
    let tooltip = result["tooltip"].as_str().unwrap_or_default();
    assert!(tooltip.contains("hello there") && !tooltip.contains("**"), "{tooltip}");
    let host = bench.extension_host_log();
    assert!(host.matches("== ").count() >= 2, "both windows' extension host logs are read:\n{host}");
    let console = result["console"].to_string();
    for bad in ["Channel has been closed", "FAILED"] {
        assert!(!host.contains(bad), "the extension host logged {bad:?}:\n{host}");
        assert!(!console.contains(bad), "the workbench reported {bad:?}: {console}");
    }
}

#[test]
fn a_missing_server_says_how_to_fix_it_and_opens_the_settings_where_the_path_works() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let state = tempfile::tempdir().unwrap();
    let settings = json!({
        "openhands.server.path": "/nowhere/openhands-lsp",
        "workbench.startupEditor": "none",
        "chat.disableAIFeatures": true,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
    });
    let env = [("XDG_STATE_HOME", state.path().display().to_string())];
    let bench = Workbench::start("missing-server", &ws, settings, &env);
    let result = result_of(&bench.drive("missing_server", &[]));
    let welcome = result["welcome"].as_str().unwrap_or_default();
    assert!(welcome.contains("No conversations yet") && !welcome.contains("**"), "the welcome view: {welcome}");
    let note = result["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("openhands.server.path is /nowhere/openhands-lsp, which is not an executable file")
            && note.contains("cargo install --git"),
        "{note}"
    );
    assert!(!note.contains('`') && !note.contains("**"), "Markdown in a notification: {note}");
    let shown: Vec<String> = serde_json::from_value(result["notifications"].clone()).unwrap_or_default();
    assert_eq!(shown.iter().filter(|n| n.contains("not an executable")).count(), 1, "said once: {shown:?}");
    assert!(result["count"].as_str().unwrap_or_default().contains("1 Setting Found"), "{result}");
}

#[test]
fn a_bad_setting_is_named_in_words_once_and_the_log_keeps_its_levels() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let llm = ScriptedLlm::start(vec![]);
    let state = tempfile::tempdir().unwrap();
    let mut settings = settings(&llm);
    settings["openhands.maxIterations"] = json!("lots");
    let bench = start_with("bad-setting", &ws, settings, state.path());
    let result = result_of(&bench.drive("bad_setting", &[]));
    let note = result["note"].as_str().unwrap_or_default();
    assert!(note.contains("openhands.maxIterations: expected a whole number from 1 to 10000 (got \"lots\")"), "{note}");
    let shown: Vec<String> = serde_json::from_value(result["notifications"].clone()).unwrap_or_default();
    assert_eq!(shown.iter().filter(|n| n.contains("maxIterations")).count(), 1, "said once: {shown:?}");
    let output = result["output"].as_str().unwrap_or_default();
    let info = output.lines().filter(|l| l.contains("[info]") && l.contains("openhands_lsp")).count();
    assert!(info > 0, "the server's info lines show as info: {output}");
    let wrong = output.lines().filter(|l| l.contains("[error]") && l.contains("initialize")).count();
    assert_eq!(wrong, 0, "an info line shown as an error: {output}");
}

#[test]
fn pause_resume_send_and_stop_from_the_conversation_view() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    // A slow model: time for the user to pause while it thinks, and to stop it.
    let slow = |step: Step, ms: u64| Step { delay_ms: Some(ms), ..step };
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::terminal("echo before-pause"),
        slow(Step::terminal("echo after-resume"), 8000),
        Step::finish("all done"),
        Step::finish("noted"),
        slow(Step::finish("never said"), 120_000),
    ]);
    let state = tempfile::tempdir().unwrap();
    let bench = start("controls", &ws, &llm, state.path());
    let result = result_of(&bench.drive("controls", &[]));
    let offered = |key: &str| -> Vec<String> { serde_json::from_value(result[key].clone()).unwrap_or_default() };
    assert_eq!(offered("whileRunning"), ["Pause", "Stop", "Review Changes", "Apply Changes"], "{result}");
    assert_eq!(offered("whilePaused"), ["Resume", "Stop", "Review Changes", "Apply Changes"], "{result}");
    // The status bar's spinner turns while the agent works, not while it is paused.
    assert!(result["spinWhileRunning"].as_u64().unwrap_or(0) > 0, "{result}");
    assert_eq!(result["spinWhilePaused"], "stopped", "{result}");
    assert_eq!(offered("whenFinished"), ["Review Changes", "Apply Changes"], "{result}");
    assert_eq!(offered("whenStopped"), ["Review Changes", "Apply Changes"], "{result}");
    assert_eq!(result["box"], "", "the box empties once the message is sent: {result}");
    assert!(result["sent"].as_str().unwrap_or_default().contains("message sent to \"Work slowly\""), "{result}");
    let waiting = result["waitingForModel"].as_str().unwrap_or_default();
    assert!(waiting.contains(&format!("waiting for the model at {}", llm.base_url())), "{waiting}");
    let view = result["view"].as_str().unwrap_or_default();
    assert!(view.contains("one more thing") && view.contains("noted"), "{view}");
    assert!(!view.contains("never said"), "{view}");
    assert!(!result["waitingView"].as_str().unwrap_or_default().contains("running · process · noted"), "{result}");
}

#[test]
fn an_unreachable_model_is_named_with_the_setting_to_check() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let llm = ScriptedLlm::start(vec![]);
    let state = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut settings = settings(&llm);
    settings["openhands.llm.baseUrl"] = json!(format!("http://127.0.0.1:{closed}/v1"));
    let bench = start_with("model-down", &ws, settings, state.path());
    let result = result_of(&bench.drive("model_down", &[]));
    let note = result["note"].as_str().unwrap_or_default();
    assert!(note.contains(&format!("127.0.0.1:{closed}")) && note.contains("openhands.llm.baseUrl"), "{note}");
    let shown: Vec<String> = serde_json::from_value(result["notifications"].clone()).unwrap_or_default();
    assert_eq!(shown.iter().filter(|n| n.contains("openhands.llm.baseUrl")).count(), 1, "said once: {shown:?}");
    let view = result["view"].as_str().unwrap_or_default();
    assert!(view.contains("openhands.llm.baseUrl"), "the view says it too: {view}");
    assert!(!view.contains("litellm.") && !note.contains("litellm."), "LiteLLM's raw text: {note}\n{view}");
}

#[test]
fn review_opens_the_diff_and_an_overlapping_edit_is_refused_with_the_users_text_kept() {
    let (_dir, ws) = repository(&[("a.txt", "one\ntwo\nthree\n"), ("b.txt", "bee\n")]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("sed -i 's/three/THREE/' a.txt && printf 'BEE\\n' > b.txt"),
        Step::finish("shouted"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let bench = start("review-overlap", &ws, &llm, state.path());
    let result = result_of(&bench.drive("review_overlap", &[]));
    let diff = result["diff"].as_str().unwrap_or_default();
    assert!(diff.contains("a.txt") && diff.contains("OpenHands"), "the diff's tab: {result}");
    let refused = result["refused"].as_str().unwrap_or_default();
    assert!(refused.contains("a.txt") && refused.contains("overlap"), "{refused}");
    let shown: Vec<String> = serde_json::from_value(result["notifications"].clone()).unwrap_or_default();
    assert_eq!(shown.iter().filter(|n| n.contains("not applied")).count(), 1, "said once: {shown:?}");
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "one\ntwo\nthree!\n", "the user's text is kept");
    assert_eq!(std::fs::read_to_string(ws.join("b.txt")).unwrap(), "BEE\n", "the other file applied");
    // The note the agent got is shown as such, not as the user's words.
    let view = result["view"].as_str().unwrap_or_default();
    assert!(view.contains("Note to the agent: The user reviewed your changes."), "{view}");
    assert!(!view.contains("You\nThe user reviewed") && !view.contains("[A note from"), "{view}");
}

#[test]
fn hunks_are_applied_and_rejected_in_the_diff_and_a_step_is_restored_from_the_view() {
    let original: String = (1..=12).map(|i| format!("line {i}\n")).collect();
    let (_dir, ws) = repository(&[("a.txt", &original)]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("sed -i 's/^line 2$/LINE TWO/; s/^line 10$/LINE TEN/' a.txt"),
        // At once: the agent waits for each step's checkpoint before the next (tests/tests/checkpoints.rs, under load).
        Step::terminal("printf 'new\\n' > c.txt"),
        Step::finish("shouted two lines and added c.txt"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let bench = start("review-hunks", &ws, &llm, state.path());
    let result = result_of(&bench.drive("review_hunks", &[]));
    let row = result["row"].as_str().unwrap_or_default();
    assert!(row.contains("2 files changed") && row.contains("3 changes to review"), "the tree counts hunks: {row}");
    let lenses: Vec<String> = serde_json::from_value(result["lenses"].clone()).unwrap_or_default();
    assert!(lenses.iter().any(|l| l.contains("Apply all 2 changes")), "{lenses:?}");
    // The user's file: the applied change in, the rejected one not.
    assert_eq!(
        std::fs::read_to_string(ws.join("a.txt")).unwrap(),
        original.replace("line 2\n", "LINE TWO\n"),
        "only the applied hunk reached the user's file"
    );
    assert!(!ws.join("c.txt").exists(), "the new file was not applied");
    let rejected = result["rejected"].as_str().unwrap_or_default();
    assert!(rejected.contains("line 10") && rejected.contains("the agent was told why"), "{rejected}");
    let steps = result["steps"].as_str().unwrap_or_default();
    assert_eq!(steps.matches("Restore to here").count(), 1, "offered on the first step, not on the current: {steps}");
    assert!(steps.contains("Checkpoint 2 · the files are here"), "{steps}");
    let question = result["restored"].as_str().unwrap_or_default();
    assert!(question.contains("Your files are not touched"), "{question}");
    // Restored: the agent's copy is as after the first step (both lines shouted, no c.txt).
    let conversations = std::fs::read_dir(state.path().join("openhands-lsp/conversations")).unwrap();
    let copy = conversations
        .flatten()
        .map(|e| e.path().join("worktree"))
        .find(|p| p.exists())
        .expect("the conversation's copy");
    assert_eq!(
        std::fs::read_to_string(copy.join("a.txt")).unwrap(),
        original.replace("line 2\n", "LINE TWO\n").replace("line 10\n", "LINE TEN\n")
    );
    assert!(!copy.join("c.txt").exists(), "the later step's file is gone from the copy");
    let shown: Vec<String> = serde_json::from_value(result["notifications"].clone()).unwrap_or_default();
    assert!(!shown.iter().any(|n| n.contains("Error") || n.contains("failed")), "{shown:?}");
}

#[test]
fn the_llm_key_is_asked_for_in_words_set_from_the_palette_and_never_shown() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let llm = ScriptedLlm::start(vec![Step::finish("hello")]);
    let state = tempfile::tempdir().unwrap();
    // No key in the environment: the user has none set yet.
    let env = [
        ("OPENHANDS_LSP_PATH", server_binary().display().to_string()),
        ("XDG_STATE_HOME", state.path().display().to_string()),
    ];
    let bench = Workbench::start("llm-key", &ws, settings(&llm), &env);
    let key = "sk-canary-typed-in-vscode-7f3a";
    let result = result_of(&bench.drive("llm_key", &[("KEY", key.to_owned())]));
    let refused = result["refused"].as_str().unwrap_or_default();
    assert!(refused.contains("\"OpenHands: Set LLM API Key\" from the Command Palette"), "{refused}");
    let shown: Vec<String> = serde_json::from_value(result["refusedAll"].clone()).unwrap_or_default();
    assert_eq!(shown.iter().filter(|n| n.contains("LLM")).count(), 1, "said once: {shown:?}");
    assert_eq!(result["password"], "password", "the key is typed into a password box");
    // The first task started nothing; the second reached the model with the key.
    let requests = llm.requests();
    assert!(!requests.is_empty(), "the task with the key ran");
    let auth = requests[0].headers.iter().find(|(k, _)| k.as_str() == "authorization").map(|(_, v)| v.clone());
    assert_eq!(auth.as_deref(), Some(format!("Bearer {key}").as_str()));
    // The key is nowhere to be seen: not on screen, not in the output channel, not in any log, not on disk.
    let out = bench.drive_output("llm_key");
    assert!(!out.contains(key), "the key was shown in VS Code");
    assert!(!bench.extension_host_log().contains(key), "the key in the extension host's log");
    let leaked = openhands_lsp_tests::vscode::files_containing(state.path(), key);
    assert!(leaked.is_empty(), "the key written to disk by the server: {leaked:?}");
}

#[test]
fn with_the_docker_backend_and_a_warm_pool_start_task_shows_the_first_step() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let llm = ScriptedLlm::start_for_containers(vec![Step::terminal("true"), Step::finish("done")]);
    let state = tempfile::tempdir().unwrap();
    let bench = start_with("docker-warm", &ws, docker_settings(&llm, 1), state.path());
    let result = result_of(&bench.drive("first_step", &[("WARM", "1".to_owned())]));
    let ms = result["ms"][0].as_u64().unwrap_or(u64::MAX);
    // What the user waited is in the benchmark (scripts/bench); here, that it is seen at all, in seconds.
    assert!(ms < 60_000, "the first step took {ms} ms");
}

#[test]
fn fix_problems_in_file_gives_the_agent_vs_codes_problems_and_the_budget_and_cost_show() {
    let (_dir, ws) = repository(&[("bad.json", "{\n  \"name\": \"demo\",\n  \"version\": ,\n  \"private\": tru\n}\n")]);
    let llm = ScriptedLlm::start(openhands_lsp_tests::llm::past_25_tokens());
    let state = tempfile::tempdir().unwrap();
    let mut with_budget = settings(&llm);
    with_budget["openhands.maxTokensPerTask"] = json!(25);
    // An MCP server whose secret the user sets from the palette.
    let python = Path::new(&agent_server_command()).with_file_name("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mcp/shout_server.py");
    with_budget["openhands.mcpServers"] =
        json!({"shout": {"command": python, "args": [script], "env": {"SHOUT_TOKEN": "${secret:SHOUT_TOKEN}"}}});
    let token = "vscode-mcp-canary-4e8a";
    let bench = start_with("problems", &ws, with_budget, state.path());
    let result = result_of(&bench.drive("problems", &[("MCP_TOKEN", token.to_owned())]));
    let tools = llm.requests()[0].body["tools"].to_string();
    assert!(tools.contains("shout"), "the MCP server started with its secret: its tool is offered: {tools}");
    // The secret is nowhere to be seen: not on screen, not in the extension host's log, not on disk by the server.
    assert!(!bench.drive_output("problems").contains(token), "the secret was shown in VS Code");
    assert!(!bench.extension_host_log().contains(token), "the secret in the extension host's log");
    let leaked = openhands_lsp_tests::vscode::files_containing(state.path(), token);
    assert!(leaked.is_empty(), "the secret written to disk by the server: {leaked:?}");
    // The instruction the agent got lists the problems VS Code shows in the file, with their lines.
    let first = llm.requests()[0].body["messages"].to_string();
    assert!(first.contains("Problems the editor reports there:") && first.contains("File: bad.json"), "{first}");
    assert!(first.contains("line 3, column") && first.contains("line 4, column"), "both problems: {first}");
    let question = result["question"].as_str().unwrap_or_default();
    assert!(question.contains("has spent an unknown cost and 30 tokens of its budget of 25 tokens"), "{question}");
    assert!(
        result["pausedHeader"].as_str().unwrap_or_default().contains("paused · process · budget reached: it has spent"),
        "{result}"
    );
    let view = result["view"].as_str().unwrap_or_default();
    assert!(view.contains("LLM: cost unknown · 30 tokens in, 15 out"), "the view's header: {view}");
    let row = result["row"].as_str().unwrap_or_default();
    assert!(row.contains("cost unknown · 45 tokens"), "the row: {row}");
    let tooltip = result["tooltip"].as_str().unwrap_or_default();
    assert!(
        tooltip.contains("This session: cost unknown · 30 tokens in, 15 out") && tooltip.contains("(1 conversation)"),
        "{tooltip}"
    );
}

/// A Rust crate whose test fails, with a dev container whose Dockerfile starts from an image with cargo.
#[test]
fn start_task_on_a_rust_project_builds_its_dev_container_and_the_view_shows_cargo_test_fail_then_pass() {
    let cargo_base =
        std::env::var("OPENHANDS_TEST_CARGO_BASE").expect("OPENHANDS_TEST_CARGO_BASE (scripts/test sets it)");
    let (_dir, ws) = repository(&[
        ("Cargo.toml", "[package]\nname = \"adder\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
        (
            "src/lib.rs",
            "pub fn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(super::add(2, 2), 4);\n    }\n}\n",
        ),
        (
            ".devcontainer/devcontainer.json",
            "{\n  // Rust, as the project builds it\n  \"build\": { \"dockerfile\": \"Dockerfile\" },\n}\n",
        ),
        // A build of its own each run (no layer of an earlier one to reuse), warming cargo as projects' images do.
        (
            ".devcontainer/Dockerfile",
            &format!(
                "FROM {cargo_base}\nRUN echo run-{} && cargo new -q --lib /opt/warm && cd /opt/warm && cargo build -q\n",
                std::process::id()
            ),
        ),
    ]);
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("cargo test 2>&1"),
        Step::tool(
            "file_editor",
            json!({"command": "str_replace", "path": "/workspace/src/lib.rs", "old_str": "a - b", "new_str": "a + b",
                   "security_risk": "LOW"}),
        ),
        Step::terminal("cargo test 2>&1"),
        Step::finish("The test passes now: add() added."),
    ]);
    let state = tempfile::tempdir().unwrap();
    let bench = start_with("toolchain", &ws, docker_settings(&llm, 0), state.path());
    let result = result_of(&bench.drive("toolchain", &[]));
    let building = result["building"].as_str().unwrap_or_default();
    assert!(building.contains("building the image of .devcontainer/devcontainer.json"), "{result}");
    let failed = result["failed"].as_str().unwrap_or_default();
    assert!(failed.contains("left: `0`"), "cargo's own output in the view: {failed}");
    let view = result["view"].as_str().unwrap_or_default();
    assert!(view.contains("Image: openhands-lsp-project/project-"), "the header names the image: {view}");
    assert!(view.contains(", from the dev container (.devcontainer/devcontainer.json)"), "{view}");
    assert!(
        std::fs::read_to_string(ws.join("src/lib.rs")).unwrap().contains("a - b"),
        "the user's file waits for review"
    );
}

#[test]
fn the_platform_package_runs_its_own_server_with_no_path_set_and_none_on_path() {
    use openhands_lsp_tests::release::{NEW_USER_PATH, VERSION, dist};
    let vsix = dist().join(format!("openhands-{VERSION}-linux-x64.vsix"));
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let llm = ScriptedLlm::start(vec![Step::terminal("true"), Step::finish("ran it")]);
    let state = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // A new user: no OPENHANDS_LSP_PATH, no openhands.server.path, the system's PATH, a fresh HOME.
    let env = [
        ("OPENHANDS_LSP_PATH", String::new()),
        ("PATH", NEW_USER_PATH.to_owned()),
        ("HOME", home.path().display().to_string()),
        ("LLM_API_KEY", "sk-scripted-test-key".to_owned()),
        ("XDG_STATE_HOME", state.path().display().to_string()),
    ];
    let bench = Workbench::start_from("bundled", &ws, settings(&llm), &env, &vsix);
    let result = result_of(&bench.drive("bundled", &[]));
    assert!(result["view"].as_str().unwrap_or_default().contains("ran it"), "{result}");
    let tooltip = result["tooltip"].as_str().unwrap_or_default();
    assert!(
        tooltip.contains(&format!("Server: openhands-lsp {VERSION}, bundled with the extension"))
            && tooltip.contains("/server/openhands-lsp"),
        "{tooltip}"
    );
    // The extension's log says it too.
    let logs = bench.output_log();
    assert!(logs.contains("/server/openhands-lsp (from bundled)"), "{logs}");
}

/// While the agent works, from the conversation view's box: Alt+Enter and the Queue button queue messages (shown,
/// and one taken back into the box), Enter steers the running turn; the steered message reaches the turn's next
/// LLM request, the queued one starts the next turn, the one taken back never reaches the agent.
#[test]
fn the_view_steers_the_running_turn_queues_for_the_next_and_takes_back() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo one").gated("first-step"),
        Step::finish("first turn"),
        Step::finish("second turn"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let bench = start("steer-queue", &ws, &llm, state.path());
    let result = result_of(&bench.drive("steer_queue", &[("LLM_URL", format!("http://{}", llm.addr))]));
    assert_eq!(result["working"]["send"], "Steer", "{result}");
    let hint = result["working"]["hint"].as_str().unwrap_or_default();
    assert!(hint.contains("Enter steers it") && hint.contains("Alt+Enter queues it"), "{hint}");
    assert_eq!(result["boxAfterQueue"], "", "a queued message leaves the box: {result}");
    assert_eq!(result["bothQueued"], json!(["Then do QUEUED-NEXT", "TAKEN-BACK text"]), "{result}");
    assert_eq!(result["boxAfterTakeBack"], "TAKEN-BACK text", "taken back into the box: {result}");
    assert_eq!(result["queuedAtEnd"], json!([]), "{result}");
    assert_eq!(result["after"]["send"], "Send", "{result}");
    assert_eq!(result["after"]["queueHidden"], true, "{result}");
    let requests: Vec<String> = llm.requests().iter().map(|r| r.body.to_string()).collect();
    assert_eq!(requests.len(), 3, "one turn of two steps, then the queued message's turn");
    assert!(requests[1].contains("STEERED-DOCS") && !requests[1].contains("QUEUED-NEXT"), "steered into the turn");
    assert!(requests[2].contains("QUEUED-NEXT"), "the queued message starts the next turn");
    assert!(requests.iter().all(|r| !r.contains("TAKEN-BACK")), "taken back, never sent");
}

/// Looking elsewhere (the conversation's view closed, a file in front): the finish is said in a notification with
/// Review Changes and Open, the OpenHands view's badge counts it, and opening the view from the notification clears
/// the badge.
#[test]
fn a_finish_while_the_user_looks_elsewhere_is_told_with_its_actions_and_badged() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo working").gated("first-step"),
        Step::finish("done while you were away"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let bench = start("away", &ws, &llm, state.path());
    let result = result_of(&bench.drive("away", &[("LLM_URL", format!("http://{}", llm.addr))]));
    let told = result["told"].as_str().unwrap_or_default();
    assert!(told.contains("done while you were away"), "{told}");
    assert!(told.contains("Review Changes") && told.contains("Open"), "its actions: {told}");
    assert_eq!(result["badgeWhileWorking"], json!([]), "nothing needs the user while it works: {result}");
    assert_eq!(result["badgeWhenDone"], json!(["1"]), "{result}");
    assert_eq!(result["badgeAfterLooking"], "none", "{result}");
}

/// With `openhands.notifyWhenAway` off, a finish while the user looks elsewhere is not told in a notification; the
/// badge still counts it until the view is opened.
#[test]
fn with_notify_when_away_off_a_finish_is_only_badged() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo working").gated("first-step"),
        Step::finish("done while you were away"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let mut quiet = settings(&llm);
    quiet["openhands.notifyWhenAway"] = json!(false);
    let bench = start_with("away-quiet", &ws, quiet, state.path());
    let env = [("LLM_URL", format!("http://{}", llm.addr)), ("QUIET", "yes".to_owned())];
    let result = result_of(&bench.drive("away", &env));
    assert_eq!(result["counted"], json!(["1"]), "{result}");
    assert_eq!(result["shown"], json!([]), "no notification: {result}");
    assert_eq!(result["badgeAfterLooking"], "none", "{result}");
}

/// A `.code-workspace` of two repositories: Start Task asks which folders (the active file's ticked first), the task
/// works in both, Review Changes lists both folders' files, and Apply Changes puts each change in its own folder.
#[test]
fn a_task_in_a_two_repository_workspace_works_reviews_and_applies_in_both() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let repos =
        openhands_lsp_tests::repo::repositories(&root, &[("app", "app.txt", "v1\n"), ("api", "api.txt", "v1\n")]);
    let (app, api) = (&repos[0], &repos[1]);
    let workspace = root.join("both.code-workspace");
    std::fs::write(&workspace, json!({"folders": [{"path": "app"}, {"path": "api"}]}).to_string()).unwrap();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo v2 > app.txt && cd ../folders/api && echo v2 > api.txt"),
        Step::finish("both bumped"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let bench = start("folders", &workspace, &llm, state.path());
    let result = result_of(&bench.drive("folders", &[]));
    let asked = result["folders"].as_str().unwrap_or_default();
    assert!(asked.contains("app") && asked.contains("api"), "{asked}");
    assert_eq!(result["ticked"].as_array().map(Vec::len), Some(1), "only the active file's folder: {result}");
    assert!(result["ticked"][0].as_str().unwrap_or_default().starts_with("app"), "{result}");
    let view = result["view"].as_str().unwrap_or_default();
    assert!(view.contains("Folders: app (working folder), api"), "{view}");
    assert!(!view.contains("Restore to here"), "its checkpoints hold one folder: no restore offered: {view}");
    let review = result["review"].as_str().unwrap_or_default();
    assert!(review.contains("app.txt") && review.contains("api/api.txt"), "{review}");
    assert!(review.contains("in the folder api"), "{review}");
    assert!(result["diffTab"].as_str().unwrap_or_default().contains("api/api.txt"), "{result}");
    let pick = result["pick"].as_str().unwrap_or_default();
    assert!(pick.contains("app.txt") && pick.contains("api/api.txt"), "{pick}");
    assert_eq!(std::fs::read_to_string(app.join("app.txt")).unwrap(), "v2\n");
    assert_eq!(std::fs::read_to_string(api.join("api.txt")).unwrap(), "v2\n");
    let system = llm.requests()[0].body["messages"][0].to_string();
    assert!(system.contains("This task spans several folders"), "{system}");
}

/// `PROJ-123` in a comment of a project whose Jira is set up: the light bulb shows on its line, the Quick Fix menu
/// offers `OpenHands: fix PROJ-123 "<title>"` with the title read from Jira (the stand-in checking each request
/// against Atlassian's description), and choosing it runs the task built from the issue.
#[test]
fn a_jira_reference_shows_the_light_bulb_and_its_quick_fix_starts_the_issue() {
    let notes = "# Notes\n<!-- TODO(PROJ-123): be polite -->\n";
    let (_dir, ws) = repository(&[("greeting.txt", "hi\n"), ("notes.md", notes)]);
    let jira = openhands_lsp_tests::provider_mock::ProviderMock::jira_cloud();
    openhands_lsp_tests::tracker_answers::jira_issue(&jira, false);
    let linear = openhands_lsp_tests::provider_mock::ProviderMock::linear();
    openhands_lsp_tests::tracker_answers::linear_issue(&linear);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("printf 'Hello, world\\n' > greeting.txt"),
        Step::finish("Changed the greeting."),
        Step::terminal("true"),
        Step::finish("Trimmed the name."),
    ]);
    let state = tempfile::tempdir().unwrap();
    let mut with_jira = settings(&llm);
    with_jira["openhands.jira.url"] = json!(jira.url());
    with_jira["openhands.jira.email"] = json!("ada@example.com");
    with_jira["openhands.linear.apiUrl"] = json!(format!("{}/graphql", linear.url()));
    let env = [
        ("OPENHANDS_LSP_PATH", server_binary().display().to_string()),
        ("LLM_API_KEY", "sk-scripted-test-key".to_owned()),
        ("XDG_STATE_HOME", state.path().display().to_string()),
        ("JIRA_API_TOKEN", "jira_vscode_canary_77".to_owned()),
        ("LINEAR_API_KEY", "lin_api_vscode_canary_78".to_owned()),
    ];
    let bench = Workbench::start("jira-lightbulb", &ws, with_jira, &env);
    let result = result_of(&bench.drive("jira_lightbulb", &[]));
    let menu = result["menu"].as_str().unwrap_or_default();
    assert!(menu.contains("OpenHands: fix PROJ-123 \"Greeting is not polite\""), "{menu}");
    let view = result["view"].as_str().unwrap_or_default();
    assert!(view.contains("Fix PROJ-123: Greeting is not polite"), "{view}");
    let first = llm.requests()[0].body.to_string();
    assert!(first.contains("Fix Jira issue PROJ-123") && first.contains("zebra-kiwi-42"), "{first}");
    assert_eq!(jira.violations(), Vec::<String>::new());
    // Typed into the palette's Fix Issue box: the Linear issue, read from Linear, is the task.
    let typed = result["typed"].as_str().unwrap_or_default();
    assert!(typed.contains(&format!("Fix ENG-42: {}", openhands_lsp_tests::tracker_answers::LINEAR_TITLE)), "{typed}");
    let asked = llm.requests().iter().map(|r| r.body.to_string()).collect::<Vec<_>>().join("\n");
    assert!(asked.contains("trim the name"), "the issue's description is in the task: {asked}");
    assert_eq!(linear.violations(), Vec::<String>::new());
}

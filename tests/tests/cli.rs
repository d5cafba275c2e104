//! The command line: `--version`, `doctor`, and bad logging options.

use std::process::Command;

use openhands_lsp_tests::lsp_client::server_binary;
use serde_json::Value;

/// Runs the binary with an agent-server command that exists (doctor requires one for the process backend).
fn run(args: &[&str], state_home: &std::path::Path) -> std::process::Output {
    let mut all: Vec<&str> = args.to_vec();
    if args.first() == Some(&"doctor") {
        all.extend(["--settings", r#"{"process": {"command": "/bin/sh"}}"#]);
    }
    Command::new(server_binary())
        .args(&all)
        .env("XDG_STATE_HOME", state_home)
        .env_remove("LLM_API_KEY")
        .output()
        .unwrap()
}

#[test]
fn version_prints_name_and_version() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&["--version"], tmp.path());
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("openhands-lsp {}", openhands_lsp::VERSION));
}

#[test]
fn doctor_prints_a_table_and_succeeds_when_all_is_well() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&["doctor"], tmp.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("CHECK") && text.contains("state directory") && text.contains("ok"), "{text}");
    assert!(tmp.path().join("openhands-lsp").is_dir(), "doctor creates the state directory");
}

#[test]
fn doctor_fails_when_the_state_directory_is_unusable() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let out = run(&["doctor"], &blocker);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("MISSING") && text.contains("not-a-dir"), "{text}");
}

#[test]
fn doctor_json_matches_status_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&["doctor", "--json"], tmp.path());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert!(v["checks"].as_array().unwrap().iter().all(|c| c["name"].is_string() && c["status"].is_string()));
}

#[test]
fn doctor_fails_without_an_agent_server_and_says_how_to_install_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(server_binary())
        .args([
            "doctor",
            "--settings",
            r#"{"backend": "process", "process": {"command": "/nonexistent/agent-server"}}"#,
        ])
        .env("XDG_STATE_HOME", tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("agent-server") && text.contains("MISSING") && text.contains("pip install"), "{text}");
    assert!(text.contains("LLM") && text.contains("no API key"), "{text}");
}

#[test]
fn bad_log_filter_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&["--log-level", "no=such=level", "doctor"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid log filter"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn doctor_json_names_settings_it_did_not_understand_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    let doctor = |settings: &str| {
        Command::new(server_binary())
            .args(["doctor", "--json", "--settings", settings])
            .env("XDG_STATE_HOME", tmp.path())
            .output()
            .unwrap()
    };
    let out = doctor(r#"{"maxIterations": "lots", "backend": "process", "process": {"command": "/bin/sh"}}"#);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let settings = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "settings").unwrap().clone();
    assert_eq!(settings["status"], "warning", "{settings}");
    let detail = settings["detail"].as_str().unwrap();
    assert!(
        detail.contains("openhands.maxIterations: expected a whole number from 1 to 10000 (got \"lots\")"),
        "{detail}"
    );
    assert_eq!(report["backend"], "process", "the other settings still apply");
    let fine = doctor(r#"{"backend": "process", "process": {"command": "/bin/sh"}}"#);
    let report: Value = serde_json::from_slice(&fine.stdout).unwrap();
    let settings = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "settings").unwrap().clone();
    assert_eq!(settings["status"], "ok", "{settings}");
}

/// `doctor` with the process backend pointed at `command`, the environment's own keys removed.
fn doctor_with_agent_server(command: &str, env: &[(&str, &str)], state_home: &std::path::Path) -> (bool, Value) {
    let settings = serde_json::json!({"backend": "process", "process": {"command": command}}).to_string();
    let mut cmd = Command::new(server_binary());
    cmd.args(["doctor", "--json", "--settings", &settings]).env("XDG_STATE_HOME", state_home).env_remove("LLM_API_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.success(), report)
}

fn smoke_row(report: &Value) -> Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "agent-server smoke check")
        .unwrap_or_else(|| panic!("no smoke check row: {report}"))
        .clone()
}

/// A broken install: its conversation creation answers 500 with the agent-server's own reason, as 1.58.0 did with
/// cryptography 51. doctor fails, names that reason and says how to install a working one.
#[test]
fn doctor_smoke_check_fails_in_words_on_a_broken_agent_server() {
    let tmp = tempfile::tempdir().unwrap();
    let reason = "Fernet key must be 32 url-safe base64-encoded bytes.";
    let (ok, report) =
        doctor_with_agent_server(env!("CARGO_BIN_EXE_fake-agent-server"), &[("FAKE_CREATE_FAILS", reason)], tmp.path());
    assert!(!ok, "doctor exits non-zero: {report}");
    assert_eq!(report["ok"], false);
    let row = smoke_row(&report);
    assert_eq!(row["status"], "error", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "the agent-server failed to create a conversation: {}. The",
            reason.trim_end_matches('.')
        )),
        "{detail}"
    );
    assert!(detail.contains("install it again") && detail.contains("locks/agent-server.txt"), "{detail}");
    // The same broken server through the table: the row is MISSING and the reason is in it once.
    let settings =
        serde_json::json!({"backend": "process", "process": {"command": env!("CARGO_BIN_EXE_fake-agent-server")}});
    let out = Command::new(server_binary())
        .args(["doctor", "--settings", &settings.to_string()])
        .env("XDG_STATE_HOME", tmp.path())
        .env("FAKE_CREATE_FAILS", reason)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("agent-server smoke check  MISSING"), "{text}");
    assert_eq!(text.matches(reason).count(), 1, "{text}");
}

/// The real agent-server of the tests boots, creates a conversation and deletes it; doctor says its versions.
#[test]
fn doctor_smoke_check_passes_on_the_real_agent_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, report) = doctor_with_agent_server(&openhands_lsp_tests::agent::agent_server_command(), &[], tmp.path());
    let row = smoke_row(&report);
    assert!(ok, "{report}");
    assert_eq!(row["status"], "ok", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(detail.contains("created and deleted a conversation"), "{detail}");
    assert!(
        detail.contains(&format!("agent-server {} (SDK", openhands_lsp::config::AGENT_SERVER_VERSION)),
        "the versions it runs: {detail}"
    );
    // --quick leaves it out.
    let out = Command::new(server_binary())
        .args([
            "doctor",
            "--json",
            "--quick",
            "--settings",
            r#"{"backend": "process", "process": {"command": "/bin/sh"}}"#,
        ])
        .env("XDG_STATE_HOME", tmp.path())
        .output()
        .unwrap();
    let quick: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!quick["checks"].as_array().unwrap().iter().any(|c| c["name"] == "agent-server smoke check"), "{quick}");
}

/// The version the code names is the one the lock installs (the tests', the image's and the users').
#[test]
fn the_agent_server_version_is_the_locked_one() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../locks/agent-server.txt")).unwrap();
    let pinned = format!("openhands-agent-server=={} ", openhands_lsp::config::AGENT_SERVER_VERSION);
    assert!(lock.lines().any(|l| l.starts_with(&pinned)), "locks/agent-server.txt pins {pinned}");
    for line in lock.lines().filter(|l| !l.starts_with([' ', '#']) && !l.trim().is_empty()) {
        assert!(line.contains("==") && line.ends_with('\\'), "every package pinned, with hashes below it: {line}");
    }
}

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

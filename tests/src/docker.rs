//! What the docker tests share (`tests/tests/docker.rs`, `tests/tests/project_image.rs`): the images scripts/test
//! builds, the docker CLI, and a docker-backend server's settings.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::Server;
use crate::agent::{RUN_TIMEOUT, init_params, wait_event, wait_until};
use crate::llm::ScriptedLlm;

/// The image scripts/test builds (scripts/lib/docker.sh names it and exports it as OPENHANDS_TEST_IMAGE).
pub fn image() -> String {
    std::env::var("OPENHANDS_TEST_IMAGE").expect(
        "OPENHANDS_TEST_IMAGE is not set: run scripts/test (it starts Docker and builds the agent-server image)",
    )
}

/// A projects' base image scripts/test builds (scripts/build-test-base-images), by its variable.
pub fn base_image(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run scripts/test (it builds the projects' base images)"))
}

/// The docker CLI's output; the test fails when the command does.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("the docker CLI");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn inspect(container: &str) -> Value {
    let text = docker(&["inspect", container]);
    serde_json::from_str::<Value>(&text).unwrap()[0].clone()
}

/// A folder of the user's with one file in it.
pub fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    std::fs::write(ws.join("seed.txt"), "seeded by the user\n").unwrap();
    (dir, ws)
}

/// `initialize` parameters for the docker backend with the test image, no warm pool, and `docker_settings` on top.
pub fn docker_params(llm: &ScriptedLlm, ws: &Path, docker_settings: Value) -> Value {
    let mut params = init_params(llm, ws, json!({}));
    let opts = &mut params["initializationOptions"];
    opts["backend"] = json!("docker");
    opts["llm"]["baseUrl"] = json!(llm.container_base_url());
    // The conversation's own copy: what review and the warm pool work with.
    opts.as_object_mut().unwrap().remove("isolation");
    let mut d = json!({"image": image(), "warmPool": 0, "startupTimeoutSeconds": 180});
    crate::lsp_client::merge(&mut d, docker_settings);
    opts["docker"] = d;
    params
}

/// The first observation of conversation `id` whose text holds `text`.
pub fn output_containing(server: &Server, id: &str, text: &str) -> String {
    let e = wait_event(server, id, &format!("output containing {text:?}"), |e| {
        e["kind"] == "ObservationEvent" && e["detail"].as_str().is_some_and(|d| d.contains(text))
    });
    e["detail"].as_str().unwrap().to_owned()
}

/// The container running a conversation (named after it once it has one).
pub fn container_of(id: &str) -> String {
    let name = format!("openhands-lsp-{}-", &id[..12]);
    let mut found = String::new();
    wait_until("the conversation's container", RUN_TIMEOUT, || {
        found = docker(&["ps", "-q", "--no-trunc", "--filter", &format!("name={name}")]);
        !found.is_empty()
    });
    found
}

/// `openhands-lsp run` of a task on `ws` with the docker backend and `image`, in a state folder of its own.
pub fn terminal_run(ws: &Path, image: &str) -> std::process::Output {
    let state = tempfile::tempdir().unwrap();
    Command::new(crate::lsp_client::server_binary())
        .args(["run", "--task", "Anything", "--workspace", ws.to_str().unwrap(), "--backend", "docker"])
        .args(["--image", image, "--model", "openai/stub"])
        .env("XDG_STATE_HOME", state.path())
        .env("LLM_API_KEY", "sk-test")
        .output()
        .unwrap()
}

//! `openhands-lsp run --tasks`: many tasks over several repositories, N at a time, on the real Docker engine with
//! the agent-server image scripts/test builds, each task answered by its own script of the scripted LLM. A run killed
//! in the middle leaves nothing running and the next one finishes the rest; the predictions' patches apply to the
//! base commits with `git apply`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use openhands_lsp_tests::agent::{RUN_TIMEOUT, wait_until};
use openhands_lsp_tests::docker::{docker, image};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::git;
use serde_json::{Value, json};

/// Three small repositories: `alpha` (a folder, two commits), `beta` (a bare repository reached by a `file://` URL),
/// `gamma` (a folder whose uncommitted change the tasks must not see).
struct Repos {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    alpha_first: String,
    beta_head: String,
}

fn repos() -> Repos {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let alpha = root.join("alpha");
    std::fs::create_dir_all(&alpha).unwrap();
    git(&alpha, &["init", "-q"]);
    std::fs::write(alpha.join("a.txt"), "one\n").unwrap();
    git(&alpha, &["add", "-A"]);
    git(&alpha, &["commit", "-qm", "one"]);
    let alpha_first = git(&alpha, &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::write(alpha.join("a.txt"), "two\n").unwrap();
    git(&alpha, &["commit", "-qam", "two"]);

    let src = root.join("beta-src");
    std::fs::create_dir_all(&src).unwrap();
    git(&src, &["init", "-q"]);
    std::fs::write(src.join("b.txt"), "bee\n").unwrap();
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-qm", "bee"]);
    let beta_head = git(&src, &["rev-parse", "HEAD"]).trim().to_owned();
    git(&root, &["clone", "-q", "--bare", src.to_str().unwrap(), "beta.git"]);

    let gamma = root.join("gamma");
    std::fs::create_dir_all(gamma.join("src")).unwrap();
    git(&gamma, &["init", "-q"]);
    std::fs::write(gamma.join("src/lib.txt"), "gamma\n").unwrap();
    git(&gamma, &["add", "-A"]);
    git(&gamma, &["commit", "-qm", "gamma"]);
    std::fs::write(gamma.join("src/lib.txt"), "the user's unfinished edit\n").unwrap();
    Repos { _tmp: tmp, root, alpha_first, beta_head }
}

/// 12 tasks, 4 per repository. Each writes a file of its own; a01 and a02 edit `a.txt` as it was at alpha's first
/// commit. Tasks after the first four wait at the gate `go` before their first step.
fn tasks(r: &Repos) -> (Vec<Value>, Vec<(String, Vec<Step>)>) {
    let mut lines = Vec::new();
    let mut scripts = Vec::new();
    for (n, id) in
        ["a01", "a02", "a03", "a04", "b01", "b02", "b03", "b04", "g01", "g02", "g03", "g04"].iter().enumerate()
    {
        let marker = format!("[[task {id}]]");
        let mut line = json!({"instance_id": id, "problem_statement": format!("{marker} Leave a note.")});
        match id.as_bytes()[0] {
            b'a' => {
                line["repo"] = json!("alpha");
                if n < 2 {
                    line["base_commit"] = json!(r.alpha_first);
                }
            }
            b'b' => {
                line["repo"] = json!(format!("file://{}", r.root.join("beta.git").display()));
                line["base_commit"] = json!(r.beta_head);
            }
            _ => line["repo"] = json!(r.root.join("gamma").to_string_lossy()),
        }
        let mut first = if n < 2 {
            let args = json!({"command": "str_replace", "path": "{workdir}/a.txt", "old_str": "one",
                              "new_str": format!("one, edited by {id}"), "security_risk": "LOW"});
            Step::tool("file_editor", args)
        } else {
            let args = json!({"command": "create", "path": format!("{{workdir}}/note-{id}.txt"),
                              "file_text": format!("note of {id}\n"), "security_risk": "LOW"});
            Step::tool("file_editor", args)
        };
        if n >= 4 {
            first = first.gated("go");
        }
        scripts.push((marker, vec![first, Step::finish(&format!("{id} done"))]));
        lines.push(line);
    }
    (lines, scripts)
}

fn batch(r: &Repos, llm: &ScriptedLlm, state: &Path) -> Command {
    let settings = json!({
        "llm": {"model": "openai/stub", "baseUrl": llm.container_base_url(), "numRetries": 0},
        "confirmation": "never",
        "docker": {"image": image(), "startupTimeoutSeconds": 180},
    });
    let mut cmd = Command::new(openhands_lsp_tests::lsp_client::server_binary());
    cmd.args(["run", "--tasks", "tasks.jsonl", "--parallel", "4", "--out", "out/predictions.jsonl"])
        .args(["--backend", "docker", "--settings", &settings.to_string()])
        .current_dir(&r.root)
        .env("XDG_STATE_HOME", state)
        .env("LLM_API_KEY", "sk-batch-canary-5150")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn predictions(r: &Repos) -> Vec<Value> {
    let text = std::fs::read_to_string(r.root.join("out/predictions.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn containers_of(pid: u32) -> String {
    docker(&["ps", "-aq", "--filter", &format!("label=dev.openhands.lsp.owner.pid={pid}")])
}

/// The run's exit code and what it printed, kept in `target/test-logs/batch/<name>.txt` to read.
fn output(child: Child, name: &str) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    let text =
        format!("{}\n--- stderr ---\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let logs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-logs/batch");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join(format!("{name}.txt")), &text).unwrap();
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn twelve_tasks_four_at_a_time_survive_a_ctrl_c_and_their_patches_apply_to_the_base_commits() {
    let r = repos();
    let (lines, scripts) = tasks(&r);
    let file: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(r.root.join("tasks.jsonl"), file).unwrap();
    let llm = ScriptedLlm::start_per_task(scripts);
    let state = tempfile::tempdir().unwrap();

    // The first run: four tasks finish, four more start and wait for the model; then Ctrl-C.
    let child = batch(&r, &llm, state.path()).spawn().unwrap();
    let pid = child.id();
    wait_until("four lines and four waiting tasks", RUN_TIMEOUT, || {
        let waiting = ["b01", "b02", "b03", "b04"]
            .iter()
            .filter(|id| {
                llm.requests().iter().any(|q| q.body["messages"].to_string().contains(&format!("[[task {id}]]")))
            })
            .count();
        predictions(&r).len() == 4 && waiting == 4
    });
    assert_eq!(send_signal(pid, "INT"), 0);
    let (code, text) = output(child, "1-interrupted");
    assert_ne!(code, 0, "a run that did not finish every task fails: {text}");
    assert!(text.contains("SIGINT: stopping every task"), "{text}");
    assert!(text.contains("run the same command again to go on"), "{text}");
    assert_eq!(containers_of(pid), "", "no container of the run is left: {text}");
    assert_eq!(predictions(&r).len(), 4, "stopped tasks have no line: {text}");
    assert!(predictions(&r).iter().all(|p| p["status"] == "finished"), "{text}");
    let mirrors = state.path().join("openhands-lsp/batch/repositories");
    for mirror in std::fs::read_dir(&mirrors).unwrap().flatten() {
        let worktrees = git(&mirror.path(), &["worktree", "list"]);
        assert_eq!(worktrees.lines().count(), 1, "no checkout is left in {}: {worktrees}", mirror.path().display());
    }
    assert!(!state.path().join(format!("openhands-lsp/batch/run-{pid}")).exists());

    // The next run finishes the rest.
    llm.open_gate("go");
    let child = batch(&r, &llm, state.path()).spawn().unwrap();
    let pid = child.id();
    let (code, text) = output(child, "2-the-rest");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("8 of 12 tasks to run, 4 at a time"), "{text}");
    assert!(text.contains("12 of 12 instances finished"), "{text}");
    assert_eq!(containers_of(pid), "", "{text}");
    let all = predictions(&r);
    assert_eq!(all.len(), 12, "{text}");
    let by_id: HashMap<&str, &Value> = all.iter().map(|p| (p["instance_id"].as_str().unwrap(), p)).collect();
    assert_eq!(by_id.len(), 12);
    for p in &all {
        assert_eq!(p["status"], "finished", "{p}");
        assert_eq!(p["model_name_or_path"], "openai/stub");
        assert!(p["prompt_tokens"].as_u64().unwrap() > 0 && p["wall_seconds"].as_f64().unwrap() > 0.0, "{p}");
    }
    assert!(!text.contains("sk-batch-canary-5150"), "the key is never shown");

    // Each patch applies to its base commit, and holds only the task's own change.
    for (id, p) in &by_id {
        let patch = p["model_patch"].as_str().unwrap();
        assert!(patch.starts_with("diff --git "), "{id}: {p}\n{text}");
        let (source, base) = match id.as_bytes()[0] {
            b'a' if *id == "a01" || *id == "a02" => (r.root.join("alpha"), r.alpha_first.clone()),
            b'a' => (r.root.join("alpha"), "HEAD".to_owned()),
            b'b' => (r.root.join("beta.git"), r.beta_head.clone()),
            _ => (r.root.join("gamma"), "HEAD".to_owned()),
        };
        let check = tempfile::tempdir().unwrap();
        git(check.path(), &["clone", "-q", source.to_str().unwrap(), "c"]);
        let c = check.path().join("c");
        git(&c, &["checkout", "-q", &base]);
        std::fs::write(check.path().join("p.diff"), patch).unwrap();
        git(&c, &["apply", "--index", check.path().join("p.diff").to_str().unwrap()]);
        let changed = git(&c, &["diff", "--cached", "--name-only"]);
        if *id == "a01" || *id == "a02" {
            assert_eq!(changed.trim(), "a.txt", "{id}: {patch}");
            assert_eq!(std::fs::read_to_string(c.join("a.txt")).unwrap(), format!("one, edited by {id}\n"));
        } else {
            assert_eq!(changed.trim(), format!("note-{id}.txt"), "{id}: {patch}");
        }
    }
    // gamma's tasks started from its commit, not from the user's unfinished edit (which is still there).
    assert_eq!(std::fs::read_to_string(r.root.join("gamma/src/lib.txt")).unwrap(), "the user's unfinished edit\n");

    // A third run has nothing to do.
    let before = std::fs::read_to_string(r.root.join("out/predictions.jsonl")).unwrap();
    let (code, text) = output(batch(&r, &llm, state.path()).spawn().unwrap(), "3-nothing-to-run");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("nothing to run: every instance of tasks.jsonl is in out/predictions.jsonl"), "{text}");
    assert_eq!(std::fs::read_to_string(r.root.join("out/predictions.jsonl")).unwrap(), before);
}

/// `kill -SIG pid`'s exit status.
fn send_signal(pid: u32, signal: &str) -> i32 {
    Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap().code().unwrap_or(-1)
}

const JIRA_TOKEN: &str = "jira_batch_canary_7070";
const LINEAR_KEY: &str = "lin_api_batch_canary_6060";

/// One repository of the user's with a commit.
fn app(root: &Path) -> PathBuf {
    let app = root.join("app");
    std::fs::create_dir_all(&app).unwrap();
    git(&app, &["init", "-q"]);
    std::fs::write(app.join("greeting.txt"), "hi\n").unwrap();
    git(&app, &["add", "-A"]);
    git(&app, &["commit", "-qm", "init"]);
    app
}

/// A batch on the process backend (the agent-server as a local process), with `settings` over the defaults.
fn local_batch(root: &Path, state: &Path, llm: &ScriptedLlm, settings: Value, args: &[&str]) -> (i32, String) {
    let mut s = json!({
        "llm": {"model": "openai/stub", "baseUrl": llm.base_url(), "numRetries": 0},
        "process": {"command": openhands_lsp_tests::agent::agent_server_command(), "startupTimeoutSeconds": 180},
        "confirmation": "never",
    });
    openhands_lsp_tests::lsp_client::merge(&mut s, settings);
    let child = Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["run", "--backend", "process", "--settings", &s.to_string()])
        .args(args)
        .current_dir(root)
        .env("XDG_STATE_HOME", state)
        .env("LLM_API_KEY", "sk-test")
        .env("JIRA_API_TOKEN", JIRA_TOKEN)
        .env("LINEAR_API_KEY", LINEAR_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    output(child, args.iter().find(|a| a.ends_with(".jsonl")).map_or("local", |a| a.trim_end_matches(".jsonl")))
}

fn lines_of(path: &Path) -> HashMap<String, Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|p| (p["instance_id"].as_str().unwrap().to_owned(), p))
        .collect()
}

#[test]
fn jira_and_linear_issues_a_bad_base_a_missing_repository_and_a_spent_budget_each_get_their_line() {
    use openhands_lsp_tests::provider_mock::ProviderMock;
    use openhands_lsp_tests::tracker_answers::{jira_issue, linear_issue};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    app(&root);
    let jira = ProviderMock::jira_cloud();
    jira_issue(&jira, false);
    let linear = ProviderMock::linear();
    linear_issue(&linear);
    let write = |key: &str| json!({"command": "create", "path": format!("{{workdir}}/fixed-{key}.txt"), "file_text": "fixed\n", "security_risk": "LOW"});
    let llm = ScriptedLlm::start_per_task(vec![
        ("PROJ-123".into(), vec![Step::tool("file_editor", write("PROJ-123")), Step::finish("fixed PROJ-123")]),
        ("ENG-42".into(), vec![Step::tool("file_editor", write("ENG-42")), Step::finish("fixed ENG-42")]),
        ("[[task big]]".into(), (0..6).map(|_| Step::terminal("true")).collect()),
    ]);
    let tasks = [
        json!({"instance_id": "jira", "repo": "app", "issue": "PROJ-123"}),
        json!({"instance_id": "linear", "repo": "app", "issue": "ENG-42"}),
        json!({"instance_id": "bad-base", "repo": "app", "base_commit": "no-such-commit", "problem_statement": "x"}),
        json!({"instance_id": "gone", "repo": "file:///nowhere/gone.git", "problem_statement": "x"}),
        json!({"instance_id": "big", "repo": "app", "problem_statement": "[[task big]] Run many commands."}),
    ];
    std::fs::write(root.join("tasks.jsonl"), tasks.iter().map(|t| format!("{t}\n")).collect::<String>()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let settings = json!({
        "jira": {"url": jira.url(), "email": "ada@example.com"},
        "linear": {"apiUrl": format!("{}/graphql", linear.url())},
        "maxTokensPerTask": 40,
    });
    let (code, text) = local_batch(
        &root,
        state.path(),
        &llm,
        settings,
        &["--tasks", "tasks.jsonl", "--parallel", "3", "--out", "p.jsonl"],
    );
    assert_eq!(code, 1, "not every task finished: {text}");
    let stderr = text.split("--- stderr ---").nth(1).unwrap_or_default();
    assert!(!stderr.contains(" DEBUG ") && !stderr.contains(" INFO "), "a terminal run logs warnings only: {stderr}");
    let lines = lines_of(&root.join("p.jsonl"));
    assert_eq!(lines.len(), 5, "a failing task never stops the others: {text}");
    for (id, key) in [("jira", "PROJ-123"), ("linear", "ENG-42")] {
        let p = &lines[id];
        assert_eq!(p["status"], "finished", "{p}\n{text}");
        let patch = p["model_patch"].as_str().unwrap();
        assert!(patch.contains(&format!("+++ b/fixed-{key}.txt")), "{id}: {patch}");
    }
    // The issues were read from the trackers, as fixIssue reads them.
    let asked = |r: &[openhands_lsp_tests::provider_mock::Recorded], what: &str| {
        r.iter().any(|q| q.path.contains(what) || q.body.to_string().contains(what))
    };
    assert!(asked(&jira.recorded(), "/rest/api/3/issue/PROJ-123"), "{:?}", jira.recorded());
    assert!(asked(&linear.recorded(), "ENG-42"), "{:?}", linear.recorded());
    let bad = &lines["bad-base"];
    assert_eq!(bad["status"], "error");
    assert!(bad["error"].as_str().unwrap().starts_with("base commit no-such-commit: "), "{bad}");
    let gone = &lines["gone"];
    assert_eq!(gone["status"], "error");
    assert!(gone["error"].as_str().unwrap().starts_with("cannot fetch file:///nowhere/gone.git: "), "{gone}");
    let big = &lines["big"];
    assert_eq!(big["status"], "budget", "past maxTokensPerTask the task stops: {big}\n{text}");
    assert!(big["prompt_tokens"].as_u64().unwrap() + big["completion_tokens"].as_u64().unwrap() > 40, "{big}");
    assert!(text.contains("big") && text.contains("stopping: the task has spent"), "{text}");
    // The tokens are in no output, line or state file.
    let mut everything = text.clone() + &std::fs::read_to_string(root.join("p.jsonl")).unwrap();
    for f in openhands_lsp_tests::repo::files_under(state.path()) {
        everything.push_str(&String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()));
    }
    for secret in [JIRA_TOKEN, LINEAR_KEY] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }

    // --retry-failed runs the three that did not finish again, and only them.
    let (_, text) = local_batch(
        &root,
        state.path(),
        &llm,
        json!({"maxTokensPerTask": 40}),
        &["--tasks", "tasks.jsonl", "--out", "p.jsonl", "--retry-failed"],
    );
    assert!(text.contains("3 of 5 tasks to run, 1 at a time"), "{text}");
    let again = std::fs::read_to_string(root.join("p.jsonl")).unwrap();
    assert_eq!(again.lines().count(), 5, "one line per instance, the new ones in place of the old: {again}");

    // The run's own budget: once spent, the running tasks stop and nothing else starts; none of them has a line.
    let priced = [
        json!({"instance_id": "p1", "repo": "app", "problem_statement": "[[task big]] one"}),
        json!({"instance_id": "p2", "repo": "app", "problem_statement": "[[task big]] two"}),
        json!({"instance_id": "p3", "repo": "app", "problem_statement": "[[task big]] three"}),
        json!({"instance_id": "p4", "repo": "app", "problem_statement": "[[task big]] four"}),
    ];
    std::fs::write(root.join("priced.jsonl"), priced.iter().map(|t| format!("{t}\n")).collect::<String>()).unwrap();
    let (code, text) = local_batch(
        &root,
        state.path(),
        &llm,
        json!({"llm": {"model": "openai/gpt-4o"}}),
        &["--tasks", "priced.jsonl", "--parallel", "2", "--out", "priced-out.jsonl", "--budget", "0.0002"],
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("the run's budget of $0.0002 is spent"), "{text}");
    assert!(!text.contains("p4  started"), "no task starts once the budget is spent: {text}");
    assert!(lines_of(&root.join("priced-out.jsonl")).is_empty(), "{text}");
}

#[test]
fn the_same_batch_runs_on_the_cloud_stand_in_and_the_patches_come_back() {
    // The user's clone of github.com/octo/hello, with a second commit: the first is no branch's tip.
    let fx = openhands_lsp_tests::cloud_mock::OctoHello::new();
    let (root, ws, bare) = (fx.root.clone(), fx.ws.clone(), fx.bare.clone());
    let older = git(&ws, &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::write(ws.join("greeting.txt"), "hello again\n").unwrap();
    git(&ws, &["commit", "-qam", "two"]);
    git(&ws, &["push", "-q", bare.to_str().unwrap(), "main"]);
    git(&ws, &["update-ref", "refs/remotes/origin/main", "HEAD"]);

    let mut scripts = Vec::new();
    let mut lines = String::new();
    for id in ["c1", "c2", "c3"] {
        let marker = format!("[[task {id}]]");
        let args = json!({"command": "create", "path": format!("{{workdir}}/note-{id}.txt"), "file_text": format!("{id}\n"),
                          "security_risk": "LOW"});
        scripts.push((marker.clone(), vec![Step::tool("file_editor", args), Step::finish("done")]));
        lines.push_str(&format!(
            "{}\n",
            json!({"instance_id": id, "repo": "hello", "problem_statement": format!("{marker} Note.")})
        ));
    }
    lines.push_str(&format!(
        "{}\n",
        json!({"instance_id": "old", "repo": "hello", "base_commit": older, "problem_statement": "[[task old]] x"})
    ));
    std::fs::write(root.join("tasks.jsonl"), lines).unwrap();
    let llm = ScriptedLlm::start_per_task(scripts);
    let cloud = fx.cloud("oh-cloud-batch-canary-3131", llm.base_url());
    let settings = json!({
        "llm": {"model": "openai/stub", "numRetries": 0},
        "cloud": {"url": cloud.url(), "startupTimeoutSeconds": 300},
    });
    let state = tempfile::tempdir().unwrap();
    let child = Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["run", "--tasks", "tasks.jsonl", "--parallel", "3", "--out", "out.jsonl", "--backend", "cloud"])
        .args(["--settings", &settings.to_string()])
        .current_dir(&root)
        .env("XDG_STATE_HOME", state.path())
        .env("OPENHANDS_API_KEY", "oh-cloud-batch-canary-3131")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, text) = output(child, "cloud");
    assert_eq!(code, 1, "one task could not run: {text}");
    let lines = lines_of(&root.join("out.jsonl"));
    assert_eq!(lines.len(), 4, "{text}");
    for id in ["c1", "c2", "c3"] {
        let p = &lines[id];
        assert_eq!(p["status"], "finished", "{p}\n{text}");
        let patch = p["model_patch"].as_str().unwrap();
        assert!(patch.contains(&format!("+++ b/note-{id}.txt")) && patch.contains(&format!("+{id}")), "{id}: {patch}");
        // It applies to the branch the cloud started from.
        let check = tempfile::tempdir().unwrap();
        git(check.path(), &["clone", "-q", bare.to_str().unwrap(), "c"]);
        std::fs::write(check.path().join("p.diff"), patch).unwrap();
        git(&check.path().join("c"), &["apply", "--check", check.path().join("p.diff").to_str().unwrap()]);
    }
    let old = &lines["old"];
    assert_eq!(old["status"], "error");
    assert!(old["error"].as_str().unwrap().contains("OpenHands Cloud starts from a branch"), "{old}");
    // Three conversations were started on the repository's branch, through the API the app server describes.
    let starts: Vec<Value> = cloud
        .recorded()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/app-conversations")
        .map(|r| r.body)
        .collect();
    assert_eq!(starts.len(), 3, "{starts:?}");
    for s in &starts {
        assert_eq!(s["selected_repository"], "octo/hello", "{s}");
        assert_eq!(s["selected_branch"], "main", "{s}");
    }
    assert!(!text.contains("oh-cloud-batch-canary-3131"));
}

#[test]
fn the_open_issues_with_a_label_become_a_batch_fixed_as_fix_issue_fixes_them() {
    use openhands_lsp_tests::git_http::GitHttpServer;
    use openhands_lsp_tests::provider_mock::{Canned, ProviderMock, fixture_json};
    const TOKEN: &str = "ghp_batch_query_canary_77";
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (_git_server, _bare, ws) = GitHttpServer::with_octo_hello(&root, TOKEN, &[("greeting.txt", "hi\n")]);
    let github = ProviderMock::github();
    let twelve = fixture_json("github/issue_12.json");
    let mut thirteen = twelve.clone();
    thirteen["number"] = json!(13);
    thirteen["title"] = json!("Farewell is missing");
    thirteen["html_url"] = json!("https://github.com/octo/hello/issues/13");
    thirteen["body"] = json!("Add a farewell.");
    let mut pull = twelve.clone();
    pull["number"] = json!(14);
    pull["html_url"] = json!("https://github.com/octo/hello/pull/14");
    pull["pull_request"] = json!({"url": "https://api.github.com/repos/octo/hello/pulls/14", "html_url": "https://github.com/octo/hello/pull/14", "diff_url": null, "patch_url": null});
    github.on("GET", "/repos/octo/hello/issues", vec![Canned::json(json!([twelve, thirteen, pull]))]);
    github.on_fixture("GET", "/repos/octo/hello/issues/12", "github/issue_12.json");
    github.on("GET", "/repos/octo/hello/issues/13", vec![Canned::json(thirteen.clone())]);
    for n in [12, 13] {
        github.on_fixture("GET", &format!("/repos/octo/hello/issues/{n}/comments"), "github/issue_12_comments.json");
    }
    let write = |name: &str| json!({"command": "create", "path": format!("{{workdir}}/{name}"), "file_text": "done\n", "security_risk": "LOW"});
    let llm = ScriptedLlm::start_per_task(vec![
        ("Greeting is not polite".into(), vec![Step::tool("file_editor", write("polite.txt")), Step::finish("ok")]),
        ("Farewell is missing".into(), vec![Step::tool("file_editor", write("farewell.txt")), Step::finish("ok")]),
    ]);
    let settings = json!({
        "llm": {"model": "openai/stub", "baseUrl": llm.base_url(), "numRetries": 0},
        "process": {"command": openhands_lsp_tests::agent::agent_server_command(), "startupTimeoutSeconds": 180},
        "confirmation": "never",
        "github": {"host": "127.0.0.1", "apiUrl": github.url()},
    });
    let state = tempfile::tempdir().unwrap();
    let query = "github:octo/hello?label=bug";
    let run = || {
        let child = Command::new(openhands_lsp_tests::lsp_client::server_binary())
            .args(["run", "--tasks", query, "--parallel", "2", "--out", "../issues.jsonl", "--backend", "process"])
            .args(["--settings", &settings.to_string()])
            .current_dir(&ws)
            .env("XDG_STATE_HOME", state.path())
            .env("LLM_API_KEY", "sk-test")
            .env("GITHUB_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        output(child, "query")
    };
    let (code, text) = run();
    assert_eq!(code, 0, "{text}");
    let lines = lines_of(&root.join("issues.jsonl"));
    assert_eq!(lines.len(), 2, "two issues, the pull request left out: {text}");
    for (id, file) in [("octo__hello-12", "polite.txt"), ("octo__hello-13", "farewell.txt")] {
        let p = &lines[id];
        assert_eq!(p["status"], "finished", "{p}\n{text}");
        assert!(p["model_patch"].as_str().unwrap().contains(&format!("+++ b/{file}")), "{p}");
    }
    // The list asked for the label, with the token; the issues were read as Fix Issue reads them.
    let listed = github.requests_to("GET", "/repos/octo/hello/issues?");
    assert!(listed.iter().any(|r| r.path.contains("labels=bug") && r.path.contains("state=open")), "{listed:?}");
    assert!(listed.iter().all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}"))), "{listed:?}");
    assert!(!github.requests_to("GET", "/repos/octo/hello/issues/13").is_empty());
    // The instruction the agent got is the issue's.
    let asked = llm.requests().iter().map(|r| r.body["messages"].to_string()).collect::<Vec<_>>().join("\n");
    assert!(asked.contains("Add a farewell."), "the issue's text is the task");
    assert!(!text.contains(TOKEN));

    // Again: nothing to do.
    let (code, text) = run();
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("nothing to run: every instance of github:octo/hello?label=bug is in ../issues.jsonl"),
        "{text}"
    );
}

/// The processes whose working folder, command line or environment names `path`.
fn processes_naming(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let dir = entry.path();
        if !entry.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let cwd = std::fs::read_link(dir.join("cwd")).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let cmdline =
            String::from_utf8_lossy(&std::fs::read(dir.join("cmdline")).unwrap_or_default()).replace('\0', " ");
        let environ = String::from_utf8_lossy(&std::fs::read(dir.join("environ")).unwrap_or_default()).into_owned();
        if cwd.contains(&needle) || cmdline.contains(&needle) || environ.contains(&needle) {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn sigterm_stops_a_local_batch_and_leaves_no_agent_server_or_terminal_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    app(&root);
    let script = |id: &str| {
        (
            format!("[[task {id}]]"),
            vec![Step::terminal("sleep 1; echo in the agent's terminal").gated("never"), Step::finish("x")],
        )
    };
    let llm = ScriptedLlm::start_per_task(vec![script("s1"), script("s2")]);
    let tasks =
        ["s1", "s2"].map(|id| json!({"instance_id": id, "repo": "app", "problem_statement": format!("[[task {id}]]")}));
    std::fs::write(root.join("tasks.jsonl"), tasks.iter().map(|t| format!("{t}\n")).collect::<String>()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let state_path = state.path().canonicalize().unwrap();
    let s = json!({
        "llm": {"model": "openai/stub", "baseUrl": llm.base_url(), "numRetries": 0},
        "process": {"command": openhands_lsp_tests::agent::agent_server_command(), "startupTimeoutSeconds": 180},
        "confirmation": "never",
    });
    let child = Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["run", "--tasks", "tasks.jsonl", "--parallel", "2", "--out", "p.jsonl", "--backend", "process"])
        .args(["--settings", &s.to_string()])
        .current_dir(&root)
        .env("XDG_STATE_HOME", &state_path)
        .env("LLM_API_KEY", "sk-test")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_until("both tasks waiting for the model", RUN_TIMEOUT, || {
        let asked = llm.requests().iter().map(|r| r.body["messages"].to_string()).collect::<Vec<_>>().join("\n");
        asked.contains("[[task s1]]") && asked.contains("[[task s2]]")
    });
    assert!(!processes_naming(&state_path).is_empty(), "the agent-servers run in the state folder's copies");
    assert_eq!(send_signal(pid, "TERM"), 0);
    let (code, text) = output(child, "sigterm");
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("SIGTERM: stopping every task"), "{text}");
    wait_until("no process of the run left", Duration::from_secs(10), || processes_naming(&state_path).is_empty());
    assert!(std::fs::read_to_string(root.join("p.jsonl")).unwrap_or_default().is_empty(), "{text}");
}

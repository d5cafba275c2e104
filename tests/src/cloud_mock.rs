//! A stand-in for OpenHands Cloud's app server, which cannot run here as a whole. It implements the V1 routes the
//! cloud backend uses, checks every request and every answer against the app server's OpenAPI description
//! (`tests/fixtures/openhands-app-server-1.11.0.json`), and provisions each conversation as the cloud does: a REAL
//! agent-server process per sandbox, the repository cloned into `<sandbox>/workspace/project/<repo>`, the
//! conversation created on that agent-server with the scripted LLM and the request's secrets, and the initial
//! message sent. Everything after provisioning is the real agent-server.
//!
//! Tests can make it answer 429 (`rate_limit_next`), end the next start in ERROR (`fail_next_start`) and make a
//! sandbox disappear (`kill_sandbox`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::openapi::{OpenApi, query_values};
use crate::process::dates::rfc3339_now;
use crate::process::{dying_with_parent, free_port, kill_group};

/// What the stand-in needs to provision conversations.
pub struct CloudConfig {
    pub api_key: String,
    /// The agent-server command (the real one from PyPI).
    pub agent_server: String,
    /// The scripted LLM the cloud's agents use.
    pub llm_base_url: String,
    /// `owner/repo` → a git URL or path the sandbox clones it from.
    pub repositories: HashMap<String, String>,
    /// Where sandboxes keep their files.
    pub root: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

struct Sandbox {
    status: &'static str,
    url: String,
    session_key: String,
    pid: Option<u32>,
    created_at: String,
}

struct Conversation {
    json: Value,
}

struct Shared {
    config: CloudConfig,
    api: OpenApi,
    recorded: Mutex<Vec<Recorded>>,
    violations: Mutex<Vec<String>>,
    rate_limit_next: AtomicU32,
    fail_next_start: Mutex<Option<String>>,
    tasks: Mutex<HashMap<String, Value>>,
    conversations: Mutex<HashMap<String, Conversation>>,
    sandboxes: Mutex<HashMap<String, Sandbox>>,
    stored_provider_tokens: Mutex<Vec<Value>>,
}

pub struct CloudMock {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Runtime,
}

impl CloudMock {
    pub fn start(config: CloudConfig) -> CloudMock {
        let shared = Arc::new(Shared {
            config,
            api: OpenApi::fixture("openhands-app-server-1.11.0.json"),
            recorded: Mutex::default(),
            violations: Mutex::default(),
            rate_limit_next: AtomicU32::new(0),
            fail_next_start: Mutex::default(),
            tasks: Mutex::default(),
            conversations: Mutex::default(),
            sandboxes: Mutex::default(),
            stored_provider_tokens: Mutex::default(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (runtime, addr) = crate::serve_router(app, 2);
        CloudMock { addr, shared, runtime }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// Requests or answers the OpenAPI description does not allow.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }

    /// The next `n` requests are answered 429 with `Retry-After: 1`.
    pub fn rate_limit_next(&self, n: u32) {
        self.shared.rate_limit_next.store(n, Ordering::SeqCst);
    }

    /// The next conversation's start ends in ERROR with this detail (after waiting for a sandbox).
    pub fn fail_next_start(&self, detail: &str) {
        *self.shared.fail_next_start.lock().unwrap() = Some(detail.to_owned());
    }

    pub fn stored_provider_tokens(&self) -> Vec<Value> {
        self.shared.stored_provider_tokens.lock().unwrap().clone()
    }

    /// The status of the sandbox running cloud conversation `conversation_id`.
    pub fn sandbox_status(&self, conversation_id: &str) -> String {
        let sandbox_id = self.sandbox_of(conversation_id);
        self.shared.sandboxes.lock().unwrap()[&sandbox_id].status.to_owned()
    }

    fn sandbox_of(&self, conversation_id: &str) -> String {
        let conversations = self.shared.conversations.lock().unwrap();
        conversations[conversation_id].json["sandbox_id"].as_str().unwrap().to_owned()
    }

    /// Waits for a request matching `pred`.
    pub fn wait_request(&self, what: &str, timeout: Duration, pred: impl Fn(&Recorded) -> bool) -> Recorded {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(r) = self.recorded().into_iter().find(|r| pred(r)) {
                return r;
            }
            assert!(std::time::Instant::now() < deadline, "no request: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The agent opened these pull requests (the app server learns it from the agent's git provider calls).
    pub fn set_pull_requests(&self, conversation_id: &str, numbers: &[u64]) {
        let mut conversations = self.shared.conversations.lock().unwrap();
        conversations.get_mut(conversation_id).unwrap().json["pr_number"] = json!(numbers);
    }

    /// The conversation ids the cloud knows.
    pub fn conversation_ids(&self) -> Vec<String> {
        self.shared.conversations.lock().unwrap().keys().cloned().collect()
    }

    /// The sandbox is paused, as the cloud does with an idle one: its agent-server stops until it is resumed.
    pub fn pause_sandbox(&self, conversation_id: &str) {
        let sandbox_id = self.sandbox_of(conversation_id);
        let mut sandboxes = self.shared.sandboxes.lock().unwrap();
        let sandbox = sandboxes.get_mut(&sandbox_id).unwrap();
        if let Some(pid) = sandbox.pid {
            kill_group(pid, libc::SIGSTOP);
        }
        sandbox.status = "PAUSED";
    }

    /// The sandbox's agent-server dies and the sandbox is gone (status MISSING), as when the cloud reclaims it.
    pub fn kill_sandbox(&self, conversation_id: &str) {
        let sandbox_id = self.sandbox_of(conversation_id);
        let mut sandboxes = self.shared.sandboxes.lock().unwrap();
        let sandbox = sandboxes.get_mut(&sandbox_id).unwrap();
        if let Some(pid) = sandbox.pid.take() {
            kill_group(pid, libc::SIGKILL);
        }
        sandbox.status = "MISSING";
    }

    /// Starts a conversation through the API itself, as the web UI would; returns the start task's id.
    pub fn start_via_api(&self, body: Value) -> String {
        let url = format!("{}/api/v1/app-conversations", self.url());
        let key = self.shared.config.api_key.clone();
        self.runtime.block_on(async move {
            let answer: Value = reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .expect("start")
                .json()
                .await
                .expect("start task");
            answer["id"].as_str().expect("task id").to_owned()
        })
    }

    /// Waits until start task `id` is READY; returns the app conversation's id.
    pub fn wait_ready(&self, task: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let t = self.shared.tasks.lock().unwrap().get(task).cloned().expect("task");
            match t["status"].as_str() {
                Some("READY") => return t["app_conversation_id"].as_str().unwrap().to_owned(),
                Some("ERROR") => panic!("the start failed: {t}"),
                _ => {}
            }
            assert!(std::time::Instant::now() < deadline, "start task {task} not READY in time: {t}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for CloudMock {
    fn drop(&mut self) {
        for sandbox in self.shared.sandboxes.lock().unwrap().values_mut() {
            if let Some(pid) = sandbox.pid.take() {
                kill_group(pid, libc::SIGCONT);
                kill_group(pid, libc::SIGKILL);
            }
        }
        // The agents' terminal tool daemonizes tmux servers under each sandbox's TMUX_TMPDIR.
        for entry in std::fs::read_dir(&self.shared.config.root).into_iter().flatten().flatten() {
            openhands_lsp::sandbox::process::sweep_tmux_dir(&entry.path().join("tmux"));
        }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let body: Option<Value> = if body.is_empty() { None } else { serde_json::from_slice(&body).ok() };
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    shared.recorded.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: if query.is_empty() { path.clone() } else { format!("{path}?{query}") },
        authorization: authorization.clone(),
        body: body.clone().unwrap_or(Value::Null),
    });
    if authorization.as_deref() != Some(&format!("Bearer {}", shared.config.api_key)) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"detail": "Unauthorized"}))).into_response();
    }
    if shared.rate_limit_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"detail": "Too Many Requests"})),
        )
            .into_response();
    }
    let problems = shared.api.check_request(method.as_str(), &path, &query, body.as_ref());
    if !problems.is_empty() {
        shared.violations.lock().unwrap().extend(problems.clone());
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"detail": problems}))).into_response();
    }
    let (status, answer) = route(&shared, method.as_str(), &path, &query, body.unwrap_or(Value::Null)).await;
    if status == StatusCode::OK {
        let problems = shared.api.check_response(method.as_str(), &path, 200, &answer);
        shared.violations.lock().unwrap().extend(problems);
    }
    (status, axum::Json(answer)).into_response()
}

async fn route(shared: &Arc<Shared>, method: &str, path: &str, query: &str, body: Value) -> (StatusCode, Value) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["api", "v1", "app-conversations"]) => (StatusCode::OK, start(shared, body)),
        ("GET", ["api", "v1", "app-conversations", "start-tasks"]) => {
            let tasks = shared.tasks.lock().unwrap();
            let list: Vec<Value> =
                query_values(query, "ids").iter().map(|id| tasks.get(id).cloned().unwrap_or(Value::Null)).collect();
            (StatusCode::OK, Value::Array(list))
        }
        ("GET", ["api", "v1", "app-conversations"]) => {
            let wanted = query_values(query, "ids");
            let mut list = Vec::new();
            for id in wanted {
                list.push(conversation_json(shared, &id).await.unwrap_or(Value::Null));
            }
            (StatusCode::OK, Value::Array(list))
        }
        ("GET", ["api", "v1", "app-conversations", "search"]) => {
            let ids: Vec<String> = shared.conversations.lock().unwrap().keys().cloned().collect();
            let mut items = Vec::new();
            for id in ids {
                if let Some(c) = conversation_json(shared, &id).await {
                    items.push(c);
                }
            }
            items.sort_by(|a, b| b["created_at"].as_str().cmp(&a["created_at"].as_str()));
            (StatusCode::OK, json!({"items": items, "next_page_id": null}))
        }
        ("GET", ["api", "v1", "sandboxes"]) => {
            let sandboxes = shared.sandboxes.lock().unwrap();
            let list: Vec<Value> = query_values(query, "id")
                .iter()
                .map(|id| sandboxes.get(id).map(|s| sandbox_json(id, s)).unwrap_or(Value::Null))
                .collect();
            (StatusCode::OK, Value::Array(list))
        }
        ("POST", ["api", "v1", "sandboxes", id, verb @ ("pause" | "resume")]) => {
            let mut sandboxes = shared.sandboxes.lock().unwrap();
            let Some(sandbox) = sandboxes.get_mut(*id) else {
                return (StatusCode::NOT_FOUND, json!({"detail": "Item not found"}));
            };
            if let Some(pid) = sandbox.pid {
                kill_group(pid, if *verb == "pause" { libc::SIGSTOP } else { libc::SIGCONT });
                sandbox.status = if *verb == "pause" { "PAUSED" } else { "RUNNING" };
            }
            (StatusCode::OK, json!({"success": true}))
        }
        ("POST", ["api", "v1", "secrets", "git-providers"]) => {
            shared.stored_provider_tokens.lock().unwrap().push(body);
            (StatusCode::OK, json!({"message": "Git providers stored"}))
        }
        _ => (StatusCode::NOT_FOUND, json!({"detail": format!("the stand-in does not implement {method} {path}")})),
    }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `POST /api/v1/app-conversations`: a start task, provisioned in the background.
fn start(shared: &Arc<Shared>, request: Value) -> Value {
    let id = uuid();
    let mut echoed = request.clone();
    if let Some(map) = echoed.as_object_mut() {
        map.remove("secrets"); // write-only
    }
    let task = json!({
        "id": id,
        "created_by_user_id": "mock-user",
        "status": "WORKING",
        "detail": null,
        "app_conversation_id": null,
        "agent_server_url": null,
        "sandbox_id": null,
        "request": echoed,
        "created_at": rfc3339_now(),
        "updated_at": rfc3339_now(),
    });
    shared.tasks.lock().unwrap().insert(id.clone(), task.clone());
    let shared = shared.clone();
    tokio::spawn(async move {
        if let Err(detail) = provision(&shared, &id, request).await {
            set_task(&shared, &id, |t| {
                t["status"] = json!("ERROR");
                t["detail"] = json!(detail);
            });
        }
    });
    task
}

fn set_task(shared: &Shared, id: &str, change: impl FnOnce(&mut Value)) {
    if let Some(t) = shared.tasks.lock().unwrap().get_mut(id) {
        change(t);
        t["updated_at"] = json!(rfc3339_now());
    }
}

fn phase(shared: &Shared, id: &str, status: &str) {
    set_task(shared, id, |t| t["status"] = json!(status));
}

async fn provision(shared: &Arc<Shared>, task_id: &str, request: Value) -> Result<(), String> {
    phase(shared, task_id, "WAITING_FOR_SANDBOX");
    // Long enough for a poller to see each phase.
    tokio::time::sleep(Duration::from_millis(700)).await;
    if let Some(detail) = shared.fail_next_start.lock().unwrap().take() {
        return Err(detail);
    }
    let sandbox_id = uuid().replace('-', "")[..12].to_owned();
    let dir = shared.config.root.join(&sandbox_id);
    let project = dir.join("workspace/project");
    std::fs::create_dir_all(&project).map_err(|e| e.to_string())?;
    let (url, key, pid) = boot_agent_server(shared, &dir).await?;
    shared.sandboxes.lock().unwrap().insert(
        sandbox_id.clone(),
        Sandbox {
            status: "RUNNING",
            url: url.clone(),
            session_key: key.clone(),
            pid: Some(pid),
            created_at: rfc3339_now(),
        },
    );

    phase(shared, task_id, "PREPARING_REPOSITORY");
    let mut working_dir = project.clone();
    if let Some(repo) = request["selected_repository"].as_str() {
        let source = shared.config.repositories.get(repo).ok_or_else(|| format!("repository {repo} not found"))?;
        let name = repo.rsplit('/').next().unwrap_or(repo);
        working_dir = project.join(name);
        let mut clone = tokio::process::Command::new("git");
        clone.arg("clone").arg("-q").arg(source).arg(&working_dir);
        if let Some(branch) = request["selected_branch"].as_str() {
            clone.args(["-b", branch]);
        }
        let status = clone.status().await.map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("git clone {repo} failed"));
        }
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    for status in ["RUNNING_SETUP_SCRIPT", "SETTING_UP_GIT_HOOKS", "SETTING_UP_SKILLS"] {
        phase(shared, task_id, status);
    }
    phase(shared, task_id, "STARTING_CONVERSATION");
    // Held as the others are: creating the conversation can take less than a poll.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let conversation_id = uuid();
    let secrets: serde_json::Map<String, Value> = request["secrets"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), json!({"kind": "StaticSecret", "value": v}))).collect())
        .unwrap_or_default();
    let create = json!({
        "conversation_id": conversation_id,
        "workspace": {"kind": "LocalWorkspace", "working_dir": working_dir.to_string_lossy()},
        "agent": {
            "kind": "Agent",
            "llm": {"model": "openai/stub", "base_url": shared.config.llm_base_url, "api_key": "sk-cloud-account-llm", "usage_id": "agent", "num_retries": 0},
            "tools": [{"name": "terminal"}, {"name": "file_editor"}, {"name": "task_tracker"}],
        },
        "secrets": secrets,
        "confirmation_policy": {"kind": "NeverConfirm"},
        "autotitle": false,
    });
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{url}/api/conversations"))
        .header("X-Session-API-Key", &key)
        .json(&create)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !created.status().is_success() {
        return Err(format!("the agent-server refused the conversation: {}", created.text().await.unwrap_or_default()));
    }
    if let Some(message) = request.get("initial_message").filter(|m| !m.is_null()) {
        let sent = http
            .post(format!("{url}/api/conversations/{conversation_id}/events"))
            .header("X-Session-API-Key", &key)
            .json(message)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !sent.status().is_success() {
            return Err(format!(
                "the agent-server refused the first message: {}",
                sent.text().await.unwrap_or_default()
            ));
        }
    }
    let conversation = json!({
        "id": conversation_id,
        "created_by_user_id": "mock-user",
        "sandbox_id": sandbox_id,
        "acp_server": null,
        "launched_agent_profile": null,
        "title": request["title"],
        "selected_repository": request["selected_repository"],
        "selected_branch": request["selected_branch"],
        "git_provider": request["git_provider"],
        "pr_number": [],
        "created_at": rfc3339_now(),
        "updated_at": rfc3339_now(),
    });
    shared.conversations.lock().unwrap().insert(conversation_id.clone(), Conversation { json: conversation });
    set_task(shared, task_id, |t| {
        t["status"] = json!("READY");
        t["app_conversation_id"] = json!(conversation_id);
        t["agent_server_url"] = json!(url);
        t["sandbox_id"] = json!(sandbox_id);
    });
    Ok(())
}

async fn boot_agent_server(shared: &Shared, dir: &std::path::Path) -> Result<(String, String, u32), String> {
    let port = free_port().map_err(|e| e.to_string())?;
    let key = uuid().replace('-', "");
    let mut cmd = tokio::process::Command::new(&shared.config.agent_server);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .current_dir(dir)
        .env("SESSION_API_KEY", &key)
        .env("OH_SECRET_KEY", uuid())
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("TMUX_TMPDIR", dir.join("tmux"))
        .env_remove("LLM_API_KEY")
        .env_remove("OPENHANDS_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("agent-server.log")).map_err(|e| e.to_string())?);
    std::fs::create_dir_all(dir.join("tmux")).map_err(|e| e.to_string())?;
    dying_with_parent(cmd.as_std_mut(), libc::SIGKILL, true);
    let child = cmd.spawn().map_err(|e| format!("cannot start the agent-server: {e}"))?;
    let pid = child.id().ok_or("no pid")?;
    // The child is reaped by its process group's kill; forget the handle.
    std::mem::forget(child);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        if let Ok(r) = http.get(format!("{url}/health")).timeout(Duration::from_secs(2)).send().await
            && r.status().is_success()
        {
            return Ok((url, key, pid));
        }
        if tokio::time::Instant::now() > deadline {
            kill_group(pid, libc::SIGKILL);
            return Err("the sandbox's agent-server did not become healthy".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An `AppConversation`, with its live statuses.
async fn conversation_json(shared: &Shared, id: &str) -> Option<Value> {
    let mut json = shared.conversations.lock().unwrap().get(id)?.json.clone();
    let sandbox_id = json["sandbox_id"].as_str().unwrap_or_default().to_owned();
    let (status, url, key) = match shared.sandboxes.lock().unwrap().get(&sandbox_id) {
        Some(s) => (s.status, s.url.clone(), s.session_key.clone()),
        None => ("MISSING", String::new(), String::new()),
    };
    json["sandbox_status"] = json!(status);
    if status == "RUNNING" {
        json["conversation_url"] = json!(format!("{url}/api/conversations/{id}"));
        json["session_api_key"] = json!(key);
        let info: Option<Value> = async {
            reqwest::Client::new()
                .get(format!("{url}/api/conversations/{id}"))
                .header("X-Session-API-Key", &key)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()
        }
        .await;
        json["execution_status"] = info.and_then(|i| i.get("execution_status").cloned()).unwrap_or(Value::Null);
    }
    Some(json)
}

fn sandbox_json(id: &str, s: &Sandbox) -> Value {
    let running = s.status == "RUNNING";
    json!({
        "id": id,
        "created_by_user_id": "mock-user",
        "sandbox_spec_id": "mock-agent-server-1.58.0",
        "status": s.status,
        "session_api_key": if running { json!(s.session_key) } else { Value::Null },
        "exposed_urls": if running { json!([{"name": "AGENT_SERVER", "url": s.url, "port": 8000}]) } else { Value::Null },
        "created_at": s.created_at,
    })
}

/// A user's clone of github.com/octo/hello (`ws`, its `origin` that URL), in step with it, and the bare repository
/// standing in for it that the stand-in's sandboxes clone (`bare`), in a temporary folder (`root`).
pub struct OctoHello {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub ws: PathBuf,
    pub bare: PathBuf,
}

impl OctoHello {
    #[allow(clippy::new_without_default)]
    pub fn new() -> OctoHello {
        use crate::repo::git;
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let root = tmp.path().canonicalize().expect("its path");
        let bare = root.join("srv/octo/hello.git");
        std::fs::create_dir_all(&bare).expect("the bare repository's folder");
        git(&bare, &["init", "-q", "--bare"]);
        let ws = root.join("hello");
        std::fs::create_dir_all(&ws).expect("the clone's folder");
        git(&ws, &["init", "-q"]);
        std::fs::write(ws.join("greeting.txt"), "hello\n").expect("a file");
        git(&ws, &["add", "-A"]);
        git(&ws, &["commit", "-qm", "init"]);
        git(&ws, &["push", "-q", bare.to_str().expect("utf-8"), "main"]);
        git(&ws, &["remote", "add", "origin", "https://github.com/octo/hello.git"]);
        git(&ws, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
        git(&ws, &["branch", "-q", "--set-upstream-to=origin/main", "main"]);
        OctoHello { _tmp: tmp, root, ws, bare }
    }

    /// The cloud stand-in with `api_key`, its agents using the model at `llm_base_url`, cloning octo/hello from `bare`.
    pub fn cloud(&self, api_key: &str, llm_base_url: String) -> CloudMock {
        let sandboxes = self.root.join("cloud-sandboxes");
        std::fs::create_dir_all(&sandboxes).expect("the sandboxes' folder");
        CloudMock::start(CloudConfig {
            api_key: api_key.into(),
            agent_server: crate::agent::agent_server_command(),
            llm_base_url,
            repositories: HashMap::from([("octo/hello".to_owned(), self.bare.to_string_lossy().into_owned())]),
            root: sandboxes,
        })
    }
}

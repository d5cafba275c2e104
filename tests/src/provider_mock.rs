//! A stand-in for github.com and its peers, which cannot be reached here. Every request is recorded; GitHub
//! requests are first validated by Prism serving GitHub's official OpenAPI description (`@octokit/openapi`, in
//! `tests/github-mock`), so a request GitHub would reject fails the test. A test can queue its own responses for a
//! route (the issue it wants the agent to read, a 401, a rate limit); other routes get Prism's examples. GitLab and
//! Bitbucket routes answer from recorded fixtures (`tests/fixtures/providers/`), with no validator.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Canned {
    pub fn json(body: Value) -> Canned {
        Canned { status: 200, headers: Vec::new(), body }
    }
    pub fn status(status: u16, body: Value) -> Canned {
        Canned { status, headers: Vec::new(), body }
    }
    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Default)]
struct Shared {
    recorded: Mutex<Vec<Recorded>>,
    /// (method, path without query) → responses, used in order; the last one stays.
    canned: Mutex<HashMap<(String, String), VecDeque<Canned>>>,
    /// Requests Prism rejected, with its reasons.
    violations: Mutex<Vec<String>>,
    prism: Option<String>,
}

pub struct ProviderMock {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

impl ProviderMock {
    /// A GitHub stand-in: requests are validated by Prism (started once per test process).
    pub fn github() -> ProviderMock {
        Self::start(Some(prism_url().to_owned()))
    }

    /// A GitLab or Bitbucket stand-in: canned answers only.
    pub fn plain() -> ProviderMock {
        Self::start(None)
    }

    fn start(prism: Option<String>) -> ProviderMock {
        let shared = Arc::new(Shared { prism, ..Default::default() });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (runtime, addr) = crate::serve_router(app, 1);
        ProviderMock { addr, shared, _runtime: runtime }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers `method path` (no query) with these responses in turn (the last one repeats).
    pub fn on(&self, method: &str, path: &str, responses: Vec<Canned>) {
        self.shared.canned.lock().unwrap().insert((method.to_owned(), path.to_owned()), responses.into());
    }

    /// Answers `method path` from `tests/fixtures/providers/<fixture>`.
    pub fn on_fixture(&self, method: &str, path: &str, fixture: &str) {
        self.on(method, path, vec![Canned::json(fixture_json(fixture))]);
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    pub fn requests_to(&self, method: &str, path_prefix: &str) -> Vec<Recorded> {
        self.recorded().into_iter().filter(|r| r.method == method && r.path.starts_with(path_prefix)).collect()
    }

    /// Requests GitHub's OpenAPI description does not allow, as Prism explained them.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }
}

pub fn fixture_json(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/providers").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let json_body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.recorded.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: path_and_query.clone(),
        authorization: authorization.clone(),
        body: json_body,
    });
    let mut from_prism = None;
    // GraphQL is not part of the REST description; its answers are recorded ones.
    if let Some(prism) = shared.prism.as_ref().filter(|_| uri.path() != "/graphql") {
        let client = reqwest::Client::new();
        let mut request =
            client.request(method.clone(), format!("{prism}{}", for_prism(&path_and_query))).body(body.to_vec());
        for name in ["content-type", "accept", "authorization", "x-github-api-version"] {
            if let Some(v) = headers.get(name) {
                request = request.header(name, v.as_bytes());
            }
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let link = response.headers().get("link").and_then(|v| v.to_str().ok()).map(str::to_owned);
                // Prism lists what the request breaks in `sl-violations` (entries about the response are the
                // description's own examples, not ours), and answers unknown routes with its own error.
                let request_violations: Vec<Value> = response
                    .headers()
                    .get("sl-violations")
                    .and_then(|v| serde_json::from_slice::<Vec<Value>>(v.as_bytes()).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|v| v["location"][0] == "request" && v["severity"] == "Error")
                    .collect();
                let text = response.text().await.unwrap_or_default();
                let unrouted = text.contains("stoplight.io/prism/errors");
                if !request_violations.is_empty() || unrouted {
                    let why = if unrouted { text.clone() } else { Value::Array(request_violations).to_string() };
                    shared.violations.lock().unwrap().push(format!("{method} {path_and_query}: {status} {why}"));
                    return (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), text).into_response();
                }
                from_prism = Some((status, link, text));
            }
            Err(e) => {
                shared.violations.lock().unwrap().push(format!("{method} {path_and_query}: Prism unreachable: {e}"));
                return (StatusCode::BAD_GATEWAY, e.to_string()).into_response();
            }
        }
    }
    let canned = {
        let mut canned = shared.canned.lock().unwrap();
        canned
            .get_mut(&(method.to_string(), uri.path().to_owned()))
            .and_then(|queue| if queue.len() > 1 { queue.pop_front() } else { queue.front().cloned() })
    };
    if let Some(c) = canned {
        let mut response = Response::builder().status(c.status).header("content-type", "application/json");
        for (k, v) in &c.headers {
            response = response.header(k.as_str(), v.as_str());
        }
        return response
            .body(Body::from(c.body.to_string()))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    match from_prism {
        Some((status, link, text)) => {
            let mut response = Response::builder().status(status).header("content-type", "application/json");
            if let Some(link) = link {
                response = response.header("link", link);
            }
            response.body(Body::from(text)).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        None => (StatusCode::NOT_FOUND, format!("no canned answer for {method} {path_and_query}")).into_response(),
    }
}

/// GitHub's `/repos/{owner}/{repo}/contents/{path}` takes a `path` with slashes in it, which Prism's router cannot
/// match as one parameter: it gets the path's slashes encoded (the request is otherwise the same).
fn for_prism(path_and_query: &str) -> String {
    let (path, query) = path_and_query.split_once('?').map_or((path_and_query, None), |(p, q)| (p, Some(q)));
    let segments: Vec<&str> = path.split('/').collect();
    let path = if segments.len() > 6 && segments[1] == "repos" && segments[4] == "contents" {
        format!("{}/{}", segments[..5].join("/"), segments[5..].join("%2F"))
    } else {
        path.to_owned()
    };
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    }
}

/// Prism serving GitHub's description, started once per test process on a thread that lives as long as it (the
/// child dies with that thread, so never outlives the tests).
fn prism_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("github-mock");
        let prism = std::env::var("OPENHANDS_TEST_PRISM")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("node_modules/.bin/prism"));
        let spec = root.join("node_modules/@octokit/openapi/generated/api.github.com.deref.json");
        assert!(
            prism.exists() && spec.exists(),
            "Prism or GitHub's OpenAPI description is missing under {}: run scripts/test (it runs npm ci there)",
            root.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut command = Command::new(&prism);
            command
                .args(["mock", "--host", "127.0.0.1", "-p", &port.to_string()])
                .arg(&spec)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            crate::process::dying_with_parent(&mut command, libc::SIGTERM, false);
            let child = command.spawn();
            let _ = tx.send(child.is_ok());
            // This thread must outlive every test: the child's death signal is tied to it.
            if let Ok(mut c) = child {
                let _ = c.wait();
            }
        });
        assert!(rx.recv().unwrap_or(false), "Prism did not start");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "Prism did not listen on {url} within 120 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        url
    })
}

//! A stand-in for github.com and its peers, which cannot be reached here. Every request is recorded; GitHub
//! requests are first validated by Prism serving GitHub's official OpenAPI description (`@octokit/openapi`, in
//! `tests/github-mock`), so a request GitHub would reject fails the test. A test can queue its own responses for a
//! route (the issue it wants the agent to read, a 401, a rate limit); other routes get Prism's examples. GitLab and
//! Bitbucket routes answer from recorded fixtures (`tests/fixtures/providers/`), with no validator. Jira's requests
//! go through Prism serving Atlassian's description, Linear's through Linear's GraphQL schema
//! (`tests/fixtures/trackers/`); a GraphQL answer is scripted per operation name (`on_graphql`).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
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
    /// Jira Data Center: its `/rest/api/2` requests are checked as the same operations of v3's description.
    v2_as_v3: bool,
    /// Linear: every POST is a GraphQL request checked against this schema.
    graphql: Option<Arc<Valid<Schema>>>,
}

pub struct ProviderMock {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

impl ProviderMock {
    /// A GitHub stand-in: requests are validated by Prism (started once per test process).
    pub fn github() -> ProviderMock {
        Self::start(Some(prism_url()))
    }

    /// A GitLab or Bitbucket stand-in: canned answers only.
    pub fn plain() -> ProviderMock {
        Self::start(None)
    }

    /// A Jira Cloud stand-in: requests validated by Prism serving Atlassian's REST v3 description.
    pub fn jira_cloud() -> ProviderMock {
        Self::start(Some(prism_for(&trackers_fixture("jira-cloud-platform.v3.json"))))
    }

    /// A Jira Data Center stand-in: its REST v2 requests validated as the same operations of v3.
    pub fn jira_data_center() -> ProviderMock {
        Self::with(Shared {
            prism: Some(prism_for(&trackers_fixture("jira-cloud-platform.v3.json"))),
            v2_as_v3: true,
            ..Default::default()
        })
    }

    /// A Linear stand-in: each request parsed and validated with Linear's GraphQL schema, its variables coerced.
    pub fn linear() -> ProviderMock {
        Self::with(Shared { graphql: Some(linear_schema()), ..Default::default() })
    }

    fn start(prism: Option<String>) -> ProviderMock {
        Self::with(Shared { prism, ..Default::default() })
    }

    fn with(shared: Shared) -> ProviderMock {
        let shared = Arc::new(shared);
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

    /// The answer scripted last for `method path`.
    pub fn canned(&self, method: &str, path: &str) -> Option<Canned> {
        let canned = self.shared.canned.lock().unwrap();
        canned.get(&(method.to_owned(), path.to_owned())).and_then(|q| q.back().cloned())
    }

    /// Answers the GraphQL operation named `operation` (Linear) with these `data` in turn.
    pub fn on_graphql(&self, operation: &str, responses: Vec<Canned>) {
        self.on("POST", &format!("#{operation}"), responses);
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

    /// The first request to `method path_prefix`, once it came (`None` after `timeout`).
    pub fn wait_for_request(&self, method: &str, path_prefix: &str, timeout: Duration) -> Option<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.requests_to(method, path_prefix).into_iter().next() {
                return Some(found);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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
    let mut route = uri.path().to_owned();
    if let Some(schema) = &shared.graphql {
        match graphql_operation(schema, &serde_json::from_slice(&body).unwrap_or(Value::Null)) {
            Ok(operation) => route = format!("#{operation}"),
            Err(why) => {
                shared.violations.lock().unwrap().push(format!("{method} {path_and_query}: {why}"));
                let errors = serde_json::json!({"errors": [{"message": why, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]});
                return (StatusCode::BAD_REQUEST, errors.to_string()).into_response();
            }
        }
    }
    // GraphQL is not part of the REST description; its answers are recorded ones.
    if let Some(prism) = shared.prism.as_ref().filter(|_| uri.path() != "/graphql") {
        let client = reqwest::Client::new();
        let forwarded = if shared.v2_as_v3 {
            path_and_query.replacen("/rest/api/2/", "/rest/api/3/", 1)
        } else {
            path_and_query.clone()
        };
        let mut request =
            client.request(method.clone(), format!("{prism}{}", for_prism(&forwarded))).body(body.to_vec());
        for name in ["content-type", "accept", "authorization", "x-github-api-version"] {
            match headers.get(name) {
                // v3's description knows Basic and OAuth, not Data Center's Bearer tokens: the header's presence
                // is what is checked.
                Some(_) if name == "authorization" && shared.v2_as_v3 => {
                    request = request.header(name, "Basic ZGF0YS1jZW50ZXI6cGF0");
                }
                Some(v) => request = request.header(name, v.as_bytes()),
                None => {}
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
            .get_mut(&(method.to_string(), route))
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

fn trackers_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/trackers").join(name)
}

/// Linear's schema, parsed once per test process.
fn linear_schema() -> Arc<Valid<Schema>> {
    static SCHEMA: OnceLock<Arc<Valid<Schema>>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let path = trackers_fixture("linear-schema.graphql");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Arc::new(Schema::parse_and_validate(text, "linear-schema.graphql").expect("Linear's schema is valid"))
        })
        .clone()
}

/// The operation's name when the request is one Linear's server would run: the document valid against the schema
/// and the variables coercible to the operation's; else what is wrong.
fn graphql_operation(schema: &Valid<Schema>, body: &Value) -> Result<String, String> {
    let query = body["query"].as_str().ok_or("no query in the request")?;
    let document = ExecutableDocument::parse_and_validate(schema, query, "request.graphql")
        .map_err(|e| format!("the query is not valid against Linear's schema: {}", e.errors))?;
    let operation =
        document.operations.get(body["operationName"].as_str()).map_err(|e| format!("no operation to run: {e:?}"))?;
    let variables: apollo_compiler::response::JsonMap = serde_json::from_value(if body["variables"].is_null() {
        serde_json::json!({})
    } else {
        body["variables"].clone()
    })
    .map_err(|e| format!("variables are not an object: {e}"))?;
    apollo_compiler::request::coerce_variable_values(schema, operation, &variables)
        .map_err(|e| format!("the variables do not fit the operation: {}", e.message()))?;
    Ok(operation.name.as_ref().map(|n| n.to_string()).unwrap_or_default())
}

/// Prism serving GitHub's description, started once per test process on a thread that lives as long as it (the
/// child dies with that thread, so never outlives the tests).
fn prism_url() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("github-mock");
    prism_for(&root.join("node_modules/@octokit/openapi/generated/api.github.com.deref.json"))
}

/// Prism serving the description at `spec`, one per description and test process.
fn prism_for(spec: &std::path::Path) -> String {
    static URLS: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let mut urls = URLS.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(url) = urls.get(spec) {
        return url.clone();
    }
    let url = start_prism(spec);
    urls.insert(spec.to_path_buf(), url.clone());
    url
}

fn start_prism(spec: &std::path::Path) -> String {
    {
        let spec = spec.to_path_buf();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("github-mock");
        let prism = std::env::var("OPENHANDS_TEST_PRISM")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("node_modules/.bin/prism"));
        assert!(
            prism.exists() && spec.exists(),
            "Prism or the OpenAPI description {} is missing: run scripts/test (it runs npm ci in {})",
            spec.display(),
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
    }
}

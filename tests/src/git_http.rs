//! Smart HTTP for git: a small server that demands a token (HTTP Basic) and hands authorised requests to the real
//! `git http-backend` (CGI), so pushes go over the real protocol to real repositories.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use tokio::io::AsyncWriteExt;

struct Shared {
    root: PathBuf,
    expected: String,
    user: String,
    /// (method, path, authorised) of every request.
    log: Mutex<Vec<(String, String, bool)>>,
}

pub struct GitHttpServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

impl GitHttpServer {
    /// Serves the repositories under `root`; only `user`:`token` may read or push.
    pub fn start(root: PathBuf, user: &str, token: &str) -> GitHttpServer {
        let shared = Arc::new(Shared {
            root,
            expected: format!("Basic {}", base64(format!("{user}:{token}").as_bytes())),
            user: user.to_owned(),
            log: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (runtime, addr) = crate::serve_router(app, 1);
        GitHttpServer { addr, shared, _runtime: runtime }
    }

    /// A GitHub-like host on 127.0.0.1 for `octo/hello`: the bare repository served over smart HTTP (wanting
    /// `token`), and the user's clone `hello` with `files` committed on `main`, pushed, `origin` set to the server.
    /// Returns the server, the bare repository and the clone.
    pub fn with_octo_hello(
        root: &std::path::Path,
        token: &str,
        files: &[(&str, &str)],
    ) -> (GitHttpServer, PathBuf, PathBuf) {
        use crate::repo::git;
        let bare = root.join("srv/octo/hello.git");
        std::fs::create_dir_all(&bare).expect("bare");
        git(&bare, &["init", "-q", "--bare"]);
        let server = GitHttpServer::start(root.join("srv"), "x-access-token", token);
        let ws = root.join("hello");
        std::fs::create_dir_all(&ws).expect("clone");
        git(&ws, &["init", "-q", "-b", "main"]);
        for (name, text) in files {
            std::fs::write(ws.join(name), text).expect("file");
        }
        git(&ws, &["add", "-A"]);
        git(&ws, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init"]);
        git(&ws, &["push", "-q", bare.to_str().expect("utf-8"), "main"]);
        git(&ws, &["remote", "add", "origin", &server.url("octo/hello.git")]);
        (server, bare, ws)
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{repo}", self.addr)
    }

    /// How many requests carried the right token.
    pub fn authorised_requests(&self) -> usize {
        self.shared.log.lock().unwrap().iter().filter(|(_, _, ok)| *ok).count()
    }
}

async fn handle(State(s): State<Arc<Shared>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let authorised = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(s.expected.as_str());
    s.log.lock().unwrap().push((method.to_string(), uri.path().to_owned(), authorised));
    if !authorised {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("WWW-Authenticate", "Basic realm=\"git\"")
            .body(Body::from("authentication required"))
            .unwrap();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", &s.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", &s.user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let encoding = header("content-encoding");
    if !encoding.is_empty() {
        cmd.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let mut child = cmd.spawn().expect("git http-backend");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&body).await.expect("write body");
    drop(stdin);
    let out = child.wait_with_output().await.expect("git http-backend output");
    cgi_response(&out.stdout)
}

/// Turns a CGI answer (headers, blank line, body) into an HTTP response.
fn cgi_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, sep)) = split else {
        return Response::builder().status(StatusCode::BAD_GATEWAY).body(Body::from("bad CGI answer")).unwrap();
    };
    let head = String::from_utf8_lossy(&raw[..at]).into_owned();
    let mut builder = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(500);
            builder = builder.status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    builder.body(Body::from(raw[at + sep..].to_vec())).unwrap()
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_examples() {
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}

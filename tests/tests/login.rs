//! `openhands-lsp login` with a real Secret Service (GNOME Keyring on a session bus of the test's own), as a new
//! user (a fresh `HOME`, nothing of this machine's in the environment): the key is kept in the keyring, an ACP
//! session then starts and runs with no `LLM_API_KEY` anywhere, and the key is in no file and no log. Without a
//! keyring, login says so and keeps nothing unless asked for a file, which only the user can read.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openhands_lsp_tests::acp::Setup;
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::lsp_client::server_binary;
use openhands_lsp_tests::release::NEW_USER_PATH;
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::vscode::files_containing;
use serde_json::{Value, json};

const KEY: &str = "sk-keyring-canary-7f3a91c2";

/// A session bus and GNOME Keyring's Secret Service on it, unlocked, for a home of the test's; both stop on drop.
struct SecretService {
    bus: Child,
    keyring: Child,
    address: String,
}

impl SecretService {
    fn start(home: &Path) -> SecretService {
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .env_clear()
            .env("HOME", home)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (scripts/system-packages installs it)");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().expect("stdout")).read_line(&mut address).expect("the bus's address");
        let address = address.trim().to_owned();
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--components=secrets", "--unlock"])
            .env_clear()
            .env("HOME", home)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (scripts/system-packages installs it)");
        // The login keyring's password, then end of input: it is created and unlocked with it.
        let mut stdin = keyring.stdin.take().expect("stdin");
        stdin.write_all(b"test-password").expect("the password");
        drop(stdin);
        let service = SecretService { bus, keyring, address };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !service.has_secrets() {
            assert!(Instant::now() < deadline, "the Secret Service did not appear on the bus within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        service
    }

    fn has_secrets(&self) -> bool {
        let out = Command::new("dbus-send")
            .args(["--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus"])
            .args(["org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output();
        out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        for child in [&mut self.keyring, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `openhands-lsp ARGS` as a new user with `home`, typing `typed`; its exit code and what it printed.
fn run(args: &[&str], home: &Path, bus: Option<&str>, typed: &str) -> (i32, String) {
    let mut cmd = Command::new(server_binary());
    cmd.args(args).env_clear().env("PATH", NEW_USER_PATH).env("HOME", home);
    if let Some(address) = bus {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", address);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(typed.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn login_keeps_the_key_in_the_keyring_and_an_acp_session_runs_with_no_key_in_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let keyring = SecretService::start(home.path());
    let bus = Some(keyring.address.as_str());

    let (code, said) = run(&["login"], home.path(), bus, &format!("openai/gpt-4o\n{KEY}\n"));
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("The LLM key is kept in the keyring"), "{said}");
    assert!(!said.contains(KEY), "the key is not shown: {said}");
    let settings = home.path().join(".config/openhands-lsp/settings.json");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    assert_eq!(written, json!({"llm": {"model": "openai/gpt-4o"}}), "the model, for agent panels");
    let (_, status) = run(&["login", "--status"], home.path(), bus, "");
    assert!(status.contains("llm_api_key: kept in the keyring") && !status.contains(KEY), "{status}");

    // An agent panel's session: the agent's environment has no key, only the session bus the keyring is on.
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    git(&ws, &["init", "-q"]);
    let llm = ScriptedLlm::start(vec![Step::terminal("true"), Step::finish("ran it")]);
    let mut setup = Setup::new(&llm, json!({}));
    setup.env.retain(|(k, _)| k != "LLM_API_KEY");
    setup.env.push(("HOME".to_owned(), home.path().display().to_string()));
    setup.env.push(("DBUS_SESSION_BUS_ADDRESS".to_owned(), keyring.address.clone()));
    let result = setup.drive("signed_in", &[("WORKSPACE", ws.display().to_string())]);
    assert_eq!(result["stopReason"], "end_turn", "{result}");
    let methods = result["authMethods"].as_array().cloned().unwrap_or_default();
    assert!(
        methods.iter().any(|m| m["type"] == "terminal" && m["id"] == "login" && m["args"] == json!(["login"])),
        "the terminal sign-in is offered: {methods:?}"
    );
    let sent = llm.requests();
    assert!(!sent.is_empty(), "the model was asked");
    for request in &sent {
        let auth = request.headers.get("authorization").cloned().unwrap_or_default();
        assert_eq!(auth, format!("Bearer {KEY}"), "the keyring's key reached the model");
    }

    // The key rests in the keyring alone: no file under HOME or the state folder, no log, holds it in clear.
    for dir in [home.path(), setup.state.path()] {
        assert_eq!(files_containing(dir, KEY), Vec::<std::path::PathBuf>::new(), "the key in a file");
    }
    assert!(!result["stderr"].as_str().unwrap_or_default().contains(KEY), "the key in the agent's log");

    // `acp login` (what the panel's terminal sign-in runs) with --cloud; then logout forgets both.
    let (code, said) = run(&["acp", "login", "--cloud"], home.path(), bus, "oh-cloud-canary-5521\n");
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("The OpenHands Cloud key is kept in the keyring"), "{said}");
    let (_, said) = run(&["logout"], home.path(), bus, "");
    assert!(said.contains("Removed llm_api_key from the keyring") && said.contains("Removed cloud_api_key"), "{said}");
    let (_, status) = run(&["login", "--status"], home.path(), bus, "");
    assert!(status.contains("llm_api_key: not set") && status.contains("cloud_api_key: not set"), "{status}");
}

#[test]
fn without_a_keyring_login_says_so_and_keeps_a_file_only_when_asked() {
    let home = tempfile::tempdir().unwrap();
    let (code, said) = run(&["login"], home.path(), None, &format!("\n{KEY}\n"));
    assert_ne!(code, 0, "{said}");
    assert!(said.contains("no keyring could be used") && said.contains("login --file"), "{said}");
    assert_eq!(files_containing(home.path(), KEY), Vec::<std::path::PathBuf>::new(), "nothing kept");

    let (code, said) = run(&["login", "--file"], home.path(), None, &format!("\n{KEY}\n"));
    assert_eq!(code, 0, "{said}");
    let file = home.path().join(".config/openhands-lsp/credentials.json");
    assert!(said.contains(&format!("kept in {} (readable by you alone)", file.display())), "{said}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let (_, status) = run(&["login", "--status"], home.path(), None, "");
    assert!(status.contains(&format!("llm_api_key: kept in {}", file.display())), "{status}");
    // The server's doctor sees it, by name only.
    let (_, doctor) = run(&["doctor", "--quick"], home.path(), None, "");
    assert!(doctor.contains("kept by openhands-lsp login") && !doctor.contains(KEY), "{doctor}");
    let (_, said) = run(&["logout"], home.path(), None, "");
    assert!(said.contains("Removed llm_api_key from") && !file.exists(), "{said}");
}

//! The release, as a new user meets it (a fresh `HOME`, no `cargo` or `rustc` on `PATH`): the archive scripts/release
//! made runs from an empty folder on glibc 2.28's symbols; the ACP registry entry is valid by the registry's own
//! rules and an agent panel's launch of it works; the VS Code packages hold the server or not; the crate packages
//! and installs with `cargo install`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use openhands_lsp_tests::release::{FileServer, VERSION, archive_name, as_new_user, dist, sha256_of, unpack};
use openhands_lsp_tests::stdio_peer::{Framing, Peer};
use serde_json::{Value, json};

fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The newest `GLIBC_x.y` symbol version the binary asks for.
fn newest_glibc(binary: &Path) -> (u32, u32) {
    let out = Command::new("readelf").args(["-W", "--dyn-syms"]).arg(binary).output().expect("readelf");
    let dump = String::from_utf8_lossy(&out.stdout);
    let mut newest = (0, 0);
    // Lines such as `memcpy@GLIBC_2.14 (3)`.
    for word in dump.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        if let Some(v) = word.split_once("GLIBC_").map(|(_, v)| v) {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            newest = newest.max(found);
        }
    }
    assert!(newest > (2, 0), "no GLIBC_ symbol versions read from {}:\n{dump}", binary.display());
    newest
}

/// `initialize` over ACP to the agent `command` starts: its answer.
fn acp_initialize(command: Command) -> Value {
    let mut peer = Peer::spawn(command, Framing::Lines, Value::Null).expect("the agent starts");
    let id = peer
        .request("initialize", json!({"protocolVersion": 1, "clientCapabilities": {}, "clientInfo": {"name": "registry-launch", "version": "1"}}))
        .unwrap();
    let (_, answer) = peer.response(id, Duration::from_secs(30)).expect("an answer to initialize");
    answer
}

#[test]
fn the_archive_runs_from_an_empty_folder_as_a_new_user_on_glibc_2_28() {
    let dist = dist();
    let archive = dist.join(archive_name());
    let said = std::fs::read_to_string(dist.join(format!("{}.sha256", archive_name()))).unwrap();
    assert_eq!(said, format!("{}  {}\n", sha256_of(&archive), archive_name()), "the .sha256 is sha256sum's line");
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    for name in [archive_name(), format!("openhands-{VERSION}-linux-x64.vsix"), format!("openhands-{VERSION}.vsix")] {
        assert!(sums.contains(&format!("{}  {name}", sha256_of(&dist.join(&name)))), "SHA256SUMS has {name}: {sums}");
    }

    let home = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let names = unpack(&archive, folder.path());
    assert_eq!(names, ["LICENSE", "README.md", "THIRD-PARTY-LICENSES.txt", "openhands-lsp"], "the archive's files");
    let binary = folder.path().join("openhands-lsp");

    let version = as_new_user(&binary, home.path()).arg("--version").current_dir(folder.path()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout), format!("openhands-lsp {VERSION}\n"), "{}", text(&version));

    // LSP initialize, from the empty folder, with nothing of this machine's around it.
    let mut lsp = as_new_user(&binary, home.path());
    lsp.current_dir(folder.path());
    let mut peer = Peer::spawn(lsp, Framing::Lsp, Value::Null).expect("the server starts");
    let id = peer.request("initialize", json!({"processId": null, "rootUri": null, "capabilities": {}})).unwrap();
    let (_, answer) = peer.response(id, Duration::from_secs(30)).expect("an answer to initialize");
    assert_eq!(answer["result"]["serverInfo"]["version"], VERSION, "{answer}");
    assert!(answer["result"]["capabilities"]["executeCommandProvider"]["commands"].is_array(), "{answer}");

    // What it needs of the system: glibc 2.28's symbols at most, and no OpenSSL, libgit2 or zlib of its own.
    let newest = newest_glibc(&binary);
    assert!(newest <= (2, 28), "the binary needs GLIBC_{}.{}, newer than 2.28", newest.0, newest.1);
    let dynamic = Command::new("readelf").arg("-d").arg(&binary).output().unwrap();
    let needed: Vec<String> = String::from_utf8_lossy(&dynamic.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.trim_end_matches(']').to_owned()))
        .collect();
    assert!(needed.iter().any(|l| l.starts_with("libc.so")), "NEEDED read: {needed:?}");
    for lib in &needed {
        assert!(
            ["libc.so", "libm.so", "libdl.so", "libpthread.so", "librt.so", "libgcc_s.so", "ld-linux"]
                .iter()
                .any(|ok| lib.starts_with(ok)),
            "the binary needs {lib}, which a system may lack: {needed:?}"
        );
    }
    let sections = Command::new("readelf").arg("-S").arg(&binary).output().unwrap();
    assert!(!String::from_utf8_lossy(&sections.stdout).contains(".symtab"), "stripped: no symbol table");

    // The licences of what it links: the crates, and the C libraries compiled into it.
    let licences = std::fs::read_to_string(folder.path().join("THIRD-PARTY-LICENSES.txt")).unwrap();
    for needle in
        ["tokio 1.", "git2 0.21", "vendored openssl", "vendored libgit2", "LINKING EXCEPTION", "vendored libssh2"]
    {
        assert!(licences.contains(needle), "THIRD-PARTY-LICENSES.txt names {needle}");
    }
}

/// The registry's rules for icon.svg (its build_registry.py): square 16×16, no comments, colours only through
/// `currentColor` (or none/inherit), in attributes and styles.
fn icon_problems(svg: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if svg.contains("<!--") {
        problems.push("a comment".to_owned());
    }
    let root = svg.split('>').next().unwrap_or_default();
    for want in ["<svg", "width=\"16\"", "height=\"16\"", "viewBox=\"0 0 16 16\""] {
        if !root.contains(want) {
            problems.push(format!("the root element lacks {want}"));
        }
    }
    let mut current = false;
    for key in ["fill=\"", "stroke=\"", "fill:", "stroke:"] {
        for (at, _) in svg.match_indices(key) {
            let rest = svg[at + key.len()..].trim_start();
            let value: String = rest.chars().take_while(|c| !matches!(c, '"' | ';' | '}' | ' ')).collect();
            match value.to_ascii_lowercase().as_str() {
                "currentcolor" => current = true,
                "none" | "inherit" => {}
                other => problems.push(format!("a colour of its own: {key}{other}")),
            }
        }
    }
    if !current {
        problems.push("no currentColor".to_owned());
    }
    problems
}

#[test]
fn the_acp_registry_entry_is_valid_and_a_registry_launch_of_it_initializes() {
    let dist = dist();
    let entry: Value = serde_json::from_str(&std::fs::read_to_string(dist.join("agent.json")).unwrap()).unwrap();
    let shipped = std::fs::read_to_string(repo_root().join("editors/acp-registry/openhands-lsp/agent.json")).unwrap();
    assert_eq!(entry, serde_json::from_str::<Value>(&shipped).unwrap(), "the release carries the repository's entry");

    // The registry's schema (a copy, with its source, in tests/fixtures/acp-registry) and its build's other rules.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/acp-registry/agent.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the registry's schema compiles");
    let errors: Vec<String> = validator.iter_errors(&entry).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "agent.json against the registry's schema: {errors:?}");
    assert_eq!(entry["version"], VERSION);
    let binary = entry["distribution"]["binary"].as_object().unwrap();
    // The registry warns when an OS family has no build, and an archive no release has breaks the panels' installs:
    // the entry (and mason's package) name exactly the targets the release workflow builds.
    let workflow = std::fs::read_to_string(repo_root().join(".github/workflows/release.yml")).unwrap();
    let built: Vec<&str> =
        workflow.lines().filter_map(|l| l.trim().strip_prefix("- { target: ")?.split(',').next()).collect();
    assert_eq!(built.len(), 5, "Linux x64/arm64, macOS x64/arm64, Windows x64: {built:?}");
    let mason = std::fs::read_to_string(dist.join("package.yaml")).unwrap();
    let mut platforms: Vec<String> = Vec::new();
    for triple in &built {
        let (arch, os) = (triple.split('-').next().unwrap(), triple.split('-').nth(2).unwrap());
        let os = match os {
            "apple" => "darwin",
            "pc" => "windows",
            other => other,
        };
        let (ending, exe) = if os == "windows" { ("zip", "openhands-lsp.exe") } else { ("tar.gz", "openhands-lsp") };
        let platform = format!("{os}-{arch}");
        let archive = format!("openhands-lsp-{VERSION}-{triple}.{ending}");
        let named = &binary.get(&platform).unwrap_or_else(|| panic!("agent.json has no {platform}"));
        assert!(named["archive"].as_str().unwrap().ends_with(&format!("/{archive}")), "{platform}: {named}");
        assert_eq!(named["cmd"], format!("./{exe}"), "{platform}");
        let asset =
            format!("openhands-lsp-{{{{ version | strip_prefix \"v\" }}}}-{triple}.{ending}\n      bin: {exe}\n");
        assert!(mason.contains(&asset), "package.yaml has no asset for {triple}: {mason}");
        platforms.push(platform);
    }
    let mut named: Vec<String> = binary.keys().cloned().collect();
    platforms.sort();
    named.sort();
    assert_eq!(named, platforms, "agent.json names what the workflow builds, no more");
    for (platform, target) in binary {
        let url = target["archive"].as_str().unwrap();
        assert!(url.contains(&format!("/download/v{VERSION}/openhands-lsp-{VERSION}-")), "{platform}: {url}");
        assert!(!url.contains("/latest/") && (url.ends_with(".tar.gz") || url.ends_with(".zip")), "{platform}: {url}");
        assert_eq!(target["args"], json!(["acp"]), "{platform}");
    }
    let icon = std::fs::read_to_string(dist.join("icon.svg")).unwrap();
    assert_eq!(icon_problems(&icon), Vec::<String>::new(), "icon.svg by the registry's rules");
    assert!(!icon_problems(&icon.replace("currentColor", "#ff0000")).is_empty(), "the icon check can fail");

    // A panel's launch: download the archive agent.json names (from a local copy of the release), unpack it into an
    // empty folder, run `cmd args` there as a new user, initialize.
    let linux = &binary["linux-x86_64"];
    let url = linux["archive"].as_str().unwrap();
    let file_name = url.rsplit('/').next().unwrap();
    assert_eq!(file_name, archive_name(), "the archive scripts/release makes is the one the entry names");
    let server = FileServer::serve(&dist);
    let folder = tempfile::tempdir().unwrap();
    let download = folder.path().join(file_name);
    let curl = Command::new("curl")
        .args(["-fsSL", "-o"])
        .arg(&download)
        .arg(format!("{}/{file_name}", server.url))
        .output()
        .unwrap();
    assert!(curl.status.success(), "downloading {file_name}: {}", text(&curl));
    let unpacked = folder.path().join("agent");
    std::fs::create_dir(&unpacked).unwrap();
    unpack(&download, &unpacked);
    let home = tempfile::tempdir().unwrap();
    let mut command = as_new_user(unpacked.join(linux["cmd"].as_str().unwrap()), home.path());
    let args: Vec<&str> = linux["args"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    command.args(args).current_dir(&unpacked);
    let answer = acp_initialize(command);
    let methods = answer["result"]["authMethods"].as_array().cloned().unwrap_or_default();
    assert!(
        methods.iter().any(|m| m["id"] == "llm-api-key" && m.get("type").is_none_or(|t| t == "agent")),
        "an agent auth method: {answer}"
    );
    assert!(
        methods.iter().any(|m| m["type"] == "terminal" && m["args"] == json!(["login"])),
        "a terminal sign-in (`cmd args login`): {answer}"
    );
    assert_eq!(answer["result"]["agentInfo"]["version"], VERSION, "{answer}");
}

/// The names in a zip file (a .vsix), with their unix modes.
fn zip_entries(file: &Path) -> Vec<(String, u32)> {
    let script = "import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.external_attr >> 16, i.filename)";
    let out = Command::new("python3").args(["-c", script]).arg(file).output().expect("python3");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(mode, name)| (name.to_owned(), mode.parse().unwrap_or(0))))
        .collect()
}

fn zip_text(file: &Path, name: &str) -> String {
    let script = "import sys, zipfile\nprint(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())";
    let out = Command::new("python3").args(["-c", script]).arg(file).arg(name).output().expect("python3");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_platform_vsix_holds_the_server_and_the_universal_one_does_not() {
    let dist = dist();
    let platform = dist.join(format!("openhands-{VERSION}-linux-x64.vsix"));
    let universal = dist.join(format!("openhands-{VERSION}.vsix"));
    let with = zip_entries(&platform);
    let server = with.iter().find(|(n, _)| n == "extension/server/openhands-lsp").expect("the server inside");
    assert_eq!(server.1 & 0o111, 0o111, "executable: mode {:o}", server.1);
    assert!(with.iter().any(|(n, _)| n == "extension/server/THIRD-PARTY-LICENSES.txt"), "with its licences");
    let manifest = zip_text(&platform, "extension.vsixmanifest");
    assert!(manifest.contains("TargetPlatform=\"linux-x64\"") && manifest.contains(&format!("Version=\"{VERSION}\"")));
    assert!(!zip_entries(&universal).iter().any(|(n, _)| n.starts_with("extension/server/")), "no server inside");
    assert!(!zip_text(&universal, "extension.vsixmanifest").contains("TargetPlatform"), "for every platform");

    // The server inside is the archive's.
    let folder = tempfile::tempdir().unwrap();
    unpack(&dist.join(archive_name()), folder.path());
    let script = "import sys, zipfile, hashlib\nprint(hashlib.sha256(zipfile.ZipFile(sys.argv[1]).read('extension/server/openhands-lsp')).hexdigest())";
    let out = Command::new("python3").args(["-c", script]).arg(&platform).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), sha256_of(&folder.path().join("openhands-lsp")));
}

#[test]
fn the_crate_packages_without_tests_or_editors_and_cargo_install_gives_a_working_binary() {
    let root = repo_root();
    let list = Command::new("cargo")
        .args(["package", "-p", "openhands-lsp", "--locked", "--allow-dirty", "--list"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(list.status.success(), "{}", text(&list));
    let files: Vec<String> = String::from_utf8_lossy(&list.stdout).lines().map(str::to_owned).collect();
    for want in ["Cargo.toml", "LICENSE", "README.md", "src/main.rs", "src/lib.rs"] {
        assert!(files.iter().any(|f| f == want), "the package has {want}: {files:?}");
    }
    assert!(!files.iter().any(|f| f.starts_with("tests/") || f.contains("editors/")), "{files:?}");
    let manifest = std::fs::read_to_string(root.join("server/Cargo.toml")).unwrap();
    for key in ["description =", "readme =", "license.workspace", "repository.workspace", "include ="] {
        assert!(manifest.contains(key), "server/Cargo.toml has {key}");
    }

    // `cargo install` from the package cargo made (the crate users get from crates.io), in the dev profile: the
    // release profile's build is scripts/release's, and a second one would double the suite's cold time.
    let package = Command::new("cargo")
        .args(["package", "-p", "openhands-lsp", "--locked", "--allow-dirty", "--no-verify"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(package.status.success(), "{}", text(&package));
    let crate_file = root.join(format!("target/package/openhands-lsp-{VERSION}.crate"));
    let unpacked = tempfile::tempdir().unwrap();
    unpack(&crate_file, unpacked.path());
    let installed = tempfile::tempdir().unwrap();
    let install = Command::new("cargo")
        .args(["install", "--debug", "--locked", "--path"])
        .arg(unpacked.path().join(format!("openhands-lsp-{VERSION}")))
        .arg("--root")
        .arg(installed.path())
        .arg("--target-dir")
        .arg(root.join("target/install-check"))
        // The crate alone carries no profile of the workspace's, so its dev build would keep full debug info and
        // incremental state: 4.5 GB on a disk CI shares. Neither is part of what is checked.
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .unwrap();
    assert!(install.status.success(), "{}", text(&install));
    let home = tempfile::tempdir().unwrap();
    let bin = installed.path().join("bin/openhands-lsp");
    let version = as_new_user(&bin, home.path()).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout), format!("openhands-lsp {VERSION}\n"), "{}", text(&version));
}

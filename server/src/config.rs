//! Settings under the `openhands` section.
//!
//! [`Settings`] is the single source of truth: its `Default` gives every default, and [`SPECS`] describes each key
//! for people (docs/configuration.md, the VS Code `contributes.configuration`). Tests keep the two in step.
//!
//! Settings arrive as JSON from three places (initializationOptions, `workspace/configuration`, the payload of
//! `didChangeConfiguration`) and are parsed leniently: a bad value is reported with its key and replaced by its
//! default, and every other key still applies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod reference;
pub use reference::{markdown_reference, vscode_properties};

/// How often the agent asks before acting (`openhands.confirmation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ConfirmationMode {
    /// Never ask.
    Never,
    /// Ask for actions the agent rates high-risk (or cannot rate).
    #[default]
    Risky,
    /// Ask before every action.
    Always,
}

impl ConfirmationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmationMode::Never => "never",
            ConfirmationMode::Risky => "risky",
            ConfirmationMode::Always => "always",
        }
    }
}

/// Where conversations run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The agent-server image in a local Docker container, one per conversation.
    #[default]
    Docker,
    /// A locally installed agent-server process on a loopback port. No isolation.
    Process,
    /// OpenHands Cloud (or a self-hosted OpenHands server) through its V1 API.
    Cloud,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Docker => "docker",
            Backend::Process => "process",
            Backend::Cloud => "cloud",
        }
    }

    /// The backend named `name` (as a conversation's record names it).
    pub fn parse(name: &str) -> Option<Backend> {
        [Backend::Docker, Backend::Process, Backend::Cloud].into_iter().find(|b| b.as_str() == name)
    }
}

/// Where the agent makes its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// In the workspace folder itself.
    None,
    /// In the conversation's own worktree (or copy); the user applies the result after review.
    #[default]
    Worktree,
}

/// Where the Docker engine runs (`openhands.docker.engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EngineLocation {
    /// Told from `DOCKER_HOST`: a TCP address of another host is remote; sockets and loopback are local.
    #[default]
    Auto,
    Local,
    /// On another machine: its containers cannot mount this machine's folders.
    Remote,
}

/// The agent-server version openhands-lsp is built and tested against (the one `locks/agent-server.txt` pins).
pub const AGENT_SERVER_VERSION: &str = "1.58.0";

/// How to install the agent-server for the process backend: from the lock that ships with openhands-lsp, which holds
/// every package at the version the tests ran (a plain `pip install` resolves to whatever is newest that day).
pub const AGENT_SERVER_INSTALL: &str =
    "python3.12 -m venv V && V/bin/pip install --require-hashes --no-deps -r locks/agent-server.txt";

/// The JSON type of a setting, as editors declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    String,
    /// A string restricted to the listed values.
    Enum(&'static [&'static str]),
    Integer {
        minimum: i64,
        maximum: i64,
    },
    Boolean,
    /// A string, or null for "not set".
    OptionalString,
    OptionalInteger {
        minimum: i64,
        maximum: i64,
    },
    /// A number, fractions allowed.
    Number {
        minimum: i64,
        maximum: i64,
    },
    OptionalNumber {
        minimum: i64,
        maximum: i64,
    },
    /// The agent's MCP servers by name (`crate::mcp`): each entry checked on its own.
    McpServers,
}

/// Human-facing description of one setting. The default comes from [`Settings::default`].
#[derive(Debug, Clone, Copy)]
pub struct SettingSpec {
    /// Dotted path below the `openhands` section, e.g. `llm.model`.
    pub key: &'static str,
    pub ty: SettingType,
    pub description: &'static str,
}

/// Declares every setting once: its field, its JSON name, its Rust type, its default, its type and range as editors
/// see it, and its description. From this come the `Settings` structs (serde), their `Default`s, and [`SPECS`], from
/// which parsing checks ranges and `docs/configuration.md` and the VS Code manifest are generated (as
/// rust-analyzer's `config_data!`). A group (`llm`, `docker`, ...) is a struct of its own; `(again)` reuses a group's
/// struct under another name, with descriptions of its own (the three providers).
macro_rules! settings {
    ($(#[$meta:meta])* pub struct $root:ident { $($body:tt)* }) => {
        settings!(@munch [$(#[$meta])* $root] [] [] [] $($body)*);
    };
    // A group whose struct is declared (by the arm below, or by an earlier group of the same type).
    (@munch [$($root:tt)*] [$($fields:tt)*] [$($defaults:tt)*] [$($specs:tt)*]
        $f:ident $k:literal : $t:ident (again) { $($gf:ident $gk:literal : $gst:expr, $gdesc:literal;)* } $($rest:tt)*
    ) => {
        settings!(@munch [$($root)*]
            [$($fields)* #[serde(rename = $k)] pub $f: $t,]
            [$($defaults)* $f: $t::default(),]
            [$($specs)* $(SettingSpec { key: concat!($k, ".", $gk), ty: $gst, description: $gdesc },)*]
            $($rest)*);
    };
    // A group: its struct, and its settings under `$k.`.
    (@munch [$($root:tt)*] [$($fields:tt)*] [$($defaults:tt)*] [$($specs:tt)*]
        $f:ident $k:literal : $t:ident { $($gf:ident $gk:literal : $gt:ty = $gd:expr, $gst:expr, $gdesc:literal;)* }
        $($rest:tt)*
    ) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $t {
            $(#[doc = $gdesc] #[serde(rename = $gk)] pub $gf: $gt,)*
        }

        impl Default for $t {
            fn default() -> Self {
                $t { $($gf: $gd,)* }
            }
        }

        settings!(@munch [$($root)*] [$($fields)*] [$($defaults)*] [$($specs)*]
            $f $k : $t (again) { $($gf $gk : $gst, $gdesc;)* } $($rest)*);
    };
    // A setting at the top.
    (@munch [$($root:tt)*] [$($fields:tt)*] [$($defaults:tt)*] [$($specs:tt)*]
        $f:ident $k:literal : $t:ty = $d:expr, $st:expr, $desc:literal; $($rest:tt)*
    ) => {
        settings!(@munch [$($root)*]
            [$($fields)* #[doc = $desc] #[serde(rename = $k)] pub $f: $t,]
            [$($defaults)* $f: $d,]
            [$($specs)* SettingSpec { key: $k, ty: $st, description: $desc },]
            $($rest)*);
    };
    (@munch [$(#[$meta:meta])* $root:ident] [$($fields:tt)*] [$($defaults:tt)*] [$($specs:tt)*]) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $root {
            $($fields)*
        }

        impl Default for $root {
            fn default() -> Self {
                $root { $($defaults)* }
            }
        }

        /// Every setting, in the order editors show them.
        pub const SPECS: &[SettingSpec] = {
            use SettingType::*;
            &[$($specs)*]
        };
    };
}

settings! {
    /// The `openhands` section.
    pub struct Settings {
        backend "backend": Backend = Backend::Docker, Enum(&["docker", "process", "cloud"]),
            "Where conversations run. `docker`: the agent-server image (`openhands.docker.image`) in a local \
             Docker container per conversation, which sees only the conversation's workspace. `process`: a \
             locally installed agent-server started on a loopback port for each conversation (no isolation: \
             the agent works on this machine; Linux and macOS only, refused in words on Windows). `cloud`: OpenHands Cloud or a self-hosted OpenHands server \
             (`openhands.cloud.url`), which clones the workspace's remote repository and branch; its changes \
             come back for review in the conversation's own copy.";
        isolation "isolation": Isolation = Isolation::Worktree, Enum(&["none", "worktree"]),
            "Where the agent makes its changes. `worktree`: in the conversation's own git worktree (or a copy \
             of a folder that is not a repository) that starts from your current state, uncommitted and \
             untracked files included; your files change only through `openhands.applyChanges`, after \
             review. With the docker backend the copy of a repository is a repository of its own (your \
             history, branches, tags and remotes copied in, up to 512 MB of git objects), so git works in \
             the container; its branch stays in the copy. `none`: directly in the workspace folder.";
        llm "llm": LlmSettings {
            model "model": String = "anthropic/claude-sonnet-4-5-20250929".into(), String,
                "The model the agent uses, in LiteLLM form (`provider/model`, e.g. `openai/gpt-4o`). Its API key \
                 comes from `openhands.setSecret` (`llm_api_key`) or the `LLM_API_KEY` environment variable, never \
                 from settings.";
            base_url "baseUrl": Option<String> = None, OptionalString,
                "Base URL of an OpenAI-compatible endpoint (a local model, a proxy). `null`: the provider's own.";
            num_retries "numRetries": Option<u32> = None, OptionalInteger { minimum: 0, maximum: 20 },
                "How many attempts an LLM call gets in all before the conversation fails (the agent-server counts \
                 attempts: 0 and 1 both mean one). `null`: a budget for an editor, 4 attempts with waits of 2, 4 \
                 and 8 s between them (a model that keeps failing is reported in about 15 s, not after the \
                 agent-server's own 5 attempts over 2 minutes). A number: that many, with waits of at most 8 s.";
            timeout_seconds "timeoutSeconds": u32 = 120, Integer { minimum: 5, maximum: 3600 },
                "How long one LLM call may take before it is given up (and retried): a model that hangs ends \
                 the turn with an error after about this long times the retries. Meanwhile the editor shows \
                 how long the model has been silent.";
            stream "stream": bool = false, Boolean,
                "Stream the model's output token by token: editors receive `StreamingDeltaEvent`s while the \
                 model writes, before each step's action.";
        }
        docker "docker": DockerSettings {
            image "image": String = format!("ghcr.io/openhands/agent-server:{AGENT_SERVER_VERSION}-python"), String,
                "The agent-server image for the `docker` backend. Used when present locally, pulled (with \
                 progress) when not. Any image whose entrypoint is the agent-server (taking `--host` and `--port`; \
                 it is told to listen on port 8431) will do, e.g. one built by `scripts/build-agent-image`.";
            base_image "baseImage": Option<String> = None, OptionalString,
                "The image conversations run in when the folder has no dev container: any glibc-based Linux image \
                 (Debian, Ubuntu, Fedora, the language images such as `rust:1` or `node:22`) with the project's \
                 toolchain. The agent-server is added to it (mounted read-only from a volume made once from \
                 `openhands.docker.image`; nothing is downloaded or built into the image), so the agent builds and \
                 tests with that toolchain. Alpine (musl) and Windows images are refused. `null`: the agent-server \
                 image itself (Python only).";
            dev_container "devContainer": bool = true, Boolean,
                "Use the folder's dev container (`.devcontainer/devcontainer.json` or `.devcontainer.json`) for \
                 the conversation's image: its `image`, or its `build.dockerfile` built once (with its `context`, \
                 `args` and `target`; no host network, mounts or secrets) and kept until what went into it \
                 changes. Its `postCreateCommand` runs in the sandbox when a conversation starts. Features, other \
                 lifecycle commands and whatever reaches beyond the sandbox (`initializeCommand`, `runArgs`, \
                 `mounts`, `privileged`, `capAdd`, ports) are never applied, and named once. Before \
                 `openhands.docker.baseImage`.";
            setup_timeout_seconds "setupTimeoutSeconds": u32 = 600, Integer { minimum: 5, maximum: 7200 },
                "How long each set-up command may run in the sandbox when a conversation starts (the dev \
                 container's `postCreateCommand`, then the folder's `.openhands/setup.sh`), as the agent's user. \
                 Its output is the conversation's first step; a failure or the time limit is said there, and the \
                 agent starts anyway.";
            warm_pool "warmPool": u32 = 1, Integer { minimum: 0, maximum: 8 },
                "How many containers are started ahead of need and kept healthy, so a new conversation does not \
                 wait for one to boot. `0` turns the pool off. Pooled containers are removed at exit.";
            memory_mb "memoryMb": u32 = 0, Integer { minimum: 0, maximum: 1048576 },
                "Memory limit of each container in MiB. `0`: no limit.";
            cpus "cpus": f64 = 0.0, Number { minimum: 0, maximum: 256 },
                "CPU limit of each container (fractions allowed, e.g. `1.5`). `0`: no limit.";
            network "network": String = "bridge".into(), String,
                "The Docker network mode of each container: `bridge` (default; the agent-server port is \
                 published on 127.0.0.1 only), `host`, `none` (no network at all, so no LLM either unless it is \
                 reached another way), or a user-defined network's name. `host.docker.internal` always reaches \
                 this machine, e.g. a local LLM.";
            keep_containers "keepContainers": bool = false, Boolean,
                "Keep the containers of conversations that ended, and of openhands-lsp sessions that died, for \
                 inspection (`docker ps -a --filter label=dev.openhands.lsp.owner`). Off: they are removed.";
            startup_timeout_seconds "startupTimeoutSeconds": u32 = 120, Integer { minimum: 5, maximum: 600 },
                "How long to wait for a new container's agent-server to answer `/health` before giving up.";
            engine "engine": EngineLocation = EngineLocation::Auto, Enum(&["auto", "local", "remote"]),
                "Where the Docker engine (`DOCKER_HOST`, with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` for TLS) \
                 runs. `auto`: a `tcp://` or `https://` address of another host, and any `ssh://` address, is \
                 remote; sockets and loopback are local. A remote engine cannot mount this machine's folders: each \
                 conversation's copy is uploaded into its container and the agent's changes are brought back into \
                 the copy for review (when a turn ends, when the agent waits for you, and when it stops); there is \
                 no warm pool and no checkpoint per step. The agent-server port of a TCP engine's container is \
                 published on the engine's host (all its interfaces, guarded by a per-container key) and reached at \
                 `DOCKER_HOST`'s host name; over `ssh://` it is published on the engine host's loopback and \
                 forwarded through SSH. `remote`: also for an engine behind a socket forwarded here (its published \
                 ports must then be forwarded too).";
            ssh_config "sshConfig": String = String::new(), String,
                "With `DOCKER_HOST=ssh://[user@]host[:port]`: the SSH configuration file to read instead of \
                 `~/.ssh/config` (as `ssh -F`; `~/` is your home). The engine is reached as the docker CLI reaches \
                 it, with `docker system dial-stdio` on that host, over one SSH connection kept while \
                 openhands-lsp runs. Nothing can be typed: the key must come from ssh-agent or the configuration, \
                 and the host's key must already be known (connect once with `ssh`).";
        }
        process "process": ProcessSettings {
            command "command": String = "agent-server".into(), String,
                "The agent-server command for the `process` backend, split on whitespace; `--host 127.0.0.1 \
                 --port N` are appended. Install it from openhands-lsp's lock (Python 3.12): `python3.12 -m venv V \
                 && V/bin/pip install --require-hashes --no-deps -r locks/agent-server.txt`, then set this to \
                 `V/bin/agent-server`.";
            startup_timeout_seconds "startupTimeoutSeconds": u32 = 120, Integer { minimum: 5, maximum: 600 },
                "How long to wait for a new agent-server to answer `/health` before giving up.";
        }
        confirmation "confirmation": ConfirmationMode = ConfirmationMode::Risky, Enum(&["never", "risky", "always"]),
            "When the agent asks before acting: `never`; `risky`: actions it rates high-risk or cannot rate; \
             `always`: every action. Asked with `window/showMessageRequest`.";
        max_iterations "maxIterations": u32 = 100, Integer { minimum: 1, maximum: 10000 },
            "The most steps the agent may take in one conversation before it stops.";
        max_budget_per_task "maxBudgetPerTask": Option<f64> = None, OptionalNumber { minimum: 0, maximum: 100000 },
            "The most a conversation's LLM calls may cost, in US dollars. When it is spent the agent is paused at \
             once and you are asked: raise the budget by this much again and go on, or stop. `null`: no limit. A \
             model whose price is unknown (LiteLLM has none for it) is held to `openhands.maxTokensPerTask` only.";
        max_tokens_per_task "maxTokensPerTask": Option<u64> = None,
            OptionalInteger { minimum: 1, maximum: 1_000_000_000_000 },
            "The most tokens (in and out, over all its LLM calls) a conversation may use; when they are used, as \
             with `openhands.maxBudgetPerTask`. `null`: no limit.";
        mcp_servers "mcpServers": crate::mcp::McpServers = Default::default(), McpServers,
            "The agent's MCP servers by name: `{\"command\": \"uvx\", \"args\": [\"mcp-server-fetch\"], \"env\": {}}` \
             (stdio: the agent starts it where it runs, in the container with the docker backend) or `{\"url\": \
             \"https://…\", \"type\": \"http\" or \"sse\", \"headers\": {}}`. Secrets in `env`, `headers` and \
             `args` are named, never written: `\"${secret:NAME}\"`, its value from `openhands.setSecret` (name \
             `NAME`) or the `NAME` environment variable. A bad entry is left out and named.";
        github "github": ProviderSettings {
            host "host": Option<String> = None, OptionalString,
                "The host of your GitHub Enterprise Server (e.g. `github.example.com`): remotes on it are GitHub \
                 repositories, and its API is `https://<host>/api/v3`. `null`: github.com.";
            api_url "apiUrl": Option<String> = None, OptionalString,
                "The GitHub REST API base URL, when it is not the host's usual one. `null`: \
                 `https://api.github.com`, or `https://<host>/api/v3` with `openhands.github.host`.";
            token_command "tokenCommand": Option<String> = None, OptionalString,
                "A command that prints a GitHub token (run with `sh -c`), e.g. `gh auth token`: used when no \
                 `github_token` is set, and to refresh it once after GitHub answers 401. The token is kept in \
                 memory only.";
        }
        gitlab "gitlab": ProviderSettings (again) {
            host "host": OptionalString,
                "The host of your self-managed GitLab (e.g. `gitlab.example.com`); its API is \
                 `https://<host>/api/v4`. `null`: gitlab.com.";
            api_url "apiUrl": OptionalString,
                "The GitLab REST API base URL, when it is not `https://<host>/api/v4`.";
            token_command "tokenCommand": OptionalString,
                "A command that prints a GitLab token (run with `sh -c`), e.g. `glab auth token`: used when no \
                 `gitlab_token` is set, and to refresh it once after a 401. Kept in memory only.";
        }
        bitbucket "bitbucket": ProviderSettings (again) {
            host "host": OptionalString,
                "The Bitbucket host. `null`: bitbucket.org (Bitbucket Cloud, API `https://api.bitbucket.org/2.0`).";
            api_url "apiUrl": OptionalString,
                "The Bitbucket REST API base URL, when it is not `https://api.bitbucket.org/2.0`.";
            token_command "tokenCommand": OptionalString,
                "A command that prints a Bitbucket token or `user:app_password` (run with `sh -c`): used when no \
                 `bitbucket_token` is set, and to refresh it once after a 401. Kept in memory only.";
        }
        jira "jira": JiraSettings {
            url "url": Option<String> = None, OptionalString,
                "Your Jira site, e.g. `https://acme.atlassian.net` (Cloud) or `https://jira.example.com` (Data \
                 Center): `PROJ-123` references of its projects become issues to fix. The token is `jira_token` \
                 (`openhands.setSecret` or `JIRA_API_TOKEN`).";
            email "email": Option<String> = None, OptionalString,
                "Jira Cloud: the email of the Atlassian account whose API token `jira_token` is (REST v3). `null`: \
                 Jira Data Center, where `jira_token` is a personal access token (REST v2).";
            projects "projects": Option<String> = None, OptionalString,
                "The Jira projects whose issues assigned to you are suggested, as keys (`\"PROJ, OPS\"`). `null`: \
                 every project.";
        }
        linear "linear": LinearSettings {
            api_url "apiUrl": String = "https://api.linear.app/graphql".into(), String,
                "Linear's GraphQL API. Linear is used once `linear_api_key` is set (`openhands.setSecret` or \
                 `LINEAR_API_KEY`, a personal API key): `ENG-42` references of its teams become issues to fix.";
            teams "teams": Option<String> = None, OptionalString,
                "The Linear teams whose issues assigned to you are suggested, as keys (`\"ENG, WEB\"`). `null`: \
                 every team.";
        }
        cloud "cloud": CloudSettings {
            url "url": String = "https://app.all-hands.dev".into(), String,
                "The OpenHands server of the `cloud` backend: OpenHands Cloud, or a self-hosted OpenHands app \
                 server. Its API key comes from `openhands.setSecret` (`cloud_api_key`) or the \
                 `OPENHANDS_API_KEY` environment variable, never from settings.";
            startup_timeout_seconds "startupTimeoutSeconds": u32 = 600, Integer { minimum: 10, maximum: 3600 },
                "How long the cloud may take to get a new conversation ready (sandbox, clone, setup script) \
                 before openhands-lsp gives up.";
        }
    }
}

/// One bad value, reported to the user with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingProblem {
    /// Full key including the section, e.g. `openhands.backend`.
    pub key: String,
    pub problem: String,
}

impl std::fmt::Display for SettingProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

/// The outcome of reading settings: what applies, what was wrong, and keys nobody knows.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub settings: Settings,
    pub problems: Vec<SettingProblem>,
    pub unknown_keys: Vec<String>,
}

pub const SECTION: &str = "openhands";

/// How a setting's problem ends for editors, which go on with the default.
pub const DEFAULT_USED: &str = "; the default is used";

/// Reads the `openhands` object (keys without the prefix). `null` means "all defaults".
pub fn parse(value: &Value) -> Parsed {
    let mut parsed = Parsed::default();
    let user = match value {
        Value::Null => return parsed,
        Value::Object(map) => expand_dotted_keys(map),
        other => {
            parsed.problems.push(SettingProblem {
                key: SECTION.to_owned(),
                problem: format!("expected an object of settings, got {}", json_type(other)),
            });
            return parsed;
        }
    };

    let mut merged = defaults_json();
    for spec in SPECS {
        let Some(candidate) = get_path(&user, spec.key) else { continue };
        if spec.ty == SettingType::McpServers {
            let (good, problems) = crate::mcp::McpServers::check(candidate);
            set_path(&mut merged, spec.key, serde_json::to_value(good).unwrap_or_default());
            parsed.problems.extend(problems.into_iter().map(|(name, problem)| SettingProblem {
                key: [SECTION, spec.key, &name].iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join("."),
                problem,
            }));
            continue;
        }
        let previous = set_path(&mut merged, spec.key, candidate.clone());
        if serde_json::from_value::<Settings>(merged.clone()).is_err() {
            parsed.problems.push(SettingProblem {
                key: format!("{SECTION}.{}", spec.key),
                problem: format!("expected {} (got {candidate}){DEFAULT_USED}", expected(spec.ty)),
            });
            set_path(&mut merged, spec.key, previous);
        } else if let Some(problem) = check_range(spec, candidate) {
            parsed.problems.push(SettingProblem { key: format!("{SECTION}.{}", spec.key), problem });
            set_path(&mut merged, spec.key, previous);
        }
    }
    // Every candidate was checked on its own above, so the merged object is valid.
    parsed.settings = serde_json::from_value(merged).unwrap_or_default();
    collect_unknown(&user, "", &mut parsed.unknown_keys);
    parsed
}

/// The defaults as the JSON an editor would send.
pub fn defaults_json() -> Value {
    serde_json::to_value(Settings::default()).unwrap_or(Value::Null)
}

fn check_range(spec: &SettingSpec, value: &Value) -> Option<String> {
    match spec.ty {
        SettingType::Integer { minimum, maximum } | SettingType::OptionalInteger { minimum, maximum } => {
            let n = value.as_i64()?;
            (n < minimum || n > maximum).then(|| format!("expected {} (got {n}){DEFAULT_USED}", expected(spec.ty)))
        }
        SettingType::Number { minimum, maximum } | SettingType::OptionalNumber { minimum, maximum } => {
            let n = value.as_f64()?;
            (!n.is_finite() || n < minimum as f64 || n > maximum as f64)
                .then(|| format!("expected {} (got {n}){DEFAULT_USED}", expected(spec.ty)))
        }
        _ => None,
    }
}

/// What a setting of type `ty` takes, in the words a user reads (not serde's "expected u32").
fn expected(ty: SettingType) -> String {
    match ty {
        SettingType::String => "text".into(),
        SettingType::OptionalString => "text, or null".into(),
        SettingType::Enum(values) => {
            format!("one of {}", values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", "))
        }
        SettingType::Integer { minimum, maximum } => format!("a whole number from {minimum} to {maximum}"),
        SettingType::OptionalInteger { minimum, maximum } => {
            format!("a whole number from {minimum} to {maximum}, or null")
        }
        SettingType::Number { minimum, maximum } => format!("a number from {minimum} to {maximum}"),
        SettingType::OptionalNumber { minimum, maximum } => format!("a number from {minimum} to {maximum}, or null"),
        SettingType::Boolean => "true or false".into(),
        SettingType::McpServers => "an object of MCP servers by name".into(),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A path as people write it in settings: `~/…` is under the home folder.
pub fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), crate::state_dir::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => std::path::PathBuf::from(path),
    }
}

/// Some clients send `{"llm.model": "x"}` instead of `{"llm": {"model": "x"}}`; both mean the same.
fn expand_dotted_keys(map: &Map<String, Value>) -> Value {
    let mut out = Value::Object(Map::new());
    for (key, value) in map {
        let key = key.strip_prefix("openhands.").unwrap_or(key);
        // Server names and environment variables are the user's own words, dots included.
        let value = match value {
            Value::Object(inner) if key != "mcpServers" => expand_dotted_keys(inner),
            other => other.clone(),
        };
        merge_at(&mut out, key, value);
    }
    out
}

fn merge_at(target: &mut Value, dotted: &str, value: Value) {
    match (get_path_mut(target, dotted), value) {
        (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
        (_, value) => {
            set_path(target, dotted, value);
        }
    }
}

fn get_path<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(value, |v, part| v.get(part))
}

fn get_path_mut<'a>(value: &'a mut Value, dotted: &str) -> Option<&'a mut Value> {
    dotted.split('.').try_fold(value, |v, part| v.get_mut(part))
}

/// Sets `dotted` to `new`, creating objects on the way, and returns what was there (null if nothing).
fn set_path(value: &mut Value, dotted: &str, new: Value) -> Value {
    let mut cursor = value;
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        if !cursor.is_object() {
            *cursor = Value::Object(Map::new());
        }
        let Value::Object(map) = cursor else { unreachable!("made an object just above") };
        if parts.peek().is_none() {
            return map.insert(part.to_owned(), new).unwrap_or(Value::Null);
        }
        cursor = map.entry(part.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    }
    Value::Null
}

fn collect_unknown(value: &Value, prefix: &str, out: &mut Vec<String>) {
    let Value::Object(map) = value else { return };
    for (key, child) in map {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        if SPECS.iter().any(|s| s.key == path) {
            continue;
        }
        let is_group = SPECS.iter().any(|s| s.key.starts_with(&format!("{path}.")));
        if is_group && child.is_object() {
            collect_unknown(child, &path, out);
        } else {
            out.push(format!("{SECTION}.{path}"));
        }
    }
}

/// Every leaf key of the defaults, for the consistency test.
#[cfg(test)]
fn default_leaf_keys() -> Vec<String> {
    fn walk(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(v, &path, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    walk(&defaults_json(), "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_setting_has_a_spec_and_every_spec_a_setting() {
        let mut from_struct = default_leaf_keys();
        from_struct.sort();
        let mut from_specs: Vec<String> = SPECS.iter().map(|s| s.key.to_owned()).collect();
        from_specs.sort();
        assert_eq!(from_struct, from_specs, "Settings and SPECS disagree: add the missing SettingSpec or field");
    }

    #[test]
    fn enum_specs_accept_exactly_their_values() {
        for spec in SPECS {
            if let SettingType::Enum(values) = spec.ty {
                for v in values {
                    let parsed = parse(&set_in_object(spec.key, json!(v)));
                    assert!(parsed.problems.is_empty(), "{}: {v} rejected: {:?}", spec.key, parsed.problems);
                }
                let parsed = parse(&set_in_object(spec.key, json!("no-such-value")));
                assert_eq!(parsed.problems.len(), 1, "{} accepted a bogus value", spec.key);
            }
        }
    }

    fn set_in_object(key: &str, value: Value) -> Value {
        let mut v = json!({});
        set_path(&mut v, key, value);
        v
    }

    #[test]
    fn null_means_defaults() {
        let parsed = parse(&Value::Null);
        assert_eq!(parsed.settings, Settings::default());
        assert!(parsed.problems.is_empty());
    }

    #[test]
    fn bad_value_names_key_and_keeps_default() {
        let parsed = parse(&json!({"backend": "dockr"}));
        assert_eq!(parsed.settings.backend, Backend::Docker);
        assert_eq!(parsed.problems.len(), 1);
        assert_eq!(parsed.problems[0].key, "openhands.backend");
        assert!(parsed.problems[0].problem.contains("dockr"), "{}", parsed.problems[0].problem);
    }

    #[test]
    fn problems_say_what_a_setting_takes_in_words() {
        let parsed = parse(&json!({"maxIterations": "lots", "docker": {"cpus": 1000}, "backend": "dockr"}));
        let said: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "openhands.backend: expected one of \"docker\", \"process\", \"cloud\" (got \"dockr\"); the default is used",
                "openhands.docker.cpus: expected a number from 0 to 256 (got 1000); the default is used",
                "openhands.maxIterations: expected a whole number from 1 to 10000 (got \"lots\"); the default is used",
            ]
        );
    }

    #[test]
    fn wrong_type_for_section() {
        let parsed = parse(&json!([1, 2]));
        assert_eq!(parsed.problems[0].key, "openhands");
        assert!(parsed.problems[0].problem.contains("an array"));
    }

    #[test]
    fn unknown_keys_are_listed_not_fatal() {
        let parsed = parse(&json!({"backend": "process", "colour": "blue"}));
        assert!(parsed.problems.is_empty());
        assert_eq!(parsed.unknown_keys, vec!["openhands.colour".to_owned()]);
    }

    #[test]
    fn dotted_and_prefixed_keys_are_understood() {
        let parsed = parse(&json!({"openhands.backend": "process"}));
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert!(parsed.unknown_keys.is_empty(), "{:?}", parsed.unknown_keys);
    }
}

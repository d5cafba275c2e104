//! What a container is made from: a pure function of the settings, the image, who runs it and a few random values,
//! so that what the sandbox allows (its port, its mounts, its user, its limits) can be read and tested in one place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};

use super::image::ImageFacts;
use super::owner::owner_labels;
use super::project_image::{self, ImageChoice};
use super::{
    AGENT_PORT, AGENT_RECORD_DIR, AGENT_STATE_DIR, CONTAINER_FOLDERS, CONTAINER_WORKSPACE, DockerConfig,
    POOL_NAME_PREFIX, Role,
};
use super::{label, short};
use crate::instance::Instance;
use crate::sandbox::python_hook;

/// The inputs of one container.
pub(super) struct SpecInput<'a> {
    pub config: &'a DockerConfig,
    /// The host folder mounted at /workspace (a pooled container's empty slot).
    pub mount: &'a Path,
    /// The host folder where the agent-server keeps its record of conversations (a pooled container's second slot);
    /// `None`: in memory.
    pub record: Option<&'a Path>,
    pub role: Role<'a>,
    pub owner: &'a Instance,
    pub image: &'a ImageFacts,
    /// What the container runs: the agent-server image, or a project's with the agent-server mounted in.
    pub choice: &'a ImageChoice,
    pub user: ContainerUser,
    /// Random per container: the agent-server's session key and secret key, and the name's tail.
    pub session_key: &'a str,
    pub secret_key: &'a str,
    pub name_key: &'a str,
    /// With `network: host`: the loopback port the agent-server listens on (else it is published on a random one).
    pub host_port: Option<u16>,
    /// On a remote engine: nothing of this machine is mounted (the folders are uploaded).
    pub remote: bool,
    /// The engine host's address the agent-server's port is published on (`engine::Engine::publish_on`).
    pub publish_on: &'a str,
}

pub(super) struct ContainerSpec {
    pub name: String,
    pub body: ContainerCreateBody,
    /// The agent-server's port as the container exposes it (`8431/tcp`).
    pub exposed: String,
    /// The image's user the workspace is handed to once the container is up.
    pub chown_to: Option<String>,
    /// That user's ids, when known before the container runs.
    pub chown_ids: Option<(u32, u32)>,
}

pub(super) fn container_spec(input: SpecInput<'_>) -> ContainerSpec {
    let SpecInput {
        config,
        mount,
        record,
        role,
        owner,
        image,
        choice,
        user,
        session_key,
        secret_key,
        name_key,
        host_port,
        remote,
        publish_on,
    } = input;
    let host_network = host_port.is_some();
    let port = host_port.unwrap_or(AGENT_PORT).to_string();
    let listen = if host_network { "127.0.0.1" } else { "0.0.0.0" };
    let mut labels = owner_labels(owner);
    let (name, conversation) = match role {
        Role::Conversation(id, _) => {
            labels.insert(label::ROLE.into(), "conversation".into());
            (format!("openhands-lsp-{}-{}", short(id), &name_key[..6]), id.to_owned())
        }
        Role::Pool => {
            labels.insert(label::ROLE.into(), "pool".into());
            labels.insert(label::SLOT.into(), mount.to_string_lossy().into_owned());
            (format!("{POOL_NAME_PREFIX}{}", &name_key[..10]), String::new())
        }
    };
    labels.insert(label::CONVERSATION.into(), conversation);
    labels.insert(label::KEEP.into(), config.keep_containers.to_string());
    let mut env = vec![
        format!("SESSION_API_KEY={session_key}"),
        format!("OH_SECRET_KEY={secret_key}"),
        // As for the process backend: no cost-map download thread racing litellm's imports at start-up.
        "LITELLM_LOCAL_MODEL_COST_MAP=True".to_owned(),
    ];
    let hook_dir = Path::new(python_hook::CONTAINER_DIR);
    if let Some(path) = python_hook::python_path(hook_dir, image.python_path.as_deref()) {
        env.push(format!("PYTHONPATH={path}"));
    }
    let (user_spec, chown_to, chown_ids) = match user {
        ContainerUser::Host { uid, gid } => {
            // A uid the image may not know: give it a home that exists.
            env.push("HOME=/tmp".into());
            (Some(format!("{uid}:{gid}")), None, None)
        }
        ContainerUser::Image(chown) => (None, chown, None),
        ContainerUser::Agent => {
            env.push("HOME=/tmp".into());
            (Some(format!("{AGENT_UID}:{AGENT_UID}")), Some(format!("uid {AGENT_UID}")), Some((AGENT_UID, AGENT_UID)))
        }
        ContainerUser::Root => (Some("0:0".to_owned()), None, None),
    };
    env.extend(state_env(record.is_some(), remote));
    let mounts = (!remote).then_some((mount, record, folders_of(&role)));
    let exposed = format!("{AGENT_PORT}/tcp");
    let mut body = ContainerCreateBody {
        image: Some(choice.image.clone()),
        cmd: Some(vec!["--host".into(), listen.into(), "--port".into(), port]),
        env: Some(env),
        labels: Some(labels),
        user: user_spec,
        // The agent-server keeps its own state under its working directory: not in the user's workspace.
        working_dir: Some("/tmp".into()),
        exposed_ports: (!host_network).then(|| vec![exposed.clone()]),
        host_config: Some(host_config(config, mounts, (&exposed, publish_on), host_network)),
        ..Default::default()
    };
    if let Some(bundle) = &choice.bundle {
        project_image::apply_bundle(&mut body, bundle, image.path.as_deref());
    }
    ContainerSpec { name, body, exposed, chown_to, chown_ids }
}

/// Where the agent-server keeps its state: its record of conversations (kept with the conversation when `record`),
/// the terminal's events.
fn state_env(record: bool, remote: bool) -> Vec<String> {
    let conversations = if record { AGENT_RECORD_DIR.to_owned() } else { format!("{AGENT_STATE_DIR}/conversations") };
    let mut env = vec![format!("OH_CONVERSATIONS_PATH={conversations}")];
    // Steps wait for their checkpoints only where this machine sees the record's folder (a mount).
    if record && !remote {
        env.extend(crate::sandbox::step_acks_env(AGENT_RECORD_DIR).map(|(k, v)| format!("{k}={v}")));
    }
    env.push(format!("OH_BASH_EVENTS_DIR={AGENT_STATE_DIR}/bash_events"));
    env
}

fn folders_of<'a>(role: &Role<'a>) -> &'a [(String, PathBuf)] {
    match role {
        Role::Conversation(_, folders) => folders,
        Role::Pool => &[],
    }
}

/// The folders a local engine mounts: the workspace, the agent-server's record, the extra folders.
type Mounts<'a> = (&'a Path, Option<&'a Path>, &'a [(String, PathBuf)]);

/// The container's reach on the host: the workspace mounted (and the agent-server's record of the conversation,
/// kept with it), the port on loopback only, the limits, no new privileges, the agent-server's other state in memory.
/// `mounts`: `None` on a remote engine, which mounts nothing; `publish_on`: where on the engine's host the port is.
fn host_config(
    config: &DockerConfig,
    mounts: Option<Mounts<'_>>,
    (exposed, publish_on): (&str, &str),
    host_network: bool,
) -> HostConfig {
    let mut binds = Vec::new();
    if let Some((mount, record, folders)) = mounts {
        binds.push(format!("{}:{CONTAINER_WORKSPACE}:rw", mount.display()));
        if let Some(record) = record {
            binds.push(format!("{}:{AGENT_RECORD_DIR}:rw", record.display()));
        }
        for (name, host) in folders {
            binds.push(format!("{}:{CONTAINER_FOLDERS}/{name}:rw", host.display()));
        }
    }
    // Only this machine speaks to the agent-server: on loopback, unless the engine is another machine's that this
    // one reaches over the network (over SSH, the port is forwarded from that host's loopback).
    HostConfig {
        binds: Some(binds).filter(|b| !b.is_empty()),
        port_bindings: (!host_network).then(|| {
            HashMap::from([(
                exposed.to_owned(),
                Some(vec![PortBinding { host_ip: Some(publish_on.into()), host_port: Some(String::new()) }]),
            )])
        }),
        extra_hosts: Some(vec!["host.docker.internal:host-gateway".into()]),
        network_mode: Some(config.network.clone()),
        memory: (config.memory_mb > 0).then(|| i64::from(config.memory_mb) * 1024 * 1024),
        nano_cpus: (config.cpus > 0.0).then_some((config.cpus * 1e9) as i64),
        init: Some(true),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        // The agent-server's other state (under its working directory, /tmp; the terminal's command outputs) is
        // in memory, gone with the container, never in the container's layer on the host's disk.
        tmpfs: Some(HashMap::from([(AGENT_STATE_DIR.to_owned(), "rw,mode=1777".to_owned())])),
        ..Default::default()
    }
}

#[derive(Debug, Clone)]
pub(super) enum ContainerUser {
    Host {
        uid: u32,
        gid: u32,
    },
    /// The image's own user; `Some` when it is not root and the workspace must be handed to it.
    Image(Option<String>),
    /// [`AGENT_UID`], for a project's image whose own user is root.
    Agent,
    Root,
}

impl ContainerUser {
    /// The uid and gid files are given to for this user, when known without asking the image.
    pub(super) fn ids(&self) -> Option<(u32, u32)> {
        match self {
            ContainerUser::Host { uid, gid } => Some((*uid, *gid)),
            ContainerUser::Agent => Some((AGENT_UID, AGENT_UID)),
            ContainerUser::Image(Some(_)) => None,
            ContainerUser::Image(None) | ContainerUser::Root => Some((0, 0)),
        }
    }
}

/// The user the agent runs as in a project's image that has no user of its own but root (when openhands-lsp is root).
pub(super) const AGENT_UID: u32 = 10001;

/// Who the agent runs as. openhands-lsp's own user when it is not root (files stay the user's); as root, the image's
/// non-root user for workspaces that are openhands-lsp's own copies (handed over with chown; a project's image with
/// none gets [`AGENT_UID`]), and root for the user's own folders (whose owners must not change).
pub(super) fn user_for(image: &ImageFacts, workspace_is_ours: bool, project: bool) -> ContainerUser {
    // Where ids are unknown (Windows: Docker Desktop maps ownership itself) the container is as under root.
    if let Some((uid, gid)) = crate::platform::effective_ids().filter(|(uid, _)| *uid != 0) {
        return ContainerUser::Host { uid, gid };
    }
    if !workspace_is_ours {
        return ContainerUser::Root;
    }
    match &image.user {
        None if project => ContainerUser::Agent,
        user => ContainerUser::Image(user.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Instance {
        Instance { id: "inst".into(), pid: 42, start: "7".into(), boot: "boot".into(), host: "host".into() }
    }

    #[test]
    fn a_conversations_container_is_made_as_specified() {
        let config = DockerConfig { memory_mb: 2048, cpus: 1.5, ..DockerConfig::default() };
        let image = ImageFacts { user: Some("openhands".into()), python_path: Some("/app".into()), path: None };
        let spec = container_spec(SpecInput {
            config: &config,
            mount: Path::new("/state/conversations/c1/worktree"),
            record: Some(Path::new("/state/conversations/c1/agent")),
            role: Role::Conversation(
                "c1234567890abcdef",
                &[("api".into(), PathBuf::from("/state/conversations/c1/folders/api"))],
            ),
            owner: &owner(),
            image: &image,
            choice: &ImageChoice::agent_image(&config),
            user: ContainerUser::Image(Some("openhands".into())),
            session_key: "SESSION",
            secret_key: "SECRET",
            name_key: "abcdefghijkl",
            host_port: None,
            remote: false,
            publish_on: "127.0.0.1",
        });
        assert_eq!(spec.name, "openhands-lsp-c1234567890a-abcdef");
        assert_eq!(spec.chown_to.as_deref(), Some("openhands"));
        let mut body = serde_json::to_value(&spec.body).unwrap();
        body["Image"] = "<the configured image>".into();
        // Keys sorted: serde_json keeps insertion order in this build (the ACP schema crate turns on its
        // `preserve_order`), which the snapshot should not depend on.
        fn sorted(value: &serde_json::Value) -> serde_json::Value {
            match value {
                serde_json::Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect()
                }
                serde_json::Value::Array(items) => items.iter().map(sorted).collect(),
                other => other.clone(),
            }
        }
        let text = serde_json::to_string_pretty(&sorted(&body)).unwrap();
        expect_test::expect_file!["spec_snapshot.json"].assert_eq(&text);
    }

    #[test]
    fn a_pooled_container_on_the_host_network_listens_on_loopback_only() {
        let config = DockerConfig { network: "host".into(), ..DockerConfig::default() };
        let image = ImageFacts { user: None, python_path: None, path: None };
        let spec = container_spec(SpecInput {
            config: &config,
            mount: Path::new("/state/docker-pool/slot-1"),
            record: None,
            role: Role::Pool,
            owner: &owner(),
            image: &image,
            choice: &ImageChoice::agent_image(&config),
            user: ContainerUser::Host { uid: 1000, gid: 1000 },
            session_key: "S",
            secret_key: "T",
            name_key: "abcdefghijkl",
            host_port: Some(41000),
            remote: false,
            publish_on: "127.0.0.1",
        });
        assert_eq!(spec.name, "openhands-lsp-pool-abcdefghij");
        let body = &spec.body;
        assert_eq!(
            body.cmd.as_deref(),
            Some(&["--host".into(), "127.0.0.1".into(), "--port".into(), "41000".into()][..])
        );
        assert_eq!(body.exposed_ports, None);
        let host = body.host_config.as_ref().unwrap();
        assert_eq!(host.port_bindings, None);
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        let labels = body.labels.as_ref().unwrap();
        assert_eq!(labels[label::ROLE], "pool");
        assert_eq!(labels[label::SLOT], "/state/docker-pool/slot-1");
        assert!(body.env.as_ref().unwrap().contains(&"HOME=/tmp".to_owned()));
    }

    #[test]
    fn on_a_remote_engine_nothing_is_mounted_and_the_port_is_published_on_its_host() {
        let config = DockerConfig::default();
        let image = ImageFacts { user: Some("openhands".into()), python_path: None, path: None };
        let spec = container_spec(SpecInput {
            config: &config,
            mount: Path::new("/state/conversations/c1/worktree"),
            record: Some(Path::new("/run/openhands-lsp/c1/record")),
            role: Role::Conversation("c1234567890abcdef", &[("api".into(), PathBuf::from("/state/folders/api"))]),
            owner: &owner(),
            image: &image,
            choice: &ImageChoice::agent_image(&config),
            user: ContainerUser::Image(Some("openhands".into())),
            session_key: "S",
            secret_key: "T",
            name_key: "abcdefghijkl",
            host_port: None,
            remote: true,
            publish_on: "",
        });
        let host = spec.body.host_config.as_ref().unwrap();
        assert_eq!(host.binds, None, "a remote engine mounts nothing of this machine");
        let bindings = host.port_bindings.as_ref().unwrap()["8431/tcp"].as_ref().unwrap();
        assert_eq!(bindings[0].host_ip.as_deref(), Some(""), "published on the engine host's interfaces");
        let env = spec.body.env.as_ref().unwrap();
        assert!(env.contains(&"OH_CONVERSATIONS_PATH=/tmp/agent-server-record".to_owned()), "{env:?}");
        assert!(!env.iter().any(|e| e.starts_with("OPENHANDS_LSP_STEP_ACKS=")), "no step waits for a checkpoint");
    }
}

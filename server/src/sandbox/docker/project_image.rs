//! Which image a conversation's container runs, from the folder it works on, in this order: the folder's dev
//! container (its `image`, or its Dockerfile built once and kept under a key of what went into it),
//! `openhands.docker.baseImage`, else the agent-server image itself.
//!
//! A project's image runs as it is, with the agent-server mounted in read-only from a volume of its own: one per
//! agent-server image, filled once by `agent_bundle.sh` (the agent-server with its own loader and libraries), so the
//! agent works with the project's toolchain on `PATH` and nothing is copied or built per project for it. Docker
//! builds may have no network: adding the agent-server needs none.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListImagesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures::StreamExt;

use super::dockerfile_build::{PROJECT_REPOSITORY, build_key, project_tag};
use super::{DockerConfig, Inner, is_not_found, label};
use crate::sandbox::devcontainer::{self, DevContainer, ImageSource, SetupCommand};
use crate::sandbox::{SandboxError, StartProgress, random_key};

/// Where a project's container sees the agent-server (the bundle volume's mount).
pub(super) const BUNDLE_DIR: &str = "/opt/openhands-lsp/agent";
/// The bundle's entrypoint, and the folder put at the end of `PATH` (tmux, when the project's image has none).
const BUNDLE_ENTRY: &str = "/opt/openhands-lsp/agent/bin/agent-server";
const BUNDLE_PATH: &str = "/opt/openhands-lsp/agent/path";
const BUNDLE_SCRIPT: &str = include_str!("agent_bundle.sh");
/// Bumped when `agent_bundle.sh` changes what it makes: volumes of an older recipe are not used.
const BUNDLE_RECIPE: u32 = 2;

/// The label of the agent-server volumes.
const BUNDLE_LABEL: &str = "dev.openhands.lsp.bundle";

/// What a conversation's container is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageChoice {
    /// The image containers run.
    pub image: String,
    /// The volume holding the agent-server, for a project's image; `None`: `image` is the agent-server image.
    pub bundle: Option<String>,
    /// Where the image comes from, in words: `the dev container (.devcontainer/devcontainer.json)`.
    pub origin: String,
    /// What the dev container says that is not applied, for the user.
    pub notice: Option<String>,
    /// The dev container's `postCreateCommand`.
    pub post_create: Vec<(String, SetupCommand)>,
}

impl ImageChoice {
    pub(super) fn agent_image(config: &DockerConfig) -> ImageChoice {
        ImageChoice {
            image: config.image.clone(),
            bundle: None,
            origin: "the agent-server image (openhands.docker.image)".into(),
            notice: None,
            post_create: Vec::new(),
        }
    }
}

/// Where a folder's image would come from, without building or pulling anything (for `doctor` and status).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePlan {
    /// `devContainer`, `baseImage` or `agentImage`.
    pub source: &'static str,
    /// The image, when it has a name before it is built.
    pub image: Option<String>,
    /// The dev container file, the Dockerfile.
    pub file: Option<String>,
    /// Whether it is ready (present, or built under its current key); `null` when it could not be told.
    pub ready: Option<bool>,
    /// In words, for a person.
    pub summary: String,
}

impl Inner {
    /// The image for a conversation on `workspace` (the conversation's own copy; `source` is the user's folder it
    /// came from), pulled or built when it is not there yet, with progress.
    pub(super) async fn choose_image(
        &self,
        docker: &Docker,
        config: &DockerConfig,
        workspace: &Path,
        source: &Path,
        progress: Option<&StartProgress>,
    ) -> Result<ImageChoice, SandboxError> {
        let dev = if config.dev_container { read_dev_container(workspace)? } else { None };
        let (image, origin, notice, post_create) = match dev {
            Some(dc) => {
                let origin = format!("the dev container ({})", dc.file);
                let image = match &dc.source {
                    Some(ImageSource::Image(image)) => image.clone(),
                    Some(ImageSource::Dockerfile { .. }) => {
                        self.build(docker, &dc, workspace, source, progress).await?
                    }
                    None => {
                        // Docker Compose: said in the notice; the next source applies.
                        match &config.base_image {
                            Some(base) => base.clone(),
                            None => {
                                let mut choice = ImageChoice::agent_image(config);
                                choice.notice = dc.notice();
                                choice.post_create = dc.post_create.clone();
                                return Ok(choice);
                            }
                        }
                    }
                };
                (image, origin, dc.notice(), dc.post_create.clone())
            }
            None => match config.base_image.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
                Some(base) => (base.to_owned(), "the setting openhands.docker.baseImage".to_owned(), None, Vec::new()),
                None => return Ok(ImageChoice::agent_image(config)),
            },
        };
        self.ensure_image(docker, &image, progress).await.map_err(|e| match e {
            SandboxError::Image(m) => SandboxError::Image(m.replace("the agent-server image", "the project's image")),
            other => other,
        })?;
        let bundle = self.ensure_bundle(docker, &config.image, progress).await?;
        self.check_base(docker, &image, (&config.image, &bundle)).await?;
        Ok(ImageChoice { image, bundle: Some(bundle), origin, notice, post_create })
    }

    /// Refuses images the agent-server of `agent` (in the volume `bundle`) cannot run in, in words that say what to
    /// use instead.
    async fn check_base(
        &self,
        docker: &Docker,
        image: &str,
        (agent, bundle): (&str, &str),
    ) -> Result<(), SandboxError> {
        let inspect = docker
            .inspect_image(image)
            .await
            .map_err(|e| SandboxError::Docker(format!("cannot inspect the image {image}: {e}")))?;
        let id = format!("{} {bundle}", inspect.id.as_deref().unwrap_or(image));
        if self.checked_bases.lock().unwrap_or_else(|p| p.into_inner()).contains(&id) {
            return Ok(());
        }
        if let Some(refusal) = platform_refusal(image, inspect.os.as_deref(), inspect.architecture.as_deref()) {
            return Err(SandboxError::Image(refusal));
        }
        // The glibc a self-contained agent-server binary needs is in its bundle (agent_bundle.sh).
        let probe = format!(
            "[ -e /lib/ld-musl-x86_64.so.1 ] && echo musl; [ -e /lib64/ld-linux-x86-64.so.2 ] && echo glibc; \
             [ -x /bin/bash ] && echo bash; getconf GNU_LIBC_VERSION 2>/dev/null; \
             sed 's/^/needs /' {BUNDLE_DIR}/.needs-glibc 2>/dev/null; exit 0"
        );
        let mount = vec![format!("{bundle}:{BUNDLE_DIR}:ro")];
        let found = throwaway(docker, image, vec!["/bin/sh".into(), "-c".into(), probe], mount).await.map_err(|e| {
            SandboxError::Image(format!(
                "the project's image {image} cannot run a shell (/bin/sh), which the agent needs: {e}. Use a \
                     Debian, Ubuntu or Fedora based image"
            ))
        })?;
        let has = |w: &str| found.lines().any(|l| l.trim() == w);
        if has("musl") && !has("glibc") {
            return Err(SandboxError::Image(format!(
                "the project's image {image} is built on musl (Alpine, say): the agent-server needs a glibc-based \
                 Linux image. Use the Debian or Ubuntu variant of the image (for rust:1-alpine, rust:1-bookworm)"
            )));
        }
        if !has("glibc") {
            return Err(SandboxError::Image(format!(
                "the project's image {image} is not a glibc-based Linux image (no /lib64/ld-linux-x86-64.so.2): use \
                 a Debian, Ubuntu or Fedora based image"
            )));
        }
        let word = |prefix: &str| found.lines().find_map(|l| l.trim().strip_prefix(prefix).map(str::trim));
        if let (Some(needs), Some(have)) = (word("needs "), word("glibc "))
            && older_than(have, needs)
        {
            return Err(SandboxError::Image(format!(
                "the project's image {image} has glibc {have}, older than the {needs} the agent-server of {agent} \
                 needs: use an image of a newer release (Debian 12, Ubuntu 22.04 or newer), or a Python agent-server \
                 image (openhands.docker.image)"
            )));
        }
        if !has("bash") {
            return Err(SandboxError::Image(format!(
                "the project's image {image} has no bash (/bin/bash), the shell the agent's terminal runs: install \
                 bash in it (apt-get install bash) or use a Debian or Ubuntu based image"
            )));
        }
        self.checked_bases.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
        Ok(())
    }

    /// The volume holding the agent-server of `agent_image` for projects' images, filled once.
    async fn ensure_bundle(
        &self,
        docker: &Docker,
        agent_image: &str,
        progress: Option<&StartProgress>,
    ) -> Result<String, SandboxError> {
        let agent = self.ensure_image(docker, agent_image, progress).await.and(
            docker
                .inspect_image(agent_image)
                .await
                .map_err(|e| SandboxError::Docker(format!("cannot inspect the image {agent_image}: {e}"))),
        )?;
        let id = agent.id.clone().unwrap_or_default();
        let volume = bundle_volume(&id);
        // One filling at a time: a second conversation waits for the first's and finds it done.
        let mut ready = self.bundles.lock().await;
        // Asked each time (a millisecond): the volume may have been cleaned away by another process.
        let exists = docker.inspect_volume(&volume).await.is_ok();
        if exists && ready.contains(&volume) {
            return Ok(volume);
        }
        if exists && bundle_complete(docker, agent_image, &volume).await {
            ready.insert(volume.clone());
            return Ok(volume);
        }
        let preparing = "preparing the agent-server for the project's image (once per agent-server version)…";
        StartProgress::report_to(progress, preparing.into());
        let options = bollard::models::VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(HashMap::from([(BUNDLE_LABEL.to_owned(), agent_image.to_owned())])),
            ..Default::default()
        };
        docker
            .create_volume(options)
            .await
            .map_err(|e| SandboxError::Docker(format!("cannot create the volume {volume}: {e}")))?;
        let entry = agent.config.as_ref().and_then(|c| c.entrypoint.clone()).unwrap_or_default();
        let mut cmd: Vec<String> = vec!["/bin/sh".into(), "-c".into(), BUNDLE_SCRIPT.into(), "agent_bundle".into()];
        cmd.extend(entry);
        let mount = vec![format!("{volume}:{BUNDLE_DIR}")];
        // The filling container's name is the lock between openhands-lsp processes sharing the daemon.
        let filler = format!("openhands-lsp-fill-{volume}");
        if let Err(other) = throwaway_named(docker, &filler, agent_image, cmd.clone(), mount.clone()).await {
            if !other.contains(NAME_TAKEN) {
                return Err(self.bundle_failed(agent_image, &other));
            }
            // Another process fills it: wait for its filler to go, then look again.
            self.wait_gone(docker, &filler).await;
            if bundle_complete(docker, agent_image, &volume).await {
                ready.insert(volume.clone());
                return Ok(volume);
            }
            throwaway_named(docker, &filler, agent_image, cmd, mount)
                .await
                .map_err(|e| self.bundle_failed(agent_image, &e))?;
        }
        tracing::info!(volume, "agent-server bundle ready");
        ready.insert(volume.clone());
        Ok(volume)
    }

    fn bundle_failed(&self, agent_image: &str, e: &str) -> SandboxError {
        SandboxError::Image(format!(
            "cannot prepare the agent-server of {agent_image} for a project's image: {e}. Set \
             openhands.docker.devContainer to false and clear openhands.docker.baseImage to use the agent-server \
             image itself"
        ))
    }

    /// Waits until the container `name` is gone (or stopped: its owner died, so it is removed here), at most ten
    /// minutes.
    async fn wait_gone(&self, docker: &Docker, name: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        while tokio::time::Instant::now() < deadline {
            match docker.inspect_container(name, None).await {
                Err(_) => return,
                Ok(c) if !c.state.as_ref().and_then(|s| s.running).unwrap_or(false) => {
                    let options = RemoveContainerOptionsBuilder::default().force(true).build();
                    let _ = docker.remove_container(name, Some(options)).await;
                    return;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}

/// Where a folder's conversations would get their image, and whether it is ready, without pulling or building.
pub(super) async fn plan(docker: &Docker, config: &DockerConfig, folder: &Path) -> ImagePlan {
    let present = |image: String| async move {
        match docker.inspect_image(&image).await {
            Ok(_) => Some(true),
            Err(e) if is_not_found(&e) => Some(false),
            Err(_) => None,
        }
    };
    let dev = if config.dev_container { read_dev_container(folder) } else { Ok(None) };
    match dev {
        Err(e) => {
            ImagePlan { source: "devContainer", image: None, file: None, ready: Some(false), summary: e.to_string() }
        }
        Ok(Some(DevContainer { source: Some(source), file, .. })) => match &source {
            ImageSource::Image(image) => {
                let ready = present(image.clone()).await;
                ImagePlan {
                    source: "devContainer",
                    image: Some(image.clone()),
                    file: Some(file.clone()),
                    ready,
                    summary: format!("{image}, from {} ({})", file, presence(ready)),
                }
            }
            src @ ImageSource::Dockerfile { dockerfile, .. } => {
                let key = build_key(docker, folder, src).await;
                let (image, ready) = match key {
                    Ok(key) => {
                        let tag = project_tag(folder, &key);
                        let ready = present(tag.clone()).await;
                        (Some(tag), ready)
                    }
                    Err(_) => (None, None),
                };
                let state = match ready {
                    Some(true) => "built",
                    Some(false) => "not built yet: built when a conversation starts",
                    None => "cannot tell whether it is built",
                };
                ImagePlan {
                    source: "devContainer",
                    image,
                    file: Some(dockerfile.clone()),
                    ready,
                    summary: format!("built from {dockerfile} ({}; {state})", file),
                }
            }
        },
        Ok(_) => match config.base_image.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
            Some(base) => {
                let ready = present(base.to_owned()).await;
                ImagePlan {
                    source: "baseImage",
                    image: Some(base.to_owned()),
                    file: None,
                    ready,
                    summary: format!("{base}, from openhands.docker.baseImage ({})", presence(ready)),
                }
            }
            None => {
                let ready = present(config.image.clone()).await;
                ImagePlan {
                    source: "agentImage",
                    image: Some(config.image.clone()),
                    file: None,
                    ready,
                    summary: format!(
                        "{}, the agent-server image: no dev container or openhands.docker.baseImage, so the agent \
                         has Python and no project toolchain ({})",
                        config.image,
                        presence(ready)
                    ),
                }
            }
        },
    }
}

/// Removes the images built for projects and the agent-server volumes no container uses; returns what went, in
/// words.
pub(super) async fn clean(docker: &Docker) -> Result<Vec<String>, SandboxError> {
    let mut removed = Vec::new();
    let filters = HashMap::from([("reference".to_owned(), vec![format!("{PROJECT_REPOSITORY}/*")])]);
    let images = docker
        .list_images(Some(ListImagesOptionsBuilder::default().filters(&filters).build()))
        .await
        .map_err(|e| SandboxError::Docker(format!("cannot list images: {e}")))?;
    // By tag: an image may also carry a name of the user's, which stays.
    let prefix = format!("{PROJECT_REPOSITORY}/");
    for name in images.into_iter().flat_map(|i| i.repo_tags).filter(|t| t.starts_with(&prefix)) {
        match docker.remove_image(&name, Some(RemoveImageOptionsBuilder::default().build()), None).await {
            Ok(_) => removed.push(format!("image {name}")),
            Err(e) => tracing::info!("image {name} stays: {e}"),
        }
    }
    let filters = HashMap::from([("label".to_owned(), vec![BUNDLE_LABEL.to_owned()])]);
    let volumes = docker
        .list_volumes(Some(bollard::query_parameters::ListVolumesOptionsBuilder::default().filters(&filters).build()))
        .await
        .map_err(|e| SandboxError::Docker(format!("cannot list volumes: {e}")))?;
    for volume in volumes.volumes.unwrap_or_default() {
        match docker.remove_volume(&volume.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await {
            Ok(()) => removed.push(format!("volume {}", volume.name)),
            Err(e) => tracing::info!("volume {} stays: {e}", volume.name),
        }
    }
    Ok(removed)
}

/// Which image conversations on `folder` would run in, and whether it is ready (present or built), without pulling
/// or building anything: for `doctor` and `openhands.status`.
pub async fn plan_image(config: &DockerConfig, folder: &Path) -> Result<ImagePlan, String> {
    let docker = super::connect(&super::Engine::current(config)).await.map_err(|e| e.to_string())?;
    Ok(plan(&docker, config, folder).await)
}

/// Removes the images built for projects' dev containers and the volumes holding the agent-server for projects'
/// images, except what a container uses; returns what went, a line each.
pub async fn clean_images() -> Result<Vec<String>, String> {
    let docker = super::connect(&super::Engine::current(&Default::default())).await.map_err(|e| e.to_string())?;
    clean(&docker).await.map_err(|e| e.to_string())
}

/// Which image a folder's conversations run in, in words, from the settings and the folder's files alone (no
/// daemon asked): for an agent panel's backend option.
pub fn describe(config: &DockerConfig, folder: &Path) -> String {
    if config.dev_container {
        match devcontainer::find(folder) {
            Ok(Some(dc)) if dc.source.is_some() => return format!("in the dev container's image ({})", dc.file),
            Err(e) => return format!("but its dev container cannot be read ({e})"),
            _ => {}
        }
    }
    match config.base_image.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        Some(base) => format!("in {base} (openhands.docker.baseImage)"),
        None => "in the agent-server image (Python only: the folder has no dev container)".to_owned(),
    }
}

/// What the container of a project's image adds to it: the bundle mounted, its entrypoint, tmux at the end of PATH.
pub(super) fn apply_bundle(body: &mut ContainerCreateBody, bundle: &str, image_path: Option<&str>) {
    body.entrypoint = Some(vec![BUNDLE_ENTRY.to_owned()]);
    let path = image_path.unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    body.env.get_or_insert_with(Vec::new).push(format!("PATH={path}:{BUNDLE_PATH}"));
    let host = body.host_config.get_or_insert_with(HostConfig::default);
    host.binds.get_or_insert_with(Vec::new).push(format!("{bundle}:{BUNDLE_DIR}:ro"));
}

/// Why an image of `os`/`arch` (as its manifest says) cannot hold the agent-server, if it cannot: checked before
/// anything of it runs (an arm64 image would start under emulation, where the host has it, and fail in odd ways).
fn platform_refusal(image: &str, os: Option<&str>, arch: Option<&str>) -> Option<String> {
    // An image that does not say (an old `docker import`) is taken for this machine's.
    match (os.filter(|o| !o.is_empty()).unwrap_or("linux"), arch.filter(|a| !a.is_empty()).unwrap_or("amd64")) {
        ("linux", "amd64") => None,
        ("linux", arch) => Some(format!(
            "the project's image {image} is built for {arch}: openhands-lsp's agent-server runs in amd64 images. Use \
             the image's amd64 variant (docker pull --platform linux/amd64 {image})"
        )),
        (os, _) => Some(format!(
            "the project's image {image} is a {os} image: the agent-server runs in Linux images only. Use a Debian, \
             Ubuntu or Fedora based image"
        )),
    }
}

/// Whether glibc version `have` ("2.28") is older than `needs` ("2.31"); unreadable versions are not.
fn older_than(have: &str, needs: &str) -> bool {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse().ok()?, minor.split('.').next()?.parse().ok()?))
    };
    matches!((parse(have), parse(needs)), (Some(h), Some(n)) if h < n)
}

fn read_dev_container(folder: &Path) -> Result<Option<DevContainer>, SandboxError> {
    devcontainer::find(folder).map_err(|e| {
        SandboxError::Image(format!(
            "{e}. Fix it, or set openhands.docker.devContainer to false to start conversations without it"
        ))
    })
}

fn presence(ready: Option<bool>) -> &'static str {
    match ready {
        Some(true) => "present",
        Some(false) => "not present: pulled when a conversation starts",
        None => "cannot tell whether it is present",
    }
}

/// Whether the agent-server volume was filled to its end (its marker, written last, is there).
async fn bundle_complete(docker: &Docker, agent_image: &str, volume: &str) -> bool {
    let check = vec!["/bin/sh".into(), "-c".into(), format!("test -e {BUNDLE_DIR}/.complete && echo complete; exit 0")];
    let mount = vec![format!("{volume}:{BUNDLE_DIR}:ro")];
    throwaway(docker, agent_image, check, mount).await.is_ok_and(|o| o.contains("complete"))
}

/// The volume of an agent-server image's bundle.
fn bundle_volume(agent_image_id: &str) -> String {
    let id = agent_image_id.trim_start_matches("sha256:");
    format!("openhands-lsp-agent-r{BUNDLE_RECIPE}-{}", &id[..id.len().min(16)])
}

/// What Docker says when a container's name is taken.
const NAME_TAKEN: &str = "is already in use";

/// Runs `cmd` in a throwaway container of `image` (as root, no network, `binds` mounted) and returns its output;
/// fails on a non-zero exit with the output's last lines.
async fn throwaway(docker: &Docker, image: &str, cmd: Vec<String>, binds: Vec<String>) -> Result<String, String> {
    throwaway_named(docker, &format!("openhands-lsp-prepare-{}", &random_key()[..10]), image, cmd, binds).await
}

/// [`throwaway`] with a container name of the caller's (a name in use fails with [`NAME_TAKEN`] in the error).
async fn throwaway_named(
    docker: &Docker,
    name: &str,
    image: &str,
    cmd: Vec<String>,
    binds: Vec<String>,
) -> Result<String, String> {
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        entrypoint: Some(cmd),
        cmd: Some(Vec::new()),
        user: Some("0:0".into()),
        labels: Some(HashMap::from([(label::ROLE.to_owned(), "prepare".to_owned())])),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            binds: Some(binds),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body)
        .await
        .map_err(|e| e.to_string())?;
    let id = created.id;
    let result = async {
        docker.start_container(&id, None).await.map_err(|e| e.to_string())?;
        let mut wait = docker.wait_container(&id, Some(WaitContainerOptionsBuilder::default().build()));
        let code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            // A non-zero exit arrives as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(e.to_string()),
            None => -1,
        };
        let mut logs = docker.logs(&id, Some(LogsOptionsBuilder::default().stdout(true).stderr(true).build()));
        let mut out = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            out.push_str(&chunk.to_string());
        }
        if code != 0 {
            let lines: Vec<&str> = out.lines().collect();
            return Err(format!("exit code {code}: {}", lines[lines.len().saturating_sub(10)..].join("\n")));
        }
        Ok(out)
    }
    .await;
    let _ = docker.remove_container(&id, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_server_volumes_are_named_after_the_image_and_the_recipe() {
        assert_eq!(bundle_volume("sha256:abcdef0123456789abcdef"), "openhands-lsp-agent-r2-abcdef0123456789");
    }

    #[test]
    fn glibc_versions_compare_as_numbers() {
        assert!(older_than("2.28", "2.31"));
        assert!(older_than("2.9", "2.17"), "not as text");
        assert!(!older_than("2.36", "2.31"));
        assert!(!older_than("2.31", "2.31"));
        assert!(!older_than("unknown", "2.31"), "what cannot be read is not refused");
    }

    /// Windows images cannot be made on a Linux engine (`docker load` refuses them), so this is their only test;
    /// tests/tests/project_image.rs loads an arm64 image.
    #[test]
    fn images_for_another_system_or_processor_are_refused_in_words() {
        assert_eq!(platform_refusal("i", Some("linux"), Some("amd64")), None);
        assert_eq!(platform_refusal("i", None, Some("")), None, "an image that does not say is taken as it is");
        let windows = platform_refusal("mcr.microsoft.com/dotnet/sdk:8.0-nanoserver", Some("windows"), Some("amd64"));
        assert_eq!(
            windows.as_deref(),
            Some(
                "the project's image mcr.microsoft.com/dotnet/sdk:8.0-nanoserver is a windows image: the agent-server \
                 runs in Linux images only. Use a Debian, Ubuntu or Fedora based image"
            )
        );
        let arm = platform_refusal("rust:1", Some("linux"), Some("arm64")).unwrap_or_default();
        assert!(arm.contains("is built for arm64") && arm.contains("--platform linux/amd64 rust:1"), "{arm}");
    }
}

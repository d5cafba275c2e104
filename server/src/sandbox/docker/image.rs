//! The agent-server image: present, or pulled with the layers' progress; what a container needs to know of it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt;

use super::{Inner, is_not_found};
use crate::sandbox::{SandboxError, StartProgress};

impl Inner {
    /// What a container of the image needs from it, or `None` when the image is absent.
    pub(super) async fn image_facts(&self, docker: &Docker, image: &str) -> Result<Option<ImageFacts>, SandboxError> {
        match docker.inspect_image(image).await {
            Ok(inspect) => Ok(Some(ImageFacts::of(inspect))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(SandboxError::Docker(format!("cannot inspect the image {image}: {e}"))),
        }
    }

    /// Makes sure the image is present, pulling it with progress when it is not.
    pub(super) async fn ensure_image(
        &self,
        docker: &Docker,
        image: &str,
        progress: Option<&StartProgress>,
    ) -> Result<ImageFacts, SandboxError> {
        if let Some(facts) = self.image_facts(docker, image).await? {
            return Ok(facts);
        }
        let report = |m: String| StartProgress::report_to(progress, m);
        report(format!("pulling {image}…"));
        let (from_image, tag) = split_image(image);
        let options = CreateImageOptionsBuilder::default().from_image(&from_image).tag(&tag).build();
        // A pull can take long; the client's per-request timeout would cut it.
        let puller = docker.clone().with_timeout(Duration::from_secs(3600));
        let mut stream = puller.create_image(Some(options), None, registry_credentials(&from_image));
        let mut tally = PullTally::default();
        let mut last_report = tokio::time::Instant::now();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| pull_failed(image, &e.to_string()))?;
            if let Some(detail) = info.error_detail.as_ref().and_then(|d| d.message.clone()) {
                return Err(pull_failed(image, &detail));
            }
            tally.update(&info);
            // The editor's progress coalesces reports; this only spares it the flood of a fast local pull.
            if last_report.elapsed() >= Duration::from_millis(100) {
                last_report = tokio::time::Instant::now();
                report(format!("pulling {image}: {}", tally.summary()));
            }
        }
        let inspect = docker.inspect_image(image).await.map_err(|e| pull_failed(image, &e.to_string()))?;
        report(format!("pulled {image}"));
        Ok(ImageFacts::of(inspect))
    }
}

/// Bytes and layers of a pull so far, from the daemon's progress messages.
#[derive(Debug, Default)]
struct PullTally {
    /// Per layer: bytes done, bytes in all.
    layers: HashMap<String, (u64, u64)>,
}

impl PullTally {
    fn update(&mut self, info: &bollard::models::CreateImageInfo) {
        let Some(id) = &info.id else { return };
        let status = info.status.as_deref().unwrap_or_default();
        // Lines about the image as a whole (its tag, its digest) carry the tag as id, not a layer.
        if !(status.starts_with("Pulling fs layer")
            || status.starts_with("Waiting")
            || status.starts_with("Downloading")
            || status.starts_with("Verifying")
            || status.starts_with("Download complete")
            || status.starts_with("Extracting")
            || status.starts_with("Pull complete")
            || status.starts_with("Already exists"))
        {
            return;
        }
        let entry = self.layers.entry(id.clone()).or_default();
        if status.starts_with("Downloading")
            && let Some(detail) = &info.progress_detail
            && let (Some(cur), Some(total)) = (detail.current, detail.total)
        {
            *entry = (cur.max(0) as u64, total.max(0) as u64);
        }
        if status.starts_with("Download complete")
            || status.starts_with("Pull complete")
            || status.starts_with("Already exists")
        {
            entry.1 = entry.1.max(1);
            entry.0 = entry.1;
        }
    }

    /// `45% (3/7 layers)`.
    fn summary(&self) -> String {
        let (cur, total) = self.layers.values().fold((0, 0), |(c, t), (lc, lt)| (c + lc, t + lt));
        let done = self.layers.values().filter(|(c, t)| *t > 0 && c >= t).count();
        let percent = (cur * 100).checked_div(total).unwrap_or(0);
        format!("{percent}% ({done}/{} layers)", self.layers.len())
    }
}

/// What a container needs to know of its image, from one inspection.
#[derive(Debug)]
pub(super) struct ImageFacts {
    /// The image's default user, if it is not root.
    pub user: Option<String>,
    /// The image's own `PYTHONPATH`, kept behind openhands-lsp's start-up hook.
    pub python_path: Option<String>,
    /// The image's own `PATH` (a project's toolchain), kept first.
    pub path: Option<String>,
}

impl ImageFacts {
    fn of(inspect: bollard::models::ImageInspect) -> ImageFacts {
        let config = inspect.config.unwrap_or_default();
        let user = config.user.unwrap_or_default();
        let name = user.split(':').next().unwrap_or_default();
        let env = config.env.unwrap_or_default();
        let var = |name: &str| env.iter().find_map(|e| e.strip_prefix(name).map(str::to_owned));
        let (python_path, path) = (var("PYTHONPATH="), var("PATH="));
        ImageFacts { user: (!matches!(name, "" | "root" | "0")).then_some(user), python_path, path }
    }
}

/// `repo:tag` (or `repo@digest`) split for the pull API; no tag means `latest`.
pub(super) fn split_image(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_owned(), String::new());
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rfind(':') {
        Some(i) => {
            let cut = image.len() - last.len() + i;
            (image[..cut].to_owned(), image[cut + 1..].to_owned())
        }
        None => (image.to_owned(), "latest".to_owned()),
    }
}

/// Credentials from `docker login` (`~/.docker/config.json`, plain `auths` entries) for the image's registry.
fn registry_credentials(repo: &str) -> Option<bollard::auth::DockerCredentials> {
    let first = repo.split('/').next().unwrap_or_default();
    let registry = if repo.contains('/') && (first.contains('.') || first.contains(':')) { first } else { "docker.io" };
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| crate::state_dir::home_dir().map(|h| h.join(".docker")))?;
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auths = config.get("auths")?.as_object()?;
    let entry = auths.iter().find(|(k, _)| {
        let host = k.trim_start_matches("https://").trim_start_matches("http://").split('/').next().unwrap_or_default();
        host == registry || (registry == "docker.io" && host == "index.docker.io")
    })?;
    let auth = entry.1.get("auth")?.as_str()?;
    Some(bollard::auth::DockerCredentials {
        auth: Some(auth.to_owned()),
        serveraddress: Some(registry.to_owned()),
        ..Default::default()
    })
}

fn pull_failed(image: &str, reason: &str) -> SandboxError {
    SandboxError::Image(format!(
        "cannot pull the agent-server image {image}: {reason}. If the registry needs a login, run `docker login`; or \
         set openhands.docker.image to an image you have (docker images), build one locally \
         (scripts/build-agent-image in the openhands-lsp repository), or set openhands.backend to \"process\""
    ))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_into_repository_and_tag() {
        let cases = [
            ("ghcr.io/openhands/agent-server:1.58.0-python", ("ghcr.io/openhands/agent-server", "1.58.0-python")),
            ("localhost:5000/agent", ("localhost:5000/agent", "latest")),
            ("localhost:5000/agent:v1", ("localhost:5000/agent", "v1")),
            ("ubuntu", ("ubuntu", "latest")),
            ("repo@sha256:abc", ("repo@sha256:abc", "")),
        ];
        for (image, (repo, tag)) in cases {
            assert_eq!(split_image(image), (repo.to_owned(), tag.to_owned()), "{image}");
        }
    }

    #[test]
    fn pull_progress_adds_up_the_layers() {
        let info = |id: &str, status: &str, cur: Option<i64>, total: Option<i64>| bollard::models::CreateImageInfo {
            id: Some(id.into()),
            status: Some(status.into()),
            progress_detail: Some(bollard::models::ProgressDetail { current: cur, total }),
            ..Default::default()
        };
        let mut tally = PullTally::default();
        tally.update(&info("1.58.0-python", "Pulling from openhands/agent-server", None, None));
        tally.update(&info("aaa", "Pulling fs layer", None, None));
        tally.update(&info("bbb", "Pulling fs layer", None, None));
        tally.update(&info("aaa", "Downloading", Some(50), Some(100)));
        tally.update(&info("bbb", "Downloading", Some(0), Some(300)));
        assert_eq!(tally.summary(), "12% (0/2 layers)");
        tally.update(&info("aaa", "Download complete", None, None));
        tally.update(&info("bbb", "Downloading", Some(150), Some(300)));
        assert_eq!(tally.summary(), "62% (1/2 layers)");
        tally.update(&info("bbb", "Pull complete", None, None));
        assert_eq!(tally.summary(), "100% (2/2 layers)");
    }
}

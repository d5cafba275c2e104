//! The `cloud` backend: conversations run in OpenHands Cloud (or a self-hosted OpenHands app server) through its V1
//! API. The cloud provisions the sandbox, clones the repository from the workspace's remote and starts the
//! conversation; from READY on, openhands-lsp talks to the sandbox's agent-server like to any other.

pub mod api;
pub mod changes;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::agent_server::Endpoint;
use crate::config::CloudSettings;
use crate::providers::{ProviderKind, ProvidersSettings};
use crate::sandbox::{RemoteConversation, Sandbox, SandboxError, SandboxHandle, SandboxProvider, SandboxSpec};
use crate::secrets::{Secret, SecretName, SecretStore};
pub use api::{AppConversation, AppServer, CloudError};

/// How often the start task is read while the cloud prepares a conversation.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often a running conversation's sandbox is checked for having gone away.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// How long a resumed sandbox may take to run again.
const RESUME_TIMEOUT: Duration = Duration::from_secs(180);

pub struct CloudProvider {
    /// One HTTP client (and connection pool) for every call to the cloud, made at the first.
    http: std::sync::OnceLock<reqwest::Client>,
    settings: RwLock<CloudSettings>,
    providers: RwLock<ProvidersSettings>,
    secrets: SecretStore,
    /// The user stored their provider tokens in the cloud account this session: they no longer travel with each
    /// conversation.
    tokens_stored: AtomicBool,
}

impl CloudProvider {
    pub fn new(settings: CloudSettings, providers: ProvidersSettings, secrets: SecretStore) -> Self {
        CloudProvider {
            http: std::sync::OnceLock::new(),
            settings: RwLock::new(settings),
            providers: RwLock::new(providers),
            secrets,
            tokens_stored: AtomicBool::new(false),
        }
    }

    pub fn configure(&self, settings: CloudSettings, providers: ProvidersSettings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
        *self.providers.write().unwrap_or_else(|p| p.into_inner()) = providers;
    }

    pub fn url(&self) -> String {
        self.settings.read().unwrap_or_else(|p| p.into_inner()).url.trim_end_matches('/').to_owned()
    }

    pub fn has_key(&self) -> bool {
        self.secrets.get(SecretName::CloudApiKey).is_some()
    }

    /// The API client, or why there is none.
    pub fn api(&self) -> Result<AppServer, CloudError> {
        let url = self.url();
        let key = self.secrets.get(SecretName::CloudApiKey).ok_or_else(|| CloudError::NoKey(url.clone()))?;
        Ok(AppServer::new(self.http.get_or_init(api::http_client).clone(), &url, key))
    }

    /// The user's cloud conversations, newest first.
    pub async fn list(&self, limit: u32) -> Result<Vec<AppConversation>, CloudError> {
        self.api()?.search(limit).await
    }

    pub async fn conversation(&self, id: &str) -> Result<Option<AppConversation>, CloudError> {
        self.api()?.conversation(id).await
    }

    /// Keeps the provider tokens the user set in their cloud account; returns the providers stored.
    pub async fn store_provider_tokens(&self) -> Result<Vec<&'static str>, CloudError> {
        let api = self.api()?;
        let providers = self.providers.read().unwrap_or_else(|p| p.into_inner()).clone();
        let tokens: Vec<(&'static str, Option<String>, Secret)> = ProviderKind::ALL
            .into_iter()
            .filter_map(|kind| Some((kind.id(), providers.get(kind).host.clone(), self.secrets.get(kind.secret())?)))
            .collect();
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        api.store_provider_tokens(&tokens).await?;
        self.tokens_stored.store(true, Ordering::SeqCst);
        Ok(tokens.into_iter().map(|(id, ..)| id).collect())
    }

    async fn start_new(&self, api: &AppServer, spec: &SandboxSpec) -> Result<String, SandboxError> {
        let providers = self.providers.read().unwrap_or_else(|p| p.into_inner()).clone();
        let source = spec.source.clone();
        let origin = tokio::task::spawn_blocking(move || {
            let repo = crate::providers::remote::detect(&source, &providers);
            (repo, crate::git::current_branch(&source))
        })
        .await
        .map_err(|e| SandboxError::Io(e.to_string()))?;
        let (repo, branch) = origin;
        let secrets = if self.tokens_stored.load(Ordering::SeqCst) {
            Vec::new()
        } else {
            spec.secrets.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let request = api::StartConversation {
            title: spec.title.clone(),
            instruction: spec.first_message.clone().unwrap_or_default(),
            repository: repo.as_ref().map(|r| r.path.clone()),
            branch: repo.as_ref().and(branch),
            provider: repo.as_ref().map(|r| r.kind.id().to_owned()),
            secrets,
        };
        let progress = |m: &str| {
            if let Some(p) = &spec.progress {
                p.report(format!("OpenHands Cloud: {m}"));
            }
        };
        progress(
            match &request.repository {
                Some(r) => format!("starting a conversation on {r}"),
                None => "starting a conversation (the workspace has no GitHub, GitLab or Bitbucket remote)".into(),
            }
            .as_str(),
        );
        let mut task = api.start_conversation(&request).await.map_err(cloud)?;
        let timeout =
            Duration::from_secs(self.settings.read().unwrap_or_else(|p| p.into_inner()).startup_timeout_seconds.into());
        let deadline = tokio::time::Instant::now() + timeout;
        let mut reported = String::new();
        loop {
            if task.status != reported {
                progress(phase(&task.status));
                reported = task.status.clone();
            }
            match task.status.as_str() {
                "READY" => break,
                "ERROR" => {
                    let detail = task.detail.clone().unwrap_or_else(|| "no detail given".into());
                    return Err(SandboxError::Cloud(format!(
                        "OpenHands Cloud could not start the conversation: {detail}"
                    )));
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SandboxError::Cloud(format!(
                    "OpenHands Cloud did not get the conversation ready within {timeout:?} (last phase: {}); raise openhands.cloud.startupTimeoutSeconds or try again",
                    phase(&task.status)
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
            task = api.start_task(&task.id).await.map_err(cloud)?.ok_or_else(|| {
                SandboxError::Cloud("OpenHands Cloud lost track of the conversation while starting it".into())
            })?;
        }
        task.app_conversation_id
            .ok_or_else(|| SandboxError::Cloud("OpenHands Cloud said READY without a conversation id".into()))
    }

    /// Connects to a conversation that runs in the cloud: its agent-server URL and session key, resuming its
    /// sandbox when it is paused.
    async fn connect(&self, api: &AppServer, id: &str, spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
        let conversation = api
            .conversation(id)
            .await
            .map_err(cloud)?
            .ok_or_else(|| SandboxError::Cloud(format!("OpenHands Cloud has no conversation {id}")))?;
        let sandbox_id = conversation.sandbox_id.clone();
        let mut info = api.sandbox(&sandbox_id).await.map_err(cloud)?.ok_or_else(|| gone(&sandbox_id, "MISSING"))?;
        if info.status == "PAUSED" {
            if let Some(p) = &spec.progress {
                p.report("OpenHands Cloud: resuming the paused sandbox".into());
            }
            api.resume_sandbox(&sandbox_id).await.map_err(cloud)?;
            info = wait_running(api, &sandbox_id).await?;
        }
        if matches!(info.status.as_str(), "MISSING" | "ERROR") {
            return Err(gone(&sandbox_id, &info.status));
        }
        let agent_url = agent_server_url(&info, &conversation).ok_or_else(|| {
            SandboxError::Cloud(format!("OpenHands Cloud gave no agent-server URL for conversation {id}"))
        })?;
        let key = conversation.session_api_key.clone().or(info.session_api_key.clone()).ok_or_else(|| {
            SandboxError::Cloud(format!(
                "OpenHands Cloud gave no session key for conversation {id}: the API key may not have full access to it"
            ))
        })?;
        let endpoint = Endpoint { base_url: agent_url, session_key: Secret::new(key) };
        crate::sandbox::wait_healthy(&endpoint, RESUME_TIMEOUT, || None, String::new).await?;
        let web = format!("{}/conversations/{}", api.url(), conversation.id);
        let (probe_api, probe_id) = (api.clone(), conversation.id.clone());
        let pull_requests = Arc::new(move || -> BoxFuture<'static, Option<Vec<u64>>> {
            let (api, id) = (probe_api.clone(), probe_id.clone());
            Box::pin(async move { api.conversation(&id).await.ok().flatten().map(|c| c.pr_number) })
        });
        let remote = RemoteConversation {
            id: conversation.id.clone(),
            repo_name: conversation
                .selected_repository
                .as_deref()
                .and_then(|r| r.rsplit('/').next())
                .map(str::to_owned),
            link: crate::sandbox::CloudLink {
                conversation_id: conversation.id.clone(),
                sandbox_id: sandbox_id.clone(),
                url: web,
                repository: conversation.selected_repository.clone(),
                branch: conversation.selected_branch.clone(),
                pull_requests: conversation.pr_number.clone(),
            },
            pull_requests,
        };
        tracing::info!(conversation = %spec.conversation_id, cloud = %conversation.id, sandbox = %sandbox_id, "attached to the cloud conversation");
        Ok(Sandbox {
            endpoint,
            working_dir: String::new(),
            handle: Box::new(CloudHandle { api: api.clone(), sandbox_id, frozen: AtomicBool::new(false) }),
            remote: Some(remote),
            environment: crate::sandbox::Environment {
                notice: dev_container_notice(&spec.source),
                ..Default::default()
            },
            files_back: None,
        })
    }
}

/// A folder with a dev container is told, once, that the cloud does not use it.
fn dev_container_notice(folder: &std::path::Path) -> Option<String> {
    let file = crate::sandbox::devcontainer::LOCATIONS.iter().find(|l| folder.join(l).is_file())?;
    Some(format!(
        "this folder has a dev container ({file}), but OpenHands Cloud runs the agent in its own sandbox image, not \
         the dev container's: the project's toolchain may be missing there. Its own set-up script \
         (.openhands/setup.sh) runs in the cloud too. To work with the dev container, use the docker backend"
    ))
}

impl SandboxProvider for CloudProvider {
    fn starts_conversations(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "cloud"
    }

    fn start(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<Sandbox, SandboxError>> {
        Box::pin(async move {
            let api = self.api().map_err(cloud)?;
            let id = match &spec.attach {
                Some(id) => id.clone(),
                None => self.start_new(&api, &spec).await?,
            };
            self.connect(&api, &id, &spec).await
        })
    }

    /// Cloud conversations go on without the editor: nothing is stopped at exit.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

struct CloudHandle {
    api: AppServer,
    sandbox_id: String,
    /// Paused by this conversation (so a PAUSED status is expected, not a sign the sandbox went away).
    frozen: AtomicBool,
}

impl SandboxHandle for CloudHandle {
    /// A stopped conversation stops spending: its sandbox is paused (the conversation stays in the cloud, and can
    /// be resumed from the web or attached to again).
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            match tokio::time::timeout(Duration::from_secs(15), self.api.pause_sandbox(&self.sandbox_id)).await {
                Ok(Ok(())) => tracing::info!(sandbox = %self.sandbox_id, "cloud sandbox paused"),
                Ok(Err(e)) => tracing::info!(sandbox = %self.sandbox_id, "pausing the cloud sandbox: {e}"),
                Err(_) => tracing::info!(sandbox = %self.sandbox_id, "pausing the cloud sandbox timed out"),
            }
        })
    }

    fn died(&self) -> BoxFuture<'_, crate::sandbox::Death> {
        Box::pin(async move {
            loop {
                tokio::time::sleep(WATCH_INTERVAL).await;
                match self.api.sandbox(&self.sandbox_id).await {
                    Ok(None) => return death(&self.sandbox_id, "MISSING"),
                    Ok(Some(info)) if matches!(info.status.as_str(), "MISSING" | "ERROR") => {
                        return death(&self.sandbox_id, &info.status);
                    }
                    Ok(Some(info)) if info.status == "PAUSED" && !self.frozen.load(Ordering::SeqCst) => {
                        tracing::info!(sandbox = %self.sandbox_id, "the cloud sandbox was paused elsewhere");
                    }
                    Ok(_) => {}
                    // The event stream reports an unreachable server; this watch is only for a sandbox that is gone.
                    Err(e) => tracing::debug!(sandbox = %self.sandbox_id, "watching the cloud sandbox: {e}"),
                }
            }
        })
    }

    fn freeze(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async move {
            self.frozen.store(true, Ordering::SeqCst);
            self.api.pause_sandbox(&self.sandbox_id).await.map_err(cloud)
        })
    }

    fn thaw(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async move {
            self.api.resume_sandbox(&self.sandbox_id).await.map_err(cloud)?;
            wait_running(&self.api, &self.sandbox_id).await?;
            self.frozen.store(false, Ordering::SeqCst);
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("cloud sandbox {}", self.sandbox_id)
    }
}

async fn wait_running(api: &AppServer, sandbox_id: &str) -> Result<api::SandboxInfo, SandboxError> {
    let deadline = tokio::time::Instant::now() + RESUME_TIMEOUT;
    loop {
        let info = api.sandbox(sandbox_id).await.map_err(cloud)?.ok_or_else(|| gone(sandbox_id, "MISSING"))?;
        match info.status.as_str() {
            "RUNNING" => return Ok(info),
            "MISSING" | "ERROR" => return Err(gone(sandbox_id, &info.status)),
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(SandboxError::Cloud(format!(
                    "the cloud sandbox {sandbox_id} did not run again within {RESUME_TIMEOUT:?} (it is {})",
                    info.status
                )));
            }
            _ => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

/// The agent-server's base URL: the sandbox's `AGENT_SERVER` URL, else the conversation URL without its
/// `/api/conversations/<id>` tail.
fn agent_server_url(info: &api::SandboxInfo, conversation: &AppConversation) -> Option<String> {
    let exposed = info.exposed_urls.iter().flatten().find(|u| u.name == "AGENT_SERVER").map(|u| u.url.clone());
    exposed
        .or_else(|| {
            let url = conversation.conversation_url.as_deref()?;
            let cut = url.find("/api/conversations/")?;
            Some(url[..cut].to_owned())
        })
        .map(|u| u.trim_end_matches('/').to_owned())
}

/// What each start phase means to the user.
fn phase(status: &str) -> &'static str {
    match status {
        "WAITING_FOR_SANDBOX" => "waiting for a sandbox",
        "PREPARING_REPOSITORY" => "preparing the repository",
        "RUNNING_SETUP_SCRIPT" => "running the setup script",
        "SETTING_UP_GIT_HOOKS" => "setting up git hooks",
        "SETTING_UP_SKILLS" => "setting up skills",
        "STARTING_CONVERSATION" => "starting the conversation",
        "READY" => "ready",
        "ERROR" => "failed",
        _ => "getting ready",
    }
}

fn gone_message(sandbox_id: &str, status: &str) -> String {
    format!(
        "the cloud sandbox {sandbox_id} is gone (status {status}); changes not brought back are lost: start a new conversation"
    )
}

fn death(sandbox_id: &str, status: &str) -> crate::sandbox::Death {
    crate::sandbox::Death { reason: gone_message(sandbox_id, status), log: String::new() }
}

fn gone(sandbox_id: &str, status: &str) -> SandboxError {
    SandboxError::Cloud(gone_message(sandbox_id, status))
}

fn cloud(e: CloudError) -> SandboxError {
    SandboxError::Cloud(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(urls: Vec<(&str, &str)>) -> api::SandboxInfo {
        api::SandboxInfo {
            id: "s".into(),
            status: "RUNNING".into(),
            session_api_key: None,
            exposed_urls: Some(
                urls.into_iter().map(|(n, u)| api::ExposedUrl { name: n.into(), url: u.into() }).collect(),
            ),
        }
    }

    fn conversation(url: Option<&str>) -> AppConversation {
        serde_json::from_value(serde_json::json!({"id": "c1", "sandbox_id": "s", "conversation_url": url})).unwrap()
    }

    #[test]
    fn the_agent_server_url_comes_from_the_sandbox_then_the_conversation() {
        let c = conversation(Some("https://rt.example/x/api/conversations/c1"));
        assert_eq!(
            agent_server_url(&info(vec![("VSCODE", "https://v"), ("AGENT_SERVER", "https://a.example/")]), &c),
            Some("https://a.example".into())
        );
        assert_eq!(agent_server_url(&info(vec![]), &c), Some("https://rt.example/x".into()));
        assert_eq!(agent_server_url(&info(vec![]), &conversation(None)), None);
    }

    #[test]
    fn phases_read_as_words() {
        assert_eq!(phase("WAITING_FOR_SANDBOX"), "waiting for a sandbox");
        assert_eq!(phase("SOMETHING_NEW"), "getting ready");
    }
}

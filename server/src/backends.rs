//! The sandbox backends side by side: new conversations go to the one the settings select (an attach to a cloud
//! conversation always to the cloud), and all of them follow the settings.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::cloud::CloudProvider;
use crate::config::{Backend, Settings};
use crate::providers::ProvidersSettings;
use crate::sandbox::{Sandbox, SandboxError, SandboxProvider, SandboxSpec, docker, process};
use crate::secrets::SecretStore;

/// The backends of one openhands-lsp instance; new conversations go to the one the settings select.
pub struct Backends {
    pub process: Arc<process::ProcessProvider>,
    pub docker: Arc<docker::DockerProvider>,
    pub cloud: Arc<CloudProvider>,
    selected: std::sync::RwLock<Backend>,
}

impl Backends {
    pub fn new(settings: &Settings, secrets: SecretStore, state_dir: Option<&std::path::Path>) -> Self {
        Backends {
            process: Arc::new(process::ProcessProvider::new(
                process::ProcessConfig::from_settings(&settings.process),
                secrets.clone(),
            )),
            docker: Arc::new(docker::DockerProvider::new(settings.docker.clone(), state_dir)),
            cloud: Arc::new(CloudProvider::new(
                settings.cloud.clone(),
                ProvidersSettings::from_settings(settings),
                secrets.clone(),
            )),
            selected: std::sync::RwLock::new(settings.backend),
        }
    }

    /// New settings apply to sandboxes started from now on. Selecting docker starts its warm pool.
    pub fn configure(&self, settings: &Settings) {
        self.process.configure(process::ProcessConfig::from_settings(&settings.process));
        self.docker.configure(settings.docker.clone());
        self.cloud.configure(settings.cloud.clone(), ProvidersSettings::from_settings(settings));
        *self.selected.write().unwrap_or_else(|p| p.into_inner()) = settings.backend;
        if settings.backend == Backend::Docker {
            self.docker.activate();
        } else {
            self.docker.deactivate();
        }
    }

    fn current(&self) -> &dyn SandboxProvider {
        match *self.selected.read().unwrap_or_else(|p| p.into_inner()) {
            Backend::Docker => self.docker.as_ref(),
            Backend::Process => self.process.as_ref(),
            Backend::Cloud => self.cloud.as_ref(),
        }
    }
}

impl SandboxProvider for Backends {
    fn name(&self) -> &'static str {
        self.current().name()
    }

    fn start(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<Sandbox, SandboxError>> {
        // Attaching follows a conversation that already runs in the cloud, whatever the selected backend.
        if spec.attach.is_some() { self.cloud.start(spec) } else { self.current().start(spec) }
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            futures::future::join(self.process.shutdown(), self.docker.shutdown()).await;
        })
    }

    fn sweep(&self, conversation_id: &str) {
        self.process.sweep(conversation_id);
        self.docker.sweep(conversation_id);
    }

    fn starts_conversations(&self) -> bool {
        self.current().starts_conversations()
    }

    fn sees_only_the_workspace(&self) -> bool {
        self.current().sees_only_the_workspace()
    }

    fn keeps_agent_record(&self) -> bool {
        self.current().keeps_agent_record()
    }

    fn repair_hint(&self) -> Option<String> {
        self.current().repair_hint()
    }

    fn select(&self, backend: Backend) -> Option<crate::sandbox::SharedProvider> {
        Some(match backend {
            Backend::Docker => self.docker.clone(),
            Backend::Process => self.process.clone(),
            Backend::Cloud => self.cloud.clone(),
        })
    }
}

//! Which editor the user is in, told by the client's name (`clientInfo.name` at `initialize`), so that an
//! instruction names what the user types there (`:OpenHands secret llm_api_key`, a palette command) rather than a
//! protocol command they never see.

use crate::secrets::SecretName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Editor {
    /// VS Code and its builds (code-server, VSCodium, Cursor) running the OpenHands extension.
    VsCode,
    /// Neovim with the openhands.nvim plugin.
    Neovim,
    /// The headless `openhands-lsp run` in a terminal.
    Terminal,
    /// An agent panel over ACP (`openhands-lsp acp`: Zed, JetBrains, Emacs agent-shell, Neovim's ACP plugins).
    AgentPanel,
    /// Any other LSP client.
    #[default]
    Other,
}

impl Editor {
    pub fn from_client_name(name: Option<&str>) -> Self {
        let name = name.unwrap_or_default().to_ascii_lowercase();
        if name.contains("neovim") || name == "nvim" {
            Editor::Neovim
        } else if ["visual studio code", "code-server", "vscodium", "code - oss", "cursor"]
            .iter()
            .any(|n| name.contains(n))
        {
            Editor::VsCode
        } else {
            Editor::Other
        }
    }

    /// How to set secret `name` here, as an instruction ("run …"), with the environment as the other way.
    pub fn how_to_set(self, name: SecretName) -> String {
        let env = name.env_var();
        match self {
            Editor::Neovim => format!("run :OpenHands secret {} (or set {env} before starting Neovim)", name.as_str()),
            Editor::VsCode => format!("run \"OpenHands: {}\" from the Command Palette", vscode_title(name)),
            Editor::Terminal if crate::credentials::NAMES.contains(&name) => {
                format!("set the {env} environment variable, or run `openhands-lsp login`")
            }
            Editor::Terminal => format!("set the {env} environment variable"),
            Editor::AgentPanel if crate::credentials::NAMES.contains(&name) => format!(
                "sign in (the panel's \"Sign in in a terminal\", or `openhands-lsp login{}` in a terminal), or set \
                 {env} in the environment your editor starts `openhands-lsp acp` with (Zed: the \"env\" of its \
                 agent_servers entry; JetBrains: the \"env\" in acp.json), then restart the agent",
                if name == SecretName::CloudApiKey { " --cloud" } else { "" }
            ),
            Editor::AgentPanel => format!(
                "set {env} in the environment your editor starts `openhands-lsp acp` with (Zed: the \"env\" of its \
                 agent_servers entry; JetBrains: the \"env\" in acp.json), then restart the agent"
            ),
            Editor::Other => {
                format!("set {} with the openhands.setSecret command, or the {env} environment variable", name.as_str())
            }
        }
    }
}

/// The VS Code extension's command title for setting `name` (editors/vscode/package.json).
fn vscode_title(name: SecretName) -> &'static str {
    match name {
        SecretName::LlmApiKey => "Set LLM API Key",
        SecretName::GithubToken => "Set GitHub Token",
        SecretName::GitlabToken => "Set GitLab Token",
        SecretName::BitbucketToken => "Set Bitbucket Token",
        SecretName::CloudApiKey => "Set Cloud API Key",
        SecretName::JiraToken => "Set Jira Token",
        SecretName::LinearApiKey => "Set Linear API Key",
    }
}

/// The prefix of OpenHands' own models, which the agent-server calls through OpenHands' LLM proxy: without an LLM
/// key they take the user's OpenHands API key (`cloud_api_key`).
pub const OPENHANDS_MODELS: &str = "openhands/";

/// Whether a model needs an API key: the hosted providers do without `openhands.llm.baseUrl`, and `openai/` models
/// always do; a local or self-hosted endpoint (a base URL), a cloud account's own credentials (Bedrock, Vertex) or
/// an unknown provider may not, so those are left to try.
pub fn model_needs_key(model: &str, base_url: Option<&str>) -> bool {
    // The OpenAI client LiteLLM uses for `openai/` models sends nothing without a key, whatever the URL ("Missing
    // credentials"): a local server that checks none takes any text.
    // OpenHands' LLM proxy (or whatever stands in for it at a base URL) takes the user's key.
    if model.starts_with("openai/") || model.starts_with(OPENHANDS_MODELS) {
        return true;
    }
    const HOSTED: &[&str] = &[
        "openai/",
        "anthropic/",
        "gemini/",
        "mistral/",
        "groq/",
        "deepseek/",
        "openrouter/",
        "xai/",
        "cohere/",
        "together_ai/",
        "fireworks_ai/",
        "openhands/",
    ];
    base_url.is_none_or(|u| u.trim().is_empty()) && HOSTED.iter().any(|p| model.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_editor_is_told_what_to_type_there() {
        assert_eq!(Editor::from_client_name(Some("Neovim")), Editor::Neovim);
        assert_eq!(Editor::from_client_name(Some("Visual Studio Code")), Editor::VsCode);
        assert_eq!(Editor::from_client_name(Some("code-server")), Editor::VsCode);
        assert_eq!(Editor::from_client_name(Some("helix")), Editor::Other);
        assert_eq!(Editor::from_client_name(None), Editor::Other);
        assert_eq!(
            Editor::Neovim.how_to_set(SecretName::LlmApiKey),
            "run :OpenHands secret llm_api_key (or set LLM_API_KEY before starting Neovim)"
        );
        assert_eq!(
            Editor::VsCode.how_to_set(SecretName::GithubToken),
            "run \"OpenHands: Set GitHub Token\" from the Command Palette"
        );
    }

    #[test]
    fn the_vscode_titles_named_are_the_extensions_own() {
        let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../editors/vscode/package.json");
        let text = std::fs::read_to_string(&manifest).expect("the VS Code extension's package.json");
        for name in SecretName::ALL {
            let title = format!("\"title\": \"{}\"", vscode_title(name));
            assert!(text.contains(&title), "{} has no command titled {}", manifest.display(), vscode_title(name));
        }
    }

    #[test]
    fn hosted_models_need_a_key_local_endpoints_may_not() {
        assert!(model_needs_key("anthropic/claude-sonnet-4-5-20250929", None));
        assert!(model_needs_key("openai/local", Some("http://127.0.0.1:8080/v1")), "the OpenAI client wants one");
        assert!(!model_needs_key("hosted_vllm/llama3", Some("http://127.0.0.1:8080/v1")));
        assert!(!model_needs_key("bedrock/anthropic.claude-3", None));
        assert!(!model_needs_key("ollama/llama3", None));
    }
}

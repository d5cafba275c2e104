//! The agent-server client against a real agent-server (started by the process backend): error mapping, paged event
//! search, and the stream's fatal close codes.

use std::collections::BTreeMap;
use std::time::Duration;

use openhands_lsp::agent_server::stream::{self, Resume, StreamItem};
use openhands_lsp::agent_server::{AgentServerClient, AgentServerError, Endpoint, LlmConfig, NewConversation};
use openhands_lsp::config::ConfirmationMode;
use openhands_lsp::sandbox::process::{ProcessConfig, ProcessProvider};
use openhands_lsp::sandbox::{SandboxProvider, SandboxSpec};
use openhands_lsp::secrets::{Secret, SecretStore};
use openhands_lsp_tests::agent::agent_server_command;
use openhands_lsp_tests::llm::{ScriptedLlm, Step};

#[test]
fn errors_paging_and_stream_close_codes_against_a_real_agent_server() {
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo one"),
        Step::terminal("echo two").gated("two"),
        Step::terminal("echo three > three.txt"),
        Step::finish("three echoes"),
    ]);
    let workspace = tempfile::tempdir().unwrap();
    openhands_lsp_tests::repo::git(workspace.path(), &["init", "-q"]);
    std::fs::write(workspace.path().join("README.md"), "hello\n").unwrap();
    openhands_lsp_tests::repo::git(workspace.path(), &["add", "-A"]);
    openhands_lsp_tests::repo::git(workspace.path(), &["commit", "-qm", "init"]);
    let scratch = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let provider = ProcessProvider::new(
            ProcessConfig { command: vec![agent_server_command()], startup_timeout: Duration::from_secs(180) },
            SecretStore::default(),
        );
        let id = uuid_like();
        let sandbox = provider
            .start(SandboxSpec {
                conversation_id: id.clone(),
                workspace: workspace.path().into(),
                scratch: scratch.path().into(),
                workspace_is_ours: false,
                ..SandboxSpec::default()
            })
            .await
            .unwrap();
        let client = AgentServerClient::new(sandbox.endpoint.clone());

        // A wrong session key is Unauthorized, on REST and on the stream.
        let bad = Endpoint { base_url: sandbox.endpoint.base_url.clone(), session_key: Secret::new("wrong-key") };
        let err = AgentServerClient::new(bad.clone()).get_conversation(&id).await.unwrap_err();
        assert!(matches!(err, AgentServerError::Unauthorized), "{err:?}");
        assert!(err.to_string().contains("401"));
        let mut sub = stream::subscribe(bad, id.clone(), Resume::default());
        let item = tokio::time::timeout(Duration::from_secs(20), sub.items.recv()).await.unwrap().unwrap();
        assert!(matches!(item, StreamItem::Closed(AgentServerError::Unauthorized)), "{item:?}");

        // An unknown conversation is NotFound.
        let err = client.get_conversation(&uuid_like()).await.unwrap_err();
        assert!(matches!(err, AgentServerError::NotFound { .. }), "{err:?}");

        // A real run, then its events page by page.
        let request = NewConversation {
            conversation_id: id.clone(),
            working_dir: sandbox.working_dir.clone(),
            llm: LlmConfig {
                model: "openai/stub".into(),
                base_url: Some(llm.base_url()),
                api_key: Some(Secret::new("sk-client-test")),
                num_retries: Some(0),
                timeout_seconds: 120,
                stream: false,
            },
            secrets: BTreeMap::new(),
            confirmation: ConfirmationMode::Never,
            max_iterations: 20,
            mcp_config: None,
            system_message_suffix: Some("Your other folder is /folders/canary-api.".into()),
        };
        client.create_conversation(&request).await.unwrap();
        client.send_message(&id, "Echo three times", true).await.unwrap();
        // Held at the gate the agent is running: a second `run` is refused as a conflict.
        assert!(tokio::task::block_in_place(|| llm.wait_requests(2, Duration::from_secs(120))));
        // The suffix reaches the model in the agent's system prompt.
        let system = llm.requests()[0].body["messages"][0].to_string();
        assert!(system.contains("Your other folder is /folders/canary-api."), "{system}");
        let err = client.run(&id).await.unwrap_err();
        assert!(matches!(err, AgentServerError::Conflict { .. }), "{err:?}");
        llm.open_gate("two");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let state = client.get_conversation(&id).await.unwrap();
            let status = state["execution_status"].as_str().unwrap_or_default().to_owned();
            if status == "finished" {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "never finished: {status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(client.final_response(&id).await.unwrap(), "three echoes");

        // The agent-server's view of what changed in the workspace repository.
        let dir = sandbox.working_dir.clone();
        let changes = client.git_changes(&dir).await.unwrap();
        let paths: Vec<String> =
            changes.as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap().to_owned()).collect();
        assert!(paths.iter().any(|p| p.ends_with("three.txt")), "{changes}");
        let diff = client.git_diff(&format!("{dir}/three.txt")).await.unwrap();
        // The agent-server trims the final newline and gives a new file an empty original.
        assert_eq!(diff["modified"].as_str().map(str::trim_end), Some("three"), "{diff}");
        assert_eq!(diff["original"], "", "{diff}");

        let mut all = Vec::new();
        let mut page_id: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = client.search_events(&id, page_id.as_deref(), 3).await.unwrap();
            assert!(page.items.len() <= 3);
            all.extend(page.items);
            pages += 1;
            match page.next_page_id {
                Some(next) => page_id = Some(next),
                None => break,
            }
        }
        assert!(pages > 3, "paged in threes: {pages} pages for {} events", all.len());
        let actions = all.iter().filter(|e| e["kind"] == "ActionEvent").count();
        assert_eq!(actions, 4, "three echoes and a finish");
        let mut ids: Vec<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "no event on two pages");

        // Deleting the conversation makes its stream close as NotFound.
        client.delete(&id).await.unwrap();
        let mut sub = stream::subscribe(sandbox.endpoint.clone(), id.clone(), Resume::default());
        let item = match tokio::time::timeout(Duration::from_secs(20), sub.items.recv()).await.unwrap().unwrap() {
            StreamItem::Closed(e) => e,
            other => panic!("expected the stream to close, got {other:?}"),
        };
        assert!(matches!(item, AgentServerError::NotFound { .. }), "{item:?}");
        sandbox.handle.stop().await;
    });
}

fn uuid_like() -> String {
    format!("{:032x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

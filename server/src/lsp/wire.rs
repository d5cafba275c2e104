//! What editors get for a conversation (`openhands/conversationChanged`, `listConversations`, `startTask`): its own
//! types, converted from the core's, so `meta.json` can change without changing the protocol and the reverse.
//! docs/protocol.md describes exactly these fields (checked below).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::conversation::{State, Summary};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    pub title: String,
    pub instruction: String,
    pub workspace: PathBuf,
    pub backend: String,
    pub state: State,
    pub created_at: u64,
    pub updated_at: u64,
    pub final_message: Option<String>,
    pub error: Option<String>,
    pub sandbox_url: Option<String>,
    /// The project's image it runs in (docker backend), when it is not the agent-server image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    pub event_count: u64,
    /// A runner is attached to a live sandbox (false for history from an earlier session).
    pub live: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub running_elsewhere: bool,
    /// Why a message cannot make it go on (`null`: it runs here, or a message starts it again where it was).
    pub cannot_continue: Option<String>,
    /// Its own copy, when it works in one.
    pub isolation: Option<Isolation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue: Option<Issue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<Cloud>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The checkpoint its copy's files are at.
    pub checkpoint: Option<u32>,
    /// How many times it was restored (its history was cut back each time).
    pub restores: u32,
    /// For the earlier branch of a restored conversation: which one, and the checkpoint it was restored to.
    pub branch_of: Option<BranchOf>,
    /// What its LLM calls cost so far (`null` before the first).
    pub usage: Option<Usage>,
    /// Paused on its budget: what it spent (`null` otherwise).
    pub budget_reached: Option<String>,
    /// Messages queued for when the running turn ends, in order (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<Queued>,
    /// The folders it works in besides `workspace`, each with its own copy (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<Folder>,
}

/// A folder a conversation works in besides its workspace (`Conversation.folders`): `folder` in the review's files
/// and in `pushChanges` and `createPullRequest` names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    pub name: String,
    /// The user's folder.
    pub path: PathBuf,
    /// Its own copy, when it has one.
    pub isolation: Option<Isolation>,
}

/// A message waiting for the running turn to end (`Conversation.queued`, and `sendMessage`'s and
/// `unqueueMessage`'s answers).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Queued {
    /// What `openhands.unqueueMessage` takes back.
    pub id: String,
    pub text: String,
}

impl From<crate::conversation::QueuedMessage> for Queued {
    fn from(q: crate::conversation::QueuedMessage) -> Self {
        Queued { id: q.id, text: q.text }
    }
}

/// The project's image a conversation runs in (`Conversation.image`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// The image's name (a built one: `openhands-lsp-project/<folder>-<hash>:<key>`).
    pub name: String,
    /// Where it comes from, in words: `the dev container (.devcontainer/devcontainer.json)`.
    pub origin: String,
}

/// A conversation's LLM use (`Conversation.usage`, the totals of `openhands.status`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// US dollars; `null` when the model's price is not known.
    pub cost_usd: Option<f64>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Of `tokensIn`, read from the provider's prompt cache.
    pub cached_tokens: u64,
    /// Tokens of the last call, of `contextWindow` (0: not known).
    pub context_used: u64,
    pub context_window: u64,
    /// Seconds spent waiting for the model (counted when a turn ends).
    pub llm_seconds: f64,
}

impl From<crate::conversation::Usage> for Usage {
    fn from(u: crate::conversation::Usage) -> Self {
        Usage {
            cost_usd: u.cost_usd,
            tokens_in: u.prompt_tokens,
            tokens_out: u.completion_tokens,
            cached_tokens: u.cache_read_tokens,
            context_used: u.context_used,
            context_window: u.context_window,
            llm_seconds: u.llm_seconds,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BranchOf {
    pub conversation_id: String,
    pub checkpoint: u32,
}

/// A checkpoint (`openhands.listCheckpoints`, `openhands/checkpoint`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub number: u32,
    pub step: u32,
    pub parent: Option<u32>,
    /// The agent-server event it follows (the `id` of an `openhands/event`).
    pub event_id: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    pub files: Vec<String>,
}

impl From<crate::git::checkpoint::Checkpoint> for Checkpoint {
    fn from(c: crate::git::checkpoint::Checkpoint) -> Self {
        Checkpoint {
            number: c.number,
            step: c.step,
            parent: c.parent,
            event_id: c.event_id,
            time: c.time,
            files: c.files,
        }
    }
}

/// The conversation's own copy: where the agent works (editors map the agent's paths back to the user's files with
/// it) and the branch it works on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Isolation {
    pub root: PathBuf,
    pub branch: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub provider: String,
    pub host: String,
    pub repository: String,
    pub number: u64,
    pub title: String,
    pub url: String,
    /// A Jira or Linear issue's key (`PROJ-123`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cloud {
    pub conversation_id: String,
    pub sandbox_id: String,
    pub url: String,
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub pull_requests: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub id: String,
    pub pid: u32,
    pub start: String,
    pub boot: String,
    pub host: String,
}

impl From<Summary> for Conversation {
    fn from(s: Summary) -> Self {
        let m = s.meta;
        Conversation {
            id: m.id,
            title: m.title,
            instruction: m.instruction,
            workspace: m.workspace,
            backend: m.backend,
            state: m.state,
            created_at: m.created_at,
            updated_at: m.updated_at,
            final_message: m.final_message,
            error: m.error,
            sandbox_url: m.sandbox_url,
            image: m.image.map(|i| Image { name: i.name, origin: i.origin }),
            event_count: m.event_count,
            live: s.live,
            running_elsewhere: s.running_elsewhere,
            cannot_continue: s.cannot_continue,
            isolation: m.isolation.map(|i| Isolation { root: i.root, branch: i.branch }),
            issue: m.issue.map(|i| Issue {
                provider: i.provider,
                host: i.host,
                repository: i.repository,
                number: i.number,
                title: i.title,
                url: i.url,
                key: i.key,
            }),
            cloud: m.cloud.map(|c| Cloud {
                conversation_id: c.conversation_id,
                sandbox_id: c.sandbox_id,
                url: c.url,
                repository: c.repository,
                branch: c.branch,
                pull_requests: c.pull_requests,
            }),
            owner: m.owner.map(|o| Owner { id: o.id, pid: o.pid, start: o.start, boot: o.boot, host: o.host }),
            checkpoint: m.checkpoint,
            restores: m.restores,
            branch_of: m.branch_of.map(|b| BranchOf { conversation_id: b.conversation, checkpoint: b.checkpoint }),
            usage: m.usage.map(Usage::from),
            budget_reached: m.budget_reached,
            queued: m.queued.into_iter().map(Queued::from).collect(),
            folders: m
                .folders
                .into_iter()
                .map(|f| Folder {
                    name: f.name,
                    path: f.workspace,
                    isolation: f.isolation.map(|i| Isolation { root: i.root, branch: i.branch }),
                })
                .collect(),
        }
    }
}

pub fn conversations(list: Vec<Summary>) -> Vec<Conversation> {
    list.into_iter().map(Conversation::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every key of the wire object, nested ones as `parent.key`.
    fn keys(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    keys(v, &name, out);
                    out.insert(name);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| keys(item, prefix, out)),
            _ => {}
        }
    }

    /// The keys docs/protocol.md's "Conversation" section names: `"key"` in its JSON and text.
    fn documented() -> String {
        let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md")).unwrap();
        let start = page.find("The object in `openhands/conversationChanged`").expect("the Conversation section");
        let end = page[start..].find("\n## ").map_or(page.len(), |e| start + e);
        page[start..end].to_owned()
    }

    #[test]
    fn protocol_md_describes_every_field_of_a_conversation_and_no_other() {
        let meta: crate::conversation::Meta = serde_json::from_value(serde_json::json!({
            "id": "c1", "title": "t", "instruction": "i", "workspace": "/w", "backend": "docker", "state": "running",
            "createdAt": 1, "updatedAt": 2, "finalMessage": null, "error": null, "sandboxUrl": null, "eventCount": 3,
            "isolation": {"root": "/s/c1/worktree", "dest": "/s/c1/worktree", "repo": "/w", "branch": "openhands/t",
                          "ownGit": true, "baseline": "00"},
            "issue": {"provider": "jira", "host": "acme.atlassian.net", "repository": "", "number": 1, "title": "x",
                      "url": "u", "key": "PROJ-1"},
            "cloud": {"conversationId": "a", "sandboxId": "b", "url": "u", "repository": "o/r", "branch": "main",
                      "pullRequests": []},
            "owner": {"id": "x", "pid": 1, "start": "1", "boot": "b", "host": "h"},
            "usage": {"costUsd": 0.5, "promptTokens": 1, "completionTokens": 2, "cacheReadTokens": 0,
                      "cacheWriteTokens": 0, "reasoningTokens": 0, "contextWindow": 9, "contextUsed": 3, "llmSeconds": 1.5},
            "budgetReached": "has spent $0.02 and 60 tokens of its budget of $0.01",
            "queued": [{"id": "a1", "text": "then the docs"}],
            "folders": [{"name": "api", "workspace": "/api", "isolation": {"root": "/s/c1/folders/api",
                         "dest": "/s/c1/folders/api", "repo": "/api", "branch": "openhands/t-api", "baseline": "00"}}],
            "image": {"name": "openhands-lsp-project/a-1:k", "origin": "the dev container (.devcontainer.json)"}
        }))
        .unwrap();
        let summary = Summary { meta, live: true, running_elsewhere: true, cannot_continue: Some("why".into()) };
        let wire = serde_json::to_value(Conversation::from(summary)).unwrap();
        let mut names = BTreeSet::new();
        keys(&wire, "", &mut names);
        let doc = documented();
        let missing: Vec<&String> =
            names.iter().filter(|k| !doc.contains(&format!("\"{}\"", k.rsplit('.').next().unwrap_or(k)))).collect();
        assert!(missing.is_empty(), "docs/protocol.md's Conversation section does not name {missing:?}");
        // And nothing of the disk's own: where the copy's folder is, its repository, its baseline.
        for internal in ["dest", "baseline", "ownGit"] {
            assert!(!names.iter().any(|k| k.ends_with(internal)), "{internal} is on the wire: {wire}");
            assert!(!doc.contains(&format!("\"{internal}\"")), "docs/protocol.md still names {internal}");
        }
        let quoted: BTreeSet<String> = doc
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|w| {
                !w.is_empty()
                    && w.chars().all(|c| c.is_ascii_alphanumeric())
                    && w.chars().next().is_some_and(char::is_lowercase)
            })
            .map(str::to_owned)
            .collect();
        let leaves: BTreeSet<String> = names.iter().map(|k| k.rsplit('.').next().unwrap_or(k).to_owned()).collect();
        let values = ["process", "running", "github", "jira", "cloud", "main", "api"];
        let unknown: Vec<&String> =
            quoted.iter().filter(|w| !leaves.contains(*w) && !values.contains(&w.as_str())).collect();
        assert!(unknown.is_empty(), "docs/protocol.md names fields a conversation does not have: {unknown:?}");
    }
}

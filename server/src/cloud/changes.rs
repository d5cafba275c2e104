//! Bringing a cloud conversation's changes back: the agent-server's git changes and diffs, written into the
//! conversation's local isolated copy, where the usual review / apply / pull-request flow takes them from.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::agent_server::{AgentServerClient, AgentServerError};

#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    #[error(transparent)]
    AgentServer(#[from] AgentServerError),
    #[error("the agent-server reported a changed path outside the repository: {0:?}")]
    BadPath(String),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Writes the cloud's changes into `local_root`; returns the paths brought back (relative, `/`-separated).
pub async fn bring_back(
    client: &AgentServerClient,
    conversation_id: &str,
    repo_name: Option<&str>,
    local_root: &Path,
) -> Result<Vec<String>, ChangesError> {
    let info = client.get_conversation(conversation_id).await?;
    let working_dir = info
        .pointer("/workspace/working_dir")
        .and_then(Value::as_str)
        .unwrap_or("/workspace/project")
        .trim_end_matches('/')
        .to_owned();
    // The cloud clones the repository into a folder of the working directory named after it; a self-hosted
    // server may make the repository the working directory itself.
    let mut candidates = Vec::new();
    if let Some(name) = repo_name.filter(|n| !n.is_empty() && !working_dir.ends_with(&format!("/{n}"))) {
        candidates.push(format!("{working_dir}/{name}"));
    }
    candidates.push(working_dir);
    let mut found = None;
    for dir in candidates {
        match client.git_changes(&dir).await {
            Ok(Value::Array(list)) if !list.is_empty() => {
                found = Some((dir, list));
                break;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("git changes of {dir}: {e}"),
        }
    }
    let Some((dir, list)) = found else { return Ok(Vec::new()) };
    let mut brought = Vec::new();
    for change in list {
        let (Some(rel), Some(status)) =
            (change.get("path").and_then(Value::as_str), change.get("status").and_then(Value::as_str))
        else {
            continue;
        };
        let local = local_root.join(safe_relative(rel)?);
        if status == "DELETED" {
            match tokio::fs::remove_file(&local).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(ChangesError::Io { path: local, source }),
            }
            brought.push(rel.to_owned());
            continue;
        }
        let diff = client.git_diff(&format!("{dir}/{rel}")).await?;
        let Some(modified) = diff.get("modified").and_then(Value::as_str) else { continue };
        let text = with_final_newline(modified, &local).await;
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| ChangesError::Io { path: parent.to_owned(), source })?;
        }
        tokio::fs::write(&local, text).await.map_err(|source| ChangesError::Io { path: local.clone(), source })?;
        brought.push(rel.to_owned());
    }
    Ok(brought)
}

/// A path the agent-server reported, refused when it could leave the copy.
fn safe_relative(rel: &str) -> Result<PathBuf, ChangesError> {
    let path = Path::new(rel);
    if rel.is_empty() || path.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(ChangesError::BadPath(rel.to_owned()));
    }
    Ok(path.to_owned())
}

/// The agent-server's diff drops the file's final newline: put it back unless the local file has none.
async fn with_final_newline(modified: &str, local: &Path) -> String {
    let local_has_none = tokio::fs::read(local).await.ok().is_some_and(|b| !b.is_empty() && !b.ends_with(b"\n"));
    if modified.is_empty() || modified.ends_with('\n') || local_has_none {
        modified.to_owned()
    } else {
        format!("{modified}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_leave_the_copy_are_refused() {
        assert!(safe_relative("src/a.rs").is_ok());
        for bad in ["", "../x", "/etc/passwd", "a/../../b", "./a"] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_final_newline_follows_the_local_file() {
        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("with");
        let without = dir.path().join("without");
        std::fs::write(&with, "a\n").unwrap();
        std::fs::write(&without, "a").unwrap();
        assert_eq!(with_final_newline("b", &with).await, "b\n");
        assert_eq!(with_final_newline("b", &without).await, "b");
        assert_eq!(with_final_newline("b", &dir.path().join("new")).await, "b\n");
        assert_eq!(with_final_newline("", &with).await, "");
    }
}

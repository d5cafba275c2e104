//! The agent's MCP servers as the user configures them (`openhands.mcpServers`, and an ACP session's): each entry
//! checked on its own (a bad one is a settings problem naming its key, the others still apply), the secrets named
//! in them (`${secret:NAME}`) filled in only on the way to the agent-server, and whether a stdio server's command
//! can run on this machine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The servers by name. Their text is what the user wrote: secrets stay names until [`McpServers::agent_config`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct McpServers(pub BTreeMap<String, McpServer>);

/// How the agent talks to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum McpKind {
    Stdio,
    Http,
    Sse,
}

impl McpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            McpKind::Stdio => "stdio",
            McpKind::Http => "http",
            McpKind::Sse => "sse",
        }
    }
}

/// One server: a command the agent starts (stdio), or a URL it connects to (http, sse).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServer {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<McpKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// Why a server cannot be given to the agent, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct McpError(pub String);

const SECRET_OPEN: &str = "${secret:";

impl McpServer {
    /// Its kind: as given, else from what it has (a command, or a URL: http).
    pub fn kind(&self) -> McpKind {
        self.kind.unwrap_or(if self.command.is_some() { McpKind::Stdio } else { McpKind::Http })
    }

    /// What is wrong with it, if anything.
    fn problem(&self) -> Option<String> {
        match (self.kind(), &self.command, &self.url) {
            (_, Some(_), Some(_)) => Some("has both a command and a url: give one".into()),
            (McpKind::Stdio, None, _) => Some("a stdio server needs a command".into()),
            (McpKind::Http | McpKind::Sse, _, None) => Some("an http or sse server needs a url".into()),
            (_, _, Some(url)) if !url.starts_with("http://") && !url.starts_with("https://") => {
                Some(format!("its url must start with http:// or https:// (got {url:?})"))
            }
            _ => self.texts().find_map(|t| secret_names(t).err()),
        }
    }

    /// The texts where a secret may be named.
    fn texts(&self) -> impl Iterator<Item = &String> {
        self.env.values().chain(self.headers.values()).chain(self.args.iter())
    }

    /// The secrets it names.
    pub fn secrets(&self) -> Vec<String> {
        let mut names: Vec<String> = self.texts().flat_map(|t| secret_names(t).unwrap_or_default()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// The command or URL, for `doctor` and `status`.
    pub fn target(&self) -> String {
        match (&self.command, &self.url) {
            (Some(command), _) => std::iter::once(command).chain(&self.args).cloned().collect::<Vec<_>>().join(" "),
            (None, Some(url)) => url.clone(),
            (None, None) => String::new(),
        }
    }
}

/// The names in `${secret:NAME}` references, or what is wrong with one.
fn secret_names(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(SECRET_OPEN) {
        let after = &rest[start + SECRET_OPEN.len()..];
        let Some(end) = after.find('}') else { return Err(format!("an unclosed {SECRET_OPEN}…}} in {text:?}")) };
        let name = &after[..end];
        if !is_secret_name(name) {
            return Err(format!("{name:?} is not a secret name (letters, digits and _, not first a digit)"));
        }
        names.push(name.to_owned());
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// A name a secret can have: an environment variable's (`setSecret` takes the same).
pub fn is_secret_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` with its secrets filled in, or the first one not set.
fn fill(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(SECRET_OPEN) {
        let after = &rest[start + SECRET_OPEN.len()..];
        let end = after.find('}').unwrap_or(after.len());
        let name = &after[..end];
        out.push_str(&rest[..start]);
        out.push_str(&lookup(name).ok_or_else(|| name.to_owned())?);
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

impl McpServers {
    /// Reads the setting's value: the good entries, and a problem per bad one (its key below the setting, why).
    pub fn check(value: &Value) -> (McpServers, Vec<(String, String)>) {
        let Value::Object(map) = value else {
            return (McpServers::default(), vec![(String::new(), "expected an object of servers by name".into())]);
        };
        let mut good = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, entry) in map {
            match serde_json::from_value::<McpServer>(entry.clone()) {
                Ok(server) => match server.problem() {
                    None => {
                        good.insert(name.clone(), server);
                    }
                    Some(problem) => problems.push((name.clone(), format!("{problem}; this server is left out"))),
                },
                Err(e) => problems.push((
                    name.clone(),
                    format!(
                        "expected {{\"command\", \"args\", \"env\"}} or {{\"url\", \"headers\", \"type\": \"http\" or \
                         \"sse\"}} ({e}); this server is left out"
                    ),
                )),
            }
        }
        (McpServers(good), problems)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These and `more`, `more`'s winning where both name a server.
    pub fn with(&self, more: &McpServers) -> McpServers {
        let mut all = self.0.clone();
        all.extend(more.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        McpServers(all)
    }

    /// The agent-server's `mcp_config` (servers by name), secrets filled in by `lookup`; `None` when there are none.
    /// It may hold secrets: it goes to the agent-server only, never to a file or the log.
    pub fn agent_config(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<Value>, McpError> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut all = Map::new();
        for (name, server) in &self.0 {
            let missing = |secret: String| {
                McpError(format!(
                    "MCP server {name:?} uses the secret {secret}, which is not set: set it with openhands.setSecret \
                     (name {secret}) or the {secret} environment variable"
                ))
            };
            let filled = |map: &BTreeMap<String, String>| -> Result<Map<String, Value>, McpError> {
                map.iter().map(|(k, v)| Ok((k.clone(), json!(fill(v, lookup).map_err(missing)?)))).collect()
            };
            let entry = match server.kind() {
                McpKind::Stdio => {
                    let args: Result<Vec<String>, McpError> =
                        server.args.iter().map(|a| fill(a, lookup).map_err(missing)).collect();
                    json!({"command": server.command, "args": args?, "env": filled(&server.env)?})
                }
                kind => json!({"url": server.url, "transport": kind.as_str(), "headers": filled(&server.headers)?}),
            };
            all.insert(name.clone(), entry);
        }
        Ok(Some(Value::Object(all)))
    }

    /// The stdio servers whose command cannot be started on this machine: `(name, command)`.
    pub fn missing_commands(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter_map(|(name, s)| Some((name, s.command.as_ref()?)))
            .filter(|(_, command)| crate::platform::find_program(std::path::Path::new(command)).is_none())
            .map(|(name, command)| (name.clone(), command.clone()))
            .collect()
    }

    /// A stdio server where the agent cannot start one: said with what to do.
    pub fn check_runnable(&self, backend: &str) -> Result<(), McpError> {
        if backend == "cloud"
            && let Some((name, s)) = self.0.iter().find(|(_, s)| s.kind() == McpKind::Stdio)
        {
            return Err(McpError(format!(
                "MCP server {name:?} runs a command ({}), which OpenHands Cloud cannot run: use an http or sse \
                 server, or the docker or process backend",
                s.target()
            )));
        }
        if backend == "process"
            && let Some((name, command)) = self.missing_commands().into_iter().next()
        {
            return Err(McpError(format!(
                "MCP server {name:?}: its command {command} is not found on this machine (where the process backend \
                 runs the agent): install it or give its full path"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_checked_one_by_one() {
        let (good, problems) = McpServers::check(&json!({
            "shout": {"command": "python3", "args": ["-m", "shout"], "env": {"TOKEN": "${secret:SHOUT_TOKEN}"}},
            "docs": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${secret:DOCS}"}},
            "events": {"type": "sse", "url": "http://127.0.0.1:9/sse"},
            "both": {"command": "x", "url": "http://x"},
            "nothing": {"type": "stdio"},
            "typo": {"comand": "x"},
            "badref": {"command": "x", "env": {"A": "${secret:1x}"}},
            "ftp": {"url": "ftp://x"},
        }));
        assert_eq!(good.0.keys().collect::<Vec<_>>(), ["docs", "events", "shout"]);
        let mut keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, ["badref", "both", "ftp", "nothing", "typo"]);
        assert!(problems.iter().all(|(_, p)| p.ends_with("this server is left out")), "{problems:?}");
        assert_eq!(good.0["shout"].secrets(), ["SHOUT_TOKEN"]);
        assert_eq!(good.0["events"].kind(), McpKind::Sse);
        assert!(McpServers::check(&json!([1])).1[0].1.contains("object"));
    }

    #[test]
    fn secrets_are_filled_only_on_the_way_out_and_a_missing_one_is_named() {
        let (servers, _) = McpServers::check(&json!({
            "shout": {"command": "shout", "args": ["--key=${secret:K}"], "env": {"TOKEN": "t-${secret:K}-x"}},
            "docs": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${secret:D}"}},
        }));
        let lookup = |n: &str| (n == "K").then(|| "kval".to_owned());
        let err = servers.agent_config(&lookup).expect_err("D is not set");
        assert!(err.0.contains("secret D") && err.0.contains("openhands.setSecret"), "{err}");
        let both = |n: &str| Some(format!("{n}val"));
        let config = servers.agent_config(&both).expect("ok").expect("some");
        assert_eq!(config["shout"], json!({"command": "shout", "args": ["--key=Kval"], "env": {"TOKEN": "t-Kval-x"}}));
        assert_eq!(config["docs"]["headers"]["Authorization"], "Bearer Dval");
        assert_eq!(config["docs"]["transport"], "http");
        assert!(serde_json::to_string(&servers).expect("json").contains("${secret:K}"), "the names, not values");
    }

    #[test]
    fn commands_are_looked_up_where_the_agent_runs() {
        let (servers, _) =
            McpServers::check(&json!({"gone": {"command": "no-such-mcp-server"}, "sh": {"command": "sh"}}));
        assert_eq!(servers.missing_commands(), [("gone".to_owned(), "no-such-mcp-server".to_owned())]);
        let e = servers.check_runnable("process").expect_err("missing");
        assert!(e.0.contains("no-such-mcp-server") && e.0.contains("not found"), "{e}");
        assert!(servers.check_runnable("cloud").expect_err("stdio").0.contains("OpenHands Cloud"));
        assert!(servers.check_runnable("docker").is_ok(), "in the image: checked in the container");
    }
}

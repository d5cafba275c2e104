//! A folder's dev container configuration (`.devcontainer/devcontainer.json` or `.devcontainer.json`), read for
//! what the docker backend takes from it: where the sandbox's image comes from (`image`, or `build.dockerfile` with
//! its `context`, `args` and `target`) and `postCreateCommand`. Everything else it may say is named, never applied:
//! a repository is not trusted for more than the sandbox gives any conversation (no host commands, mounts, ports,
//! privileges or capabilities), and features and the other lifecycle commands are not supported.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde_json::Value;

/// Where a folder's dev container configuration is looked for, in this order.
pub const LOCATIONS: &[&str] = &[".devcontainer/devcontainer.json", ".devcontainer.json"];

/// What the sandbox's image is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// An image by name (pulled when absent).
    Image(String),
    /// A Dockerfile built in a context folder, both inside the workspace.
    Dockerfile {
        /// Relative to the workspace's top, `/`-separated.
        dockerfile: String,
        /// Relative to the workspace's top (`""`: the top itself).
        context: String,
        args: BTreeMap<String, String>,
        target: Option<String>,
    },
}

/// A command run in the sandbox when a conversation starts (`postCreateCommand`, `.openhands/setup.sh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupCommand {
    /// Run by `/bin/sh -c`.
    Shell(String),
    /// Run as given, no shell.
    Exec(Vec<String>),
}

/// What the docker backend takes from a dev container configuration, and what it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevContainer {
    /// The file, relative to the workspace's top.
    pub file: String,
    /// `None`: the configuration names no image this backend can use (Docker Compose), said in `not_applied`.
    pub source: Option<ImageSource>,
    /// `postCreateCommand`, its parts in order when it names several.
    pub post_create: Vec<(String, SetupCommand)>,
    /// Properties found that are not supported here (features, other lifecycle commands).
    pub not_applied: Vec<String>,
    /// Properties found that would give the repository more than the sandbox allows: never applied.
    pub refused: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DevContainerError {
    #[error("{file} is not valid JSON with comments: {reason}")]
    Malformed { file: String, reason: String },
    #[error("{file}: {reason}")]
    Invalid { file: String, reason: String },
}

/// Properties that reach beyond the sandbox, each with why it is never applied.
const REFUSED: &[(&str, &str)] = &[
    ("initializeCommand", "it would run on your machine"),
    ("runArgs", "docker run options"),
    ("mounts", "host mounts"),
    ("workspaceMount", "host mounts"),
    ("privileged", "privileges"),
    ("capAdd", "capabilities"),
    ("securityOpt", "security options"),
    ("appPort", "ports"),
    ("forwardPorts", "ports"),
    ("portsAttributes", "ports"),
    ("otherPortsAttributes", "ports"),
    ("init", "docker run options"),
    ("runServices", "Docker Compose services"),
    ("hostRequirements", "host requirements"),
];

/// Properties supported elsewhere but not here.
const NOT_APPLIED: &[&str] = &[
    "features",
    "overrideFeatureInstallOrder",
    "onCreateCommand",
    "updateContentCommand",
    "postStartCommand",
    "postAttachCommand",
    "containerEnv",
    "remoteEnv",
    "containerUser",
    "remoteUser",
    "updateRemoteUserUID",
    "userEnvProbe",
    "dockerComposeFile",
];

/// Build options that reach beyond the build's own context.
const REFUSED_BUILD: &[(&str, &str)] = &[("options", "docker build options"), ("cacheFrom", "other images' caches")];

/// Reads the folder's dev container configuration, if it has one.
pub fn find(workspace: &Path) -> Result<Option<DevContainer>, DevContainerError> {
    for location in LOCATIONS {
        let path = workspace.join(location);
        match std::fs::read_to_string(&path) {
            Ok(text) => return parse(location, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(DevContainerError::Invalid {
                    file: (*location).to_owned(),
                    reason: format!("cannot read it: {e}"),
                });
            }
        }
    }
    Ok(None)
}

/// Parses one configuration found at `file` (relative to the workspace's top).
pub fn parse(file: &str, text: &str) -> Result<DevContainer, DevContainerError> {
    let plain = strip_jsonc(text);
    let value: Value = serde_json::from_str(&plain)
        .map_err(|e| DevContainerError::Malformed { file: file.to_owned(), reason: e.to_string() })?;
    let invalid = |reason: String| DevContainerError::Invalid { file: file.to_owned(), reason };
    let Value::Object(config) = value else { return Err(invalid("it is not a JSON object".into())) };
    let dir = Path::new(file).parent().unwrap_or(Path::new(""));

    let mut refused: Vec<String> = REFUSED
        .iter()
        .filter(|(key, _)| config.contains_key(*key))
        .map(|(key, why)| format!("{key} ({why})"))
        .collect();
    let mut not_applied: Vec<String> =
        NOT_APPLIED.iter().filter(|key| config.contains_key(**key)).map(|key| (*key).to_owned()).collect();

    let source = image_source(&config, dir, &mut refused).map_err(invalid)?;

    let post_create = match config.get("postCreateCommand") {
        None => Vec::new(),
        Some(Value::Object(parts)) => parts
            .iter()
            .map(|(name, v)| {
                command(v).map(|c| (name.clone(), c)).ok_or_else(|| {
                    invalid(format!("`postCreateCommand.{name}` must be a string or an array of strings"))
                })
            })
            .collect::<Result<_, _>>()?,
        Some(v) => vec![(
            "postCreateCommand".to_owned(),
            command(v).ok_or_else(|| {
                invalid("`postCreateCommand` must be a string, an array of strings or an object".into())
            })?,
        )],
    };
    if source.is_none() && !config.contains_key("dockerComposeFile") && !config.contains_key("image") {
        not_applied.push("(no image or build.dockerfile)".into());
    }
    refused.dedup();
    Ok(DevContainer { file: file.to_owned(), source, post_create, not_applied, refused })
}

/// Where the configuration's image comes from (`build.dockerfile`, else `image`); refused build options are added to
/// `refused`.
fn image_source(
    config: &serde_json::Map<String, Value>,
    dir: &Path,
    refused: &mut Vec<String>,
) -> Result<Option<ImageSource>, String> {
    let build = match config.get("build") {
        Some(Value::Object(b)) => Some(b.clone()),
        Some(_) => return Err("`build` must be an object".into()),
        None => None,
    };
    // The older schema put these at the top.
    let dockerfile = build.as_ref().and_then(|b| b.get("dockerfile")).or_else(|| config.get("dockerFile"));
    Ok(if let Some(dockerfile) = dockerfile {
        let Some(dockerfile) = dockerfile.as_str() else {
            return Err("`build.dockerfile` must be a string".into());
        };
        let context = build.as_ref().and_then(|b| b.get("context")).or_else(|| config.get("context"));
        let context = match context {
            None => ".",
            Some(Value::String(c)) => c.as_str(),
            Some(_) => return Err("`build.context` must be a string".into()),
        };
        let args = match build.as_ref().and_then(|b| b.get("args")) {
            None => BTreeMap::new(),
            Some(Value::Object(args)) => args
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Number(n) => Ok((k.clone(), n.to_string())),
                    Value::Bool(b) => Ok((k.clone(), b.to_string())),
                    _ => Err(format!("`build.args.{k}` must be a string")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`build.args` must be an object".into()),
        };
        let target = match build.as_ref().and_then(|b| b.get("target")) {
            None => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(_) => return Err("`build.target` must be a string".into()),
        };
        if let Some(b) = &build {
            refused.extend(
                REFUSED_BUILD.iter().filter(|(k, _)| b.contains_key(*k)).map(|(k, why)| format!("build.{k} ({why})")),
            );
        }
        let inside = |what: &str, path: &str| {
            within_workspace(&dir.join(path)).ok_or_else(|| {
                format!(
                    "`{what}` is {path:?}, outside the folder: the sandbox's build sees only the folder's own files"
                )
            })
        };
        Some(ImageSource::Dockerfile {
            dockerfile: inside("build.dockerfile", dockerfile)?,
            context: inside("build.context", context)?,
            args,
            target,
        })
    } else {
        match config.get("image") {
            Some(Value::String(image)) if !image.trim().is_empty() => Some(ImageSource::Image(image.trim().to_owned())),
            Some(Value::String(_)) | None => None,
            Some(_) => return Err("`image` must be a string".into()),
        }
    })
}

impl DevContainer {
    /// What was left out, in words, for the user (once): `None` when everything found is applied.
    pub fn notice(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.refused.is_empty() {
            parts.push(format!(
                "never applied, as the sandbox gives a repository no more than any conversation: {}",
                self.refused.join(", ")
            ));
        }
        if !self.not_applied.is_empty() {
            parts.push(format!("not supported in the sandbox: {}", self.not_applied.join(", ")));
        }
        (!parts.is_empty()).then(|| format!("{}: {}", self.file, parts.join("; ")))
    }
}

fn command(value: &Value) -> Option<SetupCommand> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(SetupCommand::Shell(s.clone())),
        Value::Array(items) if !items.is_empty() => {
            items.iter().map(|i| i.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>().map(SetupCommand::Exec)
        }
        _ => None,
    }
}

/// `path` (relative to the workspace's top) normalised, when it stays inside the workspace: `/`-separated, `""` for
/// the top itself.
fn within_workspace(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(p) => parts.push(p.to_str()?.to_owned()),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// JSON with comments (`//`, `/* */`) and trailing commas, as dev container files are written, made plain JSON.
/// Comments become spaces (line numbers in errors stay right); strings are left as they are.
fn strip_jsonc(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // Where a comma was written that may turn out to be trailing, and the output since.
    let mut pending_comma: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                pending_comma = None;
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        out.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if chars[i - 1] == '"' {
                        break;
                    }
                }
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(' ');
                    i += 1;
                }
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                out.push_str("  ");
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    out.push(if chars[i] == '\n' { '\n' } else { ' ' });
                    i += 1;
                }
                out.push_str("  ");
                i = (i + 2).min(chars.len());
                continue;
            }
            ',' => {
                pending_comma = Some(out.len());
                out.push(c);
            }
            '}' | ']' => {
                if let Some(at) = pending_comma.take() {
                    out.replace_range(at..at + 1, " ");
                }
                out.push(c);
            }
            c if c.is_whitespace() => out.push(c),
            _ => {
                pending_comma = None;
                out.push(c);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_trailing_commas_are_read_and_strings_kept() {
        let text = r#"{
            // the image
            "image": "rust:1 // not a comment", /* block
               comment */
            "postCreateCommand": ["cargo", "fetch",],
        }"#;
        let dc = parse(".devcontainer/devcontainer.json", text).unwrap();
        assert_eq!(dc.source, Some(ImageSource::Image("rust:1 // not a comment".into())));
        assert_eq!(
            dc.post_create,
            vec![("postCreateCommand".into(), SetupCommand::Exec(vec!["cargo".into(), "fetch".into()]))]
        );
        assert_eq!(dc.notice(), None);
    }

    #[test]
    fn a_dockerfile_is_found_relative_to_the_file_and_must_stay_in_the_folder() {
        let text =
            r#"{"build": {"dockerfile": "Dockerfile", "context": "..", "args": {"V": "1", "N": 2}, "target": "dev"}}"#;
        let dc = parse(".devcontainer/devcontainer.json", text).unwrap();
        assert_eq!(
            dc.source,
            Some(ImageSource::Dockerfile {
                dockerfile: ".devcontainer/Dockerfile".into(),
                context: "".into(),
                args: BTreeMap::from([("N".into(), "2".into()), ("V".into(), "1".into())]),
                target: Some("dev".into()),
            })
        );
        let escape = r#"{"build": {"dockerfile": "Dockerfile", "context": "../.."}}"#;
        let err = parse(".devcontainer/devcontainer.json", escape).unwrap_err().to_string();
        assert!(err.contains("outside the folder"), "{err}");
        let old = parse(".devcontainer.json", r#"{"dockerFile": "build/Dockerfile"}"#).unwrap();
        assert!(
            matches!(old.source, Some(ImageSource::Dockerfile { ref dockerfile, ref context, .. }) if dockerfile == "build/Dockerfile" && context.is_empty())
        );
    }

    #[test]
    fn what_reaches_beyond_the_sandbox_is_named_and_never_taken() {
        let text = r#"{
            "image": "debian",
            "initializeCommand": "touch /tmp/planted",
            "runArgs": ["-v", "/:/host"], "mounts": ["source=/,target=/host,type=bind"],
            "privileged": true, "capAdd": ["SYS_ADMIN"], "securityOpt": ["seccomp=unconfined"],
            "forwardPorts": [3000], "features": {"ghcr.io/devcontainers/features/node:1": {}},
            "postStartCommand": "echo",
            "postCreateCommand": {"one": "echo 1", "two": ["echo", "2"]}
        }"#;
        let dc = parse(".devcontainer/devcontainer.json", text).unwrap();
        let notice = dc.notice().unwrap();
        for named in [
            "initializeCommand (it would run on your machine)",
            "runArgs",
            "mounts",
            "privileged",
            "capAdd",
            "securityOpt",
            "forwardPorts",
            "features",
            "postStartCommand",
        ] {
            assert!(notice.contains(named), "{named} in {notice}");
        }
        assert_eq!(dc.post_create.len(), 2);
        assert_eq!(dc.post_create[1], ("two".into(), SetupCommand::Exec(vec!["echo".into(), "2".into()])));
    }

    #[test]
    fn broken_files_say_where() {
        let err = parse(".devcontainer.json", "{\n  \"image\": \"x\"\n  \"build\": {}\n}").unwrap_err().to_string();
        assert!(err.starts_with(".devcontainer.json is not valid JSON") && err.contains("line 3"), "{err}");
        let err = parse(".devcontainer.json", r#"{"image": 3}"#).unwrap_err().to_string();
        assert_eq!(err, ".devcontainer.json: `image` must be a string");
    }

    #[test]
    fn compose_is_not_supported_and_said() {
        let dc = parse(".devcontainer.json", r#"{"dockerComposeFile": "compose.yml", "service": "app"}"#).unwrap();
        assert_eq!(dc.source, None);
        assert!(dc.notice().unwrap().contains("dockerComposeFile"));
    }
}

//! A dev container's Dockerfile built once: tagged `openhands-lsp-project/<folder>-<hash of its path>:<key>`, the
//! key hashing what went into the build (the Dockerfile, its arguments and target, the ids of its `FROM` images, the
//! files it copies), so the next conversation on the project builds nothing and a change builds anew. The classic
//! builder on its own network (never the host's), no host mounts, no secrets; the steps are the start's progress,
//! the log is kept, a failure names the step with its last lines.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder};
use futures::StreamExt;
use sha1::{Digest, Sha1};

use super::Inner;
use crate::sandbox::devcontainer::{DevContainer, ImageSource};
use crate::sandbox::{SandboxError, StartProgress};

/// Where projects' builds are tagged: `openhands-lsp-project/<folder>-<hash of its path>:<key>`.
pub(super) const PROJECT_REPOSITORY: &str = "openhands-lsp-project";

/// How long a build may take before it is given up.
const BUILD_TIMEOUT: Duration = Duration::from_secs(3600);
/// Build output lines kept in the error of a failed build.
const BUILD_TAIL: usize = 15;

impl Inner {
    /// Builds the dev container's Dockerfile, unless an image of the same key is there; returns its tag.
    pub(super) async fn build(
        &self,
        docker: &Docker,
        dc: &DevContainer,
        workspace: &Path,
        source: &Path,
        progress: Option<&StartProgress>,
    ) -> Result<String, SandboxError> {
        let Some(src @ ImageSource::Dockerfile { dockerfile, context, args, target }) = &dc.source else {
            return Err(SandboxError::Io("no Dockerfile to build".into()));
        };
        let failed = |reason: String| SandboxError::Image(format!("cannot build the image of {}: {reason}", dc.file));
        let key = build_key(docker, workspace, src).await.map_err(failed)?;
        let tag = project_tag(source, &key);
        if docker.inspect_image(&tag).await.is_ok() {
            return Ok(tag);
        }
        let report = |m: String| StartProgress::report_to(progress, m);
        report(format!("building the image of {} ({dockerfile})…", dc.file));
        let (ws, ctx, df) = (workspace.to_owned(), context.clone(), dockerfile.clone());
        let tar = tokio::task::spawn_blocking(move || context_tar(&ws, &ctx, &df))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(failed)?;
        let args: HashMap<String, String> = args.clone().into_iter().collect();
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(DOCKERFILE_IN_CONTEXT)
            .t(&tag)
            .rm(true)
            .forcerm(true)
            .buildargs(&args)
            // The builder's own network (bridge): never the host's.
            .networkmode("default");
        if let Some(target) = target {
            options = options.target(target);
        }
        let builder = docker.clone().with_timeout(BUILD_TIMEOUT);
        let mut stream = builder.build_image(options.build(), None, Some(bollard::body_full(tar.into())));
        let step_report = |step: &str| report(format!("building the image of {}: {}", dc.file, clip(step, 90)));
        let Followed { log, step, error } = follow(&mut stream, step_report).await;
        let log_file = self.keep_build_log(&tag, &log);
        if let Some(error) = error {
            // Docker's own bookkeeping lines say nothing to the user.
            let said = |l: &&str| {
                !l.trim().is_empty() && !l.starts_with(" ---> ") && !l.starts_with("Removing intermediate container")
            };
            let tail: Vec<&str> = log.lines().filter(said).collect();
            let tail = tail[tail.len().saturating_sub(BUILD_TAIL)..].join("\n");
            let at = if step.is_empty() { String::new() } else { format!(" at {step}") };
            let whole = log_file.map(|f| format!("\nThe whole log: {}", f.display())).unwrap_or_default();
            return Err(SandboxError::Image(format!(
                "building the image of {}{at} failed: {}. Its last lines:\n{tail}{whole}",
                dc.file,
                error.trim()
            )));
        }
        report(format!("built the image of {}", dc.file));
        self.remove_older_builds(docker, &tag).await;
        Ok(tag)
    }

    /// Writes a build's output where the user can read it again; returns the file.
    fn keep_build_log(&self, tag: &str, log: &str) -> Option<PathBuf> {
        let dir = self.build_logs.as_ref()?;
        let file = dir.join(format!("{}.log", tag.replace(['/', ':'], "_")));
        let written = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&file, log));
        match written {
            Ok(()) => Some(file),
            Err(e) => {
                tracing::warn!("the build log was not kept in {}: {e}", file.display());
                None
            }
        }
    }

    /// Removes the earlier builds of a project (its images of other keys), so they do not pile up. One in use by a
    /// container stays (Docker refuses): the clean command takes it later.
    async fn remove_older_builds(&self, docker: &Docker, keep: &str) {
        let repository = keep.rsplit_once(':').map_or(keep, |(r, _)| r);
        let filters = HashMap::from([("reference".to_owned(), vec![repository.to_owned()])]);
        let Ok(images) = docker.list_images(Some(ListImagesOptionsBuilder::default().filters(&filters).build())).await
        else {
            return;
        };
        // By tag: an image may also carry a name of the user's, which stays.
        let tags = images
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .filter(|t| t.starts_with(&format!("{repository}:")) && t != keep);
        for tag in tags {
            let options = RemoveImageOptionsBuilder::default().build();
            if let Err(e) = docker.remove_image(&tag, Some(options), None).await {
                tracing::debug!("an earlier build {tag} stays: {e}");
            }
        }
    }
}

/// What a build said: its whole output, the last step it began, and its error.
struct Followed {
    log: String,
    step: String,
    error: Option<String>,
}

/// Reads a build's output to its end, reporting each step as it begins.
async fn follow(
    stream: &mut (impl futures::Stream<Item = Result<bollard::models::BuildInfo, bollard::errors::Error>> + Unpin),
    report: impl Fn(&str),
) -> Followed {
    let mut out = Followed { log: String::new(), step: String::new(), error: None };
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                out.error = Some(error);
                break;
            }
            Err(e) => {
                out.error = Some(e.to_string());
                break;
            }
        };
        if let Some(text) = &info.stream {
            out.log.push_str(text);
            for line in text.lines().filter(|l| l.starts_with("Step ")) {
                out.step = line.trim().to_owned();
                report(&out.step);
            }
        }
        if let Some(message) = info.error_detail.as_ref().and_then(|d| d.message.clone()) {
            out.log.push_str(&message);
            out.log.push('\n');
            out.error = Some(message);
        }
    }
    out
}

/// The tag of a project's build: named after its folder (and its path's hash: two folders of one name are two
/// projects), tagged with the key.
pub(super) fn project_tag(source: &Path, key: &str) -> String {
    let name: String = source
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '-' })
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let name = if name.is_empty() { "project" } else { name };
    let path = format!("{:x}", Sha1::digest(source.to_string_lossy().as_bytes()));
    format!("{PROJECT_REPOSITORY}/{name}-{}:{}", &path[..8], &key[..16])
}

/// The name the Dockerfile has in the build's context (it may live outside the context folder).
const DOCKERFILE_IN_CONTEXT: &str = ".openhands-lsp.Dockerfile";

/// What a build is made of, hashed: the Dockerfile, its arguments and target, the images it starts from (their ids:
/// a newer `FROM` image builds anew), and the files it copies from its context.
pub(super) async fn build_key(docker: &Docker, workspace: &Path, src: &ImageSource) -> Result<String, String> {
    let ImageSource::Dockerfile { dockerfile, context, args, target } = src else {
        return Err("no Dockerfile".into());
    };
    let text =
        std::fs::read_to_string(workspace.join(dockerfile)).map_err(|e| format!("cannot read {dockerfile}: {e}"))?;
    let parsed = parse_dockerfile(&text);
    let mut hasher = Sha1::new();
    hasher.update(text.as_bytes());
    hasher.update(format!("{args:?}|{target:?}").as_bytes());
    for base in &parsed.from {
        let id = match docker.inspect_image(base).await {
            Ok(i) => i.id.unwrap_or_default(),
            Err(_) => format!("absent:{base}"),
        };
        hasher.update(id.as_bytes());
    }
    if !parsed.copies.is_empty() {
        let (ws, ctx, copies) = (workspace.to_owned(), context.clone(), parsed.copies.clone());
        let files = tokio::task::spawn_blocking(move || hash_sources(&ws.join(&ctx), &copies))
            .await
            .map_err(|e| e.to_string())??;
        hasher.update(files.as_bytes());
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The images a Dockerfile starts from (not its own stages, not `scratch`) and what it copies from its context.
#[derive(Debug, Default, PartialEq, Eq)]
struct DockerfileFacts {
    from: Vec<String>,
    copies: Vec<String>,
}

fn parse_dockerfile(text: &str) -> DockerfileFacts {
    let mut facts = DockerfileFacts::default();
    let mut stages: HashSet<String> = HashSet::new();
    let mut line = String::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        if line.is_empty() && (trimmed.starts_with('#') || trimmed.is_empty()) {
            continue;
        }
        if let Some(cont) = trimmed.strip_suffix('\\') {
            line.push_str(cont);
            line.push(' ');
            continue;
        }
        line.push_str(trimmed);
        let words: Vec<&str> = line.split_whitespace().collect();
        let instruction = words.first().map(|w| w.to_ascii_uppercase()).unwrap_or_default();
        let operands: Vec<&str> = words.iter().skip(1).copied().filter(|w| !w.starts_with("--")).collect();
        let from_stage = words.iter().any(|w| w.starts_with("--from="));
        match instruction.as_str() {
            "FROM" => {
                if let Some(image) = operands.first() {
                    let lower = image.to_ascii_lowercase();
                    if lower != "scratch" && !stages.contains(&lower) {
                        facts.from.push((*image).to_owned());
                    }
                }
                if let (Some(as_kw), Some(name)) = (operands.get(1), operands.get(2))
                    && as_kw.eq_ignore_ascii_case("as")
                {
                    stages.insert(name.to_ascii_lowercase());
                }
            }
            "COPY" | "ADD" if !from_stage && !line.contains('[') && operands.len() >= 2 => {
                facts.copies.extend(operands[..operands.len() - 1].iter().map(|s| (*s).to_owned()));
            }
            // The JSON form: every source is hashed by taking the whole context.
            "COPY" | "ADD" if !from_stage => facts.copies.push(".".into()),
            _ => {}
        }
        line.clear();
    }
    facts
}

/// A hash of the context's files that `copies` name (the whole context when one is `.` or a pattern).
fn hash_sources(context: &Path, copies: &[String]) -> Result<String, String> {
    let whole = copies.iter().any(|c| c == "." || c == "./" || c.contains(['*', '?', '[']));
    let roots: Vec<PathBuf> = if whole {
        vec![context.to_owned()]
    } else {
        copies.iter().map(|c| context.join(c.trim_start_matches("./"))).collect()
    };
    let mut hasher = Sha1::new();
    for root in roots {
        for file in context_files(context, &root)? {
            let rel = file.strip_prefix(context).unwrap_or(&file).to_string_lossy().into_owned();
            hasher.update(rel.as_bytes());
            let meta = std::fs::symlink_metadata(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            if meta.file_type().is_symlink() {
                hasher.update(std::fs::read_link(&file).map(|t| t.to_string_lossy().into_owned()).unwrap_or_default());
            } else {
                // With the regular file's type bits, as `st_mode` has them: the same key as before they were read
                // through the platform module, so images already built are still found.
                hasher.update((0o100000 | crate::platform::mode(&meta)).to_le_bytes());
                hasher.update(std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?);
            }
        }
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The files under `root` that a build of `context` sees: `.dockerignore` applied (as gitignore patterns), `.git`
/// left out; sorted.
fn context_files(context: &Path, root: &Path) -> Result<Vec<PathBuf>, String> {
    if !root.exists() {
        return Ok(Vec::new());
    }
    let mut walk = ignore::WalkBuilder::new(root);
    walk.standard_filters(false).hidden(false).follow_links(false).filter_entry(|e| e.file_name() != ".git");
    let ignore_file = context.join(".dockerignore");
    if ignore_file.exists() {
        walk.add_ignore(ignore_file);
    }
    let mut files = Vec::new();
    for entry in walk.build() {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_type().is_some_and(|t| !t.is_dir()) {
            files.push(entry.into_path());
        }
    }
    files.sort();
    Ok(files)
}

/// The build's context as a tar: the context folder's files (see [`context_files`]) and the Dockerfile.
fn context_tar(workspace: &Path, context: &str, dockerfile: &str) -> Result<Vec<u8>, String> {
    let root = workspace.join(context);
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    for file in context_files(&root, &root)? {
        let rel = file.strip_prefix(&root).map_err(|e| e.to_string())?;
        builder.append_path_with_name(&file, rel).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    let text = std::fs::read(workspace.join(dockerfile)).map_err(|e| format!("cannot read {dockerfile}: {e}"))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    builder.append_data(&mut header, DOCKERFILE_IN_CONTEXT, text.as_slice()).map_err(|e| e.to_string())?;
    builder.into_inner().map_err(|e| e.to_string())
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dockerfile_names_its_bases_and_what_it_copies() {
        let text = "# syntax\nFROM --platform=linux/amd64 rust:1 AS build\nCOPY Cargo.toml src/ /app/\n\
                    RUN apt-get update && \\\n  apt-get install -y make\nFROM build AS test\n\
                    COPY --from=build /app /app\nADD [\"a b\", \"/x\"]\nFROM scratch\n";
        let facts = parse_dockerfile(text);
        assert_eq!(facts.from, vec!["rust:1".to_owned()]);
        assert_eq!(facts.copies, vec!["Cargo.toml".to_owned(), "src/".into(), ".".into()]);
    }

    #[test]
    fn the_key_follows_the_copied_files_and_the_context_honours_dockerignore() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        std::fs::create_dir_all(ctx.join("src")).unwrap();
        std::fs::create_dir_all(ctx.join(".git")).unwrap();
        std::fs::write(ctx.join("src/a.rs"), "a").unwrap();
        std::fs::write(ctx.join("notes.txt"), "n").unwrap();
        std::fs::write(ctx.join(".git/HEAD"), "ref").unwrap();
        std::fs::write(ctx.join("big.bin"), "b").unwrap();
        std::fs::write(ctx.join(".dockerignore"), "big.bin\n").unwrap();
        let only_src = hash_sources(ctx, &["src".into()]).unwrap();
        std::fs::write(ctx.join("notes.txt"), "changed").unwrap();
        assert_eq!(hash_sources(ctx, &["src".into()]).unwrap(), only_src, "an uncopied file changes nothing");
        std::fs::write(ctx.join("src/a.rs"), "b").unwrap();
        assert_ne!(hash_sources(ctx, &["src".into()]).unwrap(), only_src);
        let files: Vec<String> = context_files(ctx, ctx)
            .unwrap()
            .iter()
            .map(|f| f.strip_prefix(ctx).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, vec![".dockerignore", "notes.txt", "src/a.rs"]);
    }

    #[test]
    fn tags_are_named_after_the_folder() {
        let key = "0123456789abcdef0123";
        let tag = project_tag(Path::new("/home/u/My Crate"), key);
        assert!(tag.starts_with("openhands-lsp-project/my-crate-") && tag.ends_with(":0123456789abcdef"), "{tag}");
        assert_ne!(tag, project_tag(Path::new("/home/v/My Crate"), key), "another folder of the same name");
        assert!(project_tag(Path::new("/"), key).starts_with("openhands-lsp-project/project-"));
    }
}

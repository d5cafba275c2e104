//! A task across several folders (a VS Code multi-root workspace, ACP's `additionalDirectories`): the folders
//! besides the workspace, each named, copied on its own and mounted in the sandbox, and what the agent is told of
//! them. Review, apply and publishing take a folder by its name (`Manager::reviews`).

use std::path::{Path, PathBuf};

use super::ConversationError;
use super::runner::Runner;
use super::store::ExtraFolder;
use crate::sandbox::docker::CONTAINER_FOLDERS;

/// The folders a task spans besides `workspace`, checked and named. The same folder twice counts once; a folder
/// inside another would be copied twice, and the agent's changes to it reviewed twice: refused.
pub(super) fn plan(workspace: &Path, extra: &[PathBuf]) -> Result<Vec<ExtraFolder>, ConversationError> {
    let primary = canonical(workspace);
    let mut folders: Vec<ExtraFolder> = Vec::new();
    for given in extra {
        if !given.is_absolute() || !given.is_dir() {
            return Err(ConversationError::BadWorkspace(given.clone()));
        }
        let path = canonical(given);
        if path == primary || folders.iter().any(|f| f.workspace == path) {
            continue;
        }
        let taken = std::iter::once(&primary).chain(folders.iter().map(|f| &f.workspace));
        if let Some(other) = taken.into_iter().find(|o| path.starts_with(o) || o.starts_with(&path)) {
            return Err(ConversationError::NestedFolders { one: path.clone(), other: other.clone() });
        }
        let name = unique_name(&path, &folders);
        folders.push(ExtraFolder { name, workspace: path, isolation: None });
    }
    Ok(folders)
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}

/// The folder's own name, made one safe path component, numbered when another folder has it already.
fn unique_name(path: &Path, taken: &[ExtraFolder]) -> String {
    let base: String = path
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .map(|c| if c.is_alphanumeric() || "._-".contains(c) { c } else { '-' })
                .collect()
        })
        .filter(|n: &String| !n.is_empty() && n != "." && n != "..")
        .unwrap_or_else(|| "folder".into());
    let free = |n: &String| !taken.iter().any(|f| &f.name == n);
    std::iter::once(base.clone()).chain((2..).map(|i| format!("{base}-{i}"))).find(free).unwrap_or(base)
}

/// Whether `name` is one a conversation's folder could have (checked before it names a path on disk).
pub(super) fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

impl Runner {
    /// The folders the sandbox gets: the workspace's (its copy's top, and the subfolder the agent works in) and the
    /// extra folders', by name.
    pub(super) async fn copies(&self) -> Result<(PathBuf, PathBuf, Vec<(String, PathBuf)>), String> {
        let (workspace, subfolder) = if self.going_on { self.earlier_copy()? } else { self.isolate().await? };
        Ok((workspace, subfolder, self.folder_mounts().await?))
    }

    /// The extra folders the sandbox mounts, by name: each one's own copy (made now, or the earlier one when the
    /// conversation goes on), or the user's folder itself with `openhands.isolation` "none".
    pub(super) async fn folder_mounts(&self) -> Result<Vec<(String, PathBuf)>, String> {
        let folders = self.meta().folders.clone();
        let mut mounts = Vec::new();
        for (i, folder) in folders.into_iter().enumerate() {
            if self.settings.isolation == crate::config::Isolation::None {
                mounts.push((folder.name, folder.workspace));
                continue;
            }
            let dest = self.dir.join("folders").join(&folder.name);
            if self.going_on {
                let meta = self.meta().clone();
                let iso = super::isolated_in(&meta, &self.dir, Some(&folder.name)).map_err(|e| e.to_string())?;
                if !iso.root.is_dir() {
                    return Err(format!("its copy {} is gone: start a new task", iso.root.display()));
                }
                mounts.push((folder.name, dest));
                continue;
            }
            let iso = self.make_copy(&folder.workspace, &dest, Some(&folder.name)).await?;
            self.update_meta(|m| m.folders[i].isolation = Some(iso));
            mounts.push((folder.name, dest));
        }
        Ok(mounts)
    }

    /// What the agent is told of the folders besides its working folder (`None`: there are none): where each is,
    /// as it sees them, so that it reads and changes them there.
    pub(super) fn folders_prompt(&self, working_dir: &str) -> Option<String> {
        let meta = self.meta();
        if meta.folders.is_empty() {
            return None;
        }
        let mut text = format!(
            "This task spans several folders, each its own project (and usually its own git repository). Your \
             working folder is {working_dir} ({}). The others:\n",
            display_name(&meta.workspace)
        );
        for folder in &meta.folders {
            text.push_str(&format!(
                "- {} ({})\n",
                self.folder_dir(&folder.name, folder),
                display_name(&folder.workspace)
            ));
        }
        text.push_str("Read and change the files of each where it is; run each project's commands in its own folder.");
        Some(text)
    }

    /// Where the agent sees an extra folder: under `/folders` in a container, where its copy is otherwise.
    pub(super) fn folder_dir(&self, name: &str, folder: &ExtraFolder) -> String {
        let sub = folder.isolation.as_ref().and_then(|i| i.root.strip_prefix(&i.dest).ok().map(Path::to_path_buf));
        if self.provider.sees_only_the_workspace() {
            let dir = Path::new(CONTAINER_FOLDERS).join(name);
            return sub.map_or(dir.clone(), |s| dir.join(s)).to_string_lossy().into_owned();
        }
        folder.isolation.as_ref().map_or(&folder.workspace, |i| &i.root).to_string_lossy().into_owned()
    }
}

/// Where the agent may see each extra folder (in a container, on the host: its copy, the user's folder), with the
/// user's folder it stands for: a path under one of them is that folder's file.
pub fn folder_roots(meta: &super::Meta) -> Vec<(Vec<String>, PathBuf)> {
    meta.folders
        .iter()
        .map(|f| {
            let mut roots = vec![f.workspace.to_string_lossy().into_owned()];
            let container = Path::new(CONTAINER_FOLDERS).join(&f.name);
            match &f.isolation {
                Some(iso) => {
                    roots.push(iso.root.to_string_lossy().into_owned());
                    let sub = iso.root.strip_prefix(&iso.dest).unwrap_or(Path::new(""));
                    roots.push(container.join(sub).to_string_lossy().into_owned());
                }
                None => roots.push(container.to_string_lossy().into_owned()),
            }
            (roots, f.workspace.clone())
        })
        .collect()
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_named_once_each_and_nesting_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        for d in ["app", "api", "x/api", "app/sub", "odd name"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let folders =
            plan(&root.join("app"), &[root.join("api"), root.join("x/api"), root.join("api"), root.join("odd name")])
                .unwrap();
        let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["api", "api-2", "odd-name"]);
        assert!(plan(&root.join("app"), &[root.join("app")]).unwrap().is_empty(), "the workspace itself is no extra");
        let nested = plan(&root.join("app"), &[root.join("app/sub")]).unwrap_err().to_string();
        assert!(nested.contains("inside"), "{nested}");
        assert!(matches!(plan(&root, &[PathBuf::from("rel")]), Err(ConversationError::BadWorkspace(_))));
        assert!(is_plain_name("api-2") && !is_plain_name("..") && !is_plain_name("a/b"));
    }
}

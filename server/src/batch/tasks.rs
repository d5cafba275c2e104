//! The task file of a batch run: one JSON object per line, in the SWE-bench instances' shape (`instance_id`, `repo`,
//! `base_commit`, `problem_statement`; other fields are ignored), or with an `issue` reference instead of the text.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

/// One task of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub instance_id: String,
    /// A folder (absolute) or a git URL.
    pub repo: String,
    pub base_commit: Option<String>,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// The problem, in the user's words.
    Statement(String),
    /// An issue the providers or trackers resolve: `#12`, `owner/repo#12`, `PROJ-123`, `ENG-42`, or a URL.
    Issue(String),
}

#[derive(Deserialize)]
struct Line {
    instance_id: Option<String>,
    repo: Option<String>,
    base_commit: Option<String>,
    problem_statement: Option<String>,
    issue: Option<String>,
}

/// The tasks in `text`, read from the file at `file` (relative folders are taken from its folder). Every problem
/// is found before any task starts: a run should not stop at line 80 of 100 for a typo.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Task>, String> {
    let base = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tasks = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{}:{}", file.display(), n + 1);
        match task(line, base) {
            Ok(t) if !seen.insert(t.instance_id.clone()) => {
                problems.push(format!("{at}: instance_id {:?} is there twice", t.instance_id))
            }
            Ok(t) => tasks.push(t),
            Err(e) => problems.push(format!("{at}: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    if tasks.is_empty() {
        return Err(format!("{} holds no task (one JSON object per line)", file.display()));
    }
    Ok(tasks)
}

fn task(line: &str, base: &Path) -> Result<Task, String> {
    let l: Line = serde_json::from_str(line).map_err(|e| format!("not a JSON object of a task ({e})"))?;
    let instance_id = l.instance_id.filter(|s| !s.trim().is_empty()).ok_or("no instance_id")?;
    let repo = l.repo.filter(|s| !s.trim().is_empty()).ok_or("no repo (a folder or a git URL)")?;
    let repo = repository(&repo, base)?;
    let what = match (l.problem_statement.filter(|s| !s.trim().is_empty()), l.issue.filter(|s| !s.trim().is_empty())) {
        (Some(text), None) => What::Statement(text),
        (None, Some(reference)) => What::Issue(reference),
        (Some(_), Some(_)) => return Err("give problem_statement or issue, not both".into()),
        (None, None) => return Err("no problem_statement and no issue: what should the agent do?".into()),
    };
    Ok(Task { instance_id, repo, base_commit: l.base_commit.filter(|s| !s.trim().is_empty()), what })
}

/// A folder (relative ones from the task file's folder), a git URL, or SWE-bench's `owner/name` for GitHub.
fn repository(repo: &str, base: &Path) -> Result<String, String> {
    if repo.contains("://") || repo.starts_with("git@") {
        return Ok(repo.to_owned());
    }
    let path = base.join(repo);
    if path.is_dir() {
        return path.canonicalize().map(|p| p.to_string_lossy().into_owned()).map_err(|e| format!("{repo}: {e}"));
    }
    let parts: Vec<&str> = repo.split('/').collect();
    let name_like = |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if parts.len() == 2 && parts.iter().all(name_like) && !repo.starts_with('.') {
        return Ok(format!("https://github.com/{repo}.git"));
    }
    Err(format!("repo {repo:?} is no folder (from {}) and no git URL", base.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_tasks_and_every_problem_is_said_with_its_line() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("a")).unwrap();
        let file = tmp.path().join("tasks.jsonl");
        let good = [
            r#"{"instance_id": "x-1", "repo": "a", "problem_statement": "Fix it", "hints_text": "ignored"}"#,
            r#"{"instance_id": "x-2", "repo": "astropy/astropy", "base_commit": "abc123", "issue": "PROJ-7"}"#,
            "",
            r#"{"instance_id": "x-3", "repo": "file:///srv/b.git", "problem_statement": "Go"}"#,
        ]
        .join("\n");
        let tasks = parse(&good, &file).unwrap();
        assert_eq!(tasks.len(), 3);
        assert_eq!(tasks[0].repo, tmp.path().join("a").canonicalize().unwrap().to_string_lossy());
        assert_eq!(tasks[0].what, What::Statement("Fix it".into()));
        assert_eq!(tasks[1].repo, "https://github.com/astropy/astropy.git");
        assert_eq!(tasks[1].base_commit.as_deref(), Some("abc123"));
        assert_eq!(tasks[1].what, What::Issue("PROJ-7".into()));

        let bad = [
            r#"{"instance_id": "x-1", "repo": "a", "problem_statement": "Fix it"}"#,
            "not json",
            r#"{"instance_id": "x-1", "repo": "a", "problem_statement": "again"}"#,
            r#"{"instance_id": "x-4", "repo": "./missing", "problem_statement": "Go"}"#,
            r#"{"instance_id": "x-5", "repo": "a"}"#,
        ]
        .join("\n");
        let err = parse(&bad, &file).unwrap_err();
        assert!(err.contains("tasks.jsonl:2: not a JSON object"), "{err}");
        assert!(err.contains("tasks.jsonl:3: instance_id \"x-1\" is there twice"), "{err}");
        assert!(err.contains("tasks.jsonl:4: repo \"./missing\" is no folder"), "{err}");
        assert!(err.contains("tasks.jsonl:5: no problem_statement and no issue"), "{err}");
        assert!(parse("\n\n", &file).unwrap_err().contains("holds no task"));
    }
}

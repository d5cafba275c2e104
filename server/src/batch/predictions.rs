//! The predictions file of a batch run: one JSON line per instance, in the SWE-bench predictions format
//! (`instance_id`, `model_name_or_path`, `model_patch`) with what the run adds (status, error, cost, tokens, times).
//! A line is written when its task ends, whole and flushed, so a run killed at any moment leaves a file the next run
//! goes on from.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Prediction {
    pub instance_id: String,
    pub model_name_or_path: String,
    pub model_patch: String,
    /// `finished`, `error`, `stuck`, `budget` (the task's own budget was spent) or `stopped`.
    pub status: String,
    pub error: Option<String>,
    pub cost_usd: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub llm_seconds: f64,
    pub wall_seconds: f64,
    pub conversation_id: Option<String>,
}

pub struct Predictions {
    path: PathBuf,
    file: std::fs::File,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct PredictionsError {
    path: PathBuf,
    source: std::io::Error,
}

impl Predictions {
    /// Opens (or makes) the file and reads the status of the instances already in it. A last line cut short (the run
    /// before was killed while writing it) is dropped: its task runs again.
    pub fn open(path: &Path) -> Result<(Self, HashMap<String, String>), PredictionsError> {
        let err = |source| PredictionsError { path: path.to_owned(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(err(e)),
        };
        let mut done = HashMap::new();
        let mut whole = 0;
        for line in text.split_inclusive('\n') {
            if !line.ends_with('\n') {
                break;
            }
            whole += line.len();
            if let Ok(p) = serde_json::from_str::<Prediction>(line) {
                done.insert(p.instance_id, p.status);
            } else if !line.trim().is_empty() {
                tracing::warn!("{}: a line that is no prediction is left as it is", path.display());
            }
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(err)?;
        if whole < text.len() {
            tracing::warn!("{}: the last line was cut short (a run was killed): its task runs again", path.display());
            file.set_len(whole as u64).map_err(err)?;
        }
        Ok((Predictions { path: path.to_owned(), file }, done))
    }

    /// Removes the lines of `ids` (instances that run again): the file keeps one line per instance. Written to a new
    /// file renamed over the old one, so a crash leaves one or the other whole.
    pub fn forget(&mut self, ids: &std::collections::HashSet<String>) -> Result<(), PredictionsError> {
        let err = |source| PredictionsError { path: self.path.clone(), source };
        let text = std::fs::read_to_string(&self.path).map_err(err)?;
        let kept: String = text
            .split_inclusive('\n')
            .filter(|l| serde_json::from_str::<Prediction>(l).map_or(true, |p| !ids.contains(&p.instance_id)))
            .collect();
        let tmp = self.path.with_extension("jsonl.tmp");
        std::fs::write(&tmp, kept).map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        self.file = std::fs::OpenOptions::new().append(true).open(&self.path).map_err(err)?;
        Ok(())
    }

    /// Appends one line, flushed to the disk before the next task's.
    pub fn write(&mut self, p: &Prediction) -> Result<(), PredictionsError> {
        let mut line = serde_json::to_string(p).unwrap_or_default();
        line.push('\n');
        let err = |source| PredictionsError { path: self.path.clone(), source };
        self.file.write_all(line.as_bytes()).map_err(err)?;
        self.file.sync_data().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(id: &str, status: &str) -> Prediction {
        Prediction {
            instance_id: id.into(),
            model_name_or_path: "openai/stub".into(),
            model_patch: "diff --git a/x b/x\n".into(),
            status: status.into(),
            error: None,
            cost_usd: Some(0.0),
            prompt_tokens: 10,
            completion_tokens: 5,
            llm_seconds: 0.1,
            wall_seconds: 2.0,
            conversation_id: None,
        }
    }

    #[test]
    fn lines_are_read_back_and_a_torn_last_line_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("out/predictions.jsonl");
        let (mut out, done) = Predictions::open(&path).unwrap();
        assert!(done.is_empty());
        out.write(&prediction("a", "finished")).unwrap();
        out.write(&prediction("b", "error")).unwrap();
        drop(out);
        // Killed in the middle of a line.
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"instance_id": "c", "model_"#).unwrap();
        drop(f);
        let (mut out, done) = Predictions::open(&path).unwrap();
        assert_eq!(done.len(), 2);
        assert_eq!(done["b"], "error");
        out.write(&prediction("c", "finished")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        // b runs again: its old line goes, its new one comes.
        out.forget(&["b".to_owned()].into_iter().collect()).unwrap();
        out.write(&prediction("b", "finished")).unwrap();
        let (_, done) = Predictions::open(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
        assert_eq!(done["b"], "finished");
        assert!(text.lines().all(|l| serde_json::from_str::<Prediction>(l).is_ok()), "{text}");
    }
}

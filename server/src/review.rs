//! Applying an agent's changes to the user's files, before any protocol: which files go, what each becomes (the
//! user's current text merged three-way with the agent's; an overlap refused with the text marked for a hand
//! merge), what a front's edit cannot carry (links, modes: done here once the editor applied the text), the outcome
//! of each file, and what the agent is told about the files that did not land.
//!
//! A front turns the plan's text changes into its own edit (LSP: one `WorkspaceEdit`), lets the editor apply it,
//! and hands the result to [`ApplyPlan::finish`].

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::conversation::{Manager, Review};
use crate::git::applied::AppliedFile;
use crate::git::{ChangeStatus, Entry, FileChange, Whole, entry};
use crate::hunks::Hunk;

/// The outcome of one file.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileOutcome {
    pub path: String,
    /// `applied`, `unchanged` (already as proposed), `refused`, or `skipped` (not selected).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What kind of change it was when more than text (a link, a mode): the review's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For a file refused because the user's edits and the agent's overlap: the user's text with conflict markers
    /// around each overlap, so an editor can offer to resolve it by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
}

/// What the editor can do to files besides editing their text.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileAbilities {
    pub create: bool,
    pub rename: bool,
    pub delete: bool,
}

/// The user's current text of a path (relative to the workspace) and, when the editor has it open, its version.
pub type Current<'a> = &'a dyn Fn(&Path) -> Option<(String, Option<i32>)>;

/// One change the editor makes; paths are absolute.
#[derive(Debug, Clone, PartialEq)]
pub enum TextChange {
    /// Turn the user's `current` text (of the open document at `version`) into `new`.
    Edit {
        path: PathBuf,
        version: Option<i32>,
        current: String,
        new: String,
    },
    Create {
        path: PathBuf,
    },
    Delete {
        path: PathBuf,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
    },
}

/// What happens to one file.
#[derive(Debug)]
pub enum Step {
    Skipped,
    Refused {
        reason: String,
        conflict: Option<String>,
    },
    /// No change and no operation: it already is as proposed.
    Apply {
        changes: Vec<TextChange>,
        op: Option<FsOp>,
    },
}

#[derive(Debug)]
pub struct PlannedFile {
    /// Relative to the workspace folder.
    pub path: String,
    pub rel: PathBuf,
    pub status: ChangeStatus,
    pub note: Option<String>,
    /// Only some of the file's hunks were chosen: which of them, in words (for the agent).
    pub partial: Option<String>,
    pub step: Step,
    /// The file as the user has it once this is applied: the base of the next review.
    pub applied: Option<AppliedFile>,
}

/// The plan of one apply.
#[derive(Debug)]
pub struct ApplyPlan {
    /// `OpenHands: <title>`: how the editor names the edit (its undo entry, its preview).
    pub label: String,
    pub root: PathBuf,
    pub files: Vec<PlannedFile>,
    /// The conversation's folder it applies (`None`: its workspace).
    pub folder: Option<String>,
}

/// What the editor did with the plan's text changes.
#[derive(Debug)]
pub enum EditorResult {
    Applied,
    /// With the editor's reason, when it gave one.
    NotApplied(Option<String>),
}

/// The outcome of an apply.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub applied: bool,
    pub failure_reason: Option<String>,
    pub files: Vec<FileOutcome>,
    /// The user cancelled in the editor (or it could not apply): nothing was refused on its merits.
    #[serde(skip)]
    pub declined: bool,
    /// The files as the user now has them from the agent (applied, or already as proposed).
    #[serde(skip)]
    pub landed: Vec<AppliedFile>,
    /// The conversation's folder they are in (`None`: its workspace).
    #[serde(skip)]
    pub folder: Option<String>,
}

/// A change to the user's files that a text edit cannot carry, done after the editor applied the text: make the
/// path hold a link (or a file, or nothing) in place of what it holds, or set its mode.
#[derive(Debug)]
pub enum FsOp {
    Replace {
        after: Option<Entry>,
        content: Option<Vec<u8>>,
    },
    /// A file applied whole moved from `from` (removed once the new path holds `content`).
    Move {
        from: PathBuf,
        after: Entry,
        content: Vec<u8>,
    },
    Mode(bool),
}

impl FsOp {
    fn run(&self, root: &Path, rel: &Path) -> Result<(), String> {
        let path = entry::place_inside(root, rel).map_err(|e| format!("not applied: {e}"))?;
        match self {
            FsOp::Replace { after, content } => entry::replace(&path, after.as_ref(), content.as_deref()),
            FsOp::Move { from, after, content } => {
                let from = entry::place_inside(root, from).map_err(|e| format!("not applied: {e}"))?;
                entry::replace(&path, Some(after), Some(content)).and_then(|()| entry::replace(&from, None, None))
            }
            FsOp::Mode(executable) => entry::set_executable(&path, *executable),
        }
        .map_err(|e| format!("not applied: {e}"))
    }
}

/// Why a file is not applied, and for an overlap the text to resolve it from.
struct Refusal {
    reason: String,
    conflict: Option<String>,
}

impl From<String> for Refusal {
    fn from(reason: String) -> Self {
        Refusal { reason, conflict: None }
    }
}

impl From<&str> for Refusal {
    fn from(reason: &str) -> Self {
        reason.to_owned().into()
    }
}

/// What the user chose of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Skip,
    Whole,
    /// Only hunks with these ids (`crate::hunks`; the request's, narrowed to the file's own when planned); the rest
    /// stay in the agent's copy.
    Hunks(Vec<String>),
}

/// Plans applying what `choose` picks of `review`'s files.
pub fn plan(
    review: &Review,
    choose: impl Fn(&FileChange) -> Choice,
    abilities: FileAbilities,
    current: Current<'_>,
) -> ApplyPlan {
    let files = review
        .files
        .iter()
        .map(|change| {
            let shown = review.shown(&change.path);
            let (choice, partial) = narrow(change, &shown, choose(change));
            let step = if choice == Choice::Skip {
                Step::Skipped
            } else {
                match plan_file(change, &review.source, abilities, current, &choice) {
                    Ok((changes, op)) => Step::Apply { changes, op },
                    Err(Refusal { reason, conflict }) => Step::Refused { reason, conflict },
                }
            };
            let applied = match (&step, &choice, &change.original, &change.proposed) {
                (Step::Apply { .. }, Choice::Hunks(ids), Some(original), Some(proposed)) => {
                    let text = crate::hunks::apply_only(&shown, original, proposed, |id| ids.iter().any(|i| i == id));
                    change.as_applied(Some(text))
                }
                (Step::Apply { .. }, ..) => change.as_applied(None),
                _ => None,
            };
            PlannedFile {
                path: shown,
                rel: change.path.clone(),
                status: change.status,
                note: change.note(),
                partial,
                step,
                applied,
            }
        })
        .collect();
    ApplyPlan {
        label: format!("OpenHands: {}", review.title),
        root: review.source.clone(),
        files,
        folder: review.folder.clone(),
    }
}

impl ApplyPlan {
    /// Whether the editor has text to change.
    pub fn has_changes(&self) -> bool {
        self.files.iter().any(|f| matches!(&f.step, Step::Apply { changes, .. } if !changes.is_empty()))
    }

    fn has_ops(&self) -> bool {
        self.files.iter().any(|f| matches!(&f.step, Step::Apply { op: Some(_), .. }))
    }

    /// What happens without the editor: nothing for it to change (`None`: ask it).
    pub fn without_editor(&self) -> Option<EditorResult> {
        if self.has_changes() {
            None
        } else if self.has_ops() {
            // Only links and modes: nothing for the editor to show; the user's apply is the consent.
            Some(EditorResult::Applied)
        } else if self.files.iter().any(|f| matches!(f.step, Step::Apply { .. })) {
            Some(EditorResult::NotApplied(Some("already applied: the files are as the agent proposed".into())))
        } else {
            Some(EditorResult::NotApplied(Some("nothing to apply".into())))
        }
    }

    /// Once the editor applied the text (never before, never when it did not), does what it could not carry, and
    /// says what happened to each file.
    pub async fn finish(self, result: EditorResult) -> Applied {
        let (applied, failure) = match result {
            EditorResult::Applied => (true, None),
            EditorResult::NotApplied(reason) => (false, reason),
        };
        let (root, folder) = (self.root.clone(), self.folder.clone());
        let mut outcomes = Vec::new();
        let mut ops = Vec::new();
        let mut landed = Vec::new();
        for (i, file) in self.files.into_iter().enumerate() {
            if applied && matches!(file.step, Step::Apply { .. }) {
                landed.extend(file.applied.map(|a| (i, a)));
            }
            let (outcome, reason, conflict) = match file.step {
                Step::Skipped => ("skipped", Some("not selected".to_owned()), None),
                Step::Refused { reason, conflict } => ("refused", Some(reason), conflict),
                Step::Apply { changes, op } => {
                    let changes_something = !changes.is_empty() || op.is_some();
                    if let Some(op) = op.filter(|_| applied) {
                        ops.push((i, file.rel, op));
                    }
                    if changes_something {
                        ("applied", file.partial, None)
                    } else {
                        ("unchanged", Some("already as the agent proposed (applied before)".to_owned()), None)
                    }
                }
            };
            outcomes.push(FileOutcome { path: file.path, outcome, reason, note: file.note, conflict });
        }
        let done = tokio::task::spawn_blocking(move || {
            ops.into_iter().map(|(i, path, op)| (i, op.run(&root, &path))).collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (i, result) in done {
            if let Err(e) = result {
                outcomes[i].outcome = "refused";
                outcomes[i].reason = Some(e);
            }
        }
        let declined = !applied && outcomes.iter().any(|o| o.outcome == "applied");
        if !applied {
            for o in outcomes.iter_mut().filter(|o| o.outcome == "applied") {
                o.outcome = "refused";
                o.reason = Some(failure.clone().unwrap_or_else(|| "the editor did not apply the edit".into()));
            }
        }
        // A file whose link or mode could not be set is not as applied.
        let landed = landed.into_iter().filter(|(i, _)| outcomes[*i].outcome != "refused").map(|(_, a)| a).collect();
        Applied { applied, failure_reason: failure, files: outcomes, declined, landed, folder }
    }
}

impl Applied {
    /// The files refused, each with why: `b.txt (your edits and the agent's overlap; …)`.
    pub fn refused(&self) -> Vec<String> {
        self.files
            .iter()
            .filter(|o| o.outcome == "refused")
            .map(|o| format!("{} ({})", o.path, o.reason.as_deref().unwrap_or("refused")))
            .collect()
    }

    /// Two folders' outcomes as one answer: a folder where nothing was chosen does not decide whether the apply
    /// went through. What landed stays with its own folder: settle each before joining.
    pub fn join(mut self, other: Applied) -> Applied {
        let idle = |a: &Applied| a.files.iter().all(|f| f.outcome == "skipped");
        let (applied, failure_reason) = match (idle(&self), idle(&other)) {
            (false, true) => (self.applied, self.failure_reason.take()),
            (true, false) => (other.applied, other.failure_reason),
            _ => (self.applied && other.applied, self.failure_reason.take().or(other.failure_reason)),
        };
        self.files.extend(other.files);
        Applied { applied, failure_reason, declined: self.declined || other.declined, ..self }
    }

    /// What to show the user about the files that were not applied (`None`: all went in).
    pub fn refused_message(&self, title: &str) -> Option<String> {
        let refused = self.refused();
        (!refused.is_empty()).then(|| format!("OpenHands: {title}: not applied: {}", refused.join("; ")))
    }

    /// After the apply: what landed becomes the base of the conversation's next review (so the agent's next edit of
    /// the same lines is its change, not an overlap with the user's), and the agent is told what did not land.
    pub async fn settle(&self, manager: &Manager, id: &str) {
        // Nothing landed: the base stays.
        if !self.landed.is_empty()
            && let Err(e) = manager.record_applied(id, self.folder.as_deref(), self.landed.clone()).await
        {
            tracing::warn!(conversation = %id, "what was applied is not recorded as the next review's base: {e}");
        }
        self.tell_agent(manager, id).await;
    }

    /// Tells the agent which files did not land, so a follow-up turn does not assume they did. Said once: an apply
    /// that changed nothing and refused nothing tells it nothing new, and a declined one nothing at all.
    async fn tell_agent(&self, manager: &Manager, id: &str) {
        let outcomes = &self.files;
        if self.declined || !outcomes.iter().any(|o| matches!(o.outcome, "applied" | "refused")) {
            return;
        }
        let named = |outcome: &str| -> Vec<&str> {
            outcomes.iter().filter(|o| o.outcome == outcome).map(|o| o.path.as_str()).collect()
        };
        // Refused and skipped files, and the part of a file applied only in part that stayed out.
        let missed: Vec<String> = outcomes
            .iter()
            .filter(|o| matches!(o.outcome, "refused" | "skipped") || (o.outcome == "applied" && o.reason.is_some()))
            .map(|o| format!("{} ({})", o.path, o.reason.as_deref().unwrap_or("not applied")))
            .collect();
        if missed.is_empty() {
            return;
        }
        let (applied, unchanged) = (named("applied"), named("unchanged"));
        let mut text = format!(
            "The user reviewed your changes. Applied to their files now: {}.",
            if applied.is_empty() { "none".to_owned() } else { applied.join(", ") }
        );
        if !unchanged.is_empty() {
            text.push_str(&format!(" Already in their files as you made them: {}.", unchanged.join(", ")));
        }
        text.push_str(&format!(
            " Not applied: {}. Do not assume the changes that were not applied are in the user's files.",
            missed.join("; ")
        ));
        if let Err(e) = manager.add_note(id, text).await {
            tracing::info!(conversation = %id, "could not tell the agent what was not applied: {e}");
        }
    }
}

/// A choice of hunks narrowed to this file's: none of them chosen is a skip; with it, what stays out, in words.
fn narrow(change: &FileChange, shown: &str, choice: Choice) -> (Choice, Option<String>) {
    let Choice::Hunks(ids) = choice else { return (choice, None) };
    let all = match (&change.original, &change.proposed) {
        (Some(original), Some(proposed)) if change.status == ChangeStatus::Modified && !change.binary => {
            crate::hunks::hunks(shown, original, proposed)
        }
        _ => Vec::new(),
    };
    let (chosen, left): (Vec<Hunk>, Vec<Hunk>) = all.into_iter().partition(|h| ids.contains(&h.id));
    if chosen.is_empty() {
        return (Choice::Skip, None);
    }
    let left: Vec<String> = left.iter().map(Hunk::describe).collect();
    let note = (!left.is_empty()).then(|| format!("only part of it; not applied: {}", left.join(", ")));
    (Choice::Hunks(chosen.into_iter().map(|h| h.id).collect()), note)
}

/// The verb of a change, for the editor's description of it.
pub fn status_word(status: ChangeStatus) -> &'static str {
    match status {
        ChangeStatus::Added => "create",
        ChangeStatus::Modified => "modify",
        ChangeStatus::Deleted => "delete",
        ChangeStatus::Renamed => "rename",
    }
}

/// One file: what the editor changes and what is done after it; `Err` when it must not be applied.
fn plan_file(
    change: &FileChange,
    root: &Path,
    abilities: FileAbilities,
    current: Current<'_>,
    choice: &Choice,
) -> Result<(Vec<TextChange>, Option<FsOp>), Refusal> {
    if let Some(refusal) = change.refusal() {
        return Err(refusal.into());
    }
    if change.involves_link() {
        return plan_link(change, root, current).map(|op| (Vec::new(), op)).map_err(Refusal::from);
    }
    if let Some(whole) = &change.whole {
        return plan_whole(change, whole, root, current).map(|op| (Vec::new(), op)).map_err(Refusal::from);
    }
    let changes = plan_text(change, root, abilities, current, choice)?;
    // The mode the user's file does not have yet (a text edit never carries one).
    let op = change.mode_change().filter(|x| user_executable(root, &change.path) != Some(*x)).map(FsOp::Mode);
    Ok((changes, op))
}

/// The text part of one file; empty when it already is as proposed.
fn plan_text(
    change: &FileChange,
    root: &Path,
    abilities: FileAbilities,
    current: Current<'_>,
    choice: &Choice,
) -> Result<Vec<TextChange>, Refusal> {
    let path = root.join(&change.path);
    let original = change.original.as_deref();
    let proposed = change.proposed.as_deref().unwrap_or_default();
    let edit = |version, current: String, new: String| TextChange::Edit { path: path.clone(), version, current, new };
    Ok(match change.status {
        ChangeStatus::Modified => {
            let (user, version) = current(&change.path).ok_or("you deleted this file meanwhile")?;
            let base = original.unwrap_or_default();
            // Only the chosen hunks: the agent's text with the others left as they were.
            let chosen = match choice {
                Choice::Hunks(ids) => {
                    crate::hunks::apply_only(&change.path.display().to_string(), base, proposed, |id| {
                        ids.iter().any(|i| i == id)
                    })
                }
                _ => proposed.to_owned(),
            };
            let merged = merge(base, &user, &chosen)?;
            if merged == user { Vec::new() } else { vec![edit(version, user, merged)] }
        }
        ChangeStatus::Added => {
            if let Some((existing, _)) = current(&change.path) {
                return if existing == proposed {
                    Ok(Vec::new())
                } else {
                    Err("a different file of that name exists in your workspace".into())
                };
            }
            if !abilities.create {
                return Err("your editor cannot create files over LSP (no resourceOperations \"create\")".into());
            }
            vec![TextChange::Create { path: path.clone() }, edit(None, String::new(), proposed.to_owned())]
        }
        ChangeStatus::Deleted => {
            let Some((user, _)) = current(&change.path) else { return Ok(Vec::new()) };
            if Some(user.as_str()) != original {
                return Err("you changed this file, which the agent deleted".into());
            }
            if !abilities.delete {
                return Err("your editor cannot delete files over LSP (no resourceOperations \"delete\")".into());
            }
            vec![TextChange::Delete { path }]
        }
        ChangeStatus::Renamed => plan_rename(change, root, abilities, current)?,
    })
}

fn plan_rename(
    change: &FileChange,
    root: &Path,
    abilities: FileAbilities,
    current: Current<'_>,
) -> Result<Vec<TextChange>, Refusal> {
    let old = change.old_path.as_deref().ok_or("a rename without its old path")?;
    let (user, _) = current(old).ok_or("you deleted the file the agent renamed")?;
    if Some(user.as_str()) != change.original.as_deref() {
        return Err("you changed this file, which the agent renamed".into());
    }
    if current(&change.path).is_some() {
        return Err("a file of the new name exists in your workspace".into());
    }
    if !abilities.rename {
        return Err("your editor cannot rename files over LSP (no resourceOperations \"rename\")".into());
    }
    let path = root.join(&change.path);
    let mut changes = vec![TextChange::Rename { from: root.join(old), to: path.clone() }];
    if change.proposed != change.original {
        let new = change.proposed.clone().unwrap_or_default();
        changes.push(TextChange::Edit { path, version: None, current: user, new });
    }
    Ok(changes)
}

/// A change that involves a link: the user's entry must still be what the agent started from (read without
/// following links); then it is replaced after the editor's edit. `None` when it already is as proposed.
fn plan_link(change: &FileChange, root: &Path, current: Current<'_>) -> Result<Option<FsOp>, String> {
    if change.status == ChangeStatus::Renamed {
        return Err("renamed symbolic links are not applied; recreate the link by hand".into());
    }
    let user = entry::read(&root.join(&change.path)).map_err(|e| format!("cannot read your file: {e}"))?;
    let user_entry = user.as_ref().map(|(e, _)| e.clone());
    if user_entry == change.after && !matches!(change.after, Some(Entry::File { .. })) {
        return Ok(None);
    }
    let unchanged = match (&change.before, &user) {
        (None, None) => true,
        (Some(Entry::Symlink { target }), Some((Entry::Symlink { target: t }, _))) => target == t,
        // The editor's text when the file is open (unsaved edits count), else the file on disk.
        (Some(Entry::File { .. }), Some((Entry::File { .. }, _))) => {
            current(&change.path).map(|(text, _)| text).as_deref() == change.original.as_deref()
        }
        _ => false,
    };
    if !unchanged {
        return Err(match user {
            None => "you removed this file meanwhile".into(),
            Some(_) if change.before.is_none() => "a different file of that name exists in your workspace".into(),
            Some(_) => "you changed this file meanwhile; your version is untouched".into(),
        });
    }
    // A file's bytes: its text, or for a file applied whole its bytes.
    let content = change.proposed.clone().map(String::into_bytes).or_else(|| change.whole.as_ref()?.proposed.clone());
    if matches!(change.after, Some(Entry::File { .. })) && content.is_none() {
        return Err("what the agent left there cannot be read".into());
    }
    Ok(Some(FsOp::Replace { after: change.after.clone(), content }))
}

/// A file applied whole (binary, not UTF-8, too large to show): the user's file must still be the one the agent
/// started from (nothing, for a new file); then it is written byte for byte after the editor's edit. `None` when it
/// already is as proposed.
fn plan_whole(change: &FileChange, whole: &Whole, root: &Path, current: Current<'_>) -> Result<Option<FsOp>, String> {
    let proposed = whole.proposed.as_deref().map(|b| git2::Oid::hash_object(git2::ObjectType::Blob, b).ok());
    let proposed = proposed.flatten();
    let executable = change.after.as_ref().is_some_and(Entry::executable);
    let replace = || FsOp::Replace { after: change.after.clone(), content: whole.proposed.clone() };
    let changed = "you changed this file meanwhile; your version is untouched";
    match change.status {
        ChangeStatus::Added => match user_blob(root, &change.path, current)? {
            None => Ok(Some(replace())),
            Some(id) if Some(id) == proposed => Ok(mode_to_set(root, &change.path, executable)),
            Some(_) => Err("a different file of that name exists in your workspace".into()),
        },
        ChangeStatus::Modified => match user_blob(root, &change.path, current)? {
            None => Err("you deleted this file meanwhile".into()),
            Some(id) if Some(id) == proposed => Ok(mode_to_set(root, &change.path, executable)),
            Some(id) if Some(id) == whole.original => Ok(Some(replace())),
            Some(_) => Err(changed.into()),
        },
        ChangeStatus::Deleted => match user_blob(root, &change.path, current)? {
            None => Ok(None),
            Some(id) if Some(id) == whole.original => Ok(Some(replace())),
            Some(_) => Err("you changed this file, which the agent deleted".into()),
        },
        ChangeStatus::Renamed => {
            let old = change.old_path.as_deref().ok_or("a rename without its old path")?;
            if user_blob(root, old, current)? != whole.original {
                return Err("you changed or removed the file the agent renamed".into());
            }
            if user_blob(root, &change.path, current)?.is_some() {
                return Err("a file of the new name exists in your workspace".into());
            }
            let content = whole.proposed.clone().unwrap_or_default();
            Ok(Some(FsOp::Move { from: old.to_owned(), after: Entry::File { executable }, content }))
        }
    }
}

/// The blob id of the user's file at `rel`: the editor's text when it has the file open (unsaved edits count), else
/// the bytes on disk, read without following a link. `None` when nothing is there.
fn user_blob(root: &Path, rel: &Path, current: Current<'_>) -> Result<Option<git2::Oid>, String> {
    let hash = |bytes: &[u8]| git2::Oid::hash_object(git2::ObjectType::Blob, bytes).map_err(|e| e.to_string());
    if let Some((text, Some(_))) = current(rel) {
        return hash(text.as_bytes()).map(Some);
    }
    match entry::read(&root.join(rel)).map_err(|e| format!("cannot read your file: {e}"))? {
        None => Ok(None),
        Some((Entry::File { .. }, bytes)) => hash(&bytes.unwrap_or_default()).map(Some),
        Some((Entry::Symlink { .. }, _)) => Err("a symbolic link is in its place in your workspace".into()),
    }
}

/// The mode the user's file at `rel` still lacks, as an operation.
fn mode_to_set(root: &Path, rel: &Path, executable: bool) -> Option<FsOp> {
    (user_executable(root, rel) != Some(executable)).then_some(FsOp::Mode(executable))
}

/// Whether the user's file at `rel` is executable (`None`: no regular file there).
fn user_executable(root: &Path, rel: &Path) -> Option<bool> {
    let meta = std::fs::symlink_metadata(root.join(rel)).ok().filter(|m| m.is_file())?;
    Some(crate::platform::mode(&meta) & 0o111 != 0)
}

fn merge(original: &str, user: &str, proposed: &str) -> Result<String, Refusal> {
    match crate::git::merge3(original, user, proposed) {
        Ok(crate::git::Merged::Clean(text)) => Ok(text),
        Ok(crate::git::Merged::Overlap(marked)) => Err(Refusal {
            reason: "your edits and the agent's overlap; your text is untouched; resolve it by hand from the review"
                .into(),
            conflict: Some(marked),
        }),
        Err(e) => Err(format!("merging failed: {e}").into()),
    }
}

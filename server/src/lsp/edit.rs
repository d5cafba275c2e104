//! The `WorkspaceEdit` of an apply: the core's plan (`crate::review`) as one edit, one change annotation per file
//! (clients that support annotations show a preview; none asks again when the user chose the files in the editor's
//! own review), file operations only when the client declares them, and text edits per run of changed lines.

use std::collections::HashMap;

use tower_lsp_server::UriExt;
use tower_lsp_server::lsp_types::*;

use super::state::EditSupport;
use crate::review::{ApplyPlan, FileAbilities, Step, TextChange, status_word};

impl EditSupport {
    /// What the core may plan for this client.
    pub fn abilities(&self) -> FileAbilities {
        FileAbilities {
            create: self.document_changes && self.create,
            rename: self.document_changes && self.rename,
            delete: self.document_changes && self.delete,
        }
    }
}

/// The plan's text changes as one edit. `confirm`: the editor should ask before applying.
// `Uri` is the key `WorkspaceEdit::changes` demands; nothing mutates it while it is one.
#[allow(clippy::mutable_key_type)]
pub fn workspace_edit(plan: &ApplyPlan, support: &EditSupport, utf8: bool, confirm: bool) -> WorkspaceEdit {
    let mut operations = Vec::new();
    let mut plain: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    let mut annotations = HashMap::new();
    for (i, file) in plan.files.iter().enumerate() {
        // Every selected file is described (a refused one too: the preview lists what was chosen).
        let changes = match &file.step {
            Step::Skipped => continue,
            Step::Refused { .. } => &[][..],
            Step::Apply { changes, .. } => &changes[..],
        };
        let annotation = format!("openhands-{i}");
        annotations.insert(
            annotation.clone(),
            ChangeAnnotation {
                label: plan.label.clone(),
                needs_confirmation: Some(confirm),
                description: Some(format!("{} {}", status_word(file.status), file.path)),
            },
        );
        for change in changes {
            let Some(op) = operation(change, &annotation, utf8) else { continue };
            match op {
                DocumentChangeOperation::Edit(edit) if !support.document_changes => {
                    plain.entry(edit.text_document.uri).or_default().extend(edit.edits.into_iter().map(|e| match e {
                        OneOf::Left(e) => e,
                        OneOf::Right(annotated) => annotated.text_edit,
                    }))
                }
                op => operations.push(op),
            }
        }
    }
    if support.document_changes {
        WorkspaceEdit {
            changes: None,
            document_changes: Some(DocumentChanges::Operations(operations)),
            change_annotations: Some(annotations),
        }
    } else {
        WorkspaceEdit { changes: Some(plain), document_changes: None, change_annotations: None }
    }
}

fn operation(change: &TextChange, annotation: &str, utf8: bool) -> Option<DocumentChangeOperation> {
    let uri = |p: &std::path::Path| Uri::from_file_path(p);
    let annotation_id = Some(annotation.to_owned());
    Some(match change {
        TextChange::Edit { path, version, current, new } => DocumentChangeOperation::Edit(TextDocumentEdit {
            text_document: OptionalVersionedTextDocumentIdentifier { uri: uri(path)?, version: *version },
            edits: line_edits(current, new, utf8)
                .into_iter()
                .map(|text_edit| OneOf::Right(AnnotatedTextEdit { text_edit, annotation_id: annotation.to_owned() }))
                .collect(),
        }),
        TextChange::Create { path } => DocumentChangeOperation::Op(ResourceOp::Create(CreateFile {
            uri: uri(path)?,
            options: Some(CreateFileOptions { overwrite: Some(false), ignore_if_exists: Some(false) }),
            annotation_id,
        })),
        TextChange::Delete { path } => DocumentChangeOperation::Op(ResourceOp::Delete(DeleteFile {
            uri: uri(path)?,
            options: Some(DeleteFileOptions {
                recursive: Some(false),
                ignore_if_not_exists: Some(true),
                annotation_id,
            }),
        })),
        TextChange::Rename { from, to } => DocumentChangeOperation::Op(ResourceOp::Rename(RenameFile {
            old_uri: uri(from)?,
            new_uri: uri(to)?,
            options: Some(RenameFileOptions { overwrite: Some(false), ignore_if_exists: Some(false) }),
            annotation_id,
        })),
    })
}

/// The edits that turn `current` into `new`, one per run of changed lines: a preview shows the hunks, an undo
/// restores them, and the user's cursor and folds elsewhere stay. A text with a lone carriage return (a line break
/// to LSP, not to a line diff) is replaced whole.
fn line_edits(current: &str, new: &str, utf8: bool) -> Vec<TextEdit> {
    if current.replace("\r\n", "").contains('\r') || new.replace("\r\n", "").contains('\r') {
        return vec![TextEdit { range: Range::new(Position::new(0, 0), end_of(current, utf8)), new_text: new.into() }];
    }
    let diff = similar::TextDiff::from_lines(current, new);
    let old_lines = diff.old_slices();
    let new_lines = diff.new_slices();
    // The start of old line `i`, or the end of the text past its last line.
    let start_of = |i: usize| {
        if i < old_lines.len() { Position::new(i as u32, 0) } else { end_of(current, utf8) }
    };
    diff.ops()
        .iter()
        .filter(|op| op.tag() != similar::DiffTag::Equal)
        .map(|op| TextEdit {
            range: Range::new(start_of(op.old_range().start), start_of(op.old_range().end)),
            new_text: new_lines[op.new_range()].concat(),
        })
        .collect()
}

/// The position just after the last character of `text`.
fn end_of(text: &str, utf8: bool) -> Position {
    let line = text.matches('\n').count() as u32;
    let last = text.rsplit('\n').next().unwrap_or_default();
    let character = if utf8 { last.len() } else { last.encode_utf16().count() } as u32;
    Position::new(line, character)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` with `edits` applied (positions in UTF-8 bytes, as `line_edits(.., true)` makes them).
    fn applied(text: &str, edits: &[TextEdit]) -> String {
        let offset = |p: Position| {
            let mut at = 0;
            for _ in 0..p.line {
                at += text[at..].find('\n').map_or(text.len() - at, |i| i + 1);
            }
            at + p.character as usize
        };
        let mut out = text.to_owned();
        for e in edits.iter().rev() {
            out.replace_range(offset(e.range.start)..offset(e.range.end), &e.new_text);
        }
        out
    }

    #[test]
    fn edits_touch_only_the_changed_lines() {
        let user = "one\ntwo\nthree\nfour\nfive\n";
        let merged = "ONE\ntwo\nthree\nfour\nfive\nsix\n";
        let edits = line_edits(user, merged, true);
        assert_eq!(edits.len(), 2, "two hunks: {edits:?}");
        assert_eq!(edits[0].range, Range::new(Position::new(0, 0), Position::new(1, 0)));
        assert_eq!(edits[0].new_text, "ONE\n");
        assert_eq!(edits[1].range, Range::new(Position::new(5, 0), Position::new(5, 0)), "an insertion at the end");
        for (old, new) in [
            (user, merged),
            ("a\nb", "a\nB"),
            ("a\nb", "a\nb\n"),
            ("", "new\n"),
            ("gone\n", ""),
            ("x\r\ny\r\n", "x\r\nY\r\n"),
            ("lone\rcr\n", "lone\rCR\n"),
            ("é\nü\n", "é\nÜ\n"),
        ] {
            assert_eq!(applied(old, &line_edits(old, new, true)), new, "{old:?} -> {new:?}");
        }
    }

    #[test]
    fn end_positions_in_both_encodings() {
        assert_eq!(end_of("", false), Position::new(0, 0));
        assert_eq!(end_of("a\nbc\n", false), Position::new(2, 0));
        assert_eq!(end_of("a\n😀x", false), Position::new(1, 3));
        assert_eq!(end_of("a\n😀x", true), Position::new(1, 5));
    }
}

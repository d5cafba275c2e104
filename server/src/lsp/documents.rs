//! The text of documents the editor has open (full sync), for code actions that read them.

use std::collections::HashMap;

use tower_lsp_server::lsp_types::{Position, Range, Uri};

#[derive(Debug, Clone)]
pub struct Document {
    pub version: i32,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Documents {
    open: HashMap<Uri, Document>,
}

impl Documents {
    pub fn open(&mut self, uri: Uri, version: i32, text: String) {
        self.open.insert(uri, Document { version, text });
    }

    /// Full sync: the last content change is the whole new text.
    pub fn replace(&mut self, uri: &Uri, version: i32, text: String) {
        match self.open.get_mut(uri) {
            Some(doc) => {
                doc.version = version;
                doc.text = text;
            }
            None => tracing::warn!("didChange for {} which is not open; ignoring", uri.as_str()),
        }
    }

    pub fn close(&mut self, uri: &Uri) {
        self.open.remove(uri);
    }

    pub fn get(&self, uri: &Uri) -> Option<&Document> {
        self.open.get(uri)
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }
}

/// The text of `range` in `text`, with positions in the negotiated encoding (UTF-8 or UTF-16 code units).
pub fn slice(text: &str, range: Range, utf8: bool) -> String {
    let start = offset(text, range.start, utf8);
    let end = offset(text, range.end, utf8).max(start);
    text[start..end].to_owned()
}

/// Byte offset of `pos`, clamped to the line's end and the text's end.
fn offset(text: &str, pos: Position, utf8: bool) -> usize {
    let mut line_start = 0;
    for _ in 0..pos.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
    let line = &text[line_start..line_end];
    let mut units = 0u32;
    for (i, ch) in line.char_indices() {
        if units >= pos.character {
            return line_start + i;
        }
        units += if utf8 { ch.len_utf8() as u32 } else { ch.len_utf16() as u32 };
    }
    line_end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_in_both_encodings() {
        let text = "héllo 😀 world\nsecond line\n";
        // "😀" is 2 UTF-16 units and 4 UTF-8 bytes; "é" is 1 unit and 2 bytes.
        let r16 = Range::new(Position::new(0, 6), Position::new(0, 8));
        assert_eq!(slice(text, r16, false), "😀");
        let r8 = Range::new(Position::new(0, 7), Position::new(0, 11));
        assert_eq!(slice(text, r8, true), "😀");
        let lines = Range::new(Position::new(0, 0), Position::new(1, 6));
        assert_eq!(slice(text, lines, false), "héllo 😀 world\nsecond");
        let past_end = Range::new(Position::new(5, 0), Position::new(9, 0));
        assert_eq!(slice(text, past_end, false), "");
    }
}

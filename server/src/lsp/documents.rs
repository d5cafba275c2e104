//! The text of documents the editor has open (full sync), for code actions that read them.

use std::collections::HashMap;

use tower_lsp_server::lsp_types::Uri;

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

    pub fn len(&self) -> usize {
        self.open.len()
    }
}

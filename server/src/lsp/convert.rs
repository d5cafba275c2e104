//! Conversions between LSP's values and the core's: URIs and paths, a diagnostic and the problem it reports, a range
//! and the lines it covers.

use std::path::{Path, PathBuf};

use tower_lsp_server::UriExt;
use tower_lsp_server::jsonrpc::Error;
use tower_lsp_server::lsp_types::{Diagnostic, NumberOrString, Range, Uri};

use super::errors::invalid_params;
use crate::tasks::{Lines, Problem};

/// The path of a `file:` URI.
pub fn file_path(uri: &Uri) -> Option<PathBuf> {
    uri.to_file_path().map(|p| p.into_owned())
}

pub fn uri_of(path: &Path) -> Result<Uri, Error> {
    Uri::from_file_path(path).ok_or_else(|| invalid_params(format!("not an absolute path: {}", path.display())))
}

pub fn lines(range: Range) -> Lines {
    Lines { first: range.start.line, last: range.end.line }
}

pub fn problem(d: &Diagnostic) -> Problem {
    Problem {
        line: d.range.start.line,
        column: d.range.start.character,
        end_line: d.range.end.line,
        source: d.source.clone(),
        code: d.code.as_ref().map(|c| match c {
            NumberOrString::Number(n) => n.to_string(),
            NumberOrString::String(s) => s.clone(),
        }),
        message: d.message.clone(),
    }
}

//! A `WorkspaceEdit` applied to the files on disk as an editor applies it (create, rename, delete, text edits in
//! UTF-16 positions with LSP's line ends: `\n`, `\r\n` and `\r`), for tests that byte-compare the outcome.

use std::path::PathBuf;

use serde_json::Value;

fn path_of(uri: &Value) -> Result<PathBuf, String> {
    let uri = uri.as_str().ok_or("a uri that is not a string")?;
    let path = uri.strip_prefix("file://").ok_or_else(|| format!("not a file uri: {uri}"))?;
    let decoded = percent_decode(path);
    Ok(PathBuf::from(decoded))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The byte offset of an LSP position (UTF-16 code units) in `text`.
fn offset(text: &str, pos: &Value) -> Result<usize, String> {
    let line = pos["line"].as_u64().ok_or("a position without a line")? as usize;
    let character = pos["character"].as_u64().ok_or("a position without a character")? as usize;
    let mut start = 0;
    for _ in 0..line {
        let rest = &text[start..];
        let end = rest.find(['\n', '\r']).ok_or_else(|| format!("line {line} is past the end"))?;
        let skip = if rest[end..].starts_with("\r\n") { 2 } else { 1 };
        start += end + skip;
    }
    let line_text = &text[start..];
    let line_end = line_text.find(['\n', '\r']).unwrap_or(line_text.len());
    let mut units = 0;
    for (i, c) in line_text[..line_end].char_indices() {
        if units >= character {
            return Ok(start + i);
        }
        units += c.len_utf16();
    }
    Ok(start + line_end)
}

fn apply_text_edits(text: &str, edits: &[Value]) -> Result<String, String> {
    let mut spans = Vec::new();
    for e in edits {
        let start = offset(text, &e["range"]["start"])?;
        let end = offset(text, &e["range"]["end"])?;
        spans.push((start, end, e["newText"].as_str().ok_or("an edit without newText")?.to_owned()));
    }
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = text.to_owned();
    for (start, end, new) in spans {
        out.replace_range(start..end, &new);
    }
    Ok(out)
}

/// Applies `edit` (with `documentChanges` or `changes`) to the files on disk.
pub fn apply(edit: &Value) -> Result<(), String> {
    if let Some(changes) = edit["changes"].as_object() {
        for (uri, edits) in changes {
            let path = path_of(&Value::String(uri.clone()))?;
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let edits = edits.as_array().ok_or("edits that are not a list")?;
            std::fs::write(&path, apply_text_edits(&text, edits)?).map_err(|e| e.to_string())?;
        }
    }
    for op in edit["documentChanges"].as_array().into_iter().flatten() {
        match op["kind"].as_str() {
            Some("create") => {
                let path = path_of(&op["uri"])?;
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(&path, "").map_err(|e| e.to_string())?;
            }
            Some("rename") => {
                let (from, to) = (path_of(&op["oldUri"])?, path_of(&op["newUri"])?);
                std::fs::rename(&from, &to).map_err(|e| e.to_string())?;
            }
            Some("delete") => std::fs::remove_file(path_of(&op["uri"])?).map_err(|e| e.to_string())?,
            Some(other) => return Err(format!("unknown resource operation {other}")),
            None => {
                let path = path_of(&op["textDocument"]["uri"])?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let edits = op["edits"].as_array().ok_or("edits that are not a list")?;
                std::fs::write(&path, apply_text_edits(&text, edits)?).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn positions_count_utf16_units_and_every_line_end() {
        let text = "a\r\nb€c\rd\n";
        let edit = |l: u64, c: u64| json!({"range": {"start": {"line": l, "character": c}, "end": {"line": l, "character": c}}, "newText": "X"});
        assert_eq!(super::apply_text_edits(text, &[edit(1, 2)]).unwrap(), "a\r\nb€Xc\rd\n");
        assert_eq!(super::apply_text_edits(text, &[edit(2, 0)]).unwrap(), "a\r\nb€c\rXd\n");
    }
}

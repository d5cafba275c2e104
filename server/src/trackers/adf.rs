//! Atlassian Document Format (Jira Cloud's descriptions and comments) to Markdown, for the agent to read: headings,
//! paragraphs, lists (nested, ordered from their `order`), code blocks with their language, quotes, rules, tables,
//! panels, and inline marks, links, mentions, emoji, dates and cards. Unknown nodes keep their text.

use serde_json::{Value, json};

/// The document `doc` as Markdown, blocks separated by blank lines.
pub fn to_markdown(doc: &Value) -> String {
    let mut out = String::new();
    blocks(doc["content"].as_array().map(Vec::as_slice).unwrap_or_default(), "", &mut out);
    out.trim_end().to_owned()
}

/// A one-paragraph document: `text` then `link` as a link.
pub fn paragraph_with_link(text: &str, link: &str) -> Value {
    json!({
        "type": "doc",
        "version": 1,
        "content": [{
            "type": "paragraph",
            "content": [
                {"type": "text", "text": format!("{text} ")},
                {"type": "text", "text": link, "marks": [{"type": "link", "attrs": {"href": link}}]}
            ]
        }]
    })
}

fn children(node: &Value) -> &[Value] {
    node["content"].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Writes block nodes, each line after the first prefixed with `indent` (inside list items and quotes).
fn blocks(nodes: &[Value], indent: &str, out: &mut String) {
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent.trim_end());
            out.push('\n');
            out.push_str(indent);
        }
        block(node, indent, out);
    }
}

fn block(node: &Value, indent: &str, out: &mut String) {
    match node["type"].as_str().unwrap_or_default() {
        "paragraph" => out.push_str(&inline(children(node)).replace('\n', &format!("\n{indent}"))),
        "heading" => {
            let level = node["attrs"]["level"].as_u64().unwrap_or(1).clamp(1, 6) as usize;
            out.push_str(&format!("{} {}", "#".repeat(level), inline(children(node))));
        }
        "bulletList" => list(node, None, indent, out),
        "orderedList" => list(node, Some(node["attrs"]["order"].as_u64().unwrap_or(1)), indent, out),
        "taskList" => list(node, None, indent, out),
        "codeBlock" => {
            let language = node["attrs"]["language"].as_str().unwrap_or_default();
            let code: String = children(node).iter().filter_map(|t| t["text"].as_str()).collect();
            let fence = if code.contains("```") { "~~~" } else { "```" };
            out.push_str(&format!("{fence}{language}\n{code}\n{fence}").replace('\n', &format!("\n{indent}")));
        }
        "blockquote" => {
            let inner = format!("{indent}> ");
            out.push_str("> ");
            blocks(children(node), &inner, out);
        }
        "rule" => out.push_str("---"),
        "panel" => {
            let kind = node["attrs"]["panelType"].as_str().unwrap_or("info");
            let inner = format!("{indent}> ");
            out.push_str(&format!("> **{}:** ", capitalised(kind)));
            blocks(children(node), &inner, out);
        }
        "table" => table(node, indent, out),
        "mediaSingle" | "mediaGroup" => {
            let names: Vec<String> = children(node).iter().map(media_name).collect();
            out.push_str(&names.join(", "));
        }
        "expand" | "nestedExpand" => {
            if let Some(title) = node["attrs"]["title"].as_str().filter(|t| !t.is_empty()) {
                out.push_str(&format!("**{title}**\n{indent}"));
            }
            blocks(children(node), indent, out);
        }
        _ if node["content"].is_array() => blocks(children(node), indent, out),
        _ => out.push_str(&inline(std::slice::from_ref(node))),
    }
}

fn list(node: &Value, start: Option<u64>, indent: &str, out: &mut String) {
    for (i, item) in children(node).iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        let marker = match (start, item["type"].as_str()) {
            (Some(n), _) => format!("{}. ", n + i as u64),
            (None, Some("taskItem")) if item["attrs"]["state"] == "DONE" => "- [x] ".to_owned(),
            (None, Some("taskItem")) => "- [ ] ".to_owned(),
            (None, _) => "- ".to_owned(),
        };
        out.push_str(&marker);
        let inner = format!("{indent}{}", " ".repeat(marker.len()));
        // A task item holds inline nodes; a list item holds blocks, a nested list among them.
        if item["type"] == "taskItem" {
            out.push_str(&inline(children(item)));
            continue;
        }
        for (j, child) in children(item).iter().enumerate() {
            if j > 0 {
                out.push('\n');
                out.push_str(&inner);
            }
            block(child, &inner, out);
        }
    }
}

fn table(node: &Value, indent: &str, out: &mut String) {
    let rows: Vec<Vec<String>> = children(node)
        .iter()
        .map(|row| {
            children(row)
                .iter()
                .map(|cell| {
                    let mut text = String::new();
                    blocks(children(cell), "", &mut text);
                    text.replace('\n', " ").replace('|', "\\|")
                })
                .collect()
        })
        .collect();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        let mut cells = row.clone();
        cells.resize(width, String::new());
        out.push_str(&format!("| {} |", cells.join(" | ")));
        if i == 0 {
            out.push_str(&format!("\n{indent}|{}", "---|".repeat(width)));
        }
    }
}

fn media_name(node: &Value) -> String {
    let attrs = &node["attrs"];
    let name = attrs["alt"].as_str().or(attrs["id"].as_str()).unwrap_or("attachment");
    format!("[attachment: {name}]")
}

/// Inline nodes: text with its marks, hard breaks, mentions, emoji, dates, statuses and cards.
fn inline(nodes: &[Value]) -> String {
    let mut out = String::new();
    for node in nodes {
        match node["type"].as_str().unwrap_or_default() {
            "text" => out.push_str(&marked(node)),
            "hardBreak" => out.push('\n'),
            "mention" => {
                let name = node["attrs"]["text"].as_str().unwrap_or("someone");
                out.push_str(&format!("@{}", name.trim_start_matches('@')));
            }
            "emoji" => {
                out.push_str(node["attrs"]["text"].as_str().or(node["attrs"]["shortName"].as_str()).unwrap_or(""))
            }
            "inlineCard" | "blockCard" | "embedCard" => out.push_str(node["attrs"]["url"].as_str().unwrap_or_default()),
            "status" => out.push_str(&format!("[{}]", node["attrs"]["text"].as_str().unwrap_or_default())),
            "date" => out.push_str(&date(&node["attrs"]["timestamp"])),
            "media" => out.push_str(&media_name(node)),
            _ => out.push_str(&inline(children(node))),
        }
    }
    out
}

fn marked(node: &Value) -> String {
    let mut text = node["text"].as_str().unwrap_or_default().to_owned();
    let marks = node["marks"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut link = None;
    for mark in marks {
        match mark["type"].as_str().unwrap_or_default() {
            "code" => text = format!("`{text}`"),
            "strong" => text = format!("**{text}**"),
            "em" => text = format!("*{text}*"),
            "strike" => text = format!("~~{text}~~"),
            "link" => link = mark["attrs"]["href"].as_str(),
            _ => {}
        }
    }
    match link {
        Some(href) if href == text => format!("<{href}>"),
        Some(href) => format!("[{text}]({href})"),
        None => text,
    }
}

/// ADF dates are milliseconds since the epoch, as a string; shown as `YYYY-MM-DD`.
fn date(timestamp: &Value) -> String {
    let ms = timestamp.as_str().and_then(|t| t.parse::<i64>().ok()).or(timestamp.as_i64()).unwrap_or(0);
    crate::clock::date(ms)
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Value {
        json!({"type": "text", "text": t})
    }

    fn para(content: Vec<Value>) -> Value {
        json!({"type": "paragraph", "content": content})
    }

    fn item(content: Vec<Value>) -> Value {
        json!({"type": "listItem", "content": content})
    }

    #[test]
    fn lists_code_blocks_and_mentions_become_markdown() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [text("Steps")]},
            para(vec![
                text("Seen by "),
                (json!({"type": "mention", "attrs": {"id": "5b10", "text": "@Ada Lovelace"}})),
                text(" in "),
                json!({"type": "text", "text": "parse()", "marks": [{"type": "code"}]}),
                text(", see "),
                json!({"type": "text", "text": "the log", "marks": [{"type": "link", "attrs": {"href": "https://x.test/log"}}]}),
                (json!({"type": "hardBreak"})),
                json!({"type": "text", "text": "urgent", "marks": [{"type": "strong"}]}),
            ]),
            (json!({"type": "orderedList", "attrs": {"order": 3}, "content": [
                item(vec![para(vec![text("Open the app")])]),
                item(vec![
                    para(vec![text("Type")]),
                    json!({"type": "bulletList", "content": [
                        item(vec![para(vec![text("an empty name")])]),
                        item(vec![para(vec![text("spaces")])]),
                    ]}),
                ]),
            ]})),
            (json!({"type": "codeBlock", "attrs": {"language": "rust"}, "content": [text("fn main() {\n    run();\n}")]})),
            (json!({"type": "taskList", "content": [
                {"type": "taskItem", "attrs": {"state": "DONE"}, "content": [text("reproduced")]},
                {"type": "taskItem", "attrs": {"state": "TODO"}, "content": [text("fixed")]},
            ]})),
        ]});
        let expected = "## Steps\n\nSeen by @Ada Lovelace in `parse()`, see [the log](https://x.test/log)\n**urgent**\n\n\
                        3. Open the app\n4. Type\n   - an empty name\n   - spaces\n\n\
                        ```rust\nfn main() {\n    run();\n}\n```\n\n- [x] reproduced\n- [ ] fixed";
        assert_eq!(to_markdown(&doc), expected);
    }

    #[test]
    fn quotes_panels_tables_and_dates() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "blockquote", "content": [para(vec![text("quoted")])]},
            {"type": "panel", "attrs": {"panelType": "warning"}, "content": [para(vec![text("careful")])]},
            {"type": "table", "content": [
                {"type": "tableRow", "content": [
                    {"type": "tableHeader", "content": [para(vec![text("Input")])]},
                    {"type": "tableHeader", "content": [para(vec![text("Result")])]},
                ]},
                {"type": "tableRow", "content": [
                    {"type": "tableCell", "content": [para(vec![text("a|b")])]},
                    {"type": "tableCell", "content": [para(vec![(json!({"type": "date", "attrs": {"timestamp": "1767225600000"}}))])]},
                ]},
            ]},
            {"type": "rule"},
            {"type": "unknownThing", "content": [para(vec![text("kept")])]},
        ]});
        let md = to_markdown(&doc);
        assert_eq!(
            md,
            "> quoted\n\n> **Warning:** careful\n\n| Input | Result |\n|---|---|\n| a\\|b | 2026-01-01 |\n\n---\n\nkept"
        );
    }

    #[test]
    fn a_comment_with_a_link_round_trips() {
        let doc = paragraph_with_link("OpenHands opened a pull request for this issue:", "https://x.test/pr/1");
        assert_eq!(to_markdown(&doc), "OpenHands opened a pull request for this issue: <https://x.test/pr/1>");
    }
}

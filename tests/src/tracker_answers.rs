//! What the Jira and Linear stand-ins answer in the tracker tests: a project or team and one issue, in the shapes of
//! Jira's REST v3 description and Linear's schema (tests/fixtures/trackers/), with text the tests look for.

use serde_json::{Value, json};

use crate::provider_mock::{Canned, ProviderMock};

pub const JIRA_TITLE: &str = "Greeting is not polite";
pub const LINEAR_TITLE: &str = "Login fails with spaces";

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

/// PROJ-123's description: a list, a code block, a mention, a link.
fn jira_description() -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [
            text("Reported by "),
            {"type": "mention", "attrs": {"id": "5b10a2844c20165700ede21g", "text": "@Ada Lovelace"}},
            text(": the greeting file says "),
            {"type": "text", "text": "hi", "marks": [{"type": "code"}]},
            text(".")
        ]},
        {"type": "bulletList", "content": [
            {"type": "listItem", "content": [{"type": "paragraph", "content": [
                text("say "), {"type": "text", "text": "Hello, world", "marks": [{"type": "strong"}]}
            ]}]},
            {"type": "listItem", "content": [{"type": "paragraph", "content": [text("keep the newline")]}]}
        ]},
        {"type": "codeBlock", "attrs": {"language": "sh"}, "content": [text("cat greeting.txt  # zebra-kiwi-42")]}
    ]})
}

/// Scripts a Jira Cloud stand-in (`/rest/api/3`, or Data Center's `/rest/api/2` when `v2`) with project PROJ and
/// issue PROJ-123.
pub fn jira_issue(jira: &ProviderMock, v2: bool) {
    let api = if v2 { "/rest/api/2" } else { "/rest/api/3" };
    let site = jira.url();
    if v2 {
        jira.on(
            "GET",
            &format!("{api}/project"),
            vec![Canned::json(json!([{"id": "10000", "key": "PROJ", "name": "Project"}]))],
        );
    } else {
        jira.on(
            "GET",
            &format!("{api}/project/search"),
            vec![Canned::json(json!({
                "self": format!("{site}{api}/project/search"), "startAt": 0, "maxResults": 100, "total": 1,
                "isLast": true, "values": [{"id": "10000", "key": "PROJ", "name": "Project"}]
            }))],
        );
    }
    let description = if v2 { json!("Say *Hello, world*. zebra-kiwi-42") } else { jira_description() };
    let criteria = if v2 {
        json!("The file says Hello, world")
    } else {
        json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [text("The file says Hello, world")]}]})
    };
    jira.on(
        "GET",
        &format!("{api}/issue/PROJ-123"),
        vec![Canned::json(json!({
            "id": "10123", "key": "PROJ-123", "self": format!("{site}{api}/issue/10123"),
            "names": {"summary": "Summary", "customfield_10050": "Acceptance Criteria", "description": "Description"},
            "fields": {
                "summary": JIRA_TITLE,
                "description": description,
                "customfield_10050": criteria,
                "status": {"name": "To Do"},
                "issuetype": {"name": "Bug"},
                "labels": ["ux"],
                "attachment": [{"filename": "screenshot.png"}]
            }
        }))],
    );
    let body = |t: &str| {
        if v2 {
            json!(t)
        } else {
            json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [text(t)]}]})
        }
    };
    jira.on(
        "GET",
        &format!("{api}/issue/PROJ-123/comment"),
        vec![Canned::json(json!({
            "startAt": 0, "maxResults": 10, "total": 1,
            "comments": [{"id": "1", "author": {"displayName": "Bob"}, "body": body("Keep the trailing newline."), "created": "2026-12-01T10:00:00.000+0000"}]
        }))],
    );
    jira.on(
        "POST",
        &format!("{api}/issue/PROJ-123/comment"),
        vec![Canned::status(201, json!({"id": "2", "body": body("ok")}))],
    );
}

/// Scripts a Linear stand-in with team ENG and issue ENG-42.
pub fn linear_issue(linear: &ProviderMock) {
    linear.on_graphql("Teams", vec![Canned::json(json!({"data": {"teams": {"nodes": [{"key": "ENG"}]}}}))]);
    linear.on_graphql(
        "Issue",
        vec![Canned::json(json!({"data": {"issue": {
            "id": "2f7c9e0a-1111-4c4c-9c9c-42aa42aa42aa", "identifier": "ENG-42", "title": LINEAR_TITLE,
            "description": "Logging in as `a b` fails.\n\n- trim the name\n- zebra-kiwi-42",
            "url": "https://linear.app/acme/issue/ENG-42/login-fails-with-spaces",
            "state": {"name": "Todo"},
            "labels": {"nodes": [{"name": "Bug"}]},
            "comments": {"nodes": [
                {"body": "Older comment", "createdAt": "2026-11-01T10:00:00.000Z", "user": {"name": "Cy"}},
                {"body": "Keep the trailing newline.", "createdAt": "2026-12-01T10:00:00.000Z", "user": {"name": "Bob"}}
            ]},
            "attachments": {"nodes": [{"title": "trace.log", "url": "https://example.com/trace.log"}]}
        }}}))],
    );
    linear.on_graphql("Comment", vec![Canned::json(json!({"data": {"commentCreate": {"success": true}}}))]);
}

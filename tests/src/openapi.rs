//! Checks HTTP requests and answers against an OpenAPI 3.1 description: the operation is found by method and path
//! template, then the query parameters, the JSON body and the JSON answer are validated with the operation's
//! schemas (JSON Schema 2020-12, the description's `components` resolving every `$ref`).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

pub struct OpenApi {
    spec: Value,
    /// Compiled validators by the schema's JSON text.
    cache: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

impl OpenApi {
    /// Loads `tests/fixtures/<name>`.
    pub fn fixture(name: &str) -> OpenApi {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        OpenApi { spec: serde_json::from_str(&text).expect("OpenAPI JSON"), cache: Mutex::new(HashMap::new()) }
    }

    /// The operation for `method path` (path without query), with its path template.
    fn operation(&self, method: &str, path: &str) -> Option<(&str, &Value)> {
        let paths = self.spec["paths"].as_object()?;
        let method = method.to_ascii_lowercase();
        // Literal segments beat parameters (`/start-tasks` before `/{conversation_id}`).
        let mut best: Option<(usize, &str, &Value)> = None;
        for (template, item) in paths {
            let Some(op) = item.get(&method) else { continue };
            if let Some(literals) = matches(template, path)
                && best.is_none_or(|(n, ..)| literals > n)
            {
                best = Some((literals, template, op));
            }
        }
        best.map(|(_, t, op)| (t, op))
    }

    /// What is wrong with a request, as readable lines (empty: it is valid). An unknown route is a violation.
    pub fn check_request(&self, method: &str, path: &str, query: &str, body: Option<&Value>) -> Vec<String> {
        let Some((template, op)) = self.operation(method, path) else {
            return vec![format!("{method} {path}: no such operation in the API description")];
        };
        let mut problems = Vec::new();
        let pairs: Vec<(String, String)> = url_pairs(query);
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().unwrap_or_default();
            let schema = &param["schema"];
            match param["in"].as_str() {
                Some("query") => {
                    let values: Vec<&str> = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect();
                    if values.is_empty() {
                        if param["required"] == true {
                            problems.push(format!("{method} {template}: query parameter {name} is required"));
                        }
                        continue;
                    }
                    let instance = if schema["type"] == "array" {
                        Value::Array(values.iter().map(|v| typed(v, &schema["items"])).collect())
                    } else {
                        typed(values[0], schema)
                    };
                    for e in self.validate(schema, &instance) {
                        problems.push(format!("{method} {template}: query {name}={instance}: {e}"));
                    }
                }
                Some("path") => {
                    let value = path_param(template, path, name).unwrap_or_default();
                    for e in self.validate(schema, &typed(&value, schema)) {
                        problems.push(format!("{method} {template}: path {name}={value}: {e}"));
                    }
                }
                _ => {}
            }
        }
        let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
        match (body, body_schema.is_null()) {
            (Some(body), false) => {
                for e in self.validate(body_schema, body) {
                    problems.push(format!("{method} {template}: request body: {e}"));
                }
            }
            (None, false) if op["requestBody"]["required"] == true => {
                problems.push(format!("{method} {template}: a JSON body is required"));
            }
            (Some(_), true) => problems.push(format!("{method} {template}: takes no body")),
            _ => {}
        }
        problems
    }

    /// What is wrong with an answer (empty: it is what the description promises for that status).
    pub fn check_response(&self, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
        let Some((template, op)) = self.operation(method, path) else { return Vec::new() };
        let response = &op["responses"][status.to_string()];
        if response.is_null() {
            return vec![format!("{method} {template}: the description has no {status} answer")];
        }
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_null() {
            return Vec::new();
        }
        self.validate(schema, body).into_iter().map(|e| format!("{method} {template}: {status} answer: {e}")).collect()
    }

    fn validate(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let key = schema.to_string();
        let validator = {
            let mut cache = self.cache.lock().unwrap();
            cache
                .entry(key)
                .or_insert_with(|| {
                    // The schema with the description's components beside it, so `#/components/...` resolves.
                    let mut root = json!({"components": self.spec["components"]});
                    if let Some(map) = schema.as_object() {
                        for (k, v) in map {
                            root[k] = v.clone();
                        }
                    }
                    let validator = jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft202012)
                        .should_validate_formats(true)
                        .build(&root)
                        .expect("the API description's schema compiles");
                    std::sync::Arc::new(validator)
                })
                .clone()
        };
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
    }
}

/// How many literal segments `template` shares with `path`, when it matches.
fn matches(template: &str, path: &str) -> Option<usize> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut literals = 0;
    for (a, b) in t.iter().zip(&p) {
        if a.starts_with('{') && a.ends_with('}') {
            if b.is_empty() {
                return None;
            }
        } else if a == b {
            literals += 1;
        } else {
            return None;
        }
    }
    Some(literals)
}

fn path_param(template: &str, path: &str, name: &str) -> Option<String> {
    let wanted = format!("{{{name}}}");
    template
        .trim_matches('/')
        .split('/')
        .zip(path.trim_matches('/').split('/'))
        .find(|(t, _)| *t == wanted)
        .map(|(_, v)| decode(v))
}

/// A query or path value as the schema types it (`limit=5` is a number).
fn typed(value: &str, schema: &Value) -> Value {
    let types: Vec<&str> = match &schema["anyOf"] {
        Value::Array(options) => options.iter().filter_map(|o| o["type"].as_str()).collect(),
        _ => schema["type"].as_str().into_iter().collect(),
    };
    if types.contains(&"integer")
        && let Ok(n) = value.parse::<i64>()
    {
        return json!(n);
    }
    if types.contains(&"number")
        && let Ok(n) = value.parse::<f64>()
    {
        return json!(n);
    }
    if types.contains(&"boolean") && (value == "true" || value == "false") {
        return json!(value == "true");
    }
    Value::String(value.to_owned())
}

/// The values of query parameter `name`, decoded, in order.
pub fn query_values(query: &str, name: &str) -> Vec<String> {
    url_pairs(query).into_iter().filter(|(k, _)| k == name).map(|(_, v)| v).collect()
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_routes_beat_parameters_and_bad_requests_are_named() {
        let api = OpenApi::fixture("openhands-app-server-1.11.0.json");
        let (template, _) = api.operation("GET", "/api/v1/app-conversations/start-tasks").unwrap();
        assert_eq!(template, "/api/v1/app-conversations/start-tasks");
        assert!(
            api.check_request("GET", "/api/v1/app-conversations/start-tasks", "ids=not-a-uuid", None)
                .iter()
                .any(|p| p.contains("uuid"))
        );
        assert!(
            api.check_request(
                "GET",
                "/api/v1/app-conversations/start-tasks",
                "ids=3fa85f64-5717-4562-b3fc-2c963f66afa6",
                None
            )
            .is_empty()
        );
        let bad = json!({"title": 5});
        assert!(!api.check_request("POST", "/api/v1/app-conversations", "", Some(&bad)).is_empty());
        assert!(api.check_request("GET", "/api/v1/nothing", "", None)[0].contains("no such operation"));
        assert_eq!(decode("a%2Fb+c"), "a/b c");
    }
}

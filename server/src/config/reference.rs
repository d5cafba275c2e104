//! The settings' reference, generated from [`SPECS`](super::SPECS): the table of docs/configuration.md and the
//! VS Code extension's `contributes.configuration.properties`.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{SECTION, SPECS, SettingType, defaults_json, get_path};

/// The settings table of docs/configuration.md, generated from [`SPECS`] and the defaults.
pub fn markdown_reference() -> String {
    let defaults = defaults_json();
    let mut out = String::from("| Setting | Type | Default | Description |\n|---|---|---|---|\n");
    for spec in SPECS {
        let default = get_path(&defaults, spec.key).cloned().unwrap_or(Value::Null);
        let _ = writeln!(
            out,
            "| `{SECTION}.{}` | {} | `{}` | {} |",
            spec.key,
            type_label(spec.ty),
            default,
            spec.description.split_whitespace().collect::<Vec<_>>().join(" "),
        );
    }
    out
}

/// The settings as VS Code's `contributes.configuration.properties`, generated from [`SPECS`] and the defaults.
pub fn vscode_properties() -> Value {
    let defaults = defaults_json();
    let mut props = Map::new();
    for (order, spec) in SPECS.iter().enumerate() {
        let default = get_path(&defaults, spec.key).cloned().unwrap_or(Value::Null);
        let mut prop = Map::new();
        // VS Code's settings editor sorts by `order`, so the settings appear as documented.
        prop.insert("order".into(), order.into());
        match spec.ty {
            SettingType::String => {
                prop.insert("type".into(), "string".into());
            }
            SettingType::OptionalString => {
                prop.insert("type".into(), json!(["string", "null"]));
            }
            SettingType::Enum(values) => {
                prop.insert("type".into(), "string".into());
                prop.insert("enum".into(), json!(values));
            }
            SettingType::Integer { minimum, maximum } => {
                prop.insert("type".into(), "integer".into());
                prop.insert("minimum".into(), minimum.into());
                prop.insert("maximum".into(), maximum.into());
            }
            SettingType::Boolean => {
                prop.insert("type".into(), "boolean".into());
            }
            SettingType::OptionalInteger { minimum, maximum } => {
                prop.insert("type".into(), json!(["integer", "null"]));
                prop.insert("minimum".into(), minimum.into());
                prop.insert("maximum".into(), maximum.into());
            }
            SettingType::Number { minimum, maximum } | SettingType::OptionalNumber { minimum, maximum } => {
                let ty = if matches!(spec.ty, SettingType::Number { .. }) {
                    json!("number")
                } else {
                    json!(["number", "null"])
                };
                prop.insert("type".into(), ty);
                prop.insert("minimum".into(), minimum.into());
                prop.insert("maximum".into(), maximum.into());
            }
            SettingType::McpServers => {
                prop.insert("type".into(), "object".into());
                prop.insert("additionalProperties".into(), json!({"type": "object"}));
            }
        }
        prop.insert("default".into(), default);
        prop.insert(
            "markdownDescription".into(),
            spec.description.split_whitespace().collect::<Vec<_>>().join(" ").into(),
        );
        props.insert(format!("{SECTION}.{}", spec.key), Value::Object(prop));
    }
    Value::Object(props)
}

fn type_label(ty: SettingType) -> String {
    match ty {
        SettingType::String => "string".into(),
        SettingType::OptionalString => "string or null".into(),
        SettingType::Enum(values) => values.iter().map(|v| format!("`\"{v}\"`")).collect::<Vec<_>>().join(" \\| "),
        SettingType::Integer { minimum, maximum } => format!("integer ({minimum}..={maximum})"),
        SettingType::Boolean => "boolean".into(),
        SettingType::OptionalInteger { minimum, maximum } => format!("integer ({minimum}..={maximum}) or null"),
        SettingType::Number { minimum, maximum } => format!("number ({minimum}..={maximum})"),
        SettingType::OptionalNumber { minimum, maximum } => format!("number ({minimum}..={maximum}) or null"),
        SettingType::McpServers => "object (servers by name)".into(),
    }
}

//! Schema files into [`Schema`]s: reading (JSON or YAML), the checks that
//! decide whether a file can be used at all, and everything else as
//! [`Diagnostic`]s.

use std::path::Path;

use serde_json::{Map, Value};

use crate::evaluate::operators::Operator;
use crate::evaluate::value::kind_of;
use crate::schema::diagnostic::{Code, Diagnostic, Severity, diag};
use crate::schema::entries::{field_def, show, variable_def};
use crate::schema::model::{PluginRef, SampleAttachment, Schema, Source};
use crate::schema::selector::Selector;
use crate::vocabulary::PROTECTED;

/// The field types of the `schema` section.
pub const FIELD_TYPES: &[&str] = &["high_level", "scientific_metadata"];

const TOP_LEVEL_KEYS: &[&str] = &[
    "id",
    "name",
    "instrument",
    "order",
    "selector",
    "variables",
    "schema",
    "sample_attachment",
    "plugin",
];

/// Whether a file name is a schema file name.
pub fn is_schema_file_name(name: &str) -> bool {
    !name.starts_with('.')
        && (name.contains("imsc.json") || name.contains("imsc.yml") || name.contains("imsc.yaml"))
}

/// Reads and parses one schema file. `Err` holds the reason the file cannot
/// be used at all; diagnostics collect everything else.
pub fn load_file(path: &Path, diags: &mut Vec<Diagnostic>) -> Result<Schema, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    from_value(&parse_text(path, &text)?, path, diags)
}

/// Parses a schema file's text; `Err` is the reason without the file name.
pub fn parse_text(path: &Path, text: &str) -> Result<Value, String> {
    crate::document::parse_document(path, text).map_err(|e| e.to_string())
}

/// The checks of the top-level keys that decide whether a schema can be
/// used at all: `has(key)` tells whether a key is present. Gives the id and
/// the order.
pub fn check_head(
    has: impl Fn(&str) -> bool,
    id: Option<&Value>,
    order: Option<&Value>,
) -> Result<(String, i64), String> {
    let missing: Vec<&str> = ["id", "order", "selector", "variables", "schema"]
        .into_iter()
        .filter(|k| !has(k))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing required key(s): {}", missing.join(", ")));
    }
    let id = match id {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            return Err(format!(
                "`id` must be a non-empty string, not {}",
                show(other.unwrap_or(&Value::Null))
            ));
        }
    };
    let order = match order.unwrap_or(&Value::Null) {
        Value::Number(n) if n.as_i64().is_some() => n.as_i64().unwrap(),
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            n.as_f64().unwrap() as i64
        }
        other => return Err(format!("`order` must be an integer, not {}", show(other))),
    };
    Ok((id, order))
}

/// The text of `name` or `instrument` as sorting and messages use it.
pub fn text_of(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Builds a schema from a parsed document.
pub fn from_value(doc: &Value, file: &Path, diags: &mut Vec<Diagnostic>) -> Result<Schema, String> {
    let map = doc
        .as_object()
        .ok_or_else(|| format!("a schema must be an object, found {}", kind_of(doc)))?;
    for k in map.keys() {
        if !TOP_LEVEL_KEYS.contains(&k.as_str()) {
            diag(
                diags,
                Code::UnknownKey,
                Severity::Warning,
                file,
                k,
                "unknown top-level key (ignored)".into(),
            );
        }
    }
    let (id, order) = check_head(|k| map.contains_key(k), map.get("id"), map.get("order"))?;
    let text_key = |k: &str, diags: &mut Vec<Diagnostic>| {
        if let Some(other) = map.get(k).filter(|v| !v.is_string()) {
            diag(
                diags,
                Code::WrongType,
                Severity::Warning,
                file,
                k,
                format!("should be a string, not {}", show(other)),
            );
        }
        text_of(map.get(k))
    };
    let name = text_key("name", diags);
    let instrument = text_key("instrument", diags);

    let selector = Selector::parse(&map["selector"]);
    if let Selector::Invalid(reason) = &selector {
        diag(
            diags,
            Code::Selector,
            Severity::Error,
            file,
            "selector",
            format!(
                "malformed selector {}: {reason}; this schema will never match",
                map["selector"]
            ),
        );
    }

    let vars = map["variables"]
        .as_object()
        .ok_or_else(|| "`variables` must be an object of variable definitions".to_string())?;
    let mut variables = Vec::with_capacity(vars.len());
    for (vname, def) in vars {
        variables.push((vname.clone(), variable_def(vname, def, file, diags)?));
    }

    let entries = map["schema"]
        .as_object()
        .ok_or_else(|| "`schema` must be an object of field definitions".to_string())?;
    let mut fields = Vec::with_capacity(entries.len());
    for (label, def) in entries {
        if let Some(f) = field_def(label, def, file, diags) {
            fields.push((label.clone(), f));
        }
    }

    let sample_attachment = match map.get("sample_attachment") {
        None | Some(Value::Null) => SampleAttachment::default(),
        Some(Value::Object(m)) => {
            let mut s = SampleAttachment::default();
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("query_sample_name", Value::Bool(b)) => s.query_sample_name = *b,
                    ("sample_name_path", Value::String(p)) => s.sample_name_path = p.clone(),
                    ("proposal_id_path", Value::String(p)) => s.proposal_id_path = p.clone(),
                    _ => diag(
                        diags, Code::UnknownKey,
                        Severity::Warning,
                        file,
                        &format!("sample_attachment.{k}"),
                        "unknown key or wrong type (expected query_sample_name: bool, sample_name_path / proposal_id_path: string)".into(),
                    ),
                }
            }
            s
        }
        Some(other) => {
            diag(
                diags,
                Code::WrongType,
                Severity::Error,
                file,
                "sample_attachment",
                format!("must be an object, not {}", show(other)),
            );
            SampleAttachment::default()
        }
    };

    let base = file.parent().unwrap_or(Path::new("."));
    let plugin = match map.get("plugin") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(PluginRef {
            path: base.join(p),
            config: Value::Object(Map::new()),
            may_set: Vec::new(),
        }),
        Some(Value::Object(m)) => match m.get("path").and_then(|p| p.as_str()) {
            Some(p) => {
                for k in m.keys() {
                    if k != "path" && k != "config" && k != "may_set" {
                        diag(
                            diags,
                            Code::UnknownKey,
                            Severity::Warning,
                            file,
                            &format!("plugin.{k}"),
                            "unknown key (use `path`, `config` and `may_set`)".into(),
                        );
                    }
                }
                Some(PluginRef {
                    path: base.join(p),
                    config: m
                        .get("config")
                        .cloned()
                        .unwrap_or(Value::Object(Map::new())),
                    may_set: may_set(m.get("may_set"), file, diags),
                })
            }
            None => return Err("`plugin` needs a string `path` to the .wasm component".into()),
        },
        Some(other) => {
            return Err(format!(
                "`plugin` must be an object {{\"path\": ..., \"config\": {{...}}}}, not {}",
                show(other)
            ));
        }
    };
    if plugin.is_none() {
        let uses_plugin_var = variables.iter().any(|(_, v)| {
            matches!(v.source, Source::Plugin { .. })
                || matches!(
                    &v.source,
                    Source::Value {
                        operator: Operator::Plugin(_),
                        ..
                    }
                )
        });
        if selector.uses_plugin() || uses_plugin_var {
            diag(
                diags, Code::Plugin,
                Severity::Error,
                file,
                "plugin",
                "the schema uses a plugin (selector, PLUGIN source or plugin: operator) but names none".into(),
            );
        }
    }

    Ok(Schema {
        id,
        name,
        instrument,
        order,
        selector,
        variables,
        fields,
        sample_attachment,
        plugin,
        file: file.to_path_buf(),
    })
}

/// `plugin.may_set`: the protected dataset fields the schema lets its
/// plugin's `transform` set.
fn may_set(v: Option<&Value>, file: &Path, diags: &mut Vec<Diagnostic>) -> Vec<String> {
    let names: Vec<String> = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        Some(other) => {
            diag(
                diags,
                Code::WrongType,
                Severity::Error,
                file,
                "plugin.may_set",
                format!("must be a list of field names, not {}", show(other)),
            );
            return Vec::new();
        }
    };
    for n in &names {
        if !PROTECTED.contains(&n.as_str()) {
            diag(
                diags,
                Code::Plugin,
                Severity::Warning,
                file,
                "plugin.may_set",
                format!(
                    "`{n}` is not a protected field (a transform may set it anyway); protected: {}",
                    PROTECTED.join(", ")
                ),
            );
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::schema::test_docs::{minimal, write};

    #[test]
    fn unknown_keys_and_operators_are_warnings() {
        let d = tempfile::tempdir().unwrap();
        let mut s = minimal("w", "w", 1, "*");
        s["extra"] = json!(1);
        s["variables"] = json!({"v": {"source": "VALUE", "value": "x", "operator": "frob", "value_type": "string"}});
        let p = write(d.path(), "w.imsc.json", &s);
        let mut diags = Vec::new();
        let schema = load_file(&p, &mut diags).unwrap();
        assert_eq!(diags.len(), 2, "{diags:?}");
        assert!(diags.iter().all(|d| d.severity == Severity::Warning));
        assert!(diags.iter().any(|d| d.key == "extra"));
        assert!(diags.iter().any(|d| d.key == "variables.v.operator"));
        assert!(matches!(
            &schema.variables[0].1.source,
            Source::Value {
                operator: Operator::Unknown(_),
                ..
            }
        ));
    }

    /// A finding's code, severity and key.
    type Finding = (Code, Severity, String);

    /// The code, severity and key of each finding, in order.
    fn findings(doc: &Value) -> (Result<Schema, String>, Vec<Finding>) {
        let mut diags = Vec::new();
        let s = from_value(doc, Path::new("/s/t.imsc.json"), &mut diags);
        let found = diags
            .into_iter()
            .map(|d| (d.code, d.severity, d.key))
            .collect();
        (s, found)
    }

    fn with(key: &str, v: Value) -> Value {
        let mut d = minimal("i", "n", 1, "*");
        d[key] = v;
        d
    }

    #[test]
    fn plugin_and_sample_attachment_are_read_key_by_key() {
        let mut d = with(
            "plugin",
            json!({"path": "p.wasm", "config": {"a": 1}, "may_set": ["ownerGroup", "datasetName"], "extra": 1}),
        );
        d["sample_attachment"] = json!({"query_sample_name": true, "sample_name_path": "/s",
                                        "proposal_id_path": "/p", "bad": 1});
        let (s, found) = findings(&d);
        let s = s.unwrap();
        assert_eq!(
            s.plugin,
            Some(PluginRef {
                path: "/s/p.wasm".into(),
                config: json!({"a": 1}),
                may_set: vec!["ownerGroup".into(), "datasetName".into()],
            })
        );
        assert_eq!(
            s.sample_attachment,
            SampleAttachment {
                query_sample_name: true,
                sample_name_path: "/s".into(),
                proposal_id_path: "/p".into(),
            }
        );
        use Severity::*;
        assert_eq!(
            found,
            [
                (Code::UnknownKey, Warning, "sample_attachment.bad".into()),
                (Code::UnknownKey, Warning, "plugin.extra".into()),
                // datasetName is not protected: granting it is pointless.
                (Code::Plugin, Warning, "plugin.may_set".into()),
            ]
        );
        let (s, found) = findings(&with("plugin", json!({"path": "p.wasm", "may_set": [1]})));
        assert_eq!(s.unwrap().plugin.unwrap().may_set, Vec::<String>::new());
        assert_eq!(found, [(Code::WrongType, Error, "plugin.may_set".into())]);
        // Protected fields are granted without a word.
        let (_, found) = findings(&with(
            "plugin",
            json!({"path": "p.wasm", "may_set": ["ownerGroup", "pid"]}),
        ));
        assert!(found.is_empty(), "{found:?}");
        let (s, found) = findings(&with("plugin", json!("q.wasm")));
        assert_eq!(s.unwrap().plugin.unwrap().path, Path::new("/s/q.wasm"));
        assert!(found.is_empty());
    }

    #[test]
    fn using_a_plugin_without_naming_one_is_an_error() {
        let uses = [
            with("selector", json!("plugin")),
            with("selector", json!({"source": "plugin"})),
            with("selector", json!({"or": ["filename:contains:x", "plugin"]})),
            with(
                "variables",
                json!({"v": {"source": "PLUGIN", "value_type": "string"}}),
            ),
            with(
                "variables",
                json!({"v": {"source": "VALUE", "value": "x", "operator": "plugin:op", "value_type": "string"}}),
            ),
        ];
        for d in &uses {
            let (s, found) = findings(d);
            assert!(s.is_ok());
            assert_eq!(
                found,
                [(Code::Plugin, Severity::Error, "plugin".into())],
                "{d}"
            );
            let mut named = d.clone();
            named["plugin"] = json!("p.wasm");
            assert_eq!(findings(&named).1, [], "{named}");
        }
        assert!(
            findings(&minimal("i", "n", 1, "filename:contains:x"))
                .1
                .is_empty()
        );
    }

    #[test]
    fn head_checks() {
        let (s, _) = findings(&with("order", json!(2.0)));
        assert_eq!(s.unwrap().order, 2);
        // Beyond f64's integers: read as an integer, not through a float.
        let (s, _) = findings(&with("order", json!(9007199254740993_i64)));
        assert_eq!(s.unwrap().order, 9007199254740993);
        assert_eq!(
            findings(&with("order", json!(2.5))).0.unwrap_err(),
            "`order` must be an integer, not 2.5"
        );
        assert_eq!(
            findings(&with("id", json!(""))).0.unwrap_err(),
            "`id` must be a non-empty string, not \"\""
        );
        let long = "x".repeat(100);
        assert_eq!(
            findings(&with("id", json!([long]))).0.unwrap_err(),
            format!(
                "`id` must be a non-empty string, not [\"{}...",
                "x".repeat(55)
            )
        );
        // Exactly 60 characters: quoted whole.
        let sixty = "x".repeat(56);
        assert_eq!(
            findings(&with("id", json!([sixty]))).0.unwrap_err(),
            format!("`id` must be a non-empty string, not [\"{sixty}\"]")
        );
        assert_eq!(
            findings(&with("id", json!(["short"]))).0.unwrap_err(),
            "`id` must be a non-empty string, not [\"short\"]"
        );
    }

    #[test]
    fn variable_and_field_findings() {
        let mut d = minimal("i", "n", 1, "*");
        d["variables"] = json!({
            "nxs": {"source": "NXS", "path": "", "value_type": "string"},
            "sc": {"source": "SC", "url": "", "value_type": "string"},
            "get": {"source": "VALUE", "value": "<x>", "operator": "getitem", "value_type": "dict"},
            "get_ok": {"source": "VALUE", "value": "<x>", "operator": "getitem", "field": 0, "value_type": "dict"},
            "rep": {"source": "VALUE", "value": "x", "operator": "str-replace", "pattern": "a", "value_type": "string"},
            "rep_ok": {"source": "VALUE", "value": "x", "operator": "str-replace", "pattern": "a", "replacement": "b", "value_type": "string"},
            "typeless": {"source": "VALUE", "value": "x", "colour": 1},
            "odd_type": {"source": "VALUE", "value": "x", "value_type": "complex"},
            "ok": {"source": "NXS", "path": "/a", "value_type": "string", "unit": "K"}
        });
        d["schema"] = json!({
            "good": {"field_type": "high_level", "machine_name": "datasetName", "value": "x", "type": "string"},
            "low": {"field_type": "low_level", "machine_name": "m", "value": "x", "type": "string"},
            "nameless": {"field_type": "high_level", "value": "x", "type": "string"},
            "odd": {"field_type": "scientific_metadata", "machine_name": "o", "value": "x", "type": "complex", "colour": 1},
            "valueless": {"field_type": "scientific_metadata", "machine_name": "v", "type": "string"}
        });
        let (s, found) = findings(&d);
        let s = s.unwrap();
        use Severity::*;
        let k = |s: &str| s.to_string();
        assert_eq!(
            found,
            [
                (Code::Variable, Error, k("variables.nxs")),
                (Code::Variable, Error, k("variables.sc")),
                (Code::OperatorArgs, Error, k("variables.get.field")),
                (Code::OperatorArgs, Warning, k("variables.rep")),
                (Code::ValueType, Error, k("variables.typeless.value_type")),
                (Code::UnknownKey, Warning, k("variables.typeless.colour")),
                (Code::ValueType, Error, k("variables.odd_type.value_type")),
                (Code::FieldType, Warning, k("schema.low.field_type")),
                (Code::Field, Error, k("schema.nameless.machine_name")),
                (Code::ValueType, Error, k("schema.odd.type")),
                (Code::UnknownKey, Warning, k("schema.odd.colour")),
                (Code::Field, Error, k("schema.valueless.value")),
            ]
        );
        assert_eq!(s.variables.len(), 9);
        assert_eq!(s.variables[8].1.unit.as_deref(), Some("K"));
        let labels: Vec<&str> = s.fields.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["good", "low", "odd"]);
    }
}

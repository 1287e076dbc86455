//! One entry of `variables` or of the `schema` section: its source or field
//! type, value type and keys, checked with a diagnostic for each problem.

use std::path::Path;

use serde_json::{Map, Value};

use crate::evaluate::operators::Operator;
use crate::evaluate::types::VALUE_TYPES;
use crate::schema::diagnostic::{Code, Diagnostic, Severity, diag};
use crate::schema::model::{FieldDef, Source, VariableDef};
use crate::schema::parse::FIELD_TYPES;

/// A value as messages quote it, cut to about 60 characters.
pub(crate) fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}...", &s[..s.floor_char_boundary(57)])
    } else {
        s
    }
}

fn opt_string(
    m: &Map<String, Value>,
    k: &str,
    key: &str,
    file: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<String> {
    match m.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            diag(
                diags,
                Code::WrongType,
                Severity::Error,
                file,
                &format!("{key}.{k}"),
                format!("must be a string, not {}", show(other)),
            );
            None
        }
    }
}

pub(crate) fn variable_def(
    vname: &str,
    def: &Value,
    file: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Result<VariableDef, String> {
    let key = format!("variables.{vname}");
    let m = def
        .as_object()
        .ok_or_else(|| format!("variable `{vname}` must be an object, not {}", show(def)))?;
    let source_name = m
        .get("source")
        .and_then(|s| s.as_str())
        .ok_or_else(|| format!("variable `{vname}` has no `source` (NXS, VALUE, SC or PLUGIN)"))?;
    let value_type = match m.get("value_type") {
        Some(Value::String(t)) => {
            if !VALUE_TYPES.contains(&t.as_str()) {
                diag(
                    diags,
                    Code::ValueType,
                    Severity::Error,
                    file,
                    &format!("{key}.value_type"),
                    format!(
                        "unknown value type {t:?} (use one of {})",
                        VALUE_TYPES.join(", ")
                    ),
                );
            }
            t.clone()
        }
        _ => {
            diag(
                diags,
                Code::ValueType,
                Severity::Error,
                file,
                &format!("{key}.value_type"),
                format!(
                    "missing or not a string (use one of {})",
                    VALUE_TYPES.join(", ")
                ),
            );
            String::new()
        }
    };
    let unit = opt_string(m, "unit", &key, file, diags);
    let allowed: &[&str];
    let source = match source_name {
        "NXS" => {
            allowed = &["path"];
            match m.get("path") {
                Some(Value::String(p)) if !p.is_empty() => Source::Nxs { path: p.clone() },
                _ => Source::Invalid("an NXS variable needs a string `path`".into()),
            }
        }
        "VALUE" => {
            allowed = &["value", "operator", "field", "pattern", "replacement"];
            match m.get("value") {
                None => Source::Invalid("a VALUE variable needs a `value`".into()),
                Some(v) => {
                    let op_name = opt_string(m, "operator", &key, file, diags);
                    let operator = Operator::parse(op_name.as_deref());
                    if let Operator::Unknown(o) = &operator {
                        diag(
                            diags,
                            Code::Operator,
                            Severity::Warning,
                            file,
                            &format!("{key}.operator"),
                            format!("unknown operator {o:?}: the value is left unchanged"),
                        );
                    }
                    if operator == Operator::GetItem && !m.contains_key("field") {
                        diag(
                            diags,
                            Code::OperatorArgs,
                            Severity::Error,
                            file,
                            &format!("{key}.field"),
                            "getitem needs a `field` (a key or an index)".into(),
                        );
                    }
                    if operator == Operator::StrReplace
                        && (!m.contains_key("pattern") || !m.contains_key("replacement"))
                    {
                        diag(
                            diags, Code::OperatorArgs,
                            Severity::Warning,
                            file,
                            &key,
                            "str-replace without `pattern` and `replacement` leaves the value unchanged".into(),
                        );
                    }
                    Source::Value {
                        value: v.clone(),
                        operator,
                        field: m.get("field").cloned(),
                        pattern: opt_string(m, "pattern", &key, file, diags),
                        replacement: opt_string(m, "replacement", &key, file, diags),
                    }
                }
            }
        }
        "SC" => {
            allowed = &["url", "field"];
            match m.get("url") {
                Some(Value::String(u)) if !u.is_empty() => Source::Sc {
                    url: u.clone(),
                    field: opt_string(m, "field", &key, file, diags).unwrap_or_default(),
                },
                _ => Source::Invalid("an SC variable needs a string `url`".into()),
            }
        }
        "PLUGIN" => {
            allowed = &["name", "args"];
            Source::Plugin {
                name: opt_string(m, "name", &key, file, diags).unwrap_or_else(|| vname.to_string()),
                args: m.get("args").cloned().unwrap_or(Value::Null),
            }
        }
        other => {
            return Err(format!(
                "variable `{vname}` has unknown source {other:?} (use NXS, VALUE, SC or PLUGIN)"
            ));
        }
    };
    if let Source::Invalid(reason) = &source {
        diag(
            diags,
            Code::Variable,
            Severity::Error,
            file,
            &key,
            reason.clone(),
        );
    }
    for k in m.keys() {
        if !["source", "value_type", "unit", "optional"].contains(&k.as_str())
            && !allowed.contains(&k.as_str())
        {
            diag(
                diags,
                Code::UnknownKey,
                Severity::Warning,
                file,
                &format!("{key}.{k}"),
                format!("unknown key for a {source_name} variable (ignored)"),
            );
        }
    }
    Ok(VariableDef {
        source,
        value_type,
        unit,
        raw: def.clone(),
    })
}

pub(crate) fn field_def(
    label: &str,
    def: &Value,
    file: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<FieldDef> {
    let key = format!("schema.{label}");
    let Some(m) = def.as_object() else {
        diag(
            diags,
            Code::WrongType,
            Severity::Error,
            file,
            &key,
            format!("a field must be an object, not {}", show(def)),
        );
        return None;
    };
    let field_type = opt_string(m, "field_type", &key, file, diags).unwrap_or_default();
    if !FIELD_TYPES.contains(&field_type.as_str()) {
        diag(
            diags,
            Code::FieldType,
            Severity::Warning,
            file,
            &format!("{key}.field_type"),
            format!(
                "field type {field_type:?} is not high_level or scientific_metadata: the field is ignored"
            ),
        );
    }
    let Some(machine_name) = opt_string(m, "machine_name", &key, file, diags) else {
        diag(
            diags,
            Code::Field,
            Severity::Error,
            file,
            &format!("{key}.machine_name"),
            "missing: a field needs the name it sets".into(),
        );
        return None;
    };
    let value_type = match opt_string(m, "type", &key, file, diags) {
        Some(t) => {
            if !VALUE_TYPES.contains(&t.as_str()) {
                diag(
                    diags,
                    Code::ValueType,
                    Severity::Error,
                    file,
                    &format!("{key}.type"),
                    format!(
                        "unknown value type {t:?} (use one of {})",
                        VALUE_TYPES.join(", ")
                    ),
                );
            }
            t
        }
        None => {
            diag(
                diags,
                Code::ValueType,
                Severity::Error,
                file,
                &format!("{key}.type"),
                format!("missing (use one of {})", VALUE_TYPES.join(", ")),
            );
            String::new()
        }
    };
    let Some(value) = m.get("value").cloned() else {
        diag(
            diags,
            Code::Field,
            Severity::Error,
            file,
            &format!("{key}.value"),
            "missing: a field needs a value template".into(),
        );
        return None;
    };
    for k in m.keys() {
        if ![
            "field_type",
            "machine_name",
            "human_name",
            "value",
            "type",
            "unit",
        ]
        .contains(&k.as_str())
        {
            diag(
                diags,
                Code::UnknownKey,
                Severity::Warning,
                file,
                &format!("{key}.{k}"),
                "unknown key for a field (ignored)".into(),
            );
        }
    }
    Some(FieldDef {
        human_name: opt_string(m, "human_name", &key, file, diags),
        unit: opt_string(m, "unit", &key, file, diags),
        field_type,
        machine_name,
        value,
        value_type,
    })
}

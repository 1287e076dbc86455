//! Values as the evaluator passes them around: a JSON value with its unit,
//! variables by name, and the text form of a value inside a template.

use indexmap::IndexMap;
use serde_json::Value;

/// A variable's value with its unit (empty when it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub value: Value,
    pub unit: String,
}

impl Var {
    pub fn new(value: Value) -> Self {
        Var {
            value,
            unit: String::new(),
        }
    }
    pub fn with_unit(value: Value, unit: impl Into<String>) -> Self {
        Var {
            value,
            unit: unit.into(),
        }
    }
}

/// Variables by name, in the order they were defined.
pub type Vars = IndexMap<String, Var>;

/// The text form of a value inside a larger string: strings as they are,
/// everything else as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
/// How a value is named in messages ("a list", "an object").
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A JSON list written as text (what some files and replies hold).
pub(crate) fn parse_list_text(s: &str) -> Option<Vec<Value>> {
    match serde_json::from_str::<Value>(s.trim()) {
        Ok(Value::Array(v)) => Some(v),
        _ => None,
    }
}

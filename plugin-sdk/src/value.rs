//! Typed values with units, as they cross the boundary, and their
//! conversions to and from Rust and JSON.

use serde_json::Value as Json;

/// A value read from the file, handed to or returned by a hook.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Str(String),
    Int(i64),
    /// An unsigned integer too large for `Int`.
    Uint(u64),
    Float(f64),
    Bool(bool),
    Strs(Vec<String>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Bools(Vec<bool>),
    Bytes(Vec<u8>),
    /// A free-form value (an object, a mixed list).
    Json(Json),
}

impl Value {
    /// The text, if this is a string (or a list of exactly one).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Strs(v) if v.len() == 1 => Some(&v[0]),
            Value::Json(Json::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one (or a list of exactly one).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Uint(u) => i64::try_from(*u).ok(),
            Value::Ints(v) if v.len() == 1 => Some(v[0]),
            Value::Json(j) => j.as_i64(),
            _ => None,
        }
    }

    /// The number as a float, if this is a number (or a list of exactly one).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::Uint(u) => Some(*u as f64),
            Value::Floats(v) if v.len() == 1 => Some(v[0]),
            Value::Ints(v) if v.len() == 1 => Some(v[0] as f64),
            Value::Json(j) => j.as_f64(),
            _ => None,
        }
    }

    /// The boolean, if this is one (or a list of exactly one).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Bools(v) if v.len() == 1 => Some(v[0]),
            Value::Json(j) => j.as_bool(),
            _ => None,
        }
    }

    /// Numbers as floats: a numeric list, or a single number as a list of one.
    pub fn to_f64s(&self) -> Option<Vec<f64>> {
        match self {
            Value::Floats(v) => Some(v.clone()),
            Value::Ints(v) => Some(v.iter().map(|i| *i as f64).collect()),
            Value::Float(_) | Value::Int(_) | Value::Uint(_) => self.as_f64().map(|f| vec![f]),
            Value::Bytes(v) => Some(v.iter().map(|b| f64::from(*b)).collect()),
            Value::Json(Json::Array(a)) => a.iter().map(Json::as_f64).collect(),
            _ => None,
        }
    }

    /// Integers: an integer list, or a single integer as a list of one.
    pub fn to_i64s(&self) -> Option<Vec<i64>> {
        match self {
            Value::Ints(v) => Some(v.clone()),
            Value::Int(i) => Some(vec![*i]),
            Value::Bytes(v) => Some(v.iter().map(|b| i64::from(*b)).collect()),
            Value::Json(Json::Array(a)) => a.iter().map(Json::as_i64).collect(),
            _ => None,
        }
    }

    /// Texts: a string list, or a single string as a list of one.
    pub fn to_strings(&self) -> Option<Vec<String>> {
        match self {
            Value::Strs(v) => Some(v.clone()),
            Value::Str(s) => Some(vec![s.clone()]),
            Value::Json(Json::Array(a)) => {
                a.iter().map(|j| j.as_str().map(str::to_string)).collect()
            }
            _ => None,
        }
    }

    /// The JSON form (what the schema evaluator sees).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Str(s) => Json::String(s.clone()),
            Value::Int(i) => Json::from(*i),
            Value::Uint(u) => Json::from(*u),
            Value::Bytes(v) => v.iter().map(|b| Json::from(*b)).collect(),
            Value::Float(f) => float(*f),
            Value::Bool(b) => Json::Bool(*b),
            Value::Strs(v) => v.iter().cloned().map(Json::String).collect(),
            Value::Ints(v) => v.iter().map(|i| Json::from(*i)).collect(),
            Value::Floats(v) => v.iter().map(|f| float(*f)).collect(),
            Value::Bools(v) => v.iter().map(|b| Json::Bool(*b)).collect(),
            Value::Json(j) => j.clone(),
        }
    }

    /// The most specific value for a JSON value: strings, numbers and
    /// booleans stay typed, lists of one kind become typed lists, anything
    /// else is [`Value::Json`].
    pub fn from_json(j: Json) -> Value {
        match j {
            Json::String(s) => Value::Str(s),
            Json::Bool(b) => Value::Bool(b),
            Json::Null => Value::Null,
            Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Value::Int(i),
                (None, Some(u), _) => Value::Uint(u),
                (None, None, Some(f)) => Value::Float(f),
                _ => Value::Json(Json::Number(n)),
            },
            Json::Array(a) if !a.is_empty() => {
                if a.iter().all(Json::is_string) {
                    Value::Strs(
                        a.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect(),
                    )
                } else if a.iter().all(Json::is_i64) {
                    Value::Ints(a.iter().filter_map(Json::as_i64).collect())
                } else if a.iter().all(Json::is_number) {
                    Value::Floats(a.iter().filter_map(Json::as_f64).collect())
                } else if a.iter().all(Json::is_boolean) {
                    Value::Bools(a.iter().filter_map(Json::as_bool).collect())
                } else {
                    Value::Json(Json::Array(a))
                }
            }
            other => Value::Json(other),
        }
    }

    /// The text form used inside templates: strings as they are, anything
    /// else as JSON.
    pub fn text(&self) -> String {
        match self.to_json() {
            Json::String(s) => s,
            other => other.to_string(),
        }
    }
}

fn float(f: f64) -> Json {
    serde_json::Number::from_f64(f)
        .map(Json::Number)
        .unwrap_or(Json::Null)
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(as $cast:ty)?),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::$variant(v $(as $cast)?)
            }
        }
    )*};
}

value_from!(
    String => Str,
    i64 => Int,
    i32 => Int as i64,
    u32 => Int as i64,
    u64 => Uint,
    usize => Uint as u64,
    Vec<u8> => Bytes,
    f64 => Float,
    f32 => Float as f64,
    bool => Bool,
    Vec<String> => Strs,
    Vec<i64> => Ints,
    Vec<f64> => Floats,
    Vec<bool> => Bools,
);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}

impl From<Vec<&str>> for Value {
    fn from(v: Vec<&str>) -> Self {
        Value::Strs(v.into_iter().map(String::from).collect())
    }
}

impl From<Json> for Value {
    fn from(j: Json) -> Self {
        Value::from_json(j)
    }
}

/// A value with its unit (empty when it has none) and, for an
/// n-dimensional list, its shape (empty for a scalar or a plain list).
#[derive(Debug, Clone, PartialEq)]
pub struct Typed {
    pub value: Value,
    pub unit: String,
    pub shape: Vec<u64>,
}

impl Typed {
    /// A value without a unit.
    pub fn new(value: impl Into<Value>) -> Self {
        Typed {
            value: value.into(),
            unit: String::new(),
            shape: Vec::new(),
        }
    }

    /// The same value with `unit`.
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = unit.into();
        self
    }

    /// The same (flat, row-major) list with the shape `shape`.
    pub fn with_shape(mut self, shape: &[u64]) -> Self {
        self.shape = shape.to_vec();
        self
    }
}

impl<T: Into<Value>> From<T> for Typed {
    fn from(v: T) -> Self {
        Typed::new(v)
    }
}

impl std::ops::Deref for Typed {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.value
    }
}

/// The variables known so far. In the ingestor they are asked for one by
/// one (only those a hook uses cross the boundary); in a test, build them
/// with [`Vars::new`] and [`Vars::with`].
#[derive(Default)]
pub struct Vars<'a> {
    source: Source<'a>,
}

#[derive(Default)]
enum Source<'a> {
    #[default]
    None,
    Owned(Vec<(String, Typed)>),
    Host(&'a crate::bindings::scicat::ingestor::vars::Variables),
}

impl<'a> Vars<'a> {
    /// No variables.
    pub fn new() -> Self {
        Vars::default()
    }

    /// These variables and `name` = `value`.
    pub fn with(self, name: impl Into<String>, value: impl Into<Typed>) -> Self {
        let mut v = self.iter().collect::<Vec<_>>();
        v.push((name.into(), value.into()));
        Vars {
            source: Source::Owned(v),
        }
    }

    #[doc(hidden)]
    pub fn from_host(raw: &'a crate::bindings::scicat::ingestor::vars::Variables) -> Self {
        Vars {
            source: Source::Host(raw),
        }
    }

    /// The variable `name`, if it is defined.
    pub fn get(&self, name: &str) -> Option<Typed> {
        match &self.source {
            Source::None => None,
            Source::Owned(v) => v.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone()),
            Source::Host(raw) => raw.get(name).map(crate::convert::from_wit),
        }
    }

    /// The names of the defined variables, in definition order.
    pub fn names(&self) -> Vec<String> {
        match &self.source {
            Source::None => Vec::new(),
            Source::Owned(v) => v.iter().map(|(n, _)| n.clone()).collect(),
            Source::Host(raw) => raw.names(),
        }
    }

    /// All variables in definition order (each one asked for).
    pub fn iter(&self) -> impl Iterator<Item = (String, Typed)> + '_ {
        self.names()
            .into_iter()
            .filter_map(move |n| self.get(&n).map(|v| (n, v)))
    }

    pub fn len(&self) -> usize {
        self.names().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FromIterator<(String, Typed)> for Vars<'_> {
    fn from_iter<I: IntoIterator<Item = (String, Typed)>>(iter: I) -> Self {
        Vars {
            source: Source::Owned(iter.into_iter().collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_keep_types() {
        assert_eq!(Value::from_json(json!("a")), Value::Str("a".into()));
        assert_eq!(Value::from_json(json!(3)), Value::Int(3));
        assert_eq!(Value::from_json(json!(2.5)), Value::Float(2.5));
        assert_eq!(Value::from_json(json!([1, 2])), Value::Ints(vec![1, 2]));
        assert_eq!(
            Value::from_json(json!([1, 2.5])),
            Value::Floats(vec![1.0, 2.5])
        );
        assert_eq!(
            Value::from_json(json!({"a": 1})),
            Value::Json(json!({"a": 1}))
        );
        assert_eq!(Value::Floats(vec![1.0, 2.5]).to_json(), json!([1.0, 2.5]));
        assert_eq!(Typed::new(1.5).with_unit("K").unit, "K");
        assert_eq!(Value::Ints(vec![4]).as_f64(), Some(4.0));
        assert_eq!(Value::Int(4).to_f64s(), Some(vec![4.0]));
        assert_eq!(Value::from_json(json!(null)), Value::Null);
        assert_eq!(Value::from_json(json!(u64::MAX)), Value::Uint(u64::MAX));
        let vars = Vars::new().with("a", 1i64).with("b", "x");
        assert_eq!(vars.names(), ["a", "b"]);
        assert_eq!(vars.get("b").unwrap().as_str(), Some("x"));
    }
}

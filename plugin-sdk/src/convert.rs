//! Conversions between the SDK's values and the generated WIT types.

use crate::bindings::scicat::ingestor::types::{TypedValue, Value as W};
use crate::value::{Typed, Value};

pub(crate) fn from_wit(t: TypedValue) -> Typed {
    let value = match t.value {
        W::Null => Value::Null,
        W::Str(s) => Value::Str(s),
        W::Int(i) => Value::Int(i),
        W::Uint(u) => Value::Uint(u),
        W::Float(f) => Value::Float(f),
        W::Boolean(b) => Value::Bool(b),
        W::Bytes(v) => Value::Bytes(v),
        W::StrList(v) => Value::Strs(v),
        W::IntList(v) => Value::Ints(v),
        W::FloatList(v) => Value::Floats(v),
        W::BoolList(v) => Value::Bools(v),
        W::Json(s) => Value::Json(serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))),
    };
    Typed {
        value,
        unit: t.unit.unwrap_or_default(),
        shape: t.shape,
    }
}

pub(crate) fn to_wit(t: Typed) -> TypedValue {
    let value = match t.value {
        Value::Null => W::Null,
        Value::Str(s) => W::Str(s),
        Value::Int(i) => W::Int(i),
        Value::Uint(u) => W::Uint(u),
        Value::Float(f) => W::Float(f),
        Value::Bool(b) => W::Boolean(b),
        Value::Bytes(v) => W::Bytes(v),
        Value::Strs(v) => W::StrList(v),
        Value::Ints(v) => W::IntList(v),
        Value::Floats(v) => W::FloatList(v),
        Value::Bools(v) => W::BoolList(v),
        Value::Json(j) => W::Json(j.to_string()),
    };
    TypedValue {
        value,
        shape: t.shape,
        unit: Some(t.unit).filter(|u| !u.is_empty()),
    }
}

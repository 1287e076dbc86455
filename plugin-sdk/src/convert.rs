//! Conversions between the SDK's values and the generated WIT types.

use crate::bindings::scicat::ingestor::types::{TypedValue, Value as W};
use crate::value::{Typed, Value};

pub(crate) fn from_wit(t: TypedValue) -> Typed {
    let value = match t.value {
        W::Str(s) => Value::Str(s),
        W::Int(i) => Value::Int(i),
        W::Float(f) => Value::Float(f),
        W::Boolean(b) => Value::Bool(b),
        W::StrList(v) => Value::Strs(v),
        W::IntList(v) => Value::Ints(v),
        W::FloatList(v) => Value::Floats(v),
        W::BoolList(v) => Value::Bools(v),
        W::Json(s) => Value::Json(serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))),
    };
    Typed {
        value,
        unit: t.unit,
    }
}

pub(crate) fn to_wit(t: Typed) -> TypedValue {
    let value = match t.value {
        Value::Str(s) => W::Str(s),
        Value::Int(i) => W::Int(i),
        Value::Float(f) => W::Float(f),
        Value::Bool(b) => W::Boolean(b),
        Value::Strs(v) => W::StrList(v),
        Value::Ints(v) => W::IntList(v),
        Value::Floats(v) => W::FloatList(v),
        Value::Bools(v) => W::BoolList(v),
        Value::Json(j) => W::Json(j.to_string()),
    };
    TypedValue {
        value,
        unit: t.unit,
    }
}

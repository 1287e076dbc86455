//! Value types: the names a schema gives them and the conversion of a value
//! to each. To add one: its name in [`VALUE_TYPES`], its conversion in
//! [`convert`], a test below (and `plugin/convert.rs` in the host if plugins
//! can produce it).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::Value;

use crate::evaluate::error::EvalError;
use crate::evaluate::value::{kind_of, parse_list_text, text};

/// The value types a variable or field can have.
pub const VALUE_TYPES: &[&str] = &[
    "string",
    "string[]",
    "integer",
    "integer[]",
    "float",
    "float[]",
    "date",
    "dict",
    "list",
    "email",
    "link",
    "none",
];

/// Whether a value type holds a list (a path with `*` then reads every match).
pub(crate) fn is_list_type(t: &str) -> bool {
    t.ends_with("[]") || t == "list"
}

pub(crate) fn float_json(f: f64) -> Result<Value, String> {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{f} is not a finite number"))
}

fn to_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 9.2e18)
                    .map(|f| f.trunc() as i64)
            })
            .ok_or_else(|| format!("{n} does not fit an integer")),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("{s:?} is not an integer")),
        Value::Bool(b) => Ok(*b as i64),
        other => Err(format!(
            "{} cannot be converted to an integer",
            kind_of(other)
        )),
    }
}

fn to_float(v: &Value) -> Result<Value, String> {
    let f = match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{s:?} is not a number"))?,
        Value::Bool(b) => *b as i64 as f64,
        // Read from HDF5, null can only have been a NaN or an infinity.
        Value::Null => {
            return Err(
                "null (a NaN or infinite number in the file) cannot be converted to a float".into(),
            );
        }
        other => {
            return Err(format!("{} cannot be converted to a float", kind_of(other)));
        }
    };
    float_json(f)
}

fn list_items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        Value::String(s) => parse_list_text(&s).unwrap_or(vec![Value::String(s)]),
        other => vec![other],
    }
}

/// Parses ISO 8601 text (with or without offset; a time without offset is
/// UTC) or seconds since the epoch, and gives the same instant in UTC.
pub fn to_date(v: &Value) -> Result<String, String> {
    let dt: DateTime<Utc> = match v {
        Value::Number(n) => {
            let secs = n.as_f64().ok_or("not a number")?;
            let whole = secs.floor();
            let nanos = ((secs - whole) * 1e9).round() as u32;
            Utc.timestamp_opt(whole as i64, nanos.min(999_999_999))
                .single()
                .ok_or_else(|| format!("{secs} is not a valid time"))?
        }
        Value::String(s) => {
            parse_iso(s.trim()).ok_or_else(|| format!("{s:?} is not an ISO 8601 date"))?
        }
        other => {
            return Err(format!("{} cannot be converted to a date", kind_of(other)));
        }
    };
    Ok(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y%m%dT%H%M%S%.f%z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.with_timezone(&Utc));
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y%m%dT%H%M%S%.f",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc());
        }
    }
    for f in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
        }
    }
    None
}

/// Converts a value to a schema value type; a value that does not fit is an
/// error.
pub fn convert(v: Value, value_type: &str) -> Result<Value, EvalError> {
    convert_to(v, value_type).map_err(EvalError::Type)
}

fn convert_to(v: Value, value_type: &str) -> Result<Value, String> {
    match value_type {
        "string" | "email" | "link" => match v {
            Value::Null => Err("the value is null, not text".into()),
            other => Ok(Value::String(text(&other))),
        },
        "string[]" => match v {
            Value::Null => Err("the value is null, not a list".into()),
            other => Ok(Value::Array(
                list_items(other)
                    .iter()
                    .map(|i| Value::String(text(i)))
                    .collect(),
            )),
        },
        "integer" => to_int(&v).map(Value::from),
        "float" => to_float(&v),
        "integer[]" => list_items(v)
            .iter()
            .map(|i| to_int(i).map(Value::from))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        "float[]" => list_items(v)
            .iter()
            .map(to_float)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        "date" => to_date(&v).map(Value::String),
        "dict" => match v {
            Value::Object(_) => Ok(v),
            Value::String(s) => match serde_json::from_str::<Value>(&s) {
                Ok(o @ Value::Object(_)) => Ok(o),
                _ => Err(format!("{s:?} is not an object")),
            },
            other => Err(format!("{} is not an object", kind_of(&other))),
        },
        "list" => match v {
            Value::Array(_) => Ok(v),
            Value::String(s) => parse_list_text(&s)
                .map(Value::Array)
                .ok_or_else(|| format!("{s:?} is not a list")),
            other => Err(format!("{} is not a list", kind_of(&other))),
        },
        "none" => match v {
            Value::Null => Ok(Value::Null),
            other => Err(format!("value type none needs null, got {other}")),
        },
        "" => Err("the definition has no value type".into()),
        other => Err(format!("unknown value type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_value_type() {
        assert_eq!(convert(json!(31010), "string").unwrap(), json!("31010"));
        assert!(convert(Value::Null, "string").is_err());
        assert_eq!(convert(json!("a@b.c"), "email").unwrap(), json!("a@b.c"));
        assert_eq!(
            convert(json!("http://x"), "link").unwrap(),
            json!("http://x")
        );
        assert_eq!(
            convert(json!([1, "a"]), "string[]").unwrap(),
            json!(["1", "a"])
        );
        assert_eq!(convert(json!("YMIR"), "string[]").unwrap(), json!(["YMIR"]));
        assert_eq!(convert(json!("31010"), "integer").unwrap(), json!(31010));
        assert_eq!(convert(json!(3.7), "integer").unwrap(), json!(3));
        assert!(convert(json!("abc"), "integer").is_err());
        assert_eq!(
            convert(json!(1e19), "integer").unwrap_err().to_string(),
            "1e+19 does not fit an integer"
        );
        assert_eq!(convert(json!("[1, 2]"), "list").unwrap(), json!([1, 2]));
        assert_eq!(
            convert(json!("[1, 2]"), "integer[]").unwrap(),
            json!([1, 2])
        );
        assert_eq!(
            convert(json!(["1", 2]), "integer[]").unwrap(),
            json!([1, 2])
        );
        assert_eq!(convert(json!("2.5"), "float").unwrap(), json!(2.5));
        assert!(convert(json!("x"), "float").is_err());
        assert_eq!(
            convert(json!([1, "2.5"]), "float[]").unwrap(),
            json!([1.0, 2.5])
        );
        assert_eq!(
            convert(json!("2024-10-28T09:18:14.376Z"), "date").unwrap(),
            json!("2024-10-28T09:18:14.376Z")
        );
        assert_eq!(
            convert(json!("2024-10-28T10:18:14.376+01:00"), "date").unwrap(),
            json!("2024-10-28T09:18:14.376Z")
        );
        assert_eq!(
            convert(json!("2024-10-28 09:18:14"), "date").unwrap(),
            json!("2024-10-28T09:18:14Z")
        );
        assert_eq!(
            convert(json!(0), "date").unwrap(),
            json!("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            convert(json!(1730107094.5), "date").unwrap(),
            json!("2024-10-28T09:18:14.500Z")
        );
        assert!(convert(json!("yesterday"), "date").is_err());
        assert_eq!(convert(json!({"a": 1}), "dict").unwrap(), json!({"a": 1}));
        assert_eq!(
            convert(json!("{\"a\": 1}"), "dict").unwrap(),
            json!({"a": 1})
        );
        assert!(convert(json!([1]), "dict").is_err());
        assert_eq!(convert(json!([1]), "list").unwrap(), json!([1]));
        assert!(convert(json!({"a": 1}), "list").is_err());
        assert_eq!(convert(Value::Null, "none").unwrap(), Value::Null);
        assert!(convert(json!(1), "none").is_err());
        assert!(convert(json!(1), "complex").is_err());
    }
}

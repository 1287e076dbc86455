//! The operators of `VALUE` variables: their names in schema files and what
//! each does to a rendered value. To add one: a variant, its name(s) in
//! [`Operator::parse`], its effect in [`apply_operator`], a test below.

use std::fmt::Write as _;

use serde_json::Value;

use crate::evaluate::error::EvalError;
use crate::evaluate::types::float_json;
use crate::evaluate::value::{Var, kind_of, parse_list_text, text};

/// Operators of `VALUE` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    DoNothing,
    GetItem,
    StrReplace,
    ToUpper,
    ToLower,
    UrlSafe,
    JoinWithSpace,
    Dirname,
    Dirname2,
    Filename,
    Sum,
    /// `plugin:<name>`: the schema plugin's operator `<name>`.
    Plugin(String),
    /// Unknown: warned about at load, then behaves as `DO_NOTHING`.
    Unknown(String),
}

impl Operator {
    pub fn parse(s: Option<&str>) -> Operator {
        match s.unwrap_or("") {
            "" | "DO_NOTHING" => Operator::DoNothing,
            "getitem" => Operator::GetItem,
            "str-replace" | "str_replace" => Operator::StrReplace,
            "to-upper" | "to_upper" => Operator::ToUpper,
            "to-lower" | "to_lower" => Operator::ToLower,
            "urlsafe" => Operator::UrlSafe,
            "join_with_space" => Operator::JoinWithSpace,
            "dirname" => Operator::Dirname,
            "dirname-2" => Operator::Dirname2,
            "filename" => Operator::Filename,
            "sum" => Operator::Sum,
            other => match other.strip_prefix("plugin:") {
                Some(name) if !name.is_empty() => Operator::Plugin(name.to_string()),
                _ => Operator::Unknown(other.to_string()),
            },
        }
    }
}

/// `os.path.dirname` of a POSIX path.
pub fn dirname(p: &str) -> String {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    let head = &p[..i];
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

/// `os.path.basename` of a POSIX path.
pub fn basename(p: &str) -> String {
    p.rsplit('/').next().unwrap_or("").to_string()
}

/// Percent-encoding for a URL query, space as `+` (Python's `quote_plus`).
pub fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Applies a built-in operator to a rendered value.
pub fn apply_operator(
    op: &Operator,
    v: Var,
    field: Option<&Value>,
    pattern: Option<&str>,
    replacement: Option<&str>,
) -> Result<Var, EvalError> {
    apply(op, v, field, pattern, replacement).map_err(EvalError::Operator)
}

fn apply(
    op: &Operator,
    v: Var,
    field: Option<&Value>,
    pattern: Option<&str>,
    replacement: Option<&str>,
) -> Result<Var, String> {
    let s = || text(&v.value);
    let out = match op {
        Operator::DoNothing | Operator::Unknown(_) => return Ok(v),
        Operator::Plugin(name) => return Err(format!("operator plugin:{name} needs a plugin")),
        Operator::GetItem => {
            let field = field.ok_or("getitem needs a `field`")?;
            match &v.value {
                Value::Object(m) => {
                    let key = text(field);
                    m.get(&key).cloned().ok_or_else(|| {
                        let keys: Vec<&str> = m.keys().map(String::as_str).take(10).collect();
                        format!("getitem: no key {key:?} (keys: {})", keys.join(", "))
                    })?
                }
                Value::Array(items) => {
                    let idx = match field {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => s.trim().parse::<i64>().ok(),
                        _ => None,
                    }
                    .ok_or_else(|| format!("getitem: index {field} is not an integer"))?;
                    let len = items.len() as i64;
                    let i = if idx < 0 { idx + len } else { idx };
                    if i < 0 || i >= len {
                        return Err(format!(
                            "getitem: index {idx} is out of range for a list of {len}"
                        ));
                    }
                    items[i as usize].clone()
                }
                other => {
                    return Err(format!(
                        "getitem needs an object or a list, not {}",
                        kind_of(other)
                    ));
                }
            }
        }
        Operator::StrReplace => match (pattern, replacement) {
            (Some(p), Some(r)) => Value::String(s().replace(p, r)),
            _ => return Ok(v),
        },
        Operator::ToUpper => Value::String(s().to_uppercase()),
        Operator::ToLower => Value::String(s().to_lowercase()),
        Operator::UrlSafe => Value::String(quote_plus(&s())),
        Operator::JoinWithSpace => {
            let items = match &v.value {
                Value::Array(items) => items.clone(),
                Value::String(t) => {
                    parse_list_text(t).ok_or_else(|| "join_with_space needs a list".to_string())?
                }
                other => {
                    return Err(format!(
                        "join_with_space needs a list, not {}",
                        kind_of(other)
                    ));
                }
            };
            Value::String(items.iter().map(text).collect::<Vec<_>>().join(", "))
        }
        Operator::Dirname => Value::String(dirname(&s())),
        Operator::Dirname2 => Value::String(dirname(&dirname(&s()))),
        Operator::Filename => Value::String(basename(&s())),
        Operator::Sum => {
            let items = match &v.value {
                Value::Array(items) => items,
                Value::Number(_) => return Ok(v),
                other => {
                    return Err(format!(
                        "sum needs a list of numbers, not {}",
                        kind_of(other)
                    ));
                }
            };
            let mut int_sum: i64 = 0;
            let mut float_sum = 0.0;
            let mut all_int = true;
            for it in items {
                match it {
                    Value::Number(n) => {
                        if let (true, Some(i)) = (all_int, n.as_i64()) {
                            match int_sum.checked_add(i) {
                                Some(s) => int_sum = s,
                                None => all_int = false,
                            }
                        } else {
                            all_int = false;
                        }
                        float_sum += n.as_f64().unwrap_or(0.0);
                    }
                    other => return Err(format!("sum: {other} is not a number")),
                }
            }
            let unit = v.unit.clone();
            let value = if all_int {
                Value::from(int_sum)
            } else {
                float_json(float_sum)?
            };
            return Ok(Var::with_unit(value, unit));
        }
    };
    Ok(Var::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operators_parse_with_aliases() {
        assert_eq!(Operator::parse(None), Operator::DoNothing);
        assert_eq!(Operator::parse(Some("str_replace")), Operator::StrReplace);
        assert_eq!(Operator::parse(Some("str-replace")), Operator::StrReplace);
        assert_eq!(Operator::parse(Some("to_upper")), Operator::ToUpper);
        assert_eq!(Operator::parse(Some("to-lower")), Operator::ToLower);
        assert_eq!(
            Operator::parse(Some("plugin:stats")),
            Operator::Plugin("stats".into())
        );
        assert_eq!(
            Operator::parse(Some("frobnicate")),
            Operator::Unknown("frobnicate".into())
        );
        assert_eq!(
            Operator::parse(Some("plugin:")),
            Operator::Unknown("plugin:".into())
        );
    }

    fn op(o: Operator, v: Value) -> Result<Value, EvalError> {
        apply_operator(&o, Var::new(v), None, None, None).map(|v| v.value)
    }

    #[test]
    fn each_operator() {
        assert_eq!(op(Operator::DoNothing, json!("a")).unwrap(), json!("a"));
        assert_eq!(
            op(Operator::Unknown("x".into()), json!("a")).unwrap(),
            json!("a")
        );
        let gi = |v: Value, f: Value| {
            apply_operator(&Operator::GetItem, Var::new(v), Some(&f), None, None).map(|v| v.value)
        };
        assert_eq!(gi(json!({"id": "i1"}), json!("id")).unwrap(), json!("i1"));
        assert_eq!(gi(json!(["a", "b"]), json!(1)).unwrap(), json!("b"));
        assert_eq!(gi(json!(["a", "b"]), json!("0")).unwrap(), json!("a"));
        assert_eq!(gi(json!(["a", "b"]), json!(-1)).unwrap(), json!("b"));
        assert!(gi(json!([]), json!(0)).is_err());
        assert!(gi(json!({"a": 1}), json!("b")).is_err());
        let rep = apply_operator(
            &Operator::StrReplace,
            Var::new(json!("/ess/raw/x")),
            None,
            Some("ess/raw"),
            Some("ess/data"),
        )
        .unwrap();
        assert_eq!(rep.value, json!("/ess/data/x"));
        assert_eq!(op(Operator::ToUpper, json!("ymir")).unwrap(), json!("YMIR"));
        assert_eq!(op(Operator::ToLower, json!("YMIR")).unwrap(), json!("ymir"));
        assert_eq!(
            op(Operator::UrlSafe, json!("a b/c&d=é~")).unwrap(),
            json!("a+b%2Fc%26d%3D%C3%A9~")
        );
        assert_eq!(
            op(Operator::JoinWithSpace, json!(["A B", "C"])).unwrap(),
            json!("A B, C")
        );
        assert!(op(Operator::JoinWithSpace, json!(3)).is_err());
        // A list written as text.
        assert_eq!(
            op(Operator::JoinWithSpace, json!("[\"A\", 2]")).unwrap(),
            json!("A, 2")
        );
        assert_eq!(
            op(Operator::Dirname, json!("/a/b/c.h5")).unwrap(),
            json!("/a/b")
        );
        assert_eq!(
            op(Operator::Dirname2, json!("/a/b/c.h5")).unwrap(),
            json!("/a")
        );
        assert_eq!(
            op(Operator::Filename, json!("/a/b/c.h5")).unwrap(),
            json!("c.h5")
        );
        assert_eq!(op(Operator::Dirname, json!("c.h5")).unwrap(), json!(""));
        assert_eq!(op(Operator::Dirname, json!("/c.h5")).unwrap(), json!("/"));
        let s = apply_operator(
            &Operator::Sum,
            Var::with_unit(json!([1, 2, 3]), "counts"),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(s, Var::with_unit(json!(6), "counts"));
        assert_eq!(op(Operator::Sum, json!([1, 2.5])).unwrap(), json!(3.5));
        assert!(op(Operator::Sum, json!(["a"])).is_err());
    }
}

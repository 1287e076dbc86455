//! Conversions between the host's values (JSON with a unit, HDF5 arrays)
//! and the typed values of `scicat:ingestor@0.2.0`: shapes kept, null, u64
//! and bytes without JSON, an absent unit as `none`.

use serde_json::{Number, Value};

use super::scicat::ingestor::types::{TypedValue, Value as W};
use crate::evaluate::Var;
use crate::nexus::{Array, Data};

fn unit(u: Option<String>) -> Option<String> {
    u.filter(|u| !u.is_empty())
}

/// A value read from the file with its shape: a scalar dataset gives a
/// scalar, anything else a flat list.
pub fn array_to_wit(a: Array, u: Option<String>) -> TypedValue {
    let shape: Vec<u64> = a.shape.iter().map(|d| *d as u64).collect();
    let scalar = a.shape.is_empty() && a.data.len() == 1;
    let value = match (a.data, scalar) {
        (Data::Strings(mut v), true) => W::Str(v.remove(0)),
        (Data::Ints(v), true) => W::Int(v[0]),
        (Data::Floats(v), true) => W::Float(v[0]),
        (Data::Bools(v), true) => W::Boolean(v[0]),
        (d, false) => list(d),
    };
    TypedValue {
        value,
        shape,
        unit: unit(u),
    }
}

/// A slice: always a list, its shape the count asked for.
pub fn slice_to_wit(a: Array, count: Vec<u64>, u: Option<String>) -> TypedValue {
    TypedValue {
        value: list(a.data),
        shape: count,
        unit: unit(u),
    }
}

fn list(d: Data) -> W {
    match d {
        Data::Strings(v) => W::StrList(v),
        Data::Ints(v) => W::IntList(v),
        Data::Floats(v) => W::FloatList(v),
        Data::Bools(v) => W::BoolList(v),
    }
}

/// The typed form of a variable: scalars and null stay typed, non-empty
/// lists of one kind become typed lists, anything else is JSON.
pub fn var_to_wit(v: &Var) -> TypedValue {
    let value = match &v.value {
        Value::Null => W::Null,
        Value::String(s) => W::Str(s.clone()),
        Value::Bool(b) => W::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => W::Int(i),
            (None, Some(u), _) => W::Uint(u),
            (None, None, Some(f)) => W::Float(f),
            _ => W::Json(n.to_string()),
        },
        Value::Array(a) if !a.is_empty() => {
            if a.iter().all(Value::is_string) {
                W::StrList(
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect(),
                )
            } else if a.iter().all(Value::is_i64) {
                W::IntList(a.iter().filter_map(Value::as_i64).collect())
            } else if a.iter().all(|x| x.is_i64() || x.is_f64()) {
                W::FloatList(a.iter().filter_map(Value::as_f64).collect())
            } else if a.iter().all(Value::is_boolean) {
                W::BoolList(a.iter().filter_map(Value::as_bool).collect())
            } else {
                W::Json(v.value.to_string())
            }
        }
        other => W::Json(other.to_string()),
    };
    TypedValue {
        value,
        shape: Vec::new(),
        unit: unit(Some(v.unit.clone())),
    }
}

fn float(f: f64) -> Result<Value, String> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{f} is not a number JSON can hold"))
}

/// A flat list nested by `shape` (row-major), when the shape has more than
/// one dimension and fits the list; as it is otherwise.
fn nest(items: Vec<Value>, shape: &[u64]) -> Value {
    let fits = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)) == Some(items.len() as u64);
    if shape.len() < 2 || !fits || shape.contains(&0) {
        return Value::Array(items);
    }
    let inner: u64 = shape[1..].iter().product();
    let mut rest = items.into_iter();
    Value::Array(
        (0..shape[0])
            .map(|_| nest(rest.by_ref().take(inner as usize).collect(), &shape[1..]))
            .collect(),
    )
}

/// A plugin's value as a variable; an n-d list comes back nested by its
/// shape.
pub fn wit_to_var(t: TypedValue) -> Result<Var, String> {
    let shape = t.shape;
    let value = match t.value {
        W::Null => Value::Null,
        W::Str(s) => Value::String(s),
        W::Int(i) => Value::from(i),
        W::Uint(u) => Value::from(u),
        W::Float(f) => float(f)?,
        W::Boolean(b) => Value::Bool(b),
        W::Bytes(v) => nest(v.into_iter().map(Value::from).collect(), &shape),
        W::StrList(v) => nest(v.into_iter().map(Value::String).collect(), &shape),
        W::IntList(v) => nest(v.into_iter().map(Value::from).collect(), &shape),
        W::FloatList(v) => nest(v.into_iter().map(float).collect::<Result<_, _>>()?, &shape),
        W::BoolList(v) => nest(v.into_iter().map(Value::Bool).collect(), &shape),
        W::Json(s) => serde_json::from_str(&s)
            .map_err(|e| format!("returned json that does not parse: {e}"))?,
    };
    Ok(Var {
        value,
        unit: t.unit.unwrap_or_default(),
    })
}

/// Roughly how many bytes a value takes (to refuse huge return values).
pub fn size_of(t: &TypedValue) -> usize {
    t.unit.as_ref().map_or(0, String::len)
        + t.shape.len() * 8
        + match &t.value {
            W::Str(s) | W::Json(s) => s.len(),
            W::Null => 0,
            W::Int(_) | W::Uint(_) | W::Float(_) | W::Boolean(_) => 8,
            W::Bytes(v) => v.len(),
            W::StrList(v) => v.iter().map(|s| s.len() + 8).sum(),
            W::IntList(v) => v.len() * 8,
            W::FloatList(v) => v.len() * 8,
            W::BoolList(v) => v.len(),
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variables_round_trip_with_their_types() {
        for v in [
            json!("a"),
            json!(3),
            json!(u64::MAX),
            json!(2.5),
            json!(true),
            json!(null),
            json!(["a", "b"]),
            json!([1, 2]),
            json!([true]),
            json!({"a": [1, "b"]}),
            json!([]),
        ] {
            let back = wit_to_var(var_to_wit(&Var::with_unit(v.clone(), "K"))).unwrap();
            assert_eq!((back.value, back.unit.as_str()), (v, "K"));
        }
        assert!(matches!(var_to_wit(&Var::new(json!(null))).value, W::Null));
        assert!(matches!(
            var_to_wit(&Var::new(json!(u64::MAX))).value,
            W::Uint(_)
        ));
        assert_eq!(var_to_wit(&Var::new(json!(1))).unit, None);
    }

    #[test]
    fn shapes_are_kept() {
        let a = Array {
            data: Data::Ints(vec![1, 2, 3, 4, 5, 6]),
            shape: vec![2, 3],
        };
        let t = array_to_wit(a, Some("counts".into()));
        assert_eq!(t.shape, vec![2, 3]);
        let v = wit_to_var(t).unwrap();
        assert_eq!(v.value, json!([[1, 2, 3], [4, 5, 6]]));
        assert_eq!(v.unit, "counts");
        let bytes = TypedValue {
            value: W::Bytes(vec![1, 2]),
            shape: vec![],
            unit: None,
        };
        assert_eq!(wit_to_var(bytes).unwrap().value, json!([1, 2]));
    }
}

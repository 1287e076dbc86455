//! Conversions between the host's values (JSON with a unit, HDF5 arrays) and
//! the typed values of the plugin interface, and the size check on what a
//! plugin returns.

use serde_json::{Number, Value};

use super::{TypedValue, WitValue};
use crate::evaluate::Var;
use crate::nexus::{Array, Data};

/// A value read from the file: a scalar dataset gives a scalar, anything
/// else a flat list.
pub fn array_to_wit(a: Array, unit: String) -> TypedValue {
    let scalar = a.shape.is_empty() && a.data.len() == 1;
    let value = match (a.data, scalar) {
        (Data::Strings(mut v), true) => WitValue::Str(v.remove(0)),
        (Data::Ints(v), true) => WitValue::Int(v[0]),
        (Data::Floats(v), true) => WitValue::Float(v[0]),
        (Data::Bools(v), true) => WitValue::Boolean(v[0]),
        (Data::Strings(v), false) => WitValue::StrList(v),
        (Data::Ints(v), false) => WitValue::IntList(v),
        (Data::Floats(v), false) => WitValue::FloatList(v),
        (Data::Bools(v), false) => WitValue::BoolList(v),
    };
    TypedValue { value, unit }
}

/// A scalar as a list of one; lists unchanged.
pub fn as_list(v: WitValue) -> WitValue {
    match v {
        WitValue::Str(s) => WitValue::StrList(vec![s]),
        WitValue::Int(i) => WitValue::IntList(vec![i]),
        WitValue::Float(f) => WitValue::FloatList(vec![f]),
        WitValue::Boolean(b) => WitValue::BoolList(vec![b]),
        other => other,
    }
}

/// The typed form of a variable: strings, numbers and booleans stay typed,
/// non-empty lists of one kind become typed lists, anything else is JSON.
pub fn var_to_wit(v: &Var) -> TypedValue {
    let value = match &v.value {
        Value::String(s) => WitValue::Str(s.clone()),
        Value::Bool(b) => WitValue::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => WitValue::Int(i),
            (None, Some(f)) if !n.is_u64() => WitValue::Float(f),
            _ => WitValue::Json(n.to_string()),
        },
        Value::Array(a) if !a.is_empty() => {
            if a.iter().all(Value::is_string) {
                WitValue::StrList(
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect(),
                )
            } else if a.iter().all(Value::is_i64) {
                WitValue::IntList(a.iter().filter_map(Value::as_i64).collect())
            } else if a.iter().all(|x| x.is_i64() || x.is_f64()) {
                WitValue::FloatList(a.iter().filter_map(Value::as_f64).collect())
            } else if a.iter().all(Value::is_boolean) {
                WitValue::BoolList(a.iter().filter_map(Value::as_bool).collect())
            } else {
                WitValue::Json(v.value.to_string())
            }
        }
        other => WitValue::Json(other.to_string()),
    };
    TypedValue {
        value,
        unit: v.unit.clone(),
    }
}

fn float(f: f64) -> Result<Value, String> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{f} is not a number JSON can hold"))
}

/// A plugin's value as a variable.
pub fn wit_to_var(t: TypedValue) -> Result<Var, String> {
    let value = match t.value {
        WitValue::Str(s) => Value::String(s),
        WitValue::Int(i) => Value::from(i),
        WitValue::Float(f) => float(f)?,
        WitValue::Boolean(b) => Value::Bool(b),
        WitValue::StrList(v) => v.into_iter().map(Value::String).collect(),
        WitValue::IntList(v) => v.into_iter().map(Value::from).collect(),
        WitValue::FloatList(v) => v.into_iter().map(float).collect::<Result<_, _>>()?,
        WitValue::BoolList(v) => v.into_iter().map(Value::Bool).collect(),
        WitValue::Json(s) => serde_json::from_str(&s)
            .map_err(|e| format!("returned json that does not parse: {e}"))?,
    };
    Ok(Var {
        value,
        unit: t.unit,
    })
}

/// Roughly how many bytes a value takes (to refuse huge return values).
pub fn size_of(t: &TypedValue) -> usize {
    t.unit.len()
        + match &t.value {
            WitValue::Str(s) | WitValue::Json(s) => s.len(),
            WitValue::Int(_) | WitValue::Float(_) | WitValue::Boolean(_) => 8,
            WitValue::StrList(v) => v.iter().map(|s| s.len() + 8).sum(),
            WitValue::IntList(v) => v.len() * 8,
            WitValue::FloatList(v) => v.len() * 8,
            WitValue::BoolList(v) => v.len(),
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variables_round_trip_with_their_types() {
        // `Value` equality tells 3 from 3.0: integers must come back integers.
        for (v, expected) in [
            (json!("a"), json!("a")),
            (json!(3), json!(3)),
            (json!(-7), json!(-7)),
            (json!(2.5), json!(2.5)),
            (json!(10.05), json!(10.05)),
            (json!(2.0), json!(2.0)),
            (json!(true), json!(true)),
            (json!(["a", "b"]), json!(["a", "b"])),
            (json!([1, 2]), json!([1, 2])),
            // A list mixing integers and floats is a float list.
            (json!([1.5, 2]), json!([1.5, 2.0])),
            (json!([true]), json!([true])),
            (json!({"a": [1, "b"]}), json!({"a": [1, "b"]})),
            (json!(u64::MAX), json!(u64::MAX)),
            (json!(null), json!(null)),
            (json!([]), json!([])),
        ] {
            let var = Var::with_unit(v.clone(), "K");
            let back = wit_to_var(var_to_wit(&var)).unwrap();
            assert_eq!(back.unit, "K");
            assert_eq!(back.value, expected, "{v}");
            assert_eq!(back.value.is_i64(), expected.is_i64(), "{v}");
            assert_eq!(back.value.is_u64(), expected.is_u64(), "{v}");
        }
        assert!(matches!(
            var_to_wit(&Var::new(json!(3))).value,
            WitValue::Int(3)
        ));
        assert!(matches!(
            var_to_wit(&Var::new(json!([1, 2.5]))).value,
            WitValue::FloatList(_)
        ));
        assert!(
            wit_to_var(TypedValue {
                value: WitValue::Float(f64::NAN),
                unit: String::new()
            })
            .is_err()
        );
    }
}

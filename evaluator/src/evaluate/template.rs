//! Templates: `<name>` references to variables inside strings, lists and
//! objects (keys too), rendered against the variables known so far.

use serde_json::{Map, Value};

use crate::evaluate::error::EvalError;
use crate::evaluate::value::{Var, Vars, text};

/// The `<name>` references in `s`, leftmost first, as (whole match, name):
/// what the regex `<([^<>]+)>` finds, without compiling one (a Unicode
/// regex costs about 0.3 ms and 80 page faults in every process).
fn reference_spans(s: &str) -> impl Iterator<Item = (std::ops::Range<usize>, &str)> {
    let b = s.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while let Some(open) = b[at..].iter().position(|&c| c == b'<').map(|i| at + i) {
            match b[open + 1..].iter().position(|&c| c == b'<' || c == b'>') {
                Some(len) if b[open + 1 + len] == b'>' && len > 0 => {
                    at = open + len + 2;
                    return Some((open..at, &s[open + 1..open + 1 + len]));
                }
                Some(_) => at = open + 1,
                None => {
                    at = b.len();
                    return None;
                }
            }
        }
        None
    })
}

/// The variable names a template refers to (`<name>` in its strings, object
/// keys included), in order of appearance.
pub fn references(template: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |s: &str| {
        for (_, name) in reference_spans(s) {
            out.push(name.to_string());
        }
    };
    fn walk(v: &Value, push: &mut dyn FnMut(&str)) {
        match v {
            Value::String(s) => push(s),
            Value::Array(items) => items.iter().for_each(|i| walk(i, push)),
            Value::Object(m) => {
                for (k, v) in m {
                    push(k);
                    walk(v, push);
                }
            }
            _ => {}
        }
    }
    walk(template, &mut push);
    out
}

/// Renders a template: `<name>` references in strings, element by element in
/// lists and objects (keys too). A string that is exactly one reference gives
/// that variable with its type and unit.
pub fn render(template: &Value, vars: &Vars) -> Result<Var, EvalError> {
    match template {
        Value::String(s) => render_str(s, vars),
        Value::Array(items) => {
            let rendered = items
                .iter()
                .map(|i| render(i, vars))
                .collect::<Result<Vec<_>, _>>()?;
            let unit = common_unit(rendered.iter().map(|v| v.unit.as_str()));
            Ok(Var::with_unit(
                Value::Array(rendered.into_iter().map(|v| v.value).collect()),
                unit,
            ))
        }
        Value::Object(m) => {
            let mut out = Map::new();
            let mut units = Vec::new();
            for (k, v) in m {
                let key = text(&render_str(k, vars)?.value);
                let val = render(v, vars)?;
                units.push(val.unit);
                out.insert(key, val.value);
            }
            let unit = common_unit(units.iter().map(String::as_str));
            Ok(Var::with_unit(Value::Object(out), unit))
        }
        other => Ok(Var::new(other.clone())),
    }
}

fn common_unit<'a>(mut units: impl Iterator<Item = &'a str>) -> String {
    match units.next() {
        Some(first) if units.all(|u| u == first) => first.to_string(),
        _ => String::new(),
    }
}

fn render_str(s: &str, vars: &Vars) -> Result<Var, EvalError> {
    if let Some((whole, name)) = reference_spans(s).next()
        && whole.len() == s.len()
        && let Some(v) = vars.get(name)
    {
        return Ok(v.clone());
    }
    let mut out = String::with_capacity(s.len());
    let mut unresolved = Vec::new();
    let mut last = 0;
    for (whole, name) in reference_spans(s) {
        out.push_str(&s[last..whole.start]);
        match vars.get(name) {
            Some(v) => out.push_str(&text(&v.value)),
            None => unresolved.push(name.to_string()),
        }
        last = whole.end;
    }
    if !unresolved.is_empty() {
        return Err(EvalError::Unresolved {
            names: unresolved,
            template: s.to_string(),
        });
    }
    out.push_str(&s[last..]);
    Ok(Var::new(Value::String(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, Var)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn references_are_found_as_the_regex_finds_them() {
        let re = regex::Regex::new(r"<([^<>]+)>").unwrap();
        for s in [
            "",
            "<",
            ">",
            "<>",
            "<a>",
            "x<a>y<bc>z",
            "<<a>>",
            "<a<b>",
            "<a>>",
            "<>a>",
            "< >",
            "<a\nb>",
            "é<ü>ß",
            "<a><>",
            "<<>>",
            "a<b",
            "<a>b<",
            "<x><y><z>",
            "<<<a",
        ] {
            let ours: Vec<_> = reference_spans(s).collect();
            let theirs: Vec<_> = re
                .captures_iter(s)
                .map(|c| (c.get(0).unwrap().range(), c.get(1).unwrap().as_str()))
                .collect();
            assert_eq!(ours, theirs, "{s:?}");
        }
    }

    #[test]
    fn single_reference_keeps_type_and_unit() {
        let vs = vars(&[("t", Var::with_unit(json!([1.5, 2.5]), "K"))]);
        let r = render(&json!("<t>"), &vs).unwrap();
        assert_eq!(r, Var::with_unit(json!([1.5, 2.5]), "K"));
    }

    #[test]
    fn mixed_templates_interpolate_text_without_unit() {
        let vs = vars(&[
            ("a", Var::new(json!("Jane"))),
            ("n", Var::with_unit(json!(42), "s")),
            ("f", Var::new(json!(1.0))),
        ]);
        let r = render(&json!("<a> ran <n> for <f>"), &vs).unwrap();
        assert_eq!(r, Var::new(json!("Jane ran 42 for 1.0")));
    }

    #[test]
    fn unresolved_references_fail_but_data_with_brackets_does_not() {
        let vs = vars(&[("title", Var::new(json!("calibration <run> 2")))]);
        assert_eq!(
            render(&json!("<title>"), &vs).unwrap().value,
            json!("calibration <run> 2")
        );
        assert_eq!(
            render(&json!("T: <title>"), &vs).unwrap().value,
            json!("T: calibration <run> 2")
        );
        let e = render(&json!("x <missing> y"), &vs).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unresolved reference <missing> in \"x <missing> y\""
        );
        assert!(render(&json!("<missing>"), &vs).is_err());
        // Not a reference: no closing bracket.
        assert_eq!(render(&json!("a < b"), &vs).unwrap().value, json!("a < b"));
    }

    #[test]
    fn lists_and_objects_render_element_by_element() {
        let vs = vars(&[
            ("g", Var::new(json!("grp"))),
            ("k", Var::new(json!("key"))),
            ("x", Var::with_unit(json!(1), "m")),
            ("y", Var::with_unit(json!(2), "m")),
            ("z", Var::with_unit(json!(3), "s")),
        ]);
        assert_eq!(
            render(&json!(["<g>", "lit", 3]), &vs).unwrap().value,
            json!(["grp", "lit", 3])
        );
        assert_eq!(
            render(&json!({"<k>": "<g>-1"}), &vs).unwrap().value,
            json!({"key": "grp-1"})
        );
        assert_eq!(render(&json!(["<x>", "<y>"]), &vs).unwrap().unit, "m");
        assert_eq!(render(&json!(["<x>", "<z>"]), &vs).unwrap().unit, "");
    }

    #[test]
    fn references_in_order_keys_included() {
        assert_eq!(
            references(&json!({"<k>": ["<a> and <b>", {"x": "<c>"}], "n": 3})),
            ["k", "a", "b", "c"]
        );
        assert!(references(&json!(42)).is_empty());
    }
}

//! Selectors: which data files a schema applies to.

use serde_json::Value;

use crate::evaluate::value::kind_of;

/// Where a selector looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelOp {
    StartsWith,
    Contains,
}

/// Decides whether a schema applies to a data file.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// `"*"`: every file.
    All,
    /// `filename|datafile|nexusfile : starts_with|contains : operand`, all
    /// against the data file path as given.
    Path {
        op: SelOp,
        operand: String,
    },
    Or(Vec<Selector>),
    And(Vec<Selector>),
    /// `"plugin"`: the schema's plugin decides (its `select` hook).
    Plugin,
    /// A malformed selector: reported at load, never matches.
    Invalid(String),
}

impl Selector {
    /// Parses a selector; errors describe what is malformed.
    pub fn parse(v: &Value) -> Selector {
        match Self::try_parse(v) {
            Ok(s) => s,
            Err(e) => Selector::Invalid(e),
        }
    }

    fn try_parse(v: &Value) -> Result<Selector, String> {
        match v {
            Value::String(s) if s == "*" => Ok(Selector::All),
            Value::String(s) if s == "plugin" => Ok(Selector::Plugin),
            Value::String(s) => {
                let parts: Vec<&str> = s.splitn(3, ':').collect();
                if parts.len() != 3 {
                    return Err(format!(
                        "selector {s:?} must be SOURCE:OPERATOR:OPERAND (e.g. filename:contains:coda)"
                    ));
                }
                Self::path(parts[0], parts[1], parts[2])
            }
            Value::Object(map) => {
                if map.contains_key("or") || map.contains_key("and") {
                    let mut all = Vec::new();
                    for (k, sub) in map {
                        let items = match (k.as_str(), sub) {
                            ("or" | "and", Value::Array(items)) => items
                                .iter()
                                .map(Self::try_parse)
                                .collect::<Result<Vec<_>, _>>()?,
                            ("or" | "and", _) => {
                                return Err(format!("`{k}` must hold a list of selectors"));
                            }
                            _ => {
                                return Err(format!(
                                    "unknown key `{k}` next to `or`/`and` in a selector"
                                ));
                            }
                        };
                        all.push(if k == "or" {
                            Selector::Or(items)
                        } else {
                            Selector::And(items)
                        });
                    }
                    return Ok(if all.len() == 1 {
                        all.pop().unwrap()
                    } else {
                        Selector::And(all)
                    });
                }
                for k in map.keys() {
                    if !["source", "operator", "operand_2", "operand"].contains(&k.as_str()) {
                        return Err(format!("unknown key `{k}` in a selector"));
                    }
                }
                let get = |k: &str| map.get(k).and_then(|v| v.as_str());
                match (
                    get("source"),
                    get("operator"),
                    get("operand_2").or(get("operand")),
                ) {
                    (Some("plugin"), None, None) => Ok(Selector::Plugin),
                    (Some(s), Some(o), Some(a)) => Self::path(s, o, a),
                    _ => Err(
                        "an expanded selector needs string `source`, `operator` and `operand_2`"
                            .into(),
                    ),
                }
            }
            other => Err(format!(
                "a selector must be \"*\", a string SOURCE:OPERATOR:OPERAND or an object, not {}",
                kind_of(other)
            )),
        }
    }

    fn path(source: &str, op: &str, operand: &str) -> Result<Selector, String> {
        if !["filename", "datafile", "nexusfile"].contains(&source) {
            return Err(format!(
                "unknown selector source {source:?} (use filename, datafile or nexusfile)"
            ));
        }
        let op = match op {
            "starts_with" => SelOp::StartsWith,
            "contains" => SelOp::Contains,
            _ => {
                return Err(format!(
                    "unknown selector operator {op:?} (use starts_with or contains)"
                ));
            }
        };
        Ok(Selector::Path {
            op,
            operand: operand.to_string(),
        })
    }

    /// Whether the selector matches `data_file`; `plugin` answers `"plugin"`.
    pub fn matches(&self, data_file: &str, plugin: &mut dyn FnMut() -> bool) -> bool {
        match self {
            Selector::All => true,
            Selector::Path { op, operand } => match op {
                SelOp::StartsWith => data_file.starts_with(operand.as_str()),
                SelOp::Contains => data_file.contains(operand.as_str()),
            },
            Selector::Or(v) => v.iter().any(|s| s.matches(data_file, plugin)),
            Selector::And(v) => v.iter().all(|s| s.matches(data_file, plugin)),
            Selector::Plugin => plugin(),
            Selector::Invalid(_) => false,
        }
    }

    pub fn uses_plugin(&self) -> bool {
        match self {
            Selector::Plugin => true,
            Selector::Or(v) | Selector::And(v) => v.iter().any(Selector::uses_plugin),
            _ => false,
        }
    }
}

/// A short human form of a selector.
pub fn describe_selector(s: &Selector) -> String {
    match s {
        Selector::All => "*".into(),
        Selector::Path { op, operand } => format!(
            "{} {operand:?}",
            match op {
                SelOp::StartsWith => "starts_with",
                SelOp::Contains => "contains",
            }
        ),
        Selector::Or(v) => format!(
            "or({})",
            v.iter()
                .map(describe_selector)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Selector::And(v) => format!(
            "and({})",
            v.iter()
                .map(describe_selector)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Selector::Plugin => "plugin".into(),
        Selector::Invalid(_) => "malformed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: Value) -> Selector {
        Selector::parse(&v)
    }

    fn m(s: &Selector, f: &str) -> bool {
        s.matches(f, &mut || false)
    }

    #[test]
    fn condensed_selectors() {
        let s = sel(json!("filename:contains:coda"));
        assert!(m(&s, "/data/small-coda.hdf"));
        assert!(!m(&s, "/data/ymir.hdf"));
        for src in ["filename", "datafile", "nexusfile"] {
            let s = sel(json!(format!("{src}:starts_with:/ess/data")));
            assert!(m(&s, "/ess/data/x.hdf"), "{src}");
            assert!(!m(&s, "/other/ess/data/x.hdf"), "{src}");
        }
        // The operand may contain colons: split on the first two only.
        let s = sel(json!("filename:contains:a:b"));
        assert!(m(&s, "/x/a:b.hdf"));
        assert!(!m(&s, "/x/a.hdf"));
        assert!(m(&sel(json!("*")), "anything"));
    }

    #[test]
    fn expanded_and_combined_selectors() {
        let s = sel(json!({"source": "filename", "operator": "starts_with", "operand_2": "/ess"}));
        assert!(m(&s, "/ess/x"));
        assert!(!m(&s, "/tmp/x"));
        let or = sel(json!({"or": ["filename:contains:coda", "filename:contains:ymir"]}));
        assert!(m(&or, "/a/ymir.h5") && m(&or, "/a/coda.h5") && !m(&or, "/a/odin.h5"));
        let and = sel(
            json!({"and": ["filename:starts_with:/ess", {"or": ["filename:contains:x", "filename:contains:y"]}]}),
        );
        assert!(m(&and, "/ess/y.h5"));
        assert!(!m(&and, "/ess/z.h5"));
        assert!(!m(&and, "/tmp/y.h5"));
        let both = sel(json!({"or": ["filename:contains:a"], "and": ["filename:contains:b"]}));
        assert!(m(&both, "/ab"));
        assert!(!m(&both, "/a"));
        assert!(!m(&both, "/b"));
    }

    #[test]
    fn malformed_selectors_never_match() {
        for bad in [
            json!("filename:contains"),
            json!("path:contains:x"),
            json!("filename:ends_with:x"),
            json!({"source": "filename", "operator": "contains"}),
            json!({"or": "filename:contains:x"}),
            json!({"xor": []}),
            json!(42),
        ] {
            let s = sel(bad.clone());
            assert!(matches!(s, Selector::Invalid(_)), "{bad} gave {s:?}");
            assert!(!s.uses_plugin());
            assert!(!m(&s, "filename:contains:x"));
        }
    }

    #[test]
    fn malformed_selectors_say_why() {
        let why = |v: Value| match sel(v) {
            Selector::Invalid(reason) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            why(json!({"or": "filename:contains:x"})),
            "`or` must hold a list of selectors"
        );
        assert_eq!(
            why(json!({"or": [], "xor": []})),
            "unknown key `xor` next to `or`/`and` in a selector"
        );
    }

    #[test]
    fn the_plugin_selector() {
        for s in [
            sel(json!("plugin")),
            sel(json!({"source": "plugin"})),
            sel(json!({"and": ["filename:contains:x", "plugin"]})),
        ] {
            assert!(s.uses_plugin(), "{s:?}");
        }
        assert_eq!(sel(json!("plugin")), Selector::Plugin);
        assert!(!sel(json!("filename:contains:plugin")).uses_plugin());
        let s = sel(json!({"and": ["filename:contains:x", "plugin"]}));
        assert!(s.matches("/x", &mut || true));
        assert!(!s.matches("/x", &mut || false));
        assert_eq!(describe_selector(&s), "and(contains \"x\", plugin)");
    }
}

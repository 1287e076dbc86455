//! The two SciCat dataset APIs the ingestor speaks: v3 (what facilities run
//! today) and v4 (where the backend's maintainers want new clients). Holds
//! the configured choice, each version's dataset properties, required
//! fields and types, and the reshaping of a dataset between the v3 names
//! deployed schemas use and the v4 list fields, so the rest of the code
//! builds one body and sends it in the shape of the version a run talks.

use scicat_evaluator::vocabulary::FieldKind;
use serde_json::{Map, Value};

/// The API a run talks for datasets and origdatablocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiVersion {
    #[default]
    V3,
    V4,
}

/// `scicat.api_version`: a version, or `auto` (ask the server once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiChoice {
    Fixed(ApiVersion),
    Auto,
}

impl ApiChoice {
    /// Parses `v3`, `v4` or `auto` (any case); `None` for anything else.
    pub fn parse(s: &str) -> Option<ApiChoice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v3" | "3" | "" => Some(ApiChoice::Fixed(ApiVersion::V3)),
            "v4" | "4" => Some(ApiChoice::Fixed(ApiVersion::V4)),
            "auto" => Some(ApiChoice::Auto),
            _ => None,
        }
    }
}

/// The version used without a server to ask (dry runs without a host,
/// offline tests): `auto` then means v3, what facilities run.
pub fn offline_version(choice: &str) -> ApiVersion {
    match ApiChoice::parse(choice) {
        Some(ApiChoice::Fixed(v)) => v,
        _ => ApiVersion::V3,
    }
}

// The field lists are derived from the one table of dataset fields.
pub use scicat_evaluator::vocabulary::{RENAMED, V3_PROPERTIES, V4_PROPERTIES};
pub(crate) use scicat_evaluator::vocabulary::{V3_REQUIRED, V4_REQUIRED};

/// Whether `field` is a v4 list of strings that v3 does not have under that
/// name (the renamed four and the v4-only lists).
fn v4_string_list(field: &str) -> bool {
    scicat_evaluator::vocabulary::field(field).is_some_and(|f| {
        f.v4 == Some(field)
            && f.v3 != Some(field)
            && (f.v3.is_some() || f.kind == FieldKind::TextList)
    })
}

impl ApiVersion {
    pub fn name(self) -> &'static str {
        match self {
            ApiVersion::V3 => "v3",
            ApiVersion::V4 => "v4",
        }
    }

    pub fn properties(self) -> &'static [&'static str] {
        match self {
            ApiVersion::V3 => V3_PROPERTIES,
            ApiVersion::V4 => V4_PROPERTIES,
        }
    }

    pub fn required(self) -> &'static [&'static str] {
        match self {
            ApiVersion::V3 => V3_REQUIRED,
            ApiVersion::V4 => V4_REQUIRED,
        }
    }

    /// Endpoint names that have v4 routes; the others (proposals,
    /// instruments, samples, auth) stay on v3.
    pub fn serves(self, endpoint: &str) -> bool {
        self == ApiVersion::V4 && matches!(endpoint, "datasets" | "origdatablocks")
    }
}

/// A dataset field of either version (a schema may name both).
pub fn known_field(name: &str) -> bool {
    V3_PROPERTIES.contains(&name) || V4_PROPERTIES.contains(&name) || name == "investigator"
}

/// The name `field` has in `version` (the renamed four), else itself.
pub fn field_in(version: ApiVersion, field: &str) -> &str {
    for (v3, v4) in RENAMED {
        if field == *v3 || field == *v4 {
            return match version {
                ApiVersion::V3 => v3,
                ApiVersion::V4 => v4,
            };
        }
    }
    field
}

fn blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A value as a list of strings (numbers written as text; blanks dropped).
fn string_list(v: &Value) -> Vec<Value> {
    let one = |x: &Value| match x {
        Value::Number(n) => Some(Value::String(n.to_string())),
        x if blank(x) => None,
        x => Some(x.clone()),
    };
    match v {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// Reshapes a dataset written with v3 names, v4 names or both into the
/// names and types of `version`. What cannot be carried over goes to
/// `warnings`.
pub fn reshape(d: &mut Map<String, Value>, version: ApiVersion, warnings: &mut Vec<String>) {
    match version {
        ApiVersion::V4 => to_v4(d, warnings),
        ApiVersion::V3 => to_v3(d, warnings),
    }
}

fn to_v4(d: &mut Map<String, Value>, warnings: &mut Vec<String>) {
    let pairs = RENAMED
        .iter()
        .copied()
        .chain([("investigator", "principalInvestigators")]);
    for (v3, v4) in pairs {
        let old = d.remove(v3);
        let mut list = d.get(v4).map(string_list).unwrap_or_default();
        for x in old.as_ref().map(string_list).unwrap_or_default() {
            if !list.contains(&x) {
                list.push(x);
            }
        }
        if list.is_empty() {
            d.remove(v4);
        } else {
            d.insert(v4.into(), Value::Array(list));
        }
    }
    let lists: Vec<String> = d.keys().filter(|k| v4_string_list(k)).cloned().collect();
    for k in lists {
        if let Some(v) = d.get(&k)
            && !v.is_array()
        {
            let list = string_list(v);
            d.insert(k, Value::Array(list));
        }
    }
    if d.remove("version").is_some() {
        warnings.push("SciCat API v4 has no dataset field `version`: dropped".into());
    }
}

fn to_v3(d: &mut Map<String, Value>, warnings: &mut Vec<String>) {
    for (v3, v4) in RENAMED {
        let Some(new) = d.remove(*v4) else { continue };
        let list = string_list(&new);
        if d.get(*v3).is_some_and(|v| !blank(v)) {
            if !list.is_empty() {
                log::info!("the dataset sets both {v3} and {v4}: v3 takes {v3}");
            }
            continue;
        }
        let texts: Vec<String> = list.iter().map(crate::evaluate::text).collect();
        let value = match (*v3, texts.as_slice()) {
            (_, []) => continue,
            // One text field for several people: the backend's own
            // convention for owner lists is `;`-separated.
            ("principalInvestigator", all) => all.join("; "),
            (_, [first, rest @ ..]) => {
                if !rest.is_empty() {
                    warnings.push(format!(
                        "SciCat API v3 takes one {v3}: {first} is sent, not {} (use scicat.api_version v4 to send them all)",
                        rest.join(", ")
                    ));
                }
                first.clone()
            }
        };
        d.insert((*v3).into(), Value::String(value));
    }
}

/// What `version` would reject in the types of `d`'s version-specific
/// fields (the shared fields are checked by the caller).
pub fn type_problems(d: &Map<String, Value>, version: ApiVersion) -> Vec<String> {
    let mut p = Vec::new();
    for (k, v) in d {
        let bad = match (version, k.as_str()) {
            (ApiVersion::V3, k) if RENAMED.iter().any(|(v3, _)| *v3 == k) => {
                (!v.is_string()).then_some("must be a string")
            }
            (ApiVersion::V4, k) if v4_string_list(k) => {
                (!v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
                    .then_some("must be a list of strings")
            }
            _ => None,
        };
        if let Some(why) = bad {
            p.push(format!("{k} {why} (got {v})"));
        }
    }
    p
}

/// One backend validation error as text: class-validator error objects
/// (`property`, `constraints`, `children`) become `property: message`
/// lines; anything else its text.
pub fn error_text(item: &Value) -> String {
    let mut lines = Vec::new();
    constraint_lines(item, "", &mut lines);
    if lines.is_empty() {
        crate::evaluate::text(item)
    } else {
        lines.join("; ")
    }
}

fn prop_of(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn constraint_lines(item: &Value, prefix: &str, out: &mut Vec<String>) {
    let Some(o) = item.as_object() else { return };
    let Some(prop) = o.get("property").map(crate::evaluate::text) else {
        return;
    };
    let path = if prefix.is_empty() {
        prop
    } else {
        format!("{prefix}.{prop}")
    };
    if let Some(Value::Object(c)) = o.get("constraints") {
        for msg in c.values() {
            let msg = crate::evaluate::text(msg);
            // Most messages name their property already.
            if msg
                .split_whitespace()
                .any(|w| w == path || w == prop_of(&path))
            {
                out.push(msg);
            } else {
                out.push(format!("{path}: {msg}"));
            }
        }
    }
    if let Some(Value::Array(children)) = o.get("children") {
        for ch in children {
            constraint_lines(ch, &path, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn choices_parse() {
        assert_eq!(
            ApiChoice::parse("V4"),
            Some(ApiChoice::Fixed(ApiVersion::V4))
        );
        assert_eq!(ApiChoice::parse("auto"), Some(ApiChoice::Auto));
        assert_eq!(ApiChoice::parse("v5"), None);
        assert_eq!(offline_version("auto"), ApiVersion::V3);
    }

    #[test]
    fn v3_names_become_v4_lists() {
        let mut d = obj(json!({
            "principalInvestigator": "Jane Doe", "proposalId": 443503,
            "instrumentId": "inst-1", "sampleIds": ["s1"], "sampleId": "s2",
            "version": "3", "runNumber": "1",
        }));
        let mut w = Vec::new();
        reshape(&mut d, ApiVersion::V4, &mut w);
        assert_eq!(
            Value::Object(d),
            json!({
                "runNumber": "1",
                "principalInvestigators": ["Jane Doe"], "proposalIds": ["443503"],
                "sampleIds": ["s1", "s2"], "instrumentIds": ["inst-1"],
            })
        );
        assert!(w.iter().any(|w| w.contains("version")), "{w:?}");
    }

    #[test]
    fn v4_names_become_v3_strings() {
        let mut d = obj(json!({
            "principalInvestigators": ["A", "B"], "sampleIds": ["s1", "s2"],
            "proposalId": "p", "proposalIds": ["q"], "instrumentIds": [],
        }));
        let mut w = Vec::new();
        reshape(&mut d, ApiVersion::V3, &mut w);
        assert_eq!(
            Value::Object(d),
            json!({"proposalId": "p", "principalInvestigator": "A; B", "sampleId": "s1"})
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("s2"));
    }

    #[test]
    fn field_names_per_version() {
        assert_eq!(field_in(ApiVersion::V4, "proposalId"), "proposalIds");
        assert_eq!(field_in(ApiVersion::V3, "sampleIds"), "sampleId");
        assert_eq!(field_in(ApiVersion::V4, "owner"), "owner");
        assert!(known_field("instrumentIds") && known_field("instrumentId"));
        assert!(!known_field("colour"));
        assert!(ApiVersion::V4.serves("datasets") && !ApiVersion::V4.serves("samples"));
        assert!(!ApiVersion::V3.serves("datasets"));
    }

    #[test]
    fn types_per_version() {
        let d = obj(json!({"type": "custom", "proposalIds": "x", "sampleId": ["a"]}));
        assert_eq!(type_problems(&d, ApiVersion::V3).len(), 1);
        assert_eq!(type_problems(&d, ApiVersion::V4).len(), 1);
    }

    #[test]
    fn class_validator_errors_read_as_lines() {
        let e = json!({"property": "techniques", "children": [
            {"property": "0", "children": [], "constraints": {"isString": "name must be a string"}}
        ]});
        assert_eq!(error_text(&e), "techniques.0: name must be a string");
        assert_eq!(error_text(&json!("plain")), "plain");
        let e = json!({"property": "colour", "constraints": {"whitelistValidation": "property colour should not exist"}});
        assert_eq!(error_text(&e), "property colour should not exist");
    }
}

//! What a plugin's `transform` may change: descriptive fields and
//! scientific metadata, but not the fields that decide who owns and sees
//! the dataset or which record it lands in, unless the schema grants them
//! by name (`"plugin": {"may_set": [...]}`).

use serde_json::{Map, Value};

/// Most top-level fields a transformed dataset may have.
pub const MAX_FIELDS: usize = 200;

/// Longest top-level field name a transform may return, in bytes (the
/// names of unknown fields end up in a warning).
pub const MAX_NAME: usize = 100;

/// The first top-level field name in `d` that is not a plain name: longer
/// than [`MAX_NAME`] or holding control characters.
pub fn odd_name(d: &Map<String, Value>) -> Option<&str> {
    d.keys()
        .map(String::as_str)
        .find(|k| k.len() > MAX_NAME || k.chars().any(char::is_control))
}

/// Fields a transform may not add, change or remove without a grant.
pub use scicat_evaluator::vocabulary::PROTECTED;

/// The protected fields `after` differs from `before` in, that `granted`
/// does not list (empty: the transform keeps the policy).
pub fn violations(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    granted: &[String],
) -> Vec<&'static str> {
    PROTECTED
        .iter()
        .copied()
        .filter(|f| before.get(*f) != after.get(*f))
        .filter(|f| !granted.iter().any(|g| g == f))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn protected_fields_need_a_grant() {
        let before = map(json!({"pid": "a", "ownerGroup": "g", "datasetName": "x"}));
        let same = map(json!({"pid": "a", "ownerGroup": "g", "datasetName": "y", "keywords": []}));
        assert!(violations(&before, &same, &[]).is_empty());
        let bad = map(json!({"pid": "b", "datasetName": "x", "isPublished": true}));
        assert_eq!(
            violations(&before, &bad, &[]),
            ["pid", "ownerGroup", "isPublished"]
        );
        let granted = ["isPublished".to_string(), "ownerGroup".to_string()];
        assert_eq!(violations(&before, &bad, &granted), ["pid"]);
    }

    #[test]
    fn field_names_are_plain() {
        assert_eq!(
            odd_name(&map(json!({"datasetName": 1, "keywords": 2}))),
            None
        );
        assert_eq!(odd_name(&map(json!({"a\nb": 1}))), Some("a\nb"));
        let long = "x".repeat(MAX_NAME + 1);
        assert_eq!(
            odd_name(&map(json!({ long.clone(): 1 }))),
            Some(long.as_str())
        );
    }
}

//! Schema documents for the parser's and the set's unit tests.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Writes `v` as `dir/name`, pretty-printed as a schema author would.
pub fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

/// The smallest schema the parser accepts, with what the tests vary.
pub fn minimal(id: &str, name: &str, order: i64, selector: &str) -> Value {
    json!({"id": id, "name": name, "instrument": "x", "order": order, "selector": selector,
           "variables": {}, "schema": {}})
}

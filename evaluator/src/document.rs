//! JSON or YAML documents (schema files; the host's config and golden cases
//! are the same format): parsed into JSON values, a syntax error named by
//! line and column.

use std::fmt;
use std::path::Path;

use serde_json::Value;

/// A document that does not parse. `Display` is the reason without the file
/// name (callers name the file as their message needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    /// `JSON` or `YAML`: the syntax the document was read as.
    pub syntax: &'static str,
    /// 1-based line and column, when the parser knows them.
    pub position: Option<(usize, usize)>,
    /// The parser's reason, without its own position suffix.
    pub reason: String,
}

impl fmt::Display for DocumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(
                f,
                "invalid {} at line {line}, column {column}: {}",
                self.syntax, self.reason
            ),
            None => write!(f, "invalid {}: {}", self.syntax, self.reason),
        }
    }
}

impl std::error::Error for DocumentError {}

/// Parses a JSON or YAML document: YAML for `.yml`/`.yaml`, JSON for
/// `.json` or text that starts like JSON, YAML for anything else that is not
/// JSON.
pub fn parse_document(path: &Path, text: &str) -> Result<Value, DocumentError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "yml" || ext == "yaml" {
        return parse_yaml(text);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(e) if ext == "json" || text.trim_start().starts_with(['{', '[']) => {
            Err(DocumentError {
                syntax: "JSON",
                position: Some((e.line(), e.column())),
                reason: strip_position(&e.to_string()),
            })
        }
        Err(_) => parse_yaml(text),
    }
}

fn parse_yaml(text: &str) -> Result<Value, DocumentError> {
    serde_yaml_ng::from_str::<Value>(text).map_err(|e| match e.location() {
        Some(loc) => DocumentError {
            syntax: "YAML",
            position: Some((loc.line(), loc.column())),
            reason: strip_position(&e.to_string()),
        },
        None => DocumentError {
            syntax: "YAML",
            position: None,
            reason: e.to_string(),
        },
    })
}

/// serde's messages end with " at line X column Y"; [`DocumentError`]
/// prints the position itself.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e =
            parse_document(Path::new("s.imsc.json"), "{\"id\": \"x\",\n \"order\": }").unwrap_err();
        assert_eq!(e.syntax, "JSON");
        assert_eq!(e.position, Some((2, 11)));
        // serde's own " at line 2 column 11" is not repeated.
        assert_eq!(
            e.to_string(),
            "invalid JSON at line 2, column 11: expected value"
        );
        let e = parse_document(Path::new("s.yml"), "a: [1,\nb: 2").unwrap_err();
        assert_eq!(e.syntax, "YAML");
        assert!(e.position.is_some());
    }

    #[test]
    fn the_name_or_the_text_decides_the_syntax() {
        let yaml = "id: x\norder: 1\n";
        assert_eq!(
            parse_document(Path::new("s.yaml"), yaml).unwrap(),
            serde_json::json!({"id": "x", "order": 1})
        );
        // A YAML flow mapping is not JSON: a .yml name decides.
        assert_eq!(
            parse_document(Path::new("s.yml"), "{a: 1}").unwrap(),
            serde_json::json!({"a": 1})
        );
        // No telling extension and not JSON-looking: YAML.
        assert_eq!(
            parse_document(Path::new("s.imsc"), yaml).unwrap(),
            serde_json::json!({"id": "x", "order": 1})
        );
        // JSON-looking text that is broken stays a JSON error.
        assert_eq!(
            parse_document(Path::new("s.imsc"), "{\"a\": }")
                .unwrap_err()
                .syntax,
            "JSON"
        );
    }
}

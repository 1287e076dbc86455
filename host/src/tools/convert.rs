//! `schema convert`: rewrites a schema (or any config document) between JSON
//! and YAML, keeping the order of variables and fields.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// The format a file name says, if it says one.
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "yml" | "yaml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// Serialises a document in `format`.
pub fn to_text(doc: &Value, format: Format) -> Result<String> {
    Ok(match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(doc)?),
        Format::Yaml => serde_yaml_ng::to_string(doc)?,
    })
}

/// Converts `input` to `to` (default: the other format, or the one
/// `output`'s name says). Returns the text; writes it when `output` is given.
pub fn convert(input: &Path, to: Option<Format>, output: Option<&Path>) -> Result<String> {
    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    let doc = crate::config::parse_document(input, &text)?;
    let from = Format::of(input).unwrap_or(Format::Json);
    let to = to
        .or_else(|| output.and_then(Format::of))
        .unwrap_or(match from {
            Format::Json => Format::Yaml,
            Format::Yaml => Format::Json,
        });
    let out = to_text(&doc, to)?;
    // The converted document must read back as the same document.
    let probe = Path::new(match to {
        Format::Json => "converted.json",
        Format::Yaml => "converted.yaml",
    });
    if crate::config::parse_document(probe, &out)? != doc {
        bail!("the converted document does not read back the same: please report this");
    }
    if let Some(o) = output {
        std::fs::write(o, &out).with_context(|| format!("cannot write {}", o.display()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_variable_order() {
        let d = tempfile::tempdir().unwrap();
        let json = d.path().join("s.imsc.json");
        std::fs::write(
            &json,
            r#"{"id": "x", "order": 1, "selector": "*", "variables": {"zeta": {"source": "VALUE", "value": "1", "value_type": "string"}, "alpha": {"source": "VALUE", "value": "<zeta>", "value_type": "string"}}, "schema": {}}"#,
        )
        .unwrap();
        let yaml = d.path().join("s.imsc.yml");
        let y = convert(&json, None, Some(&yaml)).unwrap();
        assert!(y.find("zeta").unwrap() < y.find("alpha").unwrap(), "{y}");
        let back = d.path().join("back.imsc.json");
        convert(&yaml, None, Some(&back)).unwrap();
        let a: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let b: Value = serde_json::from_str(&std::fs::read_to_string(&back).unwrap()).unwrap();
        assert_eq!(a, b);
        let keys: Vec<&String> = b["variables"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["zeta", "alpha"]);
    }
}

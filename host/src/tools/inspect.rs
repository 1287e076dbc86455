//! `inspect`: lists a NeXus file's tree as the evaluator and plugins see it —
//! groups with their NeXus class, datasets with type, shape, units and a
//! short preview — so that a schema author knows which paths to write.

use std::path::Path;

use anyhow::{Result, anyhow};
use serde::Serialize;
use serde_json::Value;

use crate::nexus::{ElemType, Kind, NexusFile};

const PREVIEW: u64 = 6;
const TEXT_MAX: usize = 70;

/// One object of the file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Node {
    pub path: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nx_class: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub elem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<String>,
    /// The first values (all of them when `truncated` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
}

fn preview(f: &NexusFile, path: &str, shape: &[usize]) -> (Option<Value>, bool) {
    let total: usize = shape.iter().product();
    if !shape.is_empty() && total == 0 {
        return (Some(Value::Array(vec![])), false);
    }
    // Only the first few values of the last dimension are read.
    let res = if shape.is_empty() {
        f.read(path).map(|a| a.to_json(false))
    } else {
        let start = vec![0u64; shape.len()];
        let mut count = vec![1u64; shape.len()];
        let last = shape.len() - 1;
        count[last] = (shape[last] as u64).min(PREVIEW);
        f.read_slice(path, &start, &count).map(|a| a.to_flat_json())
    };
    match res {
        Ok(v) => {
            let shown = v.as_array().map_or(1, Vec::len);
            (Some(v), shown < total.max(1))
        }
        Err(_) => (None, false),
    }
}

/// Walks the tree under `start` (a group or a dataset).
pub fn inspect(file: &Path, start: &str) -> Result<Vec<Node>> {
    let f = NexusFile::open(file).map_err(|e| anyhow!(e))?;
    let mut out = Vec::new();
    walk(&f, start, &mut out).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    Ok(out)
}

fn walk(f: &NexusFile, path: &str, out: &mut Vec<Node>) -> Result<(), String> {
    let kind = f.kind(path)?;
    let attributes = f.attribute_names(path).unwrap_or_default();
    let nx_class = attributes
        .iter()
        .any(|a| a == "NX_class")
        .then(|| f.read_attribute(path, "NX_class").ok())
        .flatten()
        .map(|a| crate::evaluate::text(&a.to_json(false)));
    let shown = if path.is_empty() { "/" } else { path };
    match kind {
        Kind::Group => {
            out.push(Node {
                path: shown.to_string(),
                kind: "group",
                nx_class,
                elem: None,
                shape: None,
                units: None,
                preview: None,
                truncated: false,
                attributes: attributes.into_iter().filter(|a| a != "NX_class").collect(),
            });
            let base = path.trim_end_matches('/');
            for (name, _) in f.children(shown)? {
                walk(f, &format!("{base}/{name}"), out)?;
            }
        }
        Kind::Dataset => {
            let info = f.info(path)?;
            let (preview, truncated) = if matches!(info.elem, ElemType::Other(_)) {
                (None, false)
            } else {
                preview(f, path, &info.shape)
            };
            out.push(Node {
                path: shown.to_string(),
                kind: "dataset",
                nx_class,
                elem: Some(info.elem.name().to_string()),
                units: f.units(path),
                shape: Some(info.shape),
                preview,
                truncated,
                attributes: attributes.into_iter().filter(|a| a != "units").collect(),
            });
        }
        Kind::Other => out.push(Node {
            path: shown.to_string(),
            kind: "other",
            nx_class: None,
            elem: None,
            shape: None,
            units: None,
            preview: None,
            truncated: false,
            attributes: Vec::new(),
        }),
    }
    Ok(())
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if s.chars().count() > TEXT_MAX {
        let cut: String = s.chars().take(TEXT_MAX - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// The human form: one line per object, full paths first.
pub fn render_text(nodes: &[Node]) -> String {
    let width = nodes
        .iter()
        .map(|n| n.path.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    let mut out = String::new();
    for n in nodes {
        let pad = width.saturating_sub(n.path.chars().count());
        let mut line = format!("{}{}  ", n.path, " ".repeat(pad));
        match n.kind {
            "group" => {
                line.push_str("group");
                if let Some(c) = &n.nx_class {
                    line.push_str(&format!(" ({c})"));
                }
            }
            "dataset" => {
                let shape = n.shape.as_deref().unwrap_or(&[]);
                let dims = if shape.is_empty() {
                    "scalar".to_string()
                } else {
                    format!(
                        "[{}]",
                        shape
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join("×")
                    )
                };
                line.push_str(&format!("{} {dims}", n.elem.as_deref().unwrap_or("?")));
                if let Some(u) = &n.units {
                    line.push_str(&format!("  [{u}]"));
                }
                if let Some(p) = &n.preview {
                    let text = match p {
                        Value::Array(items) => {
                            let mut parts: Vec<String> = items.iter().map(short).collect();
                            if n.truncated {
                                parts.push("…".into());
                            }
                            format!("[{}]", parts.join(", "))
                        }
                        other => short(other),
                    };
                    line.push_str(&format!("  {text}"));
                }
            }
            _ => line.push_str("(link or unsupported object)"),
        }
        if !n.attributes.is_empty() {
            line.push_str(&format!("  @{}", n.attributes.join(" @")));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

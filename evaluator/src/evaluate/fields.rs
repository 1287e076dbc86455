//! The `schema` section rendered: `high_level` entries become dataset
//! fields, `scientific_metadata` entries become scientific metadata with
//! value, unit, human name and type.

use serde_json::{Map, Value, json};

use crate::evaluate::failure::{Failure, explain};
use crate::evaluate::template::render;
use crate::evaluate::types::convert;
use crate::evaluate::value::{Var, Vars};
use crate::schema::Schema;

/// The dataset fields a schema's `schema` section produces.
#[derive(Debug, Default)]
pub struct Fields {
    /// `high_level` entries: top-level dataset fields by machine name.
    pub high_level: Map<String, Value>,
    /// `scientific_metadata` entries by machine name.
    pub scientific: Map<String, Value>,
    pub failures: Vec<Failure>,
    /// Labels of entries with an unknown field type (ignored).
    pub ignored: Vec<String>,
}

/// Renders every entry of the schema's `schema` section. `failed` are the
/// variables that failed (to explain fields that use them).
pub fn build_fields(schema: &Schema, vars: &Vars, failed: &[Failure]) -> Fields {
    let mut out = Fields::default();
    for (label, f) in &schema.fields {
        let hl = match f.field_type.as_str() {
            "high_level" => true,
            "scientific_metadata" => false,
            _ => {
                out.ignored.push(label.clone());
                continue;
            }
        };
        let rendered = render(&f.value, vars)
            .and_then(|v| convert(v.value, &f.value_type).map(|c| Var::with_unit(c, v.unit)));
        match rendered {
            Err(reason) => out.failures.push(Failure {
                name: f.machine_name.clone(),
                definition: f.value.clone(),
                reason: explain(reason, failed),
            }),
            Ok(v) if hl => {
                out.high_level.insert(f.machine_name.clone(), v.value);
            }
            Ok(v) => {
                let unit = match &f.unit {
                    Some(u) if !u.is_empty() => u.clone(),
                    _ => v.unit,
                };
                out.scientific.insert(
                    f.machine_name.clone(),
                    json!({
                        "value": v.value,
                        "unit": unit,
                        "human_name": f.human_name.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| f.machine_name.clone()),
                        "type": f.value_type,
                    }),
                );
            }
        }
    }
    out
}

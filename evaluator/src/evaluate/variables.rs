//! Variables: the built-ins, then a schema's definitions in file order, each
//! from its source (NXS, VALUE, SC, PLUGIN), converted to its value type.
//! A failing variable is collected with its reason, never fatal.

use chrono::{SecondsFormat, Utc};
use serde_json::Value;

use crate::data::DataFile;
use crate::evaluate::error::EvalError;
use crate::evaluate::failure::{Failure, explain};
use crate::evaluate::operators::{Operator, apply_operator};
use crate::evaluate::template::render;
use crate::evaluate::types::{convert, is_list_type};
use crate::evaluate::value::{Var, Vars, kind_of};
use crate::lookup::{PluginHooks, ScFetch};
use crate::schema::{Schema, Source, VariableDef};

/// Everything variables may read.
pub struct Env<'a> {
    pub nexus: &'a dyn DataFile,
    pub scicat: &'a dyn ScFetch,
    pub plugin: Option<&'a mut dyn PluginHooks>,
}

/// Names of the built-in variables.
pub const BUILTINS: &[&str] = &[
    "ingestor_run_id",
    "data_file_path",
    "data_file_name",
    "now",
    "ingestor_files_directory",
    "ingestor_metadata_schema_id",
];

/// The built-in variables that exist before the first definition.
pub fn builtins(data_file: &str, ingestor_dir: &str, schema_id: &str) -> Vars {
    let name = std::path::Path::new(data_file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut v = Vars::new();
    let mut put = |k: &str, s: String| {
        v.insert(k.to_string(), Var::new(Value::String(s)));
    };
    put("ingestor_run_id", uuid::Uuid::new_v4().to_string());
    put("data_file_path", data_file.to_string());
    put("data_file_name", name);
    put(
        "now",
        Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
    );
    put("ingestor_files_directory", ingestor_dir.to_string());
    put("ingestor_metadata_schema_id", schema_id.to_string());
    v
}

/// Evaluates the schema's variables into `vars`, in file order. Returns the
/// failures (those variables stay undefined).
pub fn evaluate_variables(schema: &Schema, vars: &mut Vars, env: &mut Env) -> Vec<Failure> {
    let mut failures: Vec<Failure> = Vec::new();
    for (name, def) in &schema.variables {
        match evaluate_one(def, vars, env) {
            Ok(v) => {
                vars.insert(name.clone(), v);
            }
            Err(reason) => {
                let reason = explain(reason, &failures);
                failures.push(Failure {
                    name: name.clone(),
                    definition: def.raw.clone(),
                    reason,
                })
            }
        }
    }
    failures
}

/// Values read from the data file that are sent, but not as they are in the
/// file: a NaN or infinite float becomes JSON `null`, and bytes that are not
/// UTF-8 in a string become U+FFFD. Reported so nobody trusts them blindly.
pub fn read_problems(schema: &Schema, vars: &Vars) -> Vec<Failure> {
    let mut out = Vec::new();
    for (name, def) in &schema.variables {
        if !matches!(def.source, Source::Nxs { .. }) {
            continue;
        }
        let Some(var) = vars.get(name) else { continue };
        let (mut nulls, mut replaced) = (0usize, 0usize);
        count_problems(&var.value, &mut nulls, &mut replaced);
        let mut reasons = Vec::new();
        if nulls > 0 {
            reasons.push(format!(
                "{nulls} NaN or infinite number{} sent as null",
                if nulls == 1 { "" } else { "s" }
            ));
        }
        if replaced > 0 {
            reasons.push(format!(
                "{replaced} string{} with bytes that are not UTF-8, sent with U+FFFD in their place",
                if replaced == 1 { "" } else { "s" }
            ));
        }
        if !reasons.is_empty() {
            out.push(Failure {
                name: name.clone(),
                definition: def.raw.clone(),
                reason: reasons.join(", "),
            });
        }
    }
    out
}

/// In a value read from HDF5, `null` can only come from a non-finite float.
fn count_problems(v: &Value, nulls: &mut usize, replaced: &mut usize) {
    match v {
        Value::Null => *nulls += 1,
        Value::String(s) if s.contains('\u{fffd}') => *replaced += 1,
        Value::Array(items) => items
            .iter()
            .for_each(|i| count_problems(i, nulls, replaced)),
        _ => {}
    }
}

fn evaluate_one(def: &VariableDef, vars: &Vars, env: &mut Env) -> Result<Var, EvalError> {
    let fallback_unit = def.unit.clone().unwrap_or_default();
    let var = match &def.source {
        Source::Invalid(reason) => return Err(EvalError::Invalid(reason.clone())),
        Source::Nxs { path } => read_nxs(env.nexus, path, &def.value_type, &fallback_unit)?,
        Source::Value {
            value,
            operator,
            field,
            pattern,
            replacement,
        } => {
            let rendered = render(value, vars)?;
            let mut out = match operator {
                Operator::Plugin(op) => match env.plugin.as_deref_mut() {
                    Some(p) => p.operator(op, &rendered, vars).map_err(EvalError::Plugin)?,
                    None => return Err(EvalError::OperatorNeedsPlugin(op.clone())),
                },
                _ => apply_operator(
                    operator,
                    rendered,
                    field.as_ref(),
                    pattern.as_deref(),
                    replacement.as_deref(),
                )?,
            };
            if out.unit.is_empty() {
                out.unit = fallback_unit;
            }
            out
        }
        Source::Sc { url, field } => {
            let url = match render(&Value::String(url.clone()), vars)?.value {
                Value::String(s) => s,
                other => return Err(EvalError::UrlNotText(other)),
            };
            let reply = env.scicat.get_json(&url).map_err(EvalError::Lookup)?;
            let value = if field.is_empty() {
                reply
            } else {
                match reply {
                    Value::Object(mut m) => {
                        m.remove(field.as_str()).ok_or_else(|| EvalError::NoField {
                            url: url.clone(),
                            field: field.clone(),
                        })?
                    }
                    other => {
                        return Err(EvalError::NotAnObject {
                            url,
                            kind: kind_of(&other),
                            field: field.clone(),
                        });
                    }
                }
            };
            Var::with_unit(value, fallback_unit)
        }
        Source::Plugin { name, args } => match env.plugin.as_deref_mut() {
            Some(p) => {
                let mut v = p.variable(name, args, vars).map_err(EvalError::Plugin)?;
                if v.unit.is_empty() {
                    v.unit = fallback_unit;
                }
                v
            }
            None => return Err(EvalError::VariableNeedsPlugin),
        },
    };
    Ok(Var {
        value: convert(var.value, &def.value_type)?,
        unit: var.unit,
    })
}

fn read_nxs(
    nx: &dyn DataFile,
    path: &str,
    value_type: &str,
    def_unit: &str,
) -> Result<Var, EvalError> {
    let list = is_list_type(value_type);
    if path.contains('*') {
        if list {
            let values = nx
                .read_each(path)?
                .iter()
                .map(|a| a.to_json(false))
                .collect();
            return Ok(Var::with_unit(Value::Array(values), def_unit));
        }
        let paths = nx.expand(path)?;
        if paths.len() != 1 {
            return Err(EvalError::Ambiguous {
                path: path.to_string(),
                count: paths.len(),
            });
        }
        return read_nxs(nx, &paths[0], value_type, def_unit);
    }
    let array = nx.read(path)?;
    if array.data.is_empty() && !list {
        return Err(EvalError::Empty(path.to_string()));
    }
    let unit = nx.units(path).unwrap_or_else(|| def_unit.to_string());
    Ok(Var::with_unit(array.to_json(list), unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::types::to_date;
    use serde_json::json;

    #[test]
    fn builtins_exist() {
        let b = builtins("/ess/raw/x/file.hdf", "../ingestor", "sid");
        assert_eq!(b["data_file_name"].value, json!("file.hdf"));
        assert_eq!(b["data_file_path"].value, json!("/ess/raw/x/file.hdf"));
        assert_eq!(b["ingestor_files_directory"].value, json!("../ingestor"));
        assert_eq!(b["ingestor_metadata_schema_id"].value, json!("sid"));
        assert!(uuid::Uuid::parse_str(b["ingestor_run_id"].value.as_str().unwrap()).is_ok());
        assert!(to_date(&b["now"].value).is_ok());
    }
}

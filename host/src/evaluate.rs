//! The built-in schema evaluator: computes a schema's variables in file order
//! (sources NXS, VALUE, SC, PLUGIN), renders templates, applies operators and
//! value types, and renders the fields of the `schema` section. A failing
//! variable or field is collected with its reason, never fatal.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::nexus::NexusFile;
use crate::schema::{Operator, Schema, Source, VariableDef};

/// A variable's value with its unit (empty when it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub value: Value,
    pub unit: String,
}

impl Var {
    pub fn new(value: Value) -> Self {
        Var {
            value,
            unit: String::new(),
        }
    }
    pub fn with_unit(value: Value, unit: impl Into<String>) -> Self {
        Var {
            value,
            unit: unit.into(),
        }
    }
}

/// Variables by name, in the order they were defined.
pub type Vars = IndexMap<String, Var>;

/// GETs a JSON document from SciCat for `SC` variables (the url as rendered
/// from the schema; the implementation resolves it against the host).
pub trait ScFetch {
    fn get_json(&self, url: &str) -> Result<Value, String>;
    /// Why SciCat itself failed a read (unreachable, 5xx, the token
    /// refused), once a request found that out: the run stops on it instead
    /// of blaming the schema for the fields it could not fill.
    fn failure(&self) -> Option<String> {
        None
    }
    /// The dataset API this server was found to speak; `None` without a
    /// server (the config's choice then decides).
    fn api_version(&self) -> Option<crate::api::ApiVersion> {
        None
    }
}

/// The parts of a schema plugin the evaluator calls.
pub trait PluginHooks {
    /// `"source": "PLUGIN"`: a value for variable `name`.
    fn variable(&mut self, name: &str, args: &Value, vars: &Vars) -> Result<Var, String>;
    /// `"operator": "plugin:<name>"`: transforms a rendered value.
    fn operator(&mut self, name: &str, value: &Var, vars: &Vars) -> Result<Var, String>;
}

/// Something that did not evaluate, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Variable name, or the field's machine name.
    pub name: String,
    /// The definition as written (variables) or the template (fields).
    pub definition: Value,
    pub reason: String,
}

/// Everything variables may read.
pub struct Env<'a> {
    pub nexus: &'a NexusFile,
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

/// Turns "unresolved reference <x>" into "uses x, which failed" when `x` is
/// a variable that failed before: the root cause is then easy to find.
pub fn explain(reason: String, failed: &[Failure]) -> String {
    if !reason.starts_with("unresolved reference") {
        return reason;
    }
    let names: Vec<String> = reference_re()
        .captures_iter(reason.split(" in \"").next().unwrap_or(""))
        .map(|c| c[1].to_string())
        .collect();
    let failed_names: Vec<&str> = names
        .iter()
        .filter(|n| failed.iter().any(|f| &f.name == *n))
        .map(String::as_str)
        .collect();
    if failed_names.is_empty() || failed_names.len() != names.len() {
        return reason;
    }
    format!("uses {}, which failed", failed_names.join(" and "))
}

fn is_list_type(t: &str) -> bool {
    t.ends_with("[]") || t == "list"
}

fn evaluate_one(def: &VariableDef, vars: &Vars, env: &mut Env) -> Result<Var, String> {
    let fallback_unit = def.unit.clone().unwrap_or_default();
    let var = match &def.source {
        Source::Invalid(reason) => return Err(reason.clone()),
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
                    Some(p) => p.operator(op, &rendered, vars)?,
                    None => return Err(format!("operator plugin:{op} needs a schema plugin")),
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
                other => return Err(format!("the url renders to {other}, not text")),
            };
            let reply = env.scicat.get_json(&url)?;
            let value = if field.is_empty() {
                reply
            } else {
                match reply {
                    Value::Object(mut m) => m
                        .remove(field.as_str())
                        .ok_or_else(|| format!("the reply from {url} has no field `{field}`"))?,
                    other => {
                        return Err(format!(
                            "the reply from {url} is {}, not an object with field `{field}`",
                            crate::config::kind_of(&other)
                        ));
                    }
                }
            };
            Var::with_unit(value, fallback_unit)
        }
        Source::Plugin { name, args } => match env.plugin.as_deref_mut() {
            Some(p) => {
                let mut v = p.variable(name, args, vars)?;
                if v.unit.is_empty() {
                    v.unit = fallback_unit;
                }
                v
            }
            None => return Err("a PLUGIN variable needs a schema plugin".into()),
        },
    };
    Ok(Var {
        value: convert(var.value, &def.value_type)?,
        unit: var.unit,
    })
}

fn read_nxs(nx: &NexusFile, path: &str, value_type: &str, def_unit: &str) -> Result<Var, String> {
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
            return Err(format!(
                "{path} matches {} objects; use a list value type (e.g. string[]) to get them all",
                paths.len()
            ));
        }
        return read_nxs(nx, &paths[0], value_type, def_unit);
    }
    let array = nx.read(path)?;
    if array.data.is_empty() && !list {
        return Err(format!(
            "{path} is empty (no value to read; a list value type gives [])"
        ));
    }
    let unit = nx.units(path).unwrap_or_else(|| def_unit.to_string());
    Ok(Var::with_unit(array.to_json(list), unit))
}

/// The text form of a value inside a larger string: strings as they are,
/// everything else as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn reference_re() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"<([^<>]+)>").unwrap())
}

/// The variable names a template refers to (`<name>` in its strings, object
/// keys included), in order of appearance.
pub fn references(template: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |s: &str| {
        for c in reference_re().captures_iter(s) {
            out.push(c[1].to_string());
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
pub fn render(template: &Value, vars: &Vars) -> Result<Var, String> {
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

fn render_str(s: &str, vars: &Vars) -> Result<Var, String> {
    let re = reference_re();
    if let Some(c) = re.captures(s)
        && c.get(0).unwrap().as_str().len() == s.len()
        && let Some(v) = vars.get(&c[1])
    {
        return Ok(v.clone());
    }
    let mut out = String::with_capacity(s.len());
    let mut unresolved = Vec::new();
    let mut last = 0;
    for c in re.captures_iter(s) {
        let m = c.get(0).unwrap();
        out.push_str(&s[last..m.start()]);
        match vars.get(&c[1]) {
            Some(v) => out.push_str(&text(&v.value)),
            None => unresolved.push(m.as_str().to_string()),
        }
        last = m.end();
    }
    if !unresolved.is_empty() {
        return Err(format!(
            "unresolved reference{} {} in {s:?}",
            if unresolved.len() > 1 { "s" } else { "" },
            unresolved.join(", ")
        ));
    }
    out.push_str(&s[last..]);
    Ok(Var::new(Value::String(out)))
}

/// `os.path.dirname` of a POSIX path.
pub fn dirname(p: &str) -> String {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    let head = &p[..i];
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head.trim_end_matches('/').to_string()
    } else {
        head.to_string()
    }
}

/// `os.path.basename` of a POSIX path.
pub fn basename(p: &str) -> String {
    p.rsplit('/').next().unwrap_or("").to_string()
}

/// Percent-encoding for a URL query, space as `+` (Python's `quote_plus`).
pub fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn parse_list_text(s: &str) -> Option<Vec<Value>> {
    match serde_json::from_str::<Value>(s.trim()) {
        Ok(Value::Array(v)) => Some(v),
        _ => None,
    }
}

/// Applies a built-in operator to a rendered value.
pub fn apply_operator(
    op: &Operator,
    v: Var,
    field: Option<&Value>,
    pattern: Option<&str>,
    replacement: Option<&str>,
) -> Result<Var, String> {
    let s = || text(&v.value);
    let out = match op {
        Operator::DoNothing | Operator::Unknown(_) => return Ok(v),
        Operator::Plugin(name) => return Err(format!("operator plugin:{name} needs a plugin")),
        Operator::GetItem => {
            let field = field.ok_or("getitem needs a `field`")?;
            match &v.value {
                Value::Object(m) => {
                    let key = text(field);
                    m.get(&key).cloned().ok_or_else(|| {
                        let keys: Vec<&str> = m.keys().map(String::as_str).take(10).collect();
                        format!("getitem: no key {key:?} (keys: {})", keys.join(", "))
                    })?
                }
                Value::Array(items) => {
                    let idx = match field {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => s.trim().parse::<i64>().ok(),
                        _ => None,
                    }
                    .ok_or_else(|| format!("getitem: index {field} is not an integer"))?;
                    let len = items.len() as i64;
                    let i = if idx < 0 { idx + len } else { idx };
                    if i < 0 || i >= len {
                        return Err(format!(
                            "getitem: index {idx} is out of range for a list of {len}"
                        ));
                    }
                    items[i as usize].clone()
                }
                other => {
                    return Err(format!(
                        "getitem needs an object or a list, not {}",
                        crate::config::kind_of(other)
                    ));
                }
            }
        }
        Operator::StrReplace => match (pattern, replacement) {
            (Some(p), Some(r)) => Value::String(s().replace(p, r)),
            _ => return Ok(v),
        },
        Operator::ToUpper => Value::String(s().to_uppercase()),
        Operator::ToLower => Value::String(s().to_lowercase()),
        Operator::UrlSafe => Value::String(quote_plus(&s())),
        Operator::JoinWithSpace => {
            let items = match &v.value {
                Value::Array(items) => items.clone(),
                Value::String(t) => {
                    parse_list_text(t).ok_or_else(|| "join_with_space needs a list".to_string())?
                }
                other => {
                    return Err(format!(
                        "join_with_space needs a list, not {}",
                        crate::config::kind_of(other)
                    ));
                }
            };
            Value::String(items.iter().map(text).collect::<Vec<_>>().join(", "))
        }
        Operator::Dirname => Value::String(dirname(&s())),
        Operator::Dirname2 => Value::String(dirname(&dirname(&s()))),
        Operator::Filename => Value::String(basename(&s())),
        Operator::Sum => {
            let items = match &v.value {
                Value::Array(items) => items,
                Value::Number(_) => return Ok(v),
                other => {
                    return Err(format!(
                        "sum needs a list of numbers, not {}",
                        crate::config::kind_of(other)
                    ));
                }
            };
            let mut int_sum: i64 = 0;
            let mut float_sum = 0.0;
            let mut all_int = true;
            for it in items {
                match it {
                    Value::Number(n) => {
                        if let (true, Some(i)) = (all_int, n.as_i64()) {
                            match int_sum.checked_add(i) {
                                Some(s) => int_sum = s,
                                None => all_int = false,
                            }
                        } else {
                            all_int = false;
                        }
                        float_sum += n.as_f64().unwrap_or(0.0);
                    }
                    other => return Err(format!("sum: {other} is not a number")),
                }
            }
            let unit = v.unit.clone();
            let value = if all_int {
                Value::from(int_sum)
            } else {
                float_json(float_sum)?
            };
            return Ok(Var::with_unit(value, unit));
        }
    };
    Ok(Var::new(out))
}

fn float_json(f: f64) -> Result<Value, String> {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{f} is not a finite number"))
}

fn to_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 9.2e18)
                    .map(|f| f.trunc() as i64)
            })
            .ok_or_else(|| format!("{n} does not fit an integer")),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("{s:?} is not an integer")),
        Value::Bool(b) => Ok(*b as i64),
        other => Err(format!(
            "{} cannot be converted to an integer",
            crate::config::kind_of(other)
        )),
    }
}

fn to_float(v: &Value) -> Result<Value, String> {
    let f = match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{s:?} is not a number"))?,
        Value::Bool(b) => *b as i64 as f64,
        // Read from HDF5, null can only have been a NaN or an infinity.
        Value::Null => {
            return Err(
                "null (a NaN or infinite number in the file) cannot be converted to a float".into(),
            );
        }
        other => {
            return Err(format!(
                "{} cannot be converted to a float",
                crate::config::kind_of(other)
            ));
        }
    };
    float_json(f)
}

fn list_items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        Value::String(s) => parse_list_text(&s).unwrap_or(vec![Value::String(s)]),
        other => vec![other],
    }
}

/// Parses ISO 8601 text (with or without offset; a time without offset is
/// UTC) or seconds since the epoch, and gives the same instant in UTC.
pub fn to_date(v: &Value) -> Result<String, String> {
    let dt: DateTime<Utc> = match v {
        Value::Number(n) => {
            let secs = n.as_f64().ok_or("not a number")?;
            let whole = secs.floor();
            let nanos = ((secs - whole) * 1e9).round() as u32;
            Utc.timestamp_opt(whole as i64, nanos.min(999_999_999))
                .single()
                .ok_or_else(|| format!("{secs} is not a valid time"))?
        }
        Value::String(s) => {
            parse_iso(s.trim()).ok_or_else(|| format!("{s:?} is not an ISO 8601 date"))?
        }
        other => {
            return Err(format!(
                "{} cannot be converted to a date",
                crate::config::kind_of(other)
            ));
        }
    };
    Ok(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y%m%dT%H%M%S%.f%z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.with_timezone(&Utc));
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y%m%dT%H%M%S%.f",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(d.and_utc());
        }
    }
    for f in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
        }
    }
    None
}

/// Converts a value to a schema value type; a value that does not fit is an
/// error.
pub fn convert(v: Value, value_type: &str) -> Result<Value, String> {
    match value_type {
        "string" | "email" | "link" => match v {
            Value::Null => Err("the value is null, not text".into()),
            other => Ok(Value::String(text(&other))),
        },
        "string[]" => match v {
            Value::Null => Err("the value is null, not a list".into()),
            other => Ok(Value::Array(
                list_items(other)
                    .iter()
                    .map(|i| Value::String(text(i)))
                    .collect(),
            )),
        },
        "integer" => to_int(&v).map(Value::from),
        "float" => to_float(&v),
        "integer[]" => list_items(v)
            .iter()
            .map(|i| to_int(i).map(Value::from))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        "float[]" => list_items(v)
            .iter()
            .map(to_float)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        "date" => to_date(&v).map(Value::String),
        "dict" => match v {
            Value::Object(_) => Ok(v),
            Value::String(s) => match serde_json::from_str::<Value>(&s) {
                Ok(o @ Value::Object(_)) => Ok(o),
                _ => Err(format!("{s:?} is not an object")),
            },
            other => Err(format!(
                "{} is not an object",
                crate::config::kind_of(&other)
            )),
        },
        "list" => match v {
            Value::Array(_) => Ok(v),
            Value::String(s) => parse_list_text(&s)
                .map(Value::Array)
                .ok_or_else(|| format!("{s:?} is not a list")),
            other => Err(format!("{} is not a list", crate::config::kind_of(&other))),
        },
        "none" => match v {
            Value::Null => Ok(Value::Null),
            other => Err(format!("value type none needs null, got {other}")),
        },
        "" => Err("the definition has no value type".into()),
        other => Err(format!("unknown value type {other:?}")),
    }
}

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

/// One warning line listing failures.
/// The warning for values sent although they are not what the file holds.
pub fn describe_read_problems(problems: &[Failure]) -> String {
    let items: Vec<String> = problems
        .iter()
        .map(|f| format!("{} ({}): {}", f.name, f.definition, f.reason))
        .collect();
    format!(
        "{} variable{} read with a problem (the value is still sent): {}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        items.join("; ")
    )
}

pub fn describe_failures(what: &str, failures: &[Failure]) -> String {
    let items: Vec<String> = failures
        .iter()
        .map(|f| format!("{} ({}): {}", f.name, f.definition, f.reason))
        .collect();
    format!(
        "{} {what}{} failed and {} left out: {}",
        failures.len(),
        if failures.len() == 1 { "" } else { "s" },
        if failures.len() == 1 { "is" } else { "are" },
        items.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, Var)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
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
        assert!(e.contains("<missing>"), "{e}");
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

    fn op(o: Operator, v: Value) -> Result<Value, String> {
        apply_operator(&o, Var::new(v), None, None, None).map(|v| v.value)
    }

    #[test]
    fn each_operator() {
        assert_eq!(op(Operator::DoNothing, json!("a")).unwrap(), json!("a"));
        assert_eq!(
            op(Operator::Unknown("x".into()), json!("a")).unwrap(),
            json!("a")
        );
        let gi = |v: Value, f: Value| {
            apply_operator(&Operator::GetItem, Var::new(v), Some(&f), None, None).map(|v| v.value)
        };
        assert_eq!(gi(json!({"id": "i1"}), json!("id")).unwrap(), json!("i1"));
        assert_eq!(gi(json!(["a", "b"]), json!(1)).unwrap(), json!("b"));
        assert_eq!(gi(json!(["a", "b"]), json!("0")).unwrap(), json!("a"));
        assert_eq!(gi(json!(["a", "b"]), json!(-1)).unwrap(), json!("b"));
        assert!(gi(json!([]), json!(0)).is_err());
        assert!(gi(json!({"a": 1}), json!("b")).is_err());
        let rep = apply_operator(
            &Operator::StrReplace,
            Var::new(json!("/ess/raw/x")),
            None,
            Some("ess/raw"),
            Some("ess/data"),
        )
        .unwrap();
        assert_eq!(rep.value, json!("/ess/data/x"));
        assert_eq!(op(Operator::ToUpper, json!("ymir")).unwrap(), json!("YMIR"));
        assert_eq!(op(Operator::ToLower, json!("YMIR")).unwrap(), json!("ymir"));
        assert_eq!(
            op(Operator::UrlSafe, json!("a b/c&d=é~")).unwrap(),
            json!("a+b%2Fc%26d%3D%C3%A9~")
        );
        assert_eq!(
            op(Operator::JoinWithSpace, json!(["A B", "C"])).unwrap(),
            json!("A B, C")
        );
        assert!(op(Operator::JoinWithSpace, json!(3)).is_err());
        assert_eq!(
            op(Operator::Dirname, json!("/a/b/c.h5")).unwrap(),
            json!("/a/b")
        );
        assert_eq!(
            op(Operator::Dirname2, json!("/a/b/c.h5")).unwrap(),
            json!("/a")
        );
        assert_eq!(
            op(Operator::Filename, json!("/a/b/c.h5")).unwrap(),
            json!("c.h5")
        );
        assert_eq!(op(Operator::Dirname, json!("c.h5")).unwrap(), json!(""));
        assert_eq!(op(Operator::Dirname, json!("/c.h5")).unwrap(), json!("/"));
        let s = apply_operator(
            &Operator::Sum,
            Var::with_unit(json!([1, 2, 3]), "counts"),
            None,
            None,
            None,
        )
        .unwrap();
        assert_eq!(s, Var::with_unit(json!(6), "counts"));
        assert_eq!(op(Operator::Sum, json!([1, 2.5])).unwrap(), json!(3.5));
        assert!(op(Operator::Sum, json!(["a"])).is_err());
    }

    #[test]
    fn each_value_type() {
        assert_eq!(convert(json!(31010), "string").unwrap(), json!("31010"));
        assert!(convert(Value::Null, "string").is_err());
        assert_eq!(convert(json!("a@b.c"), "email").unwrap(), json!("a@b.c"));
        assert_eq!(
            convert(json!("http://x"), "link").unwrap(),
            json!("http://x")
        );
        assert_eq!(
            convert(json!([1, "a"]), "string[]").unwrap(),
            json!(["1", "a"])
        );
        assert_eq!(convert(json!("YMIR"), "string[]").unwrap(), json!(["YMIR"]));
        assert_eq!(convert(json!("31010"), "integer").unwrap(), json!(31010));
        assert_eq!(convert(json!(3.7), "integer").unwrap(), json!(3));
        assert!(convert(json!("abc"), "integer").is_err());
        assert_eq!(
            convert(json!(["1", 2]), "integer[]").unwrap(),
            json!([1, 2])
        );
        assert_eq!(convert(json!("2.5"), "float").unwrap(), json!(2.5));
        assert!(convert(json!("x"), "float").is_err());
        assert_eq!(
            convert(json!([1, "2.5"]), "float[]").unwrap(),
            json!([1.0, 2.5])
        );
        assert_eq!(
            convert(json!("2024-10-28T09:18:14.376Z"), "date").unwrap(),
            json!("2024-10-28T09:18:14.376Z")
        );
        assert_eq!(
            convert(json!("2024-10-28T10:18:14.376+01:00"), "date").unwrap(),
            json!("2024-10-28T09:18:14.376Z")
        );
        assert_eq!(
            convert(json!("2024-10-28 09:18:14"), "date").unwrap(),
            json!("2024-10-28T09:18:14Z")
        );
        assert_eq!(
            convert(json!(0), "date").unwrap(),
            json!("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            convert(json!(1730107094.5), "date").unwrap(),
            json!("2024-10-28T09:18:14.500Z")
        );
        assert!(convert(json!("yesterday"), "date").is_err());
        assert_eq!(convert(json!({"a": 1}), "dict").unwrap(), json!({"a": 1}));
        assert_eq!(
            convert(json!("{\"a\": 1}"), "dict").unwrap(),
            json!({"a": 1})
        );
        assert!(convert(json!([1]), "dict").is_err());
        assert_eq!(convert(json!([1]), "list").unwrap(), json!([1]));
        assert!(convert(json!({"a": 1}), "list").is_err());
        assert_eq!(convert(Value::Null, "none").unwrap(), Value::Null);
        assert!(convert(json!(1), "none").is_err());
        assert!(convert(json!(1), "complex").is_err());
    }

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

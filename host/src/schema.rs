//! Schema files (`*imsc.json`, `*imsc.yml`, `*imsc.yaml`): finds, parses and
//! checks them, sorts them by `order` and name, and picks the one whose
//! selector matches a data file (or the fallback schema).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

/// How serious a finding about a schema is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about a schema file, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The class of finding: `syntax`/`load` (file skipped), `unknown-key`,
    /// `wrong-type`, `selector`, `variable`, `value-type`, `operator`,
    /// `operator-args`, `field`, `field-type`, `plugin`, `duplicate-id`, and
    /// the checks only `validate` runs (`reference`, `machine-name`,
    /// `required`, `hidden`).
    pub code: &'static str,
    pub severity: Severity,
    pub file: PathBuf,
    /// Dotted key inside the file (`variables.pid.operator`), empty for the
    /// whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.key.is_empty() {
            write!(f, "{}: {level}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: {level}: `{}`: {}",
                self.file.display(),
                self.key,
                self.message
            )
        }
    }
}

/// The value types a variable or field can have.
pub const VALUE_TYPES: &[&str] = &[
    "string",
    "string[]",
    "integer",
    "integer[]",
    "float",
    "float[]",
    "date",
    "dict",
    "list",
    "email",
    "link",
    "none",
];

/// The field types of the `schema` section.
pub const FIELD_TYPES: &[&str] = &["high_level", "scientific_metadata"];

const TOP_LEVEL_KEYS: &[&str] = &[
    "id",
    "name",
    "instrument",
    "order",
    "selector",
    "variables",
    "schema",
    "sample_attachment",
    "plugin",
];

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
                crate::config::kind_of(other)
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

/// Operators of `VALUE` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    DoNothing,
    GetItem,
    StrReplace,
    ToUpper,
    ToLower,
    UrlSafe,
    JoinWithSpace,
    Dirname,
    Dirname2,
    Filename,
    Sum,
    /// `plugin:<name>`: the schema plugin's operator `<name>`.
    Plugin(String),
    /// Unknown: warned about at load, then behaves as `DO_NOTHING`.
    Unknown(String),
}

impl Operator {
    pub fn parse(s: Option<&str>) -> Operator {
        match s.unwrap_or("") {
            "" | "DO_NOTHING" => Operator::DoNothing,
            "getitem" => Operator::GetItem,
            "str-replace" | "str_replace" => Operator::StrReplace,
            "to-upper" | "to_upper" => Operator::ToUpper,
            "to-lower" | "to_lower" => Operator::ToLower,
            "urlsafe" => Operator::UrlSafe,
            "join_with_space" => Operator::JoinWithSpace,
            "dirname" => Operator::Dirname,
            "dirname-2" => Operator::Dirname2,
            "filename" => Operator::Filename,
            "sum" => Operator::Sum,
            other => match other.strip_prefix("plugin:") {
                Some(name) if !name.is_empty() => Operator::Plugin(name.to_string()),
                _ => Operator::Unknown(other.to_string()),
            },
        }
    }
}

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `NXS`: the HDF5 object at `path`.
    Nxs { path: String },
    /// `VALUE`: a rendered template, then an operator.
    Value {
        value: Value,
        operator: Operator,
        field: Option<Value>,
        pattern: Option<String>,
        replacement: Option<String>,
    },
    /// `SC`: a GET to SciCat, optionally one key of the reply.
    Sc { url: String, field: String },
    /// `PLUGIN`: the schema plugin's `variables` hook.
    Plugin { name: String, args: Value },
    /// A definition that cannot be evaluated (reported at load).
    Invalid(String),
}

/// One entry of `variables`.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableDef {
    pub source: Source,
    pub value_type: String,
    pub unit: Option<String>,
    /// The definition as written, quoted in the failure warning.
    pub raw: Value,
}

/// One entry of the `schema` section.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub field_type: String,
    pub machine_name: String,
    pub human_name: Option<String>,
    pub value: Value,
    pub value_type: String,
    pub unit: Option<String>,
}

/// `sample_attachment`: look the sample up in SciCat by name and proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleAttachment {
    pub query_sample_name: bool,
    pub sample_name_path: String,
    pub proposal_id_path: String,
}

impl Default for SampleAttachment {
    fn default() -> Self {
        SampleAttachment {
            query_sample_name: false,
            sample_name_path: "/entry/sample/name".into(),
            proposal_id_path: "/entry/experiment_identifier".into(),
        }
    }
}

/// `plugin`: the WebAssembly component a schema uses.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRef {
    /// Resolved against the schema file's folder.
    pub path: PathBuf,
    pub config: Value,
    /// Protected dataset fields its `transform` may set (`may_set`).
    pub may_set: Vec<String>,
}

/// A loaded schema.
#[derive(Debug, Clone)]
pub struct Schema {
    pub id: String,
    pub name: String,
    pub instrument: String,
    pub order: i64,
    pub selector: Selector,
    /// In file order.
    pub variables: Vec<(String, VariableDef)>,
    /// In file order (the order does not matter for evaluation).
    pub fields: Vec<(String, FieldDef)>,
    pub sample_attachment: SampleAttachment,
    pub plugin: Option<PluginRef>,
    pub file: PathBuf,
}

/// Whether a file name is a schema file name.
pub fn is_schema_file_name(name: &str) -> bool {
    !name.starts_with('.')
        && (name.contains("imsc.json") || name.contains("imsc.yml") || name.contains("imsc.yaml"))
}

/// Reads and parses one schema file. `Err` holds the reason the file cannot
/// be used at all; diagnostics collect everything else.
pub fn load_file(path: &Path, diags: &mut Vec<Diagnostic>) -> Result<Schema, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    from_value(&parse_text(path, &text)?, path, diags)
}

/// Parses a schema file's text; `Err` is the reason without the file name.
pub(crate) fn parse_text(path: &Path, text: &str) -> Result<Value, String> {
    crate::config::parse_document(path, text).map_err(|e| {
        // parse_document names the file itself; keep just the reason.
        let s = e.to_string();
        let prefix = format!("{}: ", path.display());
        s.strip_prefix(&prefix).unwrap_or(&s).to_string()
    })
}

/// The checks of the top-level keys that decide whether a schema can be
/// used at all: `has(key)` tells whether a key is present. Gives the id and
/// the order.
pub(crate) fn check_head(
    has: impl Fn(&str) -> bool,
    id: Option<&Value>,
    order: Option<&Value>,
) -> Result<(String, i64), String> {
    let missing: Vec<&str> = ["id", "order", "selector", "variables", "schema"]
        .into_iter()
        .filter(|k| !has(k))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing required key(s): {}", missing.join(", ")));
    }
    let id = match id {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            return Err(format!(
                "`id` must be a non-empty string, not {}",
                show(other.unwrap_or(&Value::Null))
            ));
        }
    };
    let order = match order.unwrap_or(&Value::Null) {
        Value::Number(n) if n.as_i64().is_some() => n.as_i64().unwrap(),
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            n.as_f64().unwrap() as i64
        }
        other => return Err(format!("`order` must be an integer, not {}", show(other))),
    };
    Ok((id, order))
}

/// The text of `name` or `instrument` as sorting and messages use it.
pub(crate) fn text_of(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

pub(crate) fn diag(
    diags: &mut Vec<Diagnostic>,
    code: &'static str,
    sev: Severity,
    file: &Path,
    key: &str,
    msg: String,
) {
    diags.push(Diagnostic {
        code,
        severity: sev,
        file: file.to_path_buf(),
        key: key.to_string(),
        message: msg,
    });
}

/// Builds a schema from a parsed document.
pub fn from_value(doc: &Value, file: &Path, diags: &mut Vec<Diagnostic>) -> Result<Schema, String> {
    let map = doc.as_object().ok_or_else(|| {
        format!(
            "a schema must be an object, found {}",
            crate::config::kind_of(doc)
        )
    })?;
    for k in map.keys() {
        if !TOP_LEVEL_KEYS.contains(&k.as_str()) {
            diag(
                diags,
                "unknown-key",
                Severity::Warning,
                file,
                k,
                "unknown top-level key (ignored)".into(),
            );
        }
    }
    let (id, order) = check_head(|k| map.contains_key(k), map.get("id"), map.get("order"))?;
    let text_key = |k: &str, diags: &mut Vec<Diagnostic>| {
        if let Some(other) = map.get(k).filter(|v| !v.is_string()) {
            diag(
                diags,
                "wrong-type",
                Severity::Warning,
                file,
                k,
                format!("should be a string, not {}", show(other)),
            );
        }
        text_of(map.get(k))
    };
    let name = text_key("name", diags);
    let instrument = text_key("instrument", diags);

    let selector = Selector::parse(&map["selector"]);
    if let Selector::Invalid(reason) = &selector {
        diag(
            diags,
            "selector",
            Severity::Error,
            file,
            "selector",
            format!(
                "malformed selector {}: {reason}; this schema will never match",
                map["selector"]
            ),
        );
    }

    let vars = map["variables"]
        .as_object()
        .ok_or_else(|| "`variables` must be an object of variable definitions".to_string())?;
    let mut variables = Vec::with_capacity(vars.len());
    for (vname, def) in vars {
        variables.push((vname.clone(), variable_def(vname, def, file, diags)?));
    }

    let entries = map["schema"]
        .as_object()
        .ok_or_else(|| "`schema` must be an object of field definitions".to_string())?;
    let mut fields = Vec::with_capacity(entries.len());
    for (label, def) in entries {
        if let Some(f) = field_def(label, def, file, diags) {
            fields.push((label.clone(), f));
        }
    }

    let sample_attachment = match map.get("sample_attachment") {
        None | Some(Value::Null) => SampleAttachment::default(),
        Some(Value::Object(m)) => {
            let mut s = SampleAttachment::default();
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("query_sample_name", Value::Bool(b)) => s.query_sample_name = *b,
                    ("sample_name_path", Value::String(p)) => s.sample_name_path = p.clone(),
                    ("proposal_id_path", Value::String(p)) => s.proposal_id_path = p.clone(),
                    _ => diag(
                        diags, "unknown-key",
                        Severity::Warning,
                        file,
                        &format!("sample_attachment.{k}"),
                        "unknown key or wrong type (expected query_sample_name: bool, sample_name_path / proposal_id_path: string)".into(),
                    ),
                }
            }
            s
        }
        Some(other) => {
            diag(
                diags,
                "wrong-type",
                Severity::Error,
                file,
                "sample_attachment",
                format!("must be an object, not {}", show(other)),
            );
            SampleAttachment::default()
        }
    };

    let base = file.parent().unwrap_or(Path::new("."));
    let plugin = match map.get("plugin") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(PluginRef {
            path: base.join(p),
            config: Value::Object(Map::new()),
            may_set: Vec::new(),
        }),
        Some(Value::Object(m)) => match m.get("path").and_then(|p| p.as_str()) {
            Some(p) => {
                for k in m.keys() {
                    if k != "path" && k != "config" && k != "may_set" {
                        diag(
                            diags,
                            "unknown-key",
                            Severity::Warning,
                            file,
                            &format!("plugin.{k}"),
                            "unknown key (use `path`, `config` and `may_set`)".into(),
                        );
                    }
                }
                Some(PluginRef {
                    path: base.join(p),
                    config: m
                        .get("config")
                        .cloned()
                        .unwrap_or(Value::Object(Map::new())),
                    may_set: may_set(m.get("may_set"), file, diags),
                })
            }
            None => return Err("`plugin` needs a string `path` to the .wasm component".into()),
        },
        Some(other) => {
            return Err(format!(
                "`plugin` must be an object {{\"path\": ..., \"config\": {{...}}}}, not {}",
                show(other)
            ));
        }
    };
    if plugin.is_none() {
        let uses_plugin_var = variables.iter().any(|(_, v)| {
            matches!(v.source, Source::Plugin { .. })
                || matches!(
                    &v.source,
                    Source::Value {
                        operator: Operator::Plugin(_),
                        ..
                    }
                )
        });
        if selector.uses_plugin() || uses_plugin_var {
            diag(
                diags, "plugin",
                Severity::Error,
                file,
                "plugin",
                "the schema uses a plugin (selector, PLUGIN source or plugin: operator) but names none".into(),
            );
        }
    }

    Ok(Schema {
        id,
        name,
        instrument,
        order,
        selector,
        variables,
        fields,
        sample_attachment,
        plugin,
        file: file.to_path_buf(),
    })
}

/// `plugin.may_set`: the protected dataset fields the schema lets its
/// plugin's `transform` set.
fn may_set(v: Option<&Value>, file: &Path, diags: &mut Vec<Diagnostic>) -> Vec<String> {
    let names: Vec<String> = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        Some(other) => {
            diag(
                diags,
                "wrong-type",
                Severity::Error,
                file,
                "plugin.may_set",
                format!("must be a list of field names, not {}", show(other)),
            );
            return Vec::new();
        }
    };
    for n in &names {
        if !crate::plugin::policy::PROTECTED.contains(&n.as_str()) {
            diag(
                diags,
                "plugin",
                Severity::Warning,
                file,
                "plugin.may_set",
                format!(
                    "`{n}` is not a protected field (a transform may set it anyway); protected: {}",
                    crate::plugin::policy::PROTECTED.join(", ")
                ),
            );
        }
    }
    names
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}...", &s[..s.floor_char_boundary(57)])
    } else {
        s
    }
}

fn opt_string(
    m: &Map<String, Value>,
    k: &str,
    key: &str,
    file: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<String> {
    match m.get(k) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            diag(
                diags,
                "wrong-type",
                Severity::Error,
                file,
                &format!("{key}.{k}"),
                format!("must be a string, not {}", show(other)),
            );
            None
        }
    }
}

fn variable_def(
    vname: &str,
    def: &Value,
    file: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Result<VariableDef, String> {
    let key = format!("variables.{vname}");
    let m = def
        .as_object()
        .ok_or_else(|| format!("variable `{vname}` must be an object, not {}", show(def)))?;
    let source_name = m
        .get("source")
        .and_then(|s| s.as_str())
        .ok_or_else(|| format!("variable `{vname}` has no `source` (NXS, VALUE, SC or PLUGIN)"))?;
    let value_type = match m.get("value_type") {
        Some(Value::String(t)) => {
            if !VALUE_TYPES.contains(&t.as_str()) {
                diag(
                    diags,
                    "value-type",
                    Severity::Error,
                    file,
                    &format!("{key}.value_type"),
                    format!(
                        "unknown value type {t:?} (use one of {})",
                        VALUE_TYPES.join(", ")
                    ),
                );
            }
            t.clone()
        }
        _ => {
            diag(
                diags,
                "value-type",
                Severity::Error,
                file,
                &format!("{key}.value_type"),
                format!(
                    "missing or not a string (use one of {})",
                    VALUE_TYPES.join(", ")
                ),
            );
            String::new()
        }
    };
    let unit = opt_string(m, "unit", &key, file, diags);
    let allowed: &[&str];
    let source = match source_name {
        "NXS" => {
            allowed = &["path"];
            match m.get("path") {
                Some(Value::String(p)) if !p.is_empty() => Source::Nxs { path: p.clone() },
                _ => Source::Invalid("an NXS variable needs a string `path`".into()),
            }
        }
        "VALUE" => {
            allowed = &["value", "operator", "field", "pattern", "replacement"];
            match m.get("value") {
                None => Source::Invalid("a VALUE variable needs a `value`".into()),
                Some(v) => {
                    let op_name = opt_string(m, "operator", &key, file, diags);
                    let operator = Operator::parse(op_name.as_deref());
                    if let Operator::Unknown(o) = &operator {
                        diag(
                            diags,
                            "operator",
                            Severity::Warning,
                            file,
                            &format!("{key}.operator"),
                            format!("unknown operator {o:?}: the value is left unchanged"),
                        );
                    }
                    if operator == Operator::GetItem && !m.contains_key("field") {
                        diag(
                            diags,
                            "operator-args",
                            Severity::Error,
                            file,
                            &format!("{key}.field"),
                            "getitem needs a `field` (a key or an index)".into(),
                        );
                    }
                    if operator == Operator::StrReplace
                        && (!m.contains_key("pattern") || !m.contains_key("replacement"))
                    {
                        diag(
                            diags, "operator-args",
                            Severity::Warning,
                            file,
                            &key,
                            "str-replace without `pattern` and `replacement` leaves the value unchanged".into(),
                        );
                    }
                    Source::Value {
                        value: v.clone(),
                        operator,
                        field: m.get("field").cloned(),
                        pattern: opt_string(m, "pattern", &key, file, diags),
                        replacement: opt_string(m, "replacement", &key, file, diags),
                    }
                }
            }
        }
        "SC" => {
            allowed = &["url", "field"];
            match m.get("url") {
                Some(Value::String(u)) if !u.is_empty() => Source::Sc {
                    url: u.clone(),
                    field: opt_string(m, "field", &key, file, diags).unwrap_or_default(),
                },
                _ => Source::Invalid("an SC variable needs a string `url`".into()),
            }
        }
        "PLUGIN" => {
            allowed = &["name", "args"];
            Source::Plugin {
                name: opt_string(m, "name", &key, file, diags).unwrap_or_else(|| vname.to_string()),
                args: m.get("args").cloned().unwrap_or(Value::Null),
            }
        }
        other => {
            return Err(format!(
                "variable `{vname}` has unknown source {other:?} (use NXS, VALUE, SC or PLUGIN)"
            ));
        }
    };
    if let Source::Invalid(reason) = &source {
        diag(
            diags,
            "variable",
            Severity::Error,
            file,
            &key,
            reason.clone(),
        );
    }
    for k in m.keys() {
        if !["source", "value_type", "unit", "optional"].contains(&k.as_str())
            && !allowed.contains(&k.as_str())
        {
            diag(
                diags,
                "unknown-key",
                Severity::Warning,
                file,
                &format!("{key}.{k}"),
                format!("unknown key for a {source_name} variable (ignored)"),
            );
        }
    }
    Ok(VariableDef {
        source,
        value_type,
        unit,
        raw: def.clone(),
    })
}

fn field_def(
    label: &str,
    def: &Value,
    file: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<FieldDef> {
    let key = format!("schema.{label}");
    let Some(m) = def.as_object() else {
        diag(
            diags,
            "wrong-type",
            Severity::Error,
            file,
            &key,
            format!("a field must be an object, not {}", show(def)),
        );
        return None;
    };
    let field_type = opt_string(m, "field_type", &key, file, diags).unwrap_or_default();
    if !FIELD_TYPES.contains(&field_type.as_str()) {
        diag(
            diags,
            "field-type",
            Severity::Warning,
            file,
            &format!("{key}.field_type"),
            format!(
                "field type {field_type:?} is not high_level or scientific_metadata: the field is ignored"
            ),
        );
    }
    let Some(machine_name) = opt_string(m, "machine_name", &key, file, diags) else {
        diag(
            diags,
            "field",
            Severity::Error,
            file,
            &format!("{key}.machine_name"),
            "missing: a field needs the name it sets".into(),
        );
        return None;
    };
    let value_type = match opt_string(m, "type", &key, file, diags) {
        Some(t) => {
            if !VALUE_TYPES.contains(&t.as_str()) {
                diag(
                    diags,
                    "value-type",
                    Severity::Error,
                    file,
                    &format!("{key}.type"),
                    format!(
                        "unknown value type {t:?} (use one of {})",
                        VALUE_TYPES.join(", ")
                    ),
                );
            }
            t
        }
        None => {
            diag(
                diags,
                "value-type",
                Severity::Error,
                file,
                &format!("{key}.type"),
                format!("missing (use one of {})", VALUE_TYPES.join(", ")),
            );
            String::new()
        }
    };
    let Some(value) = m.get("value").cloned() else {
        diag(
            diags,
            "field",
            Severity::Error,
            file,
            &format!("{key}.value"),
            "missing: a field needs a value template".into(),
        );
        return None;
    };
    for k in m.keys() {
        if ![
            "field_type",
            "machine_name",
            "human_name",
            "value",
            "type",
            "unit",
        ]
        .contains(&k.as_str())
        {
            diag(
                diags,
                "unknown-key",
                Severity::Warning,
                file,
                &format!("{key}.{k}"),
                "unknown key for a field (ignored)".into(),
            );
        }
    }
    Some(FieldDef {
        human_name: opt_string(m, "human_name", &key, file, diags),
        unit: opt_string(m, "unit", &key, file, diags),
        field_type,
        machine_name,
        value,
        value_type,
    })
}

/// All schemas of a directory, sorted, plus the optional fallback.
#[derive(Debug, Default)]
pub struct SchemaSet {
    pub schemas: Vec<Schema>,
    pub fallback: Option<Schema>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The schema files of a directory, in name order.
pub fn schema_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the schemas directory {} (set ingestion.schemas_directory)",
            dir.display()
        )
    })?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_schema_file_name(&name) && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

impl SchemaSet {
    /// Loads the given schema files (and the fallback), reporting broken files
    /// as errors and skipping them, sorting the rest, and reporting duplicate
    /// ids (the one that sorts first is used).
    pub fn load_files(files: &[PathBuf], fallback: Option<&Path>) -> SchemaSet {
        let mut set = SchemaSet::default();
        for f in files {
            match load_file(f, &mut set.diagnostics) {
                Ok(s) => set.schemas.push(s),
                Err(reason) => diag(
                    &mut set.diagnostics,
                    "load",
                    Severity::Error,
                    f,
                    "",
                    format!("schema skipped: {reason}"),
                ),
            }
        }
        set.schemas.sort_by(|a, b| {
            (a.order, a.name.to_lowercase(), &a.file).cmp(&(
                b.order,
                b.name.to_lowercase(),
                &b.file,
            ))
        });
        let mut kept: Vec<Schema> = Vec::with_capacity(set.schemas.len());
        for s in std::mem::take(&mut set.schemas) {
            if let Some(first) = kept.iter().find(|k| k.id == s.id) {
                let msg = format!(
                    "duplicate schema id {:?}: also in {} (the one that sorts first, {}, is used)",
                    s.id,
                    first.file.display(),
                    first.file.display()
                );
                diag(
                    &mut set.diagnostics,
                    "duplicate-id",
                    Severity::Error,
                    &s.file,
                    "id",
                    msg,
                );
                let msg = format!(
                    "duplicate schema id {:?}: also in {} (this one is used)",
                    s.id,
                    s.file.display()
                );
                let first_file = first.file.clone();
                diag(
                    &mut set.diagnostics,
                    "duplicate-id",
                    Severity::Error,
                    &first_file,
                    "id",
                    msg,
                );
            } else {
                kept.push(s);
            }
        }
        set.schemas = kept;
        if let Some(fb) = fallback {
            match load_file(fb, &mut set.diagnostics) {
                Ok(s) => set.fallback = Some(s),
                Err(reason) => diag(
                    &mut set.diagnostics,
                    "load",
                    Severity::Error,
                    fb,
                    "",
                    format!("fallback schema skipped: {reason}"),
                ),
            }
        }
        set
    }

    /// Loads every schema file of `dir`.
    pub fn load_dir(dir: &Path, fallback: Option<&Path>) -> Result<SchemaSet> {
        Ok(Self::load_files(&schema_files(dir)?, fallback))
    }

    /// The first schema (in order) whose selector matches `data_file`, else
    /// the fallback; an error lists the schemas tried.
    pub fn select(
        &self,
        data_file: &str,
        plugin_select: &mut dyn FnMut(&Schema) -> bool,
    ) -> Result<&Schema> {
        for s in &self.schemas {
            if s.selector.matches(data_file, &mut || plugin_select(s)) {
                return Ok(s);
            }
        }
        if let Some(fb) = &self.fallback {
            log::info!(
                "no schema matches {data_file}; using the fallback schema {} ({})",
                fb.name,
                fb.file.display()
            );
            return Ok(fb);
        }
        if self.schemas.is_empty() {
            bail!(
                "no schema applies to {data_file}: no schema could be loaded (check ingestion.schemas_directory)"
            );
        }
        let tried: Vec<String> = self
            .schemas
            .iter()
            .map(|s| {
                format!(
                    "{} (order {}, selector {}, {})",
                    if s.name.is_empty() { &s.id } else { &s.name },
                    s.order,
                    describe_selector(&s.selector),
                    s.file.display()
                )
            })
            .collect();
        bail!(
            "no schema applies to {data_file} and no fallback schema is configured \
             (ingestion.fallback_schema_file_path); tried: {}",
            tried.join("; ")
        )
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
            assert!(!m(&s, "filename:contains:x"));
        }
    }

    #[test]
    fn operators_parse_with_aliases() {
        assert_eq!(Operator::parse(None), Operator::DoNothing);
        assert_eq!(Operator::parse(Some("str_replace")), Operator::StrReplace);
        assert_eq!(Operator::parse(Some("str-replace")), Operator::StrReplace);
        assert_eq!(Operator::parse(Some("to_upper")), Operator::ToUpper);
        assert_eq!(Operator::parse(Some("to-lower")), Operator::ToLower);
        assert_eq!(
            Operator::parse(Some("plugin:stats")),
            Operator::Plugin("stats".into())
        );
        assert_eq!(
            Operator::parse(Some("frobnicate")),
            Operator::Unknown("frobnicate".into())
        );
    }

    fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
        p
    }

    fn minimal(id: &str, name: &str, order: i64, selector: &str) -> Value {
        json!({"id": id, "name": name, "instrument": "x", "order": order, "selector": selector,
               "variables": {}, "schema": {}})
    }

    #[test]
    fn loading_sorts_by_order_then_name_ignoring_case() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.imsc.json", &minimal("1", "beta", 10, "*"));
        write(d.path(), "b.imsc.json", &minimal("2", "Alpha", 10, "*"));
        write(d.path(), "c.imsc.json", &minimal("3", "zeta", 5, "*"));
        write(
            d.path(),
            ".hidden.imsc.json",
            &minimal("4", "hidden", 1, "*"),
        );
        write(
            d.path(),
            "notes.json",
            &minimal("5", "not a schema", 1, "*"),
        );
        std::fs::write(
            d.path().join("d.imsc.yml"),
            "id: '6'\nname: yaml\norder: 7\nselector: '*'\nvariables: {}\nschema: {}\n",
        )
        .unwrap();
        let set = SchemaSet::load_dir(d.path(), None).unwrap();
        let ids: Vec<&str> = set.schemas.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["3", "6", "2", "1"]);
        assert!(set.diagnostics.is_empty(), "{:?}", set.diagnostics);
    }

    #[test]
    fn broken_files_are_skipped_with_a_reason_and_others_serve() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("bad.imsc.json"),
            "{\"id\": \"x\",\n \"order\": }",
        )
        .unwrap();
        let mut no_order = minimal("m", "m", 1, "*");
        no_order.as_object_mut().unwrap().remove("order");
        write(d.path(), "noorder.imsc.json", &no_order);
        let mut bad_source = minimal("s", "s", 1, "*");
        bad_source["variables"] = json!({"v": {"source": "FTP", "value_type": "string"}});
        write(d.path(), "badsource.imsc.json", &bad_source);
        write(d.path(), "good.imsc.json", &minimal("g", "g", 1, "*"));
        let set = SchemaSet::load_dir(d.path(), None).unwrap();
        assert_eq!(set.schemas.len(), 1);
        let errs: Vec<String> = set.diagnostics.iter().map(|d| d.to_string()).collect();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.contains("bad.imsc.json") && e.contains("line 2"))
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("noorder.imsc.json") && e.contains("order"))
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("badsource.imsc.json") && e.contains("FTP"))
        );
    }

    #[test]
    fn duplicate_ids_are_reported_and_the_first_sorted_is_used() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.imsc.json", &minimal("same", "later", 20, "*"));
        write(
            d.path(),
            "b.imsc.json",
            &minimal("same", "earlier", 10, "*"),
        );
        let set = SchemaSet::load_dir(d.path(), None).unwrap();
        assert_eq!(set.schemas.len(), 1);
        assert_eq!(set.schemas[0].name, "earlier");
        let errs: Vec<String> = set.diagnostics.iter().map(|d| d.to_string()).collect();
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().any(|e| e.contains("a.imsc.json")));
        assert!(errs.iter().any(|e| e.contains("b.imsc.json")));
    }

    #[test]
    fn selection_uses_the_first_match_then_the_fallback() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "a.imsc.json",
            &minimal("a", "a", 2, "filename:contains:coda"),
        );
        write(
            d.path(),
            "b.imsc.json",
            &minimal("b", "b", 1, "filename:contains:small"),
        );
        write(
            d.path(),
            "c.imsc.json",
            &minimal("c", "c", 0, "filename:nope:x"),
        );
        let fb_dir = tempfile::tempdir().unwrap();
        let fb = write(
            fb_dir.path(),
            "fallback.imsc.json",
            &minimal("fb", "fb", 0, "filename:contains:zzz"),
        );
        let set = SchemaSet::load_dir(d.path(), Some(&fb)).unwrap();
        let mut no_plugin = |_: &Schema| false;
        assert_eq!(
            set.select("/x/small-coda.h5", &mut no_plugin).unwrap().id,
            "b"
        );
        assert_eq!(set.select("/x/coda.h5", &mut no_plugin).unwrap().id, "a");
        assert_eq!(set.select("/x/other.h5", &mut no_plugin).unwrap().id, "fb");
        let set = SchemaSet::load_dir(d.path(), None).unwrap();
        let e = set
            .select("/x/other.h5", &mut no_plugin)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tried") && e.contains("coda") && e.contains("small"),
            "{e}"
        );
        // The malformed selector was reported at load, naming file and selector.
        assert!(
            set.diagnostics
                .iter()
                .any(|d| d.file.ends_with("c.imsc.json")
                    && d.key == "selector"
                    && d.message.contains("filename:nope:x"))
        );
    }

    #[test]
    fn unknown_keys_and_operators_are_warnings() {
        let d = tempfile::tempdir().unwrap();
        let mut s = minimal("w", "w", 1, "*");
        s["extra"] = json!(1);
        s["variables"] = json!({"v": {"source": "VALUE", "value": "x", "operator": "frob", "value_type": "string"}});
        let p = write(d.path(), "w.imsc.json", &s);
        let mut diags = Vec::new();
        let schema = load_file(&p, &mut diags).unwrap();
        assert_eq!(diags.len(), 2, "{diags:?}");
        assert!(diags.iter().all(|d| d.severity == Severity::Warning));
        assert!(diags.iter().any(|d| d.key == "extra"));
        assert!(diags.iter().any(|d| d.key == "variables.v.operator"));
        assert!(matches!(
            &schema.variables[0].1.source,
            Source::Value {
                operator: Operator::Unknown(_),
                ..
            }
        ));
    }
}

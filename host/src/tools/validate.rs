//! `validate`: loads schema files and reports, with file and key, every
//! mistake that would otherwise show up as a wrong dataset in the catalog:
//! syntax, unknown sources/operators/value types/field types, references to
//! variables that are never defined or defined later, machine names SciCat
//! rejects, missing required fields, duplicate ids, schemas hidden by an
//! earlier selector, and plugins that are missing or lack the hooks the schema
//! uses. Optionally asks a SciCat server whether a body would be accepted.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use crate::api::{self, ApiChoice, ApiVersion};
use crate::config::Config;
use crate::evaluate::{BUILTINS, references};
use crate::schema::{
    self, Code, Diagnostic, PluginRef, SchemaSet, SelOp, Selector, Severity, Source,
};

/// What to validate and how.
#[derive(Debug, Default)]
pub struct Options {
    /// Schema files and folders; empty: the config's schemas directory.
    pub inputs: Vec<PathBuf>,
    pub config: Option<Config>,
    /// SciCat API base to ask `datasets/isValid`.
    pub against: Option<String>,
    /// A data file to build the body for `--against` from (else placeholder
    /// values of each field's type are used).
    pub nexus_file: Option<String>,
}

/// Everything found.
#[derive(Debug, Default)]
pub struct Report {
    pub files: usize,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// Classes that the ingestor tolerates at run time (with a warning) but that
/// are mistakes all the same.
const PROMOTED: &[Code] = &[Code::Operator, Code::FieldType];

fn push(
    diags: &mut Vec<Diagnostic>,
    code: Code,
    severity: Severity,
    file: &Path,
    key: &str,
    msg: String,
) {
    schema::diag(diags, code, severity, file, key, msg);
}

/// Runs every check.
pub fn validate(opts: &Options) -> Result<Report> {
    let (files, fallback) = collect_files(opts)?;
    let mut report = Report {
        files: files.len() + usize::from(fallback.is_some()),
        diagnostics: Vec::new(),
    };
    for f in &files {
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        if !schema::is_schema_file_name(&name) {
            push(
                &mut report.diagnostics,
                Code::FileName,
                Severity::Warning,
                f,
                "",
                "the ingestor only loads files whose name contains imsc.json, imsc.yml or imsc.yaml (and does not start with a dot)".into(),
            );
        }
    }
    let set = SchemaSet::load_files(&files, fallback.as_deref());
    report
        .diagnostics
        .extend(set.diagnostics.iter().cloned().map(|mut d| {
            if PROMOTED.contains(&d.code) {
                d.severity = Severity::Error;
            }
            d
        }));
    let all: Vec<&schema::Schema> = set.schemas.iter().chain(set.fallback.iter()).collect();
    for s in &all {
        check_references(s, &mut report.diagnostics);
        let transform = check_plugin(s, opts, &mut report.diagnostics);
        check_fields(s, opts.config.as_ref(), transform, &mut report.diagnostics);
    }
    check_hidden(&set.schemas, &mut report.diagnostics);
    if let Some(url) = &opts.against {
        for s in &all {
            check_against(s, url, opts, &mut report.diagnostics);
        }
    }
    report
        .diagnostics
        .sort_by(|a, b| (&a.file, b.severity, &a.key).cmp(&(&b.file, a.severity, &b.key)));
    report.diagnostics.dedup();
    Ok(report)
}

fn collect_files(opts: &Options) -> Result<(Vec<PathBuf>, Option<PathBuf>)> {
    let mut files = Vec::new();
    let mut fallback = None;
    if opts.inputs.is_empty() {
        let Some(c) = &opts.config else {
            bail!(
                "nothing to validate: give schema files or folders, or -c CONFIG to use its schemas_directory"
            );
        };
        let dir = crate::config::resolve_path(&c.config_file, &c.ingestion.schemas_directory);
        files = schema::schema_files(&dir)?;
        let fb = c.ingestion.fallback_schema_file_path.trim();
        if !fb.is_empty() {
            fallback = Some(crate::config::resolve_path(&c.config_file, fb));
        }
    }
    for input in &opts.inputs {
        if input.is_dir() {
            files.extend(schema::schema_files(input)?);
        } else if input.exists() {
            files.push(input.clone());
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    if files.is_empty() && fallback.is_none() {
        bail!("no schema files found (their names contain imsc.json, imsc.yml or imsc.yaml)");
    }
    Ok((files, fallback))
}

/// Every `<name>` must be a built-in or a variable defined earlier; a
/// variable nothing uses, or a field whose literal value is a variable's name,
/// is probably a typo.
fn check_references(s: &schema::Schema, diags: &mut Vec<Diagnostic>) {
    let all: HashSet<&str> = s.variables.iter().map(|(n, _)| n.as_str()).collect();
    let mut known: HashSet<&str> = BUILTINS.iter().copied().collect();
    for (name, def) in &s.variables {
        let templates: Vec<(&str, Value)> = match &def.source {
            Source::Value { value, .. } => vec![("value", value.clone())],
            Source::Sc { url, .. } => vec![("url", Value::String(url.clone()))],
            _ => vec![],
        };
        for (what, t) in templates {
            for r in references(&t) {
                let key = format!("variables.{name}.{what}");
                if known.contains(r.as_str()) {
                    continue;
                }
                let msg = if r == *name {
                    format!("<{r}> refers to the variable itself")
                } else if all.contains(r.as_str()) {
                    format!(
                        "<{r}> is used before it is defined: move variables.{r} above {name} (variables are evaluated in file order)"
                    )
                } else {
                    format!(
                        "<{r}> is not a variable of this schema nor a built-in ({}){}",
                        BUILTINS.join(", "),
                        suggest(&r, all.iter().copied().chain(BUILTINS.iter().copied()))
                    )
                };
                push(diags, Code::Reference, Severity::Error, &s.file, &key, msg);
            }
        }
        known.insert(name);
    }
    let mut used: HashSet<String> = HashSet::new();
    for (_, def) in &s.variables {
        match &def.source {
            Source::Value { value, .. } => used.extend(references(value)),
            Source::Sc { url, .. } => used.extend(references(&Value::String(url.clone()))),
            _ => {}
        }
    }
    for (label, f) in &s.fields {
        used.extend(references(&f.value));
        if let Value::String(text) = &f.value
            && all.contains(text.as_str())
        {
            push(
                diags,
                Code::Reference,
                Severity::Warning,
                &s.file,
                &format!("schema.{label}.value"),
                format!(
                    "{text:?} is literal text, but a variable has this name: did you mean \"<{text}>\"?"
                ),
            );
        }
        for r in references(&f.value) {
            if !known.contains(r.as_str()) {
                push(
                    diags,
                    Code::Reference,
                    Severity::Error,
                    &s.file,
                    &format!("schema.{label}.value"),
                    format!(
                        "<{r}> is not a variable of this schema nor a built-in{}",
                        suggest(&r, known.iter().copied())
                    ),
                );
            }
        }
    }
    for (name, _) in &s.variables {
        if !used.contains(name) {
            push(
                diags,
                Code::Unused,
                Severity::Warning,
                &s.file,
                &format!("variables.{name}"),
                "defined but never used by a field or another variable".into(),
            );
        }
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// ` (did you mean X?)` when a candidate is close.
fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let w = word.to_lowercase();
    candidates
        .map(|c| (levenshtein(&w, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// Fields the ingestor sets itself, whatever the schema says.
const SET_BY_INGESTOR: &[&str] = scicat_evaluator::vocabulary::SET_BY_THE_INGESTOR;

fn check_fields(
    s: &schema::Schema,
    config: Option<&Config>,
    plugin_transforms: bool,
    diags: &mut Vec<Diagnostic>,
) {
    let mut set: HashSet<&str> = HashSet::new();
    for (label, f) in &s.fields {
        let key = format!("schema.{label}.machine_name");
        match f.field_type.as_str() {
            "high_level" => {
                let m = f.machine_name.as_str();
                // A v3 name and its v4 list fill the same field.
                set.insert(api::field_in(ApiVersion::V3, m));
                set.insert(api::field_in(ApiVersion::V4, m));
                if !api::known_field(m) {
                    push(
                        diags,
                        Code::MachineName,
                        Severity::Error,
                        &s.file,
                        &key,
                        format!(
                            "SciCat datasets have no field `{m}`: the backend rejects it{}",
                            suggest(m, all_fields())
                        ),
                    );
                } else if SET_BY_INGESTOR.contains(&m) {
                    push(
                        diags,
                        Code::MachineName,
                        Severity::Warning,
                        &s.file,
                        &key,
                        format!("the ingestor sets `{m}` itself: this entry has no effect"),
                    );
                }
            }
            "scientific_metadata" => {
                let m = &f.machine_name;
                if m.is_empty() || m.contains('.') || m.starts_with('$') {
                    push(
                        diags,
                        Code::MachineName,
                        Severity::Error,
                        &s.file,
                        &key,
                        format!(
                            "{m:?} cannot be a scientific metadata key (no dots, no leading $, not empty)"
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    // Required by the version the config talks; with `auto` by both.
    let choice = config.map_or("v3", |c| c.scicat.api_version.as_str());
    let versions: &[ApiVersion] = match ApiChoice::parse(choice) {
        Some(ApiChoice::Fixed(ApiVersion::V4)) => &[ApiVersion::V4],
        Some(ApiChoice::Auto) => &[ApiVersion::V3, ApiVersion::V4],
        _ => &[ApiVersion::V3],
    };
    let mut required: Vec<&str> = Vec::new();
    for v in versions {
        for r in v.required() {
            if !required.contains(r) {
                required.push(r);
            }
        }
    }
    required.push("ownerGroup");
    for r in required {
        if set.contains(r) {
            continue;
        }
        let from_config = match (r, config) {
            ("ownerGroup", Some(c)) => !c.dataset.default_owner_group.is_empty(),
            ("ownerGroup", None) => {
                push(
                    diags,
                    Code::Required,
                    Severity::Warning,
                    &s.file,
                    "schema",
                    "no entry sets ownerGroup: it must then come from dataset.default_owner_group in the config".into(),
                );
                true
            }
            _ => false,
        };
        if from_config {
            continue;
        }
        let (sev, extra) = if plugin_transforms {
            (
                Severity::Warning,
                " (unless the plugin's transform sets it)",
            )
        } else {
            (Severity::Error, "")
        };
        push(
            diags,
            Code::Required,
            sev,
            &s.file,
            "schema",
            format!(
                "no high_level entry sets the required dataset field `{r}`{extra}: every run would fail"
            ),
        );
    }
}

/// Dataset field names of both versions, for suggestions.
fn all_fields() -> impl Iterator<Item = &'static str> {
    api::V3_PROPERTIES
        .iter()
        .chain(api::V4_PROPERTIES.iter())
        .copied()
}

/// Whether every file that `b` matches is also matched by `a` (sound, not
/// complete: `false` may mean "cannot tell").
pub fn implies(b: &Selector, a: &Selector) -> bool {
    match (b, a) {
        (_, Selector::All) => true,
        (Selector::Invalid(_), _) | (_, Selector::Invalid(_)) => false,
        (Selector::Or(bs), _) => !bs.is_empty() && bs.iter().all(|x| implies(x, a)),
        (_, Selector::And(as_)) => as_.iter().all(|x| implies(b, x)),
        (Selector::And(bs), _) => bs.iter().any(|x| implies(x, a)),
        (_, Selector::Or(as_)) => as_.iter().any(|x| implies(b, x)),
        (
            Selector::Path {
                op: bo,
                operand: bp,
            },
            Selector::Path {
                op: ao,
                operand: ap,
            },
        ) => match (bo, ao) {
            (SelOp::StartsWith, SelOp::StartsWith) => bp.starts_with(ap.as_str()),
            (_, SelOp::Contains) => bp.contains(ap.as_str()),
            (SelOp::Contains, SelOp::StartsWith) => ap.is_empty(),
        },
        _ => false,
    }
}

/// A schema whose every file is taken by an earlier one can never be used.
fn check_hidden(sorted: &[schema::Schema], diags: &mut Vec<Diagnostic>) {
    for (j, later) in sorted.iter().enumerate() {
        if let Some(earlier) = sorted[..j]
            .iter()
            .find(|e| implies(&later.selector, &e.selector))
        {
            push(
                diags,
                Code::Hidden,
                Severity::Error,
                &later.file,
                "selector",
                format!(
                    "this schema can never be selected: {:?} ({}, order {}) comes first and matches every file this selector matches ({} vs {}); give this schema a lower order or narrow the other selector",
                    earlier.name,
                    earlier.file.display(),
                    earlier.order,
                    schema::describe_selector(&earlier.selector),
                    schema::describe_selector(&later.selector),
                ),
            );
        }
    }
}

/// Checks the plugin file and its hooks; returns whether the plugin
/// transforms datasets.
fn check_plugin(s: &schema::Schema, opts: &Options, diags: &mut Vec<Diagnostic>) -> bool {
    let Some(PluginRef { path, .. }) = &s.plugin else {
        return false;
    };
    if !path.is_file() {
        push(
            diags,
            Code::Plugin,
            Severity::Error,
            &s.file,
            "plugin.path",
            format!(
                "plugin file {} not found (build it with `cargo build --target wasm32-wasip2 --release` and put the .wasm there; the path is relative to the schema file)",
                path.display()
            ),
        );
        return false;
    }
    let plugin_opts = opts
        .config
        .as_ref()
        .map(|c| c.plugins.clone())
        .unwrap_or_default();
    let info = match crate::plugin::describe(path, &plugin_opts) {
        Ok(i) => i,
        Err(e) => {
            push(
                diags,
                Code::Plugin,
                Severity::Error,
                &s.file,
                "plugin.path",
                format!("{} is not a usable plugin: {e:#}", path.display()),
            );
            return false;
        }
    };
    for problem in info.check_schema(s) {
        push(
            diags,
            Code::Plugin,
            Severity::Error,
            &s.file,
            "plugin",
            problem,
        );
    }
    info.implements(crate::plugin::Hook::Transform)
}

/// A placeholder of a value type, for a body built without a data file.
fn placeholder(value_type: &str) -> Value {
    match value_type {
        "email" => json!("validate@example.org"),
        "link" => json!("https://example.org/validate"),
        "date" => json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        "integer" => json!(1),
        "float" => json!(1.5),
        "string[]" => json!(["validate"]),
        "integer[]" => json!([1]),
        "float[]" => json!([1.5]),
        "list" => json!([]),
        "dict" => json!({}),
        "none" => Value::Null,
        _ => json!("validate"),
    }
}

fn check_against(s: &schema::Schema, url: &str, opts: &Options, diags: &mut Vec<Diagnostic>) {
    let mut config = opts.config.clone().unwrap_or_default();
    config.scicat.host = url.to_string();
    let mut fail = |key: &str, msg: String| {
        push(diags, Code::Against, Severity::Error, &s.file, key, msg);
    };
    let mut client = match crate::scicat::Client::new(&config.scicat) {
        Ok(c) => c,
        Err(e) => return fail("", format!("{e:#}")),
    };
    let version = match client.choose_api(&config.scicat.api_version) {
        Ok(v) => v,
        Err(e) => return fail("", e.to_string()),
    };
    let body = match &opts.nexus_file {
        Some(nexus) => match dry_run_body(&config, s, nexus, &client) {
            Ok(b) => b,
            Err(e) => {
                return fail("", format!("cannot build a dataset from {nexus}: {e:#}"));
            }
        },
        None => {
            let mut d = Map::new();
            for (_, f) in &s.fields {
                if f.field_type == "high_level" {
                    d.insert(f.machine_name.clone(), placeholder(&f.value_type));
                }
            }
            let defaults = [
                ("type", json!("raw")),
                ("size", json!(1)),
                ("numberOfFiles", json!(1)),
                ("isPublished", json!(false)),
                ("scientificMetadata", json!({})),
                (
                    "ownerGroup",
                    json!(config.dataset.default_owner_group.clone()),
                ),
            ];
            for (k, v) in defaults {
                if !d.contains_key(k) && v != json!("") {
                    d.insert(k.into(), v);
                }
            }
            api::reshape(&mut d, version, &mut Vec::new());
            Value::Object(d)
        }
    };
    match client.is_valid(&body) {
        Ok(reply) if reply.get("valid") == Some(&Value::Bool(true)) => {}
        Ok(reply) => {
            let why = ["reason", "errors", "message"]
                .iter()
                .find_map(|k| reply.get(*k))
                .map(|r| crate::scicat::backend_message(&json!({"message": r}).to_string()))
                .unwrap_or_else(|| {
                    // v4's isValid gives no reasons: say what the local
                    // check of the v4 rules finds.
                    let local = body
                        .as_object()
                        .map(|d| crate::dataset::check_dataset(d, version))
                        .unwrap_or_default();
                    if local.is_empty() {
                        format!("{reply} (API {} gives no reasons)", version.name())
                    } else {
                        format!(
                            "API {} gives no reasons; the ingestor's own check finds: {}",
                            version.name(),
                            local.join("; ")
                        )
                    }
                });
            fail(
                "schema",
                format!(
                    "{url} (API {}) would reject this schema's dataset: {why}",
                    version.name()
                ),
            );
        }
        Err(e) => fail("", e.to_string()),
    }
}

/// The dataset a dry run of `nexus` with schema `s` produces.
fn dry_run_body(
    config: &Config,
    s: &schema::Schema,
    nexus: &str,
    client: &crate::scicat::Client,
) -> Result<Value> {
    let set = SchemaSet {
        schemas: vec![schema::Schema {
            selector: Selector::All,
            ..s.clone()
        }],
        fallback: None,
        diagnostics: Vec::new(),
    };
    let mut plugins = crate::plugin::PluginHost::new(&config.plugins)?;
    let tmp = tempdir_for_hash()?;
    let mut config = config.clone();
    config.ingestion.file_handling.ingestor_files_directory = tmp.to_string_lossy().into_owned();
    let req = crate::ingest::Request {
        nexus_file: nexus.to_string(),
        nexus_path: std::path::PathBuf::from(nexus),
        done_writing_message_file: None,
        dry_run: true,
        fixed_builtins: Vec::new(),
    };
    let reads = crate::scicat::FileReads::new(client);
    let built = crate::ingest::build(&config, &set, &reads, &mut plugins, &req);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(Value::Object(built?.dataset))
}

fn tempdir_for_hash() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("scicat-validate-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(v: Value) -> Selector {
        Selector::parse(&v)
    }

    #[test]
    fn selector_implication() {
        let all = sel(json!("*"));
        let c_coda = sel(json!("filename:contains:coda"));
        let c_small_coda = sel(json!("filename:contains:small-coda"));
        let s_ess = sel(json!("filename:starts_with:/ess"));
        let s_ess_coda = sel(json!("filename:starts_with:/ess/coda"));
        assert!(implies(&c_coda, &all));
        assert!(implies(&c_small_coda, &c_coda));
        assert!(!implies(&c_coda, &c_small_coda));
        assert!(implies(&s_ess_coda, &s_ess));
        assert!(implies(&s_ess_coda, &c_coda));
        assert!(!implies(&s_ess, &c_coda));
        assert!(!implies(&c_coda, &s_ess));
        let or =
            sel(json!({"or": ["filename:contains:small-coda", "filename:starts_with:/ess/coda"]}));
        assert!(implies(&or, &c_coda));
        let and = sel(json!({"and": ["filename:contains:coda", "filename:starts_with:/x"]}));
        assert!(implies(&and, &c_coda));
        assert!(!implies(&c_coda, &and));
        assert!(!implies(&sel(json!("plugin")), &c_coda));
        assert!(!implies(&all, &c_coda));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("datasetname", all_fields()),
            " (did you mean `datasetName`?)"
        );
        assert_eq!(suggest("zzzzzz", ["abc"].into_iter()), "");
    }
}

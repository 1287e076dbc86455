//! Configuration: reads the JSON or YAML config file shared with the online
//! ingestor, applies `--set section.key=value` overrides and the `SCICAT_TOKEN`
//! / `SCICAT_PASSWORD` environment variables, warns about unknown keys and
//! reports wrong types by key and file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::config_choices::{FilePathType, HashAlgorithm, LogLevel};
use serde_json::{Map, Value};

/// A string that never shows itself in logs, errors or serialised output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself: only for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// A string, or a number (a YAML `password: 1234`); the error for any
    /// other type never shows the value.
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Secret(s)),
            Value::Number(n) => Ok(Secret(n.to_string())),
            Value::Null => Ok(Secret::default()),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, found {} (value not shown: it is a secret)",
                kind_of(&other)
            ))),
        }
    }
}

/// Whether a config key holds a secret.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("token") || k.contains("secret")
}

/// Registers every secret of a config document with the log scrubber
/// before anything (an error about the document included) can print it:
/// values of secret keys at any depth, and the password in a URL's userinfo.
fn register_secrets(v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                match val {
                    Value::String(s) if is_secret_key(k) => crate::logging::add_secret(s),
                    Value::Number(n) if is_secret_key(k) => {
                        crate::logging::add_secret(&n.to_string())
                    }
                    Value::String(s) => register_url_password(s),
                    other => register_secrets(other),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(register_secrets),
        Value::String(s) => register_url_password(s),
        _ => {}
    }
}

/// `scheme://user:password@host/...`: the password is a secret, also when
/// the URL is too broken to parse.
fn register_url_password(s: &str) {
    let Some((_, rest)) = s.split_once("://") else {
        return;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && let Some((_, pw)) = userinfo.split_once(':')
    {
        crate::logging::add_secret(pw);
        if let Ok(decoded) = percent_encoding::percent_decode_str(pw).decode_utf8() {
            crate::logging::add_secret(&decoded);
        }
    }
}

/// Accepts a string or a number (ports and similar are written both ways).
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "invalid type: {}, expected a string or a number",
            kind_of(&other)
        ))),
    }
}

/// Accepts a list of numbers or a single number.
fn numbers_or_number<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Number(n) => Ok(vec![n.as_f64().unwrap_or(0.0)]),
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_f64().ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "invalid type: {}, expected a number of seconds",
                        kind_of(v)
                    ))
                })
            })
            .collect(),
        other => Err(serde::de::Error::custom(format!(
            "invalid type: {}, expected a list of numbers of seconds",
            kind_of(&other)
        ))),
    }
}

pub(crate) use scicat_evaluator::evaluate::kind_of;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
#[derive(Default)]
pub struct Config {
    pub nexus_file: String,
    pub done_writing_message_file: String,
    pub config_file: String,
    pub id: String,
    pub dataset: DatasetOptions,
    pub ingestion: IngestionOptions,
    pub logging: LoggingOptions,
    pub scicat: ScicatOptions,
    pub plugins: PluginOptions,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatasetOptions {
    pub allow_dataset_pid: bool,
    pub generate_dataset_pid: bool,
    pub dataset_pid_prefix: String,
    pub default_instrument_id: String,
    pub default_proposal_id: String,
    pub default_owner_group: String,
    pub default_access_groups: Vec<String>,
}

impl Default for DatasetOptions {
    fn default() -> Self {
        DatasetOptions {
            allow_dataset_pid: true,
            generate_dataset_pid: false,
            dataset_pid_prefix: "20.500.12269".into(),
            default_instrument_id: String::new(),
            default_proposal_id: String::new(),
            default_owner_group: String::new(),
            default_access_groups: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestionOptions {
    pub dry_run: bool,
    pub schemas_directory: String,
    pub fallback_schema_file_path: String,
    pub check_if_dataset_exists_by_pid: bool,
    pub check_if_dataset_exists_by_metadata: bool,
    pub check_if_dataset_exists_by_metadata_key: String,
    pub file_handling: FileHandlingOptions,
    // Options of the online ingestor, accepted so that one file serves both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_ingestor_executable: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_offline_ingestors: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_ingestors_wait_time: Option<Value>,
}

impl Default for IngestionOptions {
    fn default() -> Self {
        IngestionOptions {
            dry_run: false,
            schemas_directory: "schemas".into(),
            fallback_schema_file_path: String::new(),
            check_if_dataset_exists_by_pid: true,
            check_if_dataset_exists_by_metadata: true,
            check_if_dataset_exists_by_metadata_key: "job_id".into(),
            file_handling: FileHandlingOptions::default(),
            offline_ingestor_executable: None,
            max_offline_ingestors: None,
            offline_ingestors_wait_time: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FileHandlingOptions {
    pub compute_file_stats: bool,
    pub compute_file_hash: bool,
    pub file_hash_algorithm: HashAlgorithm,
    pub save_file_hash: bool,
    pub hash_file_extension: String,
    pub ingestor_files_directory: String,
    pub message_to_file: bool,
    pub message_file_extension: String,
    pub file_path_type: FilePathType,
    pub data_directory: String,
    pub data_file_open_max_tries: u32,
    #[serde(deserialize_with = "numbers_or_number")]
    pub data_file_open_retry_delay: Vec<f64>,
}

impl Default for FileHandlingOptions {
    fn default() -> Self {
        FileHandlingOptions {
            compute_file_stats: true,
            compute_file_hash: true,
            file_hash_algorithm: HashAlgorithm::Blake2b,
            save_file_hash: true,
            hash_file_extension: "b2b".into(),
            ingestor_files_directory: "../ingestor".into(),
            message_to_file: true,
            message_file_extension: "message.json".into(),
            file_path_type: FilePathType::Relative,
            data_directory: String::new(),
            data_file_open_max_tries: 3,
            data_file_open_retry_delay: Vec::new(),
        }
    }
}

impl FileHandlingOptions {
    /// The wait before each retry of opening the data file: each delay is
    /// clamped to 1..120 s, a short list repeats its last value, an empty one
    /// means 3 s.
    pub fn retry_delay(&self, retry: usize) -> std::time::Duration {
        let list = &self.data_file_open_retry_delay;
        let secs = if list.is_empty() {
            3.0
        } else {
            list[retry.min(list.len() - 1)]
        };
        std::time::Duration::from_secs_f64(secs.clamp(1.0, 120.0))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingOptions {
    pub verbose: bool,
    pub file_log: bool,
    pub file_log_base_name: String,
    pub file_log_timestamp: bool,
    pub logging_level: LogLevel,
    pub log_message_prefix: String,
    pub system_log: bool,
    pub system_log_facility: String,
    pub graylog: bool,
    pub graylog_host: String,
    #[serde(deserialize_with = "string_or_number")]
    pub graylog_port: String,
    pub graylog_facility: String,
}

impl Default for LoggingOptions {
    fn default() -> Self {
        LoggingOptions {
            verbose: false,
            file_log: false,
            file_log_base_name: "scicat_ingestor_log".into(),
            file_log_timestamp: false,
            logging_level: LogLevel::Info,
            log_message_prefix: "SFI".into(),
            system_log: false,
            system_log_facility: "mail".into(),
            graylog: false,
            graylog_host: String::new(),
            graylog_port: String::new(),
            graylog_facility: "scicat.ingestor".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ScicatOptions {
    pub host: String,
    pub token: Secret,
    pub username: String,
    pub password: Secret,
    pub additional_headers: BTreeMap<String, String>,
    /// Seconds per request; 0 means the default of 30 s.
    pub timeout: f64,
    pub stream: bool,
    pub verify: bool,
    pub health_endpoint: String,
    pub api_endpoints: ApiEndpoints,
    /// Dataset API: `v3` (default), `v4`, or `auto` (asks the server once).
    pub api_version: String,
    /// The `/api/v4` base when a site does not serve it next to `host`.
    pub host_v4: String,
}

impl Default for ScicatOptions {
    fn default() -> Self {
        ScicatOptions {
            host: String::new(),
            token: Secret::default(),
            username: String::new(),
            password: Secret::default(),
            additional_headers: BTreeMap::new(),
            timeout: 0.0,
            stream: true,
            verify: true,
            health_endpoint: String::new(),
            api_endpoints: ApiEndpoints::default(),
            api_version: "v3".into(),
            host_v4: String::new(),
        }
    }
}

/// The longest `scicat.timeout` accepted: an hour per request is already far
/// past anything useful, and larger values overflow a `Duration`.
pub const MAX_TIMEOUT_S: f64 = 3600.0;

impl ScicatOptions {
    pub fn timeout(&self) -> std::time::Duration {
        if self.timeout > 0.0 && self.timeout.is_finite() {
            std::time::Duration::from_secs_f64(self.timeout.min(MAX_TIMEOUT_S))
        } else {
            std::time::Duration::from_secs(30)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiEndpoints {
    pub datasets: String,
    pub proposals: String,
    pub origdatablocks: String,
    pub instruments: String,
    pub samples: String,
}

impl Default for ApiEndpoints {
    fn default() -> Self {
        ApiEndpoints {
            datasets: "datasets".into(),
            proposals: "proposals".into(),
            origdatablocks: "origdatablocks".into(),
            instruments: "instruments".into(),
            samples: "samples".into(),
        }
    }
}

impl ApiEndpoints {
    /// `(endpoint name, path under the host)` for every endpoint.
    pub fn pairs(&self) -> [(&'static str, &str); 5] {
        [
            ("datasets", &self.datasets),
            ("proposals", &self.proposals),
            ("origdatablocks", &self.origdatablocks),
            ("instruments", &self.instruments),
            ("samples", &self.samples),
        ]
    }
}

/// Limits and cache for instrument plugins (WebAssembly components).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginOptions {
    /// Linear memory a plugin may grow to, per call.
    pub max_memory_mb: u64,
    /// Wall-clock budget of one hook call.
    pub timeout_ms: u64,
    /// Where compiled plugins are cached; empty means the per-user cache dir.
    pub cache_dir: String,
}

impl Default for PluginOptions {
    fn default() -> Self {
        PluginOptions {
            max_memory_mb: 256,
            timeout_ms: 5000,
            cache_dir: String::new(),
        }
    }
}

/// Top-level sections of the shared config file that only the online
/// ingestor uses.
const IGNORED_SECTIONS: &[&str] = &["kafka", "health_check"];
/// Objects whose keys are free-form.
const FREE_FORM: &[&str] = &["scicat.additional_headers"];

/// A loaded configuration plus the warnings found while loading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Parses a JSON or YAML document, naming the file and the line and column
/// of a syntax error.
pub fn parse_document(path: &Path, text: &str) -> Result<Value> {
    scicat_evaluator::document::parse_document(path, text)
        .map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Reads the config file, applies the overrides and the environment.
pub fn load(path: &Path, overrides: &[String]) -> Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let doc = parse_document(path, &text)?;
    let mut loaded = from_document(doc, path, overrides)?;
    let config = &mut loaded.config;
    if let Ok(token) = std::env::var("SCICAT_TOKEN")
        && !token.is_empty()
    {
        crate::logging::add_secret(&token);
        config.scicat.token = Secret::new(token);
    }
    if let Ok(password) = std::env::var("SCICAT_PASSWORD")
        && !password.is_empty()
    {
        crate::logging::add_secret(&password);
        config.scicat.password = Secret::new(password);
    }
    Ok(loaded)
}

/// A config document (as read from `path`) with the overrides applied:
/// unknown keys become warnings, wrong types and values errors naming the
/// key. Golden test cases load their config options through here too, so a
/// misspelt key is caught there as in production.
pub fn from_document(mut doc: Value, path: &Path, overrides: &[String]) -> Result<Loaded> {
    if !doc.is_object() {
        bail!(
            "{}: the configuration must be an object of sections, found {}",
            path.display(),
            kind_of(&doc)
        );
    }
    register_secrets(&doc);
    let defaults = serde_json::to_value(Config::default()).expect("defaults serialise");
    for o in overrides {
        apply_override(&mut doc, &defaults, o)?;
    }
    register_secrets(&doc);
    let mut warnings = Vec::new();
    if let Value::Object(map) = &mut doc {
        for s in IGNORED_SECTIONS {
            map.remove(*s);
        }
        unknown_keys(map, &defaults, "", path, &mut warnings);
    }
    let mut config: Config = serde_path_to_error::deserialize(doc).map_err(|e| {
        let key = e.path().to_string();
        if is_secret_key(&key) {
            return anyhow!(
                "{}: wrong type for `{key}`: expected a string (value not shown: it is a secret)",
                path.display()
            );
        }
        if crate::config_choices::KEYS.contains(&key.as_str()) {
            return anyhow!("{}: `{key}` {}", path.display(), e.into_inner());
        }
        anyhow!(
            "{}: wrong type for `{}`: {}",
            path.display(),
            key,
            e.into_inner()
        )
    })?;
    config.config_file = path.display().to_string();
    check_values(&config, path)?;
    Ok(Loaded { config, warnings })
}

/// Values whose type is right but whose content cannot work.
fn check_values(c: &Config, path: &Path) -> Result<()> {
    let fh = &c.ingestion.file_handling;
    let t = c.scicat.timeout;
    if !t.is_finite() || !(0.0..=MAX_TIMEOUT_S).contains(&t) {
        bail!(
            "{}: `scicat.timeout` is {t}: give the seconds per request, from 0 (the default of 30 s) to {MAX_TIMEOUT_S}",
            path.display()
        );
    }
    if crate::api::ApiChoice::parse(&c.scicat.api_version).is_none() {
        bail!(
            "{}: `scicat.api_version` is {:?}: use \"v3\", \"v4\" or \"auto\"",
            path.display(),
            c.scicat.api_version
        );
    }
    if fh.data_file_open_max_tries == 0 {
        bail!(
            "{}: `ingestion.file_handling.data_file_open_max_tries` must be at least 1",
            path.display()
        );
    }
    Ok(())
}

fn unknown_keys(
    map: &Map<String, Value>,
    defaults: &Value,
    prefix: &str,
    path: &Path,
    warnings: &mut Vec<String>,
) {
    let Some(known) = defaults.as_object() else {
        return;
    };
    for (key, value) in map {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match known.get(key) {
            None if known_optional(&full) => {}
            None => warnings.push(format!(
                "{}: unknown option `{full}` is ignored (check its spelling and section)",
                path.display()
            )),
            Some(default) => {
                if let (Value::Object(sub), false) = (value, FREE_FORM.contains(&full.as_str())) {
                    unknown_keys(sub, default, &full, path, warnings);
                }
            }
        }
    }
}

/// Options that exist but are not serialised when unset.
fn known_optional(full: &str) -> bool {
    matches!(
        full,
        "ingestion.offline_ingestor_executable"
            | "ingestion.max_offline_ingestors"
            | "ingestion.offline_ingestors_wait_time"
            // The online daemon's sample registration (online/settings.rs).
            | "ingestion.sample_registration"
            | "ingestion.sample_name_path"
            | "ingestion.proposal_id_path"
    )
}

/// Applies one `section.key=value` override. The value is read as JSON when
/// the option is not a string (booleans, numbers, lists), else taken as is.
pub fn apply_override(doc: &mut Value, defaults: &Value, spec: &str) -> Result<()> {
    let (key, raw) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("--set {spec:?}: expected section.key=value"))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--set {spec:?}: the key {key:?} has an empty part");
    }
    let mut default = Some(defaults);
    for p in &parts {
        default = default.and_then(|d| d.get(*p));
    }
    let value = match default {
        Some(Value::String(_)) | Some(Value::Null) => Value::String(raw.to_string()),
        Some(_) => serde_json::from_str(raw).map_err(|_| {
            anyhow!(
                "--set {key}={raw}: not a valid {} (write it as JSON)",
                kind_of(default.unwrap())
            )
        })?,
        None if FREE_FORM.iter().any(|f| key.starts_with(&format!("{f}."))) => {
            Value::String(raw.to_string())
        }
        None => {
            bail!("--set {key}: there is no such option (see the README's configuration table)")
        }
    };
    let mut node = doc;
    for p in &parts[..parts.len() - 1] {
        let obj = node
            .as_object_mut()
            .ok_or_else(|| anyhow!("--set {key}: {p} is not a section"))?;
        node = obj
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let obj = node
        .as_object_mut()
        .ok_or_else(|| anyhow!("--set {key}: parent is not a section"))?;
    obj.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Resolves a path option: absolute as is; relative to the working directory
/// when it exists there (what the Python ingestor does), else relative to the
/// config file's folder.
pub fn resolve_path(config_file: &str, p: &str) -> PathBuf {
    let path = PathBuf::from(p);
    if path.is_absolute() || path.exists() {
        return path;
    }
    let beside = Path::new(config_file)
        .parent()
        .map(|d| d.join(&path))
        .unwrap_or_else(|| path.clone());
    if beside.exists() { beside } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = Config::default();
        assert!(c.dataset.allow_dataset_pid);
        assert!(!c.dataset.generate_dataset_pid);
        assert_eq!(c.dataset.dataset_pid_prefix, "20.500.12269");
        assert_eq!(c.ingestion.schemas_directory, "schemas");
        assert_eq!(
            c.ingestion.check_if_dataset_exists_by_metadata_key,
            "job_id"
        );
        let fh = &c.ingestion.file_handling;
        assert_eq!(fh.hash_file_extension, "b2b");
        assert_eq!(fh.ingestor_files_directory, "../ingestor");
        assert_eq!(fh.file_path_type, FilePathType::Relative);
        assert_eq!(fh.data_file_open_max_tries, 3);
        assert_eq!(c.logging.log_message_prefix, "SFI");
        assert!(c.scicat.verify);
        assert_eq!(c.scicat.timeout(), std::time::Duration::from_secs(30));
    }

    #[test]
    fn retry_delays_clamp_and_repeat() {
        let mut fh = FileHandlingOptions::default();
        assert_eq!(fh.retry_delay(0).as_secs(), 3);
        fh.data_file_open_retry_delay = vec![0.1, 500.0];
        assert_eq!(fh.retry_delay(0).as_secs(), 1);
        assert_eq!(fh.retry_delay(1).as_secs(), 120);
        assert_eq!(fh.retry_delay(7).as_secs(), 120);
    }

    #[test]
    fn yaml_and_json_load_the_same() {
        let d = tempfile::tempdir().unwrap();
        let j = write(
            d.path(),
            "c.json",
            r#"{"scicat": {"host": "http://x/api/v3"}, "kafka": {"topics": "a"}, "ingestion": {"dry_run": true}}"#,
        );
        let y = write(
            d.path(),
            "c.yaml",
            "scicat:\n  host: http://x/api/v3\nhealth_check:\n  port: 1\ningestion:\n  dry_run: true\n",
        );
        let a = load(&j, &[]).unwrap();
        let b = load(&y, &[]).unwrap();
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        assert_eq!(a.config.scicat.host, b.config.scicat.host);
        assert!(a.config.ingestion.dry_run && b.config.ingestion.dry_run);
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let d = tempfile::tempdir().unwrap();
        let j = write(
            d.path(),
            "bad.json",
            "{\n  \"scicat\": {\n    \"host\": ,\n  }\n}",
        );
        let e = load(&j, &[]).unwrap_err().to_string();
        assert!(e.contains("bad.json"), "{e}");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("column"), "{e}");
        let y = write(d.path(), "bad.yml", "scicat:\n  host: [\n");
        let e = load(&y, &[]).unwrap_err().to_string();
        assert!(e.contains("bad.yml") && e.contains("line"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let d = tempfile::tempdir().unwrap();
        let j = write(
            d.path(),
            "c.json",
            r#"{"ingestion": {"file_handling": {"compute_file_hash": "yes"}}}"#,
        );
        let e = load(&j, &[]).unwrap_err().to_string();
        assert!(e.contains("c.json"), "{e}");
        assert!(
            e.contains("ingestion.file_handling.compute_file_hash"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_warnings_with_their_path() {
        let d = tempfile::tempdir().unwrap();
        let j = write(
            d.path(),
            "c.json",
            r#"{"scicat": {"hots": "x", "additional_headers": {"X-A": "1"}}, "ingestion": {"file_handling": {"compute_hash": true}}}"#,
        );
        let l = load(&j, &[]).unwrap();
        assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
        assert!(l.warnings.iter().any(|w| w.contains("`scicat.hots`")));
        assert!(
            l.warnings
                .iter()
                .any(|w| w.contains("`ingestion.file_handling.compute_hash`"))
        );
    }

    #[test]
    fn overrides_are_typed_by_the_option() {
        let d = tempfile::tempdir().unwrap();
        let j = write(d.path(), "c.json", r#"{"scicat": {"host": "a"}}"#);
        let l = load(
            &j,
            &[
                "scicat.host=http://h:1/api/v3".into(),
                "ingestion.dry_run=true".into(),
                "dataset.default_access_groups=[\"g1\",\"g2\"]".into(),
                "ingestion.file_handling.data_file_open_max_tries=5".into(),
                "dataset.default_owner_group=1234".into(),
                "scicat.additional_headers.X-Api=v".into(),
            ],
        )
        .unwrap();
        let c = l.config;
        assert_eq!(c.scicat.host, "http://h:1/api/v3");
        assert!(c.ingestion.dry_run);
        assert_eq!(c.dataset.default_access_groups, vec!["g1", "g2"]);
        assert_eq!(c.ingestion.file_handling.data_file_open_max_tries, 5);
        assert_eq!(c.dataset.default_owner_group, "1234");
        assert_eq!(c.scicat.additional_headers["X-Api"], "v");
        let e = load(&j, &["ingestion.dry_run=maybe".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ingestion.dry_run"), "{e}");
        let e = load(&j, &["ingestion.nope=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such option"), "{e}");
    }

    #[test]
    fn unsupported_hash_algorithm_is_rejected() {
        let d = tempfile::tempdir().unwrap();
        let j = write(
            d.path(),
            "c.json",
            r#"{"ingestion": {"file_handling": {"file_hash_algorithm": "md5"}}}"#,
        );
        let e = load(&j, &[]).unwrap_err().to_string();
        assert!(e.contains("md5") && e.contains("blake2b"), "{e}");
    }

    #[test]
    fn closed_choices_are_refused_naming_the_key_and_the_values_that_work() {
        let path = Path::new("c.json");
        for (doc, want) in [
            (
                serde_json::json!({"ingestion": {"file_handling": {"file_path_type": "relativ"}}}),
                "c.json: `ingestion.file_handling.file_path_type` is \"relativ\": use \"absolute\" or \"relative\"",
            ),
            (
                serde_json::json!({"logging": {"logging_level": "loud"}}),
                "c.json: `logging.logging_level` is \"loud\": use one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
            ),
        ] {
            let e = from_document(doc, path, &[]).unwrap_err().to_string();
            assert_eq!(e, want);
        }
        let c = from_document(
            serde_json::json!({"logging": {"logging_level": "warn"}}),
            path,
            &[],
        )
        .unwrap();
        assert_eq!(c.config.logging.logging_level, LogLevel::Warning);
    }

    #[test]
    fn secrets_never_print() {
        let mut c = Config::default();
        c.scicat.token = Secret::new("tok-123-secret");
        c.scicat.password = Secret::new("pw-456");
        let dbg = format!("{c:?}");
        let json = serde_json::to_string(&c).unwrap();
        for s in [dbg, json] {
            assert!(
                !s.contains("tok-123-secret") && !s.contains("pw-456"),
                "{s}"
            );
        }
    }
}

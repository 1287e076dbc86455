//! The daemon's part of the shared config file: the `kafka` and
//! `health_check` sections with the Python daemon's keys and defaults, and
//! the `ingestion` keys only the daemon reads. Kafka keys the daemon does not
//! know go to the client with `_` → `.`, as the Python daemon does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use crate::config::{self, Config};

/// What the daemon needs beyond the engine's config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub topics: Vec<String>,
    pub group_id: String,
    /// Client properties (librdkafka names), the password among them.
    pub client: Vec<(String, String)>,
    pub dead_letter_topic: Option<String>,
    pub dead_letter_journal: PathBuf,
    /// Attempts after the first before a file is given up on.
    pub max_retries: u32,
    pub retry_backoff: Duration,
    pub drain_timeout: Duration,
    pub workers: usize,
    /// `CMD...` run once per file instead of ingesting in-process.
    pub executable: Option<Vec<String>>,
    pub health_addr: String,
    /// `ingestion.sample_registration`: create samples from `pl72` run
    /// starts, reading these two paths of the file.
    pub sample_registration: bool,
    pub sample_name_path: String,
    pub proposal_id_path: String,
}

/// Keys the daemon itself reads; never passed to the client.
const OWN_KEYS: &[&str] = &[
    "topics",
    "group_id",
    "bootstrap_servers",
    "auto_offset_reset",
    "enable_auto_commit",
    "individual_message_commit",
    "dead_letter_topic",
    "dead_letter_journal",
    "max_retries",
    "retry_backoff_seconds",
    "drain_timeout_seconds",
    "sasl_password",
];

/// Reads the daemon's sections of `path`; `cfg` is the engine's view of the
/// same file.
pub fn load(path: &Path, cfg: &Config) -> Result<Settings> {
    let raw = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let doc = config::parse_document(path, &raw)?;
    let empty = Map::new();
    let kafka = doc
        .get("kafka")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let health = doc
        .get("health_check")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut s = from_sections(kafka, health, cfg, path)?;
    let ingestion = doc
        .get("ingestion")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    s.sample_registration = ingestion
        .get("sample_registration")
        .is_some_and(|v| v.as_bool() == Some(true) || text(v).as_deref() == Some("true"));
    if let Some(p) = ingestion.get("sample_name_path").and_then(text) {
        s.sample_name_path = p;
    }
    if let Some(p) = ingestion.get("proposal_id_path").and_then(text) {
        s.proposal_id_path = p;
    }
    Ok(s)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().filter_map(text).collect();
            (!parts.is_empty()).then(|| parts.join(","))
        }
        Value::Object(_) => None,
    }
}

fn list(v: Option<&Value>) -> Vec<String> {
    v.and_then(text)
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn number(kafka: &Map<String, Value>, key: &str, default: f64) -> Result<f64> {
    match kafka.get(key).and_then(text) {
        None => Ok(default),
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .with_context(|| format!("`kafka.{key}` is {s:?}: expected a number >= 0")),
    }
}

pub fn from_sections(
    kafka: &Map<String, Value>,
    health: &Map<String, Value>,
    cfg: &Config,
    path: &Path,
) -> Result<Settings> {
    let topics = list(kafka.get("topics"));
    if topics.is_empty() {
        bail!(
            "{}: `kafka.topics` is empty: name the file writer's topics",
            path.display()
        );
    }
    let group_id = kafka
        .get("group_id")
        .and_then(text)
        .unwrap_or_else(|| "scicat_ingestor".into());
    let bootstrap = list(kafka.get("bootstrap_servers"));
    let bootstrap = if bootstrap.is_empty() {
        "localhost:9092".to_string()
    } else {
        bootstrap.join(",")
    };
    let mut client = vec![
        ("bootstrap.servers".to_string(), bootstrap),
        ("group.id".to_string(), group_id.clone()),
        (
            "auto.offset.reset".to_string(),
            kafka
                .get("auto_offset_reset")
                .and_then(text)
                .unwrap_or_else(|| "earliest".into()),
        ),
    ];
    for (k, v) in kafka {
        if OWN_KEYS.contains(&k.as_str()) {
            continue;
        }
        if let Some(v) = text(v) {
            client.push((k.replace('_', "."), v));
        }
    }
    let password = std::env::var("KAFKA_SASL_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| kafka.get("sasl_password").and_then(text));
    if let Some(p) = password {
        crate::logging::add_secret(&p);
        client.push(("sasl.password".into(), p));
    }
    if kafka.get("enable_auto_commit").and_then(Value::as_bool) == Some(true) {
        log::warn!(
            "kafka.enable_auto_commit is ignored: offsets are committed once their files are done"
        );
    }
    let workers = match &cfg.ingestion.max_offline_ingestors {
        None => 10,
        Some(v) => text(v)
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .with_context(|| {
                format!(
                    "{}: `ingestion.max_offline_ingestors` must be a number >= 1",
                    path.display()
                )
            })?,
    };
    let executable = match &cfg.ingestion.offline_ingestor_executable {
        None => None,
        Some(Value::Array(a)) => Some(a.iter().filter_map(text).collect::<Vec<_>>()),
        Some(v) => text(v).map(|s| s.split_whitespace().map(String::from).collect()),
    }
    .filter(|v: &Vec<String>| !v.is_empty());
    let journal = kafka
        .get("dead_letter_journal")
        .and_then(text)
        .unwrap_or_else(|| "dead-letter.jsonl".into());
    let host = health
        .get("host")
        .and_then(text)
        .unwrap_or_else(|| "0.0.0.0".into());
    let port = health
        .get("port")
        .and_then(text)
        .unwrap_or_else(|| "8080".into());
    Ok(Settings {
        topics,
        group_id,
        client,
        dead_letter_topic: kafka.get("dead_letter_topic").and_then(text),
        // Relative to the config file, like the schemas folder: a daemon's
        // working directory is often `/`.
        dead_letter_journal: path.parent().unwrap_or(Path::new(".")).join(journal),
        max_retries: number(kafka, "max_retries", 3.0)? as u32,
        retry_backoff: Duration::from_secs_f64(number(kafka, "retry_backoff_seconds", 2.0)?),
        drain_timeout: Duration::from_secs_f64(number(kafka, "drain_timeout_seconds", 60.0)?),
        workers,
        executable,
        health_addr: format!("{host}:{port}"),
        sample_registration: false,
        sample_name_path: "/entry/sample/name".into(),
        proposal_id_path: "/entry/experiment_identifier".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(kafka: Value) -> Result<Settings> {
        let k = kafka.as_object().unwrap().clone();
        from_sections(
            &k,
            &Map::new(),
            &Config::default(),
            Path::new("/etc/c.json"),
        )
    }

    #[test]
    fn python_keys_keep_their_meaning_and_others_pass_through() {
        let s = settings(json!({
            "topics": "a, b", "group_id": "g", "bootstrap_servers": ["h1:9092", "h2:9092"],
            "security_protocol": "sasl_ssl", "sasl_mechanism": "", "session_timeout_ms": 6000,
            "sasl_password": "hunter2", "dead_letter_topic": "dlq"
        }))
        .unwrap();
        assert_eq!(s.topics, ["a", "b"]);
        let get = |k: &str| {
            s.client
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("bootstrap.servers"), Some("h1:9092,h2:9092"));
        assert_eq!(get("group.id"), Some("g"));
        assert_eq!(get("auto.offset.reset"), Some("earliest"));
        assert_eq!(get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(get("session.timeout.ms"), Some("6000"));
        assert_eq!(get("sasl.mechanism"), None, "empty values are dropped");
        assert_eq!(get("sasl.password"), Some("hunter2"));
        assert_eq!(get("dead.letter.topic"), None);
        assert_eq!(s.dead_letter_topic.as_deref(), Some("dlq"));
        assert_eq!(s.workers, 10);
        assert_eq!(s.health_addr, "0.0.0.0:8080");
        assert_eq!(s.dead_letter_journal, Path::new("/etc/dead-letter.jsonl"));
        assert!(!crate::logging::scrub("pw hunter2").contains("hunter2"));
    }

    #[test]
    fn topics_are_required() {
        assert!(settings(json!({"group_id": "g"})).is_err());
        assert!(settings(json!({"topics": "t", "max_retries": "x"})).is_err());
    }
}

//! `test`: offline golden tests of schemas and plugins. A case file names a
//! schema (folder or file), a NeXus fixture, recorded SciCat replies for `SC`
//! variables, optional config options, and the expected dataset and
//! origdatablock. The case runs the real evaluator (and plugins, sandboxed as
//! in production) without any server, normalises what changes from run to run
//! (time, run id, file times and owners, the temporary folder), and compares
//! field by field.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::evaluate::{ScFetch, ScicatReads};
use crate::ingest::{self, Request};
use crate::plugin::PluginHost;
use crate::schema::{self, SchemaSet};

/// `now` during a golden test.
pub const FIXED_NOW: &str = "2024-01-01T00:00:00Z";
/// `ingestor_run_id` during a golden test.
pub const FIXED_RUN_ID: &str = "00000000-0000-4000-8000-000000000000";

/// A parsed case file.
#[derive(Debug)]
pub struct Case {
    pub file: PathBuf,
    pub schemas: PathBuf,
    pub nexus_file: PathBuf,
    pub done_writing_message_file: Option<PathBuf>,
    pub config: Value,
    pub scicat: Map<String, Value>,
    pub expected: PathBuf,
    /// The warnings the run must give, each as a piece of its text (`None`:
    /// not checked, but a config warning still fails the case).
    pub warnings: Option<Vec<String>>,
}

/// How a case ended.
#[derive(Debug)]
pub enum Verdict {
    Pass,
    /// Differences, one line each.
    Fail(Vec<String>),
    /// The expectation was (re)written.
    Updated,
}

const CASE_KEYS: &[&str] = &[
    "schemas",
    "nexus_file",
    "done_writing_message_file",
    "config",
    "scicat",
    "expected",
    "warnings",
    "description",
];

impl Case {
    /// Reads a case file (JSON or YAML); paths are relative to it.
    pub fn load(file: &Path) -> Result<Case> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the case file {}", file.display()))?;
        let doc = crate::config::parse_document(file, &text)?;
        let m = doc
            .as_object()
            .ok_or_else(|| anyhow!("{}: a case must be an object", file.display()))?;
        for k in m.keys() {
            if !CASE_KEYS.contains(&k.as_str()) {
                bail!(
                    "{}: unknown key `{k}` (a case has {})",
                    file.display(),
                    CASE_KEYS.join(", ")
                );
            }
        }
        let dir = file.parent().unwrap_or(Path::new("."));
        let path_of = |k: &str| -> Result<Option<PathBuf>> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(dir.join(s))),
                Some(_) => bail!("{}: `{k}` must be a path (a string)", file.display()),
            }
        };
        let need = |k: &str| -> Result<PathBuf> {
            path_of(k)?.ok_or_else(|| anyhow!("{}: `{k}` is missing", file.display()))
        };
        let stem = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .split('.')
            .next()
            .unwrap_or("case")
            .to_string();
        Ok(Case {
            file: file.to_path_buf(),
            schemas: need("schemas")?,
            nexus_file: need("nexus_file")?,
            done_writing_message_file: path_of("done_writing_message_file")?,
            config: m.get("config").cloned().unwrap_or(json!({})),
            scicat: match m.get("scicat") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(o)) => o.clone(),
                Some(_) => bail!(
                    "{}: `scicat` maps URLs (as the schema renders them) to recorded replies",
                    file.display()
                ),
            },
            expected: path_of("expected")?
                .unwrap_or_else(|| dir.join(format!("{stem}.expected.json"))),
            warnings: match m.get("warnings") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|w| w.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            anyhow!("{}: `warnings` is a list of strings", file.display())
                        })?,
                ),
                Some(_) => bail!(
                    "{}: `warnings` is a list of strings (pieces of the expected warnings)",
                    file.display()
                ),
            },
        })
    }
}

/// Answers `SC` variables and the sample query from recorded replies.
pub struct Recorded<'a>(pub &'a Map<String, Value>);

fn decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl ScicatReads for Recorded<'_> {}

impl ScFetch for Recorded<'_> {
    fn get_json(&self, url: &str) -> Result<Value, String> {
        let want = decoded(url);
        let reply = self
            .0
            .get(url)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(k, _)| decoded(k) == want)
                    .map(|(_, v)| v)
            })
            .ok_or_else(|| {
                format!("no recorded reply for GET {url}: add it under `scicat:` in the case file")
            })?;
        match reply.get("$status").and_then(Value::as_u64) {
            Some(status) if !(200..300).contains(&status) => {
                Err(format!("GET {url} answered {status} (recorded)"))
            }
            Some(_) => Ok(reply.get("$body").cloned().unwrap_or(Value::Null)),
            None => Ok(reply.clone()),
        }
    }
}

/// The case's `config` options loaded as production loads a config file
/// (unknown keys are warnings, wrong values errors), with the warnings.
fn case_config(case: &Case) -> Result<(Config, Vec<String>)> {
    let loaded = crate::config::from_document(case.config.clone(), &case.file, &[])?;
    let mut c = loaded.config;
    // Recorded replies stand in for SciCat: no host, no secrets.
    c.scicat.host = String::new();
    c.scicat.token = crate::config::Secret::default();
    c.scicat.password = crate::config::Secret::default();
    Ok((c, loaded.warnings))
}

/// Runs one case and returns what it produced, normalised, and the
/// warnings it gave (config first).
pub fn produce(case: &Case) -> Result<(Value, Vec<String>)> {
    let (config, mut warnings) = case_config(case)?;
    for w in &warnings {
        log::warn!("{w}");
    }
    let files = if case.schemas.is_dir() {
        schema::schema_files(&case.schemas)?
    } else {
        vec![case.schemas.clone()]
    };
    let set = SchemaSet::load_files(&files, None);
    ingest::log_diagnostics(&set.diagnostics);
    if set.schemas.is_empty() {
        bail!("{}: no schema could be loaded", case.schemas.display());
    }
    // The fixture is copied to a scratch folder so that the hash file the run
    // writes does not land in the case's folder.
    let case_dir = case.file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let scratch = std::env::temp_dir().join(format!("scicat-test-{}", uuid::Uuid::new_v4()));
    let place = |p: &Path| -> Result<PathBuf> {
        let rel = p
            .strip_prefix(&case_dir)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| PathBuf::from(p.file_name().unwrap_or_default()));
        let to = scratch.join(rel);
        std::fs::create_dir_all(to.parent().unwrap())?;
        std::fs::copy(p, &to).with_context(|| format!("cannot read {}", p.display()))?;
        Ok(to)
    };
    let result = (|| -> Result<(Value, Vec<String>)> {
        let nexus = place(&case.nexus_file)?;
        let done = case
            .done_writing_message_file
            .as_deref()
            .map(place)
            .transpose()?;
        let req = Request {
            nexus_file: nexus.to_string_lossy().into_owned(),
            nexus_path: nexus.clone(),
            done_writing_message_file: done.map(|d| d.to_string_lossy().into_owned()),
            dry_run: true,
            fixed_builtins: vec![
                ("now".into(), json!(FIXED_NOW)),
                ("ingestor_run_id".into(), json!(FIXED_RUN_ID)),
            ],
        };
        let mut plugins = PluginHost::new(&config.plugins)?;
        let built = ingest::build(&config, &set, &Recorded(&case.scicat), &mut plugins, &req)?;
        let pid = built
            .dataset
            .get("pid")
            .and_then(Value::as_str)
            .map(str::to_string);
        let odb = ingest::origdatablock(&config, &built, pid.as_deref())?;
        let mut out = json!({
            "schema": built.schema_id,
            "dataset": built.dataset,
            "origdatablock": odb,
        });
        normalise(
            &mut out,
            &scratch.to_string_lossy(),
            config.dataset.generate_dataset_pid,
        );
        Ok((out, built.warnings))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    let (out, run_warnings) = result?;
    let config_warnings = warnings.len();
    warnings.extend(run_warnings);
    if case.warnings.is_none() && config_warnings > 0 {
        bail!(
            "{}: the case's config gives warnings ({}); fix the config, or list them under `warnings:`",
            case.file.display(),
            warnings[..config_warnings].join("; ")
        );
    }
    Ok((out, warnings))
}

/// Each expected piece must be in some warning, and each warning must have
/// an expected piece.
fn check_warnings(expected: &[String], got: &[String], diffs: &mut Vec<String>) {
    for e in expected {
        if !got.iter().any(|g| g.contains(e.as_str())) {
            diffs.push(format!(
                "warnings: expected one containing {e:?}, got {got:?}"
            ));
        }
    }
    for g in got {
        if !expected.iter().any(|e| g.contains(e.as_str())) {
            diffs.push(format!("warnings: unexpected {g:?}"));
        }
    }
}

/// Replaces what differs between runs and machines by placeholders.
pub fn normalise(out: &mut Value, scratch: &str, generated_pid: bool) {
    fn strings(v: &mut Value, f: &dyn Fn(&str) -> Option<String>) {
        match v {
            Value::String(s) => {
                if let Some(n) = f(s) {
                    *s = n;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| strings(i, f)),
            Value::Object(m) => m.values_mut().for_each(|i| strings(i, f)),
            _ => {}
        }
    }
    strings(out, &|s| {
        s.contains(scratch).then(|| s.replace(scratch, "<case>"))
    });
    if let Some(files) = out
        .pointer_mut("/origdatablock/dataFileList")
        .and_then(Value::as_array_mut)
    {
        for f in files {
            for (k, placeholder) in [
                ("time", "<time>"),
                ("uid", "<uid>"),
                ("gid", "<gid>"),
                ("perm", "<perm>"),
            ] {
                if let Some(v) = f.get_mut(k) {
                    *v = json!(placeholder);
                }
            }
        }
    }
    if generated_pid {
        for p in ["/dataset/pid", "/origdatablock/datasetId"] {
            if let Some(v) = out.pointer_mut(p) {
                *v = json!("<generated>");
            }
        }
    }
}

/// Field-by-field differences between `expected` and `actual`.
pub fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    let show = |v: &Value| {
        let s = v.to_string();
        if s.len() > 120 {
            format!("{}…", &s[..s.floor_char_boundary(119)])
        } else {
            s
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    Some(av) => diff(&p, ev, av, out),
                    None => out.push(format!("{p}: missing (expected {})", show(ev))),
                }
            }
            for (k, av) in a {
                if !e.contains_key(k) {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    out.push(format!("{p}: unexpected {}", show(av)));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        (e, a) if e != a => out.push(format!("{path}: expected {}, got {}", show(e), show(a))),
        _ => {}
    }
}

/// Runs a case: compares with the expectation, or rewrites it with `update`.
pub fn run_case(case: &Case, update: bool) -> Result<Verdict> {
    let (actual, warnings) = produce(case)?;
    if update {
        std::fs::write(
            &case.expected,
            format!("{}\n", serde_json::to_string_pretty(&actual)?),
        )
        .with_context(|| format!("cannot write {}", case.expected.display()))?;
        return Ok(Verdict::Updated);
    }
    let text = std::fs::read_to_string(&case.expected).map_err(|_| {
        anyhow!(
            "no expectation at {}: run `scicat-ingestor test --update {}` to record one, then review it",
            case.expected.display(),
            case.file.display()
        )
    })?;
    let expected: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", case.expected.display()))?;
    let mut diffs = Vec::new();
    diff("", &expected, &actual, &mut diffs);
    if let Some(want) = &case.warnings {
        check_warnings(want, &warnings, &mut diffs);
    }
    Ok(if diffs.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(diffs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_name_each_field() {
        let e = json!({"a": 1, "b": {"c": "x", "d": [1, 2]}, "gone": true});
        let a = json!({"a": 2, "b": {"c": "x", "d": [1, 3]}, "new": null});
        let mut out = Vec::new();
        diff("", &e, &a, &mut out);
        assert_eq!(
            out,
            [
                "a: expected 1, got 2",
                "b.d[1]: expected 2, got 3",
                "gone: missing (expected true)",
                "new: unexpected null"
            ]
        );
    }

    #[test]
    fn recorded_replies_match_encoded_and_decoded_urls() {
        let mut m = Map::new();
        m.insert("proposals/1".into(), json!({"pi": "x"}));
        m.insert("instruments?filter={\"a\": 1}".into(), json!([1]));
        m.insert("proposals/404".into(), json!({"$status": 404}));
        let r = Recorded(&m);
        assert_eq!(r.get_json("proposals/1").unwrap(), json!({"pi": "x"}));
        assert_eq!(
            r.get_json("instruments?filter=%7B%22a%22%3A+1%7D").unwrap(),
            json!([1])
        );
        assert!(r.get_json("proposals/404").unwrap_err().contains("404"));
        assert!(r.get_json("proposals/2").unwrap_err().contains("scicat:"));
    }
}

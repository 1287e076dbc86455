//! The real SciCat backend's own validation code on our bodies: every
//! dataset and origdatablock that the demo, the example plugins' schemas,
//! the ESS-like generated fixtures and the shared fixtures produce goes
//! through `../shared/scicat-backend-validator` (the backend's controllers,
//! pipes, DTOs and mongoose schemas, no database) for v3 and for v4, and any
//! rejection fails. Then the Rust test server's verdicts are compared with
//! the backend's on bodies varied field by field, so the fault-injection
//! server stays exactly as strict as production.
//!
//! Needs Node 20+ and npm (the first setup also the npm registry): without
//! them these tests fail, saying so; they are not skipped.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fixtures::{self, Ess};
use support::scicat_server::ScicatServer;
use support::wasm::{example_schemas, plugin_config};
use support::*;

const VERSIONS: [&str; 2] = ["v3", "v4"];

/// The validator's folder: `SCICAT_BACKEND_VALIDATOR`, else next to the
/// checkout in `shared/`.
fn validator_dir() -> PathBuf {
    match std::env::var_os("SCICAT_BACKEND_VALIDATOR") {
        Some(d) => PathBuf::from(d),
        None => repo().join("../shared/scicat-backend-validator"),
    }
}

fn tool_version(tool: &str) -> Option<String> {
    let out = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs the validator's `setup.sh` once per test binary (idempotent: a
/// fraction of a second when nothing changed; its work folder is
/// `SCICAT_VALIDATOR_DIR` or the per-user cache).
fn setup() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = validator_dir();
        assert!(
            dir.join("setup.sh").is_file(),
            "the SciCat backend validator is not at {} (set SCICAT_BACKEND_VALIDATOR to its folder)",
            dir.display()
        );
        for tool in ["node", "npm"] {
            assert!(
                tool_version(tool).is_some(),
                "`{tool}` is not installed: the real SciCat backend validator needs Node 20+ and npm \
                 (e.g. `apt-get install nodejs npm`); this test does not skip without them"
            );
        }
        let out = Command::new("bash")
            .arg(dir.join("setup.sh"))
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}/setup.sh failed ({}):\n{}\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// One `validate --api API --json` call on `files`, started now.
fn start_validate(api: &str, files: &[PathBuf], out: &Path) -> std::process::Child {
    Command::new("bash")
        .arg(setup().join("validate"))
        .args(["--api", api, "--json"])
        .arg(out)
        .args(files)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs")
}

/// Waits for a validate call: its JSON result and its text report.
fn finish_validate(child: std::process::Child, out: &Path) -> (Value, String) {
    let o = child.wait_with_output().expect("validate runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_ne!(
        o.status.code(),
        Some(2),
        "the validator could not run:\n{report}"
    );
    let j: Value = serde_json::from_slice(
        &std::fs::read(out).unwrap_or_else(|e| panic!("no {}: {e}\n{report}", out.display())),
    )
    .unwrap();
    (j, report)
}

/// The rejected bodies of a validate result, one line each.
fn rejections(j: &Value, api: &str) -> Vec<String> {
    j["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r[api]["accepted"] != true)
        .map(|r| {
            format!(
                "{} {} {}: {} {}",
                r["file"], r["kind"], r["id"], r[api]["status"], r[api]["errors"]
            )
        })
        .collect()
}

/// A dry run's bodies, as the upload would send them: the origdatablock of
/// a dataset without a pid gets the pid SciCat would have answered.
fn dry_run_to(config: &Path, data: &Path, api: &str, out: &Path) {
    let run = ingest(
        config,
        data,
        &["--dry-run", "--set", &format!("scicat.api_version={api}")],
        &[],
    );
    run.ok();
    let mut j = run.json();
    if j["origdatablock"].get("datasetId").is_none() {
        j["origdatablock"]["datasetId"] = json!(format!(
            "20.500.12269/{}",
            out.file_stem().unwrap().to_string_lossy()
        ));
    }
    std::fs::write(out, serde_json::to_string_pretty(&j).unwrap()).unwrap();
}

/// `(name, config, data file)` of everything the project ships that makes
/// bodies. `server` answers the schemas' SciCat lookups.
fn sources(dir: &Path, server: &ScicatServer) -> Vec<(String, PathBuf, PathBuf)> {
    let mut out = Vec::new();
    // The demo (`make demo`), on its generated file.
    let demo = fixtures::ess_in_tree(&dir.join("demo"), "demo_coda_31010.nxs", &Ess::default());
    out.push(("demo".into(), repo().join("demo/config.json"), demo));

    // The ESS-like generated fixtures with the tests' coda-like schema, one
    // of them with several matching samples.
    server.state().samples = vec![
        json!({"sampleId": "sample-1", "description": "A Sample", "proposalId": "443503"}),
        json!({"sampleId": "sample-2", "description": "A Sample", "proposalId": "443503"}),
    ];
    for (name, e, samples) in [
        ("ess-coda", Ess::default(), false),
        (
            "ess-ymir",
            Ess {
                instrument: "YMIR".into(),
                proposal: "876380".into(),
                run: "11465".into(),
                job_id: "90d87f9a-950f-11ef-9101-fa163e943f63".into(),
                ..Ess::default()
            },
            false,
        ),
        ("ess-samples", Ess::default(), true),
    ] {
        let d = dir.join(name);
        let schemas = coda_schema_with(&d, |s| {
            if samples {
                s["sample_attachment"] = json!({"query_sample_name": true});
            }
        });
        let data = fixtures::ess_in_tree(&d, "small_coda_31010.hdf", &e);
        let cfg = write_config(&d, &config_for(&server.url, &schemas));
        out.push((name.into(), cfg, data));
    }

    // Each example plugin's schemas, on the files its tests use.
    let title = Ess {
        title: "LaB6   powder _saxs_290K".into(),
        ..Ess::default()
    };
    let ymir = Ess {
        instrument: "YMIR".into(),
        ..Ess::default()
    };
    for (example, name, e) in [
        ("array-stats", "array-stats", Ess::default()),
        ("instrument-select", "instrument-select", Ess::default()),
        ("instrument-select", "instrument-select-other", ymir),
        ("title-keywords", "title-keywords", title),
        ("title-keywords", "title-keywords-plain", Ess::default()),
    ] {
        let d = dir.join(name);
        let schemas = example_schemas(example, &d);
        let data = fixtures::ess_in_tree(&d, "run_31010.nxs", &e);
        let cfg = write_config(&d, &plugin_config(&schemas, json!({})));
        out.push((name.into(), cfg, data));
    }

    // The shared ESS files with their schemas (copied: the shared folder
    // may be read-only, and the checksum file goes next to the data).
    let shared = repo().join("../shared/fixtures");
    for f in ["small-coda", "small-ymir"] {
        let hdf = shared.join(format!("{f}.hdf"));
        assert!(hdf.is_file(), "{} is missing", hdf.display());
        let d = dir.join(f);
        let schemas = d.join("schemas");
        std::fs::create_dir_all(&schemas).unwrap();
        std::fs::copy(
            shared.join(format!("{f}.imsc.json")),
            schemas.join(format!("{f}.imsc.json")),
        )
        .unwrap();
        let data = d.join("data/raw").join(format!("{f}.hdf"));
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        std::fs::copy(&hdf, &data).unwrap();
        let cfg = write_config(&d, &config_for(&server.url, &schemas));
        out.push((f.into(), cfg, data));
    }
    out
}

#[test]
fn every_body_we_produce_passes_the_real_backend_in_v3_and_v4() {
    setup();
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let srcs = sources(tmp.path(), &server);
    let mut files: Vec<Vec<PathBuf>> = vec![Vec::new(), Vec::new()];
    for (i, api) in VERSIONS.iter().enumerate() {
        let dir = tmp.path().join(api);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, cfg, data) in &srcs {
            let out = dir.join(format!("{name}.json"));
            dry_run_to(cfg, data, api, &out);
            files[i].push(out);
        }
    }
    // The v4 bodies really are v4-shaped (and v3 ones v3-shaped).
    let sample = |api: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(api).join("ess-samples.json")).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        sample("v4")["dataset"]["sampleIds"],
        json!(["sample-1", "sample-2"])
    );
    assert_eq!(sample("v3")["dataset"]["sampleId"], json!("sample-1"));

    let started = Instant::now();
    let children: Vec<_> = VERSIONS
        .iter()
        .zip(&files)
        .map(|(api, f)| {
            let out = tmp.path().join(format!("result-{api}.json"));
            (start_validate(api, f, &out), out)
        })
        .collect();
    let mut failures = Vec::new();
    for ((child, out), (api, f)) in children.into_iter().zip(VERSIONS.iter().zip(&files)) {
        let (j, report) = finish_validate(child, &out);
        let bad = rejections(&j, api);
        if !bad.is_empty() || j["ok"] != true {
            failures.push(format!("{api}:\n  {}\n{report}", bad.join("\n  ")));
        }
        assert_eq!(
            j["total"],
            json!(2 * f.len()),
            "one dataset and one origdatablock per file:\n{report}"
        );
    }
    let took = started.elapsed();
    eprintln!(
        "real backend validators: {} bodies in {:.1} s",
        2 * (files[0].len() + files[1].len()),
        took.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "the real SciCat backend rejects bodies we produce:\n{}",
        failures.join("\n")
    );
    assert!(took < Duration::from_secs(120), "validation took {took:?}");
}

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

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fixtures::{self, Ess};
use support::scicat_server::v4::validate_dataset_v4;
use support::scicat_server::{ScicatServer, validate_dataset, validate_origdatablock};
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
    // The test server takes them too.
    for (api, f) in VERSIONS.iter().zip(&files) {
        for file in f {
            let j: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
            let d = Some(&j["dataset"]);
            let ours = if *api == "v3" {
                validate_dataset(d)
            } else {
                validate_dataset_v4(d)
            };
            assert!(ours.is_empty(), "{api} {}: {ours:?}", file.display());
            let odb = validate_origdatablock(Some(&j["origdatablock"]));
            assert!(odb.is_empty(), "{api} {}: {odb:?}", file.display());
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

/// Values every field is set to when varying a body: each JSON type and
/// blanks.
fn variants() -> Vec<Value> {
    vec![
        json!(12),
        json!(1.5),
        json!(true),
        json!({"a": 1}),
        json!(["a"]),
        json!(""),
        json!("text"),
        Value::Null,
    ]
}

/// More values for the fields whose rule tells them apart (emails, dates,
/// URLs, lists of objects or strings); `SCICAT_STRICTNESS_FULL=1` tries them
/// on every field (about three times as long).
fn special_variants() -> Vec<Value> {
    vec![
        json!([1]),
        json!([]),
        json!("someone@example.org"),
        json!("2024-10-28T09:06:41.186Z"),
        json!("2024-10-28 09:06"),
        json!("https://example.org/x"),
    ]
}

const SPECIAL_FIELDS: &[&str] = &[
    "ownerEmail",
    "contactEmail",
    "sourceFolderHost",
    "creationTime",
    "startTime",
    "endTime",
    "time",
    "techniques",
    "relationships",
    "keywords",
    "principalInvestigators",
    "inputDatasets",
    "usedSoftware",
    "jobLogData",
    "jobParameters",
    "scientificMetadata",
    "path",
];

/// `SCICAT_STRICTNESS_FULL` set (`make test-strictness`): every property
/// of both versions with every value (about 2000 bodies, a minute or two);
/// else the fields our bodies have plus an unknown one (a few hundred).
fn full() -> bool {
    std::env::var_os("SCICAT_STRICTNESS_FULL").is_some()
}

/// A valid body varied one field at a time: removed, or set to each of
/// [`variants`]. `keys` are the other fields to vary in a full run.
fn varied(base: &Value, keys: &[&str]) -> Vec<(String, Value)> {
    let full = full();
    let mut all: Vec<String> = base.as_object().unwrap().keys().cloned().collect();
    let extra: &[&str] = if full { keys } else { &["colour"] };
    for k in extra {
        if !all.iter().any(|a| a == k) {
            all.push((*k).to_string());
        }
    }
    let mut out = Vec::new();
    for k in &all {
        if base.get(k).is_some() {
            let mut b = base.clone();
            b.as_object_mut().unwrap().remove(k);
            out.push((format!("without {k}"), b));
        }
        let mut values = variants();
        if full || SPECIAL_FIELDS.contains(&k.as_str()) {
            values.extend(special_variants());
        }
        for v in values {
            let mut b = base.clone();
            b[k] = v.clone();
            out.push((format!("{k} = {v}"), b));
        }
    }
    out
}

#[test]
fn the_test_server_is_as_strict_as_the_real_backend() {
    setup();
    let tmp = tempfile::tempdir().unwrap();
    let data = fixtures::ess_in_tree(tmp.path(), "demo_coda_31010.nxs", &Ess::default());
    let mut cases: Vec<Vec<(String, &str, Value)>> = Vec::new();
    for api in VERSIONS {
        let out = tmp.path().join(format!("base-{api}.json"));
        dry_run_to(&repo().join("demo/config.json"), &data, api, &out);
        let base: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let props: &[&str] = &[
            "pid",
            "type",
            "version",
            "datasetName",
            "principalInvestigator",
            "principalInvestigators",
            "startTime",
            "endTime",
            "creationLocation",
            "dataFormat",
            "sampleId",
            "sampleIds",
            "instrumentId",
            "instrumentIds",
            "proposalId",
            "proposalIds",
            "runNumber",
            "owner",
            "ownerEmail",
            "orcidOfOwner",
            "contactEmail",
            "sourceFolder",
            "sourceFolderHost",
            "size",
            "packedSize",
            "numberOfFiles",
            "numberOfFilesArchived",
            "creationTime",
            "validationStatus",
            "keywords",
            "description",
            "classification",
            "license",
            "isPublished",
            "techniques",
            "sharedWith",
            "relationships",
            "datasetlifecycle",
            "scientificMetadata",
            "scientificMetadataSchema",
            "scientificMetadataValid",
            "comment",
            "dataQualityMetrics",
            "ownerGroup",
            "accessGroups",
            "instrumentGroup",
            "inputDatasets",
            "usedSoftware",
            "jobParameters",
            "jobLogData",
            "colour",
        ];
        let mut list = Vec::new();
        for (i, (what, mut body)) in varied(&base["dataset"], props).into_iter().enumerate() {
            // Each its own pid: the validator keeps what it accepted.
            if !what.contains("pid") {
                body["pid"] = json!(format!("20.500.12269/varied-{i}"));
            }
            list.push((what, "dataset", body));
        }
        let odb = &base["origdatablock"];
        let odb_props = &[
            "datasetId",
            "size",
            "chkAlg",
            "dataFileList",
            "ownerGroup",
            "accessGroups",
            "instrumentGroup",
            "isPublished",
            "colour",
        ];
        for (what, body) in varied(odb, odb_props) {
            list.push((what, "origdatablock", body));
        }
        let file = &odb["dataFileList"][0];
        let file_props = &[
            "path", "size", "time", "chk", "uid", "gid", "perm", "colour",
        ];
        for (what, f) in varied(file, file_props) {
            let mut body = odb.clone();
            body["dataFileList"][0] = f;
            list.push((format!("dataFileList[0] {what}"), "origdatablock", body));
        }
        cases.push(list);
    }

    let children: Vec<_> = VERSIONS
        .iter()
        .zip(&cases)
        .map(|(api, list)| {
            let input = tmp.path().join(format!("varied-{api}.json"));
            let bodies: Vec<Value> = list
                .iter()
                .map(|(_, kind, body)| json!({"kind": kind, "body": body}))
                .collect();
            std::fs::write(&input, Value::Array(bodies).to_string()).unwrap();
            let out = tmp.path().join(format!("varied-result-{api}.json"));
            (start_validate(api, &[input], &out), out)
        })
        .collect();
    let started = Instant::now();
    let mut disagree = Vec::new();
    for ((child, out), (api, list)) in children.into_iter().zip(VERSIONS.iter().zip(&cases)) {
        let (j, report) = finish_validate(child, &out);
        let results = j["results"].as_array().unwrap();
        assert_eq!(results.len(), list.len(), "{report}");
        for ((what, kind, body), r) in list.iter().zip(results) {
            assert_eq!(r["kind"], json!(kind), "results out of order at {what}");
            let real = r[api]["accepted"] == true;
            let ours = match (*kind, *api) {
                ("dataset", "v3") => validate_dataset(Some(body)),
                ("dataset", _) => validate_dataset_v4(Some(body)),
                _ => validate_origdatablock(Some(body)),
            };
            if real != ours.is_empty() {
                disagree.push(format!(
                    "{api} {kind} {what}: backend {} {}, test server {:?}",
                    r[api]["status"], r[api]["errors"], ours
                ));
            }
        }
    }
    eprintln!(
        "real backend validators: {} varied bodies in {:.1} s",
        cases.iter().map(Vec::len).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        disagree.is_empty(),
        "{} verdicts differ between the test server and the real backend:\n{}",
        disagree.len(),
        disagree.join("\n")
    );
}

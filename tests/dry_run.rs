//! End to end, dry run: the built binary on generated ESS-like fixtures, with
//! `SC` variables served by the SciCat test server over real HTTP.

use crate::support;

use serde_json::{Value, json};
use support::fixtures::{self, Ess};
use support::scicat_server::{ScicatServer, sm_values};
use support::*;

fn coda_file(dir: &std::path::Path, e: &Ess) -> std::path::PathBuf {
    fixtures::ess_in_tree(dir, "small_coda_31010.hdf", e)
}

#[test]
fn dry_run_prints_the_dataset_field_by_field() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = coda_file(tmp.path(), &Ess::default());
    let cfg = write_config(tmp.path(), &config_for(&server.url, &schemas_dir()));
    let run = ingest(&cfg, &data, &["--dry-run"], &[]);
    run.ok();
    let out = run.json();
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["schema", "dataset", "origdatablock"]);
    assert_eq!(out["schema"], "7c1e6a52-2f0d-4c55-9a57-coda00000001");

    let d = &out["dataset"];
    let proposal_dir = tmp.path().join("443503");
    let expect = json!({
        "pid": "20.500.12269/f22acb1c-950b-11ef-a3ef-fa163e9aae0a",
        "type": "raw",
        "proposalId": "443503",
        "datasetName": "odin",
        "principalInvestigator": "Jane Doe",
        "owner": "Jane Doe",
        "ownerEmail": "jane.doe@ess.eu",
        "contactEmail": "jane.doe@ess.eu",
        "instrumentId": "inst-odin-1",
        "creationLocation": "ESS:CODA:ODIN",
        "startTime": "2024-10-28T09:06:41.186Z",
        "endTime": "2024-10-28T09:18:14.376Z",
        "runNumber": "31010",
        "ownerGroup": "ess_proposal_443503",
        "accessGroups": ["scientific information management systems group"],
        "sourceFolder": proposal_dir.to_str().unwrap(),
        "isPublished": false,
        "numberOfFiles": 2,
        "techniques": [],
    });
    for (k, v) in expect.as_object().unwrap() {
        assert_eq!(&d[k], v, "dataset field {k}");
    }
    let data_size = std::fs::metadata(&data).unwrap().len();
    // A dry run writes nothing, not even the hash file; it lists it as it
    // would be (128 hex digits).
    let hash_file = proposal_dir.join("ingestor/small_coda_31010.b2b");
    assert!(
        !hash_file.exists(),
        "a dry run wrote {}",
        hash_file.display()
    );
    assert!(!proposal_dir.join("ingestor").exists());
    assert_eq!(d["size"], json!(data_size + 128));
    let created = d["creationTime"].as_str().unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(created).unwrap();
    assert!((chrono::Utc::now() - created.to_utc()).num_seconds().abs() < 60);

    let sm = &d["scientificMetadata"];
    assert_eq!(
        sm["run_number"],
        json!({"value": 31010, "unit": "", "human_name": "Run Number", "type": "integer"})
    );
    assert_eq!(
        sm["sample_temperature"],
        json!({"value": 293.15, "unit": "K", "human_name": "Sample Temperature", "type": "float"})
    );
    assert_eq!(
        sm["total_counts"],
        json!({"value": 123456, "unit": "counts", "human_name": "total_counts", "type": "integer"})
    );
    let smv = sm_values(d);
    assert_eq!(smv["job_id"], "f22acb1c-950b-11ef-a3ef-fa163e9aae0a");
    assert_eq!(smv["start_time"], "2024-10-28T09:06:41.186Z");
    assert_eq!(
        smv["acquisition_team_members"],
        "Anders Pettersson, Fredrik Bolmsten, Matt Clarke, Søren Schmidt"
    );
    assert_eq!(sm.as_object().unwrap().len(), 7);

    let odb = &out["origdatablock"];
    assert_eq!(odb["datasetId"], d["pid"]);
    assert_eq!(odb["size"], d["size"]);
    assert_eq!(odb["chkAlg"], "blake2b");
    assert_eq!(odb["ownerGroup"], d["ownerGroup"]);
    assert_eq!(odb["accessGroups"], d["accessGroups"]);
    let files = odb["dataFileList"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["path"], "raw/small_coda_31010.hdf");
    assert_eq!(files[0]["size"], json!(data_size));
    assert_eq!(files[0]["chk"], json!(b2(&data)));
    assert_eq!(files[1]["path"], "ingestor/small_coda_31010.b2b");
    assert!(files[1].get("chk").is_none());
    for f in files {
        assert!(f["time"].as_str().unwrap().ends_with(".000Z"));
        assert!(f["uid"].is_string() && f["gid"].is_string() && f["perm"].is_string());
    }

    // SC variables were fetched over HTTP with the token; nothing was written.
    // Three SC variables read fields of the same proposal: one GET.
    let proposals = server.requests_to("GET proposals/443503");
    assert_eq!(proposals.len(), 1);
    assert_eq!(
        proposals[0].header("authorization"),
        Some("Bearer test-token-0123456789")
    );
    let inst = server.requests_to("GET instruments");
    assert_eq!(
        inst[0].filter,
        Some(json!({"where": {"name": {"ilike": "odin"}}}))
    );
    assert!(server.requests().iter().all(|r| r.method == "GET"));
    assert!(server.datasets().is_empty());
    // The token is not in the output.
    assert!(!run.stderr.contains("test-token-0123456789"));
    assert!(!run.stdout.contains("test-token-0123456789"));
}

#[test]
fn absolute_paths_and_a_done_writing_file() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = coda_file(tmp.path(), &Ess::default());
    let msg = data.with_file_name("small_coda_31010.done.json");
    std::fs::write(&msg, b"{\"done\": true}").unwrap();
    let mut cfg = config_for(&server.url, &schemas_dir());
    cfg["ingestion"]["file_handling"] = json!({"file_path_type": "absolute"});
    let cfg = write_config(tmp.path(), &cfg);
    let run = ingest(
        &cfg,
        &data,
        &["--done-writing-message-file", msg.to_str().unwrap(), "-d"],
        &[],
    );
    run.ok();
    let out = run.json();
    let files = out["origdatablock"]["dataFileList"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            data.to_str().unwrap(),
            tmp.path()
                .join("443503/ingestor/small_coda_31010.b2b")
                .to_str()
                .unwrap(),
            msg.to_str().unwrap()
        ]
    );
    assert_eq!(files[2]["chk"], json!(b2(&msg)));
    assert_eq!(out["dataset"]["numberOfFiles"], 3);
}

#[test]
fn brackets_in_data_are_data_and_failures_are_one_warning() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let e = Ess {
        title: "calibration <run> 2".into(),
        proposal: "999999".into(),
        ..Ess::default()
    };
    let data = coda_file(tmp.path(), &e);
    let cfg = write_config(tmp.path(), &config_for(&server.url, &schemas_dir()));
    let run = ingest(&cfg, &data, &["-d"], &[]);
    // Proposal 999999 is unknown: the PI variables fail, so do the required
    // fields that use them, and the run stops before any upload.
    assert_ne!(run.code, 0);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("variables failed"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    for v in ["pi_firstname", "pi_lastname", "pi_email"] {
        assert!(warnings[0].contains(v), "{}", warnings[0]);
    }
    assert!(warnings[0].contains("404"), "{}", warnings[0]);
    let fields = run
        .stderr
        .lines()
        .find(|l| l.contains("fields failed"))
        .expect("a field warning");
    assert!(
        fields.contains("principalInvestigator")
            && fields.contains("uses pi_firstname and pi_lastname, which failed"),
        "{fields}"
    );
    assert!(
        !warnings[0].contains("dataset_name"),
        "the title with <run> is data"
    );
    assert!(
        run.last_line().contains("principalInvestigator"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn missing_paths_are_one_line_reasons_without_hdf5_noise() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = tmp.path().join("schemas");
    std::fs::create_dir(&schemas).unwrap();
    std::fs::write(
        schemas.join("s.imsc.json"),
        serde_json::to_string(&json!({
            "id": "s", "name": "s", "order": 1, "selector": "*",
            "variables": {
                "nope": {"source": "NXS", "path": "/entry/does_not_exist", "value_type": "string"},
                "deeper": {"source": "NXS", "path": "/entry/instrument/name/x", "value_type": "string"},
                "title": {"source": "NXS", "path": "/entry/title", "value_type": "string"}
            },
            "schema": {
                "n": {"field_type": "high_level", "machine_name": "datasetName", "value": "<title>", "type": "string"}
            }
        }))
        .unwrap(),
    )
    .unwrap();
    let data = tmp.path().join("f.h5");
    fixtures::write_ess(&data, &Ess::default());
    let cfg = write_config(
        tmp.path(),
        &json!({"ingestion": {"schemas_directory": schemas}}),
    );
    let run = ingest(&cfg, &data, &["-d"], &[]);
    assert!(!run.stderr.contains("HDF5-DIAG"), "{}", run.stderr);
    assert!(!run.stderr.contains("#000"), "{}", run.stderr);
    let w = run
        .stderr
        .lines()
        .find(|l| l.contains("variables failed"))
        .expect("a failure warning");
    assert!(w.contains("no object `does_not_exist` in /entry"), "{w}");
    assert!(
        w.contains("/entry/instrument/name is a dataset, not a group"),
        "{w}"
    );
    // Without SciCat and without required fields: a clear error that names
    // what is missing.
    assert_ne!(run.code, 0);
    let last = run.last_line();
    assert!(
        last.contains("required") && last.contains("principalInvestigator"),
        "{last}"
    );
}

#[test]
fn yaml_config_and_yaml_schema_with_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = tmp.path().join("schemas");
    std::fs::create_dir(&schemas).unwrap();
    std::fs::write(
        schemas.join("y.imsc.yml"),
        r#"
id: yaml-schema
name: YAML schema
order: 1
selector:
  or:
    - filename:contains:nothing
    - {source: datafile, operator: starts_with, operand_2: "TMPDIR"}
variables:
  title: {source: NXS, path: /entry/title, value_type: string}
  upper: {source: VALUE, value: "<title>", operator: to-upper, value_type: string}
  folder: {source: VALUE, value: "<data_file_path>", operator: dirname, value_type: string}
schema:
  name: {field_type: high_level, machine_name: datasetName, value: "<upper>", type: string}
  pi: {field_type: high_level, machine_name: principalInvestigator, value: "Ann", type: string}
  owner: {field_type: high_level, machine_name: owner, value: "Ann", type: string}
  oe: {field_type: high_level, machine_name: ownerEmail, value: "ann@example.org", type: email}
  ce: {field_type: high_level, machine_name: contactEmail, value: "ann@example.org", type: email}
  loc: {field_type: high_level, machine_name: creationLocation, value: "here", type: string}
  sf: {field_type: high_level, machine_name: sourceFolder, value: "<folder>", type: string}
  ct: {field_type: high_level, machine_name: creationTime, value: "<now>", type: date}
  odd: {field_type: highlevel, machine_name: nothing, value: "x", type: string}
  colour: {field_type: high_level, machine_name: colour, value: "blue", type: string}
"#
        .replace("TMPDIR", tmp.path().to_str().unwrap()),
    )
    .unwrap();
    let data = tmp.path().join("run.nxs");
    fixtures::write_ess(&data, &Ess::default());
    let cfg = tmp.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "ingestion:\n  schemas_directory: {}\n  file_handling:\n    save_file_hash: true\nkafka:\n  topics: x\n",
            schemas.display()
        ),
    )
    .unwrap();
    let run = ingest(
        &cfg,
        &data,
        &[
            "-d",
            "--set",
            "ingestion.file_handling.save_file_hash=false",
            "--set",
            "dataset.default_owner_group=from-cli",
            "--set",
            "ingestion.file_handling.file_path_type=absolute",
        ],
        &[],
    );
    run.ok();
    let out = run.json();
    let d = &out["dataset"];
    assert_eq!(out["schema"], "yaml-schema");
    assert_eq!(d["datasetName"], "ODIN");
    assert_eq!(d["ownerGroup"], "from-cli");
    assert_eq!(
        d["numberOfFiles"], 1,
        "the override turned the hash file off"
    );
    assert!(d.get("colour").is_none());
    assert!(run.stderr.contains("colour"), "dropped fields are named");
    assert!(run.stderr.contains("odd"), "ignored field types are named");
}

#[test]
fn upload_without_a_host_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = coda_file(tmp.path(), &Ess::default());
    let cfg = write_config(
        tmp.path(),
        &json!({"ingestion": {"schemas_directory": schemas_dir()}}),
    );
    let run = ingest(&cfg, &data, &[], &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.last_line().contains("scicat.host is not configured"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_errors_name_file_key_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.json");
    std::fs::write(&cfg, "{\n \"ingestion\": {\n  \"dry_run\": true,,\n }\n}\n").unwrap();
    let run = ingestor(&["-c", cfg.to_str().unwrap(), "--nexus-file", "x.h5"], &[]);
    assert_ne!(run.code, 0);
    let last = run.last_line();
    assert!(last.contains("c.json") && last.contains("line 3"), "{last}");
    std::fs::write(&cfg, r#"{"ingestion": {"dry_run": "yes"}}"#).unwrap();
    let run = ingestor(&["-c", cfg.to_str().unwrap(), "--nexus-file", "x.h5"], &[]);
    assert!(
        run.last_line().contains("ingestion.dry_run"),
        "{}",
        run.stderr
    );
}

#[test]
fn unreadable_data_files_are_retried_then_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("small_coda_bad.hdf");
    std::fs::write(&bad, b"this is not HDF5").unwrap();
    let mut cfg = json!({"ingestion": {"schemas_directory": schemas_dir(),
        "file_handling": {"data_file_open_max_tries": 2, "data_file_open_retry_delay": [1]}}});
    let cfg_path = write_config(tmp.path(), &cfg);
    let t = std::time::Instant::now();
    let run = ingest(&cfg_path, &bad, &["-d"], &[]);
    assert_ne!(run.code, 0);
    assert!(
        t.elapsed() >= std::time::Duration::from_secs(1),
        "one retry waited 1 s"
    );
    assert!(run.stderr.contains("try 1 of 2"), "{}", run.stderr);
    assert!(
        run.last_line().contains("gave up after 2 tries"),
        "{}",
        run.stderr
    );
    // A file that does not exist is not retried.
    cfg["ingestion"]["file_handling"]["data_file_open_retry_delay"] = json!([5]);
    let cfg_path = write_config(tmp.path(), &cfg);
    let missing = tmp.path().join("nope.h5");
    let run = ingest(&cfg_path, &missing, &["-d"], &[]);
    assert_ne!(run.code, 0);
    assert!(run.last_line().contains("no such file"), "{}", run.stderr);
}

#[test]
fn a_broken_schema_does_not_stop_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = tmp.path().join("schemas");
    std::fs::create_dir(&schemas).unwrap();
    std::fs::copy(
        schemas_dir().join("coda-like.imsc.json"),
        schemas.join("coda-like.imsc.json"),
    )
    .unwrap();
    std::fs::write(schemas.join("broken.imsc.json"), "{\"id\": ").unwrap();
    let server = ScicatServer::start();
    let data = coda_file(tmp.path(), &Ess::default());
    let cfg = write_config(tmp.path(), &config_for(&server.url, &schemas));
    let run = ingest(&cfg, &data, &["-d"], &[]);
    run.ok();
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("broken.imsc.json")),
        "{}",
        run.stderr
    );
    let out: Value = run.json();
    assert_eq!(out["dataset"]["datasetName"], "odin");
}

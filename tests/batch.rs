//! Many files through one engine: `scicat-ingestor ingest` on a backlog
//! (good, corrupt, failing and half-done files) and the library's engine
//! shared by several threads, against the SciCat test server.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use support::fixtures::{self, Ess};
use support::scicat_server::ScicatServer;
use support::*;

fn ess(run: u32) -> Ess {
    Ess {
        run: run.to_string(),
        job_id: format!("00000000-0000-4000-8000-{run:012}"),
        ..Ess::default()
    }
}

fn batch(config: &Path, paths: &[&Path], extra: &[&str]) -> Run {
    let mut args = vec!["ingest", "-c", config.to_str().unwrap()];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    args.extend_from_slice(extra);
    ingestor(&args, &[])
}

fn report(path: &Path) -> Vec<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["files"].as_array().unwrap().clone()
}

fn outcome_of<'a>(records: &'a [Value], file: &Path) -> &'a Value {
    records
        .iter()
        .find(|r| r["path"] == file.to_str().unwrap())
        .unwrap_or_else(|| panic!("{} not in the report: {records:#?}", file.display()))
}

#[test]
fn a_backlog_is_ingested_reported_and_finished_by_a_second_run() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let good: Vec<PathBuf> = (1..=3)
        .map(|i| fixtures::ess_in_tree(dir, &format!("coda_{i}.hdf"), &ess(40000 + i)))
        .collect();
    let raw = good[0].parent().unwrap().to_path_buf();
    let corrupt = raw.join("coda_corrupt.hdf");
    std::fs::write(&corrupt, b"this is not HDF5").unwrap();
    let unknown_proposal = fixtures::ess_in_tree(
        dir,
        "coda_unknown.hdf",
        &Ess {
            proposal: "999999".into(),
            ..ess(40010)
        },
    );
    let config = write_config(dir, &config_for(&server.url, &schemas_dir()));
    // One already in the catalog, one with its dataset but no datablock.
    let present = fixtures::ess_in_tree(dir, "coda_present.hdf", &ess(40020));
    ingest(&config, &present, &[], &[]).ok();
    let half = fixtures::ess_in_tree(dir, "coda_half.hdf", &ess(40030));
    server.fail("POST origdatablocks", 400, 1);
    let run = ingest(&config, &half, &[], &[]);
    assert_ne!(run.code, 0);
    assert!(run.last_line().contains("400"), "{}", run.stderr);
    assert_eq!(server.datasets().len(), 2);
    assert_eq!(server.origdatablocks().len(), 1);

    let report_path = dir.join("report.json");
    // The folder, plus one of its files named again.
    let run = batch(
        &config,
        &[dir, good[0].as_path()],
        &["--jobs", "3", "--report", report_path.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "a file failed: {}", run.stderr);
    let records = report(&report_path);
    assert_eq!(records.len(), 7, "{records:#?}");
    for g in &good {
        let r = outcome_of(&records, g);
        assert_eq!(r["outcome"], "ingested", "{r}");
        assert!(r["pid"].is_string() && r["datablock"].is_string(), "{r}");
    }
    assert_eq!(outcome_of(&records, &present)["outcome"], "already there");
    assert_eq!(outcome_of(&records, &half)["outcome"], "resumed");
    for bad in [&corrupt, &unknown_proposal] {
        let r = outcome_of(&records, bad);
        assert_eq!(r["outcome"], "failed", "{r}");
        assert!(r["error"].as_str().unwrap().len() > 10, "{r}");
    }
    assert!(
        outcome_of(&records, &unknown_proposal)["error"]
            .as_str()
            .unwrap()
            .contains("999999"),
        "the reason names what failed"
    );
    // The catalog agrees with the report, file by file.
    assert_pairs(&server, 5);
    let pids: Vec<Value> = server.datasets().iter().map(|d| d["pid"].clone()).collect();
    for r in &records {
        if r["outcome"] != "failed" {
            assert!(pids.contains(&r["pid"]), "{r}");
        }
    }
    let summary = run
        .stderr
        .lines()
        .find(|l| l.contains("file(s) in"))
        .unwrap();
    assert!(
        summary.contains("3 ingested, 1 resumed (datablock added), 1 already there, 2 failed"),
        "{summary}"
    );
    assert!(run.stderr.contains("FAILED"), "{}", run.stderr);
    assert!(
        run.stderr.contains("named more than once"),
        "{}",
        run.stderr
    );

    // Fix both failures; the same command finishes them and creates nothing
    // twice.
    fixtures::write_ess(&corrupt, &ess(40040));
    server.state().proposals.insert(
        "999999".into(),
        json!({"proposalId": "999999", "pi_firstname": "Ada", "pi_lastname": "L",
               "pi_email": "ada@ess.eu", "title": "late proposal"}),
    );
    let posts_before = server.requests_to("POST").len();
    let again = batch(
        &config,
        &[dir],
        &["--jobs", "3", "--report", report_path.to_str().unwrap()],
    );
    again.ok();
    let records = report(&report_path);
    let ingested = records
        .iter()
        .filter(|r| r["outcome"] == "ingested")
        .count();
    let there = records
        .iter()
        .filter(|r| r["outcome"] == "already there")
        .count();
    assert_eq!((ingested, there), (2, 5), "{records:#?}");
    assert_pairs(&server, 7);
    assert_eq!(server.requests_to("POST").len(), posts_before + 4);
}

#[test]
fn a_dry_run_prints_one_json_line_per_file() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    for i in 1..=4 {
        fixtures::ess_in_tree(tmp.path(), &format!("coda_{i}.nxs"), &ess(50000 + i));
    }
    let config = write_config(tmp.path(), &config_for(&server.url, &schemas_dir()));
    let run = batch(&config, &[tmp.path()], &["--dry-run", "--jobs", "2"]);
    run.ok();
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for l in &lines {
        assert!(l["file"].as_str().unwrap().ends_with(".nxs"), "{l}");
        assert!(l["dataset"]["pid"].is_string() && l["origdatablock"].is_object());
    }
    assert!(server.requests_to("POST").is_empty());
    // One proposal, asked once per worker at most: the engine shares the
    // lookup between files for a few seconds.
    let asked = server.requests_to("GET proposals/443503").len();
    assert!((1..=2).contains(&asked), "{asked} GETs of the proposal");
    // Nothing written next to the data either.
    assert!(!tmp.path().join("443503/ingestor").exists());
}

#[test]
fn one_engine_ingests_fifty_files_from_four_threads() {
    use scicat_ingestor::engine::Ingestor;
    use scicat_ingestor::ingest::{Outcome, Request};
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..50)
        .map(|i| fixtures::ess_in_tree(tmp.path(), &format!("coda_{i}.hdf"), &ess(60000 + i)))
        .collect();
    let config = write_config(tmp.path(), &config_for(&server.url, &schemas_dir()));
    let loaded = scicat_ingestor::config::load(&config, &[]).unwrap();
    let engine = Ingestor::new(loaded.config).unwrap();
    let next = AtomicUsize::new(0);
    let outcomes: Vec<(PathBuf, Outcome)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    while let Some(f) = files.get(next.fetch_add(1, Ordering::SeqCst)) {
                        let req = Request {
                            nexus_file: f.to_string_lossy().into_owned(),
                            nexus_path: f.clone(),
                            done_writing_message_file: None,
                            dry_run: false,
                            fixed_builtins: Vec::new(),
                        };
                        mine.push((f.clone(), engine.ingest(&req).unwrap()));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(outcomes.len(), 50);
    assert_pairs(&server, 50);
    for (f, o) in &outcomes {
        let Outcome::Created { pid, .. } = o else {
            panic!("{}: {o:?}", f.display())
        };
        let run: u32 = f
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_start_matches("coda_")
            .parse()
            .unwrap();
        assert!(pid.ends_with(&format!("{:012}", 60000 + run)), "{pid}");
    }
}

#[test]
fn ctrl_c_finishes_the_running_files_and_prints_the_summary_so_far() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..30 {
        fixtures::ess_in_tree(tmp.path(), &format!("coda_{i}.hdf"), &ess(80000 + i));
    }
    let config = write_config(tmp.path(), &config_for(&server.url, &schemas_dir()));
    // Each dataset POST takes a while, so the interrupt lands mid-file.
    server.delay("POST datasets", std::time::Duration::from_millis(300));
    let report_path = tmp.path().join("r.json");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_scicat-ingestor"))
        .args([
            "ingest",
            "-c",
            config.to_str().unwrap(),
            "--jobs",
            "2",
            "--report",
        ])
        .arg(&report_path)
        .arg(tmp.path())
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while server.requests_to("POST datasets").len() < 3 {
        assert!(t.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SIGINT, as Ctrl-C sends it.
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let datasets = server.datasets().len();
    assert!(datasets < 30, "no new files after Ctrl-C: {datasets}");
    // The running files were finished, not cut between their two POSTs.
    assert_pairs(&server, datasets);
    let records = report(&report_path);
    assert_eq!(records.len(), datasets, "{records:#?}");
}

#[test]
fn a_long_running_engine_picks_up_changed_schemas() {
    use scicat_ingestor::engine::{Ingestor, SCHEMA_CHECK};
    use scicat_ingestor::ingest::{Outcome, Request};
    let tmp = tempfile::tempdir().unwrap();
    let data = fixtures::ess_in_tree(tmp.path(), "coda_1.hdf", &ess(90001));
    let schemas = coda_schema_with(tmp.path(), |_| {});
    let server = ScicatServer::start();
    let config = write_config(tmp.path(), &config_for(&server.url, &schemas));
    let engine =
        Ingestor::new(scicat_ingestor::config::load(&config, &[]).unwrap().config).unwrap();
    let req = Request {
        nexus_file: data.to_string_lossy().into_owned(),
        nexus_path: data.clone(),
        done_writing_message_file: None,
        dry_run: true,
        fixed_builtins: Vec::new(),
    };
    let name_of = |o: Outcome| match o {
        Outcome::DryRun(v) => v["dataset"]["datasetName"].clone(),
        other => panic!("{other:?}"),
    };
    let before = name_of(engine.ingest(&req).unwrap());
    // A fixed schema (a new dataset name) is written while the engine runs.
    coda_schema_with(tmp.path(), |s| {
        let fields = s["schema"].as_object_mut().unwrap();
        for f in fields.values_mut() {
            if f["machine_name"] == "datasetName" {
                f["value"] = json!("renamed <dataset_name>");
            }
        }
    });
    std::thread::sleep(SCHEMA_CHECK + std::time::Duration::from_millis(200));
    let after = name_of(engine.ingest(&req).unwrap());
    assert_ne!(before, after);
    assert!(after.as_str().unwrap().starts_with("renamed "), "{after}");
}

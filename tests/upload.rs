//! End to end, uploading: the built binary against the strict SciCat test
//! server, including faults (5xx, 400, server down, a cut between the two
//! POSTs), authentication, and secrets staying out of logs.

use crate::support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::fixtures::{self, Ess};
use support::scicat_server::{ScicatServer, dead_url, validate_dataset, validate_origdatablock};
use support::*;

const TOKEN: &str = "test-token-0123456789";

#[test]
fn full_ingestion_creates_one_dataset_and_one_datablock() {
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    let run = case.run();
    run.ok();
    let (d, b) = assert_one_valid_pair(&server);
    let pid = "20.500.12269/f22acb1c-950b-11ef-a3ef-fa163e9aae0a";
    assert_eq!(d["pid"], pid);
    // The bodies as sent passed the strict validation.
    let posted = server.requests_to("POST datasets");
    assert_eq!(posted.len(), 1);
    assert!(validate_dataset(posted[0].body.as_ref()).is_empty());
    let posted = server.requests_to("POST origdatablocks");
    assert_eq!(posted.len(), 1);
    assert!(validate_origdatablock(posted[0].body.as_ref()).is_empty());
    assert_eq!(posted[0].body.as_ref().unwrap()["datasetId"], pid);
    assert_eq!(b["dataFileList"][0]["chk"], json!(b2(&case.data)));
    // Existence was checked first, by pid and by job_id.
    assert!(!server.requests_to("GET datasets/20.500.12269").is_empty());
    let by_meta = server.requests_to("GET datasets");
    assert!(by_meta.iter().any(|r| r.filter
        == Some(json!({"where": {"scientificMetadata.job_id.value": "f22acb1c-950b-11ef-a3ef-fa163e9aae0a"}}))));
    // Every request carried the token.
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")))
    );
    // The last line names the file, the pid and the datablock id.
    let last = run.last_line();
    assert!(last.contains(case.data.to_str().unwrap()), "{last}");
    assert!(last.contains(pid), "{last}");
    assert!(last.contains(b["_id"].as_str().unwrap()), "{last}");
}

#[test]
fn rerunning_the_same_file_creates_nothing() {
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    case.run().ok();
    let run = case.run();
    run.ok();
    assert_one_valid_pair(&server);
    assert_eq!(server.requests_to("POST").len(), 2, "no new POST");
    assert!(
        run.last_line().contains("already in SciCat"),
        "{}",
        run.stderr
    );
}

#[test]
fn existence_by_metadata_alone() {
    let server = ScicatServer::start();
    let mut case = Case::new(&server.url);
    case.config["ingestion"]["check_if_dataset_exists_by_pid"] = json!(false);
    case.config["dataset"]["allow_dataset_pid"] = json!(false);
    case.run().ok();
    let (d, _) = assert_one_valid_pair(&server);
    assert!(
        d["pid"].as_str().unwrap().contains("test-"),
        "SciCat assigned the pid"
    );
    // An empty list means "absent", a non-empty one "exists".
    case.run().ok();
    assert_one_valid_pair(&server);
    assert!(
        server
            .requests_to("GET datasets/20.500.12269/f22")
            .is_empty(),
        "no check by pid"
    );
}

#[test]
fn a_cut_after_the_dataset_post_is_finished_by_the_same_run() {
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    server.drop_after("POST datasets", 1);
    let run = case.run();
    run.ok();
    assert_one_valid_pair(&server);
    assert_eq!(
        server.requests_to("POST datasets").len(),
        1,
        "never a second dataset"
    );
}

#[test]
fn a_cut_after_the_dataset_post_without_pid_is_found_by_metadata() {
    let server = ScicatServer::start();
    let mut case = Case::new(&server.url);
    case.config["dataset"]["allow_dataset_pid"] = json!(false);
    server.drop_after("POST datasets", 1);
    case.run().ok();
    assert_one_valid_pair(&server);
}

#[test]
fn a_crash_between_the_posts_is_resumed_by_the_next_run() {
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    server.fail("POST origdatablocks", 500, 100);
    let first = case.run();
    assert_ne!(first.code, 0);
    assert!(first.last_line().contains("run again"), "{}", first.stderr);
    assert_eq!(server.datasets().len(), 1);
    assert!(server.origdatablocks().is_empty());
    server.clear_faults();
    let second = case.run();
    second.ok();
    assert_one_valid_pair(&server);
    assert_eq!(server.requests_to("POST datasets").len(), 1);
    assert!(
        second.last_line().contains("added now"),
        "{}",
        second.stderr
    );
    // And a third run has nothing left to do.
    case.run().ok();
    assert_one_valid_pair(&server);
}

#[test]
fn server_errors_are_retried_and_create_once() {
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    server.fail("POST datasets", 503, 2);
    server.fail("GET proposals", 502, 1);
    case.run().ok();
    assert_one_valid_pair(&server);
    assert_eq!(server.requests_to("POST datasets").len(), 3);
}

#[test]
fn a_400_is_not_retried_and_its_message_is_shown() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let schemas = coda_schema_with(tmp.path(), |schema| {
        // The backend only takes raw or derived.
        schema["schema"]["type"]["value"] = json!("measurement");
    });
    let data = fixtures::ess_in_tree(tmp.path(), "small_coda_31010.hdf", &Ess::default());
    let cfg = write_config(tmp.path(), &config_for(&server.url, &schemas));
    let run = ingest(&cfg, &data, &[], &[]);
    assert_ne!(run.code, 0);
    assert_eq!(
        server.requests_to("POST datasets").len(),
        1,
        "a 400 is not retried"
    );
    let last = run.last_line();
    assert!(last.contains("400"), "{last}");
    assert!(
        last.contains("type must be one of the following values"),
        "{last}"
    );
    assert!(server.datasets().is_empty() && server.origdatablocks().is_empty());
}

#[test]
fn a_server_that_is_down_fails_clearly() {
    let url = dead_url();
    let case = Case::new(&url);
    let t = std::time::Instant::now();
    let run = case.run();
    assert_ne!(run.code, 0);
    let last = run.last_line();
    assert!(last.contains("cannot reach SciCat"), "{last}");
    assert!(last.contains("nothing was uploaded"), "{last}");
    // Retried with backoff once, then every later request fails at once.
    assert!(t.elapsed() < Duration::from_secs(30));
}

#[test]
fn forbidden_and_conflict() {
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    server.fail("POST datasets", 403, 1);
    let run = case.run();
    assert_ne!(run.code, 0);
    assert!(run.last_line().contains("owner group"), "{}", run.stderr);
    // 409: the pid exists (here: created behind a 404 on the GET) — treated as
    // "exists", and, being this file's (same owner group and source folder),
    // its datablock is created.
    server.clear_faults();
    server.fail("GET datasets/", 404, 1);
    let mut pre = case.config.clone();
    pre["ingestion"]["check_if_dataset_exists_by_metadata"] = json!(false);
    let d = serde_json::json!({
        "pid": "20.500.12269/f22acb1c-950b-11ef-a3ef-fa163e9aae0a", "type": "raw",
        "datasetName": "x", "principalInvestigator": "p", "creationLocation": "l", "owner": "o",
        "contactEmail": "a@b.org", "sourceFolder": case.dir.join("443503"),
        "creationTime": "2024-01-01T00:00:00Z", "ownerGroup": "ess_proposal_443503"});
    server.state().datasets.push(d);
    let cfg = write_config(&case.dir, &pre);
    let run = ingest(&cfg, &case.data, &[], &[]);
    run.ok();
    assert_one_valid_pair(&server);
}

#[test]
fn timeouts_are_reported() {
    let server = ScicatServer::start();
    let mut case = Case::new(&server.url);
    case.config["scicat"]["timeout"] = json!(1);
    server.delay("POST datasets", Duration::from_secs(3));
    case.config["ingestion"]["check_if_dataset_exists_by_metadata"] = json!(false);
    case.config["ingestion"]["check_if_dataset_exists_by_pid"] = json!(false);
    let run = case.run();
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
}

#[test]
fn login_with_username_and_password() {
    let server = ScicatServer::start();
    server.require_token("token-from-login-42");
    server.add_user("ingestor", "pa55-w0rd-secret");
    let mut case = Case::new(&server.url);
    case.config["scicat"] = json!({"host": server.url, "username": "ingestor"});
    let run = case.run_with(
        &[],
        &[
            ("SCICAT_PASSWORD", "pa55-w0rd-secret"),
            ("RUST_LOG", "trace"),
        ],
    );
    run.ok();
    assert_one_valid_pair(&server);
    let login = server.requests_to("POST auth/login");
    assert_eq!(login.len(), 1);
    assert!(
        server
            .requests()
            .iter()
            .filter(|r| r.path != "auth/login")
            .all(|r| r.header("authorization") == Some("Bearer token-from-login-42"))
    );
    assert!(
        !run.stderr.contains("pa55-w0rd-secret"),
        "password in the log"
    );
    assert!(
        !run.stderr.contains("token-from-login-42"),
        "token in the log"
    );
    // A wrong password: a clear error, still no secret.
    let run = case.run_with(&[], &[("SCICAT_PASSWORD", "wrong-password-123")]);
    assert_ne!(run.code, 0);
    assert!(run.last_line().contains("log in"), "{}", run.stderr);
    assert!(!run.stderr.contains("wrong-password-123"));
}

#[test]
fn secrets_never_reach_logs_at_trace_level() {
    let server = ScicatServer::start();
    let mut case = Case::new(&server.url);
    let log_base = case.dir.join("ingestor-log");
    // The config says INFO: TRACE lines can only come from RUST_LOG.
    case.config["logging"] = json!({"logging_level": "INFO", "file_log": true,
        "file_log_base_name": log_base});
    case.config["scicat"]["additional_headers"] = json!({"X-Facility": "ESS"});
    let run = case.run_with(
        &["--set", "scicat.token=cli-token-abcdef"],
        &[("RUST_LOG", "trace")],
    );
    run.ok();
    let file_log = std::fs::read_to_string(log_base.with_extension("log")).unwrap();
    assert!(file_log.contains("ingested"), "the file log has the run");
    for text in [&run.stderr, &run.stdout, &file_log] {
        assert!(!text.contains("cli-token-abcdef"));
        assert!(!text.contains(TOKEN));
    }
    assert!(
        run.stderr.lines().any(|l| l.contains(" TRACE ")),
        "RUST_LOG=trace is honoured:\n{}",
        run.stderr
    );
    // The env token wins over the config and the CLI.
    let run = case.run_with(&[], &[("SCICAT_TOKEN", "env-token-xyz987")]);
    run.ok();
    let last = server.requests().last().unwrap().clone();
    assert_eq!(
        last.header("authorization"),
        Some("Bearer env-token-xyz987")
    );
    assert_eq!(last.header("x-facility"), Some("ESS"));
}

#[test]
fn sc_urls_to_another_host_get_no_token() {
    let server = ScicatServer::start();
    let foreign = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let schemas = coda_schema_with(tmp.path(), |schema| {
        schema["variables"]["pi_email"]["url"] =
            json!(format!("{}/proposals/<proposal_id>", foreign.url));
    });
    let data = fixtures::ess_in_tree(tmp.path(), "small_coda_31010.hdf", &Ess::default());
    let cfg = write_config(tmp.path(), &config_for(&server.url, &schemas));
    let run = ingest(&cfg, &data, &["-d"], &[]);
    run.ok();
    assert_eq!(run.json()["dataset"]["ownerEmail"], "jane.doe@ess.eu");
    let f = foreign.requests();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].header("authorization"), None);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_some())
    );
}

#[test]
fn sample_attachment_sets_the_sample_id() {
    let server = ScicatServer::start();
    server.state().samples = vec![
        json!({"sampleId": "sample-1", "description": "A Sample", "proposalId": "443503"}),
        json!({"sampleId": "sample-2", "description": "A Sample", "proposalId": "443503"}),
        json!({"sampleId": "sample-3", "description": "Other", "proposalId": "443503"}),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let schemas = coda_schema_with(tmp.path(), |schema| {
        schema["sample_attachment"] = json!({"query_sample_name": true});
    });
    let data = fixtures::ess_in_tree(tmp.path(), "small_coda_31010.hdf", &Ess::default());
    let cfg = write_config(tmp.path(), &config_for(&server.url, &schemas));
    let run = ingest(&cfg, &data, &[], &[]);
    run.ok();
    let (d, _) = assert_one_valid_pair(&server);
    assert_eq!(d["sampleId"], "sample-1");
    let q = server.requests_to("GET samples");
    assert_eq!(
        q[0].filter,
        Some(json!({"where": {"description": "A Sample", "proposalId": "443503"}}))
    );
    assert!(
        run.stderr.contains("sample-2"),
        "several matches are warned about"
    );
}

#[test]
fn relative_paths_must_lie_under_the_source_folder() {
    let server = ScicatServer::start();
    let mut case = Case::new(&server.url);
    let elsewhere = tempfile::tempdir().unwrap();
    case.config["ingestion"]["file_handling"] =
        json!({"ingestor_files_directory": elsewhere.path()});
    let run = case.run();
    assert_ne!(run.code, 0);
    assert!(
        run.last_line()
            .contains("not inside the dataset sourceFolder"),
        "{}",
        run.stderr
    );
    assert!(server.requests_to("POST").is_empty(), "nothing was sent");
    // With absolute paths the same layout is fine.
    case.config["ingestion"]["file_handling"]["file_path_type"] = json!("absolute");
    case.run().ok();
    let (_, b) = assert_one_valid_pair(&server);
    let hash = Path::new(elsewhere.path()).join("small_coda_31010.b2b");
    assert_eq!(b["dataFileList"][1]["path"], hash.to_str().unwrap());
}

#[test]
fn graylog_receives_gelf() {
    let server = ScicatServer::start();
    let mut case = Case::new(&server.url);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = udp.local_addr().unwrap().port();
    case.config["logging"] = json!({"graylog": true, "graylog_host": "127.0.0.1",
        "graylog_port": port, "graylog_facility": "test.ingestor"});
    case.run().ok();
    let mut buf = vec![0u8; 65536];
    let mut messages = Vec::new();
    while let Ok(n) = udp.recv(&mut buf) {
        let v: Value = serde_json::from_slice(&buf[..n]).unwrap();
        messages.push(v);
        if messages.last().unwrap()["short_message"]
            .as_str()
            .unwrap()
            .contains("ingested")
        {
            break;
        }
    }
    let last = messages.last().unwrap();
    assert_eq!(last["version"], "1.1");
    assert_eq!(last["_facility"], "test.ingestor");
    assert!(last["short_message"].as_str().unwrap().contains("ingested"));
}

#[test]
fn a_403_on_the_existence_check_fails_naming_the_token() {
    // The real backend answers 403 to a missing, wrong or expired token: the
    // ingestor cannot tell whether the dataset exists, so it must not say
    // "already there" and must not create.
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    server.fail("GET datasets/", 403, 100);
    let run = case.run();
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(server.requests_to("POST").is_empty(), "nothing created");
    let last = run.last_line();
    assert!(
        last.contains("403") && last.contains("token") && last.contains("cannot tell"),
        "{last}"
    );
    assert!(!run.stderr.contains("already in SciCat"), "{}", run.stderr);
}

#[test]
fn the_datablock_post_is_retried_without_duplicating() {
    // A 503, then a cut after the server stored the datablock: the run asks
    // what exists before trying again and ends with exactly one datablock.
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    server.fail("POST origdatablocks", 503, 1);
    server.drop_after("POST origdatablocks", 1);
    let run = case.run();
    run.ok();
    assert_one_valid_pair(&server);
    assert_eq!(server.requests_to("POST origdatablocks").len(), 2);
    let e = &run.stderr;
    assert!(e.contains("SciCat answered 503"), "{e}");
    assert!(e.contains("not created; sending again"), "{e}");
    assert!(e.contains("no usable answer"), "{e}");
    assert!(e.contains("created although the answer was lost"), "{e}");
    assert!(
        !server
            .requests_to(
                "GET datasets/20.500.12269/f22acb1c-950b-11ef-a3ef-fa163e9aae0a/origdatablocks"
            )
            .is_empty()
    );
}

//! The ingestor's promises under faults, end to end with the built binary:
//! exactly one dataset and one datablock per file under concurrent runs and
//! lost answers, exit 0 only when both are in, errors that name the HTTP
//! failure, no redirect followed, no secret in any output at any log level,
//! bounded time to give up, and no panic on odd input.

use crate::support;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::scicat_server::{ScicatServer, dead_url};
use support::*;

const PID: &str = "20.500.12269/f22acb1c-950b-11ef-a3ef-fa163e9aae0a";

/// A case whose schema leaves the pid to SciCat.
fn without_schema_pid(case: &mut Case) {
    let schemas = coda_schema_with(&case.dir, |s| {
        let fields = s["schema"].as_object_mut().unwrap();
        fields.retain(|_, f| f["machine_name"] != "pid");
    });
    case.config["ingestion"]["schemas_directory"] = json!(schemas);
}

/// Starts the ingestion form as a child process (not waiting for it).
fn spawn(case: &Case, env: &[(&str, &str)]) -> std::process::Child {
    let cfg = write_config(&case.dir, &case.config);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scicat-ingestor"));
    cmd.args(["-c", cfg.to_str().unwrap(), "--nexus-file"])
        .arg(&case.data)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .env_remove("RUST_LOG")
        .env_remove("SCICAT_TOKEN")
        .env_remove("SCICAT_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("the binary starts")
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn concurrent_runs_create_once(schema_pid: bool) {
    for round in 0..20 {
        let server = ScicatServer::start();
        let mut case = Case::new(&server.url);
        if !schema_pid {
            without_schema_pid(&mut case);
        }
        // Both runs' first existence check is held until both are there:
        // without serialisation both would find nothing and both create.
        server.barrier("GET datasets", 2, Duration::from_millis(300));
        let a = spawn(&case, &[]);
        let b = spawn(&case, &[]);
        let (a, b) = (finish(a), finish(b));
        let ctx = format!("round {round}\nA:\n{}\nB:\n{}", a.stderr, b.stderr);
        assert_eq!((a.code, b.code), (0, 0), "{ctx}");
        assert_eq!(server.datasets().len(), 1, "{ctx}");
        assert_eq!(server.origdatablocks().len(), 1, "{ctx}");
        assert_one_valid_pair(&server);
        let already = [&a, &b]
            .iter()
            .filter(|r| r.last_line().contains("already in SciCat"))
            .count();
        assert_eq!(already, 1, "one run reports the other's result: {ctx}");
    }
}

#[test]
fn two_runs_at_once_create_one_pair_with_a_schema_pid() {
    concurrent_runs_create_once(true);
}

#[test]
fn two_runs_at_once_create_one_pair_with_a_scicat_pid() {
    concurrent_runs_create_once(false);
}

#[test]
fn a_dataset_post_answered_too_late_is_found_not_resent() {
    for schema_pid in [true, false] {
        let server = ScicatServer::start();
        let mut case = Case::new(&server.url);
        if !schema_pid {
            without_schema_pid(&mut case);
            case.config["ingestion"]["check_if_dataset_exists_by_metadata"] = json!(false);
        }
        case.config["scicat"]["timeout"] = json!(1);
        server.delay_after("POST datasets", Duration::from_secs(3), 1);
        let run = case.run();
        run.ok();
        assert_one_valid_pair(&server);
        assert_eq!(server.requests_to("POST datasets").len(), 1, "not re-sent");
        assert!(
            run.stderr.contains("created although the answer was lost"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_truncated_201_counts_as_created() {
    for route in ["POST datasets", "POST origdatablocks"] {
        let server = ScicatServer::start();
        let mut case = Case::new(&server.url);
        without_schema_pid(&mut case);
        server.truncate(route, 1);
        let run = case.run();
        run.ok();
        assert_one_valid_pair(&server);
        assert_eq!(server.requests_to(route).len(), 1, "{route} not re-sent");
        assert!(!run.stderr.contains("not created"), "{}", run.stderr);
    }
}

#[test]
fn a_cut_after_the_datablock_post_is_found_not_resent() {
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    server.drop_after("POST origdatablocks", 1);
    let run = case.run();
    run.ok();
    assert_one_valid_pair(&server);
    assert_eq!(server.requests_to("POST origdatablocks").len(), 1);
}

#[test]
fn an_undecidable_post_stops_and_the_rerun_finishes_without_duplicate() {
    let server = ScicatServer::start();
    let mut case = Case::new(&server.url);
    without_schema_pid(&mut case);
    case.config["ingestion"]["check_if_dataset_exists_by_metadata"] = json!(false);
    case.config["scicat"]["timeout"] = json!(1);
    // Committed but unanswered, and the look-up that would tell fails.
    server.delay_after("POST datasets", Duration::from_secs(3), 1);
    server.fail("GET datasets", 500, 4);
    let run = case.run();
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.last_line()
            .contains("may or may not have been created; run again to finish"),
        "{}",
        run.stderr
    );
    assert_eq!(server.datasets().len(), 1);
    assert!(server.origdatablocks().is_empty());
    server.clear_faults();
    let again = case.run();
    again.ok();
    assert_one_valid_pair(&server);
    assert_eq!(
        server.requests_to("POST datasets").len(),
        1,
        "never re-sent"
    );
}

#[test]
fn a_kill_between_the_posts_with_a_scicat_pid_is_resumed() {
    let server = ScicatServer::start();
    let mut case = Case::new(&server.url);
    without_schema_pid(&mut case);
    case.config["ingestion"]["check_if_dataset_exists_by_metadata"] = json!(false);
    // The datablock POST fails until the process is killed in its back-off.
    server.fail("POST origdatablocks", 503, 1000);
    let mut child = spawn(&case, &[]);
    let t = Instant::now();
    while server.requests_to("POST origdatablocks").is_empty() {
        assert!(t.elapsed() < Duration::from_secs(60), "no datablock POST");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(server.datasets().len(), 1);
    let record = case
        .data
        .parent()
        .unwrap()
        .with_file_name("ingestor/small_coda_31010.hdf.scicat.json");
    let rec: Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(rec["pid"], server.datasets()[0]["pid"]);
    server.clear_faults();
    let run = case.run();
    run.ok();
    assert_one_valid_pair(&server);
    assert_eq!(server.requests_to("POST datasets").len(), 1);
    assert!(run.last_line().contains("added now"), "{}", run.stderr);
}

#[test]
fn failing_reads_are_named_not_blamed_on_the_schema() {
    type Arm = fn(&ScicatServer);
    let cases: [(&str, Arm, &[&str]); 3] = [
        (
            "500",
            |s| s.fail("GET proposals", 500, 1000),
            &["500", "proposals/443503"],
        ),
        (
            "html",
            |s| s.html("GET proposals", 502, 1000),
            &["502", "Bad Gateway", "proposals/443503"],
        ),
        (
            "token",
            |s| s.require_token("another-token"),
            &["403", "token", "proposals/443503"],
        ),
    ];
    for (name, arm, expect) in cases {
        let server = ScicatServer::start();
        let case = Case::new(&server.url);
        arm(&server);
        let run = case.run();
        assert_ne!(run.code, 0, "{name}: {}", run.stderr);
        let last = run.last_line();
        for e in expect {
            assert!(last.contains(e), "{name}: {e:?} not in {last}");
        }
        assert!(!last.contains("required"), "{name}: {last}");
        assert!(!run.stderr.contains("<html"), "{name}: {}", run.stderr);
        assert!(server.requests_to("POST").is_empty(), "{name}");
    }
}

#[test]
fn redirects_are_not_followed_and_nothing_reaches_the_other_host() {
    for status in [302, 307] {
        let server = ScicatServer::start();
        let other = ScicatServer::start();
        let mut case = Case::new(&server.url);
        case.config["scicat"]["additional_headers"] = json!({"X-Site-Key": "site-key-42"});
        server.redirect("POST datasets", status, &other.url, 1);
        let run = case.run();
        assert_ne!(run.code, 0, "{status}: {}", run.stderr);
        let last = run.last_line();
        assert!(
            last.contains(&status.to_string()) && last.contains(&other.url),
            "{status}: the error names the Location: {last}"
        );
        assert!(
            other.requests().is_empty(),
            "{status}: {:?}",
            other.requests()
        );
        assert!(server.datasets().is_empty() && other.datasets().is_empty());
    }
}

#[test]
fn no_secret_of_any_source_or_length_at_trace_level() {
    let server = ScicatServer::start();
    let issued = "login-issued-token-7f3a9c";
    server.require_token(issued);
    server.add_user("ingestor", "12345");
    // The backend echoes the Authorization header in an error body.
    server.echo_auth("GET proposals", 403, 1000);
    let mut case = Case::new(&server.url);
    case.config["scicat"] = json!({
        "host": server.url,
        "username": "ingestor",
        "password": 12345,
        "additional_headers": {"X-Api-Key": "k9"},
    });
    let run = case.run_with(&[], &[("RUST_LOG", "trace")]);
    assert_ne!(run.code, 0);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.lines().any(|l| l.contains(" TRACE ")),
        "RUST_LOG=trace was honoured"
    );
    for secret in [issued, "12345", "Bearer login"] {
        assert!(!all.contains(secret), "{secret} leaked:\n{all}");
    }
    assert!(all.contains("403"), "{all}");

    // A short token from the environment, echoed back.
    let server = ScicatServer::start();
    server.require_token("q7");
    server.echo_auth("GET proposals", 403, 1000);
    let case = Case::new(&server.url);
    let mut cfg = case.config.clone();
    cfg["scicat"]["token"] = json!("");
    let path = write_config(&case.dir, &cfg);
    let run = ingest(
        &path,
        &case.data,
        &[],
        &[("SCICAT_TOKEN", "q7"), ("RUST_LOG", "trace")],
    );
    assert!(!format!("{}{}", run.stdout, run.stderr).contains("q7"));

    // A password in the host URL, when the host cannot be reached.
    let dead = dead_url().replace("http://", "http://admin:hunter2@");
    let case = Case::new(&dead);
    let run = case.run_with(&[], &[("RUST_LOG", "trace")]);
    assert_ne!(run.code, 0);
    assert!(
        run.last_line().contains("cannot reach SciCat at http://"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);

    // A secret of the wrong type in the config.
    let mut case = Case::new(&server.url);
    case.config["scicat"]["password"] = json!({"value": "s3cr3tpw"});
    let run = case.run();
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("scicat.password"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cr3tpw"), "{}", run.stderr);
}

#[test]
fn a_huge_timeout_is_a_config_error_not_a_panic() {
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    let run = case.run_with(&["--set", "scicat.timeout=1e20"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.last_line().contains("scicat.timeout"), "{}", run.stderr);
}

#[test]
fn a_data_file_whose_name_is_not_utf8_is_ingested() {
    use std::os::unix::ffi::OsStrExt;
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    let odd = case
        .data
        .with_file_name(std::ffi::OsStr::from_bytes(b"coda_\xff_31010.hdf"));
    std::fs::rename(&case.data, &odd).unwrap();
    let cfg = write_config(&case.dir, &case.config);
    let out = Command::new(env!("CARGO_BIN_EXE_scicat-ingestor"))
        .arg("-c")
        .arg(&cfg)
        .arg("--nexus-file")
        .arg(&odd)
        .arg("--dry-run")
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dataset"]["pid"], PID);
}

#[test]
fn scicat_down_fails_fast_and_a_hung_one_within_two_timeouts() {
    // Nothing listens: the retries of the first request are the only wait.
    let case = Case::new(&dead_url());
    let t = Instant::now();
    let run = case.run();
    let down = t.elapsed();
    assert_ne!(run.code, 0);
    assert!(
        run.last_line().contains("cannot reach SciCat"),
        "{}",
        run.stderr
    );
    // 0.5 + 1 + 2 s of back-off; the old code took 14 s plus 3.5 s per lookup.
    assert!(down < Duration::from_secs(10), "{down:?}\n{}", run.stderr);

    // Accepts and never answers.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v3", hung.local_addr().unwrap());
    // Connections are accepted and held, never answered, for 20 s.
    std::thread::spawn(move || {
        hung.set_nonblocking(true).unwrap();
        let mut held = Vec::new();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if let Ok((s, _)) = hung.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let mut case = Case::new(&url);
    case.config["scicat"]["timeout"] = json!(1);
    let t = Instant::now();
    let run = case.run();
    let hung_for = t.elapsed();
    assert_ne!(run.code, 0);
    // Two timeouts and one back-off, plus start-up; the old code took
    // 4 timeouts and 3.5 s of back-off per request.
    assert!(
        hung_for < Duration::from_secs(8),
        "{hung_for:?}\n{}",
        run.stderr
    );
    assert!(
        run.last_line().contains("no usable answer") || run.last_line().contains("unreachable"),
        "{}",
        run.stderr
    );
}

#[test]
fn odd_values_are_reported_though_sent() {
    let server = ScicatServer::start();
    let mut case = Case::new(&server.url);
    {
        let f = hdf5::File::open_rw(&case.data).unwrap();
        let entry = f.group("entry").unwrap();
        entry
            .new_dataset_builder()
            .with_data(&[1.5f64, f64::NAN, 3.0])
            .create("odd_floats")
            .unwrap();
        // Latin-1 "Sør": not UTF-8.
        let bad = unsafe { hdf5::types::FixedAscii::<8>::from_ascii_unchecked(b"S\xf8r") };
        entry
            .new_dataset::<hdf5::types::FixedAscii<8>>()
            .shape(())
            .create("odd_text")
            .unwrap()
            .write_scalar(&bad)
            .unwrap();
    }
    let schemas = coda_schema_with(&case.dir, |s| {
        let vars = s["variables"].as_object_mut().unwrap();
        vars.insert(
            "odd_floats".into(),
            json!({"source": "NXS", "path": "/entry/odd_floats", "value_type": "float[]"}),
        );
        vars.insert(
            "odd_list".into(),
            json!({"source": "NXS", "path": "/entry/odd_floats", "value_type": "list"}),
        );
        vars.insert(
            "odd_text".into(),
            json!({"source": "NXS", "path": "/entry/odd_text", "value_type": "string"}),
        );
        let fields = s["schema"].as_object_mut().unwrap();
        for (v, t) in [
            ("odd_floats", "float[]"),
            ("odd_list", "list"),
            ("odd_text", "string"),
        ] {
            fields.insert(
                v.into(),
                json!({"field_type": "scientific_metadata", "machine_name": v,
                       "human_name": v, "value": format!("<{v}>"), "type": t}),
            );
        }
    });
    case.config["ingestion"]["schemas_directory"] = json!(schemas);
    let run = case.run_with(&["--dry-run"], &[]);
    run.ok();
    // Sent as null in a plain list, refused by a float list: said either way.
    let about = |name: &str| -> Vec<&str> {
        run.stderr
            .lines()
            .filter(|l| l.contains("WARNING") && l.contains(name))
            .collect()
    };
    for (name, said) in [
        ("odd_floats", "NaN"),
        ("odd_list", "NaN"),
        ("odd_text", "not UTF-8"),
    ] {
        assert!(
            about(name).iter().any(|l| l.contains(said)),
            "{name}: {said:?} not said:\n{}",
            run.stderr
        );
    }
    let sm = &run.json()["dataset"]["scientificMetadata"];
    assert_eq!(
        sm["odd_list"]["value"],
        json!([1.5, null, 3.0]),
        "{sm:#}\n{}",
        run.stderr
    );
    assert!(sm["odd_text"]["value"].as_str().unwrap().starts_with('S'));
}

#[test]
fn a_datablock_never_goes_into_another_owners_dataset() {
    // Found by the existence check, and behind a 409 (the check missed it).
    for miss_the_check in [false, true] {
        let server = ScicatServer::start();
        let case = Case::new(&server.url);
        server.state().datasets.push(json!({
            "pid": PID, "ownerGroup": "somebody_else", "sourceFolder": "/elsewhere",
            "datasetName": "not ours", "type": "raw",
        }));
        if miss_the_check {
            server.fail("GET datasets/", 404, 1);
        }
        let run = case.run();
        assert_ne!(run.code, 0, "{}", run.stderr);
        let last = run.last_line();
        assert!(
            last.contains("somebody_else") && last.contains("not this file's dataset"),
            "{last}"
        );
        assert!(server.origdatablocks().is_empty(), "no datablock added");
    }
}

#[test]
fn a_folder_or_a_pipe_as_data_file_fails_at_once() {
    let server = ScicatServer::start();
    let case = Case::new(&server.url);
    let pipe = case.dir.join("fifo.hdf");
    assert!(
        Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .unwrap()
            .success()
    );
    let cfg = write_config(&case.dir, &case.config);
    for bad in [case.dir.as_path(), pipe.as_path()] {
        let t = Instant::now();
        let run = ingest(&cfg, bad, &["-d"], &[]);
        assert_ne!(run.code, 0);
        assert!(
            run.last_line().contains("not a regular file"),
            "{}",
            run.stderr
        );
        assert!(t.elapsed() < Duration::from_secs(5), "no retries, no hang");
    }
}

//! `scicat-ingestor online` against a real Kafka broker (KRaft, one node,
//! started by `scripts/kafka.sh` once per test binary, or the one `make test`
//! names in SCICAT_TEST_KAFKA) and the SciCat test server: exactly once on a
//! partitioned topic, poison messages, dead letters, a SIGKILL and a restart,
//! SIGTERM draining, health and metrics.

use crate::support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use scicat_ingestor::online::fbs::{FinishedWritingArgs, build_finished_writing};
use serde_json::{Value, json};
use support::fixtures::{self, Ess};
use support::scicat_server::ScicatServer;
use support::*;

/// The broker's bootstrap address.
fn broker() -> &'static str {
    static BROKER: OnceLock<String> = OnceLock::new();
    BROKER.get_or_init(|| {
        if let Ok(b) = std::env::var("SCICAT_TEST_KAFKA")
            && !b.is_empty()
        {
            return b;
        }
        let dir = std::env::temp_dir().join(format!("scicat-test-kafka-{}", std::process::id()));
        // The broker stops when this test process exits (no teardown hook).
        let out = Command::new(repo().join("scripts/kafka.sh"))
            .arg("start")
            .arg(&dir)
            .arg(std::process::id().to_string())
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/kafka.sh runs");
        assert!(out.status.success(), "the Kafka broker did not start");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
}

fn unique(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::new_v4().simple())
}

fn create_topic(partitions: i32) -> String {
    let topic = unique("wrdn");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(
                &topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
        ))
        .unwrap();
    for r in res {
        r.unwrap();
    }
    topic
}

fn producer() -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("enable.idempotence", "true")
        .create()
        .unwrap()
}

/// Sends `(partition, payload)`s in order and waits until all are written.
fn produce(topic: &str, messages: &[(i32, Vec<u8>)]) {
    let p = producer();
    for (part, payload) in messages {
        p.send(
            BaseRecord::<(), _>::to(topic)
                .partition(*part)
                .payload(payload),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    }
    p.flush(Duration::from_secs(20)).unwrap();
}

/// A `wrdn` message as the file writer sends it.
fn wrdn(file: &Path, job_id: &str) -> Vec<u8> {
    build_finished_writing(&FinishedWritingArgs {
        service_id: "kafka-to-nexus-1",
        job_id,
        file_name: file.to_str().unwrap(),
        metadata: Some(r#"{"start_time": 1730106401186}"#),
        ..Default::default()
    })
}

fn job_id(run: u32) -> String {
    format!("00000000-0000-4000-8000-{run:012}")
}

/// A data file for run `run` with its own job id.
fn data_file(dir: &Path, run: u32) -> PathBuf {
    let e = Ess {
        run: run.to_string(),
        job_id: job_id(run),
        ..Ess::default()
    };
    fixtures::ess_in_tree(dir, &format!("coda_run_{run}.nxs"), &e)
}

/// The next offsets committed by `group`, per partition (None: nothing).
fn committed(group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    (0..partitions)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        })
        .collect()
}

fn end_offsets(topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| {
            Some(
                c.fetch_watermarks(topic, p, Duration::from_secs(10))
                    .unwrap()
                    .1,
            )
        })
        .collect()
}

/// Every message of partition 0 of `topic`, as JSON.
fn read_topic(topic: &str) -> Vec<Value> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("group.id", unique("reader"))
        .create()
        .unwrap();
    let high = c
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .unwrap()
        .1;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while (out.len() as i64) < high && Instant::now() < end {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            out.push(serde_json::from_slice(m.payload().unwrap_or(b"null")).unwrap());
        }
    }
    out
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running daemon; killed when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Daemon {
    fn start(config: &Path, log: &Path, port: u16) -> Daemon {
        Self::start_with(config, log, port, &[])
    }

    fn start_with(config: &Path, log: &Path, port: u16, extra: &[&str]) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_scicat-ingestor"))
            .args(["online", "-c", config.to_str().unwrap()])
            .args(extra)
            .env("HDF5_USE_FILE_LOCKING", "FALSE")
            .env_remove("RUST_LOG")
            .env_remove("SCICAT_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            log: log.to_path_buf(),
            port,
        }
    }

    /// SIGTERM, then it must drain and exit 0 within 30 s.
    fn terminate_cleanly(&mut self) {
        self.signal("-TERM");
        assert_eq!(
            self.wait(Duration::from_secs(30)),
            Some(0),
            "{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the exit (at most `timeout`) and returns the status code.
    fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st.code().unwrap_or(-1));
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET path` on the health port: (status, body).
    fn get(&self, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        (status, body.to_string())
    }

    /// Waits until the health server answers.
    fn wait_http(&self) {
        wait_until("the health server", Duration::from_secs(60), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
    }

    fn metric(&self, line_start: &str) -> f64 {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {line_start} in:\n{body}"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("daemon log:\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config for the daemon: the test server, the test schemas, a short
/// session timeout so joining and leaving the group is quick.
fn daemon_config(dir: &Path, server: &ScicatServer, topic: &str, group: &str, port: u16) -> Value {
    let mut c = config_for(&server.url, &schemas_dir());
    c["kafka"] = json!({
        "topics": topic,
        "group_id": group,
        "bootstrap_servers": broker(),
        "session_timeout_ms": 3000,
        "heartbeat_interval_ms": 300,
        "max_retries": 1,
        "retry_backoff_seconds": 0.1,
        "drain_timeout_seconds": 30,
        "dead_letter_journal": dir.join("dead-letter.jsonl"),
    });
    c["health_check"] = json!({"host": "127.0.0.1", "port": port});
    c["ingestion"]["max_offline_ingestors"] = json!(4);
    c["ingestion"]["file_handling"] = json!({"data_file_open_max_tries": 1});
    c["scicat"]["health_endpoint"] = json!(format!("{}/instruments", server.url));
    c
}

#[test]
fn files_on_four_partitions_are_ingested_once_poison_skipped_failures_dead_lettered() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let topic = create_topic(4);
    let group = unique("g");
    let files: Vec<PathBuf> = (1..=8).map(|r| data_file(dir, r)).collect();
    let missing = dir.join("443503/raw/coda_never_written.nxs");
    let write_error = build_finished_writing(&FinishedWritingArgs {
        service_id: "kafka-to-nexus-1",
        job_id: "e",
        file_name: "/data/broken.nxs",
        error_encountered: true,
        message: Some("disk full"),
        ..Default::default()
    });
    let mut other = vec![0u8; 16];
    other[4..8].copy_from_slice(b"6s4t");
    let msgs = vec![
        (0, wrdn(&files[0], &job_id(1))),
        (
            0,
            b"\xde\xad\xbe\xef\xff\xfe\x00\x01 no flatbuffer".to_vec(),
        ),
        (0, wrdn(&files[1], &job_id(2))),
        (1, wrdn(&files[2], &job_id(3))),
        (1, write_error),
        (1, wrdn(&files[3], &job_id(4))),
        (2, wrdn(&files[4], &job_id(5))),
        (2, other),
        (2, wrdn(&files[5], &job_id(6))),
        // A file that cannot be read: retried, dead-lettered, and the
        // partition goes on.
        (3, wrdn(&missing, "00000000-0000-4000-8000-00000000dead")),
        (3, wrdn(&files[6], &job_id(7))),
        (3, wrdn(&files[7], &job_id(8))),
    ];
    produce(&topic, &msgs);
    let dlq = create_topic(1);
    let port = free_port();
    let mut cfg = daemon_config(dir, &server, &topic, &group, port);
    cfg["kafka"]["dead_letter_topic"] = json!(dlq);
    let config = write_config(dir, &cfg);
    let mut daemon = Daemon::start(&config, &dir.join("daemon.log"), port);
    let end = end_offsets(&topic, 4);
    assert_eq!(end, vec![Some(3); 4]);
    wait_until("all offsets committed", Duration::from_secs(120), || {
        committed(&group, &topic, 4) == end
    });
    let (_, health) = daemon.get("/health");
    assert_eq!(
        serde_json::from_str::<Value>(&health).unwrap(),
        json!({"kafka": true, "storage": true, "scicat": true})
    );

    let ds = assert_pairs(&server, 8);
    let mut jobs: Vec<String> = ds
        .iter()
        .map(|d| d["scientificMetadata"]["job_id"]["value"].to_string())
        .collect();
    jobs.sort();
    jobs.dedup();
    assert_eq!(jobs.len(), 8, "eight different files");
    // The done-writing message file, as the Python daemon writes it.
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("443503/ingestor/coda_run_1.message.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        m,
        json!([
            "kafka-to-nexus-1",
            job_id(1),
            false,
            files[0].to_str().unwrap(),
            r#"{"start_time": 1730106401186}"#,
            null
        ])
    );
    let journal = std::fs::read_to_string(dir.join("dead-letter.jsonl")).unwrap();
    let lines: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{journal}");
    assert_eq!(lines[0]["file_name"], json!(missing.to_str().unwrap()));
    assert_eq!(lines[0]["partition"], json!(3));
    assert_eq!(lines[0]["offset"], json!(0));
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("never_written")
    );
    let on_topic = read_topic(&dlq);
    assert_eq!(on_topic.len(), 1, "{on_topic:?}");
    assert_eq!(on_topic[0]["file_name"], lines[0]["file_name"]);
    assert_eq!(on_topic[0]["offset"], json!(0));

    let log = daemon.log();
    assert!(log.contains(&format!("{topic}[0]@1: skipped")), "{log}");
    assert!(log.contains(&format!("{topic}[1]@1: skipped")), "{log}");
    assert!(log.contains("disk full"), "{log}");
    assert_eq!(
        daemon.metric("scicat_ingestor_messages_total{type=\"wrdn\"}"),
        9.0
    );
    assert_eq!(
        daemon.metric("scicat_ingestor_messages_total{type=\"poison\"}"),
        1.0
    );
    assert_eq!(
        daemon.metric("scicat_ingestor_messages_total{type=\"wrdn_error\"}"),
        1.0
    );
    assert_eq!(
        daemon.metric("scicat_ingestor_messages_total{type=\"other\"}"),
        1.0
    );
    assert_eq!(daemon.metric("scicat_ingestor_files_ingested_total"), 8.0);
    assert_eq!(
        daemon.metric("scicat_ingestor_files_already_present_total"),
        0.0
    );
    assert_eq!(daemon.metric("scicat_ingestor_files_failed_total"), 2.0);
    assert_eq!(
        daemon.metric("scicat_ingestor_files_dead_lettered_total"),
        1.0
    );
    assert_eq!(daemon.metric("scicat_ingestor_files_in_flight"), 0.0);
    assert_eq!(
        daemon.metric("scicat_ingestor_ingest_duration_seconds_count"),
        10.0
    );

    daemon.terminate_cleanly();
}

#[test]
fn killed_mid_way_and_restarted_nothing_is_lost_or_duplicated() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let topic = create_topic(1);
    let group = unique("g");
    let files: Vec<PathBuf> = (1..=5).map(|r| data_file(dir, r)).collect();
    // The first file is slow: its dataset is created but the answer comes
    // late, while the four after it finish.
    server.delay_after("POST datasets", Duration::from_secs(20), 1);
    let msgs: Vec<(i32, Vec<u8>)> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (0, wrdn(f, &job_id(i as u32 + 1))))
        .collect();
    let port = free_port();
    let config = write_config(dir, &daemon_config(dir, &server, &topic, &group, port));
    let mut seen: Vec<Option<i64>> = Vec::new();
    {
        let _daemon = Daemon::start(&config, &dir.join("daemon1.log"), port);
        produce(&topic, &msgs[..1]);
        wait_until("the slow file in flight", Duration::from_secs(60), || {
            !server.requests_to("POST datasets").is_empty()
        });
        produce(&topic, &msgs[1..]);
        wait_until("four fast files done", Duration::from_secs(90), || {
            server.origdatablocks().len() >= 4
        });
        // Later files are done, the first is not: nothing may be committed.
        std::thread::sleep(Duration::from_millis(500));
        seen.push(committed(&group, &topic, 1)[0]);
        assert_eq!(seen[0], None, "committed past a running message");
        // SIGKILL (the drop).
    }
    server.clear_faults();
    let port = free_port();
    let config = write_config(dir, &daemon_config(dir, &server, &topic, &group, port));
    let mut daemon = Daemon::start(&config, &dir.join("daemon2.log"), port);
    wait_until("everything committed", Duration::from_secs(120), || {
        let c = committed(&group, &topic, 1)[0];
        seen.push(c);
        c == Some(5)
    });
    let ds = assert_pairs(&server, 5);
    assert_eq!(ds.len(), 5);
    daemon.wait_http();
    // Redelivered: the four fast files were already there, the slow one's
    // dataset existed without its datablock.
    assert_eq!(
        daemon.metric("scicat_ingestor_files_already_present_total"),
        4.0
    );
    assert_eq!(daemon.metric("scicat_ingestor_files_ingested_total"), 1.0);
    let values: Vec<i64> = seen.iter().map(|c| c.unwrap_or(0)).collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "commits moved backwards: {values:?}"
    );
    daemon.terminate_cleanly();
}

#[test]
fn sigterm_drains_the_running_files_and_commits_them() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let topic = create_topic(1);
    let group = unique("g");
    let files: Vec<PathBuf> = (1..=2).map(|r| data_file(dir, r)).collect();
    server.delay("POST origdatablocks", Duration::from_secs(2));
    let port = free_port();
    let config = write_config(dir, &daemon_config(dir, &server, &topic, &group, port));
    let mut daemon = Daemon::start(&config, &dir.join("daemon.log"), port);
    daemon.wait_http();
    let msgs: Vec<(i32, Vec<u8>)> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (0, wrdn(f, &job_id(i as u32 + 1))))
        .collect();
    produce(&topic, &msgs);
    wait_until("two files in flight", Duration::from_secs(60), || {
        server.requests_to("POST origdatablocks").len() >= 2
    });
    daemon.terminate_cleanly();
    assert_pairs(&server, 2);
    assert_eq!(committed(&group, &topic, 1), vec![Some(2)]);
}

#[test]
fn health_is_503_while_scicat_is_down_and_200_when_it_is_back() {
    let server = ScicatServer::start();
    let url = server.url.clone();
    let scicat_port: u16 = url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let topic = create_topic(1);
    let port = free_port();
    let config = write_config(
        dir,
        &daemon_config(dir, &server, &topic, &unique("g"), port),
    );
    let mut daemon = Daemon::start(&config, &dir.join("daemon.log"), port);
    daemon.wait_http();
    let (status, body) = daemon.get("/health");
    assert_eq!(status, 200, "{body}");
    drop(server);
    let (status, body) = daemon.get("/health");
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"kafka": true, "storage": true, "scicat": false})
    );
    let _back = ScicatServer::start_on(scicat_port);
    let (status, body) = daemon.get("/health");
    assert_eq!(status, 200, "{body}");
    assert_eq!(daemon.get("/nothing").0, 404);
    daemon.signal("-INT");
    assert_eq!(
        daemon.wait(Duration::from_secs(30)),
        Some(0),
        "{}",
        daemon.log()
    );
}

/// The partitions a daemon's log says it holds now (after its last
/// assignment), or None before its first one.
fn holds(log: &str) -> Option<usize> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("partitions assigned: "))?;
    let list = line.split("partitions assigned: ").nth(1)?;
    Some(if list.trim() == "none" {
        0
    } else {
        list.split(", ").count()
    })
}

#[test]
fn two_daemons_share_a_group_and_one_takes_over_when_the_other_dies() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let topic = create_topic(4);
    let group = unique("g");
    let files: Vec<PathBuf> = (1..=16).map(|r| data_file(dir, r)).collect();
    let (pa, pb) = (free_port(), free_port());
    let ca = dir.join("a.json");
    let cb = dir.join("b.json");
    std::fs::write(
        &ca,
        daemon_config(dir, &server, &topic, &group, pa).to_string(),
    )
    .unwrap();
    std::fs::write(
        &cb,
        daemon_config(dir, &server, &topic, &group, pb).to_string(),
    )
    .unwrap();
    let mut a = Daemon::start(&ca, &dir.join("a.log"), pa);
    wait_until("a holds all partitions", Duration::from_secs(60), || {
        holds(&a.log()) == Some(4)
    });
    let mut b = Daemon::start(&cb, &dir.join("b.log"), pb);
    wait_until("the partitions shared", Duration::from_secs(60), || {
        holds(&a.log()) == Some(2) && holds(&b.log()) == Some(2)
    });
    let msg = |i: usize| ((i % 4) as i32, wrdn(&files[i], &job_id(i as u32 + 1)));
    produce(&topic, &(0..8).map(msg).collect::<Vec<_>>());
    wait_until("the first eight committed", Duration::from_secs(90), || {
        committed(&group, &topic, 4) == vec![Some(2); 4]
    });
    let by_a = a.metric("scicat_ingestor_files_ingested_total");
    let by_b = b.metric("scicat_ingestor_files_ingested_total");
    assert_eq!(
        (by_a, by_b),
        (4.0, 4.0),
        "each daemon ingests its partitions' files"
    );

    a.signal("-KILL");
    a.wait(Duration::from_secs(10));
    produce(&topic, &(8..16).map(msg).collect::<Vec<_>>());
    wait_until(
        "b took over and committed all",
        Duration::from_secs(90),
        || committed(&group, &topic, 4) == vec![Some(4); 4],
    );
    assert_eq!(holds(&b.log()), Some(4));
    assert_pairs(&server, 16);
    b.signal("-TERM");
    assert_eq!(b.wait(Duration::from_secs(30)), Some(0), "{}", b.log());
}

#[test]
fn a_dry_run_logs_what_it_would_ingest_and_commits_nothing() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let topic = create_topic(1);
    let group = unique("g");
    let file = data_file(dir, 1);
    produce(&topic, &[(0, wrdn(&file, &job_id(1)))]);
    let port = free_port();
    let config = write_config(dir, &daemon_config(dir, &server, &topic, &group, port));
    let mut daemon = Daemon::start_with(&config, &dir.join("daemon.log"), port, &["--dry-run"]);
    wait_until("the dry run", Duration::from_secs(60), || {
        daemon.log().contains("dry run: would ingest")
    });
    daemon.terminate_cleanly();
    assert!(server.datasets().is_empty());
    assert!(
        !dir.join("443503/ingestor/coda_run_1.message.json").exists(),
        "a dry run writes no message file"
    );
    assert_eq!(committed(&group, &topic, 1), vec![None]);
}

#[test]
fn an_offline_ingestor_executable_runs_once_per_file_with_the_message_file() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let topic = create_topic(2);
    let group = unique("g");
    let files: Vec<PathBuf> = (1..=2).map(|r| data_file(dir, r)).collect();
    produce(
        &topic,
        &[
            (0, wrdn(&files[0], &job_id(1))),
            (1, wrdn(&files[1], &job_id(2))),
        ],
    );
    let port = free_port();
    let mut cfg = daemon_config(dir, &server, &topic, &group, port);
    cfg["ingestion"]["offline_ingestor_executable"] =
        json!([env!("CARGO_BIN_EXE_scicat-ingestor")]);
    let config = write_config(dir, &cfg);
    let mut daemon = Daemon::start(&config, &dir.join("daemon.log"), port);
    wait_until("both committed", Duration::from_secs(90), || {
        committed(&group, &topic, 2) == vec![Some(1); 2]
    });
    assert_pairs(&server, 2);
    let blocks = serde_json::to_string(&server.origdatablocks()).unwrap();
    assert!(blocks.contains("coda_run_1.message.json"), "{blocks}");
    assert!(blocks.contains("coda_run_2.message.json"), "{blocks}");
    daemon.terminate_cleanly();
}

/// A catalog that knows only samples, like SciCat refusing a second sample
/// with the same `sampleId`, and answering sample searches slowly so that
/// concurrent registrations overlap.
struct SampleCatalog {
    url: String,
    samples: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    posts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    auth: std::sync::Arc<std::sync::Mutex<Tokens>>,
    _rt: tokio::runtime::Runtime,
}

/// Short-lived JWTs: issued by `auth/login` for `life`, required on every
/// other request once `life` is set (403 otherwise, as the backend does).
#[derive(Default)]
struct Tokens {
    life: Option<Duration>,
    /// Token and its expiry (Unix seconds).
    valid: Vec<(String, u64)>,
    logins: usize,
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl SampleCatalog {
    fn start() -> SampleCatalog {
        use http_body_util::{BodyExt, Full};
        use hyper::body::Bytes;
        use std::sync::atomic::Ordering;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
        let posts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let auth = std::sync::Arc::new(std::sync::Mutex::new(Tokens::default()));
        let (st, po, au) = (samples.clone(), posts.clone(), auth.clone());
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (st, po, au) = (st.clone(), po.clone(), au.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (st, po, au) = (st.clone(), po.clone(), au.clone());
                        async move {
                            let method = req.method().to_string();
                            let path = req.uri().path().to_string();
                            let query = req.uri().query().unwrap_or("").to_string();
                            let bearer = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.strip_prefix("Bearer "))
                                .unwrap_or("")
                                .to_string();
                            let body = req.into_body().collect().await?.to_bytes();
                            let refused = {
                                let a = au.lock().unwrap();
                                a.life.is_some()
                                    && path != "/api/v3/auth/login"
                                    && path != "/api/v3/instruments"
                                    && !a.valid.iter().any(|(t, exp)| *t == bearer && *exp > unix_now())
                            };
                            let (status, reply) = match (method.as_str(), path.as_str()) {
                                _ if refused => (403, json!({"statusCode": 403, "message": "Forbidden resource"})),
                                ("POST", "/api/v3/auth/login") => {
                                    let mut a = au.lock().unwrap();
                                    a.logins += 1;
                                    let exp = unix_now() + a.life.unwrap_or(Duration::from_secs(3600)).as_secs();
                                    let token = format!(
                                        "{}.{}.{}",
                                        b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
                                        b64url(json!({"sub": "ingestor", "n": a.logins, "exp": exp}).to_string().as_bytes()),
                                        b64url(b"signature")
                                    );
                                    a.valid.push((token.clone(), exp));
                                    (201, json!({"access_token": token}))
                                }
                                ("GET", "/api/v3/samples") => {
                                    tokio::time::sleep(Duration::from_millis(300)).await;
                                    let raw = query.strip_prefix("filter=").unwrap_or("");
                                    let f: Value = serde_json::from_str(
                                        &percent_encoding::percent_decode_str(raw).decode_utf8_lossy(),
                                    )
                                    .unwrap_or(Value::Null);
                                    let w = &f["where"];
                                    let hits: Vec<Value> = st
                                        .lock()
                                        .unwrap()
                                        .iter()
                                        .filter(|s| {
                                            s["description"] == w["description"]
                                                && s["proposalId"] == w["proposalId"]
                                        })
                                        .cloned()
                                        .collect();
                                    (200, Value::Array(hits))
                                }
                                ("POST", "/api/v3/samples") => {
                                    po.fetch_add(1, Ordering::SeqCst);
                                    let s: Value = serde_json::from_slice(&body).unwrap();
                                    let mut all = st.lock().unwrap();
                                    if all.iter().any(|x| x["sampleId"] == s["sampleId"]) {
                                        (409, json!({"statusCode": 409, "message": "duplicate sampleId"}))
                                    } else {
                                        all.push(s.clone());
                                        (201, s)
                                    }
                                }
                                ("GET", "/api/v3/instruments") => (200, json!([])),
                                _ => (404, json!({"statusCode": 404})),
                            };
                            let resp = hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(reply.to_string())))
                                .unwrap();
                            Ok::<_, hyper::Error>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        SampleCatalog {
            url: format!("http://127.0.0.1:{port}/api/v3"),
            samples,
            posts,
            auth,
            _rt: rt,
        }
    }

    fn logins(&self) -> usize {
        self.auth.lock().unwrap().logins
    }
}

#[test]
fn run_starts_register_each_sample_once_across_two_daemons() {
    let catalog = SampleCatalog::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let topic = create_topic(4);
    let group = unique("g");
    // Four runs of sample A and four of sample B, one of each per partition.
    let mut msgs = Vec::new();
    for i in 0..8u32 {
        let e = Ess {
            run: (100 + i).to_string(),
            job_id: job_id(100 + i),
            sample: if i % 2 == 0 { "A Sample" } else { "B Sample" }.into(),
            ..Ess::default()
        };
        let f = fixtures::ess_in_tree(dir, &format!("coda_run_{}.nxs", 100 + i), &e);
        let payload =
            scicat_ingestor::online::fbs::build_run_start(&job_id(100 + i), f.to_str().unwrap(), 1);
        msgs.push(((i / 2) as i32, payload));
    }
    let server_for_config = ScicatServer::empty();
    let mut daemons = Vec::new();
    for name in ["a", "b"] {
        let port = free_port();
        let mut cfg = daemon_config(dir, &server_for_config, &topic, &group, port);
        cfg["scicat"]["host"] = json!(catalog.url);
        cfg["scicat"]["health_endpoint"] = json!(format!("{}/instruments", catalog.url));
        cfg["ingestion"]["sample_registration"] = json!(true);
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, cfg.to_string()).unwrap();
        daemons.push(Daemon::start(&path, &dir.join(format!("{name}.log")), port));
    }
    wait_until("the partitions shared", Duration::from_secs(60), || {
        holds(&daemons[0].log()) == Some(2) && holds(&daemons[1].log()) == Some(2)
    });
    produce(&topic, &msgs);
    wait_until("all run starts committed", Duration::from_secs(90), || {
        committed(&group, &topic, 4) == vec![Some(2); 4]
    });
    let samples = catalog.samples.lock().unwrap().clone();
    assert_eq!(samples.len(), 2, "{samples:#?}");
    let mut names: Vec<&str> = samples
        .iter()
        .map(|s| s["description"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["A Sample", "B Sample"]);
    for s in &samples {
        assert_eq!(s["proposalId"], "443503");
        assert_eq!(s["ownerGroup"], "443503");
        assert_eq!(s["accessGroups"], json!(["443503"]));
        assert_eq!(s["isPublished"], false);
    }
    let created: f64 = daemons
        .iter()
        .map(|d| d.metric("scicat_ingestor_samples_created_total"))
        .sum();
    let existing: f64 = daemons
        .iter()
        .map(|d| d.metric("scicat_ingestor_samples_existing_total"))
        .sum();
    assert_eq!((created, existing), (2.0, 6.0));
    assert!(catalog.posts.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    for d in &mut daemons {
        d.signal("-TERM");
        assert_eq!(d.wait(Duration::from_secs(30)), Some(0), "{}", d.log());
    }
}

#[test]
fn a_daemon_logs_in_again_before_its_token_expires_and_once_when_refused() {
    let catalog = SampleCatalog::start();
    catalog.auth.lock().unwrap().life = Some(Duration::from_secs(3));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let topic = create_topic(1);
    let group = unique("g");
    let run_start = |i: u32, sample: &str| {
        let e = Ess {
            run: (200 + i).to_string(),
            job_id: job_id(200 + i),
            sample: sample.into(),
            ..Ess::default()
        };
        let f = fixtures::ess_in_tree(dir, &format!("coda_run_{}.nxs", 200 + i), &e);
        (
            0,
            scicat_ingestor::online::fbs::build_run_start(&job_id(200 + i), f.to_str().unwrap(), 1),
        )
    };
    let port = free_port();
    let unused = ScicatServer::empty();
    let mut cfg = daemon_config(dir, &unused, &topic, &group, port);
    cfg["scicat"] = json!({
        "host": catalog.url, "username": "ingestor", "password": "s3cret-pw",
        "health_endpoint": format!("{}/instruments", catalog.url),
    });
    cfg["ingestion"]["sample_registration"] = json!(true);
    let config = write_config(dir, &cfg);
    let mut daemon = Daemon::start(&config, &dir.join("daemon.log"), port);
    daemon.wait_http();
    produce(&topic, &[run_start(1, "First")]);
    wait_until("the first sample", Duration::from_secs(60), || {
        committed(&group, &topic, 1) == vec![Some(1)]
    });
    let logins = catalog.logins();
    // The token is now past its life: the next request logs in first.
    std::thread::sleep(Duration::from_secs(4));
    produce(&topic, &[run_start(2, "Second")]);
    wait_until("the second sample", Duration::from_secs(60), || {
        committed(&group, &topic, 1) == vec![Some(2)]
    });
    assert_eq!(catalog.logins(), logins + 1, "renewed once before use");
    assert!(daemon.log().contains("about to expire"), "{}", daemon.log());
    // A token the server stops accepting early: one new login, then on.
    catalog.auth.lock().unwrap().valid.clear();
    produce(&topic, &[run_start(3, "Third")]);
    wait_until("the third sample", Duration::from_secs(60), || {
        committed(&group, &topic, 1) == vec![Some(3)]
    });
    assert_eq!(catalog.logins(), logins + 2, "one login after the refusal");
    assert!(
        daemon.log().contains("SciCat refused the token"),
        "{}",
        daemon.log()
    );
    assert_eq!(catalog.samples.lock().unwrap().len(), 3);
    assert!(
        !daemon.log().contains("s3cret-pw"),
        "the password is never logged"
    );
    daemon.terminate_cleanly();
}

#[test]
fn busy_workers_do_not_get_the_daemon_evicted_from_its_group() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let topic = create_topic(1);
    let group = unique("g");
    let files: Vec<PathBuf> = (1..=3).map(|r| data_file(dir, r)).collect();
    // One worker, each file slower than the poll interval the broker
    // allows: a daemon that stopped polling while busy would be evicted.
    server.delay("POST datasets", Duration::from_millis(4500));
    let port = free_port();
    let mut cfg = daemon_config(dir, &server, &topic, &group, port);
    cfg["ingestion"]["max_offline_ingestors"] = json!(1);
    cfg["kafka"]["max_poll_interval_ms"] = json!(3500);
    let config = write_config(dir, &cfg);
    let mut daemon = Daemon::start(&config, &dir.join("daemon.log"), port);
    wait_until("assigned", Duration::from_secs(60), || {
        holds(&daemon.log()) == Some(1)
    });
    let msgs: Vec<(i32, Vec<u8>)> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (0, wrdn(f, &job_id(i as u32 + 1))))
        .collect();
    produce(&topic, &msgs);
    wait_until("all committed", Duration::from_secs(90), || {
        committed(&group, &topic, 1) == vec![Some(3)]
    });
    assert_pairs(&server, 3);
    let log = daemon.log();
    assert!(!log.contains("revoked"), "{log}");
    assert!(!log.to_lowercase().contains("max.poll"), "{log}");
    daemon.terminate_cleanly();
}

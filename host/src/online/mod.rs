//! `scicat-ingestor online`: the daemon that listens to the file writer on
//! Kafka and ingests every file it announces, through the same engine as
//! `ingest`, with the delivery guarantees of the online spec: a message's
//! offset is committed only once its file is done, per partition in order.
//!
//! [`settings`] reads the config, [`message`] and [`fbs`] decode, [`daemon`]
//! polls and commits ([`offsets`] decides what), [`work`] ingests one file,
//! [`http`] answers `/health` and `/metrics` from [`metrics`]; [`samples`]
//! registers the samples of `pl72` run starts.

pub mod daemon;
pub mod fbs;
pub mod http;
pub mod message;
pub mod metrics;
pub mod offsets;
pub mod samples;
pub mod settings;
pub mod work;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context as _, Result};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::BaseProducer;

use crate::config::Config;
use daemon::{Core, Ctx, LoopOptions, Report};
use work::{Context, DeadLetter, Ended, Runner};

/// Properties only a consumer understands (a producer warns about them).
const CONSUMER_ONLY: &[&str] = &[
    "group.id",
    "auto.offset.reset",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "partition.assignment.strategy",
    "group.instance.id",
    "fetch.wait.max.ms",
];

fn client_config(props: &[(String, String)], consumer: bool) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in props {
        if consumer || !CONSUMER_ONLY.contains(&k.as_str()) {
            c.set(k, v);
        }
    }
    c
}

/// Runs the daemon until SIGTERM/SIGINT; `cfg` is the loaded config of
/// `config_path`.
pub fn run(config_path: &Path, cfg: Config) -> Result<()> {
    let s = settings::load(config_path, &cfg)?;
    let dry_run = cfg.ingestion.dry_run;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // The second signal exits at once; the first asks for a drain.
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())?;
        signal_hook::flag::register(sig, stop.clone())?;
    }

    let metrics = Arc::new(metrics::Metrics::default());
    let probe_client: BaseConsumer = client_config(&s.client, true)
        .create()
        .context("creating the Kafka client")?;
    // The same TLS provider as the SciCat client (reqwest is built without
    // one); installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http_client = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(!cfg.scicat.verify)
        .timeout(Duration::from_secs(5))
        .build()?;
    let fh = &cfg.ingestion.file_handling;
    let probes = http::Probes {
        kafka: Box::new(move || {
            probe_client
                .fetch_metadata(None, Duration::from_secs(3))
                .is_ok()
        }),
        data_directory: (!fh.data_directory.is_empty())
            .then(|| std::path::PathBuf::from(&fh.data_directory)),
        scicat_url: http::scicat_health_url(&cfg.scicat.host, &cfg.scicat.health_endpoint),
        http: http_client,
        static_token_expires: if cfg.scicat.username.is_empty() {
            crate::scicat::jwt_expiry(cfg.scicat.token.expose())
        } else {
            None
        },
    };
    let addr = http::serve(&s.health_addr, probes, metrics.clone())?;
    log::info!("health and metrics on http://{addr}/health and /metrics");

    let runner = match &s.executable {
        Some(argv) => Runner::Process {
            argv: argv.clone(),
            config: config_path.to_path_buf(),
            dry_run,
        },
        None => Runner::InProcess(Box::new(crate::engine::Ingestor::new(cfg.clone())?)),
    };
    let dlq = match &s.dead_letter_topic {
        Some(t) => {
            let p: BaseProducer = client_config(&s.client, false)
                .create()
                .context("creating the dead-letter producer")?;
            Some((t.clone(), p))
        }
        None => None,
    };
    let samples = if s.sample_registration {
        crate::ingest::connect(&cfg)?.map(|client| {
            samples::Registrar::new(
                client,
                s.sample_name_path.clone(),
                s.proposal_id_path.clone(),
            )
        })
    } else {
        None
    };
    let stopping = Arc::new(AtomicBool::new(false));
    let ctx = Arc::new(Context {
        runner,
        config: cfg.clone(),
        metrics: metrics.clone(),
        dead_letter: DeadLetter::new(s.dead_letter_journal.clone(), dlq),
        max_retries: s.max_retries,
        backoff: s.retry_backoff,
        stopping: stopping.clone(),
        samples,
    });

    let (report_tx, report_rx) = mpsc::channel::<Report>();
    let core = Arc::new(Core::new(
        report_rx,
        metrics.clone(),
        dry_run,
        s.drain_timeout,
    ));
    let (job_tx, job_rx) = mpsc::channel::<work::Job>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    for i in 0..s.workers {
        let (ctx, rx, tx) = (ctx.clone(), job_rx.clone(), report_tx.clone());
        let assigned = core.assigned.clone();
        let stopping = stopping.clone();
        std::thread::Builder::new()
            .name(format!("ingest-{i}"))
            .spawn(move || {
                loop {
                    let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                        Ok(j) => j,
                        Err(_) => return,
                    };
                    let mine = assigned
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .contains(&job.tp);
                    let ended = if !mine || stopping.load(std::sync::atomic::Ordering::SeqCst) {
                        Ended::Abandoned
                    } else {
                        ctx.run(&job)
                    };
                    if tx
                        .send(Report {
                            tp: job.tp,
                            offset: job.offset,
                            ended,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            })?;
    }

    let mut cc = client_config(&s.client, true);
    cc.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    if cc.get("fetch.wait.max.ms").is_none() {
        // A resumed partition joins the next fetch request only: keep the
        // broker's long poll (default 500 ms) short so resuming is quick.
        cc.set("fetch.wait.max.ms", "100");
    }
    let consumer: BaseConsumer<Ctx> = cc
        .create_with_context(Ctx(core.clone()))
        .context("creating the Kafka consumer")?;
    let topics: Vec<&str> = s.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .with_context(|| format!("subscribing to {}", s.topics.join(", ")))?;
    log::info!(
        "online: group {} on {}, {} file(s) at a time{}",
        s.group_id,
        s.topics.join(", "),
        s.workers,
        if dry_run {
            " (dry run: nothing committed)"
        } else {
            ""
        }
    );
    let opts = LoopOptions {
        // Messages are small: a few hundred queued keep the workers busy
        // across the fetch round trip that resuming costs.
        pause_at: (s.workers * 8).max(256),
        drain_timeout: s.drain_timeout,
        sample_registration: s.sample_registration,
    };
    daemon::run(&consumer, &core, &job_tx, &stop, &stopping, &opts)?;
    drop(consumer);
    log::info!("stopped");
    Ok(())
}

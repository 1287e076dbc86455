//! One announced file, start to end: the message file, the ingestion (in
//! this process through the engine, or one process per file), retries with
//! backoff, and the dead-letter record when the retries run out.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};

use super::message::{WritingDone, write_message_file};
use super::metrics::Metrics;
use super::offsets::Tp;
use crate::engine::Ingestor;
use crate::ingest::{Outcome, Request};

/// What a job does with its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `wrdn`: ingest the finished file.
    Ingest,
    /// `pl72`: register the sample of the run being written.
    RegisterSample,
}

/// One message's work: a file to ingest, or a run start's sample (then
/// `msg` holds the run start's job id and file name).
#[derive(Debug, Clone)]
pub struct Job {
    pub tp: Tp,
    pub offset: i64,
    pub msg: WritingDone,
    pub kind: Kind,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Ingested,
    AlreadyPresent,
    DryRun,
    DeadLettered,
    SampleCreated,
    /// Not finished (shutting down, partition revoked): not committed.
    Abandoned,
}

/// How files are ingested.
pub enum Runner {
    InProcess(Box<Ingestor>),
    /// `CMD... -c CONFIG --nexus-file F [--done-writing-message-file M]`.
    Process {
        argv: Vec<String>,
        config: PathBuf,
        dry_run: bool,
    },
}

/// Where given-up files are recorded.
pub struct DeadLetter {
    pub journal: PathBuf,
    pub topic: Option<(String, BaseProducer)>,
    lock: Mutex<()>,
}

impl DeadLetter {
    pub fn new(journal: PathBuf, topic: Option<(String, BaseProducer)>) -> DeadLetter {
        DeadLetter {
            journal,
            topic,
            lock: Mutex::new(()),
        }
    }

    /// Appends the record to the journal (and sends it to the topic).
    pub fn record(&self, job: &Job, error: &str) -> Result<()> {
        let m = &job.msg;
        let rec = json!({
            "time": chrono::Utc::now().to_rfc3339(),
            "topic": job.tp.0, "partition": job.tp.1, "offset": job.offset,
            "service_id": m.service_id, "job_id": m.job_id,
            "error_encountered": m.error_encountered, "file_name": m.file_name,
            "metadata": m.metadata, "message": m.message,
            "error": crate::logging::scrub(error),
        });
        let line = format!("{rec}\n");
        {
            let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(dir) = self.journal.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.journal)?;
            f.write_all(line.as_bytes())?;
            f.sync_data()?;
        }
        if let Some((topic, producer)) = &self.topic {
            let key = m.job_id.clone();
            producer
                .send(BaseRecord::to(topic).key(&key).payload(line.trim_end()))
                .map_err(|(e, _)| anyhow!("cannot send to dead-letter topic {topic}: {e}"))?;
            producer
                .flush(Duration::from_secs(10))
                .map_err(|e| anyhow!("dead-letter topic {topic}: {e}"))?;
        }
        Ok(())
    }
}

/// What every worker shares.
pub struct Context {
    pub runner: Runner,
    pub config: crate::config::Config,
    pub metrics: Arc<Metrics>,
    pub dead_letter: DeadLetter,
    pub max_retries: u32,
    pub backoff: Duration,
    /// Set on shutdown: waits end, queued jobs are abandoned.
    pub stopping: Arc<AtomicBool>,
    pub samples: Option<super::samples::Registrar>,
}

impl Context {
    fn attempt(&self, job: &Job) -> Result<Ended> {
        let fh = &self.config.ingestion.file_handling;
        let data = job.msg.data_file(fh);
        let dry_run = self.config.ingestion.dry_run;
        if job.kind == Kind::RegisterSample {
            let reg = self
                .samples
                .as_ref()
                .ok_or_else(|| anyhow!("sample registration needs scicat.host"))?;
            if dry_run {
                log::info!("dry run: would register the sample of {}", data.display());
                return Ok(Ended::DryRun);
            }
            return Ok(match reg.register(&data)? {
                super::samples::Registered::Created(_) => Ended::SampleCreated,
                super::samples::Registered::Exists => Ended::AlreadyPresent,
            });
        }
        let message_file = if fh.message_to_file && !dry_run {
            Some(write_message_file(&job.msg, &data, fh)?)
        } else {
            None
        };
        match &self.runner {
            Runner::InProcess(engine) => {
                let req = Request {
                    nexus_file: data.display().to_string(),
                    nexus_path: data.clone(),
                    done_writing_message_file: message_file.map(|p| p.display().to_string()),
                    dry_run,
                    fixed_builtins: Vec::new(),
                };
                let outcome = engine.ingest(&req)?;
                match &outcome {
                    Outcome::DryRun(v) => log::info!(
                        "dry run: would ingest {} as {}",
                        data.display(),
                        crate::logging::scrub(&v.to_string())
                    ),
                    o => log::info!(
                        "{}",
                        crate::logging::scrub(&crate::ingest::summary(&req.nexus_file, o))
                    ),
                }
                Ok(match outcome {
                    Outcome::DryRun(_) => Ended::DryRun,
                    Outcome::Created { .. } | Outcome::Resumed { .. } => Ended::Ingested,
                    Outcome::Exists { .. } => Ended::AlreadyPresent,
                })
            }
            Runner::Process {
                argv,
                config,
                dry_run,
            } => {
                let mut cmd = Command::new(&argv[0]);
                cmd.args(&argv[1..])
                    .arg("-c")
                    .arg(config)
                    .arg("--nexus-file")
                    .arg(&data);
                if let Some(m) = &message_file {
                    cmd.arg("--done-writing-message-file").arg(m);
                }
                if *dry_run {
                    cmd.arg("--dry-run");
                }
                let out = cmd
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(|e| anyhow!("cannot run {}: {e}", argv[0]))?;
                if out.status.success() {
                    Ok(if *dry_run {
                        Ended::DryRun
                    } else {
                        Ended::Ingested
                    })
                } else {
                    let err = String::from_utf8_lossy(&out.stderr);
                    let last = err.lines().last().unwrap_or("").to_string();
                    Err(anyhow!(
                        "{} exited with {} on {}: {last}",
                        argv[0],
                        out.status,
                        data.display()
                    ))
                }
            }
        }
    }

    /// Sleeps `d` unless shutting down; false when it was cut short.
    fn wait(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.stopping.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
        }
        true
    }

    /// Runs a job to its end: retried with doubling backoff, then given up
    /// on into the dead-letter journal.
    pub fn run(&self, job: &Job) -> Ended {
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = self.attempt(job);
            self.metrics.observe(started.elapsed());
            let err = match result {
                Ok(ended) => {
                    let counter = match ended {
                        Ended::Ingested => Some(&self.metrics.ingested),
                        Ended::AlreadyPresent if job.kind == Kind::RegisterSample => {
                            Some(&self.metrics.samples_existing)
                        }
                        Ended::AlreadyPresent => Some(&self.metrics.already_present),
                        Ended::SampleCreated => Some(&self.metrics.samples_created),
                        _ => None,
                    };
                    if let Some(c) = counter {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    return ended;
                }
                Err(e) => format!("{e:#}"),
            };
            self.metrics.failed.fetch_add(1, Ordering::Relaxed);
            if attempt >= self.max_retries {
                log::error!(
                    "giving up on {} ({}[{}]@{}) after {} attempt(s): {}",
                    job.msg.file_name,
                    job.tp.0,
                    job.tp.1,
                    job.offset,
                    attempt + 1,
                    crate::logging::scrub(&err)
                );
                return match self.dead_letter.record(job, &err) {
                    Ok(()) => {
                        self.metrics.dead_lettered.fetch_add(1, Ordering::Relaxed);
                        Ended::DeadLettered
                    }
                    Err(e) => {
                        // Not recorded: leave the offset uncommitted rather
                        // than drop the file silently.
                        log::error!("cannot record {} as dead letter: {e:#}", job.msg.file_name);
                        Ended::Abandoned
                    }
                };
            }
            let delay = self
                .backoff
                .saturating_mul(1 << attempt.min(10))
                .min(Duration::from_secs(300));
            log::warn!(
                "{} failed (attempt {}), retrying in {:.1} s: {}",
                job.msg.file_name,
                attempt + 1,
                delay.as_secs_f64(),
                crate::logging::scrub(&err)
            );
            attempt += 1;
            self.metrics.retries.fetch_add(1, Ordering::Relaxed);
            if !self.wait(delay) {
                return Ended::Abandoned;
            }
        }
    }
}

/// The dead-letter record as a value (for tests reading the journal).
pub fn parse_journal(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

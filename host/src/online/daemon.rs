//! The consumer loop: takes messages, hands files to the workers, commits
//! the done prefix of each partition, and keeps polling whatever happens
//! (busy workers pause fetching; they never stop the poll loop).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::message::WritingDone;
use super::message::{Decoded, decode};
use super::metrics::Metrics;
use super::offsets::{Tp, Tracker};
use super::work::{Ended, Job, Kind};

/// A worker's report on a job.
pub struct Report {
    pub tp: Tp,
    pub offset: i64,
    pub ended: Ended,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// State shared by the loop and the rebalance callbacks (which run inside
/// `poll`, on the loop's thread).
pub struct Core {
    tracker: Mutex<Tracker>,
    reports: Mutex<Receiver<Report>>,
    /// Partitions assigned now; workers abandon jobs of others.
    pub assigned: Arc<Mutex<HashSet<Tp>>>,
    metrics: Arc<Metrics>,
    dry_run: bool,
    /// How long a revocation waits for the partitions' running files.
    rebalance_wait: Duration,
    assignment_changed: AtomicBool,
}

impl Core {
    pub fn new(
        reports: Receiver<Report>,
        metrics: Arc<Metrics>,
        dry_run: bool,
        rebalance_wait: Duration,
    ) -> Core {
        Core {
            tracker: Mutex::new(Tracker::default()),
            reports: Mutex::new(reports),
            assigned: Arc::new(Mutex::new(HashSet::new())),
            metrics,
            dry_run,
            rebalance_wait,
            assignment_changed: AtomicBool::new(false),
        }
    }

    fn take(&self, r: Report) {
        let mut t = lock(&self.tracker);
        if r.ended == Ended::Abandoned {
            t.abandon(&r.tp, r.offset);
        } else {
            t.finish(&r.tp, r.offset);
        }
        self.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Takes the workers' reports; waits up to `wait` for the first one.
    fn absorb(&self, wait: Duration) {
        let rx = lock(&self.reports);
        if !wait.is_zero() {
            match rx.recv_timeout(wait) {
                Ok(r) => self.take(r),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
            }
        }
        while let Ok(r) = rx.try_recv() {
            self.take(r);
        }
    }

    /// Commits what became committable.
    fn commit<C: ConsumerContext>(&self, consumer: &BaseConsumer<C>) {
        let (due, oldest) = lock(&self.tracker).due();
        if due.is_empty() {
            return;
        }
        if self.dry_run {
            for ((t, p), o) in &due {
                log::info!("dry run: would commit {t}[{p}] up to offset {o}");
            }
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in &due {
            if let Err(e) = tpl.add_partition_offset(t, *p, Offset::Offset(*o)) {
                log::error!("cannot commit {t}[{p}]@{o}: {e}");
            }
        }
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                let now = chrono::Utc::now().timestamp_millis();
                self.metrics
                    .last_commit
                    .store((now / 1000) as u64, Ordering::Relaxed);
                if let Some(ts) = oldest {
                    self.metrics
                        .max_commit_wait_ms
                        .fetch_max((now - ts).max(0) as u64, Ordering::Relaxed);
                }
                for ((t, p), o) in &due {
                    log::debug!("committed {t}[{p}] up to offset {o}");
                }
            }
            // Tried again on the next round; if the daemon dies first the
            // messages come again, which the exactly-once side makes harmless.
            Err(e) => {
                log::warn!("commit failed: {e}");
                lock(&self.tracker).commit_failed(&due);
            }
        }
    }

    fn in_flight(&self) -> usize {
        lock(&self.tracker).total_in_flight()
    }
}

/// The consumer's callbacks.
pub struct Ctx(pub Arc<Core>);

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let core = &self.0;
        let revoked: Vec<Tp> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        {
            let mut a = lock(&core.assigned);
            for tp in &revoked {
                a.remove(tp);
            }
        }
        // Running files of these partitions may finish (bounded), so that
        // their offsets are committed before another member takes over.
        let end = Instant::now() + core.rebalance_wait;
        loop {
            let busy: usize = {
                let t = lock(&core.tracker);
                revoked.iter().map(|tp| t.in_flight(tp)).sum()
            };
            if busy == 0 || Instant::now() >= end {
                if busy > 0 {
                    log::warn!("{busy} file(s) still running on revoked partitions: not committed");
                }
                break;
            }
            core.absorb(Duration::from_millis(100));
        }
        core.commit(consumer);
        let mut t = lock(&core.tracker);
        for tp in &revoked {
            t.forget(tp);
            core.metrics.clear_lag(&tp.0, tp.1);
        }
        log::info!("partitions revoked: {}", names(&revoked));
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let got: Vec<Tp> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                lock(&self.0.assigned).extend(got.iter().cloned());
                self.0.assignment_changed.store(true, Ordering::SeqCst);
                log::info!("partitions assigned: {}", names(&got));
            }
            Rebalance::Error(e) => log::error!("rebalance failed: {e}"),
            Rebalance::Revoke(_) => {}
        }
    }
}

fn names(tps: &[Tp]) -> String {
    let v: Vec<String> = tps.iter().map(|(t, p)| format!("{t}[{p}]")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// How often done offsets are committed while running (revocations and
/// shutdown commit at once).
const COMMIT_EVERY: Duration = Duration::from_millis(200);

/// The loop's settings.
pub struct LoopOptions {
    /// Jobs outstanding (running and queued) at which fetching pauses; it
    /// resumes at half.
    pub pause_at: usize,
    pub drain_timeout: Duration,
    pub sample_registration: bool,
}

/// Polls until `stop`, then drains (bounded) and commits.
pub fn run(
    consumer: &BaseConsumer<Ctx>,
    core: &Arc<Core>,
    jobs: &Sender<Job>,
    stop: &AtomicBool,
    stopping: &AtomicBool,
    opts: &LoopOptions,
) -> Result<()> {
    let metrics = core.metrics.clone();
    let mut paused = false;
    let mut drain_until: Option<Instant> = None;
    let mut last_lag = Instant::now();
    let mut last_commit = Instant::now();
    loop {
        if drain_until.is_none() && stop.load(Ordering::SeqCst) {
            log::info!(
                "stopping: finishing {} file(s) in flight (at most {:.0} s)",
                core.in_flight(),
                opts.drain_timeout.as_secs_f64()
            );
            stopping.store(true, Ordering::SeqCst);
            drain_until = Some(Instant::now() + opts.drain_timeout);
        }
        if let Some(until) = drain_until {
            core.absorb(Duration::ZERO);
            let left = core.in_flight();
            if left == 0 {
                break;
            }
            if Instant::now() >= until {
                log::warn!("{left} file(s) did not finish in time: not committed");
                break;
            }
        }
        // Hysteresis: resuming costs a new fetch round trip, so fetching
        // restarts while half the queue is still there to work on.
        let outstanding = core.in_flight();
        let want_pause = drain_until.is_some()
            || outstanding >= opts.pause_at
            || (paused && outstanding > opts.pause_at / 2);
        if want_pause != paused || core.assignment_changed.swap(false, Ordering::SeqCst) {
            let a = consumer.assignment().context("reading the assignment")?;
            let r = if want_pause {
                consumer.pause(&a)
            } else {
                consumer.resume(&a)
            };
            if let Err(e) = r {
                log::warn!("cannot pause/resume fetching: {e}");
            }
            paused = want_pause;
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => log::warn!("kafka: {e}"),
            Some(Ok(m)) if drain_until.is_none() => {
                let tp: Tp = (m.topic().to_string(), m.partition());
                let offset = m.offset();
                let ts = m
                    .timestamp()
                    .to_millis()
                    .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
                let decoded = decode(m.payload());
                metrics.message(decoded.kind());
                let at = format!("{}[{}]@{}", tp.0, tp.1, offset);
                lock(&core.tracker).start(&tp, offset, ts);
                match decoded {
                    Decoded::Done(msg) => {
                        log::info!("{at}: {} finished writing", msg.file_name);
                        metrics.in_flight.fetch_add(1, Ordering::Relaxed);
                        let job = Job {
                            tp,
                            offset,
                            msg,
                            kind: Kind::Ingest,
                        };
                        if jobs.send(job).is_err() {
                            anyhow::bail!("the workers are gone");
                        }
                        continue;
                    }
                    Decoded::WriteError(msg) => log::warn!(
                        "{at}: skipped: writing {} stopped on an error: {}",
                        msg.file_name,
                        msg.message.as_deref().unwrap_or("(no message)")
                    ),
                    Decoded::Poison(why) => log::error!("{at}: skipped: {why}"),
                    Decoded::Other(id) => log::debug!("{at}: skipped: schema {id}"),
                    Decoded::RunStart { filename, job_id } if opts.sample_registration => {
                        log::info!("{at}: run start of {filename}: registering its sample");
                        metrics.in_flight.fetch_add(1, Ordering::Relaxed);
                        let msg = WritingDone {
                            service_id: String::new(),
                            job_id,
                            error_encountered: false,
                            file_name: filename,
                            metadata: None,
                            message: None,
                        };
                        let job = Job {
                            tp,
                            offset,
                            msg,
                            kind: Kind::RegisterSample,
                        };
                        if jobs.send(job).is_err() {
                            anyhow::bail!("the workers are gone");
                        }
                        continue;
                    }
                    Decoded::RunStart { filename, .. } => {
                        log::debug!("{at}: skipped: run start of {filename}")
                    }
                }
                lock(&core.tracker).finish(&tp, offset);
            }
            // Fetched before the pause took effect: not taken, so not
            // committed, so redelivered.
            Some(Ok(_)) => {}
        }
        core.absorb(Duration::ZERO);
        // A commit is a broker round trip: batch them, a few per second.
        if last_commit.elapsed() >= COMMIT_EVERY {
            last_commit = Instant::now();
            core.commit(consumer);
        }
        if last_lag.elapsed() >= Duration::from_secs(5) {
            last_lag = Instant::now();
            update_lag(consumer, core);
        }
    }
    core.absorb(Duration::ZERO);
    core.commit(consumer);
    Ok(())
}

fn update_lag(consumer: &BaseConsumer<Ctx>, core: &Core) {
    let tps: Vec<Tp> = lock(&core.assigned).iter().cloned().collect();
    for (t, p) in tps {
        if let Ok((low, high)) = consumer.fetch_watermarks(&t, p, Duration::from_millis(500)) {
            let done = lock(&core.tracker)
                .committed(&(t.clone(), p))
                .unwrap_or(low);
            core.metrics.set_lag(&t, p, (high - done).max(0));
        }
    }
}

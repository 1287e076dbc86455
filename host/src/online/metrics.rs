//! The daemon's counters, rendered in the Prometheus text format for
//! `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the ingest duration histogram.
const BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Debug, Default)]
pub struct Metrics {
    messages: Mutex<BTreeMap<&'static str, u64>>,
    pub ingested: AtomicU64,
    pub already_present: AtomicU64,
    pub failed: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub in_flight: AtomicI64,
    pub retries: AtomicU64,
    pub samples_created: AtomicU64,
    pub samples_existing: AtomicU64,
    durations: Mutex<(Vec<u64>, f64, u64)>,
    lag: Mutex<BTreeMap<(String, i32), i64>>,
    /// Unix seconds of the last commit.
    pub last_commit: AtomicU64,
    /// The longest time (ms) a message waited between its broker timestamp
    /// and its commit.
    pub max_commit_wait_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn message(&self, kind: &'static str) {
        *lock(&self.messages).entry(kind).or_default() += 1;
    }

    pub fn observe(&self, d: Duration) {
        let mut h = lock(&self.durations);
        if h.0.is_empty() {
            h.0 = vec![0; BUCKETS.len()];
        }
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.0[i] += 1;
            }
        }
        h.1 += s;
        h.2 += 1;
    }

    pub fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        lock(&self.lag).insert((topic.to_string(), partition), lag);
    }

    pub fn clear_lag(&self, topic: &str, partition: i32) {
        lock(&self.lag).remove(&(topic.to_string(), partition));
    }

    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP scicat_ingestor_messages_total Messages received, by type."
        );
        let _ = writeln!(o, "# TYPE scicat_ingestor_messages_total counter");
        for (k, v) in lock(&self.messages).iter() {
            let _ = writeln!(o, "scicat_ingestor_messages_total{{type=\"{k}\"}} {v}");
        }
        let counters = [
            (
                "files_ingested_total",
                "Files ingested (dataset created or completed).",
                &self.ingested,
            ),
            (
                "files_already_present_total",
                "Files found already in the catalog.",
                &self.already_present,
            ),
            (
                "files_failed_total",
                "Failed ingestion attempts.",
                &self.failed,
            ),
            (
                "files_dead_lettered_total",
                "Files given up on after their retries.",
                &self.dead_lettered,
            ),
            (
                "file_retries_total",
                "Ingestion attempts repeated after a failure.",
                &self.retries,
            ),
            (
                "samples_created_total",
                "Samples registered from run starts.",
                &self.samples_created,
            ),
            (
                "samples_existing_total",
                "Run starts whose sample existed already.",
                &self.samples_existing,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(o, "# HELP scicat_ingestor_{name} {help}");
            let _ = writeln!(o, "# TYPE scicat_ingestor_{name} counter");
            let _ = writeln!(o, "scicat_ingestor_{name} {}", v.load(Ordering::Relaxed));
        }
        let _ = writeln!(
            o,
            "# HELP scicat_ingestor_files_in_flight Files being ingested now."
        );
        let _ = writeln!(o, "# TYPE scicat_ingestor_files_in_flight gauge");
        let _ = writeln!(
            o,
            "scicat_ingestor_files_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let (buckets, sum, count) = lock(&self.durations).clone();
        let _ = writeln!(
            o,
            "# HELP scicat_ingestor_ingest_duration_seconds Time to ingest one file."
        );
        let _ = writeln!(
            o,
            "# TYPE scicat_ingestor_ingest_duration_seconds histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let n = buckets.get(i).copied().unwrap_or(0);
            let _ = writeln!(
                o,
                "scicat_ingestor_ingest_duration_seconds_bucket{{le=\"{b}\"}} {n}"
            );
        }
        let _ = writeln!(
            o,
            "scicat_ingestor_ingest_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(o, "scicat_ingestor_ingest_duration_seconds_sum {sum}");
        let _ = writeln!(o, "scicat_ingestor_ingest_duration_seconds_count {count}");
        let _ = writeln!(
            o,
            "# HELP scicat_ingestor_consumer_lag Messages not yet committed, per partition."
        );
        let _ = writeln!(o, "# TYPE scicat_ingestor_consumer_lag gauge");
        for ((t, p), v) in lock(&self.lag).iter() {
            let _ = writeln!(
                o,
                "scicat_ingestor_consumer_lag{{topic=\"{t}\",partition=\"{p}\"}} {v}"
            );
        }
        let _ = writeln!(
            o,
            "# HELP scicat_ingestor_last_commit_timestamp_seconds When offsets were last committed."
        );
        let _ = writeln!(
            o,
            "# TYPE scicat_ingestor_last_commit_timestamp_seconds gauge"
        );
        let _ = writeln!(
            o,
            "scicat_ingestor_last_commit_timestamp_seconds {}",
            self.last_commit.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP scicat_ingestor_max_commit_wait_seconds Longest wait of a message between the broker and its commit."
        );
        let _ = writeln!(o, "# TYPE scicat_ingestor_max_commit_wait_seconds gauge");
        let _ = writeln!(
            o,
            "scicat_ingestor_max_commit_wait_seconds {}",
            self.max_commit_wait_ms.load(Ordering::Relaxed) as f64 / 1000.0
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_lag() {
        let m = Metrics::default();
        m.message("wrdn");
        m.message("wrdn");
        m.message("poison");
        m.ingested.fetch_add(2, Ordering::Relaxed);
        m.observe(Duration::from_millis(200));
        m.set_lag("t", 3, 7);
        let text = m.render();
        assert!(text.contains("scicat_ingestor_messages_total{type=\"wrdn\"} 2\n"));
        assert!(text.contains("scicat_ingestor_messages_total{type=\"poison\"} 1\n"));
        assert!(text.contains("scicat_ingestor_files_ingested_total 2\n"));
        assert!(text.contains("scicat_ingestor_ingest_duration_seconds_bucket{le=\"0.1\"} 0\n"));
        assert!(text.contains("scicat_ingestor_ingest_duration_seconds_bucket{le=\"0.25\"} 1\n"));
        assert!(text.contains("scicat_ingestor_consumer_lag{topic=\"t\",partition=\"3\"} 7\n"));
    }
}

//! A short-lived cache of proposal and instrument lookups shared by all the
//! files one engine ingests: a backlog (or a stream) of one proposal asks
//! SciCat for it once every few seconds, not once per file. Only answers are
//! kept, never failures, and only for seconds, so a fixed proposal is seen
//! almost at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long an answer is reused.
pub const TTL: Duration = Duration::from_secs(10);
/// At most this many answers are kept (the oldest go first).
pub const MAX_ENTRIES: usize = 512;

pub struct LookupCache {
    entries: Mutex<HashMap<String, (Instant, Value)>>,
    ttl: Duration,
}

impl Default for LookupCache {
    fn default() -> Self {
        LookupCache::new(TTL)
    }
}

impl LookupCache {
    pub fn new(ttl: Duration) -> Self {
        LookupCache {
            entries: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// Whether a schema's `SC` url is a lookup worth sharing: proposals and
    /// instruments change rarely and are asked by every file of a run.
    pub fn shares(url: &str) -> bool {
        let u = url.trim_start_matches('/');
        u.starts_with("proposals") || u.starts_with("instruments")
    }

    pub fn get(&self, url: &str) -> Option<Value> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(url)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, url: &str, v: &Value) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(url.to_string(), (Instant::now(), v.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_reused_for_a_while_and_bounded() {
        let c = LookupCache::new(Duration::from_millis(200));
        c.put("proposals/1", &json!({"a": 1}));
        assert_eq!(c.get("proposals/1"), Some(json!({"a": 1})));
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(c.get("proposals/1"), None, "expired");
        let c = LookupCache::new(Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES + 10) {
            c.put(&format!("proposals/{i}"), &json!(i));
        }
        assert!(c.entries.lock().unwrap().len() <= MAX_ENTRIES);
        assert!(LookupCache::shares("proposals/443503"));
        assert!(LookupCache::shares("instruments?filter=x"));
        assert!(!LookupCache::shares("samples?filter=x"));
    }
}

//! The ingestion engine: the config, the schemas, the SciCat client (its
//! connection pool and login) made once, then file after file ingested with
//! exactly the single-file semantics, from any number of threads at once.
//! The CLI's single ingestion, `ingest` (a backlog) and the daemon all use it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::config::Config;
use crate::ingest::{self, Outcome, Request};
use crate::plugin::PluginHost;
use crate::schema_index::LazySchemas;
use crate::scicat::Client;

/// How often a long-running engine looks whether the schema files changed.
pub const SCHEMA_CHECK: Duration = Duration::from_secs(2);

/// The schema files' names, sizes and change times: what a reload is
/// decided on.
type Signature = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// The schemas in use, and what their files looked like when loaded.
struct Loaded {
    set: Arc<LazySchemas>,
    signature: Signature,
    checked: Instant,
}

/// Loaded once, shared by every ingestion (`Send + Sync`).
pub struct Ingestor {
    config: Config,
    schemas: RwLock<Loaded>,
    client: Option<Client>,
    /// Proposal and instrument answers, reused by the files for seconds.
    lookups: crate::lookup_cache::LookupCache,
    /// Plugin hosts not in use. A call takes one (or makes one) and gives it
    /// back, so compiled plugins are reused while instances stay per file.
    idle_plugins: Mutex<Vec<PluginHost>>,
}

impl Ingestor {
    /// Loads the schemas and connects to SciCat (logging in when the config
    /// says so).
    pub fn new(config: Config) -> Result<Ingestor> {
        let signature = signature(&config);
        let schemas = RwLock::new(Loaded {
            set: Arc::new(ingest::load_schemas(&config)?),
            signature,
            checked: Instant::now(),
        });
        let client = ingest::connect(&config)?;
        // Fail on a broken plugin config now rather than per file.
        let first = PluginHost::new(&config.plugins)?;
        Ok(Ingestor {
            config,
            schemas,
            client,
            lookups: Default::default(),
            idle_plugins: Mutex::new(vec![first]),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Ingests one data file. Errors carry the file's name.
    pub fn ingest(&self, req: &Request) -> Result<Outcome> {
        let mut plugins = match self.idle().pop() {
            Some(p) => p,
            None => PluginHost::new(&self.config.plugins)?,
        };
        let schemas = self.schemas();
        let result = ingest::ingest_one(
            &self.config,
            schemas.as_ref(),
            self.client.as_ref(),
            &self.lookups,
            &mut plugins,
            req,
        );
        self.idle().push(plugins);
        result.with_context(|| format!("ingesting {}", req.nexus_file))
    }

    /// The schemas, loaded again when their files changed (looked at most
    /// every [`SCHEMA_CHECK`]): a daemon or a long backlog picks up a fixed
    /// schema without a restart. A folder that no longer loads keeps the
    /// schemas in use, with a warning.
    fn schemas(&self) -> Arc<LazySchemas> {
        {
            let s = self.schemas.read().unwrap_or_else(|p| p.into_inner());
            if s.checked.elapsed() < SCHEMA_CHECK {
                return s.set.clone();
            }
        }
        let mut s = self.schemas.write().unwrap_or_else(|p| p.into_inner());
        if s.checked.elapsed() >= SCHEMA_CHECK {
            s.checked = Instant::now();
            let now = signature(&self.config);
            if now != s.signature {
                match ingest::load_schemas(&self.config) {
                    Ok(set) => {
                        log::info!("the schema files changed: loaded them again");
                        s.set = Arc::new(set);
                        s.signature = now;
                    }
                    Err(e) => log::warn!(
                        "the schema files changed but do not load ({e:#}); the previous ones stay in use"
                    ),
                }
            }
        }
        s.set.clone()
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<PluginHost>> {
        self.idle_plugins.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the schema files look like now (a folder that cannot be read gives
/// an empty signature; loading it then says why).
fn signature(config: &Config) -> Signature {
    let dir = crate::config::resolve_path(&config.config_file, &config.ingestion.schemas_directory);
    let mut files = crate::schema::schema_files(&dir).unwrap_or_default();
    match config.ingestion.fallback_schema_file_path.trim() {
        "" => {}
        p => files.push(crate::config::resolve_path(&config.config_file, p)),
    }
    files
        .into_iter()
        .map(|f| {
            let md = std::fs::metadata(&f).ok();
            let len = md.as_ref().map_or(0, |m| m.len());
            let modified = md.and_then(|m| m.modified().ok());
            (f, len, modified)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_is_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Ingestor>();
    }
}

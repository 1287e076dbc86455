//! The ingestion engine: the config, the schemas, the SciCat client (its
//! connection pool and login) made once, then file after file ingested with
//! exactly the single-file semantics, from any number of threads at once.
//! The CLI's single ingestion, `ingest` (a backlog) and the daemon all use it.

use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::ingest::{self, Outcome, Request};
use crate::plugin::PluginHost;
use crate::schema_index::LazySchemas;
use crate::scicat::Client;

/// Loaded once, shared by every ingestion (`Send + Sync`).
pub struct Ingestor {
    config: Config,
    schemas: LazySchemas,
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
        let schemas = ingest::load_schemas(&config)?;
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
        let result = ingest::ingest_one(
            &self.config,
            &self.schemas,
            self.client.as_ref(),
            &self.lookups,
            &mut plugins,
            req,
        );
        self.idle().push(plugins);
        result.with_context(|| format!("ingesting {}", req.nexus_file))
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<PluginHost>> {
        self.idle_plugins.lock().unwrap_or_else(|p| p.into_inner())
    }
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

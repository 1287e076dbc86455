//! [`PluginHost`]: the plugins of the schemas used in a run, each loaded
//! once, and instantiated per data file (an instance made to select a
//! schema is reused when that schema wins).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow};
use serde_json::Value;

use super::cache::Origin;
use super::engine::{self, Loaded};
use super::instance::PluginInstance;
use super::{Hook, PluginInfo, cache_dir, read_info};
use crate::config::PluginOptions;
use crate::nexus::NexusFile;
use crate::schema::Schema;

/// Loads the plugins of the schemas used in a run (each once) and
/// instantiates them per data file.
pub struct PluginHost {
    opts: PluginOptions,
    cache_dir: Option<PathBuf>,
    loaded: HashMap<PathBuf, Result<Arc<(Loaded, PluginInfo)>, String>>,
    /// Instances made while selecting a schema for the current file, handed
    /// to `for_schema` when that schema wins.
    selecting: Vec<(PathBuf, String, Arc<NexusFile>, PluginInstance)>,
}

impl PluginHost {
    pub fn new(opts: &PluginOptions) -> Result<Self> {
        Ok(PluginHost {
            opts: opts.clone(),
            cache_dir: cache_dir(opts),
            loaded: HashMap::new(),
            selecting: Vec::new(),
        })
    }

    /// The plugin at `path`, loaded on first use (a failure is remembered).
    fn load(&mut self, path: &Path) -> Result<Arc<(Loaded, PluginInfo)>, String> {
        if let Some(l) = self.loaded.get(path) {
            return l.clone();
        }
        let result = engine::load(path, self.cache_dir.as_deref())
            .map_err(|e| format!("plugin {} cannot be loaded: {e:#}", path.display()))
            .and_then(|loaded| {
                let info = read_info(&loaded, &self.opts).map_err(|e| e.to_string())?;
                log::info!(
                    "plugin {} {} loaded in {:.1} ms ({}; hooks: {})",
                    info.label(),
                    info.version,
                    loaded.load_time.as_secs_f64() * 1e3,
                    match loaded.origin {
                        Origin::Cache => "from the compiled-code cache",
                        Origin::Compiled => "compiled",
                    },
                    if info.hooks.is_empty() {
                        "none".to_string()
                    } else {
                        info.hooks
                            .iter()
                            .map(Hook::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                );
                Ok(Arc::new((loaded, info)))
            });
        self.loaded.insert(path.to_path_buf(), result.clone());
        result
    }

    /// What the plugin at `path` declares (loading it if needed).
    pub fn info(&mut self, path: &Path) -> Result<PluginInfo> {
        self.load(path).map(|l| l.1.clone()).map_err(|e| anyhow!(e))
    }

    /// A new instance of the plugin at `path` for `nexus`, initialised with
    /// `config`.
    pub fn instantiate(
        &mut self,
        path: &Path,
        config: &Value,
        nexus: &Arc<NexusFile>,
    ) -> Result<PluginInstance> {
        let l = self.load(path).map_err(|e| anyhow!(e))?;
        PluginInstance::new(l, &self.opts, config, nexus).map_err(|e| anyhow!(e))
    }

    /// Runs the `select` hook of the schema's plugin.
    pub fn select(&mut self, schema: &Schema, nexus: &Arc<NexusFile>, file: &str) -> Result<bool> {
        let Some(p) = &schema.plugin else {
            return Err(anyhow!(
                "schema {}: the selector uses a plugin but the schema names none",
                schema.file.display()
            ));
        };
        let key = p.config.to_string();
        self.selecting
            .retain(|(_, _, nx, _)| Arc::ptr_eq(nx, nexus));
        let pos = self
            .selecting
            .iter()
            .position(|(path, k, _, _)| path == &p.path && *k == key);
        let mut inst = match pos {
            Some(i) => self.selecting.remove(i).3,
            None => self.instantiate(&p.path, &p.config, nexus)?,
        };
        let r = inst.select(file);
        if inst.usable() {
            self.selecting
                .push((p.path.clone(), key, nexus.clone(), inst));
        }
        r.map_err(|e| anyhow!("schema {}: {e}", schema.file.display()))
    }

    /// An instance of the schema's plugin for one data file, if it has one.
    pub fn for_schema(
        &mut self,
        schema: &Schema,
        nexus: &Arc<NexusFile>,
    ) -> Result<Option<PluginInstance>> {
        let Some(p) = &schema.plugin else {
            self.selecting.clear();
            return Ok(None);
        };
        let key = p.config.to_string();
        let reused = self
            .selecting
            .iter()
            .position(|(path, k, nx, _)| path == &p.path && *k == key && Arc::ptr_eq(nx, nexus))
            .map(|i| self.selecting.remove(i).3);
        self.selecting.clear();
        let mut inst = match reused {
            Some(i) => i,
            None => self
                .instantiate(&p.path, &p.config, nexus)
                .map_err(|e| anyhow!("schema {}: {e}", schema.file.display()))?,
        };
        inst.may_set = p.may_set.clone();
        inst.context.schema_id = schema.id.clone();
        let problems = inst.info().check_schema(schema);
        if !problems.is_empty() {
            log::warn!("schema {}: {}", schema.file.display(), problems.join("; "));
        }
        Ok(Some(inst))
    }
}

//! Instrument plugins: WebAssembly components a schema names, run sandboxed.
//! (Placeholder until the wasmtime host lands: a schema with a plugin fails
//! with a clear message.)

use std::sync::Arc;

use anyhow::{Result, bail};
use serde_json::{Map, Value};

use crate::config::PluginOptions;
use crate::evaluate::{PluginHooks, Var, Vars};
use crate::nexus::NexusFile;
use crate::schema::Schema;

/// Loads and caches the plugins of the schemas used in a run.
pub struct PluginHost {
    _opts: PluginOptions,
}

impl PluginHost {
    pub fn new(opts: &PluginOptions) -> Result<Self> {
        Ok(PluginHost {
            _opts: opts.clone(),
        })
    }

    /// Runs the `select` hook of the schema's plugin.
    pub fn select(
        &mut self,
        schema: &Schema,
        _nexus: &Arc<NexusFile>,
        _file: &str,
    ) -> Result<bool> {
        bail!(
            "schema {}: plugins are not supported by this build",
            schema.file.display()
        )
    }

    /// An instance of the schema's plugin for one data file, if it has one.
    pub fn for_schema(
        &mut self,
        schema: &Schema,
        _nexus: &Arc<NexusFile>,
    ) -> Result<Option<PluginInstance>> {
        if schema.plugin.is_some() {
            bail!(
                "schema {}: plugins are not supported by this build",
                schema.file.display()
            );
        }
        Ok(None)
    }
}

/// One plugin, instantiated for one data file.
pub struct PluginInstance;

impl PluginInstance {
    /// The `transform` hook: may change the finished dataset.
    pub fn transform(&mut self, d: Map<String, Value>) -> Result<Map<String, Value>, String> {
        Ok(d)
    }
}

impl PluginHooks for PluginInstance {
    fn variable(&mut self, _name: &str, _args: &Value, _vars: &Vars) -> Result<Var, String> {
        Err("plugins are not supported by this build".into())
    }
    fn operator(&mut self, _name: &str, _value: &Var, _vars: &Vars) -> Result<Var, String> {
        Err("plugins are not supported by this build".into())
    }
}

/// What a plugin declares about itself.
#[derive(Debug, Clone, Default)]
pub struct PluginInfo {
    /// Implemented hooks: `select`, `variables`, `operators`, `transform`.
    pub hooks: Vec<String>,
    /// Variable names the `variables` hook offers (empty: any).
    pub variables: Vec<String>,
    /// Operator names the `operators` hook offers (empty: any).
    pub operators: Vec<String>,
}

/// Loads the component at `path` and returns what it declares.
pub fn describe(path: &std::path::Path, _opts: &PluginOptions) -> Result<PluginInfo> {
    bail!(
        "{}: plugins are not supported by this build",
        path.display()
    )
}

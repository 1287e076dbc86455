//! Instrument plugins: WebAssembly components a schema names
//! (`"plugin": {"path": ..., "config": {...}}`), run sandboxed with
//! Wasmtime. This module is the API the rest of the host uses: load and
//! describe a plugin, instantiate it for a data file, call its hooks with
//! the memory and time bounds of the config, and turn every way a plugin can
//! fail (an error it returns, a trap, a panic, a bound exceeded, a value too
//! large) into an error naming the plugin, the hook and the reason.
//!
//! Submodules: [`info`] (what a plugin declares, hooks, errors), [`host`]
//! (plugins of a run, loaded once), [`instance`] (one plugin for one data
//! file: hooks under the failure and field policies), [`call`] (one call:
//! store, limits, deadline, failure reasons), [`wit`] (one binding module
//! per accepted interface version, the file view, the version stamp),
//! [`sandbox`] (WASI, limits, captured output), [`engine`] (engine,
//! deadline ticker, linker, loading), [`compile`] (bounded compilation),
//! [`cache`] (compiled-code cache), [`files`] (reading planted files
//! safely), [`policy`] (what `transform` may change), [`text`] (escaping
//! what a plugin says).

pub mod cache;
mod call;
pub mod compile;
pub mod engine;
pub mod files;
mod host;
mod info;
mod instance;
pub mod policy;
pub mod sandbox;
pub mod text;
pub mod wit;

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use crate::config::PluginOptions;
pub use cache::Origin;
use call::{instantiate, run};
use engine::Loaded;
pub use host::PluginHost;
use info::label;
pub use info::{Hook, PluginError, PluginInfo};
pub use instance::PluginInstance;

/// The largest value (text, list, JSON) a plugin may return from one call.
pub const MAX_RETURN_BYTES: usize = 16 << 20;

/// The compiled-code cache folder the options name (empty: per-user
/// default; `"none"`/`"off"`: no cache).
pub fn cache_dir(opts: &PluginOptions) -> Option<PathBuf> {
    match opts.cache_dir.trim() {
        "" => cache::default_dir(),
        "none" | "off" => None,
        d => Some(PathBuf::from(d)),
    }
}

/// Loads the plugin at `path` and returns what it declares (name, version,
/// hooks, variables, operators). Used by `validate`: an error means the file
/// is missing, is not a plugin, or fails to describe itself.
pub fn describe(path: &Path, opts: &PluginOptions) -> Result<PluginInfo> {
    let loaded = engine::load(path, cache_dir(opts).as_deref())
        .map_err(|e| anyhow!("plugin {}: {e:#}", path.display()))?;
    Ok(read_info(&loaded, opts)?)
}

/// Calls `metadata` in a fresh store.
fn read_info(loaded: &Loaded, opts: &PluginOptions) -> Result<PluginInfo, PluginError> {
    let fallback = label("", &loaded.path);
    let (mut store, bindings) =
        instantiate(loaded, opts, b"metadata").map_err(|reason| PluginError {
            plugin: fallback.clone(),
            hook: Hook::Start,
            subject: None,
            reason,
        })?;
    let m = run(&mut store, &fallback, opts, |s| {
        bindings.metadata(s).map(Ok)
    })
    .map_err(|reason| PluginError {
        plugin: fallback.clone(),
        hook: Hook::Metadata,
        subject: None,
        reason,
    })?;
    // `*` in the declaration means any name, as an empty list does.
    let any = |v: Vec<String>| {
        if v.iter().any(|n| n == "*") {
            Vec::new()
        } else {
            v
        }
    };
    // Names end up in labels and messages: keep them short and inert.
    let names = |v: Vec<String>| -> Vec<String> {
        v.iter().take(1000).map(|n| text::clean(n, 100)).collect()
    };
    let info = PluginInfo {
        hooks: m.hooks,
        variables: any(names(m.variables)),
        operators: any(names(m.operators)),
        path: loaded.path.clone(),
        name: text::clean(&m.name, 100),
        version: text::clean(&m.version, 100),
        description: text::clean(&m.description, text::MAX_TEXT),
        wit_version: loaded.wit_version.clone(),
        origin: loaded.origin,
        load_time: loaded.load_time,
    };
    Ok(info)
}

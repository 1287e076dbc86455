//! Instrument plugins: WebAssembly components a schema names
//! (`"plugin": {"path": ..., "config": {...}}`), run sandboxed with
//! Wasmtime. This module is the API the rest of the host uses: load and
//! describe a plugin, instantiate it for a data file, call its hooks with
//! the memory and time bounds of the config, and turn every way a plugin can
//! fail (an error it returns, a trap, a panic, a bound exceeded, a value too
//! large) into an error naming the plugin, the hook and the reason.
//!
//! Submodules: [`bindings`] (the WIT world and the file view), [`sandbox`]
//! (WASI, limits, captured output), [`engine`] (engine, deadline ticker,
//! linker, loading), [`compile`] (bounded compilation), [`cache`]
//! (compiled-code cache), [`files`] (reading
//! planted files safely), [`policy`] (what `transform` may change),
//! [`text`] (escaping what a plugin says), [`convert`] (values).

pub mod bindings;
pub mod cache;
pub mod compile;
pub mod convert;
pub mod engine;
pub mod files;
pub mod policy;
pub mod sandbox;
pub mod text;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use serde_json::{Map, Value};
use wasmtime::component::Resource;
use wasmtime::{Store, Trap};

use crate::config::PluginOptions;
use crate::evaluate::{Failure, PluginHooks, Var, Vars};
use crate::nexus::NexusFile;
use crate::schema::{Operator, Schema, Source};
use bindings::{FileView, Plugin as Bindings, TypedValue};
pub use cache::Origin;
use engine::Loaded;
use sandbox::State;

/// The largest value (text, list, JSON) a plugin may return from one call.
pub const MAX_RETURN_BYTES: usize = 16 << 20;

/// The hooks of the plugin interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// Instantiation, with the component's start function.
    Start,
    Metadata,
    Init,
    Select,
    Variables,
    Operators,
    Transform,
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hook::Start => "instantiation",
            Hook::Metadata => "metadata",
            Hook::Init => "init",
            Hook::Select => "select",
            Hook::Variables => "variables",
            Hook::Operators => "operators",
            Hook::Transform => "transform",
        })
    }
}

/// What a plugin declares about itself (its `metadata` export).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginInfo {
    /// Implemented hooks: `select`, `variables`, `operators`, `transform`.
    pub hooks: Vec<String>,
    /// Variable names the `variables` hook offers (empty: any).
    pub variables: Vec<String>,
    /// Operator names the `operators` hook offers (empty: any).
    pub operators: Vec<String>,
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    pub description: String,
    /// The `scicat:ingestor` interface version it was built against.
    pub wit_version: String,
    /// Whether it was loaded from the compiled-code cache.
    pub origin: Origin,
    /// Time to load (read, compile or fetch from the cache, link).
    pub load_time: Duration,
}

impl PluginInfo {
    /// Whether the plugin implements `hook` (metadata and init always).
    pub fn implements(&self, hook: Hook) -> bool {
        match hook {
            Hook::Start | Hook::Metadata | Hook::Init => true,
            h => self.hooks.iter().any(|x| *x == h.to_string()),
        }
    }

    /// Whether the plugin computes variable `name`.
    pub fn offers_variable(&self, name: &str) -> bool {
        self.implements(Hook::Variables)
            && (self.variables.is_empty() || self.variables.iter().any(|v| v == name))
    }

    /// Whether the plugin offers operator `name`.
    pub fn offers_operator(&self, name: &str) -> bool {
        self.implements(Hook::Operators)
            && (self.operators.is_empty() || self.operators.iter().any(|v| v == name))
    }

    /// `name` (file name), for messages.
    pub fn label(&self) -> String {
        label(&self.name, &self.path)
    }

    /// What `schema` uses of its plugin that this plugin does not offer:
    /// one line per problem, empty when the plugin fits.
    pub fn check_schema(&self, schema: &Schema) -> Vec<String> {
        let mut out = Vec::new();
        let offered = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        if schema.selector.uses_plugin() && !self.implements(Hook::Select) {
            out.push(format!(
                "the selector uses the plugin, but {} has no select hook",
                self.label()
            ));
        }
        for (var, def) in &schema.variables {
            match &def.source {
                Source::Plugin { name, .. } if !self.offers_variable(name) => out.push(format!(
                    "variable `{var}` asks the plugin for `{name}`, but {} computes {} (variables: {})",
                    self.label(),
                    if self.implements(Hook::Variables) { "other variables" } else { "no variables" },
                    offered(&self.variables)
                )),
                Source::Value {
                    operator: Operator::Plugin(op),
                    ..
                } if !self.offers_operator(op) => out.push(format!(
                    "variable `{var}` uses operator plugin:{op}, but {} offers {} (operators: {})",
                    self.label(),
                    if self.implements(Hook::Operators) { "other operators" } else { "no operators" },
                    offered(&self.operators)
                )),
                _ => {}
            }
        }
        out
    }
}

fn label(name: &str, path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    if name.is_empty() {
        file
    } else {
        format!("{name} ({file})")
    }
}

/// A hook that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// `name (file.wasm)`.
    pub plugin: String,
    pub hook: Hook,
    /// The variable or operator asked for, if any.
    pub subject: Option<String>,
    pub reason: String,
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hook {
            Hook::Start => write!(f, "plugin {}: instantiation (start function)", self.plugin)?,
            h => write!(f, "plugin {}: {h} hook", self.plugin)?,
        }
        if let Some(s) = &self.subject {
            write!(f, " ({s})")?;
        }
        write!(f, " failed: {}", self.reason)
    }
}

impl std::error::Error for PluginError {}

/// The compiled-code cache folder the options name (empty: per-user
/// default; `"none"`/`"off"`: no cache).
pub fn cache_dir(opts: &PluginOptions) -> Option<PathBuf> {
    match opts.cache_dir.trim() {
        "" => cache::default_dir(),
        "none" | "off" => None,
        d => Some(PathBuf::from(d)),
    }
}

fn limits(opts: &PluginOptions) -> (usize, u64) {
    let mem = (opts.max_memory_mb.clamp(1, 64 * 1024) as usize) << 20;
    let ticks = opts
        .timeout_ms
        .max(1)
        .div_ceil(engine::TICK.as_millis() as u64);
    (mem, ticks)
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
        bindings.call_metadata(s).map(Ok)
    })
    .map_err(|reason| PluginError {
        plugin: fallback.clone(),
        hook: Hook::Metadata,
        subject: None,
        reason,
    })?;
    let hooks = [
        (bindings::Hooks::SELECT, Hook::Select),
        (bindings::Hooks::VARIABLES, Hook::Variables),
        (bindings::Hooks::OPERATORS, Hook::Operators),
        (bindings::Hooks::TRANSFORM, Hook::Transform),
    ]
    .into_iter()
    .filter(|(flag, _)| m.hooks.contains(*flag))
    .map(|(_, h)| h.to_string())
    .collect();
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
        hooks,
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

/// A fresh store with the limits of `opts`, and the plugin instantiated in
/// it.
fn instantiate(
    loaded: &Loaded,
    opts: &PluginOptions,
    seed: &[u8],
) -> Result<(Store<State>, Bindings), String> {
    let (mem, ticks) = limits(opts);
    let mut store = Store::new(engine::engine(), State::new(mem, seed));
    store.limiter(|s| &mut s.limits);
    // What a plugin hands the host in one call (wasmtime's default: 128 MiB).
    store.set_hostcall_fuel(MAX_RETURN_BYTES);
    store.set_max_component_handles(sandbox::MAX_HANDLES);
    set_deadline(&mut store, opts);
    store.epoch_deadline_trap();
    store.set_epoch_deadline(ticks);
    let bindings = loaded
        .pre
        .instantiate(&mut store)
        .map_err(|e| classify(&mut store, e, opts))?;
    Ok((store, bindings))
}

/// Starts the time budget of one call: the epoch deadline for wasm code,
/// and the same instant for the host's reads.
fn set_deadline(store: &mut Store<State>, opts: &PluginOptions) {
    let (_, ticks) = limits(opts);
    store.set_epoch_deadline(ticks);
    store.data_mut().deadline = Some((
        Instant::now() + Duration::from_millis(opts.timeout_ms.max(1)),
        opts.timeout_ms,
    ));
}

/// Runs one call under the deadline, logs what the plugin printed, and
/// turns every failure into a reason.
fn run<T>(
    store: &mut Store<State>,
    plugin: &str,
    opts: &PluginOptions,
    f: impl FnOnce(&mut Store<State>) -> wasmtime::Result<Result<T, String>>,
) -> Result<T, String> {
    set_deadline(store, opts);
    store.data_mut().limits.refused = None;
    let result = f(store);
    store.data_mut().deadline = None;
    let stderr = flush_output(store, plugin);
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(msg)) => Err(text::clean(&msg, text::MAX_TEXT)),
        Err(e) => Err(match panic_message(&stderr) {
            Some(msg) if is_unreachable(&e) => format!("it panicked: {msg}"),
            _ => classify(store, e, opts),
        }),
    }
}

fn is_unreachable(e: &wasmtime::Error) -> bool {
    matches!(e.downcast_ref::<Trap>(), Some(Trap::UnreachableCodeReached))
}

/// The reason of a trap or host error.
fn classify(store: &mut Store<State>, e: wasmtime::Error, opts: &PluginOptions) -> String {
    if let Some(why) = store.data_mut().limits.refused.take() {
        return why;
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return format!("it called exit({})", exit.0);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!(
            "it ran longer than its time limit of {} ms (plugins.timeout_ms)",
            opts.timeout_ms
        ),
        Some(Trap::StackOverflow) => "its stack overflowed".into(),
        Some(Trap::UnreachableCodeReached) => "it aborted (wasm `unreachable`)".into(),
        // Rust and C keep their stack in linear memory, below the data: a
        // stack overflow there shows up as an access out of bounds.
        Some(Trap::MemoryOutOfBounds) => "it accessed memory out of bounds (in a Rust or C plugin, usually its stack overflowed: too deep a recursion)".into(),
        Some(t) => format!("it trapped: {t}"),
        None => {
            // A host call the plugin made failed (a WASI request over its
            // limits, too many handles, ...): the root cause says which;
            // the outer message is only "error while executing at ...".
            let root = e.root_cause().to_string();
            if root.contains("fuel allocated for hostcalls has been exhausted") {
                return too_large_call();
            }
            if let Some(why) = wasi_misuse(&e, &root) {
                return why;
            }
            let root = root.lines().find(|l| !l.trim().is_empty()).unwrap_or("unknown error");
            format!("a call to the host failed: {}", text::clean(root, text::MAX_TEXT))
        }
    }
}

/// What a plugin did wrong with WASI, from the host's error: a random
/// request over the limit, or more handles than the sandbox holds.
fn wasi_misuse(e: &wasmtime::Error, root: &str) -> Option<String> {
    let handles = || {
        format!(
            "it holds more than {} handles (streams, pollables, file views) at once",
            sandbox::MAX_HANDLES
        )
    };
    if matches!(
        e.downcast_ref::<wasmtime::component::ResourceTableError>(),
        Some(wasmtime::component::ResourceTableError::Full)
    ) || root.contains("resource table has no free keys")
        || root.contains("store handle limit exceeded")
    {
        return Some(handles());
    }
    // wasmtime-wasi: "requested len {len} exceeds limit {max}".
    let (asked, limit) = root
        .strip_prefix("requested len ")?
        .split_once(" exceeds limit ")?;
    let n = |s: &str| s.trim().parse::<u64>().ok();
    Some(format!(
        "it asked the host for {} random bytes at once, more than the {} allowed",
        n(asked)?,
        n(limit)?
    ))
}

/// Logs the plugin's stdout and stderr at debug level (target `plugin`) and
/// returns stderr.
fn flush_output(store: &mut Store<State>, plugin: &str) -> String {
    let (out, out_dropped) = store.data().stdout.take();
    let (err, err_dropped) = store.data().stderr.take();
    for line in out.lines().chain(err.lines()) {
        if !line.trim().is_empty() {
            log::debug!(target: "plugin", "[{plugin}] {}", text::clean(line, text::MAX_TEXT));
        }
    }
    if out_dropped + err_dropped > 0 {
        log::debug!(
            target: "plugin",
            "[{plugin}] {} more bytes of output dropped",
            out_dropped + err_dropped
        );
    }
    err
}

/// The message of a Rust panic from what the plugin printed on stderr.
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    let first = lines.find(|l| l.contains("panicked at"))?;
    let mut msg: Vec<&str> = lines
        .take_while(|l| !l.starts_with("note:") && !l.trim().is_empty())
        .collect();
    if msg.is_empty() {
        // Older formats: "panicked at 'msg', src/lib.rs:1:2".
        msg.push(first.split("panicked at").nth(1).unwrap_or("").trim());
    }
    Some(text::clean(&msg.join(" "), 500))
}

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
                        info.hooks.join(", ")
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
        let problems = inst.info().check_schema(schema);
        if !problems.is_empty() {
            log::warn!("schema {}: {}", schema.file.display(), problems.join("; "));
        }
        Ok(Some(inst))
    }
}

/// One plugin, instantiated for one data file. After a trap or an exceeded
/// bound the instance is dropped: later `variables`/`operators` calls for
/// the same file fail at once with the first reason, `transform` runs in a
/// fresh instance, and the next file gets a fresh instance.
pub struct PluginInstance {
    loaded: Arc<(Loaded, PluginInfo)>,
    opts: PluginOptions,
    config: String,
    nexus: Arc<NexusFile>,
    live: Option<(Store<State>, Bindings, Resource<FileView>)>,
    broken: Option<String>,
    /// The error of the first call that trapped (or ran out of time or
    /// memory) for this file, as the failed variable reports it.
    trap: Option<String>,
    /// Protected fields the schema lets `transform` set.
    may_set: Vec<String>,
    /// Time spent in calls (for the per-file cost in logs and benchmarks).
    pub busy: Duration,
}

impl PluginInstance {
    fn new(
        loaded: Arc<(Loaded, PluginInfo)>,
        opts: &PluginOptions,
        config: &Value,
        nexus: &Arc<NexusFile>,
    ) -> Result<Self, PluginError> {
        let config = if config.is_null() {
            "{}".to_string()
        } else {
            config.to_string()
        };
        let mut inst = PluginInstance {
            loaded,
            opts: opts.clone(),
            config,
            nexus: nexus.clone(),
            live: None,
            broken: None,
            trap: None,
            may_set: Vec::new(),
            busy: Duration::ZERO,
        };
        inst.start()?;
        Ok(inst)
    }

    /// Instantiates the plugin in a fresh store and calls `init`.
    fn start(&mut self) -> Result<(), PluginError> {
        let t0 = Instant::now();
        let plugin = self.loaded.1.label();
        let err = |reason: String| PluginError {
            plugin: plugin.clone(),
            hook: Hook::Init,
            subject: None,
            reason,
        };
        // Seeded by the data file: deterministic per file, not constant.
        let seed = self.nexus.path().to_string_lossy().into_owned();
        let (mut store, bindings) = instantiate(&self.loaded.0, &self.opts, seed.as_bytes())
            .map_err(|reason| PluginError {
                plugin: plugin.clone(),
                hook: Hook::Start,
                subject: None,
                reason,
            })?;
        let file = store
            .data_mut()
            .table
            .push(FileView {
                file: self.nexus.clone(),
            })
            .map_err(|e| err(e.to_string()))?;
        let config = &self.config;
        let r = run(&mut store, &plugin, &self.opts, |s| {
            bindings.call_init(s, config)
        });
        self.busy += t0.elapsed();
        r.map_err(err)?;
        self.live = Some((store, bindings, file));
        Ok(())
    }

    /// What the plugin declares.
    pub fn info(&self) -> &PluginInfo {
        &self.loaded.1
    }

    /// Whether hooks can still be called (no trap so far).
    pub fn usable(&self) -> bool {
        self.live.is_some()
    }

    fn call<T>(
        &mut self,
        hook: Hook,
        subject: Option<&str>,
        f: impl FnOnce(
            &mut Store<State>,
            &Bindings,
            &Resource<FileView>,
        ) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T, PluginError> {
        let plugin = self.loaded.1.label();
        let err = |reason: String| PluginError {
            plugin: plugin.clone(),
            hook,
            subject: subject.map(str::to_string),
            reason,
        };
        if !self.loaded.1.implements(hook) {
            return Err(err(format!(
                "{} does not implement the {hook} hook",
                plugin
            )));
        }
        let Some((store, bindings, file)) = self.live.as_mut() else {
            return Err(err(format!(
                "not called: the plugin was stopped earlier for this file ({})",
                self.broken.as_deref().unwrap_or("?")
            )));
        };
        let t0 = Instant::now();
        let mut trapped = false;
        let result = run(store, &plugin, &self.opts, |s| {
            let r = f(s, bindings, file);
            trapped = r.is_err();
            r
        });
        self.busy += t0.elapsed();
        let result = result.map_err(err);
        if trapped {
            // A trapped instance cannot be entered again: drop its store.
            self.live = None;
            if let Err(e) = &result {
                self.broken = Some(e.reason.clone());
                self.trap.get_or_insert_with(|| e.to_string());
            }
        }
        result
    }

    /// Whether a trap in a hook stops this file (the failure policy): the
    /// error to stop with, unless no hook trapped or the variable whose
    /// hook trapped is marked `"optional": true` in the schema.
    pub fn stops_file(&self, schema: &Schema, failures: &[Failure]) -> Option<String> {
        let trap = self.trap.as_ref()?;
        let culprit = failures.iter().find(|f| f.reason == *trap)?;
        let optional = schema
            .variables
            .iter()
            .find(|(n, _)| *n == culprit.name)
            .is_some_and(|(_, d)| d.raw.get("optional") == Some(&Value::Bool(true)));
        if optional {
            log::warn!(
                "variable `{}` is optional: the file is ingested without it although its plugin hook stopped",
                culprit.name
            );
            None
        } else {
            Some(format!(
                "{trap}; variable `{}` is not marked \"optional\": true, so this file stops",
                culprit.name
            ))
        }
    }

    /// The `select` hook: does the schema apply to the data file `path`?
    pub fn select(&mut self, path: &str) -> Result<bool, PluginError> {
        self.call(Hook::Select, None, |s, b, f| {
            b.call_select(s, Resource::new_borrow(f.rep()), path)
        })
    }

    /// The `transform` hook: may change the finished dataset. A plugin
    /// without it leaves the dataset as it is.
    pub fn transform(&mut self, d: Map<String, Value>) -> Result<Map<String, Value>, String> {
        if !self.loaded.1.implements(Hook::Transform) {
            return Ok(d);
        }
        if self.live.is_none() {
            // The dataset is finished: transform it in a fresh instance even
            // if a variable stopped the first one.
            self.start().map_err(|e| e.to_string())?;
        }
        let text = serde_json::to_string(&d).map_err(|e| e.to_string())?;
        let out = self
            .call(Hook::Transform, None, |s, b, f| {
                b.call_transform(s, &text, Resource::new_borrow(f.rep()))
            })
            .map_err(|e| e.to_string())?;
        let plugin = self.loaded.1.label();
        let fail = |reason: String| {
            PluginError {
                plugin: plugin.clone(),
                hook: Hook::Transform,
                subject: None,
                reason,
            }
            .to_string()
        };
        if out.len() > MAX_RETURN_BYTES {
            return Err(fail(too_large(out.len())));
        }
        match serde_json::from_str::<Value>(&out) {
            // A dataset has a few dozen fields; thousands would only flood
            // the warnings about unknown ones.
            Ok(Value::Object(m)) if m.len() > policy::MAX_FIELDS => Err(fail(format!(
                "it returned {} top-level fields, more than the {} a dataset may have (put data in scientificMetadata)",
                m.len(),
                policy::MAX_FIELDS
            ))),
            Ok(Value::Object(m)) if policy::odd_name(&m).is_some() => Err(fail(format!(
                "it returned a field named `{}`, not a plain name (at most {} bytes, no control characters)",
                text::clean(policy::odd_name(&m).unwrap_or_default(), 100),
                policy::MAX_NAME
            ))),
            Ok(Value::Object(m)) => {
                let bad = policy::violations(&d, &m, &self.may_set);
                if bad.is_empty() {
                    Ok(m)
                } else {
                    Err(fail(format!(
                        "it changed {}, which decide who owns and sees the dataset or which record it lands in; the schema can allow it with \"plugin\": {{\"may_set\": [...]}}",
                        bad.iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
            Ok(other) => Err(fail(format!(
                "it returned {}, not a JSON object",
                crate::config::kind_of(&other)
            ))),
            Err(e) => Err(fail(format!("it returned text that is not JSON: {e}"))),
        }
    }

    fn checked(&self, hook: Hook, subject: &str, t: TypedValue) -> Result<Var, String> {
        let err = |reason: String| {
            PluginError {
                plugin: self.loaded.1.label(),
                hook,
                subject: Some(subject.to_string()),
                reason,
            }
            .to_string()
        };
        let size = convert::size_of(&t);
        if size > MAX_RETURN_BYTES {
            return Err(err(too_large(size)));
        }
        convert::wit_to_var(t).map_err(err)
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        log::debug!(
            "plugin {}: {:.2} ms in init and hooks for this file",
            self.loaded.1.label(),
            self.busy.as_secs_f64() * 1e3
        );
    }
}

/// wasmtime stopped a value over [`MAX_RETURN_BYTES`] while copying it.
fn too_large_call() -> String {
    format!(
        "it passed the host more than the {} MiB a plugin value may have",
        MAX_RETURN_BYTES >> 20
    )
}

fn too_large(n: usize) -> String {
    format!(
        "it returned {} MiB, more than the {} MiB a plugin value may have",
        n >> 20,
        MAX_RETURN_BYTES >> 20
    )
}

fn typed_vars(vars: &Vars) -> Vec<(String, TypedValue)> {
    vars.iter()
        .map(|(k, v)| (k.clone(), convert::var_to_wit(v)))
        .collect()
}

impl PluginHooks for PluginInstance {
    fn variable(&mut self, name: &str, args: &Value, vars: &Vars) -> Result<Var, String> {
        let subject = format!("variable {name:?}");
        if self.loaded.1.implements(Hook::Variables) && !self.loaded.1.offers_variable(name) {
            return Err(PluginError {
                plugin: self.loaded.1.label(),
                hook: Hook::Variables,
                subject: Some(subject),
                reason: format!(
                    "the plugin computes no such variable (it offers: {})",
                    self.loaded.1.variables.join(", ")
                ),
            }
            .to_string());
        }
        let args = args.to_string();
        let typed = typed_vars(vars);
        let t = self
            .call(Hook::Variables, Some(&subject), |s, b, f| {
                b.call_variable(s, name, &args, Resource::new_borrow(f.rep()), &typed)
            })
            .map_err(|e| e.to_string())?;
        self.checked(Hook::Variables, &subject, t)
    }

    fn operator(&mut self, name: &str, value: &Var, vars: &Vars) -> Result<Var, String> {
        let subject = format!("operator plugin:{name}");
        if self.loaded.1.implements(Hook::Operators) && !self.loaded.1.offers_operator(name) {
            return Err(PluginError {
                plugin: self.loaded.1.label(),
                hook: Hook::Operators,
                subject: Some(subject),
                reason: format!(
                    "the plugin has no such operator (it offers: {})",
                    self.loaded.1.operators.join(", ")
                ),
            }
            .to_string());
        }
        let v = convert::var_to_wit(value);
        let typed = typed_vars(vars);
        let t = self
            .call(Hook::Operators, Some(&subject), |s, b, _| {
                b.call_operator(s, name, &v, &typed)
            })
            .map_err(|e| e.to_string())?;
        self.checked(Hook::Operators, &subject, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_found() {
        let s = "\nthread '<unnamed>' panicked at src/lib.rs:48:24:\nboom in variable\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(s).unwrap(), "boom in variable");
        assert_eq!(panic_message("hello\n"), None);
    }

    #[test]
    fn errors_name_plugin_hook_and_reason() {
        let e = PluginError {
            plugin: "stats (stats.wasm)".into(),
            hook: Hook::Variables,
            subject: Some("variable \"mean\"".into()),
            reason: "it panicked: boom".into(),
        };
        assert_eq!(
            e.to_string(),
            "plugin stats (stats.wasm): variables hook (variable \"mean\") failed: it panicked: boom"
        );
    }
}

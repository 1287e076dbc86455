//! [`PluginInstance`]: one plugin instantiated for one data file, its
//! hooks called under the failure policy (a trap stops the instance; the
//! schema decides whether that stops the file) and `transform`'s result
//! checked against the field policy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use wasmtime::Store;
use wasmtime::component::Resource;

use super::call::{instantiate, run};
use super::engine::Loaded;
use super::sandbox::State;
use super::wit::too_large;
use super::wit::{Bindings, FileView, TransformContext};
use super::{Hook, MAX_RETURN_BYTES, PluginError, PluginInfo, policy, text};
use crate::config::PluginOptions;
use crate::evaluate::{Failure, PluginHooks, Var, Vars};
use crate::nexus::NexusFile;
use crate::schema::Schema;

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
    pub(super) may_set: Vec<String>,
    /// Handed to `transform` (interface 0.2 and later).
    pub(super) context: TransformContext,
    /// Time spent in calls (for the per-file cost in logs and benchmarks).
    pub busy: Duration,
}

impl PluginInstance {
    pub(super) fn new(
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
            context: TransformContext {
                data_file: nexus.path().to_string_lossy().into_owned(),
                ..Default::default()
            },
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
            bindings.init(s, config)
        });
        self.busy += t0.elapsed();
        r.map_err(err)?;
        self.live = Some((store, bindings, file));
        Ok(())
    }

    /// The SciCat API version the dataset is built for, as `transform`'s
    /// context tells the plugin.
    pub fn set_api_version(&mut self, api: crate::api::ApiVersion) {
        self.context.api_version = match api {
            crate::api::ApiVersion::V3 => "3",
            crate::api::ApiVersion::V4 => "4",
        }
        .into();
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
        self.call(Hook::Select, None, |s, b, f| b.select(s, f, path))
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
        let context = self.context.clone();
        let out = self
            .call(Hook::Transform, None, |s, b, f| {
                b.transform(s, &text, f, &context)
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
        self.call(Hook::Variables, Some(&subject), |s, b, f| {
            b.variable(s, name, &args, f, vars)
        })
        .map_err(|e| e.to_string())
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
        self.call(Hook::Operators, Some(&subject), |s, b, _| {
            b.operator(s, name, value, vars)
        })
        .map_err(|e| e.to_string())
    }
}

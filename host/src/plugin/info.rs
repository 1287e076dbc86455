//! What a plugin declares about itself ([`PluginInfo`]), the hooks
//! ([`Hook`]), and a failed hook ([`PluginError`]): the vocabulary the rest
//! of the host and `validate` use, whatever the plugin's interface version.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cache::Origin;
use crate::schema::{Operator, Schema, Source};

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
    /// Implemented hooks among `select`, `variables`, `operators`, `transform`.
    pub hooks: Vec<Hook>,
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
            h => self.hooks.contains(&h),
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

pub(crate) fn label(name: &str, path: &Path) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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

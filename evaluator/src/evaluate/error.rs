//! Why a variable or field did not evaluate. Each variant's `Display` is the
//! reason the failure warning quotes; code that needs to know what went
//! wrong matches the variant (as [`crate::evaluate::explain`] does), never
//! the text.

use serde_json::Value;

use crate::data::NexusError;

/// Why one variable or field did not evaluate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A definition that could not be parsed (already reported at load).
    #[error("{0}")]
    Invalid(String),
    /// Template references to variables that are not defined (yet): the
    /// names without brackets, in order, and the template text.
    #[error(
        "unresolved reference{} {} in {template:?}",
        plural(.names),
        bracketed(.names)
    )]
    Unresolved {
        names: Vec<String>,
        template: String,
    },
    /// Every unresolved reference is to a variable that failed before.
    #[error("uses {}, which failed", .0.join(" and "))]
    UsesFailed(Vec<String>),
    /// The data file could not give the value.
    #[error(transparent)]
    File(#[from] NexusError),
    /// A path (with `*`) that names several objects for a single value.
    #[error(
        "{path} matches {count} objects; use a list value type (e.g. string[]) to get them all"
    )]
    Ambiguous { path: String, count: usize },
    /// A dataset without values for a single value.
    #[error("{0} is empty (no value to read; a list value type gives [])")]
    Empty(String),
    /// An `SC` url that does not render to text.
    #[error("the url renders to {0}, not text")]
    UrlNotText(Value),
    /// The SciCat lookup failed (its reason).
    #[error("{0}")]
    Lookup(String),
    /// The SciCat reply lacks the asked field.
    #[error("the reply from {url} has no field `{field}`")]
    NoField { url: String, field: String },
    /// The SciCat reply is not an object, so it has no fields.
    #[error("the reply from {url} is {kind}, not an object with field `{field}`")]
    NotAnObject {
        url: String,
        kind: &'static str,
        field: String,
    },
    /// `plugin:<name>` operator in a schema without a plugin.
    #[error("operator plugin:{0} needs a schema plugin")]
    OperatorNeedsPlugin(String),
    /// `PLUGIN` variable in a schema without a plugin.
    #[error("a PLUGIN variable needs a schema plugin")]
    VariableNeedsPlugin,
    /// The plugin's hook failed (its reason).
    #[error("{0}")]
    Plugin(String),
    /// A built-in operator cannot apply to the value.
    #[error("{0}")]
    Operator(String),
    /// The value does not fit the value type.
    #[error("{0}")]
    Type(String),
}

fn plural(names: &[String]) -> &'static str {
    if names.len() > 1 { "s" } else { "" }
}

fn bracketed(names: &[String]) -> String {
    let refs: Vec<String> = names.iter().map(|n| format!("<{n}>")).collect();
    refs.join(", ")
}

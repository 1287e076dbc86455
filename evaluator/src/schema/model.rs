//! A loaded schema: its variables (where each value comes from), its
//! fields, the sample attachment and the plugin it names.

use std::path::PathBuf;

use serde_json::Value;

pub use crate::evaluate::operators::Operator;
use crate::schema::Selector;

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `NXS`: the HDF5 object at `path`.
    Nxs { path: String },
    /// `VALUE`: a rendered template, then an operator.
    Value {
        value: Value,
        operator: Operator,
        field: Option<Value>,
        pattern: Option<String>,
        replacement: Option<String>,
    },
    /// `SC`: a GET to SciCat, optionally one key of the reply.
    Sc { url: String, field: String },
    /// `PLUGIN`: the schema plugin's `variables` hook.
    Plugin { name: String, args: Value },
    /// A definition that cannot be evaluated (reported at load).
    Invalid(String),
}

/// One entry of `variables`.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableDef {
    pub source: Source,
    pub value_type: String,
    pub unit: Option<String>,
    /// The definition as written, quoted in the failure warning.
    pub raw: Value,
}

/// One entry of the `schema` section.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub field_type: String,
    pub machine_name: String,
    pub human_name: Option<String>,
    pub value: Value,
    pub value_type: String,
    pub unit: Option<String>,
}

/// `sample_attachment`: look the sample up in SciCat by name and proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleAttachment {
    pub query_sample_name: bool,
    pub sample_name_path: String,
    pub proposal_id_path: String,
}

impl Default for SampleAttachment {
    fn default() -> Self {
        SampleAttachment {
            query_sample_name: false,
            sample_name_path: "/entry/sample/name".into(),
            proposal_id_path: "/entry/experiment_identifier".into(),
        }
    }
}

/// `plugin`: the WebAssembly component a schema uses.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRef {
    /// Resolved against the schema file's folder.
    pub path: PathBuf,
    pub config: Value,
    /// Protected dataset fields its `transform` may set (`may_set`).
    pub may_set: Vec<String>,
}

/// A loaded schema.
#[derive(Debug, Clone)]
pub struct Schema {
    pub id: String,
    pub name: String,
    pub instrument: String,
    pub order: i64,
    pub selector: Selector,
    /// In file order.
    pub variables: Vec<(String, VariableDef)>,
    /// In file order (the order does not matter for evaluation).
    pub fields: Vec<(String, FieldDef)>,
    pub sample_attachment: SampleAttachment,
    pub plugin: Option<PluginRef>,
    pub file: PathBuf,
}

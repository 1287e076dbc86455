//! Schema files (`*imsc.json`, `*imsc.yml`, `*imsc.yaml`): finds, parses and
//! checks them, sorts them by `order` and name, and picks the one whose
//! selector matches a data file (or the fallback schema).

pub mod diagnostic;
pub mod entries;
pub mod model;
pub mod parse;
pub mod selector;
pub mod set;
#[cfg(test)]
mod test_docs;

pub use crate::evaluate::operators::Operator;
pub use crate::evaluate::types::VALUE_TYPES;
pub use diagnostic::{Code, Diagnostic, Severity, diag};
pub use model::{FieldDef, PluginRef, SampleAttachment, Schema, Source, VariableDef};
pub use parse::{
    FIELD_TYPES, check_head, from_value, is_schema_file_name, load_file, parse_text, text_of,
};
pub use selector::{SelOp, Selector, describe_selector};
pub use set::{SchemaSet, schema_files};

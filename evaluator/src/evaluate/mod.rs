//! The schema evaluator: computes a schema's variables in file order
//! (sources NXS, VALUE, SC, PLUGIN), renders templates, applies operators
//! and value types, and renders the fields of the `schema` section. A
//! failing variable or field is collected with its reason, never fatal.

pub mod error;
pub mod failure;
pub mod fields;
pub mod operators;
pub mod template;
pub mod types;
pub mod value;
pub mod variables;

pub use crate::lookup::{PluginHooks, ScFetch};
pub use error::EvalError;
pub use failure::{Failure, describe_failures, describe_read_problems, explain};
pub use fields::{Fields, build_fields};
pub use operators::{apply_operator, basename, dirname, quote_plus};
pub use template::{references, render};
pub use types::{VALUE_TYPES, convert, to_date};
pub use value::{Var, Vars, kind_of, text};
pub use variables::{BUILTINS, Env, builtins, evaluate_variables, read_problems};

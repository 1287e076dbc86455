//! Tools for schema and plugin authors, as subcommands: `validate` (find
//! mistakes in schemas before they reach the catalog), `inspect` (the NeXus
//! tree as the evaluator sees it), `test` (offline golden tests of schemas and
//! plugins), `schema convert` (JSON ↔ YAML) and `plugin new` (a plugin
//! crate to start from).

pub mod convert;
pub mod golden;
pub mod inspect;
pub mod plugin_new;
pub mod validate;

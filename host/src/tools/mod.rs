//! Tools for schema and plugin authors, as subcommands: `validate` (find
//! mistakes in schemas before they reach the catalog), `inspect` (the NeXus
//! tree as the evaluator sees it), `test` (offline golden tests of schemas and
//! plugins) and `schema convert` (JSON ↔ YAML).

pub mod convert;
pub mod golden;
pub mod inspect;
pub mod validate;

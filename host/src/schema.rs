//! Schema files: the model, parser, selectors and set live in the
//! `scicat-evaluator` crate (`scicat_evaluator::schema`); this module keeps
//! the `crate::schema::*` paths the rest of the host uses.

pub use scicat_evaluator::schema::*;

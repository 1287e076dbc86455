//! The schema language of scicat-ingestor, on its own: schema files
//! ([`schema`]: model, parser with diagnostics, selectors, the sorted set),
//! and their evaluation against one data file ([`evaluate`]: values,
//! templates, operators, value types, variables, fields).
//!
//! Nothing here touches HDF5, HTTP or WebAssembly: the data file is a
//! [`data::DataFile`], SciCat and plugins are the traits of [`lookup`]. The
//! host implements them; [`memfile::MemFile`] is an in-memory data file for
//! tests.

pub mod data;
pub mod document;
pub mod evaluate;
pub mod lookup;
pub mod memfile;
pub mod schema;
pub mod vocabulary;

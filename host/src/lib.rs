//! scicat-ingestor: registers NeXus/HDF5 data files in a SciCat data catalog.
//!
//! The flow of one ingestion, one module per stage: [`config`] → [`schema`] →
//! [`nexus`] → [`evaluate`] (with [`plugin`]s) → [`files`] → [`dataset`] →
//! [`scicat`]; [`ingest`] runs them in order and [`logging`] reports.
//! [`tools`] holds the subcommands for schema and plugin authors.

pub mod config;
pub mod dataset;
pub mod evaluate;
pub mod fetch_memo;
pub mod files;
pub mod ingest;
pub mod logging;
pub mod nexus;
pub mod plugin;
pub mod schema;
pub mod schema_index;
pub mod scicat;
pub mod tls;
pub mod tools;

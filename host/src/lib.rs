//! scicat-ingestor: registers NeXus/HDF5 data files in a SciCat data catalog.
//!
//! The flow of one ingestion, one module per stage: [`config`] → [`schema`] →
//! [`nexus`] → [`evaluate`] (with [`plugin`]s) → [`files`] → [`dataset`] →
//! [`scicat`]; [`ingest`] runs them in order and [`logging`] reports.
//! [`tools`] holds the subcommands for schema and plugin authors.

pub mod batch;
pub mod claim;
pub mod config;
pub mod dataset;
pub mod engine;
pub mod evaluate;
pub mod files;
pub mod ingest;
pub mod logging;
pub mod nexus;
pub mod online;
pub mod plugin;
pub mod schema;
pub mod scicat;
pub mod tools;
pub mod upload;

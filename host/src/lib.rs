//! scicat-ingestor: registers NeXus/HDF5 data files in a SciCat data catalog.
//!
//! The flow of one ingestion, one module per stage: [`config`] → [`schema`] →
//! [`nexus`] → [`evaluate`] (with [`plugin`]s) → [`files`] → [`dataset`] →
//! [`upload`] (under the data file's [`claim`], over [`scicat`]); [`ingest`]
//! runs them in order and [`logging`] reports. [`engine`] loads what is
//! shared once and ingests file after file from any number of threads;
//! [`batch`] is the `ingest` command on it. [`tools`] holds the subcommands
//! for schema and plugin authors; [`api`] the differences between the SciCat
//! API versions.

pub mod api;
pub mod batch;
pub mod claim;
pub mod config;
pub mod config_choices;
pub mod dataset;
pub mod digest;
pub mod engine;
pub mod evaluate;
pub mod fetch_memo;
pub mod files;
pub mod http;
pub mod ingest;
pub mod logging;
pub mod lookup_cache;
pub mod nexus;
pub mod nexus_view;
pub mod online;
pub mod plugin;
pub mod schema;
pub mod schema_index;
pub mod scicat;
pub mod tls;
pub mod tools;
pub mod upload;

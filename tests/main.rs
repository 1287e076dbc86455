//! The end-to-end tests, as one test binary (`--test it`) with a module per
//! area: HDF5 and wasmtime are linked once instead of once per file. Run one
//! area with `cargo test -p scicat-ingestor --test it faults::`.
//!
//! They drive the built binary (`CARGO_BIN_EXE_scicat-ingestor`) against the
//! test kit's SciCat server and fixtures (`test-kit/`), and use the plugin
//! components `make plugins` builds.

mod support;

mod api_v4;
mod backend_validator;
mod batch;
mod dry_run;
mod faults;
mod nexus;
mod online;
mod plugins;
mod sandbox;
mod tools;
mod upload;

//! The test kit of `scicat-ingestor`: what its tests run against, usable on
//! its own. [`scicat_server`] is an in-process SciCat (API v3 and v4) over
//! real HTTP that judges bodies like the real backend and can be told to
//! fail; [`fixtures`] writes ESS-like NeXus files. The `scicat-test-server`
//! and `make-fixture` binaries expose both for trying the ingestor by hand,
//! the demo and the benchmarks.

pub mod fixtures;
pub mod scicat_server;

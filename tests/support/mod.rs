//! Shared by the end-to-end tests: a runner for the built binary, configs and
//! cases; the SciCat test server and NeXus fixtures come from the test kit
//! (`test-kit/`).
#![allow(dead_code)]

pub mod wasm;

pub use scicat_test_kit::{fixtures, scicat_server};

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The test schemas shipped with the tests.
pub fn schemas_dir() -> PathBuf {
    repo().join("tests/data/schemas")
}

/// What a run of the binary printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as one JSON document (panics with the whole output otherwise).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e})\nstdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "exit code {}\nstderr:\n{}",
            self.code, self.stderr
        );
        self
    }

    /// The last line of stderr.
    pub fn last_line(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }
}

/// Runs the built `scicat-ingestor` with `args` and extra environment.
pub fn ingestor(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scicat-ingestor"));
    // HDF5 opens files without close-on-exec: a fixture another test thread
    // is writing at the moment of this spawn stays open (and locked) in the
    // child. Without file locking in the children that cannot block a read.
    cmd.args(args)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .env_remove("RUST_LOG")
        .env_remove("SCICAT_TOKEN")
        .env_remove("SCICAT_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes a JSON config file into `dir`.
pub fn write_config(dir: &Path, config: &Value) -> PathBuf {
    let p = dir.join("config.json");
    std::fs::write(&p, serde_json::to_string_pretty(config).unwrap()).unwrap();
    p
}

/// A config for the test server and the test schemas.
pub fn config_for(server_url: &str, schemas: &Path) -> Value {
    serde_json::json!({
        "scicat": {"host": server_url, "token": "test-token-0123456789"},
        "ingestion": {"schemas_directory": schemas},
        "dataset": {"default_owner_group": "ess"},
        "kafka": {"topics": "ignored"},
    })
}

/// BLAKE2b-512 of a file, computed in memory.
pub fn b2(path: &Path) -> String {
    blake2b_simd::Params::new()
        .hash_length(64)
        .hash(&std::fs::read(path).unwrap())
        .to_hex()
        .to_string()
}

/// Runs the ingestion form, `-c CONFIG --nexus-file DATA`, plus `extra`.
pub fn ingest(config: &Path, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec![
        "-c",
        config.to_str().unwrap(),
        "--nexus-file",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ingestor(&args, env)
}

/// A `schemas` folder in `dir` holding the coda-like test schema after
/// `change`.
pub fn coda_schema_with(dir: &Path, change: impl FnOnce(&mut Value)) -> PathBuf {
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(&schemas).unwrap();
    let mut schema: Value = serde_json::from_str(
        &std::fs::read_to_string(schemas_dir().join("coda-like.imsc.json")).unwrap(),
    )
    .unwrap();
    change(&mut schema);
    std::fs::write(schemas.join("coda-like.imsc.json"), schema.to_string()).unwrap();
    schemas
}

/// A generated ESS-like file in a proposal tree, with a config for a server.
pub struct Case {
    pub _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub data: PathBuf,
    pub config: Value,
}

impl Case {
    pub fn new(server_url: &str) -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let data = fixtures::ess_in_tree(&dir, "small_coda_31010.hdf", &fixtures::Ess::default());
        Case {
            _tmp: tmp,
            dir,
            data,
            config: config_for(server_url, &schemas_dir()),
        }
    }

    pub fn run_with(&self, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let cfg = write_config(&self.dir, &self.config);
        let mut args = vec![
            "-c",
            cfg.to_str().unwrap(),
            "--nexus-file",
            self.data.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ingestor(&args, env)
    }

    pub fn run(&self) -> Run {
        self.run_with(&[], &[])
    }
}

/// Exactly one dataset and one datablock, of that dataset.
pub fn assert_one_valid_pair(server: &scicat_server::ScicatServer) -> (Value, Value) {
    let ds = server.datasets();
    let blocks = server.origdatablocks();
    assert_eq!(ds.len(), 1, "exactly one dataset: {ds:#?}");
    assert_eq!(blocks.len(), 1, "exactly one datablock: {blocks:#?}");
    assert_eq!(blocks[0]["datasetId"], ds[0]["pid"]);
    (ds[0].clone(), blocks[0].clone())
}

/// Every dataset has exactly one datablock and there are `n` of each;
/// returns the datasets.
pub fn assert_pairs(server: &scicat_server::ScicatServer, n: usize) -> Vec<Value> {
    let ds = server.datasets();
    let blocks = server.origdatablocks();
    assert_eq!(ds.len(), n, "{ds:#?}");
    assert_eq!(blocks.len(), n, "{blocks:#?}");
    for d in &ds {
        let mine = blocks.iter().filter(|b| b["datasetId"] == d["pid"]).count();
        assert_eq!(mine, 1, "dataset {} has {mine} datablocks", d["pid"]);
    }
    ds
}

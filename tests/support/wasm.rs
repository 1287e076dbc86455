//! The example and test plugins as components: built for `wasm32-wasip2`
//! once per test binary (in a target dir of their own), and the example
//! schemas pointed at them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::repo;

const PLUGINS: &[&str] = &[
    "array-stats",
    "instrument-select",
    "title-keywords",
    "hostile-plugin",
];

/// Where the test build puts its components: a target dir of its own (the
/// one of the `cargo test` running us is locked), inside that one.
pub fn wasm_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d).join("wasm-plugins"),
        _ => repo().join("target/wasm-plugins"),
    }
}

pub fn ensure_wasm_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "wasm32-wasip2")
        })
        .unwrap_or(false);
    if installed {
        return;
    }
    let added = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        added,
        "the wasm32-wasip2 Rust target is missing and could not be added: run `rustup target add wasm32-wasip2`"
    );
}

/// Builds the example and test plugins once per test binary; returns the
/// folder holding the `.wasm` files.
pub fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        ensure_wasm_target();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo())
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .arg("--target-dir")
            .arg(wasm_target_dir());
        for p in PLUGINS {
            cmd.args(["-p", p]);
        }
        // Settings meant for the host build must not leak into this one.
        for k in [
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
        ] {
            cmd.env_remove(k);
        }
        let out = cmd.output().expect("cargo runs");
        assert!(
            out.status.success(),
            "building the plugins failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        wasm_target_dir().join("wasm32-wasip2/release")
    })
}

pub fn wasm(crate_name: &str) -> PathBuf {
    built().join(format!("{}.wasm", crate_name.replace('-', "_")))
}

/// The compiled-code cache shared by the tests (each plugin is compiled
/// once, whatever the number of tests).
pub fn shared_cache() -> String {
    wasm_target_dir()
        .join("cache")
        .to_string_lossy()
        .into_owned()
}

/// A temporary schemas folder with the example's schemas, their plugin paths
/// pointing at the components this test binary built.
pub fn example_schemas(example: &str, dir: &Path) -> PathBuf {
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(&schemas).unwrap();
    let src = repo().join("example-plugins").join(example).join("schemas");
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        if let Some(path) = s.pointer("/plugin/path").and_then(Value::as_str) {
            let name = Path::new(path)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            s["plugin"]["path"] = json!(built().join(name));
        }
        std::fs::write(schemas.join(p.file_name().unwrap()), s.to_string()).unwrap();
    }
    schemas
}

pub fn plugin_config(schemas: &Path, plugins: Value) -> Value {
    let mut p = json!({"cache_dir": shared_cache()});
    p.as_object_mut()
        .unwrap()
        .extend(plugins.as_object().unwrap().clone());
    json!({
        "ingestion": {"schemas_directory": schemas},
        "dataset": {"default_owner_group": "ess"},
        "plugins": p,
    })
}

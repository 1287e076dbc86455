//! The example and test plugins as components. `make plugins` builds them
//! (the list is in the Makefile); the tests only locate them here, so no test
//! runs `rustup` or a nested `cargo build`, and a stale component fails loudly
//! instead of testing old plugin code.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Value, json};

use super::repo;

/// The make target that builds every component the tests use.
const BUILD_HINT: &str = "run `make plugins` (or `make test`, which runs it first)";

/// Cargo's target folder, as `make` (run from the repository's root) sees it.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => repo().join(d),
        None => repo().join("target"),
    }
}

/// Where `make plugins` puts the components (and what the example schemas
/// point at): `target/wasm32-wasip2/release`.
pub fn components_dir() -> PathBuf {
    target_dir().join("wasm32-wasip2/release")
}

/// The test-only folder for caches and scratch files next to the components.
pub fn wasm_target_dir() -> PathBuf {
    target_dir().join("wasm-plugins")
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The source files cargo recorded for `wasm` (its `.d` file beside it) that
/// changed after it was built.
fn newer_sources(wasm: &Path) -> Vec<PathBuf> {
    let built = mtime(wasm).expect("the component exists");
    let dep_info = wasm.with_extension("d");
    let Ok(text) = std::fs::read_to_string(&dep_info) else {
        // Without a dep-info file we cannot tell: treat the component as stale.
        return vec![dep_info];
    };
    // `target: src1 src2 ...`; spaces inside paths are escaped as `\ `.
    let deps = text.split_once(": ").map(|(_, d)| d).unwrap_or("");
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = deps.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.extend(chars.next()),
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(PathBuf::from(std::mem::take(&mut cur)));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(PathBuf::from(cur));
    }
    out.into_iter()
        .filter(|src| mtime(src).is_none_or(|t| t > built))
        .collect()
}

/// The component of the workspace crate `crate_name`, checked to be built
/// and newer than its sources.
pub fn wasm(crate_name: &str) -> PathBuf {
    let p = components_dir().join(format!("{}.wasm", crate_name.replace('-', "_")));
    assert!(
        p.is_file(),
        "plugin component {} is missing: {BUILD_HINT}",
        p.display()
    );
    let newer = newer_sources(&p);
    assert!(
        newer.is_empty(),
        "plugin component {} is older than its sources ({}): {BUILD_HINT}",
        p.display(),
        newer
            .iter()
            .map(|s| s.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    p
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
/// pointing at the built components (checked fresh).
pub fn example_schemas(example: &str, dir: &Path) -> PathBuf {
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(&schemas).unwrap();
    let src = repo().join("example-plugins").join(example).join("schemas");
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        if let Some(path) = s.pointer("/plugin/path").and_then(Value::as_str) {
            let file = Path::new(path).file_stem().unwrap().to_str().unwrap();
            s["plugin"]["path"] = json!(wasm(file));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn touch(p: &Path, t: SystemTime) {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn a_component_older_than_one_of_its_sources_is_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("my lib.rs");
        let other = tmp.path().join("other.rs");
        let wasm = tmp.path().join("p.wasm");
        for p in [&src, &other, &wasm] {
            std::fs::write(p, "").unwrap();
        }
        // cargo's dep-info: `target: deps`, spaces in paths escaped.
        let escaped = |p: &Path| p.display().to_string().replace(' ', "\\ ");
        std::fs::write(
            wasm.with_extension("d"),
            format!(
                "{}: {} {}\n",
                escaped(&wasm),
                escaped(&src),
                escaped(&other)
            ),
        )
        .unwrap();
        let now = SystemTime::now();
        touch(&src, now - Duration::from_secs(60));
        touch(&other, now - Duration::from_secs(60));
        touch(&wasm, now - Duration::from_secs(30));
        assert!(newer_sources(&wasm).is_empty());
        touch(&src, now);
        assert_eq!(newer_sources(&wasm), [src]);
        // Without dep-info nothing can be vouched for.
        std::fs::remove_file(wasm.with_extension("d")).unwrap();
        assert_eq!(newer_sources(&wasm), [wasm.with_extension("d")]);
    }

    #[test]
    fn a_missing_component_names_the_make_target() {
        let e = std::panic::catch_unwind(|| wasm("no-such-plugin")).unwrap_err();
        let msg = e.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("no_such_plugin.wasm is missing") && msg.contains("make plugins"),
            "{msg}"
        );
    }
}

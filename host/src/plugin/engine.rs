//! The process-wide Wasmtime engine (compiled code is shared by every
//! plugin), its epoch ticker (the CPU deadline of plugin calls), the linker
//! with the sandbox's imports, and loading a component file into something
//! ready to instantiate.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use wasmtime::component::{Component, Linker, types::ComponentItem};
use wasmtime::{Config, Engine};

use super::bindings::PluginPre;
use super::cache::{self, Origin};
use super::files::{self, Trust};
use super::sandbox::{self, State};

/// How often the deadline clock advances.
pub const TICK: Duration = Duration::from_millis(10);

/// Largest component file loaded: compiling takes time and memory in
/// proportion to the code (a 47 MiB component took 20–40 s).
pub const MAX_COMPONENT: u64 = 16 << 20;

/// The WIT versions of `scicat:ingestor` this host accepts: `(major, minor)`
/// compatible with the bindings in [`super::bindings`].
pub const SUPPORTED: &[(u64, u64)] = &[(0, 1)];

/// The shared engine; the first call starts the epoch ticker.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut c = Config::new();
        c.epoch_interruption(true);
        c.wasm_component_model(true);
        let engine = Engine::new(&c).expect("a Wasmtime engine with the default settings");
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("plugin-deadline".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => break,
                    }
                }
            })
            .expect("start the plugin deadline thread");
        engine
    })
}

/// The linker: the plugin interface's imports and the sandboxed WASI.
pub fn linker() -> &'static Linker<State> {
    static LINKER: OnceLock<Linker<State>> = OnceLock::new();
    LINKER.get_or_init(|| {
        let mut l = Linker::new(engine());
        super::bindings::Plugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut l,
            |s| s,
        )
        .expect("link the plugin interface");
        sandbox::add_wasi(&mut l).expect("link WASI");
        l
    })
}

/// A component loaded and checked, ready to instantiate.
pub struct Loaded {
    pub path: PathBuf,
    pub pre: PluginPre<State>,
    pub origin: Origin,
    /// Time to read, compile or load from the cache, and link.
    pub load_time: Duration,
    /// The interface version the plugin was built against.
    pub wit_version: String,
}

/// The version of `scicat:ingestor` a component imports, if it imports it.
fn wit_version(component: &Component, engine: &Engine) -> Option<String> {
    let ty = component.component_type();
    let mut names: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    names.extend(
        ty.exports(engine)
            .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentInstance(_)))
            .map(|(n, _)| n.to_string()),
    );
    names
        .iter()
        .filter_map(|n| n.strip_prefix("scicat:ingestor/"))
        .find_map(|n| n.split_once('@').map(|(_, v)| v.to_string()))
}

fn check_version(v: &str) -> Result<()> {
    let mut parts = v.split(['.', '-', '+']).map(|p| p.parse::<u64>().ok());
    let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
        bail!("it was built against scicat:ingestor@{v}, which is not a version");
    };
    if SUPPORTED.contains(&(major, minor)) {
        return Ok(());
    }
    let supported: Vec<String> = SUPPORTED
        .iter()
        .map(|(a, b)| format!("{a}.{b}.x"))
        .collect();
    bail!(
        "it was built against scicat:ingestor@{v}; this ingestor accepts {}: rebuild it with a matching plugin SDK or update the ingestor",
        supported.join(", ")
    )
}

/// Reads, compiles (or loads from the cache) and links the component at
/// `path`.
pub fn load(path: &Path, cache_dir: Option<&Path>) -> Result<Loaded> {
    let t0 = Instant::now();
    let wasm = files::read_bounded(path, Trust::Any, MAX_COMPONENT)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let engine = engine();
    let compile = |w: &[u8]| super::compile::compile(engine, w);
    let (component, origin) =
        cache::load(engine, path, &wasm, cache_dir, compile).map_err(|e| {
            anyhow!(
                "{} is not a usable WebAssembly component: {e:#}",
                path.display()
            )
        })?;
    let wit_version = wit_version(&component, engine).unwrap_or_else(|| "0.1.0".into());
    check_version(&wit_version)?;
    let pre = linker()
        .instantiate_pre(&component)
        .map_err(|e| anyhow!("it needs imports the sandbox does not offer: {e:#}"))?;
    let pre = PluginPre::new(pre)
        .map_err(|e| anyhow!("it is not a scicat:ingestor plugin (world `plugin`): {e:#}"))?;
    Ok(Loaded {
        path: path.to_path_buf(),
        pre,
        origin,
        load_time: t0.elapsed(),
        wit_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_version("0.1.0").is_ok());
        assert!(check_version("0.1.7").is_ok());
        let e = check_version("0.2.0").unwrap_err().to_string();
        assert!(e.contains("0.2.0") && e.contains("0.1.x"), "{e}");
        assert!(check_version("x").is_err());
    }
}

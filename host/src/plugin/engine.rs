//! The process-wide Wasmtime engine (compiled code is shared by every
//! plugin), its epoch ticker (the CPU deadline of plugin calls), the linker
//! with the sandbox's imports, and loading a component file into something
//! ready to instantiate.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

use super::cache::{self, Origin};
use super::files::{self, Trust};
use super::sandbox::{self, State};
use super::wit::{self, Pre};

/// How often the deadline clock advances.
pub const TICK: Duration = Duration::from_millis(10);

/// Largest component file loaded: compiling takes time and memory in
/// proportion to the code (a 47 MiB component took 20–40 s).
pub const MAX_COMPONENT: u64 = 16 << 20;

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
        // Every accepted version: their imports are versioned names, so
        // they live side by side in one linker.
        wit::v0_1::Plugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut l,
            |s| s,
        )
        .expect("link the plugin interface 0.1");
        wit::v0_2::Plugin::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut l,
            |s| s,
        )
        .expect("link the plugin interface 0.2");
        sandbox::add_wasi(&mut l).expect("link WASI");
        l
    })
}

/// A component loaded and checked, ready to instantiate.
pub struct Loaded {
    pub path: PathBuf,
    pub pre: Pre,
    pub origin: Origin,
    /// Time to read, compile or load from the cache, and link.
    pub load_time: Duration,
    /// The interface version the plugin was built against.
    pub wit_version: String,
}

/// Reads, compiles (or loads from the cache) and links the component at
/// `path`.
pub fn load(path: &Path, cache_dir: Option<&Path>) -> Result<Loaded> {
    let t0 = Instant::now();
    let wasm = files::read_bounded(path, Trust::Any, MAX_COMPONENT)
        .with_context(|| format!("cannot read {}", path.display()))?;
    // The SDK's stamp picks the bindings; refuse before compiling (bytes
    // that are not WebAssembly at all are left to the compiler to explain).
    let stamp = wit::stamp(&wasm);
    let version = match wasm.starts_with(b"\0asm") {
        true => wit::accept(stamp.as_deref()),
        false => Ok(wit::Version::newest()),
    }
    .map_err(|e| {
        anyhow!(
            "{} is a plugin this ingestor does not run: {e:#}",
            path.display()
        )
    })?;
    let wit_version = stamp.unwrap_or_default();
    let engine = engine();
    let compile = |w: &[u8]| super::compile::compile(engine, w);
    let (component, origin) =
        cache::load(engine, path, &wasm, cache_dir, compile).map_err(|e| {
            anyhow!(
                "{} is not a usable WebAssembly component: {e:#}",
                path.display()
            )
        })?;
    let pre = linker()
        .instantiate_pre(&component)
        .map_err(|e| anyhow!("it needs imports the sandbox does not offer: {e:#}"))?;
    let pre = Pre::new(version, pre).map_err(|e| {
        anyhow!(
            "it is not a scicat:ingestor {} plugin (world `plugin`): {e:#}",
            version.as_str()
        )
    })?;
    Ok(Loaded {
        path: path.to_path_buf(),
        pre,
        origin,
        load_time: t0.elapsed(),
        wit_version,
    })
}

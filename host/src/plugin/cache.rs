//! The on-disk cache of compiled plugins: a component compiled once is
//! loaded in milliseconds on later runs. An entry is keyed by the
//! component's content hash and the engine's compatibility hash, carries a
//! checksum of its payload, and is only ever deserialized after all three
//! match; anything else (corrupt, truncated, stale, unreadable) is
//! recompiled and rewritten, atomically.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 16] = b"scicat-plugin-c1";
const HASH: usize = 32;
const HEADER: usize = MAGIC.len() + 3 * HASH + 8;

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// Loaded from a valid cache entry.
    Cache,
    /// Compiled (no entry, or the entry was invalid and has been rewritten).
    #[default]
    Compiled,
}

fn hash(parts: &[&[u8]]) -> [u8; HASH] {
    let mut st = blake2b_simd::Params::new().hash_length(HASH).to_state();
    for p in parts {
        st.update(p);
    }
    let mut out = [0; HASH];
    out.copy_from_slice(st.finalize().as_bytes());
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The engine's part of the key: its compatibility hash (Wasmtime version,
/// settings, target) and this cache's format.
fn engine_key(engine: &Engine) -> [u8; HASH] {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let engine_hash = h.finish().to_le_bytes();
    hash(&[MAGIC, &engine_hash, env!("CARGO_PKG_VERSION").as_bytes()])
}

/// The per-user default: `$XDG_CACHE_HOME/scicat-ingestor/plugins`, else
/// `~/.cache/scicat-ingestor/plugins`.
pub fn default_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() && Path::new(&d).is_absolute() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(base.join("scicat-ingestor").join("plugins"))
}

/// The cache entry of a component in `dir`.
pub fn entry_path(dir: &Path, engine: &Engine, wasm: &[u8]) -> PathBuf {
    let content = hash(&[wasm]);
    let ek = engine_key(engine);
    dir.join(format!("{}-{}.cwasm", hex(&content[..16]), hex(&ek[..8])))
}

/// Reads and checks an entry; the payload if everything matches.
fn read_entry(path: &Path, content: &[u8; HASH], ek: &[u8; HASH]) -> Result<Vec<u8>> {
    let mut bytes = std::fs::read(path)?;
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        return Err(anyhow!("not a cache entry"));
    }
    let mut at = MAGIC.len();
    let mut next = |n: usize| {
        let s = at;
        at += n;
        s..at
    };
    let (c, e, sum, len) = (next(HASH), next(HASH), next(HASH), next(8));
    if &bytes[c] != content {
        return Err(anyhow!("made from another component"));
    }
    if &bytes[e] != ek {
        return Err(anyhow!("made by another engine version"));
    }
    let len = u64::from_le_bytes(bytes[len].try_into().unwrap()) as usize;
    if bytes.len() != HEADER + len {
        return Err(anyhow!("truncated"));
    }
    if hash(&[&bytes[HEADER..]])[..] != bytes[sum] {
        return Err(anyhow!("checksum mismatch"));
    }
    Ok(bytes.split_off(HEADER))
}

fn write_entry(path: &Path, content: &[u8; HASH], ek: &[u8; HASH], payload: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(content)?;
        f.write_all(ek)?;
        f.write_all(&hash(&[payload]))?;
        f.write_all(&(payload.len() as u64).to_le_bytes())?;
        f.write_all(payload)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Loads the component `wasm` (read from `source`), from the cache in `dir`
/// when it has a valid entry, else by compiling it (and writing the entry).
pub fn load(
    engine: &Engine,
    source: &Path,
    wasm: &[u8],
    dir: Option<&Path>,
) -> Result<(Component, Origin)> {
    let Some(dir) = dir else {
        return Ok((Component::new(engine, wasm)?, Origin::Compiled));
    };
    let content = hash(&[wasm]);
    let ek = engine_key(engine);
    let path = entry_path(dir, engine, wasm);
    match read_entry(&path, &content, &ek) {
        Ok(payload) => {
            // SAFETY: the payload was written by `write_entry` below from
            // `Component::serialize` of this very component with this
            // engine: the content hash, the engine key and the payload's
            // checksum all match.
            match unsafe { Component::deserialize(engine, &payload) } {
                Ok(c) => return Ok((c, Origin::Cache)),
                Err(e) => log::warn!(
                    "plugin cache entry {} does not load ({e}); recompiling {}",
                    path.display(),
                    source.display()
                ),
            }
        }
        Err(e) if path.exists() => log::warn!(
            "plugin cache entry {} is not usable ({e}); recompiling {}",
            path.display(),
            source.display()
        ),
        Err(_) => log::debug!("no cache entry for {}: compiling it", source.display()),
    }
    let component = Component::new(engine, wasm)?;
    match component.serialize() {
        Ok(bytes) => {
            if let Err(e) = write_entry(&path, &content, &ek, &bytes) {
                log::warn!("cannot cache the compiled plugin: {e:#}");
            }
        }
        Err(e) => log::warn!("cannot cache the compiled plugin: {e}"),
    }
    Ok((component, Origin::Compiled))
}

//! The on-disk cache of compiled plugins: a component compiled once is
//! loaded in milliseconds on later runs.
//!
//! Loading an entry runs the machine code it holds, so an entry is trusted
//! only if nobody but this user could have made it: the folder belongs to
//! the user and is closed to others (made 0700), entries are regular private
//! files (0600) read without following symlinks and of bounded size, and each
//! entry carries an HMAC-SHA256 over its header and code, with a per-user key
//! kept outside the cache folder ([`key`]). Anything else is recompiled, with
//! a warning; old entries are evicted beyond a size and count budget.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use ring::hmac;
use wasmtime::Engine;
use wasmtime::component::Component;

use super::files::{self, Trust};

const MAGIC: &[u8; 16] = b"scicat-plugin-c1";
const HASH: usize = 32;
const HEADER: usize = MAGIC.len() + 3 * HASH + 8;
/// Largest entry read back (compiled code of a component under the
/// component size cap is far smaller).
pub const MAX_ENTRY: u64 = 256 << 20;
/// Eviction budget of the whole folder: total bytes and number of entries.
const MAX_TOTAL: u64 = 1 << 30;
const MAX_ENTRIES: usize = 64;
/// Entries not used for this long are evicted.
const MAX_IDLE: Duration = Duration::from_secs(60 * 24 * 3600);

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
    use crate::digest::{Blake2b256, Digest};
    let mut st = Blake2b256::new();
    for p in parts {
        st.update(p);
    }
    st.finalize().into()
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
    dir.join(format!(
        "{}-{}.cwasm",
        crate::digest::hex(&content[..16]),
        crate::digest::hex(&ek[..8])
    ))
}

/// A cache folder checked to be this user's alone, with the user's key.
struct Folder {
    dir: PathBuf,
    key: hmac::Key,
}

impl Folder {
    /// Makes `dir` (0700) if needed and checks that only this user can write
    /// it; loads (or makes) the key.
    fn open(dir: &Path) -> Result<Folder> {
        if std::fs::symlink_metadata(dir).is_err() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            // The mode given at creation applies to the parents made on the
            // way only; make sure the folder itself is private.
            std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        }
        let meta = std::fs::metadata(dir)?;
        if !meta.is_dir() {
            bail!("it is not a folder");
        }
        if meta.uid() != files::euid() {
            bail!(
                "it belongs to user {}, not to this user ({}): compiled code in it could be anyone's",
                meta.uid(),
                files::euid()
            );
        }
        if meta.mode() & 0o022 != 0 {
            bail!(
                "its mode {:o} lets other users write it (make it 0700)",
                meta.mode() & 0o777
            );
        }
        let key_file = key::path().ok_or_else(|| anyhow!("no HOME for the cache key"))?;
        let canon = dir.canonicalize()?;
        if key_file
            .parent()
            .and_then(|p| p.canonicalize().ok())
            .is_some_and(|p| p.starts_with(&canon))
        {
            bail!(
                "the cache key {} would be inside the cache folder",
                key_file.display()
            );
        }
        let key = key::load_or_create(&key_file)
            .with_context(|| format!("cache key {}", key_file.display()))?;
        Ok(Folder {
            dir: dir.to_path_buf(),
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
        })
    }

    fn mac(&self, header: &[u8], payload: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(header);
        ctx.update(payload);
        ctx.sign()
    }

    /// Reads and checks an entry; the payload if it is authentic and for
    /// this component and engine.
    fn read(&self, path: &Path, content: &[u8; HASH], ek: &[u8; HASH]) -> Result<Vec<u8>> {
        let mut bytes = files::read_bounded(path, Trust::Private, MAX_ENTRY)?;
        if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
            bail!("not a cache entry");
        }
        let (c, e, sum, len) = ranges();
        if &bytes[c] != content {
            bail!("made from another component");
        }
        if &bytes[e] != ek {
            bail!("made by another engine version");
        }
        let len = u64::from_le_bytes(bytes[len].try_into().unwrap_or_default());
        if bytes.len() as u64 != HEADER as u64 + len {
            bail!("truncated");
        }
        let header = signed_header(&bytes);
        let tag = self.mac(&header, &bytes[HEADER..]);
        // Constant time, so timing does not help forge a tag.
        if !same(tag.as_ref(), &bytes[sum]) {
            bail!("its authentication code does not match (not written by this user's ingestor)");
        }
        Ok(bytes.split_off(HEADER))
    }

    fn write(
        &self,
        path: &Path,
        content: &[u8; HASH],
        ek: &[u8; HASH],
        payload: &[u8],
    ) -> Result<()> {
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut bytes = Vec::with_capacity(HEADER + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(content);
        bytes.extend_from_slice(ek);
        bytes.extend_from_slice(&[0; HASH]);
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        let tag = self.mac(&signed_header(&bytes), payload);
        let (_, _, sum, _) = ranges();
        bytes[sum].copy_from_slice(tag.as_ref());
        let result = (|| -> Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)?;
            f.write_all(&bytes)?;
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

    /// Removes entries idle too long, then the least recently used ones
    /// until the folder fits its budget; and temporary files left by
    /// crashed runs.
    fn evict(&self, keep: &Path) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let age = |m: &std::fs::Metadata| {
            m.modified()
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or_default()
        };
        let mut entries = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            let tmp = name.starts_with('.') && name.ends_with(".tmp");
            if tmp && age(&meta) > Duration::from_secs(3600) {
                let _ = std::fs::remove_file(e.path());
            } else if name.ends_with(".cwasm") && e.path() != keep {
                entries.push((age(&meta), meta.len(), e.path()));
            }
        }
        // Oldest first.
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        let keep_len = keep.symlink_metadata().map(|m| m.len()).unwrap_or(0);
        let mut total: u64 = keep_len + entries.iter().map(|e| e.1).sum::<u64>();
        let mut count = entries.len() + 1;
        for (idle, len, path) in entries {
            if (idle > MAX_IDLE || total > MAX_TOTAL || count > MAX_ENTRIES)
                && std::fs::remove_file(&path).is_ok()
            {
                log::debug!("plugin cache: evicted {}", path.display());
                total -= len;
                count -= 1;
            }
        }
    }
}

/// Equality in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Byte ranges of the content hash, engine key, tag and payload length.
fn ranges() -> (
    std::ops::Range<usize>,
    std::ops::Range<usize>,
    std::ops::Range<usize>,
    std::ops::Range<usize>,
) {
    let m = MAGIC.len();
    (
        m..m + HASH,
        m + HASH..m + 2 * HASH,
        m + 2 * HASH..m + 3 * HASH,
        m + 3 * HASH..HEADER,
    )
}

/// The header with the tag's own bytes left out (what the tag covers).
fn signed_header(bytes: &[u8]) -> Vec<u8> {
    let (_, _, sum, _) = ranges();
    let mut h = bytes[..sum.start].to_vec();
    h.extend_from_slice(&bytes[sum.end..HEADER]);
    h
}

/// Loads the component `wasm` (read from `source`), from the cache in `dir`
/// when it has an authentic entry, else by compiling it with `compile` (and
/// writing the entry).
pub fn load(
    engine: &Engine,
    source: &Path,
    wasm: &[u8],
    dir: Option<&Path>,
    compile: impl FnOnce(&[u8]) -> Result<Component>,
) -> Result<(Component, Origin)> {
    let Some(dir) = dir else {
        return Ok((compile(wasm)?, Origin::Compiled));
    };
    let folder = match Folder::open(dir) {
        Ok(f) => f,
        Err(e) => {
            log::warn!(
                "the plugin cache {} is not used: {e:#}; compiling {}",
                dir.display(),
                source.display()
            );
            return Ok((compile(wasm)?, Origin::Compiled));
        }
    };
    let content = hash(&[wasm]);
    let ek = engine_key(engine);
    let path = entry_path(dir, engine, wasm);
    match folder.read(&path, &content, &ek) {
        Ok(payload) => {
            // SAFETY: the payload carries a valid HMAC made with this user's
            // key, which only `Folder::write` uses, on the output of
            // `Component::serialize`, in a folder only this user can write.
            match unsafe { Component::deserialize(engine, &payload) } {
                Ok(c) => {
                    // Least recently used eviction goes by modification time.
                    if let Ok(f) = File::open(&path) {
                        let _ = f.set_modified(SystemTime::now());
                    }
                    return Ok((c, Origin::Cache));
                }
                Err(e) => log::warn!(
                    "plugin cache entry {} does not load ({e}); recompiling {}",
                    path.display(),
                    source.display()
                ),
            }
        }
        Err(e) if path.symlink_metadata().is_ok() => log::warn!(
            "plugin cache entry {} is not used ({e:#}); recompiling {}",
            path.display(),
            source.display()
        ),
        Err(_) => log::debug!("no cache entry for {}: compiling it", source.display()),
    }
    let component = compile(wasm)?;
    match component.serialize() {
        Ok(bytes) => {
            if let Err(e) = folder.write(&path, &content, &ek, &bytes) {
                log::warn!("cannot cache the compiled plugin: {e:#}");
            }
            folder.evict(&path);
        }
        Err(e) => log::warn!("cannot cache the compiled plugin: {e}"),
    }
    Ok((component, Origin::Compiled))
}

/// The per-user key that authenticates cache entries.
pub mod key {
    use super::*;

    /// `$XDG_CONFIG_HOME/scicat-ingestor/plugin-cache.key`, else under
    /// `~/.config`: outside any cache folder.
    pub fn path() -> Option<PathBuf> {
        let base = match std::env::var_os("XDG_CONFIG_HOME") {
            Some(d) if !d.is_empty() && Path::new(&d).is_absolute() => PathBuf::from(d),
            _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".config"),
        };
        Some(base.join("scicat-ingestor").join("plugin-cache.key"))
    }

    const LEN: usize = 32;

    /// Reads the key at `path`, making it (random, 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<[u8; LEN]> {
        if path.symlink_metadata().is_err() {
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            let mut key = [0u8; LEN];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
                .map_err(|_| anyhow!("no system randomness"))?;
            // Written aside and linked into place, so that a run starting
            // meanwhile never reads a half-written key.
            let tmp = dir.join(format!(
                ".plugin-cache.key.{}.{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ));
            let made = (|| -> std::io::Result<()> {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&tmp)?;
                f.write_all(&key)?;
                f.sync_all()?;
                std::fs::hard_link(&tmp, path)
            })();
            let _ = std::fs::remove_file(&tmp);
            match made {
                Ok(()) => return Ok(key),
                // Another run made it meanwhile: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        let bytes = files::read_bounded(path, Trust::Private, LEN as u64)?;
        bytes
            .try_into()
            .map_err(|_| anyhow!("it is not a {LEN}-byte key"))
    }
}

//! The sandbox one plugin instance runs in: an empty WASI (no files,
//! sockets, environment or arguments; a fixed clock; deterministic
//! randomness; sleeping returns at once), captured stdout/stderr, and the
//! memory and table limits of its store.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime::{ResourceLimiter, StoreContextMut};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult, subscribe};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

/// Most handles (file views, streams, pollables) a plugin may hold at once.
pub const MAX_HANDLES: usize = 1000;
/// Output kept per call and stream; the rest is counted and dropped.
const MAX_CAPTURE: usize = 64 * 1024;
/// 64-byte blocks of "random" bytes a sandbox cycles through (16 KiB).
const RANDOM_BLOCKS: u32 = 256;

/// Per-store data of a plugin instance.
pub struct State {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: Limits,
    /// When the current call runs out of time, and its limit (for reads
    /// the host does in pieces).
    pub deadline: Option<(Instant, u64)>,
    pub stdout: Captured,
    pub stderr: Captured,
    /// The plugin's label, for its log lines.
    pub plugin: String,
    /// Log lines written in the current call (capped).
    pub log_lines: usize,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl State {
    /// A fresh sandbox; its "random" bytes are derived from `seed` (the data
    /// file), so they are the same for the same file and differ between
    /// files.
    pub fn new(max_memory_bytes: usize, seed: &[u8]) -> State {
        let stdout = Captured::default();
        let stderr = Captured::default();
        // wasmtime's deterministic source cycles through its bytes: give it
        // enough that a plugin's UUIDs do not repeat within a file.
        let stream = |tag: &[u8]| -> Vec<u8> {
            (0u32..RANDOM_BLOCKS)
                .flat_map(|i| {
                    use crate::digest::{Blake2b512, Digest};
                    let mut st = Blake2b512::new();
                    st.update(tag);
                    st.update(i.to_le_bytes());
                    st.update(seed);
                    st.finalize().to_vec()
                })
                .collect()
        };
        let seed128 = u128::from_le_bytes(stream(b"seed")[..16].try_into().unwrap_or_default());
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FixedClock)
            .monotonic_clock(FixedClock)
            .secure_random(wasmtime_wasi::Deterministic::new(stream(b"secure")))
            .insecure_random(wasmtime_wasi::Deterministic::new(stream(b"insecure")))
            .insecure_random_seed(seed128)
            .max_random_size(1 << 20)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HANDLES);
        State {
            wasi,
            table,
            limits: Limits::new(max_memory_bytes),
            deadline: None,
            stdout,
            stderr,
            plugin: String::new(),
            log_lines: 0,
        }
    }
}

/// A wall clock at the Unix epoch and a monotonic clock at zero: plugins get
/// the time of the run from the `now` variable, never from the host.
struct FixedClock;

impl HostWallClock for FixedClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
    fn now(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Bytes a table element is counted at (a pointer-sized reference).
const TABLE_ELEMENT: usize = 8;

/// One memory budget for everything a plugin instance holds: all its linear
/// memories and tables (a component can declare several of each), checked
/// before they grow, and the host buffers made on its behalf (checked with
/// [`Limits::reserve`] before a read). Remembers why it refused, so the
/// error can say so.
pub struct Limits {
    pub max_memory: usize,
    /// Bytes of linear memory and tables the instance holds now.
    pub used: usize,
    pub refused: Option<String>,
}

impl Limits {
    fn new(max_memory: usize) -> Self {
        Limits {
            max_memory,
            used: 0,
            refused: None,
        }
    }

    fn too_much(&self) -> String {
        format!(
            "it needs more than its memory limit of {} MiB (plugins.max_memory_mb)",
            self.max_memory >> 20
        )
    }

    /// Accounts one memory or table going from `current` to `desired`
    /// bytes, if the budget allows it.
    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let total = self
            .used
            .saturating_sub(current)
            .checked_add(desired)
            .filter(|t| *t <= self.max_memory);
        match total {
            Some(t) => {
                self.used = t;
                Ok(true)
            }
            None => {
                let why = self.too_much();
                self.refused = Some(why.clone());
                wasmtime::bail!("{why}")
            }
        }
    }

    /// Whether the host may allocate `bytes` more for the plugin now (a
    /// read it asked for): an error saying why not, for the plugin.
    pub fn reserve(&self, bytes: Option<u64>) -> Result<(), String> {
        let room = self.max_memory.saturating_sub(self.used) as u64;
        match bytes {
            Some(b) if b <= room => Ok(()),
            Some(b) => Err(format!(
                "reading it takes about {} MiB, more than the {} MiB left of the plugin's memory limit; read it in slices with read-slice",
                b >> 20,
                room >> 20
            )),
            None => Err("its size overflows: it cannot be read".into()),
        }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = |n: usize| n.saturating_mul(TABLE_ELEMENT);
        self.grow(bytes(current), bytes(desired))
    }

    fn instances(&self) -> usize {
        100
    }
    fn tables(&self) -> usize {
        100
    }
    fn memories(&self) -> usize {
        10
    }
}

/// Captured output of one stream: what the plugin printed since it was
/// last drained (at most [`MAX_CAPTURE`] bytes).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<CaptureBuf>>);

#[derive(Default)]
struct CaptureBuf {
    bytes: Vec<u8>,
    dropped: usize,
}

impl Captured {
    /// Takes what was printed: the text and how many bytes were dropped.
    pub fn take(&self) -> (String, usize) {
        let mut b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&b.bytes).into_owned();
        let dropped = b.dropped;
        b.bytes.clear();
        b.dropped = 0;
        (text, dropped)
    }

    fn push(&self, bytes: &[u8]) {
        let mut b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = MAX_CAPTURE.saturating_sub(b.bytes.len());
        let n = bytes.len().min(room);
        b.bytes.extend_from_slice(&bytes[..n]);
        b.dropped += bytes.len() - n;
    }
}

impl IsTerminal for Captured {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Captured {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASIp3 uses this; plugins are WASIp2 components.
        Box::new(wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(0))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Captured {
    async fn ready(&mut self) {}
}

impl OutputStream for Captured {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_CAPTURE)
    }
}

/// A pollable that is always ready: time in the sandbox does not pass, so a
/// sleep returns at once instead of blocking the host.
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

fn ready(table: &mut ResourceTable) -> wasmtime::Result<Resource<DynPollable>> {
    let r = table.push(Ready)?;
    subscribe(table, r)
}

/// Links WASI into `linker`, with the clocks' sleeps replaced by ones that
/// return at once (the stock ones block the host thread, where no CPU
/// deadline can stop them).
pub fn add_wasi(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clocks = linker.instance("wasi:clocks/monotonic-clock@0.2.12")?;
    clocks.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, State>, (_d,): (u64,)| {
            Ok((ready(&mut store.data_mut().table)?,))
        },
    )?;
    clocks.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, State>, (_t,): (u64,)| {
            Ok((ready(&mut store.data_mut().table)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn one_budget_over_all_memories_and_tables() {
        // Nine extra 200 MiB memories used to reach 1.8 GiB under 256 MiB.
        let mut l = Limits::new(256 * MIB);
        assert!(l.memory_growing(0, 200 * MIB, None).unwrap());
        assert!(l.memory_growing(0, 200 * MIB, None).is_err());
        assert!(l.refused.as_deref().unwrap().contains("256 MiB"));
        // Growing one memory counts only the difference.
        assert!(l.memory_growing(200 * MIB, 250 * MIB, None).unwrap());
        assert_eq!(l.used, 250 * MIB);
        // 90 tables of a million entries used to reach 700 MiB under 64 MiB.
        let mut l = Limits::new(64 * MIB);
        let mut ok = 0;
        for _ in 0..90 {
            if l.table_growing(0, 1_000_000, None).is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 8, "8 MB each");
        assert!(l.used <= 64 * MIB);
        // Sizes that wrap are refused, not wrapped.
        assert!(l.table_growing(0, usize::MAX / 2, None).is_err());
        // Host buffers: checked before they are made, against what is left.
        assert!(l.reserve(Some(4 << 20)).is_err());
        assert!(l.reserve(None).is_err());
        let l = Limits::new(64 * MIB);
        assert!(l.reserve(Some(64 << 20)).is_ok());
        assert!(l.reserve(Some((64 << 20) + 1)).is_err());
    }
}

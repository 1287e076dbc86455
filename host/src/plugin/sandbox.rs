//! The sandbox one plugin instance runs in: an empty WASI (no files,
//! sockets, environment or arguments; a fixed clock; deterministic
//! randomness; sleeping returns at once), captured stdout/stderr, and the
//! memory and table limits of its store.

use std::sync::{Arc, Mutex};

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

/// Per-store data of a plugin instance.
pub struct State {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limits: Limits,
    /// Largest dataset read the host performs for the plugin.
    pub max_read_bytes: u64,
    pub stdout: Captured,
    pub stderr: Captured,
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
    pub fn new(max_memory_bytes: usize) -> State {
        let stdout = Captured::default();
        let stderr = Captured::default();
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FixedClock)
            .monotonic_clock(FixedClock)
            .secure_random(wasmtime_wasi::Deterministic::new(vec![
                0x5c, 0x1c, 0xa7, 0x42,
            ]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![
                0x42, 0xa7, 0x1c, 0x5c,
            ]))
            .insecure_random_seed(0x5c1ca7)
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
            max_read_bytes: (max_memory_bytes / 2) as u64,
            stdout,
            stderr,
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

/// The memory and table limits of one store. Remembers why it refused, so
/// the error can say so.
pub struct Limits {
    pub max_memory: usize,
    pub refused: Option<String>,
}

impl Limits {
    fn new(max_memory: usize) -> Self {
        Limits {
            max_memory,
            refused: None,
        }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            let why = format!(
                "it needs more than its memory limit of {} MiB (plugins.max_memory_mb)",
                self.max_memory >> 20
            );
            self.refused = Some(why.clone());
            wasmtime::bail!("{why}");
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > 1_000_000 {
            let why = "it needs a table of more than 1000000 elements".to_string();
            self.refused = Some(why.clone());
            wasmtime::bail!("{why}");
        }
        Ok(true)
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

//! One call into a plugin: a fresh store with the limits of the config,
//! the deadline of a call (wasm code and the host's reads), what the plugin
//! printed, and every way a call can fail turned into a reason that says
//! what happened.

use std::time::{Duration, Instant};

use wasmtime::{Store, Trap};

use super::engine::{self, Loaded};
use super::info::label;
use super::sandbox::{self, State};
use super::wit::Bindings;
use super::{MAX_RETURN_BYTES, text};
use crate::config::PluginOptions;

pub(super) fn limits(opts: &PluginOptions) -> (usize, u64) {
    let mem = (opts.max_memory_mb.clamp(1, 64 * 1024) as usize) << 20;
    let ticks = opts
        .timeout_ms
        .max(1)
        .div_ceil(engine::TICK.as_millis() as u64);
    (mem, ticks)
}

/// A fresh store with the limits of `opts`, and the plugin instantiated in
/// it.
pub(super) fn instantiate(
    loaded: &Loaded,
    opts: &PluginOptions,
    seed: &[u8],
) -> Result<(Store<State>, Bindings), String> {
    let (mem, ticks) = limits(opts);
    let mut store = Store::new(engine::engine(), State::new(mem, seed));
    store.limiter(|s| &mut s.limits);
    // What a plugin hands the host in one call (wasmtime's default: 128 MiB).
    store.set_hostcall_fuel(MAX_RETURN_BYTES);
    store.set_max_component_handles(sandbox::MAX_HANDLES);
    set_deadline(&mut store, opts);
    store.epoch_deadline_trap();
    store.set_epoch_deadline(ticks);
    store.data_mut().plugin = label("", &loaded.path);
    let bindings = loaded
        .pre
        .instantiate(&mut store)
        .map_err(|e| classify(&mut store, e, opts))?;
    Ok((store, bindings))
}

/// Starts the time budget of one call: the epoch deadline for wasm code,
/// and the same instant for the host's reads.
pub(super) fn set_deadline(store: &mut Store<State>, opts: &PluginOptions) {
    let (_, ticks) = limits(opts);
    store.set_epoch_deadline(ticks);
    store.data_mut().deadline = Some((
        Instant::now() + Duration::from_millis(opts.timeout_ms.max(1)),
        opts.timeout_ms,
    ));
}

/// Runs one call under the deadline, logs what the plugin printed, and
/// turns every failure into a reason.
pub(super) fn run<T>(
    store: &mut Store<State>,
    plugin: &str,
    opts: &PluginOptions,
    f: impl FnOnce(&mut Store<State>) -> wasmtime::Result<Result<T, String>>,
) -> Result<T, String> {
    set_deadline(store, opts);
    store.data_mut().limits.refused = None;
    store.data_mut().log_lines = 0;
    let result = f(store);
    store.data_mut().deadline = None;
    let stderr = flush_output(store, plugin);
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(msg)) => Err(text::clean(&msg, text::MAX_TEXT)),
        Err(e) => Err(match panic_message(&stderr) {
            Some(msg) if is_unreachable(&e) => format!("it panicked: {msg}"),
            _ => classify(store, e, opts),
        }),
    }
}

fn is_unreachable(e: &wasmtime::Error) -> bool {
    matches!(e.downcast_ref::<Trap>(), Some(Trap::UnreachableCodeReached))
}

/// The reason of a trap or host error.
pub(super) fn classify(
    store: &mut Store<State>,
    e: wasmtime::Error,
    opts: &PluginOptions,
) -> String {
    if let Some(why) = store.data_mut().limits.refused.take() {
        return why;
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return format!("it called exit({})", exit.0);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!(
            "it ran longer than its time limit of {} ms (plugins.timeout_ms)",
            opts.timeout_ms
        ),
        Some(Trap::StackOverflow) => "its stack overflowed".into(),
        Some(Trap::UnreachableCodeReached) => "it aborted (wasm `unreachable`)".into(),
        // Rust and C keep their stack in linear memory, below the data: a
        // stack overflow there shows up as an access out of bounds.
        Some(Trap::MemoryOutOfBounds) => "it accessed memory out of bounds (in a Rust or C plugin, usually its stack overflowed: too deep a recursion)".into(),
        Some(t) => format!("it trapped: {t}"),
        None => {
            // A host call the plugin made failed (a WASI request over its
            // limits, too many handles, ...): the root cause says which;
            // the outer message is only "error while executing at ...".
            let root = e.root_cause().to_string();
            if root.contains("fuel allocated for hostcalls has been exhausted") {
                return too_large_call();
            }
            if let Some(why) = wasi_misuse(&e, &root) {
                return why;
            }
            let root = root.lines().find(|l| !l.trim().is_empty()).unwrap_or("unknown error");
            format!("a call to the host failed: {}", text::clean(root, text::MAX_TEXT))
        }
    }
}

/// What a plugin did wrong with WASI, from the host's error: a random
/// request over the limit, or more handles than the sandbox holds.
fn wasi_misuse(e: &wasmtime::Error, root: &str) -> Option<String> {
    let handles = || {
        format!(
            "it holds more than {} handles (streams, pollables, file views) at once",
            sandbox::MAX_HANDLES
        )
    };
    if matches!(
        e.downcast_ref::<wasmtime::component::ResourceTableError>(),
        Some(wasmtime::component::ResourceTableError::Full)
    ) || root.contains("resource table has no free keys")
        || root.contains("store handle limit exceeded")
    {
        return Some(handles());
    }
    // wasmtime-wasi: "requested len {len} exceeds limit {max}".
    let (asked, limit) = root
        .strip_prefix("requested len ")?
        .split_once(" exceeds limit ")?;
    let n = |s: &str| s.trim().parse::<u64>().ok();
    Some(format!(
        "it asked the host for {} random bytes at once, more than the {} allowed",
        n(asked)?,
        n(limit)?
    ))
}

/// Logs the plugin's stdout and stderr at debug level (target `plugin`) and
/// returns stderr.
pub(super) fn flush_output(store: &mut Store<State>, plugin: &str) -> String {
    let (out, out_dropped) = store.data().stdout.take();
    let (err, err_dropped) = store.data().stderr.take();
    for line in out.lines().chain(err.lines()) {
        if !line.trim().is_empty() {
            log::debug!(target: "plugin", "[{plugin}] {}", text::clean(line, text::MAX_TEXT));
        }
    }
    if out_dropped + err_dropped > 0 {
        log::debug!(
            target: "plugin",
            "[{plugin}] {} more bytes of output dropped",
            out_dropped + err_dropped
        );
    }
    err
}

/// The message of a Rust panic from what the plugin printed on stderr.
pub(super) fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    let first = lines.find(|l| l.contains("panicked at"))?;
    let mut msg: Vec<&str> = lines
        .take_while(|l| !l.starts_with("note:") && !l.trim().is_empty())
        .collect();
    if msg.is_empty() {
        // Older formats: "panicked at 'msg', src/lib.rs:1:2".
        msg.push(first.split("panicked at").nth(1).unwrap_or("").trim());
    }
    Some(text::clean(&msg.join(" "), 500))
}

/// wasmtime stopped a value over [`MAX_RETURN_BYTES`] while copying it.
pub(super) fn too_large_call() -> String {
    format!(
        "it passed the host more than the {} MiB a plugin value may have",
        MAX_RETURN_BYTES >> 20
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_found() {
        let s = "\nthread '<unnamed>' panicked at src/lib.rs:48:24:\nboom in variable\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(s).unwrap(), "boom in variable");
        assert_eq!(panic_message("hello\n"), None);
    }
}

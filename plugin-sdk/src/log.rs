//! The plugin's log: lines with a level, in the ingestor's log (target
//! `plugin`, prefixed with the plugin's name; the host caps their number
//! and length). In `cargo test` they go to stderr and are kept for
//! [`take`], so a test can check what a hook logged.
//!
//! ```
//! scicat_plugin_sdk::log::warn(format_args!("title {:?} does not match", "x"));
//! assert_eq!(scicat_plugin_sdk::log::take()[0].1, "title \"x\" does not match");
//! ```

use std::fmt::Display;

/// How important a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// Writes `message` at `level`.
pub fn log(level: Level, message: impl Display) {
    let message = message.to_string();
    write(level, message);
}

#[cfg(target_arch = "wasm32")]
fn write(level: Level, message: String) {
    use crate::bindings::scicat::ingestor::log::{Level as L, log};
    let level = match level {
        Level::Error => L::Error,
        Level::Warn => L::Warn,
        Level::Info => L::Info,
        Level::Debug => L::Debug,
        Level::Trace => L::Trace,
    };
    log(level, &message);
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static LINES: std::cell::RefCell<Vec<(Level, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(not(target_arch = "wasm32"))]
fn write(level: Level, message: String) {
    eprintln!("[{level:?}] {message}");
    LINES.with(|l| l.borrow_mut().push((level, message)));
}

/// The lines logged on this thread so far (outside WebAssembly: in tests),
/// emptying the list.
pub fn take() -> Vec<(Level, String)> {
    #[cfg(not(target_arch = "wasm32"))]
    return LINES.with(|l| std::mem::take(&mut *l.borrow_mut()));
    #[cfg(target_arch = "wasm32")]
    Vec::new()
}

pub fn error(message: impl Display) {
    log(Level::Error, message)
}

pub fn warn(message: impl Display) {
    log(Level::Warn, message)
}

pub fn info(message: impl Display) {
    log(Level::Info, message)
}

pub fn debug(message: impl Display) {
    log(Level::Debug, message)
}

pub fn trace(message: impl Display) {
    log(Level::Trace, message)
}

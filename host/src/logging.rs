//! Logging as the config's `logging` section says: level and prefix, stderr,
//! a log file (optionally time-stamped), syslog and Graylog (GELF over UDP);
//! `RUST_LOG` overrides the level. Every line is scrubbed of the secrets
//! registered with [`add_secret`] before it leaves the process.

use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock, RwLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::config::LoggingOptions;

struct Sinks {
    prefix: String,
    filter: env_filter::Filter,
    file: Option<std::fs::File>,
    syslog: Option<(UnixDatagram, u8)>,
    gelf: Option<(UdpSocket, String, String)>,
}

struct Logger {
    sinks: RwLock<Sinks>,
    secrets: RwLock<Vec<String>>,
    write_lock: Mutex<()>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

fn build_filter(level: LevelFilter) -> env_filter::Filter {
    let mut b = env_filter::Builder::new();
    match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => {
            b.parse(&spec);
        }
        _ => {
            // Dependencies only speak up for warnings; our own code (and the
            // plugins' captured output) at the configured level.
            b.filter_level(LevelFilter::Warn.min(level));
            b.filter_module("scicat_ingestor", level);
            b.filter_module("plugin", level);
        }
    }
    b.build()
}

fn logger() -> &'static Logger {
    LOGGER.get_or_init(|| Logger {
        sinks: RwLock::new(Sinks {
            prefix: "SFI".into(),
            filter: build_filter(LevelFilter::Info),
            file: None,
            syslog: None,
            gelf: None,
        }),
        secrets: RwLock::new(Vec::new()),
        write_lock: Mutex::new(()),
    })
}

/// Installs the logger with defaults (INFO to stderr), before the config is
/// read.
pub fn init_default() {
    let l = logger();
    if log::set_logger(l).is_ok() {
        log::set_max_level(LevelFilter::Trace);
    }
}

thread_local! {
    /// What this thread works on (the data file, in a batch), put in front of
    /// its lines so interleaved lines of parallel ingestions stay readable.
    static CONTEXT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// A progress bar is on the terminal: a line must first clear it (the bar is
/// drawn again after).
static BAR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets (or clears) what this thread's lines are about.
pub fn set_context(ctx: Option<String>) {
    CONTEXT.with(|c| *c.borrow_mut() = ctx);
}

/// Whether a progress bar occupies the last terminal line.
pub fn set_bar_active(active: bool) {
    BAR.store(active, std::sync::atomic::Ordering::Relaxed);
}

/// Registers a secret: from now on it is replaced by `***` in every line.
/// Any length counts: a short password is still a password (the price is
/// that its letters are starred wherever they occur).
pub fn add_secret(s: &str) {
    if s.is_empty() {
        return;
    }
    let mut secrets = logger().secrets.write().unwrap_or_else(|p| p.into_inner());
    if !secrets.iter().any(|x| x == s) {
        secrets.push(s.to_string());
        // Longest first, so a secret inside another is not half-replaced.
        secrets.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }
}

/// Replaces every registered secret in `s`.
pub fn scrub(s: &str) -> String {
    let secrets = logger().secrets.read().unwrap_or_else(|p| p.into_inner());
    let mut out = s.to_string();
    for sec in secrets.iter() {
        if out.contains(sec.as_str()) {
            out = out.replace(sec.as_str(), "***");
        }
    }
    out
}

fn syslog_facility(name: &str) -> u8 {
    match name.to_ascii_lowercase().as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        s => s
            .strip_prefix("local")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n < 8)
            .map_or(1, |n| 16 + n),
    }
}

fn severity(l: Level) -> u8 {
    match l {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// Applies the config's `logging` section. Returns problems worth a warning
/// (a sink that could not be opened) rather than failing the run.
pub fn configure(opts: &LoggingOptions) -> Vec<String> {
    let mut problems = Vec::new();
    let mut level = opts.logging_level.filter();
    if opts.verbose {
        level = level.max(LevelFilter::Debug);
    }
    let file = if opts.file_log {
        let mut name = opts.file_log_base_name.clone();
        if opts.file_log_timestamp {
            name.push('_');
            name.push_str(&chrono::Local::now().format("%Y%m%d%H%M%S").to_string());
        }
        name.push_str(".log");
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&name)
        {
            Ok(f) => Some(f),
            Err(e) => {
                problems.push(format!("cannot open the log file {name}: {e}"));
                None
            }
        }
    } else {
        None
    };
    let syslog = if opts.system_log {
        let sock = UnixDatagram::unbound().and_then(|s| {
            s.connect("/dev/log")?;
            Ok(s)
        });
        match sock {
            Ok(s) => Some((s, syslog_facility(&opts.system_log_facility))),
            Err(e) => {
                problems.push(format!("cannot reach syslog at /dev/log: {e}"));
                None
            }
        }
    } else {
        None
    };
    let gelf = if opts.graylog {
        let target = format!("{}:{}", opts.graylog_host, opts.graylog_port);
        let sock = UdpSocket::bind("0.0.0.0:0").and_then(|s| {
            s.connect(&target)?;
            Ok(s)
        });
        match sock {
            Ok(s) => Some((s, opts.graylog_facility.clone(), hostname())),
            Err(e) => {
                problems.push(format!("cannot reach graylog at {target}: {e}"));
                None
            }
        }
    } else {
        None
    };
    let mut sinks = logger().sinks.write().unwrap();
    *sinks = Sinks {
        prefix: opts.log_message_prefix.clone(),
        filter: build_filter(level),
        file,
        syslog,
        gelf,
    };
    problems
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Writes `msg` to every sink whatever the level filter says: for the one
/// line that ends a run (its outcome or its error).
pub fn emit(level: Level, msg: &str) {
    let one_line = msg.replace(['\n', '\r'], " ");
    logger().write(level, "scicat_ingestor", &one_line);
}

impl Logger {
    fn write(&self, lvl: Level, target: &str, raw: &str) {
        let Ok(sinks) = self.sinks.read() else {
            return;
        };
        let msg = match CONTEXT.with(|c| c.borrow().clone()) {
            Some(ctx) => scrub(&format!("{ctx}: {raw}")),
            None => scrub(raw),
        };
        let level = match lvl {
            Level::Warn => "WARNING",
            other => other.as_str(),
        };
        let now = chrono::Utc::now();
        let line = format!(
            "{} {} {level} {msg}\n",
            now.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            sinks.prefix
        );
        let _guard = self.write_lock.lock();
        if BAR.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = std::io::stderr().write_all(b"\r\x1b[2K");
        }
        let _ = std::io::stderr().write_all(line.as_bytes());
        if let Some(f) = &sinks.file {
            let mut f: &std::fs::File = f;
            let _ = f.write_all(line.as_bytes());
        }
        if let Some((sock, facility)) = &sinks.syslog {
            let pri = facility * 8 + severity(lvl);
            let _ = sock.send(
                format!(
                    "<{pri}>scicat-ingestor[{}]: {} {level} {msg}",
                    std::process::id(),
                    sinks.prefix
                )
                .as_bytes(),
            );
        }
        if let Some((sock, facility, host)) = &sinks.gelf {
            let mut short: String = msg.clone();
            if short.len() > 7000 {
                short.truncate(short.floor_char_boundary(7000));
            }
            let gelf = serde_json::json!({
                "version": "1.1",
                "host": host,
                "short_message": short,
                "timestamp": now.timestamp_millis() as f64 / 1000.0,
                "level": severity(lvl),
                "_facility": facility,
                "_prefix": sinks.prefix,
                "_target": target,
            });
            let _ = sock.send(gelf.to_string().as_bytes());
        }
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        self.sinks
            .read()
            .map(|s| s.filter.enabled(m))
            .unwrap_or(false)
    }

    fn log(&self, record: &Record) {
        let enabled = self
            .sinks
            .read()
            .map(|s| s.filter.matches(record))
            .unwrap_or(false);
        if enabled {
            self.write(record.level(), record.target(), &record.args().to_string());
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities() {
        assert_eq!(syslog_facility("mail"), 2);
        assert_eq!(syslog_facility("local3"), 19);
        assert_eq!(syslog_facility("nonsense"), 1);
    }

    #[test]
    fn secrets_are_scrubbed() {
        add_secret("s3cr3t-token-value");
        assert_eq!(
            scrub("Authorization: Bearer s3cr3t-token-value"),
            "Authorization: Bearer ***"
        );
    }
}

//! Compiling a component is the one thing a plugin file makes the host do
//! before any sandbox limit applies, and an optimising compiler can be made
//! to spend a minute and gigabytes on a small crafted module. So the
//! ingestor binary compiles components in a child process of itself
//! (`scicat-ingestor __compile-plugin`), under limits of CPU time, address
//! space and wall-clock time, with an empty environment; the child hands the
//! compiled form back over a pipe. A host that is not the ingestor binary
//! (a program using the library, unit tests) compiles in its own process,
//! bounded only by the component size cap.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::cache::MAX_ENTRY;
use super::engine::MAX_COMPONENT;

/// The hidden subcommand of the child.
pub const ARG: &str = "__compile-plugin";
/// CPU seconds the compiler may use (all its threads together).
pub const CPU_SECS: u64 = 60;
/// Wall-clock time before the compiler is killed.
pub const WALL: Duration = Duration::from_secs(120);
/// Address space of the compiler process.
pub const MAX_ADDRESS_SPACE: u64 = 1536 << 20;

/// The CPU limit: [`CPU_SECS`], or less if `SCICAT_PLUGIN_COMPILE_CPU_SECS`
/// asks for less (it can only tighten the bound).
fn cpu_secs() -> u64 {
    std::env::var("SCICAT_PLUGIN_COMPILE_CPU_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(CPU_SECS, |v| v.clamp(1, CPU_SECS))
}

/// Whether this process is the ingestor binary (which can compile in a
/// child of itself).
fn is_ingestor() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.file_name().map(|n| n == "scicat-ingestor"))
        .unwrap_or(false)
}

/// Compiles `wasm`: in a bounded child process when this is the ingestor
/// binary, else in this process.
pub fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component> {
    if !is_ingestor() {
        return Ok(Component::new(engine, wasm)?);
    }
    let bytes = in_child(wasm)?;
    // SAFETY: these bytes are `Engine::precompile_component` output of this
    // very binary (/proc/self/exe, same engine settings), read from a pipe
    // only that child writes to.
    Ok(unsafe { Component::deserialize(engine, &bytes) }?)
}

fn in_child(wasm: &[u8]) -> Result<Vec<u8>> {
    let cpu = cpu_secs();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg(ARG)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only setrlimit, which is async-signal-safe, runs between fork
    // and exec.
    unsafe {
        cmd.pre_exec(move || {
            let set = |res, n: u64| {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(res, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            };
            set(libc::RLIMIT_CPU, cpu)?;
            set(libc::RLIMIT_AS, MAX_ADDRESS_SPACE)?;
            set(libc::RLIMIT_CORE, 0)
        });
    }
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow!("cannot start the compiler process: {e}"))?;
    let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("no pipe"))?;
    let mut stdout = child.stdout.take().ok_or_else(|| anyhow!("no pipe"))?;
    let stderr = child.stderr.take().ok_or_else(|| anyhow!("no pipe"))?;
    let input = wasm.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let r = (&mut stdout).take(MAX_ENTRY + 1).read_to_end(&mut out);
        r.map(|_| out)
    });
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.take(4096).read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if t0.elapsed() > WALL {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    let out = reader.join().map_err(|_| anyhow!("reader thread"))??;
    let said = errors.join().unwrap_or_default();
    let said = super::text::clean(said.trim(), 300);
    let Some(status) = status else {
        bail!(
            "compiling it took longer than {} s: refused (a component made to compile slowly?)",
            WALL.as_secs()
        );
    };
    match status.signal() {
        Some(libc::SIGXCPU) | Some(libc::SIGKILL) => bail!(
            "compiling it took more than {cpu} s of CPU time: refused (a component made to compile slowly?)"
        ),
        Some(libc::SIGABRT) | Some(libc::SIGSEGV)
            if said.contains("memory allocation") || said.is_empty() =>
        {
            bail!(
                "compiling it needs more than {} MiB of memory: refused",
                MAX_ADDRESS_SPACE >> 20
            )
        }
        Some(sig) => bail!("the compiler process died with signal {sig}: {said}"),
        None => {}
    }
    if !status.success() {
        if said.contains("memory allocation") {
            bail!(
                "compiling it needs more than {} MiB of memory: refused",
                MAX_ADDRESS_SPACE >> 20
            );
        }
        bail!("{said}");
    }
    if out.len() as u64 > MAX_ENTRY {
        bail!("its compiled form is larger than {} MiB", MAX_ENTRY >> 20);
    }
    Ok(out)
}

/// The child: reads a component on stdin, writes its compiled form on
/// stdout; exits 2 with the reason on stderr if it does not compile.
pub fn child_main(engine: &Engine) -> ! {
    let mut wasm = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(MAX_COMPONENT + 1)
        .read_to_end(&mut wasm);
    let result = read
        .map_err(anyhow::Error::from)
        .and_then(|_| {
            if wasm.len() as u64 > MAX_COMPONENT {
                bail!("more than {MAX_COMPONENT} bytes");
            }
            Ok(engine.precompile_component(&wasm)?)
        })
        .and_then(|bytes| Ok(std::io::stdout().lock().write_all(&bytes)?));
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{e:#}");
            std::process::exit(2)
        }
    }
}

/// Whether `path` is this binary's hidden compiler subcommand.
pub fn is_child(arg: Option<&str>) -> bool {
    arg == Some(ARG)
}

//! Attacks on the plugin sandbox, each run through the built ingestor in a
//! child process whose time and peak memory are measured (VmHWM from
//! /proc while it runs, and the kernel's maxrss at its exit), so a bound
//! is checked on one process, not on this test binary shared by the
//! other tests: components a Rust plugin cannot be (several memories,
//! many tables, a start function that never ends, generated here as
//! WebAssembly text), WASI misuse and oversized transforms by the
//! hostile plugin.

use crate::support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::fixtures::{self, Ess};
use support::wasm::*;
use support::*;

/// A run of the ingestor with what it cost.
struct Measured {
    run: Run,
    took: Duration,
    /// Peak resident memory of the ingestor process, in bytes.
    peak: u64,
}

impl Measured {
    fn figures(&self) -> String {
        format!(
            "{:.2} s, peak {} MiB",
            self.took.as_secs_f64(),
            self.peak >> 20
        )
    }
}

/// VmHWM of a live process, in bytes (0 once it is gone).
fn vm_hwm(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb << 10)
}

/// Runs the ingestor with `args`, killing it after `limit` (then panics).
// The child is reaped by wait4, which also gives its peak memory.
#[allow(clippy::zombie_processes)]
fn measured(args: &[&str], limit: Duration) -> Measured {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scicat-ingestor"))
        .args(args)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // The kernel carries the spawning process's high-water mark into the
    // child's `ru_maxrss` (the child runs in our memory until it execs), and
    // this test binary is shared by many tests: maxrss speaks for the child
    // only above our own mark (read after the spawn, so at least the mark it
    // inherited); below it, the samples of the child's own VmHWM do.
    let ours = vm_hwm(std::process::id());
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let t0 = Instant::now();
    let mut peak = 0;
    let (status, maxrss) = loop {
        peak = peak.max(vm_hwm(pid));
        let mut status = 0;
        // SAFETY: plain syscalls on our own child; `usage` is written by
        // the kernel.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid as i32, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid as i32 {
            break (status, (usage.ru_maxrss as u64) << 10);
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the ingestion did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = t0.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Measured {
        run: Run {
            code,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        },
        took,
        peak: if maxrss > ours {
            peak.max(maxrss)
        } else {
            peak
        },
    }
}

/// A schema using the plugin at `plugin` with `config`: the variable
/// `answer` (optional) and the transform come from it.
fn schemas_for(dir: &Path, plugin: &Path, config: Value) -> PathBuf {
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(&schemas).unwrap();
    let field = |machine: &str, value: &str, ty: &str| json!({"field_type": "high_level", "machine_name": machine, "value": value, "type": ty});
    let schema = json!({
        "id": "attack",
        "name": "attack",
        "instrument": "odin",
        "selector": "*",
        "order": 1,
        "plugin": {"path": plugin, "config": config},
        "variables": {
            "answer": {"source": "PLUGIN", "value_type": "integer", "optional": true},
            "source_folder": {"source": "VALUE", "value": "<data_file_path>", "operator": "dirname-2", "value_type": "string"},
        },
        "schema": {
            "dataset_name": field("datasetName", "attack", "string"),
            "pi": field("principalInvestigator", "Jane Doe", "string"),
            "owner": field("owner", "Jane Doe", "string"),
            "owner_email": field("ownerEmail", "jane@example.org", "email"),
            "contact_email": field("contactEmail", "jane@example.org", "email"),
            "creation_location": field("creationLocation", "ESS:ODIN", "string"),
            "creation_time": field("creationTime", "2024-10-28T09:06:41Z", "date"),
            "source_folder": field("sourceFolder", "<source_folder>", "string"),
            "answer": {"field_type": "scientific_metadata", "machine_name": "answer", "value": "<answer>", "type": "integer"},
        },
    });
    std::fs::write(schemas.join("attack.imsc.json"), schema.to_string()).unwrap();
    schemas
}

/// A dry run of one data file through the plugin at `plugin` with
/// `config`, under a 500 ms time limit (`timeout_ms` for transforms) and
/// `memory_mb`.
fn attack(plugin: &Path, config: Value, memory_mb: u64) -> Measured {
    attack_within(plugin, config, memory_mb, 500)
}

fn attack_within(plugin: &Path, config: Value, memory_mb: u64, timeout_ms: u64) -> Measured {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = schemas_for(tmp.path(), plugin, config);
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &Ess::default());
    let mut cfg = plugin_config(
        &schemas,
        json!({"timeout_ms": timeout_ms, "max_memory_mb": memory_mb}),
    );
    cfg["plugins"]["cache_dir"] = json!(shared_cache());
    let cfg = write_config(tmp.path(), &cfg);
    measured(
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--nexus-file",
            data.to_str().unwrap(),
            "--dry-run",
        ],
        Duration::from_secs(300),
    )
}

fn hostile(hook: &str, mode: &str) -> Measured {
    attack(
        &wasm("hostile-plugin"),
        json!({"hook": hook, "mode": mode}),
        64,
    )
}

/// Log lines are short, carry no control characters, and no reason is
/// wasmtime's bare "error while executing at wasm backtrace".
fn assert_log_is_tame(m: &Measured) {
    assert!(!m.run.stderr.contains("wasm backtrace"), "{}", m.run.stderr);
    for line in m.run.stderr.lines() {
        assert!(line.len() < 4096, "a {} byte log line", line.len());
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "control character in {line:?}"
        );
    }
}

// ------------------------------------------------------------ WASI misuse

const VARIABLE: &str =
    "plugin hostile (hostile_plugin.wasm): variables hook (variable \"answer\") failed: ";

/// Bound: a 1 GiB `get-random-bytes` is refused by the host before it
/// makes the bytes (the WASI limit is 1 MiB a call): the ingestor's peak
/// memory stays under 256 MiB, and the reason says what was asked.
#[test]
fn a_huge_random_request_is_refused_and_said_so() {
    let m = hostile("variable", "random");
    m.run.ok();
    eprintln!("random 1 GiB: {}", m.figures());
    let want = format!(
        "{VARIABLE}it asked the host for 1073741824 random bytes at once, more than the 1048576 allowed"
    );
    assert!(m.run.stderr.contains(&want), "{}", m.run.stderr);
    assert!(m.peak < 256 << 20, "{}", m.figures());
    assert_log_is_tame(&m);
}

/// Bound: 5000 stdout handles are cut at 1000 (the handle limit), and the
/// reason says so; peak memory under 256 MiB.
#[test]
fn thousands_of_handles_are_cut_at_the_handle_limit() {
    let m = hostile("variable", "handles");
    m.run.ok();
    eprintln!("5000 handles: {}", m.figures());
    let want = format!("{VARIABLE}it holds more than 1000 handles");
    assert!(m.run.stderr.contains(&want), "{}", m.run.stderr);
    assert!(m.peak < 256 << 20, "{}", m.figures());
    assert_log_is_tame(&m);
}

/// `exit(3)` is `exit(1)` for WASIp2 (it only tells success from failure):
/// the reason names the exit, not "error while executing at wasm
/// backtrace"; peak memory under 256 MiB.
#[test]
fn exit_is_reported_as_an_exit() {
    let m = hostile("variable", "exit");
    m.run.ok();
    eprintln!("exit(3): {}", m.figures());
    assert!(
        m.run
            .stderr
            .contains(&format!("{VARIABLE}it called exit(1)")),
        "{}",
        m.run.stderr
    );
    assert!(m.peak < 256 << 20, "{}", m.figures());
    assert_log_is_tame(&m);
}

// ---------------------------------------------------------- transform size

/// Bound: a transform returning more than 200 top-level fields is refused
/// (nothing is output), 200 are accepted (the unknown ones dropped with a
/// warning), and field names with control characters or over 100 bytes
/// are refused before they reach that warning.
#[test]
fn transforms_are_capped_at_200_top_level_fields_with_plain_names() {
    let m = hostile("transform", "fields");
    assert_ne!(m.run.code, 0, "{}", m.run.stderr);
    assert!(
        m.run.stderr.contains("transform hook failed: it returned 300 top-level fields, more than the 200 a dataset may have"),
        "{}",
        m.run.stderr
    );
    assert!(m.run.stdout.trim().is_empty(), "{}", m.run.stdout);
    let plugin = wasm("hostile-plugin");
    let fields = |n: u64, name: &str| {
        attack(
            &plugin,
            json!({"hook": "transform", "mode": "fields", "n": n, "name": name}),
            64,
        )
    };
    let m = fields(200, "extra");
    m.run.ok();
    assert!(
        m.run.stderr.contains("have no fields extra") && m.run.stderr.contains("extra199"),
        "{}",
        m.run.stderr
    );
    for name in [
        "\n[2026-01-01T00:00:00Z INFO  scicat_ingestor] dataset forged uploaded\x1b[2K",
        &"x".repeat(200),
    ] {
        let m = fields(20, name);
        assert_ne!(m.run.code, 0, "{}", m.run.stderr);
        assert!(
            m.run
                .stderr
                .contains("transform hook failed: it returned a field named"),
            "{}",
            m.run.stderr
        );
        assert_log_is_tame(&m);
        assert!(m.run.stderr.len() < 4096, "{} bytes", m.run.stderr.len());
    }
}

/// Bound: a transform returning a million top-level fields (16 MB of
/// JSON) is refused with an error of
/// a few hundred bytes (it was an 8 MiB warning), peak memory under
/// 512 MiB. The plugin gets 256 MiB and 20 s to build them.
#[test]
fn a_million_key_transform_gives_a_short_error() {
    let m = attack_within(
        &wasm("hostile-plugin"),
        json!({"hook": "transform", "mode": "keys"}),
        256,
        20_000,
    );
    eprintln!("1M-key transform: {}", m.figures());
    assert_ne!(m.run.code, 0, "{}", m.run.stderr);
    assert!(
        m.run
            .stderr
            .contains("it returned 1000000 top-level fields, more than the 200"),
        "{}",
        m.run.stderr
    );
    assert!(m.run.stderr.len() < 4096, "{} bytes", m.run.stderr.len());
    assert_log_is_tame(&m);
    assert!(m.peak < 512 << 20, "{}", m.figures());
}

// ------------------------------------------- components no Rust plugin can be

/// A component implementing the plugin world (`wit/since_v0.1.0`), its core
/// module extended by `extra` (module fields in WebAssembly text: memories,
/// tables, a start function). Its hooks trap: the attack is at
/// instantiation, which the host does before it calls `metadata`.
fn component(extra: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_dir(repo().join("wit/since_v0.1.0")).unwrap();
    let world = resolve.select_world(&[pkg], Some("plugin")).unwrap();
    let dummy =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    let text = wasmprinter::print_bytes(&dummy).unwrap();
    let body = text.trim_end().strip_suffix(')').unwrap();
    let mut module = wat::parse_str(format!("{body}\n{extra}\n)")).unwrap();
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    let mut c = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .unwrap()
        .encode()
        .unwrap();
    // The version stamp the plugin SDK writes (a top-level custom section).
    let (name, version) = (b"scicat:ingestor-version", b"0.1.0");
    c.extend([0, (1 + name.len() + version.len()) as u8, name.len() as u8]);
    c.extend(name.iter().chain(version));
    c
}

/// Runs the component made with `extra` under `memory_mb` and
/// `timeout_ms`.
fn attack_component(name: &str, extra: &str, memory_mb: u64, timeout_ms: u64) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.wasm"));
    std::fs::write(&path, component(extra)).unwrap();
    attack_within(&path, json!({}), memory_mb, timeout_ms)
}

/// `n` memories of `mib` MiB each, and a start function that writes every
/// byte of them (so each costs its size in resident memory).
fn memories(n: usize, mib: u64) -> String {
    let bytes = mib << 20;
    let pages = bytes >> 16;
    let mut w = String::new();
    for i in 0..n {
        w += &format!("(memory $attack_m{i} {pages})\n");
    }
    w += "(func $attack_fill\n";
    for i in 0..n {
        w += &format!(
            "(memory.fill $attack_m{i} (i32.const 0) (i32.const 1) (i32.const {bytes}))\n"
        );
    }
    w + ")\n(start $attack_fill)\n"
}

/// Bound: nine extra memories of 200 MiB under a 256 MiB limit (1.8 GiB
/// before) are refused at instantiation, reported as such; the ingestor's
/// peak memory stays under 384 MiB. One extra memory of 200 MiB fits (the
/// component then fails in `metadata`, its hooks being traps).
#[test]
fn one_memory_budget_holds_over_several_memories() {
    let m = attack_component("memories", &memories(9, 200), 256, 20_000);
    eprintln!("9 x 200 MiB memories: {}", m.figures());
    assert_ne!(m.run.code, 0, "{}", m.run.stderr);
    assert!(
        m.run.stderr.contains(
            "plugin memories.wasm: instantiation (start function) failed: it needs more than its memory limit of 256 MiB"
        ),
        "{}",
        m.run.stderr
    );
    assert!(m.peak < 384 << 20, "{}", m.figures());

    let m = attack_component("one_memory", &memories(1, 200), 256, 20_000);
    assert!(
        m.run
            .stderr
            .contains("plugin one_memory.wasm: metadata hook failed: it aborted"),
        "{}",
        m.run.stderr
    );
}

/// Bound: 90 tables of a million entries (8 MB each counted; 700 MiB
/// before) under a 64 MiB limit are refused at instantiation; the
/// ingestor's peak memory stays under 256 MiB.
#[test]
fn one_memory_budget_holds_over_many_tables() {
    let mut w = String::from("(func $attack_f)\n(elem declare func $attack_f)\n");
    for i in 0..90 {
        w += &format!("(table $attack_t{i} 1000000 funcref)\n");
    }
    w += "(func $attack_fill\n";
    for i in 0..90 {
        w += &format!(
            "(table.fill $attack_t{i} (i32.const 0) (ref.func $attack_f) (i32.const 1000000))\n"
        );
    }
    w += ")\n(start $attack_fill)\n";
    let m = attack_component("tables", &w, 64, 20_000);
    eprintln!("90 tables of 1M entries: {}", m.figures());
    assert_ne!(m.run.code, 0, "{}", m.run.stderr);
    assert!(
        m.run.stderr.contains(
            "plugin tables.wasm: instantiation (start function) failed: it needs more than its memory limit of 64 MiB"
        ),
        "{}",
        m.run.stderr
    );
    assert!(m.peak < 256 << 20, "{}", m.figures());
}

/// Bound: a start function that never ends is stopped by the 500 ms
/// deadline and reported as an instantiation failure (it was reported as a
/// `metadata` failure); the run ends within 60 s (compiling included).
#[test]
fn an_endless_start_function_is_an_instantiation_timeout() {
    let spin = "(func $attack_spin (loop $again (br $again)))\n(start $attack_spin)\n";
    let m = attack_component("spin", spin, 64, 500);
    eprintln!("endless start function: {}", m.figures());
    assert_ne!(m.run.code, 0, "{}", m.run.stderr);
    assert!(
        m.run.stderr.contains(
            "plugin spin.wasm: instantiation (start function) failed: it ran longer than its time limit of 500 ms"
        ),
        "{}",
        m.run.stderr
    );
    assert!(!m.run.stderr.contains("metadata hook"), "{}", m.run.stderr);
    assert!(m.took < Duration::from_secs(60), "{}", m.figures());
    assert!(m.peak < 256 << 20, "{}", m.figures());
}

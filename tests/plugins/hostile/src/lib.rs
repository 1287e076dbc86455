//! A plugin that misbehaves on purpose, for the host's sandbox tests.
//!
//! Config: `{"hook": "init" | "select" | "variable" | "operator" | "transform",
//! "mode": "loop" | "memory" | "panic" | "huge" | "sleep" | "error" | "forge"
//! | "exit" | "recurse" | "read" | "attribute" | "rewrite" | "random" | "handles"
//! | "fields" | "keys", "target": "answer", "path":
//! ..., "name": ...}`: that hook misbehaves that way (for variables: only for
//! the variable `target`); every other call behaves. `forge` fails with a
//! long message holding control characters and a forged log line (and
//! prints one); `exit` calls `exit(3)`; `recurse` overflows its stack; `read`/`attribute` make the host read
//! the dataset `path` (attribute `name`) whole; `rewrite` (transform) points
//! the dataset at another record and owner. WASI misuse: `random` asks
//! for 1 GiB of random bytes at once, `handles` opens 5000 stdout
//! streams and keeps them. `fields` (transform) returns `n` top-level fields
//! (default 300) named `name` (default `extra`) and a number, `keys` a
//! million. The variable `probe`
//! reports what the sandbox lets it see (environment, arguments, files,
//! clocks, randomness); the variable `answer` is 42.

use std::hint::black_box;

use scicat_plugin_sdk::serde_json::{Map, Value, json};
use scicat_plugin_sdk::{
    Metadata, NexusFile, Plugin, Result, TransformContext, Typed, Vars, bail, export,
};

struct Hostile {
    hook: String,
    mode: String,
    target: String,
    config: Value,
}

/// A line the ingestor's log could show on success.
const FORGED: &str =
    "\n[2026-01-01T00:00:00Z INFO  scicat_ingestor] dataset 20.500.12269/forged uploaded\n";

impl Hostile {
    fn misbehave(&self, hook: &str, file: Option<&NexusFile>) -> Result<Option<Typed>> {
        if self.hook != hook {
            return Ok(None);
        }
        let arg = |k: &str| self.config.get(k).and_then(Value::as_str).unwrap_or("");
        match self.mode.as_str() {
            "forge" => {
                println!("{FORGED}\x1b[2K\rdataset uploaded");
                bail!("refused\x1b[31m{FORGED}{}", "x".repeat(1 << 20))
            }
            "exit" => std::process::exit(3),
            "random" => {
                let bytes = wasi::random_bytes(1 << 30);
                Ok(Some(Typed::new(bytes.len() as i64)))
            }
            "handles" => {
                let held: Vec<i32> = (0..5000).map(|_| wasi::stdout_handle()).collect();
                Ok(Some(Typed::new(black_box(held).len() as i64)))
            }
            "recurse" => Ok(Some(Typed::new(deep(0) as i64))),
            "read" => match file {
                Some(f) => Ok(Some(Typed::new(
                    f.read(arg("path"))?.to_json().to_string().len() as i64,
                ))),
                None => bail!("read needs a file"),
            },
            "attribute" => match file {
                Some(f) => Ok(Some(Typed::new(
                    f.attribute(arg("path"), arg("name"))?
                        .to_json()
                        .to_string()
                        .len() as i64,
                ))),
                None => bail!("attribute needs a file"),
            },
            "loop" => {
                let mut i: u64 = 0;
                loop {
                    i = black_box(i.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut block = vec![0u8; 1 << 20];
                    block[0] = 1;
                    hoard.push(black_box(block));
                }
            }
            "panic" => panic!("hostile plugin panics on purpose in {hook}"),
            // Just under 48 MiB: fits a 64 MiB plugin, far over any sane value.
            "huge" => Ok(Some(Typed::new("x".repeat(48 << 20)))),
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(Some(Typed::new(7i64)))
            }
            "error" => bail!("hostile plugin refuses {hook}"),
            other => bail!("unknown mode {other:?}"),
        }
    }
}

/// Raw WASI imports the standard library does not expose: the component
/// linker matches them with the WASI interfaces std is built against.
#[cfg(target_arch = "wasm32")]
mod wasi {
    #[link(wasm_import_module = "wasi:random/random@0.2.6")]
    unsafe extern "C" {
        #[link_name = "get-random-bytes"]
        fn get_random_bytes(len: i64, ret: *mut [usize; 2]);
    }

    #[link(wasm_import_module = "wasi:cli/stdout@0.2.6")]
    unsafe extern "C" {
        #[link_name = "get-stdout"]
        fn get_stdout() -> i32;
    }

    /// `len` random bytes from the host in one call.
    pub fn random_bytes(len: u64) -> Vec<u8> {
        let mut ret = [0usize; 2];
        // SAFETY: the host writes a (pointer, length) pair of a list it
        // allocated with this module's allocator.
        unsafe {
            get_random_bytes(len as i64, &mut ret);
            Vec::from_raw_parts(ret[0] as *mut u8, ret[1], ret[1])
        }
    }

    /// A new handle to stdout (never dropped).
    pub fn stdout_handle() -> i32 {
        // SAFETY: no arguments; returns an owned handle.
        unsafe { get_stdout() }
    }
}

/// Outside WebAssembly (the workspace's own test build) there is no WASI.
#[cfg(not(target_arch = "wasm32"))]
mod wasi {
    pub fn random_bytes(_len: u64) -> Vec<u8> {
        unimplemented!("WASI only")
    }
    pub fn stdout_handle() -> i32 {
        unimplemented!("WASI only")
    }
}

/// Recursion without end: overflows the stack Rust keeps in linear memory.
#[allow(unconditional_recursion)]
fn deep(n: u64) -> u64 {
    let pad = black_box([n; 64]);
    black_box(deep(n + 1)).wrapping_add(pad[63])
}

fn probe() -> Value {
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let args: Vec<String> = std::env::args().collect();
    let files: Vec<String> = ["/etc/passwd", "/", ".", "/tmp"]
        .iter()
        .map(|p| match std::fs::read_dir(p) {
            Ok(_) => format!("{p}: readable"),
            Err(_) => match std::fs::read(p) {
                Ok(_) => format!("{p}: readable"),
                Err(e) => format!("{p}: {e}"),
            },
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t0 = std::time::Instant::now();
    let elapsed = t0.elapsed().as_nanos() as u64;
    // std's HashMap seeds itself from the host's randomness.
    let hashed = {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one("seed")
    };
    let net = std::net::TcpStream::connect("127.0.0.1:80")
        .map(|_| "connected".to_string())
        .unwrap_or_else(|e| e.to_string());
    json!({
        "env": env,
        "args": args,
        "files": files,
        "wall_clock_secs": now,
        "monotonic_elapsed_ns": elapsed,
        "hash_seed": hashed.to_string(),
        "network": net,
    })
}

impl Plugin for Hostile {
    fn metadata() -> Metadata {
        Metadata::new("hostile", env!("CARGO_PKG_VERSION"))
            .description("misbehaves on purpose")
            .selects()
            .transforms()
            .variable("*")
            .operator("echo")
    }

    fn new(config: Value) -> Result<Self> {
        let s = |k: &str| {
            config
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let h = Hostile {
            hook: s("hook"),
            mode: s("mode"),
            target: Some(s("target"))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "answer".into()),
            config,
        };
        h.misbehave("init", None)?;
        Ok(h)
    }

    fn select(&mut self, file: &NexusFile, _path: &str) -> Result<bool> {
        self.misbehave("select", Some(file))?;
        Ok(true)
    }

    fn variable(
        &mut self,
        name: &str,
        args: &Value,
        file: &NexusFile,
        vars: &Vars,
    ) -> Result<Typed> {
        let arg = |k: &str| {
            args.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if name == self.target
            && let Some(v) = self.misbehave("variable", Some(file))?
        {
            return Ok(v);
        }
        println!("variable {name} asked; {} variables known", vars.len());
        Ok(match name {
            "probe" => {
                let mut p = probe();
                p["vars"] = vars.iter().map(|(k, v)| json!([k, v.to_json()])).collect();
                Typed::new(p)
            }
            "answer" => Typed::new(42i64),
            // Interface 0.2: typed read errors, kinds, shapes, variables
            // asked for by name, the log.
            "error_kind" => Typed::new(match file.read(&arg("path")) {
                Ok(_) => "ok".to_string(),
                Err(e) => format!("{:?}", e.kind()),
            }),
            "kind" => Typed::new(format!("{:?}", file.kind(&arg("path")))),
            "slice_error" => Typed::new(match file.read_slice(&arg("path"), &[4], &[5]) {
                Ok(_) => "ok".to_string(),
                Err(e) => format!("{:?}", e.kind()),
            }),
            "slice" => {
                let t = file.read_slice(&arg("path"), &[1], &[2])?;
                Typed::new(json!({"values": t.to_json(), "shape": t.shape, "unit": t.unit}))
            }
            "var" => vars
                .get(&arg("name"))
                .unwrap_or_else(|| Typed::new("undefined")),
            "log" => {
                scicat_plugin_sdk::log::warn("hostile warns");
                Typed::new(1i64)
            }
            "title" => Typed::new(file.read_string("/entry/title")?),
            other => bail!("no variable {other}"),
        })
    }

    fn operator(&mut self, _name: &str, value: Typed, _vars: &Vars) -> Result<Typed> {
        if let Some(v) = self.misbehave("operator", None)? {
            return Ok(v);
        }
        Ok(value)
    }

    fn transform_in(
        &mut self,
        mut d: Map<String, Value>,
        file: &NexusFile,
        context: &TransformContext,
    ) -> Result<Map<String, Value>> {
        if self.hook == "transform" && self.mode == "context" {
            let cx = context;
            d.insert(
                "context".into(),
                json!([cx.api_version, cx.schema_id, cx.data_file]),
            );
            return Ok(d);
        }
        if self.hook == "transform" && self.mode == "rewrite" {
            // Someone else's dataset, made public, with this file's data.
            d.insert("pid".into(), json!("20.500.12269/someone-elses"));
            d.insert("ownerGroup".into(), json!("other-group"));
            d.insert("accessGroups".into(), json!(["public"]));
            d.insert("isPublished".into(), json!(true));
            let folder = d.get("sourceFolder").and_then(Value::as_str).unwrap_or("");
            d.insert("sourceFolder".into(), json!(format!("{folder}/")));
            return Ok(d);
        }
        if self.hook == "transform" && matches!(self.mode.as_str(), "fields" | "keys") {
            // Top-level fields up to `n` in all (`keys`: a million).
            let n = match self.mode.as_str() {
                "keys" => 1_000_000,
                _ => self.config.get("n").and_then(Value::as_u64).unwrap_or(300) as usize,
            };
            let prefix = match self.config.get("name").and_then(Value::as_str) {
                Some(p) => p.to_string(),
                None => "extra".into(),
            };
            for i in d.len()..n {
                d.insert(format!("{prefix}{i}"), json!(0));
            }
            return Ok(d);
        }
        if let Some(v) = self.misbehave("transform", Some(file))? {
            d.insert("huge".into(), v.to_json());
            return Ok(d);
        }
        d.insert("keywords".into(), json!(["transformed by hostile"]));
        Ok(d)
    }
}

export!(Hostile);

//! The `scicat-ingestor` command line.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use scicat_ingestor::config::{self, Config};
use scicat_ingestor::ingest::{self, Outcome, Request};
use scicat_ingestor::logging;
use scicat_ingestor::tools::{convert, golden, inspect, validate};

/// Registers a NeXus/HDF5 data file in a SciCat data catalog.
///
/// The ingestion form is what online ingestors call:
///
///   scicat-ingestor -c config.json --nexus-file run_123.hdf [--done-writing-message-file F] [--dry-run]
///
/// Any config option can be overridden with `--set section.key=value`
/// (repeatable), or Python-style as `--section.key value`.
#[derive(Parser, Debug)]
#[command(
    name = "scicat-ingestor",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    ingest: IngestArgs,
}

#[derive(Args, Debug)]
struct IngestArgs {
    /// The configuration file (JSON or YAML).
    #[arg(
        short = 'c',
        long = "config-file",
        visible_alias = "config",
        value_name = "CONFIG"
    )]
    config: Option<PathBuf>,
    /// The data file to ingest (overrides `nexus_file` of the config).
    #[arg(long, value_name = "FILE")]
    nexus_file: Option<PathBuf>,
    /// The file writer's done-writing message file: listed in the datablock.
    #[arg(long, value_name = "FILE")]
    done_writing_message_file: Option<String>,
    /// Do everything but change the catalog: print the dataset and
    /// origdatablock that would be created as one JSON object on stdout.
    #[arg(short = 'd', long)]
    dry_run: bool,
    /// Override a config option, e.g. `--set scicat.host=https://x/api/v3`.
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Ingest many data files (a backlog) in parallel, with progress and a report.
    #[command(
        after_help = "Examples:\n  scicat-ingestor ingest -c config.yml /data/443503/raw\n  scicat-ingestor ingest -c config.yml /data/443503 --jobs 4 --report night.json\n  scicat-ingestor ingest -c config.yml run_1.hdf run_2.hdf --dry-run > bodies.jsonl\n\nEach file is ingested exactly as `scicat-ingestor -c CONFIG --nexus-file FILE` would (exactly\nonce, resume). Running the same command again finishes what failed and creates nothing twice.\nCtrl-C stops starting new files and waits for the running ones (a second Ctrl-C quits at once).\nExit status: 0 all done, 1 some file failed, 130 interrupted."
    )]
    Ingest(BatchArgs),
    /// Run as a daemon: ingest every file the file writer announces on Kafka.
    #[command(
        after_help = "Examples:\n  scicat-ingestor online -c config.yml\n  scicat-ingestor online -c config.yml --dry-run\n\nConsumes `kafka.topics` in group `kafka.group_id` and ingests each finished file (wrdn\nmessage) with up to `ingestion.max_offline_ingestors` at once; an offset is committed only\nonce its file is done. GET /health and /metrics on `health_check.host:port`.\nSIGTERM/SIGINT finish the running files, commit and exit 0 (a second signal exits at once)."
    )]
    Online(OnlineArgs),
    /// Check schema files for mistakes before they reach the catalog.
    #[command(
        after_help = "Examples:\n  scicat-ingestor validate schemas/\n  scicat-ingestor validate -c config.json --strict\n  scicat-ingestor validate schemas/coda.imsc.json --against https://scicat.example.org/api/v3\n\nReports syntax errors (with line and column), unknown sources, operators, value types and\nfield types, references to variables that are never defined or defined later, machine names\nSciCat rejects, missing required fields, duplicate ids, schemas hidden by an earlier selector,\nand plugins that are missing or lack the hooks the schema uses. Exits non-zero on any error\n(and on warnings with --strict)."
    )]
    Validate(ValidateArgs),
    /// Show a NeXus file's tree as schemas and plugins see it.
    #[command(
        after_help = "Examples:\n  scicat-ingestor inspect run_31010.hdf\n  scicat-ingestor inspect run_31010.hdf --path /entry/instrument\n  scicat-ingestor inspect run_31010.hdf --json\n\nEach line: the full path (what a schema's NXS `path` names), then groups with their NeXus\nclass, datasets with type, shape, [units] and the first values."
    )]
    Inspect(InspectArgs),
    /// Run offline golden tests of schemas (and their plugins).
    #[command(
        after_help = "Examples:\n  scicat-ingestor test tests/coda.case.yml\n  scicat-ingestor test cases/            (every *.case.json/.yml/.yaml in it)\n  scicat-ingestor test --update tests/coda.case.yml\n\nA case file (JSON or YAML; paths relative to it):\n  schemas: ../schemas                  # a folder or one schema file\n  nexus_file: data/coda_31010.nxs      # the fixture\n  config: {dataset: {default_owner_group: ess}}   # optional config options\n  scicat:                              # recorded replies, by URL as the schema renders it\n    proposals/443503: {pi_firstname: Jane, pi_lastname: Doe, pi_email: jane@ess.eu}\n  expected: coda.expected.json         # default: <case>.expected.json\n  warnings: [\"1 variable failed\"]     # optional: pieces of the warnings the run must give\n\nNo server is needed. `now` is 2024-01-01T00:00:00Z and ingestor_run_id is all zeros; file\ntimes, owners and modes and the scratch folder (<case>) are normalised. A failing case prints\none line per differing field; --update rewrites the expectation (review it with git diff)."
    )]
    Test(TestArgs),
    /// Schema file utilities.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Plugin utilities.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand, Debug)]
enum PluginCommand {
    /// Write a plugin crate to start from: the plugin with a unit test, a schema using it,
    /// a golden case and a README with the three commands to build, test and try it.
    #[command(
        after_help = "Examples:\n  scicat-ingestor plugin new mean-temperature\n  scicat-ingestor plugin new mean-temperature --dir ~/src --sdk ~/src/scicat-ingestor/plugin-sdk\n\nThen, in the new folder: cargo test; cargo build --target wasm32-wasip2 --release;\nscicat-ingestor test tests/"
    )]
    New {
        /// The plugin's name (a crate name: lower-case letters, digits, `-`, `_`).
        name: String,
        /// Where to create the folder NAME (default: here).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Depend on the plugin SDK in this folder instead of the published crate.
        #[arg(long, value_name = "PLUGIN_SDK_DIR")]
        sdk: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum SchemaCommand {
    /// Convert a schema between JSON and YAML, keeping the order of variables.
    #[command(
        after_help = "Examples:\n  scicat-ingestor schema convert coda.imsc.json -o coda.imsc.yml\n  scicat-ingestor schema convert coda.imsc.yml            (prints JSON)\n  scicat-ingestor schema convert coda.imsc.json --to yaml"
    )]
    Convert {
        /// The schema to convert.
        input: PathBuf,
        /// Where to write (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Target format (default: from the output name, else the other one).
        #[arg(long, value_enum)]
        to: Option<scicat_ingestor::tools::convert::Format>,
    },
}

#[derive(Args, Debug)]
struct BatchArgs {
    /// The configuration file (JSON or YAML).
    #[arg(
        short = 'c',
        long = "config-file",
        visible_alias = "config",
        value_name = "CONFIG"
    )]
    config: PathBuf,
    /// Data files, or folders searched recursively for data files.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Files ingested at once (default: the number of cores).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Which file names in folders are data files.
    #[arg(long, value_name = "PATTERN", default_value = scicat_ingestor::batch::DEFAULT_GLOB)]
    glob: String,
    /// Write one JSON record per file (path, outcome, pid, datablock, error, seconds) here.
    #[arg(long, value_name = "FILE.json")]
    report: Option<PathBuf>,
    /// Change nothing: print one JSON object per file (JSON lines) on stdout.
    #[arg(short = 'd', long)]
    dry_run: bool,
    /// Log every file's steps (by default only warnings and errors, next to the progress).
    #[arg(short, long)]
    verbose: bool,
    /// Override a config option, e.g. `--set scicat.host=https://x/api/v3`.
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Args, Debug)]
struct ValidateArgs {
    /// Schema files or folders (default: the config's schemas_directory).
    inputs: Vec<PathBuf>,
    /// A config file: its schemas directory, fallback, defaults and plugin limits.
    #[arg(short = 'c', long = "config-file", visible_alias = "config")]
    config: Option<PathBuf>,
    /// Fail on warnings too.
    #[arg(long)]
    strict: bool,
    /// Ask this SciCat (API base URL) whether it would accept each schema's dataset
    /// (POST datasets/isValid; token from -c or SCICAT_TOKEN).
    #[arg(long, value_name = "SCICAT")]
    against: Option<String>,
    /// With --against: build the dataset from this data file (else from placeholders).
    #[arg(long, value_name = "FILE", requires = "against")]
    nexus_file: Option<String>,
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// The NeXus/HDF5 file.
    file: PathBuf,
    /// Start at this group or dataset.
    #[arg(long, default_value = "/")]
    path: String,
    /// Print JSON (one object per group or dataset) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct TestArgs {
    /// Case files, or folders holding *.case.json / *.case.yml / *.case.yaml.
    #[arg(required = true)]
    cases: Vec<PathBuf>,
    /// Rewrite each case's expected JSON with what it produces now.
    #[arg(long)]
    update: bool,
}

/// Turns Python-style overrides (`--ingestion.dry-run`, `--scicat.host X`,
/// `--scicat.timeout=5`) into `--set section.key=value`.
fn translate_args(args: Vec<OsString>) -> Vec<OsString> {
    let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    let mut out: Vec<OsString> = Vec::with_capacity(args.len());
    let mut it = args.into_iter().peekable();
    if let Some(first) = it.next() {
        out.push(first);
    }
    while let Some(arg) = it.next() {
        // Arguments that are not UTF-8 (a data file's name may be any bytes)
        // are passed on untouched.
        let Some(a) = arg.to_str().map(str::to_string) else {
            out.push(arg);
            continue;
        };
        let Some(body) = a.strip_prefix("--") else {
            out.push(arg);
            continue;
        };
        let (key, inline) = match body.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if !key.contains('.') || key == "set" {
            out.push(arg);
            continue;
        }
        let key = key.replace('-', "_");
        let is_bool = key
            .split('.')
            .try_fold(&defaults, |d, p| d.get(p))
            .is_some_and(Value::is_boolean);
        let value = match inline {
            Some(v) => v,
            None if is_bool => "true".to_string(),
            None => match it.peek().and_then(|n| n.to_str()) {
                Some(next) if !next.starts_with("--") => {
                    let v = next.to_string();
                    it.next();
                    v
                }
                _ => String::new(),
            },
        };
        out.push("--set".into());
        out.push(format!("{key}={value}").into());
    }
    out
}

fn run_ingest(args: IngestArgs) -> Result<ExitCode> {
    let Some(config_path) = args.config else {
        bail!(
            "no configuration file: run `scicat-ingestor -c CONFIG --nexus-file FILE` (see --help)"
        );
    };
    let loaded = config::load(&config_path, &args.set)?;
    for w in &loaded.warnings {
        log::warn!("{w}");
    }
    let mut cfg = loaded.config;
    for p in logging::configure(&cfg.logging) {
        log::warn!("{p}");
    }
    let given_path = args.nexus_file;
    if let Some(f) = &given_path {
        cfg.nexus_file = f.to_string_lossy().into_owned();
    }
    if let Some(f) = args.done_writing_message_file {
        cfg.done_writing_message_file = f;
    }
    if cfg.nexus_file.is_empty() {
        bail!("no data file: give --nexus-file FILE (or nexus_file in the config)");
    }
    let dry_run = args.dry_run || cfg.ingestion.dry_run;
    let nexus_path = ingest::locate_data_file(
        &cfg,
        given_path.unwrap_or_else(|| cfg.nexus_file.clone().into()),
    );
    let nexus_file = nexus_path.to_string_lossy().into_owned();
    let req = Request {
        nexus_file: nexus_file.clone(),
        nexus_path,
        done_writing_message_file: (!cfg.done_writing_message_file.is_empty())
            .then(|| cfg.done_writing_message_file.clone()),
        dry_run,
        fixed_builtins: Vec::new(),
    };
    let outcome = scicat_ingestor::engine::Ingestor::new(cfg.clone())?.ingest(&req)?;
    if let Outcome::DryRun(v) = &outcome {
        let text = logging::scrub(&serde_json::to_string_pretty(v)?);
        println!("{text}");
    }
    log::info!("{}", ingest::summary(&nexus_file, &outcome));
    if !matches!(outcome, Outcome::DryRun(_)) {
        eprintln!(
            "{}",
            logging::scrub(&ingest::summary(&nexus_file, &outcome))
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
struct OnlineArgs {
    /// The configuration file (JSON or YAML), the offline ingestor's.
    #[arg(
        short = 'c',
        long = "config-file",
        visible_alias = "config",
        value_name = "CONFIG"
    )]
    config: PathBuf,
    /// Log what would be ingested; change nothing, commit nothing.
    #[arg(short = 'd', long)]
    dry_run: bool,
    /// Override a config option, e.g. `--set ingestion.max_offline_ingestors=4`.
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    set: Vec<String>,
}

fn run_online(a: OnlineArgs) -> Result<ExitCode> {
    let loaded = config::load(&a.config, &a.set)?;
    for w in &loaded.warnings {
        log::warn!("{w}");
    }
    let mut cfg = loaded.config;
    for p in logging::configure(&cfg.logging) {
        log::warn!("{p}");
    }
    cfg.ingestion.dry_run |= a.dry_run;
    scicat_ingestor::online::run(&a.config, cfg)?;
    Ok(ExitCode::SUCCESS)
}

fn run_batch(a: BatchArgs) -> Result<ExitCode> {
    use scicat_ingestor::batch;
    let loaded = config::load(&a.config, &a.set)?;
    for w in &loaded.warnings {
        log::warn!("{w}");
    }
    let mut cfg = loaded.config;
    // Per-file steps would drown the progress: warnings and errors only,
    // unless asked for.
    let mut log_opts = cfg.logging.clone();
    if !a.verbose
        && !cfg.logging.verbose
        && log_opts.logging_level.filter() > log::LevelFilter::Warn
    {
        log_opts.logging_level = config::LogLevel::Warning;
    }
    for p in logging::configure(&log_opts) {
        log::warn!("{p}");
    }
    let opts = batch::Options {
        paths: a.paths,
        jobs: a
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        glob: a.glob,
        report: a.report,
        dry_run: a.dry_run || cfg.ingestion.dry_run,
    };
    batch::check(&opts)?;
    cfg.ingestion.dry_run = opts.dry_run;
    let files = batch::collect(&opts.paths, &opts.glob)?;
    if files.is_empty() {
        bail!(
            "no data files matching {:?} under {}",
            opts.glob,
            opts.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let ingestor = scicat_ingestor::engine::Ingestor::new(cfg)?;
    eprintln!(
        "{} data file(s), {} at a time{}",
        files.len(),
        opts.jobs.min(files.len()),
        if opts.dry_run { " (dry run)" } else { "" }
    );
    let summary = batch::run(&ingestor, files, &opts)?;
    eprintln!("{}", logging::scrub(&summary.render()));
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn quiet_logging() {
    let opts = config::LoggingOptions {
        logging_level: config::LogLevel::Warning,
        ..Default::default()
    };
    logging::configure(&opts);
}

fn run_validate(a: ValidateArgs) -> Result<ExitCode> {
    quiet_logging();
    let config = match &a.config {
        Some(p) => {
            let l = config::load(p, &[])?;
            for w in &l.warnings {
                log::warn!("{w}");
            }
            Some(l.config)
        }
        None => None,
    };
    if let Some(c) = &config {
        logging::add_secret(c.scicat.token.expose());
    }
    let opts = validate::Options {
        inputs: a.inputs,
        config,
        against: a.against,
        nexus_file: a.nexus_file,
    };
    let report = validate::validate(&opts)?;
    for d in &report.diagnostics {
        println!("{d}");
    }
    let (e, w) = (report.errors(), report.warnings());
    println!(
        "checked {} schema file(s): {e} error(s), {w} warning(s){}",
        report.files,
        if e == 0 && w == 0 { ": all good" } else { "" }
    );
    Ok(if e > 0 || (a.strict && w > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn run_inspect(a: InspectArgs) -> Result<ExitCode> {
    quiet_logging();
    let nodes = inspect::inspect(&a.file, &a.path)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&nodes)?);
    } else {
        print!("{}", inspect::render_text(&nodes));
    }
    Ok(ExitCode::SUCCESS)
}

fn is_case_file(p: &std::path::Path) -> bool {
    let n = p.file_name().unwrap_or_default().to_string_lossy();
    n.ends_with(".case.json") || n.ends_with(".case.yml") || n.ends_with(".case.yaml")
}

fn run_tests(a: TestArgs) -> Result<ExitCode> {
    quiet_logging();
    let mut files = Vec::new();
    for c in &a.cases {
        if c.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(c)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_case_file(p))
                .collect();
            found.sort();
            if found.is_empty() {
                bail!(
                    "{}: no *.case.json / *.case.yml files in this folder",
                    c.display()
                );
            }
            files.extend(found);
        } else {
            files.push(c.clone());
        }
    }
    let (mut passed, mut failed, mut errors) = (0, 0, 0);
    for f in &files {
        let verdict = golden::Case::load(f).and_then(|case| golden::run_case(&case, a.update));
        match verdict {
            Ok(golden::Verdict::Pass) => {
                passed += 1;
                println!("PASS    {}", f.display());
            }
            Ok(golden::Verdict::Updated) => {
                passed += 1;
                println!("UPDATED {}", f.display());
            }
            Ok(golden::Verdict::Fail(diffs)) => {
                failed += 1;
                println!("FAIL    {}", f.display());
                for d in diffs {
                    println!("    {d}");
                }
            }
            Err(e) => {
                errors += 1;
                println!(
                    "ERROR   {}: {}",
                    f.display(),
                    logging::scrub(&format!("{e:#}"))
                );
            }
        }
    }
    println!(
        "{} case(s): {passed} passed, {failed} failed, {errors} error(s){}",
        files.len(),
        if failed > 0 {
            " (run with --update to accept the new output, then review it)"
        } else {
            ""
        }
    );
    Ok(if failed + errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A panic's message goes through the secret scrubber like every other line.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        logging::emit(
            log::Level::Error,
            &format!("internal error (a bug, please report it): {msg}{place}"),
        );
    }));
}

/// Keeps freed memory for the next allocation instead of giving it back at
/// once: HDF5's start, the metadata cache and regex compilation each take and
/// free a few hundred KiB, and every fresh page costs a page fault (~100 of a
/// small ingestion's ~900). Blocks of 8 MiB and more still come from and go
/// back to the system, and at most 32 MiB of free heap is kept.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 8 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
}

fn main() -> ExitCode {
    tune_malloc();
    // The bounded plugin compiler: a child process of this binary.
    if scicat_ingestor::plugin::compile::is_child(std::env::args().nth(1).as_deref()) {
        scicat_ingestor::plugin::compile::child_main(scicat_ingestor::plugin::engine::engine());
    }
    logging::init_default();
    install_panic_hook();
    let args = translate_args(std::env::args_os().collect());
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        None => run_ingest(cli.ingest),
        Some(Command::Ingest(a)) => run_batch(a),
        Some(Command::Online(a)) => run_online(a),
        Some(Command::Validate(a)) => run_validate(a),
        Some(Command::Inspect(a)) => run_inspect(a),
        Some(Command::Test(a)) => run_tests(a),
        Some(Command::Plugin(PluginCommand::New { name, dir, sdk })) => {
            scicat_ingestor::tools::plugin_new::new(&name, &dir, sdk.as_deref()).map(|root| {
                println!(
                    "created {}: see its README.md (cargo test; cargo build --target wasm32-wasip2 --release; scicat-ingestor test tests/)",
                    root.display()
                );
                ExitCode::SUCCESS
            })
        }
        Some(Command::Schema(SchemaCommand::Convert { input, output, to })) => {
            convert::convert(&input, to, output.as_deref()).map(|text| {
                if output.is_none() {
                    print!("{text}");
                }
                ExitCode::SUCCESS
            })
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            logging::emit(log::Level::Error, &format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn python_style_overrides_translate() {
        let out = translate_args(s(&[
            "bin",
            "-c",
            "c.json",
            "--ingestion.dry-run",
            "--scicat.host",
            "http://h",
            "--scicat.timeout=5",
            "--nexus-file",
            "f.h5",
        ]));
        assert_eq!(
            out,
            s(&[
                "bin",
                "-c",
                "c.json",
                "--set",
                "ingestion.dry_run=true",
                "--set",
                "scicat.host=http://h",
                "--set",
                "scicat.timeout=5",
                "--nexus-file",
                "f.h5"
            ])
        );
    }
}

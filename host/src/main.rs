//! The `scicat-ingestor` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use scicat_ingestor::config::{self, Config};
use scicat_ingestor::ingest::{self, Outcome, Request};
use scicat_ingestor::logging;

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
    nexus_file: Option<String>,
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
enum Command {}

/// Turns Python-style overrides (`--ingestion.dry-run`, `--scicat.host X`,
/// `--scicat.timeout=5`) into `--set section.key=value`.
fn translate_args(args: Vec<String>) -> Vec<String> {
    let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter().peekable();
    if let Some(first) = it.next() {
        out.push(first);
    }
    while let Some(a) = it.next() {
        let Some(body) = a.strip_prefix("--") else {
            out.push(a);
            continue;
        };
        let (key, inline) = match body.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (body.to_string(), None),
        };
        if !key.contains('.') || key == "set" {
            out.push(a);
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
            None => match it.peek() {
                Some(next) if !next.starts_with("--") => it.next().unwrap(),
                _ => String::new(),
            },
        };
        out.push("--set".into());
        out.push(format!("{key}={value}"));
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
    if let Some(f) = args.nexus_file {
        cfg.nexus_file = f;
    }
    if let Some(f) = args.done_writing_message_file {
        cfg.done_writing_message_file = f;
    }
    if cfg.nexus_file.is_empty() {
        bail!("no data file: give --nexus-file FILE (or nexus_file in the config)");
    }
    let dry_run = args.dry_run || cfg.ingestion.dry_run;
    let nexus_file = ingest::locate_data_file(&cfg, &cfg.nexus_file);
    let req = Request {
        nexus_file: nexus_file.clone(),
        done_writing_message_file: (!cfg.done_writing_message_file.is_empty())
            .then(|| cfg.done_writing_message_file.clone()),
        dry_run,
        fixed_builtins: Vec::new(),
    };
    let outcome = ingest::run_with_context(&cfg, &req)?;
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

fn main() -> ExitCode {
    logging::init_default();
    let args = translate_args(std::env::args().collect());
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        None => run_ingest(cli.ingest),
        Some(c) => match c {},
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

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
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

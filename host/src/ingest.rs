//! One ingestion from start to end: schemas → data file → schema selection →
//! variables → fields → file list → dataset and origdatablock; then either the
//! dry-run print or the upload (`upload`: existence checks, create dataset,
//! create origdatablock, under the data file's claim).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::dataset;
use crate::evaluate::{self, Env, PluginHooks, ScFetch, ScicatReads};
use crate::files;
use crate::nexus::NexusFile;
use crate::plugin::PluginHost;
use crate::schema::{Diagnostic, Schema, Severity};
use crate::schema_index::{LazySchemas, SelectSchema};
use crate::scicat::{Client, FileReads, NoScicat};

/// What to ingest.
#[derive(Debug, Clone)]
pub struct Request {
    /// The data file path as given (selectors and `data_file_path` see it
    /// so; lossy when the path is not UTF-8).
    pub nexus_file: String,
    /// The data file itself (any bytes the file system allows).
    pub nexus_path: PathBuf,
    pub done_writing_message_file: Option<String>,
    pub dry_run: bool,
    /// Built-in variables given fixed values (offline golden tests pin
    /// `now` and `ingestor_run_id` so results are reproducible).
    pub fixed_builtins: Vec<(String, Value)>,
}

/// How a run ended well.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Dry run: what would be uploaded.
    DryRun(Value),
    /// Dataset and origdatablock created.
    Created { pid: String, datablock: String },
    /// The dataset existed without its origdatablock: the datablock was added.
    Resumed { pid: String, datablock: String },
    /// Dataset and origdatablock exist already: nothing created.
    Exists { pid: String },
}

/// The bodies built for one data file.
pub struct Built {
    pub schema_id: String,
    pub data_path: PathBuf,
    /// The API version the bodies are shaped for.
    pub api: crate::api::ApiVersion,
    pub dataset: Map<String, Value>,
    pub files: Vec<files::ListedFile>,
    pub warnings: Vec<String>,
}

/// Logs schema diagnostics as errors and warnings.
pub fn log_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        match d.severity {
            Severity::Error => log::error!("{d}"),
            Severity::Warning => log::warn!("{d}"),
        }
    }
}

/// Loads the schemas the config names (each in full only once selected).
pub fn load_schemas(config: &Config) -> Result<LazySchemas> {
    let dir = crate::config::resolve_path(&config.config_file, &config.ingestion.schemas_directory);
    let fallback = match config.ingestion.fallback_schema_file_path.trim() {
        "" => None,
        p => Some(crate::config::resolve_path(&config.config_file, p)),
    };
    if let Some(fb) = &fallback
        && !fb.exists()
    {
        bail!(
            "the fallback schema {} does not exist (ingestion.fallback_schema_file_path)",
            fb.display()
        );
    }
    let set = LazySchemas::load_dir(&dir, fallback.as_deref())?;
    log_diagnostics(&set.diagnostics);
    log::info!(
        "loaded {} schema(s) from {}{}",
        set.len(),
        dir.display(),
        if set.has_fallback() {
            " plus a fallback"
        } else {
            ""
        }
    );
    Ok(set)
}

/// Connects to SciCat when a host is configured, logging in when a username
/// is given and no token.
pub fn connect(config: &Config) -> Result<Option<Client>> {
    let sc = &config.scicat;
    crate::logging::add_secret(sc.token.expose());
    crate::logging::add_secret(sc.password.expose());
    if sc.host.trim().is_empty() {
        return Ok(None);
    }
    let mut client = Client::new(sc)?;
    if !client.has_token() && !sc.username.is_empty() {
        if sc.password.is_empty() {
            bail!("scicat.username is set but no password: set scicat.password or SCICAT_PASSWORD");
        }
        client.login(&sc.username, &sc.password)?;
    }
    client
        .choose_api(&sc.api_version)
        .map_err(|e| anyhow!("{e} (scicat.api_version auto asks before anything is sent)"))?;
    Ok(Some(client))
}

/// Evaluates everything for one data file: returns the dataset (not yet
/// uploaded) and the file list.
pub fn build(
    config: &Config,
    schemas: &dyn SelectSchema,
    sc: &dyn ScicatReads,
    plugins: &mut PluginHost,
    req: &Request,
) -> Result<Built> {
    // One file's evaluation asks SciCat for each distinct url once.
    let memo = crate::fetch_memo::MemoFetch::new(sc);
    let sc: &dyn ScicatReads = &memo;
    let fh = &config.ingestion.file_handling;
    let data_path = req.nexus_path.clone();
    let nexus = Arc::new(
        NexusFile::open_with_retry(&data_path, fh.data_file_open_max_tries, |i| {
            fh.retry_delay(i)
        })
        .map_err(|e| anyhow!("cannot open the data file: {e}"))?,
    );

    // Selection; plugins of schemas whose selector asks for them are loaded
    // on demand.
    let mut select_errors = Vec::new();
    let selected = schemas.select(&req.nexus_file, &mut |s: &Schema| match plugins.select(
        s,
        &nexus,
        &req.nexus_file,
    ) {
        Ok(b) => b,
        Err(e) => {
            select_errors.push(format!("{e}"));
            false
        }
    });
    // Also when no schema matches: a failing select may be why.
    for e in select_errors {
        log::warn!("{e}; treated as \"does not match\"");
    }
    let schema: &Schema = selected?;
    log::info!(
        "schema selected: {} (id {}, {})",
        schema.name,
        schema.id,
        schema.file.display()
    );

    let api = sc
        .api_version()
        .unwrap_or_else(|| crate::api::offline_version(&config.scicat.api_version));
    let sample_ids = sample_ids(schema, &nexus, sc);

    let ingestor_dir = &fh.ingestor_files_directory;
    let mut vars = evaluate::builtins(&req.nexus_file, ingestor_dir, &schema.id);
    for (k, v) in &req.fixed_builtins {
        vars.insert(k.clone(), evaluate::Var::new(v.clone()));
    }
    let mut plugin = plugins.for_schema(schema, &nexus)?;
    if let Some(p) = plugin.as_mut() {
        p.set_api_version(api);
    }
    let failures = {
        let hooks: Option<&mut dyn PluginHooks> =
            plugin.as_mut().map(|p| p as &mut dyn PluginHooks);
        let mut env = Env {
            nexus: &*nexus,
            scicat: sc,
            plugin: hooks,
        };
        evaluate::evaluate_variables(schema, &mut vars, &mut env)
    };
    if let Some(stop) = plugin
        .as_ref()
        .and_then(|p| p.stops_file(schema, &failures))
    {
        bail!("{stop}; nothing was uploaded");
    }
    if let Some(reason) = sc.failure() {
        bail!("{reason}; nothing was uploaded");
    }
    let mut warnings = Vec::new();
    let mut logged = 0;
    // Logs what the last step added to `warnings`, also when it failed.
    let mut flush = |w: &Vec<String>| {
        for line in &w[logged..] {
            log::warn!("{line}");
        }
        logged = w.len();
    };
    if !failures.is_empty() {
        warnings.push(evaluate::describe_failures("variable", &failures));
    }
    let problems = evaluate::read_problems(schema, &vars);
    if !problems.is_empty() {
        warnings.push(evaluate::describe_read_problems(&problems));
    }
    let fields = evaluate::build_fields(schema, &vars, &failures);
    if !fields.ignored.is_empty() {
        warnings.push(format!(
            "schema entries with a field type other than high_level or scientific_metadata are ignored: {}",
            fields.ignored.join(", ")
        ));
    }
    if !fields.failures.is_empty() {
        warnings.push(evaluate::describe_failures("field", &fields.failures));
    }
    flush(&warnings);
    // Without a plugin that could still add them, missing required fields are
    // known now: fail before hashing a possibly huge file.
    if plugin.is_none() {
        dataset::check_required(&fields.high_level, api)?;
    }

    let done = match req.done_writing_message_file.as_deref() {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            if p.exists() {
                Some(p)
            } else {
                warnings.push(format!(
                    "the done-writing message file {} does not exist: it is not listed",
                    p.display()
                ));
                flush(&warnings);
                None
            }
        }
        _ => None,
    };
    // A dry run changes nothing on disk: the hash file is described, not written.
    let listed = files::build(&data_path, done.as_deref(), fh, !req.dry_run)?;
    let entries: Vec<files::FileEntry> = listed.iter().map(|f| f.entry.clone()).collect();
    let assembled = dataset::assemble(
        &fields,
        &entries,
        &sample_ids,
        &config.dataset,
        api,
        &mut warnings,
    );
    flush(&warnings);
    let mut d = assembled?;
    if let Some(p) = plugin.as_mut() {
        d = p
            .transform(d)
            .map_err(|e| anyhow!("{e}; nothing was uploaded"))?;
    }
    let finalized = dataset::finalize(&mut d, api, &mut warnings);
    flush(&warnings);
    finalized?;
    Ok(Built {
        schema_id: schema.id.clone(),
        data_path,
        api,
        dataset: d,
        files: listed,
        warnings,
    })
}

/// Sample ids whose description and proposal match the file's (when the
/// schema asks for sample attachment).
fn sample_ids(schema: &Schema, nexus: &NexusFile, sc: &dyn ScFetch) -> Vec<String> {
    let sa = &schema.sample_attachment;
    if !sa.query_sample_name {
        return Vec::new();
    }
    let read = |p: &str| -> Option<String> {
        match nexus.read(p) {
            Ok(a) => Some(evaluate::text(&a.to_json(false))),
            Err(e) => {
                log::warn!("sample attachment: cannot read {p}: {e}");
                None
            }
        }
    };
    let (Some(name), Some(proposal)) = (read(&sa.sample_name_path), read(&sa.proposal_id_path))
    else {
        log::warn!("sample attachment: no sample name or proposal id; no sampleId is set");
        return Vec::new();
    };
    let filter = json!({"where": {"description": name, "proposalId": proposal}});
    let url = format!(
        "samples?filter={}",
        crate::scicat::quote(&filter.to_string())
    );
    match sc.get_json(&url) {
        Ok(Value::Array(items)) => {
            let ids: Vec<String> = items
                .iter()
                .filter_map(|s| s.get("sampleId").and_then(|i| i.as_str()))
                .map(str::to_string)
                .collect();
            if ids.is_empty() {
                log::warn!("sample attachment: no sample {name:?} in proposal {proposal}");
            }
            ids
        }
        Ok(other) => {
            log::warn!(
                "sample attachment: expected a list of samples, got {}",
                crate::config::kind_of(&other)
            );
            Vec::new()
        }
        Err(e) => {
            log::warn!("sample attachment: {e}");
            Vec::new()
        }
    }
}

/// The origdatablock body with paths in the configured form.
pub fn origdatablock(
    config: &Config,
    built: &Built,
    pid: Option<&str>,
) -> Result<Map<String, Value>> {
    let fh = &config.ingestion.file_handling;
    let source = built.dataset.get("sourceFolder").and_then(|v| v.as_str());
    let list = files::data_file_list(&built.files, fh.file_path_type, source)?;
    Ok(dataset::origdatablock(
        &built.dataset,
        list,
        fh.file_hash_algorithm.as_str(),
        pid,
    ))
}

/// Ingests one file with what the engine loaded once: evaluation, then the
/// dry-run result or the upload.
pub(crate) fn ingest_one(
    config: &Config,
    schemas: &dyn SelectSchema,
    client: Option<&Client>,
    lookups: &crate::lookup_cache::LookupCache,
    plugins: &mut PluginHost,
    req: &Request,
) -> Result<Outcome> {
    if !req.dry_run && client.is_none() {
        bail!(
            "scicat.host is not configured: set it (or use --dry-run to only see what would be uploaded)"
        );
    }
    let reads = client.map(|c| FileReads::with_cache(c, lookups));
    let sc: &dyn ScicatReads = match &reads {
        Some(r) => r,
        None => &NoScicat,
    };
    let built = build(config, schemas, sc, plugins, req)?;
    let pid = built
        .dataset
        .get("pid")
        .and_then(|p| p.as_str())
        .map(str::to_string);
    if req.dry_run {
        let odb = origdatablock(config, &built, pid.as_deref())?;
        let problems = dataset::check_dataset(&built.dataset, built.api);
        if !problems.is_empty() {
            log::warn!(
                "SciCat (API {}) would reject this dataset: {}",
                built.api.name(),
                problems.join("; ")
            );
        }
        log::info!(
            "dry run: nothing is sent to SciCat (bodies for API {})",
            built.api.name()
        );
        return Ok(Outcome::DryRun(json!({
            "schema": built.schema_id,
            "dataset": built.dataset,
            "origdatablock": odb,
        })));
    }
    let client = client.expect("checked above");
    // Everything that can be checked locally is checked before the first POST.
    let problems = dataset::check_dataset(&built.dataset, built.api);
    if !problems.is_empty() {
        bail!(
            "SciCat would reject the dataset, nothing was uploaded: {}",
            problems.join("; ")
        );
    }
    origdatablock(config, &built, Some("check"))?;
    let data = &built.files[0];
    let id = crate::claim::FileId {
        file_name: built
            .data_path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        size: data.entry.size,
        chk: data.entry.chk.clone(),
    };
    crate::upload::upload(config, client, &built, id)
}

/// Runs one ingestion (the engine, made for one file).
pub fn run(config: &Config, req: &Request) -> Result<Outcome> {
    crate::engine::Ingestor::new(config.clone())?.ingest(req)
}

/// The final line that names the file, the dataset and the datablock.
pub fn summary(file: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::DryRun(_) => format!("dry run of {file} done: nothing was sent to SciCat"),
        Outcome::Created { pid, datablock } => {
            format!("ingested {file}: dataset {pid}, origdatablock {datablock}")
        }
        Outcome::Resumed { pid, datablock } => format!(
            "ingested {file}: dataset {pid} (existing), origdatablock {datablock} (added now)"
        ),
        Outcome::Exists { pid } => {
            format!(
                "{file} is already in SciCat: dataset {pid} with its origdatablock; nothing created"
            )
        }
    }
}

/// Resolves a data file path relative to `data_directory` when it is relative
/// and not found as given.
pub fn locate_data_file(config: &Config, given: PathBuf) -> PathBuf {
    let dir = &config.ingestion.file_handling.data_directory;
    if given.is_absolute() || given.exists() || dir.is_empty() {
        return given;
    }
    let joined = Path::new(dir).join(&given);
    if joined.exists() { joined } else { given }
}

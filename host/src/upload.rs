//! The upload protocol: under the data file's claim, find what SciCat has
//! (by the recorded pid, by pid, by the metadata key), create the dataset
//! unless it exists, then its origdatablock unless it has one. A POST that
//! got no usable answer is never sent again blindly: the ingestor looks for
//! what the server has and, when that cannot be decided, stops with "may or
//! may not have been created; run again to finish".

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value, json};

use crate::claim::{Claim, FileId, RecordState};
use crate::config::Config;
use crate::ingest::{Built, Outcome};
use crate::scicat::{Client, Existence, ScicatError};

const RUN_AGAIN: &str = "may or may not have been created; run again to finish (the next run finds out which, and creates nothing twice)";

/// Fields that identify a dataset as POSTed, for looking it up when its pid
/// was assigned by SciCat and the answer never came. Dates are left out (the
/// backend stores them as dates, a string filter would not match); these
/// names are the same in v3 and v4.
const FINGERPRINT_FIELDS: &[&str] = &[
    "datasetName",
    "sourceFolder",
    "ownerGroup",
    "owner",
    "contactEmail",
    "runNumber",
    "creationLocation",
    "type",
];

/// How long a second run on the same file waits for the first one: long
/// enough for the first one's requests with their retries.
fn lock_wait(config: &Config) -> Duration {
    (config.scicat.timeout() * 12).max(Duration::from_secs(60))
}

/// A dataset found in SciCat.
struct Found {
    pid: String,
    body: Option<Value>,
}

fn str_field<'a>(d: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    d.get(k).and_then(Value::as_str)
}

/// The `where` filter that matches the dataset as it is about to be POSTed.
fn fingerprint(config: &Config, d: &Map<String, Value>) -> Value {
    let mut w = Map::new();
    if let Some(pid) = str_field(d, "pid") {
        w.insert("pid".into(), json!(pid));
    }
    for k in FINGERPRINT_FIELDS {
        if let Some(v) = str_field(d, k) {
            w.insert((*k).into(), json!(v));
        }
    }
    let key = &config.ingestion.check_if_dataset_exists_by_metadata_key;
    if let Some(v) = metadata_value(d, key) {
        w.insert(format!("scientificMetadata.{key}.value"), v.clone());
    }
    Value::Object(w)
}

fn metadata_value<'a>(d: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    d.get("scientificMetadata")
        .and_then(|sm| sm.get(key))
        .and_then(|e| e.get("value"))
        .filter(|v| !v.is_null())
}

/// Explains a failed existence check: the ingestor cannot tell whether the
/// dataset exists, so it creates nothing.
fn cannot_tell(e: ScicatError) -> anyhow::Error {
    let hint = match e.status() {
        Some(401) | Some(403) => {
            ". The token is the first suspect: it is missing, wrong or expired (SciCat answers 403 to all three; set scicat.token or SCICAT_TOKEN, or scicat.username/password); else the account may not read datasets"
        }
        _ => "",
    };
    anyhow!(
        "{e}{hint}. The ingestor cannot tell whether the dataset exists, so nothing was created"
    )
}

/// Looks for the dataset: the recorded pid first, then what the config
/// asks for. Any answer but 200/404 (or a list) is an error: never "exists".
fn find_existing(
    config: &Config,
    client: &Client,
    built: &Built,
    claim: &Claim,
) -> Result<Option<Found>> {
    let ing = &config.ingestion;
    if let Some(rec) = claim.record() {
        match (&rec.pid, rec.state) {
            (Some(pid), _) => match client.dataset_by_pid(pid).map_err(cannot_tell)? {
                Existence::Present(body) => {
                    log::info!("dataset {pid}, recorded by an earlier run, exists in SciCat");
                    return Ok(Some(Found {
                        pid: pid.clone(),
                        body: Some(body),
                    }));
                }
                Existence::Absent => {
                    log::warn!(
                        "dataset {pid}, recorded by an earlier run, is not in SciCat (deleted?): creating it again"
                    );
                    claim.clear();
                }
            },
            (None, RecordState::Creating) => {
                let found = client
                    .datasets_where(
                        "look for the dataset an earlier run sent without an answer",
                        rec.fingerprint.clone(),
                    )
                    .map_err(cannot_tell)?;
                if let Some(f) = first_found(&found)? {
                    log::info!(
                        "dataset {}, sent by an earlier run that got no answer, exists in SciCat",
                        f.pid
                    );
                    return Ok(Some(f));
                }
                log::info!("the dataset an earlier run sent without an answer was not created");
            }
            (None, RecordState::Created) => {}
        }
    }
    if ing.check_if_dataset_exists_by_pid
        && let Some(pid) = str_field(&built.dataset, "pid")
    {
        match client.dataset_by_pid(pid).map_err(cannot_tell)? {
            Existence::Present(body) => {
                log::info!("dataset {pid} exists in SciCat");
                return Ok(Some(Found {
                    pid: pid.to_string(),
                    body: Some(body),
                }));
            }
            Existence::Absent => log::info!("no dataset with pid {pid} in SciCat"),
        }
    }
    if ing.check_if_dataset_exists_by_metadata {
        let key = &ing.check_if_dataset_exists_by_metadata_key;
        match metadata_value(&built.dataset, key) {
            Some(v) => {
                let found = client.datasets_by_metadata(key, v).map_err(cannot_tell)?;
                if found.len() > 1 {
                    log::warn!(
                        "{} datasets have scientificMetadata.{key} = {v}; using the first",
                        found.len()
                    );
                }
                if let Some(f) = first_found(&found)? {
                    log::info!(
                        "dataset {} with scientificMetadata.{key} = {v} exists in SciCat",
                        f.pid
                    );
                    return Ok(Some(f));
                }
                log::info!("no dataset with scientificMetadata.{key} = {v} in SciCat");
            }
            None => log::info!(
                "the dataset has no scientificMetadata.{key}: existence by metadata not checked"
            ),
        }
    }
    Ok(None)
}

fn first_found(list: &[Value]) -> Result<Option<Found>> {
    let Some(first) = list.first() else {
        return Ok(None);
    };
    let pid = first
        .get("pid")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("SciCat listed a dataset without a pid"))?;
    Ok(Some(Found {
        pid: pid.to_string(),
        body: Some(first.clone()),
    }))
}

/// A datablock is only added to an existing dataset that is this file's:
/// same owner group and source folder (a pid from a schema or a plugin could
/// point at somebody else's dataset).
fn check_same_owner(found: &Found, built: &Built) -> Result<()> {
    let Some(body) = &found.body else {
        return Ok(());
    };
    for key in ["ownerGroup", "sourceFolder"] {
        let theirs = body.get(key).and_then(Value::as_str);
        let ours = str_field(&built.dataset, key);
        if let (Some(t), Some(o)) = (theirs, ours)
            && t != o
        {
            bail!(
                "dataset {} exists in SciCat with {key} {t:?}, but this file's dataset has {key} {o:?}: \
                 it is not this file's dataset, so no datablock is added to it. Check the pid the schema gives",
                found.pid
            );
        }
    }
    Ok(())
}

fn created_id(reply: &Value, key: &str) -> Option<String> {
    reply
        .get(key)
        .or_else(|| reply.get("_id"))
        .or_else(|| reply.get("id"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// Waits before the next try, saying why.
fn back_off(client: &Client, e: &ScicatError, attempt: &mut u32, next: &str) {
    let wait = client.backoff.delay(*attempt);
    log::warn!("{e}; {next} in {:.1} s", wait.as_secs_f64());
    std::thread::sleep(wait);
    *attempt += 1;
}

/// POSTs the dataset. Returns its pid, and whether this run created it.
fn create_dataset(
    config: &Config,
    client: &Client,
    built: &Built,
    claim: &Claim,
) -> Result<(String, bool)> {
    let body = Value::Object(built.dataset.clone());
    let fp = fingerprint(config, &built.dataset);
    claim.write(RecordState::Creating, None, &fp)?;
    let mut attempt = 0u32;
    loop {
        let err = match client.create_dataset(&body) {
            Ok(reply) => match created_id(&reply, "pid") {
                Some(pid) => {
                    claim.write(RecordState::Created, Some(&pid), &fp)?;
                    log::info!("dataset created: {pid}");
                    return Ok((pid, true));
                }
                None => ScicatError::NoAnswer {
                    what: "create dataset".into(),
                    url: client.base_for_display(),
                    reason: "SciCat answered success but without a pid".into(),
                },
            },
            Err(e) => e,
        };
        match err.status() {
            Some(409) => {
                let pid = str_field(&built.dataset, "pid").ok_or_else(|| anyhow!("{err}"))?;
                log::info!("dataset {pid} exists already (409)");
                claim.write(RecordState::Created, Some(pid), &fp)?;
                return Ok((pid.to_string(), false));
            }
            Some(401) | Some(403) => {
                claim.clear();
                bail!(
                    "{err}. Nothing was created. The token is the first suspect: missing, wrong or expired (set scicat.token or SCICAT_TOKEN); \
                     else the account may not create datasets for owner group {}{}",
                    str_field(&built.dataset, "ownerGroup").unwrap_or("?"),
                    if built.dataset.contains_key("pid") {
                        ", or may not create a dataset with a pid (that needs CREATE_DATASET_WITH_PID_GROUPS or a privileged group)"
                    } else {
                        ""
                    }
                );
            }
            _ => {}
        }
        if matches!(err, ScicatError::NotSent { .. }) && attempt + 1 < client.backoff.tries {
            back_off(client, &err, &mut attempt, "sending again");
            continue;
        }
        if !err.is_ambiguous() {
            claim.clear();
            bail!("{err} (the dataset was not created)");
        }
        // The server may have created it: find out before anything else.
        log::warn!("{err}; asking SciCat whether the dataset was created");
        let found = match client.datasets_where("look for the dataset just sent", fp.clone()) {
            Ok(found) => first_found(&found)?,
            Err(e) => bail!("{err}; looking for it failed too ({e}): the dataset {RUN_AGAIN}"),
        };
        if let Some(f) = found {
            claim.write(RecordState::Created, Some(&f.pid), &fp)?;
            log::info!("dataset {} was created although the answer was lost", f.pid);
            return Ok((f.pid, true));
        }
        // Not there. A 5xx was the server's final word: sending again is
        // safe. Without an answer the POST may still be under way there.
        if err.status().is_some() && attempt + 1 < client.backoff.tries {
            back_off(client, &err, &mut attempt, "not created; sending again");
            continue;
        }
        if err.status().is_some() {
            claim.clear();
            bail!(
                "{err} (the dataset was not created; gave up after {} tries: run again later)",
                attempt + 1
            );
        }
        bail!("{err}: the dataset {RUN_AGAIN}");
    }
}

/// POSTs the origdatablock of dataset `pid`. Returns its id.
fn create_datablock(client: &Client, pid: &str, odb: &Value) -> Result<String> {
    let mut attempt = 0u32;
    loop {
        let err = match client.create_origdatablock(odb) {
            Ok(reply) => return Ok(created_id(&reply, "_id").unwrap_or_else(|| "?".into())),
            Err(e) => e,
        };
        let missing = format!("dataset {pid} exists without its origdatablock");
        if matches!(err, ScicatError::NotSent { .. }) && attempt + 1 < client.backoff.tries {
            back_off(client, &err, &mut attempt, "sending again");
            continue;
        }
        if matches!(err.status(), Some(401) | Some(403)) {
            bail!(
                "{err}. {missing}. The token is the first suspect: missing, wrong or expired; else the account may not add datablocks to this dataset. Fix it and run again to finish"
            );
        }
        if !err.is_ambiguous() {
            bail!("{err} ({missing}; run again to finish it)");
        }
        log::warn!("{err}; asking SciCat whether the origdatablock was created");
        match client.datablocks_of(pid) {
            Ok(blocks) if !blocks.is_empty() => {
                log::info!("the origdatablock was created although the answer was lost");
                return Ok(created_id(&blocks[0], "_id").unwrap_or_else(|| "?".into()));
            }
            Ok(_) if err.status().is_some() && attempt + 1 < client.backoff.tries => {
                back_off(client, &err, &mut attempt, "not created; sending again");
            }
            Ok(_) if err.status().is_some() => {
                bail!(
                    "{err} ({missing}; gave up after {} tries: run again to finish it)",
                    attempt + 1
                )
            }
            Ok(_) => bail!("{err}: the origdatablock of dataset {pid} {RUN_AGAIN}"),
            Err(e) => bail!(
                "{err}; looking for it failed too ({e}): the origdatablock of dataset {pid} {RUN_AGAIN}"
            ),
        }
    }
}

/// Existence checks, then the two POSTs, all under the data file's claim.
pub fn upload(config: &Config, client: &Client, built: &Built, id: FileId) -> Result<Outcome> {
    let dir = crate::files::ingestor_dir(&config.ingestion.file_handling, &built.data_path)?;
    let claim = Claim::acquire(&dir, id, lock_wait(config))?;
    let (pid, fresh) = match find_existing(config, client, built, &claim)? {
        Some(found) => {
            check_same_owner(&found, built)?;
            (found.pid, false)
        }
        None => {
            let (pid, fresh) = create_dataset(config, client, built, &claim)?;
            if !fresh {
                // A 409: a dataset with this pid exists; it must be this
                // file's before a datablock goes into it.
                if let Existence::Present(body) =
                    client.dataset_by_pid(&pid).map_err(cannot_tell)?
                {
                    let found = Found {
                        pid: pid.clone(),
                        body: Some(body),
                    };
                    check_same_owner(&found, built)?;
                }
            }
            (pid, fresh)
        }
    };
    if !fresh {
        let blocks = client.datablocks_of(&pid).map_err(|e| {
            anyhow!(
                "{e}: cannot tell whether dataset {pid} has its origdatablock; nothing was created"
            )
        })?;
        if !blocks.is_empty() {
            log::info!(
                "dataset {pid} is complete ({} origdatablock(s)): nothing to do",
                blocks.len()
            );
            return Ok(Outcome::Exists { pid });
        }
        log::warn!("dataset {pid} exists without its origdatablock: creating it now");
    }
    let odb = Value::Object(crate::ingest::origdatablock(config, built, Some(&pid))?);
    let datablock = create_datablock(client, &pid, &odb)?;
    if fresh {
        Ok(Outcome::Created { pid, datablock })
    } else {
        Ok(Outcome::Resumed { pid, datablock })
    }
}

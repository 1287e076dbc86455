//! Sample registration from `pl72` run starts (`ingestion.sample_registration`),
//! as the Python sample ingestor does: read the sample name and proposal id
//! from the file being written, and create the sample when no sample with
//! that description and proposal exists.
//!
//! At most one per (proposal, name): in one process a lock serialises the
//! check and the create; across processes the sample's id is derived from
//! (proposal, name), so a second instance's create is refused by the
//! catalog as a duplicate and then found by the check.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::nexus::NexusFile;
use crate::scicat::Client;

/// How a registration ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    Created(String),
    Exists,
}

pub struct Registrar {
    client: Client,
    pub name_path: String,
    pub proposal_path: String,
    pub open_tries: u32,
    pub open_delay: Duration,
    lock: Mutex<()>,
}

/// The sample id for (proposal, name): the same in every instance.
pub fn sample_id(proposal: &str, name: &str) -> String {
    use crate::digest::{Blake2b128, Digest};
    let x = crate::digest::hex(&Blake2b128::digest(format!("{proposal}\u{0}{name}")));
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn text_at(f: &NexusFile, path: &str) -> Result<String> {
    let a = f.read(path).map_err(|e| anyhow!("{e}"))?;
    let s = crate::evaluate::text(&a.to_json(false)).trim().to_string();
    if s.is_empty() {
        bail!("{path} is empty");
    }
    Ok(s)
}

impl Registrar {
    pub fn new(client: Client, name_path: String, proposal_path: String) -> Registrar {
        Registrar {
            client,
            name_path,
            proposal_path,
            open_tries: 10,
            open_delay: Duration::from_secs(2),
            lock: Mutex::new(()),
        }
    }

    fn find(&self, name: &str, proposal: &str) -> Result<bool> {
        let filter = json!({"where": {"description": name, "proposalId": proposal}});
        let url = self.client.endpoint(
            "samples",
            &format!("?filter={}", crate::scicat::quote(&filter.to_string())),
        );
        match self.client.get("find the sample", &url)? {
            Value::Array(items) => Ok(!items.is_empty()),
            other => bail!(
                "find the sample: expected a list, got {}",
                crate::config::kind_of(&other)
            ),
        }
    }

    /// Registers the sample of the run writing `file`.
    pub fn register(&self, file: &Path) -> Result<Registered> {
        let delay = self.open_delay;
        // The file writer has just started this file: it may not exist or
        // be readable yet.
        let mut tries = 0;
        let f = loop {
            tries += 1;
            match NexusFile::open(file) {
                Ok(f) => break f,
                Err(e) if tries >= self.open_tries.max(1) => {
                    bail!("{e} (gave up after {tries} tries)")
                }
                Err(_) => std::thread::sleep(delay),
            }
        };
        let name = text_at(&f, &self.name_path).context("the sample name")?;
        let proposal = text_at(&f, &self.proposal_path).context("the proposal id")?;
        drop(f);
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.find(&name, &proposal)? {
            log::info!("sample {name:?} of proposal {proposal} exists");
            return Ok(Registered::Exists);
        }
        let id = sample_id(&proposal, &name);
        let body = json!({
            "sampleId": id,
            "ownerGroup": proposal,
            "accessGroups": [proposal],
            "description": name,
            "proposalId": proposal,
            "isPublished": false,
        });
        let url = self.client.endpoint("samples", "");
        match self.client.post("create the sample", &url, &body) {
            Ok(_) => {
                log::info!("sample {name:?} of proposal {proposal} created: {id}");
                Ok(Registered::Created(id))
            }
            // Another instance created it first (a duplicate id), or the
            // answer was lost: what counts is whether it exists now.
            Err(e) => {
                if self.find(&name, &proposal)? {
                    log::info!("sample {name:?} of proposal {proposal} exists (created meanwhile)");
                    Ok(Registered::Exists)
                } else {
                    Err(e.into())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_id_depends_only_on_proposal_and_name() {
        let a = sample_id("443503", "A Sample");
        assert_eq!(a, sample_id("443503", "A Sample"));
        assert_ne!(a, sample_id("443504", "A Sample"));
        assert_ne!(
            sample_id("44350", "3A Sample"),
            sample_id("443503", "A Sample")
        );
        assert_eq!(a.len(), 36);
    }
}

//! A data file's claim in the ingestor directory, which makes "one file, one
//! dataset, one datablock" hold across processes and hosts. One file,
//! `<file name>.scicat.json`, is both:
//!
//! - the lock: an exclusive `flock` on it (which Linux maps to POSIX locks on
//!   NFS, so it also holds between hosts on a shared file system with working
//!   locks) is held from the existence check until the datablock is in. A
//!   second run on the same file waits, bounded, then finds the first one's
//!   result;
//! - the record of what the ingestor sent: written *before* the dataset POST
//!   (state `creating`, with a fingerprint to look the dataset up by) and
//!   again when SciCat answers with its pid (state `created`), so that a run
//!   after a crash or an unanswered POST finds the dataset even when its pid
//!   was assigned by SciCat and the metadata check is off.
//!
//! The record is rewritten in place under the lock (one small write at
//! offset 0, then the length cut to it): no temporary file per update, which
//! on a busy ext4 costs more than the rest of a small file's ingestion, and
//! never an empty file between two records. Cutting a file to zero before
//! rewriting it also makes ext4 write it out at close, in the ingestor's
//! time. The file is left in place when empty:
//! removing it while another process waits on its lock would let a third
//! lock a new file of the same name.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the last run wrote down about its dataset POST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The data file's name and size, and checksum when computed: a record
    /// of another file with the same name (an ingestor directory shared by
    /// several folders) is not taken for this one's.
    pub file_name: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chk: Option<String>,
    pub state: RecordState,
    /// The dataset's pid, once SciCat said it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// A `where` filter matching the dataset as it was POSTed.
    pub fingerprint: Value,
    pub updated: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordState {
    /// The dataset POST was (or was about to be) sent; no answer seen yet.
    Creating,
    /// SciCat answered with the pid.
    Created,
}

/// The identity a record is matched against.
#[derive(Debug, Clone)]
pub struct FileId {
    pub file_name: String,
    pub size: u64,
    pub chk: Option<String>,
}

impl FileId {
    fn matches(&self, r: &Record) -> bool {
        r.file_name == self.file_name
            && r.size == self.size
            && match (&r.chk, &self.chk) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// The lock on one data file, released when dropped (or when the process
/// dies: the kernel drops the lock with the descriptor).
pub struct Claim {
    file: File,
    record_path: PathBuf,
    id: FileId,
}

/// The claim file (lock and record) of a data file in `dir`.
pub fn claim_path(dir: &Path, file_name: &str) -> PathBuf {
    dir.join(format!("{file_name}.scicat.json"))
}

impl Claim {
    /// Takes the lock on `id` in `dir`, waiting at most `wait` for another
    /// run that holds it.
    pub fn acquire(dir: &Path, id: FileId, wait: Duration) -> Result<Claim> {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the ingestor directory {} (ingestion.file_handling.ingestor_files_directory)",
                dir.display()
            )
        })?;
        let lock_path = claim_path(dir, &id.file_name);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .with_context(|| {
                format!(
                    "cannot open the lock file {} (the ingestor directory must be writable)",
                    lock_path.display()
                )
            })?;
        let start = Instant::now();
        let mut told = false;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if start.elapsed() >= wait {
                        bail!(
                            "another ingestion of {} holds {} and did not finish within {} s; nothing was created: run again later",
                            id.file_name,
                            lock_path.display(),
                            wait.as_secs()
                        );
                    }
                    if !told {
                        log::info!(
                            "another ingestion of {} is under way (it holds {}): waiting for it, at most {} s",
                            id.file_name,
                            lock_path.display(),
                            wait.as_secs()
                        );
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    // Without a working lock two runs could both create:
                    // refuse rather than risk it.
                    bail!(
                        "cannot lock {}: {e}; the file system may not support locks. Nothing was created",
                        lock_path.display()
                    );
                }
            }
        }
        if told {
            log::info!(
                "the other ingestion of {} ended after {:.1} s",
                id.file_name,
                start.elapsed().as_secs_f64()
            );
        }
        Ok(Claim {
            file: lock,
            record_path: lock_path,
            id,
        })
    }

    /// The record of this data file, if one was written (a record of another
    /// file of the same name, or an unreadable one, is ignored with a
    /// warning).
    pub fn record(&self) -> Option<Record> {
        let mut text = String::new();
        let mut f = &self.file;
        if let Err(e) = f
            .seek(SeekFrom::Start(0))
            .and_then(|_| f.read_to_string(&mut text))
        {
            log::warn!("cannot read {}: {e}; ignored", self.record_path.display());
            return None;
        }
        if text.trim().is_empty() {
            return None;
        }
        // A process killed between a shorter record's write and the cut
        // leaves the older record's tail after it: the record is the first
        // JSON value.
        let first = serde_json::Deserializer::from_str(&text)
            .into_iter::<Record>()
            .next()?;
        match first {
            Ok(r) if self.id.matches(&r) => Some(r),
            Ok(_) => {
                log::warn!(
                    "{} describes another file of the same name; ignored",
                    self.record_path.display()
                );
                None
            }
            Err(e) => {
                log::warn!(
                    "{} is not a record this ingestor wrote ({e}); ignored",
                    self.record_path.display()
                );
                None
            }
        }
    }

    /// Writes the record (atomically: a crash leaves the old or the new one).
    pub fn write(&self, state: RecordState, pid: Option<&str>, fingerprint: &Value) -> Result<()> {
        let rec = Record {
            file_name: self.id.file_name.clone(),
            size: self.id.size,
            chk: self.id.chk.clone(),
            state,
            pid: pid.map(str::to_string),
            fingerprint: fingerprint.clone(),
            updated: chrono::Utc::now().to_rfc3339(),
        };
        let text = format!(
            "{}\n",
            serde_json::to_string_pretty(&rec).expect("a record serialises")
        );
        self.overwrite(text.as_bytes()).with_context(|| {
            format!(
                "cannot write down what is sent to SciCat in {}: nothing is sent",
                self.record_path.display()
            )
        })
    }

    /// Replaces the record's content with `bytes`: one write at offset 0,
    /// then the file cut to its length. Killed in between, the file holds
    /// the new record (and perhaps the old one's tail), never nothing.
    fn overwrite(&self, bytes: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(bytes, 0)?;
        self.file.set_len(bytes.len() as u64)
    }

    /// Forgets the record: the dataset it named is gone, or the POST it
    /// announced certainly created nothing.
    pub fn clear(&self) {
        if let Err(e) = self.overwrite(b"") {
            log::warn!("cannot empty {}: {e}", self.record_path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> FileId {
        FileId {
            file_name: "run_1.hdf".into(),
            size: 5,
            chk: Some("ab".into()),
        }
    }

    #[test]
    fn a_second_claim_waits_then_gives_up() {
        let d = tempfile::tempdir().unwrap();
        let first = Claim::acquire(d.path(), id(), Duration::from_secs(1)).unwrap();
        let t = Instant::now();
        let e = Claim::acquire(d.path(), id(), Duration::from_millis(300))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("another ingestion of run_1.hdf"), "{e}");
        assert!(t.elapsed() >= Duration::from_millis(300));
        drop(first);
        Claim::acquire(d.path(), id(), Duration::from_millis(300)).unwrap();
    }

    #[test]
    fn a_shorter_record_replaces_a_longer_one_and_a_cut_short_rewrite_still_reads() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("run_1.hdf.scicat.json");
        let c = Claim::acquire(d.path(), id(), Duration::from_secs(1)).unwrap();
        let long = json!({"datasetName": "x".repeat(500)});
        c.write(RecordState::Creating, None, &long).unwrap();
        let long_len = std::fs::metadata(&path).unwrap().len();
        c.write(RecordState::Created, Some("p/1"), &json!({}))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!((text.len() as u64) < long_len);
        assert!(text.ends_with("}\n") && !text.contains("xxx"), "{text}");
        // Killed after the write and before the cut: the old tail follows.
        c.write(RecordState::Creating, None, &long).unwrap();
        let short = text.into_bytes();
        std::os::unix::fs::FileExt::write_all_at(&c.file, &short, 0).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), long_len);
        let r = c.record().unwrap();
        assert_eq!(
            (r.state, r.pid.as_deref()),
            (RecordState::Created, Some("p/1"))
        );
    }

    #[test]
    fn records_round_trip_and_belong_to_their_file() {
        let d = tempfile::tempdir().unwrap();
        let c = Claim::acquire(d.path(), id(), Duration::from_secs(1)).unwrap();
        assert_eq!(c.record(), None);
        let fp = json!({"datasetName": "x"});
        c.write(RecordState::Created, Some("p/1"), &fp).unwrap();
        let r = c.record().unwrap();
        assert_eq!(
            (r.state, r.pid.as_deref(), &r.fingerprint),
            (RecordState::Created, Some("p/1"), &fp)
        );
        drop(c);
        // Same name, other content: not this file's record.
        let other = FileId {
            chk: Some("cd".into()),
            ..id()
        };
        let c = Claim::acquire(d.path(), other, Duration::from_secs(1)).unwrap();
        assert_eq!(c.record(), None);
        drop(c);
        let c = Claim::acquire(d.path(), id(), Duration::from_secs(1)).unwrap();
        assert!(c.record().is_some(), "still the first file's record");
        c.clear();
        assert_eq!(c.record(), None);
        assert_eq!(
            std::fs::metadata(d.path().join("run_1.hdf.scicat.json"))
                .unwrap()
                .len(),
            0
        );
    }
}

//! What a message on the file writer's topics means to the daemon, and the
//! done-writing message file written from it (as the Python daemon does).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Value, json};

use super::fbs;
use crate::config::FileHandlingOptions;

/// A `wrdn` message's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct WritingDone {
    pub service_id: String,
    pub job_id: String,
    pub error_encountered: bool,
    pub file_name: String,
    pub metadata: Option<String>,
    pub message: Option<String>,
}

/// A message as the daemon sorts them.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A file to ingest.
    Done(WritingDone),
    /// Writing stopped on an error: nothing to ingest.
    WriteError(WritingDone),
    /// A `pl72` run start: its file name and job id.
    RunStart { filename: String, job_id: String },
    /// Another schema (`6s4t`, `answ`, `x5f2`...).
    Other(String),
    /// Bytes that do not decode.
    Poison(String),
}

impl Decoded {
    /// The metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            Decoded::Done(_) => "wrdn",
            Decoded::WriteError(_) => "wrdn_error",
            Decoded::RunStart { .. } => "pl72",
            Decoded::Other(_) => "other",
            Decoded::Poison(_) => "poison",
        }
    }
}

pub fn decode(payload: Option<&[u8]>) -> Decoded {
    let Some(buf) = payload else {
        return Decoded::Poison("empty message".into());
    };
    match fbs::schema_id(buf) {
        Some(fbs::WRDN_IDENTIFIER) => match fbs::root_as_finished_writing(buf) {
            Ok(m) => {
                let w = WritingDone {
                    service_id: m.service_id().into(),
                    job_id: m.job_id().into(),
                    error_encountered: m.error_encountered(),
                    file_name: m.file_name().into(),
                    metadata: m.metadata().map(String::from),
                    message: m.message().map(String::from),
                };
                if w.error_encountered {
                    Decoded::WriteError(w)
                } else if w.file_name.is_empty() {
                    Decoded::Poison("wrdn message with an empty file_name".into())
                } else {
                    Decoded::Done(w)
                }
            }
            Err(e) => Decoded::Poison(format!("undecodable wrdn message: {e}")),
        },
        Some(fbs::PL72_IDENTIFIER) => match fbs::root_as_run_start(buf) {
            Ok(r) => Decoded::RunStart {
                filename: r.filename().unwrap_or_default().into(),
                job_id: r.job_id().unwrap_or_default().into(),
            },
            Err(e) => Decoded::Poison(format!("undecodable pl72 message: {e}")),
        },
        Some(other) if other.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Decoded::Other(other.to_string())
        }
        _ => Decoded::Poison(format!("not a FlatBuffers message ({} bytes)", buf.len())),
    }
}

impl WritingDone {
    /// The six fields in schema order: the Python daemon's message file.
    pub fn to_json(&self) -> Value {
        json!([
            self.service_id,
            self.job_id,
            self.error_encountered,
            self.file_name,
            self.metadata,
            self.message
        ])
    }

    /// The data file: as announced, a relative name being under
    /// `data_directory` when one is configured.
    pub fn data_file(&self, fh: &FileHandlingOptions) -> PathBuf {
        let p = Path::new(&self.file_name);
        if p.is_relative() && !fh.data_directory.is_empty() {
            Path::new(&fh.data_directory).join(p)
        } else {
            p.to_path_buf()
        }
    }
}

/// Writes `<ingestor dir>/<data file stem>.<extension>` and returns its
/// path.
pub fn write_message_file(
    msg: &WritingDone,
    data_file: &Path,
    fh: &FileHandlingOptions,
) -> Result<PathBuf> {
    let dir = crate::files::ingestor_dir(fh, data_file)?;
    std::fs::create_dir_all(&dir)?;
    let stem = data_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = dir.join(format!("{stem}.{}", fh.message_file_extension));
    crate::files::write_atomic(&path, &msg.to_json().to_string())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::online::fbs::{FinishedWritingArgs, build_finished_writing, build_run_start};

    #[test]
    fn sorts_messages() {
        let ok = build_finished_writing(&FinishedWritingArgs {
            service_id: "s",
            job_id: "j",
            file_name: "/d/run.nxs",
            ..Default::default()
        });
        let Decoded::Done(w) = decode(Some(&ok)) else {
            panic!("not done")
        };
        assert_eq!(
            w.to_json(),
            json!(["s", "j", false, "/d/run.nxs", null, null])
        );
        let err = build_finished_writing(&FinishedWritingArgs {
            service_id: "s",
            job_id: "j",
            file_name: "/d/run.nxs",
            error_encountered: true,
            message: Some("disk full"),
            ..Default::default()
        });
        assert!(matches!(decode(Some(&err)), Decoded::WriteError(_)));
        assert!(matches!(
            decode(Some(&build_run_start("j", "f", 1))),
            Decoded::RunStart { .. }
        ));
        assert_eq!(
            decode(Some(b"\x10\0\0\x006s4t\0\0")),
            Decoded::Other("6s4t".into())
        );
        assert!(matches!(
            decode(Some(b"\x10\0\0\0wrdn\0\0")),
            Decoded::Poison(_)
        ));
        assert!(matches!(decode(Some(b"\xff\xfe")), Decoded::Poison(_)));
        assert!(matches!(decode(None), Decoded::Poison(_)));
    }

    #[test]
    fn writes_the_message_file_next_to_the_ingestor_files() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("raw/run_7.nxs");
        let fh = FileHandlingOptions::default();
        let w = WritingDone {
            service_id: "s".into(),
            job_id: "j".into(),
            error_encountered: false,
            file_name: data.display().to_string(),
            metadata: Some("{}".into()),
            message: None,
        };
        let p = write_message_file(&w, &data, &fh).unwrap();
        assert_eq!(p, dir.path().join("ingestor/run_7.message.json"));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        assert_eq!(v[3], json!(data.display().to_string()));
    }
}

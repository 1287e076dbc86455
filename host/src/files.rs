//! The dataset's file list: stats and streamed BLAKE2b-512 checksums of the
//! data file (and the done-writing message file), the hash file written to the
//! ingestor directory, and paths in `absolute` or `relative` form.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use chrono::{TimeZone, Utc};
use serde::Serialize;

use crate::config::{FileHandlingOptions, FilePathType};
use crate::digest::{Blake2b512, Digest, hex};

/// One entry of an origdatablock's `dataFileList`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perm: Option<String>,
}

/// A listed file: where it is, and its entry (whose path is still absolute).
#[derive(Debug, Clone)]
pub struct ListedFile {
    pub abs: PathBuf,
    pub entry: FileEntry,
}

const CHUNK: usize = 1 << 20;
const BUFFERS: usize = 4;
/// Files up to this size are hashed inline on the calling thread with one
/// small buffer: below it, starting a reader thread and faulting in its
/// buffers costs more than overlapping the reads saves (measured with
/// `hash-threshold`, see `make bench`).
pub const INLINE_MAX: u64 = 4 << 20;
const INLINE_BUF: usize = 64 << 10;

/// Lowercase hex BLAKE2b-512 of a file's content: inline for small files,
/// with reads overlapping the hashing for large ones. Memory stays at a few
/// fixed buffers whatever the file's size.
pub fn blake2b_file(path: &Path) -> Result<String> {
    let file = open_for_hash(path)?;
    // A file that grows while it is hashed is still hashed to its end; the
    // size only picks the strategy.
    let small = file.metadata().is_ok_and(|m| m.len() <= INLINE_MAX);
    if small {
        hash_inline(file, path)
    } else {
        hash_overlapped(file, path)
    }
}

/// [`blake2b_file`] always inline (for measuring the threshold).
pub fn blake2b_file_inline(path: &Path) -> Result<String> {
    hash_inline(open_for_hash(path)?, path)
}

/// [`blake2b_file`] always with a reader thread (for measuring the
/// threshold).
pub fn blake2b_file_overlapped(path: &Path) -> Result<String> {
    hash_overlapped(open_for_hash(path)?, path)
}

fn open_for_hash(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))
}

fn new_state() -> Blake2b512 {
    Blake2b512::new()
}

fn hash_inline(mut file: std::fs::File, path: &Path) -> Result<String> {
    let mut buf = vec![0u8; INLINE_BUF];
    let mut state = new_state();
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                state.update(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("error reading {}", path.display())),
        }
    }
    Ok(hex(&state.finalize()))
}

/// Reading (on a helper thread) overlaps hashing, through `BUFFERS` chunks
/// passed back and forth.
fn hash_overlapped(mut file: std::fs::File, path: &Path) -> Result<String> {
    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        empty_tx.send(vec![0u8; CHUNK]).expect("channel has room");
    }
    let reader = std::thread::spawn(move || -> std::io::Result<()> {
        while let Ok(mut buf) = empty_rx.recv() {
            let mut filled = 0;
            while filled < buf.len() {
                match file.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let done = filled < buf.len();
            if full_tx.send((buf, filled)).is_err() || done {
                return Ok(());
            }
        }
        Ok(())
    });
    let mut state = new_state();
    // Hash until the reader closes its end; a buffer handed back after the
    // reader has finished is simply dropped.
    while let Ok((buf, n)) = full_rx.recv() {
        state.update(&buf[..n]);
        let _ = empty_tx.send(buf);
    }
    drop(empty_tx);
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?
        .with_context(|| format!("error reading {}", path.display()))?;
    Ok(hex(&state.finalize()))
}

/// `YYYY-MM-DDTHH:MM:SS.000Z` of a Unix time.
fn stamp(secs: i64) -> String {
    Utc.timestamp_opt(secs, 0)
        .single()
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string()
}

/// Removes `.` and resolves `..` lexically (no symlinks are followed).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The absolute, normalised form of a path.
pub fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(normalize(&std::path::absolute(p).with_context(|| {
        format!("cannot make {} absolute", p.display())
    })?))
}

fn entry_for(path: &Path, fh: &FileHandlingOptions, hash: bool) -> Result<ListedFile> {
    let abs = absolute(path)?;
    let md = std::fs::metadata(&abs).with_context(|| format!("cannot stat {}", abs.display()))?;
    let mut entry = FileEntry {
        path: abs.to_string_lossy().into_owned(),
        size: md.len(),
        time: Utc::now().format("%Y-%m-%dT%H:%M:%S.000Z").to_string(),
        chk: None,
        uid: None,
        gid: None,
        perm: None,
    };
    if fh.compute_file_stats {
        entry.time = stamp(md.ctime());
        entry.uid = Some(md.uid().to_string());
        entry.gid = Some(md.gid().to_string());
        entry.perm = Some(format!("0o{:o}", md.mode()));
    }
    if hash && fh.compute_file_hash {
        entry.chk = Some(blake2b_file(&abs)?);
    }
    Ok(ListedFile { abs, entry })
}

/// The ingestor directory: as configured, a relative one being relative to
/// the data file's folder.
pub fn ingestor_dir(fh: &FileHandlingOptions, data_file: &Path) -> Result<PathBuf> {
    let dir = Path::new(&fh.ingestor_files_directory);
    if dir.is_absolute() {
        return Ok(normalize(dir));
    }
    let data = absolute(data_file)?;
    let parent = data.parent().unwrap_or(Path::new("/"));
    Ok(normalize(&parent.join(dir)))
}

/// Writes `content` to `path` via a temporary file and a rename, so that a
/// reader never sees half a file; on failure (a full disk) the temporary
/// file is removed again.
pub(crate) fn write_atomic(path: &Path, content: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        // No fsync: the rename already keeps readers from half a file, and
        // a crash of the process (what the records guard against) keeps the
        // page cache; an fsync per file costs more than the rest of a small
        // file's ingestion.
        std::io::Write::write_all(&mut f, content.as_bytes())?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        bail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}

/// The extensions data files come with (what `ingest` looks for in a
/// folder, see `batch::DEFAULT_GLOB`).
pub const DATA_EXTENSIONS: &[&str] = &["nxs", "hdf", "hdf5", "h5", "nx5", "nx"];

/// The hash file of `data_file` in `dir`: `<stem>.<ext>`, unless a data file
/// with the same stem and another extension lies next to it (`run.hdf` and
/// `run.nxs`), which would share it: then `<file name>.<ext>`. Only the
/// candidate names are looked up (no listing of a folder that may hold
/// thousands of files, once per file of a backlog).
pub fn hash_file_path(dir: &Path, data_file: &Path, ext: &str) -> PathBuf {
    let name = data_file.file_name().unwrap_or_default();
    let stem = data_file.file_stem().unwrap_or_default();
    let clash = DATA_EXTENSIONS.iter().find_map(|x| {
        let mut other = stem.to_os_string();
        other.push(format!(".{x}"));
        (other != name && data_file.with_file_name(&other).is_file())
            .then(|| other.to_string_lossy().into_owned())
    });
    match clash {
        None => dir.join(format!("{}.{ext}", stem.to_string_lossy())),
        Some(other) => {
            let path = dir.join(format!("{}.{ext}", name.to_string_lossy()));
            log::warn!(
                "{other} next to {} has the same stem: the checksum goes to {} so that neither overwrites the other's",
                name.to_string_lossy(),
                path.display()
            );
            path
        }
    }
}

/// The entry a hash file would have, for a dry run that writes nothing.
fn planned_hash_entry(path: &Path, chk: &str, fh: &FileHandlingOptions) -> ListedFile {
    let abs = absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%S.000Z").to_string();
    let mut entry = FileEntry {
        path: abs.to_string_lossy().into_owned(),
        size: chk.len() as u64,
        time: now,
        chk: None,
        uid: None,
        gid: None,
        perm: None,
    };
    if fh.compute_file_stats {
        // The process's own ids are those of /proc/self; the mode is what
        // the usual umask (022) gives a new file.
        let ids = std::fs::metadata("/proc/self").ok();
        entry.uid = ids.as_ref().map(|m| m.uid().to_string());
        entry.gid = ids.as_ref().map(|m| m.gid().to_string());
        entry.perm = Some("0o100644".into());
    }
    ListedFile { abs, entry }
}

/// Builds the file list: the data file, its hash file (when saved) and the
/// done-writing message file (when given). With `write` false (a dry run)
/// the hash file is listed as it would be, but not written.
pub fn build(
    data_file: &Path,
    done_writing: Option<&Path>,
    fh: &FileHandlingOptions,
    write: bool,
) -> Result<Vec<ListedFile>> {
    let mut list = vec![entry_for(data_file, fh, true)?];
    if fh.save_file_hash {
        match list[0].entry.chk.clone() {
            None => log::warn!(
                "save_file_hash is on but compute_file_hash is off: no hash file is written"
            ),
            Some(chk) => {
                let dir = ingestor_dir(fh, data_file)?;
                let hash_path = hash_file_path(&dir, data_file, &fh.hash_file_extension);
                if write {
                    std::fs::create_dir_all(&dir).with_context(|| {
                        format!(
                            "cannot create the ingestor directory {} (ingestion.file_handling.ingestor_files_directory)",
                            dir.display()
                        )
                    })?;
                    // A re-run finds it written already: no new file.
                    if std::fs::read(&hash_path).ok().as_deref() != Some(chk.as_bytes()) {
                        write_atomic(&hash_path, &chk)?;
                    }
                    log::info!("saved the checksum to {}", hash_path.display());
                    list.push(entry_for(&hash_path, fh, false)?);
                } else {
                    list.push(planned_hash_entry(&hash_path, &chk, fh));
                }
            }
        }
    }
    if let Some(msg) = done_writing {
        list.push(entry_for(msg, fh, true)?);
    }
    Ok(list)
}

/// The `dataFileList` in the configured path form: `absolute`, or relative to
/// `source_folder`, which must contain every file.
pub fn data_file_list(
    files: &[ListedFile],
    file_path_type: FilePathType,
    source_folder: Option<&str>,
) -> Result<Vec<FileEntry>> {
    if file_path_type == FilePathType::Absolute {
        return Ok(files.iter().map(|f| f.entry.clone()).collect());
    }
    let Some(folder) = source_folder.filter(|s| !s.is_empty()) else {
        bail!(
            "file_path_type is \"relative\" but the dataset has no sourceFolder: \
             set one in the schema or use file_path_type \"absolute\""
        );
    };
    let folder = absolute(Path::new(folder))?;
    files
        .iter()
        .map(|f| {
            let rel = f.abs.strip_prefix(&folder).map_err(|_| {
                anyhow::anyhow!(
                    "{} is not inside the dataset sourceFolder {}: fix the schema's sourceFolder, \
                     move the ingestor directory under it, or use file_path_type \"absolute\"",
                    f.abs.display(),
                    folder.display()
                )
            })?;
            let mut e = f.entry.clone();
            e.path = rel.to_string_lossy().into_owned();
            Ok(e)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blake2b_matches_known_vectors() {
        let d = tempfile::tempdir().unwrap();
        let empty = d.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(
            blake2b_file(&empty).unwrap(),
            "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419\
             d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"
        );
        let abc = d.path().join("abc");
        std::fs::write(&abc, b"abc").unwrap();
        assert_eq!(
            blake2b_file(&abc).unwrap(),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
             7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
        // Several chunks, with a tail: same as hashing in memory.
        let big = d.path().join("big");
        let data: Vec<u8> = (0..(3 * CHUNK + 12345))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        std::fs::write(&big, &data).unwrap();
        let expect = blake2b_simd::Params::new()
            .hash_length(64)
            .hash(&data)
            .to_hex()
            .to_string();
        assert_eq!(blake2b_file(&big).unwrap(), expect);
        // Exactly one chunk.
        std::fs::write(&big, &data[..CHUNK]).unwrap();
        let expect = blake2b_simd::Params::new()
            .hash_length(64)
            .hash(&data[..CHUNK])
            .to_hex()
            .to_string();
        assert_eq!(blake2b_file(&big).unwrap(), expect);
    }

    #[test]
    fn the_digest_is_the_same_on_both_sides_of_the_inline_threshold() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        let max = INLINE_MAX as usize;
        let data: Vec<u8> = (0..max + CHUNK + 7).map(|i| (i * 17 % 253) as u8).collect();
        for len in [0, 1, INLINE_BUF + 1, max - 1, max, max + 1, max + CHUNK + 7] {
            std::fs::write(&f, &data[..len]).unwrap();
            let expect = blake2b_simd::Params::new()
                .hash_length(64)
                .hash(&data[..len])
                .to_hex()
                .to_string();
            assert_eq!(blake2b_file(&f).unwrap(), expect, "{len} bytes");
            assert_eq!(blake2b_file_inline(&f).unwrap(), expect, "{len} bytes");
            assert_eq!(blake2b_file_overlapped(&f).unwrap(), expect, "{len} bytes");
        }
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(
            normalize(Path::new("/a/raw/../ingestor/./x")),
            PathBuf::from("/a/ingestor/x")
        );
    }

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let raw = d.path().join("prop/raw");
        std::fs::create_dir_all(&raw).unwrap();
        let f = raw.join("run_1.hdf");
        std::fs::write(&f, b"data!").unwrap();
        (d, f)
    }

    #[test]
    fn list_has_data_file_hash_file_and_message() {
        let (d, f) = setup();
        let msg = f.with_file_name("run_1.done.json");
        std::fs::write(&msg, b"{}").unwrap();
        let fh = FileHandlingOptions::default();
        let list = build(&f, Some(&msg), &fh, true).unwrap();
        assert_eq!(list.len(), 3);
        let hash_path = d.path().join("prop/ingestor/run_1.b2b");
        assert_eq!(list[1].abs, hash_path);
        let chk = list[0].entry.chk.clone().unwrap();
        assert_eq!(std::fs::read_to_string(&hash_path).unwrap(), chk);
        assert_eq!(list[1].entry.chk, None);
        assert!(list[2].entry.chk.is_some());
        assert_eq!(list[0].entry.size, 5);
        assert!(list[0].entry.perm.as_deref().unwrap().starts_with("0o100"));
        assert!(list[0].entry.time.ends_with(".000Z"));
        let rel = data_file_list(
            &list,
            FilePathType::Relative,
            Some(d.path().join("prop").to_str().unwrap()),
        )
        .unwrap();
        let paths: Vec<&str> = rel.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["raw/run_1.hdf", "ingestor/run_1.b2b", "raw/run_1.done.json"]
        );
        let abs = data_file_list(&list, FilePathType::Absolute, None).unwrap();
        assert!(abs.iter().all(|e| e.path.starts_with('/')));
        let e = data_file_list(
            &list,
            FilePathType::Relative,
            Some(d.path().join("prop/raw").to_str().unwrap()),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not inside the dataset sourceFolder"), "{e}");
    }

    #[test]
    fn options_switch_stats_hash_and_hash_file_off() {
        let (d, f) = setup();
        let fh = FileHandlingOptions {
            compute_file_stats: false,
            compute_file_hash: false,
            save_file_hash: false,
            ..Default::default()
        };
        let list = build(&f, None, &fh, true).unwrap();
        assert_eq!(list.len(), 1);
        let e = &list[0].entry;
        assert!(e.chk.is_none() && e.uid.is_none() && e.perm.is_none());
        assert_eq!(e.size, 5);
        assert!(!d.path().join("prop/ingestor").exists());
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        // The rename fails: the target is a non-empty folder.
        let target = d.path().join("run.b2b");
        std::fs::create_dir_all(target.join("x")).unwrap();
        let e = write_atomic(&target, "abc").unwrap_err().to_string();
        assert!(e.contains("cannot write"), "{e}");
        let left: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["run.b2b"], "only the folder is left");
    }

    #[test]
    fn files_sharing_a_stem_get_their_own_hash_files() {
        let (d, f) = setup();
        let fh = FileHandlingOptions::default();
        // Alone: the usual <stem>.b2b.
        let alone = build(&f, None, &fh, true).unwrap();
        assert_eq!(alone[1].abs, d.path().join("prop/ingestor/run_1.b2b"));
        let other = f.with_file_name("run_1.nxs");
        std::fs::write(&other, b"other data").unwrap();
        let a = build(&f, None, &fh, true).unwrap();
        let b = build(&other, None, &fh, true).unwrap();
        assert_ne!(a[1].abs, b[1].abs);
        for l in [&a, &b] {
            assert_eq!(
                std::fs::read_to_string(&l[1].abs).unwrap(),
                l[0].entry.chk.clone().unwrap(),
                "{} holds its own file's checksum",
                l[1].abs.display()
            );
        }
    }

    #[test]
    fn a_dry_run_lists_the_hash_file_without_writing_it() {
        let (d, f) = setup();
        let list = build(&f, None, &FileHandlingOptions::default(), false).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].entry.size, 128);
        assert!(!d.path().join("prop/ingestor").exists());
    }
}

//! Reading files that someone else may have planted: a plugin component,
//! a compiled-code cache entry, the cache key. Only regular files of bounded
//! size are read, never by blocking on a FIFO or a device, and (where asked)
//! never through a symlink or from a file another user could have written.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// How strictly a file is checked before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Any owner and mode; symlinks followed (a plugin the operator names).
    Any,
    /// Owned by this user, not readable or writable by anyone else, not a
    /// symlink (cache entries and the cache key).
    Private,
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why `meta` (of `path`) may not be read under `trust`, if it may not.
pub fn refuse(meta: &Metadata, trust: Trust, max: u64) -> Option<String> {
    if !meta.file_type().is_file() {
        return Some("it is not a regular file".into());
    }
    if meta.len() > max {
        return Some(format!(
            "it has {} bytes, more than the {max} allowed",
            meta.len()
        ));
    }
    if trust == Trust::Private {
        if meta.uid() != euid() {
            return Some(format!(
                "it belongs to user {}, not to this user ({})",
                meta.uid(),
                euid()
            ));
        }
        if meta.mode() & 0o077 != 0 {
            return Some(format!(
                "its mode {:o} lets other users read or write it",
                meta.mode() & 0o777
            ));
        }
    }
    None
}

/// Opens `path` without blocking (a FIFO opens at once) and, for
/// [`Trust::Private`], without following a symlink.
pub fn open(path: &Path, trust: Trust) -> std::io::Result<File> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if trust == Trust::Private {
        flags |= libc::O_NOFOLLOW;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
}

/// The whole content of `path`, if it is a regular file of at most `max`
/// bytes that `trust` accepts. The size is checked on the open file, before
/// reading, and the read stops at `max` even if the file grows meanwhile.
pub fn read_bounded(path: &Path, trust: Trust, max: u64) -> anyhow::Result<Vec<u8>> {
    let f = open(path, trust).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            anyhow::anyhow!("it is a symbolic link")
        } else {
            anyhow::Error::from(e)
        }
    })?;
    let meta = f.metadata()?;
    if let Some(why) = refuse(&meta, trust, max) {
        anyhow::bail!("{why}");
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        anyhow::bail!("it grew past {max} bytes while being read");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_symlinks_and_big_files_are_refused_without_reading() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_bounded(&fifo, Trust::Any, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = read_bounded(Path::new("/dev/zero"), Trust::Any, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");

        let small = tmp.path().join("small");
        std::fs::write(&small, b"abc").unwrap();
        assert_eq!(read_bounded(&small, Trust::Any, 3).unwrap(), b"abc");
        let e = read_bounded(&small, Trust::Any, 2).unwrap_err();
        assert!(e.to_string().contains("more than the 2"), "{e}");

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&small, &link).unwrap();
        assert_eq!(read_bounded(&link, Trust::Any, 3).unwrap(), b"abc");
        let e = read_bounded(&link, Trust::Private, 3).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }
}

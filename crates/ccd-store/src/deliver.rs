//! Putting a stored output in place: by reflink where the filesystem can
//! share blocks copy-on-write, else by copy. The output is first written
//! under a temporary name in its directory and then renamed over the target,
//! so a reader (or a killed daemon) never leaves a half-written object, and
//! the new file has a fresh mtime, as if the compiler had just written it.
//!
//! Hard links are not used: a later in-place write to the output (a tool that
//! patches objects, or root ignoring permissions) would change the stored
//! copy too.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Reflink,
    Copy,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct DeliverError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Filesystems (by device) where reflink failed once: not tried again.
static NO_REFLINK: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes the blob at `blob` to `dest` with permission bits `mode`.
pub fn deliver(blob: &Path, dest: &Path, mode: u32) -> Result<Delivery, DeliverError> {
    let err = |source| DeliverError {
        path: dest.to_path_buf(),
        source,
    };
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = dest
        .file_name()
        .ok_or_else(|| err(io::ErrorKind::InvalidInput.into()))?;
    let tmp = dir.join(format!(
        ".{}.ccd-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let dev = fs::metadata(dir).map_err(err)?.dev();
    let result = write_tmp(blob, &tmp, dev, mode).and_then(|how| {
        fs::rename(&tmp, dest)?;
        Ok(how)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

fn write_tmp(blob: &Path, tmp: &Path, dev: u64, mode: u32) -> io::Result<Delivery> {
    let try_reflink = !lock().contains(&dev);
    let how = if try_reflink && reflink_copy::reflink(blob, tmp).is_ok() {
        Delivery::Reflink
    } else {
        if try_reflink {
            let _ = fs::remove_file(tmp);
            lock().push(dev);
        }
        fs::copy(blob, tmp)?;
        Delivery::Copy
    };
    fs::set_permissions(tmp, fs::Permissions::from_mode(mode))?;
    Ok(how)
}

fn lock() -> std::sync::MutexGuard<'static, Vec<u64>> {
    NO_REFLINK.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_fresh_private_copy() {
        let t = tempfile::tempdir().unwrap();
        let blob = t.path().join("blob");
        fs::write(&blob, b"object bytes").unwrap();
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o400)).unwrap();
        let dest = t.path().join("out.o");
        fs::write(&dest, b"stale").unwrap();
        deliver(&blob, &dest, 0o644).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"object bytes");
        assert_eq!(fs::metadata(&dest).unwrap().mode() & 0o777, 0o644);
        // Writing into the delivered file in place leaves the blob alone.
        fs::write(&dest, b"patched").unwrap();
        assert_eq!(fs::read(&blob).unwrap(), b"object bytes");
        // A missing directory is an error, and leaves no temp file behind.
        assert!(deliver(&blob, &t.path().join("nodir/out.o"), 0o644).is_err());
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 2);
    }
}

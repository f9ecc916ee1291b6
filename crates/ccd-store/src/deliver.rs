//! Putting a stored output in place: by reflink where the filesystem can
//! share blocks copy-on-write, else by an in-kernel copy. The output is
//! written under a temporary name in its directory and renamed over the
//! target, so no reader (and no killed daemon) ever leaves a half-written
//! object, and the new file has a fresh mtime, as if the compiler had just
//! written it. Six system calls on the common path: open, create, clone or
//! copy, close, close, rename.
//!
//! Hard links are not used: a later in-place write to the output (a tool
//! that patches objects, or root ignoring permissions) would change the
//! stored copy too, and a hard link would carry the stored file's old mtime.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

/// Set once the cache's filesystem has refused a reflink.
static NO_REFLINK: AtomicBool = AtomicBool::new(false);
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn pid() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Writes the blob at `blob` to `dest`, with permission bits `mode` (the
/// process umask applies; the daemon runs with umask 0).
pub fn deliver(blob: &Path, dest: &Path, mode: u32) -> Result<Delivery, DeliverError> {
    let err = |source| DeliverError {
        path: dest.to_path_buf(),
        source,
    };
    let name = dest
        .file_name()
        .ok_or_else(|| err(io::ErrorKind::InvalidInput.into()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".ccd-{}-{}",
        pid(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dest.with_file_name(tmp_name);
    let result = write_tmp(blob, &tmp, mode).and_then(|how| {
        replace(&tmp, dest)?;
        Ok(how)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Moves `tmp` to `dest`. The old `dest` is removed first: on ext4, a
/// rename over an existing file makes the kernel write the new file's data
/// out at once (its `auto_da_alloc` safeguard), which costs a few hundred
/// microseconds; a rename to a free name does not.
pub fn replace(tmp: &Path, dest: &Path) -> io::Result<()> {
    match fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        // A directory in the way: the rename reports it.
        Err(_) => {}
    }
    fs::rename(tmp, dest)
}

fn write_tmp(blob: &Path, tmp: &Path, mode: u32) -> io::Result<Delivery> {
    let src = File::open(blob)?;
    let out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    if !NO_REFLINK.load(Ordering::Relaxed) {
        match rustix::fs::ioctl_ficlone(&out, &src) {
            Ok(()) => return Ok(Delivery::Reflink),
            // Another filesystem than the cache's: try again next time.
            Err(rustix::io::Errno::XDEV) => {}
            Err(_) => NO_REFLINK.store(true, Ordering::Relaxed),
        }
    }
    loop {
        match rustix::fs::copy_file_range(&src, None, &out, None, 1 << 30) {
            Ok(0) => break,
            Ok(_) => {}
            // Filesystems without copy_file_range: plain read/write.
            Err(rustix::io::Errno::XDEV | rustix::io::Errno::NOSYS | rustix::io::Errno::INVAL) => {
                io::copy(&mut &src, &mut &out)?;
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Delivery::Copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn delivers_fresh_private_copy() {
        let t = tempfile::tempdir().unwrap();
        let blob = t.path().join("blob");
        fs::write(&blob, b"object bytes").unwrap();
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o400)).unwrap();
        let dest = t.path().join("out.o");
        fs::write(&dest, b"stale").unwrap();
        deliver(&blob, &dest, 0o640).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"object bytes");
        // The test process's umask (usually 022) applies on top.
        assert_eq!(fs::metadata(&dest).unwrap().mode() & 0o700, 0o600);
        // Writing into the delivered file in place leaves the blob alone.
        fs::write(&dest, b"patched").unwrap();
        assert_eq!(fs::read(&blob).unwrap(), b"object bytes");
        // A missing directory is an error, and leaves no temp file behind.
        assert!(deliver(&blob, &t.path().join("nodir/out.o"), 0o644).is_err());
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 2);
    }
}

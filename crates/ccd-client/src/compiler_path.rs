//! Finding the real compiler: the first executable of that name in PATH
//! that is not ccd itself (masquerade symlinks point at ccd).

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The first executable file named `name` in `PATH` that is not this binary.
pub fn find_in_path(name: &OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let me = std::fs::metadata("/proc/self/exe").ok();
    std::env::split_paths(&path).find_map(|dir| {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let cand = dir.join(name);
        let m = std::fs::metadata(&cand).ok()?;
        if !m.is_file() || m.permissions().mode() & 0o111 == 0 {
            return None;
        }
        if me
            .as_ref()
            .is_some_and(|me| me.dev() == m.dev() && me.ino() == m.ino())
        {
            return None;
        }
        Some(std::path::absolute(&cand).unwrap_or(cand))
    })
}

/// Whether `path` is this very binary (a symlink or hard link to it).
pub fn is_self(path: &Path) -> bool {
    match (std::fs::metadata("/proc/self/exe"), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

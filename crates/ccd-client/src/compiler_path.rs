//! Finding the real compiler: the first executable of that name in PATH
//! that is not ccd itself (masquerade symlinks point at ccd).

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Executable files named `name` in the directories of `PATH`, in order,
/// with their metadata.
fn candidates(name: &OsStr) -> impl Iterator<Item = (PathBuf, std::fs::Metadata)> + '_ {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .collect::<Vec<_>>()
        .into_iter()
        .filter_map(move |dir| {
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            let cand = dir.join(name);
            let m = std::fs::metadata(&cand).ok()?;
            (m.is_file() && m.permissions().mode() & 0o111 != 0)
                .then(|| (std::path::absolute(&cand).unwrap_or(cand), m))
        })
}

/// The first executable file named `name` in `PATH` that is not this binary.
pub fn find_in_path(name: &OsStr) -> Option<PathBuf> {
    let me = std::fs::metadata("/proc/self/exe").ok();
    candidates(name)
        .find(|(_, m)| {
            !me.as_ref()
                .is_some_and(|me| me.dev() == m.dev() && me.ino() == m.ino())
        })
        .map(|(p, _)| p)
}

/// The first executable file named `name` in `PATH`, whatever it is (what
/// a program that searches PATH for itself would find).
pub fn first_in_path(name: &OsStr) -> Option<PathBuf> {
    candidates(name).next().map(|(p, _)| p)
}

/// Whether `path` is this very binary (a symlink or hard link to it).
pub fn is_self(path: &Path) -> bool {
    match (std::fs::metadata("/proc/self/exe"), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

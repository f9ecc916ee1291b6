//! rustc's identity.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use ccd_filestate::{Digest, stat};

use super::super::ask::{Asked, IdentifyError};
use super::super::request::Req;
use crate::compiler::{Compiler, CompilerKind, Stamps};

/// rustc's identity: its `-vV` (version, commit, host, LLVM), its sysroot,
/// and every library in the sysroot (name, size, mtime), so a toolchain
/// update or a new target changes it.
pub fn probe(req: &Req) -> Result<(Stamps, Compiler), IdentifyError> {
    let path = req.compiler.as_path();
    let unreadable = |e| IdentifyError::Unreadable(path.to_path_buf(), e);
    let before = stat(path).map_err(unreadable)?;
    let not_rustc = || IdentifyError::Unrecognised(path.to_path_buf());
    let version = Asked::spawn(req, path, &["-vV"])
        .stdout()
        .ok_or_else(not_rustc)?;
    if !version.starts_with(b"rustc ") {
        return Err(not_rustc());
    }
    let sysroot = Asked::spawn(req, path, &["--print", "sysroot"])
        .stdout()
        .ok_or_else(not_rustc)?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(sysroot.trim_ascii()).into_owned());
    let mut h = blake3::Hasher::new();
    h.update(b"ccd-rustc-v1\0");
    h.update(&version);
    h.update(sysroot.as_os_str().as_bytes());
    let mut stamps = vec![(path.to_path_buf(), before)];
    let lib = sysroot.join("lib");
    let mut dirs = vec![lib.clone()];
    if let Ok(targets) = std::fs::read_dir(lib.join("rustlib")) {
        dirs.extend(targets.flatten().map(|t| t.path().join("lib")));
    }
    for dir in dirs {
        let Ok(s) = stat(&dir) else { continue };
        stamps.push((dir.clone(), s));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name(), stat(&e.path()).ok()?)))
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, s) in files {
            h.update(name.as_bytes());
            h.update(&s.size.to_le_bytes());
            h.update(&s.mtime_ns.to_le_bytes());
        }
    }
    let compiler = Compiler {
        path: path.to_path_buf(),
        kind: CompilerKind::Rustc,
        digest: Digest(*h.finalize().as_bytes()),
        honors_source_date_epoch: false,
    };
    Ok((stamps, compiler))
}

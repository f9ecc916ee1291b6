//! Phase: the compiler's default include directories for a language and the
//! options that change them (`--sysroot`, `-nostdinc`, `-m32`, ...), asked
//! from the compiler once and remembered.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use ccd_cc::Invocation;
use ccd_filestate::Digest;

use super::super::request::Req;
use crate::compiler::Compiler;
use crate::daemon::Daemon;
use crate::lock::lock;

/// `None` when the compiler would not say: the caller must then not rely on
/// knowing where headers could appear.
pub fn discover(
    d: &Daemon,
    compiler: &Compiler,
    inv: &Invocation,
    req: &Req,
) -> Option<Arc<Vec<Vec<u8>>>> {
    let mut h = blake3::Hasher::new();
    h.update(&compiler.digest.0);
    h.update(inv.language.probe_name().as_bytes());
    for a in &inv.search.system_affecting {
        h.update(&(a.len() as u64).to_le_bytes());
        h.update(a);
    }
    let key = Digest(*h.finalize().as_bytes());
    if let Some(dirs) = lock(&d.memo.system_dirs).get(&key) {
        return Some(Arc::clone(dirs));
    }
    let out = req
        .command(&compiler.path)
        .args(
            inv.search
                .system_affecting
                .iter()
                .map(|a| OsStr::from_bytes(a)),
        )
        .args(["-x", inv.language.probe_name(), "-E", "-v", "/dev/null"])
        .env("LC_ALL", "C")
        .env_remove("CPATH")
        .output();
    let dirs = match out {
        Ok(o) if o.status.success() => ccd_cc::system_dirs::parse_verbose_output(&o.stderr),
        Ok(_) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask the compiler for its include directories");
            return None;
        }
    };
    let nostdinc = inv
        .search
        .system_affecting
        .iter()
        .any(|a| a.starts_with(b"-nostdinc"));
    if dirs.is_empty() && !nostdinc {
        return None;
    }
    let dirs = Arc::new(dirs);
    lock(&d.memo.system_dirs).insert(key, Arc::clone(&dirs));
    Some(dirs)
}

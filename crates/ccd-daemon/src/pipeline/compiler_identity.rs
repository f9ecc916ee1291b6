//! Phase: who is the compiler? Its frontend probes it (which family, and a
//! digest of what makes it produce what it does: a wrapper script that adds
//! a flag is a different compiler, whatever `--version` says). The answer
//! is remembered until one of the files it was computed from changes, in
//! memory and in the store (a restarted daemon need not probe again).

use std::os::unix::ffi::OsStrExt;

use std::sync::Arc;

use ccd_filestate::{Digest, stat};

use super::ask::IdentifyError;
use super::frontend::Frontend;
use super::request::Req;
use crate::compiler::{Compiler, Stamps};
use crate::daemon::Daemon;
use crate::lock::lock;

pub fn identify<F: Frontend>(d: &Daemon, req: &Req, f: &F) -> Result<Arc<Compiler>, IdentifyError> {
    let path = &req.compiler;
    if let Some(c) = d.memo.compiler(path) {
        return Ok(c);
    }
    let _probing = lock(&d.memo.probing);
    // Probed by another request while this one waited.
    if let Some(c) = d.memo.compiler(path) {
        return Ok(c);
    }
    // A restarted daemon finds what an earlier one learned on disk.
    let record_key = Digest(
        *blake3::Hasher::new()
            .update(b"ccd-compiler-record-v2\0")
            .update(path.as_os_str().as_bytes())
            .finalize()
            .as_bytes(),
    );
    let stored: Option<(Stamps, Compiler)> = d.store.get_compiler(&record_key);
    let (stamps, compiler) = match stored {
        Some((stamps, c))
            if c.path == *path && stamps.iter().all(|(p, s)| stat(p).ok().as_ref() == Some(s)) =>
        {
            (stamps, c)
        }
        _ => {
            let (stamps, c) = f.probe(req)?;
            let _ = d.store.put_compiler(&record_key, &(&stamps, &c));
            (stamps, c)
        }
    };
    let compiler = Arc::new(compiler);
    d.memo.remember_compiler(stamps, Arc::clone(&compiler));
    Ok(compiler)
}

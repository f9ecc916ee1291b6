//! rustc's compile context: the key (compiler, arguments, working
//! directory, the cargo variables that reach the crate) and the files the
//! invocation writes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use ccd_filestate::Digest;
use ccd_rustc::RustInvocation;

use super::super::compiler_identity::Compiler;
use super::super::context::{Context, KeyHasher};
use super::super::request::Req;
use crate::state::Daemon;

pub fn build(
    d: &Daemon,
    compiler: Arc<Compiler>,
    inv: &RustInvocation,
    req: &Req,
) -> Result<Context, &'static str> {
    let mut h = KeyHasher::new("ccd-rustc-context-v1");
    h.field(&compiler.digest.0)
        .field(req.cwd.as_os_str().as_bytes());
    for a in &inv.key_args {
        h.field(a);
    }
    for (k, v) in req.keyed_env_rustc() {
        h.field(k).field(v);
    }
    if inv.is_linked() {
        // The linker's identity by content: a linked crate is its output.
        let linker = linker_path(inv, req).ok_or("rustc: linker not found")?;
        let digest = d
            .files
            .digest(&linker)
            .map_err(|_| "rustc: linker unreadable")?
            .digest;
        h.field(b"linker").field(&digest.0);
    }
    let key = h.finish();
    let local_key = KeyHasher::new("ccd-local-v1")
        .field(&key.0)
        .field(req.cwd.as_os_str().as_bytes())
        .finish();
    let outputs: Vec<(String, PathBuf)> = inv
        .outputs()
        .into_iter()
        .map(|(role, p)| (role, req.abs(&p)))
        .collect();
    let output = outputs
        .first()
        .map(|(_, p)| p.clone())
        .ok_or("rustc: no outputs")?;
    Ok(Context {
        key,
        key_root: req.cwd.clone(),
        root: None,
        local_key,
        compiler,
        source: req.abs(&inv.source),
        output,
        outputs,
        user_depfile: None,
        depfile_render: None,
        date_tag: "fixed".into(),
        tty: req.stderr_tty.map(|t| t.columns),
        targets_key: Digest([0; 32]),
        fixed_time: true,
    })
}

/// The linker rustc will run: `-C linker=...`, else `cc` from PATH.
pub fn linker_path(inv: &RustInvocation, req: &Req) -> Option<PathBuf> {
    let name = inv.linker.clone().unwrap_or_else(|| b"cc".to_vec());
    if name.contains(&b'/') {
        return Some(req.abs(&name));
    }
    let path = req.env("PATH")?;
    path.split(|b| *b == b':').find_map(|dir| {
        let p = PathBuf::from(OsStr::from_bytes(dir)).join(OsStr::from_bytes(&name));
        p.is_file().then_some(p)
    })
}

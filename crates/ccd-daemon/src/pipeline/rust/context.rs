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
use super::super::context::{Context, KeyHasher, local_key};
use super::super::request::Req;
use super::super::worktree::Remap;
use crate::state::Daemon;

pub fn build(
    d: &Daemon,
    compiler: Arc<Compiler>,
    inv: &RustInvocation,
    req: &Req,
    remap: &Remap,
) -> Result<Context, &'static str> {
    let root = match remap {
        Remap::Active(r) => Some(r.clone()),
        _ => None,
    };
    // Under path remapping the checkout root is a mark in the key.
    let k = |b: &[u8]| match &root {
        Some(r) => r.arg_to_key(b),
        None => b.to_vec(),
    };
    let mut h = KeyHasher::new("ccd-rustc-context-v1");
    h.field(&compiler.digest.0)
        .field(&k(req.cwd.as_os_str().as_bytes()));
    for a in &inv.key_args {
        h.field(&k(a));
    }
    for (name, v) in req.keyed_env_rustc() {
        h.field(name).field(&k(v));
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
    let key_root = root
        .as_ref()
        .map_or_else(|| req.cwd.clone(), |r| r.root.clone());
    let local_key = local_key(&key, &key_root);
    let mut outputs: Vec<(String, PathBuf)> = inv
        .outputs()
        .into_iter()
        .map(|(role, p)| (role, req.abs(&p)))
        .collect();
    // The dep-info names the outputs by absolute path: across checkouts it
    // is replayed as text with this checkout's root put back.
    let user_depfile = match root {
        Some(_) => outputs
            .iter()
            .position(|(role, _)| role == "dep-info")
            .map(|i| outputs.remove(i).1),
        None => None,
    };
    let output = outputs
        .first()
        .map(|(_, p)| p.clone())
        .ok_or("rustc: no outputs")?;
    Ok(Context {
        key,
        key_root,
        root,
        local_key,
        compiler,
        source: req.abs(&inv.source),
        output,
        outputs,
        user_depfile,
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

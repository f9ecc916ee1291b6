//! rustc's compile context: the key (compiler, arguments, working
//! directory, the cargo variables that reach the crate, and for a linked
//! crate the linker by content) and the files the invocation writes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use ccd_filestate::Digest;
use ccd_rustc::{CrateType, EmitKind, RustInvocation, RustOutput};
use ccd_store::OutputRole;

use super::super::context::{Context, KeyHasher, local_key};
use super::super::request::Req;
use super::super::worktree::Remap;
use crate::compiler::Compiler;
use crate::daemon::Daemon;
use crate::outcome::PassReason;

pub fn build(
    d: &Daemon,
    compiler: Arc<Compiler>,
    inv: &RustInvocation,
    req: &Req,
    remap: &Remap,
) -> Result<Context, PassReason> {
    let root = remap.active().cloned();
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
    for (name, v) in keyed_env(req) {
        h.field(name).field(&k(v));
    }
    if inv.is_linked() {
        // The linker's identity by content: a linked crate is its output.
        let linker = linker_path(inv, req).ok_or(PassReason::LinkerNotFound)?;
        let digest = d
            .files
            .digest(&linker)
            .map_err(|_| PassReason::LinkerUnreadable)?
            .digest;
        h.field(b"linker").field(&digest.0);
    }
    let key = h.finish();
    let key_root = root
        .as_ref()
        .map_or_else(|| req.cwd.clone(), |r| r.root.clone());
    let local_key = local_key(&key, &key_root);
    let mut outputs: Vec<(OutputRole, PathBuf)> = inv
        .outputs()
        .into_iter()
        .map(|(out, p)| (role(out), req.abs(&p)))
        .collect();
    // The dep-info names the outputs by absolute path: across checkouts it
    // is replayed as text with this checkout's root put back.
    let user_depfile = match root {
        Some(_) => outputs
            .iter()
            .position(|(role, _)| *role == OutputRole::DepInfo)
            .map(|i| outputs.remove(i).1),
        None => None,
    };
    Ok(Context {
        key,
        key_root,
        root,
        crosses_checkouts: true,
        local_key,
        compiler,
        source: req.abs(&inv.source),
        outputs,
        user_depfile,
        depfile_render: None,
        date_tag: "fixed".into(),
        tty: req.stderr_tty.map(|t| t.columns),
        targets_key: Digest([0; 32]),
        fixed_time: true,
    })
}

/// The variables that take part in a rustc key: what cargo tells the
/// crate (`CARGO_*`, `OUT_DIR`) and what unlocks unstable features;
/// everything else the crate reads is in its dep-info. The jobserver
/// (`CARGO_MAKEFLAGS`) changes every build and changes nothing.
fn keyed_env(req: &Req) -> impl Iterator<Item = (&[u8], &[u8])> {
    req.env
        .iter()
        .filter(|(k, _)| {
            (k.starts_with(b"CARGO_") && k.as_slice() != b"CARGO_MAKEFLAGS")
                || k.as_slice() == b"CARGO"
                || k.as_slice() == b"OUT_DIR"
                || k.as_slice() == b"RUSTC_BOOTSTRAP"
        })
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
}

fn role(out: RustOutput) -> OutputRole {
    match out {
        RustOutput::Crate(CrateType::Lib | CrateType::Rlib) => OutputRole::Rlib,
        RustOutput::Crate(CrateType::Staticlib) => OutputRole::Staticlib,
        RustOutput::Crate(CrateType::ProcMacro) => OutputRole::ProcMacro,
        RustOutput::Crate(CrateType::Cdylib) => OutputRole::Cdylib,
        RustOutput::Crate(CrateType::Bin) => OutputRole::Bin,
        RustOutput::Emitted(kind) => match kind {
            EmitKind::Metadata => OutputRole::Metadata,
            EmitKind::DepInfo => OutputRole::DepInfo,
            EmitKind::Obj => OutputRole::Obj,
            EmitKind::Asm => OutputRole::Asm,
            EmitKind::LlvmIr => OutputRole::LlvmIr,
            EmitKind::LlvmBc => OutputRole::LlvmBc,
            EmitKind::Mir => OutputRole::Mir,
            // `--emit=link` is the crate itself.
            EmitKind::Link => OutputRole::Rlib,
        },
    }
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

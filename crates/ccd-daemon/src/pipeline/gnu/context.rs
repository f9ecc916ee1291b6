//! The compile context of a GNU-style C/C++ compile: the key holds the
//! compiler, the working directory, the source path, language and mode,
//! the arguments that change the output, the dependency-file options, the
//! environment the client sends, and (for split DWARF and coverage) the
//! output path, which ends up inside the outputs.

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use ccd_cc::{DepKind, Family, Invocation, SideOutput, depfile};
use ccd_store::OutputRole;

use super::super::context::{Context, DepRender, KeyHasher, date_tag, local_key};
use super::super::request::Req;
use super::super::worktree::Remap;
use crate::compiler::{Compiler, CompilerKind};

pub fn build(compiler: Arc<Compiler>, inv: &Invocation, req: &Req, remap: &Remap) -> Context {
    let root = remap.active().cloned();
    // Under path remapping, the checkout root is replaced by a mark in
    // everything that is keyed.
    let k = |b: &[u8]| match &root {
        Some(r) => r.arg_to_key(b),
        None => b.to_vec(),
    };
    let family = family(&compiler);
    let mut h = KeyHasher::new("ccd-context-v1");
    h.field(&compiler.digest.0)
        .field(&k(req.cwd.as_os_str().as_bytes()))
        .field(&k(&inv.source))
        .field(format!("{}/{}", inv.language.key_tag(), inv.mode.key_tag()).as_bytes());
    h.field(&(inv.key_args.len() as u64).to_le_bytes());
    for a in &inv.key_args {
        h.field(&k(a));
    }
    h.field(
        format!(
            "deps:{}/{}",
            DepKind::key_tag(inv.deps.kind),
            inv.deps.phony
        )
        .as_bytes(),
    );
    if inv.output_path_is_recorded() {
        h.field(&k(&inv.output_path()));
    }
    for (name, v) in req.keyed_env() {
        h.field(name).field(&k(v));
    }
    // A precompiled header embeds absolute paths no prefix map removes:
    // its results never cross checkouts (zccache issues #474, #489).
    let crosses_checkouts = !inv.uses_or_makes_pch();
    if root.is_some() && !crosses_checkouts {
        h.field(b"pch-checkout")
            .field(req.cwd.as_os_str().as_bytes());
    }
    let key = h.finish();
    let key_root = root
        .as_ref()
        .map_or_else(|| req.cwd.clone(), |r| r.root.clone());
    let local_key = local_key(&key, &key_root);

    let mut t = KeyHasher::new("ccd-depfile-targets-v1");
    let targets = depfile::targets_for(family, inv);
    for target in &targets {
        t.field(&k(target));
    }
    let fixed_time = req.env("SOURCE_DATE_EPOCH").is_some() && compiler.honors_source_date_epoch;
    let side = inv
        .side_output_paths()
        .into_iter()
        .map(|(side, p)| (role(side), req.abs(&p)));
    Context {
        key,
        key_root,
        root,
        crosses_checkouts,
        local_key,
        source: req.abs(&inv.source),
        outputs: std::iter::once((OutputRole::Object, req.abs(&inv.output_path())))
            .chain(side)
            .collect(),
        user_depfile: inv.user_depfile_path().map(|p| req.abs(&p)),
        depfile_render: Some(DepRender {
            family,
            targets,
            phony: inv.deps.phony,
        }),
        date_tag: date_tag(fixed_time),
        tty: req.stderr_tty.map(|t| t.columns),
        targets_key: t.finish(),
        fixed_time,
        compiler,
    }
}

/// The family of a GNU-style compiler (its frontend only ever sees those).
pub fn family(c: &Compiler) -> Family {
    match c.kind {
        CompilerKind::Gnu(f) => f,
        // Unreachable in practice: rustc has its own frontend. gcc's
        // conventions are the safe default for depfiles.
        CompilerKind::Rustc => Family::Gcc,
    }
}

fn role(side: SideOutput) -> OutputRole {
    match side {
        SideOutput::SplitDwarf => OutputRole::SplitDwarf,
        SideOutput::Coverage => OutputRole::Coverage,
        SideOutput::StackUsage => OutputRole::StackUsage,
    }
}

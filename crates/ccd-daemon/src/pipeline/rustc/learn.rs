//! What a rustc compile read: the files of its dep-info (sources,
//! `include!`d files), the `--extern` crates, native libraries found in
//! `-L` directories, a JSON target specification, and for linked crates
//! the linker. The `env!` variables of its dep-info become conditions of
//! the entry. A module file `m.rs` could be shadowed by `m/mod.rs` (and the
//! other way round): those alternatives are recorded as paths that must
//! stay absent.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ccd_depgraph::{Input, ProbeSet};
use ccd_filestate::Digest;
use ccd_rustc::{RustInvocation, parse_dep_info};
use ccd_store::{OutputRole, StoredDepfile};

use super::super::context::Context;
use super::super::miss::{DepSource, Plan, watch_dirs};
use super::super::request::Req;
use super::super::store::Learned;
use super::context::linker_path;
use crate::daemon::Daemon;
use crate::outcome::NotStored;

/// The dep-info, read before the client is answered (cargo reads and
/// rewrites what rustc wrote once rustc returns).
pub struct Captured {
    dep_info: Vec<u8>,
}

pub fn plan(d: &Daemon, ctx: &Context, inv: &RustInvocation, req: &Req, source: Digest) -> Plan {
    let extra_args: Vec<Vec<u8>> = ctx.root.iter().filter_map(|r| r.inject.clone()).collect();
    // The invocation emits its dep-info (the parser refuses one that does
    // not): among the outputs, or apart from them under path remapping.
    let dep_info = ctx
        .outputs
        .iter()
        .find(|(role, _)| *role == OutputRole::DepInfo)
        .map(|(_, p)| p)
        .or(ctx.user_depfile.as_ref());
    let deps = match dep_info {
        Some(p) => DepSource::User(p.clone()),
        None => DepSource::SourceOnly,
    };
    // The crates it links against are hashed before it starts: for them,
    // "unchanged during the compile" is decided by content (cargo starts a
    // crate's compile milliseconds after its dependency was written).
    let externs = inv.extern_paths.iter().filter_map(|e| {
        let p = req.abs(e);
        let digest = d.files.digest(&p).ok()?.digest;
        Some((p, digest))
    });
    let watched = watch_dirs(
        d,
        ctx.source.parent().into_iter().chain([req.cwd.as_path()]),
    );
    Plan::new(ctx, source, deps, extra_args, externs.collect(), watched)
}

pub fn capture(ctx: &Context, plan: &Plan) -> Result<Captured, NotStored> {
    let DepSource::User(path) = &plan.deps else {
        return Err(NotStored::NoDependencyFile);
    };
    let dep_info = std::fs::read(path).map_err(|_| NotStored::NoDependencyFile)?;
    if ctx.root.is_some() && dep_info.contains(&0) {
        return Err(NotStored::DependencyFileHoldsNul);
    }
    Ok(Captured { dep_info })
}

pub fn learn(
    d: &Daemon,
    ctx: &Context,
    inv: &RustInvocation,
    req: &Req,
    plan: &Plan,
    captured: Captured,
) -> Result<Learned, NotStored> {
    let info = parse_dep_info(&captured.dep_info).ok_or(NotStored::UnreadableDependencyFile)?;

    // Every file the crate depends on, absolute, the source first.
    let mut paths: Vec<PathBuf> = vec![ctx.source.clone()];
    let mut add = |p: PathBuf| {
        if !paths.contains(&p) {
            paths.push(p);
        }
    };
    for f in &info.files {
        add(req.abs(f));
    }
    for e in &inv.extern_paths {
        add(req.abs(e));
    }
    for lib in &inv.native_libs {
        if let Some(p) = find_native(inv, req, lib) {
            add(p);
        }
    }
    if let Some(spec) = &inv.target_spec {
        add(req.abs(spec));
    }
    if inv.is_linked() {
        add(linker_path(inv, req).ok_or(NotStored::LinkerNotFound)?);
    }

    let mut inputs = Vec::with_capacity(paths.len());
    for p in &paths {
        let hashed = d.files.digest(p).map_err(|_| NotStored::InputVanished)?;
        if plan.maybe_modified_during(d, p, hashed.digest, hashed.stamp.changed_ns()) {
            return Err(NotStored::InputChangedDuringCompile);
        }
        inputs.push(Input {
            path: p.as_os_str().as_bytes().to_vec(),
            digest: hashed.digest,
        });
    }
    if inputs[0].digest != plan.source_digest {
        return Err(NotStored::SourceChangedDuringCompile);
    }

    let mut probes = ProbeSet::new();
    for p in &paths {
        if let Some(alt) = module_alternative(p) {
            probes.observe(alt.as_os_str().as_bytes());
        }
    }
    if probes.unreliable {
        return Err(NotStored::ModulePathUnexaminable);
    }
    // Across checkouts the dep-info is replayed as text, with this
    // checkout's root put back (it names the outputs by absolute path).
    let depfile = match (&ctx.root, &ctx.user_depfile) {
        (Some(r), Some(_)) => Some(StoredDepfile::Verbatim {
            bytes: r.arg_to_key(&captured.dep_info),
            targets_key: ctx.targets_key,
        }),
        _ => None,
    };
    let env = info
        .env
        .into_iter()
        .map(|(k, v)| {
            (
                serde_bytes::ByteBuf::from(k),
                v.map(serde_bytes::ByteBuf::from),
            )
        })
        .collect();
    Ok(Learned {
        inputs,
        probes: probes.finish(plan.started_ns),
        env,
        depfile,
        ..Learned::default()
    })
}

/// `lib<name>.a` / `.so` in the `-L native=`/`-L all=` directories.
fn find_native(inv: &RustInvocation, req: &Req, name: &[u8]) -> Option<PathBuf> {
    inv.native_dirs.iter().find_map(|dir| {
        let dir = req.abs(dir);
        [".a", ".so"].iter().find_map(|ext| {
            let file = [&b"lib"[..], name, ext.as_bytes()].concat();
            let p = dir.join(OsStr::from_bytes(&file));
            p.is_file().then_some(p)
        })
    })
}

/// The other file a module could live in: `m.rs` <-> `m/mod.rs`.
fn module_alternative(p: &Path) -> Option<PathBuf> {
    if p.extension()? != "rs" {
        return None;
    }
    let dir = p.parent()?;
    if p.file_name()? == "mod.rs" {
        let module = dir.file_name()?;
        let mut name = module.to_os_string();
        name.push(".rs");
        Some(dir.parent()?.join(name))
    } else {
        Some(dir.join(p.file_stem()?).join("mod.rs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_alternatives() {
        assert_eq!(
            module_alternative(Path::new("/p/src/net.rs")),
            Some(PathBuf::from("/p/src/net/mod.rs"))
        );
        assert_eq!(
            module_alternative(Path::new("/p/src/net/mod.rs")),
            Some(PathBuf::from("/p/src/net.rs"))
        );
        assert_eq!(module_alternative(Path::new("/p/build/gen.h")), None);
    }
}

//! After a rustc compile: learn its inputs and store the result.
//!
//! Inputs: the files of its dep-info (sources, `include!`d files), the
//! `--extern` crates, native libraries found in `-L` directories, a JSON
//! target specification, and for linked crates the linker. The `env!`
//! variables of its dep-info become conditions of the entry. A module file
//! `m.rs` could be shadowed by `m/mod.rs` (and the other way round): those
//! alternatives are recorded as paths that must stay absent.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ccd_depgraph::{Input, ManifestEntry, ProbeSet, StderrFor};
use ccd_filestate::{Digest, now_ns, stat};
use ccd_protocol::CompileOutput;
use ccd_rustc::{RustInvocation, parse_dep_info};
use ccd_store::StoredResult;

use super::super::compile_exec::{DepSource, Plan, watch_dirs};
use super::super::context::Context;
use super::super::request::Req;
use super::super::store_outcome::{Skip, result_key, store_outputs};
use super::context::linker_path;
use crate::state::Daemon;

pub fn plan(
    d: &Daemon,
    ctx: &Context,
    inv: &RustInvocation,
    req: &Req,
    source_digest: Digest,
) -> Plan {
    let mut extra_args: Vec<Vec<u8>> = ctx.root.iter().filter_map(|r| r.inject.clone()).collect();
    let user = ctx
        .outputs
        .iter()
        .find(|(role, _)| role == "dep-info")
        .map(|(_, p)| p)
        .or(ctx.user_depfile.as_ref());
    let deps = match user {
        Some(p) => DepSource::User(p.clone()),
        None => {
            // A private dep-info: an extra --emit does not change the other
            // outputs.
            let p = d.temp_path(".d");
            extra_args.push([&b"--emit=dep-info="[..], p.as_os_str().as_bytes()].concat());
            DepSource::Private(p)
        }
    };
    let mut known_before = vec![(ctx.source.clone(), source_digest)];
    for e in &inv.extern_paths {
        let p = req.abs(e);
        if let Ok(h) = d.files.digest(&p) {
            known_before.push((p, h.digest));
        }
    }
    Plan {
        extra_args,
        deps,
        outputs_before: ctx.outputs.iter().map(|(_, p)| stat(p).ok()).collect(),
        started_ns: now_ns(),
        started: std::time::Instant::now(),
        source_digest,
        known_before,
        watched: watch_dirs(
            d,
            ctx.source.parent().into_iter().chain([req.cwd.as_path()]),
        ),
    }
}

pub fn store(
    d: &Daemon,
    ctx: &Context,
    inv: &RustInvocation,
    req: &Req,
    plan: &Plan,
    out: &CompileOutput,
    compile_ms: u64,
) -> Result<ManifestEntry, Skip> {
    let dep_info_path = match &plan.deps {
        DepSource::User(p) | DepSource::Private(p) => p,
        _ => return Err("no dep-info"),
    };
    let bytes = std::fs::read(dep_info_path).map_err(|_| "no dep-info")?;
    let info = parse_dep_info(&bytes).ok_or("unreadable dep-info")?;

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
        add(linker_path(inv, req).ok_or("linker not found")?);
    }

    let mut inputs = Vec::with_capacity(paths.len());
    for p in &paths {
        let hashed = d.files.digest(p).map_err(|_| "an input vanished")?;
        if plan.maybe_modified_during(d, p, hashed.digest, hashed.stamp.changed_ns()) {
            return Err("an input changed during the compile");
        }
        inputs.push(Input {
            path: p.as_os_str().as_bytes().to_vec(),
            digest: hashed.digest,
        });
    }
    if inputs[0].digest != plan.source_digest {
        return Err("the source changed during the compile");
    }

    let mut probes = ProbeSet::new();
    for p in &paths {
        if let Some(alt) = module_alternative(p) {
            probes.observe(alt.as_os_str().as_bytes());
        }
    }
    if probes.unreliable {
        return Err("a module path could not be examined");
    }

    let outputs = store_outputs(d, ctx, plan)?;
    let (stdout, stderr, depfile) = match &ctx.root {
        None => (out.stdout.to_vec(), out.stderr.to_vec(), None),
        Some(r) => {
            // Another checkout gets this result: its own root goes where
            // this one's is (a NUL byte marks it; real output has none).
            if out.stdout.contains(&0) || out.stderr.contains(&0) || bytes.contains(&0) {
                return Err("compiler output contains NUL bytes");
            }
            let root = r.root.as_os_str().as_bytes();
            for (_, p) in &ctx.outputs {
                if std::fs::read(p).is_ok_and(|b| memchr::memmem::find(&b, root).is_some()) {
                    return Err("an output names the checkout path");
                }
            }
            let depfile = ctx
                .user_depfile
                .as_ref()
                .map(|_| ccd_store::StoredDepfile::Verbatim {
                    bytes: r.arg_to_key(&bytes),
                    targets_key: ctx.targets_key,
                });
            (
                r.arg_to_key(&out.stdout),
                r.arg_to_key(&out.stderr),
                depfile,
            )
        }
    };
    let stderr_for = StderrFor::for_result(out.stderr.is_empty(), ctx.tty);
    let env: Vec<_> = info
        .env
        .iter()
        .map(|(k, v)| {
            (
                serde_bytes::ByteBuf::from(k.clone()),
                v.clone().map(serde_bytes::ByteBuf::from),
            )
        })
        .collect();
    let key = {
        let mut h = blake3::Hasher::new();
        let keyed = super::super::worktree::keyed_inputs(ctx.root.as_ref(), &inputs);
        h.update(&result_key(ctx, &keyed, None, stderr_for).0);
        for (k, v) in &info.env {
            h.update(&(k.len() as u64).to_le_bytes());
            h.update(k);
            h.update(format!("{:?}", v.as_ref().map(|v| v.len())).as_bytes());
            h.update(v.as_deref().unwrap_or_default());
        }
        Digest(*h.finalize().as_bytes())
    };
    let result = StoredResult {
        outputs,
        depfile,
        stdout,
        stderr,
        compile_ms,
        exit_code: out.exit_code,
    };
    d.store
        .put_result(&key, &result)
        .map_err(|_| "cannot write to the cache")?;
    let entry = ManifestEntry {
        inputs,
        probes: probes.finish(plan.started_ns),
        date: None,
        stderr_for,
        mtimes: Vec::new(),
        env,
        result: key,
    };
    let entry = match &ctx.root {
        Some(r) => entry.map_paths(&|p| r.to_key(p)),
        None => entry,
    };
    d.update_manifest(&ctx.key, |m| m.insert(entry.clone()))
        .map_err(|_| "cannot write to the cache")?;
    Ok(entry)
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

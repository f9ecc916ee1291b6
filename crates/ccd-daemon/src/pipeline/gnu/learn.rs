//! What a C/C++ compile read: the files its dependency output lists, each
//! hashed (and scanned for its `#include`s and time macros), and how every
//! include lookup resolved, so a later hit can tell that a new file would
//! now be found first.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ccd_cc::scan::ScanResult;
use ccd_cc::search_path::{SearchChain, env_dir_variables};
use ccd_cc::{Family, Invocation, depfile};
use ccd_depgraph::{DirProbe, Expect, Input};
use ccd_filestate::{Hashed, stat};
use ccd_store::StoredDepfile;

use super::super::context::Context;
use super::super::miss::{DepSource, Plan};
use super::super::request::Req;
use super::super::store::Learned;
use super::include_probes::{self, ScannedInput};
use super::system_includes;
use crate::compiler::CompilerKind;
use crate::daemon::Daemon;
use crate::outcome::NotStored;

/// What is taken from a compile before its client is answered: the build
/// may move or rewrite its dependency file (automake's depcomp renames it)
/// the moment the compiler returns.
pub struct Captured {
    /// The files the compile read, as the compiler spelled them.
    spelled: Vec<Vec<u8>>,
    user_depfile: Option<StoredDepfile>,
}

pub fn capture(
    d: &Daemon,
    ctx: &Context,
    inv: &Invocation,
    req: &Req,
    plan: &Plan,
) -> Result<Captured, NotStored> {
    let spelled = read_dependencies(d, ctx, req, plan)?;
    let user_depfile = match &ctx.user_depfile {
        None => None,
        Some(p) => Some(replayable_depfile(ctx, inv, p)?),
    };
    Ok(Captured {
        spelled,
        user_depfile,
    })
}

/// Hashes what the compile read and records its include lookups. Runs
/// after the client was answered; an input changed since the compile
/// started means no store, as it would have before.
pub fn learn(
    d: &Daemon,
    ctx: &Context,
    inv: &Invocation,
    req: &Req,
    plan: &Plan,
    captured: Captured,
) -> Result<Learned, NotStored> {
    // The source first, then every other file the compile read (once).
    let mut paths: Vec<(Vec<u8>, PathBuf)> = vec![(inv.source.clone(), ctx.source.clone())];
    let mut seen: rustc_hash::FxHashSet<Vec<u8>> = Default::default();
    seen.insert(ctx.source.as_os_str().as_bytes().to_vec());
    for s in captured.spelled {
        let abs = req.abs(&s);
        if seen.insert(abs.as_os_str().as_bytes().to_vec()) {
            paths.push((s, abs));
        }
    }

    let mut inputs = Vec::with_capacity(paths.len());
    let mut scans: Vec<Arc<ScanResult>> = Vec::with_capacity(paths.len());
    for (_, abs) in &paths {
        let hashed = d.files.digest(abs).map_err(|_| NotStored::InputVanished)?;
        if plan.maybe_modified_during(d, abs, hashed.digest, hashed.stamp.changed_ns()) {
            return Err(NotStored::InputChangedDuringCompile);
        }
        scans.push(scan_of(d, abs, &hashed)?);
        inputs.push(Input {
            path: abs.as_os_str().as_bytes().to_vec(),
            digest: hashed.digest,
        });
    }
    if inputs[0].digest != plan.source_digest {
        return Err(NotStored::SourceChangedDuringCompile);
    }

    let mut date = None;
    for s in &scans {
        if s.uses_timestamp {
            return Err(NotStored::TimestampMacro);
        }
        if s.uses_time && !ctx.fixed_time {
            return Err(NotStored::TimeMacro);
        }
        if s.embeds_files {
            return Err(NotStored::EmbeddedFile);
        }
        if s.uses_date {
            date = Some(ctx.date_tag.clone());
        }
    }

    let mut learned = Learned {
        date,
        depfile: captured.user_depfile,
        ..Learned::default()
    };
    if inv.language.is_preprocessed_by_compiler() {
        let scanned: Vec<ScannedInput<'_>> = paths
            .iter()
            .zip(&scans)
            .map(|((spelled, _), scan)| ScannedInput { spelled, scan })
            .collect();
        let found = lookups(d, ctx, inv, req, plan, &scanned)?;
        // clang refuses a precompiled header whose headers' mtimes changed
        // (the precompiled header's own mtime and the source's do not
        // matter to it).
        if !found.pch.is_empty() && ctx.compiler.kind == CompilerKind::Gnu(Family::Clang) {
            for i in inputs.iter().skip(1) {
                if found.pch.iter().any(|p| p.path == i.path) {
                    continue;
                }
                let t = stat(Path::new(OsStr::from_bytes(&i.path)))
                    .map_err(|_| NotStored::InputVanished)?
                    .mtime_ns;
                learned
                    .mtimes
                    .push((serde_bytes::ByteBuf::from(i.path.clone()), t));
            }
        }
        // Precompiled headers are inputs the dependency output leaves out.
        for p in found.pch {
            if !inputs.iter().any(|i| i.path == p.path) {
                inputs.push(p);
            }
        }
        learned.probes = found.probes;
    }
    learned.inputs = inputs;
    Ok(learned)
}

/// The include lookups of a compile, and the precompiled headers it used.
struct Found {
    probes: Vec<DirProbe>,
    pch: Vec<Input>,
}

/// Records how every include lookup resolved, and finds the precompiled
/// headers the compile used (named by `-include-pch`, or found beside a
/// header).
fn lookups(
    d: &Daemon,
    ctx: &Context,
    inv: &Invocation,
    req: &Req,
    plan: &Plan,
    scanned: &[ScannedInput<'_>],
) -> Result<Found, NotStored> {
    let system = system_includes::discover(d, &ctx.compiler, inv, req)
        .ok_or(NotStored::SystemDirsUnknown)?;
    let (cpath, lang_var) = env_dir_variables(inv.language);
    let chain = SearchChain::new(&inv.search, req.env(cpath), req.env(lang_var), &system);
    let lookups =
        include_probes::record(&d.memo.listings, req, &chain, &inv.search.forced, scanned);
    if lookups.set.unreliable {
        return Err(NotStored::LookupUnexaminable);
    }
    if lookups.pch_dir {
        return Err(NotStored::PrecompiledHeaderDirectory);
    }
    let explicit = inv
        .search
        .pch
        .iter()
        .map(|p| req.abs(p).as_os_str().as_bytes().to_vec());
    let mut pch = Vec::new();
    for p in explicit.chain(lookups.pch_files.iter().cloned()) {
        let path = PathBuf::from(OsStr::from_bytes(&p));
        let hashed = d
            .files
            .digest(&path)
            .map_err(|_| NotStored::PrecompiledHeaderVanished)?;
        if plan.maybe_modified_during(d, &path, hashed.digest, hashed.stamp.changed_ns()) {
            return Err(NotStored::InputChangedDuringCompile);
        }
        pch.push(Input {
            path: p,
            digest: hashed.digest,
        });
    }
    let probes = lookups.set.finish(plan.started_ns);
    // The lookups are recorded after the compile: a header put in an
    // earlier search directory since (renamed there, its old mtime kept)
    // would be recorded as found where the compiler found nothing, and the
    // result served for a compile that now reads it.
    for p in &probes {
        let found = p
            .paths()
            .zip(&p.names)
            .filter(|(_, (_, e))| *e == Expect::File);
        for (path, _) in found {
            let path = PathBuf::from(OsStr::from_bytes(&path));
            let changed = stat(&path).map_err(|_| NotStored::LookupChangedDuringCompile)?;
            if plan.maybe_changed_during(d, &path, changed.changed_ns()) {
                return Err(NotStored::LookupChangedDuringCompile);
            }
        }
    }
    Ok(Found { probes, pch })
}

/// The headers the compile read, as the compiler spelled them.
fn read_dependencies(
    d: &Daemon,
    ctx: &Context,
    req: &Req,
    plan: &Plan,
) -> Result<Vec<Vec<u8>>, NotStored> {
    let read_deps = |p: &Path| -> Result<Vec<Vec<u8>>, NotStored> {
        let bytes = std::fs::read(p).map_err(|_| NotStored::NoDependencyFile)?;
        Ok(depfile::parse(&bytes)
            .map_err(|_| NotStored::UnreadableDependencyFile)?
            .deps)
    };
    match &plan.deps {
        DepSource::User(p) => read_deps(p),
        DepSource::Private(p) => {
            let deps = read_deps(p);
            let _ = std::fs::remove_file(p);
            deps
        }
        DepSource::Pass => {
            let p = d.temp_path(".d");
            let args = ccd_cc::dependency_pass_args(&req.args, p.as_os_str().as_bytes());
            let ok = req
                .command(&ctx.compiler.path)
                .args(args.iter().map(|a| OsStr::from_bytes(a)))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            let deps = if ok {
                read_deps(&p)
            } else {
                Err(NotStored::DependencyPassFailed)
            };
            let _ = std::fs::remove_file(&p);
            deps
        }
        DepSource::SourceOnly if ctx.user_depfile.is_some() => {
            Err(NotStored::DependencyFileForUnpreprocessed)
        }
        DepSource::SourceOnly => Ok(Vec::new()),
    }
}

/// The user's dependency file as written by the compiler: as a list of
/// prerequisites if rendering them reproduces the compiler's exact bytes
/// (then any target names can be rendered later), else verbatim.
fn replayable_depfile(
    ctx: &Context,
    inv: &Invocation,
    path: &Path,
) -> Result<StoredDepfile, NotStored> {
    let bytes = std::fs::read(path).map_err(|_| NotStored::NoDependencyFile)?;
    let parsed = depfile::parse(&bytes).map_err(|_| NotStored::UnreadableDependencyFile)?;
    let family = super::context::family(&ctx.compiler);
    let rendered = depfile::render(
        family,
        &depfile::targets_for(family, inv),
        &parsed.deps,
        inv.deps.phony,
    );
    // Paths under a remapped checkout root are stored relative to it.
    let key = |p: &[u8]| {
        ctx.root
            .as_ref()
            .map_or_else(|| p.to_vec(), |r| r.to_key(p))
    };
    Ok(if rendered == bytes {
        StoredDepfile::Rendered {
            deps: parsed
                .deps
                .iter()
                .map(|p| serde_bytes::ByteBuf::from(key(p)))
                .collect(),
        }
    } else {
        tracing::debug!(path = %path.display(), "depfile kept verbatim: rendering differs");
        if bytes.contains(&0) {
            return Err(NotStored::DependencyFileHoldsNul);
        }
        StoredDepfile::Verbatim {
            bytes: ctx
                .root
                .as_ref()
                .map_or_else(|| bytes.clone(), |r| r.arg_to_key(&bytes)),
            targets_key: ctx.targets_key,
        }
    })
}

fn scan_of(d: &Daemon, path: &Path, hashed: &Hashed) -> Result<Arc<ScanResult>, NotStored> {
    if let Some(s) = d.memo.scan(&hashed.digest) {
        return Ok(s);
    }
    let (bytes, now) = d.files.read(path).map_err(|_| NotStored::InputVanished)?;
    if now.digest != hashed.digest {
        return Err(NotStored::InputChangedDuringCompile);
    }
    Ok(d.memo
        .remember_scan(hashed.digest, ccd_cc::scan::scan(&bytes)))
}

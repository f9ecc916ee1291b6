//! Phase: after a successful compile, learn what it read and store the
//! result: the outputs as blobs, a result record, and a manifest entry with
//! every input's digest and every lookup's resolution.
//!
//! Anything uncertain means "do not store": the compile already produced the
//! right outputs, so skipping the store can cost a later hit, never
//! correctness.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use ccd_cc::scan::ScanResult;
use ccd_cc::search_path::{SearchChain, env_dir_variables};
use ccd_cc::{Invocation, depfile};
use ccd_depgraph::{Expect, Input, ManifestEntry, StderrFor};
use ccd_filestate::{Digest, Hashed, stat};
use ccd_protocol::CompileOutput;
use ccd_store::{StoredDepfile, StoredOutput, StoredResult};

use super::compile_exec::{DepSource, Plan};
use super::context::Context;
use super::include_probes::{self, ScannedInput};
use super::request::Req;
use super::system_includes;
use crate::state::Daemon;

/// Why a successful compile was not stored.
pub type Skip = &'static str;

/// What is taken from a compile before its client is answered: the build
/// may move or rewrite the outputs and its dependency file (automake's
/// depcomp renames it) the moment the compiler returns.
pub struct Captured {
    /// The files the compile read, as the compiler spelled them.
    spelled: Vec<Vec<u8>>,
    user_depfile: Option<StoredDepfile>,
    outputs: Vec<StoredOutput>,
    compile_ms: u64,
}

pub fn capture(
    d: &Daemon,
    ctx: &Context,
    inv: &Invocation,
    req: &Req,
    plan: &Plan,
    compile_ms: u64,
) -> Result<Captured, Skip> {
    let (spelled, user_depfile) = learn_dependencies(d, ctx, inv, req, plan)?;
    let outputs = store_outputs(d, ctx, plan)?;
    if let Some(r) = ctx.root.as_ref().filter(|_| !inv.uses_or_makes_pch()) {
        // Paths under the checkout root are stored relative to it; an output
        // that still names the root (a path in a -D value, say) cannot be
        // shared with another checkout.
        let root = r.root.as_os_str().as_bytes();
        let named = ctx
            .outputs
            .iter()
            .map(|(_, p)| p)
            .any(|p| std::fs::read(p).is_ok_and(|b| memchr::memmem::find(&b, root).is_some()));
        if named {
            return Err("an output names the checkout path");
        }
    }
    Ok(Captured {
        spelled,
        user_depfile,
        outputs,
        compile_ms,
    })
}

/// Stores a captured compile: hashes what it read, records its include
/// lookups, and writes the result and the manifest entry. Runs after the
/// client was answered; an input changed since the compile started means
/// no store, as it would have before.
pub fn store(
    d: &Daemon,
    ctx: &Context,
    inv: &Invocation,
    req: &Req,
    plan: &Plan,
    out: &CompileOutput,
    captured: Captured,
) -> Result<ManifestEntry, Skip> {
    let Captured {
        spelled,
        user_depfile,
        outputs,
        compile_ms,
    } = captured;

    // The source first, then every other file the compile read (once).
    let mut paths: Vec<(Vec<u8>, std::path::PathBuf)> =
        vec![(inv.source.clone(), ctx.source.clone())];
    let mut seen: rustc_hash::FxHashSet<Vec<u8>> = Default::default();
    seen.insert(ctx.source.as_os_str().as_bytes().to_vec());
    for s in spelled {
        let abs = req.abs(&s);
        if seen.insert(abs.as_os_str().as_bytes().to_vec()) {
            paths.push((s, abs));
        }
    }

    let mut inputs = Vec::with_capacity(paths.len());
    let mut scans: Vec<Arc<ScanResult>> = Vec::with_capacity(paths.len());
    for (_, abs) in &paths {
        let hashed = d.files.digest(abs).map_err(|_| "an input vanished")?;
        if plan.maybe_modified_during(d, abs, hashed.digest, hashed.stamp.changed_ns()) {
            return Err("an input changed during the compile");
        }
        scans.push(scan_of(d, abs, &hashed)?);
        inputs.push(Input {
            path: abs.as_os_str().as_bytes().to_vec(),
            digest: hashed.digest,
        });
    }
    if inputs[0].digest != plan.source_digest {
        return Err("the source changed during the compile");
    }

    let mut date = None;
    for s in &scans {
        if s.uses_timestamp {
            return Err("__TIMESTAMP__");
        }
        if s.uses_time && !ctx.fixed_time {
            return Err("__TIME__");
        }
        if s.embeds_files {
            return Err("embedded file (.incbin, #embed)");
        }
        if s.uses_date {
            date = Some(ctx.date_tag.clone());
        }
    }

    let mut mtimes = Vec::new();
    let probes = if inv.language.is_preprocessed_by_compiler() {
        let system = system_includes::discover(d, &ctx.compiler, inv, req)
            .ok_or("the compiler's include directories are unknown")?;
        let (cpath, lang_var) = env_dir_variables(inv.language);
        let chain = SearchChain::new(&inv.search, req.env(cpath), req.env(lang_var), &system);
        let scanned: Vec<ScannedInput<'_>> = paths
            .iter()
            .zip(&scans)
            .map(|((spelled, _), scan)| ScannedInput { spelled, scan })
            .collect();
        let lookups =
            include_probes::record(&d.listings, req, &chain, &inv.search.forced, &scanned);
        if lookups.set.unreliable {
            return Err("an include lookup could not be examined");
        }
        if lookups.pch_dir {
            return Err("a .gch directory of precompiled headers");
        }
        // Precompiled headers are inputs the dependency output leaves out.
        let explicit = inv
            .search
            .pch
            .iter()
            .map(|p| req.abs(p).as_os_str().as_bytes().to_vec());
        for p in explicit.chain(lookups.pch_files.iter().cloned()) {
            let path = std::path::PathBuf::from(OsStr::from_bytes(&p));
            let hashed = d
                .files
                .digest(&path)
                .map_err(|_| "a precompiled header vanished")?;
            if plan.maybe_modified_during(d, &path, hashed.digest, hashed.stamp.changed_ns()) {
                return Err("an input changed during the compile");
            }
            if !inputs.iter().any(|i| i.path == p) {
                inputs.push(Input {
                    path: p,
                    digest: hashed.digest,
                });
            }
        }
        // clang refuses a precompiled header whose headers' mtimes changed
        // (the precompiled header's own mtime and the source's do not
        // matter to it).
        let uses_pch = !inv.search.pch.is_empty() || !lookups.pch_files.is_empty();
        if uses_pch && ctx.compiler.family == ccd_cc::Family::Clang {
            let pch_inputs: Vec<Vec<u8>> = inv
                .search
                .pch
                .iter()
                .map(|p| req.abs(p).as_os_str().as_bytes().to_vec())
                .chain(lookups.pch_files.iter().cloned())
                .collect();
            for i in inputs
                .iter()
                .skip(1)
                .filter(|i| !pch_inputs.contains(&i.path))
            {
                let t = stat(std::path::Path::new(OsStr::from_bytes(&i.path)))
                    .map_err(|_| "an input vanished")?
                    .mtime_ns;
                mtimes.push((serde_bytes::ByteBuf::from(i.path.clone()), t));
            }
        }
        let probes = lookups.set.finish(plan.started_ns);
        // The lookups are recorded after the compile: a header put in an
        // earlier search directory since (renamed there, its old mtime
        // kept) would be recorded as found where the compiler found
        // nothing, and the result served for a compile that now reads it.
        for p in &probes {
            let found = p
                .paths()
                .zip(&p.names)
                .filter(|(_, (_, e))| *e == Expect::File);
            for (path, _) in found {
                let path = std::path::PathBuf::from(OsStr::from_bytes(&path));
                let changed =
                    stat(&path).map_err(|_| "an include lookup changed during the compile")?;
                if plan.maybe_changed_during(d, &path, changed.changed_ns()) {
                    return Err("an include lookup changed during the compile");
                }
            }
        }
        probes
    } else {
        Vec::new()
    };

    let stderr_for = StderrFor::for_result(out.stderr.is_empty(), ctx.tty);
    let keyed_inputs = super::worktree::keyed_inputs(ctx.root.as_ref(), &inputs);
    let result_key = result_key(ctx, &keyed_inputs, date.as_deref(), stderr_for);
    let result = StoredResult {
        outputs,
        depfile: user_depfile,
        stdout: out.stdout.to_vec(),
        stderr: out.stderr.to_vec(),
        compile_ms,
        exit_code: 0,
    };
    d.store
        .put_result(&result_key, &result)
        .map_err(|_| "cannot write to the cache")?;
    let entry = ManifestEntry {
        inputs,
        probes,
        date,
        stderr_for,
        mtimes,
        env: Vec::new(),
        result: result_key,
    };
    let entry = match &ctx.root {
        Some(r) => entry.map_paths(&|p| r.to_key(p)),
        None => entry,
    };
    d.update_manifest(&ctx.key, |m| m.insert(entry.clone()))
        .map_err(|_| "cannot write to the cache")?;
    Ok(entry)
}

/// The headers the compile read, as the compiler spelled them, and the
/// user's dependency file in the form to replay it.
fn learn_dependencies(
    d: &Daemon,
    ctx: &Context,
    inv: &Invocation,
    req: &Req,
    plan: &Plan,
) -> Result<(Vec<Vec<u8>>, Option<StoredDepfile>), Skip> {
    let read_deps = |p: &Path| -> Result<Vec<Vec<u8>>, Skip> {
        let bytes = std::fs::read(p).map_err(|_| "no dependency file")?;
        Ok(depfile::parse(&bytes)
            .map_err(|_| "unreadable dependency file")?
            .deps)
    };
    let spelled = match &plan.deps {
        DepSource::User(p) => read_deps(p)?,
        DepSource::Private(p) => {
            let deps = read_deps(p);
            let _ = std::fs::remove_file(p);
            deps?
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
                Err("dependency pass failed")
            };
            let _ = std::fs::remove_file(&p);
            deps?
        }
        DepSource::SourceOnly => {
            if ctx.user_depfile.is_some() {
                return Err("dependency file for an unpreprocessed source");
            }
            Vec::new()
        }
    };
    let user = match &ctx.user_depfile {
        None => None,
        Some(p) => Some(replayable_depfile(ctx, inv, p)?),
    };
    Ok((spelled, user))
}

/// The user's dependency file as written by the compiler: as a list of
/// prerequisites if rendering them reproduces the compiler's exact bytes
/// (then any target names can be rendered later), else verbatim.
fn replayable_depfile(ctx: &Context, inv: &Invocation, path: &Path) -> Result<StoredDepfile, Skip> {
    let bytes = std::fs::read(path).map_err(|_| "no dependency file")?;
    let parsed = depfile::parse(&bytes).map_err(|_| "unreadable dependency file")?;
    let family = ctx.compiler.family;
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
            return Err("dependency file contains NUL bytes");
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

fn scan_of(d: &Daemon, path: &Path, hashed: &Hashed) -> Result<Arc<ScanResult>, Skip> {
    if let Some(s) = d.scan(&hashed.digest) {
        return Ok(s);
    }
    let (bytes, now) = d.files.read(path).map_err(|_| "an input vanished")?;
    if now.digest != hashed.digest {
        return Err("an input changed during the compile");
    }
    Ok(d.remember_scan(hashed.digest, ccd_cc::scan::scan(&bytes)))
}

/// Stores every output the compile wrote; the main output must be one.
pub fn store_outputs(d: &Daemon, ctx: &Context, plan: &Plan) -> Result<Vec<StoredOutput>, Skip> {
    let mut outputs = Vec::new();
    for (i, ((role, p), before)) in ctx.outputs.iter().zip(&plan.outputs_before).enumerate() {
        let written = stat(p).ok().filter(|s| s.is_file() && Some(*s) != *before);
        let Some(written) = written else {
            if i == 0 {
                return Err("the compiler wrote no output");
            }
            continue;
        };
        let (blob, size) = d
            .store
            .put_blob_from_file(p)
            .map_err(|_| "cannot write to the cache")?;
        outputs.push(StoredOutput {
            role: role.clone(),
            blob,
            size,
            executable: written.mode & 0o100 != 0,
        });
    }
    Ok(outputs)
}

pub fn result_key(
    ctx: &Context,
    inputs: &[Input],
    date: Option<&str>,
    stderr_for: StderrFor,
) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(b"ccd-result-v1\0");
    h.update(&ctx.key.0);
    for i in inputs {
        h.update(&(i.path.len() as u64).to_le_bytes());
        h.update(&i.path);
        h.update(&i.digest.0);
    }
    h.update(format!("{date:?}/{stderr_for:?}").as_bytes());
    Digest(*h.finalize().as_bytes())
}

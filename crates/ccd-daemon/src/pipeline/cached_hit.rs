//! Phase: serve a hit. First everything is checked and prepared (stored
//! result, intact blobs, the dependency file rendered for this invocation's
//! targets); only then are files written, so a hit is never half delivered.
//! A prepared delivery is kept by the fast paths and replayed as is.

use std::path::{Path, PathBuf};

use ccd_cc::depfile;
use ccd_filestate::Digest;
use ccd_protocol::{ByteBuf, CompileOutput};
use ccd_store::{StoredDepfile, StoredResult, deliver};

use super::context::Context;
use super::request::Req;
use super::worktree::{bytes_from_key, from_key};
use crate::state::Daemon;

#[derive(Debug, thiserror::Error)]
pub enum HitError {
    #[error("result record missing or damaged")]
    Missing,
    #[error("stored output damaged")]
    Damaged,
    #[error("stored dependency file was made for other target names")]
    OtherTargets,
    #[error("stored result does not fit this invocation")]
    Mismatch,
    #[error("{0}")]
    Deliver(#[from] ccd_store::DeliverError),
    #[error("writing the dependency file: {0}")]
    Depfile(std::io::Error),
}

/// Everything a hit writes and returns.
#[derive(Debug)]
pub struct Delivery {
    /// (stored blob, destination, permission bits, size) for the object
    /// and side files.
    pub files: Vec<(PathBuf, PathBuf, u32, u64)>,
    pub depfile: Option<(PathBuf, Vec<u8>)>,
    /// Permission bits of the written files (the client's umask applied).
    pub mode: u32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
    pub compile_ms: u64,
    /// The blobs, for sealing.
    pub blobs: Vec<PathBuf>,
}

pub fn prepare(d: &Daemon, ctx: &Context, req: &Req, key: &Digest) -> Result<Delivery, HitError> {
    let r: StoredResult = d.store.get_result(key).ok_or(HitError::Missing)?;
    if !r
        .outputs
        .iter()
        .all(|o| d.store.blob_is_intact(&o.blob, &d.files))
    {
        return Err(HitError::Damaged);
    }
    let root = ctx.root.as_ref().map(|r| r.root.as_path());
    let depfile = match (&r.depfile, &ctx.user_depfile) {
        (Some(StoredDepfile::Rendered { deps }), Some(path)) => {
            let deps: Vec<Vec<u8>> = deps.iter().map(|d| from_key(root, d)).collect();
            let r = ctx.depfile_render.as_ref().ok_or(HitError::Mismatch)?;
            Some((
                path.clone(),
                depfile::render(r.family, &r.targets, &deps, r.phony),
            ))
        }
        (Some(StoredDepfile::Verbatim { bytes, targets_key }), Some(path)) => {
            if *targets_key != ctx.targets_key {
                return Err(HitError::OtherTargets);
            }
            Some((path.clone(), bytes_from_key(root, bytes)))
        }
        (None, None) => None,
        _ => return Err(HitError::Mismatch),
    };
    let mut files = Vec::with_capacity(r.outputs.len());
    for o in &r.outputs {
        let dest = match ctx.outputs.iter().find(|(role, _)| *role == o.role) {
            Some((_, p)) => p.clone(),
            None => return Err(HitError::Mismatch),
        };
        let mode = if o.executable { 0o777 } else { 0o666 } & !req.umask;
        files.push((d.store.blob_path(&o.blob), dest, mode, o.size));
    }
    Ok(Delivery {
        blobs: files.iter().map(|(b, ..)| b.clone()).collect(),
        files,
        depfile,
        mode: 0o666 & !req.umask,
        stdout: bytes_from_key(root, &r.stdout),
        stderr: bytes_from_key(root, &r.stderr),
        exit_code: r.exit_code,
        compile_ms: r.compile_ms,
    })
}

/// Writes the outputs (dependency file first, object last, so the object is
/// the newest file, as after a real compile) and returns the streams.
pub fn deliver_outputs(d: &Daemon, delivery: &Delivery) -> Result<CompileOutput, HitError> {
    if let Some((path, bytes)) = &delivery.depfile {
        d.claims.touch(path);
        write_file(path, bytes, delivery.mode).map_err(HitError::Depfile)?;
    }
    for (blob, dest, mode, size) in delivery.files.iter().rev() {
        d.claims.touch(dest);
        let spared = *size >= crate::spares::MIN_BYTES
            && d.journal
                .as_ref()
                .is_some_and(|j| d.spares.take(j, blob, dest, *mode, *size));
        if !spared {
            deliver(blob, dest, *mode)?;
        }
    }
    Ok(CompileOutput {
        exit_code: delivery.exit_code,
        stdout: ByteBuf::from(delivery.stdout.clone()),
        stderr: ByteBuf::from(delivery.stderr.clone()),
    })
}

/// Serves the verdict's hit, if it is one: delivers, answers the client,
/// then seals the result for the fast paths. `false` when there is no hit
/// or the stored result turned out unusable (the caller compiles).
pub fn serve_verified(
    d: &Daemon,
    ch: &mut crate::connection::Channel,
    ctx: &Context,
    req: &Req,
    req_key: &Digest,
    trace: &super::trace::Trace,
    checked: &super::hash_verify::Checked,
) -> bool {
    let ccd_depgraph::Verdict::Hit { index, result } = checked.verdict else {
        tracing::debug!(source = %ctx.source.display(), verdict = ?checked.verdict, "miss");
        return false;
    };
    let served = prepare(d, ctx, req, &result)
        .and_then(|delivery| Ok((deliver_outputs(d, &delivery)?, delivery)));
    let (out, delivery) = match served {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(source = %ctx.source.display(), error = %e, "stored result unusable; compiling");
            return false;
        }
    };
    d.stats.hit(delivery.compile_ms);
    d.note_used(&result, Some(&ctx.key));
    let _ = ch.send(&ccd_protocol::Response::Hit(out));
    trace.record(d, "Hit", "inputs verified", delivery.compile_ms);
    // The client has its answer; now seal it for next time.
    if index > 0 {
        let _ = d.update_manifest(&ctx.key, |m| m.touch(index));
    }
    if let Some(entry) = checked.manifest.entries.get(index) {
        super::fast_paths::remember(d, ctx, req, req_key, entry, delivery, trace.info());
    }
    true
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".ccd-dep")
        .tempfile_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

//! Phase: serve a verified hit. Everything is checked and prepared first
//! (the stored result, intact blobs, the dependency file rendered for this
//! invocation's targets); only then are files written, so a hit is never
//! half delivered.

use std::path::Path;

use ccd_cc::depfile;
use ccd_depgraph::Verdict;
use ccd_filestate::Digest;
use ccd_protocol::{ByteBuf, CompileOutput};
use ccd_store::{StoredDepfile, StoredResult};

use super::context::Context;
use super::hash_verify::Checked;
use super::request::Req;
use super::worktree::{bytes_from_key, from_key};
use crate::daemon::Daemon;
use crate::delivery::{Delivery, OutputFile};
use crate::outcome::Miss;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Output(#[from] ccd_store::DeliverError),
    #[error("writing the dependency file: {0}")]
    Depfile(std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("result record missing or damaged")]
    Missing,
    #[error("stored output damaged")]
    Damaged,
    #[error("stored dependency file was made for other target names")]
    OtherTargets,
    #[error("stored result does not fit this invocation")]
    Mismatch,
}

/// A hit, delivered.
pub struct Hit {
    pub out: CompileOutput,
    pub delivery: Delivery,
    /// The manifest entry that served it.
    pub index: usize,
}

/// Delivers the verdict's hit, if it is one; otherwise says why the
/// compiler must run.
pub fn serve(d: &Daemon, ctx: &Context, req: &Req, checked: &Checked) -> Result<Hit, Miss> {
    let (index, result) = match checked.verdict {
        Verdict::Hit { index, result } => (index, result),
        Verdict::SourceChanged => return Err(Miss::SourceChanged),
        Verdict::HeadersChanged => return Err(Miss::HeadersChanged),
        Verdict::Cold => return Err(Miss::Cold),
    };
    let delivery = prepare(d, ctx, req, &result).map_err(|e| {
        tracing::warn!(source = %ctx.source.display(), error = %e, "stored result unusable; compiling");
        Miss::Unusable
    })?;
    let out = write(d, &delivery).map_err(|e| {
        tracing::warn!(source = %ctx.source.display(), error = %e, "stored result not delivered; compiling");
        Miss::Unusable
    })?;
    d.note_used(&result, &ctx.key);
    Ok(Hit {
        out,
        delivery,
        index,
    })
}

/// Everything the stored result `key` writes for this invocation.
pub fn prepare(
    d: &Daemon,
    ctx: &Context,
    req: &Req,
    key: &Digest,
) -> Result<Delivery, PrepareError> {
    let r: StoredResult = d.store.get_result(key).ok_or(PrepareError::Missing)?;
    if !r
        .outputs
        .iter()
        .all(|o| d.store.blob_is_intact(&o.blob, &d.files))
    {
        return Err(PrepareError::Damaged);
    }
    let root = ctx.root.as_ref().map(|r| r.root.as_path());
    let depfile = match (&r.depfile, &ctx.user_depfile) {
        (Some(StoredDepfile::Rendered { deps }), Some(path)) => {
            let deps: Vec<Vec<u8>> = deps.iter().map(|d| from_key(root, d)).collect();
            let r = ctx.depfile_render.as_ref().ok_or(PrepareError::Mismatch)?;
            Some((
                path.clone(),
                depfile::render(r.family, &r.targets, &deps, r.phony),
            ))
        }
        (Some(StoredDepfile::Verbatim { bytes, targets_key }), Some(path)) => {
            if *targets_key != ctx.targets_key {
                return Err(PrepareError::OtherTargets);
            }
            Some((path.clone(), bytes_from_key(root, bytes)))
        }
        (None, None) => None,
        _ => return Err(PrepareError::Mismatch),
    };
    let mut files = Vec::with_capacity(r.outputs.len());
    for o in &r.outputs {
        let Some((_, dest)) = ctx.outputs.iter().find(|(role, _)| *role == o.role) else {
            return Err(PrepareError::Mismatch);
        };
        files.push(OutputFile {
            blob: o.blob,
            dest: dest.clone(),
            mode: if o.executable { 0o777 } else { 0o666 } & !req.umask,
            size: o.size,
        });
    }
    Ok(Delivery {
        files: files.into_boxed_slice(),
        depfile: depfile.map(Box::new),
        mode: 0o666 & !req.umask,
        stdout: bytes_from_key(root, &r.stdout).into_boxed_slice(),
        stderr: bytes_from_key(root, &r.stderr).into_boxed_slice(),
        exit_code: r.exit_code,
        compile_ms: r.compile_ms,
    })
}

/// Writes a prepared delivery's outputs (dependency file first, main output
/// last, so it is the newest file, as after a real compile) and returns the
/// streams.
pub fn write(d: &Daemon, delivery: &Delivery) -> Result<CompileOutput, WriteError> {
    if let Some(dep) = &delivery.depfile {
        let (path, bytes) = &**dep;
        d.claims.touch(path);
        write_file(path, bytes, delivery.mode).map_err(WriteError::Depfile)?;
    }
    for f in delivery.files.iter().rev() {
        d.claims.touch(&f.dest);
        let spared = f.size >= crate::spares::MIN_BYTES
            && d.journal
                .as_ref()
                .is_some_and(|j| d.spares.take(j, &f.blob, &f.dest, f.mode, f.size));
        if !spared {
            d.store.deliver_blob(&f.blob, &f.dest, f.mode)?;
        }
    }
    Ok(CompileOutput {
        exit_code: delivery.exit_code,
        stdout: ByteBuf::from(delivery.stdout.to_vec()),
        stderr: ByteBuf::from(delivery.stderr.to_vec()),
    })
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

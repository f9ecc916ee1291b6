//! Phase: serve a hit: check every stored output, then put the object, the
//! side files and the dependency file in place, and return the streams.

use std::path::Path;

use ccd_cc::depfile;
use ccd_filestate::Digest;
use ccd_protocol::{ByteBuf, CompileOutput};
use ccd_store::{StoredDepfile, StoredResult, deliver};

use super::context::Context;
use super::request::Req;
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

pub fn serve(
    d: &Daemon,
    ctx: &Context,
    req: &Req,
    key: &Digest,
) -> Result<(CompileOutput, u64), HitError> {
    let r: StoredResult = d.store.get_result(key).ok_or(HitError::Missing)?;
    // Check everything before writing anything: never a partial delivery.
    if !r
        .outputs
        .iter()
        .all(|o| d.store.blob_is_intact(&o.blob, &d.files))
    {
        return Err(HitError::Damaged);
    }
    let depfile_bytes = match (&r.depfile, &ctx.user_depfile) {
        (Some(StoredDepfile::Rendered { deps }), Some(_)) => {
            let deps: Vec<Vec<u8>> = deps.iter().map(|d| d.to_vec()).collect();
            let family = ctx.compiler.family;
            Some(depfile::render(
                family,
                &depfile::targets_for(family, &ctx.inv),
                &deps,
                ctx.inv.deps.phony,
            ))
        }
        (Some(StoredDepfile::Verbatim { bytes, targets_key }), Some(_)) => {
            if *targets_key != ctx.targets_key {
                return Err(HitError::OtherTargets);
            }
            Some(bytes.clone())
        }
        (None, None) => None,
        _ => return Err(HitError::Mismatch),
    };
    let mode = 0o666 & !req.umask;
    if let (Some(bytes), Some(path)) = (&depfile_bytes, &ctx.user_depfile) {
        write_file(path, bytes, mode).map_err(HitError::Depfile)?;
    }
    for o in &r.outputs {
        let dest = if o.role == "object" {
            ctx.output.as_path()
        } else {
            match ctx.side.iter().find(|(role, _)| *role == o.role) {
                Some((_, p)) => p.as_path(),
                None => return Err(HitError::Mismatch),
            }
        };
        deliver(&d.store.blob_path(&o.blob), dest, mode)?;
    }
    Ok((
        CompileOutput {
            exit_code: 0,
            stdout: ByteBuf::from(r.stdout),
            stderr: ByteBuf::from(r.stderr),
        },
        r.compile_ms,
    ))
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

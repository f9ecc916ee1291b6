//! Putting a hit in place: everything it writes, prepared beforehand (see
//! `pipeline::cached_hit`), so that a hit is never half delivered. The
//! fast paths keep a prepared delivery and replay it as is.

use std::path::{Path, PathBuf};

use ccd_filestate::Digest;
use ccd_protocol::{ByteBuf, CompileOutput};

use crate::daemon::Daemon;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Output(#[from] ccd_store::DeliverError),
    #[error("writing the dependency file: {0}")]
    Depfile(std::io::Error),
}

/// One output file of a hit.
#[derive(Debug)]
pub struct OutputFile {
    pub blob: Digest,
    pub dest: PathBuf,
    /// Permission bits (the client's umask applied).
    pub mode: u32,
    pub size: u64,
}

/// Everything a hit writes and returns.
#[derive(Debug)]
pub struct Delivery {
    /// The object and side files, the main output first.
    pub files: Vec<OutputFile>,
    pub depfile: Option<(PathBuf, Vec<u8>)>,
    /// Permission bits of the dependency file.
    pub mode: u32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
    pub compile_ms: u64,
}

impl Delivery {
    /// Writes the outputs (dependency file first, main output last, so it
    /// is the newest file, as after a real compile) and returns the
    /// streams.
    pub fn write(&self, d: &Daemon) -> Result<CompileOutput, WriteError> {
        if let Some((path, bytes)) = &self.depfile {
            d.claims.touch(path);
            write_file(path, bytes, self.mode).map_err(WriteError::Depfile)?;
        }
        for f in self.files.iter().rev() {
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
            exit_code: self.exit_code,
            stdout: ByteBuf::from(self.stdout.clone()),
            stderr: ByteBuf::from(self.stderr.clone()),
        })
    }

    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        self.files.iter().map(|f| &f.blob)
    }
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

//! Asking a compiler about itself: what a frontend's probe runs.

use std::io;
use std::path::{Path, PathBuf};

use super::request::Req;

#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    #[error("cannot read compiler {0}: {1}")]
    Unreadable(PathBuf, io::Error),
    #[error("{0} does not behave like the compiler its name says")]
    Unrecognised(PathBuf),
}

/// A file's BLAKE3 digest, read in chunks.
pub fn hash_file(path: &Path) -> io::Result<[u8; 32]> {
    Ok(ccd_filestate::digest_reader(std::fs::File::open(path)?)?.0)
}

/// A question to the compiler driver, running.
pub struct Asked(Option<std::process::Child>);

impl Asked {
    pub fn spawn(req: &Req, path: &Path, args: &[&str]) -> Asked {
        let child = req
            .command(path)
            .args(args)
            .env("LC_ALL", "C")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn();
        Asked(child.ok())
    }

    /// Its standard output, if it succeeded.
    pub fn stdout(self) -> Option<Vec<u8>> {
        let out = self.0?.wait_with_output().ok()?;
        out.status.success().then_some(out.stdout)
    }
}

//! What a hit puts in place, prepared beforehand (see
//! `pipeline::cached_hit`), so that a hit is never half delivered. The
//! fast paths keep a prepared delivery and replay it as is.

use std::path::PathBuf;

use ccd_filestate::Digest;

/// One output file of a hit.
#[derive(Debug)]
pub struct OutputFile {
    pub blob: Digest,
    pub dest: PathBuf,
    /// Permission bits (the client's umask applied).
    pub mode: u32,
    pub size: u64,
}

/// Everything a hit writes and returns. Every sealed result keeps one, so
/// it is boxed tight (fields that are mostly empty cost a pointer).
#[derive(Debug)]
pub struct Delivery {
    /// The object and side files, the main output first.
    pub files: Box<[OutputFile]>,
    /// Where the dependency file goes, and what it says.
    pub depfile: Option<Box<(PathBuf, Vec<u8>)>>,
    /// Permission bits of the dependency file.
    pub mode: u32,
    pub stdout: Box<[u8]>,
    pub stderr: Box<[u8]>,
    pub exit_code: i32,
    pub compile_ms: u64,
}

impl Delivery {
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        self.files.iter().map(|f| &f.blob)
    }
}

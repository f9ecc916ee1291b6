use ccd_filestate::Digest;
use serde::{Deserialize, Serialize};

/// One output file of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOutput {
    /// "object", "dwo", "gcno", "su": which of the invocation's files.
    pub role: String,
    pub blob: Digest,
    pub size: u64,
    /// The compiler made it executable (a linked program, a build script).
    pub executable: bool,
}

/// The user's dependency file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredDepfile {
    /// The prerequisites; the file is rendered again with the current
    /// targets (the daemon checked that rendering reproduces the compiler's
    /// bytes).
    Rendered { deps: Vec<serde_bytes::ByteBuf> },
    /// The exact bytes, valid only for the same target-determining options.
    Verbatim {
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        targets_key: Digest,
    },
}

/// Everything a hit needs besides the blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResult {
    pub outputs: Vec<StoredOutput>,
    pub depfile: Option<StoredDepfile>,
    #[serde(with = "serde_bytes")]
    pub stdout: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub stderr: Vec<u8>,
    /// How long the compile took, to report time saved by hits.
    pub compile_ms: u64,
    /// Non-zero for a cached failure (rustc errors are replayed; C/C++
    /// failures are never stored).
    pub exit_code: i32,
}

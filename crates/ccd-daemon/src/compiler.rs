//! Who a compiler is, as its probe found: its family and a digest of its
//! content (see `pipeline::compiler_identity`).

use std::path::PathBuf;

use ccd_cc::Family;
use ccd_filestate::{Digest, Stamp};
use serde::{Deserialize, Serialize};

/// The compiler families ccd caches; each has a frontend in the pipeline
/// (`pipeline::gnu`, `pipeline::rustc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompilerKind {
    /// A GNU-style C/C++ driver: gcc or clang.
    Gnu(Family),
    Rustc,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Compiler {
    pub path: PathBuf,
    pub kind: CompilerKind,
    /// Everything that makes this compiler produce what it does: its
    /// driver, the programs the driver runs, what it predefines.
    pub digest: Digest,
    /// `__DATE__`/`__TIME__` follow SOURCE_DATE_EPOCH (gcc does; clang
    /// before 16 does not).
    pub honors_source_date_epoch: bool,
}

/// The files a compiler's identity was computed from, with their stamps:
/// while they are unchanged, so is the identity.
pub type Stamps = Vec<(PathBuf, Stamp)>;

use ccd_filestate::Digest;
use serde::{Deserialize, Serialize};

/// Which of an invocation's files a stored output is. Stored by its label
/// (the labels are the record format: never change one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputRole {
    /// The main output of a C/C++ compile (`-o`).
    Object,
    /// `-gsplit-dwarf`'s `.dwo`.
    SplitDwarf,
    /// `--coverage`'s `.gcno`.
    Coverage,
    /// `-fstack-usage`'s `.su`.
    StackUsage,
    /// rustc's crate: an rlib (`lib`, `rlib`), a static library, a
    /// proc-macro, a C dynamic library, a program.
    Rlib,
    Staticlib,
    ProcMacro,
    Cdylib,
    Bin,
    /// rustc's other `--emit` kinds.
    Metadata,
    DepInfo,
    Obj,
    Asm,
    LlvmIr,
    LlvmBc,
    Mir,
}

impl OutputRole {
    pub const ALL: [OutputRole; 16] = [
        OutputRole::Object,
        OutputRole::SplitDwarf,
        OutputRole::Coverage,
        OutputRole::StackUsage,
        OutputRole::Rlib,
        OutputRole::Staticlib,
        OutputRole::ProcMacro,
        OutputRole::Cdylib,
        OutputRole::Bin,
        OutputRole::Metadata,
        OutputRole::DepInfo,
        OutputRole::Obj,
        OutputRole::Asm,
        OutputRole::LlvmIr,
        OutputRole::LlvmBc,
        OutputRole::Mir,
    ];

    pub fn label(self) -> &'static str {
        match self {
            OutputRole::Object => "object",
            OutputRole::SplitDwarf => "dwo",
            OutputRole::Coverage => "gcno",
            OutputRole::StackUsage => "su",
            OutputRole::Rlib => "link:rlib",
            OutputRole::Staticlib => "link:staticlib",
            OutputRole::ProcMacro => "link:proc-macro",
            OutputRole::Cdylib => "link:cdylib",
            OutputRole::Bin => "link:bin",
            OutputRole::Metadata => "metadata",
            OutputRole::DepInfo => "dep-info",
            OutputRole::Obj => "obj",
            OutputRole::Asm => "asm",
            OutputRole::LlvmIr => "llvm-ir",
            OutputRole::LlvmBc => "llvm-bc",
            OutputRole::Mir => "mir",
        }
    }

    pub fn from_label(label: &str) -> Option<OutputRole> {
        OutputRole::ALL.into_iter().find(|r| r.label() == label)
    }
}

impl Serialize for OutputRole {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

impl<'de> Deserialize<'de> for OutputRole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let label = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OutputRole::from_label(&label)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown output role {label:?}")))
    }
}

/// One output file of a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOutput {
    pub role: OutputRole,
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
    /// The compiler's exit code (failed compiles are not stored today, of
    /// either family: their dependency lists leave out what made them
    /// fail).
    pub exit_code: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The labels are the stored format: records written before the role
    /// was an enum (as a string) still decode.
    #[test]
    fn roles_are_stored_by_their_labels() {
        for role in OutputRole::ALL {
            assert_eq!(OutputRole::from_label(role.label()), Some(role));
            let bytes = postcard::to_allocvec(&role).unwrap();
            assert_eq!(bytes, postcard::to_allocvec(role.label()).unwrap());
            assert_eq!(postcard::from_bytes::<OutputRole>(&bytes).unwrap(), role);
        }
        let labels: std::collections::HashSet<_> =
            OutputRole::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), OutputRole::ALL.len(), "labels are distinct");
        assert!(
            postcard::from_bytes::<OutputRole>(&postcard::to_allocvec("pdb").unwrap()).is_err()
        );
    }
}

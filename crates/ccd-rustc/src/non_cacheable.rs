//! Why a rustc invocation is passed through without caching.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonCacheable {
    /// `-V`, `-vV`, `--help`, `--explain`: cargo asking about the compiler.
    InfoQuery,
    /// `--print`: cargo asking about the target.
    Print,
    /// `-` as the source.
    SourceFromStdin,
    /// `@file`: arguments ccd would have to read.
    ArgumentFile,
    /// `-Z`: unstable options, which may read or write anything.
    UnstableOption,
    /// A crate type ccd does not cache (`dylib`, or one it does not know).
    CrateType(String),
    /// An `--emit` kind ccd does not know.
    Emit(String),
    /// `-C incremental`: cargo's incremental compiles of workspace members.
    Incremental,
    /// Another refused `-C` option (it reads or writes files ccd does not
    /// track: `profile-use`, `save-temps`, ...).
    Codegen(String),
    /// `-C split-debuginfo` other than `off`: separate debug files.
    SplitDebuginfo,
    /// `-C link-arg` on a crate that is linked: the argument may name files.
    LinkArgOnLinkedCrate,
    /// `--env-set`: an environment the dep-info does not list.
    EnvSet,
    /// An option ccd does not know.
    Unsupported(String),
    /// `--crate-name` without its value.
    CrateNameWithoutValue,
    /// An option that takes a value, last on the line: rustc refuses the
    /// command line ("Argument to option 'C' missing").
    WithoutValue(String),
    NoSource,
    SeveralSources,
    NoCrateName,
    /// No `--crate-type`: the source could choose with `#![crate_type]`.
    NoCrateType,
    /// `-o` with several outputs.
    OutputForSeveral,
    /// No `--emit=dep-info`: what the crate reads could only be learned by
    /// adding one, which changes the crate rustc writes.
    NoDepInfo,
}

impl NonCacheable {
    /// A short stable label, the key of the per-reason statistics.
    pub fn label(&self) -> &'static str {
        match self {
            NonCacheable::InfoQuery => "rustc: version/info query",
            NonCacheable::Print => "rustc: --print",
            NonCacheable::SourceFromStdin => "rustc: source from stdin",
            NonCacheable::ArgumentFile => "rustc: argument file",
            NonCacheable::UnstableOption => "rustc: -Z option",
            NonCacheable::CrateType(_) => "rustc: crate type",
            NonCacheable::Incremental => "rustc: -C incremental",
            NonCacheable::LinkArgOnLinkedCrate => "rustc: -C link-arg on a linked crate",
            NonCacheable::NoDepInfo => "rustc: no --emit=dep-info",
            NonCacheable::Emit(_)
            | NonCacheable::Codegen(_)
            | NonCacheable::SplitDebuginfo
            | NonCacheable::EnvSet
            | NonCacheable::Unsupported(_)
            | NonCacheable::CrateNameWithoutValue
            | NonCacheable::WithoutValue(_)
            | NonCacheable::NoSource
            | NonCacheable::SeveralSources
            | NonCacheable::NoCrateName
            | NonCacheable::NoCrateType
            | NonCacheable::OutputForSeveral => "rustc: unsupported option",
        }
    }
}

impl fmt::Display for NonCacheable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NonCacheable::InfoQuery => f.write_str("version/info query"),
            NonCacheable::Print => f.write_str("--print"),
            NonCacheable::SourceFromStdin => f.write_str("source from stdin"),
            NonCacheable::ArgumentFile => f.write_str("argument file"),
            NonCacheable::UnstableOption => f.write_str("-Z option"),
            NonCacheable::CrateType(t) => write!(f, "crate type {t}"),
            NonCacheable::Emit(k) => write!(f, "--emit={k}"),
            NonCacheable::Incremental => f.write_str("-C incremental"),
            NonCacheable::Codegen(k) => write!(f, "-C {k}"),
            NonCacheable::SplitDebuginfo => {
                f.write_str("-C split-debuginfo (separate debug files)")
            }
            NonCacheable::LinkArgOnLinkedCrate => {
                f.write_str("-C link-arg on a linked crate (it may name files)")
            }
            NonCacheable::EnvSet => f.write_str("--env-set"),
            NonCacheable::Unsupported(o) => write!(f, "unsupported option {o}"),
            NonCacheable::CrateNameWithoutValue => f.write_str("--crate-name without a value"),
            NonCacheable::WithoutValue(o) => write!(f, "{o} without a value"),
            NonCacheable::NoSource => f.write_str("no source file"),
            NonCacheable::SeveralSources => f.write_str("several source files"),
            NonCacheable::NoCrateName => f.write_str("no --crate-name"),
            NonCacheable::NoCrateType => f.write_str("no --crate-type"),
            NonCacheable::OutputForSeveral => f.write_str("-o with several outputs"),
            NonCacheable::NoDepInfo => f.write_str("no --emit=dep-info"),
        }
    }
}

//! What a compile request became, as types: why it was passed through, why
//! a miss was not stored, how it ended. [`record`] counts and logs a
//! finished request from one [`Outcome`], so `ccd status`, the build
//! session's statistics, its log and its journal can never disagree.

use std::borrow::Cow;
use std::fmt;
use std::io;

use crate::daemon::Daemon;
use crate::sessions::{Event, Verdict};
use crate::stats::Tally;
use crate::trace::TraceInfo;

/// Why a compile is passed to the compiler unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassReason {
    /// A `@file` that cannot be read: the compiler reports it.
    UnreadableResponseFile,
    /// The compiler cannot be run or does not answer like one ccd knows.
    UnknownCompiler,
    /// One of several sources is missing: gcc compiles the others, clang
    /// none, so the compiler itself handles it.
    MissingSource,
    /// The source cannot be read: the compiler reports it best.
    UnreadableSource,
    /// What a GNU-style C/C++ invocation is not cached for.
    Gnu(ccd_cc::NonCacheable),
    /// What a rustc invocation is not cached for.
    Rustc(ccd_rustc::NonCacheable),
    /// The linker of a linked crate is not found or cannot be read (it is
    /// part of the key).
    LinkerNotFound,
    LinkerUnreadable,
}

impl PassReason {
    /// A short stable label, the key of the per-reason statistics.
    pub fn label(&self) -> &'static str {
        match self {
            PassReason::UnreadableResponseFile => "unreadable response file",
            PassReason::UnknownCompiler => "unknown compiler",
            PassReason::MissingSource => "missing source file",
            PassReason::UnreadableSource => "unreadable source",
            PassReason::Gnu(r) => r.label(),
            PassReason::Rustc(r) => r.label(),
            PassReason::LinkerNotFound => "rustc: linker not found",
            PassReason::LinkerUnreadable => "rustc: linker unreadable",
        }
    }
}

impl fmt::Display for PassReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PassReason::Gnu(r) => write!(f, "{r}"),
            PassReason::Rustc(r) => write!(f, "rustc: {r}"),
            other => f.write_str(other.label()),
        }
    }
}

/// Why a successful compile was not stored. Anything uncertain means "do
/// not store": the compile already produced the right outputs, so not
/// storing can cost a later hit, never correctness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotStored {
    /// Writing to the cache failed (a full disk, a permission problem).
    CacheWrite(io::ErrorKind),
    NoOutput,
    /// Another compile or a hit wrote one of the outputs meanwhile.
    OutputContended,
    /// An output names the checkout's path: it cannot serve another
    /// checkout.
    OutputNamesCheckout,
    /// The compiler's output holds NUL bytes, which mark the checkout root
    /// in what is stored for sharing between checkouts.
    StreamsHoldNul,
    NoDependencyFile,
    UnreadableDependencyFile,
    DependencyFileHoldsNul,
    DependencyFileForUnpreprocessed,
    DependencyPassFailed,
    InputVanished,
    InputChangedDuringCompile,
    SourceChangedDuringCompile,
    LookupChangedDuringCompile,
    LookupUnexaminable,
    ModulePathUnexaminable,
    SystemDirsUnknown,
    PrecompiledHeaderVanished,
    PrecompiledHeaderDirectory,
    /// `__TIMESTAMP__`: the source's own mtime, which a hit cannot promise.
    TimestampMacro,
    /// `__TIME__` without SOURCE_DATE_EPOCH.
    TimeMacro,
    /// `.incbin` or `#embed`: files the dependency output does not list.
    EmbeddedFile,
    LinkerNotFound,
}

impl NotStored {
    /// The label of the per-reason statistics.
    pub fn label(&self) -> Cow<'static, str> {
        let s = match self {
            NotStored::CacheWrite(kind) => {
                return Cow::Owned(format!("cannot write to the cache: {kind}"));
            }
            NotStored::NoOutput => "the compiler wrote no output",
            NotStored::OutputContended => "another compile or hit wrote an output meanwhile",
            NotStored::OutputNamesCheckout => "an output names the checkout path",
            NotStored::StreamsHoldNul => "compiler output contains NUL bytes",
            NotStored::NoDependencyFile => "no dependency file",
            NotStored::UnreadableDependencyFile => "unreadable dependency file",
            NotStored::DependencyFileHoldsNul => "dependency file contains NUL bytes",
            NotStored::DependencyFileForUnpreprocessed => {
                "dependency file for an unpreprocessed source"
            }
            NotStored::DependencyPassFailed => "dependency pass failed",
            NotStored::InputVanished => "an input vanished",
            NotStored::InputChangedDuringCompile => "an input changed during the compile",
            NotStored::SourceChangedDuringCompile => "the source changed during the compile",
            NotStored::LookupChangedDuringCompile => "an include lookup changed during the compile",
            NotStored::LookupUnexaminable => "an include lookup could not be examined",
            NotStored::ModulePathUnexaminable => "a module path could not be examined",
            NotStored::SystemDirsUnknown => "the compiler's include directories are unknown",
            NotStored::PrecompiledHeaderVanished => "a precompiled header vanished",
            NotStored::PrecompiledHeaderDirectory => "a .gch directory of precompiled headers",
            NotStored::TimestampMacro => "__TIMESTAMP__",
            NotStored::TimeMacro => "__TIME__",
            NotStored::EmbeddedFile => "embedded file (.incbin, #embed)",
            NotStored::LinkerNotFound => "linker not found",
        };
        Cow::Borrowed(s)
    }
}

impl From<ccd_store::StoreError> for NotStored {
    fn from(e: ccd_store::StoreError) -> NotStored {
        tracing::warn!(error = %e, "cannot write to the cache");
        NotStored::CacheWrite(e.kind())
    }
}

/// How a hit was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitVia {
    /// The exact request was seen before and the watcher vouches for its
    /// inputs.
    SeenRequest,
    /// Its compile context was verified before and the watcher vouches for
    /// its inputs.
    VerifiedContext,
    /// Its inputs were hashed and checked against the manifest now.
    Verified,
}

/// Why the compiler ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    SourceChanged,
    HeadersChanged,
    Cold,
    /// A stored result was found but could not be used.
    Unusable,
}

/// How a compile the client ran ended for the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissEnd {
    Stored,
    NotStored(NotStored),
    /// The compiler failed: failures are not stored (their dependency
    /// lists leave out what made them fail).
    Failed,
    /// The client went away before it reported the compile.
    ClientGone,
}

/// What a compile request became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Hit {
        via: HitVia,
        saved_ms: u64,
    },
    NonCacheable(PassReason),
    /// Refused before compiling: a `--strict-paths` violation.
    Refused,
    Compiled {
        miss: Miss,
        end: MissEnd,
    },
}

impl Outcome {
    pub fn tally(&self) -> Tally {
        match self {
            Outcome::Hit { saved_ms, .. } => Tally {
                hit: true,
                saved_ms: *saved_ms,
                ..Tally::default()
            },
            Outcome::NonCacheable(r) => Tally {
                non_cacheable: Some(Cow::Borrowed(r.label())),
                ..Tally::default()
            },
            Outcome::Refused => Tally {
                error: true,
                ..Tally::default()
            },
            Outcome::Compiled { miss, end } => Tally {
                miss: true,
                error: *end == MissEnd::Failed,
                internal_error: *miss == Miss::Unusable,
                not_stored: match end {
                    MissEnd::NotStored(r) => Some(r.label()),
                    _ => None,
                },
                ..Tally::default()
            },
        }
    }

    fn verdict(&self) -> Verdict {
        match self {
            Outcome::Hit { .. } => Verdict::Hit,
            Outcome::NonCacheable(_) => Verdict::NonCacheable,
            Outcome::Refused
            | Outcome::Compiled {
                end: MissEnd::Failed,
                ..
            } => Verdict::Error,
            Outcome::Compiled { miss, .. } => match miss {
                Miss::SourceChanged => Verdict::SourceChanged,
                Miss::HeadersChanged => Verdict::HeadersChanged,
                Miss::Cold => Verdict::Cold,
                Miss::Unusable => Verdict::Unusable,
            },
        }
    }

    /// Why, in the words of the session log.
    fn reason(&self) -> Cow<'static, str> {
        let miss_name = |m: &Miss| match m {
            Miss::SourceChanged => "SourceChanged",
            Miss::HeadersChanged => "HeadersChanged",
            Miss::Cold => "Cold",
            Miss::Unusable => "Unusable",
        };
        match self {
            Outcome::Hit { via, .. } => Cow::Borrowed(match via {
                HitVia::SeenRequest => "request seen before, inputs untouched",
                HitVia::VerifiedContext => "context verified before, inputs untouched",
                HitVia::Verified => "inputs verified",
            }),
            Outcome::NonCacheable(r) => Cow::Owned(r.to_string()),
            Outcome::Refused => Cow::Borrowed("strict paths"),
            Outcome::Compiled { miss, end } => match end {
                MissEnd::Stored => Cow::Borrowed("compiled and stored"),
                MissEnd::NotStored(r) => Cow::Owned(format!("compiled, not stored: {}", r.label())),
                MissEnd::Failed => Cow::Owned(format!("{}; the compiler failed", miss_name(miss))),
                MissEnd::ClientGone => Cow::Borrowed("the client went away during the compile"),
            },
        }
    }
}

/// Counts `outcome` for `ccd status` and the request's build session, and
/// logs it.
pub fn record(d: &Daemon, info: &TraceInfo, duration_ms: u64, outcome: &Outcome) {
    let tally = outcome.tally();
    d.stats.add(&tally);
    let reason = outcome.reason();
    let verdict = outcome.verdict();
    match outcome {
        Outcome::Compiled {
            end: MissEnd::NotStored(_),
            ..
        } => tracing::info!(source = ?info.source, reason = %reason, "result not stored"),
        _ => tracing::debug!(
            source = ?info.source,
            verdict = verdict.as_str(),
            reason = %reason,
            "compile"
        ),
    }
    if info.session.is_none() {
        return;
    }
    d.sessions.record(
        info.session.as_deref(),
        &Event {
            verdict,
            reason: &reason,
            tally: &tally,
            cwd: &info.cwd,
            source: info.source.as_deref(),
            output: info.output.as_deref(),
            duration_ms,
            key_root: &info.key_root,
            path_remap: &info.path_remap,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_and_refused_compiles_count_as_errors_and_only_failures_as_misses() {
        let failed = Outcome::Compiled {
            miss: Miss::Cold,
            end: MissEnd::Failed,
        };
        let t = failed.tally();
        assert!(t.miss && t.error && !t.hit);
        assert_eq!(failed.verdict(), Verdict::Error);
        assert_eq!(failed.reason(), "Cold; the compiler failed");
        let t = Outcome::Refused.tally();
        assert!(t.error && !t.miss);
    }

    #[test]
    fn a_cache_write_failure_keeps_its_kind() {
        let full = NotStored::CacheWrite(io::ErrorKind::StorageFull).label();
        let denied = NotStored::CacheWrite(io::ErrorKind::PermissionDenied).label();
        assert_ne!(full, denied);
        assert!(full.starts_with("cannot write to the cache: "), "{full}");
    }

    #[test]
    fn an_unusable_stored_result_is_a_miss_and_an_internal_error() {
        let t = Outcome::Compiled {
            miss: Miss::Unusable,
            end: MissEnd::Stored,
        }
        .tally();
        assert!(t.miss && t.internal_error);
    }
}

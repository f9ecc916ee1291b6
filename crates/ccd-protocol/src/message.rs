//! Messages exchanged over the daemon socket.
//!
//! Every connection starts with a hello and an acknowledgement
//! ([`crate::hello`]). A compile is one connection: the client sends
//! `Request::Compile`; the
//! daemon answers `Hit` (outputs already in place), `Passthrough` (run the
//! compiler unchanged, nothing to report), or `Run` (run it with these extra
//! arguments, then send `Request::CompileFinished` on the same connection and
//! wait for `Stored`). The client runs the compiler itself so that signals,
//! the make jobserver, resource limits and the terminal behave exactly as
//! without ccd.

use serde::{Deserialize, Serialize};
pub use serde_bytes::ByteBuf;

/// Bumped whenever a message changes shape. Client and daemon of one
/// executable always agree; a client of another executable never reaches
/// the frames of a daemon (see [`crate::hello`]). A daemon still answers a
/// compile request of another version with an error (the client then
/// compiles on its own).
pub const PROTOCOL_VERSION: u32 = 3;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Compile(CompileRequest),
    CompileFinished(CompileOutput),
    Status,
    ZeroStats,
    Clear,
    Shutdown,
    /// Starts a build session; compiles that carry its id in
    /// `CCD_SESSION_ID` are counted and logged for it, and appended to the
    /// journal file (one JSON line per compile) if one is given.
    SessionStart {
        journal: Option<ByteBuf>,
    },
    SessionStats {
        id: String,
    },
    SessionEnd {
        id: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompileRequest {
    pub protocol: u32,
    /// Working directory of the compile (raw bytes: paths need not be UTF-8).
    pub cwd: ByteBuf,
    /// Absolute path of the real compiler, resolved by the client.
    pub compiler: ByteBuf,
    /// Arguments after the compiler name, exactly as the build gave them.
    pub args: Vec<ByteBuf>,
    /// Environment variables that can steer a compile, filtered by the client.
    pub env: Vec<(ByteBuf, ByteBuf)>,
    /// Set when the client's stderr is a terminal: compilers colour and wrap
    /// diagnostics for terminals, so cached stderr is only replayed to the
    /// same kind of terminal.
    pub stderr_tty: Option<TtyInfo>,
    /// The client's umask: delivered outputs get the permissions the
    /// compiler would have given them.
    pub umask: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TtyInfo {
    pub columns: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompileOutput {
    pub exit_code: i32,
    pub stdout: ByteBuf,
    pub stderr: ByteBuf,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// Outputs are in place; replay these streams and exit with the code.
    Hit(CompileOutput),
    /// Run the compiler with the user's arguments followed by `extra_args`,
    /// capture its output, and report it with `Request::CompileFinished`.
    Run {
        extra_args: Vec<ByteBuf>,
    },
    /// Run the compiler unchanged; ccd does not cache this invocation.
    Passthrough,
    /// ccd refuses the compile (a `--strict-paths` violation): print these
    /// streams and exit with the code, without running the compiler.
    Refused(CompileOutput),
    /// Several sources in one command (`gcc -c a.c b.c`): send each of these
    /// argument lists as its own compile request (they may run in
    /// parallel), then print their stdout and stderr in this order and exit
    /// with the first non-zero status, as one compiler run would.
    Split {
        jobs: Vec<Vec<ByteBuf>>,
    },
    /// Acknowledges `CompileFinished`.
    Stored,
    Status(Box<StatusReport>),
    Session {
        id: String,
    },
    SessionStats(Box<SessionReport>),
    Ok,
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub pid: u32,
    pub cache_dir: String,
    pub uptime_secs: u64,
    pub hits: u64,
    pub misses: u64,
    pub non_cacheable: u64,
    pub non_cacheable_reasons: Vec<(String, u64)>,
    /// Compiles that failed (failures are not stored), and compiles
    /// refused before they ran (a `--strict-paths` violation).
    pub errors: u64,
    /// Stored results that turned out unusable (damaged, or they could not
    /// be put in place): ccd's own failures, after which the compiler ran.
    pub internal_errors: u64,
    /// Misses whose result was not stored, by reason.
    pub not_stored_reasons: Vec<(String, u64)>,
    pub time_saved_ms: u64,
    pub entries: u64,
    pub size_bytes: u64,
    pub max_size_bytes: u64,
    /// Records (manifests, result metadata) written since the daemon
    /// started: bytes before and after zstd compression.
    pub record_bytes_raw: u64,
    pub record_bytes_stored: u64,
    /// The daemon's resident memory, and what it holds in memory.
    pub rss_bytes: u64,
    pub files_tracked: u64,
    pub sealed_requests: u64,
    pub watched_dirs: u64,
    /// What the daemon remembers for compile contexts (manifests, sealed
    /// results), estimated, and the `max_memory` it is held under.
    pub context_memory_bytes: u64,
    pub max_memory_bytes: u64,
    /// Large outputs delivered by moving a spare copy into place; spares
    /// made by copying a blob; replaced outputs kept as spares, known
    /// untouched from the watcher, or after hashing them.
    pub spares_served: u64,
    pub spares_copied: u64,
    pub spares_reused_unread: u64,
    pub spares_reused_hashed: u64,
    /// The settings in effect: name, value, where it came from.
    pub settings: Vec<(String, String, String)>,
    /// What was wrong in the configuration the daemon read.
    pub config_warnings: Vec<String>,
}

/// Statistics of one build session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReport {
    pub id: String,
    /// False when the daemon does not know the id (for example after a
    /// restart): the counts are then zero.
    pub known: bool,
    pub hits: u64,
    pub misses: u64,
    pub non_cacheable: u64,
    pub non_cacheable_reasons: Vec<(String, u64)>,
    pub errors: u64,
    pub time_saved_ms: u64,
    pub log: String,
    pub journal: Option<String>,
}

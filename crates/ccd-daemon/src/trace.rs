//! Enough about a request to say what it became: for its build session's
//! log and journal, and for the request-level cache, which serves a
//! request again without decoding it.

use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct TraceInfo {
    /// `CCD_SESSION_ID` of the compile.
    pub session: Option<Vec<u8>>,
    pub cwd: PathBuf,
    pub source: Option<PathBuf>,
    pub output: Option<PathBuf>,
    /// The directory paths in the key are relative to.
    pub key_root: PathBuf,
    /// How checkout sharing went (`off`, `auto, root ...`, `auto, not
    /// shared: ...`).
    pub path_remap: String,
}

impl TraceInfo {
    /// What a sealed result keeps of its request's trace: all of it for a
    /// request of a build session (its log line names source and output),
    /// nothing otherwise (about 350 bytes per entry).
    pub fn for_seal(&self) -> Option<Box<TraceInfo>> {
        self.session.is_some().then(|| Box::new(self.clone()))
    }
}

pub struct Trace {
    pub info: TraceInfo,
    pub started: Instant,
}

impl Trace {
    pub fn start(info: TraceInfo) -> Trace {
        Trace {
            info,
            started: Instant::now(),
        }
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

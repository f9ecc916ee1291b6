//! What a compile request became, for its build session's statistics, log
//! and journal (see `crate::sessions`).

use std::path::PathBuf;
use std::time::Instant;

use ccd_depgraph::Verdict;

use super::context::Context;
use super::request::Req;
use crate::sessions::Event;
use crate::state::Daemon;

/// Enough about a request to log it again when it is served from the
/// request-level cache (which does not decode requests).
#[derive(Debug, Clone)]
pub struct TraceInfo {
    pub session: Option<Vec<u8>>,
    pub cwd: PathBuf,
    pub source: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub key_root: PathBuf,
    pub path_remap: String,
}

pub struct Trace {
    info: TraceInfo,
    started: Instant,
}

impl Trace {
    pub fn start(req: &Req) -> Trace {
        Trace {
            info: TraceInfo {
                session: req.env("CCD_SESSION_ID").map(<[u8]>::to_vec),
                cwd: req.cwd.clone(),
                source: None,
                output: None,
                key_root: req.cwd.clone(),
                path_remap: req
                    .env("CCD_PATH_REMAP")
                    .map_or("off".into(), |v| String::from_utf8_lossy(v).into_owned()),
            },
            started: Instant::now(),
        }
    }

    pub fn remap(&mut self, remap: &super::worktree::Remap) {
        self.info.path_remap = remap.describe();
    }

    /// Attaches the compile's context (source, output, key root).
    pub fn context(&mut self, ctx: &Context) {
        self.info.source = Some(ctx.source.clone());
        self.info.output = Some(ctx.output.clone());
        self.info.key_root = ctx.key_root.clone();
    }

    pub fn info(&self) -> &TraceInfo {
        &self.info
    }

    pub fn record(&self, d: &Daemon, verdict: &'static str, reason: &str, saved_ms: u64) {
        record(
            d,
            &self.info,
            verdict,
            reason,
            self.started.elapsed().as_millis() as u64,
            saved_ms,
        );
    }
}

pub fn record(
    d: &Daemon,
    info: &TraceInfo,
    verdict: &'static str,
    reason: &str,
    duration_ms: u64,
    saved_ms: u64,
) {
    if info.session.is_none() {
        return;
    }
    d.sessions.record(
        info.session.as_deref(),
        &Event {
            verdict,
            reason,
            cwd: &info.cwd,
            source: info.source.as_deref(),
            output: info.output.as_deref(),
            duration_ms,
            saved_ms,
            key_root: &info.key_root,
            path_remap: &info.path_remap,
        },
    );
}

pub fn verdict_name(v: &Verdict) -> &'static str {
    match v {
        Verdict::Hit { .. } => "Hit",
        Verdict::SourceChanged => "SourceChanged",
        Verdict::HeadersChanged => "HeadersChanged",
        Verdict::Cold => "Cold",
    }
}

//! Build sessions: per-session statistics, a per-session log of every
//! compile's verdict and reason, and the optional compile journal (one JSON
//! line per compile) that `ccd analyze` rolls up.
//!
//! A compile with an unknown or stale session id (say, after a daemon
//! restart) is compiled as usual; only its session bookkeeping is lost.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ccd_protocol::SessionReport;

use crate::lock::lock;
use crate::stats::Tally;

/// What became of a compile, as its session log and journal say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Hit,
    /// Compiled: no result was made from the source as it is now.
    SourceChanged,
    /// Compiled: the source is known, but a header or a lookup differs.
    HeadersChanged,
    /// Compiled: the compile context never produced a result.
    Cold,
    /// Compiled: a stored result could not be used (damaged, or it could
    /// not be put in place).
    Unusable,
    /// Passed to the compiler unchanged.
    NonCacheable,
    /// The compile failed, or ccd refused it (`--strict-paths`).
    Error,
}

impl Verdict {
    /// The verdict's name in logs and journals (stable: scripts read it).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Hit => "Hit",
            Verdict::SourceChanged => "SourceChanged",
            Verdict::HeadersChanged => "HeadersChanged",
            Verdict::Cold => "Cold",
            Verdict::Unusable => "Unusable",
            Verdict::NonCacheable => "NonCacheable",
            Verdict::Error => "Error",
        }
    }
}

/// What happened to one compile.
pub struct Event<'a> {
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: &'a str,
    /// How it counts (the same as in `ccd status`).
    pub tally: &'a Tally,
    pub cwd: &'a Path,
    pub source: Option<&'a Path>,
    pub output: Option<&'a Path>,
    pub duration_ms: u64,
    pub key_root: &'a Path,
    pub path_remap: &'a str,
}

#[derive(Default)]
struct Counts {
    hits: u64,
    misses: u64,
    non_cacheable: BTreeMap<String, u64>,
    errors: u64,
    saved_ms: u64,
}

pub struct Session {
    log_path: PathBuf,
    log: Mutex<File>,
    journal_path: Option<PathBuf>,
    journal: Option<Mutex<File>>,
    counts: Mutex<Counts>,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    counter: AtomicU64,
}

impl Sessions {
    /// Starts a session; its log lives in `dir` (the cache's `sessions/`).
    pub fn start(&self, dir: &Path, journal: Option<PathBuf>) -> std::io::Result<String> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let seed = format!("{}-{}-{n}", std::process::id(), ccd_filestate::now_ns());
        let id = blake3::hash(seed.as_bytes()).to_hex()[..32].to_string();
        std::fs::create_dir_all(dir)?;
        let log_path = dir.join(format!("{id}.log"));
        let open = |p: &Path| {
            File::options()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(p)
        };
        let log = open(&log_path)?;
        let journal_file = match &journal {
            Some(p) => Some(Mutex::new(open(p)?)),
            None => None,
        };
        let s = Session {
            log_path,
            log: Mutex::new(log),
            journal_path: journal,
            journal: journal_file,
            counts: Mutex::new(Counts::default()),
        };
        lock(&self.map).insert(id.clone(), Arc::new(s));
        Ok(id)
    }

    pub fn report(&self, id: &str) -> SessionReport {
        match lock(&self.map).get(id) {
            Some(s) => s.report(id),
            None => SessionReport {
                id: id.to_string(),
                ..Default::default()
            },
        }
    }

    pub fn end(&self, id: &str) -> SessionReport {
        let r = self.report(id);
        lock(&self.map).remove(id);
        r
    }

    /// Records `ev` for the session `id` (from the compile's
    /// `CCD_SESSION_ID`), if the daemon knows it.
    pub fn record(&self, id: Option<&[u8]>, ev: &Event<'_>) {
        let Some(id) = id.and_then(|i| std::str::from_utf8(i).ok()) else {
            return;
        };
        let Some(s) = lock(&self.map).get(id).cloned() else {
            return;
        };
        s.record(ev);
    }
}

impl Session {
    fn record(&self, ev: &Event<'_>) {
        {
            let mut c = lock(&self.counts);
            let t = ev.tally;
            c.hits += u64::from(t.hit);
            c.misses += u64::from(t.miss);
            c.errors += u64::from(t.error);
            c.saved_ms += t.saved_ms;
            if let Some(r) = &t.non_cacheable {
                *c.non_cacheable.entry(r.to_string()).or_default() += 1;
            }
        }
        let show = |p: Option<&Path>| p.map_or(String::from("-"), |p| p.display().to_string());
        let line = format!(
            "{} {} -> {} ({}) cwd={} key_root={} path_remap={} {} ms\n",
            ev.verdict.as_str(),
            show(ev.source),
            show(ev.output),
            ev.reason,
            ev.cwd.display(),
            ev.key_root.display(),
            ev.path_remap,
            ev.duration_ms
        );
        let _ = lock(&self.log).write_all(line.as_bytes());
        if let Some(j) = &self.journal {
            let json = serde_json::json!({
                "time_ms": ccd_filestate::now_ns() / 1_000_000,
                "cwd": ev.cwd.display().to_string(),
                "source": ev.source.map(|p| p.display().to_string()),
                "output": ev.output.map(|p| p.display().to_string()),
                "verdict": ev.verdict.as_str(),
                "reason": ev.reason,
                "duration_ms": ev.duration_ms,
                "saved_ms": ev.tally.saved_ms,
            });
            let _ = writeln!(lock(j), "{json}");
        }
    }

    fn report(&self, id: &str) -> SessionReport {
        let c = lock(&self.counts);
        SessionReport {
            id: id.to_string(),
            known: true,
            hits: c.hits,
            misses: c.misses,
            non_cacheable: c.non_cacheable.values().sum(),
            non_cacheable_reasons: c
                .non_cacheable
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            errors: c.errors,
            time_saved_ms: c.saved_ms,
            log: self.log_path.display().to_string(),
            journal: self.journal_path.as_ref().map(|p| p.display().to_string()),
        }
    }
}

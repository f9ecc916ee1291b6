//! `ccd doctor`: why ccd is or is not helping, in one look. It works
//! without a daemon (it never starts one): the executable, the cache and
//! socket, the daemon if one runs (or why none could start), the settings
//! in effect, whether the file watcher works on the cache's filesystem,
//! the free space, and the last problems the daemon logged.

use std::fmt::Write;
use std::path::Path;

use ccd_client::{backoff, daemon_link};
use ccd_protocol::{ExeId, Location, Request, Response, StatusReport};
use serde_json::json;

/// How many of the daemon log's last warnings and errors are shown.
const RECENT: usize = 5;

pub fn run(json_out: bool) -> anyhow::Result<String> {
    let loc = Location::from_env()?;
    let exe = std::env::current_exe().ok();
    let daemon: Option<StatusReport> = match daemon_link::send(&Request::Status, false) {
        Some((_, Response::Status(s))) => Some(*s),
        _ => None,
    };
    let down = backoff::read(&loc);
    let watcher = watcher_works(&loc.cache_dir);
    let free = free_bytes(&loc.cache_dir);
    let recent = recent_problems(&loc.cache_dir.join("daemon.log"));
    let (settings, warnings) = match &daemon {
        Some(s) => (s.settings.clone(), s.config_warnings.clone()),
        None => {
            let c = ccd_daemon::DaemonConfig::load(&loc.cache_dir);
            let rows = c
                .describe()
                .into_iter()
                .map(|(k, v, s)| (k.to_string(), v, s))
                .collect();
            (rows, c.warnings)
        }
    };

    if json_out {
        let v = json!({
            "executable": exe.as_ref().map(|p| p.display().to_string()),
            "version": env!("CARGO_PKG_VERSION"),
            "cache_dir": loc.cache_dir.display().to_string(),
            "socket": loc.socket.display().to_string(),
            "daemon": daemon.as_ref().map(|s| json!({
                "pid": s.pid,
                "uptime_secs": s.uptime_secs,
                "rss_bytes": s.rss_bytes,
            })),
            "start_failures": down.as_ref().map(|d| json!({
                "attempts": d.attempts,
                "retry_after_ms": d.until_ms,
                "reason": d.reason,
            })),
            "settings": settings.iter().map(|(k, v, from)| json!({"name": k, "value": v, "from": from})).collect::<Vec<_>>(),
            "config_warnings": warnings,
            "watcher_works": watcher.is_ok(),
            "watcher_problem": watcher.as_ref().err(),
            "free_bytes": free,
            "recent_problems": recent,
        });
        return Ok(format!("{v}\n"));
    }

    let mut o = String::new();
    let id = ExeId::of_self();
    let _ = writeln!(
        o,
        "executable     {} (ccd {}{})",
        exe.as_ref().map_or("?".into(), |p| p.display().to_string()),
        env!("CARGO_PKG_VERSION"),
        id.map_or(String::new(), |i| format!(
            ", inode {} of {} bytes",
            i.ino, i.size
        ))
    );
    let _ = writeln!(o, "cache          {}", loc.cache_dir.display());
    let _ = writeln!(o, "socket         {}", loc.socket.display());
    match &daemon {
        Some(s) => {
            let _ = writeln!(
                o,
                "daemon         pid {}, up {} s, this executable, {} resident",
                s.pid,
                s.uptime_secs,
                ccd_daemon::config::format_size(s.rss_bytes)
            );
        }
        None => {
            let _ = writeln!(
                o,
                "daemon         none runs (the next compile starts one{})",
                if down.is_some() {
                    ", unless it backs off"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(d) = &down {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let wait = d.until_ms.saturating_sub(now) / 1000;
        let _ = writeln!(
            o,
            "start failed   {} time(s) in a row; compiles run the compiler alone{}",
            d.attempts,
            if wait > 0 {
                format!(" for another {wait} s")
            } else {
                String::new()
            }
        );
        for line in d.reason.lines() {
            let _ = writeln!(o, "               {line}");
        }
    }
    for (k, v, from) in &settings {
        let _ = writeln!(o, "setting        {k} = {v} ({from})");
    }
    for w in &warnings {
        let _ = writeln!(o, "config warning {w}");
    }
    let _ = match &watcher {
        Ok(()) => writeln!(o, "file watcher   works on the cache's filesystem"),
        Err(e) => writeln!(
            o,
            "file watcher   does not work here ({e}): every hit is verified by stat and hash"
        ),
    };
    if let Some(b) = free {
        let _ = writeln!(
            o,
            "free space     {} on the cache's filesystem",
            ccd_daemon::config::format_size(b)
        );
    }
    if recent.is_empty() {
        let _ = writeln!(o, "recent problems none in the daemon log");
    } else {
        let _ = writeln!(
            o,
            "recent problems (the daemon log's last warnings and errors)"
        );
        for line in &recent {
            let _ = writeln!(o, "  {line}");
        }
    }
    Ok(o)
}

/// Whether inotify sees a write in the cache directory.
fn watcher_works(cache_dir: &Path) -> Result<(), String> {
    let probe = cache_dir.join(format!("tmp/doctor-{}", std::process::id()));
    std::fs::create_dir_all(cache_dir.join("tmp")).map_err(|e| e.to_string())?;
    std::fs::write(&probe, b"before").map_err(|e| e.to_string())?;
    let result = (|| {
        let j = ccd_filestate::Journal::new().map_err(|e| e.to_string())?;
        let key = b"doctor-probe";
        let since = j
            .watch_file(&probe, key)
            .ok_or("cannot watch a file there")?;
        std::fs::write(&probe, b"after").map_err(|e| e.to_string())?;
        j.sync();
        if j.file_untouched(key, since) {
            Err("a write raised no event".to_string())
        } else {
            Ok(())
        }
    })();
    let _ = std::fs::remove_file(&probe);
    result
}

/// Bytes free for an unprivileged user on the filesystem of `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs writes one struct for a NUL-terminated path.
    (unsafe { libc::statvfs(c.as_ptr(), &mut s) } == 0)
        .then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

/// The last warnings and errors of the daemon log.
fn recent_problems(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .map(str::to_string)
        .collect();
    let keep = lines.len().saturating_sub(RECENT);
    lines.drain(..keep);
    lines
}

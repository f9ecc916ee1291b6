//! Admin commands: start, stop, status, clear, zero-stats, and the daemon.

use std::ffi::OsString;

use anyhow::bail;
use ccd_client::daemon_link;
use ccd_protocol::{Request, Response, StatusReport};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ccd",
    version,
    about = "A daemon-backed compiler cache for C, C++ and Rust",
    after_help = "Compile through ccd with `ccd gcc -c a.c`, CC=\"ccd gcc\", \
                  CMAKE_C_COMPILER_LAUNCHER=ccd, a symlink named gcc pointing at ccd, \
                  or RUSTC_WRAPPER=ccd for cargo."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the daemon of this cache directory (compiles start it too).
    Start,
    /// Stop the daemon.
    Stop,
    /// Show statistics and cache usage.
    Status {
        /// One JSON object, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Remove every cached result.
    Clear,
    /// Reset the statistics.
    #[command(alias = "zero")]
    ZeroStats,
    /// Show the effective settings and where each comes from.
    Config,
    /// Why ccd is or is not helping: daemon, start failures, settings,
    /// file watcher, free space, recent problems.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Start a build session and print its id (export it as CCD_SESSION_ID).
    SessionStart {
        /// Append one JSON line per compile of the session to this file.
        #[arg(long)]
        journal: Option<std::path::PathBuf>,
    },
    /// Show a session's statistics.
    SessionStats {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// End a session and show its statistics.
    SessionEnd {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Summarise a compile journal: hit rate, miss reasons, slowest units.
    Analyze {
        file: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run the daemon in the foreground (compiles start it on demand).
    Daemon,
}

const WORDS: &[&str] = &[
    "start",
    "stop",
    "status",
    "clear",
    "zero-stats",
    "config",
    "session-start",
    "session-stats",
    "session-end",
    "analyze",
    "doctor",
    "zero",
    "daemon",
    "help",
    "--help",
    "-h",
    "--version",
    "-V",
];

pub fn is_admin_word(arg: &OsString) -> bool {
    arg.to_str().is_some_and(|a| WORDS.contains(&a))
}

pub fn main(argv0: OsString, rest: Vec<OsString>) -> i32 {
    let cli = Cli::parse_from(std::iter::once(argv0).chain(rest));
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ccd: {e:#}");
            1
        }
    }
}

fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Daemon => {
            return match ccd_daemon::run() {
                Ok(_) => Ok(0),
                Err(e) => {
                    eprintln!("ccd daemon: {e:#}");
                    Ok(1)
                }
            };
        }
        Command::Config => print!("{}", config_text()?),
        Command::Doctor { json } => print!("{}", crate::doctor::run(json)?),
        Command::SessionStart { journal } => {
            let journal = journal
                .map(|j| std::path::absolute(&j))
                .transpose()?
                .map(|j| ccd_protocol::ByteBuf::from(j.into_os_string().into_encoded_bytes()));
            match request(Request::SessionStart { journal })? {
                Some(Response::Session { id }) => println!("{id}"),
                Some(Response::Error { message }) => bail!("{message}"),
                other => bail!("unexpected answer from the daemon: {other:?}"),
            }
        }
        Command::SessionStats { id, json } => {
            print_session(request(Request::SessionStats { id })?, json)?
        }
        Command::SessionEnd { id, json } => {
            print_session(request(Request::SessionEnd { id })?, json)?
        }
        Command::Analyze { file, json } => print!("{}", crate::analyze::run(&file, json)?),
        Command::Start => {
            let s = status(true)?;
            println!("ccd daemon running (pid {}) for {}", s.pid, s.cache_dir);
        }
        Command::Stop => match daemon_link::send(&Request::Shutdown, false) {
            None => println!("ccd daemon not running"),
            Some((_, answer)) => {
                expect_ok(Some(answer))?;
                println!("ccd daemon stopped");
            }
        },
        Command::Status { json } => {
            let s = status(true)?;
            if json {
                println!("{}", status_json(&s));
            } else {
                print!("{}", status_text(&s));
            }
        }
        Command::Clear => {
            expect_ok(request(Request::Clear)?)?;
            println!("cache cleared");
        }
        Command::ZeroStats => {
            expect_ok(request(Request::ZeroStats)?)?;
            println!("statistics zeroed");
        }
    }
    Ok(0)
}

fn print_session(r: Option<Response>, json: bool) -> anyhow::Result<()> {
    let s = match r {
        Some(Response::SessionStats(s)) => *s,
        other => bail!("unexpected answer from the daemon: {other:?}"),
    };
    if json {
        let reasons: serde_json::Map<String, serde_json::Value> = s
            .non_cacheable_reasons
            .iter()
            .map(|(k, n)| (k.clone(), (*n).into()))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "id": s.id,
                "known": s.known,
                "hits": s.hits,
                "misses": s.misses,
                "non_cacheable": s.non_cacheable,
                "non_cacheable_reasons": reasons,
                "errors": s.errors,
                "time_saved_ms": s.time_saved_ms,
                "log": s.log,
                "journal": s.journal,
            })
        );
        return Ok(());
    }
    if !s.known {
        println!(
            "session {}: unknown to the daemon (ended, or the daemon restarted)",
            s.id
        );
        return Ok(());
    }
    println!("session         {}", s.id);
    println!("hits            {}", s.hits);
    println!("misses          {}", s.misses);
    println!("non-cacheable   {}", s.non_cacheable);
    for (reason, n) in &s.non_cacheable_reasons {
        println!("  {reason:<30} {n}");
    }
    println!("failed compiles {}", s.errors);
    println!("time saved      {:.1} s", s.time_saved_ms as f64 / 1000.0);
    println!("log             {}", s.log);
    if let Some(j) = &s.journal {
        println!("journal         {j}");
    }
    Ok(())
}

/// The settings in effect: those of the running daemon when one runs (it
/// reads config files again when they change), else those a daemon would
/// start with now.
fn config_text() -> anyhow::Result<String> {
    use std::fmt::Write;
    let loc = ccd_protocol::Location::from_env()?;
    let dir_source = if std::env::var_os("CCD_DIR").is_some() {
        "environment CCD_DIR"
    } else {
        "default"
    };
    let mut rows = vec![(
        "dir".to_string(),
        loc.cache_dir.display().to_string(),
        dir_source.to_string(),
    )];
    let mut o = String::new();
    let (settings, warnings) = match daemon_link::send(&Request::Status, false) {
        Some((_, Response::Status(s))) => {
            let _ = writeln!(o, "in effect in the running daemon (pid {}):\n", s.pid);
            (s.settings, s.config_warnings)
        }
        _ => {
            let c = ccd_daemon::DaemonConfig::load(&loc.cache_dir);
            let _ = writeln!(o, "no daemon runs; one started now would use:\n");
            let rows = c
                .describe()
                .into_iter()
                .map(|(k, v, s)| (k.to_string(), v, s))
                .collect();
            (rows, c.warnings)
        }
    };
    rows.extend(settings);
    let header = (
        "setting".to_string(),
        "value".to_string(),
        "from".to_string(),
    );
    let w0 = rows
        .iter()
        .chain([&header])
        .map(|r| r.0.len())
        .max()
        .unwrap_or(0);
    let w1 = rows
        .iter()
        .chain([&header])
        .map(|r| r.1.len())
        .max()
        .unwrap_or(0);
    for (name, value, source) in std::iter::once(&header).chain(&rows) {
        let _ = writeln!(o, "{name:<w0$}  {value:<w1$}  {source}");
    }
    let _ = writeln!(
        o,
        "\nconfig files (later ones win; CCD_* environment variables win over both):"
    );
    for f in ccd_daemon::config::config_files(&loc.cache_dir) {
        let state = if f.exists() { "" } else { " (absent)" };
        let _ = writeln!(o, "  {}{state}", f.display());
    }
    for w in &warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    Ok(o)
}

fn request(req: Request) -> anyhow::Result<Option<Response>> {
    let (_, answer) = daemon_link::send(&req, true).ok_or_else(unreachable)?;
    Ok(Some(answer))
}

/// Why the daemon cannot be reached, as precisely as the directories tell.
fn unreachable() -> anyhow::Error {
    use std::os::unix::fs::MetadataExt;
    let Ok(loc) = ccd_protocol::Location::from_env() else {
        return anyhow::anyhow!("cannot start or reach the ccd daemon: no cache directory");
    };
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    for (what, dir) in [
        ("cache directory", &loc.cache_dir),
        ("socket directory", &loc.socket_dir),
    ] {
        let Ok(m) = std::fs::symlink_metadata(dir) else {
            continue;
        };
        let problem = if !m.is_dir() {
            "is not a directory".to_string()
        } else if m.uid() != uid {
            format!(
                "belongs to another user (uid {}); ccd refuses to use it",
                m.uid()
            )
        } else if what == "socket directory" && m.mode() & 0o077 != 0 {
            "can be entered by other users; ccd refuses to use it".to_string()
        } else {
            continue;
        };
        return anyhow::anyhow!(
            "cannot start the ccd daemon: {what} {} {problem}",
            dir.display()
        );
    }
    anyhow::anyhow!(
        "cannot start or reach the ccd daemon (see {})",
        loc.cache_dir.join("daemon.log").display()
    )
}

fn status(start: bool) -> anyhow::Result<StatusReport> {
    match daemon_link::send(&Request::Status, start).ok_or_else(unreachable)? {
        (_, Response::Status(s)) => Ok(*s),
        (_, other) => bail!("unexpected answer from the daemon: {other:?}"),
    }
}

fn expect_ok(r: Option<Response>) -> anyhow::Result<()> {
    match r {
        Some(Response::Ok) => Ok(()),
        Some(Response::Error { message }) => bail!("{message}"),
        other => bail!("unexpected answer from the daemon: {other:?}"),
    }
}

fn status_json(s: &StatusReport) -> String {
    let map = |v: &[(String, u64)]| {
        serde_json::Value::Object(
            v.iter()
                .map(|(k, n)| (k.clone(), serde_json::Value::from(*n)))
                .collect(),
        )
    };
    serde_json::json!({
        "cache_dir": s.cache_dir,
        "pid": s.pid,
        "uptime_secs": s.uptime_secs,
        "hits": s.hits,
        "misses": s.misses,
        "non_cacheable": s.non_cacheable,
        "non_cacheable_reasons": map(&s.non_cacheable_reasons),
        "errors": s.errors,
        "internal_errors": s.internal_errors,
        "not_stored_reasons": map(&s.not_stored_reasons),
        "time_saved_ms": s.time_saved_ms,
        "entries": s.entries,
        "size_bytes": s.size_bytes,
        "max_size_bytes": s.max_size_bytes,
        "record_bytes_raw": s.record_bytes_raw,
        "record_bytes_stored": s.record_bytes_stored,
        "rss_bytes": s.rss_bytes,
        "files_tracked": s.files_tracked,
        "sealed_requests": s.sealed_requests,
        "watched_dirs": s.watched_dirs,
        "context_memory_bytes": s.context_memory_bytes,
        "max_memory_bytes": s.max_memory_bytes,
        "spares_served": s.spares_served,
        "spares_copied": s.spares_copied,
        "spares_reused_unread": s.spares_reused_unread,
        "spares_reused_hashed": s.spares_reused_hashed,
        "settings": serde_json::Value::Object(
            s.settings
                .iter()
                .map(|(k, v, from)| (k.clone(), serde_json::json!({ "value": v, "from": from })))
                .collect(),
        ),
        "config_warnings": s.config_warnings,
    })
    .to_string()
}

fn status_text(s: &StatusReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let total = s.hits + s.misses;
    let rate = if total > 0 {
        100.0 * s.hits as f64 / total as f64
    } else {
        0.0
    };
    let _ = writeln!(o, "cache directory       {}", s.cache_dir);
    let _ = writeln!(
        o,
        "daemon                pid {}, up {} s",
        s.pid, s.uptime_secs
    );
    let _ = writeln!(
        o,
        "hits                  {} ({rate:.1}% of cacheable)",
        s.hits
    );
    let _ = writeln!(o, "misses                {}", s.misses);
    let _ = writeln!(o, "non-cacheable         {}", s.non_cacheable);
    for (reason, n) in &s.non_cacheable_reasons {
        let _ = writeln!(o, "  {reason:<30} {n}");
    }
    let _ = writeln!(o, "failed compiles       {}", s.errors);
    let _ = writeln!(
        o,
        "unusable results      {} (damaged or not deliverable; compiled instead)",
        s.internal_errors
    );
    if !s.not_stored_reasons.is_empty() {
        let _ = writeln!(o, "misses not stored");
        for (reason, n) in &s.not_stored_reasons {
            let _ = writeln!(o, "  {reason:<30} {n}");
        }
    }
    let _ = writeln!(
        o,
        "time saved            {:.1} s",
        s.time_saved_ms as f64 / 1000.0
    );
    let _ = writeln!(o, "entries               {}", s.entries);
    let _ = writeln!(
        o,
        "daemon memory         {} ({} files tracked, {} sealed requests, {} watched directories)",
        ccd_daemon::config::format_size(s.rss_bytes),
        s.files_tracked,
        s.sealed_requests,
        s.watched_dirs
    );
    let _ = writeln!(
        o,
        "  for compile contexts {} of max_memory {} (least recently used dropped past it)",
        ccd_daemon::config::format_size(s.context_memory_bytes),
        ccd_daemon::config::format_size(s.max_memory_bytes)
    );
    if s.spares_served + s.spares_copied > 0 {
        let _ = writeln!(
            o,
            "large outputs         {} moved into place from spares; spares: {} copied, {} reused \
             ({} known untouched by the watcher, {} hashed)",
            s.spares_served,
            s.spares_copied,
            s.spares_reused_unread + s.spares_reused_hashed,
            s.spares_reused_unread,
            s.spares_reused_hashed
        );
    }
    if s.record_bytes_stored > 0 {
        let _ = writeln!(
            o,
            "record compression    {:.1}x (zstd; objects are stored as is)",
            s.record_bytes_raw as f64 / s.record_bytes_stored as f64
        );
    }
    let _ = writeln!(
        o,
        "size                  {} of {} ({:.0}%)",
        ccd_daemon::config::format_size(s.size_bytes),
        ccd_daemon::config::format_size(s.max_size_bytes),
        100.0 * s.size_bytes as f64 / s.max_size_bytes.max(1) as f64
    );
    let settings: Vec<String> = s
        .settings
        .iter()
        .map(|(k, v, from)| format!("{k} {v} ({from})"))
        .collect();
    let _ = writeln!(o, "settings              {}", settings.join(", "));
    for w in &s.config_warnings {
        let _ = writeln!(o, "configuration warning {w}");
    }
    o
}

//! Daemon processes: finding the daemon of a cache directory, signalling
//! and killing it, waiting for it to be gone, and where it listens.
//!
//! Daemons are found by their cache directory, never by name alone: the
//! tests of the whole suite run in one process at once, each with daemons
//! of its own.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::env::Env;

/// The pids of the live `ccd daemon` processes serving `cache` (found by
/// their command line and their `CCD_DIR`), zombies excluded.
pub fn daemon_pids(cache: &Path) -> Vec<u32> {
    let mut want = b"CCD_DIR=".to_vec();
    want.extend_from_slice(cache.as_os_str().as_bytes());
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_daemon = argv.len() >= 2
            && argv[1] == b"daemon"
            && Path::new(std::ffi::OsStr::from_bytes(argv[0]))
                .file_name()
                .is_some_and(|n| n == "ccd");
        if !is_daemon || process_is_gone(pid) {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|v| v == want.as_slice()) {
            pids.push(pid);
        }
    }
    pids
}

pub fn process_is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie waiting for a reaper is dead too.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Sends `sig` to `pid`; whether the process existed.
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Kills `pid` with SIGKILL and waits until it is gone.
pub fn kill_and_wait(pid: u32) {
    assert!(signal(pid, "KILL"), "daemon {pid} was not running");
    wait_gone(pid);
}

/// Waits (up to 10 s) until `pid` is gone.
pub fn wait_gone(pid: u32) {
    let t = Instant::now();
    while !process_is_gone(pid) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "process {pid} is still alive"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until process `pid` holds no file lock (its `daemon.lock`): a
/// killed process may still be torn down, its lock held, for a few
/// milliseconds after it is reported dead (a zombie). Tests that restart
/// the daemon on purpose wait for the lock to be free, so that the restart
/// is not a race with the old daemon (`persistence` tests that race).
pub fn wait_locks_released(pid: u32) {
    let pid = pid.to_string();
    let t = Instant::now();
    loop {
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        let held = locks
            .lines()
            .any(|l| l.split_whitespace().nth(4) == Some(pid.as_str()));
        if !held {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "process {pid} still holds a lock"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Stops `env`'s daemon (if one runs) with `ccd stop` and waits until it
/// is entirely gone.
pub fn stop_daemon(env: &Env) {
    let pids = daemon_pids(&env.cache);
    env.stop();
    for pid in pids {
        wait_gone(pid);
        wait_locks_released(pid);
    }
}

/// The real uid of this process (what `getuid` returns; the same for
/// every test).
pub fn uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .expect("Uid in /proc/self/status")
}

/// Where the daemon of `cache` listens, by the documented rule: the socket
/// directory is `$XDG_RUNTIME_DIR/ccd/` when that variable is an absolute
/// path, else `/tmp/ccd-<uid>/`; the name is the 64-bit FNV-1a of the cache
/// directory's path as `{:016x}.sock`.
pub fn socket_path(cache: &Path, runtime_dir: Option<&Path>) -> PathBuf {
    let dir = match runtime_dir {
        Some(r) if r.is_absolute() => r.join("ccd"),
        _ => PathBuf::from(format!("/tmp/ccd-{}", uid())),
    };
    let hash = cache
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    dir.join(format!("{hash:016x}.sock"))
}

/// The socket of `env`'s daemon, with this process's `XDG_RUNTIME_DIR`
/// (which the commands of `env` inherit).
pub fn env_socket(env: &Env) -> PathBuf {
    let rt = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    socket_path(&env.cache, rt.as_deref().map(Path::new))
}

//! The daemon's socket, its single-instance lock and its idle timer.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use ccd_protocol::{Location, peer_uid};
use ccd_store::{Store, ensure_private_dir};

use crate::config::DaemonConfig;
use crate::daemon::Daemon;
use crate::{connection, lifecycle};

/// How a daemon run ended without an error.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Another daemon holds this cache directory's lock.
    AlreadyRunning,
}

/// Runs the daemon for the cache directory named by the environment until
/// it is idle for its idle timeout or asked to stop.
pub fn run() -> anyhow::Result<Ended> {
    let loc = Location::from_env()?;
    let config = DaemonConfig::load(&loc.cache_dir);
    ensure_private_dir(&loc.socket_dir)
        .with_context(|| format!("socket directory {}", loc.socket_dir.display()))?;
    let store = Store::open(&loc.cache_dir)
        .with_context(|| format!("cache directory {}", loc.cache_dir.display()))?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(loc.cache_dir.join("daemon.lock"))
        .context("daemon lock file")?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Ok(Ended::AlreadyRunning);
    }
    init_logging(&loc.cache_dir, &config);
    for w in &config.warnings {
        tracing::warn!("configuration: {w}");
    }
    // Outputs are created with the client's exact permission bits.
    // SAFETY: umask cannot fail. SIGPIPE: a client that hangs up must not
    // kill the daemon.
    unsafe {
        libc::umask(0);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }

    // We hold the lock, so a socket file left behind is stale.
    let _ = fs::remove_file(&loc.socket);
    let listener = UnixListener::bind(&loc.socket)
        .with_context(|| format!("binding {}", loc.socket.display()))?;
    fs::set_permissions(&loc.socket, fs::Permissions::from_mode(0o600))?;
    let socket_ino = fs::metadata(&loc.socket)?.ino();
    lifecycle::hold(lock.as_raw_fd(), socket_ino);
    tracing::info!(pid = std::process::id(), socket = %loc.socket.display(), "daemon started");

    let journal = if config.watch.value {
        ccd_filestate::Journal::new()
            .map_err(|e| tracing::warn!(error = %e, "file watcher unavailable; verifying by stat"))
            .ok()
    } else {
        None
    };
    let daemon = Arc::new(Daemon::new(loc, store, journal, config.max_size.value));
    {
        let daemon = Arc::clone(&daemon);
        let idle = config.idle();
        std::thread::spawn(move || idle_watch(&daemon, idle, socket_ino));
    }
    let pool = Arc::new(Pool {
        listener,
        daemon,
        idle: AtomicUsize::new(0),
        threads: AtomicUsize::new(0),
    });
    for _ in 0..INITIAL_WORKERS {
        pool.spawn_worker();
    }
    // The main thread only keeps the lock file open; workers do the rest.
    loop {
        std::thread::park();
        let _ = &lock;
    }
}

/// Workers waiting in `accept` when the daemon starts; more are started
/// whenever all are busy (a miss holds its worker while the client compiles).
const INITIAL_WORKERS: usize = 4;
const MAX_WORKERS: usize = 1024;

/// Worker threads that accept connections themselves: no thread is started
/// and no hand-off happens per request.
struct Pool {
    listener: UnixListener,
    daemon: Arc<Daemon>,
    idle: AtomicUsize,
    threads: AtomicUsize,
}

impl Pool {
    fn spawn_worker(self: &Arc<Self>) {
        if self.threads.fetch_add(1, Ordering::SeqCst) >= MAX_WORKERS {
            self.threads.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        self.idle.fetch_add(1, Ordering::SeqCst);
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("ccd-worker".into())
            .spawn(move || pool.work());
        if spawned.is_err() {
            self.threads.fetch_sub(1, Ordering::SeqCst);
            self.idle.fetch_sub(1, Ordering::SeqCst);
            tracing::error!("cannot start a worker thread");
        }
    }

    fn work(self: Arc<Self>) {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        loop {
            let Ok((stream, _)) = self.listener.accept() else {
                continue;
            };
            if peer_uid(&stream) != Some(uid) {
                tracing::warn!("refused a connection from another user");
                continue;
            }
            let d = &self.daemon;
            d.active.fetch_add(1, Ordering::SeqCst);
            if self.idle.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.spawn_worker();
            }
            connection::serve(d, stream);
            // The client has its answer.
            if let Some(j) = &d.journal {
                d.spares.refill(j, &d.store);
            }
            d.touch();
            d.active.fetch_sub(1, Ordering::SeqCst);
            self.idle.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Housekeeping and the idle timer.
fn idle_watch(d: &Daemon, idle: Duration, socket_ino: u64) {
    let tick = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        std::thread::sleep(tick);
        d.maintain();
        // Another daemon replaced our socket (ours was deleted): leave.
        if fs::metadata(&d.location.socket).map(|m| m.ino()).ok() != Some(socket_ino) {
            tracing::info!("socket gone or replaced; exiting");
            std::process::exit(0);
        }
        if d.active.load(Ordering::SeqCst) > 0 {
            continue;
        }
        let last = Duration::from_millis(d.last_active_ms.load(Ordering::Relaxed));
        let idle_for = d.started.elapsed().saturating_sub(last);
        if idle_for >= idle || executable_replaced() {
            lifecycle::exit_now(d);
        }
    }
}

/// After an upgrade the running binary is gone from disk: make way for the
/// new one once idle.
fn executable_replaced() -> bool {
    fs::read_link("/proc/self/exe")
        .map(|p| p.to_string_lossy().ends_with(" (deleted)"))
        .unwrap_or(false)
}

fn init_logging(cache_dir: &Path, config: &DaemonConfig) {
    let level = match config.log.value.as_str() {
        "trace" => tracing::Level::TRACE,
        "debug" => tracing::Level::DEBUG,
        "info" => tracing::Level::INFO,
        "error" => tracing::Level::ERROR,
        _ => tracing::Level::WARN,
    };
    let file = File::options()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(cache_dir.join("daemon.log"));
    if let Ok(file) = file {
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::sync::Mutex::new(file))
            .with_target(false)
            .try_init();
    }
}

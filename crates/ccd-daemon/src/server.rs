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

use crate::acker::{Acker, Conn};
use crate::config::DaemonConfig;
use crate::daemon::Daemon;
use crate::settings::Changed;
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
    if !take_lock(&lock) {
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
    // Up and answering: compiles may start daemons again (see the client's
    // back-off after failed starts).
    let _ = fs::remove_file(loc.beside_socket("down"));
    tracing::info!(pid = std::process::id(), socket = %loc.socket.display(), "daemon started");

    let journal = if config.watch.value {
        ccd_filestate::Journal::new()
            .map_err(|e| tracing::warn!(error = %e, "file watcher unavailable; verifying by stat"))
            .ok()
    } else {
        None
    };
    let daemon = Arc::new(Daemon::new(loc, store, journal, config));
    {
        let daemon = Arc::clone(&daemon);
        std::thread::spawn(move || idle_watch(&daemon, socket_ino));
    }
    let acker = Arc::new(Acker::default());
    {
        let acker = Arc::clone(&acker);
        std::thread::Builder::new()
            .name("ccd-acker".into())
            .spawn(move || acker.run())
            .context("starting the acknowledging thread")?;
    }
    let pool = Arc::new(Pool {
        listener,
        acker,
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

/// Takes the cache directory's single-instance lock. A daemon on its way
/// out (replaced by another executable, or killed because it was stuck)
/// may still hold it for a moment: wait a little for it.
fn take_lock(lock: &File) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
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
    acker: Arc<Acker>,
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
            // Alive: said with the answer, or on its own by the acker if
            // the answer takes a while (see `crate::acker`).
            let conn = Arc::new(Conn::new(stream));
            self.acker.add(&conn);
            let d = &self.daemon;
            d.active.fetch_add(1, Ordering::SeqCst);
            if self.idle.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.spawn_worker();
            }
            connection::serve(d, conn);
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

/// Housekeeping, settings changed in a config file, and the idle timer.
fn idle_watch(d: &Daemon, socket_ino: u64) {
    loop {
        let tick =
            (d.settings.idle() / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        std::thread::sleep(tick);
        d.maintain();
        if let Some(changed) = d.settings.reload_if_changed() {
            apply(d, &changed);
        }
        let retiring = d.retiring.load(Ordering::SeqCst);
        // Another daemon replaced our socket (ours was deleted, and not by
        // us on the way out): leave.
        if !retiring && fs::metadata(&d.location.socket).map(|m| m.ino()).ok() != Some(socket_ino) {
            tracing::info!("socket gone or replaced; exiting");
            std::process::exit(0);
        }
        if d.active.load(Ordering::SeqCst) > 0 {
            continue;
        }
        // Replaced by a daemon of another executable, or of other
        // settings: gone once the work in hand, stores included, is done.
        if retiring {
            d.pending.wait_all();
            lifecycle::exit_now(d);
        }
        let last = Duration::from_millis(d.last_active_ms.load(Ordering::Relaxed));
        let idle_for = d.started.elapsed().saturating_sub(last);
        if idle_for >= d.settings.idle() || executable_replaced() {
            lifecycle::exit_now(d);
        }
    }
}

/// Applies settings a config file changed.
fn apply(d: &Daemon, changed: &Changed) {
    if let Some(max) = changed.max_size {
        d.spares.set_cache_limit(max);
    }
    if let Some(max) = changed.max_memory {
        d.memo.set_max_memory(max);
    }
    if let Some(level) = &changed.log {
        set_log_level(level);
    }
    // The watcher is part of the daemon from its start: a daemon of the
    // new setting takes over (the next compile starts it).
    if changed.watch.is_some() {
        lifecycle::retire(d);
    }
}

/// After an upgrade the running binary is gone from disk: make way for the
/// new one once idle.
fn executable_replaced() -> bool {
    fs::read_link("/proc/self/exe")
        .map(|p| p.to_string_lossy().ends_with(" (deleted)"))
        .unwrap_or(false)
}

/// Changes the level of the daemon's log (set when a config file changes).
type LevelHandle = tracing_subscriber::reload::Handle<
    tracing_subscriber::filter::LevelFilter,
    tracing_subscriber::Registry,
>;
static LOG_LEVEL: std::sync::OnceLock<LevelHandle> = std::sync::OnceLock::new();

fn level_filter(name: &str) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    match name {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "error" => LevelFilter::ERROR,
        _ => LevelFilter::WARN,
    }
}

fn set_log_level(name: &str) {
    if let Some(h) = LOG_LEVEL.get() {
        let _ = h.modify(|f| *f = level_filter(name));
    }
}

fn init_logging(cache_dir: &Path, config: &DaemonConfig) {
    use tracing_subscriber::prelude::*;
    let file = File::options()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(cache_dir.join("daemon.log"));
    if let Ok(file) = file {
        let (filter, handle) =
            tracing_subscriber::reload::Layer::new(level_filter(&config.log.value));
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(std::sync::Mutex::new(file))
            .with_target(false);
        if tracing_subscriber::registry()
            .with(filter)
            .with(layer)
            .try_init()
            .is_ok()
        {
            let _ = LOG_LEVEL.set(handle);
        }
    }
}

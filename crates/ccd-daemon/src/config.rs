//! Daemon settings, read from the environment it was started with.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Exit after this long without requests (`CCD_IDLE_TIMEOUT`, seconds).
    pub idle_timeout: Duration,
    /// Log filter for the daemon's log file (`CCD_LOG`, e.g. `debug`).
    pub log: Option<String>,
    /// Use the file watcher (`CCD_WATCH=0` turns it off; every hit is then
    /// verified by stat and hash).
    pub watch: bool,
}

impl DaemonConfig {
    pub fn from_env() -> DaemonConfig {
        let secs = std::env::var("CCD_IDLE_TIMEOUT")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(3600);
        DaemonConfig {
            idle_timeout: Duration::from_secs(secs.max(1)),
            log: std::env::var("CCD_LOG").ok().filter(|v| !v.is_empty()),
            watch: std::env::var("CCD_WATCH").map_or(true, |v| v != "0" && v != "off"),
        }
    }
}

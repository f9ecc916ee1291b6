//! The settings in effect in this daemon. A changed config file is noticed
//! (its stamp is checked once per maintenance tick) and applied without a
//! restart: the size limit, the log level and the idle timeout at once;
//! turning the watcher on or off takes a fresh daemon, so this one makes
//! way for it (the next compile starts one).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ccd_filestate::{Stamp, stat};

use crate::config::{DaemonConfig, config_files};
use crate::lock::lock;

pub struct Settings {
    cache_dir: PathBuf,
    max_size: AtomicU64,
    idle_secs: AtomicU64,
    config: Mutex<DaemonConfig>,
    /// The config files' stamps when they were read (`None`: absent).
    stamps: Mutex<Vec<(PathBuf, Option<Stamp>)>>,
}

/// What a reloaded configuration changed that the daemon must act on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changed {
    pub max_size: Option<u64>,
    pub max_memory: Option<u64>,
    pub log: Option<String>,
    pub watch: Option<bool>,
}

impl Settings {
    pub fn new(cache_dir: &Path, config: DaemonConfig) -> Settings {
        Settings {
            cache_dir: cache_dir.to_path_buf(),
            max_size: AtomicU64::new(config.max_size.value),
            idle_secs: AtomicU64::new(config.idle_timeout.value.max(1)),
            config: Mutex::new(config),
            stamps: Mutex::new(stamps(cache_dir)),
        }
    }

    /// The cache's size limit in bytes.
    pub fn max_size(&self) -> u64 {
        self.max_size.load(Ordering::Relaxed)
    }

    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_secs.load(Ordering::Relaxed))
    }

    /// `(name, value, source)` of every setting in effect, and what was
    /// wrong in the configuration.
    pub fn describe(&self) -> (Vec<(String, String, String)>, Vec<String>) {
        let c = lock(&self.config);
        let rows = c
            .describe()
            .into_iter()
            .map(|(k, v, s)| (k.to_string(), v, s))
            .collect();
        (rows, c.warnings.clone())
    }

    /// Reads the configuration again if a config file changed since it was
    /// read; applies what can be applied here and says what changed.
    pub fn reload_if_changed(&self) -> Option<Changed> {
        let now = stamps(&self.cache_dir);
        {
            let mut known = lock(&self.stamps);
            if *known == now {
                return None;
            }
            *known = now;
        }
        let new = DaemonConfig::load(&self.cache_dir);
        for w in &new.warnings {
            tracing::warn!("configuration: {w}");
        }
        let mut old = lock(&self.config);
        let changed = Changed {
            max_size: (new.max_size.value != old.max_size.value).then_some(new.max_size.value),
            max_memory: (new.max_memory.value != old.max_memory.value)
                .then_some(new.max_memory.value),
            log: (new.log.value != old.log.value).then(|| new.log.value.clone()),
            watch: (new.watch.value != old.watch.value).then_some(new.watch.value),
        };
        self.max_size.store(new.max_size.value, Ordering::Relaxed);
        self.idle_secs
            .store(new.idle_timeout.value.max(1), Ordering::Relaxed);
        tracing::info!(?changed, "configuration read again");
        *old = new;
        Some(changed)
    }
}

fn stamps(cache_dir: &Path) -> Vec<(PathBuf, Option<Stamp>)> {
    config_files(cache_dir)
        .into_iter()
        .map(|f| {
            let s = stat(&f).ok();
            (f, s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_config_file_is_applied() {
        let t = tempfile::tempdir().unwrap();
        let s = Settings::new(t.path(), DaemonConfig::load(t.path()));
        assert_eq!(s.reload_if_changed(), None, "nothing changed");
        let before = s.max_size();
        std::fs::write(
            t.path().join("ccd.toml"),
            "max_size = \"3M\"\nlog = \"debug\"\n",
        )
        .unwrap();
        let c = s.reload_if_changed().unwrap();
        assert_eq!(c.max_size, Some(3 << 20));
        assert_eq!(c.log.as_deref(), Some("debug"));
        assert_eq!(c.watch, None);
        assert_ne!(s.max_size(), before);
        assert_eq!(s.max_size(), 3 << 20);
        let (rows, _) = s.describe();
        let max = rows.iter().find(|(k, ..)| k == "max_size").unwrap();
        assert!(max.2.ends_with("ccd.toml"), "{max:?}");
        assert_eq!(s.reload_if_changed(), None);
    }
}

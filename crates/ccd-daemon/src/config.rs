//! Settings of a cache directory's daemon, from (lowest to highest
//! precedence) built-in defaults, the user's config file
//! (`$XDG_CONFIG_HOME/ccd/config.toml`, else `~/.config/ccd/config.toml`),
//! the cache directory's own `ccd.toml`, and `CCD_*` environment variables.
//!
//! The daemon reads them when it starts (from the environment of the
//! compile that started it); `ccd stop` makes the next compile start a
//! daemon with new settings. The cache directory itself is only ever taken
//! from `CCD_DIR` (the wrapper reads no files before it has sent its request).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Env(v) => write!(f, "environment {v}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

/// One configurable value: its TOML key, environment variable, and help.
struct Spec {
    key: &'static str,
    env: &'static str,
}

const MAX_SIZE: Spec = Spec {
    key: "max_size",
    env: "CCD_MAX_SIZE",
};
const IDLE_TIMEOUT: Spec = Spec {
    key: "idle_timeout",
    env: "CCD_IDLE_TIMEOUT",
};
const LOG: Spec = Spec {
    key: "log",
    env: "CCD_LOG",
};
const MAX_MEMORY: Spec = Spec {
    key: "max_memory",
    env: "CCD_MAX_MEMORY",
};
const WATCH: Spec = Spec {
    key: "watch",
    env: "CCD_WATCH",
};

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Cache size limit in bytes; least recently used results go first.
    pub max_size: Setting<u64>,
    /// What the daemon may hold in memory for compile contexts; past it the
    /// least recently used are dropped (and read from disk when needed).
    pub max_memory: Setting<u64>,
    /// Exit after this many seconds without requests.
    pub idle_timeout: Setting<u64>,
    /// Log level of `$CCD_DIR/daemon.log`.
    pub log: Setting<String>,
    /// Use the file watcher (off: every hit is verified by stat and hash).
    pub watch: Setting<bool>,
    /// Problems met while reading the configuration (reported, not fatal).
    pub warnings: Vec<String>,
}

impl DaemonConfig {
    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_timeout.value.max(1))
    }

    pub fn defaults() -> DaemonConfig {
        DaemonConfig {
            max_size: Setting {
                value: 10 << 30,
                source: Source::Default,
            },
            max_memory: Setting {
                value: default_max_memory(),
                source: Source::Default,
            },
            idle_timeout: Setting {
                value: 3600,
                source: Source::Default,
            },
            log: Setting {
                value: "warn".into(),
                source: Source::Default,
            },
            watch: Setting {
                value: true,
                source: Source::Default,
            },
            warnings: Vec::new(),
        }
    }

    /// Reads the configuration for the cache directory `cache_dir`.
    pub fn load(cache_dir: &Path) -> DaemonConfig {
        let mut c = DaemonConfig::defaults();
        for file in config_files(cache_dir) {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    c.warnings.push(format!("{}: {e}", file.display()));
                    continue;
                }
            };
            match text.parse::<toml::Table>() {
                Ok(table) => c.apply_table(&table, &file),
                Err(e) => c.warnings.push(format!("{}: {e}", file.display())),
            }
        }
        c.apply_env(|k| std::env::var(k).ok());
        c
    }

    fn apply_table(&mut self, t: &toml::Table, file: &Path) {
        let src = || Source::File(file.to_path_buf());
        for (k, v) in t {
            let as_text = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Err(e) = self.set(k, &as_text, src()) {
                self.warnings.push(format!("{}: {e}", file.display()));
            }
        }
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        for spec in [&MAX_SIZE, &MAX_MEMORY, &IDLE_TIMEOUT, &LOG, &WATCH] {
            if let Some(v) = get(spec.env).filter(|v| !v.is_empty())
                && let Err(e) = self.set(spec.key, &v, Source::Env(spec.env))
            {
                self.warnings.push(format!("{}: {e}", spec.env));
            }
        }
    }

    fn set(&mut self, key: &str, value: &str, source: Source) -> Result<(), String> {
        match key {
            "max_size" => {
                self.max_size = Setting {
                    value: parse_size(value)?,
                    source,
                };
            }
            "max_memory" => {
                self.max_memory = Setting {
                    value: parse_size(value)?,
                    source,
                };
            }
            "idle_timeout" => {
                let v = value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("idle_timeout: `{value}` is not a number of seconds"))?;
                self.idle_timeout = Setting { value: v, source };
            }
            "log" => {
                let v = value.trim().to_ascii_lowercase();
                if !["error", "warn", "info", "debug", "trace"].contains(&v.as_str()) {
                    return Err(format!(
                        "log: `{value}` is not one of error, warn, info, debug, trace"
                    ));
                }
                self.log = Setting { value: v, source };
            }
            "watch" => {
                let v = match value.trim() {
                    "1" | "true" | "on" | "yes" => true,
                    "0" | "false" | "off" | "no" => false,
                    _ => return Err(format!("watch: `{value}` is not true or false")),
                };
                self.watch = Setting { value: v, source };
            }
            other => return Err(format!("unknown setting `{other}`")),
        }
        Ok(())
    }

    /// `(name, value, source)` of every setting, for `ccd config`.
    pub fn describe(&self) -> Vec<(&'static str, String, String)> {
        vec![
            (
                "max_size",
                format_size(self.max_size.value),
                self.max_size.source.to_string(),
            ),
            (
                "max_memory",
                format_size(self.max_memory.value),
                self.max_memory.source.to_string(),
            ),
            (
                "idle_timeout",
                format!("{} s", self.idle_timeout.value),
                self.idle_timeout.source.to_string(),
            ),
            ("log", self.log.value.clone(), self.log.source.to_string()),
            (
                "watch",
                self.watch.value.to_string(),
                self.watch.source.to_string(),
            ),
        ]
    }
}

/// 256 MiB, or a sixteenth of the machine's memory if that is less (but
/// not under 32 MiB): at about 1 KiB per small entry, 256 MiB keeps the
/// fast paths of some 250,000 entries.
fn default_max_memory() -> u64 {
    const CAP: u64 = 256 << 20;
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    total.map_or(CAP, |kb| (kb * 1024 / 16).clamp(32 << 20, CAP))
}

/// The config files in increasing precedence.
pub fn config_files(cache_dir: &Path) -> Vec<PathBuf> {
    let user = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("ccd").join("config.toml"));
    user.into_iter()
        .chain([cache_dir.join("ccd.toml")])
        .collect()
}

/// `10G`, `500M`, `64K`, `1.5G` or a number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = t[i..].trim().to_ascii_uppercase();
            let mult: u64 = match unit.trim_end_matches("IB").trim_end_matches('B') {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                "T" => 1 << 40,
                _ => return Err(format!("size `{s}`: unknown unit")),
            };
            (&t[..i], mult)
        }
        None => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("size `{s}` is not a number with an optional K/M/G/T unit"))?;
    if n.is_nan() || n < 0.0 {
        return Err(format!("size `{s}` is negative"));
    }
    Ok((n * mult as f64) as u64)
}

pub fn format_size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5X").is_err());
        assert_eq!(format_size(10 << 30), "10.0 GiB");
    }

    #[test]
    fn precedence_file_then_cache_file_then_env() {
        let t = tempfile::tempdir().unwrap();
        let user = t.path().join("user.toml");
        let cache = t.path().join("cache.toml");
        std::fs::write(
            &user,
            "max_size = \"1G\"\nidle_timeout = 5\nlog = \"info\"\n",
        )
        .unwrap();
        std::fs::write(&cache, "max_size = \"2G\"\nbogus = 1\n").unwrap();
        let mut c = DaemonConfig::defaults();
        for f in [&user, &cache] {
            let table = std::fs::read_to_string(f)
                .unwrap()
                .parse::<toml::Table>()
                .unwrap();
            c.apply_table(&table, f);
        }
        c.apply_env(|k| (k == "CCD_IDLE_TIMEOUT").then(|| "9".to_string()));
        assert_eq!(c.max_size.value, 2 << 30);
        assert_eq!(c.max_size.source, Source::File(cache.clone()));
        assert_eq!(c.idle_timeout.value, 9);
        assert_eq!(c.idle_timeout.source, Source::Env("CCD_IDLE_TIMEOUT"));
        assert_eq!(c.log.value, "info");
        assert!(c.warnings.iter().any(|w| w.contains("bogus")));
        c.apply_env(|k| (k == "CCD_WATCH").then(|| "maybe".to_string()));
        assert!(c.watch.value);
        assert!(c.warnings.iter().any(|w| w.contains("CCD_WATCH")));
    }
}

//! `ccd config`: every setting with its value and where it comes from
//! (built-in default, the user's config file, the cache directory's
//! `ccd.toml`, a `CCD_*` environment variable, in increasing precedence);
//! invalid values produce warning lines; and the daemon uses the values
//! shown.

use crate::harness::daemon::stop_daemon;
use crate::harness::{Env, stderr};
use std::path::PathBuf;
use std::process::Command;

const VARS: &[&str] = &["CCD_MAX_SIZE", "CCD_IDLE_TIMEOUT", "CCD_LOG", "CCD_WATCH"];

/// A `ccd` command of `env` with no `CCD_*` setting from the test's own
/// environment and a private (empty) user config directory.
fn ccd(env: &Env, vars: &[(&str, &str)]) -> Command {
    let mut c = env.ccd();
    for v in VARS {
        c.env_remove(v);
    }
    c.env("XDG_CONFIG_HOME", user_config_home(env));
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

fn user_config_home(env: &Env) -> PathBuf {
    env.root.path().join("xdg-config")
}

fn user_config_file(env: &Env) -> PathBuf {
    user_config_home(env).join("ccd").join("config.toml")
}

fn cache_config_file(env: &Env) -> PathBuf {
    env.cache.join("ccd.toml")
}

/// The output of `ccd config` (stdout and stderr together).
fn config(env: &Env, vars: &[(&str, &str)]) -> String {
    let out = ccd(env, vars).arg("config").output().unwrap();
    assert!(out.status.success(), "ccd config: {}", stderr(&out));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out))
}

/// The line of `ccd config` that shows `setting`.
fn line<'a>(text: &'a str, setting: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(setting))
        .unwrap_or_else(|| panic!("no line for {setting} in:\n{text}"))
}

/// Asserts the setting's line shows `value` and ends with `source`.
fn shows(text: &str, setting: &str, value: &str, source: &str) {
    let l = line(text, setting);
    let rest = l.trim_start_matches(setting).trim();
    assert!(
        rest.starts_with(value) && l.trim_end().ends_with(source),
        "{setting}: expected value `{value}` from `{source}`, got `{l}`\nwhole output:\n{text}"
    );
}

fn warnings(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.trim_start().to_lowercase().starts_with("warning"))
        .collect()
}

fn assert_warns(text: &str, about: &[&str]) {
    let w = warnings(text);
    assert!(
        w.iter().any(|l| about.iter().all(|a| l.contains(a))),
        "no warning line mentioning {about:?} in:\n{text}"
    );
}

#[test]
fn defaults_and_their_source() {
    let env = Env::new();
    let text = config(&env, &[]);
    shows(&text, "max_size", "10.0 GiB", "default");
    shows(&text, "idle_timeout", "3600 s", "default");
    shows(&text, "log", "warn", "default");
    shows(&text, "watch", "true", "default");
    shows(
        &text,
        "dir",
        &env.cache.display().to_string(),
        "environment CCD_DIR",
    );
    assert!(warnings(&text).is_empty(), "warnings:\n{text}");
}

#[test]
fn files_then_environment() {
    let env = Env::new();
    std::fs::create_dir_all(user_config_file(&env).parent().unwrap()).unwrap();
    std::fs::create_dir_all(&env.cache).unwrap();
    std::fs::write(
        user_config_file(&env),
        "max_size = \"1G\"\nwatch = false\nidle_timeout = 30\n",
    )
    .unwrap();
    std::fs::write(
        cache_config_file(&env),
        "max_size = \"2G\"\nlog = \"info\"\n",
    )
    .unwrap();
    let user = user_config_file(&env).display().to_string();
    let cache = cache_config_file(&env).display().to_string();

    // The cache directory's file wins over the user's.
    let text = config(&env, &[]);
    shows(&text, "max_size", "2.0 GiB", &cache);
    shows(&text, "log", "info", &cache);
    shows(&text, "watch", "false", &user);
    shows(&text, "idle_timeout", "30 s", &user);
    assert!(
        text.contains(&cache) && text.contains(&user),
        "both files listed:\n{text}"
    );
    assert!(warnings(&text).is_empty(), "warnings:\n{text}");

    // Environment variables win over both.
    let text = config(&env, &[("CCD_MAX_SIZE", "3G"), ("CCD_IDLE_TIMEOUT", "77")]);
    shows(&text, "max_size", "3.0 GiB", "environment CCD_MAX_SIZE");
    shows(
        &text,
        "idle_timeout",
        "77 s",
        "environment CCD_IDLE_TIMEOUT",
    );
    shows(&text, "log", "info", &cache);
    shows(&text, "watch", "false", &user);
}

#[test]
fn invalid_values_give_warnings() {
    let env = Env::new();
    std::fs::create_dir_all(&env.cache).unwrap();
    std::fs::write(
        cache_config_file(&env),
        "log = \"info\"\nwatch = \"maybe\"\nbogus_setting = 1\n",
    )
    .unwrap();
    let cache = cache_config_file(&env).display().to_string();
    let text = config(
        &env,
        &[
            ("CCD_LOG", "loud"),
            ("CCD_MAX_SIZE", "lots"),
            ("CCD_IDLE_TIMEOUT", "-5"),
        ],
    );
    assert_warns(&text, &["CCD_LOG", "loud"]);
    assert_warns(&text, &["CCD_MAX_SIZE", "lots"]);
    assert_warns(&text, &["CCD_IDLE_TIMEOUT"]);
    assert_warns(&text, &[&cache, "maybe"]);
    assert_warns(&text, &[&cache, "bogus_setting"]);
    // The invalid values are ignored: the next layer down shows through.
    shows(&text, "log", "info", &cache);
    shows(&text, "max_size", "10.0 GiB", "default");
    shows(&text, "idle_timeout", "3600 s", "default");
    shows(&text, "watch", "true", "default");

    // A malformed file: a warning, and the defaults.
    std::fs::write(cache_config_file(&env), "max_size = = 3\n[[[\n").unwrap();
    let text = config(&env, &[]);
    assert_warns(&text, &[&cache]);
    shows(&text, "max_size", "10.0 GiB", "default");
}

/// The daemon runs with what `ccd config` shows: the file's limit, then
/// (restarted) the environment's; invalid values do not keep it from
/// starting.
#[test]
fn daemon_uses_the_configuration() {
    let env = Env::new();
    std::fs::create_dir_all(&env.cache).unwrap();
    std::fs::write(cache_config_file(&env), "max_size = \"2G\"\n").unwrap();
    let status = |vars: &[(&str, &str)]| -> serde_json::Value {
        let out = ccd(&env, vars).args(["status", "--json"]).output().unwrap();
        assert!(out.status.success(), "ccd status: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(status(&[])["max_size_bytes"], 2u64 << 30);
    stop_daemon(&env);
    assert_eq!(
        status(&[("CCD_MAX_SIZE", "3G")])["max_size_bytes"],
        3u64 << 30
    );
    stop_daemon(&env);
    let s = status(&[("CCD_MAX_SIZE", "lots"), ("CCD_LOG", "loud")]);
    assert_eq!(s["max_size_bytes"], 2u64 << 30, "{s}");
    // And compiles work through it.
    env.write("a.c", "int f(int x) { return x + 1; }\n");
    for _ in 0..2 {
        env.like_bare("gcc", &["-c", "a.c", "-o", "a.o"], &["a.o"])
            .command(ccd(&env, &[("CCD_MAX_SIZE", "lots"), ("CCD_LOG", "loud")]))
            .run();
    }
    let s = status(&[]);
    assert_eq!(
        (s["misses"].as_u64(), s["hits"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
}

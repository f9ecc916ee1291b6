//! The admin commands of build sessions: `session-start`, `session-stats`,
//! `session-end` and the session's log.

use std::path::Path;
use std::process::Output;

use super::env::{Env, stderr};

/// `ccd <admin args...>` with the environment's cache.
pub fn admin(env: &Env, args: &[&str]) -> Output {
    env.ccd().args(args).output().unwrap()
}

/// `ccd session-start [--journal FILE]`: the new session's id.
pub fn session_start(env: &Env, journal: Option<&Path>) -> String {
    let mut c = env.ccd();
    c.arg("session-start");
    if let Some(j) = journal {
        c.arg("--journal").arg(j);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "session-start failed: {}",
        stderr(&out)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(!id.is_empty(), "session-start printed no id");
    assert!(
        !id.contains(char::is_whitespace),
        "session-start printed more than an id: {id:?}"
    );
    id
}

/// `ccd session-stats ID --json` (or `session-end`), parsed.
pub fn session_json(env: &Env, command: &str, id: &str) -> serde_json::Value {
    let out = admin(env, &[command, id, "--json"]);
    assert!(
        out.status.success(),
        "{command} {id} failed: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{command} --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

pub fn session_stats(env: &Env, id: &str) -> serde_json::Value {
    session_json(env, "session-stats", id)
}

/// The lines of a session's log (the `log` field of its statistics).
pub fn session_log(stats: &serde_json::Value) -> Vec<String> {
    let path = stats["log"]
        .as_str()
        .unwrap_or_else(|| panic!("session statistics lack a log path: {stats}"));
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("session log {path}: {e}"));
    text.lines().map(str::to_string).collect()
}

pub fn uint(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not an integer in {v}"))
}

//! Helpers shared by the tests of response files, strict paths, worktree
//! sharing, multi-file compiles, precompiled headers and build sessions:
//! counter deltas for compiles that count more than once, comparisons with
//! the bare compiler under other arguments, byte searches in objects, and
//! the session admin commands.

#![allow(dead_code)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::common::{Counts, Env, stderr};

/// How far each counter of `ccd status` moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moved {
    pub hits: u64,
    pub misses: u64,
    pub non_cacheable: u64,
    pub errors: u64,
}

impl Moved {
    pub fn new(hits: u64, misses: u64, non_cacheable: u64, errors: u64) -> Moved {
        Moved {
            hits,
            misses,
            non_cacheable,
            errors,
        }
    }
}

pub fn moved(before: Counts, after: Counts) -> Moved {
    Moved {
        hits: after.hits - before.hits,
        misses: after.misses - before.misses,
        non_cacheable: after.non_cacheable - before.non_cacheable,
        errors: after.errors - before.errors,
    }
}

/// `ccd <cc> args...` in `dir`, and how the counters moved.
pub fn cc_moved_in(env: &Env, dir: &Path, cc: &str, args: &[&str]) -> (Output, Moved) {
    let before = env.counts();
    let out = env.cc_in(dir, cc, args);
    let after = env.counts();
    (out, moved(before, after))
}

/// Files (relative to `dir`) as they are now; `None` for a missing one.
pub fn snapshot(dir: &Path, files: &[&str]) -> Vec<Option<Vec<u8>>> {
    files
        .iter()
        .map(|f| std::fs::read(dir.join(f)).ok())
        .collect()
}

pub fn remove(dir: &Path, files: &[&str]) {
    for f in files {
        let _ = std::fs::remove_file(dir.join(f));
    }
}

/// Compiles through ccd with `ours` and bare with `theirs` (both in `dir`,
/// `files` removed before each), and asserts the same exit code, stdout,
/// stderr and `files`. Returns ccd's output, the counters' movement and the
/// files ccd produced.
pub fn ccd_vs_bare(
    env: &Env,
    dir: &Path,
    cc: &str,
    ours: &[&str],
    theirs: &[&str],
    files: &[&str],
) -> (Output, Moved, Vec<Option<Vec<u8>>>) {
    remove(dir, files);
    let (out, m) = cc_moved_in(env, dir, cc, ours);
    let our_files = snapshot(dir, files);
    remove(dir, files);
    let bare = env.bare_in(dir, cc, theirs);
    assert_eq!(
        out.status.code(),
        bare.status.code(),
        "exit code of {cc} {ours:?} (bare: {theirs:?}); ccd stderr: {}",
        stderr(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&bare.stdout),
        "stdout of {cc} {ours:?}"
    );
    assert_eq!(
        stderr(&out),
        stderr(&bare),
        "stderr of {cc} {ours:?} (bare: {theirs:?})"
    );
    let bare_files = snapshot(dir, files);
    for ((f, a), b) in files.iter().zip(&our_files).zip(&bare_files) {
        assert!(
            a == b,
            "{f} differs from the bare compiler's ({cc} {ours:?}, bare {theirs:?}; ccd made it: {}, bare made it: {})",
            a.is_some(),
            b.is_some()
        );
    }
    (out, m, our_files)
}

/// [`ccd_vs_bare`] with the same arguments for both.
pub fn same_as_bare_in(
    env: &Env,
    dir: &Path,
    cc: &str,
    args: &[&str],
    files: &[&str],
) -> (Output, Moved, Vec<Option<Vec<u8>>>) {
    ccd_vs_bare(env, dir, cc, args, args, files)
}

/// Whether `needle` occurs in `hay` (what `strings | grep` would find).
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// For files created by other means than [`Env::write`] (a precompiled
/// header produced by a compile, say): ccd does not store a compile whose
/// inputs changed just before it started.
pub fn let_age() {
    std::thread::sleep(Duration::from_millis(60));
}

/// Sets a file's modification time back to what it was (an editor or
/// tool restoring the old mtime after a same-size edit).
pub fn write_keeping_mtime(path: &Path, content: &str) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

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

/// A checkout: a directory with a `.git` directory, under the work dir.
pub fn checkout(env: &Env, name: &str) -> std::path::PathBuf {
    let root = env.path(name);
    std::fs::create_dir_all(root.join(".git")).unwrap();
    root
}

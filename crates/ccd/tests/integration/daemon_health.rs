//! The daemon itself is never the problem: a stopped or wedged daemon costs
//! a build one short wait (then a fresh daemon takes its place), a daemon
//! that cannot start costs one start attempt per back-off period, a daemon
//! of another executable makes way for this one, an edited config file
//! applies without a restart, and the statistics survive restarts.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::daemon::{process_is_gone, signal, wait_gone};
use crate::harness::project::c_source;
use crate::harness::{CCD, Env, Outcome, stderr};

/// The client's deadline for a daemon's acknowledgement
/// (`ccd_client::daemon_link::ACK_TIMEOUT`).
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
const UNITS: usize = 20;

fn args(i: usize) -> Vec<String> {
    ["-O2", "-c", &format!("s{i}.c"), "-o", &format!("s{i}.o")]
        .map(String::from)
        .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// 20 sources (a few tens of milliseconds each at -O2).
fn project(env: &Env) {
    env.write(
        "common.h",
        "#define SCRAMBLE(x) (((x) << 5) ^ ((x) >> 3))\n",
    );
    for i in 0..UNITS {
        env.write(&format!("s{i}.c"), &c_source(i));
    }
}

/// The bare compiler's objects, and how long the 20 compiles took.
fn bare_build(env: &Env) -> (Vec<Vec<u8>>, Duration) {
    let t = Instant::now();
    let objects = (0..UNITS)
        .map(|i| {
            let out = env.bare("gcc", &strs(&args(i)));
            assert!(out.status.success(), "{}", stderr(&out));
            env.read(&format!("s{i}.o"))
        })
        .collect();
    (objects, t.elapsed())
}

/// Compiles the 20 sources through ccd (`cmd` makes the command); asserts
/// every object is the bare compiler's; returns how long they took.
fn ccd_build(env: &Env, bare: &[Vec<u8>], cmd: impl Fn() -> Command) -> Duration {
    let t = Instant::now();
    for (i, object) in bare.iter().enumerate() {
        let _ = std::fs::remove_file(env.path(&format!("s{i}.o")));
        env.settle();
        let out = cmd().arg("gcc").args(args(i)).output().unwrap();
        assert!(out.status.success(), "s{i}: {}", stderr(&out));
        assert!(
            env.read(&format!("s{i}.o")) == *object,
            "s{i}.o differs from the bare compiler's"
        );
    }
    t.elapsed()
}

/// Ends a stopped daemon the test left behind (the client should have).
struct Continue(u32);

impl Drop for Continue {
    fn drop(&mut self) {
        if !process_is_gone(self.0) {
            signal(self.0, "KILL");
        }
    }
}

/// A daemon stopped (SIGSTOP) accepts connections and answers nothing.
/// The first compile waits one short deadline for its acknowledgement,
/// then ends it and starts another; every later compile is served at once.
/// Before, every compile waited the full 20 s lookup timeout.
#[test]
fn a_stopped_daemon_costs_the_build_one_short_wait() {
    let env = Env::new();
    project(&env);
    let (bare, bare_took) = bare_build(&env);
    ccd_build(&env, &bare, || env.ccd());
    let stopped = env.daemon_pid();
    let _guard = Continue(stopped);
    assert!(signal(stopped, "STOP"));

    let took = ccd_build(&env, &bare, || env.ccd());
    assert!(
        took < bare_took + ACK_TIMEOUT,
        "20 compiles with the daemon stopped took {took:?}, the bare compiler {bare_took:?}"
    );
    wait_gone(stopped);
    // A new daemon serves the cache as it was: a hit.
    let pid = env.daemon_pid();
    assert_ne!(pid, stopped);
    let _ = std::fs::remove_file(env.path("s0.o"));
    env.cc_expect(Outcome::Hit, "gcc", &strs(&args(0)));
    assert!(env.read("s0.o") == bare[0]);
}

/// A daemon that fails at start every time (its cache directory holds a
/// file where a directory must be): every compile succeeds as the bare
/// compiler's, and only the first pays a start attempt; compiles then skip
/// the daemon until the back-off period is over. `ccd doctor` says why.
#[test]
fn a_daemon_that_cannot_start_is_tried_once_per_back_off_period() {
    let env = Env::new();
    project(&env);
    let (bare, bare_took) = bare_build(&env);
    std::fs::create_dir_all(&env.cache).unwrap();
    std::fs::write(env.cache.join("blobs"), "not a directory").unwrap();

    let took = ccd_build(&env, &bare, || env.ccd());
    let doctor = env.ccd().args(["doctor", "--json"]).output().unwrap();
    assert!(doctor.status.success(), "{}", stderr(&doctor));
    let d: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(d["daemon"], serde_json::Value::Null, "{d}");
    assert_eq!(d["start_failures"]["attempts"], 1, "{d}");
    let reason = d["start_failures"]["reason"].as_str().unwrap();
    assert!(reason.contains("blobs"), "doctor says why: {reason}");
    // One start attempt is milliseconds; nothing waits for a daemon.
    assert!(
        took < bare_took * 2 + Duration::from_secs(1),
        "20 compiles took {took:?}, the bare compiler {bare_took:?}"
    );
}

/// A copy of the `ccd` executable that is another file: an upgrade.
fn another_ccd(env: &Env) -> PathBuf {
    let dir = env.root.path().join("upgraded");
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("ccd");
    let mut bytes = std::fs::read(CCD).unwrap();
    bytes.extend_from_slice(b"\0 another build of ccd");
    std::fs::write(&copy, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A process forked by another test thread while the file was open for
    // writing holds it until it execs: running the copy fails meanwhile
    // ("text file busy").
    let t = Instant::now();
    while let Err(e) = Command::new(&copy).arg("--version").output() {
        assert!(
            e.raw_os_error() == Some(libc::ETXTBSY) && t.elapsed() < Duration::from_secs(10),
            "{e}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    copy
}

fn daemon_exe(pid: u32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/exe")).unwrap()
}

/// An upgraded ccd does not talk to the daemon of the old one: that daemon
/// finishes and exits, and one of the new executable serves. Two
/// executables taking turns on one cache stay correct, and nothing hangs.
#[test]
fn a_daemon_of_another_executable_makes_way() {
    let env = Env::new();
    project(&env);
    let (bare, _) = bare_build(&env);
    ccd_build(&env, &bare, || env.ccd());
    let old = env.daemon_pid();
    let copy = another_ccd(&env);

    ccd_build(&env, &bare, || env.command(&copy));
    wait_gone(old);
    let status = env
        .command(&copy)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&status.stdout)
        .unwrap_or_else(|e| panic!("status: {e}: {}", stderr(&status)));
    let new = s["pid"].as_u64().unwrap() as u32;
    assert_ne!(new, old);
    assert_eq!(daemon_exe(new), copy, "the daemon runs the new executable");
    assert!(
        s["hits"].as_u64().unwrap() >= UNITS as u64,
        "the new daemon served the old one's results: {s}"
    );

    for round in 0..6 {
        let t = Instant::now();
        let i = round % UNITS;
        for cmd in [env.ccd(), env.command(&copy)] {
            let mut cmd = cmd;
            let _ = std::fs::remove_file(env.path(&format!("s{i}.o")));
            let out = cmd.arg("gcc").args(args(i)).output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            assert!(env.read(&format!("s{i}.o")) == bare[i], "round {round}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "round {round} took {:?}",
            t.elapsed()
        );
    }
}

/// An edited config file applies within seconds, without a restart; the
/// watcher's setting takes a fresh daemon, which the next compile starts.
#[test]
fn an_edited_config_file_applies_without_a_restart() {
    let env = Env::new();
    // The file decides here, not the suite's CCD_WATCH.
    env.remove_var("CCD_WATCH");
    project(&env);
    let pid = env.daemon_pid();
    assert_eq!(env.status()["max_size_bytes"], 10u64 << 30);
    std::fs::write(env.cache.join("ccd.toml"), "max_size = \"123M\"\n").unwrap();
    let t = Instant::now();
    loop {
        let s = env.status();
        if s["max_size_bytes"] == 123u64 << 20 {
            assert_eq!(s["pid"], pid, "the same daemon");
            assert!(
                s["settings"]["max_size"]["from"]
                    .as_str()
                    .unwrap()
                    .ends_with("ccd.toml"),
                "{s}"
            );
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "not applied: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The watcher off: this daemon makes way, the next compile's daemon
    // runs without it.
    std::fs::write(
        env.cache.join("ccd.toml"),
        "max_size = \"123M\"\nwatch = false\n",
    )
    .unwrap();
    wait_gone(pid);
    let _ = env.cc("gcc", &strs(&args(0)));
    let s = env.status();
    assert_eq!(s["settings"]["watch"]["value"], "false", "{s}");
    assert_eq!(s["watched_dirs"], 0, "{s}");
}

/// Hits and misses survive `ccd stop` and `kill -9` (counted within the
/// last second before the kill at most are lost); `ccd zero-stats` resets
/// them for good.
#[test]
fn statistics_survive_restarts() {
    let env = Env::new();
    project(&env);
    let a0 = args(0);
    let a = strs(&a0);
    env.cc_expect(Outcome::Miss, "gcc", &a);
    env.cc_expect(Outcome::Hit, "gcc", &a);
    env.cc_expect(Outcome::Hit, "gcc", &a);
    env.stop();
    let c = env.counts();
    assert_eq!((c.hits, c.misses), (2, 1), "after ccd stop");

    env.cc_expect(Outcome::Hit, "gcc", &a);
    // Flushed at least once a second.
    std::thread::sleep(Duration::from_millis(1500));
    let pid = env.daemon_pid();
    assert!(signal(pid, "KILL"));
    wait_gone(pid);
    let c = env.counts();
    assert_eq!((c.hits, c.misses), (3, 1), "after kill -9");

    let zero = env.ccd().arg("zero-stats").output().unwrap();
    assert!(zero.status.success());
    env.stop();
    let c = env.counts();
    assert_eq!((c.hits, c.misses), (0, 0), "after zero-stats and a restart");
}

/// Past `max_memory` the daemon drops what it remembers for the least
/// recently used compile contexts (a lowered limit applies at once, from
/// the config file); those compiles still hit, verified from the store.
#[test]
fn contexts_dropped_under_max_memory_still_hit() {
    let env = Env::new();
    env.write("t.c", "int value(void) { return N; }\n");
    let args = |i: usize| -> Vec<String> {
        [&format!("-DN={i}"), "-c", "t.c", "-o", "t.o"]
            .map(String::from)
            .to_vec()
    };
    let n = 100;
    for i in 0..n {
        let out = env.cc("gcc", &strs(&args(i)));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let s = env.status();
    let held = s["context_memory_bytes"].as_u64().unwrap();
    assert!(held > 32 << 10, "{n} entries hold {held} bytes: {s}");
    // Sealed results with the watcher; manifests alone without it.
    let sealed = s["sealed_requests"].as_u64().unwrap();
    assert!(sealed == n as u64 || sealed == 0, "{s}");

    std::fs::write(env.cache.join("ccd.toml"), "max_memory = \"16K\"\n").unwrap();
    let t = Instant::now();
    let s = loop {
        let s = env.status();
        if s["max_memory_bytes"] == 16u64 << 10 {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "not applied: {s}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let held = s["context_memory_bytes"].as_u64().unwrap();
    assert!(
        held <= 16 << 10,
        "{held} bytes held under a 16 KiB limit: {s}"
    );
    assert!(s["sealed_requests"].as_u64().unwrap() <= sealed / 2, "{s}");
    for i in [0, 1, 2, n / 2, n - 1] {
        env.like_bare("gcc", &strs(&args(i)), &["t.o"]).hit().run();
    }
    let held = env.status()["context_memory_bytes"].as_u64().unwrap();
    assert!(held <= 16 << 10, "{held} bytes held after the hits");
}

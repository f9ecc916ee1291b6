//! Results live on disk: they survive `ccd stop` and a SIGKILL of the
//! daemon, and the first compile after the restart is a hit. And a daemon
//! can be started again right after `ccd stop` returns.

use crate::harness::daemon::{
    daemon_pids, kill_and_wait, stop_daemon, wait_gone, wait_locks_released,
};
use crate::harness::project::cache_listing;
use crate::harness::{COMPILERS, Env, stderr};
use std::time::{Duration, Instant};

fn project(env: &Env) {
    env.write(
        "a.c",
        "#include \"a.h\"\nint twice(int x) { return A * x + A; }\n",
    );
    env.write("a.h", "#define A 2\n");
    env.write("b.c", "int thrice(int x) { return 3 * x; }\n");
}

const A: &[&str] = &["-O2", "-c", "a.c", "-o", "a.o", "-MD"];
const B: &[&str] = &["-c", "b.c", "-o", "b.o"];

#[test]
fn results_survive_stop_and_sigkill() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        env.like_bare(cc, A, &["a.o", "a.d"]).miss().run();
        let first = env.daemon_pid();
        let entries = env.status()["entries"].as_u64().unwrap();
        assert_eq!(entries, 1, "{cc}");

        // ccd stop: the daemon is gone, a new one hits.
        let out = env.ccd().arg("stop").output().unwrap();
        assert!(out.status.success(), "{cc}: ccd stop: {}", stderr(&out));
        wait_gone(first);
        wait_locks_released(first);
        assert!(daemon_pids(&env.cache).is_empty(), "{cc}");
        env.like_bare(cc, A, &["a.o", "a.d"]).hit().run();
        let second = env.daemon_pid();
        assert_ne!(second, first, "{cc}: a new daemon");
        assert_eq!(env.status()["entries"], 1, "{cc}: entries counted again");

        // A result stored just before a SIGKILL is there afterwards.
        env.like_bare(cc, B, &["b.o"]).miss().run();
        kill_and_wait(second);
        wait_locks_released(second);
        env.like_bare(cc, B, &["b.o"]).hit().run();
        let third = env.daemon_pid();
        assert!(third != second && third != first, "{cc}: a new daemon");
        env.like_bare(cc, A, &["a.o", "a.d"]).hit().run();
        assert_eq!(env.status()["entries"], 2, "{cc}");

        // Persisted is not stale: an edit made while no daemon ran misses.
        kill_and_wait(third);
        wait_locks_released(third);
        env.write("a.h", "#define A 5\n");
        env.like_bare(cc, A, &["a.o", "a.d"]).miss().run();
        env.like_bare(cc, A, &["a.o", "a.d"]).hit().run();
    }
}

/// `ccd stop` returns once the daemon has answered, before it has exited
/// (and released its lock); whatever comes next must still find a working
/// daemon or start one.
#[test]
fn status_right_after_stop() {
    let env = Env::new();
    project(&env);
    env.like_bare("gcc", B, &["b.o"]).miss().run();
    for round in 0..10 {
        // The daemon has served some requests (as in real use).
        env.like_bare("gcc", B, &["b.o"]).hit().run();
        let out = env.ccd().arg("stop").output().unwrap();
        assert!(out.status.success(), "ccd stop: {}", stderr(&out));
        let t = Instant::now();
        let out = env.ccd().args(["status", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "round {round}: `ccd status` right after `ccd stop` failed after {:?}: {}",
            t.elapsed(),
            stderr(&out)
        );
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "round {round}: `ccd status` took {:?}",
            t.elapsed()
        );
    }
}

/// A compile right after `ccd stop` is served by a new daemon, quickly.
#[test]
fn compile_right_after_stop() {
    let env = Env::new();
    project(&env);
    env.like_bare("gcc", B, &["b.o"]).miss().run();
    for round in 0..10 {
        env.like_bare("gcc", B, &["b.o"]).hit().run();
        // The counts are kept across restarts.
        let before = env.counts();
        env.stop();
        let t = Instant::now();
        let out = env.cc("gcc", B);
        let took = t.elapsed();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            took < Duration::from_secs(2),
            "round {round}: the compile right after `ccd stop` took {took:?}"
        );
        let m = env.counts().since(before);
        assert_eq!(
            m.hits, 1,
            "round {round}: the compile right after `ccd stop` was not served by a new daemon: {m}"
        );
    }
}

/// The usage a daemon reports while it runs is what a new daemon measures
/// on disk: `entries` and `size_bytes` agree across a restart.
#[test]
fn usage_is_the_same_after_a_restart() {
    let env = Env::new();
    project(&env);
    for cc in COMPILERS {
        env.like_bare(cc, A, &["a.o", "a.d"]).miss().run();
        env.like_bare(cc, B, &["b.o"]).miss().run();
        env.like_bare(cc, B, &["b.o"]).hit().run();
    }
    let live = env.status();
    stop_daemon(&env);
    let measured = env.status();
    for k in ["entries", "size_bytes"] {
        assert_eq!(
            live[k],
            measured[k],
            "{k}: the running daemon said {}, a new one measures {}\nbefore: {live}\nafter: {measured}\nfiles:\n{}",
            live[k],
            measured[k],
            cache_listing(&env)
        );
    }
    assert_eq!(live["entries"], 4);
}

//! The daemon killed with SIGKILL at random moments during parallel builds
//! (at least 50 kills over a series of `make -j8` builds of a generated
//! project): every build succeeds with the bare compiler's objects, the
//! next compile starts a new daemon, and the cache works afterwards (a
//! clean rebuild is all hits, with the bare objects).

use crate::harness::daemon::{daemon_pids, signal, wait_gone, wait_locks_released};
use crate::harness::project::{
    Rng, assert_objects_equal, bare_build, ccd_cc, make, make_clean, make_cmd, write_makefile,
    write_sources,
};
use crate::harness::{Env, require_tool, stderr};
use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

const FILES: usize = 20;
const KILLS: usize = 50;

#[test]
fn sigkill_at_random_moments_during_parallel_builds() {
    require_tool("make");
    let env = Env::new();
    let src = env.path("src");
    write_sources(&src, FILES);
    let bare = bare_build(&env.path("bare"), &src, FILES, "gcc");
    let build = env.path("build");
    write_makefile(&build, &src, FILES);
    let cc = ccd_cc("gcc");
    let mut rng = Rng::from_time();

    let mut killed: BTreeSet<u32> = BTreeSet::new();
    let mut builds = 0;
    let started = Instant::now();
    while killed.len() < KILLS {
        builds += 1;
        assert!(
            builds <= 100 && started.elapsed() < Duration::from_secs(300),
            "only {} kills after {builds} builds",
            killed.len()
        );
        make_clean(&build);
        let mut child = make_cmd(&build, &cc, Some(&env))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Kill whatever daemon serves the cache, again and again, at
        // random moments: while it starts, looks up, stores, delivers.
        loop {
            std::thread::sleep(Duration::from_millis(rng.range(0, 120)));
            if child.try_wait().unwrap().is_some() {
                break;
            }
            for pid in daemon_pids(&env.cache) {
                if signal(pid, "KILL") {
                    killed.insert(pid);
                }
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "build {builds} (after {} kills) failed: {}",
            killed.len(),
            stderr(&out)
        );
        assert_objects_equal(
            &build,
            &bare,
            &format!("build {builds} with the daemon killed"),
        );
    }
    eprintln!("{} kills over {builds} builds", killed.len());
    // Not a failure: a daemon killed between creating a delivery's
    // temporary file and renaming it cannot remove it.
    let stray: Vec<String> = std::fs::read_dir(&build)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "Makefile" && !n.ends_with(".o"))
        .collect();
    if !stray.is_empty() {
        eprintln!("temporary files left in the build directory: {stray:?}");
    }
    for pid in &killed {
        wait_gone(*pid);
        wait_locks_released(*pid);
    }

    // A new daemon serves the cache.
    let pid = env.daemon_pid();
    assert!(
        !killed.contains(&pid),
        "status answered by a killed daemon {pid}"
    );
    assert_eq!(daemon_pids(&env.cache), vec![pid], "one daemon");

    // A rebuild stores whatever the kills kept from being stored; every
    // compile goes through the daemon.
    make_clean(&build);
    let (out, m) = env.counting(|| make(&build, &cc, Some(&env)));
    assert!(out.status.success(), "rebuild: {}", stderr(&out));
    assert_objects_equal(&build, &bare, "rebuild after the kills");
    assert_eq!(
        m.hits + m.misses,
        FILES as u64,
        "rebuild: every compile went through the daemon: {m}"
    );
    assert_eq!(m.errors, 0, "rebuild: {m}");

    // And then everything is a hit, with the bare objects.
    make_clean(&build);
    let (out, m) = env.counting(|| make(&build, &cc, Some(&env)));
    assert!(out.status.success(), "final build: {}", stderr(&out));
    assert_eq!(m.hits, FILES as u64, "final build: all hits expected: {m}");
    assert_objects_equal(&build, &bare, "final build");
    assert_eq!(env.daemon_pid(), pid, "the daemon stayed up");
}

//! Four `make -j8` builds of the same source tree at once, through one
//! cache directory, starting with no daemon running: each build compiles
//! from inside the shared source directory into its own build directory,
//! so all four ask for the very same compiles (only `-o` differs) and race
//! for the same cache entries. Every object equals the bare build's, and
//! one daemon serves them all.

use crate::harness::daemon::daemon_pids;
use crate::harness::project::{
    assert_objects_equal, bare_build, ccd_cc, make_clean, make_cmd, store_files, write_makefile,
    write_sources,
};
use crate::harness::{Env, require_tool, stderr};
use std::process::Stdio;

const FILES: usize = 20;
const BUILDS: usize = 4;

#[test]
fn four_parallel_builds_of_one_tree_through_one_cache() {
    require_tool("make");
    // One compiler: the races are the daemon's, not the compiler's.
    for cc in ["gcc"] {
        let env = Env::new();
        let src = env.path("src");
        write_sources(&src, FILES);
        let bare = bare_build(&env.path("bare"), &src, FILES, cc);
        let builds: Vec<_> = (0..BUILDS)
            .map(|i| env.path(&format!("build{i}")))
            .collect();
        for b in &builds {
            write_makefile(b, &src, FILES);
        }
        let cc_var = ccd_cc(cc);
        assert!(daemon_pids(&env.cache).is_empty(), "{cc}: no daemon yet");

        for round in ["cold", "warm"] {
            let before = if round == "cold" {
                None
            } else {
                builds.iter().for_each(|b| make_clean(b));
                Some(env.counts())
            };
            let children: Vec<_> = builds
                .iter()
                .map(|b| {
                    make_cmd(b, &cc_var, Some(&env))
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            let outs: Vec<_> = children
                .into_iter()
                .map(|c| c.wait_with_output().unwrap())
                .collect();
            for (i, out) in outs.iter().enumerate() {
                assert!(
                    out.status.success(),
                    "{cc} {round} build {i}: {}",
                    stderr(out)
                );
                assert_objects_equal(&builds[i], &bare, &format!("{cc} {round} build {i}"));
            }

            // One daemon serves the cache (others may have started in the
            // cold race, but lost it and left).
            let pids = daemon_pids(&env.cache);
            assert_eq!(pids.len(), 1, "{cc} {round}: daemons {pids:?}");
            let pid = env.daemon_pid();
            assert_eq!(pids, vec![pid], "{cc} {round}");

            let after = env.counts();
            let total = (BUILDS * FILES) as u64;
            match before {
                None => {
                    assert_eq!(
                        after.hits + after.misses,
                        total,
                        "{cc} cold: every compile went through the one daemon: {after:?}"
                    );
                    assert_eq!(after.non_cacheable, 0, "{cc}: {after:?}");
                    assert_eq!(after.errors, 0, "{cc}: {after:?}");
                    let on_disk = store_files(&env, "results").len();
                    assert_eq!(on_disk, FILES, "{cc}: one result per source on disk");
                    let s = env.status();
                    assert_eq!(
                        s["entries"], FILES as u64,
                        "{cc}: `entries` must count the {on_disk} results on disk, \
                         however many builds raced to store them: {s}"
                    );
                }
                Some(before) => {
                    let m = after.since(before);
                    assert_eq!(m.hits, total, "{cc} warm: all hits expected: {m}");
                }
            }
        }
    }
}

fn store_bytes(env: &Env) -> u64 {
    ["blobs", "results", "manifests"]
        .iter()
        .flat_map(|a| store_files(env, a))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

/// Eight identical compiles at once, for several sources in turn: each
/// result is stored once (or rewritten with the same bytes), and `entries`
/// and `size_bytes` count what is on disk, not the racing writers. (The
/// race is narrow: an over-count shows in some runs only.)
#[test]
fn racing_stores_of_one_result_count_one_entry() {
    const RACERS: usize = 8;
    const SOURCES: usize = 40;
    let env = Env::new();
    for k in 0..RACERS {
        std::fs::create_dir_all(env.path(&format!("out{k}"))).unwrap();
    }
    // Tiny sources: the racers' stores line up closely.
    for i in 0..=SOURCES {
        env.write(
            &format!("s{i:02}.c"),
            &format!("int f{i}(int x) {{ return x * {i} + 1; }}\n"),
        );
    }
    // One compile first: whatever the daemon stores once per compiler.
    let warm = env.cc("gcc", &["-c", &format!("s{SOURCES:02}.c"), "-o", "warm.o"]);
    assert!(warm.status.success(), "{}", stderr(&warm));
    let s0 = env.status();
    let d0 = store_bytes(&env);
    for i in 0..SOURCES {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(RACERS));
        let handles: Vec<_> = (0..RACERS)
            .map(|k| {
                let barrier = std::sync::Arc::clone(&barrier);
                let mut cmd = env.ccd();
                cmd.args([
                    "gcc",
                    "-c",
                    &format!("s{i:02}.c"),
                    "-o",
                    &format!("out{k}/s.o"),
                ]);
                std::thread::spawn(move || {
                    barrier.wait();
                    cmd.output().unwrap()
                })
            })
            .collect();
        for h in handles {
            let out = h.join().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    let on_disk = store_files(&env, "results").len();
    assert_eq!(on_disk, SOURCES + 1, "one result per source on disk");
    let s1 = env.status();
    let d1 = store_bytes(&env);
    let counted = s1["size_bytes"].as_u64().unwrap() - s0["size_bytes"].as_u64().unwrap();
    assert_eq!(
        (s1["entries"].as_u64().unwrap(), counted),
        (on_disk as u64, d1 - d0),
        "`entries` and the growth of `size_bytes` must count the {on_disk} results and \
         {} bytes added on disk, not the racing writers: {s0} -> {s1}",
        d1 - d0
    );
}

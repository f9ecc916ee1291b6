//! Identical compiles at the same moment through one daemon, on a cold
//! cache and on a warm one: all succeed with the compiler's own object.

use crate::harness::{COMPILERS, Counts, Env, stderr};
use std::process::Output;
use std::sync::{Arc, Barrier};

const N: usize = 8;

/// Big enough that eight compiles overlap.
const SRC: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfg.h"

struct item { char name[32]; int weight; };

static int cmp(const void *a, const void *b) {
    const struct item *x = a, *y = b;
    return x->weight - y->weight;
}

int sort_items(struct item *items, int n) {
    qsort(items, n, sizeof *items, cmp);
    int total = 0;
    for (int i = 0; i < n; i++) {
        total += items[i].weight * SCALE + (int)strlen(items[i].name);
        if (total > 1000000) fprintf(stderr, "%s overflows\n", items[i].name);
    }
    return total;
}
"#;

/// Runs `ccd cc args(i)` for i in 0..N, all released at once; returns the
/// outputs in order.
fn at_once(env: &Env, cc: &str, args: impl Fn(usize) -> Vec<String>) -> Vec<Output> {
    env.settle();
    let barrier = Arc::new(Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let mut c = env.ccd();
            c.arg(cc).args(args(i));
            std::thread::spawn(move || {
                barrier.wait();
                c.output().unwrap()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// The counters before a round; on the cold round no daemon runs yet (and
/// asking for them would start one), so they are zero.
fn counts_before(env: &Env, round: &str) -> Counts {
    if round == "cold" {
        Counts::default()
    } else {
        env.counts()
    }
}

fn args_to(out: &str) -> Vec<String> {
    ["-O2", "-Wall", "-c", "src/a.c", "-o", out]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Eight compiles, each to its own object, on a cold cache (no daemon
/// running yet: all eight race to start it), then eight again warm.
#[test]
fn eight_identical_compiles_at_once_to_separate_objects() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("src/a.c", SRC);
        env.write("src/cfg.h", "#define SCALE 3\n");
        for i in 0..N {
            std::fs::create_dir_all(env.path(&format!("out{i}"))).unwrap();
        }
        let reference = {
            let out = env.bare(cc, &["-O2", "-Wall", "-c", "src/a.c", "-o", "ref.o"]);
            assert!(out.status.success(), "{}", stderr(&out));
            env.read("ref.o")
        };

        for round in ["cold", "warm"] {
            let before = counts_before(&env, round);
            let outs = at_once(&env, cc, |i| args_to(&format!("out{i}/a.o")));
            for (i, out) in outs.iter().enumerate() {
                assert!(out.status.success(), "{cc} {round} #{i}: {}", stderr(out));
                assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{cc} #{i}");
                assert!(
                    env.read(&format!("out{i}/a.o")) == reference,
                    "{cc} {round} #{i}: object differs from the bare compiler's"
                );
            }
            let c = env.counts();
            let expected_total = if round == "cold" { N } else { 2 * N } as u64;
            assert_eq!(
                c.hits + c.misses,
                expected_total,
                "{cc} {round}: every compile went through the daemon: {c:?}"
            );
            assert_eq!(c.non_cacheable, 0, "{cc} {round}: {c:?}");
            if round == "warm" {
                let m = c.since(before);
                assert_eq!(m.hits, N as u64, "{cc} warm: all hits expected: {m}");
            }
        }
        // And one more compile is a plain hit.
        env.like_bare(
            cc,
            &["-O2", "-Wall", "-c", "src/a.c", "-o", "one.o"],
            &["one.o"],
        )
        .hit()
        .run();
    }
}

/// Eight byte-identical command lines (same `-o`) at once, cold then warm:
/// all succeed and the object left is the compiler's.
#[test]
fn eight_identical_command_lines_at_once() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("src/a.c", SRC);
        env.write("src/cfg.h", "#define SCALE 4\n");
        let out = env.bare(cc, &["-O2", "-Wall", "-c", "src/a.c", "-o", "ref.o"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let reference = env.read("ref.o");
        for round in ["cold", "warm"] {
            if round == "warm" {
                // Compiles writing one path at once are not stored (see
                // `a_compile_whose_output_another_truncates_is_not_stored`):
                // one compile alone stores the result.
                let one = env.cc(cc, &["-O2", "-Wall", "-c", "src/a.c", "-o", "a.o"]);
                assert!(one.status.success(), "{}", stderr(&one));
            }
            let before = counts_before(&env, round);
            let outs = at_once(&env, cc, |_| args_to("a.o"));
            for (i, out) in outs.iter().enumerate() {
                assert!(out.status.success(), "{cc} {round} #{i}: {}", stderr(out));
            }
            assert!(env.read("a.o") == reference, "{cc} {round}: object");
            // No temporary files of ccd's left next to the object.
            let stray: Vec<_> = std::fs::read_dir(&env.work)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("ccd"))
                .collect();
            assert!(stray.is_empty(), "{cc} {round}: left behind {stray:?}");
            let m = env.counts().since(before);
            if round == "warm" {
                assert_eq!(m.hits, N as u64, "{cc} warm: {m}");
            }
        }
        let c = env.counts();
        assert_eq!(c.hits + c.misses, 2 * N as u64 + 1, "{cc}: {c:?}");
    }
}

/// Compiles of one output at once, the others truncating the object (as
/// an assembler does) after the first compiler wrote it and before the
/// daemon took it, then failing: what the first one's daemon read must not
/// be stored, or every later hit would deliver an empty object.
#[test]
fn a_compile_whose_output_another_truncates_is_not_stored() {
    let env = Env::new();
    env.write("src/a.c", SRC);
    env.write("src/cfg.h", "#define SCALE 4\n");
    let out = env.bare("gcc", &["-O2", "-Wall", "-c", "src/a.c", "-o", "ref.o"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = env.read("ref.o");
    // Only compiles of src/a.c (not the daemon's questions to the
    // compiler) while `race` exists play: the first compiles, then waits until another has
    // truncated its object; the others truncate it and fail.
    let w = env.work.display();
    env.write_exec(
        "bin/cc",
        &format!(
            "#!/bin/sh\n\
             case \"$*\" in *src/a.c*) ;; *) exec gcc \"$@\" ;; esac\n\
             [ -e {w}/race ] || exec gcc \"$@\"\n\
             if mkdir {w}/first 2>/dev/null; then\n\
               gcc \"$@\" || exit 1\n\
               touch {w}/first-done\n\
               while [ ! -e {w}/truncated ]; do sleep 0.01; done\n\
             else\n\
               while [ ! -e {w}/first-done ]; do sleep 0.01; done\n\
               : > {w}/a.o\n\
               touch {w}/truncated\n\
               exit 1\n\
             fi\n"
        ),
    );
    let cc = env.path("bin/cc");
    env.write("race", "");
    let outs = at_once(&env, cc.to_str().unwrap(), |_| args_to("a.o"));
    std::fs::remove_file(env.path("race")).unwrap();
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "only the first compile succeeds");
    // Whatever was stored, a hit (or a miss) now delivers the compiler's
    // object: never the truncated one.
    std::fs::remove_file(env.path("a.o")).unwrap();
    let again = env.cc(
        cc.to_str().unwrap(),
        &["-O2", "-Wall", "-c", "src/a.c", "-o", "a.o"],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        env.read("a.o") == reference,
        "a later compile delivered {} bytes, not the compiler's object",
        env.read("a.o").len()
    );
}

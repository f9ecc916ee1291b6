//! Precompiled headers: creating them is cached (gcc `-c pre.h` and
//! `-x c-header`; clang only with `-Xclang -fno-pch-timestamp`), and
//! compiles that use them (gcc's `pre.h.gch` beside `pre.h`, `-include`,
//! clang's `-include-pch`) take the PCH as an input: editing the header and
//! rebuilding the PCH makes them miss. PCH results never cross checkouts.

use crate::harness::project::{checkout, contains, let_age};
use crate::harness::{Env, Moved, Outcome, assert_ok, stderr};

fn header(value: u32) -> String {
    format!(
        "#ifndef PRE_H\n#define PRE_H\n#define P {value}\nstatic inline int pf(void) {{ return P * 10; }}\n#endif\n"
    )
}

fn project(env: &Env, dir: &str) {
    env.write(&format!("{dir}/pre.h"), &header(1));
    // Uses the PCH through `#include` (gcc) ...
    env.write(
        &format!("{dir}/a.c"),
        "#include \"pre.h\"\nint a(void) { return pf() + P; }\n",
    );
    // ... and through -include / -include-pch.
    env.write(&format!("{dir}/b.c"), "int b(void) { return pf() - P; }\n");
    env.write(&format!("{dir}/plain.c"), "int plain(void) { return 7; }\n");
}

/// Compiles through ccd, expecting `expect`; then lets the outputs age so
/// that the next compile reading them can be stored.
fn made(env: &Env, expect: Outcome, cc: &str, args: &[&str]) {
    let out = env.cc_expect(expect, cc, args);
    assert_ok(&out);
    let_age();
}

#[test]
fn gcc_pch_next_to_the_header() {
    let env = Env::new();
    project(&env, ".");
    let pch = ["-c", "pre.h"];
    let user = ["-O1", "-c", "a.c", "-o", "a.o"];

    made(&env, Outcome::Miss, "gcc", &pch);
    assert!(env.path("pre.h.gch").exists());
    made(&env, Outcome::Hit, "gcc", &pch);
    env.cc_expect(Outcome::Miss, "gcc", &user);
    env.like_bare("gcc", &user, &["a.o"]).hit().run();
    let v1 = env.read("a.o");

    // Edit the header, rebuild the PCH: the user compile misses.
    env.write("pre.h", &header(2));
    made(&env, Outcome::Miss, "gcc", &pch);
    env.like_bare("gcc", &user, &["a.o"]).miss().run();
    let v2 = env.read("a.o");
    assert_ne!(v1, v2);
    env.like_bare("gcc", &user, &["a.o"]).hit().run();

    // Back to the first header: the stored PCH, then the stored object.
    env.write("pre.h", &header(1));
    made(&env, Outcome::Hit, "gcc", &pch);
    env.like_bare("gcc", &user, &["a.o"]).hit().run();
    assert_eq!(env.read("a.o"), v1);
}

#[test]
fn gcc_x_c_header_and_include_option() {
    let env = Env::new();
    project(&env, ".");
    let pch = ["-x", "c-header", "-c", "pre.h", "-o", "pre.h.gch"];
    let user = ["-include", "pre.h", "-c", "b.c", "-o", "b.o"];

    made(&env, Outcome::Miss, "gcc", &pch);
    made(&env, Outcome::Hit, "gcc", &pch);
    env.cc_expect(Outcome::Miss, "gcc", &user);
    env.like_bare("gcc", &user, &["b.o"]).hit().run();
    let v1 = env.read("b.o");

    env.write("pre.h", &header(3));
    made(&env, Outcome::Miss, "gcc", &pch);
    env.like_bare("gcc", &user, &["b.o"]).miss().run();
    assert_ne!(env.read("b.o"), v1);
    env.like_bare("gcc", &user, &["b.o"]).hit().run();
}

/// gcc takes `pre.h.gch` over `pre.h` without looking at the header: a
/// PCH that appears (built from other content) changes the object although
/// no file the compiler lists as a dependency changed.
#[test]
fn gcc_pch_appearing_or_vanishing_beside_an_unchanged_header() {
    let env = Env::new();
    project(&env, ".");
    let user = ["-c", "a.c", "-o", "a.o"];
    env.cc_expect(Outcome::Miss, "gcc", &user);
    env.cc_expect(Outcome::Hit, "gcc", &user);
    let plain = env.read("a.o");

    // A PCH of other content, then the header put back.
    env.write("pre.h", &header(5));
    assert_ok(&env.bare("gcc", &["-c", "pre.h"]));
    env.write("pre.h", &header(1));
    let_age();
    env.like_bare("gcc", &user, &["a.o"]).miss().run();
    assert_ne!(env.read("a.o"), plain, "gcc did not use the PCH");
    env.like_bare("gcc", &user, &["a.o"]).hit().run();

    // The PCH gone: the header is read again.
    std::fs::remove_file(env.path("pre.h.gch")).unwrap();
    env.like_bare("gcc", &user, &["a.o"]).run();
    assert_eq!(env.read("a.o"), plain);
}

/// gcc looks for `pre.h.gch` in every directory it searches for `pre.h`,
/// and takes a PCH found in an earlier one even where no `pre.h` is.
#[test]
fn gcc_pch_appearing_in_an_earlier_include_directory() {
    let env = Env::new();
    env.write("inc/pre.h", &header(1));
    env.write("b.c", "int b(void) { return pf() - P; }\n");
    std::fs::create_dir_all(env.path("first")).unwrap();
    let user = [
        "-Ifirst", "-Iinc", "-include", "pre.h", "-c", "b.c", "-o", "b.o",
    ];
    env.cc_expect(Outcome::Miss, "gcc", &user);
    env.cc_expect(Outcome::Hit, "gcc", &user);
    let plain = env.read("b.o");

    env.write("other/pre.h", &header(6));
    assert_ok(&env.bare("gcc", &["-c", "other/pre.h", "-o", "first/pre.h.gch"]));
    let_age();
    env.like_bare("gcc", &user, &["b.o"]).miss().run();
    assert_ne!(env.read("b.o"), plain, "gcc did not use first/pre.h.gch");
    env.like_bare("gcc", &user, &["b.o"]).hit().run();
}

#[test]
fn clang_pch_with_include_pch_and_include() {
    let env = Env::new();
    project(&env, ".");
    let pch = [
        "-x",
        "c-header",
        "pre.h",
        "-o",
        "pre.pch",
        "-Xclang",
        "-fno-pch-timestamp",
    ];
    let user = ["-include-pch", "pre.pch", "-c", "b.c", "-o", "b.o"];

    // Without -fno-pch-timestamp a clang PCH is not cached.
    env.cc_expect(
        Outcome::Passthrough,
        "clang",
        &["-x", "c-header", "pre.h", "-o", "stamped.pch"],
    );

    made(&env, Outcome::Miss, "clang", &pch);
    env.like_bare("clang", &pch, &["pre.pch"]).hit().run();
    let_age();
    env.cc_expect(Outcome::Miss, "clang", &user);
    env.like_bare("clang", &user, &["b.o"]).hit().run();
    let v1 = env.read("b.o");

    // Edit the header, rebuild the PCH: the user compile misses.
    env.write("pre.h", &header(2));
    made(&env, Outcome::Miss, "clang", &pch);
    env.like_bare("clang", &user, &["b.o"]).miss().run();
    let v2 = env.read("b.o");
    assert_ne!(v1, v2);
    env.like_bare("clang", &user, &["b.o"]).hit().run();

    // Back to the first header: the stored PCH, then the first object (a
    // miss is allowed: clang PCH users are also keyed by header mtimes).
    env.write("pre.h", &header(1));
    made(&env, Outcome::Hit, "clang", &pch);
    env.like_bare("clang", &user, &["b.o"]).run();
    assert_eq!(env.read("b.o"), v1);

    // `-include pre.h` finds pre.h.pch beside the header.
    let implicit = [
        "-x",
        "c-header",
        "pre.h",
        "-o",
        "pre.h.pch",
        "-Xclang",
        "-fno-pch-timestamp",
    ];
    // The same header and flags as pre.pch: the same PCH, whatever its name.
    env.like_bare("clang", &implicit, &["pre.h.pch"])
        .hit()
        .run();
    let_age();
    let user = ["-include", "pre.h", "-c", "b.c", "-o", "c.o"];
    env.cc_expect(Outcome::Miss, "clang", &user);
    env.like_bare("clang", &user, &["c.o"]).hit().run();
    env.write("pre.h", &header(4));
    made(&env, Outcome::Miss, "clang", &implicit);
    env.like_bare("clang", &user, &["c.o"]).miss().run();
    assert_ne!(env.read("c.o"), v1);
}

/// clang refuses a PCH whose header changed since it was built: the build
/// gets that error, never a stored object.
#[test]
fn clang_stale_pch_is_an_error_not_a_hit() {
    let env = Env::new();
    project(&env, ".");
    let pch = [
        "-x",
        "c-header",
        "pre.h",
        "-o",
        "pre.pch",
        "-Xclang",
        "-fno-pch-timestamp",
    ];
    let user = ["-include-pch", "pre.pch", "-c", "b.c", "-o", "b.o"];
    made(&env, Outcome::Miss, "clang", &pch);
    env.cc_expect(Outcome::Miss, "clang", &user);
    env.cc_expect(Outcome::Hit, "clang", &user);
    env.write("pre.h", &format!("{}/* edited */\n", header(1)));
    let out = env.like_bare("clang", &user, &["b.o"]).run().out;
    assert!(!out.status.success(), "clang accepted a stale PCH");
    assert!(stderr(&out).contains("modified"), "{}", stderr(&out));
}

/// Make a PCH, then use it; with the file each step writes.
type Steps = [(&'static [&'static str], &'static str)];
const GCC_STEPS: &Steps = &[
    (&["-c", "pre.h"], "pre.h.gch"),
    (&["-c", "a.c", "-o", "a.o"], "a.o"),
];
const CLANG_STEPS: &Steps = &[
    (
        &[
            "-x",
            "c-header",
            "pre.h",
            "-o",
            "pre.pch",
            "-Xclang",
            "-fno-pch-timestamp",
        ],
        "pre.pch",
    ),
    (
        &["-include-pch", "pre.pch", "-c", "b.c", "-o", "b.o"],
        "b.o",
    ),
];

/// Under `CCD_PATH_REMAP=auto` ordinary compiles are shared between two
/// checkouts, but creating or using a PCH is not: each checkout compiles
/// its own, and nothing in the second names the first.
#[test]
fn pch_results_never_cross_checkouts() {
    for (cc, steps) in [("gcc", GCC_STEPS), ("clang", CLANG_STEPS)] {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        let c1 = checkout(&env, "c1");
        let c2 = checkout(&env, "second/c2");
        project(&env, "c1");
        project(&env, "second/c2");
        let plain = ["-c", "plain.c", "-o", "plain.o"];
        for (n, root) in [&c1, &c2].into_iter().enumerate() {
            // Sharing is on: the plain compile hits in the second checkout.
            let (out, m) = env.counting(|| env.cc_in(root, cc, &plain));
            assert_ok(&out);
            assert_eq!(m, Moved::new(n as u64, 1 - n as u64, 0, 0), "{cc} plain.c");
            for (args, output) in steps {
                let (out, m) = env.counting(|| env.cc_in(root, cc, args));
                assert_ok(&out);
                assert_eq!(
                    m,
                    Moved::new(0, 1, 0, 0),
                    "{cc} {args:?} in {}: a PCH result crossed checkouts",
                    root.display()
                );
                let_age();
                let bytes = std::fs::read(root.join(output)).unwrap();
                let other = if n == 0 { &c2 } else { &c1 };
                assert!(
                    !contains(&bytes, other.to_str().unwrap().as_bytes()),
                    "{cc}: {output} in {} names {}",
                    root.display(),
                    other.display()
                );
            }
        }
    }
}

/// Under `CCD_PATH_REMAP=auto`, PCH results are still cached for the
/// checkout that made them: building the PCH and its user again hits.
#[test]
fn pch_results_are_reused_within_a_checkout_under_remap() {
    for (cc, steps) in [("gcc", GCC_STEPS), ("clang", CLANG_STEPS)] {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        let c1 = checkout(&env, "c1");
        project(&env, "c1");
        for expect in [Moved::new(0, 1, 0, 0), Moved::new(1, 0, 0, 0)] {
            for (args, _) in steps {
                let (out, m) = env.counting(|| env.cc_in(&c1, cc, args));
                assert_ok(&out);
                assert_eq!(m, expect, "{cc} {args:?} in c1 (status: {})", env.status());
                let_age();
            }
        }
    }
}

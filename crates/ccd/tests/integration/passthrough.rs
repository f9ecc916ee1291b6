//! What ccd does not cache (linking, `-E`, a missing input) behaves exactly
//! like the bare compiler: exit code, stdout, stderr and the files left
//! behind.

use crate::harness::compare::Compared;
use crate::harness::{COMPILERS, Env, Outcome, assert_ok, stderr};
use std::process::{Command, Output};

fn project(env: &Env) {
    env.write(
        "a.c",
        "#include <stdio.h>\n#include \"b.h\"\n#define GREETING \"hello\"\nint main(void) { printf(\"%s %d\\n\", GREETING, b()); return 0; }\n",
    );
    env.write("b.h", "int b(void);\n");
    env.write("b.c", "#include \"b.h\"\nint b(void) { return 42; }\n");
}

/// Runs `args` through ccd (expecting a passthrough) and bare from the same
/// starting state, comparing exit code, streams, and every file created or
/// changed in the work directory. Leaves the bare compiler's files in
/// place; the files are those ccd's run created or changed.
fn like_bare_passthrough(env: &Env, cc: &str, args: &[&str]) -> Compared {
    env.like_bare(cc, args, &[])
        .changed_files()
        .outcome(Outcome::Passthrough)
        .run()
}

/// `stderr` with the compiler driver's temporary file names
/// (`/tmp/ccAbC123.o`) replaced by a fixed name.
fn without_temp_names(stderr: &str) -> String {
    let mut out = String::new();
    let mut rest = stderr;
    while let Some(i) = rest.find("/tmp/") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 5..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_'))
            .unwrap_or(tail.len());
        out.push_str("/tmp/TEMP");
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn run_program(env: &Env, rel: &str) -> Output {
    Command::new(env.path(rel))
        .current_dir(&env.work)
        .output()
        .unwrap_or_else(|e| panic!("running {rel}: {e}"))
}

/// `cc a.c b.c -o prog`: linked by the compiler, the program exists and
/// runs; a second time is not a hit either.
#[test]
fn link_is_passed_through() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        for _ in 0..2 {
            let _ = std::fs::remove_file(env.path("prog"));
            let Compared { out, files, .. } =
                like_bare_passthrough(&env, cc, &["a.c", "b.c", "-o", "prog"]);
            assert_ok(&out);
            assert!(files.contains_key("prog"), "{cc}: {:?}", files.keys());
            let run = run_program(&env, "prog");
            assert_ok(&run);
            assert_eq!(String::from_utf8_lossy(&run.stdout), "hello 42\n", "{cc}");
        }
    }
}

/// Objects compiled through ccd (miss, then hit), then linked through ccd.
#[test]
fn link_of_cached_objects_is_passed_through() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        for (src, obj) in [("a.c", "a.o"), ("b.c", "b.o")] {
            env.cc_expect(Outcome::Miss, cc, &["-c", src, "-o", obj]);
            env.like_bare(cc, &["-c", src, "-o", obj], &[obj])
                .hit()
                .run();
        }
        let Compared { out, files, .. } =
            like_bare_passthrough(&env, cc, &["a.o", "b.o", "-o", "prog"]);
        assert_ok(&out);
        assert_eq!(files.keys().collect::<Vec<_>>(), ["prog"], "{cc}");
        let run = run_program(&env, "prog");
        assert_eq!(String::from_utf8_lossy(&run.stdout), "hello 42\n", "{cc}");
    }
}

/// A single source linked without `-o`: `a.out` appears. The link fails
/// (b is missing): the error and exit code are the linker's, no a.out.
#[test]
fn link_failure_and_default_output_are_passed_through() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        // The linker names the compiler's temporary object, a random name.
        let Compared { out, files, .. } = env
            .like_bare(cc, &["a.c"], &[])
            .changed_files()
            .stderr_filter(without_temp_names)
            .outcome(Outcome::Passthrough)
            .run();
        assert_ne!(out.status.code(), Some(0), "{cc}: undefined b must fail");
        assert!(stderr(&out).contains('b'), "{cc}: {}", stderr(&out));
        assert!(files.is_empty(), "{cc}: {:?}", files.keys());

        env.write("c.c", "int main(void) { return 3; }\n");
        let Compared { out, files, .. } = like_bare_passthrough(&env, cc, &["c.c"]);
        assert_ok(&out);
        assert!(files.contains_key("a.out"), "{cc}: {:?}", files.keys());
        assert_eq!(run_program(&env, "a.out").status.code(), Some(3), "{cc}");
    }
}

/// `-E` writes the preprocessed source to stdout (or to `-o`) and nothing
/// else.
#[test]
fn preprocess_only_is_passed_through() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        for _ in 0..2 {
            let Compared { out, files, .. } = like_bare_passthrough(&env, cc, &["-E", "a.c"]);
            assert_ok(&out);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("\"hello\""), "{cc}: GREETING not expanded");
            assert!(text.contains("int b(void);"), "{cc}: b.h not included");
            assert!(files.is_empty(), "{cc}: -E left files: {:?}", files.keys());
        }
        let Compared { out, files, .. } =
            like_bare_passthrough(&env, cc, &["-E", "-DGREETING_X", "a.c", "-o", "a.i"]);
        assert_ok(&out);
        assert!(out.stdout.is_empty(), "{cc}");
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a.i"], "{cc}");
        // An error under -E: same message and exit code.
        env.write("e.c", "#include \"nope.h\"\n");
        let Compared { out, .. } = like_bare_passthrough(&env, cc, &["-E", "e.c"]);
        assert_ne!(out.status.code(), Some(0), "{cc}");
        assert!(stderr(&out).contains("nope.h"), "{cc}");
    }
}

/// A missing input: the compiler's own error and exit code, no object, no
/// stray files; twice, never cached.
#[test]
fn missing_input_is_passed_through() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        for args in [
            &["-c", "missing.c", "-o", "missing.o"][..],
            &["-c", "missing.c"][..],
            &["missing.c", "-o", "prog"][..],
            &["-c", "a.c", "missing.c"][..],
        ] {
            for _ in 0..2 {
                let Compared { out, files, .. } = like_bare_passthrough(&env, cc, args);
                assert_ne!(out.status.code(), Some(0), "{cc} {args:?}");
                assert!(
                    stderr(&out).contains("missing.c"),
                    "{cc} {args:?}: {}",
                    stderr(&out)
                );
                if args.contains(&"a.c") {
                    // gcc still compiles a.c, clang does not: whatever the
                    // compiler does (compared above), start over.
                    let _ = std::fs::remove_file(env.path("a.o"));
                } else {
                    assert!(files.is_empty(), "{cc} {args:?}: {:?}", files.keys());
                }
            }
        }
        let s = env.status();
        assert_eq!(s["entries"], 0, "{cc}: {s}");
    }
}

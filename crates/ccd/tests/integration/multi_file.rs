//! Several sources in one command (`gcc -c a.c b.c c.c`): split into one
//! cached compile per source, run in parallel, with stdout and stderr put
//! together in source order and the first non-zero exit code, so the whole
//! equals the bare compiler's run: exit code, streams and every output.

use crate::harness::{COMPILERS, Env, Moved, assert_ok, stderr};

fn project(env: &Env) {
    env.write("inc/common.h", "#define BASE 100\n");
    env.write(
        "a.c",
        "#include \"common.h\"\nint a(int x) { return x + BASE; }\n",
    );
    env.write(
        "b.c",
        "#include \"common.h\"\nint b(int x) { return x * BASE; }\n",
    );
    env.write("sub/c.c", "int c(int x) { return x - 1; }\n");
}

const OBJECTS: &[&str] = &["a.o", "b.o", "c.o"];

#[test]
fn each_source_is_cached_on_its_own() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let args = ["-O2", "-Iinc", "-c", "a.c", "b.c", "sub/c.c"];
        let check = |expect: Moved, what: &str| {
            let c = env.like_bare(cc, &args, OBJECTS).counted().run();
            let (out, m) = (&c.out, c.moved());
            assert_ok(out);
            assert_eq!(m, expect, "{cc}: {what}");
        };
        check(Moved::new(0, 3, 0, 0), "cold");
        check(Moved::new(3, 0, 0, 0), "warm");
        env.write(
            "b.c",
            "#include \"common.h\"\nint b(int x) { return x * BASE + 1; }\n",
        );
        check(Moved::new(2, 1, 0, 0), "b.c edited");
        check(Moved::new(3, 0, 0, 0), "warm again");
        env.write("inc/common.h", "#define BASE 200\n");
        check(Moved::new(1, 2, 0, 0), "header of a.c and b.c edited");

        // Each piece is the same compile as the source alone.
        let c = env
            .like_bare(cc, &["-O2", "-Iinc", "-c", "b.c"], &["b.o"])
            .counted()
            .run();
        let (out, m) = (&c.out, c.moved());
        assert_ok(out);
        assert_eq!(m, Moved::new(1, 0, 0, 0), "{cc}: b.c alone");
    }
}

#[test]
fn dependency_files_and_assembly_of_several_sources() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let args = ["-Iinc", "-c", "a.c", "b.c", "sub/c.c", "-MD", "-MP"];
        let files = ["a.o", "b.o", "c.o", "a.d", "b.d", "c.d"];
        let c = env.like_bare(cc, &args, &files).counted().run();
        let (out, m) = (&c.out, c.moved());
        assert_ok(out);
        assert_eq!(m, Moved::new(0, 3, 0, 0), "{cc}");
        let c = env.like_bare(cc, &args, &files).counted().run();
        let (out, m) = (&c.out, c.moved());
        assert_ok(out);
        assert_eq!(m, Moved::new(3, 0, 0, 0), "{cc}");

        let args = ["-Iinc", "-S", "a.c", "sub/c.c"];
        for expect in [Moved::new(0, 2, 0, 0), Moved::new(2, 0, 0, 0)] {
            let c = env.like_bare(cc, &args, &["a.s", "c.s"]).counted().run();
            let (out, m) = (&c.out, c.moved());
            assert_ok(out);
            assert_eq!(m, expect, "{cc} -S");
        }
    }
}

/// Warnings from two files, an error from the one between them: the same
/// exit code, diagnostics in source order and objects as the bare compiler,
/// cold and with the good files served from the cache.
#[test]
fn a_failing_source_among_others() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("a.c", "int a(void) { int unused_in_a; return 1; }\n");
        env.write("b.c", "int b(void) { return missing_in_b; }\n");
        env.write("c.c", "int c(void) { int unused_in_c; return 3; }\n");
        let args = ["-Wall", "-c", "a.c", "b.c", "c.c"];
        let run = |expect: Moved, what: &str| {
            let c = env.like_bare(cc, &args, OBJECTS).counted().run();
            let (out, m) = (&c.out, c.moved());
            assert_eq!(out.status.code(), Some(1), "{cc} {what}");
            let e = stderr(out);
            let (ia, ib, ic) = (
                e.find("unused_in_a").unwrap_or_else(|| panic!("{cc}: {e}")),
                e.find("missing_in_b")
                    .unwrap_or_else(|| panic!("{cc}: {e}")),
                e.find("unused_in_c").unwrap_or_else(|| panic!("{cc}: {e}")),
            );
            assert!(ia < ib && ib < ic, "{cc} {what}: out of order:\n{e}");
            assert!(c.file("a.o").is_some() && c.file("b.o").is_none() && c.file("c.o").is_some());
            assert_eq!(m, expect, "{cc} {what}");
        };
        run(Moved::new(0, 3, 0, 1), "cold");
        run(Moved::new(2, 1, 0, 1), "warm");

        // Fixed: exit code 0, the warnings still replayed in order.
        env.write("b.c", "int b(void) { return 2; }\n");
        let c = env.like_bare(cc, &args, OBJECTS).counted().run();
        let (out, m) = (&c.out, c.moved());
        assert_ok(out);
        assert_eq!(m, Moved::new(2, 1, 0, 0), "{cc} fixed");
        let e = stderr(out);
        assert!(
            e.find("unused_in_a") < e.find("unused_in_c") && e.contains("unused_in_a"),
            "{cc}: {e}"
        );

        // The first file fails, the later ones are still compiled.
        env.write("a.c", "int a(void) { return missing_in_a; }\n");
        let c = env.like_bare(cc, &args, OBJECTS).counted().run();
        let (out, m) = (&c.out, c.moved());
        assert_eq!(out.status.code(), Some(1), "{cc}");
        assert_eq!(m, Moved::new(2, 1, 0, 1), "{cc} a.c broken");
        assert!(c.file("a.o").is_none() && c.file("b.o").is_some() && c.file("c.o").is_some());
    }
}

/// A compiler (a wrapper script) that prints one line per source on stdout:
/// the lines come back in source order, from misses and from hits alike.
#[test]
fn stdout_in_source_order() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        // a.c is the slowest to compile, so it finishes last.
        let mut big = String::from("#include \"common.h\"\n");
        for i in 0..150 {
            big.push_str(&format!("int f{i}(int x) {{ return x * {i} + BASE; }}\n"));
        }
        env.write("a.c", &big);
        env.write_exec(
            "bin/chatty",
            &format!(
                "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in *.c) echo \"compiling $a\";; esac; done\nexec {cc} \"$@\"\n"
            ),
        );
        let chatty = env.path("bin/chatty");
        let chatty = chatty.to_str().unwrap();
        let args = ["-O1", "-Iinc", "-c", "a.c", "b.c", "sub/c.c"];
        for expect in [Moved::new(0, 3, 0, 0), Moved::new(3, 0, 0, 0)] {
            let c = env.like_bare(chatty, &args, OBJECTS).counted().run();
            let (out, m) = (&c.out, c.moved());
            assert_ok(out);
            assert_eq!(m, expect, "{cc}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "compiling a.c\ncompiling b.c\ncompiling sub/c.c\n",
                "{cc}"
            );
        }
        // A mix: b.c edited.
        env.write("b.c", "int b(int x) { return x; }\n");
        let c = env.like_bare(chatty, &args, OBJECTS).counted().run();
        let (out, m) = (&c.out, c.moved());
        assert_ok(out);
        assert_eq!(m, Moved::new(2, 1, 0, 0), "{cc}");
    }
}

/// The sources listed in a response file are split all the same.
#[test]
fn sources_from_a_response_file() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        env.write("srcs.rsp", "-Iinc -c a.c\nb.c sub/c.c\n");
        for expect in [Moved::new(0, 3, 0, 0), Moved::new(3, 0, 0, 0)] {
            let c = env
                .like_bare(cc, &["-O1", "@srcs.rsp"], OBJECTS)
                .counted()
                .run();
            let (out, m) = (&c.out, c.moved());
            assert_ok(out);
            assert_eq!(m, expect, "{cc}");
        }
        env.write("srcs.rsp", "-Iinc -c a.c\nb.c\n");
        let c = env
            .like_bare(cc, &["-O1", "@srcs.rsp"], OBJECTS)
            .counted()
            .run();
        let (out, m) = (&c.out, c.moved());
        assert_ok(out);
        assert_eq!(m, Moved::new(2, 0, 0, 0), "{cc}");
        assert!(c.file("c.o").is_none(), "{cc}: sub/c.c is no longer listed");
    }
}

/// Where the sources' outputs would collide or a single `-o` names them all,
/// ccd does not split; the compiler's own behaviour is what the build gets.
#[test]
fn unsplittable_commands_behave_like_the_compiler() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        env.write("sub/a.c", "int other_a(void) { return 5; }\n");
        let cases: [&[&str]; 3] = [
            &["-Iinc", "-c", "a.c", "b.c", "-o", "x.o"],
            &["-Iinc", "-c", "a.c", "sub/a.c"],
            &["-Iinc", "-c", "a.c", "b.c", "-MD", "-MF", "all.d"],
        ];
        for args in cases {
            let c = env
                .like_bare(cc, args, &["a.o", "b.o", "x.o", "all.d"])
                .counted()
                .run();
            let m = c.moved();
            assert_eq!(m, Moved::new(0, 0, 1, 0), "{cc} {args:?}");
        }
        // Splittable again: cached.
        let c = env
            .like_bare(cc, &["-Iinc", "-c", "a.c", "b.c"], &["a.o", "b.o"])
            .counted()
            .run();
        let (out, m) = (&c.out, c.moved());
        assert_ok(out);
        assert_eq!(m, Moved::new(0, 2, 0, 0), "{cc}");
    }
}

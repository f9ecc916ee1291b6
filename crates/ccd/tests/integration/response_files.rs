//! Response files (`@file`): expanded by the daemon as the compiler reads
//! them (gcc's and clang's rules, nested; rustc's one argument per line)
//! so the compile is cached under the arguments the compiler sees; an edit
//! to any response file never reuses a stale hit; the compiler itself still
//! gets the user's original arguments.

use crate::harness::project::{contains, write_keeping_mtime};
use crate::harness::{COMPILERS, Env, Outcome, assert_ok, stderr};

fn project(env: &Env) {
    env.write(
        "src/a.c",
        "#include \"x.h\"\nconst char *name = NAME;\nconst char *quoted = QUOTED;\nint f(void) { return V * 3 + X; }\n",
    );
    env.write("my inc/x.h", "#define X 1\n");
    std::fs::create_dir_all(env.path("out dir")).unwrap();
}

/// Single quotes, double quotes, backslash escapes and arguments with spaces:
/// the compile is cached (miss, then hit) and equals the bare compiler's.
const RSP: &str = "-O2 '-DNAME=\"two  words\"'\n\t-DQUOTED=\\\"esc\\\"  -DV=4\n-I'my inc' -c src/a.c\n-o \"out dir/a.o\"\n";

#[test]
fn response_file_is_cached_and_matches_the_bare_compiler() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        env.write("args.rsp", RSP);
        env.cc_expect(Outcome::Miss, cc, &["@args.rsp"]);
        let o = env.read("out dir/a.o");
        assert!(
            contains(&o, b"two  words") && contains(&o, b"esc"),
            "{cc}: the quoted defines did not reach the object"
        );
        env.cc_expect(Outcome::Hit, cc, &["@args.rsp"]);
        env.cc_expect(Outcome::Hit, cc, &["@args.rsp"]);
        env.like_bare(cc, &["@args.rsp"], &["out dir/a.o"])
            .hit()
            .run();

        // The same arguments written out on the command line are the same
        // compile: the key is made of the expanded arguments.
        let inline = [
            "-O2",
            "-DNAME=\"two  words\"",
            "-DQUOTED=\"esc\"",
            "-DV=4",
            "-Imy inc",
            "-c",
            "src/a.c",
            "-o",
            "out dir/a.o",
        ];
        env.like_bare(cc, &inline, &["out dir/a.o"]).hit().run();

        // A response file for the flags only, mixed with plain arguments.
        env.write(
            "flags.rsp",
            "-O2 '-DNAME=\"two  words\"' -DQUOTED=\\\"esc\\\" -DV=4 '-Imy inc'",
        );
        let mixed = ["-c", "src/a.c", "@flags.rsp", "-o", "b.o"];
        env.cc_expect(Outcome::Miss, cc, &mixed);
        env.like_bare(cc, &mixed, &["b.o"]).hit().run();
    }
}

#[test]
fn missing_response_file_runs_the_compiler() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        env.write("args.rsp", RSP);
        env.cc_expect(Outcome::Miss, cc, &["@args.rsp"]);
        env.cc_expect(Outcome::Hit, cc, &["@args.rsp"]);
        // A missing response file and one that includes itself: the
        // compiler reports them, exactly as without ccd.
        let missing = ["-c", "src/a.c", "@missing.rsp", "-DNAME=0", "-DQUOTED=0"];
        env.like_bare(cc, &missing, &["a.o"]).run();
        // The cached entry is still served.
        env.cc_expect(Outcome::Hit, cc, &["@args.rsp"]);
    }
}

/// A response file that names itself: ccd gives up expanding it (no hang),
/// and the compiler's own complaint reaches the build unchanged. gcc's
/// complaint names the driver as it was invoked (`argv[0]`).
#[test]
fn looping_response_file_fails_like_the_bare_compiler() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        env.write("args.rsp", RSP);
        env.cc_expect(Outcome::Miss, cc, &["@args.rsp"]);
        env.write("loop.rsp", "-DV=1 @loop.rsp\n");
        let looping = ["-c", "src/a.c", "@loop.rsp", "-o", "l.o"];
        let out = env.like_bare(cc, &looping, &["l.o"]).run().out;
        assert!(!out.status.success(), "{cc}");
        env.cc_expect(Outcome::Hit, cc, &["@args.rsp"]);
    }
}

/// An outer response file names a nested one; editing either (also a
/// same-size edit with the old mtime put back) is a miss, reverting hits
/// with the first object, and each result equals the bare compiler's.
#[test]
fn editing_a_response_file_never_reuses_a_stale_hit() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        env.write(
            "build.rsp",
            "-c src/a.c -o a.o @cfg/flags.rsp '-Imy inc' -DNAME=0 -DQUOTED=0\n",
        );
        env.write("cfg/flags.rsp", "-DV=1\n");
        let args = ["@build.rsp"];

        env.cc_expect(Outcome::Miss, cc, &args);
        let v1 = env.read("a.o");
        // Hits more than once, so the fast paths know the request.
        env.cc_expect(Outcome::Hit, cc, &args);
        env.cc_expect(Outcome::Hit, cc, &args);

        env.write("cfg/flags.rsp", "-DV=2\n");
        env.like_bare(cc, &args, &["a.o"]).miss().run();
        let v2 = env.read("a.o");
        assert_ne!(v1, v2, "{cc}: -DV=1 and -DV=2 must differ");
        env.cc_expect(Outcome::Hit, cc, &args);
        env.cc_expect(Outcome::Hit, cc, &args);
        assert_eq!(env.read("a.o"), v2, "{cc}");

        env.write("cfg/flags.rsp", "-DV=1\n");
        env.cc_expect(Outcome::Hit, cc, &args);
        assert_eq!(env.read("a.o"), v1, "{cc}: reverting must give back v1");
        env.cc_expect(Outcome::Hit, cc, &args);

        // Same size, old mtime restored.
        write_keeping_mtime(&env.path("cfg/flags.rsp"), "-DV=7\n");
        env.like_bare(cc, &args, &["a.o"]).miss().run();
        let v7 = env.read("a.o");
        assert_ne!(v7, v1, "{cc}");
        env.cc_expect(Outcome::Hit, cc, &args);

        // The outer file: another flag.
        env.write(
            "build.rsp",
            "-c src/a.c -o a.o @cfg/flags.rsp '-Imy inc' -DNAME=0 -DQUOTED=1\n",
        );
        env.like_bare(cc, &args, &["a.o"]).miss().run();
        env.cc_expect(Outcome::Hit, cc, &args);

        // The outer file now names another nested file.
        env.write("cfg/other.rsp", "-DV=9\n");
        env.write(
            "build.rsp",
            "-c src/a.c -o a.o @cfg/other.rsp '-Imy inc' -DNAME=0 -DQUOTED=1\n",
        );
        env.like_bare(cc, &args, &["a.o"]).miss().run();
        env.cc_expect(Outcome::Hit, cc, &args);

        // The nested file disappears: the compiler says what it says.
        std::fs::remove_file(env.path("cfg/other.rsp")).unwrap();
        let out = env.like_bare(cc, &args, &["a.o"]).run().out;
        assert!(!out.status.success(), "{cc}: {}", stderr(&out));
    }
}

/// Nested response files are found relative to the working directory, as
/// gcc and clang do, not relative to the file that names them.
#[test]
fn nested_names_resolve_like_the_compiler() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        env.write(
            "outer.rsp",
            "-c src/a.c -o a.o '-Imy inc' -DNAME=0 -DQUOTED=0 @sub/inner.rsp\n",
        );
        env.write("sub/inner.rsp", "@v.rsp\n");
        env.write("sub/v.rsp", "-DV=10\n");
        env.write("v.rsp", "-DV=20\n");
        env.like_bare(cc, &["@outer.rsp"], &["a.o"]).miss().run();
        env.cc_expect(Outcome::Hit, cc, &["@outer.rsp"]);
        // Only the file the compiler reads matters.
        env.write("sub/v.rsp", "-DV=11\n");
        env.like_bare(cc, &["@outer.rsp"], &["a.o"]).hit().run();
        env.write("v.rsp", "-DV=21\n");
        env.like_bare(cc, &["@outer.rsp"], &["a.o"]).miss().run();
    }
}

/// The compiler is run with `@args.rsp` as the user wrote it, never with
/// ccd's expansion of it; a hit does not run it at all.
#[test]
fn the_compiler_gets_the_original_arguments() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        env.write("args.rsp", RSP);
        let log = env.path("compiler.log");
        env.write_exec(
            "bin/logcc",
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec {cc} \"$@\"\n",
                log.display()
            ),
        );
        let logcc = env.path("bin/logcc");
        let logcc = logcc.to_str().unwrap();
        let out = env.cc_expect(Outcome::Miss, logcc, &["@args.rsp"]);
        assert_ok(&out);
        let runs = |log: &std::path::Path| -> Vec<String> {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with('@') || l.contains("a.c"))
                .map(str::to_string)
                .collect()
        };
        let compiles = runs(&log);
        assert_eq!(
            compiles.len(),
            1,
            "{cc}: one compile expected, the compiler saw: {compiles:?}"
        );
        assert!(
            compiles[0].starts_with("@args.rsp"),
            "{cc}: the compiler must get the original @args.rsp: {compiles:?}"
        );
        env.cc_expect(Outcome::Hit, logcc, &["@args.rsp"]);
        assert_eq!(runs(&log).len(), 1, "{cc}: a hit must not run the compiler");
        let o = env.read("out dir/a.o");
        std::fs::remove_file(env.path("out dir/a.o")).unwrap();
        assert_ok(&env.bare(cc, &["@args.rsp"]));
        assert_eq!(o, env.read("out dir/a.o"), "{cc}");
    }
}

/// clang reads a vertical tab as part of an argument where gcc separates
/// there: `-DX=1<VT>-DY` is one define to clang. ccd once split every
/// response file gcc's way, so this compile had the key of `-DX=1 -DY`,
/// and the latter was then served the object made for the former.
#[test]
fn a_response_file_is_read_by_the_rules_of_its_compiler() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write(
            "a.c",
            "#define S(a) #a\n#define STR(a) S(a)\nconst char *x = STR(X);\n\
             #ifdef Y\nint y = 1;\n#endif\n",
        );
        env.write("args.rsp", "-DX=1\x0b-DY");
        env.like_bare(cc, &["-c", "a.c", "@args.rsp"], &["a.o"])
            .miss()
            .run();
        // gcc reads the file as these two arguments: the same compile.
        // clang reads it as one: another compile, never served the first's
        // object.
        let two = ["-c", "a.c", "-DX=1", "-DY"];
        let expect = if cc.starts_with("clang") {
            Outcome::Miss
        } else {
            Outcome::Hit
        };
        env.like_bare(cc, &two, &["a.o"]).outcome(expect).run();
    }
}

/// rustc takes each line of an argument file as one argument:
/// `--remap-path-prefix=x=y --out-dir=q` on one line is a prefix map whose
/// replacement holds a space, not an output directory. Read gcc's way, the
/// compile had the key of the two arguments, and was served outputs in
/// `q/` that rustc never writes there.
#[test]
fn rustc_argument_files_have_one_argument_per_line() {
    let env = Env::new();
    env.write("lib.rs", "pub fn f() -> u32 { 7 }\n");
    std::fs::create_dir_all(env.path("q")).unwrap();
    let files = ["libx.rlib", "x.d", "q/libx.rlib", "q/x.d"];
    let base = [
        "--crate-name",
        "x",
        "--crate-type",
        "lib",
        "--emit=link,dep-info",
        "lib.rs",
    ];
    let two = [&base[..], &["--remap-path-prefix=x=y", "--out-dir=q"]].concat();
    env.like_bare("rustc", &two, &files).miss().run();
    env.write("args", "--remap-path-prefix=x=y --out-dir=q\n");
    let with_file = [&base[..], &["@args"]].concat();
    let c = env.like_bare("rustc", &with_file, &files).miss().run();
    assert!(c.file("libx.rlib").is_some() && c.file("q/libx.rlib").is_none());
    env.like_bare("rustc", &with_file, &files).hit().run();
}

/// Two response files that say the same thing are one compile context; the
/// second request is served from the first's sealed result, and that serve
/// is remembered for its own request bytes. Remembered with the first's
/// seal, it did not cover the second's file: an edit to `two.rsp` went
/// unseen and `@two.rsp` was served the object of `-DX=1` ever after.
#[test]
fn a_request_served_from_another_requests_seal_sees_its_own_response_file() {
    let env = Env::new();
    env.write("a.c", "int x = X;\n");
    env.write("one.rsp", "-DX=1 -c a.c -o a.o\n");
    env.write("two.rsp", "-DX=1 -c a.c -o a.o\n");
    env.like_bare("gcc", &["@one.rsp"], &["a.o"]).miss().run();
    env.like_bare("gcc", &["@two.rsp"], &["a.o"]).hit().run();
    env.like_bare("gcc", &["@two.rsp"], &["a.o"]).hit().run();
    env.write("two.rsp", "-DX=2 -c a.c -o a.o\n");
    env.like_bare("gcc", &["@two.rsp"], &["a.o"]).miss().run();
}

//! Miss then hit, byte-identical to the bare compiler; header edits,
//! reverts and shadowing; dependency files.

use crate::harness::project::write_keeping_mtime;
use crate::harness::{COMPILERS, Env, Outcome, assert_ok};

fn project(env: &Env) {
    env.write("src/a.c", "#include <stdio.h>\n#include \"x.h\"\nint main(void) { printf(\"%d\\n\", X); return 0; }\n");
    env.write("inc/x.h", "#define X 1\n");
}

#[test]
fn miss_then_hit_is_byte_identical() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let args = [
            "-Iinc", "-O2", "-c", "src/a.c", "-o", "a.o", "-MD", "-MF", "a.d",
        ];
        env.cc_expect(Outcome::Miss, cc, &args);
        env.cc_expect(Outcome::Hit, cc, &args);
        env.like_bare(cc, &args, &["a.o", "a.d"]).run();
    }
}

#[test]
fn header_edit_misses_and_revert_hits() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let args = ["-Iinc", "-c", "src/a.c", "-o", "a.o"];
        env.cc_expect(Outcome::Miss, cc, &args);
        let v1 = env.read("a.o");
        env.write("inc/x.h", "#define X 2\n");
        env.cc_expect(Outcome::Miss, cc, &args);
        let v2 = env.read("a.o");
        assert_ne!(v1, v2);
        env.write("inc/x.h", "#define X 1\n");
        env.cc_expect(Outcome::Hit, cc, &args);
        assert_eq!(env.read("a.o"), v1);
        env.like_bare(cc, &args, &["a.o"]).run();
    }
}

#[test]
fn header_created_in_earlier_include_dir_misses() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        // `first` does not exist yet; `early` exists but is empty.
        std::fs::create_dir_all(env.path("early")).unwrap();
        let args = ["-Ifirst", "-Iearly", "-Iinc", "-c", "src/a.c", "-o", "a.o"];
        env.cc_expect(Outcome::Miss, cc, &args);
        env.cc_expect(Outcome::Hit, cc, &args);

        env.write("early/x.h", "#define X 20\n");
        env.cc_expect(Outcome::Miss, cc, &args);
        env.like_bare(cc, &args, &["a.o"]).run();

        env.write("first/x.h", "#define X 30\n");
        env.cc_expect(Outcome::Miss, cc, &args);
        env.like_bare(cc, &args, &["a.o"]).run();

        // Next to the source beats every -I for "x.h".
        env.write("src/x.h", "#define X 40\n");
        env.cc_expect(Outcome::Miss, cc, &args);
        env.like_bare(cc, &args, &["a.o"]).run();
    }
}

#[test]
fn depfile_targets_follow_the_output_name() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        std::fs::create_dir_all(env.path("out")).unwrap();
        let first = ["-Iinc", "-c", "src/a.c", "-o", "out/first.o", "-MD", "-MP"];
        env.cc_expect(Outcome::Miss, cc, &first);
        // Another object name and explicit targets: still a hit, and the .d
        // is exactly what the compiler writes for these options.
        let second = [
            "-Iinc",
            "-c",
            "src/a.c",
            "-o",
            "out/a much longer name for the object.o",
            "-MD",
            "-MP",
        ];
        env.cc_expect(Outcome::Hit, cc, &second);
        env.like_bare(
            cc,
            &second,
            &[
                "out/a much longer name for the object.o",
                "out/a much longer name for the object.d",
            ],
        )
        .run();
        let third = [
            "-Iinc",
            "-c",
            "src/a.c",
            "-o",
            "out/t.o",
            "-MD",
            "-MP",
            "-MT",
            "tgt$x",
            "-MQ",
            "q$x",
            "-MF",
            "out/t.dep",
        ];
        env.cc_expect(Outcome::Hit, cc, &third);
        env.like_bare(cc, &third, &["out/t.o", "out/t.dep"]).run();
    }
}

#[test]
fn no_private_flags_reach_the_object() {
    // ccd adds a private depfile only when the user has none; objects with
    // and without -g equal the compiler's own.
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        for extra in [&[][..], &["-g"][..], &["-g", "-MMD"][..]] {
            let mut args = vec!["-Iinc", "-c", "src/a.c", "-o", "a.o"];
            args.extend_from_slice(extra);
            let out = env.like_bare(cc, &args, &["a.o"]).run().out;
            assert_ok(&out);
            env.like_bare(cc, &args, &["a.o", "a.d"]).run();
        }
    }
}

#[test]
fn same_size_edit_with_restored_mtime_misses() {
    // Two edits within one filesystem clock tick leave the same mtime; an
    // editor or tool may even put the old mtime back. Neither the watcher
    // (it sees the write) nor the stat path (the ctime moved) may be fooled.
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let args = ["-Iinc", "-c", "src/a.c", "-o", "a.o"];
        env.cc_expect(Outcome::Miss, cc, &args);
        env.cc_expect(Outcome::Hit, cc, &args);
        env.cc_expect(Outcome::Hit, cc, &args);
        write_keeping_mtime(&env.path("inc/x.h"), "#define X 7\n");
        env.cc_expect(Outcome::Miss, cc, &args);
        env.like_bare(cc, &args, &["a.o"]).run();
    }
}

/// A header written just before its compile (make runs a generator, then
/// the compile at once), here with a timestamp too new to tell "before"
/// from "during": with the watcher, no event naming it between the plan
/// and the store shows it unchanged during the compile, so the result is
/// stored instead of missing on every clean build. Without the watcher the
/// compile is not stored, and the result is right either way.
#[test]
fn a_header_written_just_before_its_compile_is_stored() {
    let watching = !matches!(
        std::env::var("CCD_TEST_WATCH").as_deref(),
        Ok("0" | "false")
    );
    for cc in COMPILERS {
        let env = Env::new();
        env.write("src/a.c", "#include \"gen.h\"\nint v = GEN;\n");
        let args = ["-Igen", "-c", "src/a.c", "-o", "a.o"];
        for round in 0..2 {
            env.write("gen/gen.h", "#define GEN 7\n");
            let soon = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
            std::fs::File::options()
                .write(true)
                .open(env.path("gen/gen.h"))
                .unwrap()
                .set_modified(soon)
                .unwrap();
            let expect = match (round, watching) {
                (1, true) => Outcome::Hit,
                _ => Outcome::Miss,
            };
            env.like_bare(cc, &args, &["a.o"]).outcome(expect).run();
        }
    }
}

/// A search directory no lookup reaches still matters: gcc examines each
/// when it starts and fails on one it cannot (a symbolic link loop), and
/// warns about one that is not a directory. ccd once served a hit there.
#[test]
fn a_search_directory_that_becomes_a_link_loop_or_a_file() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        std::fs::create_dir_all(env.path("late")).unwrap();
        let args = ["-Iinc", "-Ilate", "-c", "src/a.c", "-o", "a.o"];
        env.cc_expect(Outcome::Miss, cc, &args);
        env.cc_expect(Outcome::Hit, cc, &args);
        std::fs::remove_dir(env.path("late")).unwrap();
        std::os::unix::fs::symlink("late", env.path("late")).unwrap();
        env.like_bare(cc, &args, &["a.o"]).run();
        env.like_bare(cc, &args, &["a.o"]).run();
        std::fs::remove_file(env.path("late")).unwrap();
        env.write("late", "not a directory\n");
        env.like_bare(cc, &args, &["a.o"]).run();
        env.like_bare(cc, &args, &["a.o"]).run();
    }
}

/// Lookups are recorded after the compile: a header renamed into an
/// earlier search directory meanwhile (keeping its old mtime) was recorded
/// as found there, and the result of the compile that read the later one
/// served to every compile that now reads it.
#[test]
fn a_header_moved_into_an_earlier_directory_while_storing() {
    let env = Env::new();
    env.write("src/a.c", "#include \"x.h\"\nint v = X;\n");
    env.write("late/x.h", "#define X 1\n");
    env.write("stage/x.h", "#define X 2\n");
    std::fs::create_dir_all(env.path("early")).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(env.path("stage/x.h"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let w = env.work.display();
    // The move happens once, right after the compile of src/a.c, before
    // the wrapper reports back (the daemon stores after that).
    env.write_exec(
        "bin/racecc",
        &format!(
            "#!/bin/sh\ngcc \"$@\"; rc=$?\n\
             case \" $* \" in *\" src/a.c \"*) [ -e {w}/race ] && rm {w}/race && mv {w}/stage/x.h {w}/early/x.h;; esac\n\
             exit $rc\n"
        ),
    );
    let cc = env.path("bin/racecc");
    let cc = cc.to_str().unwrap();
    let args = ["-Iearly", "-Ilate", "-c", "src/a.c", "-o", "a.o"];
    env.write("race", "");
    assert_ok(&env.cc(cc, &args));
    assert!(
        env.path("early/x.h").exists(),
        "the compiler script moved the header"
    );
    env.like_bare(cc, &args, &["a.o"]).run();
}

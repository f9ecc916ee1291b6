//! Files a compile writes next to the object: `.dwo` (`-gsplit-dwarf`),
//! `.gcno` (`--coverage`), `.su` (`-fstack-usage`). A hit restores each,
//! identical to the bare compiler's.

use crate::harness::{COMPILERS, Env, Outcome};

const SRC: &str = "#include \"h.h\"\nint f(int x) {\n  int a[16];\n  for (int i = 0; i < 16; i++) a[i] = i * K;\n  return a[x & 15];\n}\nint main(void) { return f(3) == 3 * K ? 0 : 1; }\n";

fn project(env: &Env) {
    env.write("src/a.c", SRC);
    env.write("src/h.h", "#define K 5\n");
}

/// Miss then hit (with every output deleted before each run), each run's
/// files equal to the bare compiler's; the files exist.
fn miss_then_hit(env: &Env, cc: &str, args: &[&str], files: &[&str]) {
    env.like_bare(cc, args, files).miss().run();
    for f in files {
        assert!(env.path(f).exists(), "{cc} {args:?}: no {f}");
    }
    env.like_bare(cc, args, files).hit().run();
    for f in files {
        assert!(env.path(f).exists(), "{cc} {args:?}: no {f} on the hit");
    }
}

#[test]
fn split_dwarf_dwo_is_restored() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        miss_then_hit(
            &env,
            cc,
            &["-g", "-gsplit-dwarf", "-c", "src/a.c", "-o", "a.o"],
            &["a.o", "a.dwo"],
        );
        // Another object path names another .dwo (recorded in the object).
        std::fs::create_dir_all(env.path("out")).unwrap();
        let other = ["-g", "-gsplit-dwarf", "-c", "src/a.c", "-o", "out/b.o"];
        env.like_bare(cc, &other, &["out/b.o", "out/b.dwo"])
            .miss()
            .run();
        env.like_bare(cc, &other, &["out/b.o", "out/b.dwo"])
            .hit()
            .run();
        // Back to a.o: its own .dwo, not b's.
        env.like_bare(
            cc,
            &["-g", "-gsplit-dwarf", "-c", "src/a.c", "-o", "a.o"],
            &["a.o", "a.dwo"],
        )
        .hit()
        .run();
    }
}

/// With a fixed random seed the coverage stamp is deterministic, so the
/// hit's `.gcno` (and object) can be compared with the bare compiler's.
#[test]
fn coverage_gcno_is_restored() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        miss_then_hit(
            &env,
            cc,
            &[
                "--coverage",
                "-frandom-seed=a.o",
                "-c",
                "src/a.c",
                "-o",
                "a.o",
            ],
            &["a.o", "a.gcno"],
        );
    }
}

/// Without a fixed seed gcc stamps the object and the `.gcno` with the
/// time: a hit must deliver the pair of one compile (the stored one), never
/// a `.gcno` left over from another compile.
#[test]
fn coverage_gcno_matches_its_object_on_a_hit() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let args = ["--coverage", "-c", "src/a.c", "-o", "a.o"];
        env.cc_expect(Outcome::Miss, cc, &args);
        let (obj, gcno) = (env.read("a.o"), env.read("a.gcno"));
        // A bare compile overwrites both with another stamp.
        env.bare(cc, &args);
        std::fs::remove_file(env.path("a.o")).unwrap();
        env.cc_expect(Outcome::Hit, cc, &args);
        assert_eq!(env.read("a.o"), obj, "{cc}: object");
        assert_eq!(env.read("a.gcno"), gcno, "{cc}: .gcno of the same compile");
        // Both deleted: both restored.
        std::fs::remove_file(env.path("a.o")).unwrap();
        std::fs::remove_file(env.path("a.gcno")).unwrap();
        env.cc_expect(Outcome::Hit, cc, &args);
        assert_eq!(env.read("a.o"), obj, "{cc}: object");
        assert_eq!(env.read("a.gcno"), gcno, "{cc}: .gcno");
    }
}

#[test]
fn stack_usage_su_is_restored() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let args = ["-O1", "-fstack-usage", "-c", "src/a.c", "-o", "a.o"];
        miss_then_hit(&env, cc, &args, &["a.o", "a.su"]);
        let su = String::from_utf8(env.read("a.su")).unwrap();
        assert!(su.contains("f\t"), "{cc}: {su}");
        // Without -fstack-usage: another result, and no .su is written.
        std::fs::remove_file(env.path("a.su")).unwrap();
        env.like_bare(cc, &["-O1", "-c", "src/a.c", "-o", "a.o"], &["a.o", "a.su"])
            .miss()
            .run();
        assert!(!env.path("a.su").exists(), "{cc}: a stray .su");
    }
}

/// All three at once.
#[test]
fn all_side_files_together() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        std::fs::create_dir_all(env.path("obj")).unwrap();
        miss_then_hit(
            &env,
            cc,
            &[
                "-g",
                "-gsplit-dwarf",
                "--coverage",
                "-frandom-seed=x",
                "-fstack-usage",
                "-c",
                "src/a.c",
                "-o",
                "obj/a.o",
            ],
            &["obj/a.o", "obj/a.dwo", "obj/a.gcno", "obj/a.su"],
        );
    }
}

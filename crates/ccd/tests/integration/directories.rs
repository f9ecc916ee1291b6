//! Same file names in different directories, the same relative command from
//! different working directories, and debug information that records the
//! working directory: never a result made for another place.

use crate::harness::project::contains;
use crate::harness::{COMPILERS, Env, Outcome, assert_ok};

/// `dir1/a.c` and `dir2/a.c` differ; each is compiled from the same cwd to
/// the same object name. Each compile gets its own result, never the other's.
#[test]
fn same_file_name_in_two_directories_from_one_cwd() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("dir1/a.c", "int f(void) { return 1; }\n");
        env.write("dir2/a.c", "int f(void) { return 2; }\n");
        let one = ["-O2", "-c", "dir1/a.c", "-o", "a.o"];
        let two = ["-O2", "-c", "dir2/a.c", "-o", "a.o"];

        env.cc_expect(Outcome::Miss, cc, &one);
        let o1 = env.read("a.o");
        env.cc_expect(Outcome::Miss, cc, &two);
        let o2 = env.read("a.o");
        assert_ne!(o1, o2, "{cc}: the two sources must give different objects");

        env.like_bare(cc, &one, &["a.o"]).hit().run();
        env.like_bare(cc, &two, &["a.o"]).hit().run();
        // Alternating once more, each hit is its own object.
        env.cc_expect(Outcome::Hit, cc, &one);
        assert_eq!(env.read("a.o"), o1, "{cc}: dir1/a.c got another object");
        env.cc_expect(Outcome::Hit, cc, &two);
        assert_eq!(env.read("a.o"), o2, "{cc}: dir2/a.c got another object");
    }
}

/// The two `a.c` are byte-identical; only the header next to each differs
/// (`#include "h.h"` finds the includer's directory first).
#[test]
fn identical_sources_with_different_neighbour_headers() {
    for cc in COMPILERS {
        let env = Env::new();
        let src = "#include \"h.h\"\nint v = V;\n";
        env.write("dir1/a.c", src);
        env.write("dir1/h.h", "#define V 1\n");
        env.write("dir2/a.c", src);
        env.write("dir2/h.h", "#define V 2\n");
        let one = ["-c", "dir1/a.c", "-o", "a.o"];
        let two = ["-c", "dir2/a.c", "-o", "a.o"];

        env.like_bare(cc, &one, &["a.o"]).miss().run();
        env.like_bare(cc, &two, &["a.o"]).miss().run();
        env.like_bare(cc, &one, &["a.o"]).hit().run();
        env.like_bare(cc, &two, &["a.o"]).hit().run();
    }
}

/// The same command line, `cc -c a.c -o a.o`, run in two project
/// directories whose `a.c` (and header) differ.
#[test]
fn same_relative_command_from_two_cwds() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write(
            "p1/a.c",
            "#include \"h.h\"\nint f(void) { return 10 + H; }\n",
        );
        env.write("p1/h.h", "#define H 1\n");
        env.write(
            "p2/a.c",
            "#include \"h.h\"\nint f(void) { return 20 + H; }\n",
        );
        env.write("p2/h.h", "#define H 2\n");
        // p3 has p1's sources byte for byte except its header.
        env.write(
            "p3/a.c",
            "#include \"h.h\"\nint f(void) { return 10 + H; }\n",
        );
        env.write("p3/h.h", "#define H 3\n");
        let args = ["-O2", "-c", "a.c", "-o", "a.o"];
        let dirs = [env.path("p1"), env.path("p2"), env.path("p3")];

        for d in &dirs {
            env.like_bare(cc, &args, &["a.o"]).in_dir(d).miss().run();
        }
        for d in &dirs {
            env.like_bare(cc, &args, &["a.o"]).in_dir(d).hit().run();
        }
        let objs: Vec<Vec<u8>> = dirs
            .iter()
            .map(|d| std::fs::read(d.join("a.o")).unwrap())
            .collect();
        assert_ne!(objs[0], objs[1], "{cc}");
        assert_ne!(objs[0], objs[2], "{cc}");
        assert_ne!(objs[1], objs[2], "{cc}");
    }
}

/// With `-g` the object records the working directory (DW_AT_comp_dir):
/// the same sources copied into two directories give two objects, each the
/// bare compiler's in its directory, on the miss and on the hit.
#[test]
fn debug_info_in_two_directories() {
    for cc in COMPILERS {
        let env = Env::new();
        for d in ["w1", "w2"] {
            env.write(
                &format!("{d}/src/a.c"),
                "#include \"h.h\"\nint f(int x) { return x * K; }\n",
            );
            env.write(&format!("{d}/src/h.h"), "#define K 3\n");
        }
        let args = ["-g", "-O1", "-c", "src/a.c", "-o", "a.o"];
        let w1 = env.path("w1");
        let w2 = env.path("w2");

        env.like_bare(cc, &args, &["a.o"]).in_dir(&w1).miss().run();
        let o1 = std::fs::read(w1.join("a.o")).unwrap();
        // Not w1's object: w2 is another directory.
        env.like_bare(cc, &args, &["a.o"]).in_dir(&w2).miss().run();
        let o2 = std::fs::read(w2.join("a.o")).unwrap();
        assert_ne!(o1, o2, "{cc}: -g objects must record their directory");
        let w1s = w1.to_str().unwrap().as_bytes();
        let w2s = w2.to_str().unwrap().as_bytes();
        assert!(contains(&o1, w1s) && !contains(&o1, w2s), "{cc}: w1 object");
        assert!(contains(&o2, w2s) && !contains(&o2, w1s), "{cc}: w2 object");

        env.like_bare(cc, &args, &["a.o"]).in_dir(&w1).hit().run();
        env.like_bare(cc, &args, &["a.o"]).in_dir(&w2).hit().run();
        assert_eq!(std::fs::read(w1.join("a.o")).unwrap(), o1, "{cc}");
        assert_eq!(std::fs::read(w2.join("a.o")).unwrap(), o2, "{cc}");
    }
}

/// The reported wrong hit: a build directory deleted and recreated between
/// builds (as configure scripts and clean builds do). The watcher kept
/// speaking for the old directory, so the second source written into the
/// new one was served the first one's object, silently, with exit 0.
#[test]
fn a_directory_deleted_and_recreated_between_compiles() {
    for cc in COMPILERS {
        let env = Env::new();
        let dir = env.path("build");
        for round in 0..4 {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for v in 1..=2 {
                std::fs::write(dir.join("t.c"), format!("int v = {v};\n")).unwrap();
                let ours = env.cc_in(&dir, cc, &["-c", "t.c", "-o", "t.o"]);
                assert_ok(&ours);
                let bare = env.bare_in(&dir, cc, &["-c", "t.c", "-o", "ref.o"]);
                assert_ok(&bare);
                assert_eq!(
                    std::fs::read(dir.join("t.o")).unwrap(),
                    std::fs::read(dir.join("ref.o")).unwrap(),
                    "{cc}: round {round}, v = {v}: a stale object"
                );
            }
        }
    }
}

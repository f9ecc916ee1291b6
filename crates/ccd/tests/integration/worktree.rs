//! Worktree sharing (`CCD_PATH_REMAP=auto`): two checkouts of one
//! repository at different paths share cache entries. ccd finds the root
//! (nearest `.git` above the working directory, or `CCD_WORKTREE_ROOT`),
//! adds `-ffile-prefix-map=<root>=.` unless the build maps the root itself,
//! and keys paths relative to the root. The second checkout's build is all
//! hits, its outputs name neither checkout, and different content never
//! shares. Compiles that cannot be shared are logged and not remapped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::harness::project::{checkout, contains};
use crate::harness::session::{session_log, session_start, session_stats};
use crate::harness::{COMPILERS, Env, Moved, Outcome, assert_ok, stderr};

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// Writes the project into the checkout `rel` (relative to the work dir).
fn project(env: &Env, rel: &str) {
    env.write(
        &format!("{rel}/include/proj.h"),
        "#ifndef PROJ_H\n#define PROJ_H\n#define SCALE 3\nint util(int);\n#endif\n",
    );
    env.write(&format!("{rel}/include/util.h"), "#define UTIL_BASE 10\n");
    env.write(
        &format!("{rel}/src/main.c"),
        "#include \"proj.h\"\nint main_value(int x) { return util(x) * SCALE; }\n",
    );
    env.write(
        &format!("{rel}/src/util.c"),
        "#include <util.h>\nconst char *util_file = __FILE__;\nint util(int x) { return x + UTIL_BASE; }\n",
    );
    env.write(
        &format!("{rel}/lib/math.c"),
        "#include \"proj.h\"\nstatic int sq(int x) { return x * x; }\nint math(int x) { return sq(x) + SCALE; }\n",
    );
    std::fs::create_dir_all(env.path(&format!("{rel}/build"))).unwrap();
}

/// The outputs ccd left, by name.
type Files = BTreeMap<String, Vec<u8>>;

/// One compile of the build: working directory, arguments, outputs
/// (relative to the working directory).
struct Unit {
    dir: PathBuf,
    args: Vec<String>,
    files: Vec<&'static str>,
}

fn units(root: &Path) -> Vec<Unit> {
    let r = s(root);
    vec![
        Unit {
            dir: root.to_path_buf(),
            args: [
                "-g",
                "-O1",
                "-Iinclude",
                "-c",
                "src/main.c",
                "-o",
                "build/main.o",
            ]
            .map(String::from)
            .to_vec(),
            files: vec!["build/main.o"],
        },
        Unit {
            dir: root.to_path_buf(),
            args: vec![
                "-g".into(),
                "-O1".into(),
                format!("-I{r}/include"),
                "-c".into(),
                format!("{r}/src/util.c"),
                "-o".into(),
                "build/util.o".into(),
            ],
            files: vec!["build/util.o"],
        },
        Unit {
            dir: root.join("lib"),
            args: [
                "-g",
                "-O1",
                "-I../include",
                "-c",
                "math.c",
                "-o",
                "../build/math.o",
            ]
            .map(String::from)
            .to_vec(),
            files: vec!["../build/math.o"],
        },
    ]
}

/// Builds unit `u` through ccd and bare (the bare compile gets the prefix
/// map ccd adds); returns the counters' movement and ccd's files.
fn build_unit(env: &Env, cc: &str, root: &Path, u: &Unit) -> (Moved, Files) {
    let ours: Vec<&str> = u.args.iter().map(String::as_str).collect();
    let map = format!("-ffile-prefix-map={}=.", s(root));
    let mut theirs = ours.clone();
    theirs.push(&map);
    let c = env
        .like_bare(cc, &ours, &u.files)
        .in_dir(&u.dir)
        .bare_args(&theirs)
        .counted()
        .run();
    let m = c.moved();
    let (out, files) = (c.out, c.files);
    assert_ok(&out);
    (m, files)
}

/// No output of the build names either checkout.
fn assert_no_checkout_path(files: &Files, roots: &[&Path], what: &str) {
    for f in files.values() {
        for r in roots {
            assert!(
                !contains(f, s(r).as_bytes()),
                "{what}: an output names {}",
                r.display()
            );
        }
    }
}

#[test]
fn second_checkout_is_all_hits_and_names_neither_checkout() {
    for cc in COMPILERS {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        let c1 = checkout(&env, "c1");
        let c2 = checkout(&env, "elsewhere/clone-two");
        project(&env, "c1");
        project(&env, "elsewhere/clone-two");

        for u in units(&c1) {
            let (m, files) = build_unit(&env, cc, &c1, &u);
            assert_eq!(m, Moved::new(0, 1, 0, 0), "{cc} {:?} in c1", u.args);
            assert_no_checkout_path(&files, &[&c1, &c2], cc);
        }

        let id = session_start(&env, None);
        env.set_var("CCD_SESSION_ID", &id);
        for u in units(&c2) {
            let (m, files) = build_unit(&env, cc, &c2, &u);
            assert_eq!(m, Moved::new(1, 0, 0, 0), "{cc} {:?} in c2", u.args);
            assert_no_checkout_path(&files, &[&c1, &c2], cc);
        }
        let stats = session_stats(&env, &id);
        let log = session_log(&stats);
        assert_eq!(log.len(), 3, "{cc}: {log:?}");
        for line in &log {
            assert!(line.starts_with("Hit "), "{cc}: {line}");
            assert!(
                line.contains(&format!("key_root={} ", c2.display())),
                "{cc}: {line}"
            );
            assert!(
                line.contains(&format!("path_remap=auto, root {}", c2.display())),
                "{cc}: {line}"
            );
        }
    }
}

/// Several sources in one command are split and shared all the same.
#[test]
fn multi_file_compile_in_two_checkouts() {
    for cc in COMPILERS {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        let c1 = checkout(&env, "c1");
        let c2 = checkout(&env, "elsewhere/clone-two");
        project(&env, "c1");
        project(&env, "elsewhere/clone-two");
        for (n, root) in [&c1, &c2].into_iter().enumerate() {
            let util = format!("{}/src/util.c", root.display());
            let args = [
                "-g",
                "-Iinclude",
                "-c",
                "src/main.c",
                util.as_str(),
                "lib/math.c",
            ];
            let map = format!("-ffile-prefix-map={}=.", root.display());
            let theirs = [&args[..], &[map.as_str()]].concat();
            let objects = ["main.o", "util.o", "math.o"];
            let c = env
                .like_bare(cc, &args, &objects)
                .in_dir(root)
                .bare_args(&theirs)
                .counted()
                .run();
            let m = c.moved();
            let (out, files) = (c.out, c.files);
            assert_ok(&out);
            let expect = if n == 0 {
                Moved::new(0, 3, 0, 0)
            } else {
                Moved::new(3, 0, 0, 0)
            };
            assert_eq!(m, expect, "{cc} in {}", root.display());
            assert_no_checkout_path(&files, &[&c1, &c2], cc);
        }
    }
}

/// A hit in the second checkout writes the dependency file the compiler
/// would write there: naming this checkout's files, never the first's.
#[test]
fn dependency_file_of_a_shared_hit_names_this_checkout() {
    for cc in COMPILERS {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        let c1 = checkout(&env, "c1");
        let c2 = checkout(&env, "elsewhere/clone-two");
        project(&env, "c1");
        project(&env, "elsewhere/clone-two");
        for (n, root) in [&c1, &c2].into_iter().enumerate() {
            let r = s(root);
            let inc = format!("-I{r}/include");
            let src = format!("{r}/src/util.c");
            let absolute = [
                inc.as_str(),
                "-c",
                src.as_str(),
                "-o",
                "build/util.o",
                "-MD",
                "-MF",
                "build/util.d",
            ];
            let relative = [
                "-Iinclude",
                "-c",
                "src/main.c",
                "-o",
                "build/main.o",
                "-MMD",
            ];
            for args in [&relative[..], &absolute[..]] {
                let u = Unit {
                    dir: root.to_path_buf(),
                    args: args.iter().map(|a| a.to_string()).collect(),
                    files: vec![
                        if args == relative {
                            "build/main.o"
                        } else {
                            "build/util.o"
                        },
                        if args == relative {
                            "build/main.d"
                        } else {
                            "build/util.d"
                        },
                    ],
                };
                let (m, files) = build_unit(&env, cc, root, &u);
                let expect = if n == 0 {
                    Moved::new(0, 1, 0, 0)
                } else {
                    Moved::new(1, 0, 0, 0)
                };
                assert_eq!(m, expect, "{cc} {args:?}");
                let d = &files[u.files[1]];
                let other = if n == 0 { &c2 } else { &c1 };
                assert!(
                    !contains(d, s(other).as_bytes()),
                    "{cc}: {}'s depfile names {}:\n{}",
                    root.display(),
                    other.display(),
                    String::from_utf8_lossy(d)
                );
            }
        }
    }
}

#[test]
fn different_content_never_shares() {
    for cc in COMPILERS {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        let c1 = checkout(&env, "c1");
        let c2 = checkout(&env, "c2");
        project(&env, "c1");
        project(&env, "c2");
        let u1 = units(&c1);
        let mut c1_objects = Vec::new();
        for u in &u1 {
            c1_objects.push(build_unit(&env, cc, &c1, u).1);
        }

        // Another header in c2: only the unit that reads it misses.
        env.write("c2/include/util.h", "#define UTIL_BASE 11\n");
        let u2 = units(&c2);
        let (m, files) = build_unit(&env, cc, &c2, &u2[1]);
        assert_eq!(m, Moved::new(0, 1, 0, 0), "{cc}");
        assert_ne!(files, c1_objects[1], "{cc}: c2's util.o is c1's");
        assert_eq!(build_unit(&env, cc, &c2, &u2[0]).0.hits, 1, "{cc}");

        // Another source in c2.
        env.write(
            "c2/lib/math.c",
            "#include \"proj.h\"\nint math(int x) { return x + SCALE; }\n",
        );
        let (m, files) = build_unit(&env, cc, &c2, &u2[2]);
        assert_eq!(m, Moved::new(0, 1, 0, 0), "{cc}");
        assert_ne!(files, c1_objects[2], "{cc}");

        // A header in c2 that shadows include/proj.h for src/main.c.
        env.write("c2/src/proj.h", "#define SCALE 5\nint util(int);\n");
        let (m, files) = build_unit(&env, cc, &c2, &u2[0]);
        assert_eq!(m, Moved::new(0, 1, 0, 0), "{cc}");
        assert_ne!(files, c1_objects[0], "{cc}");

        // c1 is untouched: still all hits with its own objects.
        for (u, objects) in u1.iter().zip(&c1_objects) {
            let (m, files) = build_unit(&env, cc, &c1, u);
            assert_eq!(m, Moved::new(1, 0, 0, 0), "{cc} {:?}", u.args);
            assert_eq!(&files, objects, "{cc}");
        }
    }
}

/// `/x/a/proj` is the checkout; `/x/a/proj-deps` is a sibling directory
/// outside it whose name merely starts with the checkout's path. The other
/// checkout's `proj-deps` holds a different header: no sharing.
#[test]
fn sibling_directory_sharing_the_root_as_name_prefix_is_not_in_the_checkout() {
    for cc in COMPILERS {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        let mut objects = Vec::new();
        for (side, value) in [("a", 1), ("b", 2)] {
            let root = checkout(&env, &format!("{side}/proj"));
            env.write(
                &format!("{side}/proj/src/a.c"),
                "#include \"x.h\"\nint f(void) { return X; }\n",
            );
            env.write(
                &format!("{side}/proj-deps/include/x.h"),
                &format!("#define X {value}\n"),
            );
            let inc = format!(
                "-I{}",
                env.path(&format!("{side}/proj-deps/include")).display()
            );
            let map = format!("-ffile-prefix-map={}=.", root.display());
            // Sharing is on: a source of the checkout alone is shared.
            env.write(
                &format!("{side}/proj/src/plain.c"),
                "int g(void) { return 3; }\n",
            );
            let args = ["-c", "src/plain.c", "-o", "plain.o"];
            let theirs = [&args[..], &[map.as_str()]].concat();
            let c = env
                .like_bare(cc, &args, &["plain.o"])
                .in_dir(&root)
                .bare_args(&theirs)
                .counted()
                .run();
            let m = c.moved();
            let out = c.out;
            assert_ok(&out);
            let shared = if side == "a" {
                Moved::new(0, 1, 0, 0)
            } else {
                Moved::new(1, 0, 0, 0)
            };
            assert_eq!(m, shared, "{cc} plain.c in {side}");

            let args = [inc.as_str(), "-c", "src/a.c", "-o", "a.o"];
            let theirs = [&args[..], &[map.as_str()]].concat();
            let c = env
                .like_bare(cc, &args, &["a.o"])
                .in_dir(&root)
                .bare_args(&theirs)
                .counted()
                .run();
            let m = c.moved();
            let (out, files) = (c.out, c.files);
            assert_ok(&out);
            assert_eq!(
                m,
                Moved::new(0, 1, 0, 0),
                "{cc} in {side}: a header with other content must not hit"
            );
            objects.push(files);
        }
        assert_ne!(objects[0], objects[1], "{cc}");
    }
}

/// Not shared, logged with the reason, and the compile is left as the user
/// wrote it (no prefix map added): no checkout root, a working directory
/// outside `CCD_WORKTREE_ROOT`, the root in a `-D` value.
#[test]
fn unshareable_compiles_are_logged_and_not_remapped() {
    for cc in COMPILERS {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        let id = session_start(&env, None);
        env.set_var("CCD_SESSION_ID", &id);
        let src = "int f(void) { return 1; }\nconst char *dir = DIR;\n";
        let mut expected_reasons = Vec::new();

        // No .git anywhere above: two copies at different paths.
        for name in ["plain1", "plain2"] {
            env.write(&format!("{name}/a.c"), src);
            let dir = env.path(name);
            let args = ["-g", "-DDIR=0", "-c", "a.c", "-o", "a.o"];
            let c = env
                .like_bare(cc, &args, &["a.o"])
                .in_dir(&dir)
                .counted()
                .run();
            let m = c.moved();
            let (out, files) = (c.out, c.files);
            assert_ok(&out);
            assert_eq!(m, Moved::new(0, 1, 0, 0), "{cc} {name}");
            assert!(
                contains(&files["a.o"], s(&dir).as_bytes()),
                "{cc}: without a root the debug info keeps the directory"
            );
            expected_reasons.push(
                "not shared: no checkout root (.git) above the working directory".to_string(),
            );
        }

        // CCD_WORKTREE_ROOT names a directory the compile is not in.
        let c1 = checkout(&env, "c1");
        env.write("c1/a.c", src);
        env.set_var("CCD_WORKTREE_ROOT", &s(&c1));
        let dir = env.path("plain1");
        let args = ["-g", "-DDIR=1", "-c", "a.c", "-o", "a.o"];
        let c = env
            .like_bare(cc, &args, &["a.o"])
            .in_dir(&dir)
            .counted()
            .run();
        let m = c.moved();
        let out = c.out;
        assert_ok(&out);
        assert_eq!(m, Moved::new(0, 1, 0, 0), "{cc}");
        expected_reasons.push(format!(
            "not shared: working directory outside {}",
            c1.display()
        ));
        env.remove_var("CCD_WORKTREE_ROOT");

        // The root in a -D value: it would end up in the object.
        let c2 = checkout(&env, "c2");
        env.write("c2/a.c", src);
        for root in [&c1, &c2] {
            let define = format!("-DDIR=\"{}\"", root.display());
            let args = ["-g", define.as_str(), "-c", "a.c", "-o", "a.o"];
            let c = env
                .like_bare(cc, &args, &["a.o"])
                .in_dir(root)
                .counted()
                .run();
            let m = c.moved();
            let (out, files) = (c.out, c.files);
            assert_ok(&out);
            assert_eq!(m, Moved::new(0, 1, 0, 0), "{cc} {}", root.display());
            assert!(contains(&files["a.o"], s(root).as_bytes()));
            expected_reasons.push(format!("not shared: the checkout path appears in {define}"));
        }

        let log = session_log(&session_stats(&env, &id));
        assert_eq!(log.len(), expected_reasons.len(), "{cc}: {log:?}");
        for (line, reason) in log.iter().zip(&expected_reasons) {
            assert!(
                line.contains(&format!("path_remap=auto, {reason}")),
                "{cc}: expected `{reason}` in: {line}"
            );
        }
        env.remove_var("CCD_SESSION_ID");
    }
}

/// A build that maps the root itself keeps its own mapping (ccd adds none),
/// and still shares across checkouts.
#[test]
fn a_build_that_maps_the_root_keeps_its_mapping() {
    for cc in COMPILERS {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        let mut objects = Vec::new();
        for (n, name) in ["c1", "c2"].iter().enumerate() {
            let root = checkout(&env, name);
            env.write(
                &format!("{name}/src/a.c"),
                "const char *file = __FILE__;\nint f(void) { return 2; }\n",
            );
            let map = format!("-ffile-prefix-map={}=/src", root.display());
            let source = format!("{}/src/a.c", root.display());
            let args = ["-g", map.as_str(), "-c", source.as_str(), "-o", "a.o"];
            let c = env
                .like_bare(cc, &args, &["a.o"])
                .in_dir(&root)
                .counted()
                .run();
            let m = c.moved();
            let (out, files) = (c.out, c.files);
            assert_ok(&out);
            let expect = if n == 0 {
                Moved::new(0, 1, 0, 0)
            } else {
                Moved::new(1, 0, 0, 0)
            };
            assert_eq!(m, expect, "{cc} {name}");
            let o = &files["a.o"];
            assert!(contains(o, b"/src/src/a.c"), "{cc}: the build's own map");
            assert!(!contains(o, s(&root).as_bytes()), "{cc}");
            objects.push(files);
        }
        assert_eq!(objects[0], objects[1], "{cc}");
    }
}

/// `CCD_WORKTREE_ROOT` stands in for `.git`.
#[test]
fn explicit_worktree_root_shares_without_git() {
    for cc in COMPILERS {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        for (n, name) in ["one/tree", "two/tree"].iter().enumerate() {
            env.write(&format!("{name}/inc/h.h"), "#define H 4\n");
            env.write(
                &format!("{name}/a.c"),
                "#include \"h.h\"\nint f(void) { return H; }\n",
            );
            let root = env.path(name);
            env.set_var("CCD_WORKTREE_ROOT", &s(&root));
            let inc = format!("-I{}/inc", root.display());
            let args = ["-g", inc.as_str(), "-c", "a.c", "-o", "a.o"];
            let map = format!("-ffile-prefix-map={}=.", root.display());
            let mut theirs = args.to_vec();
            theirs.push(&map);
            let c = env
                .like_bare(cc, &args, &["a.o"])
                .in_dir(&root)
                .bare_args(&theirs)
                .counted()
                .run();
            let m = c.moved();
            let (out, files) = (c.out, c.files);
            assert_ok(&out);
            let expect = if n == 0 {
                Moved::new(0, 1, 0, 0)
            } else {
                Moved::new(1, 0, 0, 0)
            };
            assert_eq!(m, expect, "{cc} {name}: {}", stderr(&out));
            assert!(!contains(&files["a.o"], s(&root).as_bytes()));
        }
    }
}

/// A warning about a header named by an absolute path in one checkout is
/// replayed in the other with that checkout's path, as its compiler would
/// print it (before, the first checkout's path was replayed).
#[test]
fn diagnostics_of_a_shared_hit_name_this_checkout() {
    for cc in COMPILERS {
        let env = Env::new();
        env.set_var("CCD_PATH_REMAP", "auto");
        for (n, name) in ["one", "two"].iter().enumerate() {
            let root = checkout(&env, name);
            env.write(
                &format!("{name}/inc/w.h"),
                "#warning \"mind this header\"\n#define W 5\n",
            );
            env.write(
                &format!("{name}/a.c"),
                "#include \"w.h\"\nint f(void) { return W; }\n",
            );
            let inc = format!("-I{}/inc", root.display());
            let args = [inc.as_str(), "-c", "a.c", "-o", "a.o"];
            let map = format!("-ffile-prefix-map={}=.", root.display());
            let mut theirs = args.to_vec();
            theirs.push(&map);
            let c = env
                .like_bare(cc, &args, &["a.o"])
                .in_dir(&root)
                .bare_args(&theirs)
                .counted()
                .run();
            assert!(
                contains(
                    &c.out.stderr,
                    format!("{}/inc/w.h", root.display()).as_bytes()
                ),
                "{cc} {name}: the warning names the header by its path: {}",
                stderr(&c.out)
            );
            let expect = if n == 0 {
                Moved::new(0, 1, 0, 0)
            } else {
                Moved::new(1, 0, 0, 0)
            };
            assert_eq!(c.moved(), expect, "{cc} {name}: {}", stderr(&c.out));
        }
    }
}

/// The checkout root is found on the filesystem, so it is part of what a
/// sealed result depends on: after `git init` in a subdirectory, the same
/// command's outputs are mapped relative to the new root. The fast paths
/// served the object mapped to the old root until the `.git` lookups
/// were sealed with the result.
#[test]
fn a_new_checkout_root_below_the_old_one_is_seen() {
    let env = Env::new();
    env.set_var("CCD_PATH_REMAP", "auto");
    let outer = checkout(&env, "outer");
    let sub = outer.join("sub");
    env.write("outer/sub/a.c", "int a(void) { return 1; }\n");
    let args = ["-g", "-c", "a.c", "-o", "a.o"];
    let mapped = |root: &Path| {
        let map = format!("-ffile-prefix-map={}=.", root.display());
        [&[map.as_str()][..], &args[..]].concat().join("\u{0}")
    };
    let run = |root: &Path, expect: Outcome| {
        let bare = mapped(root);
        let bare: Vec<&str> = bare.split('\u{0}').collect();
        env.like_bare("gcc", &args, &["a.o"])
            .bare_args(&bare)
            .in_dir(&sub)
            .outcome(expect)
            .run();
    };
    run(&outer, Outcome::Miss);
    run(&outer, Outcome::Hit);
    run(&outer, Outcome::Hit);
    std::fs::create_dir(sub.join(".git")).unwrap();
    run(&sub, Outcome::Miss);
    run(&sub, Outcome::Hit);
}

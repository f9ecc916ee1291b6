//! What identifies a compile: its flags (`-D`) and the compiler itself, by
//! content, including wrapper scripts that add a flag and scripts that
//! claim to be gcc.

use crate::harness::{COMPILERS, Env, Outcome, assert_ok};

/// `-DV=1` then `-DV=2` misses, and going back to `-DV=1` hits with the
/// first object.
#[test]
fn define_change_misses_and_going_back_hits() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("a.c", "int f(void) { return V * 7; }\n");
        let v1 = ["-O2", "-DV=1", "-c", "a.c", "-o", "a.o"];
        let v2 = ["-O2", "-DV=2", "-c", "a.c", "-o", "a.o"];

        env.cc_expect(Outcome::Miss, cc, &v1);
        let o1 = env.read("a.o");
        env.like_bare(cc, &v2, &["a.o"]).miss().run();
        let o2 = env.read("a.o");
        assert_ne!(o1, o2, "{cc}: -DV=1 and -DV=2 must compile differently");

        env.like_bare(cc, &v1, &["a.o"]).hit().run();
        assert_eq!(env.read("a.o"), o1, "{cc}");
        env.like_bare(cc, &v2, &["a.o"]).hit().run();
        assert_eq!(env.read("a.o"), o2, "{cc}");

        // Spelled as two arguments and as `-U` after it: other flags, other
        // result (and still the compiler's own object).
        let undef = ["-O2", "-DV=2", "-UV", "-DV=3", "-c", "a.c", "-o", "a.o"];
        env.like_bare(cc, &undef, &["a.o"]).miss().run();
        assert_ne!(env.read("a.o"), o2, "{cc}");
    }
}

/// A source whose object shows which extra flags the wrapper added:
/// `EXTRA` changes a constant; `-ffunction-sections` changes section names
/// without touching any predefined macro.
const PROBE_SRC: &str = "#ifndef EXTRA\n#define EXTRA 0\n#endif\nint f(void) { return 40 + EXTRA; }\nint g(void) { return 2; }\n";

/// `mycc` is a shell script running the real compiler with an added flag.
/// Compiling through it is not a hit on the plain compiler's result, the
/// object equals what the script produces bare, and rewriting the script to
/// add another flag is a miss again.
#[test]
fn wrapper_script_adding_a_flag_is_another_compiler() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("a.c", PROBE_SRC);
        let args = ["-c", "a.c", "-o", "a.o"];
        let mycc = env.path("bin/mycc");
        let mycc = mycc.to_str().unwrap();

        env.cc_expect(Outcome::Miss, cc, &args);
        let plain = env.read("a.o");

        env.write_exec(
            "bin/mycc",
            &format!("#!/bin/sh\nexec {cc} -DEXTRA=1 \"$@\"\n"),
        );
        env.like_bare(mycc, &args, &["a.o"]).miss().run();
        let extra1 = env.read("a.o");
        assert_ne!(plain, extra1, "{cc}: the wrapper's flag must show");
        env.like_bare(mycc, &args, &["a.o"]).hit().run();

        // Rewritten in place to add a different value.
        env.write_exec(
            "bin/mycc",
            &format!("#!/bin/sh\nexec {cc} -DEXTRA=2 \"$@\"\n"),
        );
        env.like_bare(mycc, &args, &["a.o"]).miss().run();
        let extra2 = env.read("a.o");
        assert_ne!(extra1, extra2, "{cc}");
        env.like_bare(mycc, &args, &["a.o"]).hit().run();

        // Rewritten to add a flag that no predefined macro reveals.
        env.write_exec(
            "bin/mycc",
            &format!("#!/bin/sh\nexec {cc} -ffunction-sections \"$@\"\n"),
        );
        env.like_bare(mycc, &args, &["a.o"]).miss().run();
        let sections = env.read("a.o");
        assert_ne!(plain, sections, "{cc}: -ffunction-sections must show");
        env.like_bare(mycc, &args, &["a.o"]).hit().run();

        // And the plain compiler still gets its own result.
        env.cc_expect(Outcome::Hit, cc, &args);
        assert_eq!(env.read("a.o"), plain, "{cc}");
    }
}

/// A script that prints exactly the real compiler's `--version` (and its
/// predefined macros) but adds a flag must not share entries with it, in
/// either order.
#[test]
fn script_with_the_same_version_does_not_share_entries() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("a.c", PROBE_SRC);
        let script = format!(
            "#!/bin/sh\n\
             case \"$1\" in --version|-v|-dumpversion|-dumpfullversion) exec {cc} \"$@\";; esac\n\
             exec {cc} -ffunction-sections \"$@\"\n"
        );
        env.write_exec("bin/fake", &script);
        let fake = env.path("bin/fake");
        let fake = fake.to_str().unwrap();
        let v_real = env.bare(cc, &["--version"]);
        let v_fake = env.bare(fake, &["--version"]);
        assert_ok(&v_fake);
        assert_eq!(
            v_real.stdout, v_fake.stdout,
            "the script must look like {cc}"
        );

        let args = ["-O1", "-c", "a.c", "-o", "a.o"];
        // Real compiler first, then the impostor.
        env.like_bare(cc, &args, &["a.o"]).miss().run();
        let real = env.read("a.o");
        env.like_bare(fake, &args, &["a.o"]).miss().run();
        let faked = env.read("a.o");
        assert_ne!(real, faked, "{cc}: the script's flag must show");
        env.like_bare(cc, &args, &["a.o"]).hit().run();
        env.like_bare(fake, &args, &["a.o"]).hit().run();

        // Impostor first, in a fresh cache, then the real compiler.
        let env2 = Env::new();
        env2.write("a.c", PROBE_SRC);
        env2.write_exec("bin/fake", &script);
        let fake2 = env2.path("bin/fake");
        let fake2 = fake2.to_str().unwrap();
        env2.like_bare(fake2, &args, &["a.o"]).miss().run();
        env2.like_bare(cc, &args, &["a.o"]).miss().run();
        assert_eq!(env2.read("a.o"), real, "{cc}");
    }
}

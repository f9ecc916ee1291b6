//! On a miss the daemon answers the client as soon as it has taken the
//! outputs and the dependency list, and finishes the store (hashing the
//! inputs, recording lookups, writing the manifest) while the build goes
//! on. What the build does the moment the compiler returns must not reach
//! the cache, and a compile repeated at once must still be a hit.

use crate::harness::{COMPILERS, Env, Outcome, assert_ok};

/// automake's depcomp renames the dependency file right after the
/// compile, and a recipe may rewrite the object in place: the stored
/// result is still what the compiler wrote.
#[test]
fn what_the_build_does_right_after_a_miss_is_not_stored() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("h.h", "#define V 7\n");
        env.write("a.c", "#include \"h.h\"\nint f(void) { return V; }\n");
        let args = ["-MD", "-MF", "a.Tpo", "-c", "a.c", "-o", "a.o"];
        // No status request in between: it would wait for the store.
        assert_ok(&env.cc(cc, &args));
        let object = env.read("a.o");
        let depfile = env.read("a.Tpo");
        std::fs::rename(env.path("a.Tpo"), env.path("a.Po")).unwrap();
        std::fs::write(env.path("a.o"), b"rewritten by the build").unwrap();

        env.cc_expect(Outcome::Hit, cc, &args);
        assert_eq!(env.read("a.o"), object, "{cc}: the hit's object");
        assert_eq!(env.read("a.Tpo"), depfile, "{cc}: the hit's depfile");
    }
}

/// The same compile right after a miss (no status request in between) is
/// a hit: it waits for the store of its context.
#[test]
fn a_compile_repeated_at_once_after_a_miss_is_a_hit() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("a.c", "int g(int x) { return x * 3; }\n");
        let args = ["-O2", "-c", "a.c", "-o", "a.o"];
        let ((), m) = env.counting(|| {
            for _ in 0..5 {
                assert_ok(&env.cc(cc, &args));
            }
        });
        assert_eq!(m.misses, 1, "{cc}: misses");
        assert_eq!(m.hits, 4, "{cc}: hits");
    }
}

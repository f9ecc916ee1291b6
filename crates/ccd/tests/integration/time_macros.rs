//! `__TIME__` and `__DATE__`: a result that depends on the clock is never
//! served at another time, unless SOURCE_DATE_EPOCH fixes the clock.

use crate::harness::{COMPILERS, Env, Outcome, assert_ok};
use std::time::Duration;

/// Long enough for `__TIME__` (one-second resolution) to change.
const NEXT_SECOND: Duration = Duration::from_millis(1100);

/// Two compiles of a `__TIME__` source more than a second apart: the second
/// is a miss and its object differs from the first.
#[test]
fn time_macro_never_hits_across_seconds() {
    for cc in COMPILERS {
        let env = Env::new();
        env.remove_var("SOURCE_DATE_EPOCH");
        env.write("t.c", "const char *built_at = __TIME__;\n");
        let args = ["-c", "t.c", "-o", "t.o"];

        let first = env.cc_expect(Outcome::Miss, cc, &args);
        assert_ok(&first);
        let o1 = env.read("t.o");
        std::thread::sleep(NEXT_SECOND);
        let second = env.cc_expect(Outcome::Miss, cc, &args);
        assert_ok(&second);
        let o2 = env.read("t.o");
        assert_ne!(o1, o2, "{cc}: __TIME__ must have moved on");
    }
}

/// `__TIME__` in a header only: still never served at another second.
#[test]
fn time_macro_in_a_header_never_hits_across_seconds() {
    for cc in COMPILERS {
        let env = Env::new();
        env.remove_var("SOURCE_DATE_EPOCH");
        env.write("stamp.h", "#define STAMP __TIME__\n");
        env.write(
            "t.c",
            "#include \"stamp.h\"\nconst char *built_at = STAMP;\n",
        );
        let args = ["-c", "t.c", "-o", "t.o"];

        env.cc_expect(Outcome::Miss, cc, &args);
        let o1 = env.read("t.o");
        std::thread::sleep(NEXT_SECOND);
        env.cc_expect(Outcome::Miss, cc, &args);
        assert_ne!(o1, env.read("t.o"), "{cc}: __TIME__ must have moved on");
    }
}

/// With SOURCE_DATE_EPOCH set, `__DATE__` hits and the output equals the
/// bare compiler's under the same SOURCE_DATE_EPOCH; another value misses
/// (and equals the bare compiler's under that value); going back hits.
#[test]
fn date_macro_with_source_date_epoch() {
    for cc in COMPILERS {
        let env = Env::new();
        env.write("d.c", "const char *built_on = __DATE__;\n");
        let args = ["-c", "d.c", "-o", "d.o"];

        env.set_var("SOURCE_DATE_EPOCH", "1700000000");
        env.like_bare(cc, &args, &["d.o"]).miss().run();
        let first = env.read("d.o");
        env.like_bare(cc, &args, &["d.o"]).hit().run();
        assert_eq!(env.read("d.o"), first, "{cc}");

        env.set_var("SOURCE_DATE_EPOCH", "1600000000");
        env.like_bare(cc, &args, &["d.o"]).miss().run();
        env.like_bare(cc, &args, &["d.o"]).hit().run();

        env.set_var("SOURCE_DATE_EPOCH", "1700000000");
        env.like_bare(cc, &args, &["d.o"]).hit().run();
        assert_eq!(env.read("d.o"), first, "{cc}");
    }
}

/// SOURCE_DATE_EPOCH is set, a `__TIME__` source is compiled, and again
/// more than a second later: whatever ccd decides, the object must be what
/// the compiler produces now (a compiler that ignores SOURCE_DATE_EPOCH
/// still writes the current time).
#[test]
fn time_macro_with_source_date_epoch_is_never_stale() {
    for cc in COMPILERS {
        let env = Env::new();
        env.set_var("SOURCE_DATE_EPOCH", "1700000000");
        env.write("t.c", "const char *built_at = __DATE__ \" \" __TIME__;\n");
        let args = ["-c", "t.c", "-o", "t.o"];

        assert_ok(&env.cc(cc, &args));
        std::thread::sleep(NEXT_SECOND);
        // The bare compile runs just before and just after ours: a correct
        // object equals one of them even if a second boundary falls between.
        assert_ok(&env.bare(cc, &["-c", "t.c", "-o", "before.o"]));
        let ours = env.cc(cc, &args);
        assert_ok(&ours);
        assert_ok(&env.bare(cc, &["-c", "t.c", "-o", "after.o"]));
        let o = env.read("t.o");
        let (before, after) = (env.read("before.o"), env.read("after.o"));
        assert!(
            o == before || o == after,
            "{cc}: with SOURCE_DATE_EPOCH=1700000000 the object ccd delivered 1.1 s \
             later says {:?}, the bare compiler now says {:?} / {:?}",
            clock_of(&o),
            clock_of(&before),
            clock_of(&after),
        );
    }
}

/// The first `HH:MM:SS` string in an object, for messages.
fn clock_of(obj: &[u8]) -> Option<String> {
    obj.windows(8)
        .find(|w| {
            w.iter().enumerate().all(|(i, b)| match i {
                2 | 5 => *b == b':',
                _ => b.is_ascii_digit(),
            })
        })
        .map(|w| String::from_utf8_lossy(w).into_owned())
}

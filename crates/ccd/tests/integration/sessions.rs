//! Build sessions and the compile journal: `ccd session-start [--journal
//! FILE]` prints an id; compiles with `CCD_SESSION_ID=<id>` are counted and
//! logged (one line per compile: verdict, reason, key root, path remap);
//! `session-stats` / `session-end` report them; `ccd analyze` rolls up a
//! journal. An unknown or stale id never fails a compile.

use crate::harness::session::{
    admin, session_json, session_log, session_start, session_stats, uint,
};
use crate::harness::{COMPILERS, Env, Moved, Outcome, assert_ok, stderr};

fn project(env: &Env) {
    env.write("inc/x.h", "#define X 1\n");
    env.write("a.c", "#include \"x.h\"\nint a(void) { return X; }\n");
    env.write("b.c", "int b(void) { return 2; }\n");
    env.write("c.c", "int c(void) { return 3; }\n");
    env.write("bad.c", "int bad(void) { return undeclared; }\n");
}

const A: &[&str] = &["-Iinc", "-c", "a.c", "-o", "a.o"];
const PREPROCESS: &[&str] = &["-Iinc", "-E", "a.c", "-o", "a.i"];
const BAD: &[&str] = &["-c", "bad.c", "-o", "bad.o"];

/// The verdict word each log line starts with.
fn verdicts(log: &[String]) -> Vec<&str> {
    log.iter()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect()
}

#[test]
fn session_counts_and_logs_every_compile() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let id = session_start(&env, None);
        let other = session_start(&env, None);
        assert_ne!(id, other, "{cc}: two sessions, one id");

        let before = env.counts();
        env.set_var("CCD_SESSION_ID", &id);
        env.cc_expect(Outcome::Miss, cc, A);
        env.cc_expect(Outcome::Hit, cc, A);
        env.write("inc/x.h", "#define X 2\n");
        env.cc_expect(Outcome::Miss, cc, A);
        env.write("a.c", "#include \"x.h\"\nint a(void) { return X + 1; }\n");
        env.cc_expect(Outcome::Miss, cc, A);
        env.cc_expect(Outcome::Passthrough, cc, PREPROCESS);
        let out = env.cc_expect(Outcome::Miss, cc, BAD);
        assert!(!out.status.success(), "{cc}");
        let during = env.counts();

        // Not in this session: another one, and none at all.
        env.set_var("CCD_SESSION_ID", &other);
        env.cc_expect(Outcome::Hit, cc, A);
        env.remove_var("CCD_SESSION_ID");
        env.cc_expect(Outcome::Hit, cc, A);

        let s = session_stats(&env, &id);
        assert_eq!(s["id"].as_str(), Some(id.as_str()), "{cc}: {s}");
        assert_eq!(s["known"], true, "{cc}: {s}");
        assert_eq!(uint(&s, "hits"), 1, "{cc}: {s}");
        assert_eq!(uint(&s, "misses"), 4, "{cc}: {s}");
        assert_eq!(uint(&s, "non_cacheable"), 1, "{cc}: {s}");
        assert_eq!(uint(&s, "errors"), 1, "{cc}: {s}");
        assert_eq!(
            s["non_cacheable_reasons"],
            serde_json::json!({"preprocess-only (-E)": 1}),
            "{cc}: {s}"
        );
        assert!(uint(&s, "time_saved_ms") > 0, "{cc}: a hit saves time: {s}");
        // The same as `ccd status` moved during the session.
        let m = during.since(before);
        assert_eq!(
            m,
            Moved::new(
                uint(&s, "hits"),
                uint(&s, "misses"),
                uint(&s, "non_cacheable"),
                uint(&s, "errors")
            ),
            "{cc}: session and status disagree: {s}"
        );

        let log = session_log(&s);
        assert_eq!(
            verdicts(&log),
            [
                "Cold",
                "Hit",
                "HeadersChanged",
                "SourceChanged",
                "NonCacheable",
                "Error"
            ],
            "{cc}: {log:#?}"
        );
        let work = env.work.display().to_string();
        for line in &log {
            assert!(line.contains(&format!("key_root={work} ")), "{cc}: {line}");
            assert!(line.contains("path_remap=off"), "{cc}: {line}");
        }
        assert!(log[0].contains(&format!("{work}/a.c")), "{cc}: {}", log[0]);
        assert!(log[4].contains("preprocess-only (-E)"), "{cc}: {}", log[4]);
        assert!(
            log[5].contains(&format!("{work}/bad.c")),
            "{cc}: {}",
            log[5]
        );

        let o = session_stats(&env, &other);
        assert_eq!((uint(&o, "hits"), uint(&o, "misses")), (1, 0), "{cc}: {o}");
        assert_eq!(session_log(&o).len(), 1, "{cc}");

        // Plain text, for people.
        let text = admin(&env, &["session-stats", &id]);
        assert_ok(&text);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains(&id) && text.contains("hits"), "{cc}: {text}");

        // Ending reports the same numbers; afterwards the id is unknown.
        let end = session_json(&env, "session-end", &id);
        for k in ["hits", "misses", "non_cacheable", "errors"] {
            assert_eq!(end[k], s[k], "{cc}: session-end {k}: {end}");
        }
        assert_eq!(end["known"], true, "{cc}");
        let after = session_stats(&env, &id);
        assert_eq!(after["known"], false, "{cc}: {after}");
    }
}

/// Each source of a multi-file compile is one compile of the session.
#[test]
fn multi_file_compiles_count_per_source() {
    let env = Env::new();
    project(&env);
    let id = session_start(&env, None);
    env.set_var("CCD_SESSION_ID", &id);
    for cc in COMPILERS {
        let _ = admin(&env, &["clear"]);
        let before = session_stats(&env, &id);
        let c = env
            .like_bare(cc, &["-c", "b.c", "c.c"], &["b.o", "c.o"])
            .counted()
            .run();
        let (out, m) = (&c.out, c.moved());
        assert_ok(out);
        assert_eq!(m, Moved::new(0, 2, 0, 0), "{cc}");
        let s = session_stats(&env, &id);
        assert_eq!(uint(&s, "misses") - uint(&before, "misses"), 2, "{cc}: {s}");
    }
    let log = session_log(&session_stats(&env, &id));
    assert_eq!(log.len(), 4, "{log:#?}");
    // The sources compile in parallel: either order within one command.
    for pair in log.chunks(2) {
        let mut srcs: Vec<&str> = pair
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
            .collect();
        srcs.sort_unstable();
        let work = env.work.display().to_string();
        assert_eq!(
            srcs,
            [format!("{work}/b.c"), format!("{work}/c.c")],
            "{log:#?}"
        );
        assert!(pair.iter().all(|l| l.starts_with("Cold ")), "{log:#?}");
    }
}

/// A bogus id is not an error: the compile is cached as usual.
#[test]
fn unknown_session_id_never_fails_a_compile() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        env.set_var("CCD_SESSION_ID", "no-such-session");
        env.like_bare(cc, A, &["a.o"]).miss().run();
        env.like_bare(cc, A, &["a.o"]).hit().run();
        env.set_var("CCD_SESSION_ID", "");
        env.like_bare(cc, A, &["a.o"]).hit().run();
        let s = session_stats(&env, "no-such-session");
        assert_eq!(s["known"], false, "{cc}: {s}");
        assert_eq!(uint(&s, "hits"), 0, "{cc}: {s}");
        let e = session_json(&env, "session-end", "no-such-session");
        assert_eq!(e["known"], false, "{cc}: {e}");
    }
}

/// The daemon stops mid-session (a restart loses its sessions): compiles
/// with the stale id still work, and the session is reported unknown.
#[test]
fn daemon_restart_mid_session() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let id = session_start(&env, None);
        env.set_var("CCD_SESSION_ID", &id);
        env.cc_expect(Outcome::Miss, cc, A);
        assert_eq!(uint(&session_stats(&env, &id), "misses"), 1, "{cc}");

        let stop = admin(&env, &["stop"]);
        assert_ok(&stop);
        let c = env.like_bare(cc, A, &["a.o"]).run();
        assert_ok(&c.out);
        let c = env.like_bare(cc, BAD, &["bad.o"]).run();
        assert!(!c.out.status.success(), "{cc}");
        env.cc_expect(Outcome::Hit, cc, A);

        let s = session_stats(&env, &id);
        assert_eq!(s["known"], false, "{cc}: {s}");
        assert_eq!(env.status()["internal_errors"], 0, "{cc}");
        let e = admin(&env, &["session-end", &id, "--json"]);
        assert_ok(&e);
    }
}

/// One JSON line per compile, with the documented fields; `ccd analyze`
/// adds them up.
#[test]
fn journal_and_analyze() {
    for cc in COMPILERS {
        let env = Env::new();
        project(&env);
        let journal = env.path("logs/build.jsonl");
        std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
        let id = session_start(&env, Some(&journal));
        assert_eq!(
            session_stats(&env, &id)["journal"].as_str(),
            Some(journal.to_str().unwrap()),
            "{cc}"
        );
        env.set_var("CCD_SESSION_ID", &id);
        env.cc_expect(Outcome::Miss, cc, A);
        env.cc_expect(Outcome::Hit, cc, A);
        env.cc_expect(Outcome::Hit, cc, &["-Iinc", "-c", "a.c", "-o", "a2.o"]);
        env.cc_expect(Outcome::Passthrough, cc, PREPROCESS);
        env.cc_expect(Outcome::Miss, cc, BAD);
        let out = env.cc(cc, &["-c", "b.c", "c.c"]);
        assert_ok(&out);
        // A miss's line is written when its store is done, which may be
        // just after the compile returned; the session's statistics wait
        // for that.
        session_stats(&env, &id);

        let text = std::fs::read_to_string(&journal).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{cc}: {e}: {l}")))
            .collect();
        let got: Vec<&str> = lines
            .iter()
            .map(|l| l["verdict"].as_str().unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "Cold",
                "Hit",
                "Hit",
                "NonCacheable",
                "Error",
                "Cold",
                "Cold"
            ],
            "{cc}: {text}"
        );
        let work = env.work.display().to_string();
        let mut last_time = 0;
        let mut saved = 0;
        for l in &lines {
            for k in ["time_ms", "duration_ms", "saved_ms"] {
                assert!(l[k].is_u64(), "{cc}: {k} in {l}");
            }
            assert!(l["reason"].is_string(), "{cc}: {l}");
            assert_eq!(l["cwd"].as_str(), Some(work.as_str()), "{cc}: {l}");
            assert!(
                l.get("source").is_some() && l.get("output").is_some(),
                "{cc}: {l}"
            );
            saved += uint(l, "saved_ms");
        }
        // One compile after the other (the last two ran in parallel).
        for l in &lines[..6] {
            assert!(uint(l, "time_ms") >= last_time, "{cc}: time goes back: {l}");
            last_time = uint(l, "time_ms");
        }
        assert_eq!(
            lines[0]["source"].as_str(),
            Some(format!("{work}/a.c").as_str())
        );
        assert_eq!(
            lines[0]["output"].as_str(),
            Some(format!("{work}/a.o").as_str())
        );
        assert_eq!(
            lines[2]["output"].as_str(),
            Some(format!("{work}/a2.o").as_str())
        );
        let mut split: Vec<&str> = lines[5..]
            .iter()
            .map(|l| l["source"].as_str().unwrap())
            .collect();
        split.sort_unstable();
        assert_eq!(
            split,
            [format!("{work}/b.c"), format!("{work}/c.c")],
            "{cc}"
        );
        assert!(uint(&lines[1], "saved_ms") > 0, "{cc}: {}", lines[1]);
        assert_eq!(uint(&lines[0], "saved_ms"), 0, "{cc}");

        let out = admin(&env, &["analyze", journal.to_str().unwrap(), "--json"]);
        assert_ok(&out);
        let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(uint(&a, "compiles"), 7, "{cc}: {a}");
        assert_eq!(uint(&a, "hits"), 2, "{cc}: {a}");
        assert_eq!(uint(&a, "misses"), 4, "{cc}: {a}");
        assert_eq!(uint(&a, "non_cacheable"), 1, "{cc}: {a}");
        assert_eq!(uint(&a, "errors"), 1, "{cc}: {a}");
        assert_eq!(uint(&a, "time_saved_ms"), saved, "{cc}: {a}");
        let rate = a["hit_rate"].as_f64().unwrap();
        assert!((rate - 2.0 / 6.0).abs() < 1e-9, "{cc}: {a}");
        let reasons = a["reasons"].as_array().unwrap();
        let total: u64 = reasons.iter().map(|r| uint(r, "count")).sum();
        assert_eq!(
            total, 5,
            "{cc}: every compile but the hits has a reason: {a}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r["reason"].as_str().unwrap().contains("preprocess-only")),
            "{cc}: {a}"
        );
        let slowest = a["slowest"].as_array().unwrap();
        assert_eq!(slowest.len(), 7, "{cc}: {a}");
        let ms: Vec<u64> = slowest.iter().map(|s| uint(s, "duration_ms")).collect();
        assert!(
            ms.windows(2).all(|w| w[0] >= w[1]),
            "{cc}: not slowest first: {ms:?}"
        );
        assert!(
            slowest
                .iter()
                .all(|s| s["verdict"].is_string() && s["source"].is_string())
        );

        let out = admin(&env, &["analyze", journal.to_str().unwrap()]);
        assert_ok(&out);
        let t = String::from_utf8_lossy(&out.stdout);
        assert!(t.contains("compiles") && t.contains('7'), "{cc}: {t}");
        assert!(t.contains("33.3%"), "{cc}: {t}");
    }
}

/// `ccd analyze` on a journal written by hand: exact sums, the hit rate,
/// the slowest unit first, and lines it cannot read skipped.
#[test]
fn analyze_a_handwritten_journal() {
    let env = Env::new();
    let line = |verdict: &str, reason: &str, src: &str, ms: u64, saved: u64| {
        serde_json::json!({
            "time_ms": 1_700_000_000_000u64 + ms,
            "cwd": "/w",
            "source": src,
            "output": "/w/x.o",
            "verdict": verdict,
            "reason": reason,
            "duration_ms": ms,
            "saved_ms": saved,
        })
        .to_string()
    };
    let text = [
        line("Hit", "inputs verified", "/w/a.c", 2, 300),
        line("Hit", "inputs verified", "/w/b.c", 1, 200),
        line("Hit", "inputs verified", "/w/c.c", 3, 100),
        line("HeadersChanged", "compiled and stored", "/w/slow.c", 900, 0),
        "this is not json".to_string(),
        String::new(),
    ]
    .join("\n");
    env.write("j.jsonl", &text);
    let out = admin(&env, &["analyze", "j.jsonl", "--json"]);
    assert_ok(&out);
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(uint(&a, "compiles"), 4, "{a}");
    assert_eq!(uint(&a, "hits"), 3, "{a}");
    assert_eq!(uint(&a, "misses"), 1, "{a}");
    assert_eq!(uint(&a, "errors"), 0, "{a}");
    assert_eq!(uint(&a, "time_saved_ms"), 600, "{a}");
    assert_eq!(uint(&a, "unreadable_lines"), 1, "{a}");
    assert_eq!(a["hit_rate"].as_f64(), Some(0.75), "{a}");
    assert_eq!(a["slowest"][0]["source"], "/w/slow.c", "{a}");
    assert_eq!(a["reasons"][0]["count"], 1, "{a}");
    assert!(
        a["reasons"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("HeadersChanged"),
        "{a}"
    );

    let missing = admin(&env, &["analyze", "no-such-journal.jsonl"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no-such-journal"),
        "{}",
        stderr(&missing)
    );
}

//! A size limit (`CCD_MAX_SIZE`) of a few objects: after many distinct
//! compiles and a couple of maintenance ticks the cache is within the
//! limit, an evicted result is simply a miss (correct, not an error), and
//! the most recently used result is still a hit.

use crate::harness::daemon::stop_daemon;
use crate::harness::project::{COMMON_H, bare_object, c_source, cache_listing, store_files};
use crate::harness::{COMPILERS, Env, Outcome};
use std::time::{Duration, Instant};

const FILES: usize = 16;

fn args_for(i: usize) -> (String, String) {
    (format!("f{i:02}.c"), format!("f{i:02}.o"))
}

/// `size_bytes` once it is at or below `limit`, waiting up to `wait`.
fn size_within(env: &Env, limit: u64, wait: Duration) -> Result<u64, serde_json::Value> {
    let t = Instant::now();
    loop {
        let s = env.status();
        if s["size_bytes"].as_u64().unwrap() <= limit {
            return Ok(s["size_bytes"].as_u64().unwrap());
        }
        if t.elapsed() > wait {
            return Err(s);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Filled {
    env: Env,
    limit: u64,
    /// The args of the most recently used compile.
    last: [String; 5],
}

/// A cache with a limit of about four results, after `FILES` distinct
/// compiles and a hit on the last one.
fn fill(cc: &str) -> Filled {
    let env = Env::new();
    env.write("common.h", COMMON_H);
    for i in 0..FILES {
        let (src, _) = args_for(i);
        env.write(&src, &c_source(i));
    }
    let object_size = {
        let (src, obj) = args_for(0);
        bare_object(&env, cc, &["-O2", "-c", &src, "-o", &obj], &obj).len() as u64
    };
    // Room for about four results (object, record, manifest).
    let limit = 4 * (object_size + 2048);
    env.set_var("CCD_MAX_SIZE", &limit.to_string());
    let s = env.status();
    assert_eq!(
        s["max_size_bytes"], limit,
        "{cc}: the limit is in effect: {s}"
    );
    for i in 0..FILES {
        let (src, obj) = args_for(i);
        env.cc_expect(Outcome::Miss, cc, &["-O2", "-c", &src, "-o", &obj]);
    }
    // The last one is used again: it is the most recently used.
    let (src, obj) = args_for(FILES - 1);
    let last = ["-O2".into(), "-c".into(), src, "-o".into(), obj];
    let last_ref: Vec<&str> = last.iter().map(String::as_str).collect();
    env.cc_expect(Outcome::Hit, cc, &last_ref);
    Filled { env, limit, last }
}

/// The maintenance tick (once a second) brings `size_bytes` to the limit
/// or below within a few seconds.
#[test]
fn cache_size_ends_within_the_limit() {
    for cc in COMPILERS {
        let Filled { env, limit, .. } = fill(cc);
        let size = size_within(&env, limit, Duration::from_secs(4)).unwrap_or_else(|s| {
            panic!(
                "{cc}: cache still above its limit of {limit} bytes 4 s after the compiles: \
                 {s}\nfiles:\n{}",
                cache_listing(&env)
            )
        });
        // The figure is true: the files on disk add up to no more.
        let on_disk: u64 = ["blobs", "results", "manifests"]
            .iter()
            .flat_map(|a| store_files(&env, a))
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum();
        assert!(
            on_disk <= limit,
            "{cc}: status says {size} bytes, the store holds {on_disk} (limit {limit}):\n{}",
            cache_listing(&env)
        );
    }
}

/// After eviction the most recently used result is still a hit (also for
/// a fresh daemon, which knows only the disk), and an evicted one is a
/// miss with the right object, not an error.
#[test]
fn most_recently_used_survives_and_evicted_is_a_miss() {
    for cc in COMPILERS {
        let Filled { env, last, .. } = fill(cc);
        let last: Vec<&str> = last.iter().map(String::as_str).collect();
        // Eviction happened, and a couple more ticks went by.
        let t = Instant::now();
        while env.status()["entries"].as_u64().unwrap() >= FILES as u64 {
            assert!(
                t.elapsed() < Duration::from_secs(4),
                "{cc}: nothing evicted: {}",
                env.status()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(2500));
        let s = env.status();
        assert!(
            s["entries"].as_u64().unwrap() > 0,
            "{cc}: every result was evicted, the most recently used too: {s}\nfiles:\n{}",
            cache_listing(&env)
        );

        // The most recently used result is kept.
        env.like_bare(cc, &last, &[last[4]]).hit().run();
        stop_daemon(&env);
        env.like_bare(cc, &last, &[last[4]]).hit().run();

        // The oldest is gone: a miss, with the right object, not an error.
        let (src, obj) = args_for(0);
        let first = ["-O2", "-c", src.as_str(), "-o", obj.as_str()];
        let m = env.like_bare(cc, &first, &[&obj]).miss().run().moved();
        assert_eq!(m.errors, 0, "{cc}: {m}");
    }
}

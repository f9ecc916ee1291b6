//! Large outputs (≥ 256 KiB) are delivered from a spare copy the daemon
//! prepares after a hit: the next hit moves it into place. The output is
//! then a file of its own: an in-place write to it changes neither the
//! stored result nor another output, a spare changed in the cache directory
//! is never served, and without the watcher hits copy.

use crate::harness::{Env, Outcome, stderr};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// 300 000 bytes of initialised data: an object of about 300 KB.
const SRC: &str = "const unsigned char big[300000] = { [0 ... 299999] = 7 };\n\
                   int size(void) { return sizeof big; }\n";

fn args(out: &str) -> Vec<&str> {
    vec!["-O1", "-c", "big.c", "-o", out]
}

/// Spares need the file watcher: these tests run with it on even when the
/// suite runs with it off (the last test covers off).
fn setup() -> (Env, Vec<u8>) {
    let env = Env::new();
    env.set_var("CCD_WATCH", "1");
    env.write("big.c", SRC);
    env.settle();
    let bare = env.bare("gcc", &args("bare.o"));
    assert!(bare.status.success(), "{}", stderr(&bare));
    let object = env.read("bare.o");
    assert!(
        object.len() >= 256 * 1024,
        "object is {} bytes",
        object.len()
    );
    (env, object)
}

/// Where the daemon keeps its spares: a directory of its own (a daemon on
/// its way out may still use its spares while the next one starts).
fn spares_dir(env: &Env) -> PathBuf {
    env.cache.join("spares").join(env.daemon_pid().to_string())
}

/// The spare the daemon made (waits for it: it is made after the answer).
fn wait_for_spare(env: &Env) -> PathBuf {
    let dir = spares_dir(env);
    let start = Instant::now();
    loop {
        if let Some(p) = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            // Not one still being written (`.new`).
            .find(|p| p.extension().is_some_and(|e| e != "new"))
        {
            return p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no spare appeared in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ino(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

/// Overwrites the middle of `p` in place (same inode).
fn scribble(p: &Path) {
    let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.seek(SeekFrom::Start(1000)).unwrap();
    f.write_all(b"scribbled").unwrap();
}

#[test]
fn a_hit_moves_the_spare_into_place_with_a_fresh_mtime() {
    let (env, object) = setup();
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    let spare = wait_for_spare(&env);
    let spare_ino = ino(&spare);
    // Not by setting the spare's times: that changes its status-change
    // time, and a spare changed in any way is not served. Time passes.
    let made = std::fs::metadata(&spare).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let before = SystemTime::now();

    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    let s = env.status();
    assert_eq!(
        s["spares_served"].as_u64(),
        Some(1),
        "the spare was moved into place: {s}"
    );
    assert_eq!(
        ino(&env.path("a.o")),
        spare_ino,
        "the spare was moved into place"
    );
    assert!(!spare.exists() || ino(&spare) != spare_ino);
    assert!(
        env.read("a.o") == object,
        "a.o differs from the bare object"
    );
    let mtime = std::fs::metadata(env.path("a.o"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(
        mtime > before && made < before,
        "a delivered output gets a fresh mtime"
    );
}

/// A hit moves the file it replaces aside and deletes it after answering
/// (a file with another name is never reused as a spare): the old file
/// keeps only the names the user gave it, and nothing is left behind in
/// the cache directory.
#[test]
fn the_replaced_output_is_deleted_after_the_answer() {
    let (env, object) = setup();
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    let spare = wait_for_spare(&env);
    let spare_ino = ino(&spare);
    // Another name for the output about to be replaced.
    std::fs::hard_link(env.path("a.o"), env.path("kept.o")).unwrap();
    let links = |p: &Path| std::fs::metadata(p).unwrap().nlink();
    assert_eq!(links(&env.path("kept.o")), 2);

    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    assert_eq!(ino(&env.path("a.o")), spare_ino, "served from the spare");
    assert!(
        env.read("a.o") == object,
        "a.o differs from the bare object"
    );
    let start = Instant::now();
    while links(&env.path("kept.o")) != 1 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the replaced output still has a name in the cache directory"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        env.read("kept.o") == object,
        "the user's own name is intact"
    );
    let left: Vec<_> = std::fs::read_dir(spares_dir(&env))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("aside"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The spare, once it appears, with the inode `ino` (waits: spares are
/// made after the answer).
fn wait_for_spare_ino(env: &Env, ino_wanted: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let spare = wait_for_spare(env);
        if std::fs::metadata(&spare).is_ok_and(|m| m.ino() == ino_wanted) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Back-to-back hits copy nothing: the output a hit replaces, still the
/// stored content, becomes the next spare, so the two files take turns.
#[test]
fn the_output_a_hit_replaces_becomes_the_next_spare() {
    let (env, object) = setup();
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    wait_for_spare(&env);
    let first = ino(&env.path("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    let second = ino(&env.path("a.o"));
    assert_ne!(first, second);
    assert!(
        wait_for_spare_ino(&env, first),
        "the replaced output did not become the spare"
    );
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    assert_eq!(
        ino(&env.path("a.o")),
        first,
        "served from the recycled file"
    );
    assert!(
        env.read("a.o") == object,
        "a.o differs from the bare object"
    );
    assert!(wait_for_spare_ino(&env, second));
}

/// The daemon's spare counters, once `want` holds (spares are made and
/// reused after the answer).
fn wait_for_counts(env: &Env, want: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let s = env.status();
        if want(&s) {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "spare counts never reached what was expected: {s}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spare_count(s: &serde_json::Value, name: &str) -> u64 {
    s[name]
        .as_u64()
        .unwrap_or_else(|| panic!("status lacks {name}: {s}"))
}

/// A spare a hit moved into place stays watched: when the next hit
/// replaces it untouched, it becomes the spare again without being read.
/// Only the first replaced output (a copy, never watched) is hashed.
#[test]
fn a_delivered_spare_comes_back_without_being_hashed() {
    let (env, object) = setup();
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    wait_for_spare(&env);
    for round in 1..=3u64 {
        env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
        assert!(
            env.read("a.o") == object,
            "a.o differs from the bare object"
        );
        // Round 1 replaces the first hit's copy: hashed. Later rounds
        // replace a delivered spare: reused unread.
        let s = wait_for_counts(&env, |s| {
            spare_count(s, "spares_reused_unread") + spare_count(s, "spares_reused_hashed") >= round
        });
        assert_eq!(spare_count(&s, "spares_reused_hashed"), 1, "{s}");
        assert_eq!(spare_count(&s, "spares_reused_unread"), round - 1, "{s}");
        assert_eq!(spare_count(&s, "spares_served"), round, "{s}");
        assert_eq!(spare_count(&s, "spares_copied"), 1, "{s}");
    }
}

/// Writes `bytes` into `p` at `offset` through a shared mapping: the file
/// watcher sees no event for that (until the returned file, open for
/// writing, is closed), only the status-change time moves.
#[must_use]
fn write_through_mapping(p: &Path, offset: usize, bytes: &[u8]) -> std::fs::File {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap();
    let len = f.metadata().unwrap().len() as usize;
    assert!(offset + bytes.len() <= len);
    // SAFETY: a fresh shared mapping of a file this test owns, unmapped
    // before it returns; the writes stay within its length.
    unsafe {
        let m = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            std::os::fd::AsRawFd::as_raw_fd(&f),
            0,
        );
        assert!(m != libc::MAP_FAILED, "mmap failed");
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), (m as *mut u8).add(offset), bytes.len());
        assert_eq!(libc::munmap(m, len), 0);
    }
    f
}

/// A delivered spare written to through a shared mapping (no watcher
/// event) is not taken back unread when the next hit replaces it: that
/// hit and the ones after deliver the stored content.
#[test]
fn a_delivered_spare_written_through_a_mapping_is_not_reused() {
    let (env, object) = setup();
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    wait_for_spare(&env);
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    wait_for_counts(&env, |s| spare_count(s, "spares_reused_hashed") == 1);
    // a.o is now a delivered spare, watched: write into it at once, and
    // keep it open (closing it is an event the watcher sees).
    let open = write_through_mapping(&env.path("a.o"), 1000, b"scribbled");
    assert!(env.read("a.o") != object);
    for _ in 0..3 {
        env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
        assert!(
            env.read("a.o") == object,
            "a.o differs from the bare object"
        );
    }
    let s = env.status();
    assert!(
        std::fs::read(wait_for_spare(&env)).unwrap() == object,
        "the written-to output became the spare: {s}"
    );
    drop(open);
}

/// An output written to after its hit is not reused when the next hit
/// replaces it: that hit, and the one after, deliver the stored content.
#[test]
fn a_replaced_output_that_was_written_to_is_not_reused() {
    let (env, object) = setup();
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    wait_for_spare(&env);
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    // Same size, other bytes: only the content tells.
    scribble(&env.path("a.o"));
    assert!(env.read("a.o") != object);
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    assert!(
        env.read("a.o") == object,
        "a.o differs from the bare object"
    );
    // Whatever spare there is holds the stored content (an inode number
    // may be reused by a fresh copy, so the content is what is checked).
    let spare = wait_for_spare(&env);
    assert!(
        std::fs::read(&spare).unwrap() == object,
        "the written-to output became the spare"
    );
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    assert!(
        env.read("a.o") == object,
        "a.o differs from the bare object"
    );
}

/// A directory where the output belongs is never moved or removed: the
/// compiler reports it, as without ccd.
#[test]
fn a_directory_in_the_place_of_a_large_output_is_left_alone() {
    let (env, _) = setup();
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    wait_for_spare(&env);
    std::fs::remove_file(env.path("a.o")).unwrap();
    env.write("a.o/inside", "mine");
    let bare = env.bare("gcc", &args("a.o"));
    let out = env.cc("gcc", &args("a.o"));
    assert!(!out.status.success());
    assert_eq!(out.status.code(), bare.status.code());
    assert_eq!(env.read("a.o/inside"), b"mine");
}

#[test]
fn writing_into_a_delivered_output_changes_nothing_else() {
    let (env, object) = setup();
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    wait_for_spare(&env);
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    wait_for_spare(&env);
    env.cc_expect(Outcome::Hit, "gcc", &args("b.o"));
    assert_ne!(ino(&env.path("a.o")), ino(&env.path("b.o")));

    scribble(&env.path("a.o"));
    assert!(env.read("b.o") == object, "another output is untouched");
    wait_for_spare(&env);
    env.cc_expect(Outcome::Hit, "gcc", &args("c.o"));
    assert!(env.read("c.o") == object, "the cache is untouched");
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    assert!(
        env.read("a.o") == object,
        "a.o differs from the bare object"
    );
}

#[test]
fn a_spare_changed_in_the_cache_directory_is_not_served() {
    let (env, object) = setup();
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    let spare = wait_for_spare(&env);
    scribble(&spare);

    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    assert!(
        env.read("a.o") == object,
        "a.o differs from the bare object"
    );
}

#[test]
fn a_spare_replaced_in_the_cache_directory_is_not_served() {
    let (env, object) = setup();
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    let spare = wait_for_spare(&env);
    // A new file of the same size under the spare's name.
    let fake = env.cache.join("fake");
    std::fs::write(&fake, vec![0u8; object.len()]).unwrap();
    std::fs::rename(&fake, &spare).unwrap();

    env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
    assert!(
        env.read("a.o") == object,
        "a.o differs from the bare object"
    );
}

#[test]
fn without_the_watcher_hits_copy() {
    let (env, object) = setup();
    env.set_var("CCD_WATCH", "0");
    env.cc_expect(Outcome::Miss, "gcc", &args("a.o"));
    for _ in 0..3 {
        env.cc_expect(Outcome::Hit, "gcc", &args("a.o"));
        assert!(
            env.read("a.o") == object,
            "a.o differs from the bare object"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    let spares = std::fs::read_dir(spares_dir(&env))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(spares, 0, "no spares without the watcher");
}

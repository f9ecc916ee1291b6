//! The store damaged on purpose after a miss stored a result: a truncated
//! blob, a flipped byte in a blob, a deleted blob, a directory where a blob
//! should be, a flipped byte in a result record, a truncated manifest. The
//! next compile is never a hit with wrong content (its object is the bare
//! compiler's), and hits resume once the result is stored again. With the
//! file watcher on, off (`CCD_WATCH=0`), and with the damage done while no
//! daemon runs (nothing remembered in memory).

use crate::harness::daemon::stop_daemon;
use crate::harness::project::{bare_object, store_files};
use crate::harness::{COMPILERS, Env, Moved, Outcome, stderr};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy)]
enum Damage {
    TruncateBlob,
    FlipBlobByte,
    DeleteBlob,
    BlobIsDirectory,
    FlipResultByte,
    TruncateManifest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Watcher on, daemon running (and remembering) while the store is hit.
    WatchOn,
    /// `CCD_WATCH=0`, daemon running.
    WatchOff,
    /// The daemon is stopped before the damage: a fresh daemon meets it.
    DamagedWhileStopped,
}

const SRC: &str = r#"#include <stdio.h>
#include "conf.h"

static int table[64];

int fill(int seed) {
    for (int i = 0; i < 64; i++)
        table[i] = (seed * (i + FACTOR)) ^ (i << 3);
    int acc = 0;
    for (int i = 0; i < 64; i++)
        acc += table[i] % 17;
    if (acc < 0)
        fprintf(stderr, "negative %d\n", acc);
    return acc;
}
"#;

const ARGS: &[&str] = &["-O2", "-c", "src/a.c", "-o", "a.o"];

/// The single file of a store area (one compile was stored).
fn only_file(env: &Env, area: &str) -> PathBuf {
    let files = store_files(env, area);
    assert_eq!(files.len(), 1, "{area}: expected one file, found {files:?}");
    files.into_iter().next().unwrap()
}

/// The blob holding `content`.
fn blob_with(env: &Env, content: &[u8]) -> PathBuf {
    store_files(env, "blobs")
        .into_iter()
        .find(|p| std::fs::read(p).is_ok_and(|b| b == content))
        .unwrap_or_else(|| panic!("no blob holds the object in {}", env.cache.display()))
}

fn writable(p: &Path) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Flips one byte in the middle of `p` in place (same size, same inode)
/// and puts the old mtime back.
fn flip_byte(p: &Path) {
    writable(p);
    let mtime = std::fs::metadata(p).unwrap().modified().unwrap();
    let len = std::fs::metadata(p).unwrap().len();
    let mut bytes = std::fs::read(p).unwrap();
    let at = (len / 2) as usize;
    bytes[at] ^= 0x5a;
    let mut f = std::fs::File::options().write(true).open(p).unwrap();
    f.seek(SeekFrom::Start(at as u64)).unwrap();
    f.write_all(&bytes[at..at + 1]).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    assert_eq!(std::fs::metadata(p).unwrap().len(), len);
}

fn truncate_half(p: &Path) {
    writable(p);
    let len = std::fs::metadata(p).unwrap().len();
    assert!(len > 1, "{} is too small to truncate", p.display());
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

fn apply(env: &Env, damage: Damage, object: &[u8]) {
    match damage {
        Damage::TruncateBlob => truncate_half(&blob_with(env, object)),
        Damage::FlipBlobByte => flip_byte(&blob_with(env, object)),
        Damage::DeleteBlob => std::fs::remove_file(blob_with(env, object)).unwrap(),
        Damage::BlobIsDirectory => {
            let b = blob_with(env, object);
            std::fs::remove_file(&b).unwrap();
            std::fs::create_dir(&b).unwrap();
        }
        Damage::FlipResultByte => flip_byte(&only_file(env, "results")),
        Damage::TruncateManifest => truncate_half(&only_file(env, "manifests")),
    }
}

/// Compiles through ccd (after removing the old object) and asserts the
/// compile succeeded quietly with the bare compiler's object; returns what
/// the counters say it was.
fn compile_equals_bare(env: &Env, cc: &str, reference: &[u8], what: &str) -> Outcome {
    let _ = std::fs::remove_file(env.path("a.o"));
    let (out, m) = env.counting(|| env.cc(cc, ARGS));
    assert!(
        out.status.success(),
        "{what}: compile failed: {}",
        stderr(&out)
    );
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{what}: unexpected output: {}",
        stderr(&out)
    );
    let obj = std::fs::read(env.path("a.o")).ok();
    assert!(
        obj.as_deref() == Some(reference),
        "{what}: the object is not the bare compiler's ({} bytes vs {}; counters moved {m})",
        obj.map_or(0, |o| o.len()),
        reference.len()
    );
    assert_eq!(m.errors, 0, "{what}: counted as failed");
    assert_eq!(m.non_cacheable, 0, "{what}: counted as not cacheable");
    outcome_of(m, what, &out)
}

fn outcome_of(m: Moved, what: &str, out: &std::process::Output) -> Outcome {
    if m.hits == 1 {
        Outcome::Hit
    } else {
        m.assert_outcome(Outcome::Miss, &format!("{what}: {ARGS:?}"), out);
        Outcome::Miss
    }
}

fn run(damage: Damage, mode: Mode) {
    for cc in COMPILERS {
        let what = format!("{cc}, {damage:?}, {mode:?}");
        let env = Env::new();
        match mode {
            Mode::WatchOn => env.set_var("CCD_WATCH", "1"),
            Mode::WatchOff => env.set_var("CCD_WATCH", "0"),
            // Whatever the suite runs with (CCD_TEST_WATCH).
            Mode::DamagedWhileStopped => {}
        }
        env.write("src/a.c", SRC);
        env.write("src/conf.h", "#define FACTOR 3\n");
        let reference = bare_object(&env, cc, ARGS, "a.o");
        let compile =
            |step: &str| compile_equals_bare(&env, cc, &reference, &format!("{what}: {step}"));
        let expect = |want: Outcome, step: &str| assert_eq!(compile(step), want, "{what}: {step}");

        expect(Outcome::Miss, "first");
        expect(Outcome::Hit, "second");
        expect(Outcome::Hit, "third");

        if mode == Mode::DamagedWhileStopped {
            stop_daemon(&env);
        }
        apply(&env, damage, &reference);

        // Never a wrong hit: a miss, or a hit with the right bytes (a
        // damaged record may be bypassed by what the daemon verified in
        // memory, but a damaged blob never can be).
        let unusable = || env.status()["internal_errors"].as_u64().unwrap();
        let unusable_before = unusable();
        let got = compile("after damage");
        let blob_damaged = matches!(
            damage,
            Damage::TruncateBlob
                | Damage::FlipBlobByte
                | Damage::DeleteBlob
                | Damage::BlobIsDirectory
        );
        if blob_damaged {
            assert_eq!(
                got,
                Outcome::Miss,
                "{what}: a hit although the stored object is damaged"
            );
            // The manifest led to the result, which could not be used:
            // ccd's own failure, counted apart from ordinary misses.
            assert_eq!(
                unusable(),
                unusable_before + 1,
                "{what}: the unusable result is not counted"
            );
        }

        // Stored again: hits resume.
        expect(Outcome::Hit, "after re-store");
        // And a fresh daemon, reading only what is on disk, hits too
        // (after storing once more what it found damaged).
        stop_daemon(&env);
        if compile("restarted") == Outcome::Miss {
            expect(Outcome::Hit, "restarted, stored again");
        }
        expect(Outcome::Hit, "restarted, final");
    }
}

/// One test per damage and mode, so a report names each case.
macro_rules! cases {
    ($($name:ident: $damage:ident;)*) => {
        mod watcher_on {
            use super::*;
            $(#[test] fn $name() { run(Damage::$damage, Mode::WatchOn); })*
        }
        mod watcher_off {
            use super::*;
            $(#[test] fn $name() { run(Damage::$damage, Mode::WatchOff); })*
        }
        mod damaged_while_stopped {
            use super::*;
            $(#[test] fn $name() { run(Damage::$damage, Mode::DamagedWhileStopped); })*
        }
    };
}

cases! {
    truncated_blob: TruncateBlob;
    flipped_blob_byte: FlipBlobByte;
    deleted_blob: DeleteBlob;
    directory_in_place_of_blob: BlobIsDirectory;
    flipped_result_record_byte: FlipResultByte;
    truncated_manifest: TruncateManifest;
}

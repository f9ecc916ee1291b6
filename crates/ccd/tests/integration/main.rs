//! ccd's integration tests, one binary: each module is one group of tests
//! (its doc comment says what it covers), [`harness`] is what they share.
//! They drive the `ccd` binary with the real gcc, clang, make and cargo.
//!
//! ```sh
//! cargo test -p ccd --test integration                 # all of them
//! cargo test -p ccd --test integration fs_fuzz::       # one module
//! cargo test -p ccd --test integration core_hits::miss_then_hit_is_byte_identical
//! CCD_TEST_WATCH=0 cargo test -p ccd --test integration  # file watcher off
//! ```
//!
//! All tests run in this one process, on the test harness's threads: a
//! test must not change the process's environment variables, working
//! directory or signal handling, and finds its daemons by its own cache
//! directory (see [`harness`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod answered_before_stored;
mod compiler_and_flags;
mod concurrency;
mod config;
mod configure_script;
mod core_hits;
mod crash_safety;
mod daemon_health;
mod daemon_unavailable;
mod diagnostics;
mod directories;
mod eviction;
mod fs_fuzz;
mod fs_fuzz_rust;
mod full_disk;
mod languages;
mod large_outputs;
mod lua_build;
mod masquerade;
mod multi_file;
mod parallel_builds;
mod passthrough;
mod pch;
mod persistence;
mod response_files;
mod rust_cargo;
mod security;
mod sessions;
mod side_files;
mod store_integrity;
mod strict_paths;
mod time_macros;
mod worktree;

//! The harness every test module uses.
//!
//! - [`env`]: a test's environment ([`Env`]): a private cache directory
//!   (hence a private daemon), a work directory, and the `ccd` and bare
//!   compiler commands.
//! - [`counts`]: the daemon's counters ([`Counts`]) and how far something
//!   moved them ([`Moved`], [`Outcome`]).
//! - [`compare`]: one compile through ccd and by the bare compiler, compared
//!   ([`Env::like_bare`]).
//! - [`daemon`]: daemon processes: pids, signals, the socket path.
//! - [`project`]: generated C projects built with make, store files, small
//!   file helpers.
//! - [`session`]: the admin commands of build sessions.
//! - [`cargo`]: cargo builds with a clean environment, through ccd or bare,
//!   and crates fetched from the registry.
//!
//! Tests drive the real gcc and clang; a missing compiler fails the test
//! loudly (CI installs them through the README's test command).
//!
//! All tests share this process: none may change its environment
//! variables, working directory or signal handling. Settings for a test go
//! on the commands it runs ([`Env::set_var`]).

pub mod cargo;
pub mod compare;
pub mod counts;
pub mod daemon;
pub mod env;
pub mod project;
pub mod session;

pub use counts::{Counts, Moved, Outcome};
pub use env::{CCD, COMPILERS, Env, assert_ok, require_tool, stderr};

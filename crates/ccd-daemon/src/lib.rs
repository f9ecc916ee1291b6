//! The ccd daemon: one per cache directory, started on demand by the
//! wrapper and gone after an idle timeout. Follow one request through
//! ARCHITECTURE.md (at the repository's root); in short:
//!
//! - `server`: the socket, the single-instance lock, worker threads, the
//!   idle timer; `connection`: one request per connection, a compile for
//!   `pipeline` or an admin request for `admin`;
//! - `pipeline`: the per-compile pipeline, one module per phase, and a
//!   frontend per compiler family;
//! - `daemon`: what the daemon holds; `memo`: what it remembers between
//!   requests; `outcome`: what a request became, counted by `stats` and
//!   logged by `sessions`; `claims`: output paths of compiles in flight;
//!   `pending`: stores finished after the client was answered; `spares`:
//!   spare copies of large outputs.

mod acker;
mod admin;
#[cfg(test)]
mod alloc_count;
mod channel;
mod claims;
mod compiler;
pub mod config;
mod connection;
mod daemon;
mod delivery;
mod lifecycle;
mod lock;
mod memo;
mod outcome;
mod pending;
mod pipeline;
mod server;
mod sessions;
mod settings;
mod spares;
mod stats;
mod trace;

pub use config::DaemonConfig;
pub use server::{Ended, run};

/// Unit tests count the heap bytes each thread holds (see `alloc_count`).
#[cfg(test)]
#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

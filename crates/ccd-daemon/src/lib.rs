//! The ccd daemon: one per cache directory, started on demand by the
//! wrapper and gone after an idle timeout.
//!
//! - [`server`]: the socket, the single-instance lock, the idle timer;
//! - [`connection`]: one request per connection, admin or compile;
//! - [`pipeline`]: the per-compile pipeline, one module per phase;
//! - [`claims`]: output paths of compiles in flight (a path two compiles
//!   write at once is not stored);
//! - [`pending`]: stores finished after the client was answered;
//! - [`state`] and [`stats`]: what the daemon keeps in memory.

pub mod claims;
pub mod config;
pub mod connection;
pub mod pending;
pub mod pipeline;
pub mod server;
pub mod sessions;
pub mod spares;
pub mod state;
pub mod stats;

pub use config::DaemonConfig;
pub use server::run;

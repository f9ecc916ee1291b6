//! The contract between the `ccd` wrapper (client) and the daemon.
//!
//! Kept deliberately small: the client links this crate and nothing of the
//! daemon, so its start-up pays only for framing and a few serde structs.

pub mod driver;
pub mod frame;
pub mod hello;
pub mod location;
pub mod message;
pub mod process;

pub use driver::Driver;
pub use frame::{FrameError, MAX_FRAME_LEN, decode, read_frame, read_frame_bytes, write_frame};
pub use hello::{ACK, ExeId, HELLO_LEN, Hello, REPLACED, SAME};
pub use location::{Location, LocationError, peer_cred, peer_uid};
pub use message::*;

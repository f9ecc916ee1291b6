//! Requests other than compiles: status, statistics, clearing, stopping,
//! build sessions.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use ccd_protocol::{Request, Response};

use crate::channel::Channel;
use crate::daemon::Daemon;
use crate::lifecycle;

pub fn handle(d: &Daemon, ch: &mut Channel, req: Request) {
    // What admin requests report or change includes the stores still
    // being finished for compiles already answered.
    d.pending.wait_all();
    let reply = match req {
        Request::Status => Response::Status(Box::new(d.status())),
        Request::ZeroStats => {
            d.stats.zero();
            Response::Ok
        }
        Request::Clear => match d.clear() {
            Ok(()) => Response::Ok,
            Err(e) => Response::Error {
                message: e.to_string(),
            },
        },
        Request::Shutdown => {
            // Released before answering: when `ccd stop` returns, a new
            // daemon can start.
            lifecycle::release(d);
            let _ = ch.send(&Response::Ok);
            lifecycle::exit_now(d);
        }
        Request::SessionStart { journal } => {
            let journal = journal.map(|j| PathBuf::from(OsStr::from_bytes(&j)));
            match d
                .sessions
                .start(&d.location.cache_dir.join("sessions"), journal)
            {
                Ok(id) => Response::Session { id },
                Err(e) => Response::Error {
                    message: format!("cannot start a session: {e}"),
                },
            }
        }
        Request::SessionStats { id } => Response::SessionStats(Box::new(d.sessions.report(&id))),
        Request::SessionEnd { id } => Response::SessionStats(Box::new(d.sessions.end(&id))),
        Request::Compile(_) | Request::CompileFinished(_) => Response::Error {
            message: "a compile message out of turn".into(),
        },
    };
    let _ = ch.send(&reply);
}

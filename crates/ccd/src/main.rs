//! `ccd`: compiler wrapper, admin commands and daemon in one binary.
//!
//! The wrapper path decides from `argv` alone, before any argument parser
//! or configuration is touched: `ccd gcc ...`, or a symlink named like a
//! compiler. Everything else is an admin command.

mod admin;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ccd_client::Invocation;

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    if ccd_cc::Family::is_known_driver_name(&name) {
        ccd_client::run_wrapper(Invocation::Masquerade {
            name: OsString::from(std::ffi::OsStr::from_bytes(&name)),
            args: args.collect(),
        });
    }
    let rest: Vec<OsString> = args.collect();
    match rest.first() {
        Some(first) if !admin::is_admin_word(first) => {
            ccd_client::run_wrapper(Invocation::Explicit {
                compiler: first.clone(),
                args: rest[1..].to_vec(),
            });
        }
        _ => std::process::exit(admin::main(argv0, rest)),
    }
}

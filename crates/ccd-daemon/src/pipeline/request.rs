//! A compile request as the pipeline sees it.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ccd_protocol::{CompileRequest, TtyInfo};

pub struct Req {
    pub cwd: PathBuf,
    pub compiler: PathBuf,
    /// The arguments with response files expanded (see `expand_args`).
    pub args: Vec<Vec<u8>>,
    /// The response files those came from.
    pub response_files: Vec<PathBuf>,
    pub env: BTreeMap<Vec<u8>, Vec<u8>>,
    pub stderr_tty: Option<TtyInfo>,
    pub umask: u32,
}

/// Variables the client sends that do not change what a compiler produces.
const NOT_KEYED: &[&[u8]] = &[b"PATH", b"TERM"];

impl Req {
    pub fn from_wire(c: CompileRequest) -> Req {
        let path = |b: serde_bytes::ByteBuf| PathBuf::from(OsStr::from_bytes(&b));
        Req {
            cwd: path(c.cwd),
            compiler: path(c.compiler),
            args: c.args.into_iter().map(|a| a.into_vec()).collect(),
            response_files: Vec::new(),
            env: c
                .env
                .into_iter()
                .map(|(k, v)| (k.into_vec(), v.into_vec()))
                .collect(),
            stderr_tty: c.stderr_tty,
            umask: c.umask,
        }
    }

    pub fn env(&self, key: &str) -> Option<&[u8]> {
        self.env.get(key.as_bytes()).map(Vec::as_slice)
    }

    /// `p` resolved against the compile's working directory.
    pub fn abs(&self, p: &[u8]) -> PathBuf {
        let p = Path::new(OsStr::from_bytes(p));
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }

    /// The variables that take part in the cache key.
    pub fn keyed_env(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.env
            .iter()
            .filter(|(k, _)| !NOT_KEYED.contains(&k.as_slice()) && !k.starts_with(b"CCD_"))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The variables that take part in a rustc key: what cargo tells the
    /// crate (`CARGO_*`, `OUT_DIR`) and what unlocks unstable features;
    /// everything else the crate reads is in its dep-info. The jobserver
    /// (`CARGO_MAKEFLAGS`) changes every build and changes nothing.
    pub fn keyed_env_rustc(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.env
            .iter()
            .filter(|(k, _)| {
                (k.starts_with(b"CARGO_") && k.as_slice() != b"CARGO_MAKEFLAGS")
                    || k.as_slice() == b"CARGO"
                    || k.as_slice() == b"OUT_DIR"
                    || k.as_slice() == b"RUSTC_BOOTSTRAP"
            })
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// A command for `program` with the client's compile-relevant
    /// environment, run in the compile's working directory.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(
                self.env
                    .iter()
                    .map(|(k, v)| (OsStr::from_bytes(k), OsStr::from_bytes(v))),
            )
            .current_dir(&self.cwd)
            .stdin(std::process::Stdio::null());
        cmd
    }
}

//! A compile request as the pipeline sees it.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ccd_filestate::Digest;
use ccd_protocol::{CompileRequest, TtyInfo};

use crate::trace::TraceInfo;

pub struct Req {
    pub cwd: PathBuf,
    pub compiler: PathBuf,
    /// The arguments with response files expanded (see `expand_args`).
    pub args: Vec<Vec<u8>>,
    /// The response files those came from.
    pub response_files: Vec<PathBuf>,
    /// The directories whose `.git` decided the checkout root (see
    /// `worktree`), the one that has it last.
    pub root_lookups: Vec<PathBuf>,
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
            root_lookups: Vec::new(),
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

    /// What, besides its bytes, decided how this request became its
    /// compile context: the compiler it names, its argument files and the
    /// checkout root's lookups. Two requests of one context share a seal
    /// only if this is the same for both (the seal covers those paths for
    /// the request it was made for).
    pub fn reads(&self) -> Digest {
        let mut h = blake3::Hasher::new();
        let mut add = |p: &Path| {
            let b = p.as_os_str().as_bytes();
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        };
        add(&self.compiler);
        for p in self.response_files.iter().chain(&[PathBuf::new()]) {
            add(p);
        }
        for p in &self.root_lookups {
            add(p);
        }
        Digest(*h.finalize().as_bytes())
    }

    /// The variables the client sends other than `PATH`, `TERM` and ccd's
    /// own: what can change a GNU-style compile.
    pub fn keyed_env(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.env
            .iter()
            .filter(|(k, _)| !NOT_KEYED.contains(&k.as_slice()) && !k.starts_with(b"CCD_"))
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The start of the request's trace: its session, directory and how
    /// it asked for checkout sharing.
    pub fn trace_info(&self) -> TraceInfo {
        TraceInfo {
            session: self.env("CCD_SESSION_ID").map(<[u8]>::to_vec),
            cwd: self.cwd.clone(),
            source: None,
            output: None,
            key_root: self.cwd.clone(),
            path_remap: self
                .env("CCD_PATH_REMAP")
                .map_or("off".into(), |v| String::from_utf8_lossy(v).into_owned()),
        }
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

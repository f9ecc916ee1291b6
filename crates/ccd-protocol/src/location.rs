//! Where the cache directory and the daemon socket of a cache live.
//!
//! Every cache directory has its own daemon, so the socket name is derived
//! from the cache directory's path: two `CCD_DIR` values never share a daemon.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub cache_dir: PathBuf,
    /// Per-user directory (mode 0700) holding the sockets of all caches.
    pub socket_dir: PathBuf,
    pub socket: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("no cache directory: set CCD_DIR, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    #[error("cannot determine the current directory: {0}")]
    Cwd(std::io::Error),
}

impl Location {
    /// A file beside the socket, for the client's notes on this cache's
    /// daemon: `<socket>.<suffix>`.
    pub fn beside_socket(&self, suffix: &str) -> PathBuf {
        let mut p = self.socket.clone().into_os_string();
        p.push(".");
        p.push(suffix);
        PathBuf::from(p)
    }

    /// Resolves the location from the process environment.
    pub fn from_env() -> Result<Location, LocationError> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Location::resolve(
            var("CCD_DIR"),
            var("XDG_CACHE_HOME"),
            var("HOME"),
            var("XDG_RUNTIME_DIR"),
            // SAFETY: getuid never fails.
            unsafe { libc::getuid() },
        )
    }

    pub fn resolve(
        ccd_dir: Option<OsString>,
        xdg_cache: Option<OsString>,
        home: Option<OsString>,
        runtime_dir: Option<OsString>,
        uid: u32,
    ) -> Result<Location, LocationError> {
        let raw = match (ccd_dir, xdg_cache, home) {
            (Some(d), _, _) => PathBuf::from(d),
            (None, Some(x), _) => PathBuf::from(x).join("ccd"),
            (None, None, Some(h)) => PathBuf::from(h).join(".cache").join("ccd"),
            _ => return Err(LocationError::NoCacheDir),
        };
        let cache_dir = absolute_lexical(&raw)?;
        let socket_dir = match runtime_dir {
            Some(r) if Path::new(&r).is_absolute() => PathBuf::from(r).join("ccd"),
            _ => PathBuf::from(format!("/tmp/ccd-{uid}")),
        };
        let name = format!("{:016x}.sock", fnv1a(cache_dir.as_os_str().as_bytes()));
        let socket = socket_dir.join(name);
        Ok(Location {
            cache_dir,
            socket_dir,
            socket,
        })
    }
}

/// Makes `p` absolute against the current directory and removes `.` and
/// repeated separators, without touching the filesystem (the directory may
/// not exist yet, and the client must stay cheap).
fn absolute_lexical(p: &Path) -> Result<PathBuf, LocationError> {
    let base = if p.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().map_err(LocationError::Cwd)?
    };
    let mut out = base;
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => out.push(".."),
            Component::Normal(n) => out.push(n),
        }
    }
    Ok(out)
}

/// The user id of the process at the other end of a Unix socket. Both
/// sides check it: the daemon serves only its own user, and the wrapper
/// talks only to its own user's daemon.
pub fn peer_uid(stream: &std::os::unix::net::UnixStream) -> Option<u32> {
    peer_cred(stream).map(|(uid, _)| uid)
}

/// The uid and pid of the process at the other end of a Unix socket (for
/// a client: the daemon that bound the socket).
pub fn peer_cred(stream: &std::os::unix::net::UnixStream) -> Option<(u32, i32)> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some((cred.uid, cred.pid))
}

/// Stable 64-bit FNV-1a; only names the socket, so it needs to be stable
/// across builds, not cryptographic.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(dir: &str) -> Location {
        Location::resolve(Some(dir.into()), None, None, None, 42).unwrap()
    }

    #[test]
    fn different_cache_dirs_get_different_sockets() {
        assert_ne!(loc("/a/cache").socket, loc("/b/cache").socket);
        assert_eq!(loc("/a/cache").socket_dir, PathBuf::from("/tmp/ccd-42"));
    }

    #[test]
    fn spelling_variants_of_one_dir_share_a_socket() {
        assert_eq!(loc("/a/cache").socket, loc("/a//./cache/").socket);
    }

    #[test]
    fn defaults_follow_xdg_then_home() {
        let l = Location::resolve(
            None,
            None,
            Some("/home/u".into()),
            Some("/run/user/7".into()),
            7,
        )
        .unwrap();
        assert_eq!(l.cache_dir, PathBuf::from("/home/u/.cache/ccd"));
        assert_eq!(l.socket_dir, PathBuf::from("/run/user/7/ccd"));
        let l =
            Location::resolve(None, Some("/x".into()), Some("/home/u".into()), None, 7).unwrap();
        assert_eq!(l.cache_dir, PathBuf::from("/x/ccd"));
        assert!(Location::resolve(None, None, None, None, 7).is_err());
    }
}

//! Phase: who is the compiler? Its family (gcc or clang, by probing its
//! predefined macros) and a digest of its content: the driver binary, the
//! macros it predefines and, for gcc, the `cc1`/`cc1plus` it runs. A wrapper
//! script that adds a flag is a different compiler, whatever `--version`
//! says. The result is cached until one of those files' stamps changes.

use std::collections::HashMap;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ccd_cc::Family;
use ccd_filestate::{Digest, Stamp, stat};

use super::request::Req;
use crate::state::{Daemon, lock};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Compiler {
    pub path: PathBuf,
    pub family: Family,
    pub digest: Digest,
    /// `__DATE__`/`__TIME__` follow SOURCE_DATE_EPOCH (gcc does; clang
    /// before 16 does not).
    pub honors_source_date_epoch: bool,
    /// rustc rather than a GNU-style C/C++ driver (`family` is then
    /// meaningless).
    pub rustc: bool,
}

/// Whether the executable name is rustc's (or clippy's, which cargo runs
/// the same way).
pub fn is_rustc_name(path: &Path) -> bool {
    path.file_name().map(|n| n.as_bytes()).is_some_and(|n| {
        memchr::memmem::find(n, b"rustc").is_some() || n.starts_with(b"clippy-driver")
    })
}

/// The files a compiler's identity was computed from, with their stamps.
type Stamps = Vec<(PathBuf, Stamp)>;

#[derive(Default)]
pub struct CompilerCache {
    map: Mutex<HashMap<PathBuf, (Stamps, Arc<Compiler>)>>,
    /// Held while a compiler is probed: at the start of a cold `make -j`
    /// every job asks at once, and one probe is enough.
    probing: Mutex<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    #[error("cannot read compiler {0}: {1}")]
    Unreadable(PathBuf, io::Error),
    #[error("{0} does not behave like gcc or clang")]
    NotGnuLike(PathBuf),
}

impl CompilerCache {
    /// The files `path`'s identity was computed from, if still current.
    pub fn current_files(&self, path: &Path) -> Option<Vec<PathBuf>> {
        let map = lock(&self.map);
        let (stamps, _) = map.get(path)?;
        stamps
            .iter()
            .all(|(p, s)| stat(p).ok().as_ref() == Some(s))
            .then(|| stamps.iter().map(|(p, _)| p.clone()).collect())
    }
}

pub fn identify(d: &Daemon, req: &Req) -> Result<Arc<Compiler>, IdentifyError> {
    let path = &req.compiler;
    if let Some(c) = known(d, path) {
        return Ok(c);
    }
    let _probing = lock(&d.compilers.probing);
    // Probed by another request while this one waited.
    if let Some(c) = known(d, path) {
        return Ok(c);
    }
    // A restarted daemon finds what an earlier one learned on disk.
    let record_key = Digest(*blake3::hash(path.as_os_str().as_bytes()).as_bytes());
    let stored: Option<(Stamps, Compiler)> = d.store.get_compiler(&record_key);
    let (stamps, compiler) = match stored {
        Some((stamps, c))
            if c.path == *path && stamps.iter().all(|(p, s)| stat(p).ok().as_ref() == Some(s)) =>
        {
            (stamps, c)
        }
        _ => {
            let (stamps, c) = probe(req, path)?;
            let _ = d.store.put_compiler(&record_key, &(&stamps, &c));
            (stamps, c)
        }
    };
    let compiler = Arc::new(compiler);
    lock(&d.compilers.map).insert(path.clone(), (stamps, Arc::clone(&compiler)));
    Ok(compiler)
}

fn known(d: &Daemon, path: &Path) -> Option<Arc<Compiler>> {
    let map = lock(&d.compilers.map);
    let (stamps, c) = map.get(path)?;
    stamps
        .iter()
        .all(|(p, s)| stat(p).ok().as_ref() == Some(s))
        .then(|| Arc::clone(c))
}

fn probe(req: &Req, path: &Path) -> Result<(Stamps, Compiler), IdentifyError> {
    if is_rustc_name(path) {
        return probe_rustc(req, path);
    }
    let unreadable = |e| IdentifyError::Unreadable(path.to_path_buf(), e);
    let before = stat(path).map_err(unreadable)?;
    // Every question to the driver is asked at once, and its files are
    // hashed meanwhile: each job of a cold build waits for this.
    let macros = Asked::spawn(req, path, &["-E", "-dM", "-x", "c", "/dev/null"]);
    let cc1 = Asked::spawn(req, path, &["-print-prog-name=cc1"]);
    let cc1plus = Asked::spawn(req, path, &["-print-prog-name=cc1plus"]);
    let date_probe = DateProbe::spawn(req, path);
    let driver = hash_file(path).map_err(unreadable);
    let macros = macros.stdout();
    // The driver runs these; an upgrade of one without the other must
    // still change the identity. (clang answers with a bare name.)
    let backends: Vec<PathBuf> = [cc1.stdout(), cc1plus.stdout()]
        .into_iter()
        .flatten()
        .map(|out| PathBuf::from(String::from_utf8_lossy(out.trim_ascii()).into_owned()))
        .filter(|p| p.is_absolute())
        .collect();
    let honors_source_date_epoch = date_probe.finish();
    let driver = driver?;
    let macros = macros.ok_or_else(|| IdentifyError::NotGnuLike(path.to_path_buf()))?;
    let family = Family::from_predefined_macros(&macros)
        .ok_or_else(|| IdentifyError::NotGnuLike(path.to_path_buf()))?;

    let mut h = blake3::Hasher::new();
    h.update(b"ccd-compiler-v2\0");
    // The name selects the driver's mode (clang++ is clang in C++ mode;
    // a target-prefixed name selects the target).
    h.update(path.file_name().map(|n| n.as_bytes()).unwrap_or_default());
    h.update(b"\0");
    h.update(&driver);
    h.update(&(macros.len() as u64).to_le_bytes());
    h.update(&macros);
    let mut stamps = vec![(path.to_path_buf(), before)];
    if family == Family::Gcc {
        // cc1 and cc1plus are tens of megabytes each: hashed side by side.
        let hashed: Vec<_> = std::thread::scope(|s| {
            let jobs: Vec<_> = backends
                .iter()
                .map(|p| s.spawn(move || Some((stat(p).ok()?, hash_file(p).ok()?))))
                .collect();
            jobs.into_iter().map(|j| j.join().ok().flatten()).collect()
        });
        for (p, done) in backends.into_iter().zip(hashed) {
            if let Some((s, digest)) = done {
                h.update(&digest);
                stamps.push((p, s));
            }
        }
    }
    // The driver changed while we read it: do not cache the identity.
    if stat(path).ok() != Some(before) {
        stamps.clear();
        stamps.push((
            path.to_path_buf(),
            Stamp {
                ino: u64::MAX,
                ..before
            },
        ));
    }
    let compiler = Compiler {
        path: path.to_path_buf(),
        family,
        digest: Digest(*h.finalize().as_bytes()),
        honors_source_date_epoch,
        rustc: false,
    };
    Ok((stamps, compiler))
}

/// rustc's identity: its `-vV` (version, commit, host, LLVM), its sysroot,
/// and every library in the sysroot (name, size, mtime), so a toolchain
/// update or a new target changes it.
fn probe_rustc(req: &Req, path: &Path) -> Result<(Stamps, Compiler), IdentifyError> {
    let unreadable = |e| IdentifyError::Unreadable(path.to_path_buf(), e);
    let before = stat(path).map_err(unreadable)?;
    let not_rustc = || IdentifyError::NotGnuLike(path.to_path_buf());
    let version = run_stdout(req, path, &["-vV"]).ok_or_else(not_rustc)?;
    if !version.starts_with(b"rustc ") {
        return Err(not_rustc());
    }
    let sysroot = run_stdout(req, path, &["--print", "sysroot"]).ok_or_else(not_rustc)?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(sysroot.trim_ascii()).into_owned());
    let mut h = blake3::Hasher::new();
    h.update(b"ccd-rustc-v1\0");
    h.update(&version);
    h.update(sysroot.as_os_str().as_bytes());
    let mut stamps = vec![(path.to_path_buf(), before)];
    let lib = sysroot.join("lib");
    let mut dirs = vec![lib.clone()];
    if let Ok(targets) = std::fs::read_dir(lib.join("rustlib")) {
        dirs.extend(targets.flatten().map(|t| t.path().join("lib")));
    }
    for dir in dirs {
        let Ok(s) = stat(&dir) else { continue };
        stamps.push((dir.clone(), s));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name(), stat(&e.path()).ok()?)))
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, s) in files {
            h.update(name.as_bytes());
            h.update(&s.size.to_le_bytes());
            h.update(&s.mtime_ns.to_le_bytes());
        }
    }
    let compiler = Compiler {
        path: path.to_path_buf(),
        family: Family::Gcc,
        digest: Digest(*h.finalize().as_bytes()),
        honors_source_date_epoch: false,
        rustc: true,
    };
    Ok((stamps, compiler))
}

/// A file's BLAKE3 digest, read in chunks.
fn hash_file(path: &Path) -> io::Result<[u8; 32]> {
    Ok(ccd_filestate::digest_reader(std::fs::File::open(path)?)?.0)
}

/// A question to the compiler driver, running.
struct Asked(Option<std::process::Child>);

impl Asked {
    fn spawn(req: &Req, path: &Path, args: &[&str]) -> Asked {
        let child = req
            .command(path)
            .args(args)
            .env("LC_ALL", "C")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn();
        Asked(child.ok())
    }

    /// Its standard output, if it succeeded.
    fn stdout(self) -> Option<Vec<u8>> {
        let out = self.0?.wait_with_output().ok()?;
        out.status.success().then_some(out.stdout)
    }
}

/// Preprocesses `__DATE__ __TIME__` with SOURCE_DATE_EPOCH=0: does the
/// compiler honour it?
struct DateProbe(Option<std::process::Child>);

impl DateProbe {
    fn spawn(req: &Req, path: &Path) -> DateProbe {
        use std::io::Write;
        use std::process::Stdio;
        let child = req
            .command(path)
            .args(["-E", "-P", "-x", "c", "-"])
            .env("SOURCE_DATE_EPOCH", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = child else {
            return DateProbe(None);
        };
        // Dropping stdin closes it: the preprocessor sees the end of input.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"__DATE__ __TIME__\n");
        }
        DateProbe(Some(child))
    }

    fn finish(self) -> bool {
        self.0
            .and_then(|c| c.wait_with_output().ok())
            .is_some_and(|o| {
                memchr::memmem::find(&o.stdout, b"\"Jan  1 1970\" \"00:00:00\"").is_some()
            })
    }
}

fn run_stdout(req: &Req, path: &Path, args: &[&str]) -> Option<Vec<u8>> {
    Asked::spawn(req, path, args).stdout()
}

//! Who a GNU-style C/C++ driver is.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ccd_cc::Family;
use ccd_filestate::{Digest, Stamp, stat};

use super::super::ask::{Asked, IdentifyError, hash_file};
use super::super::request::Req;
use crate::compiler::{Compiler, CompilerKind, Stamps};

/// A GNU-style driver's identity: its family (gcc or clang, by its
/// predefined macros) and a digest of the driver binary, the macros it
/// predefines and, for gcc, the `cc1`/`cc1plus` it runs.
pub fn probe(req: &Req) -> Result<(Stamps, Compiler), IdentifyError> {
    let path = req.compiler.as_path();
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
    let macros = macros.ok_or_else(|| IdentifyError::Unrecognised(path.to_path_buf()))?;
    let family = Family::from_predefined_macros(&macros)
        .ok_or_else(|| IdentifyError::Unrecognised(path.to_path_buf()))?;

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
        kind: CompilerKind::Gnu(family),
        digest: Digest(*h.finalize().as_bytes()),
        honors_source_date_epoch,
    };
    Ok((stamps, compiler))
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

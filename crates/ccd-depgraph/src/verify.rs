//! Deciding whether a compile context has a result that is still valid.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ccd_filestate::{Digest, FileState};

use crate::manifest::{Manifest, ManifestEntry, ResultKey};

/// The outcome of checking a context against the current file system
/// (the session log reports the misses by these names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Entry `index` is valid: serve `result`.
    Hit { index: usize, result: ResultKey },
    /// No result was made from the source as it is now.
    SourceChanged,
    /// The source is known, but a header (or a lookup) differs.
    HeadersChanged,
    /// The context has never produced a result.
    Cold,
}

/// What a result must match besides its files.
#[derive(Debug, Clone, Copy)]
pub struct Conditions<'a> {
    /// The value `__DATE__` would have now (see the daemon's date tag).
    pub date: &'a str,
    /// Width of the terminal stderr goes to, if it is one.
    pub stderr_tty: Option<u16>,
    /// The compile's environment, for entries that read variables.
    pub env: Option<&'a std::collections::BTreeMap<Vec<u8>, Vec<u8>>>,
}

/// Finds the first entry of `manifest` whose inputs, lookups and conditions
/// all still hold. `source` is the digest of the source file now.
pub fn verify(
    manifest: &Manifest,
    source: Digest,
    files: &FileState,
    cond: Conditions<'_>,
) -> Verdict {
    if manifest.entries.is_empty() {
        return Verdict::Cold;
    }
    // Entries share most headers: hash each path at most once per request.
    let mut seen: HashMap<&[u8], Option<Digest>> = HashMap::new();
    let mut source_known = false;
    for (index, entry) in manifest.entries.iter().enumerate() {
        if entry.inputs.first().is_some_and(|src| src.digest == source) {
            source_known = true;
        }
        if entry_holds(entry, source, files, cond, &mut seen) {
            return Verdict::Hit {
                index,
                result: entry.result,
            };
        }
    }
    if source_known {
        Verdict::HeadersChanged
    } else {
        Verdict::SourceChanged
    }
}

/// Whether one entry is valid now. `seen` memoises digests across calls.
pub fn entry_holds<'a>(
    entry: &'a ManifestEntry,
    source: Digest,
    files: &FileState,
    cond: Conditions<'_>,
    seen: &mut HashMap<&'a [u8], Option<Digest>>,
) -> bool {
    let Some((src, headers)) = entry.inputs.split_first() else {
        return false;
    };
    if src.digest != source
        || entry.date.as_deref().is_some_and(|d| d != cond.date)
        || !entry.stderr_for.accepts(cond.stderr_tty)
    {
        return false;
    }
    let inputs_hold = headers.iter().all(|input| {
        let now = *seen.entry(&input.path).or_insert_with(|| {
            files
                .digest(Path::new(OsStr::from_bytes(&input.path)))
                .ok()
                .map(|h| h.digest)
        });
        now == Some(input.digest)
    });
    let env_holds = entry.env.iter().all(|(k, v)| {
        let now = cond.env.and_then(|e| e.get(k.as_slice()));
        now.map(Vec::as_slice) == v.as_ref().map(|v| v.as_slice())
    });
    if !env_holds {
        return false;
    }
    let mtimes_hold = entry.mtimes.iter().all(|(p, t)| {
        ccd_filestate::stat(Path::new(OsStr::from_bytes(p))).is_ok_and(|s| s.mtime_ns == *t)
    });
    inputs_hold && mtimes_hold && entry.probes.iter().all(|p| p.holds())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Input, ManifestEntry};
    use crate::probe::ProbeSet;
    use std::os::unix::ffi::OsStrExt;

    const NOW: Conditions<'static> = Conditions {
        date: "d1",
        stderr_tty: None,
        env: None,
    };

    #[test]
    fn verdicts() {
        let t = tempfile::tempdir().unwrap();
        let h = t.path().join("h.h");
        std::fs::write(&h, "v1").unwrap();
        let files = FileState::new();
        let hb = h.as_os_str().as_bytes().to_vec();
        let src = Digest([1; 32]);
        let mut probes = ProbeSet::new();
        probes.observe(t.path().join("earlier/h.h").as_os_str().as_bytes());
        let entry = ManifestEntry {
            inputs: vec![
                Input {
                    path: b"/src.c".to_vec(),
                    digest: src,
                },
                Input {
                    path: hb.clone(),
                    digest: files.digest(&h).unwrap().digest,
                },
            ],
            probes: probes.finish(ccd_filestate::now_ns()),
            date: Some("d1".into()),
            stderr_for: crate::StderrFor::Any,
            mtimes: vec![],
            env: vec![],
            result: Digest([9; 32]),
        };
        let mut m = Manifest::default();
        assert_eq!(verify(&m, src, &files, NOW), Verdict::Cold);
        m.insert(entry);
        assert_eq!(
            verify(&m, src, &files, NOW),
            Verdict::Hit {
                index: 0,
                result: Digest([9; 32])
            }
        );
        assert_eq!(
            verify(&m, Digest([2; 32]), &files, NOW),
            Verdict::SourceChanged
        );
        let tomorrow = Conditions { date: "d2", ..NOW };
        assert_eq!(verify(&m, src, &files, tomorrow), Verdict::HeadersChanged);

        std::fs::write(&h, "v2").unwrap();
        assert_eq!(verify(&m, src, &files, NOW), Verdict::HeadersChanged);
        std::fs::write(&h, "v1").unwrap();
        assert!(matches!(verify(&m, src, &files, NOW), Verdict::Hit { .. }));

        std::fs::create_dir(t.path().join("earlier")).unwrap();
        std::fs::write(t.path().join("earlier/h.h"), "shadow").unwrap();
        assert_eq!(verify(&m, src, &files, NOW), Verdict::HeadersChanged);
    }
}

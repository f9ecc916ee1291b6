use ccd_filestate::Digest;
use serde::{Deserialize, Serialize};

use crate::probe::{DirProbe, Expect};

/// How many results a context keeps; older ones are dropped first.
pub const MAX_ENTRIES: usize = 32;

/// Content address of a stored result.
pub type ResultKey = Digest;

/// One file the compile read, by absolute path, with its digest then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    #[serde(with = "serde_bytes")]
    pub path: Vec<u8>,
    pub digest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The source first, then every header, as the compiler reported them.
    pub inputs: Vec<Input>,
    /// Include lookups that must keep resolving the same way.
    pub probes: Vec<DirProbe>,
    /// For sources using `__DATE__`: the date the result was made on.
    pub date: Option<String>,
    /// Where the result's diagnostics may be replayed.
    pub stderr_for: StderrFor,
    /// Files whose modification times the compiler itself checks (a clang
    /// precompiled header records its headers' mtimes and refuses to load
    /// when they differ): the result is valid only while they are the same.
    pub mtimes: Vec<(serde_bytes::ByteBuf, i64)>,
    /// Environment variables the compile read (rustc's `env!`), with their
    /// values then (`None`: unset).
    pub env: Vec<(serde_bytes::ByteBuf, Option<serde_bytes::ByteBuf>)>,
    pub result: ResultKey,
}

impl ManifestEntry {
    /// The entry with every path passed through `f` (used to store paths
    /// relative to a checkout root and to resolve them again).
    pub fn map_paths(&self, f: &dyn Fn(&[u8]) -> Vec<u8>) -> ManifestEntry {
        ManifestEntry {
            inputs: self
                .inputs
                .iter()
                .map(|i| Input {
                    path: f(&i.path),
                    digest: i.digest,
                })
                .collect(),
            probes: self
                .probes
                .iter()
                .map(|p| crate::DirProbe {
                    dir: f(&p.dir),
                    ..p.clone()
                })
                .collect(),
            mtimes: self
                .mtimes
                .iter()
                .map(|(p, t)| (serde_bytes::ByteBuf::from(f(p)), *t))
                .collect(),
            date: self.date.clone(),
            stderr_for: self.stderr_for,
            env: self.env.clone(),
            result: self.result,
        }
    }
}

/// Compilers colour and wrap diagnostics for terminals, so a result with
/// diagnostics is only replayed to the same kind of stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StderrFor {
    /// Nothing was written to stderr: replay anywhere.
    Any,
    /// Written to a pipe or file.
    Pipe,
    /// Written to a terminal this many columns wide.
    Terminal(u16),
}

impl StderrFor {
    /// What a result with this stderr, made for this terminal (if any),
    /// may be replayed to.
    pub fn for_result(stderr_empty: bool, terminal: Option<u16>) -> StderrFor {
        match (stderr_empty, terminal) {
            (true, _) => StderrFor::Any,
            (false, None) => StderrFor::Pipe,
            (false, Some(c)) => StderrFor::Terminal(c),
        }
    }

    pub fn accepts(self, now: Option<u16>) -> bool {
        match self {
            StderrFor::Any => true,
            StderrFor::Pipe => now.is_none(),
            StderrFor::Terminal(c) => now == Some(c),
        }
    }
}

/// The results of one compile context, most recently used first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

impl Manifest {
    /// Heap bytes it holds, roughly (each allocation counted with 16 bytes
    /// of the allocator's own): what remembering it costs the daemon.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let bytes = |n: usize| n + 16;
        let entry = |e: &ManifestEntry| {
            let inputs: usize = e
                .inputs
                .iter()
                .map(|i| size_of::<Input>() + bytes(i.path.len()))
                .sum();
            let probes: usize = e
                .probes
                .iter()
                .map(|p| {
                    size_of::<DirProbe>()
                        + bytes(p.dir.len())
                        + p.names
                            .iter()
                            .map(|(n, _)| {
                                size_of::<(serde_bytes::ByteBuf, Expect)>() + bytes(n.len())
                            })
                            .sum::<usize>()
                })
                .sum();
            let mtimes: usize = e.mtimes.iter().map(|(p, _)| 32 + bytes(p.len())).sum();
            let env: usize = e
                .env
                .iter()
                .map(|(k, v)| 48 + bytes(k.len()) + v.as_ref().map_or(0, |v| bytes(v.len())))
                .sum();
            size_of::<ManifestEntry>()
                + inputs
                + probes
                + mtimes
                + env
                + e.date.as_ref().map_or(0, |d| bytes(d.len()))
        };
        size_of::<Manifest>() + 32 + self.entries.iter().map(entry).sum::<usize>()
    }

    /// Adds `entry` in front, replacing an entry for the same inputs and
    /// dropping the oldest beyond [`MAX_ENTRIES`].
    pub fn insert(&mut self, entry: ManifestEntry) {
        // Entries differ by any condition, not only by their files (two
        // values of an `env!` variable are two results).
        self.entries.retain(|e| {
            !(e.inputs == entry.inputs
                && e.date == entry.date
                && e.stderr_for == entry.stderr_for
                && e.env == entry.env
                && e.mtimes == entry.mtimes)
        });
        self.entries.insert(0, entry);
        self.entries.truncate(MAX_ENTRIES);
    }

    pub fn map_paths(&self, f: &dyn Fn(&[u8]) -> Vec<u8>) -> Manifest {
        Manifest {
            entries: self.entries.iter().map(|e| e.map_paths(f)).collect(),
        }
    }

    /// Moves entry `i` to the front (it just served a hit).
    pub fn touch(&mut self, i: usize) {
        if i > 0 && i < self.entries.len() {
            let e = self.entries.remove(i);
            self.entries.insert(0, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: u8) -> ManifestEntry {
        ManifestEntry {
            inputs: vec![Input {
                path: b"/a.c".to_vec(),
                digest: Digest([tag; 32]),
            }],
            probes: vec![],
            date: None,
            stderr_for: StderrFor::Any,
            mtimes: vec![],
            env: vec![],
            result: Digest([tag; 32]),
        }
    }

    #[test]
    fn entries_differing_only_in_environment_coexist() {
        let mut m = Manifest::default();
        let mut a = entry(1);
        a.env = vec![(b"V".to_vec().into(), Some(b"1".to_vec().into()))];
        let mut b = a.clone();
        b.env = vec![(b"V".to_vec().into(), Some(b"2".to_vec().into()))];
        m.insert(a);
        m.insert(b);
        assert_eq!(m.entries.len(), 2);
    }

    #[test]
    fn insert_replaces_and_bounds() {
        let mut m = Manifest::default();
        for i in 0..(MAX_ENTRIES as u8 + 5) {
            m.insert(entry(i));
        }
        assert_eq!(m.entries.len(), MAX_ENTRIES);
        assert_eq!(m.entries[0].result, Digest([MAX_ENTRIES as u8 + 4; 32]));
        m.insert(entry(MAX_ENTRIES as u8 + 4));
        assert_eq!(m.entries.len(), MAX_ENTRIES);
        m.touch(3);
        assert_eq!(m.entries[0].result, Digest([MAX_ENTRIES as u8 + 1; 32]));
    }
}

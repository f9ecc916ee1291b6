//! Make-style dependency files: parsing what gcc/clang wrote, and writing
//! them again byte-for-byte with other target names.
//!
//! A cached `.d` must equal what the compiler would write now, and its first
//! line names the object, which can differ between two compiles that share a
//! cache entry. Each family wraps lines its own way; `render` reproduces both.
//! The daemon only re-targets a stored depfile after checking, at store time,
//! that `render` reproduces the compiler's own bytes exactly.

use crate::Family;
use crate::invocation::{DepTarget, Invocation, Mode, basename};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depfile {
    /// Targets of the first rule, as written (escaped).
    pub targets: Vec<Vec<u8>>,
    /// Prerequisites of the first rule, unescaped: real paths.
    pub deps: Vec<Vec<u8>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DepfileError {
    #[error("dependency file has no rule")]
    NoRule,
}

/// Parses the first rule of a dependency file.
pub fn parse(bytes: &[u8]) -> Result<Depfile, DepfileError> {
    let mut targets = Vec::new();
    let mut deps = Vec::new();
    let mut in_deps = false;
    let mut tok: Vec<u8> = Vec::new();
    let mut raw: Vec<u8> = Vec::new();
    let mut i = 0;
    let flush = |tok: &mut Vec<u8>,
                 raw: &mut Vec<u8>,
                 in_deps: bool,
                 t: &mut Vec<Vec<u8>>,
                 d: &mut Vec<Vec<u8>>| {
        if !raw.is_empty() {
            if in_deps {
                d.push(std::mem::take(tok));
            } else {
                t.push(std::mem::take(raw));
            }
        }
        tok.clear();
        raw.clear();
    };
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\\' => {
                let run = bytes[i..].iter().take_while(|b| **b == b'\\').count();
                let after = bytes.get(i + run).copied();
                match after {
                    Some(b'\n') | Some(b'\r')
                        if after == Some(b'\n') || bytes.get(i + run + 1) == Some(&b'\n') =>
                    {
                        // Line continuation (a CRLF one too; a lone CR is a
                        // blank, and the byte after it part of the next name).
                        tok.extend(std::iter::repeat_n(b'\\', run - 1));
                        raw.extend(std::iter::repeat_n(b'\\', run - 1));
                        flush(&mut tok, &mut raw, in_deps, &mut targets, &mut deps);
                        i += run + if after == Some(b'\r') { 2 } else { 1 };
                    }
                    Some(c @ (b' ' | b'\t')) => {
                        // make: 2N+1 backslashes and a blank are N backslashes
                        // and a blank inside the name; 2N end the name.
                        tok.extend(std::iter::repeat_n(b'\\', run / 2));
                        raw.extend(std::iter::repeat_n(b'\\', run));
                        i += run;
                        if run % 2 == 1 {
                            tok.push(c);
                            raw.push(c);
                            i += 1;
                        }
                    }
                    Some(b'#') => {
                        tok.extend(std::iter::repeat_n(b'\\', run - 1));
                        tok.push(b'#');
                        raw.extend(std::iter::repeat_n(b'\\', run));
                        raw.push(b'#');
                        i += run + 1;
                    }
                    _ => {
                        tok.extend(std::iter::repeat_n(b'\\', run));
                        raw.extend(std::iter::repeat_n(b'\\', run));
                        i += run;
                    }
                }
                continue;
            }
            b'$' if bytes.get(i + 1) == Some(&b'$') => {
                tok.push(b'$');
                raw.extend_from_slice(b"$$");
                i += 2;
                continue;
            }
            b' ' | b'\t' | b'\r' => flush(&mut tok, &mut raw, in_deps, &mut targets, &mut deps),
            b'\n' => {
                flush(&mut tok, &mut raw, in_deps, &mut targets, &mut deps);
                if in_deps {
                    break;
                }
            }
            b':' if !in_deps
                && matches!(bytes.get(i + 1), None | Some(b' ' | b'\t' | b'\n' | b'\r')) =>
            {
                flush(&mut tok, &mut raw, in_deps, &mut targets, &mut deps);
                in_deps = true;
            }
            _ => {
                tok.push(c);
                raw.push(c);
            }
        }
        i += 1;
    }
    flush(&mut tok, &mut raw, in_deps, &mut targets, &mut deps);
    if !in_deps {
        return Err(DepfileError::NoRule);
    }
    Ok(Depfile { targets, deps })
}

/// Quotes a name for make the way `-MQ` does: `$` → `$$`, `#` → `\#`, and
/// a space or tab gets a backslash (doubling the backslashes before it).
pub fn quote(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 4);
    let mut slashes = 0usize;
    for &c in name {
        match c {
            b'\\' => slashes += 1,
            b'$' => {
                out.push(b'$');
                slashes = 0;
            }
            b' ' | b'\t' => {
                out.extend(std::iter::repeat_n(b'\\', slashes + 1));
                slashes = 0;
            }
            b'#' => {
                out.push(b'\\');
                slashes = 0;
            }
            _ => slashes = 0,
        }
        out.push(c);
    }
    out
}

/// The target names (as written in the file) the compiler gives the rule.
pub fn targets_for(family: Family, inv: &Invocation) -> Vec<Vec<u8>> {
    let explicit = &inv.deps.targets;
    if explicit.is_empty() {
        let default = match (&inv.output, inv.deps.via_wp, family) {
            // gcc's preprocessor, reached through -Wp, does not see -o.
            (Some(o), false, _) | (Some(o), true, Family::Clang) => o.clone(),
            _ => {
                let ext: &[u8] = match inv.mode {
                    Mode::Object => b".o",
                    Mode::Assembly => b".s",
                    Mode::Pch => b".h.gch",
                };
                let name = basename(&inv.source);
                let stem = match name.iter().rposition(|b| *b == b'.') {
                    Some(i) if i > 0 => &name[..i],
                    _ => name,
                };
                [stem, ext].concat()
            }
        };
        return vec![quote(&default)];
    }
    let written = |t: &DepTarget| {
        if t.quoted {
            quote(&t.name)
        } else {
            t.name.clone()
        }
    };
    match family {
        Family::Clang => explicit.iter().map(written).collect(),
        Family::Gcc => {
            // gcc keeps verbatim (-MT) targets ahead of quoted (-MQ) ones by
            // swapping each new verbatim target with the lowest quoted one.
            let mut v: Vec<Vec<u8>> = Vec::new();
            let mut lowest_quoted = 0;
            for t in explicit {
                let mut t_written = written(t);
                if !t.quoted {
                    if lowest_quoted != v.len() {
                        std::mem::swap(&mut v[lowest_quoted], &mut t_written);
                    }
                    lowest_quoted += 1;
                }
                v.push(t_written);
            }
            v
        }
    }
}

/// Writes a dependency file the way `family` does.
pub fn render(family: Family, targets: &[Vec<u8>], deps: &[Vec<u8>], phony: bool) -> Vec<u8> {
    match family {
        Family::Gcc => render_gcc(targets, deps, phony),
        Family::Clang => render_clang(targets, deps, phony),
    }
}

fn render_gcc(targets: &[Vec<u8>], deps: &[Vec<u8>], phony: bool) -> Vec<u8> {
    const COLMAX: usize = 72;
    let mut out = Vec::new();
    let mut col = 0usize;
    let write_name = |out: &mut Vec<u8>, name: &[u8], col: &mut usize| {
        if *col > 0 {
            if *col + name.len() > COLMAX {
                out.extend_from_slice(b" \\\n");
                *col = 0;
            }
            *col += 1;
            out.push(b' ');
        }
        *col += name.len();
        out.extend_from_slice(name);
    };
    for t in targets {
        write_name(&mut out, t, &mut col);
    }
    out.push(b':');
    col += 1;
    for d in deps {
        write_name(&mut out, &quote(d), &mut col);
    }
    out.push(b'\n');
    if phony {
        for d in deps.iter().skip(1) {
            out.extend_from_slice(&quote(d));
            out.extend_from_slice(b":\n");
        }
    }
    out
}

fn render_clang(targets: &[Vec<u8>], deps: &[Vec<u8>], phony: bool) -> Vec<u8> {
    const MAX_COLUMNS: usize = 75;
    let mut out = Vec::new();
    let mut columns = 0usize;
    for t in targets {
        let n = t.len();
        if columns == 0 {
            columns += n;
        } else if columns + n + 2 > MAX_COLUMNS {
            columns = n + 2;
            out.extend_from_slice(b" \\\n  ");
        } else {
            columns += n + 1;
            out.push(b' ');
        }
        out.extend_from_slice(t);
    }
    out.push(b':');
    columns += 1;
    for d in deps {
        // clang measures the unescaped name.
        let n = d.len();
        if columns + (n + 1) + 2 > MAX_COLUMNS {
            out.extend_from_slice(b" \\\n ");
            columns = 2;
        }
        out.push(b' ');
        out.extend_from_slice(&quote(d));
        columns += n + 1;
    }
    out.push(b'\n');
    if phony {
        for d in deps.iter().skip(1) {
            out.push(b'\n');
            out.extend_from_slice(&quote(d));
            out.extend_from_slice(b":\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escapes_and_continuations() {
        let d = parse(b"out\\ dir/a.o tq$$x: a.c /usr/include/stdio.h \\\n inc/my\\ h.h \\\n x\\#y.h c$$d.h\nphony.h:\n").unwrap();
        assert_eq!(
            d.targets,
            vec![b"out\\ dir/a.o".to_vec(), b"tq$$x".to_vec()]
        );
        assert_eq!(
            d.deps,
            vec![
                b"a.c".to_vec(),
                b"/usr/include/stdio.h".to_vec(),
                b"inc/my h.h".to_vec(),
                b"x#y.h".to_vec(),
                b"c$d.h".to_vec()
            ]
        );
        assert_eq!(parse(b"no rule here"), Err(DepfileError::NoRule));
        assert_eq!(parse(b"a.o:\n").unwrap().deps, Vec::<Vec<u8>>::new());
    }

    #[test]
    fn lone_cr_after_backslash_is_not_a_continuation() {
        // A backslash before a CR that ends no line used to be taken for a
        // CRLF continuation, and the byte after the CR was dropped.
        assert_eq!(
            parse(b"t: a\\\rb.h\n").unwrap().deps,
            vec![b"a\\".to_vec(), b"b.h".to_vec()]
        );
        assert_eq!(parse(b"t: a\\\\\r").unwrap().deps, vec![b"a\\\\".to_vec()]);
        assert_eq!(
            parse(b"t: a \\\r\n b.h\r\n").unwrap().deps,
            vec![b"a".to_vec(), b"b.h".to_vec()]
        );
    }

    #[test]
    fn quote_matches_make_rules() {
        assert_eq!(quote(b"a b"), b"a\\ b");
        assert_eq!(quote(b"a\\ b"), b"a\\\\\\ b");
        assert_eq!(quote(b"$x#"), b"$$x\\#");
        for name in [&b"a\\ b"[..], b"tab\there", b"x\\\\y", b"#\\#", b"q$ $"] {
            let d = parse(&[b"t: ", &quote(name)[..], b"\n"].concat()).unwrap();
            assert_eq!(
                d.deps,
                vec![name.to_vec()],
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn render_roundtrips_long_lists() {
        let deps: Vec<Vec<u8>> = (0..40)
            .map(|i| {
                format!("/usr/include/some/dir{i}/header_{}.h", "x".repeat(i % 7)).into_bytes()
            })
            .collect();
        for fam in [Family::Gcc, Family::Clang] {
            for phony in [false, true] {
                let text = render(fam, &[b"obj/a.o".to_vec()], &deps, phony);
                let back = parse(&text).unwrap();
                assert_eq!(back.deps, deps);
                assert_eq!(back.targets, vec![b"obj/a.o".to_vec()]);
                assert!(text.split(|b| *b == b'\n').all(|l| l.len() <= 80));
            }
        }
    }

    #[test]
    fn gcc_orders_verbatim_targets_first() {
        let mut inv =
            crate::args::parse(&["-c", "a.c", "-MD", "-MQ", "q1", "-MQ", "q2", "-MT", "t"]);
        let crate::Parsed::Cacheable(i) = &mut inv else {
            panic!()
        };
        assert_eq!(
            targets_for(Family::Gcc, i),
            vec![b"t".to_vec(), b"q2".to_vec(), b"q1".to_vec()]
        );
        assert_eq!(
            targets_for(Family::Clang, i),
            vec![b"q1".to_vec(), b"q2".to_vec(), b"t".to_vec()]
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// A path name make syntax can carry: any bytes but NUL, CR and LF, with
    /// the ones make treats specially (blanks, `#`, `$`, `:`, backslashes)
    /// frequent. Not empty, and not ending in a backslash: gcc and clang
    /// quote like [`quote`] and cannot express that either (a trailing
    /// backslash before the next blank reads as an escaped blank), and
    /// `render` must reproduce them byte for byte.
    fn name() -> impl Strategy<Value = Vec<u8>> {
        const SPECIAL: &[u8] = b" \t#$\\:%*?=";
        const PLAIN: &[u8] = b"abcxyz019./-_";
        let byte = |(class, b): (u8, u8)| match class % 7 {
            0..=2 => SPECIAL[b as usize % SPECIAL.len()],
            3..=5 => PLAIN[b as usize % PLAIN.len()],
            _ if matches!(b, 0 | b'\n' | b'\r') => b'~',
            _ => b,
        };
        prop::collection::vec(any::<(u8, u8)>(), 1..32).prop_map(move |v| {
            let mut n: Vec<u8> = v.into_iter().map(byte).collect();
            if n.ends_with(b"\\") {
                n.push(b'h');
            }
            n
        })
    }

    fn family() -> impl Strategy<Value = Family> {
        prop_oneof![Just(Family::Gcc), Just(Family::Clang)]
    }

    proptest! {
        #[test]
        fn render_then_parse_round_trips(
            deps in prop::collection::vec(name(), 0..24),
            target in name(),
            family in family(),
            phony in any::<bool>(),
        ) {
            let targets = vec![quote(&target)];
            let text = render(family, &targets, &deps, phony);
            let back = parse(&text).unwrap();
            prop_assert_eq!(back.deps, deps);
            prop_assert_eq!(back.targets, targets);
        }

        #[test]
        fn render_then_parse_round_trips_with_several_targets(
            deps in prop::collection::vec(name(), 0..10),
            n in 0..4usize,
            family in family(),
            phony in any::<bool>(),
        ) {
            let targets: Vec<Vec<u8>> =
                (0..n).map(|i| quote(format!("obj dir/o{i}$.o").as_bytes())).collect();
            let text = render(family, &targets, &deps, phony);
            let back = parse(&text).unwrap();
            prop_assert_eq!(back.deps, deps);
            prop_assert_eq!(back.targets, targets);
        }

        #[test]
        fn quote_then_parse_gives_the_name_back(name in name()) {
            let q = quote(&name);
            let as_dep = parse(&[b"t: ", &q[..], b"\n"].concat()).unwrap();
            prop_assert_eq!(as_dep.deps, vec![name.clone()]);
            let as_target = parse(&[&q[..], b": x.h\n"].concat()).unwrap();
            prop_assert_eq!(as_target.targets, vec![q]);
            prop_assert_eq!(as_target.deps, vec![b"x.h".to_vec()]);
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(d) = parse(&bytes) {
                prop_assert!(d.deps.iter().all(|d| !d.is_empty()));
            }
        }
    }
}

//! Dependency files written by compilers.
//!
//! 1. `parse` never panics, and what it returns is sane (no empty
//!    prerequisite, none with a line break).
//! 2. Round trip: the parsed prerequisites, rendered by either family (with
//!    and without `-MP` phony rules, under several target lists), parse back
//!    to the same list, and the targets come back as written.
//! 3. The same for names the fuzzer makes up directly (the input cut at line
//!    breaks and NULs), which reach bytes `parse` would never return.
//!
//! Only names make syntax can express take part in the round trips: not
//! empty, no line break (CR or LF), and no trailing backslash. gcc and
//! clang quote exactly like `quote` and cannot express those either (a
//! trailing backslash followed by the next blank reads as an escaped blank),
//! and `render` must reproduce the compilers byte for byte, so it does not
//! try to do better.
#![no_main]

use ccd_cc::Family;
use ccd_cc::depfile::{parse, quote, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = parse(data) {
        for dep in &d.deps {
            assert!(!dep.is_empty());
            assert!(!dep.contains(&b'\n') && !dep.contains(&b'\r'));
        }
        // The file's own targets: rendering must not panic.
        for family in [Family::Gcc, Family::Clang] {
            for phony in [false, true] {
                let _ = render(family, &d.targets, &d.deps, phony);
            }
        }
        let deps: Vec<Vec<u8>> = d.deps.into_iter().filter(|n| expressible(n)).collect();
        round_trip(&deps);
    }

    let names: Vec<Vec<u8>> = data
        .split(|b| matches!(b, b'\n' | b'\0'))
        .filter(|n| expressible(n))
        .map(<[u8]>::to_vec)
        .collect();
    round_trip(&names);
    for name in &names {
        let back = parse(&[b"t: ", &quote(name)[..], b"\n"].concat()).unwrap();
        assert_eq!(back.deps, vec![name.clone()]);
    }
});

fn expressible(name: &[u8]) -> bool {
    !name.is_empty() && !name.ends_with(b"\\") && !name.iter().any(|b| matches!(b, b'\n' | b'\r'))
}

fn round_trip(deps: &[Vec<u8>]) {
    let mut target_lists = vec![
        vec![b"obj/a.o".to_vec()],
        vec![quote(b"out dir/$x#.o"), b"other.o".to_vec()],
        vec![],
    ];
    // A single target made from a prerequisite, quoted like `-MQ` does.
    if let Some(first) = deps.first() {
        target_lists.push(vec![quote(first)]);
    }
    for targets in &target_lists {
        for family in [Family::Gcc, Family::Clang] {
            for phony in [false, true] {
                let text = render(family, targets, deps, phony);
                let back = parse(&text)
                    .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&text)));
                assert_eq!(
                    back.deps,
                    deps,
                    "{family:?} phony={phony}: {:?}",
                    String::from_utf8_lossy(&text)
                );
                assert_eq!(
                    &back.targets,
                    targets,
                    "{family:?} phony={phony}: {:?}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }
}

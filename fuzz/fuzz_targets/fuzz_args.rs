//! Compiler command lines: the input split on NUL is argv (after the
//! compiler name). Classifying must never panic; for a cacheable invocation
//! the derived paths and the dependency-only pass must not panic either, and
//! the pass must be a dependency-only run (`-M`) of the same compile: the
//! same source, language and include search path.
#![no_main]

use ccd_cc::depfile::targets_for;
use ccd_cc::{Family, NonCacheable, Parsed, dependency_pass_args, parse, parse_for};
use libfuzzer_sys::fuzz_target;

const PASS_DEPFILE: &[u8] = b"/tmp/ccd-pass.d";

fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    for cxx in [false, true] {
        let parsed = if cxx {
            parse_for(&args, true)
        } else {
            parse(&args)
        };
        let Parsed::Cacheable(inv) = parsed else {
            continue;
        };
        // The source is one of the arguments, verbatim.
        assert!(args.contains(&&inv.source[..]));
        let _ = inv.output_path();
        let _ = inv.user_depfile_path();
        let _ = inv.side_output_paths();
        let _ = inv.output_path_is_recorded();
        for family in [Family::Gcc, Family::Clang] {
            assert!(!targets_for(family, &inv).is_empty());
        }

        let pass = dependency_pass_args(&args, PASS_DEPFILE);
        let n = pass.len();
        assert!(n >= 3);
        assert_eq!(
            pass[n - 3..],
            [b"-M".to_vec(), b"-MF".to_vec(), PASS_DEPFILE.to_vec()]
        );
        assert_eq!(
            parse_for(&pass, cxx),
            Parsed::NonCacheable(NonCacheable::DepsOnly),
            "the dependency pass of {args:?} is not a -M run: {pass:?}"
        );
        // The pass with `-c` in place of `-M -MF FILE` compiles the same
        // source, in the same language, with the same search path.
        let mut compile = pass[..n - 3].to_vec();
        compile.push(b"-c".to_vec());
        match parse_for(&compile, cxx) {
            Parsed::Cacheable(again) => {
                assert_eq!(again.source, inv.source, "{args:?} -> {pass:?}");
                assert_eq!(again.language, inv.language, "{args:?} -> {pass:?}");
                assert_eq!(again.search, inv.search, "{args:?} -> {pass:?}");
            }
            other => panic!("{args:?}: the pass args {compile:?} parse as {other:?}"),
        }
    }
});

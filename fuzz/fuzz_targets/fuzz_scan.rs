//! The include scanner over arbitrary source bytes: never panics, reports
//! only well-formed lookups, and never misses an `#include` line, whatever
//! came before it (unterminated comments and strings, stray splices,
//! digraphs and trigraphs, invalid UTF-8).
#![no_main]

use ccd_cc::scan::{Lookup, scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let r = scan(data);
    for l in &r.lookups {
        assert!(!l.name.is_empty());
        assert!(!l.name.contains(&b'\n'));
    }

    // Over-approximation: an include appended on a line of its own is found,
    // and nothing found before is lost.
    for (line, quoted) in [
        (&b"#include \"fuzz_probe.h\""[..], true),
        (b"  #  include_next <fuzz/probe.h>", false),
    ] {
        let mut text = data.to_vec();
        text.push(b'\n');
        text.extend_from_slice(line);
        text.push(b'\n');
        let more = scan(&text);
        let name: &[u8] = if quoted {
            b"fuzz_probe.h"
        } else {
            b"fuzz/probe.h"
        };
        let probe = Lookup {
            quoted,
            next: !quoted,
            name: name.to_vec(),
        };
        assert!(more.lookups.contains(&probe), "missed {probe:?}");
        for l in &r.lookups {
            assert!(more.lookups.contains(l), "lost {l:?}");
        }
        assert!(!r.uses_time || more.uses_time);
        assert!(!r.uses_date || more.uses_date);
        assert!(!r.uses_timestamp || more.uses_timestamp);
        assert!(!r.embeds_files || more.embeds_files);
    }
});

//! Checksummed on-disk records.
//!
//! 1. Arbitrary bytes never make `decode_record` panic.
//! 2. The input as a record body behind a correct header and checksum (so
//!    the postcard and zstd decoders see it) never panics either, and what
//!    decodes survives an encode/decode round trip.
//! 3. A valid record (a result built from the input, or whatever step 2
//!    decoded) decodes to its value, is refused as another kind, and any
//!    mutation of it (byte flips, insertions, deletions, truncation,
//!    extension, overwrites) is rejected.
#![no_main]

use std::fmt::Debug;

use ccd_depgraph::Manifest;
use ccd_filestate::Digest;
use ccd_store::{
    OutputRole, StoredDepfile, StoredOutput, StoredResult, decode_record, encode_record,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

const KIND_RESULT: u8 = 1;
const KIND_MANIFEST: u8 = 2;

fuzz_target!(|data: &[u8]| {
    // 1. Raw bytes, as read from a damaged or foreign file.
    for kind in [KIND_RESULT, KIND_MANIFEST, 0, 255] {
        let _ = decode_record::<StoredResult>(kind, data);
        let _ = decode_record::<Manifest>(kind, data);
    }

    let mut u = Unstructured::new(data);
    // 2. Behind a valid header and checksum.
    if let Some((&flags, body)) = data.split_first() {
        let version = encode_record(0, &()).unwrap().0[4];
        for kind in [KIND_RESULT, KIND_MANIFEST] {
            let mut rec = b"CCDR".to_vec();
            rec.extend_from_slice(&[version, kind, flags & 3]);
            rec.extend_from_slice(body);
            let sum = blake3::hash(&rec);
            rec.extend_from_slice(sum.as_bytes());
            if let Ok(r) = decode_record::<StoredResult>(kind, &rec) {
                valid_record(kind, &r, &mut u);
            }
            if let Ok(m) = decode_record::<Manifest>(kind, &rec) {
                valid_record(kind, &m, &mut u);
            }
        }
    }

    // 3. A result made from the input.
    if let Ok(r) = stored_result(&mut u) {
        valid_record(KIND_RESULT, &r, &mut u);
    }
});

fn valid_record<T>(kind: u8, value: &T, u: &mut Unstructured)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let (rec, raw_len) = encode_record(kind, value).unwrap();
    assert!(raw_len > 0);
    assert_eq!(decode_record::<T>(kind, &rec).unwrap(), *value);
    assert!(decode_record::<T>(kind ^ 0x80, &rec).is_err());

    let mut bad = rec.clone();
    let n = u.int_in_range(1..=4u8).unwrap_or(1);
    for _ in 0..n {
        mutate(&mut bad, u);
    }
    if bad != rec {
        assert!(
            decode_record::<T>(kind, &bad).is_err(),
            "mutated record accepted ({} -> {} bytes)",
            rec.len(),
            bad.len()
        );
    }
}

fn mutate(rec: &mut Vec<u8>, u: &mut Unstructured) {
    let len = rec.len();
    let at = |u: &mut Unstructured, n: usize| u.choose_index(n.max(1)).unwrap_or(0).min(n);
    match u.int_in_range(0..=5u8).unwrap_or(0) {
        0 => {
            let i = at(u, len);
            if i < len {
                rec[i] ^= u.int_in_range(1..=255u8).unwrap_or(1);
            }
        }
        1 => {
            let i = at(u, len + 1);
            rec.insert(i, u.arbitrary().unwrap_or(0));
        }
        2 => {
            let i = at(u, len);
            let end = (i + 1 + at(u, 64)).min(len);
            rec.drain(i..end);
        }
        3 => {
            let keep = at(u, len);
            rec.truncate(keep);
        }
        4 => {
            let n = u.choose_index(64).unwrap_or(0) + 1;
            let extra: &[u8] = u.bytes(n).unwrap_or(&[0]);
            rec.extend_from_slice(extra);
        }
        _ => {
            let i = at(u, len);
            let with: &[u8] = u.bytes(8).unwrap_or(&[0xff; 8]);
            for (j, b) in with.iter().enumerate() {
                if let Some(x) = rec.get_mut(i + j) {
                    *x = *b;
                }
            }
        }
    }
}

fn bytes(u: &mut Unstructured) -> Result<Vec<u8>> {
    // Sometimes long and repetitive, so the body gets zstd-compressed.
    let chunk: Vec<u8> = u.arbitrary()?;
    let times = if u.ratio(1, 4)? {
        u.int_in_range(1..=200usize)?
    } else {
        1
    };
    Ok(chunk.repeat(times))
}

fn digest(u: &mut Unstructured) -> Result<Digest> {
    Ok(Digest(u.arbitrary()?))
}

fn stored_result(u: &mut Unstructured) -> Result<StoredResult> {
    let n = u.int_in_range(0..=4usize)?;
    let mut outputs = Vec::with_capacity(n);
    for _ in 0..n {
        outputs.push(StoredOutput {
            role: *u.choose(&OutputRole::ALL)?,
            blob: digest(u)?,
            size: u.arbitrary()?,
            executable: u.arbitrary()?,
        });
    }
    let depfile = match u.int_in_range(0..=2u8)? {
        0 => None,
        1 => {
            let n = u.int_in_range(0..=40usize)?;
            let mut deps = Vec::with_capacity(n);
            for _ in 0..n {
                deps.push(serde_bytes::ByteBuf::from(bytes(u)?));
            }
            Some(StoredDepfile::Rendered { deps })
        }
        _ => Some(StoredDepfile::Verbatim {
            bytes: bytes(u)?,
            targets_key: digest(u)?,
        }),
    };
    Ok(StoredResult {
        outputs,
        depfile,
        stdout: bytes(u)?,
        stderr: bytes(u)?,
        compile_ms: u.arbitrary()?,
        exit_code: u.arbitrary()?,
    })
}

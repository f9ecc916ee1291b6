//! Checksummed records: `CCDR`, a version byte, a kind byte, a flags byte,
//! the body (postcard, zstd-compressed when that makes it smaller), then the
//! BLAKE3 of everything before it.
//!
//! Records (result metadata and manifests) are read on the slow path only,
//! and manifests, long lists of paths, shrink several times under zstd, so
//! they are compressed. Stored output files are not: hits deliver them by
//! reflink or an in-kernel copy, which a compressed file would turn into a
//! read, a decompression and a write.

use serde::Serialize;
use serde::de::DeserializeOwned;

const MAGIC: &[u8; 4] = b"CCDR";
const VERSION: u8 = 3;
const HEADER: usize = 7;
const FLAG_ZSTD: u8 = 1;
const ZSTD_LEVEL: i32 = 3;
/// Bodies smaller than this are not worth a compression attempt.
const COMPRESS_MIN: usize = 256;
/// A decompressed body may not exceed this (a damaged frame must not make
/// the daemon allocate without bound).
const MAX_BODY: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record is truncated or not a ccd record")]
    Malformed,
    #[error("record checksum mismatch")]
    Checksum,
    #[error("record of another kind or version")]
    Kind,
    #[error("record body does not decompress")]
    Decompress,
    #[error("record body does not decode: {0}")]
    Decode(#[from] postcard::Error),
}

/// Encodes `value`; returns the record and the body's size before
/// compression (for the compression statistics).
pub fn encode_record<T: Serialize>(
    kind: u8,
    value: &T,
) -> Result<(Vec<u8>, usize), postcard::Error> {
    let body = postcard::to_allocvec(value)?;
    let raw_len = body.len();
    let compressed = (raw_len >= COMPRESS_MIN)
        .then(|| compress(&body))
        .flatten()
        .filter(|c| c.len() < raw_len);
    let (flags, body) = match compressed {
        Some(c) => (FLAG_ZSTD, c),
        None => (0, body),
    };
    let mut buf = Vec::with_capacity(HEADER + body.len() + 32);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&[VERSION, kind, flags]);
    buf.extend_from_slice(&body);
    let sum = blake3::hash(&buf);
    buf.extend_from_slice(sum.as_bytes());
    Ok((buf, raw_len))
}

/// zstd with a context kept per thread: a fresh one allocates and clears
/// about a megabyte, more than compressing a record costs.
fn compress(body: &[u8]) -> Option<Vec<u8>> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        if c.is_none() {
            *c = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
        }
        c.as_mut()?.compress(body).ok()
    })
}

pub fn decode_record<T: DeserializeOwned>(kind: u8, bytes: &[u8]) -> Result<T, RecordError> {
    if bytes.len() < HEADER + 32 || &bytes[..4] != MAGIC {
        return Err(RecordError::Malformed);
    }
    let (record, sum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(record).as_bytes() != sum {
        return Err(RecordError::Checksum);
    }
    if record[4] != VERSION || record[5] != kind {
        return Err(RecordError::Kind);
    }
    let body = &record[HEADER..];
    match record[6] {
        0 => Ok(postcard::from_bytes(body)?),
        FLAG_ZSTD => {
            let raw =
                zstd::bulk::decompress(body, MAX_BODY).map_err(|_| RecordError::Decompress)?;
            Ok(postcard::from_bytes(&raw)?)
        }
        _ => Err(RecordError::Kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_damage() {
        for text in [
            "hello".to_string(),
            "/usr/include/some/header.h ".repeat(100),
        ] {
            let (rec, raw) = encode_record(3, &(text.clone(), 42u32)).unwrap();
            assert!(raw > text.len());
            let ok: (String, u32) = decode_record(3, &rec).unwrap();
            assert_eq!(ok, (text.clone(), 42));
            assert!(matches!(
                decode_record::<(String, u32)>(4, &rec),
                Err(RecordError::Kind)
            ));
            for i in 0..rec.len() {
                let mut bad = rec.clone();
                bad[i] ^= 0x40;
                assert!(
                    decode_record::<(String, u32)>(3, &bad).is_err(),
                    "flip at {i}"
                );
            }
            for n in 0..rec.len() {
                assert!(
                    decode_record::<(String, u32)>(3, &rec[..n]).is_err(),
                    "cut at {n}"
                );
            }
        }
    }

    #[test]
    fn repetitive_bodies_are_compressed() {
        let paths: Vec<String> = (0..200)
            .map(|i| format!("/usr/include/x86_64-linux-gnu/bits/h{i}.h"))
            .collect();
        let (rec, raw) = encode_record(1, &paths).unwrap();
        assert!(rec.len() * 3 < raw, "{} vs {raw}", rec.len());
    }
}

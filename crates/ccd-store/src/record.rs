//! Checksummed records: `CCDR`, a kind byte, the postcard body, then the
//! BLAKE3 of everything before it.

use serde::Serialize;
use serde::de::DeserializeOwned;

const MAGIC: &[u8; 4] = b"CCDR";
const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record is truncated or not a ccd record")]
    Malformed,
    #[error("record checksum mismatch")]
    Checksum,
    #[error("record of another kind or version")]
    Kind,
    #[error("record body does not decode: {0}")]
    Decode(#[from] postcard::Error),
}

pub fn encode_record<T: Serialize>(kind: u8, value: &T) -> Result<Vec<u8>, postcard::Error> {
    let mut buf = postcard::to_extend(value, [&MAGIC[..], &[VERSION, kind]].concat())?;
    let sum = blake3::hash(&buf);
    buf.extend_from_slice(sum.as_bytes());
    Ok(buf)
}

pub fn decode_record<T: DeserializeOwned>(kind: u8, bytes: &[u8]) -> Result<T, RecordError> {
    if bytes.len() < 6 + 32 || &bytes[..4] != MAGIC {
        return Err(RecordError::Malformed);
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if blake3::hash(body).as_bytes() != sum {
        return Err(RecordError::Checksum);
    }
    if body[4] != VERSION || body[5] != kind {
        return Err(RecordError::Kind);
    }
    Ok(postcard::from_bytes(&body[6..])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_damage() {
        let rec = encode_record(3, &("hello".to_string(), 42u32)).unwrap();
        let ok: (String, u32) = decode_record(3, &rec).unwrap();
        assert_eq!(ok, ("hello".into(), 42));
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

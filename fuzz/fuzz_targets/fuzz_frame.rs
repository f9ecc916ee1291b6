//! Wire frames from untrusted clients: any byte stream must be read and
//! decoded without a panic, no frame body may exceed `MAX_FRAME_LEN`, and a
//! message that decodes re-encodes canonically (never larger than what was
//! read, and stable under a second round trip).
#![no_main]

use ccd_protocol::{
    FrameError, MAX_FRAME_LEN, Request, Response, decode, read_frame, read_frame_bytes, write_frame,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fuzz_target!(|data: &[u8]| {
    // The daemon's connection loop: frames one after another.
    let mut rest = data;
    loop {
        let before = rest;
        match read_frame_bytes(&mut rest) {
            Ok(body) => {
                let prefix = u32::from_le_bytes(before[..4].try_into().unwrap());
                assert!(prefix <= MAX_FRAME_LEN);
                assert_eq!(body.len(), prefix as usize);
                assert_eq!(body[..], before[4..4 + body.len()]);
                assert_eq!(rest.len(), before.len() - 4 - body.len());
                check::<Request>(&body);
                check::<Response>(&body);
            }
            Err(FrameError::TooLarge(n)) => {
                assert!(n > MAX_FRAME_LEN as u64);
                break;
            }
            Err(FrameError::Closed) => {
                assert!(before.len() < 4);
                break;
            }
            Err(_) => break,
        }
    }
    // Typed reads of the whole input, as client and daemon do them.
    let _ = read_frame::<_, Request>(&mut &data[..]);
    let _ = read_frame::<_, Response>(&mut &data[..]);
    // The input as a bare body.
    check::<Request>(data);
    check::<Response>(data);
});

/// If `body` decodes as `T`, its canonical encoding is no longer than
/// `body` and survives another round trip unchanged.
fn check<T: Serialize + DeserializeOwned>(body: &[u8]) {
    let Ok(msg) = decode::<T>(body) else {
        return;
    };
    let mut first = Vec::new();
    write_frame(&mut first, &msg).expect("a decoded message re-encodes");
    assert!(
        first.len() - 4 <= body.len(),
        "re-encoding grew the message"
    );
    let again: T = read_frame(&mut &first[..]).expect("a re-encoded message decodes");
    let mut second = Vec::new();
    write_frame(&mut second, &again).unwrap();
    assert_eq!(first, second, "round trip is not stable");
}

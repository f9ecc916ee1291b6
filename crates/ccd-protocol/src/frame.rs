//! Length-prefixed postcard frames over a byte stream.

use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Upper bound for one frame. Requests carry argv and a few environment
/// variables; responses carry stdout/stderr. Anything larger is refused so a
/// malformed or hostile length prefix can never make the daemon allocate
/// gigabytes.
pub const MAX_FRAME_LEN: u32 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_LEN} byte limit")]
    TooLarge(u64),
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("malformed message: {0}")]
    Decode(#[from] postcard::Error),
}

/// Serialises `msg` and writes it as one frame (4-byte little-endian length,
/// then the postcard body) with a single `write_all`.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    // Reserve the length prefix, then let postcard append the body.
    let mut buf = postcard::to_extend(msg, vec![0u8; 4])?;
    let body_len = buf.len() - 4;
    if body_len as u64 > MAX_FRAME_LEN as u64 {
        return Err(FrameError::TooLarge(body_len as u64));
    }
    buf[..4].copy_from_slice(&(body_len as u32).to_le_bytes());
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame and decodes it. A clean end of stream before the length
/// prefix is `FrameError::Closed`.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<T, FrameError> {
    decode(&read_frame_bytes(r)?)
}

/// Decodes a frame body read by [`read_frame_bytes`].
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    Ok(postcard::from_bytes(body)?)
}

/// Reads one frame's body without decoding it (the daemon keys its
/// request-level cache on these exact bytes).
pub fn read_frame_bytes<R: Read>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len as u64));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Request, Response};

    #[test]
    fn roundtrip_and_limits() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::Status).unwrap();
        write_frame(&mut buf, &Response::Ok).unwrap();
        let mut r = &buf[..];
        assert!(matches!(
            read_frame::<_, Request>(&mut r).unwrap(),
            Request::Status
        ));
        assert!(matches!(
            read_frame::<_, Response>(&mut r).unwrap(),
            Response::Ok
        ));
        assert!(matches!(
            read_frame::<_, Request>(&mut r),
            Err(FrameError::Closed)
        ));

        let huge = (MAX_FRAME_LEN + 1).to_le_bytes();
        assert!(matches!(
            read_frame::<_, Request>(&mut &huge[..]),
            Err(FrameError::TooLarge(_))
        ));
        let garbage = [3u8, 0, 0, 0, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame::<_, Request>(&mut &garbage[..]),
            Err(FrameError::Decode(_))
        ));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::message::{ByteBuf, CompileOutput, CompileRequest, Request, TtyInfo};
    use proptest::prelude::*;

    fn bytes(max: usize) -> impl Strategy<Value = ByteBuf> {
        prop::collection::vec(any::<u8>(), 0..max).prop_map(ByteBuf::from)
    }

    fn compile_request() -> impl Strategy<Value = CompileRequest> {
        (
            any::<u32>(),
            bytes(64),
            bytes(64),
            prop::collection::vec(bytes(24), 0..24),
            prop::collection::vec((bytes(16), bytes(32)), 0..8),
            prop::option::of(any::<u16>().prop_map(|columns| TtyInfo { columns })),
            any::<u32>(),
        )
            .prop_map(|(protocol, cwd, compiler, args, env, stderr_tty, umask)| {
                CompileRequest {
                    protocol,
                    cwd,
                    compiler,
                    args,
                    env,
                    stderr_tty,
                    umask,
                }
            })
    }

    /// `CompileRequest` has no `PartialEq`; compare it field by field.
    fn same(a: &CompileRequest, b: &CompileRequest) -> bool {
        a.protocol == b.protocol
            && a.cwd == b.cwd
            && a.compiler == b.compiler
            && a.args == b.args
            && a.env == b.env
            && a.stderr_tty == b.stderr_tty
            && a.umask == b.umask
    }

    proptest! {
        #[test]
        fn compile_request_round_trips(req in compile_request(), trailing in bytes(8)) {
            let mut buf = Vec::new();
            write_frame(&mut buf, &Request::Compile(req.clone())).unwrap();
            let len = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
            prop_assert_eq!(len, buf.len() - 4);
            // A second frame follows on the same stream: the first read
            // takes exactly its own bytes.
            write_frame(&mut buf, &Request::Status).unwrap();
            buf.extend_from_slice(&trailing);
            let mut r = &buf[..];
            let back = read_frame::<_, Request>(&mut r).unwrap();
            let Request::Compile(back) = back else {
                return Err(TestCaseError::fail(format!("decoded as {back:?}")));
            };
            prop_assert!(same(&back, &req), "{:?} != {:?}", back, req);
            prop_assert!(matches!(read_frame::<_, Request>(&mut r), Ok(Request::Status)));
            // The body alone decodes the same way.
            let body: Request = decode(&buf[4..4 + len]).unwrap();
            prop_assert!(matches!(body, Request::Compile(b) if same(&b, &req)));
        }

        #[test]
        fn compile_output_round_trips(exit_code in any::<i32>(), stdout in bytes(256), stderr in bytes(256)) {
            let out = CompileOutput { exit_code, stdout, stderr };
            let mut buf = Vec::new();
            write_frame(&mut buf, &Request::CompileFinished(out.clone())).unwrap();
            let back = read_frame::<_, Request>(&mut &buf[..]).unwrap();
            prop_assert!(matches!(back, Request::CompileFinished(b) if b == out));
        }

        #[test]
        fn reading_arbitrary_bytes_never_panics(data in prop::collection::vec(any::<u8>(), 0..64)) {
            match read_frame_bytes(&mut &data[..]) {
                Ok(body) => prop_assert!(body.len() <= MAX_FRAME_LEN as usize && body.len() + 4 <= data.len()),
                Err(FrameError::TooLarge(n)) => prop_assert!(n > MAX_FRAME_LEN as u64),
                Err(_) => {}
            }
            let _ = decode::<Request>(&data);
            let _ = decode::<crate::message::Response>(&data);
        }
    }
}

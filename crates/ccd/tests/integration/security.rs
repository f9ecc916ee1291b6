//! Hostile or broken surroundings:
//!
//! - a cache directory or socket directory owned by another user is not
//!   used (the admin commands say why; compiles run bare), and a daemon
//!   planted there by that user is never talked to;
//! - symlinks planted inside the cache directory never make ccd write
//!   outside it;
//! - malformed frames sent straight to the daemon's socket get an error or
//!   a closed connection, never a crash or a hang.
//!
//! Tests run as root in CI: "another user" is uid 65534 (nobody).

use crate::harness::daemon::{daemon_pids, env_socket, socket_path, stop_daemon, uid};
use crate::harness::project::{Rng, files_under};
use crate::harness::{COMPILERS, Env, stderr};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const NOBODY: u32 = 65534;

const SRC: &str = "#include <stdio.h>\nint f(int x) {\n  int unused = 2;\n  printf(\"%d\\n\", x);\n  return x;\n}\n";

fn chown_nobody(p: &Path) {
    std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
}

fn require_root() {
    assert_eq!(
        uid(),
        0,
        "the security tests need root (to hand directories to another user)"
    );
}

/// Compiles through `cmd` (a prepared `ccd` command) equal the bare
/// compiler's, for both compilers, a warning and a failing compile too.
fn compiles_like_bare(env: &Env, cmd: impl Fn() -> Command) {
    env.write("a.c", SRC);
    env.write("bad.c", "int f(void) { return }\n");
    for cc in COMPILERS {
        for _ in 0..2 {
            env.like_bare(cc, &["-Wall", "-c", "a.c", "-o", "a.o"], &["a.o"])
                .command(cmd())
                .run();
            env.like_bare(cc, &["-c", "bad.c", "-o", "bad.o"], &["bad.o"])
                .command(cmd())
                .run();
        }
    }
}

/// `ccd status` with `cmd` fails, and says why: its message names `dir`
/// and that another user owns it.
fn status_refuses(cmd: Command, dir: &Path, what: &str) {
    let mut cmd = cmd;
    let out = cmd.args(["status", "--json"]).output().unwrap();
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "{what}: ccd status succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lower = err.to_lowercase();
    assert!(
        err.contains(&dir.display().to_string())
            && (lower.contains("another user")
                || lower.contains("owner")
                || lower.contains("owned")),
        "{what}: the error does not say that {} belongs to another user: {err:?}",
        dir.display()
    );
}

/// (a) The cache directory belongs to another user.
#[test]
fn cache_dir_owned_by_another_user() {
    require_root();
    let env = Env::new();
    std::fs::create_dir_all(&env.cache).unwrap();
    std::fs::set_permissions(&env.cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    chown_nobody(&env.cache);

    compiles_like_bare(&env, || env.ccd());
    let status = env.ccd().args(["status", "--json"]).output().unwrap();
    assert!(!status.status.success(), "ccd status succeeded");
    // Nothing of ccd's in there, and it still belongs to its owner.
    assert!(
        files_under(&env.cache).is_empty() && std::fs::read_dir(&env.cache).unwrap().count() == 0,
        "ccd wrote into another user's cache directory: {:?}",
        std::fs::read_dir(&env.cache)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
    let m = std::fs::metadata(&env.cache).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o777), (NOBODY, 0o755));
    assert!(daemon_pids(&env.cache).is_empty());
    status_refuses(env.ccd(), &env.cache, "foreign cache dir");
}

/// A runtime directory whose `ccd/` socket directory belongs to nobody.
fn foreign_socket_dir(env: &Env) -> (PathBuf, PathBuf) {
    // Others (nobody) must reach the directories below the test's root.
    std::fs::set_permissions(env.root.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let runtime = env.root.path().join("runtime");
    let sockets = runtime.join("ccd");
    std::fs::create_dir_all(&sockets).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sockets, std::fs::Permissions::from_mode(0o700)).unwrap();
    chown_nobody(&sockets);
    (runtime, sockets)
}

/// (b) The socket directory belongs to another user.
#[test]
fn socket_dir_owned_by_another_user() {
    require_root();
    let env = Env::new();
    let (runtime, sockets) = foreign_socket_dir(&env);
    let cmd = || {
        let mut c = env.ccd();
        c.env("XDG_RUNTIME_DIR", &runtime);
        c
    };
    compiles_like_bare(&env, cmd);
    let status = cmd().args(["status", "--json"]).output().unwrap();
    assert!(!status.status.success(), "ccd status succeeded");
    assert_eq!(
        std::fs::read_dir(&sockets).unwrap().count(),
        0,
        "ccd created a socket in another user's directory"
    );
    assert!(daemon_pids(&env.cache).is_empty());
    status_refuses(cmd(), &sockets, "foreign socket dir");
}

/// The environment variable that turns the helper test below into a fake
/// daemon listening at the path it names.
const FAKE_DAEMON_VAR: &str = "CCD_TEST_FAKE_DAEMON_SOCKET";

/// Not a test: the fake daemon of `daemon_planted_by_another_user`, run as
/// another user in a child process of this test binary. It answers every
/// request with a "hit" whose output is its own, and notes each connection.
#[test]
#[ignore = "helper process of daemon_planted_by_another_user"]
fn fake_daemon_helper() {
    let Some(sock) = std::env::var_os(FAKE_DAEMON_VAR) else {
        return;
    };
    let sock = PathBuf::from(sock);
    let log = sock.with_extension("connections");
    // Never outlive the test by long.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(120));
        std::process::exit(0);
    });
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut f = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let _ = f.write_all(b"connection\n");
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = ccd_protocol::read_frame_bytes(&mut stream);
        let _ = ccd_protocol::write_frame(
            &mut stream,
            &ccd_protocol::Response::Hit(ccd_protocol::CompileOutput {
                exit_code: 0,
                stdout: ccd_protocol::ByteBuf::from(b"served by another user's daemon\n".to_vec()),
                stderr: ccd_protocol::ByteBuf::new(),
            }),
        );
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (b') Another user got to create the socket directory first and listens
/// where this cache's daemon would: ccd must not talk to that daemon (it
/// could answer with any "hit", or ask for any compiler arguments).
#[test]
fn daemon_planted_by_another_user() {
    require_root();
    let env = Env::new();
    let (runtime, sockets) = foreign_socket_dir(&env);
    let sock = socket_path(&env.cache, Some(&runtime));
    assert_eq!(sock.parent(), Some(sockets.as_path()));

    // This test binary, where nobody may run it, as the fake daemon (the
    // one test named exactly).
    let exe = env.root.path().join("fake-daemon");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    use std::os::unix::process::CommandExt;
    let _fake = KillOnDrop(
        Command::new(&exe)
            .args([
                "security::fake_daemon_helper",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(FAKE_DAEMON_VAR, &sock)
            .uid(NOBODY)
            .gid(NOBODY)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while !sock.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the fake daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::metadata(&sock).unwrap().uid(), NOBODY);

    let cmd = || {
        let mut c = env.ccd();
        c.env("XDG_RUNTIME_DIR", &runtime);
        c
    };
    let log = sock.with_extension("connections");
    let talked = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    // One compile, then the verdict on whom it talked to.
    env.write("a.c", SRC);
    let _ = cmd()
        .args(["gcc", "-c", "a.c", "-o", "a.o"])
        .output()
        .unwrap();
    assert_eq!(
        talked(),
        0,
        "ccd connected to a daemon listening in another user's socket directory"
    );
    compiles_like_bare(&env, cmd);
    status_refuses(cmd(), &sockets, "planted daemon");
    assert_eq!(talked(), 0);
}

/// The state of a directory outside the cache: its entries and its mtime
/// (which any file created, renamed in or out, or removed there changes).
fn snapshot(dir: &Path) -> (Vec<PathBuf>, SystemTime) {
    (
        files_under(dir),
        std::fs::metadata(dir).unwrap().modified().unwrap(),
    )
}

/// Where the symlinks go.
#[derive(Debug, Clone, Copy)]
enum Plant {
    /// `tmp` is a symlink to a directory outside.
    TmpDir,
    /// Every `blobs/xx` shard is a symlink to a directory outside.
    BlobShards,
    /// Every `results/xx` and `manifests/xx` shard likewise.
    RecordShards,
    /// `blobs` itself.
    BlobsDir,
}

fn plant(env: &Env, outside: &Path, how: Plant) {
    let link = |at: PathBuf| {
        if at.is_dir() && !at.is_symlink() {
            std::fs::remove_dir_all(&at).unwrap();
        }
        std::os::unix::fs::symlink(outside, &at).unwrap();
    };
    let shards = |area: &str| {
        for i in 0..=255u8 {
            link(env.cache.join(area).join(format!("{i:02x}")));
        }
    };
    match how {
        Plant::TmpDir => link(env.cache.join("tmp")),
        Plant::BlobShards => shards("blobs"),
        Plant::RecordShards => {
            shards("results");
            shards("manifests");
        }
        Plant::BlobsDir => link(env.cache.join("blobs")),
    }
}

fn symlinks_inside_cache_dir(how: Plant) {
    for cc in COMPILERS {
        let env = Env::new();
        let outside = env.root.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        env.write("a.c", SRC);
        env.write("b.c", "int g(int x) { return x + 1; }\n");
        // The daemon creates the layout; then the links are planted.
        let out = env.ccd().arg("start").output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        plant(&env, &outside, how);
        std::thread::sleep(Duration::from_millis(20));
        let before = snapshot(&outside);

        for round in 0..2 {
            for args in [
                &["-Wall", "-c", "a.c", "-o", "a.o"][..],
                &["-O2", "-c", "b.c", "-o", "b.o", "-MD"][..],
            ] {
                let files: &[&str] = if args.contains(&"-MD") {
                    &["b.o", "b.d"]
                } else {
                    &["a.o"]
                };
                for _ in 0..2 {
                    env.like_bare(cc, args, files).run();
                }
            }
            assert_eq!(
                snapshot(&outside),
                before,
                "{cc} {how:?} round {round}: ccd wrote through a symlink outside its cache"
            );
            // A fresh daemon opening the store with the links in place.
            stop_daemon(&env);
        }
        assert!(files_under(&outside).is_empty());
    }
}

#[test]
fn symlinked_tmp_dir() {
    symlinks_inside_cache_dir(Plant::TmpDir);
}

#[test]
fn symlinked_blob_shards() {
    symlinks_inside_cache_dir(Plant::BlobShards);
}

#[test]
fn symlinked_record_shards() {
    symlinks_inside_cache_dir(Plant::RecordShards);
}

#[test]
fn symlinked_blobs_dir() {
    symlinks_inside_cache_dir(Plant::BlobsDir);
}

/// What the daemon did with a malformed frame.
enum Reply {
    Closed,
    Error(String),
    Other(String),
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Reply::Closed => write!(f, "closed"),
            Reply::Error(m) => write!(f, "error: {m}"),
            Reply::Other(r) => write!(f, "answer: {r}"),
        }
    }
}

/// The hello of a client of the daemon's own executable (what `ccd`
/// sends first on every connection).
fn hello() -> Vec<u8> {
    let exe = ccd_protocol::ExeId::of(&std::fs::metadata(crate::harness::CCD).unwrap());
    ccd_protocol::Hello { exe }.encode().to_vec()
}

/// Sends a hello and `bytes` on a new connection (then shuts the sending
/// side unless `keep_open`), and reads the daemon's reply: a frame or the
/// end of the stream, within `limit`.
fn send_raw(sock: &Path, bytes: &[u8], keep_open: bool, limit: Duration) -> (Reply, UnixStream) {
    send_raw_after(sock, &hello(), bytes, keep_open, limit)
}

fn send_raw_after(
    sock: &Path,
    first: &[u8],
    bytes: &[u8],
    keep_open: bool,
    limit: Duration,
) -> (Reply, UnixStream) {
    let mut s = UnixStream::connect(sock).unwrap();
    // The daemon may close before reading everything: writes may fail.
    let _ = s.write_all(&[first, bytes].concat());
    if !keep_open {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    s.set_read_timeout(Some(limit)).unwrap();
    let reply = read_reply(&mut s, limit);
    (reply, s)
}

fn read_reply(s: &mut UnixStream, limit: Duration) -> Reply {
    // An answer comes after an acknowledgement (sent with it, or on its
    // own if the answer takes a while), and the daemon's word on the
    // client's executable; a connection closed unanswered may have had
    // neither.
    let mut word = [0u8; 4];
    match s.read_exact(&mut word) {
        Ok(()) => assert_eq!(word, ccd_protocol::ACK, "no acknowledgement"),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Reply::Closed,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Reply::Closed,
        Err(e) => panic!("no acknowledgement and no close within {limit:?}: {e}"),
    }
    match s.read_exact(&mut word) {
        Ok(()) => assert_eq!(
            word,
            ccd_protocol::SAME,
            "the daemon did not take the hello"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Reply::Closed,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Reply::Closed,
        Err(e) => panic!("no answer and no close within {limit:?}: {e}"),
    }
    let mut len = [0u8; 4];
    match s.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Reply::Closed,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Reply::Closed,
        Err(e) => panic!("no answer and no close within {limit:?}: {e}"),
    }
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    match ccd_protocol::decode::<ccd_protocol::Response>(&body).unwrap() {
        ccd_protocol::Response::Error { message } => Reply::Error(message),
        other => Reply::Other(format!("{other:?}").chars().take(80).collect()),
    }
}

/// `n` random bytes whose first byte picks the request kind: a compile or
/// a compile's result (with random contents), or no valid kind at all.
/// (Random bytes could spell a valid admin request, e.g. Clear, Shutdown or
/// a session start with a random journal path, which the daemon would
/// rightly obey.) For 64 KiB and more, the first bytes are the frame's
/// length prefix, and the kind byte follows it.
fn random_body(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut b = rng.bytes(n);
    let at = if n >= 64 * 1024 { 4 } else { 0 };
    b[at] = [0, 1, 0x40, 0x55, 0x7f, 0xff][rng.range(0, 6) as usize];
    b
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn compile_request(args: Vec<Vec<u8>>, protocol: u32, env: &Env) -> ccd_protocol::Request {
    use ccd_protocol::{ByteBuf, CompileRequest, Request};
    Request::Compile(CompileRequest {
        protocol,
        cwd: ByteBuf::from(env.work.as_os_str().as_encoded_bytes().to_vec()),
        compiler: ByteBuf::from(b"/usr/bin/gcc".to_vec()),
        args: args.into_iter().map(ByteBuf::from).collect(),
        env: Vec::new(),
        stderr_tty: None,
        umask: 0o022,
    })
}

fn encoded(req: &ccd_protocol::Request) -> Vec<u8> {
    let mut v = Vec::new();
    ccd_protocol::write_frame(&mut v, req).unwrap();
    v
}

/// The daemon still answers, as the same process, and compiles work.
fn daemon_is_fine(env: &Env, pid: u32, what: &str) {
    let t = Instant::now();
    let now = env.daemon_pid();
    assert_eq!(now, pid, "{what}: the daemon was replaced (it crashed)");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "{what}: status took {:?}",
        t.elapsed()
    );
}

/// (d) Malformed frames sent straight to the daemon's socket.
#[test]
fn malformed_frames_to_the_daemon_socket() {
    let env = Env::new();
    env.write("a.c", SRC);
    let sock = env_socket(&env);
    let pid = env.daemon_pid();
    assert!(
        std::fs::symlink_metadata(&sock).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        }),
        "no socket at {} (the documented location)",
        sock.display()
    );
    env.like_bare("gcc", &["-c", "a.c", "-o", "a.o"], &["a.o"])
        .miss()
        .run();
    let mut rng = Rng::from_time();
    let quick = Duration::from_secs(15);

    // Requests that leave a connection open and silent, more of them than
    // the daemon has idle workers: they must not block anyone else.
    let stalled: Vec<UnixStream> = (0..12)
        .map(|i| {
            let s = UnixStream::connect(&sock).unwrap();
            let mut s2 = s.try_clone().unwrap();
            if i % 3 == 2 {
                // Half a hello.
                s2.write_all(&hello()[..20]).unwrap();
            } else if i % 2 == 0 {
                s2.write_all(&hello()).unwrap();
                // Half a length prefix.
                s2.write_all(&[7, 0]).unwrap();
            } else {
                // A frame promising 100 bytes, sending 10.
                let mut f = hello();
                f.extend_from_slice(&100u32.to_le_bytes());
                f.extend_from_slice(&[1; 10]);
                s2.write_all(&f).unwrap();
            }
            s
        })
        .collect();
    daemon_is_fine(&env, pid, "with stalled connections");
    env.like_bare("gcc", &["-c", "a.c", "-o", "a.o"], &["a.o"])
        .hit()
        .run();

    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("random bytes".into(), random_body(&mut rng, 64 * 1024)),
        (
            "random body in a well-formed frame".into(),
            frame(&random_body(&mut rng, 1000)),
        ),
        (
            "a 4 GiB length prefix".into(),
            [&u32::MAX.to_le_bytes()[..], &rng.bytes(4096)].concat(),
        ),
        (
            "a length just over the frame limit".into(),
            (64u32 * 1024 * 1024 + 1).to_le_bytes().to_vec(),
        ),
        (
            "a truncated frame".into(),
            [&1000u32.to_le_bytes()[..], &rng.bytes(10)].concat(),
        ),
        ("an empty frame".into(), frame(&[])),
        ("an unknown request kind".into(), frame(&[200, 1, 2, 3])),
        (
            // Request::Compile, protocol 1, then a byte string claiming
            // 2^62 bytes.
            "an absurd inner length".into(),
            frame(&[0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f]),
        ),
        (
            "CompileFinished without a compile".into(),
            encoded(&ccd_protocol::Request::CompileFinished(Default::default())),
        ),
        (
            "a compile request of another protocol version".into(),
            encoded(&compile_request(
                vec![b"-c".to_vec(), b"a.c".to_vec()],
                999,
                &env,
            )),
        ),
        (
            "a valid request followed by garbage".into(),
            [encoded(&ccd_protocol::Request::Status), rng.bytes(100)].concat(),
        ),
    ];
    for i in 0..20 {
        // Random lengths, random bodies, a few truncated.
        let n = rng.range(1, 300) as usize;
        let mut f = frame(&random_body(&mut rng, n));
        if i % 3 == 0 {
            f.truncate(rng.range(1, f.len() as u64 + 1) as usize);
        }
        cases.push((format!("random frame #{i}"), f));
    }
    // Without a hello, or with one of another kind, nothing is read as a
    // request: the connection is closed.
    for (what, first) in [
        ("no hello", Vec::new()),
        ("a garbled hello", [&b"ccdX"[..], &hello()[4..]].concat()),
    ] {
        let (reply, _s) = send_raw_after(
            &sock,
            &first,
            &encoded(&ccd_protocol::Request::Status),
            false,
            quick,
        );
        assert!(matches!(reply, Reply::Closed), "{what}: {reply}");
        daemon_is_fine(&env, pid, what);
    }
    for (what, bytes) in &cases {
        let t = Instant::now();
        let (reply, _s) = send_raw(&sock, bytes, false, quick);
        match &reply {
            Reply::Closed | Reply::Error(_) => {}
            // A valid request before the garbage may be answered.
            Reply::Other(r) if what.starts_with("a valid request") && r.starts_with("Status") => {}
            Reply::Other(r) => panic!("{what}: unexpected answer {r}"),
        }
        assert!(
            t.elapsed() < Duration::from_secs(12),
            "{what}: took {:?} ({reply})",
            t.elapsed()
        );
        daemon_is_fine(&env, pid, what);
    }

    // A huge argv (several MB, under the frame limit): answered or closed,
    // quickly enough, and the daemon lives on.
    for (what, args) in [
        (
            "200000 arguments",
            std::iter::once(b"-c".to_vec())
                .chain(std::iter::once(b"a.c".to_vec()))
                .chain((0..200_000).map(|i| format!("-DMACRO_NUMBER_{i}=1").into_bytes()))
                .collect::<Vec<_>>(),
        ),
        (
            "one 8 MB argument",
            vec![
                b"-c".to_vec(),
                b"a.c".to_vec(),
                [&b"-DX="[..], &vec![b'x'; 8 << 20][..]].concat(),
            ],
        ),
    ] {
        let bytes = encoded(&compile_request(args, ccd_protocol::PROTOCOL_VERSION, &env));
        assert!(bytes.len() > 4 << 20, "{what}: {} bytes", bytes.len());
        let t = Instant::now();
        let (reply, s) = send_raw(&sock, &bytes, true, Duration::from_secs(30));
        eprintln!("{what}: {reply} after {:?}", t.elapsed());
        // Whatever the answer (run it, pass it through, an error), hang up
        // without running anything.
        drop(s);
        daemon_is_fine(&env, pid, what);
    }

    // The stalled connections are dropped by the daemon in time.
    for (i, mut s) in stalled.into_iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 64];
        let t = Instant::now();
        loop {
            match s.read(&mut buf) {
                // Closed.
                Ok(0) => break,
                // The acknowledgement, or an error frame: read on.
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e)
                    if e.kind() == std::io::ErrorKind::Interrupted
                        && t.elapsed() < Duration::from_secs(20) => {}
                Err(e) => panic!("stalled connection {i} still open: {e}"),
            }
        }
    }

    daemon_is_fine(&env, pid, "after everything");
    env.like_bare("gcc", &["-c", "a.c", "-o", "a.o"], &["a.o"])
        .hit()
        .run();
    env.like_bare("clang", &["-c", "a.c", "-o", "a.o"], &["a.o"])
        .miss()
        .run();
    let c = env.counts();
    assert_eq!(c.errors, 0, "{c:?}");
}

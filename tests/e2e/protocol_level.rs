//! The socket itself: raw frames, versions, silence, sizes, permissions, stale sockets.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use protocol::codec::{decode, encode};
use protocol::{ErrorKind, Request, Response, HELLO_TIMEOUT, PROTOCOL_VERSION};

use crate::harness::{bin, Bg, Showroom, Stream};

pub(crate) fn send_raw(sock: &mut UnixStream, payload: &[u8]) {
    sock.write_all(&(payload.len() as u32).to_be_bytes())
        .unwrap();
    sock.write_all(payload).unwrap();
}

pub(crate) fn read_response(sock: &mut UnixStream) -> Option<Response> {
    let mut len = [0u8; 4];
    sock.read_exact(&mut len).ok()?;
    let mut buf = vec![0; u32::from_be_bytes(len) as usize];
    sock.read_exact(&mut buf).ok()?;
    Some(decode(&buf).expect("the daemon sends valid frames"))
}

fn connect(s: &Showroom) -> UnixStream {
    let sock = UnixStream::connect(&s.socket).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    sock
}

pub(crate) fn hello(s: &Showroom) -> UnixStream {
    let mut sock = connect(s);
    send_raw(
        &mut sock,
        &encode(&Request::Hello {
            version: PROTOCOL_VERSION,
        })
        .unwrap(),
    );
    assert_eq!(
        read_response(&mut sock),
        Some(Response::Hello {
            version: PROTOCOL_VERSION
        })
    );
    sock
}

fn error_kind(r: Option<Response>) -> ErrorKind {
    match r {
        Some(Response::Error(e)) => e.kind,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Asserts that the daemon closes the connection within `within`: reading
/// gives end of file. A read error (the read timeout among them) is not a close.
pub(crate) fn assert_closed_within(sock: &mut UnixStream, within: Duration, what: &str) {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 1];
    match sock.read(&mut b) {
        Ok(0) => {}
        other => panic!("{what}: expected end of file within {within:?}, got {other:?}"),
    }
}

#[test]
fn malformed_oversized_and_foreign_frames_get_an_error_and_change_nothing() {
    let s = Showroom::start(20600);
    s.ok(&["deploy", "test1", "keep"]);

    // Garbage after a good hello.
    let mut sock = hello(&s);
    send_raw(&mut sock, &[0xff, 0xfe, 0xfd, 0x00]);
    assert_eq!(error_kind(read_response(&mut sock)), ErrorKind::BadFrame);
    assert_closed_within(&mut sock, Duration::from_secs(5), "after a bad frame");

    // A variant number no version has.
    let mut sock = hello(&s);
    send_raw(&mut sock, &[200]);
    assert_eq!(error_kind(read_response(&mut sock)), ErrorKind::BadFrame);

    // A length prefix of 4 GiB: refused before any of it is read.
    let mut sock = hello(&s);
    sock.write_all(&u32::MAX.to_be_bytes()).unwrap();
    assert_eq!(error_kind(read_response(&mut sock)), ErrorKind::BadFrame);

    // A frame within the limit whose string claims far more than it holds.
    let mut sock = hello(&s);
    let mut forged = encode(&Request::Destroy {
        name: "keep".into(),
    })
    .unwrap();
    forged.truncate(1);
    forged.push(0xfd);
    forged.extend_from_slice(&u64::MAX.to_le_bytes());
    send_raw(&mut sock, &forged);
    assert_eq!(error_kind(read_response(&mut sock)), ErrorKind::BadFrame);

    // A huge but well-formed name is refused as a name.
    let mut sock = hello(&s);
    send_raw(
        &mut sock,
        &encode(&Request::Destroy {
            name: "k".repeat(1 << 20),
        })
        .unwrap(),
    );
    assert_eq!(
        error_kind(read_response(&mut sock)),
        ErrorKind::InvalidRequest
    );

    // A request before the hello.
    let mut sock = connect(&s);
    send_raw(&mut sock, &encode(&Request::List).unwrap());
    assert_eq!(
        error_kind(read_response(&mut sock)),
        ErrorKind::InvalidRequest
    );

    assert_eq!(s.installed().len(), 1, "nothing changed");
    assert_eq!(
        s.status("keep"),
        "STOPPED",
        "the daemon serves the next client as before"
    );
}

#[test]
fn another_version_is_named_and_silence_is_dropped() {
    let s = Showroom::start(20700);
    let mut sock = connect(&s);
    send_raw(
        &mut sock,
        &encode(&Request::Hello { version: 999 }).unwrap(),
    );
    match read_response(&mut sock) {
        Some(Response::Error(e)) => {
            assert_eq!(e.kind, ErrorKind::VersionMismatch);
            assert!(
                e.message.contains("999") && e.message.contains(&PROTOCOL_VERSION.to_string()),
                "{}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }

    let mut silent = connect(&s);
    let t0 = std::time::Instant::now();
    assert_closed_within(
        &mut silent,
        HELLO_TIMEOUT + Duration::from_secs(3),
        "a peer that says nothing is dropped",
    );
    assert!(
        t0.elapsed() >= HELLO_TIMEOUT - Duration::from_secs(1),
        "after the hello timeout, not at once"
    );
    s.ok(&["list"]);
}

#[test]
fn the_socket_is_0660_a_stale_one_is_replaced_and_a_live_one_kept() {
    let mut s = Showroom::start(20800);
    let mode = std::fs::metadata(&s.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    // A second daemon on the same socket refuses to start and leaves the first alone.
    // It runs under a guard: killed on drop, and given 30 s to give up.
    let mut second = Bg::spawn(
        Command::new(bin("showroomd"))
            .arg("--config")
            .arg(&s.config),
        Stream::Stderr,
    );
    let code = second.wait(Duration::from_secs(30));
    assert_ne!(code, Some(0), "a second showroomd must not start");
    assert!(code.is_some(), "it exits by itself, not by a signal");
    second.until("already listening", Duration::from_secs(10), |l| {
        l.contains("already listening")
    });
    drop(second);
    s.ok(&["list"]);

    // A crash leaves the socket file behind: the next start replaces it.
    s.kill_daemon();
    assert!(s.socket.exists());
    assert_eq!(s.ctl(&["list"]).code, 3);
    s.start_daemon();
    s.ok(&["list"]);
    assert!(s.daemon_log().contains("removed a stale socket"));
}

//! The protocol's bytes pinned: every variant of every enum on the wire, encoded as `codec::encode` does, against `protocol/golden.txt`.
//!
//! bincode numbers variants by position and writes struct fields in order,
//! so "variants only ever appended" holds only while nothing moves: this
//! test is what checks it. `UPDATE_GOLDEN=1 cargo test -p showroom-protocol
//! golden` writes the file again; an existing line may change only with a
//! bump of `PROTOCOL_VERSION` (a new variant or field adds or changes only
//! its own line).

use std::collections::BTreeMap;

use crate::codec;
use crate::error::{ErrorKind, ProtocolError};
use crate::messages::*;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden.txt");

const HEADER: &str = "\
# The protocol's bytes: one line per variant, NAME HEX, as codec::encode writes them (bincode).
# bincode numbers variants by position: a changed line means peers of two builds misread each other.
# An existing line may only change together with a PROTOCOL_VERSION bump; new variants and
# fields are appended (their lines are new or changed alone, the others stay).
# Regenerate: UPDATE_GOLDEN=1 cargo test -p showroom-protocol golden
";

fn s(t: &str) -> String {
    t.to_owned()
}

fn demo_info() -> DemoInfo {
    DemoInfo {
        name: s("a"),
        app: s("test1"),
        port: Some(20000),
        status: DemoStatus::Running,
        comment: s("c"),
        created: 1_700_000_000,
        params: vec![(s("k"), s("v"))],
        reason: s(""),
        wanted: Wanted::Running,
        expires_at: Some(1_700_003_600),
        deploy_ms: Some(42),
        url: Some(s("http://a.showroom.localhost/")),
        keep: true,
        port2: Some(20001),
        access: s("password"),
        not_served: s("its port is held by another program"),
        limits: DemoLimits {
            memory: Some(512 << 20),
            procs: Some(200),
            tmp_size: Some(64 << 20),
            nofile: None,
        },
    }
}

/// Each variant's name, by an exhaustive match: a new variant does not
/// compile until it is named here, and then needs a sample below.
fn request_name(r: &Request) -> &'static str {
    match r {
        Request::Hello { .. } => "Request::Hello",
        Request::Available => "Request::Available",
        Request::List => "Request::List",
        Request::Status { .. } => "Request::Status",
        Request::Deploy(_) => "Request::Deploy",
        Request::Start { .. } => "Request::Start",
        Request::Stop { .. } => "Request::Stop",
        Request::Destroy { .. } => "Request::Destroy",
        Request::Supervisor(_) => "Request::Supervisor",
        Request::Logs { .. } => "Request::Logs",
        Request::Watch => "Request::Watch",
        Request::Cleanup(_) => "Request::Cleanup",
        Request::Clone(_) => "Request::Clone",
        Request::Expire { .. } => "Request::Expire",
        Request::Export { .. } => "Request::Export",
        Request::Import(_) => "Request::Import",
        Request::Archive(_) => "Request::Archive",
        Request::Restart { .. } => "Request::Restart",
        Request::Redeploy(_) => "Request::Redeploy",
        Request::Keep { .. } => "Request::Keep",
        Request::Access { .. } => "Request::Access",
        Request::AccessLog { .. } => "Request::AccessLog",
        Request::SleepAfter { .. } => "Request::SleepAfter",
    }
}
const REQUEST_VARIANTS: usize = 23;

fn requests() -> Vec<Request> {
    vec![
        Request::Hello {
            version: crate::PROTOCOL_VERSION,
        },
        Request::Available,
        Request::List,
        Request::Status { name: s("a") },
        Request::Deploy(DeployRequest {
            app: s("test1"),
            name: s("a"),
            params: vec![(s("k"), s("v"))],
            comment: s("c"),
            ttl_secs: Some(3600),
            memory: Some(1 << 30),
            procs: Some(100),
            sleep_after_secs: Some(1800),
        }),
        Request::Start { name: s("a") },
        Request::Stop { name: s("a") },
        Request::Destroy { name: s("a") },
        Request::Supervisor(SupervisorAction::Start),
        Request::Logs {
            name: s("a"),
            follow: true,
            lines: 10,
            deploy: 2,
        },
        Request::Watch,
        Request::Cleanup(CleanupRequest {
            older_than_secs: Some(60),
            statuses: vec![DemoStatus::Fatal],
            dry_run: true,
        }),
        Request::Clone(CloneRequest {
            src: s("a"),
            name: s("b"),
            comment: s("c"),
        }),
        Request::Expire {
            name: s("a"),
            ttl_secs: Some(60),
        },
        Request::Export { name: s("a") },
        Request::Import(ImportRequest { name: Some(s("b")) }),
        Request::Archive(vec![1, 2, 3]),
        Request::Restart { name: s("a") },
        Request::Redeploy(RedeployRequest {
            name: s("a"),
            params: vec![(s("k"), s("w"))],
            comment: Some(s("c")),
        }),
        Request::Keep {
            name: s("a"),
            keep: true,
        },
        Request::Access {
            name: s("a"),
            change: AccessChange::Allow {
                ranges: vec![s("127.0.0.2/32")],
            },
        },
        Request::AccessLog {
            name: s("a"),
            follow: false,
            lines: 10,
        },
        Request::SleepAfter {
            name: s("a"),
            idle_secs: Some(1800),
        },
    ]
}

fn response_name(r: &Response) -> &'static str {
    match r {
        Response::Hello { .. } => "Response::Hello",
        Response::Done => "Response::Done",
        Response::Available(_) => "Response::Available",
        Response::List(_) => "Response::List",
        Response::Status(_) => "Response::Status",
        Response::Progress(_) => "Response::Progress",
        Response::Deployed(_) => "Response::Deployed",
        Response::Supervisor(_) => "Response::Supervisor",
        Response::Log(_) => "Response::Log",
        Response::Event(_) => "Response::Event",
        Response::Cleanup(_) => "Response::Cleanup",
        Response::Error(_) => "Response::Error",
        Response::Archive(_) => "Response::Archive",
        Response::StatusReason { .. } => "Response::StatusReason",
    }
}
const RESPONSE_VARIANTS: usize = 14;

fn responses() -> Vec<Response> {
    vec![
        Response::Hello {
            version: crate::PROTOCOL_VERSION,
        },
        Response::Done,
        Response::Available(BTreeMap::from([(
            s("test1"),
            AppInfo {
                params: vec![s("comment")],
            },
        )])),
        Response::List(vec![demo_info()]),
        Response::Status(DemoStatus::Stopped),
        Response::Progress(s("| step 1")),
        Response::Deployed(demo_info()),
        Response::Supervisor(SupervisorInfo {
            running: true,
            pid: Some(7),
            state: s("RUNNING"),
            version: s("4.2.5"),
            config: s("/s/supervisord.conf"),
            front_door: Some(FrontDoorInfo {
                serving: true,
                ports: vec![8080, 8443],
                reason: s(""),
                cert_names: vec![s("showroom.localhost"), s("*.showroom.localhost")],
                cert_expires: Some(1_800_000_000),
            }),
        }),
        Response::Log(LogChunk {
            source: s("deploy"),
            text: s("line\n"),
        }),
        Response::Event(Event {
            at: 1_700_000_000,
            demo: Some(s("a")),
            kind: EventKind::Started,
            detail: s(""),
        }),
        Response::Cleanup(CleanupReport {
            dry_run: false,
            destroyed: vec![s("a")],
            failed: vec![(s("b"), s("why"))],
            leftovers: vec![s("deploy log c.log")],
        }),
        Response::Error(
            ProtocolError::new(ErrorKind::NotFound, "this demo does not exist").with_detail("d"),
        ),
        Response::Archive(vec![1, 2, 3]),
        Response::StatusReason {
            status: DemoStatus::Fatal,
            reason: s("out of memory (limit 512M)"),
        },
    ]
}

fn event_kind_name(k: &EventKind) -> &'static str {
    match k {
        EventKind::DeployStarted => "EventKind::DeployStarted",
        EventKind::Deployed => "EventKind::Deployed",
        EventKind::DeployFailed => "EventKind::DeployFailed",
        EventKind::Started => "EventKind::Started",
        EventKind::StartFailed => "EventKind::StartFailed",
        EventKind::Stopped => "EventKind::Stopped",
        EventKind::Destroyed => "EventKind::Destroyed",
        EventKind::StateChanged { .. } => "EventKind::StateChanged",
        EventKind::SupervisorDown => "EventKind::SupervisorDown",
        EventKind::SupervisorUp => "EventKind::SupervisorUp",
        EventKind::Missed => "EventKind::Missed",
        EventKind::Expired => "EventKind::Expired",
    }
}
fn error_kind_name(k: &ErrorKind) -> &'static str {
    match k {
        ErrorKind::InvalidRequest => "ErrorKind::InvalidRequest",
        ErrorKind::NotFound => "ErrorKind::NotFound",
        ErrorKind::AlreadyExists => "ErrorKind::AlreadyExists",
        ErrorKind::DeployFailed => "ErrorKind::DeployFailed",
        ErrorKind::AbnormalTermination => "ErrorKind::AbnormalTermination",
        ErrorKind::ApacheConfig => "ErrorKind::ApacheConfig",
        ErrorKind::Supervisor => "ErrorKind::Supervisor",
        ErrorKind::VersionMismatch => "ErrorKind::VersionMismatch",
        ErrorKind::BadFrame => "ErrorKind::BadFrame",
        ErrorKind::PermissionDenied => "ErrorKind::PermissionDenied",
        ErrorKind::Busy => "ErrorKind::Busy",
        ErrorKind::Internal => "ErrorKind::Internal",
        ErrorKind::SharedFailure => "ErrorKind::SharedFailure",
        ErrorKind::NoFreePort => "ErrorKind::NoFreePort",
        ErrorKind::Declined => "ErrorKind::Declined",
    }
}
fn demo_status_name(d: &DemoStatus) -> &'static str {
    match d {
        DemoStatus::Deploying => "DemoStatus::Deploying",
        DemoStatus::Stopped => "DemoStatus::Stopped",
        DemoStatus::Starting => "DemoStatus::Starting",
        DemoStatus::Running => "DemoStatus::Running",
        DemoStatus::Backoff => "DemoStatus::Backoff",
        DemoStatus::Stopping => "DemoStatus::Stopping",
        DemoStatus::Exited => "DemoStatus::Exited",
        DemoStatus::Fatal => "DemoStatus::Fatal",
        DemoStatus::Partial => "DemoStatus::Partial",
        DemoStatus::Unknown => "DemoStatus::Unknown",
        DemoStatus::Destroyed => "DemoStatus::Destroyed",
        DemoStatus::Sleeping => "DemoStatus::Sleeping",
    }
}

fn supervisor_action_name(a: &SupervisorAction) -> &'static str {
    match a {
        SupervisorAction::Status => "SupervisorAction::Status",
        SupervisorAction::Start => "SupervisorAction::Start",
        SupervisorAction::Stop => "SupervisorAction::Stop",
    }
}

fn wanted_name(w: &Wanted) -> &'static str {
    match w {
        Wanted::Running => "Wanted::Running",
        Wanted::Stopped => "Wanted::Stopped",
    }
}

/// `NAME HEX` lines for each sample, checking that they name every variant once.
fn lines_of<T: serde::Serialize>(
    samples: &[T],
    name: fn(&T) -> &'static str,
    variants: usize,
    out: &mut Vec<String>,
) {
    let mut names: Vec<&str> = samples.iter().map(name).collect();
    for (sample, n) in samples.iter().zip(&names) {
        let bytes = codec::encode(sample).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        out.push(format!("{n} {hex}"));
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), variants, "one sample per variant: {names:?}");
    assert_eq!(samples.len(), variants, "one sample per variant: {names:?}");
}

/// Every variant of an enum whose variants carry nothing (or, for
/// `EventKind::StateChanged`, two statuses), decoded from its position:
/// a variant moved shows as another name at that position.
fn every_variant<T: serde::de::DeserializeOwned>() -> Vec<T> {
    (0u8..)
        .map_while(|i| {
            codec::decode::<T>(&[i])
                .or_else(|_| codec::decode::<T>(&[i, 2, 3]))
                .ok()
        })
        .collect()
}

fn golden_lines() -> Vec<String> {
    let mut out = vec![format!("PROTOCOL_VERSION {}", crate::PROTOCOL_VERSION)];
    lines_of(&requests(), request_name, REQUEST_VARIANTS, &mut out);
    lines_of(&responses(), response_name, RESPONSE_VARIANTS, &mut out);
    let kinds = every_variant::<EventKind>();
    lines_of(&kinds, event_kind_name, kinds.len(), &mut out);
    let kinds = every_variant::<ErrorKind>();
    lines_of(&kinds, error_kind_name, kinds.len(), &mut out);
    lines_of(
        &DemoStatus::ALL,
        demo_status_name,
        DemoStatus::ALL.len(),
        &mut out,
    );
    let actions = every_variant::<SupervisorAction>();
    lines_of(&actions, supervisor_action_name, actions.len(), &mut out);
    let wanted = every_variant::<Wanted>();
    lines_of(&wanted, wanted_name, wanted.len(), &mut out);
    out
}

#[test]
fn golden_the_protocols_bytes_are_pinned_for_every_variant() {
    let now = golden_lines();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, format!("{HEADER}{}\n", now.join("\n"))).unwrap();
        return;
    }
    let file = std::fs::read_to_string(GOLDEN)
        .unwrap_or_else(|e| panic!("{GOLDEN}: {e} (UPDATE_GOLDEN=1 writes it)"));
    let pinned: Vec<&str> = file.lines().filter(|l| !l.starts_with('#')).collect();
    for line in &pinned {
        assert!(
            now.iter().any(|n| n == line),
            "a pinned encoding changed or went away: {line}\n(now: {})\nAn existing line may only change with a PROTOCOL_VERSION bump; then UPDATE_GOLDEN=1.",
            now.iter()
                .find(|n| n.split(' ').next() == line.split(' ').next())
                .map_or("gone", String::as_str)
        );
    }
    for line in &now {
        assert!(
            pinned.contains(&line.as_str()),
            "not pinned yet: {line} (UPDATE_GOLDEN=1 adds it)"
        );
    }
}

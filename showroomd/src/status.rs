//! The status rules of docs/ARCHITECTURE.md: one demo's status word from the states of its parts.

use protocol::DemoStatus;

/// What is known of one demo when its status is computed.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    pub deploying: bool,
    pub has_port: bool,
    /// Some(state) when the demo has a start script; None inside when
    /// supervisord does not know the program.
    pub process: Option<Option<DemoStatus>>,
    /// Some(enabled) when the demo has a virtual host.
    pub vhost_enabled: Option<bool>,
    /// Apache's state in supervisord.
    pub apache: Option<DemoStatus>,
    pub supervisor_up: bool,
}

/// Maps a supervisord state name onto the status words.
pub fn from_supervisor(statename: &str) -> DemoStatus {
    DemoStatus::parse(statename).unwrap_or(DemoStatus::Unknown)
}

/// The states in which Apache serves none of the enabled vhosts: a failure
/// of the shared part (say its master was killed and its restart found the
/// ports held), which is never charged to the demos.
pub fn apache_failed(state: Option<DemoStatus>) -> bool {
    !matches!(
        state,
        Some(DemoStatus::Running | DemoStatus::Starting | DemoStatus::Stopping)
    )
}

/// What a failed Apache is said to be, in a demo's reason and in cleanup's refusal.
pub fn apache_failure(state: Option<DemoStatus>) -> String {
    match state {
        Some(s) => format!("Apache is {s}"),
        None => "Apache is unknown to supervisord".to_owned(),
    }
}

pub const SUPERVISOR_DOWN: &str = "supervisord is not answering";

pub fn demo_status(p: Parts) -> DemoStatus {
    demo_verdict(p).0
}

/// The status word, and the reason beside it (empty when the word says it
/// all). A shared part that fails (supervisord, Apache) makes its demos
/// `UNKNOWN` with a reason naming it: `cleanup --status FATAL` must never
/// take a failure of the host for the demos' own.
pub fn demo_verdict(p: Parts) -> (DemoStatus, String) {
    if p.deploying {
        return (DemoStatus::Deploying, String::new());
    }
    if !p.has_port {
        return (DemoStatus::Fatal, String::new());
    }
    if !p.supervisor_up && (p.process.is_some() || p.vhost_enabled == Some(true)) {
        return (DemoStatus::Unknown, SUPERVISOR_DOWN.to_owned());
    }
    if p.vhost_enabled == Some(true) && apache_failed(p.apache) {
        return (DemoStatus::Unknown, apache_failure(p.apache));
    }
    (own_status(p), String::new())
}

/// The status from the demo's own parts, the shared ones being healthy.
fn own_status(p: Parts) -> DemoStatus {
    let mut states = Vec::with_capacity(2);
    if let Some(process) = p.process {
        // A demo whose program supervisord does not know cannot be started.
        states.push(process.unwrap_or(DemoStatus::Fatal));
    }
    if let Some(enabled) = p.vhost_enabled {
        states.push(if enabled {
            p.apache.unwrap_or(DemoStatus::Unknown)
        } else {
            DemoStatus::Stopped
        });
    }
    // The vhost is only enabled once the process runs: an unlinked vhost
    // beside a process that is starting, failing or exited says nothing more
    // than the process does (the seed shows `error4` as STARTING/BACKOFF).
    if let (Some(process), Some(false)) = (p.process, p.vhost_enabled) {
        let process = process.unwrap_or(DemoStatus::Fatal);
        if matches!(
            process,
            DemoStatus::Starting
                | DemoStatus::Backoff
                | DemoStatus::Fatal
                | DemoStatus::Exited
                | DemoStatus::Stopping
        ) {
            return process;
        }
    }
    match states.as_slice() {
        [] => DemoStatus::Fatal,
        [one] => *one,
        [first, rest @ ..] if rest.iter().all(|s| s == first) => *first,
        _ => DemoStatus::Partial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DemoStatus::*;

    fn parts() -> Parts {
        Parts {
            deploying: false,
            has_port: true,
            process: None,
            vhost_enabled: None,
            apache: Some(Stopped),
            supervisor_up: true,
        }
    }

    #[test]
    fn process_only_follows_the_process() {
        for s in [Stopped, Starting, Running, Backoff, Fatal, Exited] {
            assert_eq!(
                demo_status(Parts {
                    process: Some(Some(s)),
                    ..parts()
                }),
                s
            );
        }
    }

    #[test]
    fn vhost_is_stopped_while_unlinked_whatever_apache_does() {
        let p = Parts {
            vhost_enabled: Some(false),
            apache: Some(Running),
            ..parts()
        };
        assert_eq!(demo_status(p), Stopped);
        let p = Parts {
            vhost_enabled: Some(true),
            apache: Some(Running),
            ..parts()
        };
        assert_eq!(demo_status(p), Running);
    }

    #[test]
    fn a_failed_apache_is_not_charged_to_its_vhosts() {
        for apache in [
            Some(Fatal),
            Some(Backoff),
            Some(Exited),
            Some(Stopped),
            None,
        ] {
            for process in [None, Some(Some(Running)), Some(Some(Fatal))] {
                let p = Parts {
                    vhost_enabled: Some(true),
                    process,
                    apache,
                    ..parts()
                };
                let (status, reason) = demo_verdict(p);
                assert_eq!(status, Unknown, "{apache:?} {process:?}");
                assert!(reason.starts_with("Apache is "), "{reason}");
            }
        }
        let p = Parts {
            vhost_enabled: Some(true),
            apache: Some(Fatal),
            ..parts()
        };
        assert_eq!(demo_verdict(p).1, "Apache is FATAL");
        // Unlinked, a vhost needs no Apache: the demo's own failure shows.
        let p = Parts {
            vhost_enabled: Some(false),
            process: Some(Some(Fatal)),
            apache: Some(Fatal),
            ..parts()
        };
        assert_eq!(demo_verdict(p), (Fatal, String::new()));
    }

    #[test]
    fn disagreeing_parts_are_partial() {
        let p = Parts {
            process: Some(Some(Running)),
            vhost_enabled: Some(false),
            ..parts()
        };
        assert_eq!(demo_status(p), Partial);
        let p = Parts {
            process: Some(Some(Stopped)),
            vhost_enabled: Some(true),
            apache: Some(Running),
            ..parts()
        };
        assert_eq!(demo_status(p), Partial);
        let p = Parts {
            process: Some(Some(Running)),
            vhost_enabled: Some(true),
            apache: Some(Running),
            ..parts()
        };
        assert_eq!(demo_status(p), Running);
    }

    #[test]
    fn a_failing_process_speaks_for_its_unlinked_vhost() {
        for s in [Starting, Backoff, Fatal] {
            let p = Parts {
                process: Some(Some(s)),
                vhost_enabled: Some(false),
                ..parts()
            };
            assert_eq!(demo_status(p), s);
        }
    }

    #[test]
    fn special_cases() {
        assert_eq!(demo_status(parts()), Fatal, "no part at all");
        let p = Parts {
            has_port: false,
            process: Some(Some(Running)),
            ..parts()
        };
        assert_eq!(demo_status(p), Fatal, "no port");
        let p = Parts {
            supervisor_up: false,
            process: Some(Some(Running)),
            ..parts()
        };
        assert_eq!(demo_verdict(p), (Unknown, SUPERVISOR_DOWN.to_owned()));
        let p = Parts {
            deploying: true,
            supervisor_up: false,
            ..parts()
        };
        assert_eq!(demo_status(p), Deploying);
        let p = Parts {
            process: Some(None),
            ..parts()
        };
        assert_eq!(demo_status(p), Fatal, "program unknown to supervisord");
    }
}

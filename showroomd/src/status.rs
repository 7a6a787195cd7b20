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
    /// Some(linked) when the demo has a virtual host.
    pub vhost_linked: Option<bool>,
    /// Apache's state in supervisord.
    pub apache: Option<DemoStatus>,
    pub supervisor_up: bool,
}

/// Maps a supervisord state name onto the status words.
pub fn from_supervisor(statename: &str) -> DemoStatus {
    DemoStatus::parse(statename).unwrap_or(DemoStatus::Unknown)
}

pub fn demo_status(p: Parts) -> DemoStatus {
    if p.deploying {
        return DemoStatus::Deploying;
    }
    if !p.has_port {
        return DemoStatus::Fatal;
    }
    if !p.supervisor_up && (p.process.is_some() || p.vhost_linked == Some(true)) {
        return DemoStatus::Unknown;
    }
    let mut states = Vec::with_capacity(2);
    if let Some(process) = p.process {
        // A demo whose program supervisord does not know cannot be started.
        states.push(process.unwrap_or(DemoStatus::Fatal));
    }
    if let Some(linked) = p.vhost_linked {
        states.push(if linked {
            p.apache.unwrap_or(DemoStatus::Unknown)
        } else {
            DemoStatus::Stopped
        });
    }
    // The vhost is only enabled once the process runs: an unlinked vhost
    // beside a process that is starting, failing or exited says nothing more
    // than the process does (the seed shows `error4` as STARTING/BACKOFF).
    if let (Some(process), Some(false)) = (p.process, p.vhost_linked) {
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
            vhost_linked: None,
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
            vhost_linked: Some(false),
            apache: Some(Running),
            ..parts()
        };
        assert_eq!(demo_status(p), Stopped);
        let p = Parts {
            vhost_linked: Some(true),
            apache: Some(Running),
            ..parts()
        };
        assert_eq!(demo_status(p), Running);
        let p = Parts {
            vhost_linked: Some(true),
            apache: Some(Fatal),
            ..parts()
        };
        assert_eq!(demo_status(p), Fatal);
    }

    #[test]
    fn disagreeing_parts_are_partial() {
        let p = Parts {
            process: Some(Some(Running)),
            vhost_linked: Some(false),
            ..parts()
        };
        assert_eq!(demo_status(p), Partial);
        let p = Parts {
            process: Some(Some(Stopped)),
            vhost_linked: Some(true),
            apache: Some(Running),
            ..parts()
        };
        assert_eq!(demo_status(p), Partial);
        let p = Parts {
            process: Some(Some(Running)),
            vhost_linked: Some(true),
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
                vhost_linked: Some(false),
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
        assert_eq!(demo_status(p), Unknown);
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

//! supervisord's XML-RPC API over its Unix socket, with typed calls.
//!
//! The `xmlrpc` crate is blocking; every call here goes through
//! `spawn_blocking` so that the runtime's threads never wait on supervisord.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use xmlrpc::{Request, Transport, Value};

/// supervisord's fault codes that showroom acts on.
pub mod codes {
    /// A method this supervisord does not offer (e.g. one started without showroom's plugin).
    pub const UNKNOWN_METHOD: i32 = 1;
    pub const BAD_NAME: i32 = 10;
    pub const ABNORMAL_TERMINATION: i32 = 40;
    pub const SPAWN_ERROR: i32 = 50;
    pub const ALREADY_STARTED: i32 = 60;
    pub const NOT_RUNNING: i32 = 70;
    pub const ALREADY_ADDED: i32 = 90;
    pub const STILL_RUNNING: i32 = 91;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: i32,
    pub string: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("supervisord is not reachable at {path}: {reason}")]
    Unreachable { path: String, reason: String },
    #[error("supervisord refused {method}: {} (code {})", fault.string, fault.code)]
    Fault { method: String, fault: Fault },
    #[error("supervisord answered {method} with something unexpected: {what}")]
    Protocol { method: String, what: String },
    #[error("supervisord call could not run: {0}")]
    Join(String),
    /// It took the call but gave no answer in time: busy, not gone.
    #[error("supervisord did not answer {method} within {secs} s")]
    Timeout { method: String, secs: u64 },
    /// showroomd itself could not open a connection (out of descriptors):
    /// says nothing of supervisord's state.
    #[error("showroomd could not call {method}: {reason} (showroomd's own limit, not supervisord's state)")]
    OwnResources { method: String, reason: String },
}

impl RpcError {
    pub fn fault_code(&self) -> Option<i32> {
        match self {
            RpcError::Fault { fault, .. } => Some(fault.code),
            _ => None,
        }
    }
    /// True only when supervisord did not answer: never for showroomd's own
    /// failures (out of descriptors), which must not mark it down.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RpcError::Unreachable { .. })
    }
    pub fn is_own_resources(&self) -> bool {
        matches!(self, RpcError::OwnResources { .. })
    }
}

/// One process as `getProcessInfo` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub name: String,
    pub group: String,
    pub statename: String,
    pub pid: u32,
    pub description: String,
    pub exitstatus: i32,
    pub spawnerr: String,
    /// When its last try began and ended, and supervisord's clock when it
    /// answered (epoch seconds; 0 when never): how long the process ran.
    pub start: i64,
    pub stop: i64,
    pub now: i64,
}

/// What the transport says when supervisord took a call but did not answer in time.
const TIMED_OUT: &str = "supervisord-timed-out";
/// What the transport says when showroomd had no descriptor left for the connection.
const OUT_OF_FDS: &str = "showroomd-out-of-descriptors";

/// A connect error, with showroomd's own shortage of descriptors (or of
/// kernel memory for a socket) told apart from supervisord not listening.
fn connect_error(e: std::io::Error) -> Box<dyn std::error::Error + Send + Sync> {
    use nix::errno::Errno;
    match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM) => {
            format!("{OUT_OF_FDS}: {e}").into()
        }
        _ => e.into(),
    }
}

/// The transport: one HTTP/1.1 POST /RPC2 per call on a fresh Unix-socket connection.
struct UnixTransport<'a> {
    path: &'a std::path::Path,
    timeout: Duration,
}

impl Transport for UnixTransport<'_> {
    type Stream = std::io::Cursor<Vec<u8>>;

    fn transmit(
        self,
        request: &Request<'_>,
    ) -> Result<Self::Stream, Box<dyn std::error::Error + Send + Sync>> {
        let timed_out = |e: std::io::Error| -> Box<dyn std::error::Error + Send + Sync> {
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                TIMED_OUT.into()
            } else {
                e.into()
            }
        };
        let mut body = Vec::new();
        request.write_as_xml(&mut body)?;
        let mut stream = UnixStream::connect(self.path).map_err(connect_error)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        write!(
            stream,
            "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        stream.write_all(&body).map_err(timed_out)?;
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).map_err(timed_out)?;
        if !status.starts_with("HTTP/1.") || status.split_whitespace().nth(1) != Some("200") {
            return Err(format!("HTTP status {:?}", status.trim()).into());
        }
        let mut length: Option<usize> = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(timed_out)? == 0 {
                return Err("connection closed inside the headers".into());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = Some(v.trim().parse()?);
                }
            }
        }
        let mut out = Vec::new();
        match length {
            Some(n) => {
                out.resize(n, 0);
                reader.read_exact(&mut out).map_err(timed_out)?;
            }
            None => {
                reader.read_to_end(&mut out).map_err(timed_out)?;
            }
        }
        Ok(std::io::Cursor::new(out))
    }
}

/// A handle on one supervisord; cheap to clone.
#[derive(Debug, Clone)]
pub struct Supervisor {
    socket: PathBuf,
    /// Long enough for `startProcess`/`stopProcess` with wait (startsecs,
    /// stopwaitsecs) and a `getAllProcessInfo` over thousands of programs.
    timeout: Duration,
}

impl Supervisor {
    pub fn new(socket: PathBuf) -> Self {
        Supervisor {
            socket,
            timeout: Duration::from_secs(60),
        }
    }

    /// Makes one call, blocking; use the async methods from async code.
    pub fn call_blocking(&self, method: &str, args: Vec<Value>) -> Result<Value, RpcError> {
        let mut req = Request::new(method);
        for a in args {
            req = req.arg(a);
        }
        let transport = UnixTransport {
            path: &self.socket,
            timeout: self.timeout,
        };
        req.call(transport).map_err(|e| match e.fault() {
            Some(f) => RpcError::Fault {
                method: method.to_owned(),
                fault: Fault {
                    code: f.fault_code,
                    string: f.fault_string.clone(),
                },
            },
            None => self.failed(method, e.to_string()),
        })
    }

    /// Names a call's failure from the transport's words.
    fn failed(&self, method: &str, reason: String) -> RpcError {
        if reason.contains(TIMED_OUT) {
            return RpcError::Timeout {
                method: method.to_owned(),
                secs: self.timeout.as_secs(),
            };
        }
        if reason.contains(OUT_OF_FDS) {
            return RpcError::OwnResources {
                method: method.to_owned(),
                reason: reason.replace(&format!("{OUT_OF_FDS}: "), ""),
            };
        }
        // The transport's own failures (connect, HTTP) mean nobody answered.
        if reason.contains("transport error") || reason.contains("HTTP status") {
            RpcError::Unreachable {
                path: self.socket.display().to_string(),
                reason,
            }
        } else {
            RpcError::Protocol {
                method: method.to_owned(),
                what: reason,
            }
        }
    }

    pub async fn call(&self, method: &'static str, args: Vec<Value>) -> Result<Value, RpcError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.call_blocking(method, args))
            .await
            .map_err(|e| RpcError::Join(e.to_string()))?
    }

    pub async fn state(&self) -> Result<String, RpcError> {
        let v = self.call("supervisor.getState", vec![]).await?;
        str_field(&v, "statename", "getState")
    }

    pub async fn pid(&self) -> Result<u32, RpcError> {
        let v = self.call("supervisor.getPID", vec![]).await?;
        Ok(v.as_i32().unwrap_or(0) as u32)
    }

    pub async fn version(&self) -> Result<String, RpcError> {
        let v = self.call("supervisor.getSupervisorVersion", vec![]).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    pub async fn process_info(&self, name: &str) -> Result<ProcessInfo, RpcError> {
        let v = self
            .call("supervisor.getProcessInfo", vec![Value::from(name)])
            .await?;
        parse_info(&v, "getProcessInfo")
    }

    pub async fn all_process_info(&self) -> Result<Vec<ProcessInfo>, RpcError> {
        let v = self.call("supervisor.getAllProcessInfo", vec![]).await?;
        let arr = v.as_array().ok_or_else(|| RpcError::Protocol {
            method: "getAllProcessInfo".into(),
            what: "not an array".into(),
        })?;
        arr.iter()
            .map(|i| parse_info(i, "getAllProcessInfo"))
            .collect()
    }

    pub async fn start_process(&self, name: &str, wait: bool) -> Result<(), RpcError> {
        self.call(
            "supervisor.startProcess",
            vec![Value::from(name), Value::from(wait)],
        )
        .await
        .map(drop)
    }

    pub async fn stop_process(&self, name: &str, wait: bool) -> Result<(), RpcError> {
        self.call(
            "supervisor.stopProcess",
            vec![Value::from(name), Value::from(wait)],
        )
        .await
        .map(drop)
    }

    pub async fn signal_process(&self, name: &str, signal: &str) -> Result<(), RpcError> {
        self.call(
            "supervisor.signalProcess",
            vec![Value::from(name), Value::from(signal)],
        )
        .await
        .map(drop)
    }

    /// Rereads the config files; returns the (added, changed, removed) group names.
    pub async fn reload_config(&self) -> Result<[Vec<String>; 3], RpcError> {
        let v = self.call("supervisor.reloadConfig", vec![]).await?;
        let lists = v
            .as_array()
            .and_then(|a| a.first())
            .and_then(|a| a.as_array())
            .ok_or_else(|| RpcError::Protocol {
                method: "reloadConfig".into(),
                what: format!("{v:?}"),
            })?;
        let names = |i: usize| -> Vec<String> {
            lists
                .get(i)
                .and_then(|l| l.as_array())
                .map(|l| {
                    l.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok([names(0), names(1), names(2)])
    }

    pub async fn add_process_group(&self, name: &str) -> Result<(), RpcError> {
        self.call("supervisor.addProcessGroup", vec![Value::from(name)])
            .await
            .map(drop)
    }

    /// Adds one program group from its section text alone (showroom's
    /// plugin, `showroom_rpc.py`): no other section is parsed.
    pub async fn add_program(&self, name: &str, section: &str) -> Result<(), RpcError> {
        self.call(
            "showroom.addProgram",
            vec![Value::from(name), Value::from(section)],
        )
        .await
        .map(drop)
    }

    pub async fn remove_process_group(&self, name: &str) -> Result<(), RpcError> {
        self.call("supervisor.removeProcessGroup", vec![Value::from(name)])
            .await
            .map(drop)
    }

    pub async fn stop_all_processes(&self) -> Result<(), RpcError> {
        self.call("supervisor.stopAllProcesses", vec![Value::from(true)])
            .await
            .map(drop)
    }

    pub async fn shutdown(&self) -> Result<(), RpcError> {
        self.call("supervisor.shutdown", vec![]).await.map(drop)
    }
}

fn str_field(v: &Value, key: &str, method: &str) -> Result<String, RpcError> {
    v.get(key)
        .and_then(|s| s.as_str())
        .map(str::to_owned)
        .ok_or_else(|| RpcError::Protocol {
            method: method.into(),
            what: format!("no {key}"),
        })
}

fn parse_info(v: &Value, method: &str) -> Result<ProcessInfo, RpcError> {
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let i = |k: &str| v.get(k).and_then(|x| x.as_i32()).unwrap_or(0);
    Ok(ProcessInfo {
        name: str_field(v, "name", method)?,
        group: s("group"),
        statename: str_field(v, "statename", method)?,
        pid: i("pid") as u32,
        description: s("description"),
        exitstatus: i("exitstatus"),
        spawnerr: s("spawnerr"),
        start: i("start").into(),
        stop: i("stop").into(),
        now: i("now").into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_is_not_supervisord_being_down() {
        let sup = Supervisor::new(PathBuf::from("/nonexistent/supervisor.sock"));
        let emfile = connect_error(std::io::Error::from_raw_os_error(nix::libc::EMFILE));
        let e = sup.failed("supervisor.getState", format!("transport error: {emfile}"));
        assert!(!e.is_unreachable(), "{e}");
        assert!(e.is_own_resources(), "{e}");
        assert!(e.to_string().contains("not supervisord's state"), "{e}");
        // A socket nobody listens on is supervisord being down.
        let e = sup
            .call_blocking("supervisor.getState", vec![])
            .unwrap_err();
        assert!(e.is_unreachable(), "{e}");
    }
}

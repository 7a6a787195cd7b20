//! supervisord's event listener protocol, and the one-line form in which the listener forwards a process event to showroomd: pure parsing, no I/O.
//!
//! supervisord writes to a listener's stdin a header line of space-separated
//! `key:value` tokens, then exactly `len` bytes of payload (which need not
//! end in a newline). See supervisord's "Event Listeners" documentation.

/// A demo's process changed state, as supervisord reported it.
///
/// It is a hint, never the truth to apply: by the time it is read, a later
/// action may have moved the process again. Whoever gets one reads that
/// program's state fresh (`getProcessInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessEvent {
    /// The process name (`processname`); a demo's is its name.
    pub program: String,
    /// Its group (`groupname`); a demo's is its name too.
    pub group: String,
    /// The state it entered, from the event name (`RUNNING` for `PROCESS_STATE_RUNNING`).
    pub state: String,
    /// The state it left (`from_state`).
    pub from: String,
}

impl ProcessEvent {
    /// The name `getProcessInfo` takes: `group:program`.
    pub fn rpc_name(&self) -> String {
        format!("{}:{}", self.group, self.program)
    }
}

/// One event as supervisord sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub eventname: String,
    pub payload: Vec<u8>,
}

impl RawEvent {
    /// The process event it describes; None for any other event, or a
    /// payload without the fields of one.
    pub fn process_event(&self) -> Option<ProcessEvent> {
        let state = self.eventname.strip_prefix("PROCESS_STATE_")?;
        // PROCESS_STATE payloads are one line of tokens; anything after a
        // newline would be data of another event type.
        let text = std::str::from_utf8(&self.payload).ok()?;
        let first = text.lines().next().unwrap_or("");
        let (mut program, mut group, mut from) = (None, None, None);
        for (k, v) in tokens(first) {
            match k {
                "processname" => program = Some(v),
                "groupname" => group = Some(v),
                "from_state" => from = Some(v),
                _ => {}
            }
        }
        let event = ProcessEvent {
            program: program?.to_owned(),
            group: group?.to_owned(),
            state: state.to_owned(),
            from: from?.to_owned(),
        };
        [&event.program, &event.group, &event.state, &event.from]
            .iter()
            .all(|s| is_word(s))
            .then_some(event)
    }
}

fn tokens(line: &str) -> impl Iterator<Item = (&str, &str)> {
    line.split_ascii_whitespace()
        .filter_map(|t| t.split_once(':'))
}

/// Non-empty, and nothing that would break the forwarded line apart.
fn is_word(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("event header without a valid len: {0:?}")]
    BadHeader(String),
    #[error("event header longer than {MAX_HEADER} bytes")]
    HeaderTooLong,
    #[error("event payload of {0} bytes is over the {MAX_PAYLOAD} limit")]
    PayloadTooLong(usize),
}

/// Headers are a few hundred bytes; more means the stream is not supervisord's.
pub const MAX_HEADER: usize = 4096;
/// supervisord's own payloads are small; PROCESS_COMMUNICATION ones are capped at its capture size.
pub const MAX_PAYLOAD: usize = 16 << 20;

enum Want {
    Header,
    Payload { eventname: String, len: usize },
}

/// Turns the bytes read from supervisord, in whatever pieces they arrive, into events.
pub struct Decoder {
    buf: Vec<u8>,
    want: Want,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            buf: Vec::new(),
            want: Want::Header,
        }
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes as read; complete events come out of `next_event`.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, if all of it has been fed.
    pub fn next_event(&mut self) -> Result<Option<RawEvent>, DecodeError> {
        loop {
            match &self.want {
                Want::Header => {
                    let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                        if self.buf.len() > MAX_HEADER {
                            return Err(DecodeError::HeaderTooLong);
                        }
                        return Ok(None);
                    };
                    let line: Vec<u8> = self.buf.drain(..=nl).collect();
                    let line = String::from_utf8_lossy(&line);
                    let (eventname, len) = parse_header(line.trim_end())?;
                    self.want = Want::Payload { eventname, len };
                }
                Want::Payload { len, .. } => {
                    if self.buf.len() < *len {
                        return Ok(None);
                    }
                    let payload: Vec<u8> = self.buf.drain(..*len).collect();
                    let Want::Payload { eventname, .. } =
                        std::mem::replace(&mut self.want, Want::Header)
                    else {
                        unreachable!("matched as a payload above")
                    };
                    return Ok(Some(RawEvent { eventname, payload }));
                }
            }
        }
    }
}

/// `ver:3.0 server:supervisor serial:21 pool:listener poolserial:10 eventname:X len:54`.
fn parse_header(line: &str) -> Result<(String, usize), DecodeError> {
    let bad = || DecodeError::BadHeader(line.chars().take(200).collect());
    let (mut eventname, mut len) = (None, None);
    for (k, v) in tokens(line) {
        match k {
            "eventname" => eventname = Some(v.to_owned()),
            "len" => len = Some(v.parse::<usize>().map_err(|_| bad())?),
            _ => {}
        }
    }
    let len = len.ok_or_else(bad)?;
    if len > MAX_PAYLOAD {
        return Err(DecodeError::PayloadTooLong(len));
    }
    Ok((eventname.unwrap_or_default(), len))
}

/// What the listener answers once it has taken an event: supervisord then
/// counts it delivered. `RESULT 2\nOK` is the whole answer, no newline after.
pub const ACK: &[u8] = b"RESULT 2\nOK";
/// What the listener writes when it can take the next event.
pub const READY: &[u8] = b"READY\n";

/// The version word of a forwarded line: a listener left running by an older
/// showroomd may speak another; the receiver treats a line it cannot read as
/// "something changed" and not as an error.
const LINE_VERSION: &str = "v1";

/// The line the listener writes to showroomd for one event, newline included.
pub fn encode_line(e: &ProcessEvent) -> String {
    format!(
        "{LINE_VERSION} {} {} {} {}\n",
        e.state, e.group, e.program, e.from
    )
}

/// Reads a line as `encode_line` wrote it (without its newline).
pub fn parse_line(line: &str) -> Option<ProcessEvent> {
    let mut it = line.split(' ');
    if it.next()? != LINE_VERSION {
        return None;
    }
    let (state, group, program, from) = (it.next()?, it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    let e = ProcessEvent {
        program: program.to_owned(),
        group: group.to_owned(),
        state: state.to_owned(),
        from: from.to_owned(),
    };
    [&e.program, &e.group, &e.state, &e.from]
        .iter()
        .all(|s| is_word(s))
        .then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = "processname:cat groupname:cat from_state:STARTING pid:2766";

    fn header(name: &str, len: usize) -> String {
        format!("ver:3.0 server:supervisor serial:21 pool:listener poolserial:10 eventname:{name} len:{len}\n")
    }

    fn running() -> Vec<u8> {
        format!(
            "{}{PAYLOAD}",
            header("PROCESS_STATE_RUNNING", PAYLOAD.len())
        )
        .into_bytes()
    }

    fn cat_running() -> ProcessEvent {
        ProcessEvent {
            program: "cat".into(),
            group: "cat".into(),
            state: "RUNNING".into(),
            from: "STARTING".into(),
        }
    }

    fn all(d: &mut Decoder) -> Vec<RawEvent> {
        std::iter::from_fn(|| d.next_event().unwrap()).collect()
    }

    #[test]
    fn one_event_whole() {
        let mut d = Decoder::new();
        d.feed(&running());
        let evs = all(&mut d);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].eventname, "PROCESS_STATE_RUNNING");
        assert_eq!(evs[0].process_event(), Some(cat_running()));
    }

    #[test]
    fn any_split_of_the_bytes_gives_the_same_events() {
        // Two events back to back, the second with a payload ending in a newline
        // (its len counts it): fed in every split, one byte at a time included.
        let second = "processname:x groupname:g from_state:RUNNING expected:0 pid:7\n";
        let mut bytes = running();
        bytes.extend(header("PROCESS_STATE_EXITED", second.len()).bytes());
        bytes.extend(second.bytes());
        let whole = {
            let mut d = Decoder::new();
            d.feed(&bytes);
            all(&mut d)
        };
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[1].payload, second.as_bytes());
        for cut in 0..bytes.len() {
            let mut d = Decoder::new();
            d.feed(&bytes[..cut]);
            let mut got = all(&mut d);
            d.feed(&bytes[cut..]);
            got.extend(all(&mut d));
            assert_eq!(got, whole, "cut at {cut}");
        }
        let mut d = Decoder::new();
        let mut got = vec![];
        for b in &bytes {
            d.feed(std::slice::from_ref(b));
            got.extend(all(&mut d));
        }
        assert_eq!(got, whole);
    }

    #[test]
    fn payload_is_read_to_len_exactly_even_with_newlines_inside() {
        // A PROCESS_COMMUNICATION payload has a header line then data; the
        // decoder must not take its newline for the end of the event.
        let payload = "processname:a groupname:a pid:1\nsome\ndata";
        let mut bytes = header("PROCESS_COMMUNICATION_STDOUT", payload.len()).into_bytes();
        bytes.extend(payload.bytes());
        bytes.extend(running());
        let mut d = Decoder::new();
        d.feed(&bytes);
        let evs = all(&mut d);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].payload, payload.as_bytes());
        assert_eq!(evs[0].process_event(), None, "not a process state event");
        assert_eq!(evs[1].process_event(), Some(cat_running()));
    }

    #[test]
    fn unknown_or_incomplete_events_are_not_process_events() {
        for (name, payload) in [
            ("TICK_5", "when:1201063880"),
            ("SUPERVISOR_STATE_CHANGE_RUNNING", ""),
            ("PROCESS_GROUP_ADDED", "groupname:cat"),
            (
                "PROCESS_STATE_RUNNING",
                "processname:cat from_state:STARTING",
            ),
            ("PROCESS_STATE_", PAYLOAD),
            ("SOMETHING_NEW", PAYLOAD),
        ] {
            let e = RawEvent {
                eventname: name.into(),
                payload: payload.into(),
            };
            assert_eq!(e.process_event(), None, "{name} {payload}");
        }
    }

    #[test]
    fn bad_headers_are_errors_with_the_line() {
        let mut d = Decoder::new();
        d.feed(b"ver:3.0 eventname:X len:abc\n");
        assert!(matches!(d.next_event(), Err(DecodeError::BadHeader(l)) if l.contains("len:abc")));
        let mut d = Decoder::new();
        d.feed(b"ver:3.0 eventname:X\n");
        assert!(matches!(d.next_event(), Err(DecodeError::BadHeader(_))));
        let mut d = Decoder::new();
        d.feed(&vec![b'x'; MAX_HEADER + 1]);
        assert_eq!(d.next_event(), Err(DecodeError::HeaderTooLong));
        let mut d = Decoder::new();
        d.feed(format!("eventname:X len:{}\n", MAX_PAYLOAD + 1).as_bytes());
        assert_eq!(
            d.next_event(),
            Err(DecodeError::PayloadTooLong(MAX_PAYLOAD + 1))
        );
    }

    #[test]
    fn forwarded_line_round_trips_and_rejects_anything_else() {
        let e = cat_running();
        let line = encode_line(&e);
        assert_eq!(line, "v1 RUNNING cat cat STARTING\n");
        assert_eq!(parse_line(line.trim_end()), Some(e));
        for bad in [
            "",
            "v2 RUNNING cat cat STARTING",
            "v1 RUNNING cat cat",
            "v1 RUNNING cat cat STARTING extra",
            "v1 RUNNING  cat STARTING",
        ] {
            assert_eq!(parse_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rpc_name_is_group_and_program() {
        assert_eq!(cat_running().rpc_name(), "cat:cat");
    }
}

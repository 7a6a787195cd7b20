//! A deploy job's output: cut into lines for people, handed to a client that may read slowly (what it lost is counted and said), and kept in a log capped at its end.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::TAIL_LINES;

/// Longer lines are cut (the rest of the line is read and dropped): a
/// script printing megabytes without a newline must not grow memory.
pub(super) const MAX_LINE: usize = 8 * 1024;

/// Cuts raw output into lines for people: a line ends at `\n` or at `\r`
/// (a progress bar redrawn with `\r` gives one line a redraw; `\r\n` ends
/// one line), and a line is cut at [`MAX_LINE`] bytes while the rest of it
/// is still read, so no output ever stops the reading.
#[derive(Default)]
pub(super) struct Splitter {
    line: Vec<u8>,
    /// Bytes of the current line past MAX_LINE, read and dropped.
    cut: usize,
    after_cr: bool,
}

impl Splitter {
    pub(super) fn push(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(String)) {
        while !bytes.is_empty() {
            let end = bytes
                .iter()
                .position(|b| *b == b'\n' || *b == b'\r')
                .unwrap_or(bytes.len());
            let (text, rest) = bytes.split_at(end);
            if !text.is_empty() {
                self.after_cr = false;
                let room = MAX_LINE - self.line.len();
                self.line.extend_from_slice(&text[..text.len().min(room)]);
                self.cut += text.len().saturating_sub(room);
            }
            let Some((&delim, rest)) = rest.split_first() else {
                break;
            };
            let empty = self.line.is_empty() && self.cut == 0;
            match delim {
                // The end of a `\r\n`: that line went out at its `\r`.
                b'\n' if self.after_cr && empty => {}
                b'\r' if empty => {}
                _ => emit(self.take()),
            }
            self.after_cr = delim == b'\r';
            bytes = rest;
        }
    }

    /// What is left once the output ended: a last line without a newline.
    pub(super) fn finish(&mut self, emit: &mut impl FnMut(String)) {
        if !self.line.is_empty() || self.cut > 0 {
            emit(self.take());
        }
    }

    fn take(&mut self) -> String {
        let mut text = String::from_utf8_lossy(&self.line).into_owned();
        if self.cut > 0 {
            text += &format!(" [cut: {} more bytes of this line]", self.cut);
        }
        self.line.clear();
        self.cut = 0;
        text
    }
}

/// Where a job's output lines go: the last lines for the outcome, the log,
/// and the client, who gets what it has room for and never slows the job.
pub(super) struct Output {
    splitter: Splitter,
    tail: VecDeque<String>,
    log: CappedLog,
    progress: mpsc::Sender<String>,
    /// Held from the start, so the final count of dropped lines always has room.
    last_word: Option<mpsc::OwnedPermit<String>>,
    dropped: u64,
}

impl Output {
    pub(super) fn new(log: CappedLog, progress: mpsc::Sender<String>) -> Self {
        let last_word = progress.clone().try_reserve_owned().ok();
        Output {
            splitter: Splitter::default(),
            tail: VecDeque::with_capacity(TAIL_LINES),
            log,
            progress,
            last_word,
            dropped: 0,
        }
    }

    pub(super) async fn take(&mut self, bytes: &[u8]) {
        let mut lines = Vec::new();
        self.splitter.push(bytes, &mut |l| lines.push(l));
        self.keep(lines).await;
    }

    async fn keep(&mut self, lines: Vec<String>) {
        let mut text = Vec::new();
        // Each line of the log with its time; the client's copy goes as written.
        let stamp = crate::store::stamp_now();
        for line in lines {
            text.extend_from_slice(stamp.as_bytes());
            text.push(b' ');
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
            self.send(&line);
            if self.tail.len() == TAIL_LINES {
                self.tail.pop_front();
            }
            self.tail.push_back(line);
        }
        self.log.write(&text).await;
    }

    fn send(&mut self, line: &str) {
        use mpsc::error::TrySendError;
        if self.dropped > 0 {
            match self.progress.try_reserve() {
                Ok(permit) => {
                    permit.send(dropped_notice(self.dropped));
                    self.dropped = 0;
                }
                Err(_) => {
                    self.dropped += 1;
                    return;
                }
            }
        }
        match self.progress.try_send(line.to_owned()) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(_)) => self.dropped += 1,
        }
    }

    /// Flushes the last line, says what the client missed, notes how the job
    /// ended in the log; returns the last lines.
    pub(super) async fn finish(mut self, ended_by: Option<&str>) -> Vec<String> {
        let mut last = Vec::new();
        self.splitter.finish(&mut |l| last.push(l));
        self.keep(last).await;
        if let Some(how) = ended_by {
            self.log
                .write(format!("{} showroomd: {how}\n", crate::store::stamp_now()).as_bytes())
                .await;
        }
        if self.dropped > 0 {
            if let Some(permit) = self.last_word.take() {
                permit.send(dropped_notice(self.dropped));
            }
        }
        self.tail.into()
    }
}

fn dropped_notice(n: u64) -> String {
    format!("showroomd: … {n} lines dropped: this client read too slowly (the deploy log has the output)")
}

/// The deploy log, kept under `max` bytes with its end: past the limit its
/// first part is cut (a line at the top says how much), since the end is
/// what explains a failure.
pub(super) struct CappedLog {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    max: u64,
    /// Bytes in the file now, and output bytes cut from its start so far.
    len: u64,
    cut: u64,
    header: u64,
}

impl CappedLog {
    pub(super) async fn create(path: &Path, max: u64) -> Self {
        let file = match tokio::fs::File::create(path).await {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(log = %path.display(), error = %e, "cannot write the deploy log");
                None
            }
        };
        CappedLog {
            path: path.to_owned(),
            file,
            max: max.max(1024),
            len: 0,
            cut: 0,
            header: 0,
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        let Some(f) = self.file.as_mut() else { return };
        if bytes.is_empty() {
            return;
        }
        if let Err(e) = f.write_all(bytes).await {
            tracing::warn!(log = %self.path.display(), error = %e, "cannot write the deploy log");
            self.file = None;
            return;
        }
        self.len += bytes.len() as u64;
        if self.len > self.max {
            self.keep_end().await;
        }
    }

    /// Rewrites the file as a header and its last half: the cost is paid once
    /// every `max / 2` bytes, so a script printing 100 MB costs about 100 MB of writes.
    async fn keep_end(&mut self) {
        let Some(mut f) = self.file.take() else {
            return;
        };
        let _ = f.flush().await;
        drop(f);
        let path = self.path.clone();
        let (max, len, header, cut) = (self.max, self.len, self.header, self.cut);
        let done =
            tokio::task::spawn_blocking(move || keep_end(&path, max, len, header, cut)).await;
        match done {
            Ok(Ok((len, header, cut))) => {
                (self.len, self.header, self.cut) = (len, header, cut);
                match tokio::fs::OpenOptions::new()
                    .append(true)
                    .open(&self.path)
                    .await
                {
                    Ok(f) => self.file = Some(f),
                    Err(e) => {
                        tracing::warn!(log = %self.path.display(), error = %e, "cannot reopen the deploy log")
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(log = %self.path.display(), error = %e, "cannot cut the deploy log")
            }
            Err(e) => tracing::warn!(error = %e, "cutting the deploy log did not run"),
        }
    }
}

/// Keeps the last `max / 2` bytes of the log from a line start, under a
/// header saying how much output was cut. Returns (length, header length, cut).
fn keep_end(
    path: &Path,
    max: u64,
    len: u64,
    header: u64,
    cut: u64,
) -> std::io::Result<(u64, u64, u64)> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::File::open(path)?;
    let from = len.saturating_sub(max / 2).max(header);
    f.seek(SeekFrom::Start(from))?;
    let mut end = Vec::new();
    f.read_to_end(&mut end)?;
    // From the first whole line; a last line longer than the half is kept whole.
    let start = end[..end.len().saturating_sub(1)]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let end = &end[start..];
    let cut = cut + (len - header - end.len() as u64);
    let head = format!(
        "showroomd: the first {cut} bytes of this log were cut to keep it under deploy_log_max_bytes ({max}); its end follows\n"
    );
    let tmp = path.with_extension("log.tmp");
    let mut out = std::fs::File::create(&tmp)?;
    out.write_all(head.as_bytes())?;
    out.write_all(end)?;
    std::fs::rename(&tmp, path)?;
    Ok(((head.len() + end.len()) as u64, head.len() as u64, cut))
}

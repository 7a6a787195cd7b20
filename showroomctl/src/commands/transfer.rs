//! `export NAME FILE` and `import FILE [NAME] [--start]`: a demo's archive carried in pieces between this file and showroomd.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use protocol::{
    Client, ClientError, ErrorKind, ImportRequest, ProtocolError, Request, Response,
    ARCHIVE_PIECE_BYTES,
};
use serde_json::json;

use crate::output;

fn file_error(what: &str, path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Refused(ProtocolError::new(
        ErrorKind::InvalidRequest,
        format!("{what} {}: {e}", path.display()),
    ))
}

/// Writes the pieces to a temporary file beside FILE, renamed to FILE once
/// the export is done: a failed one leaves no half archive under its name.
pub async fn export(
    c: &mut Client,
    as_json: bool,
    name: String,
    file: &Path,
) -> Result<ExitCode, ClientError> {
    let tmp = file.with_file_name(format!(
        ".{}.partial-{}",
        file.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut out = std::fs::File::create(&tmp).map_err(|e| file_error("cannot write", &tmp, e))?;
    let result = async {
        c.send(&Request::Export { name: name.clone() }).await?;
        let mut bytes = 0u64;
        loop {
            match c.next().await? {
                Some(Response::Archive(piece)) => {
                    bytes += piece.len() as u64;
                    out.write_all(&piece)
                        .map_err(|e| file_error("cannot write", &tmp, e))?;
                }
                Some(Response::Done) => break,
                Some(Response::Error(e)) => return Err(ClientError::Refused(e)),
                Some(other) => return Err(super::unexpected(other)),
                None => return Err(ClientError::Closed),
            }
        }
        out.sync_all()
            .and_then(|()| std::fs::rename(&tmp, file))
            .map_err(|e| file_error("cannot write", file, e))?;
        Ok(bytes)
    }
    .await;
    let bytes = match result {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if as_json {
        output::json(&json!({"name": name, "file": file.display().to_string(), "bytes": bytes}));
    } else {
        output::say(&format!(
            "exported {name} to {} ({bytes} bytes); make it elsewhere with: showroomctl import {}",
            file.display(),
            file.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn import(
    c: &mut Client,
    as_json: bool,
    file: &Path,
    name: Option<String>,
    start: bool,
) -> Result<ExitCode, ClientError> {
    let req = ImportRequest { name };
    req.validate()?;
    let mut input = std::fs::File::open(file).map_err(|e| file_error("cannot read", file, e))?;
    c.send(&Request::Import(req)).await?;
    let mut buf = vec![0u8; ARCHIVE_PIECE_BYTES];
    loop {
        let n = match input.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                // The daemon waits for the end: an empty piece, then its refusal is moot.
                c.send(&Request::Archive(Vec::new())).await?;
                return Err(file_error("cannot read", file, e));
            }
        };
        c.send(&Request::Archive(buf[..n].to_vec())).await?;
        if n == 0 {
            break;
        }
    }
    let demo = super::deploy::answer_demo(c, as_json, "imported").await?;
    if start {
        return super::lifecycle::run(c, as_json, "start", demo.name).await;
    }
    Ok(ExitCode::SUCCESS)
}

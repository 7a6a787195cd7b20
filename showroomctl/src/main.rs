//! showroomctl: one request to showroomd per run, printed for a person or (with --json) for a program.

mod cli;
mod commands;
mod confirm;
mod localtime;
mod output;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use protocol::{Client, ClientError, CloneRequest, DeployRequest, Request};

use cli::{Cli, Cmd};

/// Exit codes, as documented in `--help` and the README.
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_UNREACHABLE: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "showroomctl",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    if let Cmd::Man { dir } = &cli.command {
        // generate_to writes a page per subcommand too (showroomctl-deploy.1, ...).
        return match clap_mangen::generate_to(Cli::command(), dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("showroomctl: writing man pages into {}: {e}", dir.display());
                ExitCode::from(EXIT_FAILED)
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("showroomctl: cannot start: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let socket = cli
        .socket
        .clone()
        .unwrap_or_else(protocol::client_socket_path);
    let json = cli.json;
    // Before any byte is sent: a socket another user could have put there
    // would receive the request whole (params and comment included).
    if let Err(e) = protocol::trust::check_socket(&socket, protocol::current_uid()) {
        return report(
            ClientError::Refused(protocol::ProtocolError::new(
                protocol::ErrorKind::PermissionDenied,
                e.to_string(),
            )),
            json,
        );
    }
    if !cli.yes {
        if let Err(e) = confirm::ask_before(&cli.command, &socket).await {
            return report(e, json);
        }
    }
    let mut client = match Client::connect(&socket).await {
        Ok(c) => c,
        Err(e) => return report(e, json),
    };
    let c = &mut client;
    let result = match cli.command {
        Cmd::Available => commands::available::run(c, json).await,
        Cmd::List {
            pattern,
            statuses,
            apps,
            output,
        } => {
            let filter = commands::list::Filter {
                pattern,
                statuses,
                apps,
            };
            let wide = output == Some(cli::ListFormat::Wide);
            commands::list::run(c, json, filter, wide).await
        }
        Cmd::Deploy {
            app,
            name,
            params,
            comment,
            ttl,
            memory,
            procs,
            sleep_after,
        } => {
            let req = DeployRequest {
                app,
                name,
                params,
                comment,
                ttl_secs: ttl,
                memory,
                procs,
                sleep_after_secs: sleep_after,
            };
            commands::deploy::run(c, json, Request::Deploy(req)).await
        }
        Cmd::Clone { src, new, comment } => {
            let req = CloneRequest {
                src,
                name: new,
                comment,
            };
            commands::deploy::run(c, json, Request::Clone(req)).await
        }
        Cmd::Expire { name, ttl } => commands::expire::run(c, json, name, ttl.0).await,
        Cmd::Start { name } => commands::lifecycle::run(c, json, "start", name).await,
        Cmd::Stop { name } => commands::lifecycle::run(c, json, "stop", name).await,
        Cmd::Destroy { name } => commands::lifecycle::run(c, json, "destroy", name).await,
        Cmd::Status { name } => commands::status::run(c, json, name).await,
        Cmd::Supervisor { action } => commands::supervisor::run(c, json, action).await,
        Cmd::Logs {
            name,
            follow,
            lines,
            deploy,
            access,
        } => commands::logs::run(c, json, name, follow, lines, deploy.unwrap_or(0), access).await,
        Cmd::Watch => commands::watch::run(c, json).await,
        Cmd::Cleanup {
            older_than,
            statuses,
            dry_run,
            all: _,
        } => commands::cleanup::run(c, json, older_than, statuses, dry_run).await,
        Cmd::Export { name, file } => commands::transfer::export(c, json, name, &file).await,
        Cmd::Import { file, name, start } => {
            commands::transfer::import(c, json, &file, name, start).await
        }
        Cmd::Restart { name } => commands::lifecycle::run(c, json, "restart", name).await,
        Cmd::Redeploy {
            name,
            params,
            comment,
        } => commands::redeploy::run(c, json, name, params, comment).await,
        Cmd::Keep { name, off } => commands::keep::run(c, json, name, !off).await,
        Cmd::Access { name, change } => commands::access::run(c, json, name, change).await,
        Cmd::SleepAfter { name, idle } => commands::sleep_after::run(c, json, name, idle.0).await,
        Cmd::Completions { .. } | Cmd::Man { .. } => unreachable!("handled before connecting"),
    };
    match result {
        Ok(code) => code,
        Err(e) => report(e, json),
    }
}

/// Prints an error where its reader looks for it, and picks the exit code.
fn report(e: ClientError, json: bool) -> ExitCode {
    match e {
        ClientError::Refused(p) => {
            if json {
                output::json(&output::error_json(&p));
            } else {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "showroomctl: {}", p.message);
                if let Some(d) = &p.detail {
                    for line in d.lines() {
                        let _ = writeln!(err, "  {line}");
                    }
                }
            }
            ExitCode::from(EXIT_FAILED)
        }
        e if e.is_unreachable() => {
            eprintln!("showroomctl: {e}");
            ExitCode::from(EXIT_UNREACHABLE)
        }
        e => {
            eprintln!("showroomctl: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

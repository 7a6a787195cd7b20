//! The showroomd binary: flags over the config file over defaults, logging, signals, then `showroomd::run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Runs showroom's daemon: deploys, starts, stops and reports on demos.
#[derive(Parser, Debug)]
#[command(
    version,
    about,
    after_help = "Example:\n  showroomd --state-dir /var/lib/showroom --socket /run/showroom/showroomd.sock"
)]
struct Args {
    /// A TOML config file (keys as in the README); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The state folder.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// The Unix socket to listen on.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// The folder of deploy scripts (demo_APP.sh).
    #[arg(long)]
    scripts: Option<PathBuf>,
    /// Run as supervisord's event listener instead of as the daemon: speak
    /// supervisord's listener protocol on stdin/stdout and forward process
    /// state changes to the daemon's events socket at this path. supervisord
    /// runs this itself; nobody else needs to.
    #[arg(long, value_name = "EVENTS_SOCKET", conflicts_with_all = ["config", "state_dir", "socket", "scripts"])]
    supervisor_events: Option<PathBuf>,
    /// Write showroomd.8 into this folder and exit: for packagers.
    #[arg(long, value_name = "DIR", hide = true)]
    man: Option<PathBuf>,
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

fn main() -> anyhow::Result<()> {
    // Inside a demo's sandbox, around its start command: no daemon, no flags of its own.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(showroomd::stamp::FLAG) {
        let command = match argv.get(2).map(String::as_str) {
            Some("--") => &argv[3..],
            _ => &argv[2..],
        };
        std::process::exit(showroomd::stamp::run(command));
    }
    // The hidden mode a demo's process starts in (`sandbox/jail.rs`): its
    // own small parser, no async runtime, nothing of the daemon's.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let jail = raw.get(1).is_some_and(|a| a == "--jail");
    let args = if jail { None } else { Some(Args::parse()) };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("SHOWROOM_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let Some(args) = args else {
        std::process::exit(showroomd::sandbox::jail::main(&raw[2..]));
    };
    if let Some(dir) = &args.man {
        // Section 8: a daemon run by the system, not by users.
        let page = clap_mangen::Man::new(<Args as clap::CommandFactory>::command()).section("8");
        let path = dir.join("showroomd.8");
        let mut text = Vec::new();
        page.render(&mut text)
            .and_then(|()| std::fs::write(&path, text))
            .with_context(|| format!("writing {}", path.display()))?;
        return Ok(());
    }
    if let Some(events) = &args.supervisor_events {
        return showroomd::supervisor::event_listener::run(events);
    }
    showroomd::install_panic_hook();
    let mut cfg = match &args.config {
        Some(path) => showroomd::Config::from_file(path)?,
        None => showroomd::Config::default(),
    };
    if let Some(d) = args.state_dir {
        cfg.state_dir = d;
    }
    if let Some(s) = args.socket {
        cfg.socket = s;
    }
    if let Some(s) = args.scripts {
        cfg.scripts_dir = s;
    }
    // Deploy scripts run in the demo's folder: every path must stand on its own.
    for p in [&mut cfg.state_dir, &mut cfg.socket, &mut cfg.scripts_dir] {
        *p = std::path::absolute(&*p).with_context(|| format!("path {}", p.display()))?;
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(showroomd::run(cfg, shutdown_signal()));
    if let Err(e) = &result {
        tracing::error!("{e:#}");
        // Ending on an error (a panic) must not wait on work that may never end.
        runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    }
    result
}

//! vrrpd entry point: parse the command line, load the configuration (exit 64 when invalid), take
//! the pid files, daemonize unless `-n` (before any thread exists), install logging, build the
//! runtime and call [`vrrpd::run`].

use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use vrrpd::cli::{Mode, Opts};
use vrrpd::{exit, logging};

fn main() -> ExitCode {
    let opts = Opts::parse();
    if let Some(req) = opts.status_request() {
        return ExitCode::from(vrrpd::control::status_command(&req.socket, req.json));
    }
    match opts.mode() {
        Err(e) => {
            eprintln!("vrrpd: {e}");
            ExitCode::from(exit::FATAL)
        }
        Ok(Mode::Version) => {
            eprint!("{}", vrrpd::cli::version_text());
            ExitCode::from(exit::OK)
        }
        Ok(Mode::Signum(n)) => {
            println!("{n}");
            ExitCode::from(exit::OK)
        }
        Ok(Mode::ConfigTest { config, log }) => ExitCode::from(config_test(&config, log)),
        Ok(Mode::Run) => ExitCode::from(start(&opts)),
    }
}

/// `-t[=LOG_FILE]`: diagnostics to LOG_FILE (appended, as keepalived's log file) or stderr.
fn config_test(config: &std::path::Path, log: Option<std::path::PathBuf>) -> u8 {
    let mut out: Box<dyn std::io::Write> = match log {
        None => Box::new(std::io::stderr()),
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("vrrpd: cannot open {}: {e}", path.display());
                return exit::FATAL;
            }
        },
    };
    match vrrpd::config::config_test(config, &mut out) {
        Ok(true) => exit::OK,
        Ok(false) => exit::FATAL,
        Err(e) => {
            eprintln!("vrrpd: cannot write the diagnostics: {e}");
            exit::FATAL
        }
    }
}

fn start(opts: &Opts) -> u8 {
    let config_path = std::path::absolute(&opts.use_file).unwrap_or_else(|_| opts.use_file.clone());
    let loaded = vrrpd::config::load(&config_path);
    let Some(config) = loaded.config.clone() else {
        eprint!("{}", loaded.diagnostics);
        eprintln!("vrrpd: invalid configuration {}", config_path.display());
        return exit::CONFIG;
    };
    let mut pids = match vrrpd::pidfile::PidFiles::lock([
        opts.pid_file.as_path(),
        opts.vrrp_pid_file.as_path(),
    ]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("vrrpd: {e}");
            return exit::FATAL;
        }
    };
    if !opts.dont_fork {
        // Fork before the tokio runtime starts any thread.
        if let Err(e) = nix::unistd::daemon(false, false) {
            eprintln!("vrrpd: cannot daemonize: {e}");
            return exit::FATAL;
        }
    }
    let target = if opts.log_to_stderr() {
        logging::Target::Stderr
    } else {
        logging::Target::Syslog(opts.log_facility)
    };
    if let Err(e) = logging::init(target, opts.log_detail) {
        eprintln!("vrrpd: {e}");
        return exit::FATAL;
    }
    for w in opts.warnings() {
        tracing::warn!("{w}");
    }
    for d in loaded.diagnostics.iter() {
        tracing::warn!(diagnostic = %d, "configuration warning");
    }
    if let Err(e) = pids.write_pid(std::process::id()) {
        tracing::error!(error = %e, "cannot write pid file");
        return exit::FATAL;
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), config = %config_path.display(), "starting vrrpd");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the tokio runtime");
            return exit::FATAL;
        }
    };
    let run_opts = vrrpd::RunOptions {
        config_path,
        handle_signals: true,
        ignore_sigint: opts.ignore_sigint,
        sd_notify: true,
        control_socket: (opts.control_socket.as_os_str() != "none")
            .then(|| opts.control_socket.clone()),
    };
    let result = runtime.block_on(vrrpd::run(config, run_opts, CancellationToken::new()));
    drop(pids);
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            tracing::error!(error = %e, "fatal error");
            exit::FATAL
        }
    }
}

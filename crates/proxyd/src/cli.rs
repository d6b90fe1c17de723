//! The command line (HAProxy's flags) and the process lifecycle around [`crate::run`].
//!
//! Owns argument parsing, `-c` check mode, loading the configuration before binding anything,
//! daemonizing, the pid file, systemd notifications and signals (SIGUSR1 graceful stop,
//! SIGTERM/SIGINT immediate stop, SIGHUP reload in this process).
//! It must not contain proxy logic.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{ArgAction, Parser};

use tokio_util::sync::CancellationToken;

use crate::Shutdown;

/// Command line (HAProxy's flags; `-db` is accepted as HAProxy spells it).
#[derive(Debug, Parser)]
#[command(
    name = "proxyd",
    version,
    disable_version_flag = true,
    about = "L4 load balancer for Exchange 2010 CAS (HAProxy replacement)"
)]
pub struct Args {
    /// Configuration file (`.yaml`/`.yml` for YAML, otherwise haproxy.cfg).
    #[arg(short = 'f', value_name = "FILE")]
    pub file: PathBuf,
    /// Check the configuration and exit (0 valid, warnings allowed; 1 otherwise).
    #[arg(short = 'c')]
    pub check: bool,
    /// Write the process id to this file.
    #[arg(short = 'p', value_name = "PIDFILE")]
    pub pidfile: Option<PathBuf>,
    /// Run in the background (daemon).
    #[arg(short = 'D')]
    pub daemon: bool,
    /// Stay in the foreground even if the configuration says `daemon` (HAProxy's `-db`).
    #[arg(long = "db")]
    pub foreground: bool,
    /// Print the version.
    #[arg(short = 'v', action = ArgAction::Version)]
    pub version: Option<bool>,
    /// This process's name in `peers` sections (default: `localpeer`, else the host name).
    #[arg(short = 'L', value_name = "NAME")]
    pub local_peer: Option<String>,
    /// Unix socket answering vrrpd's liveness query (`none` disables it).
    #[arg(long = "liveness-socket", value_name = "PATH", default_value = lbcore::liveness::DEFAULT_SOCKET)]
    pub liveness_socket: PathBuf,
}

/// Parses `argv`, mapping HAProxy's two-letter `-db` to `--db`.
pub fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, clap::Error> {
    Args::try_parse_from(
        argv.into_iter()
            .map(|a| if a == "-db" { "--db".to_owned() } else { a }),
    )
}

/// Exit code for an invalid configuration at startup (EX_USAGE, DESIGN §3.6); `-c` uses 1.
pub const EXIT_CONFIG: u8 = 64;

/// The whole program: returns the process exit code.
pub fn main() -> ExitCode {
    let args = match parse_args(std::env::args()) {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let (config, diags) = load(&args.file, &env, args.local_peer.as_deref());
    for d in diags.iter() {
        eprintln!("{d}");
    }
    let Some(config) = config.filter(|_| !diags.has_errors()) else {
        if args.check {
            eprintln!("configuration has {} error(s)", diags.error_count());
            return ExitCode::from(1);
        }
        // DESIGN §3.6: an invalid configuration at startup is EX_USAGE, as vrrpd's.
        return ExitCode::from(EXIT_CONFIG);
    };
    // What the file names must exist and parse (CA files, regexes): checked before binding.
    let pre = crate::check::preflight(&config);
    for d in pre.iter() {
        eprintln!("{d}");
    }
    if pre.has_errors() {
        if args.check {
            eprintln!("configuration has {} error(s)", pre.error_count());
            return ExitCode::from(1);
        }
        return ExitCode::from(EXIT_CONFIG);
    }
    if args.check {
        println!("Configuration file is valid");
        return ExitCode::SUCCESS;
    }
    // HAProxy semantics: foreground unless -D or `daemon` in global; -db wins.
    if (args.daemon || config.global.daemon) && !args.foreground {
        if let Err(e) = nix::unistd::daemon(false, false) {
            eprintln!("cannot daemonize: {e}");
            return ExitCode::from(1);
        }
    }
    init_tracing();
    let pidfile = args.pidfile.or_else(|| config.global.pidfile.clone());
    if let Some(p) = &pidfile
        && let Err(e) = crate::liveness::write_pid_file(p)
    {
        tracing::error!(path = %p.display(), error = %e, "cannot write pid file");
        return ExitCode::from(1);
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // `nbthread`: HAProxy's worker threads are tokio's workers here (default: one per CPU).
    if let Some(n) = config.global.nbthread.and_then(|n| usize::try_from(n).ok()) {
        builder.worker_threads(n.max(1));
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start runtime");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(async move {
        let shutdown = Shutdown::new();
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
        let source = Source {
            file: args.file.clone(),
            env,
            local_peer: args.local_peer.clone(),
        };
        if let Err(e) = spawn_signals(shutdown.clone(), reload_tx, source) {
            tracing::error!(error = %e, "cannot install signal handlers");
            return ExitCode::from(1);
        }
        raise_fd_limit(&config);
        let local_peer = crate::peers::local_name(args.local_peer.as_deref(), &config);
        let mut proxy = match crate::Proxy::bind(Arc::new(config)) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "proxyd failed");
                return ExitCode::from(1);
            }
        };
        proxy.set_local_peer(&local_peer);
        // Stats listeners, API sockets and the peers port bind before privileges are dropped.
        if let Err(e) = proxy.start_services() {
            tracing::error!(error = %e, "proxyd failed");
            return ExitCode::from(1);
        }
        let liveness = start_liveness(&args.liveness_socket, &proxy, &shutdown);
        // HAProxy's order: bind everything (privileged ports, the VIP) first, then drop to
        // `user`/`group` before serving.
        if let Err(e) = drop_privileges(&proxy.shared().config.global) {
            tracing::error!(error = %e, "cannot drop privileges");
            return ExitCode::from(1);
        }
        notify_systemd(&[sd_notify::NotifyState::Ready]);
        let watchdog = spawn_watchdog(&shutdown);
        let served = proxy.serve_with_reloads(shutdown, Some(reload_rx)).await;
        notify_systemd(&[sd_notify::NotifyState::Stopping]);
        if let Some(w) = watchdog {
            w.abort();
        }
        // The liveness socket stopped with the listeners; let it remove its file before exit.
        if let Some(h) = liveness {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), h).await;
        }
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "proxyd failed");
                ExitCode::from(1)
            }
        }
    });
    rt.shutdown_background();
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
    }
    code
}

/// Starts the liveness socket (DESIGN §1). A failure is logged, not fatal: relaying matters
/// more, and vrrpd's tracker reports the missing socket.
fn start_liveness(
    path: &std::path::Path,
    proxy: &crate::Proxy,
    shutdown: &Shutdown,
) -> Option<tokio::task::JoinHandle<()>> {
    if path.as_os_str() == "none" {
        return None;
    }
    match crate::liveness::bind(path) {
        Ok(l) => {
            // The socket stops with the listeners: a draining proxyd is no longer serving.
            let stop = CancellationToken::new();
            let (g, h, s) = (
                shutdown.graceful.clone(),
                shutdown.hard.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                tokio::select! {
                    () = g.cancelled() => {}
                    () = h.cancelled() => {}
                }
                s.cancel();
            });
            tracing::info!(path = %path.display(), "liveness socket ready");
            Some(tokio::spawn(crate::liveness::serve(
                l,
                path.to_owned(),
                proxy.current(),
                Arc::default(),
                stop,
            )))
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot open the liveness socket");
            None
        }
    }
}

/// Switches to `global` `group` then `user` (supplementary groups reset to the one group), as
/// HAProxy does after binding. Nothing to do when neither is set.
fn drop_privileges(global: &lbcore::config::proxy::Global) -> Result<(), String> {
    use nix::unistd::{Group, User, setgid, setgroups, setuid};
    let user = match &global.user {
        Some(name) => Some(
            User::from_name(name)
                .map_err(|e| format!("user {name}: {e}"))?
                .ok_or_else(|| format!("unknown user {name}"))?,
        ),
        None => None,
    };
    // Already that user and group (a systemd unit's `User=`/`Group=`): nothing to switch, and
    // the unit's sandbox would refuse setgroups anyway.
    let current_gid = nix::unistd::getgid();
    let current_uid = nix::unistd::getuid();
    let user = user.filter(|u| u.uid != current_uid);
    let gid = match (&global.group, &user) {
        (Some(name), _) => Some(
            Group::from_name(name)
                .map_err(|e| format!("group {name}: {e}"))?
                .ok_or_else(|| format!("unknown group {name}"))?
                .gid,
        ),
        (None, Some(u)) => Some(u.gid),
        (None, None) => None,
    };
    if let Some(gid) = gid.filter(|g| *g != current_gid || user.is_some()) {
        setgroups(&[gid]).map_err(|e| format!("setgroups({gid}): {e}"))?;
        setgid(gid).map_err(|e| format!("setgid({gid}): {e}"))?;
    }
    if let Some(u) = user {
        setuid(u.uid).map_err(|e| format!("setuid({}): {e}", u.uid))?;
        tracing::info!(user = %u.name, uid = %u.uid, "dropped privileges");
    }
    Ok(())
}

/// Raises the open-files soft limit to what `maxconn` needs, as HAProxy computes `ulimit-n`: per
/// connection a client and a server socket and, with splice, two pipes of two ends each.
fn raise_fd_limit(config: &lbcore::config::proxy::ProxyConfig) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let maxconn = u64::from(
        config
            .global
            .maxconn
            .unwrap_or(crate::state::DEFAULT_GLOBAL_MAXCONN),
    );
    let listeners: u64 = config.frontends.iter().map(|f| f.binds.len() as u64).sum();
    let want = maxconn.saturating_mul(6).saturating_add(listeners + 256);
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= want {
        return;
    }
    let new = want.min(hard);
    if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, new, hard) {
        tracing::warn!(want, soft, hard, error = %e, "cannot raise the open-files limit");
    } else if new < want {
        tracing::warn!(
            want,
            got = new,
            "open-files hard limit is below what maxconn needs"
        );
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only on a terminal: under systemd the journal would store escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Loads the configuration and checks that every `peers` section names this process (an
/// error, where HAProxy silently drops the section).
fn load(
    file: &std::path::Path,
    env: &BTreeMap<String, String>,
    local_peer: Option<&str>,
) -> (
    Option<lbcore::config::proxy::ProxyConfig>,
    lbcore::diag::Diagnostics,
) {
    let (config, mut diags) = lbcore::config::load_proxy(file, env);
    if let Some(c) = &config {
        c.check_local_peer(&crate::peers::local_name(local_peer, c), &mut diags);
    }
    (config, diags)
}

/// systemd's watchdog (`WatchdogSec=`, seen as `WATCHDOG_USEC`): `WATCHDOG=1` at half the
/// interval from a task on the serving runtime, so a stalled runtime stops the pings and systemd
/// restarts proxyd.
fn spawn_watchdog(shutdown: &Shutdown) -> Option<tokio::task::JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled()? / 2;
    tracing::info!(interval = ?interval, "systemd watchdog enabled");
    // A graceful stop still serves connections: the pings go on until the hard stop or exit.
    let hard = shutdown.hard.clone();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval.max(std::time::Duration::from_millis(10)));
        loop {
            tokio::select! {
                () = hard.cancelled() => return,
                _ = tick.tick() => notify_systemd(&[sd_notify::NotifyState::Watchdog]),
            }
        }
    }))
}

/// Where the configuration comes from (re-read on SIGHUP).
struct Source {
    file: PathBuf,
    env: BTreeMap<String, String>,
    local_peer: Option<String>,
}

fn notify_systemd(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// SIGHUP: the file is loaded and checked as `-c` does (on a blocking thread), then handed to
/// the serving loop; an invalid file changes nothing. systemd sees `RELOADING=1` then
/// `READY=1`.
async fn reload(source: &Source, tx: &tokio::sync::mpsc::Sender<crate::ReloadRequest>) {
    let mut reloading = vec![sd_notify::NotifyState::Reloading];
    if let Ok(m) = sd_notify::NotifyState::monotonic_usec_now() {
        reloading.push(m);
    }
    notify_systemd(&reloading);
    let (file, env, local) = (
        source.file.clone(),
        source.env.clone(),
        source.local_peer.clone(),
    );
    let loaded = tokio::task::spawn_blocking(move || {
        let (config, diags) = load(&file, &env, local.as_deref());
        let pre = config.as_ref().map(crate::check::preflight);
        (config, diags, pre)
    })
    .await;
    let file = source.file.display().to_string();
    match loaded {
        Err(e) => {
            tracing::error!(%file, error = %e, "reload: loading the configuration failed; keeping the running configuration");
        }
        Ok((config, diags, pre)) => {
            for d in diags.iter().chain(pre.iter().flat_map(|p| p.iter())) {
                tracing::warn!(diagnostic = %d, "reload: configuration diagnostic");
            }
            let invalid = diags.has_errors() || pre.as_ref().is_some_and(|p| p.has_errors());
            match config.filter(|_| !invalid) {
                None => {
                    tracing::error!(%file, "reload: configuration invalid; keeping the running configuration");
                }
                Some(config) => {
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    let req = crate::ReloadRequest {
                        config: Arc::new(config),
                        reply,
                    };
                    if tx.send(req).await.is_err() {
                        tracing::warn!("reload: not serving any more");
                    } else {
                        match answer.await {
                            Ok(Ok(r)) => {
                                tracing::info!(%file, kept = r.kept, bound = r.bound, closed = r.closed, "reload: new configuration serving")
                            }
                            Ok(Err(e)) => {
                                tracing::error!(%file, error = %e, "reload: cannot apply the new configuration; keeping the running one")
                            }
                            Err(_) => tracing::warn!("reload: not serving any more"),
                        }
                    }
                }
            }
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Ready]);
}

fn spawn_signals(
    shutdown: Shutdown,
    reloads: tokio::sync::mpsc::Sender<crate::ReloadRequest>,
    source: Source,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    tracing::info!("sighup: reloading the configuration");
                    reload(&source, &reloads).await;
                }
                _ = usr1.recv() => {
                    tracing::info!("sigusr1: stop accepting, finishing connections");
                    shutdown.graceful.cancel();
                }
                _ = term.recv() => {
                    tracing::info!("sigterm: stopping now");
                    shutdown.hard.cancel();
                }
                _ = int.recv() => {
                    tracing::info!("sigint: stopping now");
                    shutdown.hard.cancel();
                }
            }
        }
    });
    Ok(())
}

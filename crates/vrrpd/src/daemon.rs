//! The daemon's life cycle: resolve interfaces, clean up stale VIPs, open sockets, start one
//! driver per instance, handle signals, and stop cleanly.
//!
//! Owns: [`run`], the wiring between sockets, receive loops and drivers, signal handling
//! (SIGTERM/SIGINT stop, SIGHUP reload check, SIGUSR1/SIGUSR2 acknowledged) and systemd
//! notifications. Must not: parse configuration text (the caller passes a validated
//! [`VrrpConfig`]) or make protocol decisions.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use lbcore::config::vrrp::{VrrpConfig, VrrpInstance};
use lbcore::diag::Diagnostics;

use crate::clock;
use crate::driver::{Driver, Vip, fsm_config, remove_vips};
use crate::garp::{Announcer, ipv6_forwarding};
use crate::netlink::{AddrSpec, Link, Netlink, NetlinkError};
use crate::rx::{INSTANCE_QUEUE, Route, rx_loop};
use crate::socket::{Mode, VrrpSocket};
use crate::status::{InstanceStatus, Shared, SocketStats};

/// How long stopping may take before drivers are abandoned.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long startup waits for an IPv6 link-local address to finish DAD.
pub const LINK_LOCAL_WAIT: Duration = Duration::from_secs(5);

/// Options of [`run`] that do not come from the configuration file.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The file the configuration came from (re-read on SIGHUP).
    pub config_path: PathBuf,
    /// Handle SIGTERM / SIGINT / SIGHUP / SIGUSR1 / SIGUSR2 (off when embedded in tests).
    pub handle_signals: bool,
    /// `--ignore-sigint`.
    pub ignore_sigint: bool,
    /// Send systemd notifications (READY=1, STOPPING=1).
    pub sd_notify: bool,
    /// Where `vrrpd status` asks (`None`: no control socket).
    pub control_socket: Option<PathBuf>,
}

/// A fatal runtime error (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Netlink failed.
    #[error("instance {instance}: {source}")]
    Netlink {
        /// The instance being set up.
        instance: String,
        /// What failed.
        source: NetlinkError,
    },
    /// The netlink socket could not be opened.
    #[error(transparent)]
    NetlinkOpen(NetlinkError),
    /// No address to send adverts from.
    #[error(
        "instance {instance}: interface {interface} has no {family} address to send adverts from (set mcast_src_ip/unicast_src_ip)"
    )]
    NoSourceAddress {
        /// Instance.
        instance: String,
        /// Interface.
        interface: String,
        /// "IPv4" or "IPv6 link-local".
        family: &'static str,
    },
    /// Two instances share a VRID on one socket.
    #[error("instances {first} and {second} both use VRID {vrid} on {interface}")]
    DuplicateVrid {
        /// First instance.
        first: String,
        /// Second instance.
        second: String,
        /// VRID.
        vrid: u8,
        /// Interface.
        interface: String,
    },
    /// A socket could not be opened.
    #[error("cannot open the {what} socket on {interface}: {source}")]
    Socket {
        /// Which socket.
        what: &'static str,
        /// Interface.
        interface: String,
        /// Why.
        source: io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(io::Error),
    /// A driver task panicked.
    #[error("instance task failed: {0}")]
    Driver(String),
}

/// One instance after interface resolution.
struct Prepared<'a> {
    inst: &'a VrrpInstance,
    link: Link,
    src: IpAddr,
    mode: Mode,
    dsts: Vec<IpAddr>,
    vips: Vec<Vip>,
}

async fn link_cached(
    netlink: &Netlink,
    cache: &mut HashMap<String, Link>,
    name: &str,
) -> Result<Link, NetlinkError> {
    if let Some(l) = cache.get(name) {
        return Ok(l.clone());
    }
    let l = netlink.link(name).await?;
    cache.insert(name.to_string(), l.clone());
    Ok(l)
}

async fn wait_link_local(netlink: &Netlink, index: u32) -> Result<Option<Ipv6Addr>, NetlinkError> {
    let deadline = clock::now() + LINK_LOCAL_WAIT;
    loop {
        match netlink.link_local_v6(index).await? {
            Some((a, false)) => return Ok(Some(a)),
            Some((a, true)) if clock::now() >= deadline => {
                tracing::warn!(addr = %a, "link-local address still tentative, using it anyway");
                return Ok(Some(a));
            }
            None if clock::now() >= deadline => return Ok(None),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn prepare<'a>(
    netlink: &Netlink,
    cfg: &VrrpConfig,
    inst: &'a VrrpInstance,
    cache: &mut HashMap<String, Link>,
) -> Result<Prepared<'a>, RunError> {
    let nl_err = |source| RunError::Netlink {
        instance: inst.name.clone(),
        source,
    };
    let link = link_cached(netlink, cache, &inst.interface)
        .await
        .map_err(nl_err)?;
    let mut vips = Vec::new();
    for (v, excluded) in inst
        .vips
        .iter()
        .map(|v| (v, false))
        .chain(inst.excluded_vips.iter().map(|v| (v, true)))
    {
        let dev = v.dev.as_deref().unwrap_or(&inst.interface);
        let l = link_cached(netlink, cache, dev).await.map_err(nl_err)?;
        vips.push(Vip {
            spec: AddrSpec::from_config(v),
            ifindex: l.index,
            ifname: l.name.clone(),
            mac: l.mac,
            excluded,
            router: v.addr.is_ipv6() && ipv6_forwarding(&l.name),
        });
    }
    let vip_addrs: Vec<IpAddr> = vips.iter().map(|v| v.spec.addr).collect();
    let src = match inst.src_ip {
        Some(a) => a,
        None if inst.ipv6 => wait_link_local(netlink, link.index)
            .await
            .map_err(nl_err)?
            .map(IpAddr::V6)
            .ok_or_else(|| RunError::NoSourceAddress {
                instance: inst.name.clone(),
                interface: link.name.clone(),
                family: "IPv6 link-local",
            })?,
        None => netlink
            .primary_v4(link.index, &vip_addrs)
            .await
            .map_err(nl_err)?
            .map(IpAddr::V4)
            .ok_or_else(|| RunError::NoSourceAddress {
                instance: inst.name.clone(),
                interface: link.name.clone(),
                family: "IPv4",
            })?,
    };
    let (mode, dsts) = if inst.unicast_peers.is_empty() {
        let group = if inst.ipv6 {
            IpAddr::V6(cfg.global.mcast_group6)
        } else {
            IpAddr::V4(cfg.global.mcast_group4)
        };
        (Mode::Multicast(group), vec![group])
    } else {
        (
            Mode::Unicast(src),
            inst.unicast_peers.iter().map(|p| p.addr).collect(),
        )
    };
    Ok(Prepared {
        inst,
        link,
        src,
        mode,
        dsts,
        vips,
    })
}

/// One warning per setting that is parsed but not acted on ([`crate::config::not_acted_on`],
/// the list `-t` prints too).
fn log_not_acted_on(cfg: &VrrpConfig) {
    for n in crate::config::not_acted_on(cfg) {
        let at = n
            .span
            .as_ref()
            .map_or_else(|| "global_defs".to_string(), ToString::to_string);
        tracing::warn!(keyword = n.keyword, subject = %n.subject, at, reason = n.reason, "setting parsed but not acted on");
    }
}

fn notify_systemd(enabled: bool, state: &[sd_notify::NotifyState<'_>]) {
    if enabled {
        if let Err(e) = sd_notify::notify(state) {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }
}

/// How long the last notifications may take to leave at exit (keepalived gives `notify_stop`
/// one second; mail gets the rest).
pub const NOTIFY_DRAIN: Duration = Duration::from_secs(3);

/// systemd's watchdog (`WatchdogSec=` in the unit, seen as `WATCHDOG_USEC`): `WATCHDOG=1` at
/// half the interval, as sd_watchdog_enabled(3) advises, from a task on the same runtime as the
/// instances, so a stalled runtime stops the pings and systemd restarts the service.
fn spawn_watchdog(enabled: bool, stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled().filter(|_| enabled)? / 2;
    tracing::info!(interval = ?interval, "systemd watchdog enabled");
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => notify_systemd(true, &[sd_notify::NotifyState::Watchdog]),
            }
        }
    }))
}

/// Runs the VRRP instances of `config` until SIGTERM/SIGINT (when `opts.handle_signals`) or
/// `shutdown` is cancelled, then stops them: masters send a priority-0 advert, VIPs are removed.
pub async fn run(
    config: VrrpConfig,
    opts: RunOptions,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    // Installed first: a SIGTERM during set-up is held and handled once instances run, instead
    // of killing the process with its pid files in place.
    let mut signals = if opts.handle_signals {
        Some(Signals::install()?)
    } else {
        None
    };
    let netlink = Netlink::new().map_err(RunError::NetlinkOpen)?;
    log_not_acted_on(&config);
    let announcer = Arc::new(Announcer::open().map_err(|source| RunError::Socket {
        what: "AF_PACKET",
        interface: "any".into(),
        source,
    })?);

    let mut cache = HashMap::new();
    let mut prepared = Vec::new();
    for inst in &config.instances {
        prepared.push(prepare(&netlink, &config, inst, &mut cache).await?);
    }

    // keepalived vrrp_init_state → vrrp_restore_interface(.., true): addresses of ours left by a
    // crash are removed before anything starts.
    for p in &prepared {
        let n = remove_vips(&netlink, &p.inst.name, &p.vips).await;
        if n > 0 {
            tracing::info!(stale = n, "({}) removing VIPs.", p.inst.name);
        }
    }

    // One socket per (interface, family, mode), shared by the instances on it.
    let mut sockets: HashMap<(String, Mode), Arc<VrrpSocket>> = HashMap::new();
    let mut routes: HashMap<(String, Mode), HashMap<u8, Route>> = HashMap::new();
    let mut drivers: Vec<Driver> = Vec::new();
    let mut all_vips: Vec<(String, Vec<Vip>)> = Vec::new();
    for p in prepared {
        all_vips.push((p.inst.name.clone(), p.vips.clone()));
        let key = (p.link.name.clone(), p.mode);
        let sock = match sockets.get(&key) {
            Some(s) => Arc::clone(s),
            None => {
                let s = VrrpSocket::open(&p.link.name, p.link.index, p.mode).map_err(|source| {
                    RunError::Socket {
                        what: "VRRP",
                        interface: p.link.name.clone(),
                        source,
                    }
                })?;
                let s = Arc::new(s);
                sockets.insert(key.clone(), Arc::clone(&s));
                s
            }
        };
        let (tx, rx) = mpsc::channel(INSTANCE_QUEUE);
        let table = routes.entry(key).or_default();
        if let Some(other) = table.get(&p.inst.vrid) {
            return Err(RunError::DuplicateVrid {
                first: other.name.clone(),
                second: p.inst.name.clone(),
                vrid: p.inst.vrid,
                interface: p.link.name.clone(),
            });
        }
        table.insert(
            p.inst.vrid,
            Route {
                name: p.inst.name.clone(),
                tx,
                peers: p.inst.unicast_peers.clone(),
                check_unicast_src: p.inst.check_unicast_src,
            },
        );
        let status = Shared::new(InstanceStatus::new(
            &p.inst.name,
            p.inst.vrid,
            &p.link.name,
            p.inst.priority,
        ));
        drivers.push(Driver {
            fsm: lbcore::vrrp::fsm::Instance::new(fsm_config(p.inst, p.src)),
            socket: sock,
            src: p.src,
            dsts: p.dsts,
            checksum: p.inst.v3_ipv4_checksum,
            ttl: if p.inst.unicast_peers.is_empty() {
                None
            } else {
                p.inst.unicast_ttl
            },
            vips: p.vips,
            netlink: netlink.clone(),
            announcer: Arc::clone(&announcer),
            garp_interval: config.global.garp_interval,
            gna_interval: config.global.gna_interval,
            startup_delay: config.global.startup_delay,
            rx,
            status,
            track: None,
            notifier: None,
        });
    }

    // Trackers, notifications and the control socket live beside the drivers; they stop after
    // the drivers, so the last transitions (STOP) are still announced.
    let aux_stop = CancellationToken::new();
    let statuses: Vec<Shared<InstanceStatus>> = drivers.iter().map(|d| d.status.clone()).collect();
    let mut tracked = crate::track::spawn(&config, aux_stop.clone()).await;
    let notifier = crate::notify::spawn(&config, aux_stop.clone());
    for (i, d) in drivers.iter_mut().enumerate() {
        d.track = tracked.receivers.get_mut(i).and_then(Option::take);
        d.notifier = notifier.as_ref().map(|(n, _)| n.clone());
    }
    let control = crate::control::spawn(&opts, statuses.clone(), aux_stop.clone());

    let rx_stop = CancellationToken::new();
    let mut rx_tasks = JoinSet::new();
    for (key, table) in routes {
        if let Some(sock) = sockets.get(&key) {
            rx_tasks.spawn(rx_loop(
                Arc::clone(sock),
                table,
                Shared::new(SocketStats::default()),
                rx_stop.clone(),
            ));
        }
    }

    let driver_stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut started = Vec::new();
    for d in drivers {
        let (tx, rx) = oneshot::channel();
        started.push(rx);
        tasks.spawn(d.run(driver_stop.clone(), tx));
    }
    for s in started {
        let _ = s.await;
    }
    tracing::info!("Startup complete");
    notify_systemd(opts.sd_notify, &[sd_notify::NotifyState::Ready]);
    let watchdog = spawn_watchdog(opts.sd_notify, aux_stop.clone());

    let result = wait_for_stop(
        &config,
        &opts,
        &statuses,
        &shutdown,
        signals.as_mut(),
        &mut tasks,
    )
    .await;

    tracing::info!("Stopping");
    notify_systemd(opts.sd_notify, &[sd_notify::NotifyState::Stopping]);
    driver_stop.cancel();
    let drained = tokio::time::timeout(STOP_TIMEOUT, async {
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "instance task failed while stopping");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::error!("instances did not stop in time");
    }
    // Drivers release their VIPs; this sweep covers a driver that failed or timed out, so a stop
    // never leaves one of our addresses behind.
    for (name, vips) in &all_vips {
        let n = remove_vips(&netlink, name, vips).await;
        if n > 0 {
            tracing::warn!(instance = %name, removed = n, "vips removed after the instance stopped");
        }
    }
    rx_stop.cancel();
    rx_tasks.shutdown().await;
    // The drivers are gone, so the notification queue closes once drained: give the last
    // announcements (notify_stop, mail) a bounded time to leave.
    if let Some((n, task)) = notifier {
        drop(n);
        if tokio::time::timeout(NOTIFY_DRAIN, task).await.is_err() {
            tracing::warn!("notifications still pending at exit were abandoned");
        }
    }
    aux_stop.cancel();
    if let Some(w) = watchdog {
        let _ = w.await;
    }
    tracked.tasks.shutdown().await;
    if let Some(c) = control {
        let _ = c.await;
    }
    tracing::info!("Stopped");
    result
}

/// The signals vrrpd answers to.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    usr1: Signal,
    usr2: Signal,
    /// SIGRTMIN+2: keepalived's JSON dump.
    json: Signal,
    /// SIGRTMAX-1: keepalived's stats dump with counters cleared.
    stats_clear: Signal,
}

impl Signals {
    fn install() -> Result<Self, RunError> {
        let sig = |k| signal(k).map_err(RunError::Signals);
        Ok(Self {
            term: sig(SignalKind::terminate())?,
            int: sig(SignalKind::interrupt())?,
            hup: sig(SignalKind::hangup())?,
            usr1: sig(SignalKind::user_defined1())?,
            usr2: sig(SignalKind::user_defined2())?,
            json: sig(SignalKind::from_raw(crate::dump::json_signal()))?,
            stats_clear: sig(SignalKind::from_raw(crate::dump::stats_clear_signal()))?,
        })
    }
}

async fn wait_for_stop(
    config: &VrrpConfig,
    opts: &RunOptions,
    statuses: &[Shared<InstanceStatus>],
    shutdown: &CancellationToken,
    signals: Option<&mut Signals>,
    tasks: &mut JoinSet<()>,
) -> Result<(), RunError> {
    let Some(s) = signals else {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            Some(r) = tasks.join_next() => return Err(RunError::Driver(task_end(r))),
        }
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = s.term.recv() => return Ok(()),
            _ = s.int.recv() => {
                if opts.ignore_sigint {
                    tracing::info!("sigint ignored (--ignore-sigint)");
                } else {
                    return Ok(());
                }
            }
            _ = s.hup.recv() => reload(config, opts).await,
            _ = s.usr1.recv() => crate::dump::on_signal(crate::dump::Dump::Data, config, statuses),
            _ = s.usr2.recv() => crate::dump::on_signal(crate::dump::Dump::Stats, config, statuses),
            _ = s.json.recv() => crate::dump::on_signal(crate::dump::Dump::Json, config, statuses),
            _ = s.stats_clear.recv() => {
                // The counters live in each instance's state machine and are not reset yet:
                // write the stats file as keepalived does, and say that nothing was cleared.
                crate::dump::on_signal(crate::dump::Dump::Stats, config, statuses);
                tracing::warn!("stats_clear: stats written; counters are not cleared by vrrpd");
            }
            Some(r) = tasks.join_next() => return Err(RunError::Driver(task_end(r))),
        }
    }
}

fn task_end(r: Result<(), tokio::task::JoinError>) -> String {
    match r {
        Ok(()) => "an instance task ended unexpectedly".to_string(),
        Err(e) => e.to_string(),
    }
}

/// What re-reading the configuration file on SIGHUP found.
#[derive(Debug)]
pub enum ReloadCheck {
    /// The same settings as the running configuration. Positions are not compared, so
    /// re-indenting, adding comments or moving lines is not a change.
    Unchanged,
    /// A valid configuration with different settings.
    Changed,
    /// The file is invalid; its diagnostics.
    Invalid(Diagnostics),
    /// Loading did not complete (it panicked); why.
    Failed(String),
}

/// Loads `path` with `load` on a blocking thread and compares the result with `current`. A
/// panic inside `load` is contained (tokio turns it into a `JoinError`) and reported as
/// [`ReloadCheck::Failed`]: a reload never takes the daemon down.
pub async fn check_reload<F>(current: &VrrpConfig, path: &Path, load: F) -> ReloadCheck
where
    F: FnOnce(&Path) -> crate::config::Loaded + Send + 'static,
{
    let path = path.to_path_buf();
    let loaded = match tokio::task::spawn_blocking(move || load(&path)).await {
        Ok(l) => l,
        Err(e) => return ReloadCheck::Failed(e.to_string()),
    };
    match loaded.config {
        Some(new) if new.without_spans() == current.without_spans() => ReloadCheck::Unchanged,
        Some(_) => ReloadCheck::Changed,
        None => ReloadCheck::Invalid(loaded.diagnostics),
    }
}

/// SIGHUP: re-read the file; only a configuration with the same settings is "reloaded" (a
/// no-op). Whatever happens, the running configuration stays in force.
async fn reload(current: &VrrpConfig, opts: &RunOptions) {
    notify_systemd(opts.sd_notify, &reloading_state());
    let file = opts.config_path.display();
    match check_reload(current, &opts.config_path, crate::config::load).await {
        ReloadCheck::Unchanged => tracing::info!("reload: configuration unchanged"),
        ReloadCheck::Changed => tracing::warn!(
            %file,
            "reload: configuration changed, but a full reload is not yet implemented (issue: vrrpd tracking/reload); keeping the running configuration"
        ),
        ReloadCheck::Invalid(diagnostics) => {
            for d in diagnostics.iter() {
                tracing::warn!(diagnostic = %d, "reload: configuration error");
            }
            tracing::warn!(
                %file,
                "reload: configuration invalid; keeping the running configuration"
            );
        }
        ReloadCheck::Failed(error) => tracing::error!(
            %file,
            %error,
            "reload: loading the configuration failed; keeping the running configuration"
        ),
    }
    notify_systemd(opts.sd_notify, &[sd_notify::NotifyState::Ready]);
}

fn reloading_state() -> Vec<sd_notify::NotifyState<'static>> {
    let mut v = vec![sd_notify::NotifyState::Reloading];
    if let Ok(m) = sd_notify::NotifyState::monotonic_usec_now() {
        v.push(m);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file under the system temp directory, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(tag: &str, text: &str) -> Self {
            let p = std::env::temp_dir().join(format!("vrrpd-{tag}-{}.conf", std::process::id()));
            std::fs::write(&p, text).expect("write temp config");
            Self(p)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    const SEED: &str = "vrrp_instance VI_1 {\n    interface eth0\n    state MASTER\n    priority 101\n    virtual_router_id 51\n    virtual_ipaddress {\n        192.0.2.100\n    }\n}\n";
    const MOVED: &str = "! comment added on top\n\n# and another\nvrrp_instance VI_1 {\n\tinterface eth0   # same\n\tstate MASTER\n  priority 101\n virtual_router_id 51\n virtual_ipaddress {\n   192.0.2.100\n }\n}\n";

    fn running(path: &Path) -> VrrpConfig {
        let loaded = crate::config::load(path);
        loaded
            .config
            .unwrap_or_else(|| panic!("{}", loaded.diagnostics))
    }

    #[tokio::test]
    async fn moved_lines_and_comments_are_not_a_change() {
        let file = TempFile::new("reload-same", SEED);
        let current = running(&file.0);
        std::fs::write(&file.0, MOVED).expect("rewrite");
        let check = check_reload(&current, &file.0, crate::config::load).await;
        assert!(matches!(check, ReloadCheck::Unchanged), "{check:?}");
        std::fs::write(&file.0, SEED.replace("101", "102")).expect("rewrite");
        let check = check_reload(&current, &file.0, crate::config::load).await;
        assert!(matches!(check, ReloadCheck::Changed), "{check:?}");
        std::fs::write(&file.0, "vrrp_instance {\n").expect("rewrite");
        let check = check_reload(&current, &file.0, crate::config::load).await;
        assert!(
            matches!(&check, ReloadCheck::Invalid(d) if d.has_errors()),
            "{check:?}"
        );
    }

    #[tokio::test]
    async fn a_panic_while_loading_is_a_failed_reload() {
        let file = TempFile::new("reload-panic", SEED);
        let current = running(&file.0);
        let check = check_reload(&current, &file.0, |_: &Path| -> crate::config::Loaded {
            panic!("parser bug")
        })
        .await;
        match check {
            ReloadCheck::Failed(why) => assert!(why.contains("panicked"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}

//! The daemon's life cycle: resolve interfaces, clean up stale VIPs, open sockets, start one
//! driver per instance, handle signals, and stop cleanly.
//!
//! Owns: [`run`], the wiring between sockets, receive loops, drivers, trackers, notifications
//! and sync groups; signal handling (SIGTERM/SIGINT stop, SIGHUP reload, the dump signals,
//! STATS_CLEAR) and systemd notifications. A reload diffs the instances by name and keeps the
//! unchanged ones running untouched. Must not: parse configuration text (the caller passes a validated
//! [`VrrpConfig`]) or make protocol decisions.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use lbcore::config::vrrp::{VrrpConfig, VrrpInstance};
use lbcore::diag::Diagnostics;

use crate::clock;
use crate::driver::{CMD_QUEUE, Driver, DriverCmd, RxEvent, Vip, Wiring, fsm_config, remove_vips};
use crate::garp::{Announcer, ipv6_forwarding};
use crate::netlink::{AddrSpec, Link, Netlink, NetlinkError};
use crate::notify::Notifier;
use crate::rx::{INSTANCE_QUEUE, Route, Routes, rx_loop};
use crate::socket::{Mode, VrrpSocket};
use crate::status::{InstanceStatus, Registry, Shared, SocketStats};
use lbcore::vrrp::fsm::State;

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

/// A socket key: one VRRP socket per (interface, family and mode).
type SockKey = (String, Mode);

/// A VRRP socket and the instances its receive loop serves.
struct Sock {
    sock: Arc<VrrpSocket>,
    routes: Routes,
}

/// One running instance, as the daemon tracks it.
struct Inst {
    /// Its settings without positions (reload comparisons).
    cfg: VrrpInstance,
    key: SockKey,
    vips: Vec<Vip>,
    status: Shared<InstanceStatus>,
    cmds: mpsc::Sender<DriverCmd>,
    task: JoinHandle<()>,
    /// Serial number reported when its task ends.
    serial: u64,
}

/// Trackers, notifications and sync groups of one configuration; a reload rebuilds them.
struct Aux {
    /// Stops the trackers and sync groups.
    stop: CancellationToken,
    /// Cuts the notification task's final drain short.
    notify_stop: CancellationToken,
    tracked: crate::track::Spawned,
    notifier: Option<(Notifier, JoinHandle<()>)>,
    sync_tasks: Vec<JoinHandle<()>>,
}

impl Aux {
    /// Starts them for `config`; `cmds[i]` reaches instance `i`. Returns each instance's
    /// wiring, in `config.instances` order.
    async fn start(
        config: &VrrpConfig,
        carried: &crate::track::Ledger,
        groups: &crate::sync::Announced,
        cmds: &[mpsc::Sender<DriverCmd>],
    ) -> (Aux, Vec<Wiring>) {
        let stop = CancellationToken::new();
        let notify_stop = CancellationToken::new();
        let mut tracked = crate::track::spawn(config, carried, stop.clone()).await;
        let notifier = crate::notify::spawn(config, notify_stop.clone());
        let (ports, sync_tasks) = crate::sync::spawn(
            config,
            cmds,
            notifier.as_ref().map(|(n, _)| n.clone()),
            groups,
            stop.clone(),
        );
        let wirings = ports
            .into_iter()
            .enumerate()
            .map(|(i, sync)| Wiring {
                track: tracked.receivers.get_mut(i).and_then(Option::take),
                notifier: notifier.as_ref().map(|(n, _)| n.clone()),
                sync,
            })
            .collect();
        (
            Aux {
                stop,
                notify_stop,
                tracked,
                notifier,
                sync_tasks,
            },
            wirings,
        )
    }

    /// Stops the trackers and sync groups. The notification task is handed back with the
    /// token that cuts its drain short: it ends by itself once the drivers holding its notifier
    /// are gone or rewired and its queue is drained.
    async fn stop(mut self) -> Option<Draining> {
        self.stop.cancel();
        for t in self.sync_tasks {
            let _ = t.await;
        }
        self.tracked.tasks.shutdown().await;
        let notify_stop = self.notify_stop;
        self.notifier.take().map(|(n, task)| {
            drop(n);
            Draining { task, notify_stop }
        })
    }
}

/// A notification task left to drain.
struct Draining {
    task: JoinHandle<()>,
    notify_stop: CancellationToken,
}

/// Sends its serial when a driver task ends, however it ends (a panic unwinds through it).
struct EndGuard {
    serial: u64,
    tx: mpsc::UnboundedSender<u64>,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        let _ = self.tx.send(self.serial);
    }
}

/// The running daemon: sockets, instances and what surrounds them.
struct Daemon {
    config: VrrpConfig,
    opts: RunOptions,
    netlink: Netlink,
    announcer: Arc<Announcer>,
    sockets: HashMap<SockKey, Sock>,
    rx_stop: CancellationToken,
    rx_tasks: JoinSet<()>,
    insts: Vec<Inst>,
    registry: Registry,
    driver_stop: CancellationToken,
    ended_tx: mpsc::UnboundedSender<u64>,
    ended_rx: mpsc::UnboundedReceiver<u64>,
    /// Serials of drivers told to end (reload): their end is not a failure.
    retiring: HashSet<u64>,
    next_serial: u64,
    aux: Option<Aux>,
    /// Notification tasks of earlier configurations, draining.
    old_notifiers: Vec<Draining>,
    /// What each sync group last announced (kept across reloads).
    groups: crate::sync::Announced,
}

impl Daemon {
    /// The socket `p` sends and receives on (opened, with its receive loop, on first use), and
    /// the route for `p`'s VRID registered on it.
    fn attach(&mut self, p: &Prepared<'_>, tx: mpsc::Sender<RxEvent>) -> Result<SockKey, RunError> {
        let key = (p.link.name.clone(), p.mode);
        if !self.sockets.contains_key(&key) {
            let s = VrrpSocket::open(&p.link.name, p.link.index, p.mode).map_err(|source| {
                RunError::Socket {
                    what: "VRRP",
                    interface: p.link.name.clone(),
                    source,
                }
            })?;
            let sock = Sock {
                sock: Arc::new(s),
                routes: Shared::new(HashMap::new()),
            };
            self.rx_tasks.spawn(rx_loop(
                Arc::clone(&sock.sock),
                sock.routes.clone(),
                Shared::new(SocketStats::default()),
                self.rx_stop.clone(),
            ));
            self.sockets.insert(key.clone(), sock);
        }
        let sock = &self.sockets[&key];
        let mut routes = sock.routes.lock();
        if let Some(other) = routes.get(&p.inst.vrid) {
            return Err(RunError::DuplicateVrid {
                first: other.name.clone(),
                second: p.inst.name.clone(),
                vrid: p.inst.vrid,
                interface: p.link.name.clone(),
            });
        }
        routes.insert(
            p.inst.vrid,
            Route {
                name: p.inst.name.clone(),
                tx,
                peers: p.inst.unicast_peers.clone(),
                check_unicast_src: p.inst.check_unicast_src,
            },
        );
        Ok(key)
    }

    fn detach_route(&self, key: &SockKey, vrid: u8) {
        if let Some(s) = self.sockets.get(key) {
            s.routes.lock().remove(&vrid);
        }
    }

    /// Builds and starts the driver of `p`.
    fn start_instance(
        &mut self,
        p: Prepared<'_>,
        plain: VrrpInstance,
        wiring: Wiring,
        cmds: (mpsc::Sender<DriverCmd>, mpsc::Receiver<DriverCmd>),
        startup_delay: Duration,
        resume_master: bool,
    ) -> Result<(Inst, oneshot::Receiver<()>), RunError> {
        let (tx, rx) = mpsc::channel(INSTANCE_QUEUE);
        let key = self.attach(&p, tx)?;
        let status = Shared::new(InstanceStatus::new(
            &p.inst.name,
            p.inst.vrid,
            &p.link.name,
            p.inst.priority,
        ));
        let g = &self.config.global;
        let driver = Driver {
            fsm: lbcore::vrrp::fsm::Instance::new(fsm_config(p.inst, p.src)),
            socket: Arc::clone(&self.sockets[&key].sock),
            src: p.src,
            dsts: p.dsts,
            checksum: p.inst.v3_ipv4_checksum,
            ttl: if p.inst.unicast_peers.is_empty() {
                None
            } else {
                p.inst.unicast_ttl
            },
            vips: p.vips.clone(),
            netlink: self.netlink.clone(),
            announcer: Arc::clone(&self.announcer),
            garp_interval: g.garp_interval,
            gna_interval: g.gna_interval,
            startup_delay,
            rx,
            status: status.clone(),
            track: wiring.track,
            notifier: wiring.notifier,
            cmds: cmds.1,
            sync: wiring.sync,
            resume_master,
        };
        let serial = self.next_serial;
        self.next_serial += 1;
        let guard = EndGuard {
            serial,
            tx: self.ended_tx.clone(),
        };
        let (started_tx, started_rx) = oneshot::channel();
        let stop = self.driver_stop.clone();
        let task = tokio::spawn(async move {
            let _guard = guard;
            driver.run(stop, started_tx).await;
        });
        Ok((
            Inst {
                cfg: plain,
                key,
                vips: p.vips,
                status,
                cmds: cmds.0,
                task,
                serial,
            },
            started_rx,
        ))
    }

    fn publish_registry(&self) {
        *self.registry.lock() = self.insts.iter().map(|i| i.status.clone()).collect();
    }
}

/// Runs the VRRP instances of `config` until SIGTERM/SIGINT (when `opts.handle_signals`) or
/// `shutdown` is cancelled, then stops them: masters send a priority-0 advert, VIPs are removed.
/// SIGHUP reloads the configuration file ([`Daemon::reload`]).
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

    let (ended_tx, ended_rx) = mpsc::unbounded_channel();
    let mut d = Daemon {
        config: config.clone(),
        opts: opts.clone(),
        netlink,
        announcer,
        sockets: HashMap::new(),
        rx_stop: CancellationToken::new(),
        rx_tasks: JoinSet::new(),
        insts: Vec::new(),
        registry: Shared::new(Vec::new()),
        driver_stop: CancellationToken::new(),
        ended_tx,
        ended_rx,
        retiring: HashSet::new(),
        next_serial: 0,
        aux: None,
        old_notifiers: Vec::new(),
        groups: Shared::default(),
    };

    // Trackers, notifications and sync groups live beside the drivers; they stop after the
    // drivers, so the last transitions (STOP) are still announced.
    let channels: Vec<_> = config
        .instances
        .iter()
        .map(|_| mpsc::channel(CMD_QUEUE))
        .collect();
    let senders: Vec<_> = channels.iter().map(|(tx, _)| tx.clone()).collect();
    let (aux, wirings) =
        Aux::start(&config, &crate::track::Ledger::new(), &d.groups, &senders).await;
    d.aux = Some(aux);
    let plain = config.without_spans();
    let mut started = Vec::new();
    for ((p, wiring), (cmds, plain)) in prepared
        .into_iter()
        .zip(wirings)
        .zip(channels.into_iter().zip(plain.instances))
    {
        let (inst, s) =
            d.start_instance(p, plain, wiring, cmds, config.global.startup_delay, false)?;
        d.insts.push(inst);
        started.push(s);
    }
    d.publish_registry();
    let late_stop = CancellationToken::new();
    let control = crate::control::spawn(&opts, d.registry.clone(), late_stop.clone());
    for s in started {
        let _ = s.await;
    }
    tracing::info!("Startup complete");
    notify_systemd(opts.sd_notify, &[sd_notify::NotifyState::Ready]);
    let watchdog = spawn_watchdog(opts.sd_notify, late_stop.clone());

    let result = d.wait_for_stop(&shutdown, signals.as_mut()).await;

    tracing::info!("Stopping");
    notify_systemd(opts.sd_notify, &[sd_notify::NotifyState::Stopping]);
    d.driver_stop.cancel();
    let mut tasks = Vec::new();
    let mut sweep = Vec::new();
    for i in std::mem::take(&mut d.insts) {
        tasks.push(i.task);
        sweep.push((i.cfg.name, i.vips));
    }
    let drained = tokio::time::timeout(STOP_TIMEOUT, async {
        for t in tasks {
            if let Err(e) = t.await {
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
    for (name, vips) in &sweep {
        let n = remove_vips(&d.netlink, name, vips).await;
        if n > 0 {
            tracing::warn!(instance = %name, removed = n, "vips removed after the instance stopped");
        }
    }
    d.rx_stop.cancel();
    d.rx_tasks.shutdown().await;
    // The drivers are gone, so the notification queues close once drained: give the last
    // announcements (notify_stop, mail) a bounded time to leave.
    let mut pending = std::mem::take(&mut d.old_notifiers);
    if let Some(aux) = d.aux.take() {
        // Trackers stop now; the notification task drains below.
        pending.extend(aux.stop().await);
    }
    let cut: Vec<CancellationToken> = pending.iter().map(|p| p.notify_stop.clone()).collect();
    if tokio::time::timeout(NOTIFY_DRAIN, async {
        for p in pending {
            let _ = p.task.await;
        }
    })
    .await
    .is_err()
    {
        tracing::warn!("notifications still pending at exit were abandoned");
    }
    cut.iter().for_each(CancellationToken::cancel);
    late_stop.cancel();
    if let Some(w) = watchdog {
        let _ = w.await;
    }
    if let Some(c) = control {
        let _ = c.await;
    }
    tracing::info!("Stopped");
    result
}

/// How a reload treats one instance of the new configuration.
enum Plan {
    /// Same settings: keeps running, rewired to the new trackers and notifications.
    Keep(usize),
    /// Changed settings on the same VRID, interface and protocol: the old driver is detached
    /// and the new one resumes its state (master stays master).
    Resume(usize),
    /// Changed identity (VRID, interface, version, family or unicast/multicast), or new: the
    /// old one (if any) stops as if deleted, the new one starts as at startup.
    Start,
}

/// The settings that make two instances the same virtual router on the wire.
fn same_router(a: &VrrpInstance, b: &VrrpInstance) -> bool {
    a.vrid == b.vrid
        && a.interface == b.interface
        && a.version == b.version
        && a.ipv6 == b.ipv6
        && a.unicast_peers.is_empty() == b.unicast_peers.is_empty()
}

/// The global settings every driver is built with.
fn driver_globals(c: &VrrpConfig) -> impl PartialEq + use<> {
    let g = &c.global;
    (
        g.garp_interval,
        g.gna_interval,
        g.mcast_group4,
        g.mcast_group6,
    )
}

impl Daemon {
    async fn wait_for_stop(
        &mut self,
        shutdown: &CancellationToken,
        mut signals: Option<&mut Signals>,
    ) -> Result<(), RunError> {
        loop {
            let ended = match signals.as_deref_mut() {
                None => tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    Some(serial) = self.ended_rx.recv() => serial,
                },
                Some(s) => tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    _ = s.term.recv() => return Ok(()),
                    _ = s.int.recv() => {
                        if self.opts.ignore_sigint {
                            tracing::info!("sigint ignored (--ignore-sigint)");
                            continue;
                        }
                        return Ok(());
                    }
                    _ = s.hup.recv() => {
                        self.reload().await;
                        continue;
                    }
                    _ = s.usr1.recv() => {
                        self.dump(crate::dump::Dump::Data);
                        continue;
                    }
                    _ = s.usr2.recv() => {
                        self.dump(crate::dump::Dump::Stats);
                        continue;
                    }
                    _ = s.json.recv() => {
                        self.dump(crate::dump::Dump::Json);
                        continue;
                    }
                    _ = s.stats_clear.recv() => {
                        // keepalived STATS_CLEAR: write the stats file, then zero the counters.
                        self.dump(crate::dump::Dump::Stats);
                        for i in &self.insts {
                            if i.cmds.try_send(DriverCmd::ClearStats).is_err() {
                                tracing::warn!(instance = %i.cfg.name, "stats_clear: instance command queue full; counters kept");
                            }
                        }
                        continue;
                    }
                    Some(serial) = self.ended_rx.recv() => serial,
                },
            };
            if !self.retiring.remove(&ended) {
                let name = self
                    .insts
                    .iter()
                    .find(|i| i.serial == ended)
                    .map_or_else(|| "an instance".to_string(), |i| i.cfg.name.clone());
                return Err(RunError::Driver(format!("{name}: task ended unexpectedly")));
            }
        }
    }

    fn dump(&self, kind: crate::dump::Dump) {
        let statuses = self.registry.lock().clone();
        crate::dump::on_signal(kind, &self.config, &statuses);
    }

    /// SIGHUP (keepalived's reload): the file is loaded and validated first; an invalid one is
    /// reported and the running configuration stays. A valid one is applied instance by
    /// instance ([`Plan`]): unchanged instances keep their state and timers (no transition, no
    /// announcement burst), removed ones stop cleanly (priority 0 if master, VIPs removed,
    /// `DELETED` announced), new ones start. Trackers, notifications and sync groups restart
    /// with the trackers' statuses carried over, so no priority moves.
    async fn reload(&mut self) {
        notify_systemd(self.opts.sd_notify, &reloading_state());
        let file = self.opts.config_path.display().to_string();
        match check_reload(&self.config, &self.opts.config_path, crate::config::load).await {
            ReloadCheck::Unchanged => tracing::info!("Reload complete (configuration unchanged)"),
            ReloadCheck::Changed(new) => match self.apply(*new).await {
                Ok(()) => tracing::info!("Reload complete"),
                Err(e) => {
                    tracing::error!(%file, error = %e, "reload: cannot apply the new configuration; keeping the running one")
                }
            },
            ReloadCheck::Invalid(diagnostics) => {
                for d in diagnostics.iter() {
                    tracing::warn!(diagnostic = %d, "reload: configuration error");
                }
                tracing::warn!(%file, "reload: configuration invalid; keeping the running configuration");
            }
            ReloadCheck::Failed(error) => tracing::error!(
                %file,
                %error,
                "reload: loading the configuration failed; keeping the running configuration"
            ),
        }
        notify_systemd(self.opts.sd_notify, &[sd_notify::NotifyState::Ready]);
    }

    /// Applies a valid, different configuration (see [`Daemon::reload`]). Everything that can
    /// fail (interfaces, source addresses, duplicate VRIDs) is checked before anything changes.
    async fn apply(&mut self, new: VrrpConfig) -> Result<(), RunError> {
        let plain = new.without_spans();
        let globals_same = driver_globals(&plain) == driver_globals(&self.config.without_spans());
        let plans: Vec<Plan> = plain
            .instances
            .iter()
            .map(
                |n| match self.insts.iter().position(|o| o.cfg.name == n.name) {
                    Some(k) if self.insts[k].cfg == *n && globals_same => Plan::Keep(k),
                    Some(k) if same_router(&self.insts[k].cfg, n) => Plan::Resume(k),
                    _ => Plan::Start,
                },
            )
            .collect();

        // Check first: resolve what starts, and that no VRID is claimed twice on a socket.
        let mut cache = HashMap::new();
        let mut prepared = HashMap::new();
        for (k, inst) in new.instances.iter().enumerate() {
            if !matches!(plans[k], Plan::Keep(_)) {
                prepared.insert(k, prepare(&self.netlink, &new, inst, &mut cache).await?);
            }
        }
        let mut claimed: HashMap<(SockKey, u8), &str> = HashMap::new();
        for (k, inst) in new.instances.iter().enumerate() {
            let key = match &plans[k] {
                Plan::Keep(o) => self.insts[*o].key.clone(),
                _ => (prepared[&k].link.name.clone(), prepared[&k].mode),
            };
            if let Some(first) = claimed.insert((key.clone(), inst.vrid), &inst.name) {
                return Err(RunError::DuplicateVrid {
                    first: first.to_string(),
                    second: inst.name.clone(),
                    vrid: inst.vrid,
                    interface: key.0,
                });
            }
        }
        log_not_acted_on(&new);

        // Retire what goes: detach the resumed ones, delete the rest that is not kept.
        let mut old: Vec<Option<Inst>> = std::mem::take(&mut self.insts)
            .into_iter()
            .map(Some)
            .collect();
        let mut resumed_state: HashMap<usize, State> = HashMap::new();
        for plan in &plans {
            if let Plan::Resume(o) = plan {
                let inst = old[*o].take().expect("each old instance is planned once");
                let (tx, rx) = oneshot::channel();
                let state = match inst.cmds.send(DriverCmd::Detach(tx)).await {
                    Ok(()) => rx.await.ok(),
                    Err(_) => None,
                };
                self.retire(
                    inst,
                    state.unwrap_or(State::Initialize),
                    &plain,
                    &mut resumed_state,
                    *o,
                )
                .await;
            }
        }
        let mut deleted = Vec::new();
        for (o, slot) in old.iter_mut().enumerate() {
            let kept = plans.iter().any(|p| matches!(p, Plan::Keep(k) if *k == o));
            if !kept {
                if let Some(inst) = slot.take() {
                    tracing::info!(instance = %inst.cfg.name, "reload: instance removed or replaced; stopping it");
                    let _ = inst.cmds.send(DriverCmd::Delete).await;
                    deleted.push(inst);
                }
            }
        }
        for inst in deleted {
            self.retiring.insert(inst.serial);
            if tokio::time::timeout(STOP_TIMEOUT, inst.task).await.is_err() {
                tracing::error!(instance = %inst.cfg.name, "instance did not stop in time");
            }
            // The driver released its VIPs; make sure, as at exit.
            remove_vips(&self.netlink, &inst.cfg.name, &inst.vips).await;
            self.detach_route(&inst.key, inst.cfg.vrid);
        }

        // New trackers (statuses carried over), notifications and sync groups.
        let carried = self
            .aux
            .as_ref()
            .map(|a| a.tracked.ledger.lock().clone())
            .unwrap_or_default();
        if let Some(aux) = self.aux.take() {
            self.old_notifiers.extend(aux.stop().await);
        }
        self.old_notifiers.retain(|d| !d.task.is_finished());
        let mut channels: Vec<Option<(mpsc::Sender<DriverCmd>, mpsc::Receiver<DriverCmd>)>> =
            Vec::new();
        let mut senders = Vec::new();
        for plan in &plans {
            match plan {
                Plan::Keep(o) => {
                    let tx = old[*o].as_ref().expect("kept").cmds.clone();
                    senders.push(tx);
                    channels.push(None);
                }
                _ => {
                    let (tx, rx) = mpsc::channel(CMD_QUEUE);
                    senders.push(tx.clone());
                    channels.push(Some((tx, rx)));
                }
            }
        }
        let (aux, wirings) = Aux::start(&new, &carried, &self.groups, &senders).await;
        self.aux = Some(aux);
        self.config = new.clone();

        // Rewire the kept, start the others, in the new order.
        let mut started = Vec::new();
        let mut failed = None;
        for (k, ((plan, wiring), chan)) in plans.iter().zip(wirings).zip(channels).enumerate() {
            match (plan, chan) {
                (Plan::Keep(o), _) => {
                    let inst = old[*o].take().expect("kept");
                    if inst
                        .cmds
                        .send(DriverCmd::Rewire(Box::new(wiring)))
                        .await
                        .is_err()
                    {
                        tracing::error!(instance = %inst.cfg.name, "reload: instance gone; not rewired");
                    }
                    self.insts.push(inst);
                }
                (_, Some(chan)) => {
                    let p = prepared.remove(&k).expect("prepared above");
                    let resume = resumed_state.get(&k).copied() == Some(State::Master);
                    match self.start_instance(
                        p,
                        plain.instances[k].clone(),
                        wiring,
                        chan,
                        Duration::ZERO,
                        resume,
                    ) {
                        Ok((inst, s)) => {
                            tracing::info!(instance = %inst.cfg.name, resume_master = resume, "reload: instance started");
                            self.insts.push(inst);
                            started.push(s);
                        }
                        // Checked above; a socket that cannot open now is reported, the rest runs.
                        Err(e) => failed = Some(e),
                    }
                }
                (_, None) => unreachable!("every started instance has a channel"),
            }
        }
        self.publish_registry();
        for s in started {
            let _ = s.await;
        }
        failed.map_or(Ok(()), Err)
    }

    /// Ends a detached instance: its route goes; if it was master, the VIPs its successor no
    /// longer has are removed. Records its state for the successor at index `k` of `plain`.
    async fn retire(
        &mut self,
        inst: Inst,
        state: State,
        plain: &VrrpConfig,
        resumed: &mut HashMap<usize, State>,
        o: usize,
    ) {
        self.retiring.insert(inst.serial);
        let _ = tokio::time::timeout(STOP_TIMEOUT, inst.task).await;
        self.detach_route(&inst.key, inst.cfg.vrid);
        let Some(k) = plain.instances.iter().position(|n| n.name == inst.cfg.name) else {
            return;
        };
        resumed.insert(k, state);
        let kept: Vec<IpAddr> = plain.instances[k]
            .vips
            .iter()
            .chain(&plain.instances[k].excluded_vips)
            .map(|v| v.addr)
            .collect();
        let gone: Vec<Vip> = inst
            .vips
            .into_iter()
            .filter(|v| !kept.contains(&v.spec.addr))
            .collect();
        let n = remove_vips(&self.netlink, &inst.cfg.name, &gone).await;
        tracing::info!(instance = %inst.cfg.name, state = ?state, removed_vips = n, old_index = o, "reload: instance detached for its successor");
    }
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

/// What re-reading the configuration file on SIGHUP found.
#[derive(Debug)]
pub enum ReloadCheck {
    /// The same settings as the running configuration. Positions are not compared, so
    /// re-indenting, adding comments or moving lines is not a change.
    Unchanged,
    /// A valid configuration with different settings.
    Changed(Box<VrrpConfig>),
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
        Some(new) => ReloadCheck::Changed(Box::new(new)),
        None => ReloadCheck::Invalid(loaded.diagnostics),
    }
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
        assert!(matches!(check, ReloadCheck::Changed(_)), "{check:?}");
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

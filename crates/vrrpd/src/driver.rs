//! Per-instance driver: one task owns one `lbcore::vrrp::fsm::Instance`, arms one timer at its
//! `poll_timeout()`, feeds it received adverts and timeouts, and executes its actions in order.
//!
//! Owns: the action side effects (advert encode + send, VIP add / remove over netlink, gratuitous
//! ARP / NA bursts, spaced ones queued in order on a worker task, keepalived's log lines), per-instance drop counters with rate-limited error
//! lines (RFC 9568 §7.1), and the instance's status snapshot. Must not: make protocol decisions
//! (the state machine does) or read packets from sockets (the receive loop hands it decoded
//! adverts through a channel).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use lbcore::config::vrrp::{GarpConfig, VrrpInstance};
use lbcore::vrrp::fsm::{
    Action, GarpPolicy, Instance, InstanceConfig, Reason, RxError, State, Stats,
};
use lbcore::vrrp::packet::{Advert, IpContext, V3Ipv4Checksum};
use lbcore::vrrp::sync::{self, Member};
use lbcore::vrrp::timers;

use crate::clock;
use crate::garp::{Announcer, Target};
use crate::netlink::{Added, AddrSpec, Netlink, Removed};
use crate::notify::{self, Notifier};
use crate::ratelimit::{DEFAULT_WINDOW, RateLimiter};
use crate::socket::VrrpSocket;
use crate::status::{InstanceStatus, Shared, Transition};
use crate::sync::SyncPort;
use crate::track::InstanceTrack;

/// Commands queued to a driver besides adverts.
pub const CMD_QUEUE: usize = 32;

/// What the daemon or the instance's sync group asks of a running driver.
#[derive(Debug)]
pub enum DriverCmd {
    /// A `vrrp_sync_group` decision (see `lbcore::vrrp::sync`).
    Sync(sync::Command),
    /// Zero the counters (STATS_CLEAR).
    ClearStats,
    /// A reload replaces this instance: stop driving it without the shutdown actions (no
    /// priority-0 advert, VIPs left in place) and say which state it was in, so its successor
    /// resumes from there.
    Detach(oneshot::Sender<State>),
    /// A reload removed this instance: shut it down as on SIGTERM, announcing `DELETED`
    /// instead of `STOP`.
    Delete,
    /// A reload restarted the trackers, the notifications and the sync groups: use these.
    Rewire(Box<Wiring>),
}

/// What a driver is connected to besides its socket (rebuilt by a reload).
#[derive(Debug, Default)]
pub struct Wiring {
    /// The trackers' verdict on this instance (`None`: untracked).
    pub track: Option<watch::Receiver<InstanceTrack>>,
    /// Where state changes are announced.
    pub notifier: Option<Notifier>,
    /// Its sync group.
    pub sync: Option<SyncPort>,
}

/// What the receive loop hands an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RxEvent {
    /// A decoded advert that passed the socket-level checks.
    Advert {
        /// The advert.
        advert: Advert,
        /// IP source.
        src: IpAddr,
        /// For VRRPv3 over IPv4: which checksum form verified.
        checksum: Option<V3Ipv4Checksum>,
    },
    /// A packet for this instance dropped before the state machine.
    Dropped {
        /// Counter name (`ttl`, `checksum`, `length`, `unicast_source`, ...).
        kind: &'static str,
        /// IP source.
        src: IpAddr,
        /// Why, in words.
        detail: String,
    },
}

/// One virtual address with its resolved interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// What to add.
    pub spec: AddrSpec,
    /// Interface index.
    pub ifindex: u32,
    /// Interface name.
    pub ifname: String,
    /// Interface MAC (announcements).
    pub mac: [u8; 6],
    /// From `virtual_ipaddress_excluded` (not advertised, still added and announced).
    pub excluded: bool,
    /// IPv6: the interface forwards (NA Router flag).
    pub router: bool,
}

impl Vip {
    fn target(&self) -> Target {
        Target {
            addr: self.spec.addr,
            ifname: self.ifname.clone(),
            ifindex: self.ifindex,
            mac: self.mac,
            router: self.router,
        }
    }
}

/// The state machine's announcement policy from the configuration's `garp_*` settings.
pub fn garp_policy(g: &GarpConfig) -> GarpPolicy {
    GarpPolicy {
        master_repeat: g.master_repeat,
        master_delay: g.master_delay,
        refresh: g.master_refresh,
        refresh_repeat: g.master_refresh_repeat,
        lower_prio_repeat: g.lower_prio_repeat.unwrap_or(g.master_repeat),
        lower_prio_delay: g.lower_prio_delay.unwrap_or(g.master_delay),
    }
}

/// The state machine's configuration for `inst`, whose adverts leave from `primary`.
pub fn fsm_config(inst: &VrrpInstance, primary: IpAddr) -> InstanceConfig {
    InstanceConfig {
        name: inst.name.clone(),
        vrid: inst.vrid,
        version: inst.version,
        priority: inst.priority,
        advert_interval: inst.advert_int,
        preempt: inst.preempt,
        preempt_delay: inst.preempt_delay,
        primary_addr: primary,
        vips: inst.vips.iter().map(|v| v.addr).collect(),
        auth: inst.auth,
        down_timer_adverts: inst.down_timer_adverts,
        lower_prio_no_advert: inst.lower_prio_no_advert,
        higher_prio_send_advert: inst.higher_prio_send_advert,
        addr_list_policy: inst.addr_list_policy,
        garp: garp_policy(&inst.garp),
    }
}

/// Everything one instance task needs.
#[derive(Debug)]
pub struct Driver {
    /// The state machine.
    pub fsm: Instance,
    /// Socket the adverts leave from.
    pub socket: Arc<VrrpSocket>,
    /// Advert source address.
    pub src: IpAddr,
    /// Advert destinations: the multicast group, or every unicast peer.
    pub dsts: Vec<IpAddr>,
    /// VRRPv3 over IPv4 checksum form sent.
    pub checksum: V3Ipv4Checksum,
    /// TTL / hop limit of unicast adverts when not 255 (`unicast_ttl`).
    pub ttl: Option<u8>,
    /// Virtual addresses, advertised first then excluded.
    pub vips: Vec<Vip>,
    /// Netlink handle.
    pub netlink: Netlink,
    /// Packet socket for announcements.
    pub announcer: Arc<Announcer>,
    /// `vrrp_garp_interval`.
    pub garp_interval: Duration,
    /// `vrrp_gna_interval`.
    pub gna_interval: Duration,
    /// `vrrp_startup_delay`.
    pub startup_delay: Duration,
    /// Adverts and drops from the receive loop.
    pub rx: mpsc::Receiver<RxEvent>,
    /// Status snapshot, updated after every input.
    pub status: Shared<InstanceStatus>,
    /// The trackers' verdict on this instance's priority and fault flag (`None`: untracked).
    pub track: Option<watch::Receiver<InstanceTrack>>,
    /// Where state changes are announced (`None`: nothing configured to hear them).
    pub notifier: Option<Notifier>,
    /// Commands from the daemon and the sync group.
    pub cmds: mpsc::Receiver<DriverCmd>,
    /// The instance's `vrrp_sync_group` (`None`: not a member).
    pub sync: Option<SyncPort>,
    /// Start as master (a reload rebuilt the instance while it was master).
    pub resume_master: bool,
}

/// The advert being processed when actions come out, for keepalived's log lines.
#[derive(Debug, Clone, Copy)]
struct AdvertCtx {
    src: IpAddr,
    priority: u8,
}

/// Mutable bookkeeping of a running driver.
struct Running {
    d: Driver,
    name: String,
    limiter: RateLimiter<&'static str>,
    peer_checksum: Option<V3Ipv4Checksum>,
    garp_queue: Option<GarpQueue>,
    vips_added: bool,
    last_master: Option<IpAddr>,
    /// The trackers fault the instance.
    own_fault: bool,
    /// The sync group holds the instance in fault because of another member.
    group_fault: bool,
    /// The view last reported to the sync group.
    reported: Option<Member>,
    /// A reload removed the instance: its last announcement is `DELETED`.
    deleting: bool,
}

impl Driver {
    /// Runs the instance until `shutdown` is cancelled, then shuts it down (priority-0 advert if
    /// master, VIPs removed). `started` fires once `startup` has been processed (with
    /// `vrrp_startup_delay`: when the delay begins).
    pub async fn run(self, shutdown: CancellationToken, started: oneshot::Sender<()>) {
        let name = self.fsm.config().name.clone();
        let mut r = Running {
            d: self,
            name,
            limiter: RateLimiter::new(DEFAULT_WINDOW),
            peer_checksum: None,
            garp_queue: None,
            vips_added: false,
            last_master: None,
            own_fault: false,
            group_fault: false,
            reported: None,
            deleting: false,
        };
        r.d.fsm.set_sync_member(r.d.sync.is_some());
        // Trackers already known to have failed make the instance start in FAULT (keepalived).
        r.apply_track();
        if r.d.resume_master {
            r.d.fsm.resume_master(clock::now());
            r.drain(None).await;
            r.publish();
            let _ = started.send(());
        } else if r.d.startup_delay.is_zero() {
            r.d.fsm.startup(clock::now());
            r.drain(None).await;
            r.publish();
            let _ = started.send(());
        } else {
            // keepalived `vrrp_startup_delay`: the daemon is up (and stoppable) while the
            // instances wait.
            let _ = started.send(());
            tracing::info!(instance = %r.name, delay = ?r.d.startup_delay, "delaying instance start");
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(r.d.startup_delay) => {}
            }
            r.apply_track();
            r.d.fsm.startup(clock::now());
            r.drain(None).await;
            r.publish();
        }

        let mut rx_open = true;
        let mut cmds_open = true;
        loop {
            let deadline = r.d.fsm.poll_timeout();
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(clock::deadline(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                // Before the queue: a flood of adverts must not delay an expired timer.
                () = timer => {
                    r.d.fsm.handle_timeout(clock::now());
                    r.drain(None).await;
                }
                changed = track_changed(r.d.track.as_mut()) => {
                    if changed {
                        r.apply_track();
                        r.drain(None).await;
                    } else {
                        // The hub is gone (shutdown in progress): keep the last verdict.
                        r.d.track = None;
                    }
                }
                ev = r.d.rx.recv(), if rx_open => match ev {
                    Some(ev) => r.on_rx(ev).await,
                    None => {
                        tracing::error!(instance = %r.name, "receive loop ended; instance no longer hears adverts");
                        rx_open = false;
                    }
                },
                cmd = r.d.cmds.recv(), if cmds_open => match cmd {
                    Some(DriverCmd::Detach(reply)) => {
                        r.cancel_bursts();
                        let _ = reply.send(r.d.fsm.state());
                        tracing::debug!(instance = %r.name, "detached for reload");
                        return;
                    }
                    Some(DriverCmd::Delete) => {
                        r.deleting = true;
                        break;
                    }
                    Some(cmd) => r.on_cmd(cmd).await,
                    None => cmds_open = false,
                },
            }
            r.publish();
        }
        r.stop().await;
    }
}

/// The counter name of a state-machine drop and that counter's value (already bumped by the
/// state machine); `None` for adverts that are ignored rather than dropped.
fn rx_error_kind(e: &RxError, stats: &Stats) -> Option<(&'static str, u64)> {
    match e {
        RxError::WrongVrid { .. } => Some(("vrid", stats.vrid_errors)),
        RxError::WrongVersion => Some(("version", stats.version_errors)),
        RxError::Auth => Some(("auth", stats.auth_errors)),
        RxError::IntervalMismatch { .. } => Some(("interval", stats.interval_errors)),
        RxError::AddressList => Some(("address_list", stats.addr_list_errors)),
        RxError::NotListening(_) => None,
    }
}

/// `a` below `b` as unsigned integers in network byte order (RFC 3768 §6.4.3); false across
/// families.
fn addr_below(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a) < u32::from(b),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a) < u128::from(b),
        _ => false,
    }
}

/// Resolves when the trackers' verdict changes (`true`) or their hub has gone (`false`); never
/// for an untracked instance.
async fn track_changed(rx: Option<&mut watch::Receiver<InstanceTrack>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

impl Running {
    /// Feeds the trackers' current verdict to the state machine, with keepalived's log line
    /// for a priority change.
    fn apply_track(&mut self) {
        let Some(rx) = self.d.track.as_mut() else {
            return;
        };
        let t = rx.borrow_and_update().clone();
        let now = clock::now();
        let old = self.d.fsm.effective_priority();
        self.d.fsm.set_priority(t.priority, now);
        if t.priority != old {
            tracing::info!(
                "({}) Changing effective priority from {} to {}",
                self.name,
                old,
                t.priority
            );
            // keepalived send_instance_priority_notifies: MASTER_PRIORITY / BACKUP_PRIORITY
            // (the dispatcher keeps them for `notify_priority_changes` FIFOs).
            // keepalived: MASTER_PRIORITY while master, BACKUP_PRIORITY in any other running
            // state (FAULT included); nothing before startup.
            let word = match self.d.fsm.state() {
                State::Master => Some(notify::Announced::MasterPriority),
                State::Backup | State::Fault => Some(notify::Announced::BackupPriority),
                State::Initialize => None,
            };
            if let Some(w) = word {
                self.announce(w);
            }
        }
        self.own_fault = t.fault;
        self.d
            .fsm
            .set_fault(self.own_fault || self.group_fault, now);
        self.d.status.lock().track = t.shares;
    }

    async fn on_cmd(&mut self, cmd: DriverCmd) {
        let now = clock::now();
        match cmd {
            DriverCmd::Sync(sync::Command::GroupFault(held)) => {
                self.group_fault = held;
                self.d.fsm.set_fault(self.own_fault || held, now);
            }
            DriverCmd::Sync(sync::Command::StepDown) => self.d.fsm.sync_step_down(now),
            DriverCmd::Sync(sync::Command::GoMaster) => self.d.fsm.sync_go_master(now),
            DriverCmd::ClearStats => {
                self.d.fsm.clear_stats();
                self.d.status.lock().drops.clear();
            }
            DriverCmd::Rewire(w) => {
                let w = *w;
                self.d.track = w.track;
                self.d.notifier = w.notifier;
                self.d.fsm.set_sync_member(w.sync.is_some());
                self.d.sync = w.sync;
                // A new group task knows nothing yet: report afresh.
                self.reported = None;
                if self.d.track.is_some() {
                    self.apply_track();
                } else {
                    // Nothing tracks the instance any more: base priority, no tracker fault.
                    self.own_fault = false;
                    let base = self.d.fsm.config().priority;
                    self.d.fsm.set_priority(base, now);
                    self.d.fsm.set_fault(self.group_fault, now);
                    self.d.status.lock().track.clear();
                }
            }
            // Handled by the run loop.
            DriverCmd::Detach(_) | DriverCmd::Delete => {}
        }
        self.drain(None).await;
    }

    /// Queues a notification about this instance at its effective priority.
    fn announce(&self, state: notify::Announced) {
        if let Some(n) = &self.d.notifier {
            n.emit(notify::Event {
                subject: notify::Subject::Instance,
                name: self.name.clone(),
                state,
                priority: self.d.fsm.effective_priority(),
                at: clock::wall(),
            });
        }
    }

    fn publish(&mut self) {
        if let Some(port) = &self.d.sync {
            let view = Member {
                state: self.d.fsm.state(),
                wants_master: self.d.fsm.wants_master(),
                own_fault: self.own_fault,
            };
            if self.reported != Some(view) {
                self.reported = Some(view);
                port.report(view);
            }
        }
        let mut s = self.d.status.lock();
        s.state = self.d.fsm.state();
        s.effective_priority = self.d.fsm.effective_priority();
        s.master_addr = self.d.fsm.master_addr();
        s.master_priority = self.d.fsm.master_priority();
        s.stats = self.d.fsm.stats().clone();
    }

    async fn on_rx(&mut self, ev: RxEvent) {
        match ev {
            RxEvent::Advert {
                advert,
                src,
                checksum,
            } => {
                if let Some(form) = checksum {
                    if self.peer_checksum != Some(form) {
                        tracing::info!(instance = %self.name, peer = %src, form = ?form, "peer vrrpv3 ipv4 checksum form");
                        self.peer_checksum = Some(form);
                    }
                }
                let before = self.d.fsm.state();
                let ctx = AdvertCtx {
                    src,
                    priority: advert.priority,
                };
                match self.d.fsm.handle_advert(&advert, src, clock::now()) {
                    Ok(()) => {
                        if advert.priority == 0 && before == State::Backup {
                            tracing::info!(
                                "({}) Backup received priority 0 advertisement",
                                self.name
                            );
                        }
                        // keepalived vrrp_state_master_rx: a master hearing a lower priority
                        // announces MASTER_RX_LOWER_PRI (`notify_master_rx_lower_pri`).
                        // keepalived counts an equal priority from a lower address as lower
                        // too (the RFC 3768 §6.4.3 tie-break it wins).
                        let ours = self.d.fsm.effective_priority();
                        let lower = advert.priority != 0
                            && (advert.priority < ours
                                || (advert.priority == ours && addr_below(src, self.d.src)));
                        if lower && before == State::Master && self.d.fsm.state() == State::Master {
                            self.announce(notify::Announced::MasterRxLowerPri);
                        }
                        self.drain(Some(ctx)).await;
                    }
                    // The state machine has counted it in its stats.
                    Err(e) => match rx_error_kind(&e, self.d.fsm.stats()) {
                        Some((kind, count)) => self.log_drop(kind, count, src, &e.to_string()),
                        None => {
                            tracing::debug!(instance = %self.name, from = %src, reason = %e, "advert ignored")
                        }
                    },
                }
            }
            RxEvent::Dropped { kind, src, detail } => {
                let count = self.d.status.lock().count_drop(kind);
                self.log_drop(kind, count, src, &detail);
            }
        }
    }

    /// One rate-limited line per kind (RFC 9568 §7.1); `count` is the running total of that kind,
    /// so the counters are visible in the log even while lines are suppressed.
    fn log_drop(&mut self, kind: &'static str, count: u64, src: IpAddr, detail: &str) {
        if let Some(suppressed) = self.limiter.allow(kind, clock::now()) {
            tracing::warn!(instance = %self.name, kind, count, from = %src, suppressed, detail, "advert dropped");
        }
    }

    async fn drain(&mut self, ctx: Option<AdvertCtx>) {
        let actions: Vec<Action> = std::iter::from_fn(|| self.d.fsm.poll_action()).collect();
        // keepalived logs the transition before its side effects ("Entering MASTER STATE", then
        // "setting VIPs.", then the gratuitous ARPs); the effects still run in the state
        // machine's order.
        for a in &actions {
            if let Action::Notify { from, to, reason } = *a {
                self.transition(from, to, reason, ctx);
            }
        }
        for action in actions.iter().cloned() {
            match action {
                Action::SendAdvert { priority } => {
                    if let Some(c) = ctx {
                        let ours = self.d.fsm.effective_priority();
                        if self.d.fsm.state() == State::Master
                            && c.priority != 0
                            && c.priority < ours
                        {
                            tracing::info!(
                                "({}) Received advert from {} with lower priority {}, ours {}, forcing new election",
                                self.name,
                                c.src,
                                c.priority,
                                ours
                            );
                        }
                    }
                    self.send_advert(priority).await;
                    if priority == 0 {
                        tracing::info!("({}) sent 0 priority", self.name);
                    }
                }
                Action::AddVips => self.add_vips().await,
                Action::DelVips => self.del_vips().await,
                Action::SendGratuitous { repeat } => self.gratuitous(repeat).await,
                // Logged and recorded above; announced below, once the effects are done.
                Action::Notify { .. } => {}
            }
        }
        // keepalived notifies after the transition took effect (addresses set or released).
        for a in &actions {
            if let Action::Notify { to, .. } = *a {
                let word = match to {
                    State::Initialize if self.deleting => notify::Announced::Deleted,
                    _ => notify::Announced::from_state(to),
                };
                self.announce(word);
            }
        }
        let master = self.d.fsm.master_addr();
        if master != self.last_master {
            tracing::debug!(instance = %self.name, master = ?master, priority = ?self.d.fsm.master_priority(), "master changed");
            self.last_master = master;
        }
    }

    fn advert(&self, priority: u8) -> Advert {
        let cfg = self.d.fsm.config();
        Advert {
            version: cfg.version,
            vrid: cfg.vrid,
            priority,
            interval_cs: timers::to_centis(cfg.advert_interval),
            addrs: cfg.vips.clone(),
            auth: cfg.auth,
        }
    }

    async fn send_advert(&mut self, priority: u8) {
        let advert = self.advert(priority);
        for dst in self.d.dsts.clone() {
            let bytes = match advert.encode(&IpContext::new(self.d.src, dst), self.d.checksum) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(instance = %self.name, error = %e, "cannot encode advert");
                    return;
                }
            };
            if let Err(e) = self
                .d
                .socket
                .send(self.d.src, dst, &bytes, self.d.ttl)
                .await
            {
                self.d.status.lock().count_drop("send_error");
                if let Some(suppressed) = self.limiter.allow("send_error", clock::now()) {
                    tracing::warn!(instance = %self.name, to = %dst, error = %e, suppressed, "cannot send advert");
                }
            }
        }
    }

    async fn add_vips(&mut self) {
        tracing::info!("({}) setting VIPs.", self.name);
        self.vips_added = true;
        for v in &self.d.vips {
            match self.d.netlink.add_address(v.ifindex, &v.spec).await {
                Ok(Added::Added) => {
                    tracing::debug!(instance = %self.name, addr = %v.spec.addr, interface = %v.ifname, "vip added")
                }
                Ok(Added::AlreadyPresent) => {
                    tracing::debug!(instance = %self.name, addr = %v.spec.addr, interface = %v.ifname, "vip already present")
                }
                Err(e) => {
                    tracing::error!(instance = %self.name, addr = %v.spec.addr, interface = %v.ifname, error = %e, "cannot add vip")
                }
            }
        }
    }

    /// Drops the bursts not sent yet and stops the one being sent: the addresses are going.
    fn cancel_bursts(&mut self) {
        if let Some(q) = self.garp_queue.take() {
            q.task.abort();
        }
    }

    async fn del_vips(&mut self) {
        self.cancel_bursts();
        tracing::info!("({}) removing VIPs.", self.name);
        remove_vips(&self.d.netlink, &self.name, &self.d.vips).await;
        self.vips_added = false;
    }

    async fn gratuitous(&mut self, repeat: u32) {
        if repeat == 0 || self.d.vips.is_empty() {
            return;
        }
        let targets: Vec<Target> = self.d.vips.iter().map(Vip::target).collect();
        for t in &targets {
            let what = if t.addr.is_ipv6() {
                "Unsolicited Neighbour Adverts"
            } else {
                "gratuitous ARPs"
            };
            tracing::info!(
                "({}) Sending/queueing {} on {} for {}",
                self.name,
                what,
                t.ifname,
                t.addr
            );
        }
        let (garp, gna) = (self.d.garp_interval, self.d.gna_interval);
        if garp.is_zero() && gna.is_zero() {
            self.d.announcer.burst(&targets, repeat, garp, gna).await;
            return;
        }
        // Spaced bursts must not hold up the state machine. They run one after the other on a
        // worker: a burst asked for while one is still being sent (garp_master_delay shorter
        // than garp_master_repeat x vrrp_garp_interval) waits for it instead of cutting it
        // short. DelVips drops what is still queued.
        let queue = match self.garp_queue.take() {
            Some(q) if !q.task.is_finished() => q,
            _ => GarpQueue::start(Arc::clone(&self.d.announcer), garp, gna),
        };
        match queue.tx.try_send((targets, repeat)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.d.status.lock().count_drop("garp_burst");
                if let Some(suppressed) = self.limiter.allow("garp_burst", clock::now()) {
                    tracing::warn!(instance = %self.name, queued = GARP_QUEUE, suppressed, "announcement burst dropped: bursts queued already");
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!(instance = %self.name, "announcement worker gone; burst not sent");
            }
        }
        self.garp_queue = Some(queue);
    }

    fn transition(&mut self, from: State, to: State, reason: Reason, ctx: Option<AdvertCtx>) {
        let n = &self.name;
        match to {
            State::Master => {
                if matches!(
                    reason,
                    Reason::MasterDown | Reason::PeerStopped | Reason::Preempt
                ) {
                    tracing::info!("({n}) Receive advertisement timeout");
                }
                tracing::info!("({n}) Entering MASTER STATE");
            }
            State::Backup => {
                if from == State::Master {
                    if let Some(c) = ctx.filter(|_| reason == Reason::HigherPriority) {
                        tracing::info!(
                            "({n}) Master received advert from {} with higher priority {}, ours {}",
                            c.src,
                            c.priority,
                            self.d.fsm.effective_priority()
                        );
                    }
                }
                if from == State::Initialize {
                    tracing::info!("({n}) Entering BACKUP STATE (init)");
                } else {
                    tracing::info!("({n}) Entering BACKUP STATE");
                }
            }
            State::Fault => tracing::info!("({n}) Entering FAULT STATE"),
            State::Initialize => {
                tracing::debug!(instance = %n, from = ?from, reason = ?reason, "instance stopped")
            }
        }
        self.d.status.lock().record(Transition {
            at: clock::now(),
            wall: clock::wall(),
            from,
            to,
            reason,
        });
    }

    async fn stop(&mut self) {
        self.d.fsm.shutdown(clock::now());
        self.drain(None).await;
        self.cancel_bursts();
        if self.vips_added {
            // The state machine releases on shutdown; this is the guarantee that SIGTERM never
            // leaves a VIP behind whatever state we were in.
            remove_vips(&self.d.netlink, &self.name, &self.d.vips).await;
        }
        self.publish();
    }
}

/// Spaced bursts that may wait behind the one being sent; more are dropped, counted and logged
/// (a peer flooding lower-priority adverts must not grow memory without bound).
pub const GARP_QUEUE: usize = 8;

/// The spaced announcement bursts of one instance, sent in order by one worker task.
struct GarpQueue {
    tx: mpsc::Sender<(Vec<Target>, u32)>,
    task: JoinHandle<()>,
}

impl GarpQueue {
    fn start(announcer: Arc<Announcer>, garp: Duration, gna: Duration) -> Self {
        let (tx, mut rx) = mpsc::channel::<(Vec<Target>, u32)>(GARP_QUEUE);
        let task = tokio::spawn(async move {
            while let Some((targets, repeat)) = rx.recv().await {
                announcer.burst(&targets, repeat, garp, gna).await;
            }
        });
        Self { tx, task }
    }
}

/// Removes every address of `vips` that is present (exact address and prefix).
pub async fn remove_vips(netlink: &Netlink, instance: &str, vips: &[Vip]) -> usize {
    let mut removed = 0;
    for v in vips {
        match netlink.del_address(v.ifindex, &v.spec).await {
            Ok(Removed::Removed) => {
                removed += 1;
                tracing::debug!(instance, addr = %v.spec.addr, interface = %v.ifname, "vip removed");
            }
            Ok(Removed::NotPresent) => {}
            Err(e) => {
                tracing::error!(instance, addr = %v.spec.addr, interface = %v.ifname, error = %e, "cannot remove vip")
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(body: &str) -> VrrpInstance {
        let text = format!(
            "vrrp_instance VI_1 {{\n virtual_router_id 51\n virtual_ipaddress {{\n  192.0.2.100\n }}\n{body}}}\n"
        );
        let (cfg, d) = lbcore::config::keepalived::parse_str(&text, std::path::Path::new("t.conf"));
        let mut cfg = cfg.unwrap_or_else(|| panic!("{d}"));
        cfg.instances.remove(0)
    }

    #[test]
    fn fsm_config_carries_the_advert_policies() {
        let primary: IpAddr = "192.0.2.11".parse().expect("addr");
        // Whatever the model's defaults are, the state machine gets the instance's values.
        let inst = instance("");
        let plain = fsm_config(&inst, primary);
        assert_eq!(
            (plain.higher_prio_send_advert, plain.lower_prio_no_advert),
            (inst.higher_prio_send_advert, inst.lower_prio_no_advert)
        );
        let both = fsm_config(
            &instance(" higher_prio_send_advert\n lower_prio_no_advert\n"),
            primary,
        );
        assert!(both.higher_prio_send_advert && both.lower_prio_no_advert);
        assert_eq!((both.vrid, both.primary_addr), (51, primary));
    }

    #[test]
    fn garp_policy_inherits_lower_prio_from_master() {
        let g = GarpConfig::default();
        let p = garp_policy(&g);
        assert_eq!(p.master_repeat, 5);
        assert_eq!(p.master_delay, Duration::from_secs(5));
        assert_eq!(p.lower_prio_repeat, 5);
        assert_eq!(p.lower_prio_delay, Duration::from_secs(5));
        assert_eq!(p.refresh, Duration::ZERO);
        assert_eq!(p.refresh_repeat, 1);
        let g = GarpConfig {
            lower_prio_repeat: Some(2),
            lower_prio_delay: Some(Duration::ZERO),
            ..g
        };
        let p = garp_policy(&g);
        assert_eq!(
            (p.lower_prio_repeat, p.lower_prio_delay),
            (2, Duration::ZERO)
        );
    }
}

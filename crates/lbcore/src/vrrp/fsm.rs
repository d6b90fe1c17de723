//! The per-instance VRRP state machine (RFC 3768 §6.4, RFC 5798 / RFC 9568 §6.4), sans-io.
//!
//! Owns: the Initialize / Backup / Master / Fault states, their timers (as deadlines), the
//! configuration-dependent receive checks of RFC 3768 §7.1 / RFC 5798 §7.1 (VRID, version,
//! authentication, interval, address list) and the per-instance counters. Must not: read a clock,
//! touch a socket or an interface, decode bytes ([`super::packet`] does), or log (the driver logs
//! the [`Action::Notify`] and [`RxError`] values it gets back).
//!
//! Inputs: [`Instance::startup`] (or [`Instance::resume_master`] after a reload),
//! [`Instance::shutdown`], [`Instance::handle_advert`], [`Instance::handle_timeout`],
//! [`Instance::set_priority`], [`Instance::set_fault`], and for `vrrp_sync_group` members
//! [`Instance::sync_go_master`] and [`Instance::sync_step_down`] (see [`super::sync`]).
//! Outputs: [`Instance::poll_action`] (drain until `None` after every input) and
//! [`Instance::poll_timeout`] (the one instant at which the driver must call `handle_timeout`).
//!
//! Behaviour beyond the RFCs follows keepalived (reference §4.5, §4.7):
//! - Becoming master: advert first, then VIPs, then `garp.master_repeat` announcements, then the
//!   notification; a second burst after `garp.master_delay` and a refresh every `garp.refresh`.
//! - A master hearing a lower-priority advert re-advertises at once (RFC 9568 §6.4.3) unless
//!   `lower_prio_no_advert`, and sends `garp.lower_prio_repeat` announcements at once and again
//!   after `garp.lower_prio_delay` (keepalived `vrrp_state_master_rx`).
//! - A master yielding to a higher-priority advert (or an equal one from a higher address) first
//!   sends one advert at its own priority when `higher_prio_send_advert` is set, so that after a
//!   split brain the higher-priority router hears it and the two settle at once (keepalived
//!   `higher_prio_send_advert`, reference §4.5).
//! - `preempt_delay` is a gate, not a timer (keepalived `preempt_time`): it starts at startup and
//!   when a backup first hears a lower-priority master after having heard an equal or higher one;
//!   until it has elapsed, lower-priority adverts are accepted as if from a legitimate master
//!   (they reset Master_Down_Timer). Afterwards they are discarded, so preemption happens when
//!   Master_Down_Timer next fires. Reaching the end of the delay triggers nothing by itself, so it
//!   is not a [`Instance::poll_timeout`] deadline. The delay never postpones taking over from a
//!   silent master.
//! - A priority change while backup moves the running Master_Down_Timer by the change in
//!   Skew_Time; while master, the next periodic advert carries it.
//! - The address owner (effective priority 255) ignores adverts (RFC 5798 §6.4.3 never lets it
//!   defer; keepalived `owner_ignore_adverts`); they are still validated and counted.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::packet::{Advert, AuthData, Version};
use super::timers::{from_centis, master_down_interval, skew_time, to_centis};

/// RFC 3768 §6.4 states, plus keepalived's FAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not running (before startup, after shutdown).
    Initialize,
    /// Listening to a master.
    Backup,
    /// Owning the virtual addresses and advertising.
    Master,
    /// A tracked resource failed: not participating, priority 0 advertised once if master.
    Fault,
}

/// Why a transition happened, for logs, notifications and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Startup (priority 255 goes straight to master, others to backup).
    Startup,
    /// Master_Down_Timer expired: no advert from a master for Master_Down_Interval.
    MasterDown,
    /// A priority-0 advert was received and Skew_Time passed.
    PeerStopped,
    /// An advert with a higher priority (or equal priority and higher address) was received.
    HigherPriority,
    /// Preemption of a lower-priority master.
    Preempt,
    /// A tracked resource failed.
    Fault,
    /// The tracked resources recovered.
    FaultCleared,
    /// Shutdown requested.
    Shutdown,
    /// A `vrrp_sync_group` moved this member with the rest of the group.
    SyncGroup,
    /// A reload restarted the instance with changed settings in the state it held.
    Reload,
}

/// Gratuitous ARP / unsolicited NA policy (keepalived `garp_*`, reference §1.5 and §4.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GarpPolicy {
    /// Announcements per VIP sent at once on becoming master (`garp_master_repeat`, default 5).
    pub master_repeat: u32,
    /// Delay of the second burst after becoming master; zero = none (`garp_master_delay`, default 5 s).
    pub master_delay: Duration,
    /// Period of refresh announcements while master; zero = off (`garp_master_refresh`).
    pub refresh: Duration,
    /// Announcements per VIP per refresh (`garp_master_refresh_repeat`, default 1).
    pub refresh_repeat: u32,
    /// Announcements per VIP when a master hears a lower-priority advert (`garp_lower_prio_repeat`).
    pub lower_prio_repeat: u32,
    /// Delay before those (`garp_lower_prio_delay`).
    pub lower_prio_delay: Duration,
}

/// How a mismatch between the advertised address list and ours is treated (RFC 3768 §7.1 MAY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddrListPolicy {
    /// Drop the advert unless the sender is the owner (RFC, keepalived 2.2.7).
    #[default]
    Drop,
    /// Count and log it but accept the advert (keepalived ≥ 2.3.3).
    Log,
}

/// Everything the state machine needs to know about one `vrrp_instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// Instance name (`VI_1`), used in logs.
    pub name: String,
    /// Virtual Router ID.
    pub vrid: u8,
    /// Protocol version.
    pub version: Version,
    /// Configured (base) priority, 1..=255.
    pub priority: u8,
    /// Advertisement interval (v2: whole seconds; v3: multiple of 10 ms, at most 40.95 s).
    pub advert_interval: Duration,
    /// Preempt a lower-priority master (default true; `nopreempt` clears it).
    pub preempt: bool,
    /// Hold-off before preempting (`preempt_delay`).
    pub preempt_delay: Duration,
    /// Our primary address on the instance interface (tie-break, RFC 3768 §6.4.3).
    pub primary_addr: IpAddr,
    /// Advertised virtual addresses.
    pub vips: Vec<IpAddr>,
    /// v2 authentication expected on receive and sent.
    pub auth: AuthData,
    /// Adverts missed before the master is declared down (`down_timer_adverts`, default 3).
    pub down_timer_adverts: u8,
    /// Pre-RFC 9568 behaviour: a master does not answer a lower-priority advert (`lower_prio_no_advert`).
    pub lower_prio_no_advert: bool,
    /// A master that yields to a higher-priority advert sends one advert at its own priority
    /// before going Backup (`higher_prio_send_advert`), so the winner re-announces the VIPs after a
    /// split brain heals. vrrpd's config default is on (keepalived's is off); strict mode clears it.
    pub higher_prio_send_advert: bool,
    /// Address-list mismatch policy.
    pub addr_list_policy: AddrListPolicy,
    /// Announcement policy.
    pub garp: GarpPolicy,
}

/// What the driver must do. Drain with [`Instance::poll_action`] after every input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority (0 on shutdown / fault).
    SendAdvert {
        /// Priority to put in the advert.
        priority: u8,
    },
    /// Add the virtual addresses to the interface(s).
    AddVips,
    /// Remove the virtual addresses.
    DelVips,
    /// Send `repeat` gratuitous ARPs / unsolicited NAs for each VIP.
    SendGratuitous {
        /// Announcements per VIP.
        repeat: u32,
    },
    /// The state changed.
    Notify {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
}

/// Why a received advert was dropped; each maps to a counter (keepalived `.stats` names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RxError {
    /// Advert for another VRID (the driver normally demultiplexes first).
    #[error("advert for VRID {got}, instance has {ours}")]
    WrongVrid {
        /// VRID in the advert.
        got: u8,
        /// Ours.
        ours: u8,
    },
    /// Version differs from the instance's.
    #[error("advert version differs from the instance's")]
    WrongVersion,
    /// Auth type or password mismatch (v2).
    #[error("authentication mismatch")]
    Auth,
    /// v2 advertisement interval differs from ours (RFC 3768 §7.1: MUST discard).
    #[error("advertisement interval mismatch: got {got_cs} cs, ours {ours_cs} cs")]
    IntervalMismatch {
        /// Received, centiseconds.
        got_cs: u16,
        /// Ours, centiseconds.
        ours_cs: u16,
    },
    /// Address count or list differs (RFC 3768 §7.1 MAY), dropped under [`AddrListPolicy::Drop`].
    #[error("virtual address list differs from ours")]
    AddressList,
    /// We are the address owner (priority 255) and ignore adverts.
    #[error("instance is in state {0:?} and ignores adverts")]
    NotListening(State),
}

/// Per-instance counters (keepalived's `.stats` file, reference §3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Adverts that passed validation (whatever the state machine then did with them).
    pub adverts_rx: u64,
    /// Adverts sent.
    pub adverts_tx: u64,
    /// Times this instance became master.
    pub became_master: u64,
    /// Times it left master.
    pub released_master: u64,
    /// Priority-0 adverts received.
    pub priority_zero_rx: u64,
    /// Priority-0 adverts sent.
    pub priority_zero_tx: u64,
    /// Dropped: authentication.
    pub auth_errors: u64,
    /// Dropped: interval mismatch.
    pub interval_errors: u64,
    /// Dropped (or logged): address list mismatch.
    pub addr_list_errors: u64,
    /// Dropped: advert for another VRID.
    pub vrid_errors: u64,
    /// Dropped: advert of another protocol version.
    pub version_errors: u64,
}

/// The pending deadlines of one instance. [`Instance::poll_timeout`] is the earliest of them.
#[derive(Debug, Clone, Default)]
struct Timers {
    /// Master: Adver_Timer (RFC 3768 §6.2).
    adver: Option<Instant>,
    /// Backup: Master_Down_Timer (RFC 3768 §6.2).
    master_down: Option<Instant>,
    /// Master: the second gratuitous burst (`garp_master_delay`).
    garp_burst: Option<Instant>,
    /// Master: the next refresh announcement (`garp_master_refresh`).
    garp_refresh: Option<Instant>,
    /// Master: the delayed announcement after a lower-priority advert (`garp_lower_prio_delay`).
    garp_lower_prio: Option<Instant>,
}

impl Timers {
    fn earliest(&self) -> Option<Instant> {
        [
            self.adver,
            self.master_down,
            self.garp_burst,
            self.garp_refresh,
            self.garp_lower_prio,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// One VRRP instance (one VRID on one interface), driven by the caller's inputs and clock.
///
/// After every input drain [`Instance::poll_action`] and re-read [`Instance::poll_timeout`].
#[derive(Debug, Clone)]
pub struct Instance {
    cfg: InstanceConfig,
    state: State,
    /// Effective priority (base priority plus trackers, clamped by the caller).
    priority: u8,
    /// Set by [`Instance::set_fault`]; survives shutdown and startup.
    fault: bool,
    /// RFC 5798 §6.1 Master_Adver_Interval (v2: always the configured interval).
    master_adver_interval: Duration,
    /// The other router we last heard as master, with its advertised priority.
    master: Option<(IpAddr, u8)>,
    /// Why Master_Down_Timer will fire, for the notification.
    down_reason: Reason,
    /// keepalived `preempt_time`: until then lower-priority adverts are accepted.
    preempt_until: Option<Instant>,
    timers: Timers,
    actions: VecDeque<Action>,
    stats: Stats,
    last_transition: Option<(Instant, Reason)>,
    /// Member of a `vrrp_sync_group`: becoming master waits for the group ([`Instance::set_sync_member`]).
    sync_member: bool,
    /// Sync member whose Master_Down_Timer fired: ready to become master once the group is.
    wants_master: bool,
}

impl Instance {
    /// A new instance in [`State::Initialize`]; nothing happens until [`Instance::startup`].
    pub fn new(cfg: InstanceConfig) -> Instance {
        Instance {
            priority: cfg.priority,
            master_adver_interval: cfg.advert_interval,
            cfg,
            state: State::Initialize,
            fault: false,
            master: None,
            down_reason: Reason::MasterDown,
            preempt_until: None,
            timers: Timers::default(),
            actions: VecDeque::new(),
            stats: Stats::default(),
            last_transition: None,
            sync_member: false,
            wants_master: false,
        }
    }

    /// The configuration this instance was built with.
    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Effective priority: what we advertise and compare with.
    pub fn effective_priority(&self) -> u8 {
        self.priority
    }

    /// The current master's address as seen by this instance: ours when master, the last
    /// advertising master when backup (`None` before one is heard, and outside Backup / Master).
    pub fn master_addr(&self) -> Option<IpAddr> {
        match self.state {
            State::Master => Some(self.cfg.primary_addr),
            _ => self.master.map(|(addr, _)| addr),
        }
    }

    /// The current master's priority, paired with [`Instance::master_addr`].
    pub fn master_priority(&self) -> Option<u8> {
        match self.state {
            State::Master => Some(self.priority),
            _ => self.master.map(|(_, prio)| prio),
        }
    }

    /// Master_Adver_Interval: for v3 the interval learned from the master (RFC 5798 §6.4.2); our
    /// own interval when master, for v2, and before any master was heard.
    pub fn master_adver_interval(&self) -> Duration {
        match self.state {
            State::Master => self.cfg.advert_interval,
            _ => self.master_adver_interval,
        }
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// When the last state change happened, and why.
    pub fn last_transition(&self) -> Option<(Instant, Reason)> {
        self.last_transition
    }

    /// Whether a fault is currently reported through [`Instance::set_fault`].
    pub fn is_faulted(&self) -> bool {
        self.fault
    }

    /// The end of the running preemption hold-off (`preempt_delay`), if one is running.
    pub fn preempt_delay_until(&self) -> Option<Instant> {
        self.preempt_until
    }

    /// The next action for the driver, in order; `None` when drained.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest deadline at which [`Instance::handle_timeout`] must be called; `None` when no
    /// timer runs (Initialize, Fault).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    /// Start the instance (leave Initialize). Does nothing unless in [`State::Initialize`].
    pub fn startup(&mut self, now: Instant) {
        if self.state != State::Initialize {
            return;
        }
        self.master = None;
        if self.fault {
            // keepalived: a tracker already failed when the instance starts => FAULT.
            self.transition(State::Fault, Reason::Fault, now);
            return;
        }
        if self.priority == PRIO_OWNER {
            // RFC 3768 §6.4.1 / RFC 5798 §6.4.1: if the Priority = 255, send an ADVERTISEMENT,
            // broadcast gratuitous ARPs, start the Adver_Timer and transition to Master.
            self.become_master(Reason::Startup, now);
        } else {
            // RFC 3768 §6.4.1 / RFC 5798 §6.4.1: else set Master_Down_Timer to
            // Master_Down_Interval and transition to Backup (keepalived: whatever `state` says).
            self.enter_backup(Reason::Startup, now);
            // keepalived: preempt_delay holds preemption off from startup.
            if self.cfg.preempt && !self.cfg.preempt_delay.is_zero() {
                self.preempt_until = now.checked_add(self.cfg.preempt_delay);
            }
        }
    }

    /// Stop the instance (SIGTERM): back to Initialize, all timers cancelled.
    pub fn shutdown(&mut self, now: Instant) {
        match self.state {
            State::Initialize => return,
            State::Master => {
                // RFC 3768 §6.4.3 / RFC 5798 §6.4.3: if a Shutdown event is received, cancel the
                // Adver_Timer, send an ADVERTISEMENT with Priority = 0, transition to Initialize.
                self.send_advert(0);
                self.actions.push_back(Action::DelVips);
            }
            // RFC 3768 §6.4.2 / RFC 5798 §6.4.2: cancel the Master_Down_Timer, to Initialize.
            State::Backup | State::Fault => {}
        }
        self.timers = Timers::default();
        self.preempt_until = None;
        self.master = None;
        self.transition(State::Initialize, Reason::Shutdown, now);
    }

    /// Report the effective priority computed from the trackers (the caller clamps it: 1..=254,
    /// or 255 for the address owner). A value of 0 is taken as 1.
    pub fn set_priority(&mut self, effective: u8, now: Instant) {
        let new = effective.max(1);
        let old = self.priority;
        if new == old {
            return;
        }
        self.priority = new;
        if self.state == State::Backup {
            // keepalived vrrp_set_effective_priority: the running down timer moves by the change
            // in Skew_Time (Master_Down_Interval and Skew_Time depend on our priority, §6.1).
            if let Some(deadline) = self.timers.master_down {
                let old_skew = skew_time(self.cfg.version, old, self.master_adver_interval);
                let new_skew = skew_time(self.cfg.version, new, self.master_adver_interval);
                let moved = if new_skew >= old_skew {
                    deadline.checked_add(new_skew - old_skew)
                } else {
                    deadline.checked_sub(old_skew - new_skew)
                };
                self.timers.master_down = Some(moved.unwrap_or(deadline).max(now));
            }
        }
        // Master: the next periodic advert carries the new priority (no immediate advert).
    }

    /// Report whether a tracked resource (weight 0) has failed.
    ///
    /// Entering Fault from Master sends a priority-0 advert and removes the VIPs. Leaving Fault
    /// goes to Backup with a fresh Master_Down_Interval, or straight to Master for the address
    /// owner. Before startup only the flag is recorded ([`Instance::startup`] then enters Fault).
    pub fn set_fault(&mut self, fault: bool, now: Instant) {
        if fault == self.fault {
            return;
        }
        self.fault = fault;
        match (fault, self.state) {
            (_, State::Initialize) => {}
            (true, State::Master) => {
                // keepalived vrrp_state_leave_master (wantstate FAULT): priority-0 advert, then
                // release the addresses.
                self.send_advert(0);
                self.actions.push_back(Action::DelVips);
                self.enter_fault(now);
            }
            (true, State::Backup) => self.enter_fault(now),
            (false, State::Fault) => {
                if self.priority == PRIO_OWNER {
                    // RFC 3768 §6.4.1 applied on recovery: the owner goes straight to Master.
                    self.become_master(Reason::FaultCleared, now);
                } else {
                    // keepalived vrrp_state_leave_fault: Backup with a full down interval.
                    self.enter_backup(Reason::FaultCleared, now);
                }
            }
            // The flag and the state always agree outside Initialize.
            (true, State::Fault) | (false, State::Backup | State::Master) => {}
        }
    }

    /// Make this instance a member of a `vrrp_sync_group` (or not): when its Master_Down_Timer
    /// fires it does not become master but sets [`Instance::wants_master`] and waits for
    /// [`Instance::sync_go_master`] (keepalived `vrrp_sync_can_goto_master`).
    pub fn set_sync_member(&mut self, member: bool) {
        self.sync_member = member;
        if !member {
            self.wants_master = false;
        }
    }

    /// A sync-group member in Backup whose Master_Down_Timer fired and that no master has been
    /// heard from since: it is ready to become master with its group.
    pub fn wants_master(&self) -> bool {
        self.wants_master
    }

    /// The sync group is ready: a member that [`Instance::wants_master`] becomes master (RFC 3768
    /// §6.4.2's Master_Down_Timer actions, deferred by the group). Anything else is ignored, so
    /// a grant that crossed a newer advert does nothing.
    pub fn sync_go_master(&mut self, now: Instant) {
        if self.state == State::Backup && self.wants_master && !self.fault {
            self.become_master(self.down_reason, now);
        }
    }

    /// Another member of the sync group left Master for Backup: so does this one (keepalived
    /// `vrrp_sync_backup`), releasing its addresses and waiting a full Master_Down_Interval as
    /// after yielding to a higher-priority advert (RFC 3768 §6.4.3). No advert is sent. Ignored
    /// unless Master.
    pub fn sync_step_down(&mut self, now: Instant) {
        if self.state != State::Master {
            return;
        }
        self.actions.push_back(Action::DelVips);
        self.timers = Timers::default();
        self.master_adver_interval = self.cfg.advert_interval;
        self.timers.master_down = now.checked_add(self.master_down_interval());
        self.down_reason = Reason::MasterDown;
        self.preempt_until = None;
        self.transition(State::Backup, Reason::SyncGroup, now);
    }

    /// Start an instance that a reload rebuilt with changed settings while it was master: it
    /// becomes master at once ([`Reason::Reload`]) instead of waiting a Master_Down_Interval as
    /// a backup, so a settings change on the master does not hand the addresses to the peer
    /// (keepalived keeps the state of reloaded instances). With a fault recorded it enters
    /// Fault. Does nothing unless in [`State::Initialize`].
    pub fn resume_master(&mut self, now: Instant) {
        if self.state != State::Initialize {
            return;
        }
        if self.fault {
            self.transition(State::Fault, Reason::Fault, now);
        } else {
            self.become_master(Reason::Reload, now);
        }
    }

    /// Zero the counters (keepalived's STATS_CLEAR signal).
    pub fn clear_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// Call when [`Instance::poll_timeout`] has been reached. Handles every deadline `<= now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if is_due(self.timers.master_down, now) {
            self.timers.master_down = None;
            if self.sync_member {
                // keepalived vrrp_sync_can_goto_master: a sync-group member only becomes master
                // with the whole group ("prefer backup state to avoid thrashing"). It says it is
                // ready and waits another Master_Down_Interval; the group grants it with
                // `sync_go_master` once every member is ready.
                self.wants_master = true;
                self.timers.master_down = now.checked_add(self.master_down_interval());
            } else {
                // RFC 3768 §6.4.2 / RFC 5798 §6.4.2: if the Master_Down_Timer fires, send an
                // ADVERTISEMENT, broadcast gratuitous ARPs, start the Adver_Timer, go Master.
                self.become_master(self.down_reason, now);
            }
        }
        if is_due(self.timers.adver, now) {
            // RFC 3768 §6.4.3 / RFC 5798 §6.4.3: if the Adver_Timer fires, send an ADVERTISEMENT
            // and reset the Adver_Timer to Advertisement_Interval.
            self.send_advert(self.priority);
            self.timers.adver = now.checked_add(self.cfg.advert_interval);
        }
        if is_due(self.timers.garp_burst, now) {
            // keepalived vrrp_gratuitous_arp_thread: the delayed second burst.
            self.timers.garp_burst = None;
            self.send_gratuitous(self.cfg.garp.master_repeat);
        }
        if is_due(self.timers.garp_refresh, now) {
            // keepalived garp_master_refresh: periodic announcements while master.
            self.send_gratuitous(self.cfg.garp.refresh_repeat);
            self.timers.garp_refresh = now.checked_add(self.cfg.garp.refresh);
        }
        if is_due(self.timers.garp_lower_prio, now) {
            // keepalived vrrp_lower_prio_gratuitous_arp_thread.
            self.timers.garp_lower_prio = None;
            self.send_gratuitous(self.cfg.garp.lower_prio_repeat);
        }
    }

    /// Process a decoded advert from `src` (the IP source address of the packet).
    ///
    /// `Err` means the advert was dropped; the matching [`Stats`] counter has been bumped.
    /// `Ok` means it was valid and processed (possibly discarded by the protocol, e.g. a lower
    /// priority advert seen by a preempting backup).
    pub fn handle_advert(
        &mut self,
        adv: &Advert,
        src: IpAddr,
        now: Instant,
    ) -> Result<(), RxError> {
        if self.state == State::Initialize {
            return Err(RxError::NotListening(State::Initialize));
        }
        self.validate(adv)?;
        if self.state == State::Fault {
            return Err(RxError::NotListening(State::Fault));
        }
        self.stats.adverts_rx += 1;
        if adv.priority == 0 {
            self.stats.priority_zero_rx += 1;
        }
        if self.priority == PRIO_OWNER {
            // The address owner never defers (RFC 3768 §6.4.3 with Priority 255 always wins);
            // it ignores adverts for its VRID (keepalived owner_ignore_adverts).
            return Err(RxError::NotListening(self.state));
        }
        match self.state {
            State::Backup => self.backup_rx(adv, src, now),
            State::Master => self.master_rx(adv, src, now),
            State::Initialize | State::Fault => {}
        }
        Ok(())
    }

    /// RFC 3768 §7.1 / RFC 5798 §7.1 checks that depend on the configuration.
    fn validate(&mut self, adv: &Advert) -> Result<(), RxError> {
        // RFC 3768 §7.1: MUST verify the VRRP version.
        if adv.version != self.cfg.version {
            self.stats.version_errors += 1;
            return Err(RxError::WrongVersion);
        }
        // RFC 3768 §7.1: MUST verify that the VRID is configured on the receiving interface.
        if adv.vrid != self.cfg.vrid {
            self.stats.vrid_errors += 1;
            return Err(RxError::WrongVrid {
                got: adv.vrid,
                ours: self.cfg.vrid,
            });
        }
        if self.cfg.version == Version::V2 {
            // RFC 2338 §7.1 (auth kept by keepalived): the Auth Type MUST match the local one,
            // and for simple text the password MUST match.
            if !auth_matches(&self.cfg.auth, &adv.auth) {
                self.stats.auth_errors += 1;
                return Err(RxError::Auth);
            }
            // RFC 3768 §7.1: MUST verify that the Adver Interval matches the local one; if not,
            // discard the packet. (v3 learns it instead, RFC 5798 §6.4.2.)
            let ours_cs = to_centis(self.cfg.advert_interval);
            if adv.interval_cs != ours_cs {
                self.stats.interval_errors += 1;
                return Err(RxError::IntervalMismatch {
                    got_cs: adv.interval_cs,
                    ours_cs,
                });
            }
        }
        // RFC 3768 §7.1 / RFC 5798 §7.1: MAY verify the address list; on mismatch, if the sender
        // is not the owner (Priority 255) the receiver MUST drop the packet.
        if !same_addresses(&adv.addrs, &self.cfg.vips) {
            self.stats.addr_list_errors += 1;
            if self.cfg.addr_list_policy == AddrListPolicy::Drop && adv.priority != PRIO_OWNER {
                return Err(RxError::AddressList);
            }
        }
        Ok(())
    }

    fn backup_rx(&mut self, adv: &Advert, src: IpAddr, now: Instant) {
        if adv.priority == 0 {
            // RFC 3768 §6.4.2 / RFC 5798 §6.4.2: if the Priority in the ADVERTISEMENT is zero,
            // set the Master_Down_Timer to Skew_Time.
            let skew = skew_time(self.cfg.version, self.priority, self.master_adver_interval);
            self.timers.master_down = now.checked_add(skew);
            self.down_reason = Reason::PeerStopped;
            return;
        }
        let delaying = self.cfg.preempt && !self.cfg.preempt_delay.is_zero();
        let holding_off = delaying && self.preempt_until.is_none_or(|until| until > now);
        if !self.cfg.preempt || adv.priority >= self.priority || holding_off {
            // RFC 3768 §6.4.2: if Preempt_Mode is False, or the Priority in the ADVERTISEMENT is
            // greater than or equal to the local Priority, reset the Master_Down_Timer to
            // Master_Down_Interval. (keepalived also while preempt_delay holds off.)
            if self.cfg.version == Version::V3 && adv.interval_cs != 0 {
                // RFC 5798 §6.4.2: set Master_Adver_Interval to the Adver Interval contained in
                // the ADVERTISEMENT, recompute Skew_Time and Master_Down_Interval.
                self.master_adver_interval = from_centis(adv.interval_cs);
            }
            self.timers.master_down = now.checked_add(self.master_down_interval());
            self.down_reason = Reason::MasterDown;
            self.master = Some((src, adv.priority));
            // A master is back: this sync member is no longer ready to take over.
            self.wants_master = false;
            if delaying {
                if adv.priority >= self.priority {
                    // keepalived "stop preempt delay".
                    self.preempt_until = None;
                } else if self.preempt_until.is_none() {
                    // keepalived "start preempt delay": a lower-priority master was first heard.
                    self.preempt_until = now.checked_add(self.cfg.preempt_delay);
                }
            }
        } else {
            // RFC 3768 §6.4.2 / RFC 5798 §6.4.2: else (Preempt_Mode and lower priority) discard
            // the ADVERTISEMENT; the Master_Down_Timer keeps running, so we preempt when it fires.
            self.down_reason = Reason::Preempt;
            self.master = Some((src, adv.priority));
        }
    }

    fn master_rx(&mut self, adv: &Advert, src: IpAddr, now: Instant) {
        if adv.priority == 0 {
            // RFC 3768 §6.4.3 / RFC 5798 §6.4.3: if the Priority in the ADVERTISEMENT is zero,
            // send an ADVERTISEMENT and reset the Adver_Timer to Advertisement_Interval.
            self.send_advert(self.priority);
            self.timers.adver = now.checked_add(self.cfg.advert_interval);
            return;
        }
        let sender_wins = match adv.priority.cmp(&self.priority) {
            Ordering::Greater => true,
            Ordering::Less => false,
            // RFC 3768 §6.4.3: equal priority and the sender's primary address greater than
            // ours (unsigned comparison in network byte order) => the sender wins.
            Ordering::Equal => match compare_addrs(src, self.cfg.primary_addr) {
                Some(Ordering::Greater) => true,
                Some(Ordering::Less) => false,
                // Our own address (a looped-back advert) or another family: keepalived logs and
                // ignores it; answering would make us advertise to ourselves.
                Some(Ordering::Equal) | None => return,
            },
        };
        if sender_wins {
            if self.cfg.higher_prio_send_advert {
                // keepalived higher_prio_send_advert (beyond RFC 3768 §6.4.3): we presumably became
                // master while cut off from the other router. One advert at our own priority,
                // before leaving Master, tells it that we held the addresses too: as master it
                // answers a lower-priority advert (RFC 9568 §6.4.3) with gratuitous ARPs
                // (garp_lower_prio_*), so clients that followed us move back at once.
                self.send_advert(self.priority);
            }
            // RFC 3768 §6.4.3: cancel the Adver_Timer, set the Master_Down_Timer to
            // Master_Down_Interval, transition to Backup (no priority-0 advert: keepalived).
            if self.cfg.version == Version::V3 && adv.interval_cs != 0 {
                // RFC 5798 §6.4.3: set Master_Adver_Interval to the Adver Interval contained in
                // the ADVERTISEMENT, recompute Skew_Time and Master_Down_Interval.
                self.master_adver_interval = from_centis(adv.interval_cs);
            } else {
                self.master_adver_interval = self.cfg.advert_interval;
            }
            self.actions.push_back(Action::DelVips);
            self.timers = Timers::default();
            self.timers.master_down = now.checked_add(self.master_down_interval());
            self.down_reason = Reason::MasterDown;
            self.preempt_until = None;
            self.master = Some((src, adv.priority));
            self.transition(State::Backup, Reason::HigherPriority, now);
        } else {
            // RFC 3768 §6.4.3: else discard the ADVERTISEMENT. RFC 9568 §6.4.3: and send an
            // ADVERTISEMENT immediately to assert the Active state (Adver_Timer not reset);
            // keepalived `lower_prio_no_advert` keeps the RFC 3768 / 5798 behaviour.
            if !self.cfg.lower_prio_no_advert {
                self.send_advert(self.priority);
            }
            // keepalived vrrp_state_master_rx: refresh ARP caches at once and after a delay.
            let repeat = self.cfg.garp.lower_prio_repeat;
            if repeat > 0 {
                self.send_gratuitous(repeat);
                if !self.cfg.garp.lower_prio_delay.is_zero() {
                    self.timers.garp_lower_prio = now.checked_add(self.cfg.garp.lower_prio_delay);
                }
            }
        }
    }

    /// Enter Master: keepalived's order (reference §4.7) — advert first so the old master drops
    /// the VIPs before our announcements, then the VIPs, the announcements, the notification.
    fn become_master(&mut self, reason: Reason, now: Instant) {
        self.send_advert(self.priority);
        self.actions.push_back(Action::AddVips);
        self.send_gratuitous(self.cfg.garp.master_repeat);
        let garp = &self.cfg.garp;
        self.timers = Timers {
            adver: now.checked_add(self.cfg.advert_interval),
            master_down: None,
            garp_burst: nonzero_after(now, garp.master_delay, garp.master_repeat),
            garp_refresh: nonzero_after(now, garp.refresh, garp.refresh_repeat),
            garp_lower_prio: None,
        };
        self.preempt_until = None;
        self.master = None;
        self.master_adver_interval = self.cfg.advert_interval;
        self.transition(State::Master, reason, now);
    }

    /// Enter Backup from Initialize or Fault with a full Master_Down_Interval.
    fn enter_backup(&mut self, reason: Reason, now: Instant) {
        // keepalived vrrp_state_leave_fault / vrrp_init_state: master_adver_int = adver_int.
        self.master_adver_interval = self.cfg.advert_interval;
        self.timers = Timers::default();
        self.timers.master_down = now.checked_add(self.master_down_interval());
        self.down_reason = Reason::MasterDown;
        self.preempt_until = None;
        self.master = None;
        self.transition(State::Backup, reason, now);
    }

    fn enter_fault(&mut self, now: Instant) {
        self.timers = Timers::default();
        self.preempt_until = None;
        self.master = None;
        self.transition(State::Fault, Reason::Fault, now);
    }

    /// Master_Down_Interval with our effective priority and the current Master_Adver_Interval.
    fn master_down_interval(&self) -> Duration {
        master_down_interval(
            self.cfg.version,
            self.priority,
            self.master_adver_interval,
            self.cfg.down_timer_adverts,
        )
    }

    fn send_advert(&mut self, priority: u8) {
        self.stats.adverts_tx += 1;
        if priority == 0 {
            self.stats.priority_zero_tx += 1;
        }
        self.actions.push_back(Action::SendAdvert { priority });
    }

    fn send_gratuitous(&mut self, repeat: u32) {
        if repeat > 0 {
            self.actions.push_back(Action::SendGratuitous { repeat });
        }
    }

    /// The one place that changes `state`: exactly one Notify per transition.
    fn transition(&mut self, to: State, reason: Reason, now: Instant) {
        let from = self.state;
        if from == to {
            return;
        }
        if to == State::Master {
            self.stats.became_master += 1;
        }
        if from == State::Master {
            self.stats.released_master += 1;
        }
        self.state = to;
        self.wants_master = false;
        self.last_transition = Some((now, reason));
        self.actions.push_back(Action::Notify { from, to, reason });
    }
}

/// Priority of the address owner (RFC 3768 §5.3.4).
const PRIO_OWNER: u8 = 255;

fn is_due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

/// `now + delay`, unless the delay or the repeat count is zero (feature off).
fn nonzero_after(now: Instant, delay: Duration, repeat: u32) -> Option<Instant> {
    if delay.is_zero() || repeat == 0 {
        None
    } else {
        now.checked_add(delay)
    }
}

/// Compare two addresses as unsigned integers in network byte order (RFC 3768 §6.4.3); `None`
/// across families.
fn compare_addrs(a: IpAddr, b: IpAddr) -> Option<Ordering> {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => Some(u32::from(a).cmp(&u32::from(b))),
        (IpAddr::V6(a), IpAddr::V6(b)) => Some(u128::from(a).cmp(&u128::from(b))),
        _ => None,
    }
}

/// v2 authentication check; the password comparison does not stop at the first difference.
fn auth_matches(ours: &AuthData, theirs: &AuthData) -> bool {
    match (ours, theirs) {
        (AuthData::None, AuthData::None) | (AuthData::Ah, AuthData::Ah) => true,
        (AuthData::Pass(a), AuthData::Pass(b)) => {
            a.iter()
                .zip(b.iter())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
        }
        _ => false,
    }
}

/// Same addresses regardless of order (and count, duplicates included).
fn same_addresses(theirs: &[IpAddr], ours: &[IpAddr]) -> bool {
    if theirs.len() != ours.len() {
        return false;
    }
    let mut a = theirs.to_vec();
    let mut b = ours.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

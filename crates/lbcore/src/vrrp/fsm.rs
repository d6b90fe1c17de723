//! The per-instance VRRP state machine (RFC 3768 §6.4, RFC 5798 / RFC 9568 §6.4), sans-io.
//!
//! SKELETON: the API below is the contract with the vrrpd driver; bodies are being written.
//!
//! Inputs: [`Instance::startup`], [`Instance::shutdown`], [`Instance::handle_advert`],
//! [`Instance::handle_timeout`], [`Instance::set_priority`], [`Instance::set_fault`].
//! Outputs: [`Instance::poll_action`] (drain until `None` after every input) and
//! [`Instance::poll_timeout`] (the one instant at which the driver must call `handle_timeout`).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::packet::{Advert, AuthData, Version};

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
    /// Adverts accepted by the state machine.
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
}

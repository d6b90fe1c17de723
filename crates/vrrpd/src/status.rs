//! Run-time status shared between the drivers and whoever reports it (logs now; the status socket
//! and SIGUSR1/SIGUSR2 dumps of the next issue).
//!
//! Owns: the per-instance snapshot (state, priorities, master, last transitions, drop counters)
//! and the per-socket counters. Must not: drive anything; it is written by the driver after each
//! input and only read elsewhere.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use lbcore::vrrp::fsm::{Reason, State, Stats};

/// Transitions kept per instance.
pub const TRANSITIONS_KEPT: usize = 16;

/// One state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// When (monotonic).
    pub at: Instant,
    /// When (wall clock, read at the transition: status and dumps print this, so repeated
    /// queries print the same time).
    pub wall: SystemTime,
    /// Previous state.
    pub from: State,
    /// New state.
    pub to: State,
    /// Why.
    pub reason: Reason,
}

/// Snapshot of one instance.
#[derive(Debug, Clone)]
pub struct InstanceStatus {
    /// Instance name.
    pub name: String,
    /// VRID.
    pub vrid: u8,
    /// Interface.
    pub interface: String,
    /// Current state.
    pub state: State,
    /// Effective priority.
    pub effective_priority: u8,
    /// The master we hear, if any.
    pub master_addr: Option<IpAddr>,
    /// The most recent transitions, oldest first.
    pub transitions: VecDeque<Transition>,
    /// Packets dropped before the state machine, by kind (`ttl`, `checksum`, `unicast_source`, ...).
    pub drops: BTreeMap<&'static str, u64>,
    /// The state machine's counters.
    pub stats: Stats,
    /// Configured priority.
    pub base_priority: u8,
    /// Each tracker's share in the effective priority.
    pub track: Vec<crate::track::Share>,
    /// The priority of the master we hear (from its last advert), if any. Written by the
    /// driver from `fsm.master_priority()`.
    pub master_priority: Option<u8>,
}

impl InstanceStatus {
    /// A fresh status for an instance that has not started.
    pub fn new(name: &str, vrid: u8, interface: &str, priority: u8) -> Self {
        Self {
            name: name.to_string(),
            vrid,
            interface: interface.to_string(),
            state: State::Initialize,
            effective_priority: priority,
            master_addr: None,
            transitions: VecDeque::new(),
            drops: BTreeMap::new(),
            stats: Stats::default(),
            base_priority: priority,
            track: Vec::new(),
            master_priority: None,
        }
    }

    /// The most recent transition, if any.
    pub fn last_transition(&self) -> Option<&Transition> {
        self.transitions.back()
    }

    /// Records a transition, keeping the last [`TRANSITIONS_KEPT`].
    pub fn record(&mut self, t: Transition) {
        if self.transitions.len() == TRANSITIONS_KEPT {
            self.transitions.pop_front();
        }
        self.transitions.push_back(t);
    }

    /// Counts one dropped packet of `kind`; returns the new count.
    pub fn count_drop(&mut self, kind: &'static str) -> u64 {
        let n = self.drops.entry(kind).or_default();
        *n += 1;
        *n
    }
}

/// A wall-clock time broken down in UTC, for status output and dump files (keepalived prints
/// local time; vrrpd prints UTC and says so where the format has room).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// Seconds since the Unix epoch.
    pub secs: u64,
    /// Microseconds within the second.
    pub micros: u32,
    /// Year.
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of the month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Second, 0-59.
    pub second: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
}

impl Utc {
    /// Breaks `t` down (times before the epoch are clamped to it).
    pub fn from_system(t: SystemTime) -> Self {
        let t = t.max(SystemTime::UNIX_EPOCH);
        let secs = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let dt = time::OffsetDateTime::from(t);
        Self {
            secs,
            micros: dt.microsecond(),
            year: i64::from(dt.year()),
            month: u32::from(u8::from(dt.month())),
            day: u32::from(dt.day()),
            hour: u32::from(dt.hour()),
            minute: u32::from(dt.minute()),
            second: u32::from(dt.second()),
            weekday: u32::from(dt.weekday().number_days_from_sunday()),
        }
    }

    /// `2026-11-24T05:23:51.034879Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.micros
        )
    }

    /// keepalived's `Last transition` text: `Tue Nov 24 05:23:51.034879 2026`.
    pub fn ctime_micros(&self) -> String {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let wd = DAYS[self.weekday as usize % 7];
        let mon = MONTHS[(self.month as usize + 11) % 12];
        format!(
            "{wd} {mon} {:2} {:02}:{:02}:{:02}.{:06} {}",
            self.day, self.hour, self.minute, self.second, self.micros, self.year
        )
    }

    /// Seconds since the epoch with microseconds, as keepalived's dumps print them
    /// (`1795497831.034879`).
    pub fn epoch_micros(&self) -> String {
        format!("{}.{:06}", self.secs, self.micros)
    }
}

/// Counters of one socket for packets no instance could be charged with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Packets received.
    pub received: u64,
    /// Adverts for a VRID no instance on this socket has.
    pub unknown_vrid: u64,
    /// Packets whose destination does not match the socket's mode (the other socket's).
    pub other_destination: u64,
    /// Malformed packets whose VRID could not be read or matched.
    pub malformed: u64,
    /// Adverts dropped because the instance's queue was full.
    pub queue_full: u64,
}

/// A cloneable handle on a mutex-protected value; poisoning is ignored (the data are counters).
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<Mutex<T>>);

/// The running instances' status handles, in configuration order; a reload replaces the list.
pub type Registry = Shared<Vec<Shared<InstanceStatus>>>;

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Shared<T> {
    /// Wraps `v`.
    pub fn new(v: T) -> Self {
        Self(Arc::new(Mutex::new(v)))
    }

    /// Locks it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keeps_the_last_transitions_and_counts_drops() {
        let mut s = InstanceStatus::new("VI_1", 51, "eth0", 100);
        let t0 = crate::clock::now();
        for i in 0..(TRANSITIONS_KEPT + 3) {
            let to = if i % 2 == 0 {
                State::Backup
            } else {
                State::Master
            };
            s.record(Transition {
                at: t0,
                wall: SystemTime::UNIX_EPOCH,
                from: State::Initialize,
                to,
                reason: Reason::Startup,
            });
        }
        assert_eq!(s.transitions.len(), TRANSITIONS_KEPT);
        assert_eq!(s.count_drop("ttl"), 1);
        assert_eq!(s.count_drop("ttl"), 2);
        assert_eq!(s.count_drop("auth"), 1);
        assert_eq!(s.drops.get("ttl"), Some(&2));
        // The last of the 19 records (i = 18, even) is a BACKUP one.
        assert_eq!(s.last_transition().map(|t| t.to), Some(State::Backup));
    }

    #[test]
    fn utc_breakdown_matches_known_dates() {
        // keepalived 2.2.7 printed this pair for one transition (reference dump, TZ=UTC).
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_497_831_034_879);
        let u = Utc::from_system(t);
        assert_eq!(u.ctime_micros(), "Tue Nov 24 05:23:51.034879 2026");
        assert_eq!(u.epoch_micros(), "1795497831.034879");
        assert_eq!(u.rfc3339(), "2026-11-24T05:23:51.034879Z");
        // Leap day and the epoch itself.
        let leap = Utc::from_system(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(
            (leap.year, leap.month, leap.day, leap.weekday),
            (2000, 2, 29, 2)
        );
        let epoch = Utc::from_system(SystemTime::UNIX_EPOCH);
        assert_eq!(epoch.ctime_micros(), "Thu Jan  1 00:00:00.000000 1970");
    }
}

//! Run-time status shared between the drivers and whoever reports it (logs now; the status socket
//! and SIGUSR1/SIGUSR2 dumps of the next issue).
//!
//! Owns: the per-instance snapshot (state, priorities, master, last transitions, drop counters)
//! and the per-socket counters. Must not: drive anything; it is written by the driver after each
//! input and only read elsewhere.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use lbcore::vrrp::fsm::{Reason, State, Stats};

/// Transitions kept per instance.
pub const TRANSITIONS_KEPT: usize = 16;

/// One state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// When (monotonic).
    pub at: Instant,
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
        }
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
    }
}

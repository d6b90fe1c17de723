//! `balance leastconn`: fewest connections relative to weight, round robin among equals.
//!
//! Owns the tie-break order only; it must not count connections (the caller passes them).

use super::{BE_WEIGHT_SCALE, MAX_WEIGHT, ServerView, full_last};

/// HAProxy's `SRV_EWGHT_MAX` (`SRV_UWGHT_MAX × BE_WEIGHT_SCALE`).
const EWGHT_MAX: u64 = (MAX_WEIGHT * BE_WEIGHT_SCALE) as u64;

/// The leastconn key of HAProxy's `src/lb_fwlc.c`: `served × SRV_EWGHT_MAX / eweight`, with
/// `eweight = weight × 16`. Lower is better; integer division makes near-equal loads ties.
pub fn key(server: &ServerView) -> u64 {
    let eweight = u64::from(server.weight.max(1)) * u64::from(BE_WEIGHT_SCALE);
    u64::from(server.conns) * EWGHT_MAX / eweight
}

/// Tie-break memory: among servers with equal keys the one picked longest ago comes first, which is
/// HAProxy's "round-robin is performed within groups of servers of the same load" (an ebtree insert
/// goes after equal keys, so `eb32_first` is the longest-waiting server).
#[derive(Debug, Clone, Default)]
pub struct LeastConn {
    last_pick: Vec<u64>,
    clock: u64,
}

impl LeastConn {
    /// Ordered candidates among `eligible` (indices into `servers`): by key, then by longest wait,
    /// then declaration order; full servers last (HAProxy skips a server at its maxconn).
    pub fn select(&mut self, servers: &[ServerView], eligible: &[usize]) -> Vec<usize> {
        if self.last_pick.len() < servers.len() {
            self.last_pick.resize(servers.len(), 0);
        }
        let mut order = eligible.to_vec();
        order.sort_by_key(|&i| (key(&servers[i]), self.last_pick[i], i));
        full_last(servers, &mut order);
        if let Some(&first) = order.first()
            && !servers[first].is_full()
        {
            self.clock += 1;
            self.last_pick[first] = self.clock;
        }
        order
    }
}

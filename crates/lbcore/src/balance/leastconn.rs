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

/// Tie-break memory: HAProxy re-inserts a server in its leastconn tree whenever its load changes
/// (a connection taken or released), after the servers with an equal key, and picks the first
/// (`src/lb_fwlc.c`). So among equal keys the server whose load changed longest ago comes first:
/// "round-robin is performed within groups of servers of the same load". Load changes are seen
/// here as differences in `conns` between calls, plus the pick itself.
#[derive(Debug, Clone, Default)]
pub struct LeastConn {
    last_change: Vec<u64>,
    seen_conns: Vec<Option<u32>>,
    clock: u64,
}

impl LeastConn {
    /// Ordered candidates among `eligible` (indices into `servers`): by key, then by the oldest
    /// load change, then declaration order; full servers last (HAProxy skips a server at its
    /// maxconn).
    pub fn select(&mut self, servers: &[ServerView], eligible: &[usize]) -> Vec<usize> {
        if self.last_change.len() < servers.len() {
            self.last_change.resize(servers.len(), 0);
            self.seen_conns.resize(servers.len(), None);
        }
        for &i in eligible {
            if self.seen_conns[i] != Some(servers[i].conns) {
                self.clock += 1;
                self.last_change[i] = self.clock;
                self.seen_conns[i] = Some(servers[i].conns);
            }
        }
        let mut order = eligible.to_vec();
        order.sort_by_key(|&i| (key(&servers[i]), self.last_change[i], i));
        full_last(servers, &mut order);
        if let Some(&first) = order.first()
            && !servers[first].is_full()
        {
            // The pick takes a connection: a load change, expected to show as conns + 1.
            self.clock += 1;
            self.last_change[first] = self.clock;
            self.seen_conns[first] = Some(servers[first].conns.saturating_add(1));
        }
        order
    }
}

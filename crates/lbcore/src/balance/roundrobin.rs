//! `balance roundrobin` (dynamic, smooth weighted) and `balance static-rr` (HAProxy's static map).
//!
//! Owns the per-backend round-robin position only; it must not decide eligibility (see
//! [`super::eligible`]) or touch server state.

use super::{ServerView, full_last};

/// Dynamic smooth weighted round robin: every pick adds each free server's weight to its score,
/// takes the highest score (first declared on ties) and subtracts the total. Over `Σ weight` picks
/// from a reset every server is chosen exactly `weight` times, interleaved rather than in bursts.
/// Weights are read on every call; a change of the eligible set or of any weight restarts the cycle,
/// so a new weight applies at once (HAProxy: roundrobin is dynamic, reference §2.5).
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    score: Vec<i64>,
    signature: Vec<(usize, u32)>,
}

impl RoundRobin {
    /// Ordered candidates among `eligible` (indices into `servers`).
    pub fn select(&mut self, servers: &[ServerView], eligible: &[usize]) -> Vec<usize> {
        let signature: Vec<(usize, u32)> =
            eligible.iter().map(|&i| (i, servers[i].weight)).collect();
        if signature != self.signature || self.score.len() < servers.len() {
            self.score = vec![0; servers.len()];
            self.signature = signature;
        }
        let free: Vec<usize> = eligible
            .iter()
            .copied()
            .filter(|&i| !servers[i].is_full())
            .collect();
        if free.is_empty() {
            // All full: HAProxy queues in the backend; the caller decides.
            return eligible.to_vec();
        }
        let total: i64 = free.iter().map(|&i| i64::from(servers[i].weight)).sum();
        let mut best = free[0];
        for &i in &free {
            self.score[i] += i64::from(servers[i].weight);
            if self.score[i] > self.score[best] {
                best = i;
            }
        }
        self.score[best] -= total;
        let mut rest: Vec<usize> = eligible.iter().copied().filter(|&i| i != best).collect();
        // The likeliest next picks first.
        rest.sort_by_key(|&i| std::cmp::Reverse(self.score[i] + i64::from(servers[i].weight)));
        let mut order = vec![best];
        order.extend(rest);
        full_last(servers, &mut order);
        order
    }
}

/// The gcd HAProxy divides weights by before building a map (`init_server_map`): over every
/// configured server with a non-zero weight, usable or not, active or backup; 1 if none.
pub fn weight_gcd(weights: impl IntoIterator<Item = u32>) -> u32 {
    weights.into_iter().fold(0, gcd).max(1)
}

/// Builds HAProxy's static server map (`src/lb_map.c`, `recalc_server_map`) with weights divided
/// by `divisor` (see [`weight_gcd`]): `Σ weight / divisor` slots; each slot goes to the server whose running score, rounded as `(wscore + tot) / tot`, is
/// highest (first declared on ties), which then pays `tot`. Declaration order is kept for equal
/// weights, and the first declared server gets the first slot.
pub fn build_map(weighted: &[(usize, u32)], divisor: u32) -> Vec<usize> {
    let g = divisor.max(1);
    let weights: Vec<i64> = weighted.iter().map(|&(_, w)| i64::from(w / g)).collect();
    let tot: i64 = weights.iter().sum();
    let mut wscore = vec![0i64; weighted.len()];
    let mut map = Vec::with_capacity(usize::try_from(tot).unwrap_or(0));
    for _ in 0..tot {
        let mut best = 0;
        let mut max = i64::MIN;
        for (k, w) in weights.iter().enumerate() {
            wscore[k] += w;
            let v = (wscore[k] + tot) / tot;
            if v > max {
                max = v;
                best = k;
            }
        }
        wscore[best] -= tot;
        map.push(weighted[best].0);
    }
    map
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `balance static-rr`: walks HAProxy's static map. The weight used for a server is the first
/// non-zero one seen for its index; later changes apply only as 0 (leaves the map) or non-0 (comes back with its
/// original weight), as HAProxy accepts only 0% and 100% for `set weight` on static-rr. A recovered
/// server is reinserted immediately.
#[derive(Debug, Clone, Default)]
pub struct StaticRr {
    initial: Vec<Option<u32>>,
    eligible: Vec<usize>,
    map: Vec<usize>,
    pos: usize,
}

impl StaticRr {
    /// Ordered candidates among `eligible` (indices into `servers`).
    pub fn select(&mut self, servers: &[ServerView], eligible: &[usize]) -> Vec<usize> {
        if self.initial.len() < servers.len() {
            self.initial.resize(servers.len(), None);
        }
        for (slot, s) in self.initial.iter_mut().zip(servers) {
            if slot.is_none_or(|w| w == 0) {
                *slot = Some(s.weight);
            }
        }
        if self.eligible != eligible {
            self.eligible = eligible.to_vec();
            let divisor = weight_gcd(self.initial.iter().flatten().copied());
            let weighted: Vec<(usize, u32)> = eligible
                .iter()
                .map(|&i| (i, self.initial[i].unwrap_or(servers[i].weight)))
                .collect();
            self.map = build_map(&weighted, divisor);
            if !self.map.is_empty() {
                self.pos %= self.map.len();
            }
        }
        let n = self.map.len();
        let mut order = Vec::with_capacity(eligible.len());
        // HAProxy `map_get_server_rr`: scan from rr_idx, skipping full servers.
        let chosen = (0..n)
            .map(|k| (self.pos + k) % n)
            .find(|&k| !servers[self.map[k]].is_full());
        let start = chosen.unwrap_or(self.pos);
        if chosen.is_some() {
            self.pos = (start + 1) % n;
        }
        for k in 0..n {
            let s = self.map[(start + k) % n];
            if !order.contains(&s) {
                order.push(s);
            }
        }
        full_last(servers, &mut order);
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn map_and_smooth_rr_are_exact_over_a_cycle(weights in proptest::collection::vec(1u32..=256, 1..12)) {
            let weighted: Vec<(usize, u32)> = weights.iter().copied().enumerate().collect();
            let g = weight_gcd(weights.iter().copied());
            let map = build_map(&weighted, g);
            let servers: Vec<ServerView> =
                weights.iter().enumerate().map(|(i, &w)| ServerView::new(i as u32, w)).collect();
            let eligible: Vec<usize> = (0..weights.len()).collect();
            let mut rr = RoundRobin::default();
            let total: u32 = weights.iter().sum();
            let mut counts = vec![0u32; weights.len()];
            for _ in 0..total {
                counts[rr.select(&servers, &eligible)[0]] += 1;
            }
            for (i, &w) in weights.iter().enumerate() {
                prop_assert_eq!(map.iter().filter(|&&s| s == i).count() as u32, w / g);
                prop_assert_eq!(counts[i], w);
            }
        }
    }

    #[test]
    fn map_honours_weights_exactly_and_starts_with_first_declared() {
        for weights in [
            vec![3u32, 1],
            vec![1, 1, 1],
            vec![5, 3, 2],
            vec![256, 1, 7, 100],
            vec![2, 4],
        ] {
            let weighted: Vec<(usize, u32)> = weights.iter().copied().enumerate().collect();
            let g = weight_gcd(weights.iter().copied());
            let map = build_map(&weighted, g);
            for (i, w) in weights.iter().enumerate() {
                assert_eq!(
                    map.iter().filter(|&&s| s == i).count() as u32,
                    w / g,
                    "{weights:?}"
                );
            }
            assert_eq!(map[0], 0);
        }
    }

    #[test]
    fn smooth_rr_interleaves() {
        let servers = [
            ServerView::new(1, 5),
            ServerView::new(2, 1),
            ServerView::new(3, 1),
        ];
        let mut rr = RoundRobin::default();
        let picks: Vec<usize> = (0..7).map(|_| rr.select(&servers, &[0, 1, 2])[0]).collect();
        // nginx/HAProxy-style smooth sequence for 5,1,1: a a b a c a a
        assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0]);
    }
}

//! `balance source` with `hash-type map-based` and `hash-type consistent` (reference §2.5).
//!
//! Owns the static map and the consistent-hash ring, rebuilt when the eligible set or a weight
//! changes. Every hash is HAProxy's fixed `full_hash`: no seed, no run-time randomness, so two
//! boxes with the same server ids and weights map a source to the same server.

use std::net::IpAddr;

use super::roundrobin::{build_map, weight_gcd};
use super::{BE_WEIGHT_SCALE, MAX_WEIGHT, ServerView};

/// HAProxy's `SRV_EWGHT_RANGE` (`SRV_UWGHT_RANGE × BE_WEIGHT_SCALE`): spacing of ring keys per id.
const EWGHT_RANGE: u32 = MAX_WEIGHT * BE_WEIGHT_SCALE;

/// Bob Jenkins' 32-bit integer hash, HAProxy's `full_hash` (`include/haproxy/tools.h`): the
/// "avalanche" step and the ring node key function.
pub fn full_hash(a: u32) -> u32 {
    let mut a = a;
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a
}

/// The source hash of HAProxy's `get_server_sh` (`src/backend.c`): the XOR of the address's
/// big-endian 32-bit words (one for IPv4, four for IPv6). An IPv4-mapped IPv6 address hashes as
/// its IPv4 address.
pub fn source_key(ip: IpAddr) -> u32 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => v6
            .octets()
            .chunks_exact(4)
            .fold(0, |h, w| h ^ u32::from_be_bytes([w[0], w[1], w[2], w[3]])),
    }
}

/// Distinct servers of `seq` starting at `start`, wrapping.
fn distinct_from(seq: impl Iterator<Item = usize>, cap: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(cap);
    for s in seq {
        if !out.contains(&s) {
            out.push(s);
            if out.len() == cap {
                break;
            }
        }
    }
    out
}

/// `hash-type map-based`: `map[hash % map.len()]` over HAProxy's static map, whose length is the
/// total weight of the eligible servers divided by the gcd of all configured weights
/// (`src/lb_map.c`, `init_server_map`, `map_get_server_hash`), so proxyd and HAProxy map a source
/// to the same slot. With one eligible server no hash is computed.
#[derive(Debug, Clone, Default)]
pub struct MapHash {
    signature: Vec<(usize, u32)>,
    divisor: u32,
    map: Vec<usize>,
}

impl MapHash {
    /// Ordered candidates for `source`: the mapped server, then the other servers in map order.
    pub fn select(
        &mut self,
        servers: &[ServerView],
        eligible: &[usize],
        source: IpAddr,
    ) -> Vec<usize> {
        let signature: Vec<(usize, u32)> =
            eligible.iter().map(|&i| (i, servers[i].weight)).collect();
        let divisor = weight_gcd(servers.iter().map(|s| s.weight));
        if signature != self.signature || divisor != self.divisor {
            self.map = build_map(&signature, divisor);
            self.divisor = divisor;
            self.signature = signature;
        }
        let n = self.map.len();
        if n == 0 {
            return Vec::new();
        }
        let start = source_key(source) as usize % n;
        distinct_from((0..n).map(|k| self.map[(start + k) % n]), eligible.len())
    }

    /// The static map (server indices), for `show` commands and tests.
    pub fn map(&self) -> &[usize] {
        &self.map
    }
}

/// `hash-type consistent`: a ring of `16 × weight` points per server keyed
/// `full_hash(id × 4096 + i)`; a source hashes to `full_hash(source_key)` (sdbm + avalanche is
/// HAProxy's default for consistent; for an address sample the avalanche is what applies), and the
/// closer of the next point and the previous one wins, the previous on a tie (`src/lb_chash.c`,
/// `chash_get_server_hash`). Only the failed server's keys move when it leaves the ring.
#[derive(Debug, Clone, Default)]
pub struct ConsistentHash {
    signature: Vec<(u32, u32, usize)>,
    ring: Vec<(u32, usize)>,
}

impl ConsistentHash {
    fn rebuild(&mut self, servers: &[ServerView], eligible: &[usize]) {
        let signature: Vec<(u32, u32, usize)> = eligible
            .iter()
            .map(|&i| (servers[i].id, servers[i].weight, i))
            .collect();
        if signature == self.signature {
            return;
        }
        self.ring.clear();
        for &(id, weight, idx) in &signature {
            for node in 0..weight.min(MAX_WEIGHT) * BE_WEIGHT_SCALE {
                self.ring.push((
                    full_hash(id.wrapping_mul(EWGHT_RANGE).wrapping_add(node)),
                    idx,
                ));
            }
        }
        // Equal keys: order by server id, so the ring does not depend on declaration order.
        self.ring.sort_by_key(|&(key, idx)| (key, servers[idx].id));
        self.signature = signature;
    }

    /// Ordered candidates for `source`: the server of the closest point, then the next distinct
    /// servers walking the ring clockwise (HAProxy's `avoid` walk for redispatch).
    pub fn select(
        &mut self,
        servers: &[ServerView],
        eligible: &[usize],
        source: IpAddr,
    ) -> Vec<usize> {
        self.rebuild(servers, eligible);
        let n = self.ring.len();
        if n == 0 {
            return Vec::new();
        }
        let h = full_hash(source_key(source));
        let next = self.ring.partition_point(|&(k, _)| k < h) % n;
        let prev = (next + n - 1) % n;
        let dp = h.wrapping_sub(self.ring[prev].0);
        let dn = self.ring[next].0.wrapping_sub(h);
        let at = if dp <= dn { prev } else { next };
        distinct_from((0..n).map(|k| self.ring[(at + k) % n].1), eligible.len())
    }

    /// Number of points on the ring (`16 × Σ weight` of eligible servers).
    pub fn points(&self) -> usize {
        self.ring.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_hash_known_values() {
        // Robert Jenkins' 32-bit integer hash; expected values from an independent Python
        // transcription of the C definition (masking to 32 bits after each line).
        assert_eq!(full_hash(0), 0x6b4e_d927);
        assert_eq!(full_hash(1), 0xb486_81b6);
        assert_eq!(full_hash(0xc000_0201), 0x7f69_eb3d);
    }

    #[test]
    fn source_key_xors_words() {
        assert_eq!(source_key("192.0.2.1".parse().unwrap()), 0xc000_0201);
        assert_eq!(source_key("::ffff:192.0.2.1".parse().unwrap()), 0xc000_0201);
        assert_eq!(source_key("2001:db8::1".parse().unwrap()), 0x2001_0db8 ^ 1);
    }
}

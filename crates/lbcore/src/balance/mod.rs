//! Backend server selection, stick tables and health hysteresis for proxyd, without I/O.
//!
//! Owns HAProxy's load-balancing semantics (reference `haproxy-exchange.md` §2.5, §2.6, §3.6):
//!
//! - [`Balancer`]: `balance roundrobin | static-rr | leastconn | first | source` with
//!   `hash-type map-based | consistent`, backup servers and `option allbackups`. It returns an
//!   **ordered list of candidates** (pingora-load-balancing style), so the caller can skip a server
//!   that is full or refuses the connection (`option redispatch`) and try the next one.
//!   [`Balancer::select_sticky`] puts a stick-table hit first, as HAProxy checks `stick match`
//!   before the algorithm.
//! - [`stick::StickTable`]: `stick-table type ip size N expire T`, bounded, LRU eviction.
//! - [`health::Health`]: the rise/fall counter of HAProxy's `src/check.c` and its check interval.
//!
//! It must not own sockets, clocks, configuration parsing or server state: the caller passes a
//! snapshot ([`ServerView`]: index, id, weight, backup flag, usable flag, current connections,
//! maxconn) on every call, and time as `now: Instant`. Nothing is seeded at run time: every hash is
//! HAProxy's fixed `full_hash`, so two boxes with the same server ids and weights map a source to
//! the same server.
//!
//! # The NAT question (reference §5)
//!
//! When every client sits behind one NAT address, `balance source` and `stick on src` send them
//! all to one CAS: one key is one server, whatever the hash. `hash-type consistent` does not help:
//! it only limits how many *other* keys move when a server fails or returns. What helps is a finer
//! key than the address: cookie persistence for OWA/ECP and the `Authorization` header for
//! ActiveSync once TLS is terminated (L7, not here yet), or `leastconn` for new keys with stickiness
//! kept only on the MAPI/RPC ports, which have no better key.

pub mod first;
pub mod hash;
pub mod health;
pub mod leastconn;
pub mod roundrobin;
pub mod stick;

use std::net::IpAddr;

pub use health::{Health, HealthState, Transition};
pub use stick::{StickEntry, StickTable};

/// HAProxy's `BE_WEIGHT_SCALE`: effective weights are user weights times 16 (`include/haproxy/backend-t.h`).
pub const BE_WEIGHT_SCALE: u32 = 16;
/// HAProxy's `SRV_UWGHT_MAX`: the largest user weight a `server` line accepts.
pub const MAX_WEIGHT: u32 = 256;

/// What the balancer needs to know about one server at selection time; the slice index is the
/// server's identity in the returned candidate list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerView {
    /// HAProxy's server `id` (`puid`): orders `balance first` and keys the consistent-hash ring, so it
    /// must be identical on both boxes.
    pub id: u32,
    /// Current user weight (0..=256). Weight 0 takes no load-balanced traffic (persistence only).
    pub weight: u32,
    /// `backup` server: used only when no active server is usable.
    pub backup: bool,
    /// The server can take traffic (health UP, not in maintenance or drain).
    pub usable: bool,
    /// Current connections served (HAProxy counts queued ones too for leastconn).
    pub conns: u32,
    /// Per-server `maxconn`; 0 means unlimited.
    pub maxconn: u32,
}

impl ServerView {
    /// An active, usable server with weight 1, no connections and no maxconn (handy for tests and
    /// defaults).
    pub fn new(id: u32, weight: u32) -> Self {
        ServerView {
            id,
            weight,
            backup: false,
            usable: true,
            conns: 0,
            maxconn: 0,
        }
    }

    /// True when `maxconn` is set and reached: a new connection would have to queue.
    pub fn is_full(&self) -> bool {
        self.maxconn != 0 && self.conns >= self.maxconn
    }
}

/// `balance` algorithm (HAProxy `balance`, reference §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// Weighted, dynamic: a weight change applies on the next selection. HAProxy's default.
    #[default]
    RoundRobin,
    /// Weighted, static: the first non-zero weight seen for a server is kept (only 0 / non-0 changes apply,
    /// as HAProxy only accepts `set weight` 0% and 100% on static-rr).
    StaticRr,
    /// Fewest connections relative to weight; round-robin among equals.
    LeastConn,
    /// Lowest `id` with a free slot below `maxconn`; ignores weight.
    First,
    /// Hash of the source address, per [`HashType`].
    Source,
}

/// `hash-type` (reference §2.5). Default `map-based`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashType {
    /// Hash modulo the total weight of usable servers into a static map: smooth, but most keys move
    /// when the server set changes.
    #[default]
    MapBased,
    /// A ring with `16 × weight` points per server keyed by server id: only the failed server's keys
    /// move. Hashed with avalanche, as HAProxy does when no function is given.
    Consistent,
}

/// Indices of the servers the algorithm may pick, HAProxy's way: the usable active servers with a
/// non-zero weight; if there are none, the usable backups with a non-zero weight, all of them with
/// `option allbackups`, otherwise only the first one in declaration order (reference §2.4 `backup`;
/// HAProxy `lbprm.fbck`).
pub fn eligible(servers: &[ServerView], allbackups: bool) -> Vec<usize> {
    let ok = |s: &ServerView| s.usable && s.weight > 0;
    let active: Vec<usize> = (0..servers.len())
        .filter(|&i| !servers[i].backup && ok(&servers[i]))
        .collect();
    if !active.is_empty() {
        return active;
    }
    let mut backups = (0..servers.len()).filter(|&i| servers[i].backup && ok(&servers[i]));
    if allbackups {
        backups.collect()
    } else {
        backups.next().into_iter().collect()
    }
}

/// Moves full servers (at `maxconn`) behind the others, keeping the order within each group.
pub(crate) fn full_last(servers: &[ServerView], order: &mut Vec<usize>) {
    let (free, full): (Vec<usize>, Vec<usize>) =
        order.iter().partition(|&&i| !servers[i].is_full());
    order.clear();
    order.extend(free);
    order.extend(full);
}

#[derive(Debug, Clone)]
enum State {
    RoundRobin(roundrobin::RoundRobin),
    StaticRr(roundrobin::StaticRr),
    LeastConn(leastconn::LeastConn),
    First,
    Map(hash::MapHash, roundrobin::RoundRobin),
    Consistent(hash::ConsistentHash, roundrobin::RoundRobin),
}

/// One backend's selection state: pick an ordered list of candidate servers per connection.
#[derive(Debug, Clone)]
pub struct Balancer {
    algorithm: Algorithm,
    hash_type: HashType,
    allbackups: bool,
    state: State,
}

impl Balancer {
    /// A balancer for `balance algorithm`, `hash-type hash_type` (used by `source` only) and
    /// `option allbackups`.
    pub fn new(algorithm: Algorithm, hash_type: HashType, allbackups: bool) -> Self {
        let state = match (algorithm, hash_type) {
            (Algorithm::RoundRobin, _) => State::RoundRobin(Default::default()),
            (Algorithm::StaticRr, _) => State::StaticRr(Default::default()),
            (Algorithm::LeastConn, _) => State::LeastConn(Default::default()),
            (Algorithm::First, _) => State::First,
            (Algorithm::Source, HashType::MapBased) => {
                State::Map(Default::default(), Default::default())
            }
            (Algorithm::Source, HashType::Consistent) => {
                State::Consistent(Default::default(), Default::default())
            }
        };
        Balancer {
            algorithm,
            hash_type,
            allbackups,
            state,
        }
    }

    /// The configured algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The configured hash type.
    pub fn hash_type(&self) -> HashType {
        self.hash_type
    }

    /// Whether `option allbackups` is set.
    pub fn allbackups(&self) -> bool {
        self.allbackups
    }

    /// `stick match` first, then the algorithm: when `stuck_id` (the server id a stick table
    /// returned) names a usable server, the connection goes there and only there (`vec![index]`),
    /// even with weight 0 or at maxconn (HAProxy queues on it to keep persistence) and even if it
    /// is a backup; the algorithm's state does not move. Otherwise (no entry, unknown id, or the
    /// server is not usable: HAProxy ignores an entry pointing to a DOWN server unless
    /// `option persist`) this is [`Balancer::select`]. A caller that must redispatch away from the
    /// stuck server calls [`Balancer::select`].
    pub fn select_sticky(
        &mut self,
        servers: &[ServerView],
        source: Option<IpAddr>,
        stuck_id: Option<u32>,
    ) -> Vec<usize> {
        if let Some(i) = stuck_id.and_then(|id| servers.iter().position(|s| s.id == id))
            && servers[i].usable
        {
            return vec![i];
        }
        self.select(servers, source)
    }

    /// Ordered candidates (indices into `servers`) for a new connection from `source`.
    ///
    /// The first element is the algorithm's pick; the others are fall-backs in the order the
    /// algorithm would prefer them, for a caller that must skip a server (connect failure and
    /// `option redispatch`). For roundrobin, static-rr, leastconn and first, servers at `maxconn` come
    /// last (HAProxy skips them and queues only if all are full). For `source`, the hashed server
    /// stays first even when full (HAProxy queues on it to keep affinity). Empty when no server is
    /// eligible. `source` without an address (e.g. a Unix socket client) falls back to round robin,
    /// as HAProxy does. Selection state (round-robin position, leastconn tie order) advances as if
    /// the first candidate were used.
    pub fn select(&mut self, servers: &[ServerView], source: Option<IpAddr>) -> Vec<usize> {
        let elig = eligible(servers, self.allbackups);
        if elig.is_empty() {
            return elig;
        }
        match &mut self.state {
            State::RoundRobin(rr) => rr.select(servers, &elig),
            State::StaticRr(srr) => srr.select(servers, &elig),
            State::LeastConn(lc) => lc.select(servers, &elig),
            State::First => first::select(servers, &elig),
            State::Map(map, rr) => match source {
                Some(ip) => map.select(servers, &elig, ip),
                None => rr.select(servers, &elig),
            },
            State::Consistent(ring, rr) => match source {
                Some(ip) => ring.select(servers, &elig, ip),
                None => rr.select(servers, &elig),
            },
        }
    }
}

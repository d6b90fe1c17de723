//! Seeded simulation of 2–6 `Instance`s on an in-memory broadcast link.
//!
//! Each case draws, from a fixed seed, the protocol version, the advertisement intervals (v2: one
//! common interval; v3: per node, learned by backups), priorities with ties and sometimes one
//! address owner (255), shuffled primary addresses and start times. Every `SendAdvert` is delivered
//! to the other nodes after a random delay in `[0, max_delay]`, in order per sender/receiver pair,
//! through an event queue ordered by time; the simulation calls `handle_timeout` /
//! `handle_advert` in time order.
//!
//! `max_delay` is a third of the smallest Skew_Time difference between two priorities (1/256 s for
//! v2, Master_Adver_Interval/256 for v3). That is what makes the RFC's promise exact: the
//! highest-priority backup always times out first, and its advert reaches the others before their
//! own timers fire.
//!
//! Invariants checked after every event: a node holds the VIPs iff it is master, sends GARPs
//! only as master, and emits exactly one Notify per state change. Properties per case:
//! convergence to one master of the highest priority, stability, crash and graceful takeover at
//! the exact RFC instants, split brain per partition half and healing, and the address tie-break.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use lbcore::vrrp::fsm::{
    Action, AddrListPolicy, GarpPolicy, Instance, InstanceConfig, Reason, RxError, State,
};
use lbcore::vrrp::timers::{master_down_interval, skew_time, to_centis};
use lbcore::vrrp::{Advert, AuthData, Version};

/// Cases per property.
const SEEDS: u64 = 200;
/// Upper bound on events processed by one `run_until`.
const MAX_EVENTS: u64 = 2_000_000;

#[expect(
    clippy::disallowed_methods,
    reason = "tests need one base instant; only offsets matter"
)]
fn t0() -> Instant {
    Instant::now()
}

/// SplitMix64: a tiny deterministic PRNG (public domain constants by S. Vigna).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next_u64() % n
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(u64::try_from(len).unwrap())).unwrap()
    }

    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// In `[0, max]`, nanosecond resolution.
    fn duration_upto(&mut self, max: Duration) -> Duration {
        let ns = u64::try_from(max.as_nanos()).unwrap();
        Duration::from_nanos(self.below(ns + 1))
    }
}

#[derive(Debug, Clone)]
struct NodeSpec {
    priority: u8,
    addr: IpAddr,
    interval: Duration,
    start: Duration,
}

#[derive(Debug, Clone)]
struct Spec {
    seed: u64,
    version: Version,
    vip: IpAddr,
    nodes: Vec<NodeSpec>,
    max_delay: Duration,
}

impl Spec {
    fn i_max(&self) -> Duration {
        self.nodes.iter().map(|n| n.interval).max().unwrap()
    }

    /// Master_Down_Interval of the slowest possible backup (lowest priority, longest interval).
    fn mdi_max(&self) -> Duration {
        master_down_interval(self.version, 1, self.i_max(), 3)
    }

    fn last_start(&self) -> Duration {
        self.nodes.iter().map(|n| n.start).max().unwrap()
    }

    fn config(&self, i: usize) -> InstanceConfig {
        let n = &self.nodes[i];
        InstanceConfig {
            name: format!("VI_{i}"),
            vrid: 51,
            version: self.version,
            priority: n.priority,
            advert_interval: n.interval,
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary_addr: n.addr,
            vips: vec![self.vip],
            auth: match self.version {
                Version::V2 => AuthData::Pass(*b"simpass\0"),
                Version::V3 => AuthData::None,
            },
            down_timer_adverts: 3,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            addr_list_policy: AddrListPolicy::Drop,
            garp: GarpPolicy {
                master_repeat: 5,
                master_delay: Duration::from_secs(5),
                refresh: n.interval * 7,
                refresh_repeat: 1,
                lower_prio_repeat: 1,
                lower_prio_delay: n.interval * 2,
            },
        }
    }
}

fn addr(ipv6: bool, host: u8) -> IpAddr {
    if ipv6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(host)))
    } else {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, host))
    }
}

/// A random case. `equal` forces one priority, one interval and one start time for all nodes.
fn scenario(seed: u64, equal: bool) -> Spec {
    let mut rng = Rng::new(seed);
    let n = 2 + rng.index(5);
    let version = if rng.chance(1, 2) {
        Version::V2
    } else {
        Version::V3
    };
    let ipv6 = version == Version::V3 && rng.chance(1, 2);
    let intervals: Vec<Duration> = match version {
        // RFC 3768 §7.1: v2 intervals must match, or adverts are dropped.
        Version::V2 => vec![Duration::from_secs(1 + rng.below(3)); n],
        Version::V3 => {
            let base = Duration::from_millis([10, 20, 50, 100, 1000][rng.index(5)]);
            if equal {
                vec![base; n]
            } else {
                (0..n)
                    .map(|_| base * u32::try_from(1 + rng.below(3)).unwrap())
                    .collect()
            }
        }
    };
    // A pool of three values makes ties frequent; at most one address owner.
    let pool: Vec<u8> = (0..3)
        .map(|_| u8::try_from(1 + rng.below(254)).unwrap())
        .collect();
    let mut priorities: Vec<u8> = (0..n).map(|_| pool[rng.index(3)]).collect();
    if equal {
        priorities = vec![pool[0]; n];
    } else if rng.chance(1, 4) {
        let owner = rng.index(n);
        priorities[owner] = 255;
    }
    // Shuffled host numbers so that address order is unrelated to index and priority.
    let mut hosts: Vec<u8> = (0..n).map(|i| 10 + 7 * u8::try_from(i).unwrap()).collect();
    for i in (1..n).rev() {
        let j = rng.index(i + 1);
        hosts.swap(i, j);
    }
    let i_max = *intervals.iter().max().unwrap();
    let i_min = *intervals.iter().min().unwrap();
    let common_start = rng.duration_upto(i_max * 2);
    let nodes = (0..n)
        .map(|i| NodeSpec {
            priority: priorities[i],
            addr: addr(ipv6, hosts[i]),
            interval: intervals[i],
            start: if equal {
                common_start
            } else {
                rng.duration_upto(i_max * 2)
            },
        })
        .collect();
    // Smallest Skew_Time difference between two distinct priorities.
    let step = match version {
        Version::V2 => Duration::from_secs(1) / 256,
        Version::V3 => i_min / 256,
    };
    Spec {
        seed,
        version,
        vip: addr(ipv6, 200),
        nodes,
        max_delay: step / 3,
    }
}

#[derive(Debug)]
enum Event {
    Start(usize),
    Deliver { to: usize, from: usize, adv: Advert },
}

#[derive(Debug, Clone, Copy)]
struct Transition {
    at: Instant,
    node: usize,
    to: State,
    reason: Reason,
}

struct Sim {
    spec: Spec,
    t0: Instant,
    now: Instant,
    nodes: Vec<Instance>,
    /// false = crashed: sends nothing, hears nothing, no timers.
    alive: Vec<bool>,
    /// State when last drained (to check one Notify per transition).
    known: Vec<State>,
    /// Who holds the VIPs according to AddVips / DelVips.
    holds_vips: Vec<bool>,
    /// Partition half of each node; messages across halves are dropped while `partitioned`.
    half: Vec<u8>,
    partitioned: bool,
    queue: BTreeMap<(Instant, u64), Event>,
    seq: u64,
    /// Last delivery instant per (from, to): the link is FIFO per pair.
    fifo: Vec<Vec<Instant>>,
    rng: Rng,
    transitions: Vec<Transition>,
    /// [to][from]: when `to` last accepted a non-zero advert from `from`.
    last_rx: Vec<Vec<Option<Instant>>>,
    /// When each node last received a priority-0 advert.
    zero_rx: Vec<Option<Instant>>,
}

impl Sim {
    fn new(spec: Spec) -> Sim {
        let n = spec.nodes.len();
        let t0 = t0();
        let nodes: Vec<Instance> = (0..n).map(|i| Instance::new(spec.config(i))).collect();
        let mut sim = Sim {
            rng: Rng::new(spec.seed ^ 0xD1CE_5EED),
            t0,
            now: t0,
            known: vec![State::Initialize; n],
            nodes,
            alive: vec![true; n],
            holds_vips: vec![false; n],
            half: vec![0; n],
            partitioned: false,
            queue: BTreeMap::new(),
            seq: 0,
            fifo: vec![vec![t0; n]; n],
            transitions: Vec::new(),
            last_rx: vec![vec![None; n]; n],
            zero_rx: vec![None; n],
            spec,
        };
        for i in 0..n {
            let at = t0 + sim.spec.nodes[i].start;
            sim.push(at, Event::Start(i));
        }
        sim
    }

    fn ctx(&self) -> String {
        format!(
            "seed {} at +{:?}: {:?}",
            self.spec.seed,
            self.now - self.t0,
            self.spec
        )
    }

    fn push(&mut self, at: Instant, ev: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    fn prio(&self, i: usize) -> u8 {
        self.spec.nodes[i].priority
    }

    fn live_masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.alive[i] && self.nodes[i].state() == State::Master)
            .collect()
    }

    /// Highest priority among running (alive, started) nodes selected by `keep`.
    fn top(&self, keep: impl Fn(usize) -> bool) -> u8 {
        (0..self.nodes.len())
            .filter(|&i| keep(i) && self.alive[i] && self.nodes[i].state() != State::Initialize)
            .map(|i| self.prio(i))
            .max()
            .unwrap()
    }

    /// Process every event up to `until` (inclusive) in time order. With `single`, assert after
    /// each event that at most one live node is master.
    fn run_until(&mut self, until: Instant, single: bool) {
        for _ in 0..MAX_EVENTS {
            let tq = self.queue.keys().next().map(|k| k.0);
            let tt = (0..self.nodes.len())
                .filter(|&i| self.alive[i])
                .filter_map(|i| self.nodes[i].poll_timeout())
                .min();
            let next = match (tq, tt) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let Some(t) = next.filter(|&t| t <= until) else {
                self.now = until;
                return;
            };
            assert!(t >= self.now, "time went backwards: {}", self.ctx());
            self.now = t;
            if tt == Some(t) {
                // Timers due at one instant all fire before their adverts are delivered.
                let due: Vec<usize> = (0..self.nodes.len())
                    .filter(|&i| {
                        self.alive[i] && self.nodes[i].poll_timeout().is_some_and(|d| d <= t)
                    })
                    .collect();
                for &i in &due {
                    self.nodes[i].handle_timeout(t);
                }
                for i in due {
                    self.drain(i);
                }
            } else {
                let (_, ev) = self.queue.pop_first().unwrap();
                self.event(ev);
            }
            if single {
                let m = self.live_masters();
                assert!(m.len() <= 1, "two masters {m:?}: {}", self.ctx());
            }
        }
        panic!("more than {MAX_EVENTS} events: {}", self.ctx());
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::Start(i) => {
                if self.alive[i] {
                    self.nodes[i].startup(self.now);
                    self.drain(i);
                }
            }
            Event::Deliver { to, from, adv } => {
                if !self.alive[to] {
                    return;
                }
                let src = self.spec.nodes[from].addr;
                match self.nodes[to].handle_advert(&adv, src, self.now) {
                    Ok(()) if adv.priority == 0 => self.zero_rx[to] = Some(self.now),
                    Ok(()) => self.last_rx[to][from] = Some(self.now),
                    Err(RxError::NotListening(_)) => {}
                    Err(e) => panic!("node {to} dropped a valid advert ({e}): {}", self.ctx()),
                }
                self.drain(to);
            }
        }
    }

    /// Apply node `i`'s actions and check the per-node invariants.
    fn drain(&mut self, i: usize) {
        let before = self.known[i];
        let mut notifies = 0;
        for _ in 0..1000 {
            let Some(action) = self.nodes[i].poll_action() else {
                break;
            };
            match action {
                Action::SendAdvert { priority } => self.broadcast(i, priority),
                Action::AddVips => {
                    assert!(
                        !self.holds_vips[i],
                        "node {i} added VIPs twice: {}",
                        self.ctx()
                    );
                    self.holds_vips[i] = true;
                }
                Action::DelVips => {
                    assert!(
                        self.holds_vips[i],
                        "node {i} removed absent VIPs: {}",
                        self.ctx()
                    );
                    self.holds_vips[i] = false;
                }
                Action::SendGratuitous { repeat } => {
                    assert!(repeat > 0);
                    assert_eq!(self.nodes[i].state(), State::Master, "{}", self.ctx());
                }
                Action::Notify { from, to, reason } => {
                    notifies += 1;
                    assert_eq!(from, before, "node {i}: {}", self.ctx());
                    self.transitions.push(Transition {
                        at: self.now,
                        node: i,
                        to,
                        reason,
                    });
                }
            }
        }
        let after = self.nodes[i].state();
        assert_eq!(
            notifies,
            usize::from(before != after),
            "node {i}: {}",
            self.ctx()
        );
        self.known[i] = after;
        assert_eq!(
            self.holds_vips[i],
            after == State::Master,
            "node {i}: {}",
            self.ctx()
        );
    }

    fn broadcast(&mut self, from: usize, priority: u8) {
        let spec = &self.spec.nodes[from];
        let adv = Advert {
            version: self.spec.version,
            vrid: 51,
            priority,
            interval_cs: to_centis(spec.interval),
            addrs: vec![self.spec.vip],
            auth: self.spec.config(from).auth,
        };
        for to in 0..self.nodes.len() {
            if to == from || !self.alive[to] {
                continue;
            }
            if self.partitioned && self.half[to] != self.half[from] {
                continue;
            }
            let delay = self.rng.duration_upto(self.spec.max_delay);
            let at = (self.now + delay).max(self.fifo[from][to]);
            self.fifo[from][to] = at;
            self.push(
                at,
                Event::Deliver {
                    to,
                    from,
                    adv: adv.clone(),
                },
            );
        }
    }

    /// Run to convergence and through a stable period; returns the master.
    fn converge(&mut self) -> usize {
        let spec = &self.spec;
        let t_conv = self.t0 + spec.last_start() + spec.mdi_max() * 2 + spec.i_max();
        let steady = spec.i_max() * 10;
        self.run_until(t_conv, false);
        let masters = self.live_masters();
        assert_eq!(masters.len(), 1, "not converged: {}", self.ctx());
        let m = masters[0];
        assert_eq!(
            self.prio(m),
            self.top(|_| true),
            "wrong master {m}: {}",
            self.ctx()
        );
        let before = self.transitions.len();
        self.run_until(t_conv + steady, true);
        assert_eq!(self.transitions.len(), before, "unstable: {}", self.ctx());
        assert_eq!(self.live_masters(), vec![m]);
        m
    }

    /// Master_Adver_Interval a backup learned from master `m`.
    fn learned_from(&self, m: usize) -> Duration {
        self.spec.nodes[m].interval
    }

    fn first_master_after(&self, index: usize) -> Transition {
        *self.transitions[index..]
            .iter()
            .find(|t| t.to == State::Master)
            .unwrap_or_else(|| panic!("nobody took over: {}", self.ctx()))
    }
}

#[test]
fn prng_is_deterministic() {
    let a: Vec<u64> = {
        let mut r = Rng::new(7);
        (0..4).map(|_| r.next_u64()).collect()
    };
    let b: Vec<u64> = {
        let mut r = Rng::new(7);
        (0..4).map(|_| r.next_u64()).collect()
    };
    assert_eq!(a, b);
    // SplitMix64 reference output for seed 0.
    assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    let mut r = Rng::new(1);
    assert!(
        (0..1000).all(|_| r.duration_upto(Duration::from_nanos(10)) <= Duration::from_nanos(10))
    );
}

#[test]
fn scenarios_cover_the_space() {
    let specs: Vec<Spec> = (0..SEEDS).map(|s| scenario(s, false)).collect();
    let has = |f: &dyn Fn(&Spec) -> bool| specs.iter().any(f);
    for n in 2..=6 {
        assert!(has(&|s| s.nodes.len() == n), "no case with {n} nodes");
    }
    assert!(has(&|s| s.version == Version::V2));
    assert!(has(&|s| s.version == Version::V3 && s.vip.is_ipv6()));
    assert!(has(&|s| s.nodes.iter().any(|n| n.priority == 255)));
    assert!(has(&|s| {
        let top = s.nodes.iter().map(|n| n.priority).max().unwrap();
        s.nodes.iter().filter(|n| n.priority == top).count() > 1
    }));
    assert!(has(&|s| s
        .nodes
        .iter()
        .any(|n| n.interval != s.nodes[0].interval)));
    assert!(
        specs
            .iter()
            .all(|s| s.nodes.iter().filter(|n| n.priority == 255).count() <= 1)
    );
}

#[test]
fn converges_to_one_master_with_the_highest_priority() {
    for seed in 0..SEEDS {
        let mut sim = Sim::new(scenario(seed, false));
        sim.converge();
    }
}

#[test]
fn crashed_master_is_replaced_within_master_down_interval() {
    for seed in 0..SEEDS {
        let mut sim = Sim::new(scenario(seed, false));
        let m = sim.converge();
        let t_crash = sim.now + sim.rng.duration_upto(sim.spec.nodes[m].interval);
        sim.run_until(t_crash, true);
        sim.alive[m] = false;
        let top = sim.top(|i| i != m);
        let unique = (0..sim.nodes.len())
            .filter(|&i| i != m && sim.prio(i) == top)
            .count()
            == 1;
        let mark = sim.transitions.len();
        let horizon = sim.spec.mdi_max() + sim.spec.max_delay + sim.spec.i_max() * 4;
        sim.run_until(t_crash + horizon, unique);

        let first = sim.first_master_after(mark);
        let f = first.node;
        assert_eq!(sim.prio(f), top, "not the next highest: {}", sim.ctx());
        assert_eq!(first.reason, Reason::MasterDown);
        let mdi = master_down_interval(sim.spec.version, top, sim.learned_from(m), 3);
        let last = sim.last_rx[f][m].expect("heard the master");
        // Never earlier than MDI after the last advert it received (exactly then).
        assert_eq!(first.at, last + mdi, "{}", sim.ctx());
        // Within its MDI + the link delay of the crash.
        assert!(
            first.at - t_crash <= mdi + sim.spec.max_delay,
            "{}",
            sim.ctx()
        );
        let masters = sim.live_masters();
        assert_eq!(masters.len(), 1, "{}", sim.ctx());
        assert_eq!(sim.prio(masters[0]), top, "{}", sim.ctx());
    }
}

#[test]
fn graceful_shutdown_hands_over_within_skew_time() {
    for seed in 0..SEEDS {
        let mut sim = Sim::new(scenario(seed, false));
        let m = sim.converge();
        let t_stop = sim.now + sim.rng.duration_upto(sim.spec.nodes[m].interval);
        sim.run_until(t_stop, true);
        sim.nodes[m].shutdown(t_stop);
        sim.drain(m);
        assert!(!sim.holds_vips[m]);
        let top = sim.top(|i| i != m);
        let unique = (0..sim.nodes.len())
            .filter(|&i| i != m && sim.prio(i) == top)
            .count()
            == 1;
        let mark = sim.transitions.len();
        let horizon = sim.spec.i_max() * 4 + sim.spec.max_delay;
        sim.run_until(t_stop + horizon, unique);

        let first = sim.first_master_after(mark);
        let f = first.node;
        assert_eq!(sim.prio(f), top, "{}", sim.ctx());
        assert_eq!(first.reason, Reason::PeerStopped);
        let skew = skew_time(sim.spec.version, top, sim.learned_from(m));
        assert_eq!(first.at, sim.zero_rx[f].unwrap() + skew, "{}", sim.ctx());
        assert!(
            first.at - t_stop <= skew + sim.spec.max_delay,
            "{}",
            sim.ctx()
        );
        let masters = sim.live_masters();
        assert_eq!(masters.len(), 1, "{}", sim.ctx());
        assert_eq!(sim.prio(masters[0]), top);
        assert_eq!(sim.nodes[m].stats().priority_zero_tx, 1);
    }
}

#[test]
fn partition_elects_a_master_per_half_and_heals_to_one() {
    for seed in 0..SEEDS {
        let mut sim = Sim::new(scenario(seed, false));
        sim.converge();
        let n = sim.nodes.len();
        let mut half: Vec<u8> = (0..n).map(|_| u8::from(sim.rng.chance(1, 2))).collect();
        if half.iter().all(|&h| h == half[0]) {
            half[0] ^= 1;
        }
        sim.half = half.clone();
        sim.partitioned = true;
        let t_split = sim.now;
        sim.run_until(
            t_split + sim.spec.mdi_max() * 2 + sim.spec.i_max() * 2,
            false,
        );
        for h in 0..2u8 {
            let masters: Vec<usize> = sim
                .live_masters()
                .into_iter()
                .filter(|&i| half[i] == h)
                .collect();
            assert_eq!(masters.len(), 1, "half {h}: {}", sim.ctx());
            assert_eq!(
                sim.prio(masters[0]),
                sim.top(|i| half[i] == h),
                "{}",
                sim.ctx()
            );
        }

        sim.partitioned = false;
        let t_heal = sim.now;
        let mark = sim.transitions.len();
        sim.run_until(t_heal + sim.spec.mdi_max(), false);
        let masters = sim.live_masters();
        assert_eq!(masters.len(), 1, "not healed: {}", sim.ctx());
        assert_eq!(sim.prio(masters[0]), sim.top(|_| true), "{}", sim.ctx());
        // The losing master steps down when it hears the winner's next advert.
        let settle = sim.spec.i_max() + sim.spec.max_delay;
        for t in &sim.transitions[mark..] {
            assert!(
                t.at - t_heal <= settle,
                "late transition {t:?}: {}",
                sim.ctx()
            );
            assert_eq!(t.to, State::Backup, "{}", sim.ctx());
        }
        let before = sim.transitions.len();
        let end = sim.now + sim.spec.i_max() * 10;
        sim.run_until(end, true);
        assert_eq!(
            sim.transitions.len(),
            before,
            "unstable after heal: {}",
            sim.ctx()
        );
    }
}

#[test]
fn simultaneous_equal_priority_masters_leave_the_highest_address() {
    for seed in 0..SEEDS {
        let spec = scenario(seed, true);
        let highest = (0..spec.nodes.len())
            .max_by_key(|&i| spec.nodes[i].addr)
            .unwrap();
        let mut sim = Sim::new(spec);
        let m = sim.converge();
        assert_eq!(m, highest, "{}", sim.ctx());
        // Everybody's Master_Down_Timer fired at the same instant.
        let start = sim.t0 + sim.spec.nodes[0].start;
        let mdi =
            master_down_interval(sim.spec.version, sim.prio(0), sim.spec.nodes[0].interval, 3);
        let became: Vec<_> = sim
            .transitions
            .iter()
            .filter(|t| t.to == State::Master)
            .collect();
        assert_eq!(became.len(), sim.nodes.len(), "{}", sim.ctx());
        assert!(became.iter().all(|t| t.at == start + mdi), "{}", sim.ctx());
        for t in sim
            .transitions
            .iter()
            .filter(|t| t.to == State::Backup && t.at > start)
        {
            assert_eq!(t.reason, Reason::HigherPriority);
        }
    }
}

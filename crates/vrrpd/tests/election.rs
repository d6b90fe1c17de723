//! Two vrrpd processes in two network namespaces joined by a veth pair (root): election, the
//! master's VIP, SIGTERM handoff through a priority-0 advert, preemption back, in VRRPv2 multicast
//! (the seed pair: VRID 51, PASS auth, 101/100), VRRPv3 over IPv6, and VRRPv2 unicast.
//!
//! Every bound is a protocol interval from lbcore's timer arithmetic (Master_Down_Interval,
//! Skew_Time, the advert interval) plus a stated margin: [`common::STARTUP`] for process start-up
//! and [`common::REACT`] for what vrrpd does at once.

mod common;

use std::time::Duration;

use common::{
    Netns, REACT, STARTUP, TempDir, Vrrpd, master_down, require_root, seed_conf, skew, veth,
    wait_for,
};
use lbcore::vrrp::packet::Version;
use nix::sys::signal::Signal;
use vrrpd::daemon::STOP_TIMEOUT;

/// The two boxes of a test.
struct Pair {
    a: Netns,
    b: Netns,
    dir: TempDir,
}

fn pair(tag: &str, a_addrs: &[&str], b_addrs: &[&str]) -> Pair {
    let dir = TempDir::new(tag);
    let a = Netns::new(&format!("{tag}-a"));
    let b = Netns::new(&format!("{tag}-b"));
    veth(&a, a_addrs, &b, b_addrs);
    Pair { a, b, dir }
}

/// The timers of a pair: A (priority `a`) should win over B (priority `b`).
#[derive(Debug, Clone, Copy)]
struct Timing {
    version: Version,
    advert_int: Duration,
    a: u8,
    b: u8,
}

impl Timing {
    /// A is master at most this long after it starts: start-up, then its own
    /// Master_Down_Interval (B's adverts, lower priority, do not hold a preempting A back).
    fn a_master(&self) -> Duration {
        STARTUP + master_down(self.version, self.a, self.advert_int) + REACT
    }

    /// B's Master_Down_Interval.
    fn b_down(&self) -> Duration {
        master_down(self.version, self.b, self.advert_int)
    }

    /// After A's priority-0 advert B takes over after its Skew_Time, not its
    /// Master_Down_Interval.
    fn handoff(&self) -> Duration {
        skew(self.version, self.b, self.advert_int) + REACT
    }

    /// Something that follows one advert of the new master (it sends one as it takes over; one
    /// interval more in case that one is not the first heard).
    fn next_advert(&self) -> Duration {
        self.advert_int + REACT
    }
}

/// Runs the scenario on a started pair: A (higher priority) becomes master and holds `vip`, B
/// stays backup; SIGTERM on A hands over to B within Skew_Time; a restarted A takes it back.
fn elect_handoff_preempt(
    p: &Pair,
    conf_a: &std::path::Path,
    conf_b: &std::path::Path,
    vip: &str,
    t: Timing,
) {
    let mut a = Vrrpd::start(&p.a, &p.dir, "a", conf_a);
    let b = Vrrpd::start(&p.b, &p.dir, "b", conf_b);

    assert!(
        a.wait_log("(VI_1) Entering MASTER STATE", t.a_master()),
        "A:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    // Started together, B may win the first Master_Down_Interval by a few milliseconds of
    // process start-up; A then preempts it. Either way they converge on A.
    assert!(
        wait_for(t.next_advert(), || p.a.has_addr("eth0", vip)
            && !p.b.has_addr("eth0", vip)),
        "A: {}\nB: {}",
        p.a.addrs("eth0"),
        p.b.addrs("eth0")
    );
    // B hears A's adverts: it stays backup past its own Master_Down_Interval (one advert more:
    // a B that missed A's adverts would have fired by then).
    let mark = b.log().len();
    std::thread::sleep(t.b_down() + t.advert_int);
    let b_log = b.log();
    assert!(
        !b_log[mark..].contains("Entering MASTER STATE"),
        "B became master again:\n{b_log}"
    );
    let last = b_log
        .lines()
        .rev()
        .find(|l| l.contains("Entering"))
        .unwrap_or_default();
    assert!(last.contains("Entering BACKUP STATE"), "{b_log}");
    assert!(!p.b.has_addr("eth0", vip), "{}", p.b.addrs("eth0"));
    assert!(p.a.has_addr("eth0", vip));

    // SIGTERM on the master: priority 0 → B takes over after Skew_Time, not Master_Down_Interval.
    let started = common::now();
    a.signal(Signal::SIGTERM);
    assert!(
        wait_for(t.handoff(), || p.b.has_addr("eth0", vip)),
        "no handoff in {:?}:\nB:\n{}",
        t.handoff(),
        b.log()
    );
    let took = started.elapsed();
    let status = a.wait_exit(STOP_TIMEOUT + REACT).expect("A did not exit");
    assert!(status.success(), "{status:?}\n{}", a.log());
    assert!(a.log().contains("(VI_1) sent 0 priority"), "{}", a.log());
    assert!(!p.a.has_addr("eth0", vip), "{}", p.a.addrs("eth0"));
    assert!(
        b.log()
            .contains("(VI_1) Backup received priority 0 advertisement"),
        "{}",
        b.log()
    );
    assert!(
        b.log().contains("(VI_1) Entering MASTER STATE"),
        "{}",
        b.log()
    );
    eprintln!("handoff after SIGTERM took {took:?}");

    // A comes back with the higher priority and preempts (after its Master_Down_Interval).
    let mark = b.log().len();
    let a2 = Vrrpd::start(&p.a, &p.dir, "a2", conf_a);
    assert!(
        a2.wait_log("(VI_1) Entering MASTER STATE", t.a_master()),
        "A2:\n{}\nB:\n{}",
        a2.log(),
        b.log()
    );
    let preempted = wait_for(t.next_advert(), || {
        let l = b.log();
        let tail = &l[mark..];
        tail.find("(VI_1) Master received advert from ")
            .is_some_and(|i| tail[i..].contains("(VI_1) Entering BACKUP STATE"))
    });
    assert!(preempted, "B:\n{}", b.log());
    assert!(
        wait_for(REACT, || !p.b.has_addr("eth0", vip)),
        "{}",
        p.b.addrs("eth0")
    );
    assert!(p.a.has_addr("eth0", vip), "{}", p.a.addrs("eth0"));
}

/// The seed pair's timers: VRRPv2, advert_int 1, priorities 101 / 100.
const SEED: Timing = Timing {
    version: Version::V2,
    advert_int: Duration::from_secs(1),
    a: 101,
    b: 100,
};

#[test]
fn seed_pair_v2_multicast_elects_101_and_hands_over_on_sigterm() {
    if !require_root("seed_pair_v2_multicast_elects_101_and_hands_over_on_sigterm") {
        return;
    }
    let p = pair("el2", &["192.0.2.11/24"], &["192.0.2.12/24"]);
    let conf_a = p.dir.write("a.conf", &seed_conf("MASTER", 101, ""));
    let conf_b = p.dir.write("b.conf", &seed_conf("BACKUP", 100, ""));
    elect_handoff_preempt(&p, &conf_a, &conf_b, "192.0.2.100/32", SEED);
    // keepalived's exact line, with the master's address and both priorities.
    let b_log = std::fs::read_to_string(p.dir.path("b.log")).expect("b log");
    assert!(
        b_log.contains(
            "(VI_1) Master received advert from 192.0.2.11 with higher priority 101, ours 100"
        ),
        "{b_log}"
    );
}

fn v6_conf(priority: u8) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    state BACKUP\n    priority {priority}\n    virtual_router_id 52\n\
         \x20   version 3\n    advert_int 0.5\n    virtual_ipaddress {{\n        2001:db8::100\n    }}\n}}\n"
    )
}

#[test]
fn v3_ipv6_pair_elects_and_hands_over() {
    if !require_root("v3_ipv6_pair_elects_and_hands_over") {
        return;
    }
    let p = pair("el6", &["2001:db8::11/64"], &["2001:db8::12/64"]);
    let conf_a = p.dir.write("a.conf", &v6_conf(150));
    let conf_b = p.dir.write("b.conf", &v6_conf(100));
    let timing = Timing {
        version: Version::V3,
        advert_int: Duration::from_millis(500),
        a: 150,
        b: 100,
    };
    elect_handoff_preempt(&p, &conf_a, &conf_b, "2001:db8::100/128", timing);
}

fn unicast_conf(priority: u8, me: &str, peer: &str) -> String {
    seed_conf(
        "BACKUP",
        priority,
        &format!("    unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}\n"),
    )
}

#[test]
fn v2_unicast_pair_elects_and_hands_over() {
    if !require_root("v2_unicast_pair_elects_and_hands_over") {
        return;
    }
    let p = pair("elu", &["192.0.2.11/24"], &["192.0.2.12/24"]);
    let conf_a = p
        .dir
        .write("a.conf", &unicast_conf(101, "192.0.2.11", "192.0.2.12"));
    let conf_b = p
        .dir
        .write("b.conf", &unicast_conf(100, "192.0.2.12", "192.0.2.11"));
    elect_handoff_preempt(&p, &conf_a, &conf_b, "192.0.2.100/32", SEED);
}

#[test]
fn auth_mismatch_is_dropped_counted_and_logged_rate_limited() {
    if !require_root("auth_mismatch_is_dropped_counted_and_logged_rate_limited") {
        return;
    }
    let p = pair("elauth", &["192.0.2.11/24"], &["192.0.2.12/24"]);
    let conf_a = p.dir.write("a.conf", &seed_conf("BACKUP", 101, ""));
    let conf_b = p.dir.write(
        "b.conf",
        &seed_conf("BACKUP", 102, "").replace("somepassword", "otherpass"),
    );
    let a = Vrrpd::start(&p.a, &p.dir, "a", &conf_a);
    let b = Vrrpd::start(&p.b, &p.dir, "b", &conf_b);
    // B's adverts fail A's password check, so A never hears a master and takes over too (the
    // split brain keepalived also shows), logging the drop at most once per 10 s.
    let adv = SEED.advert_int;
    let master = |prio| STARTUP + master_down(Version::V2, prio, adv) + REACT;
    let started = common::now();
    assert!(
        a.wait_log("(VI_1) Entering MASTER STATE", master(101)),
        "{}",
        a.log()
    );
    assert!(
        b.wait_log("(VI_1) Entering MASTER STATE", master(102)),
        "{}",
        b.log()
    );
    // Three more of B's adverts reach A; all of them inside one rate-limit window, so a missing
    // limit would show as more than one line.
    std::thread::sleep(adv * 3);
    assert!(
        started.elapsed() < vrrpd::ratelimit::DEFAULT_WINDOW,
        "test too slow for one rate-limit window"
    );
    let log = a.log();
    let drops: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("advert dropped"))
        .collect();
    assert_eq!(drops.len(), 1, "expected one rate-limited line:\n{log}");
    assert!(
        drops[0].contains("kind=\"auth\"") || drops[0].contains("kind=auth"),
        "{}",
        drops[0]
    );
    assert!(drops[0].contains("192.0.2.12"), "{}", drops[0]);
    assert!(p.a.has_addr("eth0", "192.0.2.100/32") && p.b.has_addr("eth0", "192.0.2.100/32"));
}

#[test]
fn unicast_ttl_is_sent_and_peer_min_ttl_enforced() {
    if !require_root("unicast_ttl_is_sent_and_peer_min_ttl_enforced") {
        return;
    }
    let p = pair("elttl", &["192.0.2.11/24"], &["192.0.2.12/24"]);
    // A sends its unicast adverts with TTL 64; B only accepts TTL >= 200 from A.
    let conf_a = p.dir.write(
        "a.conf",
        &unicast_conf(101, "192.0.2.11", "192.0.2.12")
            .replace("    unicast_peer", "    unicast_ttl 64\n    unicast_peer"),
    );
    let conf_b = p.dir.write(
        "b.conf",
        &unicast_conf(100, "192.0.2.12", "192.0.2.11 min_ttl 200"),
    );
    let a = Vrrpd::start(&p.a, &p.dir, "a", &conf_a);
    let b = Vrrpd::start(&p.b, &p.dir, "b", &conf_b);
    let master = |prio| STARTUP + master_down(Version::V2, prio, SEED.advert_int) + REACT;
    assert!(
        a.wait_log("(VI_1) Entering MASTER STATE", master(101)),
        "{}",
        a.log()
    );
    // B drops every advert of A (TTL 64 < min_ttl 200), so it takes over as well.
    assert!(
        b.wait_log("(VI_1) Entering MASTER STATE", master(100)),
        "{}",
        b.log()
    );
    let b_log = b.log();
    let drop = b_log
        .lines()
        .find(|l| l.contains("advert dropped"))
        .unwrap_or_else(|| panic!("{b_log}"));
    assert!(drop.contains("ttl 64 outside"), "{drop}");
}

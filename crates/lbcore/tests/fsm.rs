//! Scenario tests for `lbcore::vrrp::fsm::Instance`: every branch of RFC 3768 §6.4.1–6.4.3 and
//! RFC 5798 §6.4.1–6.4.3, the RFC 9568 re-advertisement, receive validation (RFC 3768 §7.1), and
//! the keepalived behaviours of reference §2, §4.5 and §4.7 (preempt_delay, GARP bursts, fault,
//! priority changes, the seed walk-through). Every deadline is asserted to the nanosecond.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use lbcore::vrrp::fsm::{
    Action, AddrListPolicy, GarpPolicy, Instance, InstanceConfig, Reason, RxError, State,
};
use lbcore::vrrp::timers::{master_down_interval, skew_time, to_centis};
use lbcore::vrrp::{Advert, AuthData, Version};

const OURS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const LOWER_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5));
const HIGHER_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20));
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));
const VIP2: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 101));
const OURS6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10));
const LOWER6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x5));
const HIGHER6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20));
const VIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100));

#[expect(
    clippy::disallowed_methods,
    reason = "tests need one base instant; only offsets matter"
)]
fn t0() -> Instant {
    Instant::now()
}

const fn ns(n: u64) -> Duration {
    Duration::from_nanos(n)
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn garp() -> GarpPolicy {
    GarpPolicy {
        master_repeat: 5,
        master_delay: secs(5),
        refresh: Duration::ZERO,
        refresh_repeat: 1,
        lower_prio_repeat: 2,
        lower_prio_delay: secs(2),
    }
}

/// The seed's instance: v2, VRID 51, 1 s adverts, PASS auth, one VIP.
fn v2(priority: u8) -> InstanceConfig {
    InstanceConfig {
        name: "VI_1".to_owned(),
        vrid: 51,
        version: Version::V2,
        priority,
        advert_interval: secs(1),
        preempt: true,
        preempt_delay: Duration::ZERO,
        primary_addr: OURS,
        vips: vec![VIP],
        auth: AuthData::Pass(*b"somepass"),
        down_timer_adverts: 3,
        lower_prio_no_advert: false,
        higher_prio_send_advert: false,
        addr_list_policy: AddrListPolicy::Drop,
        garp: garp(),
    }
}

fn v3(priority: u8, interval: Duration) -> InstanceConfig {
    InstanceConfig {
        version: Version::V3,
        advert_interval: interval,
        auth: AuthData::None,
        ..v2(priority)
    }
}

fn v3_ipv6(priority: u8, interval: Duration) -> InstanceConfig {
    InstanceConfig {
        primary_addr: OURS6,
        vips: vec![VIP6],
        ..v3(priority, interval)
    }
}

/// An advert a correctly configured peer of `cfg` would send with `priority`.
fn advert(cfg: &InstanceConfig, priority: u8) -> Advert {
    Advert {
        version: cfg.version,
        vrid: cfg.vrid,
        priority,
        interval_cs: to_centis(cfg.advert_interval),
        addrs: cfg.vips.clone(),
        auth: cfg.auth,
    }
}

fn drain(inst: &mut Instance) -> Vec<Action> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        match inst.poll_action() {
            Some(a) => out.push(a),
            None => return out,
        }
    }
    panic!("more than 1000 actions queued: {out:?}");
}

fn notify(from: State, to: State, reason: Reason) -> Action {
    Action::Notify { from, to, reason }
}

fn mdi(cfg: &InstanceConfig, priority: u8) -> Duration {
    master_down_interval(
        cfg.version,
        priority,
        cfg.advert_interval,
        cfg.down_timer_adverts,
    )
}

fn become_master_actions(priority: u8, from: State, reason: Reason) -> Vec<Action> {
    vec![
        Action::SendAdvert { priority },
        Action::AddVips,
        Action::SendGratuitous { repeat: 5 },
        notify(from, State::Master, reason),
    ]
}

/// A started backup, actions drained.
fn backup(cfg: InstanceConfig, t: Instant) -> Instance {
    let mut inst = Instance::new(cfg);
    inst.startup(t);
    assert_eq!(
        drain(&mut inst),
        vec![notify(State::Initialize, State::Backup, Reason::Startup)]
    );
    inst
}

/// A non-owner that became master when its Master_Down_Timer fired; returns it and that instant.
fn master(cfg: InstanceConfig, t: Instant) -> (Instance, Instant) {
    let down = mdi(&cfg, cfg.priority);
    let mut inst = backup(cfg, t);
    let tm = t + down;
    assert_eq!(inst.poll_timeout(), Some(tm));
    inst.handle_timeout(tm);
    let prio = inst.effective_priority();
    assert_eq!(
        drain(&mut inst),
        become_master_actions(prio, State::Backup, Reason::MasterDown)
    );
    (inst, tm)
}

// ---------------------------------------------------------------------------------------------
// RFC 3768 §6.4.1 Initialize
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc3768_6_4_1_startup_priority_255_goes_master() {
    let t = t0();
    let mut inst = Instance::new(v2(255));
    assert_eq!(inst.state(), State::Initialize);
    assert_eq!(inst.poll_timeout(), None);
    inst.startup(t);
    assert_eq!(
        drain(&mut inst),
        become_master_actions(255, State::Initialize, Reason::Startup)
    );
    assert_eq!(inst.state(), State::Master);
    // Adver_Timer = Advertisement_Interval.
    assert_eq!(inst.poll_timeout(), Some(t + secs(1)));
    assert_eq!(inst.master_addr(), Some(OURS));
    assert_eq!(inst.master_priority(), Some(255));
    assert_eq!(inst.last_transition(), Some((t, Reason::Startup)));
    assert_eq!(inst.stats().became_master, 1);
    assert_eq!(inst.stats().adverts_tx, 1);
}

#[test]
fn rfc3768_6_4_1_startup_below_255_goes_backup_with_master_down_interval() {
    let t = t0();
    // The seed's box A says `state MASTER`, priority 101: keepalived gives it no head start.
    let mut inst = Instance::new(v2(101));
    inst.startup(t);
    assert_eq!(
        drain(&mut inst),
        vec![notify(State::Initialize, State::Backup, Reason::Startup)]
    );
    assert_eq!(inst.state(), State::Backup);
    // 3 × 1 s + (256 − 101)/256 s.
    assert_eq!(inst.poll_timeout(), Some(t + ns(3_605_468_750)));
    assert_eq!(inst.master_addr(), None);
    assert_eq!(inst.stats().adverts_tx, 0);
    // A second startup is ignored.
    inst.startup(t + secs(1));
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.poll_timeout(), Some(t + ns(3_605_468_750)));
}

#[test]
fn rfc3768_6_4_1_down_timer_adverts_replaces_the_three() {
    let t = t0();
    let cfg = InstanceConfig {
        down_timer_adverts: 5,
        ..v2(100)
    };
    let inst = backup(cfg, t);
    assert_eq!(inst.poll_timeout(), Some(t + ns(5_609_375_000)));
}

// ---------------------------------------------------------------------------------------------
// RFC 3768 §6.4.2 Backup
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc3768_6_4_2_backup_shutdown_cancels_master_down_timer() {
    let t = t0();
    let mut inst = backup(v2(100), t);
    inst.shutdown(t + secs(1));
    assert_eq!(
        drain(&mut inst),
        vec![notify(State::Backup, State::Initialize, Reason::Shutdown)]
    );
    assert_eq!(inst.state(), State::Initialize);
    assert_eq!(inst.poll_timeout(), None);
    inst.handle_timeout(t + secs(60));
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.state(), State::Initialize);
}

#[test]
fn rfc3768_6_4_2_backup_master_down_timer_fires_goes_master() {
    let t = t0();
    let mut inst = backup(v2(100), t);
    let deadline = t + ns(3_609_375_000);
    assert_eq!(inst.poll_timeout(), Some(deadline));
    // Early wake-ups do nothing.
    inst.handle_timeout(deadline - ns(1));
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.state(), State::Backup);
    inst.handle_timeout(deadline);
    // keepalived order (reference §4.7): advert, VIPs, GARPs, notification.
    assert_eq!(
        drain(&mut inst),
        become_master_actions(100, State::Backup, Reason::MasterDown)
    );
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.poll_timeout(), Some(deadline + secs(1)));
    assert_eq!(inst.last_transition(), Some((deadline, Reason::MasterDown)));
    assert_eq!(inst.stats().became_master, 1);
}

#[test]
fn rfc3768_6_4_2_backup_priority_zero_sets_master_down_timer_to_skew_time() {
    let t = t0();
    let cfg = v2(100);
    let mut inst = backup(cfg.clone(), t);
    inst.handle_advert(&advert(&cfg, 101), HIGHER_ADDR, t + secs(1))
        .unwrap();
    assert_eq!(inst.poll_timeout(), Some(t + secs(1) + ns(3_609_375_000)));
    let stop = t + ms(1500);
    inst.handle_advert(&advert(&cfg, 0), HIGHER_ADDR, stop)
        .unwrap();
    assert_eq!(drain(&mut inst), vec![]);
    // Skew_Time = (256 − 100)/256 s = 0.609375 s.
    assert_eq!(inst.poll_timeout(), Some(stop + ns(609_375_000)));
    assert_eq!(inst.stats().priority_zero_rx, 1);
    inst.handle_timeout(stop + ns(609_375_000));
    assert_eq!(
        drain(&mut inst),
        become_master_actions(100, State::Backup, Reason::PeerStopped)
    );
}

#[test]
fn rfc3768_6_4_2_backup_higher_priority_resets_master_down_timer() {
    let t = t0();
    let cfg = v2(100);
    let mut inst = backup(cfg.clone(), t);
    for k in 1..=10u64 {
        let now = t + secs(k);
        inst.handle_advert(&advert(&cfg, 150), LOWER_ADDR, now)
            .unwrap();
        assert_eq!(drain(&mut inst), vec![]);
        assert_eq!(inst.poll_timeout(), Some(now + ns(3_609_375_000)));
        inst.handle_timeout(now); // nothing due
        assert_eq!(inst.state(), State::Backup);
    }
    // The address does not matter to a backup.
    assert_eq!(inst.master_addr(), Some(LOWER_ADDR));
    assert_eq!(inst.master_priority(), Some(150));
    assert_eq!(inst.stats().adverts_rx, 10);
}

#[test]
fn rfc3768_6_4_2_backup_equal_priority_resets_master_down_timer_from_either_address() {
    let t = t0();
    let cfg = v2(100);
    let mut inst = backup(cfg.clone(), t);
    // Only a master breaks ties (reference §4.5, #1440): a backup accepts equal priority.
    inst.handle_advert(&advert(&cfg, 100), LOWER_ADDR, t + secs(1))
        .unwrap();
    assert_eq!(inst.poll_timeout(), Some(t + secs(1) + ns(3_609_375_000)));
    inst.handle_advert(&advert(&cfg, 100), HIGHER_ADDR, t + secs(2))
        .unwrap();
    assert_eq!(inst.poll_timeout(), Some(t + secs(2) + ns(3_609_375_000)));
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.state(), State::Backup);
}

#[test]
fn rfc3768_6_4_2_backup_nopreempt_accepts_lower_priority() {
    let t = t0();
    let cfg = InstanceConfig {
        preempt: false,
        ..v2(100)
    };
    let mut inst = backup(cfg.clone(), t);
    for k in 1..=30u64 {
        let now = t + secs(k);
        inst.handle_timeout(now);
        inst.handle_advert(&advert(&cfg, 50), LOWER_ADDR, now)
            .unwrap();
        assert_eq!(inst.poll_timeout(), Some(now + ns(3_609_375_000)));
    }
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.state(), State::Backup);
    assert_eq!(inst.master_priority(), Some(50));
}

#[test]
fn rfc3768_6_4_2_backup_preempt_discards_lower_priority() {
    let t = t0();
    let cfg = v2(100);
    let mut inst = backup(cfg.clone(), t);
    let deadline = t + ns(3_609_375_000);
    for k in 0..3u64 {
        let now = t + ms(500) + secs(k);
        inst.handle_advert(&advert(&cfg, 50), LOWER_ADDR, now)
            .unwrap();
        // Discarded: the timer keeps running from startup.
        assert_eq!(inst.poll_timeout(), Some(deadline));
    }
    assert_eq!(inst.master_addr(), Some(LOWER_ADDR));
    assert_eq!(inst.master_priority(), Some(50));
    assert_eq!(inst.stats().adverts_rx, 3);
    inst.handle_timeout(deadline);
    assert_eq!(
        drain(&mut inst),
        become_master_actions(100, State::Backup, Reason::Preempt)
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 3768 §6.4.3 Master
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc3768_6_4_3_master_adver_timer_sends_advert_every_interval() {
    let t = t0();
    let (mut inst, tm) = master(v2(100), t);
    for k in 1..=12u64 {
        let now = tm + secs(k);
        assert_eq!(inst.poll_timeout(), Some(now));
        inst.handle_timeout(now);
        let mut expected = vec![Action::SendAdvert { priority: 100 }];
        if k == 5 {
            // garp_master_delay: the second burst of garp_master_repeat.
            expected.push(Action::SendGratuitous { repeat: 5 });
        }
        assert_eq!(drain(&mut inst), expected, "at +{k} s");
    }
    assert_eq!(inst.stats().adverts_tx, 13);
}

#[test]
fn rfc3768_6_4_3_master_shutdown_sends_priority_zero() {
    let t = t0();
    let (mut inst, tm) = master(v2(100), t);
    inst.shutdown(tm + ms(300));
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::DelVips,
            notify(State::Master, State::Initialize, Reason::Shutdown),
        ]
    );
    assert_eq!(inst.poll_timeout(), None);
    assert_eq!(inst.master_addr(), None);
    assert_eq!(inst.stats().priority_zero_tx, 1);
    assert_eq!(inst.stats().released_master, 1);
}

#[test]
fn rfc3768_6_4_3_master_priority_zero_readvertises_and_resets_adver_timer() {
    let t = t0();
    let cfg = v2(100);
    let (mut inst, tm) = master(cfg.clone(), t);
    let now = tm + ms(400);
    inst.handle_advert(&advert(&cfg, 0), HIGHER_ADDR, now)
        .unwrap();
    assert_eq!(drain(&mut inst), vec![Action::SendAdvert { priority: 100 }]);
    assert_eq!(inst.poll_timeout(), Some(now + secs(1)));
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.stats().priority_zero_rx, 1);
}

#[test]
fn rfc3768_6_4_3_master_higher_priority_goes_backup_without_priority_zero() {
    let t = t0();
    let cfg = v2(100);
    let (mut inst, tm) = master(cfg.clone(), t);
    let now = tm + ms(300);
    inst.handle_advert(&advert(&cfg, 150), LOWER_ADDR, now)
        .unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::DelVips,
            notify(State::Master, State::Backup, Reason::HigherPriority)
        ]
    );
    // Master_Down_Timer = Master_Down_Interval; the GARP burst and Adver_Timer are cancelled.
    assert_eq!(inst.poll_timeout(), Some(now + ns(3_609_375_000)));
    assert_eq!(inst.master_addr(), Some(LOWER_ADDR));
    assert_eq!(inst.master_priority(), Some(150));
    assert_eq!(inst.stats().released_master, 1);
    assert_eq!(inst.stats().priority_zero_tx, 0);
}

#[test]
fn rfc3768_6_4_3_master_equal_priority_higher_address_goes_backup() {
    let t = t0();
    let cfg = v2(100);
    let (mut inst, tm) = master(cfg.clone(), t);
    let now = tm + ms(300);
    inst.handle_advert(&advert(&cfg, 100), HIGHER_ADDR, now)
        .unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::DelVips,
            notify(State::Master, State::Backup, Reason::HigherPriority)
        ]
    );
    assert_eq!(inst.poll_timeout(), Some(now + ns(3_609_375_000)));
}

#[test]
fn rfc3768_6_4_3_master_equal_priority_lower_address_stays_master() {
    let t = t0();
    let cfg = v2(100);
    let (mut inst, tm) = master(cfg.clone(), t);
    let now = tm + ms(300);
    inst.handle_advert(&advert(&cfg, 100), LOWER_ADDR, now)
        .unwrap();
    // RFC 9568 §6.4.3: the winner re-asserts itself.
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SendGratuitous { repeat: 2 }
        ]
    );
    assert_eq!(inst.state(), State::Master);
}

// ---------------------------------------------------------------------------------------------
// keepalived higher_prio_send_advert (reference §4.5): an advert at our own priority before
// yielding to a higher-priority master
// ---------------------------------------------------------------------------------------------

/// What a master of `cfg` (priority 100) does on an advert from `src` with `priority` that wins.
fn yield_actions(cfg: &InstanceConfig, priority: u8, src: IpAddr) -> (Vec<Action>, Instance) {
    let t = t0();
    let (mut inst, tm) = master(cfg.clone(), t);
    let now = tm + ms(300);
    let sent_before = inst.stats().adverts_tx;
    inst.handle_advert(&advert(cfg, priority), src, now)
        .unwrap();
    let actions = drain(&mut inst);
    assert_eq!(inst.state(), State::Backup);
    assert_eq!(inst.master_addr(), Some(src));
    // Master_Down_Interval from the yield, whatever was sent first.
    assert_eq!(inst.poll_timeout(), Some(now + mdi(cfg, 100)));
    let sent = inst.stats().adverts_tx - sent_before;
    let expected_sent = u64::from(cfg.higher_prio_send_advert);
    assert_eq!(sent, expected_sent, "{actions:?}");
    assert_eq!(inst.stats().priority_zero_tx, 0);
    (actions, inst)
}

#[test]
fn higher_prio_send_advert_both_values_on_a_higher_priority_advert() {
    for on in [false, true] {
        let cfg = InstanceConfig {
            higher_prio_send_advert: on,
            ..v2(100)
        };
        let (actions, _) = yield_actions(&cfg, 150, LOWER_ADDR);
        let mut expected = vec![
            Action::DelVips,
            notify(State::Master, State::Backup, Reason::HigherPriority),
        ];
        if on {
            // At our own priority, before the addresses go (keepalived vrrp_state_master_rx).
            expected.insert(0, Action::SendAdvert { priority: 100 });
        }
        assert_eq!(actions, expected, "higher_prio_send_advert {on}");
    }
}

#[test]
fn higher_prio_send_advert_both_values_on_an_equal_priority_from_a_higher_address() {
    // RFC 5798 §6.4.3 tie-break over IPv6: the sender's address is greater, so it wins.
    for on in [false, true] {
        let cfg = InstanceConfig {
            higher_prio_send_advert: on,
            ..v3_ipv6(100, ms(500))
        };
        let (actions, _) = yield_actions(&cfg, 100, HIGHER6);
        let mut expected = vec![
            Action::DelVips,
            notify(State::Master, State::Backup, Reason::HigherPriority),
        ];
        if on {
            expected.insert(0, Action::SendAdvert { priority: 100 });
        }
        assert_eq!(actions, expected, "higher_prio_send_advert {on}");
    }
}

#[test]
fn higher_prio_send_advert_advertises_the_effective_priority() {
    let cfg = InstanceConfig {
        higher_prio_send_advert: true,
        ..v2(100)
    };
    let t = t0();
    let (mut inst, tm) = master(cfg.clone(), t);
    inst.set_priority(90, tm + ms(100));
    inst.handle_advert(&advert(&cfg, 95), LOWER_ADDR, tm + ms(300))
        .unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 90 },
            Action::DelVips,
            notify(State::Master, State::Backup, Reason::HigherPriority)
        ]
    );
}

#[test]
fn higher_prio_send_advert_changes_nothing_when_the_master_wins_or_hears_priority_zero() {
    let cfg = InstanceConfig {
        higher_prio_send_advert: true,
        ..v2(100)
    };
    let t = t0();
    let (mut inst, tm) = master(cfg.clone(), t);
    // Lower priority: the RFC 9568 re-advertisement only, once.
    inst.handle_advert(&advert(&cfg, 99), HIGHER_ADDR, tm + ms(100))
        .unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SendGratuitous { repeat: 2 }
        ]
    );
    // Equal priority from a lower address: we win, same as above.
    inst.handle_advert(&advert(&cfg, 100), LOWER_ADDR, tm + ms(200))
        .unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SendGratuitous { repeat: 2 }
        ]
    );
    // Priority 0: one advert and the Adver_Timer reset (RFC 3768 §6.4.3), not two adverts.
    inst.handle_advert(&advert(&cfg, 0), LOWER_ADDR, tm + ms(300))
        .unwrap();
    assert_eq!(drain(&mut inst), vec![Action::SendAdvert { priority: 100 }]);
    assert_eq!(inst.poll_timeout(), Some(tm + ms(1300)));
    // Our own looped-back advert: still ignored.
    inst.handle_advert(&advert(&cfg, 100), OURS, tm + ms(400))
        .unwrap();
    assert_eq!(drain(&mut inst), vec![]);
    // A backup hearing a higher priority sends nothing: the setting is about leaving Master.
    let mut b = backup(cfg.clone(), t);
    b.handle_advert(&advert(&cfg, 150), LOWER_ADDR, t + ms(100))
        .unwrap();
    assert_eq!(drain(&mut b), vec![]);
}

#[test]
fn higher_prio_send_advert_makes_the_surviving_master_reannounce_after_a_split_brain() {
    // Both boxes became master while cut off from each other; the link heals and the lower one
    // hears the higher one first. With the setting, its parting advert reaches the higher master,
    // which answers with gratuitous ARPs (garp_lower_prio_repeat) that move the clients' caches
    // back; without it the higher master hears nothing and announces nothing until its refresh.
    for on in [false, true] {
        let t = t0();
        let high_cfg = InstanceConfig {
            primary_addr: HIGHER_ADDR,
            higher_prio_send_advert: on,
            ..v2(150)
        };
        let low_cfg = InstanceConfig {
            higher_prio_send_advert: on,
            ..v2(100)
        };
        let (mut high, th) = master(high_cfg.clone(), t);
        let (mut low, tl) = master(low_cfg.clone(), t);
        let heal = th.max(tl) + ms(100);
        low.handle_advert(&advert(&high_cfg, 150), HIGHER_ADDR, heal)
            .unwrap();
        let low_out = drain(&mut low);
        assert_eq!(low.state(), State::Backup);
        let mut high_out = Vec::new();
        for a in &low_out {
            if let Action::SendAdvert { priority } = *a {
                high.handle_advert(&advert(&low_cfg, priority), OURS, heal + ms(1))
                    .unwrap();
                high_out.extend(drain(&mut high));
            }
        }
        let expected = if on {
            vec![
                Action::SendAdvert { priority: 150 },
                Action::SendGratuitous { repeat: 2 },
            ]
        } else {
            vec![]
        };
        assert_eq!(high_out, expected, "higher_prio_send_advert {on}");
        assert_eq!(high.state(), State::Master);
    }
}

#[test]
fn rfc3768_6_4_3_master_ignores_its_own_looped_back_advert() {
    let t = t0();
    let cfg = v2(100);
    let (mut inst, tm) = master(cfg.clone(), t);
    inst.handle_advert(&advert(&cfg, 100), OURS, tm + ms(1))
        .unwrap();
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.poll_timeout(), Some(tm + secs(1)));
}

#[test]
fn rfc9568_6_4_3_master_lower_priority_readvertises_and_sends_garps() {
    let t = t0();
    let cfg = v2(100);
    let (mut inst, tm) = master(cfg.clone(), t);
    let now = tm + ms(300);
    inst.handle_advert(&advert(&cfg, 99), HIGHER_ADDR, now)
        .unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SendGratuitous { repeat: 2 }
        ]
    );
    assert_eq!(inst.state(), State::Master);
    // The Adver_Timer is not reset by the re-advertisement.
    assert_eq!(inst.poll_timeout(), Some(tm + secs(1)));
    inst.handle_timeout(tm + secs(1));
    assert_eq!(drain(&mut inst), vec![Action::SendAdvert { priority: 100 }]);
    // garp_lower_prio_delay (2 s) after the lower-priority advert: a second round.
    assert_eq!(inst.poll_timeout(), Some(tm + secs(2)));
    inst.handle_timeout(tm + secs(2));
    assert_eq!(drain(&mut inst), vec![Action::SendAdvert { priority: 100 }]);
    assert_eq!(inst.poll_timeout(), Some(now + secs(2)));
    inst.handle_timeout(now + secs(2));
    assert_eq!(drain(&mut inst), vec![Action::SendGratuitous { repeat: 2 }]);
    assert_eq!(inst.poll_timeout(), Some(tm + secs(3)));
}

#[test]
fn lower_prio_no_advert_master_discards_lower_priority() {
    let t = t0();
    let cfg = InstanceConfig {
        lower_prio_no_advert: true,
        ..v2(100)
    };
    let (mut inst, tm) = master(cfg.clone(), t);
    let before = inst.stats().adverts_tx;
    inst.handle_advert(&advert(&cfg, 99), HIGHER_ADDR, tm + ms(300))
        .unwrap();
    // Pre-RFC 9568: no advert; the GARP refresh is independent of it.
    assert_eq!(drain(&mut inst), vec![Action::SendGratuitous { repeat: 2 }]);
    assert_eq!(inst.stats().adverts_tx, before);

    let quiet = InstanceConfig {
        lower_prio_no_advert: true,
        garp: GarpPolicy {
            lower_prio_repeat: 0,
            ..garp()
        },
        ..v2(100)
    };
    let (mut inst, tm) = master(quiet.clone(), t);
    inst.handle_advert(&advert(&quiet, 99), HIGHER_ADDR, tm + ms(300))
        .unwrap();
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.poll_timeout(), Some(tm + secs(1)));
}

#[test]
fn lower_prio_garp_without_delay_is_sent_once() {
    let t = t0();
    let cfg = InstanceConfig {
        garp: GarpPolicy {
            lower_prio_delay: Duration::ZERO,
            master_delay: Duration::ZERO,
            ..garp()
        },
        ..v2(100)
    };
    let (mut inst, tm) = master(cfg.clone(), t);
    inst.handle_advert(&advert(&cfg, 99), HIGHER_ADDR, tm + ms(300))
        .unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SendGratuitous { repeat: 2 }
        ]
    );
    for k in 1..=10u64 {
        assert_eq!(inst.poll_timeout(), Some(tm + secs(k)));
        inst.handle_timeout(tm + secs(k));
        assert_eq!(drain(&mut inst), vec![Action::SendAdvert { priority: 100 }]);
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 5798 (VRRPv3) §6.4.1–6.4.3
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc5798_6_4_1_startup_priority_255_goes_master() {
    let t = t0();
    let mut inst = Instance::new(v3(255, ms(100)));
    inst.startup(t);
    assert_eq!(
        drain(&mut inst),
        become_master_actions(255, State::Initialize, Reason::Startup)
    );
    assert_eq!(inst.poll_timeout(), Some(t + ms(100)));
    assert_eq!(inst.master_adver_interval(), ms(100));
}

#[test]
fn rfc5798_6_4_1_startup_backup_master_down_interval() {
    let t = t0();
    let inst = backup(v3(100, ms(100)), t);
    // 3 × 0.1 s + 156 × 0.1 s / 256 = 0.3609375 s.
    assert_eq!(inst.poll_timeout(), Some(t + ns(360_937_500)));
}

#[test]
fn rfc5798_6_4_2_backup_shutdown_cancels_master_down_timer() {
    let t = t0();
    let mut inst = backup(v3(100, ms(100)), t);
    inst.shutdown(t + ms(50));
    assert_eq!(
        drain(&mut inst),
        vec![notify(State::Backup, State::Initialize, Reason::Shutdown)]
    );
    assert_eq!(inst.poll_timeout(), None);
}

#[test]
fn rfc5798_6_4_2_backup_master_down_timer_fires_goes_master() {
    let t = t0();
    let (mut inst, tm) = master(v3(100, ms(100)), t);
    assert_eq!(tm, t + ns(360_937_500));
    assert_eq!(inst.poll_timeout(), Some(tm + ms(100)));
    inst.handle_timeout(tm + ms(100));
    assert_eq!(drain(&mut inst), vec![Action::SendAdvert { priority: 100 }]);
}

#[test]
fn rfc5798_6_4_2_backup_priority_zero_sets_skew_time_from_learned_interval() {
    let t = t0();
    let cfg = v3(100, ms(100));
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 200);
    adv.interval_cs = 50;
    inst.handle_advert(&adv, HIGHER_ADDR, t + ms(100)).unwrap();
    adv.priority = 0;
    let stop = t + ms(600);
    inst.handle_advert(&adv, HIGHER_ADDR, stop).unwrap();
    // Skew_Time = 156 × 0.5 s / 256 = 0.3046875 s.
    assert_eq!(inst.poll_timeout(), Some(stop + ns(304_687_500)));
    inst.handle_timeout(stop + ns(304_687_500));
    assert_eq!(
        drain(&mut inst),
        become_master_actions(100, State::Backup, Reason::PeerStopped)
    );
    // As master we advertise our own interval again.
    assert_eq!(inst.master_adver_interval(), ms(100));
    assert_eq!(inst.poll_timeout(), Some(stop + ns(304_687_500) + ms(100)));
}

#[test]
fn rfc5798_6_4_2_backup_adopts_master_adver_interval() {
    let t = t0();
    let cfg = v3(100, ms(100));
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 150);
    adv.interval_cs = 50;
    let now = t + ms(100);
    inst.handle_advert(&adv, HIGHER_ADDR, now).unwrap();
    assert_eq!(inst.master_adver_interval(), ms(500));
    // MDI recomputed from the learned interval: 1.5 s + 156 × 0.5 s / 256.
    assert_eq!(inst.poll_timeout(), Some(now + ns(1_804_687_500)));
    assert_eq!(
        inst.poll_timeout(),
        Some(now + master_down_interval(Version::V3, 100, ms(500), 3))
    );
    // A v3 interval different from ours is not an error.
    assert_eq!(inst.stats().interval_errors, 0);
    // And it follows the master when it changes again.
    adv.interval_cs = 20;
    inst.handle_advert(&adv, HIGHER_ADDR, now + ms(500))
        .unwrap();
    assert_eq!(inst.master_adver_interval(), ms(200));
    assert_eq!(inst.poll_timeout(), Some(now + ms(500) + ns(721_875_000)));
}

#[test]
fn rfc5798_6_4_2_backup_preempt_discard_does_not_learn_interval() {
    let t = t0();
    let cfg = v3(100, ms(100));
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 50);
    adv.interval_cs = 100;
    inst.handle_advert(&adv, HIGHER_ADDR, t + ms(100)).unwrap();
    assert_eq!(inst.master_adver_interval(), ms(100));
    assert_eq!(inst.poll_timeout(), Some(t + ns(360_937_500)));
}

#[test]
fn rfc5798_6_4_2_backup_nopreempt_learns_interval_from_lower_priority() {
    let t = t0();
    let cfg = InstanceConfig {
        preempt: false,
        ..v3(100, ms(100))
    };
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 50);
    adv.interval_cs = 100;
    let now = t + ms(100);
    inst.handle_advert(&adv, LOWER_ADDR, now).unwrap();
    assert_eq!(inst.master_adver_interval(), secs(1));
    assert_eq!(inst.poll_timeout(), Some(now + ns(3_609_375_000)));
}

#[test]
fn rfc5798_6_4_3_master_adver_timer_sends_advert() {
    let t = t0();
    let (mut inst, tm) = master(v3(200, ms(30)), t);
    for k in 1..=20u32 {
        let now = tm + ms(30) * k;
        assert_eq!(inst.poll_timeout(), Some(now));
        inst.handle_timeout(now);
        assert_eq!(drain(&mut inst), vec![Action::SendAdvert { priority: 200 }]);
    }
}

#[test]
fn rfc5798_6_4_3_master_shutdown_sends_priority_zero() {
    let t = t0();
    let (mut inst, tm) = master(v3(100, ms(100)), t);
    inst.shutdown(tm + ms(10));
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::DelVips,
            notify(State::Master, State::Initialize, Reason::Shutdown),
        ]
    );
}

#[test]
fn rfc5798_6_4_3_master_priority_zero_readvertises_and_resets_adver_timer() {
    let t = t0();
    let cfg = v3(100, ms(100));
    let (mut inst, tm) = master(cfg.clone(), t);
    let now = tm + ms(40);
    inst.handle_advert(&advert(&cfg, 0), HIGHER_ADDR, now)
        .unwrap();
    assert_eq!(drain(&mut inst), vec![Action::SendAdvert { priority: 100 }]);
    assert_eq!(inst.poll_timeout(), Some(now + ms(100)));
}

#[test]
fn rfc5798_6_4_3_master_higher_priority_adopts_interval_and_goes_backup() {
    let t = t0();
    let cfg = v3(100, ms(100));
    let (mut inst, tm) = master(cfg.clone(), t);
    let mut adv = advert(&cfg, 150);
    adv.interval_cs = 30;
    let now = tm + ms(40);
    inst.handle_advert(&adv, LOWER_ADDR, now).unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::DelVips,
            notify(State::Master, State::Backup, Reason::HigherPriority)
        ]
    );
    assert_eq!(inst.master_adver_interval(), ms(300));
    // 0.9 s + 156 × 0.3 s / 256 = 1.0828125 s.
    assert_eq!(inst.poll_timeout(), Some(now + ns(1_082_812_500)));
}

#[test]
fn rfc5798_6_4_3_master_equal_priority_tie_break_on_ipv6_address_both_orders() {
    let t = t0();
    let cfg = v3_ipv6(100, ms(100));
    let (mut inst, tm) = master(cfg.clone(), t);
    inst.handle_advert(&advert(&cfg, 100), LOWER6, tm + ms(10))
        .unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SendGratuitous { repeat: 2 }
        ]
    );
    assert_eq!(inst.state(), State::Master);
    inst.handle_advert(&advert(&cfg, 100), HIGHER6, tm + ms(20))
        .unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::DelVips,
            notify(State::Master, State::Backup, Reason::HigherPriority)
        ]
    );
    assert_eq!(inst.master_addr(), Some(HIGHER6));
}

#[test]
fn rfc9568_6_4_3_v3_master_lower_priority_readvertises() {
    let t = t0();
    let cfg = v3(100, ms(100));
    let (mut inst, tm) = master(cfg.clone(), t);
    inst.handle_advert(&advert(&cfg, 20), HIGHER_ADDR, tm + ms(40))
        .unwrap();
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 100 },
            Action::SendGratuitous { repeat: 2 }
        ]
    );
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.poll_timeout(), Some(tm + ms(100)));
}

#[test]
fn tie_break_compares_addresses_as_numbers_not_text() {
    let t = t0();
    // "192.0.2.9" > "192.0.2.10" as text, but 9 < 10 as a number.
    let cfg = v2(100);
    let (mut inst, tm) = master(cfg.clone(), t);
    let nine = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9));
    inst.handle_advert(&advert(&cfg, 100), nine, tm + ms(1))
        .unwrap();
    assert_eq!(inst.state(), State::Master);
    let big = IpAddr::V4(Ipv4Addr::new(192, 0, 3, 1));
    inst.handle_advert(&advert(&cfg, 100), big, tm + ms(2))
        .unwrap();
    assert_eq!(inst.state(), State::Backup);
}

// ---------------------------------------------------------------------------------------------
// Receive validation (RFC 3768 §7.1, RFC 5798 §7.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc3768_7_1_wrong_vrid_is_dropped_and_counted() {
    let t = t0();
    let cfg = v2(100);
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 150);
    adv.vrid = 52;
    assert_eq!(
        inst.handle_advert(&adv, HIGHER_ADDR, t + secs(1)),
        Err(RxError::WrongVrid { got: 52, ours: 51 })
    );
    assert_eq!(inst.stats().vrid_errors, 1);
    assert_eq!(inst.stats().adverts_rx, 0);
    assert_eq!(inst.poll_timeout(), Some(t + ns(3_609_375_000)));
}

#[test]
fn rfc3768_7_1_wrong_version_is_dropped_and_counted() {
    let t = t0();
    let cfg = v2(100);
    let mut inst = backup(cfg.clone(), t);
    let adv = advert(&v3(150, secs(1)), 150);
    assert_eq!(
        inst.handle_advert(&adv, HIGHER_ADDR, t + secs(1)),
        Err(RxError::WrongVersion)
    );
    assert_eq!(inst.stats().version_errors, 1);
    assert_eq!(inst.poll_timeout(), Some(t + ns(3_609_375_000)));
}

#[test]
fn rfc3768_7_1_auth_mismatch_is_dropped_and_counted() {
    let t = t0();
    let cfg = v2(100);
    let (mut inst, tm) = master(cfg.clone(), t);
    let mut adv = advert(&cfg, 200);
    adv.auth = AuthData::Pass(*b"somepasx");
    assert_eq!(
        inst.handle_advert(&adv, HIGHER_ADDR, tm + ms(1)),
        Err(RxError::Auth)
    );
    adv.auth = AuthData::None;
    assert_eq!(
        inst.handle_advert(&adv, HIGHER_ADDR, tm + ms(2)),
        Err(RxError::Auth)
    );
    adv.auth = AuthData::Ah;
    assert_eq!(
        inst.handle_advert(&adv, HIGHER_ADDR, tm + ms(3)),
        Err(RxError::Auth)
    );
    assert_eq!(inst.stats().auth_errors, 3);
    // Nothing happened: still master, no actions.
    assert_eq!(inst.state(), State::Master);
    assert_eq!(drain(&mut inst), vec![]);
    // The right password is accepted.
    adv.auth = AuthData::Pass(*b"somepass");
    inst.handle_advert(&adv, HIGHER_ADDR, tm + ms(4)).unwrap();
    assert_eq!(inst.state(), State::Backup);
}

#[test]
fn rfc3768_7_1_no_auth_instance_rejects_pass_adverts() {
    let t = t0();
    let cfg = InstanceConfig {
        auth: AuthData::None,
        ..v2(100)
    };
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 150);
    adv.auth = AuthData::Pass(*b"somepass");
    assert_eq!(
        inst.handle_advert(&adv, HIGHER_ADDR, t + secs(1)),
        Err(RxError::Auth)
    );
    adv.auth = AuthData::None;
    inst.handle_advert(&adv, HIGHER_ADDR, t + secs(1)).unwrap();
}

#[test]
fn rfc3768_7_1_v2_interval_mismatch_is_dropped_and_counted() {
    let t = t0();
    let cfg = v2(100);
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 150);
    adv.interval_cs = 200;
    assert_eq!(
        inst.handle_advert(&adv, HIGHER_ADDR, t + secs(1)),
        Err(RxError::IntervalMismatch {
            got_cs: 200,
            ours_cs: 100
        })
    );
    assert_eq!(inst.stats().interval_errors, 1);
    // Not reset: the mismatching master does not hold us in backup.
    assert_eq!(inst.poll_timeout(), Some(t + ns(3_609_375_000)));
    assert_eq!(inst.master_adver_interval(), secs(1));
}

#[test]
fn rfc5798_7_1_v3_interval_mismatch_is_learned_not_dropped() {
    let t = t0();
    let cfg = v3(100, secs(1));
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 150);
    adv.interval_cs = 200;
    inst.handle_advert(&adv, HIGHER_ADDR, t + secs(1)).unwrap();
    assert_eq!(inst.stats().interval_errors, 0);
    assert_eq!(inst.master_adver_interval(), secs(2));
    assert_eq!(
        inst.poll_timeout(),
        Some(t + secs(1) + master_down_interval(Version::V3, 100, secs(2), 3))
    );
}

#[test]
fn rfc3768_7_1_address_list_mismatch_is_dropped_unless_sender_is_owner() {
    let t = t0();
    let cfg = InstanceConfig {
        vips: vec![VIP, VIP2],
        ..v2(100)
    };
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 150);
    // Same set, other order: fine.
    adv.addrs = vec![VIP2, VIP];
    inst.handle_advert(&adv, HIGHER_ADDR, t + secs(1)).unwrap();
    assert_eq!(inst.stats().addr_list_errors, 0);
    // Missing one.
    adv.addrs = vec![VIP];
    assert_eq!(
        inst.handle_advert(&adv, HIGHER_ADDR, t + secs(2)),
        Err(RxError::AddressList)
    );
    // Same count, different address.
    adv.addrs = vec![VIP, VIP6];
    assert_eq!(
        inst.handle_advert(&adv, HIGHER_ADDR, t + secs(2)),
        Err(RxError::AddressList)
    );
    assert_eq!(inst.stats().addr_list_errors, 2);
    // Dropped adverts did not reset the timer armed at +1 s.
    assert_eq!(inst.poll_timeout(), Some(t + secs(1) + ns(3_609_375_000)));
    // RFC 3768 §7.1: from the owner (priority 255) it is counted but processed.
    adv.priority = 255;
    inst.handle_advert(&adv, HIGHER_ADDR, t + secs(3)).unwrap();
    assert_eq!(inst.stats().addr_list_errors, 3);
    assert_eq!(inst.poll_timeout(), Some(t + secs(3) + ns(3_609_375_000)));
}

#[test]
fn address_list_policy_log_counts_and_accepts() {
    let t = t0();
    let cfg = InstanceConfig {
        addr_list_policy: AddrListPolicy::Log,
        ..v2(100)
    };
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 150);
    adv.addrs = vec![VIP2];
    inst.handle_advert(&adv, HIGHER_ADDR, t + secs(1)).unwrap();
    assert_eq!(inst.stats().addr_list_errors, 1);
    assert_eq!(inst.poll_timeout(), Some(t + secs(1) + ns(3_609_375_000)));
}

#[test]
fn adverts_before_startup_are_not_listened_to() {
    let t = t0();
    let cfg = v2(100);
    let mut inst = Instance::new(cfg.clone());
    assert_eq!(
        inst.handle_advert(&advert(&cfg, 150), HIGHER_ADDR, t),
        Err(RxError::NotListening(State::Initialize))
    );
    assert_eq!(inst.stats().adverts_rx, 0);
    assert_eq!(drain(&mut inst), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Address owner
// ---------------------------------------------------------------------------------------------

#[test]
fn owner_ignores_adverts_but_counts_them() {
    let t = t0();
    let cfg = v2(255);
    let mut inst = Instance::new(cfg.clone());
    inst.startup(t);
    drain(&mut inst);
    for (k, prio) in [254u8, 255, 0, 1].into_iter().enumerate() {
        let now = t + ms(100) * (k as u32 + 1);
        assert_eq!(
            inst.handle_advert(&advert(&cfg, prio), HIGHER_ADDR, now),
            Err(RxError::NotListening(State::Master))
        );
    }
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.state(), State::Master);
    assert_eq!(inst.poll_timeout(), Some(t + secs(1)));
    assert_eq!(inst.stats().adverts_rx, 4);
    assert_eq!(inst.stats().priority_zero_rx, 1);
    // Invalid ones are still counted as errors.
    let mut bad = advert(&cfg, 100);
    bad.auth = AuthData::None;
    assert_eq!(
        inst.handle_advert(&bad, HIGHER_ADDR, t + ms(900)),
        Err(RxError::Auth)
    );
    assert_eq!(inst.stats().auth_errors, 1);
}

// ---------------------------------------------------------------------------------------------
// preempt / nopreempt / preempt_delay
// ---------------------------------------------------------------------------------------------

#[test]
fn preempt_delay_holds_off_preemption_after_startup() {
    let t = t0();
    let cfg = InstanceConfig {
        preempt_delay: secs(10),
        ..v2(110)
    };
    let mut inst = backup(cfg.clone(), t);
    assert_eq!(inst.preempt_delay_until(), Some(t + secs(10)));
    let mdi110 = ns(3_570_312_500);
    assert_eq!(mdi(&cfg, 110), mdi110);
    let mut last_accepted = t;
    for k in 0..10u64 {
        let now = t + ms(500) + secs(k);
        inst.handle_timeout(now);
        inst.handle_advert(&advert(&cfg, 100), LOWER_ADDR, now)
            .unwrap();
        assert_eq!(
            inst.poll_timeout(),
            Some(now + mdi110),
            "accepted at +{k}.5 s"
        );
        last_accepted = now;
    }
    assert_eq!(last_accepted, t + ms(9500));
    // From +10 s the lower-priority adverts are discarded; we preempt one MDI after the last
    // accepted one.
    for k in 10..13u64 {
        let now = t + ms(500) + secs(k);
        inst.handle_timeout(now);
        inst.handle_advert(&advert(&cfg, 100), LOWER_ADDR, now)
            .unwrap();
        assert_eq!(inst.poll_timeout(), Some(last_accepted + mdi110));
    }
    assert_eq!(inst.state(), State::Backup);
    inst.handle_timeout(last_accepted + mdi110);
    assert_eq!(
        drain(&mut inst),
        become_master_actions(110, State::Backup, Reason::Preempt)
    );
}

#[test]
fn preempt_delay_restarts_when_a_lower_priority_master_appears() {
    let t = t0();
    let cfg = InstanceConfig {
        preempt_delay: secs(4),
        ..v2(110)
    };
    let mut inst = backup(cfg.clone(), t);
    let mdi110 = mdi(&cfg, 110);
    // A higher-priority master: the startup hold-off stops.
    for k in 0..20u64 {
        let now = t + ms(500) + secs(k);
        inst.handle_advert(&advert(&cfg, 120), LOWER_ADDR, now)
            .unwrap();
        assert_eq!(inst.preempt_delay_until(), None);
    }
    // Its priority drops below ours: the hold-off starts at the first lower advert (+20.5 s).
    let first_lower = t + ms(20_500);
    inst.handle_advert(&advert(&cfg, 100), LOWER_ADDR, first_lower)
        .unwrap();
    assert_eq!(inst.preempt_delay_until(), Some(first_lower + secs(4)));
    assert_eq!(inst.poll_timeout(), Some(first_lower + mdi110));
    for k in 1..=3u64 {
        let now = first_lower + secs(k);
        inst.handle_advert(&advert(&cfg, 100), LOWER_ADDR, now)
            .unwrap();
        assert_eq!(inst.poll_timeout(), Some(now + mdi110));
    }
    let last_accepted = first_lower + secs(3);
    // At exactly +4 s the hold-off is over: discarded.
    inst.handle_advert(&advert(&cfg, 100), LOWER_ADDR, first_lower + secs(4))
        .unwrap();
    assert_eq!(inst.poll_timeout(), Some(last_accepted + mdi110));
    inst.handle_timeout(last_accepted + mdi110);
    assert_eq!(
        drain(&mut inst),
        become_master_actions(110, State::Backup, Reason::Preempt)
    );
}

#[test]
fn preempt_delay_does_not_postpone_taking_over_from_a_silent_master() {
    let t = t0();
    let cfg = InstanceConfig {
        preempt_delay: secs(100),
        ..v2(100)
    };
    let mut inst = backup(cfg, t);
    assert_eq!(inst.poll_timeout(), Some(t + ns(3_609_375_000)));
    inst.handle_timeout(t + ns(3_609_375_000));
    assert_eq!(
        drain(&mut inst),
        become_master_actions(100, State::Backup, Reason::MasterDown)
    );
}

#[test]
fn nopreempt_backup_never_preempts_and_ignores_preempt_delay() {
    let t = t0();
    let cfg = InstanceConfig {
        preempt: false,
        preempt_delay: secs(2),
        ..v2(200)
    };
    let mut inst = backup(cfg.clone(), t);
    assert_eq!(inst.preempt_delay_until(), None);
    for k in 1..=60u64 {
        let now = t + secs(k);
        inst.handle_timeout(now);
        inst.handle_advert(&advert(&cfg, 100), LOWER_ADDR, now)
            .unwrap();
    }
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.state(), State::Backup);
}

// ---------------------------------------------------------------------------------------------
// Gratuitous ARP / NA timing (reference §4.7)
// ---------------------------------------------------------------------------------------------

/// Run `inst` through its deadlines up to `until`, returning (instant, action) pairs.
fn run_alone(inst: &mut Instance, until: Instant) -> Vec<(Instant, Action)> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        match inst.poll_timeout() {
            Some(d) if d <= until => {
                inst.handle_timeout(d);
                out.extend(drain(inst).into_iter().map(|a| (d, a)));
            }
            _ => return out,
        }
    }
    panic!("timer loop did not end");
}

#[test]
fn garp_second_burst_and_refresh_timing() {
    let t = t0();
    let cfg = InstanceConfig {
        garp: GarpPolicy {
            master_repeat: 3,
            master_delay: secs(2),
            refresh: ms(7500),
            refresh_repeat: 1,
            ..garp()
        },
        ..v2(255)
    };
    let mut inst = Instance::new(cfg);
    inst.startup(t);
    let first = drain(&mut inst);
    assert_eq!(first[2], Action::SendGratuitous { repeat: 3 });
    let log = run_alone(&mut inst, t + secs(23));
    let garps: Vec<_> = log
        .iter()
        .filter(|(_, a)| matches!(a, Action::SendGratuitous { .. }))
        .cloned()
        .collect();
    assert_eq!(
        garps,
        vec![
            (t + secs(2), Action::SendGratuitous { repeat: 3 }),
            (t + ms(7500), Action::SendGratuitous { repeat: 1 }),
            (t + secs(15), Action::SendGratuitous { repeat: 1 }),
            (t + ms(22_500), Action::SendGratuitous { repeat: 1 }),
        ]
    );
    let adverts = log
        .iter()
        .filter(|(_, a)| matches!(a, Action::SendAdvert { .. }))
        .count();
    assert_eq!(adverts, 23);
}

#[test]
fn garp_no_second_burst_when_master_delay_is_zero() {
    let t = t0();
    let cfg = InstanceConfig {
        garp: GarpPolicy {
            master_delay: Duration::ZERO,
            ..garp()
        },
        ..v2(255)
    };
    let mut inst = Instance::new(cfg);
    inst.startup(t);
    drain(&mut inst);
    let log = run_alone(&mut inst, t + secs(30));
    assert!(
        log.iter()
            .all(|(_, a)| *a == Action::SendAdvert { priority: 255 }),
        "{log:?}"
    );
    assert_eq!(log.len(), 30);
}

#[test]
fn leaving_master_cancels_pending_announcements() {
    let t = t0();
    let cfg = InstanceConfig {
        garp: GarpPolicy {
            refresh: secs(1),
            ..garp()
        },
        ..v2(100)
    };
    let (mut inst, tm) = master(cfg.clone(), t);
    inst.handle_advert(&advert(&cfg, 99), HIGHER_ADDR, tm + ms(100))
        .unwrap();
    drain(&mut inst);
    inst.handle_advert(&advert(&cfg, 200), HIGHER_ADDR, tm + ms(200))
        .unwrap();
    drain(&mut inst);
    // Only Master_Down_Timer remains.
    assert_eq!(inst.poll_timeout(), Some(tm + ms(200) + ns(3_609_375_000)));
    inst.handle_timeout(tm + secs(3));
    assert_eq!(drain(&mut inst), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Fault
// ---------------------------------------------------------------------------------------------

#[test]
fn fault_from_master_sends_priority_zero_and_releases() {
    let t = t0();
    let cfg = v2(100);
    let (mut inst, tm) = master(cfg.clone(), t);
    let tf = tm + ms(500);
    inst.set_fault(true, tf);
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::DelVips,
            notify(State::Master, State::Fault, Reason::Fault),
        ]
    );
    assert_eq!(inst.poll_timeout(), None);
    assert_eq!(inst.stats().released_master, 1);
    assert_eq!(inst.stats().priority_zero_tx, 1);
    assert_eq!(inst.master_addr(), None);
    // Idempotent.
    inst.set_fault(true, tf + secs(1));
    assert_eq!(drain(&mut inst), vec![]);
    // Adverts are validated but not acted upon.
    assert_eq!(
        inst.handle_advert(&advert(&cfg, 50), LOWER_ADDR, tf + secs(2)),
        Err(RxError::NotListening(State::Fault))
    );
    let mut bad = advert(&cfg, 50);
    bad.vrid = 1;
    assert!(matches!(
        inst.handle_advert(&bad, LOWER_ADDR, tf + secs(2)),
        Err(RxError::WrongVrid { .. })
    ));
    // Recovery: Backup with a full Master_Down_Interval.
    let tc = tf + secs(10);
    inst.set_fault(false, tc);
    assert_eq!(
        drain(&mut inst),
        vec![notify(State::Fault, State::Backup, Reason::FaultCleared)]
    );
    assert_eq!(inst.poll_timeout(), Some(tc + ns(3_609_375_000)));
    assert_eq!(inst.last_transition(), Some((tc, Reason::FaultCleared)));
}

#[test]
fn fault_from_backup_is_silent_on_the_wire() {
    let t = t0();
    let mut inst = backup(v2(100), t);
    inst.set_fault(true, t + secs(1));
    assert_eq!(
        drain(&mut inst),
        vec![notify(State::Backup, State::Fault, Reason::Fault)]
    );
    assert_eq!(inst.poll_timeout(), None);
    inst.handle_timeout(t + secs(100));
    assert_eq!(drain(&mut inst), vec![]);
}

#[test]
fn fault_cleared_owner_goes_master_at_once() {
    let t = t0();
    let mut inst = Instance::new(v2(255));
    inst.startup(t);
    drain(&mut inst);
    inst.set_fault(true, t + secs(1));
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::DelVips,
            notify(State::Master, State::Fault, Reason::Fault),
        ]
    );
    inst.set_fault(false, t + secs(2));
    assert_eq!(
        drain(&mut inst),
        become_master_actions(255, State::Fault, Reason::FaultCleared)
    );
    assert_eq!(inst.poll_timeout(), Some(t + secs(3)));
}

#[test]
fn fault_before_startup_starts_in_fault_and_shuts_down_from_fault() {
    let t = t0();
    let mut inst = Instance::new(v2(100));
    inst.set_fault(true, t);
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.state(), State::Initialize);
    inst.startup(t);
    assert_eq!(
        drain(&mut inst),
        vec![notify(State::Initialize, State::Fault, Reason::Fault)]
    );
    assert_eq!(inst.poll_timeout(), None);
    inst.shutdown(t + secs(1));
    assert_eq!(
        drain(&mut inst),
        vec![notify(State::Fault, State::Initialize, Reason::Shutdown)]
    );
    assert!(inst.is_faulted());
}

// ---------------------------------------------------------------------------------------------
// Shutdown from each state
// ---------------------------------------------------------------------------------------------

#[test]
fn shutdown_in_initialize_is_a_no_op_and_restart_works() {
    let t = t0();
    let mut inst = Instance::new(v2(100));
    inst.shutdown(t);
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.last_transition(), None);
    let (mut inst, tm) = master(v2(100), t);
    inst.shutdown(tm + secs(1));
    drain(&mut inst);
    let again = tm + secs(5);
    inst.startup(again);
    assert_eq!(
        drain(&mut inst),
        vec![notify(State::Initialize, State::Backup, Reason::Startup)]
    );
    assert_eq!(inst.poll_timeout(), Some(again + ns(3_609_375_000)));
    assert_eq!(inst.stats().became_master, 1);
    assert_eq!(inst.stats().released_master, 1);
}

// ---------------------------------------------------------------------------------------------
// Priority changes
// ---------------------------------------------------------------------------------------------

#[test]
fn set_priority_while_backup_shifts_master_down_timer_by_skew() {
    let t = t0();
    let cfg = v2(100);
    let mut inst = backup(cfg.clone(), t);
    inst.set_priority(102, t + secs(1));
    // Moved earlier by (156 − 154)/256 s: exactly the MDI of priority 102 from startup.
    assert_eq!(inst.poll_timeout(), Some(t + ns(3_601_562_500)));
    inst.set_priority(90, t + secs(1));
    assert_eq!(inst.poll_timeout(), Some(t + mdi(&cfg, 90)));
    assert_eq!(drain(&mut inst), vec![]);
    // After a priority-0 advert the Skew_Time deadline moves the same way.
    let stop = t + secs(2);
    inst.handle_advert(&advert(&cfg, 0), HIGHER_ADDR, stop)
        .unwrap();
    assert_eq!(
        inst.poll_timeout(),
        Some(stop + skew_time(Version::V2, 90, secs(1)))
    );
    inst.set_priority(254, stop + ms(1));
    assert_eq!(inst.poll_timeout(), Some(stop + ns(7_812_500)));
    assert_eq!(inst.effective_priority(), 254);
}

#[test]
fn set_priority_while_backup_v3_uses_learned_interval() {
    let t = t0();
    let cfg = v3(100, ms(100));
    let mut inst = backup(cfg.clone(), t);
    let mut adv = advert(&cfg, 200);
    adv.interval_cs = 100;
    let now = t + ms(50);
    inst.handle_advert(&adv, HIGHER_ADDR, now).unwrap();
    inst.set_priority(228, now + ms(10));
    // (256 − 228) × 1 s / 256 = 0.109375 s.
    assert_eq!(inst.poll_timeout(), Some(now + secs(3) + ns(109_375_000)));
}

#[test]
fn set_priority_while_master_is_carried_by_the_next_advert() {
    let t = t0();
    let (mut inst, tm) = master(v2(100), t);
    inst.set_priority(90, tm + ms(500));
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.poll_timeout(), Some(tm + secs(1)));
    assert_eq!(inst.master_priority(), Some(90));
    inst.handle_timeout(tm + secs(1));
    assert_eq!(drain(&mut inst), vec![Action::SendAdvert { priority: 90 }]);
}

#[test]
fn set_priority_makes_a_backup_preempt_eligible() {
    let t = t0();
    let cfg = v2(100);
    let mut inst = backup(cfg.clone(), t);
    for k in 1..=5u64 {
        inst.handle_advert(&advert(&cfg, 101), HIGHER_ADDR, t + secs(k))
            .unwrap();
    }
    // A tracker comes back: 100 → 102 > the master's 101.
    inst.set_priority(102, t + ms(5500));
    assert_eq!(inst.poll_timeout(), Some(t + secs(5) + ns(3_601_562_500)));
    for k in 6..=8u64 {
        inst.handle_advert(&advert(&cfg, 101), HIGHER_ADDR, t + secs(k))
            .unwrap();
        assert_eq!(inst.poll_timeout(), Some(t + secs(5) + ns(3_601_562_500)));
    }
    inst.handle_timeout(t + secs(5) + ns(3_601_562_500));
    assert_eq!(
        drain(&mut inst),
        become_master_actions(102, State::Backup, Reason::Preempt)
    );
}

#[test]
fn set_priority_zero_is_taken_as_one() {
    let t = t0();
    let mut inst = backup(v2(100), t);
    inst.set_priority(0, t);
    assert_eq!(inst.effective_priority(), 1);
}

// ---------------------------------------------------------------------------------------------
// The seed walk-through (reference §2): a zero-delay LAN of real instances
// ---------------------------------------------------------------------------------------------

/// Instances on one zero-delay link. Adverts are delivered to every other running node at the
/// instant they are sent; timers fire in time order.
struct Lan {
    nodes: Vec<Instance>,
    /// false = crashed: sends nothing, hears nothing, no timers.
    up: Vec<bool>,
    /// State of each node when its actions were last drained.
    known: Vec<State>,
    now: Instant,
    log: Vec<(Instant, usize, Action)>,
}

impl Lan {
    fn new(nodes: Vec<Instance>, now: Instant) -> Lan {
        let up = vec![true; nodes.len()];
        let known = nodes.iter().map(Instance::state).collect();
        Lan {
            nodes,
            up,
            known,
            now,
            log: Vec::new(),
        }
    }

    /// Run every timer due up to `until` (inclusive), in time order.
    fn run_until(&mut self, until: Instant) {
        for _ in 0..1_000_000 {
            let next = (0..self.nodes.len())
                .filter(|&i| self.up[i])
                .filter_map(|i| self.nodes[i].poll_timeout())
                .min();
            match next {
                Some(due) if due <= until => {
                    self.now = due;
                    // Timers due at the same instant all fire before any advert is delivered.
                    let fired: Vec<usize> = (0..self.nodes.len())
                        .filter(|&i| {
                            self.up[i] && self.nodes[i].poll_timeout().is_some_and(|d| d <= due)
                        })
                        .collect();
                    for &i in &fired {
                        self.nodes[i].handle_timeout(due);
                    }
                    for i in fired {
                        self.flush(i);
                    }
                }
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("event loop did not end");
    }

    /// Run to `at`, then apply `op` to node `i` at that instant and flush its actions.
    fn at(&mut self, at: Instant, i: usize, op: impl FnOnce(&mut Instance, Instant)) {
        self.run_until(at);
        op(&mut self.nodes[i], at);
        self.flush(i);
    }

    /// Drain node `i`, delivering its adverts (and those they trigger) at `self.now`.
    fn flush(&mut self, i: usize) {
        let mut pending = VecDeque::from([i]);
        for _ in 0..10_000 {
            let Some(n) = pending.pop_front() else { return };
            let before = self.known[n];
            let actions = drain(&mut self.nodes[n]);
            let notifies: Vec<_> = actions
                .iter()
                .filter(|a| matches!(a, Action::Notify { .. }))
                .collect();
            let after = self.nodes[n].state();
            self.known[n] = after;
            // Every transition emits exactly one Notify, naming the right states.
            if before == after {
                assert!(
                    notifies.is_empty(),
                    "notify without transition: {notifies:?}"
                );
            } else {
                assert_eq!(notifies.len(), 1, "{actions:?}");
                assert!(
                    matches!(notifies[0], Action::Notify { from, to, .. } if *from == before && *to == after)
                );
            }
            for a in actions {
                if let Action::SendAdvert { priority } = a {
                    let cfg = self.nodes[n].config().clone();
                    let adv = advert(&cfg, priority);
                    for j in 0..self.nodes.len() {
                        if j != n && self.up[j] {
                            // Not listening (Initialize) is fine; anything else is a bug here.
                            match self.nodes[j].handle_advert(&adv, cfg.primary_addr, self.now) {
                                Ok(()) | Err(RxError::NotListening(_)) => pending.push_back(j),
                                Err(e) => panic!("node {j} dropped a valid advert: {e}"),
                            }
                        }
                    }
                }
                self.log.push((self.now, n, a));
            }
        }
        panic!("advert storm");
    }

    /// Instants at which node `i` entered `to`, with the reason.
    fn entered(&self, i: usize, to_state: State) -> Vec<(Instant, Reason)> {
        self.log
            .iter()
            .filter_map(|(t, n, a)| match a {
                Action::Notify { to, reason, .. } if *n == i && *to == to_state => {
                    Some((*t, *reason))
                }
                _ => None,
            })
            .collect()
    }
}

fn seed_box(priority: u8, addr: [u8; 4]) -> Instance {
    Instance::new(InstanceConfig {
        primary_addr: IpAddr::V4(Ipv4Addr::from(addr)),
        ..v2(priority)
    })
}

#[test]
fn seed_walk_through_reference_section_2() {
    const A: usize = 0;
    const B: usize = 1;
    let t = t0();
    let at = |n: u64| t + ns(n);
    let mut lan = Lan::new(
        vec![seed_box(101, [192, 0, 2, 1]), seed_box(100, [192, 0, 2, 2])],
        t,
    );

    // Cold start, both at once; chk_haproxy runs immediately: 101+2 and 100+2.
    lan.at(t, A, |n, now| {
        n.startup(now);
        n.set_priority(103, now);
    });
    lan.at(t, B, |n, now| {
        n.startup(now);
        n.set_priority(102, now);
    });
    assert_eq!(lan.nodes[A].poll_timeout(), Some(at(3_597_656_250)));
    assert_eq!(lan.nodes[B].poll_timeout(), Some(at(3_601_562_500)));

    // A's MDI (3 + 153/256 s) expires first: A is master at 3.59765625 s; B accepts it.
    lan.run_until(at(10_200_000_000));
    assert_eq!(
        lan.entered(A, State::Master),
        vec![(at(3_597_656_250), Reason::MasterDown)]
    );
    assert_eq!(lan.entered(B, State::Master), vec![]);
    assert_eq!(
        lan.nodes[B].master_addr(),
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
    );
    assert_eq!(lan.nodes[B].master_priority(), Some(103));

    // haproxy dies on A at 10.2 s: A's next advert (10.59765625 s) says 101; B discards it and
    // takes over 3 + 154/256 s after the last 103 advert (9.59765625 s).
    lan.at(at(10_200_000_000), A, |n, now| n.set_priority(101, now));
    lan.run_until(at(20_100_000_000));
    let b_master = at(13_199_218_750);
    assert_eq!(
        lan.entered(B, State::Master),
        vec![(b_master, Reason::Preempt)]
    );
    assert_eq!(
        lan.entered(A, State::Backup)[1],
        (b_master, Reason::HigherPriority)
    );
    // A released the VIP without a priority-0 advert.
    let a_at_failover: Vec<_> = lan
        .log
        .iter()
        .filter(|(t, n, _)| *n == A && *t == b_master)
        .map(|e| e.2.clone())
        .collect();
    assert_eq!(
        a_at_failover,
        vec![
            Action::DelVips,
            notify(State::Master, State::Backup, Reason::HigherPriority)
        ]
    );
    assert!(
        !lan.log
            .iter()
            .any(|(_, _, a)| *a == Action::SendAdvert { priority: 0 })
    );

    // haproxy back on A at 20.1 s: 103 > 102, A discards B's adverts and preempts one MDI(103)
    // after the last 102 advert it accepted (19.19921875 s).
    lan.at(at(20_100_000_000), A, |n, now| n.set_priority(103, now));
    lan.run_until(at(30_000_000_000));
    assert_eq!(
        lan.entered(A, State::Master)[1],
        (at(22_796_875_000), Reason::Preempt)
    );
    assert_eq!(
        lan.entered(B, State::Backup)[1],
        (at(22_796_875_000), Reason::HigherPriority)
    );

    // keepalived on A stopped (SIGTERM) at 30 s: priority 0, B takes over after Skew_Time(102).
    lan.at(at(30_000_000_000), A, |n, now| n.shutdown(now));
    lan.run_until(at(40_000_000_000));
    assert_eq!(
        lan.entered(B, State::Master)[1],
        (at(30_601_562_500), Reason::PeerStopped)
    );
    assert_eq!(lan.nodes[A].state(), State::Initialize);

    // A restarts at 40 s and preempts B after its own MDI(103); then A crashes at 50 s and B
    // takes over 3.6015625 s after A's last advert (49.59765625 s): 3.2 s after the crash.
    lan.at(at(40_000_000_000), A, |n, now| {
        n.startup(now);
        n.set_priority(103, now);
    });
    lan.run_until(at(50_000_000_000));
    assert_eq!(
        lan.entered(A, State::Master)[2],
        (at(43_597_656_250), Reason::Preempt)
    );
    lan.up[A] = false;
    lan.run_until(at(60_000_000_000));
    assert_eq!(
        lan.entered(B, State::Master)[2],
        (at(53_199_218_750), Reason::MasterDown)
    );
    assert_eq!(lan.nodes[B].state(), State::Master);
    assert_eq!(lan.nodes[B].stats().became_master, 3);
    assert_eq!(lan.nodes[B].stats().released_master, 2);
}

#[test]
fn seed_equal_weights_tie_is_broken_by_address_only_between_masters() {
    // Reference §2: with `weight 1` a failure on A gives 101 vs 101. A master at 101 keeps the
    // role against B (backup, 101, higher address): only a master breaks ties.
    let t = t0();
    let at = |n: u64| t + ns(n);
    let mut lan = Lan::new(
        vec![seed_box(101, [192, 0, 2, 1]), seed_box(100, [192, 0, 2, 2])],
        t,
    );
    lan.at(t, 0, |n, now| {
        n.startup(now);
        n.set_priority(102, now);
    });
    lan.at(t, 1, |n, now| {
        n.startup(now);
        n.set_priority(101, now);
    });
    lan.run_until(at(10_000_000_000));
    lan.at(at(10_000_000_000), 0, |n, now| n.set_priority(101, now));
    lan.run_until(at(40_000_000_000));
    assert_eq!(lan.entered(0, State::Master).len(), 1);
    assert_eq!(lan.entered(1, State::Master), vec![]);

    // Both masters at once (simultaneous start, equal priority): the higher address wins.
    let mut lan = Lan::new(
        vec![seed_box(100, [192, 0, 2, 1]), seed_box(100, [192, 0, 2, 2])],
        t,
    );
    lan.at(t, 0, |n, now| n.startup(now));
    lan.at(t, 1, |n, now| n.startup(now));
    lan.run_until(at(20_000_000_000));
    assert_eq!(lan.nodes[0].state(), State::Backup);
    assert_eq!(lan.nodes[1].state(), State::Master);
    assert_eq!(
        lan.entered(1, State::Master),
        vec![(at(3_609_375_000), Reason::MasterDown)]
    );
    assert_eq!(
        lan.entered(0, State::Master),
        vec![(at(3_609_375_000), Reason::MasterDown)]
    );
    assert_eq!(
        lan.entered(0, State::Backup)[1],
        (at(3_609_375_000), Reason::HigherPriority)
    );
}

// ---------------------------------------------------------------------------------------------
// vrrp_sync_group members, reload resume, STATS_CLEAR (keepalived vrrp_sync.c, reference §1.7)
// ---------------------------------------------------------------------------------------------

#[test]
fn sync_member_waits_for_the_group_when_its_down_timer_fires() {
    let t = t0();
    let cfg = v2(100);
    let down = mdi(&cfg, 100);
    let mut inst = backup(cfg.clone(), t);
    inst.set_sync_member(true);
    inst.handle_timeout(t + down);
    assert_eq!(drain(&mut inst), vec![], "no transition without the group");
    assert_eq!(inst.state(), State::Backup);
    assert!(inst.wants_master());
    // It waits another Master_Down_Interval (keepalived re-arms ms_down_timer).
    assert_eq!(inst.poll_timeout(), Some(t + down + down));
    // The group grants it: RFC 3768 §6.4.2's Master_Down_Timer actions, same reason.
    inst.sync_go_master(t + down + ms(5));
    assert_eq!(
        drain(&mut inst),
        become_master_actions(100, State::Backup, Reason::MasterDown)
    );
    assert!(!inst.wants_master());
}

#[test]
fn sync_member_hearing_a_master_again_is_no_longer_ready_and_ignores_a_late_grant() {
    let t = t0();
    let cfg = v2(100);
    let down = mdi(&cfg, 100);
    let mut inst = backup(cfg.clone(), t);
    inst.set_sync_member(true);
    inst.handle_timeout(t + down);
    assert!(inst.wants_master());
    inst.handle_advert(&advert(&cfg, 101), HIGHER_ADDR, t + down + ms(10))
        .unwrap();
    assert!(!inst.wants_master());
    inst.sync_go_master(t + down + ms(20));
    assert_eq!(drain(&mut inst), vec![]);
    assert_eq!(inst.state(), State::Backup);
    // Leaving the group restores RFC behaviour: the timer makes it master.
    inst.set_sync_member(false);
    let next = inst.poll_timeout().unwrap();
    inst.handle_timeout(next);
    assert_eq!(inst.state(), State::Master);
}

#[test]
fn sync_step_down_releases_the_addresses_silently_and_waits_a_down_interval() {
    let t = t0();
    let cfg = v2(100);
    let (mut inst, tm) = master(cfg.clone(), t);
    let at = tm + ms(300);
    inst.sync_step_down(at);
    assert_eq!(
        drain(&mut inst),
        vec![
            Action::DelVips,
            notify(State::Master, State::Backup, Reason::SyncGroup)
        ]
    );
    assert_eq!(inst.poll_timeout(), Some(at + mdi(&cfg, 100)));
    // Only a master steps down.
    inst.sync_step_down(at + ms(1));
    assert_eq!(drain(&mut inst), vec![]);
}

#[test]
fn resume_master_after_reload_goes_master_at_once_or_fault() {
    let t = t0();
    let mut inst = Instance::new(v2(101));
    inst.resume_master(t);
    assert_eq!(
        drain(&mut inst),
        become_master_actions(101, State::Initialize, Reason::Reload)
    );
    // Already running: ignored.
    inst.resume_master(t + ms(1));
    assert_eq!(drain(&mut inst), vec![]);
    let mut faulted = Instance::new(v2(101));
    faulted.set_fault(true, t);
    faulted.resume_master(t);
    assert_eq!(
        drain(&mut faulted),
        vec![notify(State::Initialize, State::Fault, Reason::Fault)]
    );
}

#[test]
fn clear_stats_zeroes_the_counters() {
    let t = t0();
    let (mut inst, _) = master(v2(100), t);
    assert!(inst.stats().adverts_tx > 0);
    inst.clear_stats();
    assert_eq!(inst.stats(), &lbcore::vrrp::fsm::Stats::default());
}

//! Interop with Debian's keepalived 2.2.7 in one VRID, both directions (vrrpd master / keepalived
//! backup, and the reverse), VRRPv2 with PASS authentication and VRRPv3: election, priority-0
//! handoff, the master's return (preemption across implementations) and crash takeover.
//!
//! A box that rejected its peer's adverts (checksum, authentication, interval) would claim the VIP
//! as well; the election step catches that as "not the only holder".

use std::time::Duration;

use anyhow::{Result, ensure};
use system_tests::capture::adverts_from;
use system_tests::{Event, Impl, Instance, Node, Pair, checks, root_or_skip};

fn interop(test: &str, imp_a: Impl, imp_b: Impl, version: u8) -> Result<()> {
    let (mut a, mut b) = (Instance::seed(true), Instance::seed(false));
    if version == 3 {
        a = a.v3(Duration::from_secs(1));
        b = b.v3(Duration::from_secs(1));
    }
    let mut pair = Pair::start(test, imp_a, a, imp_b, b)?;
    let vip = pair.vip();

    // Election: A (priority 101) is the only holder, the client reaches it at A's MAC, and only A
    // advertises once it is master.
    let bound = pair.election_bound();
    let elected = pair.wait_master(Node::A, bound)?;
    pair.lab
        .wait_client_reaches(Node::A, vip, Duration::from_secs(3))?;
    pair.lab.sleep(Duration::from_millis(2500));
    pair.wait_master(Node::A, Duration::from_millis(10))?;
    let frames = pair.frames()?;
    let settled = elected.stamp.epoch_secs() + 0.1;
    let late_b = adverts_from(&frames, &Node::B.mac())
        .filter(|(f, _)| f.epoch_secs() > settled)
        .count();
    ensure!(late_b == 0, "B sent {late_b} adverts while A was master");
    let from_a: Vec<_> = adverts_from(&frames, &Node::A.mac())
        .filter(|(f, _)| f.epoch_secs() > settled)
        .map(|(_, a)| a.clone())
        .collect();
    ensure!(
        from_a.len() >= 2,
        "A sent {} adverts in 2.5 s",
        from_a.len()
    );
    ensure!(
        from_a
            .iter()
            .all(|a| a.version == version && a.vrid == 51 && a.priority == 101),
        "unexpected adverts from A: {from_a:?}"
    );

    // Priority-0 handoff.
    let f = pair.failover(Event::Sigterm, Duration::from_secs(1))?;
    checks::priority_zero_handover(&pair, &f, Duration::from_millis(200))?;
    pair.lab
        .wait_client_reaches(Node::B, vip, Duration::from_secs(2))?;

    // A returns and preempts: B must yield to the other implementation's higher priority.
    pair.restore(Event::Sigterm)?;
    let bound = pair.election_bound();
    pair.wait_master(Node::A, bound)?;

    // Crash takeover.
    let f = pair.failover(Event::Sigkill, Duration::from_secs(1))?;
    checks::silent_failover(&pair, &f, Duration::from_millis(300))?;
    pair.lab
        .wait_client_reaches(Node::B, vip, Duration::from_secs(1))?;
    pair.b.ensure_running()
}

#[test]
fn v2_pass_vrrpd_master_keepalived_backup() -> Result<()> {
    if !root_or_skip("v2_pass_vrrpd_master_keepalived_backup") {
        return Ok(());
    }
    interop("iov2ours", Impl::ours(), Impl::Keepalived, 2)
}

#[test]
fn v2_pass_keepalived_master_vrrpd_backup() -> Result<()> {
    if !root_or_skip("v2_pass_keepalived_master_vrrpd_backup") {
        return Ok(());
    }
    interop("iov2ka", Impl::Keepalived, Impl::ours(), 2)
}

#[test]
fn v3_vrrpd_master_keepalived_backup() -> Result<()> {
    if !root_or_skip("v3_vrrpd_master_keepalived_backup") {
        return Ok(());
    }
    interop("iov3ours", Impl::ours(), Impl::Keepalived, 3)
}

#[test]
fn v3_keepalived_master_vrrpd_backup() -> Result<()> {
    if !root_or_skip("v3_keepalived_master_vrrpd_backup") {
        return Ok(());
    }
    interop("iov3ka", Impl::Keepalived, Impl::ours(), 3)
}

//! `track_interface` in the lab (both boxes run vrrpd with the seed's instance):
//! - a tracked extra interface of the master goes down → the master enters FAULT, sends
//!   priority 0 and the backup takes over within Skew_Time; the link back up → the master leaves
//!   FAULT and, with preemption, takes the VIP back after its Master_Down_Interval;
//! - the master's own interface (tracked by default) loses carrier → FAULT, the backup takes
//!   over after its Master_Down_Interval (it hears nothing); carrier back → preemption.
//!
//! Bounds: RFC 3768 §6.1 Skew_Time / Master_Down_Interval of the box taking over, plus the
//! margins of `system_tests::checks` (HANDOVER_MARGIN, SILENT_MARGIN) and the time vrrpd needs
//! to see the link event (rtnetlink, milliseconds) inside them.

use std::time::Duration;

use anyhow::{Result, ensure};
use system_tests::checks::{HANDOVER_MARGIN, SILENT_MARGIN};
use system_tests::lab::ip;
use system_tests::{Impl, Instance, Lab, Node, root_or_skip};

/// The seed instance with `track_interface { IF }` added.
fn with_tracked(instance: &Instance, iface: &str) -> String {
    let conf = instance.render();
    let body = conf.strip_suffix("}\n").unwrap_or(&conf);
    format!("{body}    track_interface {{\n        {iface}\n    }}\n}}\n")
}

/// Slack for start-up before the first election (binaries starting in namespaces).
const START: Duration = Duration::from_secs(3);

#[test]
fn tracked_interface_down_faults_the_master_and_the_backup_takes_over() -> Result<()> {
    if !root_or_skip("tracked_interface_down_faults_the_master_and_the_backup_takes_over") {
        return Ok(());
    }
    let lab = Lab::new("trackif")?;
    let ns_a = lab.ns(Node::A);
    // A second link of A, tracked: a veth pair inside A's namespace (no dummy module here).
    ip(&[
        "-n", &ns_a, "link", "add", "trk0", "type", "veth", "peer", "name", "trk0p",
    ])?;
    ip(&["-n", &ns_a, "link", "set", "trk0p", "up"])?;
    ip(&["-n", &ns_a, "link", "set", "trk0", "up"])?;
    let (conf_a, conf_b) = (Instance::seed(true), Instance::seed(false));
    let mut a = lab.start_conf(Node::A, Impl::ours(), &with_tracked(&conf_a, "trk0"))?;
    let mut b = lab.start_conf(Node::B, Impl::ours(), &conf_b.render())?;
    let vip = conf_a.vip();
    let bound = conf_a.master_down_interval() + START;
    lab.wait_sole_holder(Node::A, vip, bound)?;

    // Carrier lost (the peer end goes down) → FAULT → priority 0 → B takes over after its Skew_Time (RFC 3768 §6.4.2).
    let down = system_tests::poll::Stamp::now();
    ip(&["-n", &ns_a, "link", "set", "trk0p", "down"])?;
    let seen = lab.wait_sole_holder(Node::B, vip, Duration::from_secs(3))?;
    let took = seen.stamp.since(down);
    let limit = conf_b.skew_time() + HANDOVER_MARGIN;
    ensure!(
        took <= limit,
        "B took over {took:?} after the tracked link went down (limit {limit:?})\n{}",
        a.output()
    );
    a.proc()
        .wait_output("(VI_1) Entering FAULT STATE", Duration::from_secs(1))?;
    ensure!(
        a.output().contains("(VI_1) sent 0 priority"),
        "A did not send a priority-0 advert on FAULT:\n{}",
        a.output()
    );

    // Link up → A leaves FAULT as backup and preempts B after its Master_Down_Interval.
    let up = system_tests::poll::Stamp::now();
    ip(&["-n", &ns_a, "link", "set", "trk0p", "up"])?;
    let back_bound = conf_a.master_down_interval() + SILENT_MARGIN + Duration::from_secs(1);
    let seen = lab.wait_sole_holder(Node::A, vip, back_bound)?;
    let took = seen.stamp.since(up);
    ensure!(
        took >= conf_a.master_down_interval().saturating_sub(SILENT_MARGIN),
        "A preempted after {took:?}, before its Master_Down_Interval"
    );
    a.ensure_running()?;
    b.ensure_running()?;
    Ok(())
}

#[test]
fn primary_interface_carrier_loss_faults_the_master_and_preempts_when_back() -> Result<()> {
    if !root_or_skip("primary_interface_carrier_loss_faults_the_master_and_preempts_when_back") {
        return Ok(());
    }
    let lab = Lab::new("trackprim")?;
    let (conf_a, conf_b) = (Instance::seed(true), Instance::seed(false));
    let mut a = lab.start_conf(Node::A, Impl::ours(), &conf_a.render())?;
    let mut b = lab.start_conf(Node::B, Impl::ours(), &conf_b.render())?;
    let vip = conf_a.vip();
    lab.wait_sole_holder(Node::A, vip, conf_a.master_down_interval() + START)?;

    // Cable out: A's eth0 loses carrier → FAULT (VIP released); B hears nothing and takes over
    // after its Master_Down_Interval.
    let down = lab.link_down(Node::A)?;
    a.proc()
        .wait_output("(VI_1) Entering FAULT STATE", Duration::from_secs(2))?;
    lab.wait_released(Node::A, vip, Duration::from_secs(1))?;
    let limit = conf_b.master_down_interval() + SILENT_MARGIN;
    let seen = lab.wait_holds(Node::B, vip, limit + Duration::from_secs(1))?;
    let took = seen.stamp.since(down);
    ensure!(
        took <= limit,
        "B took over after {took:?} (limit {limit:?})"
    );

    // Cable back: A leaves FAULT and preempts (priority 101 > 100).
    lab.link_up(Node::A)?;
    let back_bound = conf_a.master_down_interval() + SILENT_MARGIN + Duration::from_secs(2);
    lab.wait_sole_holder(Node::A, vip, back_bound)?;
    a.ensure_running()?;
    b.ensure_running()?;
    Ok(())
}

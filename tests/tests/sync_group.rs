//! `vrrp_sync_group` in the lab (keepalived semantics, reference §1.7): box A (vrrpd, priority
//! 101) and box B (priority 100) each run a group `G` of two instances, VI_51 and VI_52 (VIPs
//! 192.0.2.100 and 192.0.2.101); a weight-0 tracker on VI_51 of A only.
//! - Election: A masters both.
//! - The tracker fails → VI_51 enters FAULT and takes VI_52 with it (the group holds every
//!   member in FAULT): both send priority 0, B holds both VIPs within its Skew_Time; VI_52
//!   stays in FAULT (a VI_52 on its own, at 101, would preempt B after its Master_Down_Interval).
//! - The tracker recovers → both leave FAULT together and take both VIPs back after A's
//!   Master_Down_Interval (B's lower-priority adverts are discarded).
//! - Group notifications carry priority 0: FIFO lines `GROUP "G" MASTER 0` and the group's
//!   generic `notify` script run as `GROUP G MASTER 0`, in the order of the group's states; the
//!   log says `VRRP_Group(G) Syncing instances to MASTER state`.
//!
//! Two variants: B runs vrrpd and the tracker is a `track_interface` (a veth of A losing
//! carrier); B runs Debian's keepalived 2.2.7 (interop of the two groups) and the tracker is a
//! file-exists `vrrp_script` (interval 1, rise 1, fall 1, weight 0).
//!
//! Bounds: RFC 3768 §6.1 Skew_Time / Master_Down_Interval of the box taking over, plus the margins
//! of `system_tests::checks` (HANDOVER_MARGIN, SILENT_MARGIN), plus, for the script, one script
//! interval (the next run is what notices the change).

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use system_tests::capture::adverts_from;
use system_tests::checks::{HANDOVER_MARGIN, SILENT_MARGIN};
use system_tests::config::{AUTH_PASS, IFACE, master_down_interval, skew_time};
use system_tests::lab::ip;
use system_tests::ops::{self, Fifo};
use system_tests::poll::Stamp;
use system_tests::{Daemon, Impl, Lab, Node, root_or_skip};

/// The members: (instance name, VRID, VIP).
const MEMBERS: [(&str, u8, &str); 2] = [("VI_51", 51, "192.0.2.100"), ("VI_52", 52, "192.0.2.101")];
/// Start-up slack before the first election (binaries starting in namespaces).
const START: Duration = Duration::from_secs(3);
const ADVERT_INT: Duration = Duration::from_secs(1);
/// The script tracker's `interval`.
const SCRIPT_INTERVAL: Duration = Duration::from_secs(1);

/// What fails on A's VI_51.
#[derive(Clone, Copy, Debug)]
enum Trigger {
    /// `track_interface { trk0 }`: a veth of A whose peer end goes down.
    Interface,
    /// `track_script { chk_up }`: `/usr/bin/test -e <dir>/up`, weight 0.
    Script,
}

/// keepalived.conf of one box: global FIFO, group `G` with a generic notify script, both
/// members; `trigger` tracked by VI_51 when given.
fn conf(
    box_name: &str,
    master: bool,
    priority: u8,
    dir: &Path,
    trigger: Option<Trigger>,
) -> String {
    let mut s = format!(
        "global_defs {{\n    router_id {box_name}\n    notify_fifo {}\n}}\n",
        dir.join(format!("{box_name}.fifo")).display()
    );
    if let Some(Trigger::Script) = trigger {
        let _ = write!(
            s,
            "vrrp_script chk_up {{\n    script \"/usr/bin/test -e {}\"\n    interval {}\n    \
             rise 1\n    fall 1\n    weight 0\n}}\n",
            dir.join("up").display(),
            SCRIPT_INTERVAL.as_secs()
        );
    }
    let _ = write!(
        s,
        "vrrp_sync_group G {{\n    group {{\n        VI_51\n        VI_52\n    }}\n    \
         notify \"{} {} generic\"\n}}\n",
        dir.join("rec.sh").display(),
        dir.join(format!("{box_name}.log")).display()
    );
    for (name, vrid, vip) in MEMBERS {
        let _ = write!(
            s,
            "vrrp_instance {name} {{\n    interface {IFACE}\n    state {}\n    priority {priority}\n    \
             virtual_router_id {vrid}\n    advert_int {}\n    authentication {{\n        \
             auth_type PASS\n        auth_pass {AUTH_PASS}\n    }}\n    virtual_ipaddress {{\n        \
             {vip}/32 dev {IFACE}\n    }}\n",
            if master { "MASTER" } else { "BACKUP" },
            ADVERT_INT.as_secs()
        );
        match (vrid, trigger) {
            (51, Some(Trigger::Interface)) => {
                s.push_str("    track_interface {\n        trk0\n    }\n");
            }
            (51, Some(Trigger::Script)) => {
                s.push_str("    track_script {\n        chk_up\n    }\n")
            }
            _ => {}
        }
        s.push_str("}\n");
    }
    s
}

/// Both VIPs held by `node` alone.
fn sole_holder_of_both(lab: &Lab, node: Node) -> Result<bool> {
    for (_, _, vip) in MEMBERS {
        if lab.holders(vip)?.single() != Some(node) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn wait_both(lab: &Lab, node: Node, timeout: Duration) -> Result<Stamp> {
    let seen = lab.poll(
        &format!("box {} to be the only holder of both VIPs", node.label()),
        timeout,
        || Ok(sole_holder_of_both(lab, node)?.then_some(())),
    )?;
    Ok(seen.stamp)
}

/// The `generic GROUP ...` lines the group's notify script recorded.
fn script_group_lines(dir: &Path, box_name: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("{box_name}.log")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("generic "))
        .filter(|l| l.starts_with("GROUP "))
        .map(str::to_owned)
        .collect()
}

fn states_of(a: &mut Daemon, dir: &Path) -> Result<Vec<(String, String)>> {
    let rows = ops::status(&ops::ctl_path(dir, a))?;
    Ok(rows.into_iter().map(|r| (r.name, r.state)).collect())
}

fn fault_then_recover(test: &str, imp_b: Impl, trigger: Trigger) -> Result<()> {
    let lab = Lab::new(test)?;
    let dir = lab.dir().to_path_buf();
    std::fs::write(
        dir.join("rec.sh"),
        "#!/bin/sh\nlog=$1\ntag=$2\nshift 2\necho \"$tag $*\" >> \"$log\"\n",
    )?;
    std::fs::set_permissions(dir.join("rec.sh"), std::fs::Permissions::from_mode(0o755))?;
    let mut fifo_a = Fifo::create(&dir.join("lbA.fifo"))?;
    let mut fifo_b = Fifo::create(&dir.join("lbB.fifo"))?;
    let ns_a = lab.ns(Node::A);
    match trigger {
        Trigger::Interface => {
            // A second link of A, tracked: a veth pair inside A's namespace.
            ip(&[
                "-n", &ns_a, "link", "add", "trk0", "type", "veth", "peer", "name", "trk0p",
            ])?;
            ip(&["-n", &ns_a, "link", "set", "trk0p", "up"])?;
            ip(&["-n", &ns_a, "link", "set", "trk0", "up"])?;
        }
        Trigger::Script => std::fs::write(dir.join("up"), "")?,
    }
    let capture = lab.capture()?;

    // Election: A first, so the election has one outcome.
    let mut a = lab.start_conf(
        Node::A,
        Impl::ours(),
        &conf("lbA", true, 101, &dir, Some(trigger)),
    )?;
    let mdi_a = master_down_interval(2, 101, ADVERT_INT);
    wait_both(&lab, Node::A, mdi_a + START).with_context(|| a.output())?;
    let mut b = lab.start_conf(Node::B, imp_b, &conf("lbB", false, 100, &dir, None))?;
    for (name, _, _) in MEMBERS {
        b.proc()
            .wait_output(&format!("({name}) Entering BACKUP STATE"), START)?;
    }
    ensure!(sole_holder_of_both(&lab, Node::A)?, "B took a VIP at start");
    a.proc().wait_output(
        "VRRP_Group(G) Syncing instances to MASTER state",
        Duration::from_secs(1),
    )?;
    ensure!(
        states_of(&mut a, &dir)?
            == [
                ("VI_51".into(), "MASTER".into()),
                ("VI_52".into(), "MASTER".into())
            ],
        "A's status: {:?}",
        states_of(&mut a, &dir)?
    );

    // The tracker fails on VI_51 only.
    let fail = Stamp::now();
    let detect = match trigger {
        Trigger::Interface => {
            ip(&["-n", &ns_a, "link", "set", "trk0p", "down"])?;
            Duration::ZERO
        }
        Trigger::Script => {
            std::fs::remove_file(dir.join("up"))?;
            SCRIPT_INTERVAL
        }
    };
    // RFC 3768 §6.4.2: B's Master_Down_Timer is Skew_Time after A's priority-0 adverts.
    let limit = detect + skew_time(2, 100, ADVERT_INT) + HANDOVER_MARGIN;
    let took = wait_both(&lab, Node::B, limit + Duration::from_secs(2))?.since(fail);
    ensure!(
        took <= limit,
        "B held both VIPs {took:?} after the tracker failed (limit {limit:?})\nA:\n{}",
        a.output()
    );
    for (name, _, _) in MEMBERS {
        a.proc().wait_output(
            &format!("({name}) Entering FAULT STATE"),
            Duration::from_secs(1),
        )?;
    }
    a.proc().wait_output(
        "VRRP_Group(G) Syncing instances to FAULT state",
        Duration::from_secs(1),
    )?;
    // Both members said goodbye with priority 0 (VI_52 because its group faulted).
    let frames = capture.frames()?;
    for (name, vrid, _) in MEMBERS {
        let zero = adverts_from(&frames, &Node::A.mac())
            .filter(|(f, a)| f.wall >= fail.wall && a.vrid == vrid && a.priority == 0)
            .count();
        ensure!(
            zero >= 1,
            "no priority-0 advert from A's {name} after the fault"
        );
    }
    // The group holds VI_52 in FAULT while VI_51 is: for one of A's Master_Down_Intervals (after
    // which a free VI_52 at 101 would have preempted B) + margin, B keeps both VIPs.
    let hold = mdi_a + SILENT_MARGIN;
    system_tests::poll::hold_for(
        "B keeps both VIPs while A's group is in FAULT",
        hold,
        Duration::from_millis(20),
        || Ok((!sole_holder_of_both(&lab, Node::B)?).then_some("a VIP left B")),
    )?;
    let states = states_of(&mut a, &dir)?;
    ensure!(
        states
            == [
                ("VI_51".into(), "FAULT".into()),
                ("VI_52".into(), "FAULT".into())
            ],
        "A's status while the tracker is down: {states:?}"
    );

    // The tracker recovers: both members leave FAULT as backups, and preempt B together once
    // their Master_Down_Interval has run out (RFC 3768 §6.4.2: lower-priority adverts are
    // discarded, so nothing resets it).
    let recover = Stamp::now();
    let detect = match trigger {
        Trigger::Interface => {
            ip(&["-n", &ns_a, "link", "set", "trk0p", "up"])?;
            Duration::ZERO
        }
        Trigger::Script => {
            std::fs::write(dir.join("up"), "")?;
            SCRIPT_INTERVAL
        }
    };
    let limit = detect + mdi_a + SILENT_MARGIN;
    let took = wait_both(&lab, Node::A, limit + Duration::from_secs(2))?.since(recover);
    ensure!(
        took <= limit && took >= mdi_a,
        "A held both VIPs again {took:?} after the tracker recovered (RFC: {mdi_a:?} .. \
         {limit:?})\nA:\n{}",
        a.output()
    );
    ensure!(
        a.output()
            .matches("VRRP_Group(G) Syncing instances to MASTER state")
            .count()
            == 2,
        "A's group went master twice:\n{}",
        a.output()
    );

    // Stop A: its group announces STOP.
    a.sigterm()?;
    a.wait_exit(Duration::from_secs(5))?;
    wait_both(
        &lab,
        Node::B,
        skew_time(2, 100, ADVERT_INT) + Duration::from_secs(2),
    )?;

    // Group notifications: priority 0, the group's states in order (FIFO and generic script).
    let want_a = ["BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER", "STOP"]
        .map(|s| format!("GROUP \"G\" {s} 0"));
    let got_a = fifo_a.lines_with("GROUP ");
    ensure!(
        got_a == want_a,
        "A's FIFO group lines: {got_a:#?}\nall: {}",
        fifo_a.read()
    );
    let script_a = script_group_lines(&dir, "lbA");
    let want_script: Vec<String> = want_a.iter().map(|l| l.replace('"', "")).collect();
    // The generic script runs asynchronously: wait (bounded) for the last one.
    lab.poll(
        "A's generic notify script for GROUP G STOP",
        Duration::from_secs(2),
        || Ok((script_group_lines(&dir, "lbA").len() >= want_script.len()).then_some(())),
    )
    .with_context(|| format!("{script_a:?}"))?;
    let script_a = script_group_lines(&dir, "lbA");
    ensure!(
        script_a == want_script,
        "A's group notify script: {script_a:#?}"
    );
    // A member's own lines: VI_52 entered FAULT because of its group.
    ensure!(
        fifo_a.lines_with("INSTANCE \"VI_52\" FAULT").len() == 1,
        "A's FIFO: {}",
        fifo_a.read()
    );

    // B's group (vrrpd or keepalived): backup, master when A faulted, backup when A came back,
    // master when A stopped; every line with priority 0.
    let got_b = fifo_b.lines_with("GROUP ");
    let want_b = ["BACKUP", "MASTER", "BACKUP", "MASTER"].map(|s| format!("GROUP \"G\" {s} 0"));
    eprintln!("{}: B's group lines {got_b:?}", imp_b.label());
    ensure!(
        got_b == want_b,
        "B's ({}) FIFO group lines: {got_b:#?}",
        imp_b.label()
    );
    b.ensure_running()?;
    capture.stop()?;
    Ok(())
}

#[test]
fn a_member_fault_faults_the_whole_group_and_the_peer_group_takes_both_vips() -> Result<()> {
    if !root_or_skip("a_member_fault_faults_the_whole_group_and_the_peer_group_takes_both_vips") {
        return Ok(());
    }
    fault_then_recover("syncgrp", Impl::ours(), Trigger::Interface)
}

#[test]
fn our_group_against_a_keepalived_group_with_a_script_tracker() -> Result<()> {
    if !root_or_skip("our_group_against_a_keepalived_group_with_a_script_tracker") {
        return Ok(());
    }
    fault_then_recover("syncka", Impl::Keepalived, Trigger::Script)
}

//! Notifications in the lab (both boxes run vrrpd with the seed's instance plus notify scripts,
//! a notify FIFO and `smtp_alert` towards a real SMTP server, Debian's aiosmtpd, started on box
//! A's LAN address): across the election and a failover (A stopped with SIGTERM), then B
//! stopped:
//! - one mail per transition, with keepalived's subjects (`[lbA] VRRP Instance VI_1 - Entering
//!   MASTER state`, ..., `- Stopping`);
//! - the generic `notify` script ran with keepalived's four arguments, `notify_master` with none;
//! - the FIFO carried keepalived's lines (`INSTANCE "VI_1" MASTER 101`).

//!
//! The three events that are not state changes (keepalived 2.2.7), end to end through running
//! daemons, without mail:
//! - `MASTER_RX_LOWER_PRI` after a split brain heals (VRRP cut both ways at B and restored at
//!   once; then cut at both boxes and restored A first): the master (A, 101) hears the other
//!   master's lower-priority advert: `notify_master_rx_lower_pri` runs with no argument, the FIFO
//!   gets `INSTANCE "VI_1" MASTER_RX_LOWER_PRI 101`, the generic `notify` does not run; B goes
//!   BACKUP;
//! - `MASTER_PRIORITY` / `BACKUP_PRIORITY` FIFO lines on each effective-priority change driven by
//!   a `track_file` with a weight, with `notify_priority_changes`; none without it.
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use system_tests::checks::{HANDOVER_MARGIN, SILENT_MARGIN};
use system_tests::ops::{self, Fifo};
use system_tests::poll::Stamp;
use system_tests::{Impl, Instance, Lab, Node, root_or_skip};

const SMTP_PORT: u16 = 2525;
/// Start-up slack before the first election (binaries starting in namespaces).
const START: Duration = Duration::from_secs(3);
/// How long a mail may take to arrive after its transition (the mail queue sends at once).
const MAIL_WAIT: Duration = Duration::from_secs(5);

fn conf(instance: &Instance, box_name: &str, dir: &Path) -> String {
    let log = dir.join(format!("{box_name}.log"));
    let script = dir.join("rec.sh");
    let fifo = dir.join(format!("{box_name}.fifo"));
    let global = format!(
        "global_defs {{\n    router_id {box_name}\n    notification_email {{\n        ops@example.com\n    }}\n    \
         notification_email_from vrrp-{box_name}@example.com\n    smtp_server {} {SMTP_PORT}\n    \
         smtp_connect_timeout 3\n    notify_fifo {}\n}}\n",
        Node::A.ip4(),
        fifo.display()
    );
    let inst = instance.render();
    let body = inst.strip_suffix("}\n").unwrap_or(&inst);
    format!(
        "{global}{body}    smtp_alert\n    notify_master \"{s} {l} master\"\n    notify \"{s} {l} generic\"\n}}\n",
        s = script.display(),
        l = log.display()
    )
}

fn subjects(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
        .collect()
}

fn read_all(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn drain(f: &mut std::fs::File) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn notify_scripts_fifo_and_one_mail_per_transition_across_a_failover() -> Result<()> {
    if !root_or_skip("notify_scripts_fifo_and_one_mail_per_transition_across_a_failover") {
        return Ok(());
    }
    let lab = Lab::new("notify")?;
    let dir = lab.dir().to_path_buf();
    std::fs::write(
        dir.join("rec.sh"),
        "#!/bin/sh\nlog=$1\ntag=$2\nshift 2\necho \"$tag $*\" >> \"$log\"\n",
    )?;
    std::fs::set_permissions(dir.join("rec.sh"), std::fs::Permissions::from_mode(0o755))?;
    // The FIFOs exist before vrrpd starts (so vrrpd keeps them at exit) and are read here.
    let mut readers = Vec::new();
    for b in ["lbA", "lbB"] {
        let p = dir.join(format!("{b}.fifo"));
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o644))?;
        readers.push(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&p)?,
        );
    }

    let smtpd_argv: Vec<String> = [
        "/usr/bin/python3",
        "-u",
        "-m",
        "aiosmtpd",
        "-n",
        "-l",
        &format!("{}:{SMTP_PORT}", Node::A.ip4()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut smtpd = lab.spawn(Node::A, "smtpd", &smtpd_argv)?;
    let smtp_out = dir.join(format!("{}.out", smtpd.name()));
    std::thread::sleep(Duration::from_millis(500));
    smtpd
        .ensure_running()
        .context("aiosmtpd (Debian python3-aiosmtpd) must run")?;

    let (ia, ib) = (Instance::seed(true), Instance::seed(false));
    // A first, so that the election has one outcome (both starting together may both time out
    // and both become master for a moment: real transitions, each with its mail).
    let mut a = lab.start_conf(Node::A, Impl::ours(), &conf(&ia, "lbA", &dir))?;
    let vip = ia.vip();
    lab.wait_sole_holder(Node::A, vip, ia.master_down_interval() + START)?;
    let mut b = lab.start_conf(Node::B, Impl::ours(), &conf(&ib, "lbB", &dir))?;
    b.proc()
        .wait_output("(VI_1) Entering BACKUP STATE", START)?;

    let wait_mail = |want: &str| -> Result<()> {
        let start = Stamp::now();
        loop {
            if subjects(&read_all(&smtp_out)).iter().any(|s| s == want) {
                return Ok(());
            }
            ensure!(
                Stamp::now().since(start) < MAIL_WAIT,
                "no mail {want:?}; received:\n{}",
                read_all(&smtp_out)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_mail("[lbA] VRRP Instance VI_1 - Entering MASTER state")?;
    wait_mail("[lbB] VRRP Instance VI_1 - Entering BACKUP state")?;

    // Failover: A stops (priority 0), B takes over.
    a.sigterm()?;
    lab.wait_sole_holder(Node::B, vip, ib.skew_time() + Duration::from_secs(2))?;
    a.wait_exit(Duration::from_secs(5))?;
    wait_mail("[lbB] VRRP Instance VI_1 - Entering MASTER state")?;
    wait_mail("[lbA] VRRP Instance VI_1 - Stopping")?;
    b.sigterm()?;
    b.wait_exit(Duration::from_secs(5))?;
    wait_mail("[lbB] VRRP Instance VI_1 - Stopping")?;

    // One mail per transition, nothing else.
    let mut got = subjects(&read_all(&smtp_out));
    got.sort();
    let mut want = vec![
        "[lbA] VRRP Instance VI_1 - Entering BACKUP state",
        "[lbA] VRRP Instance VI_1 - Entering MASTER state",
        "[lbA] VRRP Instance VI_1 - Stopping",
        "[lbB] VRRP Instance VI_1 - Entering BACKUP state",
        "[lbB] VRRP Instance VI_1 - Entering MASTER state",
        "[lbB] VRRP Instance VI_1 - Stopping",
    ];
    want.sort_unstable();
    ensure!(
        got == want,
        "mails: {got:#?}\n{}\nA:\n{}\nB:\n{}",
        read_all(&smtp_out),
        a.output(),
        b.output()
    );
    let out = read_all(&smtp_out);
    ensure!(out.contains("X-Mailer: Keepalived"), "{out}");
    ensure!(
        out.contains("=> VRRP Instance is now owning VRRP VIPs <="),
        "{out}"
    );

    // Scripts: the generic one with keepalived's four arguments, notify_master with none. Each
    // box's own order of transitions; the STOP scripts ran before the daemon exited.
    let log_a = read_all(&dir.join("lbA.log"));
    let log_b = read_all(&dir.join("lbB.log"));
    let generic = |log: &str| -> Vec<String> {
        log.lines()
            .filter_map(|l| l.strip_prefix("generic ").map(str::to_string))
            .collect()
    };
    ensure!(
        generic(&log_a)
            == [
                "INSTANCE VI_1 BACKUP 101",
                "INSTANCE VI_1 MASTER 101",
                "INSTANCE VI_1 STOP 101"
            ],
        "A's generic notify: {log_a}"
    );
    ensure!(
        generic(&log_b)
            == [
                "INSTANCE VI_1 BACKUP 100",
                "INSTANCE VI_1 MASTER 100",
                "INSTANCE VI_1 STOP 100"
            ],
        "B's generic notify: {log_b}"
    );
    for (name, log) in [("A", &log_a), ("B", &log_b)] {
        let masters: Vec<_> = log.lines().filter(|l| l.starts_with("master")).collect();
        ensure!(masters == ["master "], "{name}'s notify_master: {log}");
    }

    // FIFO lines, in order.
    let fifo_a = drain(&mut readers[0]);
    let fifo_b = drain(&mut readers[1]);
    ensure!(
        fifo_a
            == "INSTANCE \"VI_1\" BACKUP 101\nINSTANCE \"VI_1\" MASTER 101\nINSTANCE \"VI_1\" STOP 101\n",
        "A's fifo: {fifo_a:?}"
    );
    ensure!(
        fifo_b
            == "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\nINSTANCE \"VI_1\" STOP 100\n",
        "B's fifo: {fifo_b:?}"
    );
    Ok(())
}

// ---- events that are not state changes -----------------------------------------------------

/// How long a FIFO line or a script may take after the event that causes it: the notify task
/// writes lines within ~22 ms of the event (docs/vrrpd.md); the rest is slack for two shared
/// cores and the 10 ms poll.
const EVENT_MARGIN: Duration = Duration::from_millis(500);
/// Bound on a `track_file` write reaching the FIFO: inotify, tracker, hub, driver and the notify
/// task are all event driven (no polling), so this is [`EVENT_MARGIN`] only.
const TRACK_FILE_WAIT: Duration = EVENT_MARGIN;

/// A script appending `TAG ARGS...` to the log file given as its first argument.
fn write_rec(dir: &Path) -> Result<()> {
    let path = dir.join("rec.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nlog=$1\ntag=$2\nshift 2\necho \"$tag $*\" >> \"$log\"\n",
    )?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// keepalived.conf without mail: a notify FIFO `<dir>/<box>.fifo`, `prelude` (top-level blocks)
/// before the instance, `extra` (instance keywords) inside it.
fn event_conf(
    instance: &Instance,
    box_name: &str,
    dir: &Path,
    prelude: &str,
    extra: &str,
) -> String {
    let fifo = dir.join(format!("{box_name}.fifo"));
    let inst = instance.render();
    let body = inst.strip_suffix("}\n").unwrap_or(&inst);
    format!(
        "global_defs {{\n    router_id {box_name}\n    notify_fifo {}\n}}\n{prelude}{body}{extra}}}\n",
        fifo.display()
    )
}

/// The lines of a `rec.sh` log that start with `tag ` (the tag and its space removed).
fn tagged(log: &str, tag: &str) -> Vec<String> {
    let prefix = format!("{tag} ");
    log.lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// Waits (bounded, 10 ms polls) until `path` holds at least `count` lines tagged `tag`.
fn wait_tagged(lab: &Lab, path: &Path, tag: &str, count: usize, timeout: Duration) -> Result<()> {
    lab.poll(
        &format!("{count} {tag:?} line(s) in {}", path.display()),
        timeout,
        || Ok((tagged(&read_all(path), tag).len() >= count).then_some(())),
    )
    .with_context(|| format!("{}:\n{}", path.display(), read_all(path)))?;
    Ok(())
}

#[test]
fn split_brain_heal_master_announces_lower_priority_advert_and_b_backs_off() -> Result<()> {
    if !root_or_skip("split_brain_heal_master_announces_lower_priority_advert_and_b_backs_off") {
        return Ok(());
    }
    let lab = Lab::new("rxlower")?;
    let dir = lab.dir().to_path_buf();
    write_rec(&dir)?;
    let mut fifo_a = Fifo::create(&dir.join("lbA.fifo"))?;
    let mut fifo_b = Fifo::create(&dir.join("lbB.fifo"))?;
    let scripts = |b: &str| {
        format!(
            "    notify_master_rx_lower_pri \"{s} {l} rxlower\"\n    notify \"{s} {l} generic\"\n",
            s = dir.join("rec.sh").display(),
            l = dir.join(format!("{b}.log")).display()
        )
    };
    let (log_a, log_b) = (dir.join("lbA.log"), dir.join("lbB.log"));
    let (ia, ib) = (Instance::seed(true), Instance::seed(false));
    let vip = ia.vip();
    let rx_lower = "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 101";
    let b_backup = "INSTANCE \"VI_1\" BACKUP 100";
    let mut a = lab.start_conf(
        Node::A,
        Impl::ours(),
        &event_conf(&ia, "lbA", &dir, "", &scripts("lbA")),
    )?;
    lab.wait_sole_holder(Node::A, vip, ia.master_down_interval() + START)?;
    let mut b = lab.start_conf(
        Node::B,
        Impl::ours(),
        &event_conf(&ib, "lbB", &dir, "", &scripts("lbB")),
    )?;
    b.proc()
        .wait_output("(VI_1) Entering BACKUP STATE", START)?;

    // Both boxes master while neither hears the other: B's Master_Down_Timer fires within
    // Master_Down_Interval of the cut + SILENT_MARGIN (as in failover.rs). A hears nothing
    // during it (a window of 1.5 advert intervals), so announces nothing; counts A's lines.
    let split_brain = |round: &str, rx_so_far: usize, fifo_a: &mut Fifo| -> Result<()> {
        let cut = Stamp::now();
        let seen = lab.wait_holds(Node::B, vip, ib.master_down_interval() + SILENT_MARGIN)?;
        eprintln!("{round}: split brain after {:?}", seen.stamp.since(cut));
        ensure!(
            lab.holds(Node::A, vip)?,
            "{round}: A must stay master during the split brain"
        );
        lab.sleep(ia.advert_int.mul_f64(1.5));
        let got = fifo_a.lines_with(rx_lower).len();
        ensure!(
            got == rx_so_far,
            "{round}: A announced MASTER_RX_LOWER_PRI hearing nothing: {:?}",
            fifo_a.read()
        );
        Ok(())
    };

    // Round 1, the operator's case: VRRP cut both ways at B, then restored at once. Whichever
    // advert crosses first, A hears a lower priority within one Advertisement_Interval: B's own
    // periodic advert, or, when A's crosses first, the last advert B sends as it backs off
    // (keepalived vrrp_state_master_rx "refresh remote MASTER"; none with lower_prio_no_advert).
    lab.block_vrrp(Node::B)?;
    split_brain("round 1", 0, &mut fifo_a)?;
    let heal = lab.unblock_vrrp(Node::B)?;
    let seen = fifo_a.wait_lines(rx_lower, 1, ia.advert_int + EVENT_MARGIN)?;
    eprintln!(
        "round 1: MASTER_RX_LOWER_PRI on A's fifo {:?} after the heal",
        seen.stamp.since(heal)
    );
    // B goes to Backup on A's next advert (RFC 3768 §6.4.3), removing the VIP: within one
    // Advertisement_Interval + HANDOVER_MARGIN, as in failover.rs.
    let healed = lab.wait_sole_holder(Node::A, vip, ia.advert_int + HANDOVER_MARGIN)?;
    eprintln!(
        "round 1: B backed off {:?} after the heal",
        healed.stamp.since(heal)
    );
    fifo_b.wait_lines(b_backup, 2, EVENT_MARGIN)?;
    wait_tagged(&lab, &log_a, "rxlower", 1, EVENT_MARGIN)?;
    // Let B's last advert (if any) land before counting.
    lab.sleep(EVENT_MARGIN);
    let n1 = fifo_a.lines_with(rx_lower).len();

    // Round 2, healed in two steps so that A surely hears one of B's periodic adverts while B is
    // still master: each box drops incoming VRRP; step 1 restores A's side only.
    lab.block_vrrp_in(Node::A)?;
    lab.block_vrrp_in(Node::B)?;
    split_brain("round 2", n1, &mut fifo_a)?;
    let heal_a = lab.unblock_vrrp(Node::A)?;
    let seen = fifo_a.wait_lines(rx_lower, n1 + 1, ia.advert_int + EVENT_MARGIN)?;
    eprintln!(
        "round 2: MASTER_RX_LOWER_PRI on A's fifo {:?} after A hears again",
        seen.stamp.since(heal_a)
    );
    wait_tagged(&lab, &log_a, "rxlower", n1 + 1, EVENT_MARGIN)?;
    // A's own advert did not reach B, which stays master.
    ensure!(
        lab.holds(Node::A, vip)? && lab.holds(Node::B, vip)?,
        "round 2: both masters before step 2"
    );
    let heal_b = lab.unblock_vrrp(Node::B)?;
    let healed = lab.wait_sole_holder(Node::A, vip, ia.advert_int + HANDOVER_MARGIN)?;
    eprintln!(
        "round 2: B backed off {:?} after hearing again",
        healed.stamp.since(heal_b)
    );
    fifo_b.wait_lines(b_backup, 3, EVENT_MARGIN)?;

    // Stop B first (a backup stopping changes nothing for A), then A.
    b.sigterm()?;
    b.wait_exit(Duration::from_secs(5))?;
    a.sigterm()?;
    a.wait_exit(Duration::from_secs(5))?;

    // A: its two state changes, then one MASTER_RX_LOWER_PRI per lower-priority advert heard,
    // then STOP; never a state change in between.
    let got_a: Vec<String> = fifo_a.read().lines().map(str::to_owned).collect();
    let n = got_a.iter().filter(|l| *l == rx_lower).count();
    let mut want_a = vec![
        "INSTANCE \"VI_1\" BACKUP 101".to_owned(),
        "INSTANCE \"VI_1\" MASTER 101".to_owned(),
    ];
    want_a.extend(std::iter::repeat_n(rx_lower.to_owned(), n));
    want_a.push("INSTANCE \"VI_1\" STOP 101".to_owned());
    ensure!(n > n1 && got_a == want_a, "A's fifo: {got_a:#?}");
    ensure!(
        a.output().matches("(VI_1) Received advert from 192.0.2.12 with lower priority 100, ours 101, forcing new election").count() == n,
        "one log line per MASTER_RX_LOWER_PRI ({n}):\n{}",
        a.output()
    );
    // B: master twice, backup after each heal; it never heard a lower priority.
    let got_b = fifo_b.read().to_owned();
    ensure!(
        got_b
            == "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\nINSTANCE \"VI_1\" BACKUP 100\n\
                INSTANCE \"VI_1\" MASTER 100\nINSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" STOP 100\n",
        "B's fifo: {got_b:?}"
    );
    // Scripts: notify_master_rx_lower_pri once per event with no argument; the generic notify
    // only for state changes (keepalived does not pass MASTER_RX_LOWER_PRI to it).
    wait_tagged(&lab, &log_a, "rxlower", n, EVENT_MARGIN)?;
    let (text_a, text_b) = (read_all(&log_a), read_all(&log_b));
    ensure!(
        tagged(&text_a, "rxlower") == vec![String::new(); n],
        "A's scripts: {text_a}"
    );
    ensure!(
        tagged(&text_a, "generic")
            == [
                "INSTANCE VI_1 BACKUP 101",
                "INSTANCE VI_1 MASTER 101",
                "INSTANCE VI_1 STOP 101"
            ],
        "A's generic notify: {text_a}"
    );
    ensure!(
        tagged(&text_b, "rxlower").is_empty(),
        "B's scripts: {text_b}"
    );
    ensure!(
        tagged(&text_b, "generic")
            == [
                "INSTANCE VI_1 BACKUP 100",
                "INSTANCE VI_1 MASTER 100",
                "INSTANCE VI_1 BACKUP 100",
                "INSTANCE VI_1 MASTER 100",
                "INSTANCE VI_1 BACKUP 100",
                "INSTANCE VI_1 STOP 100"
            ],
        "B's generic notify: {text_b}"
    );
    Ok(())
}

/// Each box tracks its own file `<dir>/<box>.track` (holding 0 at start) with `weight` in the
/// instance's `track_file` reference; `notify` adds `notify_priority_changes`.
fn track_conf(
    instance: &Instance,
    box_name: &str,
    dir: &Path,
    weight: i32,
    notify: bool,
) -> Result<String> {
    let file = dir.join(format!("{box_name}.track"));
    std::fs::write(&file, "0\n")?;
    let prelude = format!(
        "track_file f_{box_name} {{\n    file {}\n}}\n",
        file.display()
    );
    let mut extra = format!("    track_file {{\n        f_{box_name} weight {weight}\n    }}\n");
    if notify {
        extra.push_str("    notify_priority_changes\n");
    }
    Ok(event_conf(instance, box_name, dir, &prelude, &extra))
}

/// Writes `value` into `box_name`'s track file and waits for the driver's keepalived log line
/// `(VI_1) Changing effective priority from OLD to NEW`.
fn set_track(
    lab: &Lab,
    daemon: &mut system_tests::Daemon,
    box_name: &str,
    value: i32,
    old: u8,
    new: u8,
) -> Result<Stamp> {
    let at = Stamp::now();
    std::fs::write(
        lab.dir().join(format!("{box_name}.track")),
        format!("{value}\n"),
    )?;
    let seen = daemon.proc().wait_output(
        &format!("(VI_1) Changing effective priority from {old} to {new}"),
        TRACK_FILE_WAIT,
    )?;
    eprintln!(
        "{box_name}: priority {old} -> {new} logged {:?} after the write",
        seen.stamp.since(at)
    );
    Ok(at)
}

/// The pair of the seed with a `track_file` on each box (A weight 2, B weight 1), A master.
fn start_tracked(lab: &Lab, notify: bool) -> Result<(system_tests::Daemon, system_tests::Daemon)> {
    let dir = lab.dir().to_path_buf();
    let (ia, ib) = (Instance::seed(true), Instance::seed(false));
    let a = lab.start_conf(
        Node::A,
        Impl::ours(),
        &track_conf(&ia, "lbA", &dir, 2, notify)?,
    )?;
    lab.wait_sole_holder(Node::A, ia.vip(), ia.master_down_interval() + START)?;
    let mut b = lab.start_conf(
        Node::B,
        Impl::ours(),
        &track_conf(&ib, "lbB", &dir, 1, notify)?,
    )?;
    b.proc()
        .wait_output("(VI_1) Entering BACKUP STATE", START)?;
    Ok((a, b))
}

#[test]
fn track_file_priority_changes_reach_the_fifo_with_notify_priority_changes() -> Result<()> {
    if !root_or_skip("track_file_priority_changes_reach_the_fifo_with_notify_priority_changes") {
        return Ok(());
    }
    let lab = Lab::new("prionotify")?;
    let dir = lab.dir().to_path_buf();
    let mut fifo_a = Fifo::create(&dir.join("lbA.fifo"))?;
    let mut fifo_b = Fifo::create(&dir.join("lbB.fifo"))?;
    let (mut a, mut b) = start_tracked(&lab, true)?;

    // A (master): 3 × weight 2 = +6: 107.
    let at = set_track(&lab, &mut a, "lbA", 3, 101, 107)?;
    let seen = fifo_a.wait_lines("INSTANCE \"VI_1\" MASTER_PRIORITY 107", 1, TRACK_FILE_WAIT)?;
    eprintln!(
        "MASTER_PRIORITY 107 on the fifo {:?} after the write",
        seen.stamp.since(at)
    );
    let ctl_a = ops::ctl_path(&dir, &mut a);
    let rows = ops::status(&ctl_a)?;
    let row = ops::row(&rows, "VI_1")?;
    ensure!(
        (row.state.as_str(), row.base, row.effective) == ("MASTER", 101, 107),
        "{row:?}"
    );
    // B (backup): -4 × weight 1: 96.
    let at = set_track(&lab, &mut b, "lbB", -4, 100, 96)?;
    let seen = fifo_b.wait_lines("INSTANCE \"VI_1\" BACKUP_PRIORITY 96", 1, TRACK_FILE_WAIT)?;
    eprintln!(
        "BACKUP_PRIORITY 96 on the fifo {:?} after the write",
        seen.stamp.since(at)
    );
    // A back to its base priority.
    set_track(&lab, &mut a, "lbA", 0, 107, 101)?;
    fifo_a.wait_lines("INSTANCE \"VI_1\" MASTER_PRIORITY 101", 1, TRACK_FILE_WAIT)?;

    b.sigterm()?;
    b.wait_exit(Duration::from_secs(5))?;
    a.sigterm()?;
    a.wait_exit(Duration::from_secs(5))?;
    // Exactly these lines, in order: priority changes are not state changes (the pair never
    // changed roles) and each change is one line with the new priority.
    let got_a = fifo_a.read().to_owned();
    ensure!(
        got_a
            == "INSTANCE \"VI_1\" BACKUP 101\nINSTANCE \"VI_1\" MASTER 101\n\
                INSTANCE \"VI_1\" MASTER_PRIORITY 107\nINSTANCE \"VI_1\" MASTER_PRIORITY 101\n\
                INSTANCE \"VI_1\" STOP 101\n",
        "A's fifo: {got_a:?}\n{}",
        a.output()
    );
    let got_b = fifo_b.read().to_owned();
    ensure!(
        got_b
            == "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" BACKUP_PRIORITY 96\nINSTANCE \"VI_1\" STOP 96\n",
        "B's fifo: {got_b:?}\n{}",
        b.output()
    );
    Ok(())
}

#[test]
fn track_file_priority_changes_write_no_fifo_line_without_notify_priority_changes() -> Result<()> {
    if !root_or_skip(
        "track_file_priority_changes_write_no_fifo_line_without_notify_priority_changes",
    ) {
        return Ok(());
    }
    let lab = Lab::new("prionone")?;
    let dir = lab.dir().to_path_buf();
    let mut fifo_a = Fifo::create(&dir.join("lbA.fifo"))?;
    let mut fifo_b = Fifo::create(&dir.join("lbB.fifo"))?;
    let (mut a, mut b) = start_tracked(&lab, false)?;
    // The same changes as above, seen in the log (so they did happen)...
    set_track(&lab, &mut a, "lbA", 3, 101, 107)?;
    set_track(&lab, &mut b, "lbB", -4, 100, 96)?;
    b.sigterm()?;
    b.wait_exit(Duration::from_secs(5))?;
    a.sigterm()?;
    a.wait_exit(Duration::from_secs(5))?;
    // ... but no line for them. The STOP line, queued after the changes on the same notify queue
    // and carrying the changed priority, shows the FIFO writer went past them: no waiting window.
    let got_a = fifo_a.read().to_owned();
    ensure!(
        got_a
            == "INSTANCE \"VI_1\" BACKUP 101\nINSTANCE \"VI_1\" MASTER 101\nINSTANCE \"VI_1\" STOP 107\n",
        "A's fifo: {got_a:?}"
    );
    let got_b = fifo_b.read().to_owned();
    ensure!(
        got_b == "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" STOP 96\n",
        "B's fifo: {got_b:?}"
    );
    Ok(())
}

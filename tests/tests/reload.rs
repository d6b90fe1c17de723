//! SIGHUP reload of vrrpd in the lab (issue 4 §6; docs/vrrpd.md "Reload (SIGHUP)"): box A
//! (vrrpd, the seed's MASTER, priority 101) and box B (vrrpd, BACKUP, 100), the seed instance
//! VI_1 (VRID 51, VIP 192.0.2.100). Only A is reloaded; the capture on the switch and B's log
//! and `vrrpd status` say what the peer saw.
//! - Unchanged file, 20 SIGHUPs 150 ms apart, the file rewritten with moved lines, comments and
//!   other indentation between some of them: A logs 20 `Reload complete (configuration
//!   unchanged)`; B sees no transition and A's priority never moves; every advert of A keeps
//!   priority 101 and the 1 s spacing (no advert out of turn, none late); A sends no gratuitous
//!   ARP; A's own state and last transition are untouched.
//! - Changed file on the master: priority 101 → 105 resumes VI_1 as MASTER (reason `reload`,
//!   one advert at once, a gratuitous ARP burst, no priority-0 advert), B sees no transition and
//!   now hears 105. A new VI_53 (VRID 53, VIP 192.0.2.102, A only) starts as at startup and holds
//!   its VIP after its Master_Down_Interval; removing it again sends priority 0 for VRID 53,
//!   drops the VIP and announces `INSTANCE "VI_53" DELETED` on A's FIFO. VI_1, unchanged by
//!   those two reloads, keeps its timers (no GARP, 1 s spacing kept).
//! - Invalid file (a VRID out of range; an unterminated block): errors logged, vrrpd keeps
//!   running with the old configuration (VIP held, adverts at 101), and restoring the original
//!   settings is then "unchanged", which shows the running configuration never moved.
//!
//! Bounds: RFC 3768 §6.1 Master_Down_Interval and Advertisement_Interval, plus the margins
//! below and `system_tests::checks::SILENT_MARGIN`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use nix::sys::signal::Signal;
use system_tests::capture::{Capture, Frame, Payload, adverts_from, bursts, garps_from};
use system_tests::checks::SILENT_MARGIN;
use system_tests::config::{
    AUTH_PASS, DEFAULT_GARP_MASTER_DELAY, DEFAULT_GARP_MASTER_REPEAT, IFACE, VIP4,
    master_down_interval,
};
use system_tests::ops::{self, Fifo, Row};
use system_tests::poll::{Stamp, hold_for};
use system_tests::{Daemon, Impl, Lab, Node, root_or_skip};

/// Start-up slack of a daemon in a namespace (liveness only, as in the other system tests).
const START: Duration = Duration::from_secs(3);
/// `advert_int` of every instance.
const ADVERT_INT: Duration = Duration::from_secs(1);
/// A's `garp_master_delay` in the unchanged-reload test, so its start-up bursts end early.
const GARP_DELAY: Duration = Duration::from_secs(1);
/// Frames of one gratuitous-ARP burst leave back to back; bursts are ≥ 1 s apart.
const BURST_GAP: Duration = Duration::from_millis(200);
/// Tolerance on the spacing of consecutive adverts of one instance (RFC 3768 §6.4.3: one per
/// Advertisement_Interval): timer wake-up and the send path of a debug build on the shared,
/// loaded 2-core machine (measured here: within 2 ms of 1 s). 100 ms is under the 150 ms between
/// SIGHUPs, so an Adver_Timer restarted by a reload, or an advert sent out of turn by one,
/// fails the check.
const SPACING_MARGIN: Duration = Duration::from_millis(100);
/// From a SIGHUP to the end of the reload (its log line), and to what the reload does at once
/// (a resumed master's advert and burst, a removed instance's priority-0 advert and VIP
/// removal, the FIFO line): loading and checking the file on a blocking thread, netlink
/// look-ups, the old driver's stop. Measured here: 5–15 ms for a debug build; 1 s only absorbs
/// stalls of the loaded machine and is still an advert interval, so a reload that waited for
/// a timer instead of acting at once shows as a wrong spacing or a late advert.
const RELOAD_WITHIN: Duration = Duration::from_secs(1);
/// How late a delayed gratuitous-ARP burst may leave after `garp_master_delay` (as LATE_MARGIN
/// in tests/tests/garp.rs: timer wake-up and the send path, a few ms measured).
const DELAYED_BURST_MARGIN: Duration = Duration::from_millis(150);
/// How many SIGHUPs the unchanged-reload test sends, and how far apart.
const SIGHUPS: usize = 20;
const SIGHUP_EVERY: Duration = Duration::from_millis(150);
/// The second instance's VRID and VIP (A only).
const VRID53: u8 = 53;
const VIP53: &str = "192.0.2.102";
/// VI_53's priority: a backup at start (RFC 3768 §6.4.1), it becomes master after its own
/// Master_Down_Interval since no other router runs VRID 53.
const PRIO53: u8 = 100;

/// The same settings written differently (an unchanged reload must not see a difference).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// The order of `system_tests::config::Instance::render`.
    Plain,
    /// Comment lines (`#` and `!`) and trailing comments added.
    Commented,
    /// Keywords in another order, blocks first.
    Moved,
    /// Moved, tab-indented, blank lines, comments.
    Reindented,
}

const LAYOUTS: [Layout; 4] = [
    Layout::Plain,
    Layout::Commented,
    Layout::Moved,
    Layout::Reindented,
];

/// One box's keepalived.conf.
#[derive(Clone, Copy, Debug)]
struct Conf<'a> {
    master: bool,
    priority: u8,
    /// `garp_master_delay` of VI_1 (`None`: keepalived's default, 5 s).
    garp_delay: Option<Duration>,
    /// `global_defs { notify_fifo ... }`.
    fifo: Option<&'a Path>,
    /// With the second instance VI_53.
    vi53: bool,
    layout: Layout,
}

impl<'a> Conf<'a> {
    fn seed(master: bool) -> Self {
        Self {
            master,
            priority: if master { 101 } else { 100 },
            garp_delay: None,
            fifo: None,
            vi53: false,
            layout: Layout::Plain,
        }
    }

    fn render(&self) -> String {
        let mut s = String::new();
        let (indent, comments) = match self.layout {
            Layout::Plain | Layout::Moved => ("    ", false),
            Layout::Commented => ("    ", true),
            Layout::Reindented => ("\t", true),
        };
        if comments {
            s.push_str("! rewritten by tests/tests/reload.rs: same settings\n# another comment\n");
        }
        if let Some(fifo) = self.fifo {
            let _ = writeln!(
                s,
                "global_defs {{\n{indent}notify_fifo {}\n}}",
                fifo.display()
            );
        }
        s.push_str(&self.instance(
            "VI_1",
            VRID51,
            VIP4,
            self.master,
            self.priority,
            self.garp_delay,
        ));
        if self.vi53 {
            s.push_str(&self.instance("VI_53", VRID53, VIP53, false, PRIO53, None));
        }
        s
    }

    fn instance(
        &self,
        name: &str,
        vrid: u8,
        vip: &str,
        master: bool,
        priority: u8,
        garp_delay: Option<Duration>,
    ) -> String {
        let i = match self.layout {
            Layout::Reindented => "\t",
            _ => "    ",
        };
        let comment = |c: &str| match self.layout {
            Layout::Commented | Layout::Reindented => format!(" # {c}"),
            _ => String::new(),
        };
        let mut simple = vec![
            format!("{i}interface {IFACE}"),
            format!(
                "{i}state {}{}",
                if master { "MASTER" } else { "BACKUP" },
                comment("or BACKUP on the backup")
            ),
            format!("{i}priority {priority}{}", comment("101 on master")),
            format!("{i}virtual_router_id {vrid}"),
            format!("{i}advert_int {}", ADVERT_INT.as_secs()),
        ];
        if let Some(d) = garp_delay {
            simple.push(format!("{i}garp_master_delay {}", d.as_secs()));
        }
        let auth = format!(
            "{i}authentication {{\n{i}{i}auth_type PASS\n{i}{i}auth_pass {AUTH_PASS}\n{i}}}"
        );
        let vips = format!("{i}virtual_ipaddress {{\n{i}{i}{vip}/32 dev {IFACE}\n{i}}}");
        let body = match self.layout {
            Layout::Plain => [simple.join("\n"), auth, vips].join("\n"),
            Layout::Commented => {
                let mut lines = vec![format!("{i}# the seed's instance")];
                lines.extend(simple);
                lines.push(format!("{i}! authentication follows"));
                [lines.join("\n"), auth, vips].join("\n")
            }
            Layout::Moved => {
                simple.reverse();
                [vips, auth, simple.join("\n")].join("\n")
            }
            Layout::Reindented => {
                simple.rotate_left(2);
                [vips, String::new(), simple.join("\n\n"), auth].join("\n")
            }
        };
        format!("vrrp_instance {name} {{\n{body}\n}}\n")
    }
}

/// The seed's VRID (VI_1).
const VRID51: u8 = system_tests::config::VRID;

/// Sends SIGHUP to vrrpd.
fn sighup(d: &mut Daemon) -> Result<Stamp> {
    d.proc().signal(Signal::SIGHUP)
}

/// Lines of `d`'s log whose message is exactly `msg` (tracing's line ends with the message when
/// the event has no fields).
fn count_exact(d: &Daemon, msg: &str) -> usize {
    d.output().lines().filter(|l| l.ends_with(msg)).count()
}

/// Waits (bounded) until `d` has logged `msg` `n` times.
fn wait_count(lab: &Lab, d: &Daemon, msg: &str, n: usize, timeout: Duration) -> Result<Stamp> {
    let seen = lab
        .poll(&format!("{n} lines {msg:?}"), timeout, || {
            Ok((count_exact(d, msg) >= n).then_some(()))
        })
        .with_context(|| d.output())?;
    Ok(seen.stamp)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `(time, priority)` of the adverts of `node` for `vrid` captured in `[from, to]` (epoch s).
fn adverts(frames: &[Frame], node: Node, vrid: u8, from: f64, to: f64) -> Vec<(f64, u8)> {
    adverts_from(frames, &node.mac())
        .filter(|(f, a)| a.vrid == vrid && f.epoch_secs() >= from && f.epoch_secs() <= to)
        .map(|(f, a)| (f.epoch_secs(), a.priority))
        .collect()
}

/// Every consecutive pair of `times` is one Advertisement_Interval ± [`SPACING_MARGIN`] apart.
fn ensure_spacing(what: &str, times: &[f64]) -> Result<()> {
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let bad: Vec<f64> = gaps
        .iter()
        .copied()
        .filter(|g| (g - secs(ADVERT_INT)).abs() > secs(SPACING_MARGIN))
        .collect();
    eprintln!(
        "{what}: {} adverts, gaps {:?}",
        times.len(),
        gaps.iter().map(|g| format!("{g:.3}")).collect::<Vec<_>>()
    );
    ensure!(
        bad.is_empty(),
        "{what}: advert gaps {bad:?} s outside {ADVERT_INT:?} ± {SPACING_MARGIN:?} (all gaps: {gaps:?})"
    );
    Ok(())
}

/// Gratuitous ARPs (any address) sent by `node` in `[from, to]`.
fn garps_in(frames: &[Frame], node: Node, from: f64, to: f64) -> Vec<(f64, String)> {
    frames
        .iter()
        .filter(|f| f.src_mac == node.mac() && f.epoch_secs() >= from && f.epoch_secs() <= to)
        .filter_map(|f| match f.payload {
            Payload::Garp { ip, .. } => Some((f.epoch_secs(), ip.to_string())),
            _ => None,
        })
        .collect()
}

/// How far apart two `vrrpd status` queries may print the time of the same past transition:
/// vrrpd derives it from the transition's monotonic age and the wall clock at each query
/// (`vrrpd::status::wall_time`, two clock reads), so it moves by a microsecond or so.
const TRANSITION_TIME_JITTER: Duration = Duration::from_millis(1);

/// Whether two status rows show the same last transition (`TIME FROM->TO (reason)`): the same
/// day, states and reason, and times within [`TRANSITION_TIME_JITTER`].
fn same_transition(a: &Row, b: &Row) -> bool {
    let split = |r: &Row| -> Option<(String, f64, String)> {
        let (time, what) = r.last_transition.split_once(' ')?;
        let (day, clock) = time.strip_suffix('Z')?.split_once('T')?;
        let secs = clock.split(':').try_fold(0.0, |acc, part| {
            part.parse::<f64>().ok().map(|v| acc * 60.0 + v)
        })?;
        Some((day.to_owned(), secs, what.to_owned()))
    };
    match (split(a), split(b)) {
        (Some((da, ta, wa)), Some((db, tb, wb))) => {
            da == db && wa == wb && (ta - tb).abs() <= secs(TRANSITION_TIME_JITTER)
        }
        _ => false,
    }
}

fn status_row(dir: &Path, d: &mut Daemon, name: &str) -> Result<Row> {
    let rows = ops::status(&ops::ctl_path(dir, d))?;
    Ok(ops::row(&rows, name)?.clone())
}

/// Starts A, waits until it alone holds the seed VIP, then starts B and waits for its BACKUP.
fn start_pair(lab: &Lab, conf_a: &Conf<'_>) -> Result<(Daemon, Daemon)> {
    let mut a = lab.start_conf(Node::A, Impl::ours(), &conf_a.render())?;
    // RFC 3768 §6.4.1: A starts as backup and claims mastership after its Master_Down_Interval.
    let mdi_a = master_down_interval(2, conf_a.priority, ADVERT_INT);
    lab.wait_sole_holder(Node::A, VIP4, mdi_a + START)
        .with_context(|| a.output())?;
    let mut b = lab.start_conf(Node::B, Impl::ours(), &Conf::seed(false).render())?;
    b.proc()
        .wait_output("(VI_1) Entering BACKUP STATE", START)?;
    // B hears A's next advert within one Advertisement_Interval (+ the spacing margin).
    let dir = lab.dir().to_path_buf();
    let want = format!("{} ({})", Node::A.ip4(), conf_a.priority);
    lab.poll("B to hear A's advert", ADVERT_INT + SPACING_MARGIN, || {
        Ok((status_row(&dir, &mut b, "VI_1")?.master == want).then_some(()))
    })
    .with_context(|| b.output())?;
    a.ensure_running()?;
    Ok((a, b))
}

/// A's start-up announcements are over once its delayed second burst has left
/// (`garp_master_delay` = [`GARP_DELAY`] after the first; keepalived's policy,
/// tests/tests/garp.rs): waits for it (bounded) and for the burst to end.
fn wait_startup_garps(lab: &Lab, capture: &Capture) -> Result<()> {
    lab.poll(
        "A's second gratuitous-ARP burst",
        GARP_DELAY + RELOAD_WITHIN,
        || {
            let frames = capture.frames()?;
            let garps = garps_from(&frames, &Node::A.mac(), VIP4.parse()?);
            Ok((bursts(&garps, BURST_GAP).len() >= 2).then_some(()))
        },
    )?;
    lab.sleep(BURST_GAP);
    Ok(())
}

/// B saw nothing happen: still BACKUP with its start-up transition, never master, one
/// `Entering` line in its log, and it hears A (`master` column) at `prio`.
fn ensure_b_quiet(dir: &Path, b: &mut Daemon, before: &Row, prio: u8) -> Result<Row> {
    b.ensure_running()?;
    let now = status_row(dir, b, "VI_1")?;
    ensure!(
        now.state == "BACKUP"
            && same_transition(&now, before)
            && now.counters.became_master == 0
            && now.counters.released_master == 0,
        "B's status moved: before {before:#?}\nnow {now:#?}"
    );
    ensure!(
        now.master == format!("{} ({prio})", Node::A.ip4()),
        "B sees master {:?}, want A at {prio}",
        now.master
    );
    ensure!(
        b.proc().count_output("Entering") == 1,
        "B logged a transition after its initial BACKUP:\n{}",
        b.output()
    );
    Ok(now)
}

#[test]
fn twenty_unchanged_sighups_change_nothing_the_peer_sees() -> Result<()> {
    if !root_or_skip("twenty_unchanged_sighups_change_nothing_the_peer_sees") {
        return Ok(());
    }
    let lab = Lab::new("reload20")?;
    let dir = lab.dir().to_path_buf();
    let capture = lab.capture()?;
    let mut conf_a = Conf {
        garp_delay: Some(GARP_DELAY),
        ..Conf::seed(true)
    };
    let (mut a, mut b) = start_pair(&lab, &conf_a)?;
    let path_a = ops::conf_path(&dir, &mut a);

    wait_startup_garps(&lab, &capture)?;

    let a_before = status_row(&dir, &mut a, "VI_1")?;
    ensure!(
        a_before.state == "MASTER" && a_before.effective == 101,
        "A before the reloads: {a_before:#?}"
    );
    let b_start = status_row(&dir, &mut b, "VI_1")?;
    let b_before = ensure_b_quiet(&dir, &mut b, &b_start, 101)?;
    let a_entering = a.proc().count_output("Entering");

    // 20 SIGHUPs; every other one follows a rewrite in another layout (same settings).
    let start = Stamp::now();
    let mut rewrites = 0;
    let mut last = start;
    for i in 0..SIGHUPS {
        let layout = LAYOUTS[(i / 2) % LAYOUTS.len()];
        if layout != conf_a.layout {
            let before = std::fs::read_to_string(&path_a)?;
            conf_a.layout = layout;
            let text = conf_a.render();
            ensure!(text != before, "layout {layout:?} is the same text");
            std::fs::write(&path_a, text)?;
            rewrites += 1;
        }
        last = sighup(&mut a)?;
        if i + 1 < SIGHUPS {
            lab.sleep(SIGHUP_EVERY);
        }
    }
    ensure!(rewrites >= 9, "only {rewrites} rewrites");
    let msg = "Reload complete (configuration unchanged)";
    let done = wait_count(&lab, &a, msg, SIGHUPS, RELOAD_WITHIN)?;
    eprintln!(
        "{SIGHUPS} SIGHUPs ({rewrites} rewrites) over {:?}; the last reload done {:?} after its \
         SIGHUP",
        last.since(start),
        done.since(last)
    );
    // Two more advert intervals, so the adverts right after the last reload are judged too.
    lab.sleep(ADVERT_INT * 2);
    let end = Stamp::now();
    a.ensure_running()?;

    ensure!(
        count_exact(&a, msg) == SIGHUPS && a.proc().count_output("Reload complete") == SIGHUPS,
        "A's reload lines:\n{}",
        a.output()
    );
    ensure!(
        a.proc().count_output("Entering") == a_entering,
        "A logged a transition during the reloads:\n{}",
        a.output()
    );
    let a_after = status_row(&dir, &mut a, "VI_1")?;
    ensure!(
        a_after.state == "MASTER"
            && same_transition(&a_after, &a_before)
            && a_after.counters.became_master == a_before.counters.became_master
            && (a_after.base, a_after.effective) == (101, 101),
        "A's status moved: before {a_before:#?}\nafter {a_after:#?}"
    );
    let b_after = ensure_b_quiet(&dir, &mut b, &b_before, 101)?;

    // The wire: from the advert before the first SIGHUP to the end.
    let frames = capture.frames()?;
    let (from, to) = (start.epoch_secs(), end.epoch_secs());
    let window = adverts(
        &frames,
        Node::A,
        VRID51,
        from - secs(ADVERT_INT + SPACING_MARGIN),
        to,
    );
    ensure!(
        window.iter().all(|(_, p)| *p == 101),
        "A's adverts during the reloads: {window:?}"
    );
    let times: Vec<f64> = window.iter().map(|(t, _)| *t).collect();
    ensure!(
        times.first().is_some_and(|t| *t < from)
            && times
                .last()
                .is_some_and(|t| *t >= to - secs(ADVERT_INT + SPACING_MARGIN)),
        "adverts do not span the window {from:.3}..{to:.3}: {times:?}"
    );
    ensure_spacing("A's VRID 51 adverts around 20 reloads", &times)?;
    let received = b_after.counters.received - b_before.counters.received;
    ensure!(
        received + 1 >= (times.len() as u64).saturating_sub(1),
        "B received {received} adverts, {} on the wire",
        times.len()
    );
    let garps = garps_in(&frames, Node::A, from, to);
    ensure!(
        garps.is_empty(),
        "A sent gratuitous ARPs during the reloads: {garps:?}"
    );
    ensure!(
        adverts_from(&frames, &Node::B.mac()).count() == 0
            && garps_in(&frames, Node::B, 0.0, to).is_empty(),
        "B sent adverts or gratuitous ARPs"
    );
    ensure!(
        lab.holders(VIP4)?.single() == Some(Node::A),
        "VIP holders {:?}",
        lab.holders(VIP4)?
    );
    capture.stop()?;
    Ok(())
}

#[test]
fn changed_file_resumes_the_master_and_instances_come_and_go() -> Result<()> {
    if !root_or_skip("changed_file_resumes_the_master_and_instances_come_and_go") {
        return Ok(());
    }
    let lab = Lab::new("reloadch")?;
    let dir = lab.dir().to_path_buf();
    let fifo_path = dir.join("lbA.fifo");
    let mut fifo = Fifo::create(&fifo_path)?;
    let capture = lab.capture()?;
    let mut conf_a = Conf {
        fifo: Some(&fifo_path),
        ..Conf::seed(true)
    };
    let (mut a, mut b) = start_pair(&lab, &conf_a)?;
    let path_a = ops::conf_path(&dir, &mut a);
    let b_start = status_row(&dir, &mut b, "VI_1")?;
    let b_before = ensure_b_quiet(&dir, &mut b, &b_start, 101)?;
    let complete = "Reload complete";

    // 1. Priority 101 -> 105: VI_1 changes, same VRID/interface/version: resumed as master.
    conf_a.priority = 105;
    std::fs::write(&path_a, conf_a.render())?;
    let t1 = sighup(&mut a)?;
    let done = wait_count(&lab, &a, complete, 1, RELOAD_WITHIN)?;
    eprintln!("changed reload done {:?} after the SIGHUP", done.since(t1));
    // One advert at 105 at once (the resumed master's first act).
    let first = lab.poll("A's first advert at 105", RELOAD_WITHIN, || {
        let frames = capture.frames()?;
        Ok(adverts(&frames, Node::A, VRID51, t1.epoch_secs(), f64::MAX)
            .iter()
            .find(|(_, p)| *p == 105)
            .map(|(t, _)| *t))
    })?;
    eprintln!(
        "first advert at 105 {:.3} s after the SIGHUP",
        first.value - t1.epoch_secs()
    );
    let row = status_row(&dir, &mut a, "VI_1")?;
    ensure!(
        row.state == "MASTER"
            && row.reason() == Some("reload")
            && (row.base, row.effective) == (105, 105),
        "A after the priority change: {row:#?}"
    );
    // A keeps the VIP all along; two advert intervals show the new rhythm.
    hold_for(
        "A alone holds the VIP after the reload",
        ADVERT_INT * 2 + SPACING_MARGIN,
        Duration::from_millis(20),
        || {
            let h = lab.holders(VIP4)?;
            Ok((h.single() != Some(Node::A)).then_some(h))
        },
    )?;
    let frames = capture.frames()?;
    let after = adverts(&frames, Node::A, VRID51, t1.epoch_secs(), f64::MAX);
    // An advert at 101 may have left between the SIGHUP and the detach (its timer was due); none
    // after the first at 105, and never priority 0 (a resumed master does not say goodbye).
    let k = after
        .iter()
        .position(|(_, p)| *p == 105)
        .context("no advert at 105")?;
    ensure!(
        k <= 1
            && after[..k].iter().all(|(_, p)| *p == 101)
            && after[k..].iter().all(|(_, p)| *p == 105),
        "A's adverts after the priority change: {after:?}"
    );
    let times: Vec<f64> = after[k..].iter().map(|(t, _)| *t).collect();
    ensure!(times.len() >= 3, "adverts at 105: {after:?}");
    ensure_spacing("A's adverts at 105", &times)?;
    // The resumed master's burst: `garp_master_repeat` (keepalived's default, 5) frames for
    // the VIP at once.
    let t1s = t1.epoch_secs();
    let garps = garps_in(&frames, Node::A, t1s, t1s + secs(RELOAD_WITHIN));
    ensure!(
        garps.len() == DEFAULT_GARP_MASTER_REPEAT as usize
            && garps.iter().all(|(_, ip)| ip == VIP4),
        "want one burst of {DEFAULT_GARP_MASTER_REPEAT} gratuitous ARPs for {VIP4} within \
         {RELOAD_WITHIN:?} of the resume: {garps:?}"
    );
    let b_mid = ensure_b_quiet(&dir, &mut b, &b_before, 105)?;

    // 2. Add VI_53 (A only): it starts as at startup, as a backup, and becomes master after its
    //    Master_Down_Interval (RFC 3768 §6.4.1/§6.4.2). VI_1 is unchanged: untouched.
    let vi1_before = status_row(&dir, &mut a, "VI_1")?;
    conf_a.vi53 = true;
    std::fs::write(&path_a, conf_a.render())?;
    let t2 = sighup(&mut a)?;
    wait_count(&lab, &a, complete, 2, RELOAD_WITHIN)?;
    let mdi53 = master_down_interval(2, PRIO53, ADVERT_INT);
    let limit = mdi53 + SILENT_MARGIN;
    let held = lab
        .wait_holds(Node::A, VIP53, limit + START)
        .with_context(|| a.output())?
        .stamp
        .since(t2);
    eprintln!("VI_53 held {VIP53} {held:?} after the SIGHUP (RFC {mdi53:?})");
    ensure!(
        held >= mdi53 && held <= limit,
        "A held {VIP53} {held:?} after the SIGHUP; RFC 3768: {mdi53:?} .. {limit:?}"
    );
    let row53 = status_row(&dir, &mut a, "VI_53")?;
    ensure!(
        row53.state == "MASTER" && row53.vrid == VRID53,
        "VI_53: {row53:#?}"
    );
    lab.poll("A's FIFO line for VI_53 MASTER", RELOAD_WITHIN, || {
        Ok((!fifo.lines_with("INSTANCE \"VI_53\" MASTER").is_empty()).then_some(()))
    })
    .with_context(|| fifo.read().to_owned())?;
    let vi1 = status_row(&dir, &mut a, "VI_1")?;
    ensure!(
        vi1.state == "MASTER" && same_transition(&vi1, &vi1_before),
        "VI_1 moved when VI_53 was added: {vi1_before:#?} -> {vi1:#?}"
    );

    // 3. Remove VI_53: priority 0 for VRID 53, its VIP gone, DELETED announced.
    conf_a.vi53 = false;
    std::fs::write(&path_a, conf_a.render())?;
    let t3 = sighup(&mut a)?;
    wait_count(&lab, &a, complete, 3, RELOAD_WITHIN)?;
    lab.wait_released(Node::A, VIP53, RELOAD_WITHIN)
        .with_context(|| a.output())?;
    let zero = lab.poll("A's priority-0 advert for VRID 53", RELOAD_WITHIN, || {
        let frames = capture.frames()?;
        Ok(adverts(&frames, Node::A, VRID53, t3.epoch_secs(), f64::MAX)
            .iter()
            .find(|(_, p)| *p == 0)
            .map(|(t, _)| *t))
    })?;
    eprintln!(
        "VRID 53 priority 0 {:.3} s after the SIGHUP",
        zero.value - t3.epoch_secs()
    );
    lab.poll(
        "A's FIFO line INSTANCE \"VI_53\" DELETED",
        RELOAD_WITHIN,
        || Ok((!fifo.lines_with("INSTANCE \"VI_53\" DELETED").is_empty()).then_some(())),
    )
    .with_context(|| fifo.read().to_owned())?;
    let rows = ops::status(&ops::ctl_path(&dir, &mut a))?;
    ensure!(
        rows.len() == 1 && rows[0].name == "VI_1" && rows[0].state == "MASTER",
        "A's instances after removing VI_53: {rows:#?}"
    );
    ensure!(
        same_transition(&rows[0], &vi1_before),
        "VI_1 moved: {:#?}",
        rows[0]
    );
    // One advert interval after the removal, then judge VI_1 across both reloads.
    lab.sleep(ADVERT_INT + SPACING_MARGIN);
    let end = Stamp::now();
    let frames = capture.frames()?;
    let vi1_adverts = adverts(
        &frames,
        Node::A,
        VRID51,
        t2.epoch_secs() - secs(ADVERT_INT + SPACING_MARGIN),
        end.epoch_secs(),
    );
    ensure!(
        vi1_adverts.iter().all(|(_, p)| *p == 105),
        "VI_1 adverts: {vi1_adverts:?}"
    );
    let times: Vec<f64> = vi1_adverts.iter().map(|(t, _)| *t).collect();
    ensure_spacing("VI_1 across adding and removing VI_53", &times)?;
    let vi1_garps: Vec<_> = garps_in(&frames, Node::A, t2.epoch_secs(), end.epoch_secs())
        .into_iter()
        .filter(|(_, ip)| ip == VIP4)
        .collect();
    // The resumed master's delayed burst (`garp_master_delay`, default 5 s, after its
    // transition, which lies between the SIGHUP and its first advert at 105) may fall here; any
    // other is a restarted VI_1.
    let (early, late) = (
        t1s + secs(DEFAULT_GARP_MASTER_DELAY),
        first.value + secs(DEFAULT_GARP_MASTER_DELAY + DELAYED_BURST_MARGIN),
    );
    ensure!(
        vi1_garps.iter().all(|(t, _)| *t >= early && *t <= late),
        "gratuitous ARPs for {VIP4} while VI_53 came and went: {vi1_garps:?}"
    );
    ensure!(
        lab.holders(VIP4)?.single() == Some(Node::A),
        "VIP holders {:?}",
        lab.holders(VIP4)?
    );
    ensure_b_quiet(&dir, &mut b, &b_mid, 105)?;
    eprintln!("A's FIFO:\n{}", fifo.read());
    capture.stop()?;
    Ok(())
}

#[test]
fn invalid_file_keeps_the_running_configuration() -> Result<()> {
    if !root_or_skip("invalid_file_keeps_the_running_configuration") {
        return Ok(());
    }
    let lab = Lab::new("reloadbad")?;
    let dir = lab.dir().to_path_buf();
    let capture = lab.capture()?;
    let conf_a = Conf {
        garp_delay: Some(GARP_DELAY),
        ..Conf::seed(true)
    };
    let (mut a, mut b) = start_pair(&lab, &conf_a)?;
    wait_startup_garps(&lab, &capture)?;
    let path_a = ops::conf_path(&dir, &mut a);
    let a_before = status_row(&dir, &mut a, "VI_1")?;
    let b_start = status_row(&dir, &mut b, "VI_1")?;
    let b_before = ensure_b_quiet(&dir, &mut b, &b_start, 101)?;
    let original = std::fs::read_to_string(&path_a)?;

    // A priority change that would show on the wire, in a file with a VRID out of range; then
    // the same change in a file with an unterminated block.
    let changed = Conf {
        priority: 110,
        ..conf_a
    }
    .render();
    let bad_vrid = changed.replace(
        &format!("virtual_router_id {VRID51}"),
        "virtual_router_id 256",
    );
    let unterminated = changed.trim_end().trim_end_matches('}').to_owned();
    ensure!(
        bad_vrid != changed && unterminated != changed,
        "the invalid files are not invalid"
    );
    let invalid = "reload: configuration invalid; keeping the running configuration";
    let start = Stamp::now();
    for (n, text) in [bad_vrid, unterminated].into_iter().enumerate() {
        std::fs::write(&path_a, text)?;
        let t = sighup(&mut a)?;
        lab.poll(&format!("invalid reload {}", n + 1), RELOAD_WITHIN, || {
            Ok((a.proc().count_output(invalid) > n).then_some(()))
        })
        .with_context(|| a.output())?;
        eprintln!(
            "invalid reload {} refused after {:?}",
            n + 1,
            Stamp::now().since(t)
        );
        // Still MASTER at 101 for at least two advert intervals.
        hold_for(
            "A alone holds the VIP",
            ADVERT_INT * 2,
            Duration::from_millis(20),
            || {
                a.ensure_running()?;
                let h = lab.holders(VIP4)?;
                Ok((h.single() != Some(Node::A)).then_some(h))
            },
        )?;
    }
    let log = a.output();
    for needle in [
        "reload: configuration error",
        "virtual_router_id must be between 1 and 255",
        "never closed",
    ] {
        ensure!(log.contains(needle), "A's log lacks {needle:?}:\n{log}");
    }
    ensure!(
        a.proc().count_output(invalid) == 2 && a.proc().count_output("Reload complete") == 0,
        "A's reload lines:\n{log}"
    );
    let end = Stamp::now();
    let row = status_row(&dir, &mut a, "VI_1")?;
    ensure!(
        row.state == "MASTER"
            && (row.base, row.effective) == (101, 101)
            && same_transition(&row, &a_before),
        "A's status after the invalid reloads: {a_before:#?} -> {row:#?}"
    );
    let frames = capture.frames()?;
    let window = adverts(
        &frames,
        Node::A,
        VRID51,
        start.epoch_secs() - secs(ADVERT_INT + SPACING_MARGIN),
        end.epoch_secs(),
    );
    ensure!(
        window.iter().all(|(_, p)| *p == 101),
        "A's adverts: {window:?}"
    );
    let times: Vec<f64> = window.iter().map(|(t, _)| *t).collect();
    ensure!(times.len() >= 4, "A's adverts: {window:?}");
    ensure_spacing("A's adverts around the invalid reloads", &times)?;
    let garps = garps_in(&frames, Node::A, start.epoch_secs(), end.epoch_secs());
    ensure!(garps.is_empty(), "A sent gratuitous ARPs: {garps:?}");
    ensure_b_quiet(&dir, &mut b, &b_before, 101)?;

    // The running configuration is still the original: restoring the file is "unchanged".
    std::fs::write(&path_a, original)?;
    sighup(&mut a)?;
    wait_count(
        &lab,
        &a,
        "Reload complete (configuration unchanged)",
        1,
        RELOAD_WITHIN,
    )?;
    capture.stop()?;
    Ok(())
}

#[test]
fn same_transition_allows_only_the_query_jitter() -> Result<()> {
    let text = "INSTANCE  VRID  INTERFACE  STATE   PRIO base/eff  MASTER (prio)  LAST TRANSITION\n\
                VI_1      51    eth0       BACKUP  100/100        -              2026-11-24T07:45:08.966856Z INIT->BACKUP (startup)\n";
    let row = |t: &str| -> Result<Row> {
        let rows = ops::parse_table(&text.replace("2026-11-24T07:45:08.966856Z", t))?;
        Ok(ops::row(&rows, "VI_1")?.clone())
    };
    let base = row("2026-11-24T07:45:08.966856Z")?;
    ensure!(same_transition(&base, &row("2026-11-24T07:45:08.966855Z")?));
    ensure!(!same_transition(
        &base,
        &row("2026-11-24T07:45:09.966856Z")?
    ));
    ensure!(!same_transition(
        &base,
        &row("2026-11-25T07:45:08.966856Z")?
    ));
    let other = ops::parse_table(&text.replace("(startup)", "(reload)"))?;
    ensure!(!same_transition(&base, &other[0]));
    Ok(())
}

//! proxyd failure on the master moves the VIP (issue 4): boxes A and B each run vrrpd and proxyd
//! in their namespaces, with the seed's instance (VRRP v2, VRID 51, priorities 101/100).
//!
//! (a) the seed's `vrrp_script` (`killall -0 proxyd`, interval 1, weight 2): proxyd killed on A
//!     drops A to 101 < B's 102; B discards A's lower-priority adverts (RFC 3768 §6.4.2) and takes
//!     over when its Master_Down_Timer expires: within [MDI(B) − advert_int,
//!     script interval + MDI(B) + `SILENT_MARGIN` + `SCRIPT_SLACK`] of the kill.
//! (b) the native tracker (`track_proxyd`, weight 0, the default): the pidfd sees the exit at
//!     once, A enters FAULT and sends priority 0, B takes over after Skew_Time(B) (RFC 3768
//!     §6.4.2): within Skew_Time + `HANDOVER_MARGIN` + `DETECT_SLACK` of the kill.
//! (c) `require_serving`: proxyd stopped with SIGSTOP (alive, not answering): detected at the next
//!     check after the query timeout, then FAULT as in (b): within interval + timeout + Skew_Time
//!     + `HANDOVER_MARGIN` + `DETECT_SLACK`.
//!
//! The lab shares one PID namespace, so a `killall -0 proxyd` on A would also see B's proxyd:
//! B runs a copy of the binary named `proxyd-b` (and its script says so), A's is `proxyd`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use nix::sys::signal::Signal;
use system_tests::checks::{HANDOVER_MARGIN, SILENT_MARGIN};
use system_tests::config::{AUTH_PASS, IFACE, VIP4, VRID, master_down_interval, skew_time};
use system_tests::daemon::proxyd_binary;
use system_tests::lab::{Lab, Node};
use system_tests::process::Proc;
use system_tests::{Impl, root_or_skip};

/// Time from the tracker's verdict to the driver's FAULT and the priority-0 advert on a loaded
/// 2-core machine (the pidfd itself reports in under a millisecond).
const DETECT_SLACK: Duration = Duration::from_millis(150);
/// A `killall` run scans /proc; under load it may take this long.
const SCRIPT_SLACK: Duration = Duration::from_millis(300);
const ADVERT_INT: Duration = Duration::from_secs(1);
const PRIO_A: u8 = 101;
const PRIO_B: u8 = 100;

const PROXYD_CFG: &str = "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    \
    timeout server 5s\nlisten web\n    bind 127.0.0.1:8080\n    server s1 127.0.0.1:8081\n";

/// How a box watches its proxyd.
#[derive(Clone, Copy)]
enum Tracking {
    /// The seed's `vrrp_script` with `killall -0 NAME`, interval 1, weight 2.
    Script,
    /// `track_proxyd`, weight 0 (default), optionally `require_serving`.
    Native { require_serving: bool },
}

struct BoxProxyd {
    proc: Proc,
    pid_file: PathBuf,
    socket: PathBuf,
}

/// Starts proxyd on `node` (binary named `name`) and waits until it answers `serving`.
fn start_proxyd(lab: &Lab, node: Node, name: &str) -> Result<BoxProxyd> {
    let bin = lab.dir().join(name);
    if !bin.exists() {
        std::fs::copy(proxyd_binary()?, &bin).context("copying proxyd")?;
    }
    let cfg = lab.dir().join(format!("{name}.cfg"));
    std::fs::write(&cfg, PROXYD_CFG)?;
    let pid_file = lab.dir().join(format!("{name}.pid"));
    let socket = lab.dir().join(format!("{name}.sock"));
    let _ = std::fs::remove_file(&pid_file);
    let argv: Vec<String> = vec![
        bin.display().to_string(),
        "-db".into(),
        "-f".into(),
        cfg.display().to_string(),
        "-p".into(),
        pid_file.display().to_string(),
        "--liveness-socket".into(),
        socket.display().to_string(),
    ];
    let proc = lab.spawn(node, name, &argv)?;
    lab.poll(&format!("{name} to serve"), Duration::from_secs(10), || {
        Ok(serving(&socket).then_some(()))
    })?;
    Ok(BoxProxyd {
        proc,
        pid_file,
        socket,
    })
}

/// proxyd's liveness answer starts with `serving ` (written out: this checks the contract).
fn serving(socket: &Path) -> bool {
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut out = String::new();
    s.write_all(b"serving?\n").is_ok()
        && s.read_to_string(&mut out).is_ok()
        && out.starts_with("serving ")
}

/// The seed's instance plus the tracking block and reference for `px`.
fn conf(master: bool, tracking: Tracking, proc_name: &str, px: &BoxProxyd) -> String {
    let (block, reference) = match tracking {
        Tracking::Script => (
            format!(
                "vrrp_script chk_proxyd {{\n    script \"killall -0 {proc_name}\"\n    interval 1\n    \
                 weight 2\n}}\n"
            ),
            "    track_script {\n        chk_proxyd\n    }\n".to_owned(),
        ),
        Tracking::Native { require_serving } => (
            format!(
                "track_proxyd proxyd {{\n    pid_file {}\n    liveness_socket {}\n{}    interval 1\n}}\n",
                px.pid_file.display(),
                px.socket.display(),
                if require_serving {
                    "    require_serving\n"
                } else {
                    ""
                }
            ),
            "    track_proxyd {\n        proxyd\n    }\n".to_owned(),
        ),
    };
    format!(
        "{block}vrrp_instance VI_1 {{\n    interface {IFACE}\n    state {}\n    priority {}\n    \
         virtual_router_id {VRID}\n    advert_int 1\n    authentication {{\n        auth_type PASS\n        \
         auth_pass {AUTH_PASS}\n    }}\n    virtual_ipaddress {{\n        {VIP4}/32 dev {IFACE}\n    }}\n\
         {reference}}}\n",
        if master { "MASTER" } else { "BACKUP" },
        if master { PRIO_A } else { PRIO_B },
    )
}

/// Runs one scenario: both boxes up, A master; `fail` applied to A's proxyd; returns the time
/// from the failure to B holding the VIP alone.
fn scenario(test: &str, tracking: Tracking, fail: Signal) -> Result<Duration> {
    let lab = Lab::new(test)?;
    let mut pa = start_proxyd(&lab, Node::A, "proxyd")?;
    let pb = start_proxyd(&lab, Node::B, "proxyd-b")?;
    let mut va = lab.start_conf(Node::A, Impl::ours(), &conf(true, tracking, "proxyd", &pa))?;
    let mut vb = lab.start_conf(
        Node::B,
        Impl::ours(),
        &conf(false, tracking, "proxyd-b", &pb),
    )?;
    // Election: A (101, or 103 with the script) wins; generous bound (startup + MDI).
    lab.wait_sole_holder(Node::A, VIP4, Duration::from_secs(10))
        .with_context(|| format!("A never became master:\n{}\n{}", va.output(), vb.output()))?;
    // Let the script trackers settle (both up, 103 vs 102) before the failure.
    lab.sleep(Duration::from_millis(2500));
    ensure!(
        lab.holders(VIP4)?.single() == Some(Node::A),
        "A lost the VIP before the failure"
    );
    let t0 = pa.proc.signal(fail)?;
    if fail == Signal::SIGKILL {
        // Reap it at once, as init or systemd would: `killall -0` counts zombies as running.
        pa.proc.wait_exit(Duration::from_secs(2))?;
    }
    let seen = lab
        .wait_holds(Node::B, VIP4, Duration::from_secs(10))
        .with_context(|| format!("B never took over:\n{}\n{}", va.output(), vb.output()))?;
    let took = seen.stamp.since(t0);
    lab.wait_released(Node::A, VIP4, Duration::from_secs(5))?;
    va.ensure_running()?;
    vb.ensure_running()?;
    let _ = pa.proc.signal(Signal::SIGCONT);
    Ok(took)
}

fn measured(what: &str, took: Duration, lo: Duration, hi: Duration) -> Result<()> {
    eprintln!("{what}: proxyd failure -> VIP on B in {took:?} (bounds {lo:?}..{hi:?})");
    ensure!(
        took >= lo && took <= hi,
        "{what}: takeover after {took:?}, outside {lo:?}..{hi:?}"
    );
    Ok(())
}

#[test]
fn seed_script_killall_proxyd_moves_the_vip() -> Result<()> {
    if !root_or_skip("seed_script_killall_proxyd_moves_the_vip") {
        return Ok(());
    }
    let took = scenario("trkpxscript", Tracking::Script, Signal::SIGKILL)?;
    // B at 100 + 2 = 102 discards A's adverts at 101 (RFC 3768 §6.4.2): Master_Down_Interval.
    let mdi = master_down_interval(2, PRIO_B + 2, ADVERT_INT);
    measured(
        "vrrp_script killall -0 proxyd (interval 1, weight 2)",
        took,
        mdi.saturating_sub(ADVERT_INT),
        ADVERT_INT + mdi + SILENT_MARGIN + SCRIPT_SLACK,
    )
}

#[test]
fn native_tracker_moves_the_vip_after_skew_time() -> Result<()> {
    if !root_or_skip("native_tracker_moves_the_vip_after_skew_time") {
        return Ok(());
    }
    let took = scenario(
        "trkpxnative",
        Tracking::Native {
            require_serving: false,
        },
        Signal::SIGKILL,
    )?;
    // FAULT sends priority 0: B takes over after Skew_Time (RFC 3768 §6.4.2).
    let skew = skew_time(2, PRIO_B, ADVERT_INT);
    measured(
        "track_proxyd (weight 0, pidfd)",
        took,
        skew.saturating_sub(Duration::from_millis(50)),
        skew + HANDOVER_MARGIN + DETECT_SLACK,
    )
}

#[test]
fn stopped_proxyd_moves_the_vip_with_require_serving() -> Result<()> {
    if !root_or_skip("stopped_proxyd_moves_the_vip_with_require_serving") {
        return Ok(());
    }
    let took = scenario(
        "trkpxstop",
        Tracking::Native {
            require_serving: true,
        },
        Signal::SIGSTOP,
    )?;
    let skew = skew_time(2, PRIO_B, ADVERT_INT);
    // Next check within one interval, no answer within the query timeout (interval / 2).
    measured(
        "track_proxyd require_serving, proxyd SIGSTOP",
        took,
        skew.saturating_sub(Duration::from_millis(50)),
        ADVERT_INT + ADVERT_INT / 2 + skew + HANDOVER_MARGIN + DETECT_SLACK,
    )
}

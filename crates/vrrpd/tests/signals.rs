//! Signals and systemd notifications of a running vrrpd (root, in a namespace): READY=1 once
//! started, SIGHUP with an unchanged / re-indented / broken file changes nothing, SIGUSR1 /
//! SIGUSR2 / SIGRTMIN+2 write keepalived's dump files in KA_TMP_DIR and change nothing else,
//! SIGHUP with a changed file applies it (the master stays master, reason `reload`), SIGTERM
//! sends STOPPING=1 and exits 0; STATS_CLEAR (SIGRTMAX-1) writes keepalived.stats with the
//! counters, then zeroes them.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Netns, TempDir, VRRPD, require_root, seed_conf, veth, wait_for};
use nix::sys::signal::Signal;

/// vrrpd in `ns` with configuration `conf`, its pid files and control socket in `dir`, in the
/// foreground with console logging (environment and stdio are the caller's).
fn vrrpd_in(ns: &Netns, dir: &TempDir, conf: &std::path::Path) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &ns.name, VRRPD, "-n", "-l", "-f"])
        .arg(conf)
        .arg("-p")
        .arg(dir.path("a.pid"))
        .arg("-r")
        .arg(dir.path("a_vrrp.pid"))
        .arg("--control-socket")
        .arg(dir.path("control.sock"));
    c
}

fn recv_notify(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = sock
        .recv(&mut buf)
        .expect("no sd_notify message within the timeout");
    String::from_utf8_lossy(&buf[..n]).trim_end().to_string()
}

#[test]
fn sighup_usr1_usr2_change_nothing_and_systemd_is_notified() {
    if !require_root("sighup_usr1_usr2_change_nothing_and_systemd_is_notified") {
        return;
    }
    let dir = TempDir::new("sig");
    let ns = Netns::new("sig");
    let peer = Netns::new("sig-peer");
    veth(&ns, &["192.0.2.11/24"], &peer, &["192.0.2.12/24"]);
    // Priority 255 (address owner): master at once, so a spurious transition would show. No
    // second GARP burst (garp_master_delay 0): the one burst on becoming master is then the only
    // one, however long the test runs, and any other would come from a signal.
    let body = seed_conf("MASTER", 255, "    garp_master_delay 0\n");
    let conf = dir.write("a.conf", &body);
    let notify_path = dir.path("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("bind notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");

    let log = dir.path("a.log");
    let mut child = vrrpd_in(&ns, &dir, &conf)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("KA_TMP_DIR", &dir.0)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let guard = scopeguard(child.id());

    assert_eq!(recv_notify(&notify), "READY=1");
    let log_now = read_log();
    assert!(log_now.contains("Startup complete"), "{log_now}");
    assert!(
        log_now.contains("(VI_1) Entering MASTER STATE"),
        "{log_now}"
    );
    assert!(ns.has_addr("eth0", "192.0.2.100/32"));

    // Unchanged file.
    nix::sys::signal::kill(pid, Signal::SIGHUP).expect("hup");
    assert!(
        wait_for(Duration::from_secs(3), || read_log()
            .contains("Reload complete (configuration unchanged)")),
        "{}",
        read_log()
    );
    assert!(recv_notify(&notify).starts_with("RELOADING=1"));
    assert_eq!(recv_notify(&notify), "READY=1");

    // The same settings re-indented, with comments added: every line moves, nothing changes.
    let moved: String = std::iter::once("! moved by an editor\n# and commented\n".to_string())
        .chain(
            body.lines()
                .map(|l| format!("\t  {}   # note\n", l.trim_start())),
        )
        .collect();
    std::fs::write(&conf, moved).expect("rewrite");
    nix::sys::signal::kill(pid, Signal::SIGHUP).expect("hup");
    assert!(
        wait_for(Duration::from_secs(3), || read_log()
            .matches("Reload complete (configuration unchanged)")
            .count()
            == 2),
        "{}",
        read_log()
    );
    assert!(recv_notify(&notify).starts_with("RELOADING=1"));
    assert_eq!(recv_notify(&notify), "READY=1");

    // Broken file: reported, the running configuration stays.
    std::fs::write(&conf, "vrrp_instance {\n").expect("rewrite");
    nix::sys::signal::kill(pid, Signal::SIGHUP).expect("hup");
    assert!(
        wait_for(Duration::from_secs(3), || read_log()
            .contains("reload: configuration invalid")),
        "{}",
        read_log()
    );
    assert!(recv_notify(&notify).starts_with("RELOADING=1"));
    assert_eq!(recv_notify(&notify), "READY=1");

    nix::sys::signal::kill(pid, Signal::SIGUSR1).expect("usr1");
    nix::sys::signal::kill(pid, Signal::SIGUSR2).expect("usr2");
    let json_sig = (libc::SIGRTMIN() + 2).to_string();
    let sent = Command::new("kill")
        .args([&format!("-{json_sig}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    for file in ["keepalived.data", "keepalived.stats", "keepalived.json"] {
        assert!(
            wait_for(Duration::from_secs(3), || dir.path(file).exists()),
            "{file} not written:\n{}",
            read_log()
        );
    }
    assert!(
        wait_for(Duration::from_secs(3), || read_log()
            .matches("state dump written")
            .count()
            == 3),
        "{}",
        read_log()
    );
    let data = std::fs::read_to_string(dir.path("keepalived.data")).expect("data");
    assert!(
        data.contains(" VRRP Instance = VI_1\n   VRRP Version = 2\n   State = MASTER\n"),
        "{data}"
    );
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "vrrpd died:\n{}",
        read_log()
    );

    let l = read_log();
    assert_eq!(
        l.matches("Entering").count(),
        1,
        "a signal caused a transition:\n{l}"
    );
    assert_eq!(
        l.matches("Sending/queueing gratuitous ARPs").count(),
        1,
        "a signal caused a GARP:\n{l}"
    );
    assert!(ns.has_addr("eth0", "192.0.2.100/32"));

    // Changed file (another VIP): applied. The instance keeps its VRID and interface, so it
    // resumes as master (reason `reload`) with the new address, and the old one is removed.
    std::fs::write(&conf, body.replace("192.0.2.100", "192.0.2.200")).expect("rewrite");
    nix::sys::signal::kill(pid, Signal::SIGHUP).expect("hup");
    assert!(recv_notify(&notify).starts_with("RELOADING=1"));
    assert_eq!(recv_notify(&notify), "READY=1");
    let l = read_log();
    assert_eq!(
        l.matches("Reload complete").count(),
        3,
        "two unchanged reloads and this one:\n{l}"
    );
    assert!(
        wait_for(Duration::from_secs(3), || ns
            .has_addr("eth0", "192.0.2.200/32")
            && !ns.has_addr("eth0", "192.0.2.100/32")),
        "{}\n{}",
        ns.addrs("eth0"),
        read_log()
    );
    let status = status_json(&dir.path("control.sock"));
    let inst = &status["instances"][0];
    assert_eq!(inst["state"], "MASTER", "{inst:#}");
    assert_eq!(inst["last_transition"]["reason"], "reload", "{inst:#}");

    nix::sys::signal::kill(pid, Signal::SIGTERM).expect("term");
    assert_eq!(recv_notify(&notify), "STOPPING=1");
    assert!(
        wait_for(Duration::from_secs(3), || child
            .try_wait()
            .expect("try_wait")
            .is_some()),
        "no exit"
    );
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    assert!(!ns.has_addr("eth0", "192.0.2.200/32"));
    assert!(
        !dir.path("control.sock").exists(),
        "control socket left behind"
    );
    drop(guard);
}

/// `vrrpd status --json` over the control socket at `socket`, parsed.
fn status_json(socket: &std::path::Path) -> serde_json::Value {
    let out = Command::new(VRRPD)
        .args(["status", "--json", "--control-socket"])
        .arg(socket)
        .output()
        .expect("vrrpd status");
    assert!(
        out.status.success(),
        "vrrpd status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

/// Kills the process if the test panics before it exits.
struct Killer(u32);

fn scopeguard(pid: u32) -> Killer {
    Killer(pid)
}

impl Drop for Killer {
    fn drop(&mut self) {
        if let Ok(p) = i32::try_from(self.0) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}

/// With `WatchdogSec=` (WATCHDOG_USEC), vrrpd pings `WATCHDOG=1` at half the interval once it is
/// ready.
#[test]
fn systemd_watchdog_is_pinged_at_half_the_interval() {
    if !require_root("systemd_watchdog_is_pinged_at_half_the_interval") {
        return;
    }
    let dir = TempDir::new("wd");
    let ns = Netns::new("wd");
    let peer = Netns::new("wd-peer");
    veth(&ns, &["192.0.2.11/24"], &peer, &["192.0.2.12/24"]);
    let conf = dir.write("a.conf", &seed_conf("MASTER", 255, ""));
    let notify_path = dir.path("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("bind notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut child = vrrpd_in(&ns, &dir, &conf)
        .env("NOTIFY_SOCKET", &notify_path)
        // 400 ms: a ping every 200 ms.
        .env("WATCHDOG_USEC", "400000")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let _guard = scopeguard(child.id());
    assert_eq!(recv_notify(&notify), "READY=1");
    // Nine more pings take 1.8 s after the first; the bound is 5 s per message (read timeout).
    assert_eq!(recv_notify(&notify), "WATCHDOG=1");
    let start = vrrpd::clock::now();
    for _ in 0..9 {
        assert_eq!(recv_notify(&notify), "WATCHDOG=1");
    }
    let took = vrrpd::clock::now() - start;
    // 9 intervals of 200 ms after the first ping; 1 s of margin for a loaded machine, and
    // never faster than the interval allows (minus 50 ms of timer slack).
    assert!(
        took >= Duration::from_millis(1750) && took <= Duration::from_millis(2800),
        "{took:?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
        Signal::SIGTERM,
    )
    .expect("term");
    assert!(child.wait().expect("wait").success());
}

/// A script vrrpd started gets SIGTERM when vrrpd dies (keepalived's `PR_SET_PDEATHSIG`): after
/// a SIGKILL of vrrpd, the tracked script (a shell that execs `sleep 30`) is gone or a zombie
/// within 5 s instead of sleeping on.
#[test]
fn scripts_do_not_outlive_a_killed_vrrpd() {
    if !require_root("scripts_do_not_outlive_a_killed_vrrpd") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("pdeath");
    let ns = Netns::new("pdeath");
    let peer = Netns::new("pdeath-peer");
    veth(&ns, &["192.0.2.11/24"], &peer, &["192.0.2.12/24"]);
    let pid_file = dir.path("script.pid");
    let script = dir.write(
        "chk.sh",
        &format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 30\n",
            pid_file.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let conf = dir.write(
        "a.conf",
        &format!(
            "vrrp_script chk {{\n    script \"{}\"\n    interval 60\n    timeout 60\n}}\n{}",
            script.display(),
            seed_conf("MASTER", 255, "    track_script {\n        chk\n    }\n")
        ),
    );
    let mut child = vrrpd_in(&ns, &dir, &conf)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let guard = scopeguard(child.id());
    assert!(
        wait_for(Duration::from_secs(5), || std::fs::read_to_string(
            &pid_file
        )
        .is_ok_and(|t| !t.trim().is_empty())),
        "the script never ran"
    );
    let script_pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid number");
    // State letter of a process from /proc (None once it is reaped).
    let state = || {
        std::fs::read_to_string(format!("/proc/{script_pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.chars().next()))
            .flatten()
    };
    assert!(matches!(state(), Some('S' | 'R')), "{:?}", state());
    child.kill().expect("SIGKILL vrrpd");
    child.wait().expect("wait");
    drop(guard);
    assert!(
        wait_for(Duration::from_secs(5), || matches!(
            state(),
            None | Some('Z')
        )),
        "the script outlived vrrpd: state {:?}",
        state()
    );
}

/// keepalived's STATS_CLEAR (SIGRTMAX-1, the number `vrrpd --signum=STATS_CLEAR` prints): the
/// stats file is written with the counters as they were, then the counters restart from zero
/// (`vrrpd status --json`), and the instance's state is untouched.
#[test]
fn stats_clear_writes_the_stats_file_then_zeroes_the_counters() {
    if !require_root("stats_clear_writes_the_stats_file_then_zeroes_the_counters") {
        return;
    }
    let signum = Command::new(VRRPD)
        .arg("--signum=STATS_CLEAR")
        .output()
        .expect("vrrpd --signum");
    assert!(signum.status.success());
    let signum: i32 = String::from_utf8_lossy(&signum.stdout)
        .trim()
        .parse()
        .expect("a signal number");
    assert_eq!(signum, libc::SIGRTMAX() - 1, "keepalived's STATS_CLEAR");

    let dir = TempDir::new("stclr");
    let ns = Netns::new("stclr");
    let peer = Netns::new("stclr-peer");
    veth(&ns, &["192.0.2.11/24"], &peer, &["192.0.2.12/24"]);
    // Address owner (255): master at once, an advert every second.
    let conf = dir.write("a.conf", &seed_conf("MASTER", 255, ""));
    let log = dir.path("a.log");
    let mut child = vrrpd_in(&ns, &dir, &conf)
        .env("KA_TMP_DIR", &dir.0)
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let _guard = scopeguard(child.id());
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let socket = dir.path("control.sock");
    let counters = || {
        let s = status_json(&socket);
        assert_eq!(s["instances"][0]["state"], "MASTER", "{s:#}");
        s["instances"][0]["counters"].clone()
    };
    let sent = |c: &serde_json::Value| c["adverts_sent"].as_u64().expect("adverts_sent");

    // Three adverts (advert_int 1) after becoming master: 2 s, plus start-up.
    assert!(
        wait_for(Duration::from_secs(6), || socket.exists()
            && sent(&counters()) >= 3),
        "no adverts counted:\n{}",
        read_log()
    );
    let before = counters();
    assert_eq!(before["became_master"], 1, "{before:#}");

    let stats_file = dir.path("keepalived.stats");
    assert!(!stats_file.exists());
    let t0 = common::now();
    let sent_signal = Command::new("kill")
        .args([&format!("-{signum}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent_signal.success());
    assert!(
        wait_for(Duration::from_secs(3), || std::fs::read_to_string(
            &stats_file
        )
        .is_ok_and(|t| t.contains("Priority Zero:"))),
        "keepalived.stats not written:\n{}",
        read_log()
    );
    // The counters before the clear are in the file.
    let stats = std::fs::read_to_string(&stats_file).expect("stats");
    let field = |section: &str, key: &str| -> u64 {
        let rest = &stats[stats
            .find(section)
            .unwrap_or_else(|| panic!("{section}:\n{stats}"))..];
        let line = rest
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("{key}:\n{stats}"));
        line.rsplit(':')
            .next()
            .expect("value")
            .trim()
            .parse()
            .expect("integer")
    };
    let file_sent = field("Advertisements:", "Sent:");
    assert!(file_sent >= sent(&before), "{stats}\nbefore: {before:#}");
    assert_eq!(field("VRRP Instance: VI_1", "Became master:"), 1, "{stats}");

    // Then zero: at most one advert per elapsed second (advert_int 1) since the signal, plus
    // one for an advert that left between the dump and the clear.
    assert!(
        wait_for(Duration::from_secs(3), || counters()["became_master"] == 0),
        "counters not cleared: {:#}\n{}",
        counters(),
        read_log()
    );
    let after = counters();
    let elapsed = (common::now() - t0).as_secs() + 1;
    assert!(
        sent(&after) <= elapsed + 1,
        "{after:#} {elapsed} s after the signal"
    );
    assert!(
        sent(&after) < file_sent,
        "{after:#} vs {file_sent} in the file"
    );
    for zero in [
        "became_master",
        "released_master",
        "priority_zero_sent",
        "priority_zero_received",
        "adverts_received",
    ] {
        assert_eq!(after[zero], 0, "{zero}: {after:#}");
    }
    // Counting resumes (a reset, not a freeze): the next adverts are counted.
    let base = sent(&after);
    assert!(
        wait_for(Duration::from_secs(3), || sent(&counters()) > base),
        "adverts no longer counted: {:#}",
        counters()
    );
    let l = read_log();
    assert_eq!(
        l.matches("Entering").count(),
        1,
        "the signal caused a transition:\n{l}"
    );
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "vrrpd died:\n{l}"
    );
}

//! Signals and systemd notifications of a running vrrpd (root, in a namespace): READY=1 once
//! started, SIGHUP with an unchanged / re-indented / changed / broken file changes nothing,
//! SIGUSR1 / SIGUSR2 / SIGRTMIN+2 write keepalived's dump files in KA_TMP_DIR and change nothing
//! else, SIGTERM sends STOPPING=1 and exits 0.

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
            .contains("reload: configuration unchanged")),
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
            .matches("reload: configuration unchanged")
            .count()
            == 2),
        "{}",
        read_log()
    );
    assert!(recv_notify(&notify).starts_with("RELOADING=1"));
    assert_eq!(recv_notify(&notify), "READY=1");

    // Changed file: not applied yet, said so, nothing changes.
    std::fs::write(&conf, body.replace("192.0.2.100", "192.0.2.200")).expect("rewrite");
    nix::sys::signal::kill(pid, Signal::SIGHUP).expect("hup");
    assert!(
        wait_for(Duration::from_secs(3), || read_log()
            .contains("full reload is not yet implemented")),
        "{}",
        read_log()
    );
    // Broken file: same.
    std::fs::write(&conf, "vrrp_instance {\n").expect("rewrite");
    nix::sys::signal::kill(pid, Signal::SIGHUP).expect("hup");
    assert!(
        wait_for(Duration::from_secs(3), || read_log()
            .contains("reload: configuration invalid")),
        "{}",
        read_log()
    );

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
    assert!(!ns.has_addr("eth0", "192.0.2.200/32"));

    nix::sys::signal::kill(pid, Signal::SIGTERM).expect("term");
    let mut stopping = false;
    // Two more RELOADING=1 + READY=1 pairs (changed and broken file) are queued first.
    for _ in 0..6 {
        if recv_notify(&notify) == "STOPPING=1" {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "no STOPPING=1");
    assert!(
        wait_for(Duration::from_secs(3), || child
            .try_wait()
            .expect("try_wait")
            .is_some()),
        "no exit"
    );
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    assert!(!ns.has_addr("eth0", "192.0.2.100/32"));
    assert!(
        !dir.path("control.sock").exists(),
        "control socket left behind"
    );
    drop(guard);
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

//! Without `-n` vrrpd forks into the background like keepalived: the launcher exits 0, the pid
//! files hold the daemon's pid, logs go to syslog with ident `Keepalived_vrrp` and the `-S`
//! facility, SIGTERM stops it and removes the pid files (root, in a namespace).
//!
//! syslog is captured by binding `/dev/log` when the machine has no syslog daemon; when one owns
//! `/dev/log` the syslog part is skipped (said loudly) and the rest still runs.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Netns, TempDir, VRRPD, require_root, seed_conf, veth, wait_for};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// `/dev/log` bound by this test, removed on drop.
struct DevLog(UnixDatagram);

impl DevLog {
    fn bind() -> Option<Self> {
        if Path::new("/dev/log").exists() {
            eprintln!("NOTE: /dev/log belongs to a syslog daemon here; syslog capture skipped");
            return None;
        }
        let s = UnixDatagram::bind("/dev/log").ok()?;
        s.set_nonblocking(true).ok()?;
        Some(Self(s))
    }

    fn drain(&self, into: &mut String) {
        let mut buf = [0u8; 2048];
        while let Ok(n) = self.0.recv(&mut buf) {
            into.push_str(&String::from_utf8_lossy(&buf[..n]));
            into.push('\n');
        }
    }
}

impl Drop for DevLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file("/dev/log");
    }
}

/// SIGKILLs the daemon if the test fails before stopping it.
struct Kill(Option<Pid>);

impl Drop for Kill {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            let _ = nix::sys::signal::kill(p, Signal::SIGKILL);
        }
    }
}

#[test]
fn forks_writes_pid_files_logs_to_syslog_and_stops_on_sigterm() {
    if !require_root("forks_writes_pid_files_logs_to_syslog_and_stops_on_sigterm") {
        return;
    }
    let dir = TempDir::new("daemon");
    let ns = Netns::new("daemon");
    let peer = Netns::new("daemon-peer");
    veth(&ns, &["192.0.2.11/24"], &peer, &["192.0.2.12/24"]);
    let conf = dir.write("a.conf", &seed_conf("MASTER", 255, ""));
    let (pid_file, vrrp_pid_file) = (dir.path("a.pid"), dir.path("a_vrrp.pid"));
    let devlog = DevLog::bind();

    let status = Command::new("ip")
        .args(["netns", "exec", &ns.name, VRRPD, "-S", "local3", "-f"])
        .arg(&conf)
        .arg("-p")
        .arg(&pid_file)
        .arg("-r")
        .arg(&vrrp_pid_file)
        .status()
        .expect("run vrrpd");
    assert!(status.success(), "launcher: {status:?}");
    let read_pid = |p: &Path| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
    };
    assert!(
        wait_for(Duration::from_secs(3), || read_pid(&pid_file).is_some()),
        "no pid file"
    );
    let pid = read_pid(&pid_file).expect("pid");
    let mut guard = Kill(Some(Pid::from_raw(pid)));
    assert_eq!(read_pid(&vrrp_pid_file), Some(pid));
    // Reparented: the launcher has exited, the daemon lives on.
    assert!(
        nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok(),
        "daemon not running"
    );
    assert!(
        wait_for(Duration::from_secs(3), || ns
            .has_addr("eth0", "192.0.2.100/32")),
        "{}",
        ns.addrs("eth0")
    );

    let mut syslog = String::new();
    if let Some(d) = &devlog {
        assert!(
            wait_for(Duration::from_secs(3), || {
                d.drain(&mut syslog);
                syslog.contains("Startup complete")
            }),
            "{syslog}"
        );
        // local3 (19 << 3) + info (6) = 158; ident and pid as keepalived's VRRP child logs them.
        assert!(syslog.contains("<158>"), "{syslog}");
        assert!(
            syslog.contains(&format!(
                "Keepalived_vrrp[{pid}]: (VI_1) Entering MASTER STATE"
            )),
            "{syslog}"
        );
    }

    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM).expect("term");
    assert!(
        wait_for(Duration::from_secs(3), || nix::sys::signal::kill(
            Pid::from_raw(pid),
            None
        )
        .is_err()),
        "daemon did not exit"
    );
    guard.0 = None;
    assert!(
        !pid_file.exists() && !vrrp_pid_file.exists(),
        "pid files left behind"
    );
    assert!(
        !ns.has_addr("eth0", "192.0.2.100/32"),
        "{}",
        ns.addrs("eth0")
    );
    if let Some(d) = &devlog {
        assert!(
            wait_for(Duration::from_secs(1), || {
                d.drain(&mut syslog);
                syslog.contains(&format!("Keepalived_vrrp[{pid}]: Stopped"))
            }),
            "{syslog}"
        );
        assert!(
            syslog.contains(&format!("Keepalived_vrrp[{pid}]: (VI_1) sent 0 priority")),
            "{syslog}"
        );
    }
}

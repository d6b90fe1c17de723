//! Without `-n` vrrpd forks into the background like keepalived: the launcher exits 0, the pid
//! files hold the daemon's pid, logs go to syslog with ident `Keepalived_vrrp` and the `-S`
//! facility, SIGTERM stops it and removes the pid files (root, in a namespace).
//!
//! syslog is always captured: when the machine has no `/dev/log`, the test binds it itself; when
//! a syslog daemon owns it, the daemon under test runs in a private mount namespace (`unshare -m`)
//! where a socket of the test is bind-mounted over `/dev/log`, so the machine's syslog is neither
//! touched nor read. If neither works the test fails (it never skips the syslog part).

mod common;

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Netns, TempDir, VRRPD, require_root, seed_conf, veth, wait_for};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// The machine's syslog socket path (glibc's `_PATH_LOG`).
const DEV_LOG: &str = "/dev/log";

/// A datagram socket receiving what the daemon sends to `/dev/log`.
struct SyslogCapture {
    sock: UnixDatagram,
    /// `Some(inode)`: the socket is `/dev/log` itself, removed on drop if it is still ours.
    /// `None`: it lives at `private` and is bind-mounted over `/dev/log` for the daemon only.
    owns_dev_log: Option<u64>,
    private: PathBuf,
}

impl SyslogCapture {
    fn new(dir: &TempDir) -> Self {
        let private = dir.path("log.sock");
        if !Path::new(DEV_LOG).exists() {
            match UnixDatagram::bind(DEV_LOG) {
                Ok(sock) => {
                    let ino = std::fs::metadata(DEV_LOG).expect("stat /dev/log").ino();
                    sock.set_nonblocking(true).expect("nonblocking");
                    return Self {
                        sock,
                        owns_dev_log: Some(ino),
                        private,
                    };
                }
                // Someone created it meanwhile: fall through to the private mount.
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {}
                Err(e) => panic!("cannot bind {DEV_LOG} to capture syslog: {e}"),
            }
        }
        let sock = UnixDatagram::bind(&private).expect("bind the private syslog socket");
        sock.set_nonblocking(true).expect("nonblocking");
        Self {
            sock,
            owns_dev_log: None,
            private,
        }
    }

    /// The command running `args` so that its `/dev/log` is this capture.
    fn command(&self, args: &[&str]) -> Command {
        match self.owns_dev_log {
            Some(_) => {
                let mut c = Command::new(args[0]);
                c.args(&args[1..]);
                c
            }
            None => {
                // A private mount namespace: the bind mount is seen by the daemon only, and
                // vanishes with it.
                let mut c = Command::new("unshare");
                c.args(["--mount", "--propagation", "private", "sh", "-c"])
                    .arg(format!("mount --bind \"$0\" {DEV_LOG} && exec \"$@\""))
                    .arg(&self.private)
                    .args(args);
                c
            }
        }
    }

    fn drain(&self, into: &mut String) {
        let mut buf = [0u8; 2048];
        while let Ok(n) = self.sock.recv(&mut buf) {
            into.push_str(&String::from_utf8_lossy(&buf[..n]));
            into.push('\n');
        }
    }
}

impl Drop for SyslogCapture {
    fn drop(&mut self) {
        if let Some(ino) = self.owns_dev_log {
            if std::fs::metadata(DEV_LOG).is_ok_and(|m| m.ino() == ino) {
                let _ = std::fs::remove_file(DEV_LOG);
            }
        }
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
    let syslog_capture = SyslogCapture::new(&dir);
    let (conf_s, pid_s, vpid_s) = (
        conf.display().to_string(),
        pid_file.display().to_string(),
        vrrp_pid_file.display().to_string(),
    );
    let status = syslog_capture
        .command(&[
            "ip", "netns", "exec", &ns.name, VRRPD, "-S", "local3", "-f", &conf_s, "-p", &pid_s,
            "-r", &vpid_s,
        ])
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
    assert!(
        wait_for(Duration::from_secs(3), || {
            syslog_capture.drain(&mut syslog);
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
    assert!(
        wait_for(Duration::from_secs(1), || {
            syslog_capture.drain(&mut syslog);
            syslog.contains(&format!("Keepalived_vrrp[{pid}]: Stopped"))
        }),
        "{syslog}"
    );
    assert!(
        syslog.contains(&format!("Keepalived_vrrp[{pid}]: (VI_1) sent 0 priority")),
        "{syslog}"
    );
}

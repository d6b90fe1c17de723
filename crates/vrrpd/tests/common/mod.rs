//! Helpers of vrrpd's own integration tests: root gating, network namespaces torn down on drop
//! (even on panic), the vrrpd binary run inside a namespace, bounded polling.
//!
//! Addresses used: 192.0.2.0/24 and 2001:db8::/32 only, inside namespaces these tests create.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lbcore::vrrp::packet::Version;
use lbcore::vrrp::timers;

/// Start-up of a vrrpd process before its instances' timers run: `ip netns exec`, the runtime,
/// netlink look-ups and sockets take tens of milliseconds; an IPv6 instance also waits for its
/// link-local address to leave DAD (1 s with the kernel's defaults: one probe, RetransTimer 1 s).
/// 2 s covers both on the 2-core machine these tests share with other builds and test runs.
pub const STARTUP: Duration = Duration::from_secs(2);

/// Slack for something vrrpd does at once (answer an advert, handle a signal, add or remove an
/// address): each takes milliseconds; 500 ms absorbs scheduling delays on a loaded machine and
/// the 20 ms polling of [`wait_for`].
pub const REACT: Duration = Duration::from_millis(500);

/// Master_Down_Interval of a backup of `priority` (RFC 3768 §6.1 / RFC 5798 §6.1 with
/// keepalived's default of 3 adverts), from lbcore's timer arithmetic.
pub fn master_down(version: Version, priority: u8, advert_int: Duration) -> Duration {
    timers::master_down_interval(
        version,
        priority,
        advert_int,
        lbcore::config::vrrp::DEFAULT_DOWN_TIMER_ADVERTS,
    )
}

/// Skew_Time of a backup of `priority` (RFC 3768 §6.1 / RFC 5798 §6.1): how long it waits after
/// a priority-0 advert.
pub fn skew(version: Version, priority: u8, advert_int: Duration) -> Duration {
    timers::skew_time(version, priority, advert_int)
}

/// The vrrpd binary under test.
pub const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");

/// The tests' one clock read (wall-clock bounds on polling and on measured failover times).
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call.
pub fn unique(tag: &str) -> String {
    format!(
        "vrd-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// True under CI (`CI=true`), where nothing may be skipped.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// True when the test may use root-only features. Not root: skips loudly, or panics when
/// `CI=true` (CI must never skip these).
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if ci() {
        panic!("{test}: needs root (network namespaces, raw sockets) and CI=true forbids skipping");
    }
    // Written to the real stderr, not the harness's captured one, so the skip is seen.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs root (network namespaces, raw sockets)"
    );
    false
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// Creates a namespace with loopback up.
    pub fn new(tag: &str) -> Self {
        let name = unique(tag);
        sh(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME args...`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// `ip -n NAME -o addr show dev IF` lines.
    pub fn addrs(&self, dev: &str) -> String {
        self.ip(&["-o", "addr", "show", "dev", dev])
    }

    /// True when `addr` (as `ip` prints it, e.g. `192.0.2.100/32`) is on `dev`.
    pub fn has_addr(&self, dev: &str, addr: &str) -> bool {
        self.addrs(dev).split_whitespace().any(|w| w == addr)
    }

    /// Runs `f` on a thread that has entered this namespace, so that sockets `f` opens live in
    /// it (a socket keeps the namespace it was created in); the test's own threads stay put.
    pub fn run_inside<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        use std::os::fd::AsRawFd;
        let path = format!("/run/netns/{}", self.name);
        let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: `ns` is an open namespace file for the whole call; setns(2) only changes
                // this short-lived thread's network namespace, no memory is shared with the kernel.
                #[allow(unsafe_code)]
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("thread inside the namespace panicked")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Connects `a` and `b` with a veth pair named `eth0` on both sides, addresses added, link up.
pub fn veth(a: &Netns, a_addrs: &[&str], b: &Netns, b_addrs: &[&str]) {
    a.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", &b.name,
    ]);
    for (ns, addrs) in [(a, a_addrs), (b, b_addrs)] {
        for addr in addrs {
            ns.ip(&["addr", "add", addr, "dev", "eth0"]);
        }
        ns.ip(&["link", "set", "eth0", "up"]);
    }
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates it.
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }

    /// Writes `name` with `text`, returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write temp file");
        p
    }

    /// A path inside.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A vrrpd process in a namespace (`-n -l -D`), its stderr in a log file. Killed on drop.
#[derive(Debug)]
pub struct Vrrpd {
    child: Child,
    /// Log file.
    pub log: PathBuf,
    /// `-p` pid file.
    pub pid_file: PathBuf,
    /// `-r` pid file.
    pub vrrp_pid_file: PathBuf,
}

impl Vrrpd {
    /// Starts `vrrpd -n -l -D -f conf` in `ns` with pid files and log under `dir`, named by `tag`.
    pub fn start(ns: &Netns, dir: &TempDir, tag: &str, conf: &Path) -> Self {
        Self::start_with(ns, dir, tag, conf, &[])
    }

    /// Same, with extra arguments.
    pub fn start_with(ns: &Netns, dir: &TempDir, tag: &str, conf: &Path, extra: &[&str]) -> Self {
        let log = dir.path(&format!("{tag}.log"));
        let pid_file = dir.path(&format!("{tag}.pid"));
        let vrrp_pid_file = dir.path(&format!("{tag}_vrrp.pid"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, VRRPD, "-n", "-l", "-D", "-f"])
            .arg(conf)
            .arg("-p")
            .arg(&pid_file)
            .arg("-r")
            .arg(&vrrp_pid_file)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn vrrpd");
        Self {
            child,
            log,
            pid_file,
            vrrp_pid_file,
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle` (at most `timeout`).
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, || self.log().contains(needle))
    }

    /// Sends `sig` to the process (`ip netns exec` execs vrrpd, so the child pid is vrrpd's).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, sig).expect("kill");
    }

    /// The pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for exit at most `timeout`; `None` if still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return Some(s);
            }
            if now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Vrrpd {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The seed's keepalived.conf (VRRP v2, VRID 51, PASS auth, VIP 192.0.2.100) with `state` and
/// `priority`, plus `extra` lines inside the instance.
pub fn seed_conf(state: &str, priority: u8, extra: &str) -> String {
    format!(
        "global_defs {{\n    notification_email_from keepalived@example.com\n}}\n\
         vrrp_instance VI_1 {{\n    interface eth0\n    state {state}\n    priority {priority}\n\
         \x20   virtual_router_id 51\n    advert_int 1\n    authentication {{\n        auth_type PASS\n\
         \x20       auth_pass somepassword\n    }}\n    virtual_ipaddress {{\n        192.0.2.100\n    }}\n\
         {extra}}}\n"
    )
}

/// The `addr_info` object of `ip -j addr` output `json` whose `local` is `local`, as text (the
/// objects are flat, so the braces around the match delimit it).
pub fn addr_info(json: &str, local: &str) -> Option<String> {
    let at = json.find(&format!("\"local\":\"{local}\""))?;
    let start = json[..at].rfind('{')?;
    let end = at + json[at..].find('}')?;
    Some(json[start..=end].to_string())
}

/// The number after `"key":` in a flat JSON object's text.
pub fn json_number(obj: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    let rest = &obj[obj.find(&pat)? + pat.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

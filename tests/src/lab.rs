//! The RAII network-namespace lab: a "switch" namespace with a bridge, and veths to box A, box B
//! and a client, each in its own namespace.
//!
//! ```text
//!   ns <p>-a (box A)        ns <p>-b (box B)        ns <p>-c (client)
//!   eth0 192.0.2.11/24      eth0 192.0.2.12/24      eth0 192.0.2.50/24
//!        2001:db8::11/64         2001:db8::12/64         2001:db8::50/64
//!        |                       |                       |
//!        pa -------------------- pb ------ br0 --------- pc      ns <p>-sw (switch)
//! ```
//!
//! Owns namespace creation and teardown (on drop, also when the test panics: every process left in
//! the lab's namespaces is SIGKILLed, then the namespaces are deleted; its directory of configs,
//! logs and captures stays until a later run finds its process gone), the global lock that keeps
//! system tests from overlapping, and the probes tests assert with (VIP holder, client neighbour
//! entry, ping), link and firewall helpers, process spawning and packet capture. Must not touch
//! any namespace it did not create, apart from deleting leftovers of dead runs with its own prefix.

use std::env;
use std::fs::{self, File, OpenOptions};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::capture::{Capture, FILTER, Mac, format_mac};
use crate::config::{IFACE, Instance};
use crate::daemon::{Daemon, Impl};
use crate::poll::{POLL_EVERY, Seen, Stamp, poll_until};
use crate::process::Proc;

/// Prefix of every namespace the harness creates.
pub const NS_PREFIX: &str = "vst-";
/// Wall-clock budget of one test (its lab refuses to poll beyond it).
pub const TEST_BUDGET: Duration = Duration::from_secs(60);

static LAB_SEQ: AtomicU32 = AtomicU32::new(0);

/// A host on the lab LAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// Box A (the seed's MASTER, priority 101).
    A,
    /// Box B (the seed's BACKUP, priority 100).
    B,
    /// The client.
    Client,
}

impl Node {
    /// Both VRRP boxes.
    pub const BOXES: [Node; 2] = [Node::A, Node::B];
    const ALL: [Node; 3] = [Node::A, Node::B, Node::Client];

    fn role(self) -> &'static str {
        match self {
            Node::A => "a",
            Node::B => "b",
            Node::Client => "c",
        }
    }

    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            Node::A => "A",
            Node::B => "B",
            Node::Client => "client",
        }
    }

    /// The other box (the client maps to itself).
    pub fn peer(self) -> Node {
        match self {
            Node::A => Node::B,
            Node::B => Node::A,
            Node::Client => Node::Client,
        }
    }

    /// The IPv4 address on eth0.
    pub fn ip4(self) -> &'static str {
        match self {
            Node::A => "192.0.2.11",
            Node::B => "192.0.2.12",
            Node::Client => "192.0.2.50",
        }
    }

    /// The IPv6 global address on eth0.
    pub fn ip6(self) -> &'static str {
        match self {
            Node::A => "2001:db8::11",
            Node::B => "2001:db8::12",
            Node::Client => "2001:db8::50",
        }
    }

    /// The (fixed, locally administered) MAC of eth0.
    pub fn mac(self) -> Mac {
        match self {
            Node::A => [0x02, 0, 0, 0, 0, 0x11],
            Node::B => [0x02, 0, 0, 0, 0, 0x12],
            Node::Client => [0x02, 0, 0, 0, 0, 0x50],
        }
    }

    /// The switch-side port of this node's cable.
    fn port(self) -> String {
        format!("p{}", self.role())
    }
}

/// Which boxes hold an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holders {
    /// Box A has it.
    pub a: bool,
    /// Box B has it.
    pub b: bool,
}

impl Holders {
    /// The single holder, if exactly one box holds it.
    pub fn single(self) -> Option<Node> {
        match (self.a, self.b) {
            (true, false) => Some(Node::A),
            (false, true) => Some(Node::B),
            _ => None,
        }
    }

    /// `A`, `B`, `A+B` or `-`.
    pub fn label(self) -> &'static str {
        match (self.a, self.b) {
            (true, false) => "A",
            (false, true) => "B",
            (true, true) => "A+B",
            (false, false) => "-",
        }
    }
}

/// True when not root; prints the loud skip message, or panics when `CI=true`.
fn skip_unless_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    assert!(
        !crate::is_ci(),
        "{test}: system tests need root, and CI=true forbids skipping"
    );
    eprintln!("\n!!!!! {test}: SKIPPED (needs root: network namespaces, raw sockets) !!!!!\n");
    true
}

/// Returns true when the test may run (root); false after printing a loud
/// `SKIPPED (needs root)` message. Panics instead of skipping when `CI=true`.
pub fn root_or_skip(test: &str) -> bool {
    !skip_unless_root(test)
}

/// The lab. Dropping it kills everything running in it and deletes its namespaces.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    dir: PathBuf,
    namespaces: Vec<String>,
    started: Instant,
    seq: AtomicU32,
    // Declared last: released after the teardown in `drop`.
    _lock: Flock<File>,
}

impl Lab {
    /// Builds a fresh lab for `test` (serialised with every other lab on the machine).
    ///
    /// Call [`root_or_skip`] first; this fails when not root.
    pub fn new(test: &str) -> Result<Self> {
        if !nix::unistd::geteuid().is_root() {
            bail!("{test}: the lab needs root (call system_tests::root_or_skip first)");
        }
        let lock = global_lock()?;
        remove_stale_namespaces();
        remove_stale_dirs();
        let short: String = test
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>();
        let seq = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{NS_PREFIX}{short}-{}-{seq}", std::process::id());
        let dir = labs_root().join(&prefix);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut lab = Self {
            prefix,
            dir,
            namespaces: Vec::new(),
            started: crate::poll::now(),
            seq: AtomicU32::new(0),
            _lock: lock,
        };
        lab.build()
            .with_context(|| format!("building lab {}", lab.prefix))?;
        eprintln!("lab {} up; files in {}", lab.prefix, lab.dir.display());
        Ok(lab)
    }

    fn build(&mut self) -> Result<()> {
        for role in ["sw", "a", "b", "c"] {
            let ns = format!("{}-{role}", self.prefix);
            run(&["ip", "netns", "add", &ns])?;
            self.namespaces.push(ns);
        }
        let sw = self.switch_ns();
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for node in Node::ALL {
            let ns = self.ns(node);
            // No DAD: IPv6 addresses (link-local, VIPs) are usable at once.
            run(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-q",
                "-w",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ])?;
            let port = node.port();
            ip(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", IFACE, "netns",
                &ns,
            ])?;
            ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"])?;
            ip(&[
                "-n",
                &ns,
                "link",
                "set",
                IFACE,
                "address",
                &format_mac(&node.mac()),
            ])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", node.ip4()),
                "dev",
                IFACE,
            ])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/64", node.ip6()),
                "dev",
                IFACE,
                "nodad",
            ])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "link", "set", IFACE, "up"])?;
        }
        Ok(())
    }

    /// Namespace of a node.
    pub fn ns(&self, node: Node) -> String {
        format!("{}-{}", self.prefix, node.role())
    }

    /// Namespace of the switch.
    pub fn switch_ns(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    /// Directory holding configs, pid files, logs and captures.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Time left of the test budget.
    pub fn remaining(&self) -> Duration {
        TEST_BUDGET.saturating_sub(self.started.elapsed())
    }

    fn next_seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// [`poll_until`] every 5 ms, clipped to the test budget.
    pub fn poll<T>(
        &self,
        what: &str,
        timeout: Duration,
        probe: impl FnMut() -> Result<Option<T>>,
    ) -> Result<Seen<T>> {
        let remaining = self.remaining();
        if remaining.is_zero() {
            bail!("test budget of {TEST_BUDGET:?} exhausted before waiting for {what}");
        }
        poll_until(what, timeout.min(remaining), POLL_EVERY, probe)
    }

    /// Sleeps, bounded by the test budget.
    pub fn sleep(&self, d: Duration) {
        thread::sleep(d.min(self.remaining()));
    }

    // ---- processes -------------------------------------------------------------------------

    /// Starts `argv` in `node`'s namespace; output goes to `<dir>/<name>-<n>.{out,err}`.
    pub fn spawn(&self, node: Node, name: &str, argv: &[String]) -> Result<Proc> {
        let name = format!("{name}-{}", self.next_seq());
        Proc::spawn(&self.ns(node), &self.dir, &name, argv)
    }

    /// Writes `instance` as keepalived.conf and starts `imp` with it on `node`.
    pub fn start(&self, node: Node, imp: Impl, instance: &Instance) -> Result<Daemon> {
        self.start_conf(node, imp, &instance.render())
    }

    /// Writes `conf` and starts `imp` with it on `node` (`-n -l -D -f CONF -p PID -r VRRPPID`).
    pub fn start_conf(&self, node: Node, imp: Impl, conf: &str) -> Result<Daemon> {
        let n = self.next_seq();
        let base = format!("{}-{}-{n}", imp.label(), node.role());
        let conf_path = self.dir.join(format!("{base}.conf"));
        fs::write(&conf_path, conf).with_context(|| format!("writing {}", conf_path.display()))?;
        let argv = imp.argv(
            &conf_path,
            &self.dir.join(format!("{base}.pid")),
            &self.dir.join(format!("{base}-vrrp.pid")),
        )?;
        let proc = Proc::spawn(&self.ns(node), &self.dir, &base, &argv)?;
        Ok(Daemon::new(imp, proc))
    }

    /// Starts tcpdump on the switch port towards the client (it sees every advert, GARP and NA on
    /// the LAN) and returns once it is capturing.
    pub fn capture(&self) -> Result<Capture> {
        let n = self.next_seq();
        let file = self.dir.join(format!("capture-{n}.pcap"));
        let mut argv: Vec<String> = [
            "tcpdump",
            "-i",
            "pc",
            "-n",
            "-U",
            "--immediate-mode",
            "-s",
            "256",
            "-Z",
            "root",
            "-w",
        ]
        .map(String::from)
        .to_vec();
        argv.push(file.display().to_string());
        argv.push(FILTER.to_owned());
        let mut proc = Proc::spawn(&self.switch_ns(), &self.dir, &format!("tcpdump-{n}"), &argv)?;
        proc.wait_output("listening on", Duration::from_secs(5))?;
        Ok(Capture::new(proc, file))
    }

    /// Runs `f` on a fresh thread that has joined `node`'s network namespace, so sockets it
    /// opens live there (setns(2) changes only the calling thread's namespace).
    pub fn in_ns<T: Send + 'static>(
        &self,
        node: Node,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let path = Path::new("/run/netns").join(self.ns(node));
        thread::spawn(move || {
            let fd = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("setns {}", path.display()))?;
            f()
        })
        .join()
        .map_err(|_| anyhow::anyhow!("thread in {} panicked", node.label()))?
    }

    /// Adds `cidr` (e.g. `192.0.2.21/24`) to `node`'s eth0.
    pub fn add_addr(&self, node: Node, cidr: &str) -> Result<()> {
        ip(&["-n", &self.ns(node), "addr", "add", cidr, "dev", IFACE]).map(drop)
    }

    /// Removes `cidr` from `node`'s eth0.
    pub fn del_addr(&self, node: Node, cidr: &str) -> Result<()> {
        ip(&["-n", &self.ns(node), "addr", "del", cidr, "dev", IFACE]).map(drop)
    }

    // ---- probes ----------------------------------------------------------------------------

    /// The addresses on `node`'s eth0 (from `ip -o addr`).
    pub fn addrs(&self, node: Node) -> Result<Vec<IpAddr>> {
        let out = ip(&["-n", &self.ns(node), "-o", "addr", "show", "dev", IFACE])?;
        Ok(parse_addrs(&out))
    }

    /// Whether `node` has `addr` on eth0.
    pub fn holds(&self, node: Node, addr: &str) -> Result<bool> {
        let want: IpAddr = addr
            .parse()
            .with_context(|| format!("bad address {addr}"))?;
        Ok(self.addrs(node)?.contains(&want))
    }

    /// Which boxes hold `vip`.
    pub fn holders(&self, vip: &str) -> Result<Holders> {
        Ok(Holders {
            a: self.holds(Node::A, vip)?,
            b: self.holds(Node::B, vip)?,
        })
    }

    /// Polls until `node` holds `vip`; returns the instant it was first seen.
    pub fn wait_holds(&self, node: Node, vip: &str, timeout: Duration) -> Result<Seen<()>> {
        self.poll(
            &format!("box {} to hold {vip}", node.label()),
            timeout,
            || Ok(self.holds(node, vip)?.then_some(())),
        )
    }

    /// Polls until `node` no longer holds `vip`.
    pub fn wait_released(&self, node: Node, vip: &str, timeout: Duration) -> Result<Seen<()>> {
        self.poll(
            &format!("box {} to release {vip}", node.label()),
            timeout,
            || Ok((!self.holds(node, vip)?).then_some(())),
        )
    }

    /// Polls until exactly `node` (and not its peer) holds `vip`.
    pub fn wait_sole_holder(&self, node: Node, vip: &str, timeout: Duration) -> Result<Seen<()>> {
        self.poll(
            &format!("box {} to be the only holder of {vip}", node.label()),
            timeout,
            || Ok((self.holders(vip)?.single() == Some(node)).then_some(())),
        )
    }

    /// The client's neighbour-table MAC for `addr` (`ip -n client neigh`), if it has one.
    pub fn client_neigh(&self, addr: &str) -> Result<Option<Mac>> {
        let out = ip(&[
            "-n",
            &self.ns(Node::Client),
            "neigh",
            "show",
            addr,
            "dev",
            IFACE,
        ])?;
        Ok(parse_neigh_mac(&out))
    }

    /// One ping (1 s timeout) from `from` to `addr`; true when answered.
    pub fn ping(&self, from: Node, addr: &str) -> Result<bool> {
        let status = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(from),
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                "-q",
                addr,
            ])
            .output()
            .context("running ping")?
            .status;
        Ok(status.success())
    }

    /// Pings `addr` from the client until its neighbour entry for `addr` is `node`'s MAC.
    pub fn wait_client_reaches(
        &self,
        node: Node,
        addr: &str,
        timeout: Duration,
    ) -> Result<Seen<()>> {
        let what = format!(
            "client to reach {addr} at box {}'s MAC {}",
            node.label(),
            format_mac(&node.mac())
        );
        self.poll(&what, timeout, || {
            let answered = self.ping(Node::Client, addr)?;
            Ok((answered && self.client_neigh(addr)? == Some(node.mac())).then_some(()))
        })
    }

    // ---- events ----------------------------------------------------------------------------

    /// Takes `node`'s cable out: its switch port goes down (the box sees carrier loss).
    pub fn link_down(&self, node: Node) -> Result<Stamp> {
        let stamp = Stamp::now();
        ip(&["-n", &self.switch_ns(), "link", "set", &node.port(), "down"])?;
        Ok(stamp)
    }

    /// Plugs `node`'s cable back in.
    pub fn link_up(&self, node: Node) -> Result<Stamp> {
        let stamp = Stamp::now();
        ip(&["-n", &self.switch_ns(), "link", "set", &node.port(), "up"])?;
        Ok(stamp)
    }

    /// Drops IP protocol 112 (VRRP) in and out of `node` with nftables.
    pub fn block_vrrp(&self, node: Node) -> Result<Stamp> {
        self.nft_drop_vrrp(node, &["input", "output"])
    }

    /// Drops incoming IP protocol 112 at `node` only: it stops hearing its peer, which still
    /// hears it (a one-way cut).
    pub fn block_vrrp_in(&self, node: Node) -> Result<Stamp> {
        self.nft_drop_vrrp(node, &["input"])
    }

    fn nft_drop_vrrp(&self, node: Node, hooks: &[&str]) -> Result<Stamp> {
        let mut rules = String::from("table inet vst_vrrp {\n");
        for hook in hooks {
            rules.push_str(&format!(
                "  chain {hook} {{ type filter hook {hook} priority -300; policy accept; \
                 meta l4proto 112 drop; }}\n"
            ));
        }
        rules.push_str("}\n");
        let file = self.dir.join(format!("nft-block-{}.nft", self.next_seq()));
        fs::write(&file, rules)?;
        let stamp = Stamp::now();
        let file = file.display().to_string();
        run(&["ip", "netns", "exec", &self.ns(node), "nft", "-f", &file])?;
        Ok(stamp)
    }

    /// Removes the rules of [`Lab::block_vrrp`] / [`Lab::block_vrrp_in`].
    pub fn unblock_vrrp(&self, node: Node) -> Result<Stamp> {
        let stamp = Stamp::now();
        run(&[
            "ip",
            "netns",
            "exec",
            &self.ns(node),
            "nft",
            "delete",
            "table",
            "inet",
            "vst_vrrp",
        ])?;
        Ok(stamp)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            kill_namespace_processes(ns);
        }
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = run(&["ip", "netns", "del", ns]) {
                eprintln!("lab teardown: {e:#}");
            }
        }
        // The directory stays (a test that returned an error still needs its logs); the next run
        // removes it once this process is gone.
        if thread::panicking() {
            eprintln!(
                "lab {}: logs, configs and captures kept in {}",
                self.prefix,
                self.dir.display()
            );
        }
    }
}

/// SIGKILLs every process in namespace `ns` (all of them were started by a lab).
fn kill_namespace_processes(ns: &str) {
    for _ in 0..20 {
        let pids: Vec<i32> = Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Deletes namespaces left by lab runs whose process no longer exists (e.g. a SIGKILLed test).
fn remove_stale_namespaces() {
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if dead_owner(&name) {
            eprintln!("removing stale lab namespace {name}");
            kill_namespace_processes(&name);
            let _ = run(&["ip", "netns", "del", &name]);
        }
    }
}

/// The pid embedded in a lab name (`vst-<short>-<pid>-<seq>[-<role>]`), if that process is gone.
fn dead_owner(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(NS_PREFIX) else {
        return false;
    };
    let Some(pid) = rest.split('-').nth(1).and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    pid != std::process::id() && !alive(pid)
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    // /proc/PID/stat: "PID (comm) S ..."; the state follows the last ')'.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Deletes lab directories (logs, configs, captures) of runs whose process no longer exists.
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(labs_root()) else {
        return;
    };
    for entry in entries.flatten() {
        if dead_owner(&entry.file_name().to_string_lossy()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Where lab directories live.
fn labs_root() -> PathBuf {
    env::temp_dir().join("vrrpd-system-tests")
}

/// Takes the machine-wide system-test lock (bounded wait: 5 minutes).
fn global_lock() -> Result<Flock<File>> {
    let path = env::temp_dir().join("vrrpd-system-tests.lock");
    let deadline = crate::poll::now() + Duration::from_secs(300);
    let mut announced = false;
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if crate::poll::now() < deadline => {
                if !announced {
                    eprintln!(
                        "waiting for another system test to release {}",
                        path.display()
                    );
                    announced = true;
                }
                thread::sleep(Duration::from_millis(50));
            }
            Err((_, e)) => bail!("locking {}: {e}", path.display()),
        }
    }
}

/// Runs `ip ARGS` and returns its stdout; fails with stderr.
pub fn ip(args: &[&str]) -> Result<String> {
    let mut argv = vec!["ip"];
    argv.extend_from_slice(args);
    run(&argv)
}

/// Runs a command to completion; fails (with its stderr) on a non-zero exit.
pub fn run(argv: &[&str]) -> Result<String> {
    let (program, args) = argv.split_first().context("empty command")?;
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {}", argv.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Parses `ip -o addr show` output into addresses (prefix lengths dropped).
pub fn parse_addrs(out: &str) -> Vec<IpAddr> {
    out.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet" || *w == "inet6")?;
            let cidr = words.next()?;
            cidr.split('/').next()?.parse().ok()
        })
        .collect()
}

/// Parses the `lladdr` of `ip neigh show ADDR` output (none when INCOMPLETE/FAILED).
pub fn parse_neigh_mac(out: &str) -> Option<Mac> {
    let mut words = out.split_whitespace();
    words.find(|w| *w == "lladdr")?;
    let text = words.next()?;
    let bytes: Vec<u8> = text
        .split(':')
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect();
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_addr_oneline_output() {
        let out = "2: eth0    inet 192.0.2.11/24 scope global eth0\\       valid_lft forever preferred_lft forever\n\
                   2: eth0    inet 192.0.2.100/32 scope global eth0\\       valid_lft forever preferred_lft forever\n\
                   2: eth0    inet6 2001:db8::100/128 scope global \\       valid_lft forever preferred_lft forever\n";
        let addrs = parse_addrs(out);
        assert_eq!(addrs.len(), 3);
        assert!(addrs.contains(&"192.0.2.100".parse().expect("addr")));
        assert!(addrs.contains(&"2001:db8::100".parse().expect("addr")));
        assert!(!addrs.contains(&"192.0.2.12".parse().expect("addr")));
    }

    #[test]
    fn parses_neighbour_entries() {
        assert_eq!(
            parse_neigh_mac("192.0.2.100 lladdr 02:00:00:00:00:12 REACHABLE\n"),
            Some([2, 0, 0, 0, 0, 0x12])
        );
        assert_eq!(parse_neigh_mac("192.0.2.100  INCOMPLETE\n"), None);
        assert_eq!(parse_neigh_mac(""), None);
    }

    #[test]
    fn holders_labels() {
        assert_eq!(Holders { a: true, b: false }.single(), Some(Node::A));
        assert_eq!(Holders { a: true, b: true }.single(), None);
        assert_eq!(Holders { a: true, b: true }.label(), "A+B");
    }
}

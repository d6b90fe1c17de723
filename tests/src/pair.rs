//! The seed's whole scenario as one engine: two load-balancer boxes, each running a VRRP daemon and
//! a proxy, two CAS stand-ins, a client driving traffic through the floating IP, an SMTP server
//! receiving the alerts, and the failures of the demo (proxy killed and restored, VRRP daemon
//! crashed and restarted, VRRP cut between the boxes and healed), measured.
//!
//! ```text
//!   box A (ns <p>-a) 192.0.2.11      box B (ns <p>-b) 192.0.2.12      client (ns <p>-c) 192.0.2.50
//!   vrrpd  lb1.conf (101, MASTER)    vrrpd  lb2.conf (100, BACKUP)    CAS1 192.0.2.21, CAS2 .22
//!   proxyd haproxy.cfg -L lb1        proxyd haproxy.cfg -L lb2        SMTP (aiosmtpd) 192.0.2.25:25
//!   VIP 192.0.2.100 on the master    peers lb1 <-> lb2 :10000         sources 198.51.100.1..N
//! ```
//!
//! [`Setup::Ours`] runs vrrpd + proxyd; [`Setup::Seed`] runs the seed's Debian keepalived +
//! HAProxy with its configs. The configurations are `etc/keepalived/lb1.conf`, `lb2.conf` and
//! `etc/proxyd/haproxy.cfg`, adapted (see [`vrrp_conf`] and [`proxy_conf`]).
//!
//! Owns the topology on top of [`Lab`], the configs, the daemons' lifecycles, the client traffic
//! (threads in the client's namespace), the VIP monitor (threads in the boxes' namespaces
//! reading the interface addresses every 5 ms), and the per-event measurements ([`Report`]).
//! Must not judge: it records and computes, and fails only when the scenario cannot be carried
//! out; tests and the `pair-demo` binary decide. Every wait is bounded and returns
//! [`Interrupted`] soon after [`interrupt`] is called (Ctrl-C in `pair-demo`).

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use nix::sys::signal::Signal;
use socket2::{Domain, Socket, Type};

use crate::capture::{Capture, Frame, Mac, adverts_from, format_mac};
use crate::config::{IFACE, VIP4};
use crate::daemon::{Daemon, Impl, proxyd_binary, workspace_binary};
use crate::lab::{Holders, Lab, NS_PREFIX, Node, ip, run};
use crate::poll::{Seen, Stamp, now, poll_until};
use crate::process::Proc;

/// The floating IP.
pub const VIP: &str = VIP4;
/// The CAS stand-ins: name and address (on the client node's LAN port).
pub const CAS: [(&str, &str); 2] = [("cas1", "192.0.2.21"), ("cas2", "192.0.2.22")];
/// Every port a CAS stand-in serves (the Exchange services of the seed's layout).
pub const CAS_PORTS: [u16; 10] = [443, 80, 135, 60000, 60001, 25, 110, 143, 993, 995];
/// The RPC ports the client's traffic uses (one shared stick table behind them).
pub const RPC_PORTS: [u16; 3] = [135, 60000, 60001];
/// The SMTP server receiving vrrpd's / keepalived's alerts (`smtp_server` in lb1.conf).
pub const SMTP_ADDR: &str = "192.0.2.25";
/// The peers section's port on each box.
pub const PEER_PORT: u16 = 10000;
/// The stats page of each box (the `listen stats` section of haproxy.cfg, on the box's loopback).
pub const STATS_URL: &str = "http://127.0.0.1:8080/haproxy?stats";
/// The stick table shared by HTTPS and RPC.
pub const TABLE: &str = "st_src_cas";
/// The prefix of the namespaces of labs built by [`PairLab::start`] with name `pairdemo`.
pub const DEMO_NAME: &str = "pairdemo";

/// The seed's keepalived.conf for box A, as shipped.
pub const LB1_CONF: &str = include_str!("../../etc/keepalived/lb1.conf");
/// The seed's keepalived.conf for box B, as shipped.
pub const LB2_CONF: &str = include_str!("../../etc/keepalived/lb2.conf");
/// The CAS pair's haproxy.cfg, as shipped.
pub const HAPROXY_CFG: &str = include_str!("../../etc/proxyd/haproxy.cfg");

/// Connect timeout of the client's probes (a SYN lost to a stale ARP entry is retransmitted after
/// 1 s, so a connection through a moving VIP gets one retransmission).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A new connection answered later than this counts as delayed (normal: a few milliseconds).
pub const DELAYED: Duration = Duration::from_millis(500);
/// How long a client waits for the CAS greeting or a session's echo.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// A session reconnects this often while it cannot.
const RECONNECT_EVERY: Duration = Duration::from_millis(200);
/// The monitor's period.
const MONITOR_EVERY: Duration = Duration::from_millis(5);
/// Upper bound of any thread's life (traffic, monitor): a forgotten lab stops by itself.
const THREAD_LIFETIME: Duration = Duration::from_secs(3600);

// ---- interruption ----------------------------------------------------------------------------

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Asks every wait of the engine to return [`Interrupted`] (async-signal-safe: one atomic store).
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether [`interrupt`] was called.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The error a wait returns after [`interrupt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

fn check_interrupt() -> Result<()> {
    if interrupted() {
        return Err(Interrupted.into());
    }
    Ok(())
}

/// [`poll_until`] that also stops on [`interrupt`].
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<Seen<T>> {
    poll_until(what, timeout, every, || {
        check_interrupt()?;
        probe()
    })
}

/// Sleeps `d` in 50 ms slices, returning [`Interrupted`] early on [`interrupt`].
pub fn pause(d: Duration) -> Result<()> {
    let start = now();
    let slices = d.as_millis() / 50 + 2;
    for _ in 0..slices {
        check_interrupt()?;
        let left = d.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        thread::sleep(left.min(Duration::from_millis(50)));
    }
    Ok(())
}

// ---- what runs -------------------------------------------------------------------------------

/// Which implementations run on the boxes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setup {
    /// vrrpd + proxyd; proxyd watched by `track_proxyd` (our documented default).
    Ours,
    /// The seed's setup: Debian's keepalived + HAProxy, `killall -0 haproxy` every 5 s, weight 2.
    Seed,
}

impl Setup {
    /// Both, ours first.
    pub const ALL: [Setup; 2] = [Setup::Ours, Setup::Seed];

    /// `ours` or `seed`.
    pub fn label(self) -> &'static str {
        match self {
            Setup::Ours => "ours",
            Setup::Seed => "seed",
        }
    }

    /// Parses `ours` / `seed`.
    pub fn from_label(s: &str) -> Result<Self> {
        match s {
            "ours" => Ok(Setup::Ours),
            "seed" => Ok(Setup::Seed),
            other => bail!("unknown setup {other:?} (want ours or seed)"),
        }
    }

    /// One line: what runs on each box.
    pub fn describe(self) -> &'static str {
        match self {
            Setup::Ours => "vrrpd + proxyd (track_proxyd, peers)",
            Setup::Seed => {
                "keepalived + HAProxy (the seed's configs: killall -0 haproxy, interval 5, weight 2)"
            }
        }
    }

    /// The VRRP daemon.
    pub fn vrrp(self) -> Impl {
        match self {
            Setup::Ours => Impl::Vrrpd,
            Setup::Seed => Impl::Keepalived,
        }
    }

    /// The proxy's name in messages.
    pub fn proxy(self) -> &'static str {
        match self {
            Setup::Ours => "proxyd",
            Setup::Seed => "haproxy",
        }
    }

    /// The process name of the proxy on `node`: a copy of the binary named `haproxy-a` /
    /// `haproxy-b` (`proxyd-a` / `proxyd-b`). The lab shares the host's PID namespace, so the
    /// seed's `killall -0 haproxy` on A would also see B's HAProxy, and any HAProxy of the host
    /// (Debian's package starts one): each box's script looks for its own copy's name instead.
    pub fn proxy_comm(self, node: Node) -> String {
        format!("{}-{}", self.proxy(), node.label().to_ascii_lowercase())
    }

    fn proxy_binary(self) -> Result<PathBuf> {
        match self {
            Setup::Ours => proxyd_binary(),
            Setup::Seed => crate::daemon::haproxy_binary(),
        }
    }
}

/// One event of the scenario, always on box A (the seed's master) or between the boxes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// SIGKILL the proxy on A (reaped at once, as init would).
    KillProxy,
    /// Start A's proxy again.
    RestoreProxy,
    /// SIGKILL A's VRRP daemon (the whole process group: a crash, no priority-0 advert).
    CrashVrrp,
    /// Start A's VRRP daemon again (it preempts B).
    RestartVrrp,
    /// Drop incoming VRRP (IP protocol 112) at B with nftables: B stops hearing A.
    CutVrrp,
    /// Remove that rule.
    HealVrrp,
}

/// The state a step leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    /// The box that must hold the VIP.
    pub holder: Node,
    /// Whether it must be the only holder (a crashed daemon leaves its VIP configured; a split
    /// brain has two holders).
    pub sole: bool,
    /// The box the client's ARP entry for the VIP should point at.
    pub arp: Node,
}

impl Want {
    /// Whether `h` satisfies this.
    pub fn met(self, h: Holders) -> bool {
        let holds = match self.holder {
            Node::A => h.a,
            Node::B => h.b,
            Node::Client => false,
        };
        holds && (!self.sole || h.single() == Some(self.holder))
    }
}

impl Step {
    /// The demo's order.
    pub const SCENARIO: [Step; 6] = [
        Step::KillProxy,
        Step::RestoreProxy,
        Step::CrashVrrp,
        Step::RestartVrrp,
        Step::CutVrrp,
        Step::HealVrrp,
    ];

    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Step::KillProxy => "proxy killed on A",
            Step::RestoreProxy => "proxy restored on A",
            Step::CrashVrrp => "VRRP daemon killed on A",
            Step::RestartVrrp => "VRRP daemon back on A",
            Step::CutVrrp => "VRRP cut (B deaf)",
            Step::HealVrrp => "VRRP healed",
        }
    }

    /// What is done, with the setup's names.
    pub fn describe(self, setup: Setup) -> String {
        let (proxy, vrrp) = (setup.proxy(), setup.vrrp().label());
        match self {
            Step::KillProxy => format!("SIGKILL {proxy} on A (the master)"),
            Step::RestoreProxy => format!("{proxy} restarted on A"),
            Step::CrashVrrp => format!("SIGKILL {vrrp} on A (crash: no priority-0 advert)"),
            Step::RestartVrrp => format!("{vrrp} restarted on A"),
            Step::CutVrrp => "nft on B drops incoming VRRP (IP protocol 112)".to_owned(),
            Step::HealVrrp => "nft rule removed: B hears A again".to_owned(),
        }
    }

    /// Where the VIP should end up.
    pub fn want(self) -> Want {
        match self {
            Step::KillProxy => Want {
                holder: Node::B,
                sole: true,
                arp: Node::B,
            },
            Step::CrashVrrp => Want {
                holder: Node::B,
                sole: false,
                arp: Node::B,
            },
            // Split brain: B claims the VIP; A hears B's lower-priority adverts and re-announces
            // itself, so the client should end up on A.
            Step::CutVrrp => Want {
                holder: Node::B,
                sole: false,
                arp: Node::A,
            },
            Step::RestoreProxy | Step::RestartVrrp | Step::HealVrrp => Want {
                holder: Node::A,
                sole: true,
                arp: Node::A,
            },
        }
    }
}

/// Sizes and rates of the client's traffic.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Client source addresses, 198.51.100.1..=N (at most 250).
    pub sources: usize,
    /// Long-lived sessions (RPC-like: a line echoed every `session_ping`), from the first
    /// `sessions` sources.
    pub sessions: usize,
    /// Threads opening new connections (each: connect, read the greeting, close, sleep).
    pub connectors: usize,
    /// Pause of each connector between connections.
    pub connect_every: Duration,
    /// Pause of each session between pings.
    pub session_ping: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sources: 200,
            sessions: 40,
            connectors: 5,
            connect_every: Duration::from_millis(100),
            session_ping: Duration::from_millis(500),
        }
    }
}

/// The `i`-th client source address (0-based).
pub fn source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, u8::try_from(i + 1).unwrap_or(250))
}

// ---- configurations --------------------------------------------------------------------------

/// Files of one box's proxy.
#[derive(Clone, Debug)]
pub struct BoxFiles {
    /// The proxy's configuration.
    pub proxy_cfg: PathBuf,
    /// Its pid file.
    pub pid_file: PathBuf,
    /// proxyd's liveness socket (ours only).
    pub liveness: PathBuf,
    /// The runtime API (`stats socket`).
    pub api: PathBuf,
    /// The proxy binary (B's is a copy named `<proxy>-b`).
    pub proxy_bin: PathBuf,
    /// The peer name (`-L`): lb1 on A, lb2 on B.
    pub peer_name: &'static str,
}

impl BoxFiles {
    fn new(dir: &Path, setup: Setup, node: Node) -> Self {
        let base = format!("{}-{}", setup.proxy(), node.label().to_ascii_lowercase());
        Self {
            proxy_cfg: dir.join(format!("{base}.cfg")),
            pid_file: dir.join(format!("{base}.pid")),
            liveness: dir.join(format!("{base}-liveness.sock")),
            api: dir.join(format!("admin-{}.sock", node.label().to_ascii_lowercase())),
            proxy_bin: dir.join(setup.proxy_comm(node)),
            peer_name: if node == Node::A { "lb1" } else { "lb2" },
        }
    }
}

/// Replaces the brace block whose first line (trimmed) starts with `head` by `with`; fails when
/// it is not there. The block ends at the first line after it whose trimmed text is `}` and whose
/// indentation equals the head's.
fn replace_block(text: &str, head: &str, with: &str) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with(head))
        .with_context(|| format!("no {head:?} block"))?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let end = lines[start..]
        .iter()
        .position(|l| l.trim() == "}" && l.len() - l.trim_start().len() == indent)
        .map(|i| start + i)
        .with_context(|| format!("{head:?} block is not closed"))?;
    let mut out: Vec<String> = lines[..start].iter().map(|l| (*l).to_owned()).collect();
    out.extend(with.lines().map(str::to_owned));
    out.extend(lines[end + 1..].iter().map(|l| (*l).to_owned()));
    Ok(out.join("\n") + "\n")
}

/// Replaces `from` by `to` exactly once; fails when `from` is absent.
fn replace_once(text: &str, from: &str, to: &str) -> Result<String> {
    ensure!(text.contains(from), "configuration lacks {from:?}");
    Ok(text.replacen(from, to, 1))
}

/// keepalived.conf for `node`: the seed's lb1.conf (A) or lb2.conf (B), adapted.
///
/// The lab's interface (eth0) and addresses (192.0.2.11/.12, VIP .100, SMTP .25) are the files'
/// own, so VRID 51, priorities 101/100, PASS auth, `smtp_alert` and the SMTP settings are kept
/// as shipped. The tracker differs:
/// - [`Setup::Seed`]: the seed's `vrrp_script chk_haproxy` (`killall -0 haproxy`, interval 5,
///   weight 2), looking for the box's own copy, `haproxy-a` / `haproxy-b` (see
///   [`Setup::proxy_comm`]);
/// - [`Setup::Ours`]: our documented default instead of the script: `track_proxyd` (weight 0:
///   proxyd gone or not answering → FAULT, priority-0 advert, the peer takes over after
///   Skew_Time), with this box's pid file and liveness socket.
pub fn vrrp_conf(setup: Setup, node: Node, files: &BoxFiles) -> Result<String> {
    let seed = if node == Node::A { LB1_CONF } else { LB2_CONF };
    let source = if node == Node::A {
        "lb1.conf"
    } else {
        "lb2.conf"
    };
    match setup {
        Setup::Seed => {
            let comm = setup.proxy_comm(node);
            let conf = replace_once(
                seed,
                "killall -0 haproxy\"",
                &format!("killall -0 {comm}\""),
            )?;
            Ok(format!(
                "! generated by system-tests (pair.rs) from etc/keepalived/{source}: unchanged except\n\
                 ! the script's process name ({comm}: the lab shares the host's PID namespace)\n{conf}"
            ))
        }
        Setup::Ours => {
            let tracker = format!(
                "! The seed's vrrp_script chk_haproxy (killall -0 haproxy, interval 5, weight 2) is\n\
                 ! replaced by vrrpd's native tracker, our documented default: proxyd's exit is seen\n\
                 ! at once through a pidfd, and weight 0 puts the instance in FAULT (priority 0).\n\
                 track_proxyd proxyd {{\n    pid_file {}\n    liveness_socket {}\n    interval 1\n}}",
                files.pid_file.display(),
                files.liveness.display()
            );
            let conf = replace_block(seed, "vrrp_script chk_haproxy", &tracker)?;
            let conf = replace_block(
                &conf,
                "track_script {",
                "    track_proxyd {\n        proxyd\n    }",
            )?;
            Ok(format!(
                "! generated by system-tests (pair.rs) from etc/keepalived/{source}: the tracker is\n\
                 ! track_proxyd instead of the seed's script; everything else as shipped\n{conf}"
            ))
        }
    }
}

/// haproxy.cfg for `node`: etc/proxyd/haproxy.cfg (VIP 192.0.2.100, CAS 192.0.2.21/.22, as in the
/// lab) with this box's pid file and runtime API socket, and a `peers lbpair` section naming both
/// boxes (each picks itself with `-L lb1` / `-L lb2`) that replicates the shared stick table.
/// The same file serves proxyd and HAProxy 2.6.
pub fn proxy_conf(files: &BoxFiles) -> Result<String> {
    proxy_conf_with(files, nofile_hard_limit())
}

/// The hard `RLIMIT_NOFILE` of this process (from /proc/self/limits), if readable.
pub fn nofile_hard_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(4)?.parse().ok()
}

/// [`proxy_conf`] for a hard open-files limit of `nofile`: HAProxy refuses to start when it
/// cannot get about 2 × `maxconn` descriptors, so on a machine whose hard limit is below what
/// the seed's `maxconn 20000` needs (and that cannot raise it, like a container without
/// CAP_SYS_RESOURCE) `maxconn` is lowered to fit, for both proxies alike.
pub fn proxy_conf_with(files: &BoxFiles, nofile: Option<u64>) -> Result<String> {
    let mut cfg = HAPROXY_CFG.to_owned();
    if let Some(n) = nofile
        && n < 2 * 20_000 + 1000
    {
        let maxconn = n.saturating_sub(1000) / 2;
        cfg = replace_once(
            &cfg,
            "    maxconn 20000\n",
            &format!(
                "    maxconn {maxconn}   # 20000 in etc/: lowered to fit this machine's hard open-files limit ({n})\n"
            ),
        )?;
    }
    let cfg = replace_once(
        &cfg,
        "pidfile /run/proxyd/proxyd.pid",
        &format!("pidfile {}", files.pid_file.display()),
    )?;
    let cfg = replace_once(
        &cfg,
        "stats socket /run/proxyd/admin.sock",
        &format!("stats socket {}", files.api.display()),
    )?;
    let cfg = replace_once(
        &cfg,
        "stick-table type ip size 200k expire 2h",
        "stick-table type ip size 200k expire 2h peers lbpair",
    )?;
    let peers = format!(
        "# Stick-table replication between the two boxes (each finds itself with -L).\n\
         peers lbpair\n    peer lb1 {}:{PEER_PORT}\n    peer lb2 {}:{PEER_PORT}\n\ndefaults",
        Node::A.ip4(),
        Node::B.ip4()
    );
    let cfg = replace_once(&cfg, "\ndefaults", &format!("\n{peers}"))?;
    Ok(format!(
        "# generated by system-tests (pair.rs) from etc/proxyd/haproxy.cfg: per-box pidfile and \
         stats socket, peers section added\n{cfg}"
    ))
}

// ---- observations ----------------------------------------------------------------------------

/// How a client connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The CAS greeted with its name.
    Cas(String),
    /// Refused, reset, timed out or closed without a greeting (the reason).
    Failed(String),
}

/// One new connection through the VIP.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// Source index (see [`source`]).
    pub source: usize,
    /// Destination port.
    pub port: u16,
    /// When the connect started.
    pub start: Stamp,
    /// When the greeting arrived or the attempt failed.
    pub end: Stamp,
    /// What happened.
    pub outcome: Outcome,
}

impl Attempt {
    /// Whether the CAS answered.
    pub fn ok(&self) -> bool {
        matches!(self.outcome, Outcome::Cas(_))
    }
}

/// A long-lived session was opened (or reopened after a break).
#[derive(Clone, Debug)]
pub struct SessionOpen {
    /// Session number.
    pub session: usize,
    /// Source index.
    pub source: usize,
    /// When the greeting arrived.
    pub at: Stamp,
    /// The CAS it reached.
    pub cas: String,
}

/// A long-lived session broke.
#[derive(Clone, Debug)]
pub struct SessionBreak {
    /// Session number.
    pub session: usize,
    /// When the break was seen.
    pub at: Stamp,
    /// Reset, EOF, timeout, wrong echo.
    pub reason: String,
    /// When the session was open again (greeting received), if it was.
    pub reopened: Option<Stamp>,
}

/// Everything the client recorded.
#[derive(Clone, Debug, Default)]
pub struct TrafficLog {
    /// New connections, in completion order.
    pub attempts: Vec<Attempt>,
    /// Session opens.
    pub opens: Vec<SessionOpen>,
    /// Session breaks.
    pub breaks: Vec<SessionBreak>,
}

/// A mail the SMTP server received.
#[derive(Clone, Debug)]
pub struct Mail {
    /// Arrival (the Maildir file's modification time).
    pub at: SystemTime,
    /// The box that sent it (from aiosmtpd's `X-Peer` header).
    pub from_box: Option<Node>,
    /// Subject.
    pub subject: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Joins the network namespace `ns` (this thread only).
fn enter_ns(ns: &str) -> Result<()> {
    let path = Path::new("/run/netns").join(ns);
    let fd = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("setns {}", path.display()))
}

/// Threads recording which box holds the VIP, from inside each box's namespace.
#[derive(Debug)]
struct Monitor {
    stop: Arc<AtomicBool>,
    /// Changes: (when, box, holds). The first entry per box is its initial state.
    changes: Arc<Mutex<Vec<(Stamp, Node, bool)>>>,
    threads: Vec<JoinHandle<()>>,
}

fn holds_vip() -> Result<bool> {
    let vip: Ipv4Addr = VIP.parse()?;
    Ok(nix::ifaddrs::getifaddrs()?
        .filter(|a| a.interface_name == IFACE)
        .filter_map(|a| a.address)
        .any(|a| a.as_sockaddr_in().is_some_and(|s| s.ip() == vip)))
}

impl Monitor {
    fn start(lab: &Lab) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let changes = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for node in Node::BOXES {
            let (ns, stop, changes) = (lab.ns(node), stop.clone(), changes.clone());
            let (tx, rx) = std::sync::mpsc::channel::<Result<()>>();
            threads.push(thread::spawn(move || {
                let entered = enter_ns(&ns);
                let ok = entered.is_ok();
                let _ = tx.send(entered);
                if !ok {
                    return;
                }
                let start = now();
                let mut last = None;
                let max = THREAD_LIFETIME.as_millis() / MONITOR_EVERY.as_millis();
                for _ in 0..max {
                    if stop.load(Ordering::Relaxed) || start.elapsed() > THREAD_LIFETIME {
                        break;
                    }
                    if let Ok(h) = holds_vip()
                        && last != Some(h)
                    {
                        lock(&changes).push((Stamp::now(), node, h));
                        last = Some(h);
                    }
                    thread::sleep(MONITOR_EVERY);
                }
            }));
            rx.recv_timeout(Duration::from_secs(5))
                .context("monitor thread did not start")??;
        }
        Ok(Self {
            stop,
            changes,
            threads,
        })
    }

    fn current(&self) -> Holders {
        let changes = lock(&self.changes);
        let last = |n: Node| {
            changes
                .iter()
                .rev()
                .find(|(_, m, _)| *m == n)
                .is_some_and(|(_, _, h)| *h)
        };
        Holders {
            a: last(Node::A),
            b: last(Node::B),
        }
    }

    /// The holders after every change, in time order.
    fn timeline(&self) -> Vec<(Stamp, Holders)> {
        let mut changes = lock(&self.changes).clone();
        changes.sort_by_key(|(s, _, _)| s.at);
        let mut h = Holders { a: false, b: false };
        let mut out: Vec<(Stamp, Holders)> = Vec::new();
        for (s, n, v) in changes {
            match n {
                Node::A => h.a = v,
                Node::B => h.b = v,
                Node::Client => {}
            }
            if out.last().is_none_or(|(_, last)| *last != h) {
                out.push((s, h));
            }
        }
        out
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The client's traffic: connector threads and session threads in the client's namespace.
#[derive(Debug)]
struct Traffic {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<TrafficLog>>,
    threads: Vec<JoinHandle<()>>,
}

/// Connects from `src` to `VIP:port` and reads the CAS greeting (`NAME:PORT`).
fn open(src: Ipv4Addr, port: u16) -> std::result::Result<(TcpStream, String), String> {
    let vip: Ipv4Addr = VIP.parse().map_err(|e| format!("{e}"))?;
    let dst = SocketAddr::new(IpAddr::V4(vip), port);
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| format!("socket: {e}"))?;
    s.bind(&SocketAddr::new(IpAddr::V4(src), 0).into())
        .map_err(|e| format!("bind: {e}"))?;
    s.connect_timeout(&dst.into(), CONNECT_TIMEOUT)
        .map_err(|e| format!("connect: {}", brief(&e)))?;
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(READ_TIMEOUT))
        .map_err(|e| format!("{e}"))?;
    let mut reader = BufReader::new(s.try_clone().map_err(|e| format!("{e}"))?);
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => return Err("closed before the greeting".to_owned()),
        Ok(_) => {}
        Err(e) => return Err(format!("greeting: {}", brief(&e))),
    }
    let cas = line
        .trim_end()
        .split_once(':')
        .map(|(c, _)| c.to_owned())
        .ok_or_else(|| format!("unexpected greeting {line:?}"))?;
    Ok((s, cas))
}

fn brief(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "refused".to_owned(),
        std::io::ErrorKind::ConnectionReset => "reset".to_owned(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timeout".to_owned(),
        _ => e.to_string(),
    }
}

/// One ping on a session: writes a line, expects it back.
fn ping(s: &mut TcpStream, reader: &mut BufReader<TcpStream>, n: u64) -> Result<(), String> {
    let msg = format!("ping {n}\n");
    s.write_all(msg.as_bytes())
        .map_err(|e| format!("write: {}", brief(&e)))?;
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => Err("closed".to_owned()),
        Ok(_) if line == msg => Ok(()),
        Ok(_) => Err(format!("wrong echo {line:?}")),
        Err(e) => Err(format!("read: {}", brief(&e))),
    }
}

impl Traffic {
    fn start(lab: &Lab, opts: Options) -> Result<Self> {
        ensure!(
            (1..=250).contains(&opts.sources) && opts.sessions <= opts.sources,
            "bad traffic options {opts:?}"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(TrafficLog::default()));
        let next = Arc::new(AtomicUsize::new(0));
        let ns = lab.ns(Node::Client);
        let mut threads = Vec::new();
        for c in 0..opts.connectors {
            let (ns, stop, log, next) = (ns.clone(), stop.clone(), log.clone(), next.clone());
            threads.push(thread::spawn(move || {
                if enter_ns(&ns).is_err() {
                    return;
                }
                let start = now();
                let max = THREAD_LIFETIME.as_millis() / opts.connect_every.as_millis().max(1);
                for _ in 0..max {
                    if stop.load(Ordering::Relaxed) || start.elapsed() > THREAD_LIFETIME {
                        break;
                    }
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let source = n % opts.sources;
                    // Each source cycles through the RPC ports over successive rounds.
                    let port = RPC_PORTS[(n / opts.sources + c) % RPC_PORTS.len()];
                    let t0 = Stamp::now();
                    let outcome = match open(self::source(source), port) {
                        Ok((_, cas)) => Outcome::Cas(cas),
                        Err(why) => Outcome::Failed(why),
                    };
                    lock(&log).attempts.push(Attempt {
                        source,
                        port,
                        start: t0,
                        end: Stamp::now(),
                        outcome,
                    });
                    thread::sleep(opts.connect_every);
                }
            }));
        }
        for k in 0..opts.sessions {
            let (ns, stop, log) = (ns.clone(), stop.clone(), log.clone());
            threads.push(thread::spawn(move || {
                if enter_ns(&ns).is_err() {
                    return;
                }
                session_loop(k, k, RPC_PORTS[k % RPC_PORTS.len()], opts, &stop, &log);
            }));
        }
        Ok(Self { stop, log, threads })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop();
    }
}

fn session_loop(
    session: usize,
    source: usize,
    port: u16,
    opts: Options,
    stop: &AtomicBool,
    log: &Mutex<TrafficLog>,
) {
    let start = now();
    let mut pending_break: Option<usize> = None;
    let mut n = 0u64;
    let max = THREAD_LIFETIME.as_millis() / RECONNECT_EVERY.as_millis();
    'outer: for _ in 0..max {
        if stop.load(Ordering::Relaxed) || start.elapsed() > THREAD_LIFETIME {
            break;
        }
        let Ok((mut s, cas)) = open(self::source(source), port) else {
            thread::sleep(RECONNECT_EVERY);
            continue;
        };
        let at = Stamp::now();
        {
            let mut log = lock(log);
            if let Some(i) = pending_break.take() {
                log.breaks[i].reopened = Some(at);
            }
            log.opens.push(SessionOpen {
                session,
                source,
                at,
                cas,
            });
        }
        let Ok(clone) = s.try_clone() else {
            continue;
        };
        let mut reader = BufReader::new(clone);
        let pings = THREAD_LIFETIME.as_millis() / opts.session_ping.as_millis().max(1);
        for _ in 0..pings {
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
            thread::sleep(opts.session_ping);
            n += 1;
            if let Err(reason) = ping(&mut s, &mut reader, n) {
                if stop.load(Ordering::Relaxed) {
                    break 'outer;
                }
                let mut log = lock(log);
                log.breaks.push(SessionBreak {
                    session,
                    at: Stamp::now(),
                    reason,
                    reopened: None,
                });
                pending_break = Some(log.breaks.len() - 1);
                break;
            }
        }
    }
}

// ---- the engine ------------------------------------------------------------------------------

/// What happened when a step ran (the rest is computed by [`PairLab::report`]).
#[derive(Clone, Debug)]
pub struct StepRun {
    /// The step.
    pub step: Step,
    /// When it was injected.
    pub at: Stamp,
    /// When the VIP reached the wanted state (see [`Step::want`]), if within the bound.
    pub takeover: Option<Stamp>,
    /// When the client's ARP entry for the VIP pointed at the wanted box (polled for 3 s after
    /// the takeover).
    pub arp: Option<Stamp>,
    /// The box the client's ARP entry pointed at when polling stopped.
    pub arp_box: Option<Node>,
}

/// One box's processes.
#[derive(Debug)]
struct BoxSide {
    files: BoxFiles,
    proxy: Option<Proc>,
    vrrp: Option<Daemon>,
    /// The running vrrpd's control socket.
    ctl: Option<PathBuf>,
    retired_proxies: Vec<Proc>,
    retired_vrrp: Vec<Daemon>,
}

/// The seed's pair in a lab. Dropping it stops everything and removes the namespaces.
#[derive(Debug)]
pub struct PairLab {
    /// What runs on the boxes.
    pub setup: Setup,
    /// Traffic sizes.
    pub opts: Options,
    /// When the lab was up (time zero of the timeline).
    pub t0: Stamp,
    /// When both VRRP daemons had been started.
    pub daemons_started: Stamp,
    /// When A first held the VIP alone after the daemons started.
    pub elected: Stamp,
    /// Steps run so far.
    pub runs: Vec<StepRun>,
    traffic: Option<Traffic>,
    monitor: Monitor,
    boxes: [BoxSide; 2],
    capture: Option<Capture>,
    /// The SMTP server and the CAS stand-ins.
    _servers: Vec<Proc>,
    maildir: PathBuf,
    cut: bool,
    /// A's stick table just before the first step: source index → CAS.
    reference: HashMap<usize, String>,
    /// The lab (declared last: torn down after everything above).
    pub lab: Lab,
}

impl PairLab {
    /// Builds the lab and starts the SMTP server, the CAS stand-ins, a capture on the switch,
    /// both proxies and both VRRP daemons; returns once A alone holds the VIP. `name` names the
    /// lab's namespaces (`vst-<name>-<pid>-<n>-{a,b,c,sw}`).
    pub fn start(name: &str, setup: Setup, opts: Options) -> Result<Self> {
        check_interrupt()?;
        let proxy_bin = setup.proxy_binary()?;
        setup.vrrp().binary()?;
        let standin = workspace_binary("cas-standin", "CAS_STANDIN_BIN")?;
        let lab = Lab::new(name)?;
        let t0 = Stamp::now();
        let dir = lab.dir().to_path_buf();
        let monitor = Monitor::start(&lab)?;

        // The client's node hosts the CAS, the SMTP server and the client sources.
        add_client_addresses(&lab, opts.sources)?;
        if setup == Setup::Seed {
            // The seed's step 3 ("allow HAProxy to use non local IP"); per namespace here.
            for node in Node::BOXES {
                run(&[
                    "ip",
                    "netns",
                    "exec",
                    &lab.ns(node),
                    "sysctl",
                    "-q",
                    "-w",
                    "net.ipv4.ip_nonlocal_bind=1",
                ])?;
            }
        }
        // aiosmtpd's Mailbox handler creates a Maildir only where no directory exists yet.
        let maildir = dir.join("maildir");
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(maildir.join(sub))?;
        }
        let mut servers = Vec::new();
        let smtpd: Vec<String> = [
            "/usr/bin/python3",
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("{SMTP_ADDR}:25"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
            &maildir.display().to_string(),
        ]
        .map(str::to_owned)
        .to_vec();
        servers.push(lab.spawn(Node::Client, "smtpd", &smtpd)?);
        for (cas, addr) in CAS {
            let ports = CAS_PORTS.map(|p| p.to_string()).join(",");
            let argv = [
                standin.display().to_string(),
                "--name".into(),
                cas.into(),
                "--addr".into(),
                addr.into(),
                "--ports".into(),
                ports,
            ];
            let mut p = lab.spawn(Node::Client, cas, &argv)?;
            p.wait_output("ready", Duration::from_secs(10))?;
            servers.push(p);
        }
        let smtp: SocketAddr = format!("{SMTP_ADDR}:25").parse()?;
        wait_for(
            "the SMTP server to listen",
            Duration::from_secs(10),
            Duration::from_millis(50),
            || {
                let up = lab.in_ns(Node::Client, move || {
                    Ok(TcpStream::connect_timeout(&smtp, Duration::from_millis(200)).is_ok())
                })?;
                if !up {
                    servers[0].ensure_running().context(
                        "aiosmtpd (Debian's python3-aiosmtpd) must run: apt-get install python3-aiosmtpd",
                    )?;
                }
                Ok(up.then_some(()))
            },
        )?;

        let capture = lab.capture()?;
        let mut boxes = Node::BOXES.map(|node| BoxSide {
            files: BoxFiles::new(&dir, setup, node),
            proxy: None,
            vrrp: None,
            ctl: None,
            retired_proxies: Vec::new(),
            retired_vrrp: Vec::new(),
        });
        for side in &mut boxes {
            fs::copy(&proxy_bin, &side.files.proxy_bin)
                .with_context(|| format!("copying {}", proxy_bin.display()))?;
            fs::write(&side.files.proxy_cfg, proxy_conf(&side.files)?)?;
        }
        let mut pair = Self {
            setup,
            opts,
            t0,
            daemons_started: t0,
            elected: t0,
            runs: Vec::new(),
            traffic: None,
            monitor,
            boxes,
            capture: Some(capture),
            _servers: servers,
            maildir,
            cut: false,
            reference: HashMap::new(),
            lab,
        };
        for node in Node::BOXES {
            pair.start_proxy(node)?;
        }
        for node in Node::BOXES {
            pair.wait_api(node, Duration::from_secs(10))?;
        }
        // A first, B once A is the master: one election, as when box B is added to a running A
        // (both at once may both claim the VIP for a moment, with a mail each).
        pair.daemons_started = pair.start_vrrp(Node::A)?;
        let want = Want {
            holder: Node::A,
            sole: true,
            arp: Node::A,
        };
        let seen = pair
            .wait_want(want, Duration::from_secs(20))
            .with_context(|| format!("A never became the master\n{}", pair.outputs()))?;
        pair.elected = seen;
        pair.start_vrrp(Node::B)?;
        // B is up once it announced BACKUP (both daemons log keepalived's line).
        let b = pair.boxes[1].vrrp.as_mut().context("B's daemon")?;
        b.proc()
            .wait_output("Entering BACKUP STATE", Duration::from_secs(10))?;
        Ok(pair)
    }

    fn side(&mut self, node: Node) -> &mut BoxSide {
        &mut self.boxes[usize::from(node == Node::B)]
    }

    /// The files of `node`'s proxy (configuration, pid file, sockets).
    pub fn files(&self, node: Node) -> &BoxFiles {
        &self.boxes[usize::from(node == Node::B)].files
    }

    fn start_proxy(&mut self, node: Node) -> Result<Stamp> {
        let setup = self.setup;
        ensure!(
            self.side(node).proxy.is_none(),
            "{}'s proxy is running",
            node.label()
        );
        let f = self.files(node);
        // The pid file is the configuration's `global pidfile`.
        let mut argv = vec![
            f.proxy_bin.display().to_string(),
            "-db".into(),
            "-f".into(),
            f.proxy_cfg.display().to_string(),
            "-L".into(),
            f.peer_name.into(),
        ];
        if setup == Setup::Ours {
            argv.extend(["--liveness-socket".into(), f.liveness.display().to_string()]);
        }
        let name = format!("{}-{}", setup.proxy(), node.label().to_ascii_lowercase());
        let stamp = Stamp::now();
        let proc = self.lab.spawn(node, &name, &argv)?;
        self.side(node).proxy = Some(proc);
        Ok(stamp)
    }

    fn start_vrrp(&mut self, node: Node) -> Result<Stamp> {
        let setup = self.setup;
        let conf = vrrp_conf(setup, node, self.files(node))?;
        ensure!(
            self.side(node).vrrp.is_none(),
            "{}'s VRRP daemon is running",
            node.label()
        );
        let stamp = Stamp::now();
        let mut daemon = self.lab.start_conf(node, setup.vrrp(), &conf)?;
        let ctl = crate::ops::ctl_path(self.lab.dir(), &mut daemon);
        let side = self.side(node);
        side.vrrp = Some(daemon);
        side.ctl = Some(ctl);
        Ok(stamp)
    }

    /// Waits until `node`'s proxy answers on its runtime API.
    fn wait_api(&mut self, node: Node, timeout: Duration) -> Result<()> {
        let api = self.files(node).api.clone();
        let res = wait_for(
            &format!("{}'s proxy to answer on its API", node.label()),
            timeout,
            Duration::from_millis(50),
            || Ok(api_command(&api, "show table").ok()),
        );
        if let Err(e) = res {
            let out = self
                .side(node)
                .proxy
                .as_mut()
                .map(|p| {
                    let _ = p.ensure_running();
                    p.output()
                })
                .unwrap_or_default();
            return Err(e.context(out));
        }
        Ok(())
    }

    /// Which boxes hold the VIP now (the monitor's latest view).
    pub fn holders(&self) -> Holders {
        self.monitor.current()
    }

    /// Every change of the VIP's holders so far.
    pub fn vip_timeline(&self) -> Vec<(Stamp, Holders)> {
        self.monitor.timeline()
    }

    /// Waits until the holders satisfy `want`; returns when the monitor first saw it.
    fn wait_want(&self, want: Want, timeout: Duration) -> Result<Stamp> {
        let what = format!(
            "box {} to hold {VIP}{}",
            want.holder.label(),
            if want.sole { " alone" } else { "" }
        );
        wait_for(&what, timeout, MONITOR_EVERY, || {
            Ok(want.met(self.monitor.current()).then_some(()))
        })?;
        // The monitor's own stamp of the change that met it.
        let stamp = self
            .monitor
            .timeline()
            .into_iter()
            .rev()
            .take_while(|(_, h)| want.met(*h))
            .last()
            .map(|(s, _)| s);
        stamp.context("monitor lost the change")
    }

    /// Starts the client's traffic (connectors and sessions).
    pub fn start_traffic(&mut self) -> Result<()> {
        ensure!(self.traffic.is_none(), "traffic already running");
        self.traffic = Some(Traffic::start(&self.lab, self.opts)?);
        Ok(())
    }

    /// Waits until every source has reached a CAS at least once and B's stick table holds every
    /// source (replicated from A). Returns (A's, B's) table sizes.
    pub fn warm_up(&self, timeout: Duration) -> Result<(usize, usize)> {
        let n = self.opts.sources;
        wait_for(
            "every client source to reach a CAS",
            timeout,
            Duration::from_millis(100),
            || {
                let log = self.traffic_log();
                let mut seen = vec![false; n];
                for a in log.attempts.iter().filter(|a| a.ok()) {
                    seen[a.source] = true;
                }
                Ok(seen.iter().all(|s| *s).then_some(()))
            },
        )?;
        let seen = wait_for(
            "B's stick table to hold every source",
            timeout,
            Duration::from_millis(100),
            || {
                let a = self.table_used(Node::A)?;
                let b = self.table_used(Node::B)?;
                Ok((b >= n).then_some((a, b)))
            },
        )?;
        Ok(seen.value)
    }

    /// The shared stick table of `node` (through its runtime API): client address → CAS name.
    /// The `server_id` of an entry is the server's position in its backend, the same for both
    /// CAS in every backend of haproxy.cfg (cas1 = 1, cas2 = 2).
    pub fn stick_table(&self, node: Node) -> Result<HashMap<Ipv4Addr, String>> {
        let out = api_command(&self.files(node).api, &format!("show table {TABLE}"))?;
        Ok(parse_table(&out))
    }

    /// `used:` of the shared stick table on `node` (through its runtime API).
    pub fn table_used(&self, node: Node) -> Result<usize> {
        let out = api_command(&self.files(node).api, &format!("show table {TABLE}"))?;
        out.lines()
            .next()
            .and_then(|l| l.rsplit_once("used:"))
            .and_then(|(_, n)| n.trim().parse().ok())
            .with_context(|| format!("unexpected answer to show table: {out:?}"))
    }

    /// Runs `step`: injects it, waits (at most 30 s) for the VIP to reach [`Step::want`], then
    /// polls the client's ARP entry for 3 s. Fails when the step does not apply now (e.g.
    /// restoring a proxy that runs).
    pub fn run_step(&mut self, step: Step) -> Result<StepRun> {
        check_interrupt()?;
        if self.runs.is_empty() && self.traffic.is_some() {
            self.reference = self
                .stick_table(Node::A)?
                .into_iter()
                .filter_map(|(addr, cas)| {
                    let i = (0..self.opts.sources).find(|&i| source(i) == addr)?;
                    Some((i, cas))
                })
                .collect();
        }
        let at = self.inject(step)?;
        let want = step.want();
        let takeover = match self.wait_want(want, Duration::from_secs(30)) {
            Ok(t) => Some(t),
            Err(e) if e.is::<Interrupted>() => return Err(e),
            Err(_) => None,
        };
        let mut arp = None;
        let mut arp_box = None;
        if takeover.is_some() {
            let mac = want.arp.mac();
            let seen = wait_for(
                "the client's ARP entry",
                Duration::from_secs(3),
                Duration::from_millis(20),
                || Ok((self.lab.client_neigh(VIP)? == Some(mac)).then_some(())),
            );
            match seen {
                Ok(s) => {
                    arp = Some(s.stamp);
                    arp_box = Some(want.arp);
                }
                Err(e) if e.is::<Interrupted>() => return Err(e),
                Err(_) => arp_box = mac_box(self.lab.client_neigh(VIP)?),
            }
        }
        let run = StepRun {
            step,
            at,
            takeover,
            arp,
            arp_box,
        };
        self.runs.push(run.clone());
        self.check_running()?;
        Ok(run)
    }

    /// Fails (with the logs) when a daemon that should run has exited.
    pub fn check_running(&mut self) -> Result<()> {
        let mut dead = Vec::new();
        for side in &mut self.boxes {
            if let Some(p) = side.proxy.as_mut()
                && let Err(e) = p.ensure_running()
            {
                dead.push(format!("{e:#}"));
            }
            if let Some(d) = side.vrrp.as_mut()
                && let Err(e) = d.ensure_running()
            {
                dead.push(format!("{e:#}"));
            }
        }
        ensure!(dead.is_empty(), "{}", dead.join("\n"));
        Ok(())
    }

    /// Injects `step` and returns when it was done.
    pub fn inject(&mut self, step: Step) -> Result<Stamp> {
        match step {
            Step::KillProxy => {
                if self.setup == Setup::Seed {
                    let own = self.boxes[0].proxy.as_ref().map_or(0, |p| p.pid().as_raw());
                    wait_alone(&self.setup.proxy_comm(Node::A), own)?;
                }
                let side = self.side(Node::A);
                let mut p = side.proxy.take().context("A's proxy is not running")?;
                let stamp = p.signal(Signal::SIGKILL)?;
                // Reaped at once, as init would: `killall -0` counts a zombie as running.
                p.wait_exit(Duration::from_secs(3))?;
                side.retired_proxies.push(p);
                Ok(stamp)
            }
            Step::RestoreProxy => self.start_proxy(Node::A),
            Step::CrashVrrp => {
                let side = self.side(Node::A);
                let mut d = side.vrrp.take().context("A's VRRP daemon is not running")?;
                let stamp = d.sigkill()?;
                d.wait_exit(Duration::from_secs(3))?;
                side.retired_vrrp.push(d);
                Ok(stamp)
            }
            Step::RestartVrrp => self.start_vrrp(Node::A),
            Step::CutVrrp => {
                ensure!(!self.cut, "VRRP is already cut");
                self.cut = true;
                self.lab.block_vrrp_in(Node::B)
            }
            Step::HealVrrp => {
                ensure!(self.cut, "VRRP is not cut");
                self.cut = false;
                self.lab.unblock_vrrp(Node::B)
            }
        }
    }

    /// Runs [`Step::SCENARIO`], pausing `settle` after each step (the window in which "none
    /// after the takeover" is measured), and returns the report.
    pub fn run_scenario(&mut self, settle: Duration) -> Result<Report> {
        for step in Step::SCENARIO {
            self.run_step(step)?;
            pause(settle)?;
        }
        self.report()
    }

    /// A copy of what the client recorded so far.
    pub fn traffic_log(&self) -> TrafficLog {
        self.traffic
            .as_ref()
            .map(|t| lock(&t.log).clone())
            .unwrap_or_default()
    }

    /// The frames captured on the switch so far (adverts, ARP).
    pub fn frames(&self) -> Result<Vec<Frame>> {
        self.capture
            .as_ref()
            .context("the capture was stopped")?
            .frames()
    }

    /// The mails received so far, in arrival order.
    pub fn mails(&self) -> Result<Vec<Mail>> {
        read_maildir(&self.maildir)
    }

    /// The Maildir the SMTP server writes to.
    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// Every VRRP daemon's and proxy's output so far (for errors).
    pub fn outputs(&self) -> String {
        let mut out = String::new();
        for side in &self.boxes {
            for d in side.retired_vrrp.iter().chain(side.vrrp.iter()) {
                out.push_str(&d.output());
            }
            for p in side.retired_proxies.iter().chain(side.proxy.iter()) {
                out.push_str(&p.output());
            }
        }
        out
    }

    /// Lines containing `needle` in every VRRP daemon's output (e.g. `Entering MASTER STATE`).
    pub fn vrrp_log_count(&self, needle: &str) -> usize {
        self.boxes
            .iter()
            .flat_map(|s| s.retired_vrrp.iter().chain(s.vrrp.iter()))
            .map(|d| d.output().lines().filter(|l| l.contains(needle)).count())
            .sum()
    }

    /// `vrrpd status` of `node` (ours only), as printed.
    pub fn vrrpd_status(&self, node: Node) -> Result<String> {
        ensure!(self.setup == Setup::Ours, "vrrpd status needs vrrpd");
        let ctl = self.boxes[usize::from(node == Node::B)]
            .ctl
            .as_ref()
            .context("no VRRP daemon running")?;
        let out = Command::new(crate::daemon::vrrpd_binary()?)
            .arg("status")
            .arg("--control-socket")
            .arg(ctl)
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Computes the per-step report from everything recorded so far.
    pub fn report(&self) -> Result<Report> {
        let end = Stamp::now();
        let frames = self.frames()?;
        let log = self.traffic_log();
        let mails = self.mails()?;
        let rec = Recorded {
            first_event: self.runs.first().map_or(end, |r| r.at),
            reference: &self.reference,
            frames: &frames,
            log: &log,
            mails: &mails,
            sources: self.opts.sources,
        };
        let mut steps = Vec::new();
        for (i, run) in self.runs.iter().enumerate() {
            let until = self.runs.get(i + 1).map_or(end, |r| r.at);
            steps.push(step_report(run, until, &rec));
        }
        let warm = self.runs.first().map_or(end, |r| r.at);
        let before: Vec<&Attempt> = log.attempts.iter().filter(|a| a.end.at < warm.at).collect();
        Ok(Report {
            setup: self.setup,
            t0: self.t0,
            daemons_started: self.daemons_started,
            elected: self.elected,
            end,
            steps,
            vip: self.vip_timeline(),
            mails,
            warmup_tried: before.len(),
            warmup_failed: before.iter().filter(|a| !a.ok()).count(),
            transitions: [
                "Entering MASTER STATE",
                "Entering BACKUP STATE",
                "Entering FAULT STATE",
            ]
            .iter()
            .map(|n| self.vrrp_log_count(n))
            .sum(),
            attempts: log.attempts.len(),
        })
    }

    /// Stops the traffic and the capture and returns the lab's explore-it text; the lab's
    /// processes and namespaces stay up after this process exits (remove them with
    /// [`remove_kept_labs`], or any later lab run removes them).
    pub fn keep(mut self) -> Result<String> {
        if let Some(mut t) = self.traffic.take() {
            t.stop();
        }
        self.monitor.stop();
        if let Some(c) = self.capture.take() {
            let _ = c.stop();
        }
        let text = self.explore_text();
        // Leak on purpose: dropping would kill the processes and delete the namespaces.
        std::mem::forget(self);
        Ok(text)
    }

    /// How to look around in the running lab.
    pub fn explore_text(&self) -> String {
        let (a, b, c) = (
            self.lab.ns(Node::A),
            self.lab.ns(Node::B),
            self.lab.ns(Node::Client),
        );
        let dir = self.lab.dir().display().to_string();
        let (api_a, api_b) = (
            self.files(Node::A).api.display().to_string(),
            self.files(Node::B).api.display().to_string(),
        );
        let mut s = String::new();
        s.push_str(&format!(
            "Namespaces: box A {a}, box B {b}, client + CAS + SMTP {c}, switch {}.\n",
            self.lab.switch_ns()
        ));
        s.push_str(&format!(
            "Configs, logs, the capture and the mails are in {dir}\n\n"
        ));
        s.push_str(&format!(
            "  ip netns exec {a} ip -br addr show dev eth0        # who holds {VIP}?\n"
        ));
        if self.setup == Setup::Ours {
            let vrrpd = crate::daemon::vrrpd_binary()
                .map_or_else(|_| "vrrpd".to_owned(), |p| p.display().to_string());
            let ctl = |node: Node| {
                self.boxes[usize::from(node == Node::B)]
                    .ctl
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            };
            s.push_str(&format!(
                "  {vrrpd} status --control-socket {}   # box A's instance, trackers, counters\n",
                ctl(Node::A)
            ));
            s.push_str(&format!(
                "  {vrrpd} status --control-socket {}   # box B\n",
                ctl(Node::B)
            ));
        }
        s.push_str(&format!(
            "  ip netns exec {a} curl -s '{STATS_URL};csv'   # box A's stats page (HTML without ;csv)\n"
        ));
        s.push_str(&format!(
            "  echo 'show table {TABLE}' | socat stdio unix-connect:{api_a}   # A's runtime API\n"
        ));
        s.push_str(&format!(
            "  echo 'show servers state cas_rpc' | socat stdio unix-connect:{api_b}   # B's\n"
        ));
        s.push_str(&format!(
            "  ip netns exec {c} socat - TCP:{VIP}:135,bind=198.51.100.7   # a client session (greets with its CAS)\n"
        ));
        s.push_str(&format!(
            "  ip netns exec {c} ip neigh show {VIP}     # A = {}, B = {}\n",
            format_mac(&Node::A.mac()),
            format_mac(&Node::B.mac())
        ));
        s.push_str(&format!(
            "  ip netns exec {} tcpdump -eni pc 'vrrp or arp'   # adverts and gratuitous ARPs\n",
            self.lab.switch_ns()
        ));
        s.push_str(&format!(
            "  ls {}/new                     # the alerts the SMTP server received\n",
            self.maildir.display()
        ));
        s
    }
}

impl Drop for PairLab {
    fn drop(&mut self) {
        // Stop the threads before the namespaces go.
        if let Some(mut t) = self.traffic.take() {
            t.stop();
        }
        self.monitor.stop();
    }
}

fn mac_box(mac: Option<Mac>) -> Option<Node> {
    let mac = mac?;
    Node::BOXES.into_iter().find(|n| n.mac() == mac)
}

/// Adds the CAS, SMTP and client source addresses to the client's eth0 (one `ip -batch`), and
/// routes to the sources via the client on both boxes (on-link sources would need a neighbour
/// entry each on the boxes).
fn add_client_addresses(lab: &Lab, sources: usize) -> Result<()> {
    let mut batch = String::new();
    for (_, addr) in CAS {
        batch.push_str(&format!("addr add {addr}/24 dev {IFACE}\n"));
    }
    batch.push_str(&format!("addr add {SMTP_ADDR}/24 dev {IFACE}\n"));
    for i in 0..sources {
        batch.push_str(&format!("addr add {}/32 dev {IFACE}\n", source(i)));
    }
    let file = lab.dir().join("client-addresses.batch");
    fs::write(&file, batch)?;
    ip(&[
        "-n",
        &lab.ns(Node::Client),
        "-batch",
        &file.display().to_string(),
    ])?;
    for node in Node::BOXES {
        ip(&[
            "-n",
            &lab.ns(node),
            "route",
            "add",
            "198.51.100.0/24",
            "via",
            Node::Client.ip4(),
        ])?;
    }
    Ok(())
}

/// Parses `show table` entries (`0x..: key=198.51.100.7 use=0 exp=7199 server_id=2 ...`) into
/// address → CAS name (`server_id` N is `CAS[N - 1]`).
pub fn parse_table(out: &str) -> HashMap<Ipv4Addr, String> {
    out.lines()
        .filter_map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_owned)
            };
            let key: Ipv4Addr = field("key=")?.parse().ok()?;
            let id: usize = field("server_id=")?.parse().ok()?;
            let (cas, _) = CAS.get(id.checked_sub(1)?)?;
            Some((key, (*cas).to_owned()))
        })
        .collect()
}

/// Sends one runtime API command; the whole answer.
pub fn api_command(socket: &Path, cmd: &str) -> Result<String> {
    let mut s =
        UnixStream::connect(socket).with_context(|| format!("connecting {}", socket.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Reads a Maildir (`new/` and `cur/`): subject, sender box and arrival of each message.
pub fn read_maildir(dir: &Path) -> Result<Vec<Mail>> {
    let mut mails = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(text) = fs::read_to_string(e.path()) else {
                continue;
            };
            let at = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(UNIX_EPOCH);
            let header = |name: &str| {
                text.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            };
            let peer = header("X-Peer:").unwrap_or_default();
            let from_box = Node::BOXES
                .into_iter()
                .find(|n| peer.contains(&format!("'{}'", n.ip4())));
            mails.push(Mail {
                at,
                from_box,
                subject: header("Subject:").unwrap_or_default(),
            });
        }
    }
    mails.sort_by_key(|m| m.at);
    Ok(mails)
}

/// Pids of processes named `comm` (by /proc/PID/comm) other than `own`.
fn same_named(comm: &str, own: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

/// Waits (at most 3 minutes) until no process other than `own` is named `comm`: the seed's
/// `killall -0 haproxy` on A would see any HAProxy on the host and never notice A's death.
fn wait_alone(comm: &str, own: i32) -> Result<()> {
    let others = same_named(comm, own);
    if others.is_empty() {
        return Ok(());
    }
    eprintln!(
        "other processes named {comm} on this host ({others:?}): the seed's `killall -0 {comm}` \
         on A would see them; waiting for them to exit"
    );
    wait_for(
        &format!("other {comm} processes to exit"),
        Duration::from_secs(180),
        Duration::from_millis(100),
        || Ok(same_named(comm, own).is_empty().then_some(())),
    )
    .map(drop)
}

/// Deletes the namespaces (and kills their processes) of labs named `name` whose `pair-demo`
/// process is gone, e.g. one left by `--keep`. Returns how many namespaces were removed.
pub fn remove_kept_labs(name: &str) -> Result<usize> {
    let prefix = format!("{NS_PREFIX}{name}-");
    let mut removed = 0;
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return Ok(0);
    };
    let me = std::process::id();
    for e in entries.flatten() {
        let ns = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = ns.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        for _ in 0..20 {
            let pids = run(&["ip", "netns", "pids", &ns]).unwrap_or_default();
            let pids: Vec<i32> = pids
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
            }
            thread::sleep(Duration::from_millis(20));
        }
        run(&["ip", "netns", "del", &ns])?;
        removed += 1;
    }
    Ok(removed)
}

// ---- the report ------------------------------------------------------------------------------

/// Measurements of one step, over its window (from its event to the next step's).
#[derive(Clone, Debug)]
pub struct StepReport {
    /// What ran.
    pub run: StepRun,
    /// End of the window.
    pub until: Stamp,
    /// Event → the first advert on the wire showing the change (see [`detection`]).
    pub detected: Option<Duration>,
    /// What that advert was.
    pub detected_what: String,
    /// Event → the VIP in the wanted state.
    pub takeover: Option<Duration>,
    /// Event → the client's ARP entry at the wanted box.
    pub arp: Option<Duration>,
    /// New connections that ended in the window.
    pub tried: usize,
    /// Of which failed (refused, reset, no greeting, or no connection within 3 s).
    pub failed: usize,
    /// Of which answered, but slower than [`DELAYED`] (a SYN lost, retransmitted after 1 s).
    pub delayed: usize,
    /// Failed or delayed connections started after the takeover.
    pub bad_after_takeover: usize,
    /// Failure reasons and their counts.
    pub reasons: Vec<(String, usize)>,
    /// The client-visible outage of new connections: from the start of the first failed or
    /// delayed one to the end of the first prompt success started after the last of those (zero
    /// when none failed or was delayed).
    pub outage: Duration,
    /// The slowest successful connection (connect + greeting) of the window.
    pub slowest: Option<Duration>,
    /// Long-lived sessions that broke in the window.
    pub sessions_broken: usize,
    /// The longest break → reopened of those (None when none broke or one never reopened).
    pub session_gap: Option<Duration>,
    /// Sessions broken in the window that never reopened.
    pub sessions_not_reopened: usize,
    /// Distinct sources that reached a CAS in the window.
    pub sources_seen: usize,
    /// Of which reached the CAS they first reached before any event (every time in the window).
    pub sources_kept: usize,
    /// Mails received in the window.
    pub mails: Vec<Mail>,
}

/// Which advert shows a step's effect on the wire.
///
/// - proxy killed: A's first advert below its steady priority (0 with `track_proxyd`: FAULT; 101
///   with the seed's script, whose weight 2 is lost);
/// - VRRP daemon killed, VRRP cut: B's first advert (its Master_Down_Timer fired);
/// - proxy restored, VRRP daemon back: A's first advert (A preempts after Master_Down_Interval as
///   a backup: before that it is silent);
/// - healed: B's last advert (it hears A again and goes back to backup).
pub fn detection(step: Step, at: Stamp, until: Stamp, frames: &[Frame]) -> Option<(f64, String)> {
    let (t0, t1) = (at.epoch_secs(), until.epoch_secs());
    let window = |mac: &Mac| -> Vec<(f64, u8)> {
        adverts_from(frames, mac)
            .filter(|(f, _)| f.epoch_secs() >= t0 && f.epoch_secs() < t1)
            .map(|(f, a)| (f.epoch_secs(), a.priority))
            .collect()
    };
    match step {
        Step::KillProxy => {
            let steady = adverts_from(frames, &Node::A.mac())
                .filter(|(f, _)| f.epoch_secs() < t0)
                .map(|(_, a)| a.priority)
                .last()?;
            window(&Node::A.mac())
                .into_iter()
                .find(|(_, p)| *p < steady)
                .map(|(t, p)| (t - t0, format!("A advertises priority {p} (was {steady})")))
        }
        Step::CrashVrrp | Step::CutVrrp => window(&Node::B.mac())
            .into_iter()
            .next()
            .map(|(t, p)| (t - t0, format!("B's first advert as master (priority {p})"))),
        Step::RestoreProxy | Step::RestartVrrp => window(&Node::A.mac())
            .into_iter()
            .find(|(_, p)| *p > 0)
            .map(|(t, p)| {
                (
                    t - t0,
                    format!("A's first advert, preempting (priority {p})"),
                )
            }),
        Step::HealVrrp => window(&Node::B.mac())
            .into_iter()
            .last()
            .map(|(t, p)| (t - t0, format!("B's last advert (priority {p})"))),
    }
}

/// What [`step_report`] reads: everything recorded during the run.
struct Recorded<'a> {
    first_event: Stamp,
    reference: &'a HashMap<usize, String>,
    frames: &'a [Frame],
    log: &'a TrafficLog,
    mails: &'a [Mail],
    sources: usize,
}

fn step_report(run: &StepRun, until: Stamp, rec: &Recorded<'_>) -> StepReport {
    let Recorded {
        first_event,
        reference,
        frames,
        log,
        mails,
        sources,
    } = *rec;
    let in_window = |s: &Stamp| s.at >= run.at.at && s.at < until.at;
    let attempts: Vec<&Attempt> = log.attempts.iter().filter(|a| in_window(&a.end)).collect();
    let failed: Vec<&&Attempt> = attempts.iter().filter(|a| !a.ok()).collect();
    let delayed = |a: &Attempt| a.ok() && a.end.since(a.start) > DELAYED;
    // What the client saw as "not working": failed, or answered only after a retransmitted SYN.
    let bad: Vec<&&Attempt> = attempts.iter().filter(|a| !a.ok() || delayed(a)).collect();
    let after_takeover = |a: &Attempt| run.takeover.is_some_and(|t| a.start.at > t.at);
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for a in &failed {
        if let Outcome::Failed(r) = &a.outcome {
            *reasons.entry(r.clone()).or_default() += 1;
        }
    }
    let mut reasons: Vec<(String, usize)> = reasons.into_iter().collect();
    reasons.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let outage = match (
        bad.iter().map(|a| a.start.at).min(),
        bad.iter().map(|a| a.start.at).max(),
    ) {
        (Some(first), Some(last)) => {
            let recovered = attempts
                .iter()
                .filter(|a| a.ok() && !delayed(a) && a.start.at > last)
                .map(|a| a.end.at)
                .min()
                .unwrap_or(until.at);
            recovered.saturating_duration_since(first)
        }
        _ => Duration::ZERO,
    };
    let slowest = attempts
        .iter()
        .filter(|a| a.ok())
        .map(|a| a.end.since(a.start))
        .max();
    let breaks: Vec<&SessionBreak> = log.breaks.iter().filter(|b| in_window(&b.at)).collect();
    let session_gap = if breaks.iter().any(|b| b.reopened.is_none()) {
        None
    } else {
        breaks
            .iter()
            .filter_map(|b| b.reopened.map(|r| r.since(b.at)))
            .max()
    };
    // Stickiness: a source's reference is its entry in A's stick table just before the first
    // event (two first connections of one source racing each other may have reached different
    // CAS; the table keeps one of them); without it, the CAS it reached last before the first
    // event, else the first it reached at all.
    let mut obs: Vec<(usize, Stamp, &str)> = log
        .attempts
        .iter()
        .filter_map(|a| match &a.outcome {
            Outcome::Cas(c) => Some((a.source, a.end, c.as_str())),
            Outcome::Failed(_) => None,
        })
        .chain(log.opens.iter().map(|o| (o.source, o.at, o.cas.as_str())))
        .collect();
    obs.sort_by_key(|(_, s, _)| s.at);
    let mut first: Vec<Option<&str>> = vec![None; sources];
    for (src, at, cas) in &obs {
        if let Some(slot) = first.get_mut(*src)
            && (slot.is_none() || at.at < first_event.at)
        {
            *slot = Some(cas);
        }
    }
    for (src, slot) in first.iter_mut().enumerate() {
        if let Some(cas) = reference.get(&src) {
            *slot = Some(cas.as_str());
        }
    }
    let mut seen = vec![false; sources];
    let mut moved = vec![false; sources];
    for (src, s, cas) in &obs {
        if *src < sources && in_window(s) {
            seen[*src] = true;
            if first[*src] != Some(*cas) {
                moved[*src] = true;
            }
        }
    }
    let (t0, t1) = (run.at.wall, until.wall);
    StepReport {
        run: run.clone(),
        until,
        detected: detection(run.step, run.at, until, frames)
            .map(|(d, _)| Duration::from_secs_f64(d.max(0.0))),
        detected_what: detection(run.step, run.at, until, frames)
            .map(|(_, w)| w)
            .unwrap_or_default(),
        takeover: run.takeover.map(|t| t.since(run.at)),
        arp: run.arp.map(|t| t.since(run.at)),
        tried: attempts.len(),
        failed: failed.len(),
        delayed: attempts.iter().filter(|a| delayed(a)).count(),
        bad_after_takeover: bad.iter().filter(|a| after_takeover(a)).count(),
        reasons,
        outage,
        slowest,
        sessions_broken: breaks.len(),
        session_gap,
        sessions_not_reopened: breaks.iter().filter(|b| b.reopened.is_none()).count(),
        sources_seen: seen.iter().filter(|s| **s).count(),
        sources_kept: seen.iter().zip(&moved).filter(|(s, m)| **s && !**m).count(),
        mails: mails
            .iter()
            .filter(|m| m.at >= t0 && m.at < t1)
            .cloned()
            .collect(),
    }
}

/// Everything one run of the scenario measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// What ran.
    pub setup: Setup,
    /// Time zero (lab up).
    pub t0: Stamp,
    /// Both VRRP daemons started.
    pub daemons_started: Stamp,
    /// A alone held the VIP.
    pub elected: Stamp,
    /// When the report was made.
    pub end: Stamp,
    /// Per step.
    pub steps: Vec<StepReport>,
    /// The VIP's holders after every change.
    pub vip: Vec<(Stamp, Holders)>,
    /// Every mail received.
    pub mails: Vec<Mail>,
    /// New connections before the first event.
    pub warmup_tried: usize,
    /// Of which failed.
    pub warmup_failed: usize,
    /// `Entering MASTER/BACKUP/FAULT STATE` lines in the VRRP daemons' logs.
    pub transitions: usize,
    /// New connections in all.
    pub attempts: usize,
}

impl Report {
    /// Seconds from time zero.
    pub fn rel(&self, s: Stamp) -> f64 {
        s.epoch_secs() - self.t0.epoch_secs()
    }

    fn rel_wall(&self, t: SystemTime) -> f64 {
        t.duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
            - self.t0.epoch_secs()
    }

    /// The timeline: (seconds from time zero, VIP holders then, text), in time order.
    pub fn timeline(&self) -> Vec<(f64, String, String)> {
        let holder_at = |t: f64| {
            self.vip
                .iter()
                .take_while(|(s, _)| self.rel(*s) <= t + 1e-9)
                .last()
                .map_or("-", |(_, h)| h.label())
                .to_owned()
        };
        let mut rows: Vec<(f64, String)> = Vec::new();
        rows.push((
            self.rel(self.daemons_started),
            format!(
                "{} started on A (priority 101) and B (100)",
                self.setup.vrrp().label()
            ),
        ));
        for (i, (s, h)) in self.vip.iter().enumerate() {
            let text = match (i, h.label()) {
                (0, "-") => "lab up: nobody holds the VIP".to_owned(),
                (_, "-") => "nobody holds the VIP".to_owned(),
                (_, l) => format!("VIP now on {l}"),
            };
            rows.push((self.rel(*s), text));
        }
        for (i, st) in self.steps.iter().enumerate() {
            let at = self.rel(st.run.at);
            rows.push((
                at,
                format!("[{}] {}", i + 1, st.run.step.describe(self.setup)),
            ));
            if let Some(d) = st.detected {
                rows.push((at + d.as_secs_f64(), format!("    {}", st.detected_what)));
            }
            if let Some(a) = st.arp {
                let node = st.run.step.want().arp;
                rows.push((
                    at + a.as_secs_f64(),
                    format!("    client's ARP entry for the VIP -> {}", node.label()),
                ));
            }
        }
        for m in &self.mails {
            rows.push((
                self.rel_wall(m.at),
                format!(
                    "    mail from {}: {}",
                    m.from_box.map_or("?", Node::label),
                    m.subject
                ),
            ));
        }
        rows.sort_by(|x, y| x.0.total_cmp(&y.0));
        rows.into_iter()
            .map(|(t, text)| (t, holder_at(t), text))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> BoxFiles {
        BoxFiles::new(Path::new("/tmp/lab"), Setup::Ours, Node::A)
    }

    #[test]
    fn ours_replaces_only_the_tracker() {
        let conf = vrrp_conf(Setup::Ours, Node::A, &files()).expect("conf");
        assert!(!conf.contains("vrrp_script chk_haproxy {"), "{conf}");
        assert!(!conf.contains("track_script {"), "{conf}");
        assert!(conf.contains("track_proxyd proxyd {"), "{conf}");
        assert!(conf.contains("pid_file /tmp/lab/proxyd-a.pid"), "{conf}");
        for kept in [
            "virtual_router_id 51",
            "priority 101",
            "auth_type PASS",
            "auth_pass somepassword",
            "smtp_alert",
            "smtp_server 192.0.2.25",
            "192.0.2.100",
            "state MASTER",
        ] {
            assert!(conf.contains(kept), "lost {kept:?}:\n{conf}");
        }
        // Braces still balance.
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
    }

    #[test]
    fn seed_keeps_the_script_and_renames_it_on_b() {
        let a = vrrp_conf(Setup::Seed, Node::A, &files()).expect("conf");
        assert!(a.ends_with(&LB1_CONF.replace("killall -0 haproxy", "killall -0 haproxy-a")));
        let f = BoxFiles::new(Path::new("/tmp/lab"), Setup::Seed, Node::B);
        assert_eq!(f.proxy_bin, Path::new("/tmp/lab/haproxy-b"));
        let b = vrrp_conf(Setup::Seed, Node::B, &f).expect("conf");
        assert!(b.contains("script \"killall -0 haproxy-b\""), "{b}");
        assert!(b.contains("priority 100"));
    }

    #[test]
    fn proxy_conf_adds_peers_and_per_box_paths() {
        let cfg = proxy_conf_with(&files(), None).expect("cfg");
        assert!(cfg.contains("    maxconn 20000\n"));
        let low = proxy_conf_with(&files(), Some(20_000)).expect("cfg");
        assert!(low.contains("    maxconn 9500 "), "{low}");
        assert!(cfg.contains(
            "peers lbpair\n    peer lb1 192.0.2.11:10000\n    peer lb2 192.0.2.12:10000\n"
        ));
        assert!(cfg.contains("stick-table type ip size 200k expire 2h peers lbpair"));
        assert!(cfg.contains("stats socket /tmp/lab/admin-a.sock mode 600 level admin"));
        assert!(cfg.contains("pidfile /tmp/lab/proxyd-a.pid"));
        assert!(!cfg.contains("/run/proxyd"));
        assert!(cfg.contains("bind 192.0.2.100:443"));
    }

    #[test]
    fn parses_stick_table_entries() {
        let out = "# table: st_src_cas, type: ip, size:204800, used:2\n\
                   0x743: key=198.51.100.1 use=0 exp=7196687 server_id=2\n\
                   0x744: key=198.51.100.2 use=0 exp=7196687 server_id=1 server_key=cas1\n\n";
        let t = parse_table(out);
        assert_eq!(t.len(), 2);
        assert_eq!(t[&Ipv4Addr::new(198, 51, 100, 1)], "cas2");
        assert_eq!(t[&Ipv4Addr::new(198, 51, 100, 2)], "cas1");
    }

    #[test]
    fn wants() {
        let both = Holders { a: true, b: true };
        let b = Holders { a: false, b: true };
        assert!(Step::CutVrrp.want().met(both));
        assert!(!Step::KillProxy.want().met(both));
        assert!(Step::KillProxy.want().met(b));
        assert!(!Step::HealVrrp.want().met(both));
    }

    #[test]
    fn sources_are_in_the_test_range() {
        assert_eq!(source(0), Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(source(199), Ipv4Addr::new(198, 51, 100, 200));
    }
}

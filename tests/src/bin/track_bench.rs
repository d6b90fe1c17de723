//! `track-bench`: the proxy dies on the master, how long until the VIP (and the service behind
//! it) is on the backup (issue 4, "Measure"). Prints markdown tables.
//!
//! Owns the benchmark loop only: the lab, processes, daemons, capture and the seed's instance are
//! the system tests' own (`system_tests::{lab, process, daemon, capture, config}`), as in
//! `tests/tests/track_proxyd.rs`. Each run uses a fresh lab: box A (priority 101, MASTER) and box B
//! (100, BACKUP) each run a CAS stand-in on 127.0.0.1:60000, a proxy on *:8080 in front of it and
//! a VRRP daemon watching that proxy; A's proxy is SIGKILLed and reaped at once (as init would),
//! and the bench times the VIP on B (`ip -o addr` every 5 ms, the failover bench's probe), the
//! first TCP answer from B's proxy through the VIP at the client, and, from a capture on the
//! switch, A's first advert at the lowered priority and B's protocol timer.
//!
//! The kill falls at a random phase of the tracker's interval: once settled, the bench sleeps
//! `u_i × interval` with `u_i` uniform in [0, 1) from a seeded SplitMix64 (one `u_i` per run
//! index, shared by every variant, so variants with the same interval get the same delays).
//! Whatever the offset of the script's schedule at that point, adding a uniform delay over one
//! interval makes the phase uniform.
//!
//! The lab shares the host's PID namespace, so `killall -0 NAME` on A would also see B's proxy:
//! B runs a copy of the binary named `NAME-b`. A run during which another process named `NAME`
//! exists anywhere on the host (another test's proxyd, another bench's haproxy) would measure
//! nothing: the bench waits for it to go away before the kill and discards (and retries, at most
//! twice) a run where one showed up meanwhile, saying so.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use nix::sys::signal::Signal;
use system_tests::capture::{Frame, adverts_from};
use system_tests::config::{AUTH_PASS, IFACE, VIP4, VRID, master_down_interval, skew_time};
use system_tests::daemon::{proxyd_binary, workspace_binary};
use system_tests::lab::{Lab, Node};
use system_tests::poll::{Stamp, poll_until};
use system_tests::process::Proc;
use system_tests::scenario::median;
use system_tests::{Impl, Instance};

/// The proxies' frontend port (on every address of the box, so on the VIP when it holds it).
const FRONT_PORT: u16 = 8080;
/// The CAS stand-in's port on each box's loopback (it greets with `NAME:PORT`).
const BACKEND_PORT: u16 = 60000;
/// The seed's `advert_int`.
const ADVERT_INT: Duration = Duration::from_secs(1);
/// The seed's script weight.
const SCRIPT_WEIGHT: u8 = 2;
/// Base priorities (the seed).
const PRIO_A: u8 = 101;
const PRIO_B: u8 = 100;
/// Client TCP probe: connect timeout (a SYN sent to A's MAC after A dropped the VIP is lost) and
/// the pause between attempts.
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_millis(50);
const TCP_PROBE_EVERY: Duration = Duration::from_millis(2);
/// Runs discarded because a same-named process appeared, per requested run, at most.
const MAX_RETRIES: u32 = 2;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Proxy death on the master -> VIP on the backup (needs root)")]
struct Args {
    /// Variants: ours-script5, ours-script1, ours-native, ka-script5, ka-script1.
    #[arg(
        long = "variant",
        value_name = "VARIANT",
        default_values = ["ours-script5", "ours-script1", "ours-native", "ka-script5", "ka-script1"]
    )]
    variants: Vec<String>,
    /// Runs per variant.
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// Seed of the kill-phase generator (SplitMix64).
    #[arg(long, default_value_t = 4_261_849)]
    seed: u64,
}

/// Which proxy runs on the boxes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proxy {
    /// Our proxyd (pid file and liveness socket for `track_proxyd`).
    Proxyd,
    /// Debian's HAProxy.
    Haproxy,
}

impl Proxy {
    /// The process name on A (what the seed's `killall -0` looks for); B's is `NAME-b`.
    fn name(self) -> &'static str {
        match self {
            Proxy::Proxyd => "proxyd",
            Proxy::Haproxy => "haproxy",
        }
    }

    fn binary(self) -> Result<PathBuf> {
        match self {
            Proxy::Proxyd => proxyd_binary(),
            Proxy::Haproxy => system_tests::daemon::haproxy_binary(),
        }
    }
}

/// How the VRRP daemon watches its proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tracking {
    /// The seed's `vrrp_script` (`killall -0 NAME`, weight 2) with this interval.
    Script(Duration),
    /// `track_proxyd` (weight 0, the default), interval 1 s.
    Native,
}

impl Tracking {
    fn interval(self) -> Duration {
        match self {
            Tracking::Script(i) => i,
            Tracking::Native => Duration::from_secs(1),
        }
    }

    /// Effective priority of a box whose proxy is up.
    fn up_priority(self, base: u8) -> u8 {
        match self {
            Tracking::Script(_) => base + SCRIPT_WEIGHT,
            Tracking::Native => base,
        }
    }

    /// A's advertised priority once it has seen its proxy die (FAULT sends 0).
    fn down_priority_a(self) -> u8 {
        match self {
            Tracking::Script(_) => PRIO_A,
            Tracking::Native => 0,
        }
    }
}

/// One benchmarked configuration.
#[derive(Clone, Copy, Debug)]
struct Variant {
    key: &'static str,
    imp: Impl,
    proxy: Proxy,
    tracking: Tracking,
}

impl Variant {
    const ALL: [Variant; 5] = [
        Variant {
            key: "ours-script5",
            imp: Impl::Vrrpd,
            proxy: Proxy::Proxyd,
            tracking: Tracking::Script(Duration::from_secs(5)),
        },
        Variant {
            key: "ours-script1",
            imp: Impl::Vrrpd,
            proxy: Proxy::Proxyd,
            tracking: Tracking::Script(Duration::from_secs(1)),
        },
        Variant {
            key: "ours-native",
            imp: Impl::Vrrpd,
            proxy: Proxy::Proxyd,
            tracking: Tracking::Native,
        },
        Variant {
            key: "ka-script5",
            imp: Impl::Keepalived,
            proxy: Proxy::Haproxy,
            tracking: Tracking::Script(Duration::from_secs(5)),
        },
        Variant {
            key: "ka-script1",
            imp: Impl::Keepalived,
            proxy: Proxy::Haproxy,
            tracking: Tracking::Script(Duration::from_secs(1)),
        },
    ];

    fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.key == s)
            .with_context(|| format!("unknown variant {s:?} (want one of ours-script5, ours-script1, ours-native, ka-script5, ka-script1)"))
    }

    fn label(self) -> String {
        let tracker = match self.tracking {
            Tracking::Script(i) => format!(
                "`killall -0 {}` interval {}, weight {SCRIPT_WEIGHT}",
                self.proxy.name(),
                i.as_secs()
            ),
            Tracking::Native => "`track_proxyd` (weight 0)".to_owned(),
        };
        format!("{} + {}, {tracker}", self.imp.label(), self.proxy.name())
    }

    /// The protocol timer B runs once A's proxy is dead: Skew_Time after A's priority-0 advert,
    /// or Master_Down_Interval after the last advert B did not discard.
    fn b_timer(self) -> Duration {
        match self.tracking {
            // RFC 3768 §6.4.2: a priority-0 advert sets the Master_Down_Timer to Skew_Time.
            Tracking::Native => skew_time(2, PRIO_B, ADVERT_INT),
            // RFC 3768 §6.4.2: with preempt, an advert below the local priority is discarded, so
            // only the last advert at or above it (A still at 103) reset the timer.
            Tracking::Script(_) => {
                master_down_interval(2, self.tracking.up_priority(PRIO_B), ADVERT_INT)
            }
        }
    }

    /// The expected range of kill -> VIP on B, from the RFC timers: the script is noticed up to
    /// one interval after the kill, B's timer started at A's last advert before that (up to one
    /// advert interval earlier). The native tracker sees the exit at once.
    fn expected(self) -> (Duration, Duration) {
        match self.tracking {
            Tracking::Native => (self.b_timer(), self.b_timer()),
            Tracking::Script(i) => (
                self.b_timer().saturating_sub(ADVERT_INT),
                i + self.b_timer(),
            ),
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator for the kill phases.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
struct Sample {
    /// The random delay before the kill (`u_i × interval`).
    delay: Duration,
    /// SIGKILL -> VIP seen on B's eth0.
    vip: Duration,
    /// SIGKILL -> a TCP connection from the client to VIP:8080 answered by B's backend.
    tcp: Option<Duration>,
    /// SIGKILL -> A's first advert at the lowered priority (101 with the script, 0 in FAULT).
    lowered: Option<Duration>,
    /// Wire: the advert that last started B's timer -> B's first advert.
    wire: Option<Duration>,
    /// B's priority in its first advert (102 with the script up, 100 with the native tracker).
    b_priority: Option<u8>,
}

/// A proxy and its backend running on one box.
struct BoxProxy {
    proc: Proc,
    _backend: Proc,
    comm: String,
    pid_file: PathBuf,
    socket: PathBuf,
}

/// Starts the CAS stand-in and the proxy (binary copied as `comm`) on `node`; returns once a
/// connection to 127.0.0.1:8080 inside the box is answered by that box's backend.
fn start_box_proxy(lab: &Lab, node: Node, proxy: Proxy, comm: &str) -> Result<BoxProxy> {
    let cas = cas_name(node);
    let standin = workspace_binary("cas-standin", "CAS_STANDIN_BIN")?;
    let mut backend = lab.spawn(
        node,
        &cas,
        &[
            standin.display().to_string(),
            "--name".into(),
            cas.clone(),
            "--addr".into(),
            "127.0.0.1".into(),
            "--ports".into(),
            BACKEND_PORT.to_string(),
        ],
    )?;
    backend.wait_output("ready", Duration::from_secs(10))?;

    let bin = lab.dir().join(comm);
    std::fs::copy(proxy.binary()?, &bin).with_context(|| format!("copying {comm}"))?;
    let cfg = lab.dir().join(format!("{comm}.cfg"));
    std::fs::write(
        &cfg,
        format!(
            "global\n    maxconn 256\ndefaults\n    mode tcp\n    timeout connect 1s\n    \
             timeout client 5s\n    timeout server 5s\nlisten web\n    bind *:{FRONT_PORT}\n    \
             server s1 127.0.0.1:{BACKEND_PORT}\n"
        ),
    )?;
    let pid_file = lab.dir().join(format!("{comm}.pid"));
    let socket = lab.dir().join(format!("{comm}.sock"));
    let mut argv = vec![
        bin.display().to_string(),
        "-db".into(),
        "-f".into(),
        cfg.display().to_string(),
    ];
    if proxy == Proxy::Proxyd {
        argv.extend([
            "-p".into(),
            pid_file.display().to_string(),
            "--liveness-socket".into(),
            socket.display().to_string(),
        ]);
    }
    let mut proc = lab.spawn(node, comm, &argv)?;
    let want = cas.clone();
    let front: SocketAddr = ([127, 0, 0, 1], FRONT_PORT).into();
    let ready = lab.poll(
        &format!("{comm} on box {} to relay", node.label()),
        Duration::from_secs(10),
        || {
            let want = want.clone();
            Ok(lab
                .in_ns(node, move || Ok(greeting(front)))?
                .filter(|g| g.starts_with(&want)))
        },
    );
    if let Err(e) = ready {
        let _ = proc.ensure_running();
        return Err(e.context(proc.output()));
    }
    Ok(BoxProxy {
        proc,
        _backend: backend,
        comm: comm.to_owned(),
        pid_file,
        socket,
    })
}

fn cas_name(node: Node) -> String {
    format!("cas-{}", node.label().to_ascii_lowercase())
}

/// Connects to `addr` and returns the first line it sends (None on any failure).
fn greeting(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, TCP_CONNECT_TIMEOUT).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    for _ in 0..8 {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.contains(&b'\n') {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got);
    let line = text.lines().next()?.trim().to_owned();
    (!line.is_empty()).then_some(line)
}

/// The seed's instance (the system tests' template) with the tracking block and its reference.
fn conf(master: bool, tracking: Tracking, px: &BoxProxy) -> Result<String> {
    let instance = Instance::seed(master).render();
    let body = instance
        .strip_suffix("}\n")
        .context("instance template does not end with a closing brace")?;
    let (block, reference) = match tracking {
        Tracking::Script(interval) => (
            format!(
                "vrrp_script chk_proxy {{\n    script \"killall -0 {}\"\n    interval {}\n    \
                 weight {SCRIPT_WEIGHT}\n}}\n",
                px.comm,
                interval.as_secs()
            ),
            "    track_script {\n        chk_proxy\n    }\n",
        ),
        Tracking::Native => (
            format!(
                "track_proxyd proxyd {{\n    pid_file {}\n    liveness_socket {}\n    interval 1\n}}\n",
                px.pid_file.display(),
                px.socket.display()
            ),
            "    track_proxyd {\n        proxyd\n    }\n",
        ),
    };
    // The template is the seed's instance; check it still is before measuring it.
    for needle in [
        format!("virtual_router_id {VRID}"),
        format!("auth_pass {AUTH_PASS}"),
        format!("{VIP4}/32 dev {IFACE}"),
        "advert_int 1\n".to_owned(),
    ] {
        ensure!(body.contains(&needle), "template lacks {needle:?}:\n{body}");
    }
    Ok(format!("{block}{body}{reference}}}\n"))
}

/// Pids of processes named `comm` (by /proc/PID/comm) other than `own`.
fn same_named(comm: &str, own: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

/// Waits (at most 3 minutes) until no process other than `own` is named `comm`.
fn wait_alone(comm: &str, own: i32) -> Result<()> {
    let others = same_named(comm, own);
    if others.is_empty() {
        return Ok(());
    }
    eprintln!(
        "  other processes named {comm} on the host ({others:?}): `killall -0 {comm}` on A would \
         see them; waiting for them to exit"
    );
    poll_until(
        &format!("other {comm} processes to exit"),
        Duration::from_secs(180),
        Duration::from_millis(100),
        || Ok(same_named(comm, own).is_empty().then_some(())),
    )
    .map(drop)
}

fn after(frame: &Frame, t: Stamp) -> bool {
    frame.epoch_secs() >= t.epoch_secs()
}

fn secs_between(from: f64, to: f64) -> Option<Duration> {
    (to >= from).then(|| Duration::from_secs_f64(to - from))
}

enum Outcome {
    Done(Sample),
    /// A same-named process appeared during the run: the measure is void.
    Void(String),
}

fn run_once(v: Variant, run: u32, unit: f64) -> Result<Outcome> {
    let lab = Lab::new(&format!("trkbench{run}"))?;
    let capture = lab.capture()?;
    let comm_a = v.proxy.name().to_owned();
    let comm_b = format!("{comm_a}-b");
    let mut pa = start_box_proxy(&lab, Node::A, v.proxy, &comm_a)?;
    let pb = start_box_proxy(&lab, Node::B, v.proxy, &comm_b)?;
    let mut va = lab.start_conf(Node::A, v.imp, &conf(true, v.tracking, &pa)?)?;
    let mut vb = lab.start_conf(Node::B, v.imp, &conf(false, v.tracking, &pb)?)?;
    let outputs = |va: &system_tests::Daemon, vb: &system_tests::Daemon| {
        format!("{}\n{}", va.output(), vb.output())
    };
    lab.wait_sole_holder(Node::A, VIP4, Duration::from_secs(15))
        .with_context(|| format!("A never became master:\n{}", outputs(&va, &vb)))?;
    // Settled: A advertises its tracked priority (103 with the script, the script has run)...
    let up_a = v.tracking.up_priority(PRIO_A);
    poll_until(
        &format!("A to advertise priority {up_a}"),
        v.tracking.interval() + Duration::from_secs(5),
        Duration::from_millis(50),
        || {
            let frames = capture.frames()?;
            Ok(adverts_from(&frames, &Node::A.mac())
                .last()
                .is_some_and(|(_, a)| a.priority == up_a)
                .then_some(()))
        },
    )
    .with_context(|| outputs(&va, &vb))?;
    // ...and B, started just after A, has had time for its first script run too (checked
    // afterwards from B's first advert).
    lab.sleep(Duration::from_secs(1));
    ensure!(
        lab.holders(VIP4)?.single() == Some(Node::A),
        "A lost the VIP before the kill:\n{}",
        outputs(&va, &vb)
    );
    let own_a = pa.proc.pid().as_raw();
    wait_alone(&comm_a, own_a)?;
    let delay = v.tracking.interval().mul_f64(unit);
    lab.sleep(delay);

    let timeout = v.expected().1 + Duration::from_secs(4);
    let (tx, rx) = mpsc::channel::<Stamp>();
    let want = cas_name(Node::B);
    let vip: SocketAddr = (
        VIP4.parse::<std::net::Ipv4Addr>().context("VIP4")?,
        FRONT_PORT,
    )
        .into();
    let (t0, seen, tcp) = std::thread::scope(|s| -> Result<_> {
        // The client's probe: joins the client's namespace first, then waits for the kill.
        let probe = s.spawn(|| {
            lab.in_ns(Node::Client, move || {
                let t0 = rx
                    .recv_timeout(Duration::from_secs(120))
                    .context("no kill stamp")?;
                let max = timeout.as_millis() / TCP_PROBE_EVERY.as_millis() + 2;
                for _ in 0..max {
                    if greeting(vip).is_some_and(|g| g.starts_with(&want)) {
                        return Ok(Some(Stamp::now().since(t0)));
                    }
                    if t0.at.elapsed() >= timeout {
                        break;
                    }
                    std::thread::sleep(TCP_PROBE_EVERY);
                }
                Ok(None)
            })
        });
        let t0 = pa.proc.signal(Signal::SIGKILL)?;
        // Reap it at once, as init or systemd would: `killall -0` counts zombies as running.
        pa.proc.wait_exit(Duration::from_secs(2))?;
        tx.send(t0).context("client probe gone")?;
        let seen = lab.wait_holds(Node::B, VIP4, timeout);
        let tcp = probe
            .join()
            .map_err(|_| anyhow::anyhow!("client probe panicked"))??;
        Ok((t0, seen, tcp))
    })?;
    let foreign = same_named(&comm_a, own_a);
    let seen = match seen {
        Ok(seen) => seen,
        Err(e) if !foreign.is_empty() => {
            return Ok(Outcome::Void(format!(
                "no takeover ({e:#}) while other {comm_a} processes ran: {foreign:?}"
            )));
        }
        Err(e) => return Err(e.context(outputs(&va, &vb))),
    };
    if !foreign.is_empty() {
        return Ok(Outcome::Void(format!(
            "other {comm_a} processes appeared during the run: {foreign:?}"
        )));
    }
    lab.wait_released(Node::A, VIP4, Duration::from_secs(5))?;
    va.ensure_running()?;
    vb.ensure_running()?;
    let frames = capture.stop()?;
    let b_first = adverts_from(&frames, &Node::B.mac())
        .find(|(f, a)| after(f, t0) && a.vrid == VRID)
        .map(|(f, a)| (f.epoch_secs(), a.priority));
    let lowered = adverts_from(&frames, &Node::A.mac())
        .find(|(f, a)| after(f, t0) && a.priority == v.tracking.down_priority_a())
        .and_then(|(f, _)| secs_between(t0.epoch_secs(), f.epoch_secs()));
    // The advert that last (re)started B's timer: a priority-0 advert, or the last one at or
    // above B's priority (RFC 3768 §6.4.2).
    let wire = b_first.and_then(|(b_at, b_prio)| {
        let anchor = adverts_from(&frames, &Node::A.mac())
            .filter(|(f, a)| f.epoch_secs() < b_at && a.vrid == VRID)
            .filter(|(_, a)| a.priority == 0 || a.priority >= b_prio)
            .map(|(f, _)| f.epoch_secs())
            .last()?;
        secs_between(anchor, b_at)
    });
    Ok(Outcome::Done(Sample {
        delay,
        vip: seen.stamp.since(t0),
        tcp,
        lowered,
        wire,
        b_priority: b_first.map(|(_, p)| p),
    }))
}

/// Seconds with 3 decimals.
fn s3(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

fn opt_s3(d: Option<Duration>) -> String {
    d.map_or("n/a".to_owned(), s3)
}

/// `median (min–max)` in seconds.
fn cell(values: &[Duration]) -> Result<String> {
    let (Some(min), Some(max)) = (values.iter().min(), values.iter().max()) else {
        return Ok("n/a".to_owned());
    };
    Ok(format!(
        "{} ({}–{})",
        s3(median(values)?),
        s3(*min),
        s3(*max)
    ))
}

fn version_line(bin: &Path, arg: &str) -> String {
    std::process::Command::new(bin)
        .arg(arg)
        .output()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or_default().trim().to_owned()
        })
        .unwrap_or_else(|e| format!("({e})"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !nix::unistd::geteuid().is_root() {
        bail!("track-bench needs root (network namespaces)");
    }
    let variants = args
        .variants
        .iter()
        .map(|s| Variant::parse(s))
        .collect::<Result<Vec<_>>>()?;
    ensure!(args.runs > 0, "--runs must be at least 1");
    let mut rng = SplitMix64(args.seed);
    let units: Vec<f64> = (0..args.runs).map(|_| rng.next_unit()).collect();

    let mut versions = Vec::new();
    let mut seen_bins = Vec::new();
    for v in &variants {
        for (label, bin, arg) in [
            (v.imp.label(), v.imp.binary()?, "-v"),
            (v.proxy.name(), v.proxy.binary()?, "-v"),
        ] {
            if !seen_bins.contains(&bin) {
                versions.push(format!(
                    "{label}: {} ({})",
                    version_line(&bin, arg),
                    bin.display()
                ));
                seen_bins.push(bin);
            }
        }
    }

    let mut results: Vec<(Variant, Vec<Sample>, Vec<String>)> = Vec::new();
    for &v in &variants {
        let mut samples = Vec::new();
        let mut voided = Vec::new();
        for (run, &unit) in (0u32..).zip(&units) {
            let mut tries = 0;
            loop {
                let outcome =
                    run_once(v, run, unit).with_context(|| format!("{} run {}", v.key, run + 1))?;
                match outcome {
                    Outcome::Done(s) => {
                        eprintln!(
                            "  {} run {}: delay {} s; kill -> VIP on B {} s; -> TCP via B {} s; \
                             -> A's lowered advert {} s; B timer on the wire {} s; B prio {:?}",
                            v.key,
                            run + 1,
                            s3(s.delay),
                            s3(s.vip),
                            opt_s3(s.tcp),
                            opt_s3(s.lowered),
                            opt_s3(s.wire),
                            s.b_priority
                        );
                        samples.push(s);
                        break;
                    }
                    Outcome::Void(why) => {
                        eprintln!("  {} run {}: discarded: {why}", v.key, run + 1);
                        voided.push(format!("run {}: {why}", run + 1));
                        tries += 1;
                        ensure!(
                            tries <= MAX_RETRIES,
                            "{} run {}: gave up after {tries} void runs",
                            v.key,
                            run + 1
                        );
                    }
                }
            }
        }
        results.push((v, samples, voided));
    }

    println!(
        "Proxy SIGKILLed on box A (MASTER, priority 101) -> VIP on box B (BACKUP, 100); VRRPv2, \
         VRID {VRID}, advert_int 1, PASS. Cells: median (min–max) in seconds over {} runs; kill \
         phase u_i × interval, u_i from SplitMix64 seed {}.\n",
        args.runs, args.seed
    );
    println!(
        "| # | variant | kill → VIP on B | kill → TCP answered by B | kill → A's lowered advert | \
         B's timer on the wire | RFC range, kill → VIP |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, (v, samples, _)) in results.iter().enumerate() {
        let col = |f: &dyn Fn(&Sample) -> Option<Duration>| -> Result<String> {
            cell(&samples.iter().filter_map(f).collect::<Vec<_>>())
        };
        let (lo, hi) = v.expected();
        let range = match v.tracking {
            Tracking::Native => format!("{} + detection (Skew_Time)", s3(lo)),
            Tracking::Script(_) => format!("{}–{}", s3(lo), s3(hi)),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            v.label(),
            col(&|s| Some(s.vip))?,
            col(&|s| s.tcp)?,
            col(&|s| s.lowered)?,
            col(&|s| s.wire)?,
            range
        );
    }
    println!();
    println!(
        "Per run (seconds): delay = u_i × interval slept before the kill; A↓ = kill → A's first \
         advert at the lowered priority (101 with the script, 0 in FAULT); wire = the advert that \
         last started B's timer → B's first advert; B prio = B's first advert.\n"
    );
    println!("| variant | run | delay | kill → VIP on B | kill → TCP via B | A↓ | wire | B prio |");
    println!("|---|---|---|---|---|---|---|---|");
    for (v, samples, _) in &results {
        for (run, s) in samples.iter().enumerate() {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                v.key,
                run + 1,
                s3(s.delay),
                s3(s.vip),
                opt_s3(s.tcp),
                opt_s3(s.lowered),
                opt_s3(s.wire),
                s.b_priority.map_or("n/a".to_owned(), |p| p.to_string())
            );
        }
    }
    println!();
    for (v, _, voided) in &results {
        for why in voided {
            println!("- discarded, {}: {why}", v.key);
        }
    }
    for line in versions {
        println!("- {line}");
    }
    Ok(())
}

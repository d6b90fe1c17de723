//! `reload-bench`: load for `deploy/bench/reload.sh` (docs/benchmarks.md, "Reload under load"):
//! long-lived echoing connections and a steady stream of short ones through a proxy, while the
//! proxy is reloaded with alternating configuration files; reports failures, latencies, and the
//! proxy's processes and memory over time.
//!
//! Owns the client ends of its connections, the configuration file it is told to rewrite and the
//! signals it sends to the one process it is given (`--pid`). It reads `/proc` for that process
//! and its descendants and nothing else; it must not connect anywhere but the two addresses it
//! is given (loopback in the benchmark). The backends are `cas-standin` processes the script
//! starts: each connection gets a tag line (`NAME:PORT`), then an echo.
//!
//! Timeline (seconds from the start of the short stream, defaults): `--long-initial`
//! long-lived connections are open before it starts; reload k (1..=`--reloads`) happens at
//! `--first-reload + (k - 1) * --reload-every`: variant `k % len` of `--variant` is renamed over
//! `--config`, then `--signal` goes to `--pid`. One second after each reload, `--long-per-reload`
//! more long-lived connections are opened (so that every generation holds some, as Outlook
//! sessions come and go), and `--second` is probed: it must answer in odd-numbered variants and
//! refuse in even ones (this checks that the reload took effect). The short stream stops after
//! `--duration`; then the long-lived connections are closed and the processes are watched until
//! they are back to their number at the start (at most `--settle` seconds).
//!
//! Short connections are open-loop: connection i is due at `i / --rate` s and its latency runs
//! from that due time (so a stalled generator or a stalled proxy both show) to the echo's last
//! byte: connect, tag line, 32-byte write, 32-byte echo, close. Each step is bounded by
//! `--timeout-ms`. Long-lived connections echo 32 bytes once a second, phases spread over the
//! second; any error, timeout or wrong echo marks one broken (it is not reopened).
//!
//! Output: `key=value` lines on stdout (see [`Report::print`]), a readable summary on stderr.
//! Exit status 0 when the run completed (whatever it measured), 1 when it could not run.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use nix::unistd::Pid;
use system_tests::poll::now;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Long-lived and short connections through a proxy while it is reloaded")]
struct Args {
    /// The proxy's main listener (present in every variant).
    #[arg(long, value_name = "ADDR:PORT")]
    connect: SocketAddrV4,
    /// A listener present in odd-numbered variants only (probed after each reload).
    #[arg(long, value_name = "ADDR:PORT")]
    second: Option<SocketAddrV4>,
    /// The proxy's root process: signalled, and counted with its descendants.
    #[arg(long)]
    pid: i32,
    /// Reload signal: HUP (proxyd) or USR2 (HAProxy master-worker).
    #[arg(long, default_value = "HUP")]
    signal: String,
    /// The configuration file the proxy reads (rewritten by rename before each reload).
    #[arg(long)]
    config: PathBuf,
    /// Configuration variants, in order; variant 0 is the one running at the start.
    #[arg(long = "variant", required = true, num_args = 1)]
    variants: Vec<PathBuf>,
    /// Number of reloads.
    #[arg(long, default_value_t = 10)]
    reloads: u32,
    /// Seconds from the start of the short stream to the first reload.
    #[arg(long, default_value_t = 4.0)]
    first_reload: f64,
    /// Seconds between reloads.
    #[arg(long, default_value_t = 2.0)]
    reload_every: f64,
    /// Seconds of short-connection stream.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// New short connections per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Long-lived connections opened before the stream starts.
    #[arg(long, default_value_t = 100)]
    long_initial: usize,
    /// Long-lived connections opened one second after each reload.
    #[arg(long, default_value_t = 10)]
    long_per_reload: usize,
    /// Worker threads for the short connections (the most that can be in flight).
    #[arg(long, default_value_t = 256)]
    workers: usize,
    /// Bound on each step of a connection (connect, tag, echo), milliseconds.
    #[arg(long, default_value_t = 3000)]
    timeout_ms: u64,
    /// Half-width of the window around each reload for the "during reloads" figures, ms.
    #[arg(long, default_value_t = 200)]
    window_ms: u64,
    /// Longest wait for the processes to go back to their starting number after the
    /// long-lived connections close, seconds.
    #[arg(long, default_value_t = 20.0)]
    settle: f64,
    /// First client source address (connections rotate over `--sources` addresses from here,
    /// so that TIME_WAIT left by earlier runs never exhausts one address's ports).
    #[arg(long, default_value = "127.1.0.1")]
    source_base: Ipv4Addr,
    /// Number of client source addresses.
    #[arg(long, default_value_t = 64)]
    sources: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reload-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Why a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Fail {
    /// The connect was refused (RST to the SYN).
    Refused,
    /// Reset by the peer after the connect (RST, EPIPE).
    Reset,
    /// Closed cleanly (FIN) before the exchange completed.
    Closed,
    /// A step took longer than `--timeout-ms`.
    Timeout,
    /// The echo came back different.
    Garbled,
    /// Anything else (local errors).
    Other,
}

impl Fail {
    const ALL: [Fail; 6] = [
        Fail::Refused,
        Fail::Reset,
        Fail::Closed,
        Fail::Timeout,
        Fail::Garbled,
        Fail::Other,
    ];

    fn name(self) -> &'static str {
        match self {
            Fail::Refused => "refused",
            Fail::Reset => "reset",
            Fail::Closed => "closed",
            Fail::Timeout => "timeout",
            Fail::Garbled => "garbled",
            Fail::Other => "other",
        }
    }

    fn of_io(e: &io::Error) -> Self {
        use io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => Fail::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => Fail::Reset,
            K::UnexpectedEof => Fail::Closed,
            K::TimedOut | K::WouldBlock => Fail::Timeout,
            _ => Fail::Other,
        }
    }

    fn of_errno(e: Errno) -> Self {
        match e {
            Errno::ECONNREFUSED => Fail::Refused,
            Errno::ECONNRESET | Errno::EPIPE | Errno::ECONNABORTED => Fail::Reset,
            Errno::ETIMEDOUT | Errno::EINPROGRESS | Errno::EAGAIN => Fail::Timeout,
            _ => Fail::Other,
        }
    }
}

/// A failure with the step it happened at.
#[derive(Clone, Copy, Debug)]
struct Failure {
    kind: Fail,
    step: &'static str,
}

/// What one short connection did.
#[derive(Clone, Copy, Debug)]
struct Shot {
    /// Due time, from the start of the stream.
    due: Duration,
    /// How late the worker picked it up.
    lag: Duration,
    /// Due time to the echo's last byte, or the failure.
    result: Result<Duration, Failure>,
}

/// One `/proc` sample of the proxy's processes.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    at: Duration,
    procs: usize,
    rss_kib: u64,
    pss_kib: u64,
}

/// Connection source addresses, rotated.
struct Sources {
    base: u32,
    n: u32,
    next: AtomicU64,
}

impl Sources {
    fn next(&self) -> Ipv4Addr {
        let k = self.next.fetch_add(1, Ordering::Relaxed) % u64::from(self.n.max(1));
        Ipv4Addr::from(self.base.wrapping_add(u32::try_from(k).unwrap_or(0)))
    }
}

/// A blocking TCP connect from `src` (port chosen at connect time, `IP_BIND_ADDRESS_NO_PORT`),
/// bounded by `limit` (SO_SNDTIMEO bounds a blocking connect on Linux).
fn connect_from(src: Ipv4Addr, dst: SocketAddrV4, limit: Duration) -> Result<TcpStream, Failure> {
    let f = |step| {
        move |e: Errno| Failure {
            kind: Fail::of_errno(e),
            step,
        }
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(f("socket"))?;
    setsockopt(&fd, sockopt::IpBindAddressNoPort, &true).map_err(f("socket"))?;
    let ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX).max(1);
    setsockopt(&fd, sockopt::SendTimeout, &TimeVal::milliseconds(ms)).map_err(f("socket"))?;
    bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(src, 0))).map_err(f("bind"))?;
    connect(fd.as_raw_fd(), &SockaddrIn::from(dst)).map_err(f("connect"))?;
    let s = TcpStream::from(fd);
    s.set_read_timeout(Some(limit))
        .and_then(|()| s.set_write_timeout(Some(limit)))
        .and_then(|()| s.set_nodelay(true))
        .map_err(|e| Failure {
            kind: Fail::of_io(&e),
            step: "socket",
        })?;
    Ok(s)
}

/// Reads the backend's tag line (`NAME:PORT\n`, at most 64 bytes).
fn read_tag(s: &mut TcpStream) -> Result<String, Failure> {
    let mut tag = Vec::with_capacity(32);
    let mut b = [0u8; 1];
    while tag.len() < 64 {
        match s.read(&mut b) {
            Ok(0) => {
                return Err(Failure {
                    kind: Fail::Closed,
                    step: "tag",
                });
            }
            Ok(_) if b[0] == b'\n' => return Ok(String::from_utf8_lossy(&tag).into_owned()),
            Ok(_) => tag.push(b[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Failure {
                    kind: Fail::of_io(&e),
                    step: "tag",
                });
            }
        }
    }
    Err(Failure {
        kind: Fail::Garbled,
        step: "tag",
    })
}

/// Writes `payload` and reads the same bytes back.
fn echo(s: &mut TcpStream, payload: &[u8; 32]) -> Result<(), Failure> {
    let f = |step| {
        move |e: io::Error| Failure {
            kind: Fail::of_io(&e),
            step,
        }
    };
    s.write_all(payload).map_err(f("write"))?;
    let mut back = [0u8; 32];
    s.read_exact(&mut back).map_err(f("echo"))?;
    if &back != payload {
        return Err(Failure {
            kind: Fail::Garbled,
            step: "echo",
        });
    }
    Ok(())
}

fn payload(kind: u8, id: u64, seq: u64) -> [u8; 32] {
    let mut p = [b'.'; 32];
    let text = format!("{}{id:012}-{seq:012}", kind as char);
    let n = text.len().min(31);
    p[..n].copy_from_slice(&text.as_bytes()[..n]);
    p[31] = b'\n';
    p
}

/// One short connection: connect, tag, echo, close.
fn short_exchange(
    src: Ipv4Addr,
    dst: SocketAddrV4,
    limit: Duration,
    id: u64,
) -> Result<(), Failure> {
    let mut s = connect_from(src, dst, limit)?;
    read_tag(&mut s)?;
    echo(&mut s, &payload(b's', id, 0))
}

/// State shared with the long-lived connection threads.
struct LongShared {
    /// Set when the run is over: errors after this are the closing, not breakage.
    closing: AtomicBool,
    /// (id, seconds from the stream's start, failure) of every broken connection.
    broken: Mutex<Vec<(u64, f64, Failure)>>,
    /// Clones of the sockets, shut down at the end to close them all at once.
    sockets: Mutex<Vec<TcpStream>>,
    /// Echo round trips done.
    echoes: AtomicU64,
}

/// Opens one long-lived connection and starts its thread (echo once a second).
fn open_long(
    args: &Args,
    sources: &Sources,
    shared: &Arc<LongShared>,
    id: u64,
    t0: Instant,
) -> Result<thread::JoinHandle<()>, Failure> {
    let limit = Duration::from_millis(args.timeout_ms);
    let mut s = connect_from(sources.next(), args.connect, limit)?;
    read_tag(&mut s)?;
    let clone = s.try_clone().map_err(|e| Failure {
        kind: Fail::of_io(&e),
        step: "socket",
    })?;
    shared
        .sockets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(clone);
    let shared = shared.clone();
    // Phases spread over the second.
    let phase = Duration::from_millis((id * 137) % 1000);
    thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let start = now() + phase;
            for seq in 0u64.. {
                let due = start + Duration::from_secs(seq);
                if let Some(d) = due.checked_duration_since(now()) {
                    thread::sleep(d);
                }
                if shared.closing.load(Ordering::Relaxed) {
                    return;
                }
                match echo(&mut s, &payload(b'l', id, seq)) {
                    Ok(()) => {
                        shared.echoes.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(f) => {
                        if !shared.closing.load(Ordering::Relaxed) {
                            let at = now().duration_since(t0).as_secs_f64();
                            shared
                                .broken
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((id, at, f));
                        }
                        return;
                    }
                }
            }
        })
        .map_err(|_| Failure {
            kind: Fail::Other,
            step: "thread",
        })
}

/// The process `root` and its descendants (by the parent pids in `/proc`).
fn family(root: i32) -> Vec<i32> {
    let mut parent: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
            let Some(ppid) = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            parent.entry(ppid).or_default().push(pid);
        }
    }
    if !Path::new(&format!("/proc/{root}")).exists() {
        return Vec::new();
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = parent.get(&out[i]) {
            out.extend(kids.iter().copied());
        }
        i += 1;
    }
    out
}

/// A field of a `/proc` key-value file, in kB.
fn kib(path: &str, key: &str) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse().ok())
            })
        })
        .unwrap_or(0)
}

fn sample(root: i32, t0: Instant) -> Sample {
    let pids = family(root);
    let mut s = Sample {
        at: now().saturating_duration_since(t0),
        procs: pids.len(),
        ..Sample::default()
    };
    for p in pids {
        s.rss_kib += kib(&format!("/proc/{p}/status"), "VmRSS:");
        s.pss_kib += kib(&format!("/proc/{p}/smaps_rollup"), "Pss:");
    }
    s
}

/// Samples the processes every 100 ms until `stop`.
fn spawn_sampler(root: i32, t0: Instant, stop: Arc<AtomicBool>) -> thread::JoinHandle<Vec<Sample>> {
    thread::spawn(move || {
        let mut out = Vec::new();
        let start = now();
        for k in 0u32.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            out.push(sample(root, t0));
            let due = start + Duration::from_millis(100) * (k + 1);
            if let Some(d) = due.checked_duration_since(now()) {
                thread::sleep(d);
            }
        }
        out
    })
}

/// Renames variant `k % len` over the configuration file and signals the proxy.
fn reload(args: &Args, sig: Signal, k: u32) -> Result<()> {
    let n = u32::try_from(args.variants.len()).context("too many variants")?;
    let src = &args.variants[usize::try_from(k % n).context("variant index")?];
    let tmp = args.config.with_extension("reload-bench.tmp");
    fs::copy(src, &tmp).with_context(|| format!("copying {}", src.display()))?;
    fs::rename(&tmp, &args.config)
        .with_context(|| format!("renaming over {}", args.config.display()))?;
    kill(Pid::from_raw(args.pid), sig).with_context(|| format!("signalling {}", args.pid))?;
    Ok(())
}

/// What the second listener did when probed.
fn probe(args: &Args, sources: &Sources) -> &'static str {
    let Some(addr) = args.second else {
        return "none";
    };
    let limit = Duration::from_millis(args.timeout_ms.min(1000));
    match connect_from(sources.next(), addr, limit).and_then(|mut s| read_tag(&mut s)) {
        Ok(_) => "open",
        Err(f) => f.kind.name(),
    }
}

/// Percentile (nearest rank) of sorted milliseconds.
fn pct(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// Everything measured, printed as `key=value` lines.
struct Report {
    lines: Vec<(String, String)>,
}

impl Report {
    fn put(&mut self, k: &str, v: impl ToString) {
        self.lines.push((k.to_owned(), v.to_string()));
    }

    fn ms(&mut self, k: &str, v: Option<f64>) {
        self.put(k, v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")));
    }

    /// Counts, failures by kind and latency percentiles of `shots`, keys prefixed by `p`.
    fn shots(&mut self, p: &str, shots: &[&Shot]) {
        self.put(&format!("{p}_attempted"), shots.len());
        let mut lat: Vec<f64> = shots
            .iter()
            .filter_map(|s| s.result.ok())
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        lat.sort_by(f64::total_cmp);
        self.put(&format!("{p}_failed"), shots.len() - lat.len());
        for kind in Fail::ALL {
            let n = shots
                .iter()
                .filter(|s| matches!(s.result, Err(f) if f.kind == kind))
                .count();
            self.put(&format!("{p}_{}", kind.name()), n);
        }
        self.ms(&format!("{p}_p50_ms"), pct(&lat, 50.0));
        self.ms(&format!("{p}_p99_ms"), pct(&lat, 99.0));
        self.ms(&format!("{p}_max_ms"), lat.last().copied());
    }

    /// Prints the `key=value` lines on stdout.
    fn print(&self) -> io::Result<()> {
        let mut o = io::stdout().lock();
        for (k, v) in &self.lines {
            writeln!(o, "{k}={v}")?;
        }
        o.flush()
    }
}

fn run(args: &Args) -> Result<()> {
    if args.rate == 0 || args.workers == 0 || args.variants.is_empty() {
        bail!("--rate, --workers and --variant must be positive / given");
    }
    let sig: Signal = format!("SIG{}", args.signal.trim_start_matches("SIG"))
        .parse()
        .with_context(|| format!("unknown signal {}", args.signal))?;
    if family(args.pid).is_empty() {
        bail!("no process {}", args.pid);
    }
    let limit = Duration::from_millis(args.timeout_ms);
    let sources = Arc::new(Sources {
        base: u32::from(args.source_base),
        n: args.sources,
        next: AtomicU64::new(0),
    });
    let mut report = Report { lines: Vec::new() };

    // Before anything: the processes and memory at rest, and whether the second listener is
    // as variant 0 says (absent).
    let epoch = now();
    let at_rest = sample(args.pid, epoch);
    let probe0 = probe(args, &sources);

    let long = Arc::new(LongShared {
        closing: AtomicBool::new(false),
        broken: Mutex::new(Vec::new()),
        sockets: Mutex::new(Vec::new()),
        echoes: AtomicU64::new(0),
    });
    let mut long_threads = Vec::new();
    let mut long_open_failed: Vec<Failure> = Vec::new();
    let mut next_long_id = 0u64;
    for _ in 0..args.long_initial {
        match open_long(args, &sources, &long, next_long_id, epoch) {
            Ok(h) => long_threads.push(h),
            Err(f) => long_open_failed.push(f),
        }
        next_long_id += 1;
    }
    if long_threads.is_empty() && args.long_initial > 0 {
        bail!(
            "no long-lived connection could be opened to {} ({:?})",
            args.connect,
            long_open_failed.first()
        );
    }

    // The stream starts now: t0 is the origin of every timestamp below.
    let t0 = now();
    let stop_sampler = Arc::new(AtomicBool::new(false));
    let sampler = spawn_sampler(args.pid, t0, stop_sampler.clone());

    let (job_tx, job_rx) = mpsc::channel::<(u64, Instant)>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let mut workers = Vec::new();
    for _ in 0..args.workers {
        let rx = job_rx.clone();
        let sources = sources.clone();
        let dst = args.connect;
        workers.push(
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let mut shots = Vec::new();
                    loop {
                        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok((id, due)) = job else { break };
                        let picked = now();
                        let result = short_exchange(sources.next(), dst, limit, id)
                            .map(|()| now().saturating_duration_since(due));
                        shots.push(Shot {
                            due: due.saturating_duration_since(t0),
                            lag: picked.saturating_duration_since(due),
                            result,
                        });
                    }
                    shots
                })
                .context("cannot start a worker thread")?,
        );
    }
    let rate = args.rate;
    let duration = Duration::from_secs_f64(args.duration);
    let scheduler = thread::spawn(move || {
        for i in 0u64.. {
            let offset = Duration::from_secs_f64(i as f64 / f64::from(rate));
            if offset >= duration {
                break;
            }
            let due = t0 + offset;
            if let Some(d) = due.checked_duration_since(now()) {
                thread::sleep(d);
            }
            if job_tx.send((i, due)).is_err() {
                break;
            }
        }
    });

    // Reloads, with more long-lived connections and the second-listener probe a second after
    // each.
    let mut reload_at = Vec::new();
    let mut reload_errors = Vec::new();
    let mut probes = Vec::new();
    let n_variants = u32::try_from(args.variants.len()).context("too many variants")?;
    let sleep_until = |t: Duration| {
        if let Some(d) = (t0 + t).checked_duration_since(now()) {
            thread::sleep(d);
        }
    };
    for k in 1..=args.reloads {
        let at = Duration::from_secs_f64(args.first_reload + f64::from(k - 1) * args.reload_every);
        sleep_until(at);
        let sent = now().saturating_duration_since(t0);
        match reload(args, sig, k) {
            Ok(()) => reload_at.push(sent),
            Err(e) => reload_errors.push(format!("reload {k}: {e:#}")),
        }
        sleep_until(at + Duration::from_secs(1));
        for _ in 0..args.long_per_reload {
            match open_long(args, &sources, &long, next_long_id, t0) {
                Ok(h) => long_threads.push(h),
                Err(f) => long_open_failed.push(f),
            }
            next_long_id += 1;
        }
        let expect = if (k % n_variants) % 2 == 1 {
            "open"
        } else {
            "refused"
        };
        probes.push((k, expect, probe(args, &sources)));
    }

    let _ = scheduler.join();
    let mut shots = Vec::new();
    for w in workers {
        shots.extend(w.join().unwrap_or_default());
    }
    shots.sort_by_key(|s| s.due);
    let stream_end = now().saturating_duration_since(t0);

    // After the run: long-lived connections still open.
    thread::sleep(Duration::from_secs(1));
    let after_run = sample(args.pid, t0);
    let long_alive = long_threads.iter().filter(|h| !h.is_finished()).count();
    let broken = long
        .broken
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();

    // Close the long-lived connections and watch the processes go.
    long.closing.store(true, Ordering::Relaxed);
    let closed_at = now();
    for s in long
        .sockets
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
    {
        let _ = s.shutdown(Shutdown::Both);
    }
    let settle_deadline = closed_at + Duration::from_secs_f64(args.settle);
    let mut after_close = sample(args.pid, t0);
    while after_close.procs > at_rest.procs && now() < settle_deadline {
        thread::sleep(Duration::from_millis(100));
        after_close = sample(args.pid, t0);
    }
    let settle_s = now().saturating_duration_since(closed_at).as_secs_f64();
    // Memory a moment later, once the closing is done.
    thread::sleep(Duration::from_millis(500));
    let after_close_mem = sample(args.pid, t0);
    stop_sampler.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    for h in long_threads {
        let _ = h.join();
    }

    // --- report ---------------------------------------------------------------------------
    let all: Vec<&Shot> = shots.iter().collect();
    report.shots("short", &all);
    let half = Duration::from_millis(args.window_ms);
    let near: Vec<&Shot> = shots
        .iter()
        .filter(|s| {
            reload_at
                .iter()
                .any(|&r| s.due + half >= r && s.due <= r + half)
        })
        .collect();
    report.shots("win", &near);
    let lag_max = shots.iter().map(|s| s.lag).max().unwrap_or_default();
    report.ms("gen_lag_max_ms", Some(lag_max.as_secs_f64() * 1000.0));
    report.put("stream_secs", format!("{:.2}", stream_end.as_secs_f64()));
    report.put("reloads_sent", reload_at.len());
    report.put(
        "reload_at_s",
        reload_at
            .iter()
            .map(|d| format!("{:.3}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(","),
    );
    let probes_ok = probes.iter().filter(|(_, e, g)| e == g).count();
    report.put("probe_before", probe0);
    report.put(
        "probes_as_expected",
        format!("{probes_ok}/{}", probes.len()),
    );
    report.put(
        "probes",
        probes
            .iter()
            .map(|(k, e, g)| format!("{k}:{e}->{g}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    report.put("long_opened", next_long_id - long_open_failed.len() as u64);
    report.put("long_open_failed", long_open_failed.len());
    report.put("long_broken", broken.len());
    report.put("long_alive_at_end", long_alive);
    report.put("long_echoes", long.echoes.load(Ordering::Relaxed));
    report.put(
        "long_broken_detail",
        broken
            .iter()
            .take(20)
            .map(|(id, at, f)| format!("{id}@{at:.2}s:{}/{}", f.kind.name(), f.step))
            .collect::<Vec<_>>()
            .join(","),
    );
    let procs_max = samples.iter().map(|s| s.procs).max().unwrap_or(0);
    let rss_max = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let pss_max = samples.iter().map(|s| s.pss_kib).max().unwrap_or(0);
    let mib = |k: u64| format!("{:.1}", k as f64 / 1024.0);
    report.put("procs_rest", at_rest.procs);
    report.put("procs_max", procs_max);
    report.put("procs_after_run", after_run.procs);
    report.put("procs_after_close", after_close.procs);
    report.put("settle_s", format!("{settle_s:.1}"));
    report.put("rss_rest_mib", mib(at_rest.rss_kib));
    report.put("rss_max_mib", mib(rss_max));
    report.put("rss_after_run_mib", mib(after_run.rss_kib));
    report.put("rss_after_close_mib", mib(after_close_mem.rss_kib));
    report.put("pss_rest_mib", mib(at_rest.pss_kib));
    report.put("pss_max_mib", mib(pss_max));
    report.put("pss_after_run_mib", mib(after_run.pss_kib));
    report.put("pss_after_close_mib", mib(after_close_mem.pss_kib));
    // The process count once a second (the largest in that second).
    let mut per_sec: Vec<usize> = Vec::new();
    for s in &samples {
        let sec = usize::try_from(s.at.as_secs()).unwrap_or(usize::MAX);
        if sec > 600 {
            break;
        }
        if per_sec.len() <= sec {
            per_sec.resize(sec + 1, 0);
        }
        per_sec[sec] = per_sec[sec].max(s.procs);
    }
    report.put(
        "procs_per_sec",
        per_sec
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    let mut fails: Vec<String> = shots
        .iter()
        .filter_map(|s| {
            s.result
                .err()
                .map(|f| format!("{:.3}s:{}/{}", s.due.as_secs_f64(), f.kind.name(), f.step))
        })
        .take(30)
        .collect();
    fails.extend(reload_errors.iter().cloned());
    report.put("failure_detail", fails.join(","));
    report.print()?;

    eprintln!(
        "reload-bench: {} short ({} failed), p99 {} ms ({} ms within ±{} ms of {} reloads); \
         long-lived {} opened, {} broken; processes {} at rest, {} max, {} after the run, {} \
         after closing ({settle_s:.1} s); probes {probes_ok}/{}",
        shots.len(),
        shots.iter().filter(|s| s.result.is_err()).count(),
        report.get("short_p99_ms"),
        report.get("win_p99_ms"),
        args.window_ms,
        reload_at.len(),
        next_long_id - long_open_failed.len() as u64,
        broken.len(),
        at_rest.procs,
        procs_max,
        after_run.procs,
        after_close.procs,
        probes.len(),
    );
    Ok(())
}

impl Report {
    fn get(&self, k: &str) -> &str {
        self.lines
            .iter()
            .find(|(key, _)| key == k)
            .map_or("-", |(_, v)| v.as_str())
    }
}

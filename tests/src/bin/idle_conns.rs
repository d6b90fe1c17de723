//! `idle-conns`: opens N idle TCP connections to a proxy (or straight to the backend) and serves
//! the backend end itself, so it knows when every connection is established end to end; then
//! holds them, for the memory figures of `deploy/bench/proxy.sh` (docs/benchmarks.md).
//!
//! Owns both ends of the connections and nothing else: it never sends a byte, and it must not
//! talk to anything but the two addresses it is given (loopback in the benchmark). The backend end
//! runs in a child process (this binary again, `--serve`), so that each process needs only N file
//! descriptors. Client sockets are bound to consecutive source addresses (`--source-base`,
//! `--per-source` connections each, `IP_BIND_ADDRESS_NO_PORT`) so that N client connections plus
//! the proxy's own N to the backend do not exhaust one address's ephemeral ports, even with
//! TIME_WAIT left by earlier runs.
//!
//! Protocol on stdout: one line `ready N connections in S s` once all N client connects have
//! returned and the backend has accepted N connections; after stdin closes, one line
//! `alive client C/N backend B/N` (a connection is alive if a non-blocking peek finds it open and
//! empty). Exit status 0 if every connection was established and stayed alive, 1 otherwise. A
//! signal (SIGTERM, SIGINT) ends it at once, closing everything.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket,
    sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use system_tests::poll::now;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    about = "Open N idle TCP connections through a proxy to a backend served here; hold them"
)]
struct Args {
    /// Where the clients connect (the proxy's frontend, or the backend itself for a baseline).
    #[arg(long, value_name = "ADDR:PORT")]
    connect: Option<SocketAddrV4>,
    /// The backend address to listen on (the proxy's server line points here).
    #[arg(long, value_name = "ADDR:PORT")]
    backend: SocketAddrV4,
    /// Number of connections.
    #[arg(short = 'n', long, default_value_t = 10_000)]
    count: usize,
    /// First client source address; the next ones follow it (127.1.0.1, 127.1.0.2, ...).
    #[arg(long, default_value = "127.1.0.1")]
    source_base: Ipv4Addr,
    /// Connections per client source address.
    #[arg(long, default_value_t = 4_000)]
    per_source: usize,
    /// Give up if not all connections are established within this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Internal: be the backend only (the child process).
    #[arg(long, hide = true)]
    serve: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let r = if args.serve { serve(&args) } else { run(&args) };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("idle-conns: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The backend (child): `listening`, then `accepted K` every 1000 and at N, then after stdin
/// closes `alive B/K`.
fn serve(args: &Args) -> Result<bool> {
    let listener = listen(args.backend)
        .with_context(|| format!("cannot listen on backend address {}", args.backend))?;
    // Not held: the accept thread prints too.
    say("listening")?;
    let (tx, rx) = mpsc::channel();
    let count = args.count;
    // Accepts until N, or until an accept error (e.g. EMFILE: the parent then times out).
    thread::spawn(move || {
        for k in 1..=count {
            match listener.accept() {
                Ok((s, _)) => {
                    if tx.send(s).is_err() {
                        return;
                    }
                    if k % 1000 == 0 || k == count {
                        let _ = say(&format!("accepted {k}"));
                    }
                }
                Err(e) => {
                    eprintln!("idle-conns: backend accept {k} failed: {e}");
                    return;
                }
            }
        }
    });
    io::copy(&mut io::stdin().lock(), &mut io::sink())?;
    let held: Vec<TcpStream> = rx.try_iter().collect();
    let n_alive = held.iter().filter(|s| alive(s)).count();
    say(&format!("alive {n_alive}/{}", held.len()))?;
    Ok(n_alive == count && held.len() == count)
}

/// The backend child and the reader of its stdout lines.
struct Backend {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    accepted: usize,
}

impl Backend {
    fn spawn(args: &Args) -> Result<Self> {
        let exe = std::env::current_exe().context("current_exe")?;
        let mut child = Command::new(exe)
            .args(["--serve", "--backend", &args.backend.to_string()])
            .args(["--count", &args.count.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the backend child")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Backend {
            child,
            stdin,
            lines,
            accepted: 0,
        })
    }

    /// The next line, or `None` at the deadline or when the child's stdout closed.
    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.checked_duration_since(now())?;
        let line = self.lines.recv_timeout(left).ok()?;
        if let Some(k) = line.strip_prefix("accepted ").and_then(|k| k.parse().ok()) {
            self.accepted = k;
        }
        Some(line)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Establishes, reports, holds until stdin closes, then checks liveness. `Ok(false)`: some
/// connection died while held.
fn run(args: &Args) -> Result<bool> {
    let Some(target) = args.connect else {
        bail!("--connect is required");
    };
    if args.per_source == 0 || args.count == 0 {
        bail!("--count and --per-source must be positive");
    }
    let t0 = now();
    let deadline = t0 + Duration::from_secs(args.timeout);
    let mut backend = Backend::spawn(args)?;
    match backend.next_line(deadline) {
        Some(l) if l == "listening" => {}
        other => bail!("backend child did not start listening (got {other:?})"),
    }

    let mut clients = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let Some(left) = deadline.checked_duration_since(now()) else {
            bail!(
                "timeout after {i} of {} connects (backend accepted at least {})",
                args.count,
                backend.accepted
            );
        };
        let src = source_addr(args.source_base, i / args.per_source)?;
        clients.push(
            connect_from(src, target, left).with_context(|| {
                format!("connection {i} of {} from {src} to {target}", args.count)
            })?,
        );
    }
    while backend.accepted < args.count {
        if backend.next_line(deadline).is_none() {
            bail!(
                "timeout: {} connects returned but the backend accepted only {} (it reports every \
                 1000)",
                args.count,
                backend.accepted
            );
        }
    }
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "ready {} connections in {:.2} s",
        args.count,
        t0.elapsed().as_secs_f64()
    )?;
    out.flush()?;

    // Hold: until stdin reaches EOF (the caller closes it) or a signal ends the process.
    io::copy(&mut io::stdin().lock(), &mut io::sink())?;

    let c_alive = clients.iter().filter(|s| alive(s)).count();
    drop(backend.stdin.take());
    let check_deadline = now() + Duration::from_secs(30);
    let mut b_report = String::from("unknown");
    while let Some(line) = backend.next_line(check_deadline) {
        if let Some(r) = line.strip_prefix("alive ") {
            b_report = r.to_owned();
            break;
        }
    }
    writeln!(
        out,
        "alive client {c_alive}/{} backend {b_report}",
        args.count
    )?;
    out.flush()?;
    let b_ok = b_report == format!("{0}/{0}", args.count);
    Ok(c_alive == args.count && b_ok)
}

/// The `k`-th source address after `base`.
fn source_addr(base: Ipv4Addr, k: usize) -> Result<Ipv4Addr> {
    let k = u32::try_from(k).context("too many source addresses")?;
    let a = u32::from(base)
        .checked_add(k)
        .context("source address overflow")?;
    let a = Ipv4Addr::from(a);
    if a.octets()[0] != 127 {
        bail!("source address {a} left 127.0.0.0/8; raise --per-source");
    }
    Ok(a)
}

/// A listener with the largest backlog the kernel allows (std uses 128: connects would stall on
/// SYN drops whenever the accept thread falls behind).
fn listen(addr: SocketAddrV4) -> Result<TcpListener> {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket")?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).context("SO_REUSEADDR")?;
    bind(fd.as_raw_fd(), &SockaddrIn::from(addr)).context("bind")?;
    nix::sys::socket::listen(&fd, Backlog::new(65_535).unwrap_or(Backlog::MAXCONN))
        .context("listen")?;
    Ok(TcpListener::from(fd))
}

/// A blocking TCP connect from `src` (port chosen at connect time, per 4-tuple), giving up after
/// `limit` (SO_SNDTIMEO bounds a blocking connect on Linux).
fn connect_from(src: Ipv4Addr, dst: SocketAddrV4, limit: Duration) -> Result<TcpStream> {
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket")?;
    setsockopt(&fd, sockopt::IpBindAddressNoPort, &true).context("IP_BIND_ADDRESS_NO_PORT")?;
    let ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX).max(1);
    setsockopt(&fd, sockopt::SendTimeout, &TimeVal::milliseconds(ms)).context("SO_SNDTIMEO")?;
    bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(src, 0))).context("bind")?;
    connect(fd.as_raw_fd(), &SockaddrIn::from(dst)).context("connect")?;
    Ok(TcpStream::from(fd))
}

/// Open and idle: a non-blocking peek would block (no EOF, no error, no data).
fn alive(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    matches!(s.peek(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// One line on stdout, flushed (the lock is not kept).
fn say(line: &str) -> io::Result<()> {
    let mut o = io::stdout().lock();
    writeln!(o, "{line}")?;
    o.flush()
}

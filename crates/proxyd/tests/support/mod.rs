//! Shared helpers for proxyd's end-to-end tests on loopback: tagged echo backends, an in-process
//! proxyd started from haproxy.cfg text (or a parsed config) on ephemeral ports, and clients that
//! connect from a chosen 127.x.y.z source address (the whole 127.0.0.0/8 is local on Linux, so any
//! of it can be bound without root). It must not reach beyond loopback.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lbcore::config::proxy::ProxyConfig;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Upper bound for any single network step of a test.
pub const STEP: Duration = Duration::from_secs(5);

/// A TCP backend that writes `<tag>\n` to every client, then echoes every byte until EOF, then
/// closes. Counts accepted connections and currently open ones.
pub struct Backend {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The tag it announces.
    pub tag: String,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    /// Connections currently open.
    pub open: Arc<AtomicUsize>,
    accept_task: JoinHandle<()>,
}

impl Backend {
    /// Starts a backend on `bind` (port 0 for an ephemeral one).
    pub async fn start(bind: SocketAddr, tag: &str) -> Backend {
        let l = TcpListener::bind(bind).await.unwrap();
        let addr = l.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (acc, op, t) = (accepted.clone(), open.clone(), format!("{tag}\n"));
        let accept_task = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                op.fetch_add(1, Ordering::SeqCst);
                let (op, t) = (op.clone(), t.clone());
                tokio::spawn(async move {
                    let _ = serve_echo(s, t.as_bytes()).await;
                    op.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Backend {
            addr,
            tag: tag.to_string(),
            accepted,
            open,
            accept_task,
        }
    }

    /// Starts a backend on 127.0.0.1, ephemeral port.
    pub async fn local(tag: &str) -> Backend {
        Backend::start(SocketAddr::from(([127, 0, 0, 1], 0)), tag).await
    }

    /// Closes the listening socket: new connections are refused, open ones carry on.
    pub async fn stop_listening(&self) {
        self.accept_task.abort();
        while !self.accept_task.is_finished() {
            tokio::task::yield_now().await;
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

async fn serve_echo(mut s: TcpStream, tag: &[u8]) -> io::Result<()> {
    s.write_all(tag).await?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        s.write_all(&buf[..n]).await?;
    }
    s.shutdown().await
}

/// Parses haproxy.cfg `text`; panics on any error diagnostic.
pub fn parse(text: &str) -> ProxyConfig {
    let (cfg, diags) =
        lbcore::config::haproxy::parse_str(text, Path::new("test.cfg"), &BTreeMap::new());
    assert!(!diags.has_errors(), "{diags}");
    cfg.unwrap()
}

/// Common `defaults` for the tests: TCP mode, short timeouts.
pub const DEFAULTS: &str =
    "defaults\n mode tcp\n timeout connect 1s\n timeout client 30s\n timeout server 30s\n";

/// An in-process proxyd.
pub struct Running {
    /// Bound addresses as `(frontend name, address)` in configuration order.
    pub addrs: Vec<(String, SocketAddr)>,
    /// Run-time state.
    pub shared: Arc<proxyd::Shared>,
    shutdown: proxyd::Shutdown,
    task: JoinHandle<Result<(), proxyd::Error>>,
}

impl Running {
    /// The first address of frontend `name`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no frontend {name} in {:?}", self.addrs))
            .1
    }

    /// Current connections proxyd counts on `server` of `backend`.
    pub fn conns(&self, backend: &str, server: &str) -> u32 {
        self.shared
            .server(backend, server)
            .unwrap_or_else(|| panic!("no server {backend}/{server}"))
            .conns
            .load(Ordering::SeqCst)
    }

    /// Hard stop; panics if serve failed or hangs.
    pub async fn stop(self) {
        self.shutdown.hard.cancel();
        tokio::time::timeout(STEP, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// Starts proxyd on `text`; a bind on port 1 stands for an ephemeral port (haproxy.cfg refuses 0).
pub fn start(text: &str) -> Running {
    let mut cfg = parse(text);
    for fe in &mut cfg.frontends {
        for b in &mut fe.binds {
            if b.addr.port() == 1 {
                b.addr.set_port(0);
            }
        }
    }
    start_config(cfg)
}

/// Starts proxyd on an already parsed (and possibly rewritten) configuration.
pub fn start_config(cfg: ProxyConfig) -> Running {
    let proxy = proxyd::Proxy::bind(Arc::new(cfg)).unwrap();
    let addrs = proxy.local_addrs();
    let shared = proxy.shared();
    let shutdown = proxyd::Shutdown::new();
    let task = tokio::spawn(proxy.serve(shutdown.clone()));
    Running {
        addrs,
        shared,
        shutdown,
        task,
    }
}

/// The `i`-th of up to 63,500 distinct client addresses `127.0.x.y` with x in 1..=254 and y in
/// 1..=250 (x = 1 + i / 250, y = 1 + i % 250); never 127.0.0.x.
pub fn source(i: usize) -> IpAddr {
    assert!(i < 254 * 250, "source index {i} out of range");
    let x = u8::try_from(1 + i / 250).unwrap();
    let y = u8::try_from(1 + i % 250).unwrap();
    IpAddr::V4(Ipv4Addr::new(127, 0, x, y))
}

/// Connects to `dst` from `src` (any port): socket2 bind-before-connect, then tokio's connect.
pub async fn connect_from(src: IpAddr, dst: SocketAddr) -> io::Result<TcpStream> {
    let sock = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.bind(&SocketAddr::new(src, 0).into())?;
    let sock = TcpSocket::from_std_stream(std::net::TcpStream::from(sock));
    tokio::time::timeout(STEP, sock.connect(dst))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
}

/// Reads a backend's `<tag>\n` greeting; `None` if the connection closes (or resets) first.
pub async fn read_tag(s: &mut TcpStream) -> Option<String> {
    let mut tag = Vec::new();
    let mut byte = [0u8; 64];
    loop {
        let n = match tokio::time::timeout(STEP, s.peek(&mut byte)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return None,
            Err(_) => panic!("no tag and no close within {STEP:?}"),
        };
        if n == 0 {
            return None;
        }
        // Consume up to and including the newline only: what follows is echoed payload.
        let take = byte[..n].iter().position(|&b| b == b'\n').map(|p| p + 1);
        let k = take.unwrap_or(n);
        s.read_exact(&mut byte[..k]).await.ok()?;
        tag.extend_from_slice(&byte[..k]);
        if take.is_some() {
            tag.pop();
            return Some(String::from_utf8(tag).expect("tag is utf-8"));
        }
    }
}

/// Connects from `src`, reads the tag, closes. `None` when proxyd closed without reaching a
/// backend (or the connect failed).
pub async fn tag_from(src: IpAddr, dst: SocketAddr) -> Option<String> {
    let mut s = connect_from(src, dst).await.ok()?;
    read_tag(&mut s).await
}

/// [`tag_from`] for every source, at most `parallel` at a time; results in `srcs` order.
pub async fn tags_from_all(
    srcs: &[IpAddr],
    dst: SocketAddr,
    parallel: usize,
) -> Vec<Option<String>> {
    let mut out = vec![None; srcs.len()];
    let mut set = JoinSet::new();
    let mut next = 0;
    while next < srcs.len() || !set.is_empty() {
        while next < srcs.len() && set.len() < parallel {
            let src = srcs[next];
            let i = next;
            set.spawn(async move { (i, tag_from(src, dst).await) });
            next += 1;
        }
        let (i, tag) = set.join_next().await.unwrap().unwrap();
        out[i] = tag;
    }
    out
}

/// Polls `cond` every 10 ms until true; panics with `what` after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Marsaglia's xorshift64 (13, 7, 17): a deterministic byte stream for transfer checks.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        assert_ne!(seed, 0);
        XorShift(seed)
    }

    /// Fills `buf` (a multiple of 8 bytes) with the next words, little-endian.
    pub fn fill(&mut self, buf: &mut [u8]) {
        assert_eq!(buf.len() % 8, 0);
        for chunk in buf.chunks_exact_mut(8) {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
    }
}

/// A deterministic pseudo-random byte stream that stays fast in debug builds: one block of
/// xorshift64 output, and chunk `k` of the stream is that block rotated left by
/// `k × 8191 mod len` bytes. Every chunk differs from every other (8191 is odd and the length a
/// power of two), so lost, repeated, reordered or corrupted data shows, while producing a chunk
/// is two `memcpy`s instead of a per-word loop (about 16 s per GiB unoptimised).
#[derive(Debug, Clone)]
pub struct Pattern {
    block: Vec<u8>,
}

impl Pattern {
    /// A pattern of `len`-byte chunks (a power of two, at least 8) from `seed`.
    pub fn new(seed: u64, len: usize) -> Self {
        assert!(len.is_power_of_two() && len >= 8);
        let mut block = vec![0u8; len];
        XorShift::new(seed).fill(&mut block);
        Pattern { block }
    }

    /// Chunk length.
    pub fn len(&self) -> usize {
        self.block.len()
    }

    /// Writes chunk `k` into `buf` (`buf.len() == self.len()`).
    pub fn chunk(&self, k: u64, buf: &mut [u8]) {
        let n = self.block.len();
        let r = usize::try_from(k.wrapping_mul(8191) % n as u64).unwrap();
        buf[..n - r].copy_from_slice(&self.block[r..]);
        buf[n - r..].copy_from_slice(&self.block[..r]);
    }
}

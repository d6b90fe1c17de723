//! proxyd's `timeout connect`, `timeout client` and `timeout server` on loopback, checked
//! through the client's socket and the tcplog line (termination codes `sC`, `cD`, `sD`).
//!
//! Semantics under test (see `proxyd::relay`): each side has its own read timer, pushed back by
//! reads from that side and by writes to it (HAProxy without `option independent-streams`); a
//! read timer that fires shuts that side like an EOF and names the termination code.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const STEP: Duration = Duration::from_secs(5);

struct Running {
    addr: SocketAddr,
    logs: UdpSocket,
    shutdown: proxyd::Shutdown,
    task: tokio::task::JoinHandle<Result<(), proxyd::Error>>,
}

impl Running {
    /// Starts one `listen t` proxy in front of `server` with `extra` lines, logging to a UDP
    /// socket of the test.
    async fn start(server: SocketAddr, extra: &str) -> Running {
        let logs = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let log_addr = logs.local_addr().unwrap();
        let text = format!(
            "defaults\n mode tcp\n timeout connect 1s\n timeout client 10s\n timeout server 10s\n\
             listen t\n bind 127.0.0.1:1\n option tcplog\n log {log_addr} local0\n retries 0\n{extra} server s {server}\n"
        );
        let (cfg, diags) =
            lbcore::config::haproxy::parse_str(&text, Path::new("t.cfg"), &BTreeMap::new());
        assert!(!diags.has_errors(), "{diags}");
        let mut cfg = cfg.unwrap();
        cfg.frontends[0].binds[0].addr.set_port(0);
        let proxy = proxyd::Proxy::bind(Arc::new(cfg)).unwrap();
        let addr = proxy.local_addrs()[0].1;
        let shutdown = proxyd::Shutdown::new();
        let task = tokio::spawn(proxy.serve(shutdown.clone()));
        Running {
            addr,
            logs,
            shutdown,
            task,
        }
    }

    /// The next access line.
    async fn line(&self) -> String {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(STEP, self.logs.recv(&mut buf))
            .await
            .expect("no access line")
            .unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    async fn stop(self) {
        self.shutdown.hard.cancel();
        tokio::time::timeout(STEP, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// The termination state of a tcplog line (the field after the byte count).
fn termination(line: &str) -> &str {
    let after_header = line.split("]: ").nth(1).unwrap_or(line);
    after_header
        .split_whitespace()
        .nth(6)
        .unwrap_or_else(|| panic!("short line {line}"))
}

/// A server that never sends: it counts the bytes it receives and closes on EOF.
async fn sink() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let got = Arc::new(AtomicUsize::new(0));
    let got2 = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let got = got2.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    got.fetch_add(n, Ordering::SeqCst);
                }
            });
        }
    });
    (a, got)
}

/// A server that writes one byte every `every`, `count` times, then stays open and silent
/// until the client closes.
async fn streamer(every: Duration, count: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                for _ in 0..count {
                    if s.write_all(b"x").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
                let mut buf = [0u8; 64];
                while let Ok(1..) = s.read(&mut buf).await {}
            });
        }
    });
    a
}

/// Reads until EOF (or a reset); returns the bytes and when the stream ended.
async fn read_until_closed(s: &mut TcpStream) -> (Vec<u8>, tokio::time::Instant) {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(STEP, s.read(&mut buf))
            .await
            .expect("connection never closed")
        {
            Ok(0) | Err(_) => return (out, tokio::time::Instant::now()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn connect_timeout_is_sc() {
    // Loopback has no black hole; a listener that never accepts, with its accept queue filled
    // (backlog 0), makes Linux drop further SYNs, so the proxy's connect hangs.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = l.local_addr().unwrap();
    let sock = socket2::Socket::from(l);
    sock.listen(0).unwrap();
    let mut held = Vec::new();
    let mut hung = false;
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(target)).await {
            Ok(Ok(s)) => held.push(s),
            _ => {
                hung = true;
                break;
            }
        }
    }
    assert!(hung, "accept queue never filled");
    let p = Running::start(target, " timeout connect 300ms\n").await;
    let started = tokio::time::Instant::now();
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    let (got, ended) = read_until_closed(&mut c).await;
    let waited = ended - started;
    assert!(got.is_empty());
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let line = p.line().await;
    assert_eq!(termination(&line), "sC", "{line}");
    assert!(
        line.contains(" t/s -1/-1/") || line.contains(" t/s 0/-1/"),
        "{line}"
    );
    drop(held);
    p.stop().await;
}

#[tokio::test]
async fn client_timeout_is_cd() {
    let (srv, _) = sink().await;
    let p = Running::start(srv, " timeout client 300ms\n timeout server 10s\n").await;
    let started = tokio::time::Instant::now();
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    // Nobody sends: the client's read timer fires first and the server gets a FIN; the sink
    // closes on EOF and the client sees the close.
    let (got, ended) = read_until_closed(&mut c).await;
    let waited = ended - started;
    assert!(got.is_empty());
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let line = p.line().await;
    assert_eq!(termination(&line), "cD", "{line}");
    p.stop().await;
}

#[tokio::test]
async fn server_timeout_is_sd() {
    let (srv, _) = sink().await;
    let p = Running::start(srv, " timeout client 10s\n timeout server 300ms\n").await;
    let started = tokio::time::Instant::now();
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    // The server's read timer fires: the client gets a FIN (half-close, as an EOF from the
    // server would give), and the session ends when the client closes too.
    let (got, ended) = read_until_closed(&mut c).await;
    let waited = ended - started;
    assert!(got.is_empty());
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    drop(c);
    let line = p.line().await;
    assert_eq!(termination(&line), "sD", "{line}");
    p.stop().await;
}

#[tokio::test]
async fn a_client_streaming_to_a_silent_server_keeps_the_session_past_timeout_server() {
    // timeout server 300ms, the server never says anything for 1.5 s: writes to the server
    // refresh its read timer, so the session lives while the client sends.
    let (srv, got) = sink().await;
    let p = Running::start(srv, " timeout client 10s\n timeout server 300ms\n").await;
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    let mut last_write = tokio::time::Instant::now();
    for _ in 0..15 {
        c.write_all(b"y").await.unwrap();
        last_write = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut probe = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(10), c.read(&mut probe))
            .await
            .is_err(),
        "the session closed while the client was sending"
    );
    assert_eq!(got.load(Ordering::SeqCst), 15);
    // Once both directions are silent, the server side (300 ms) expires first: sD.
    let (_, ended) = read_until_closed(&mut c).await;
    let waited = ended - last_write;
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    drop(c);
    let line = p.line().await;
    assert_eq!(termination(&line), "sD", "{line}");
    p.stop().await;
}

#[tokio::test]
async fn a_server_streaming_to_a_silent_client_keeps_the_session_past_timeout_client() {
    // The Exchange RPC_OUT_DATA shape: the server pushes, the client says nothing for longer
    // than timeout client. Writes to the client refresh its read timer.
    let srv = streamer(Duration::from_millis(100), 15).await;
    let p = Running::start(srv, " timeout client 300ms\n timeout server 10s\n").await;
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    let mut got = 0usize;
    let mut buf = [0u8; 64];
    while got < 15 {
        let n = tokio::time::timeout(STEP, c.read(&mut buf))
            .await
            .expect("stream stalled")
            .unwrap();
        assert!(n > 0, "closed after {got} bytes while the server streamed");
        got += n;
    }
    // The server stops; the client side (300 ms since the last write to it) expires: cD.
    let quiet = tokio::time::Instant::now();
    let (rest, ended) = read_until_closed(&mut c).await;
    assert!(rest.is_empty());
    let waited = ended - quiet;
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let line = p.line().await;
    assert_eq!(termination(&line), "cD", "{line}");
    p.stop().await;
}

#[tokio::test]
async fn equal_timeouts_on_an_idle_session_log_cd() {
    // Both read timers fire together; the request (client) side is checked first, as in
    // HAProxy's process_stream.
    let (srv, _) = sink().await;
    let p = Running::start(srv, " timeout client 300ms\n timeout server 300ms\n").await;
    let mut c = TcpStream::connect(p.addr).await.unwrap();
    let (got, _) = read_until_closed(&mut c).await;
    assert!(got.is_empty());
    let line = p.line().await;
    assert_eq!(termination(&line), "cD", "{line}");
    p.stop().await;
}

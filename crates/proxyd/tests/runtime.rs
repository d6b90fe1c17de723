//! proxyd in process on loopback with real TCP backends started by each test.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const STEP: Duration = Duration::from_secs(5);

/// A backend that writes `tag` to every client, then echoes until EOF, then writes
/// `|<bytes received>` and closes. Counts accepted connections.
async fn backend(addr: &str, tag: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind(addr).await.unwrap();
    let a = l.local_addr().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            n2.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let _ = s.write_all(tag.as_bytes()).await;
                let mut buf = [0u8; 4096];
                let mut total = 0usize;
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => total += k,
                    }
                }
                let _ = s.write_all(format!("|{total}").as_bytes()).await;
            });
        }
    });
    (a, n)
}

struct Running {
    addrs: Vec<(String, SocketAddr)>,
    shared: Arc<proxyd::Shared>,
    shutdown: proxyd::Shutdown,
    task: tokio::task::JoinHandle<Result<(), proxyd::Error>>,
}

impl Running {
    fn addr(&self) -> SocketAddr {
        self.addrs[0].1
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

fn config(text: &str) -> Arc<lbcore::config::proxy::ProxyConfig> {
    let (cfg, diags) =
        lbcore::config::haproxy::parse_str(text, Path::new("test.cfg"), &BTreeMap::new());
    assert!(!diags.has_errors(), "{diags}");
    Arc::new(cfg.unwrap())
}

/// Starts proxyd on `text`; a bind on port 1 stands for an ephemeral port (haproxy.cfg refuses 0).
fn start(text: &str) -> Running {
    try_start(text).unwrap()
}

/// [`start`], returning the bind error instead of panicking.
fn try_start(text: &str) -> Result<Running, proxyd::Error> {
    let mut cfg = (*config(text)).clone();
    for fe in &mut cfg.frontends {
        for b in &mut fe.binds {
            if b.addr.port() == 1 {
                b.addr.set_port(0);
            }
        }
    }
    let proxy = proxyd::Proxy::bind(Arc::new(cfg))?;
    let addrs = proxy.local_addrs();
    let shared = proxy.shared();
    let shutdown = proxyd::Shutdown::new();
    let task = tokio::spawn(proxy.serve(shutdown.clone()));
    Ok(Running {
        addrs,
        shared,
        shutdown,
        task,
    })
}

/// Connects, half-closes, returns everything the far end sent.
async fn exchange(addr: SocketAddr, payload: &[u8]) -> String {
    let mut s = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    s.write_all(payload).await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, s.read_to_end(&mut out))
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

const DEFAULTS: &str =
    "defaults\n mode tcp\n timeout connect 1s\n timeout client 10s\n timeout server 10s\n";

#[tokio::test]
async fn roundrobin_spreads_over_two_backends() {
    let (a, na) = backend("127.0.0.1:0", "A").await;
    let (b, nb) = backend("127.0.0.1:0", "B").await;
    let p = start(&format!(
        "{DEFAULTS}listen rr\n bind 127.0.0.1:1\n balance roundrobin\n server a {a}\n server b {b}\n"
    ));
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(exchange(p.addr(), b"x").await);
    }
    assert_eq!(
        seen.iter().filter(|s| s.as_str() == "A|1").count(),
        5,
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|s| s.as_str() == "B|1").count(),
        5,
        "{seen:?}"
    );
    assert_eq!(
        (na.load(Ordering::SeqCst), nb.load(Ordering::SeqCst)),
        (5, 5)
    );
    p.stop().await;
}

#[tokio::test]
async fn dead_backend_is_skipped_by_redispatch() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // closed again: connects are refused
    let (live, _) = backend("127.0.0.1:0", "L").await;
    let p = start(&format!(
        "{DEFAULTS}listen rr\n bind 127.0.0.1:1\n retries 2\n option redispatch\n server dead {dead}\n server live {live}\n"
    ));
    for _ in 0..6 {
        assert_eq!(exchange(p.addr(), b"abc").await, "L|3");
    }
    p.stop().await;
}

#[tokio::test]
async fn without_redispatch_a_dead_pick_fails_the_connection() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (live, _) = backend("127.0.0.1:0", "L").await;
    let p = start(&format!(
        "{DEFAULTS}listen rr\n bind 127.0.0.1:1\n retries 1\n server dead {dead}\n server live {live}\n"
    ));
    let results: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(exchange(p.addr(), b"abc").await);
        }
        v
    };
    assert_eq!(
        results.iter().filter(|r| r.is_empty()).count(),
        2,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|r| r.as_str() == "L|3").count(),
        2,
        "{results:?}"
    );
    p.stop().await;
}

#[tokio::test]
async fn stick_on_src_keeps_one_client_on_one_backend() {
    let (a, _) = backend("127.0.0.1:0", "A").await;
    let (b, _) = backend("127.0.0.1:0", "B").await;
    let p = start(&format!(
        "{DEFAULTS}listen st\n bind 127.0.0.1:1\n balance roundrobin\n stick-table type ip size 1k expire 1m\n stick on src\n server a {a}\n server b {b}\n"
    ));
    let first = exchange(p.addr(), b"").await;
    assert!(first == "A|0" || first == "B|0", "{first}");
    for _ in 0..6 {
        assert_eq!(exchange(p.addr(), b"").await, first);
    }
    p.stop().await;
}

#[tokio::test]
async fn tcp_request_reject_by_src() {
    let (a, na) = backend("127.0.0.1:0", "A").await;
    let p = start(&format!(
        "{DEFAULTS}listen smtp\n bind 127.0.0.1:1\n bind 127.0.0.1:1\n acl relay_ok src 192.0.2.0/24 198.51.100.10\n tcp-request connection reject unless relay_ok\n server a {a}\n\
         listen smtp_ok\n bind 127.0.0.1:1\n acl relay_ok src 192.0.2.0/24 127.0.0.0/8\n tcp-request connection reject unless relay_ok\n server a {a}\n"
    ));
    let refused = p.addrs.iter().find(|(n, _)| n == "smtp").unwrap().1;
    let allowed = p.addrs.iter().find(|(n, _)| n == "smtp_ok").unwrap().1;
    assert_eq!(exchange(refused, b"HELO").await, "");
    assert_eq!(na.load(Ordering::SeqCst), 0);
    assert_eq!(exchange(allowed, b"HELO").await, "A|4");
    assert_eq!(na.load(Ordering::SeqCst), 1);
    p.stop().await;
}

#[tokio::test]
async fn server_without_port_uses_the_client_destination_port() {
    // The backend listens on 127.0.0.2:P and the proxy on 127.0.0.1:P (same port, other address).
    // P is free on 127.0.0.2 but may be some other test's connection on 127.0.0.1: then take
    // another P (at most 20 tries).
    let mut found = None;
    for _ in 0..20 {
        let (b, _) = backend("127.0.0.2:0", "RPC").await;
        let text = format!(
            "{DEFAULTS}listen rpc\n bind 127.0.0.1:{}\n server cas1 127.0.0.2\n",
            b.port()
        );
        if let Ok(p) = try_start(&text) {
            found = Some((b, p));
            break;
        }
    }
    let (b, p) = found.expect("no port free on both 127.0.0.1 and 127.0.0.2 in 20 tries");
    assert_eq!(p.addr().port(), b.port());
    assert_eq!(exchange(p.addr(), b"hello").await, "RPC|5");
    p.stop().await;
}

#[tokio::test]
async fn frontend_maxconn_holds_new_connections_until_a_slot_frees() {
    let (a, na) = backend("127.0.0.1:0", "A").await;
    let p = start(&format!(
        "{DEFAULTS}listen one\n bind 127.0.0.1:1\n maxconn 1\n server a {a}\n"
    ));
    let mut first = TcpStream::connect(p.addr()).await.unwrap();
    let mut tag = [0u8; 1];
    first.read_exact(&mut tag).await.unwrap();
    assert_eq!(&tag, b"A");
    // Second client: the kernel completes the handshake, but proxyd does not accept it yet.
    let second = tokio::spawn(exchange(p.addr(), b"zz"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        na.load(Ordering::SeqCst),
        1,
        "second connection must wait for the slot"
    );
    assert!(!second.is_finished());
    first.shutdown().await.unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).await.unwrap();
    drop(first);
    let out = tokio::time::timeout(STEP, second).await.unwrap().unwrap();
    assert_eq!(out, "A|2");
    assert_eq!(na.load(Ordering::SeqCst), 2);
    p.stop().await;
}

#[tokio::test]
async fn half_close_is_relayed_and_the_reply_still_arrives() {
    let (a, _) = backend("127.0.0.1:0", "H").await;
    let p = start(&format!(
        "{DEFAULTS}listen hc\n bind 127.0.0.1:1\n server a {a}\n"
    ));
    // 1 MiB up, then FIN; the backend only answers after seeing our FIN.
    let payload = vec![7u8; 1 << 20];
    assert_eq!(exchange(p.addr(), &payload).await, format!("H|{}", 1 << 20));
    p.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_established_connections() {
    let (a, _) = backend("127.0.0.1:0", "G").await;
    let p = start(&format!(
        "{DEFAULTS}listen g\n bind 127.0.0.1:1\n server a {a}\n"
    ));
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    let mut tag = [0u8; 1];
    c.read_exact(&mut tag).await.unwrap();
    p.shutdown.graceful.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !p.task.is_finished(),
        "serve must wait for the open connection"
    );
    assert!(
        TcpStream::connect(p.addr()).await.is_err(),
        "listener must be closed"
    );
    c.write_all(b"abcd").await.unwrap();
    c.shutdown().await.unwrap();
    let mut rest = String::new();
    c.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, "|4");
    tokio::time::timeout(STEP, p.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn health_check_takes_a_dead_server_out_of_rotation() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (live, _) = backend("127.0.0.1:0", "L").await;
    // retries 0 and no redispatch: only the checker can keep clients off the dead server.
    let p = start(&format!(
        "{DEFAULTS}listen hc\n bind 127.0.0.1:1\n retries 0\n server dead {dead} check inter 100ms fall 1 rise 1\n server live {live} check inter 100ms\n"
    ));
    let mut down = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut ok = true;
        for _ in 0..4 {
            ok &= exchange(p.addr(), b"q").await == "L|1";
        }
        if ok {
            down = true;
            break;
        }
    }
    assert!(down, "dead server never left the rotation");
    for _ in 0..6 {
        assert_eq!(exchange(p.addr(), b"q").await, "L|1");
    }
    p.stop().await;
}

#[tokio::test]
async fn server_maxconn_queues_then_times_out() {
    let (a, na) = backend("127.0.0.1:0", "A").await;
    let (logs, log_addr) = LogSink::new().await;
    let p = start(&format!(
        "{DEFAULTS}listen q\n bind 127.0.0.1:1\n option tcplog\n log {log_addr} local0\n timeout queue 300ms\n server a {a} maxconn 1\n"
    ));
    let mut first = TcpStream::connect(p.addr()).await.unwrap();
    let mut tag = [0u8; 1];
    first.read_exact(&mut tag).await.unwrap();
    // Queued behind the first, then served once it leaves.
    let queued = tokio::spawn(exchange(p.addr(), b"qq"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(na.load(Ordering::SeqCst), 1);
    first.shutdown().await.unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).await.unwrap();
    assert_eq!(
        tokio::time::timeout(STEP, queued).await.unwrap().unwrap(),
        "A|2"
    );
    // Now hold the slot for longer than `timeout queue`: the next client is dropped unserved.
    let mut holder = TcpStream::connect(p.addr()).await.unwrap();
    holder.read_exact(&mut tag).await.unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(exchange(p.addr(), b"late").await, "");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(na.load(Ordering::SeqCst), 3);
    // Logged as a queue timeout, first in the backend queue, never reaching a server.
    let line = logs.find(" sQ ").await;
    assert!(
        line.contains(" q/<NOSRV> ") && line.ends_with(" 0/1\n"),
        "{line}"
    );
    drop(holder);
    p.stop().await;
}

#[tokio::test]
async fn copy_fallback_and_splice_relay_the_same_bytes() {
    for use_splice in [false, true] {
        let (pl, sl) = (
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
        );
        let (pa, sa) = (pl.local_addr().unwrap(), sl.local_addr().unwrap());
        let relay = tokio::spawn(async move {
            let (c, _) = pl.accept().await.unwrap();
            let s = TcpStream::connect(sa).await.unwrap();
            let t = proxyd::relay::Timeouts {
                client: Some(STEP),
                server: Some(STEP),
            };
            proxyd::relay::relay(&c, &s, t, use_splice).await
        });
        // Echo server that reverses nothing: it returns every byte, then closes after EOF.
        let echo = tokio::spawn(async move {
            let (mut s, _) = sl.accept().await.unwrap();
            let (mut r, mut w) = s.split();
            tokio::io::copy(&mut r, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let spliced_before = proxyd::relay::spliced_bytes();
        let data: Vec<u8> = (0..(4u32 << 20))
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let mut c = TcpStream::connect(pa).await.unwrap();
        let (mut r, mut w) = c.split();
        let send = async {
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let mut back = Vec::new();
        let recv = r.read_to_end(&mut back);
        let ((), n) = tokio::time::timeout(STEP, async { tokio::join!(send, recv) })
            .await
            .unwrap();
        n.unwrap();
        assert!(
            back == data,
            "splice={use_splice}: {} bytes back of {}",
            back.len(),
            data.len()
        );
        let (totals, end) = relay.await.unwrap();
        assert_eq!(end, proxyd::relay::End::Closed);
        assert_eq!(
            (totals.to_server, totals.to_client),
            (data.len() as u64, data.len() as u64)
        );
        echo.await.unwrap();
        if use_splice {
            // A bulk transfer switches to splice after its first full buffer: nearly all of the
            // 2 x 4 MiB go through pipes (other tests may add more, never less).
            let spliced = proxyd::relay::spliced_bytes() - spliced_before;
            assert!(
                spliced >= data.len() as u64,
                "only {spliced} bytes spliced of {}",
                2 * data.len()
            );
        }
    }
}

/// Accepts and drops connections on a loopback port until the returned task is aborted, after
/// which the port refuses (a health-check target the test can kill).
async fn check_port() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            drop(s);
        }
    });
    (a, task)
}

/// Connects to `addr` and reads the backend's tag, so the session is relaying.
async fn established(addr: SocketAddr, tag: &str) -> TcpStream {
    let mut s = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let mut buf = vec![0u8; tag.len()];
    tokio::time::timeout(STEP, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(buf, tag.as_bytes());
    s
}

#[tokio::test]
async fn on_marked_down_shutdown_sessions_closes_only_opted_in_sessions() {
    let (data, _) = backend("127.0.0.1:0", "A").await;
    let (chk, checker_target) = check_port().await;
    let port = chk.port();
    let inter = Duration::from_millis(100);
    let fall = 2u32;
    // Two proxies on the same server and check port: only `kill` has the option.
    let p = start(&format!(
        "{DEFAULTS}listen kill\n bind 127.0.0.1:1\n server s {data} check port {port} inter 100ms fall {fall} rise 1 on-marked-down shutdown-sessions\n\
listen keep\n bind 127.0.0.1:1\n server s {data} check port {port} inter 100ms fall {fall} rise 1\n"
    ));
    let mut killed = established(p.addrs[0].1, "A").await;
    let mut kept = established(p.addrs[1].1, "A").await;
    checker_target.abort();
    let _ = checker_target.await;
    let t0 = tokio::time::Instant::now();
    let limit = inter * fall + Duration::from_secs(1);
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(limit, killed.read(&mut buf)).await;
    let elapsed = t0.elapsed();
    match r {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!("unexpected {n} bytes from a killed session"),
        Err(_) => panic!("session still open {elapsed:?} after the check port closed"),
    }
    // The session without the option is still relaying, both ways, after the DOWN.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), kept.read(&mut buf))
            .await
            .is_err(),
        "the session without on-marked-down was closed"
    );
    kept.write_all(b"xyz").await.unwrap();
    kept.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(STEP, kept.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, b"|3");
    p.stop().await;
}

#[tokio::test]
async fn allbackups_spreads_over_backups_only_with_the_option() {
    let (a, na) = backend("127.0.0.1:0", "A").await;
    let (b1, _) = backend("127.0.0.1:0", "B1").await;
    let (b2, _) = backend("127.0.0.1:0", "B2").await;
    let servers = format!(
        " balance roundrobin\n server a {a} disabled\n server b1 {b1} backup\n server b2 {b2} backup\n"
    );
    let p = start(&format!(
        "{DEFAULTS}listen all\n bind 127.0.0.1:1\n option allbackups\n{servers}listen first\n bind 127.0.0.1:1\n{servers}"
    ));
    let mut all = Vec::new();
    let mut first = Vec::new();
    for _ in 0..6 {
        all.push(exchange(p.addrs[0].1, b"x").await);
        first.push(exchange(p.addrs[1].1, b"x").await);
    }
    let count = |v: &[String], s: &str| v.iter().filter(|x| x.as_str() == s).count();
    assert_eq!(
        (count(&all, "B1|1"), count(&all, "B2|1")),
        (3, 3),
        "{all:?}"
    );
    assert_eq!(count(&first, "B1|1"), 6, "{first:?}");
    assert_eq!(
        na.load(Ordering::SeqCst),
        0,
        "the disabled active server took traffic"
    );
    p.stop().await;
}

/// Receives syslog datagrams on a loopback UDP port chosen by the kernel.
struct LogSink {
    sock: tokio::net::UdpSocket,
}

impl LogSink {
    async fn new() -> (Self, SocketAddr) {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let a = sock.local_addr().unwrap();
        (LogSink { sock }, a)
    }

    /// The next datagram, or `None` after `wait`.
    async fn next_within(&self, wait: Duration) -> Option<String> {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(wait, self.sock.recv(&mut buf))
            .await
            .ok()?
            .unwrap();
        Some(String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    /// The first datagram containing `needle` (others are skipped); panics after [`STEP`].
    async fn find(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(l) if l.contains(needle) => return l,
                Some(_) => {}
                None => panic!("no log line containing {needle:?}"),
            }
        }
    }
}

/// Polls `f` every 10 ms for at most [`STEP`].
async fn wait_until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Like [`backend`], also recording what each connection sent, in the order they finished.
async fn recording_backend(tag: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let seen = seen2.clone();
            tokio::spawn(async move {
                let _ = s.write_all(tag.as_bytes()).await;
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got).await;
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&got).into_owned());
                let _ = s.write_all(format!("|{}", got.len()).as_bytes()).await;
            });
        }
    });
    (a, seen)
}

/// Connects, sends `id`, half-closes: the client then waits (in a queue) for its answer.
async fn queued_client(addr: SocketAddr, id: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(id.as_bytes()).await.unwrap();
    s.shutdown().await.unwrap();
    s
}

async fn read_all(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(STEP, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn queued_clients_get_a_full_server_in_arrival_order() {
    // Without persistence the waiters are in the backend queue (%bq); with `stick on src` the
    // client is assigned to the server it stuck to and waits in that server's queue (%sq).
    for sticky in [false, true] {
        let (logs, log_addr) = LogSink::new().await;
        let (a, seen) = recording_backend("A").await;
        let stick = if sticky {
            " stick-table type ip size 1k expire 1m\n stick on src\n"
        } else {
            ""
        };
        let p = start(&format!(
            "{DEFAULTS}listen q\n bind 127.0.0.1:1\n option tcplog\n log {log_addr} local0\n timeout queue 5s\n{stick} server a {a} maxconn 1\n"
        ));
        let srv = p.shared.server("q", "a").unwrap();
        let be = &p.shared.backends[0];
        let mut holder = established(p.addr(), "A").await;
        let queue_len = || {
            if sticky {
                srv.queued.load(Ordering::SeqCst)
            } else {
                be.queued.load(Ordering::SeqCst)
            }
        };
        let mut waiters = Vec::new();
        for (k, id) in ["1", "2", "3"].into_iter().enumerate() {
            waiters.push(queued_client(p.addr(), id).await);
            wait_until("the client to queue", || queue_len() as usize == k + 1).await;
        }
        assert_eq!(srv.conns.load(Ordering::SeqCst), 1);
        holder.shutdown().await.unwrap();
        assert_eq!(read_all(holder).await, "|0");
        let ports: Vec<u16> = waiters
            .iter()
            .map(|w| w.local_addr().unwrap().port())
            .collect();
        for w in waiters {
            assert_eq!(read_all(w).await, "A|1");
        }
        assert_eq!(
            *seen.lock().unwrap(),
            ["", "1", "2", "3"],
            "sticky={sticky}"
        );
        // Queue positions as HAProxy logs them: the k-th waiter served saw k-1 leave before it.
        for (k, port) in ports.into_iter().enumerate() {
            let line = logs.find(&format!("127.0.0.1:{port} ")).await;
            let want = if sticky {
                format!(" {}/0\n", k + 1)
            } else {
                format!(" 0/{}\n", k + 1)
            };
            assert!(line.ends_with(&want), "sticky={sticky}: {line}");
            assert!(line.contains(" q/a ") && line.contains(" -- "), "{line}");
        }
        wait_until("slots to be released", || {
            srv.conns.load(Ordering::SeqCst) == 0 && queue_len() == 0
        })
        .await;
        p.stop().await;
    }
}

#[tokio::test]
async fn maxqueue_redispatches_a_persistent_client_only_with_option_redispatch() {
    let (logs, log_addr) = LogSink::new().await;
    let (a, _) = backend("127.0.0.1:0", "A").await;
    let (b, _) = backend("127.0.0.1:0", "B").await;
    let body = format!(
        " option tcplog\n log {log_addr} local0\n timeout queue 5s\n stick-table type ip size 1k expire 1m\n stick on src\n server a {a} maxconn 1 maxqueue 1\n server b {b} maxconn 1 maxqueue 1\n"
    );
    let p = start(&format!(
        "{DEFAULTS}listen redisp\n bind 127.0.0.1:1\n option redispatch\n{body}listen strict\n bind 127.0.0.1:1\n{body}"
    ));
    for (i, name) in ["redisp", "strict"].into_iter().enumerate() {
        let addr = p.addrs[i].1;
        // The holder sticks this source to the server it got; find out which.
        let mut holder = TcpStream::connect(addr).await.unwrap();
        let mut tag = [0u8; 1];
        holder.read_exact(&mut tag).await.unwrap();
        let (x, y) = if &tag == b"A" { ("a", "B") } else { ("b", "A") };
        let xs = p.shared.server(name, x).unwrap();
        // One waiter fills the stuck server's queue (maxqueue 1).
        let first = queued_client(addr, "1").await;
        wait_until("the first waiter to queue", || {
            xs.queued.load(Ordering::SeqCst) == 1
        })
        .await;
        let started = tokio::time::Instant::now();
        let mut second = queued_client(addr, "2").await;
        let mut out = Vec::new();
        // A refused client may see a reset: its unread "2" makes the close an RST.
        let _ = tokio::time::timeout(STEP, second.read_to_end(&mut out))
            .await
            .unwrap();
        let second = String::from_utf8(out).unwrap();
        if name == "redisp" {
            // Redispatched to the other server at once, persistence broken.
            assert_eq!(second, format!("{y}|1"));
        } else {
            // HAProxy's srv_redispatch_connect: no redispatch, the connection fails (sQ).
            assert_eq!(second, "");
            assert!(started.elapsed() < Duration::from_secs(2));
            let line = logs.find(&format!(" {name}/{x} ")).await;
            assert!(line.contains(" sQ "), "{line}");
        }
        assert_eq!(xs.queued.load(Ordering::SeqCst), 1, "{name}");
        holder.shutdown().await.unwrap();
        let _ = read_all(holder).await;
        assert_eq!(
            read_all(first).await,
            format!("{}|1", x.to_uppercase()),
            "{name}"
        );
    }
    p.stop().await;
}

#[tokio::test]
async fn a_waiter_that_resets_leaves_the_queue_and_the_next_one_is_served() {
    let (logs, log_addr) = LogSink::new().await;
    let (a, seen) = recording_backend("A").await;
    let p = start(&format!(
        "{DEFAULTS}listen q\n bind 127.0.0.1:1\n option tcplog\n log {log_addr} local0\n timeout queue 5s\n server a {a} maxconn 1\n"
    ));
    let srv = p.shared.server("q", "a").unwrap();
    let be = &p.shared.backends[0];
    let mut holder = established(p.addr(), "A").await;
    let quitter = TcpStream::connect(p.addr()).await.unwrap();
    let quitter_port = quitter.local_addr().unwrap().port();
    wait_until("the first waiter to queue", || {
        be.queued.load(Ordering::SeqCst) == 1
    })
    .await;
    let patient = queued_client(p.addr(), "2").await;
    wait_until("the second waiter to queue", || {
        be.queued.load(Ordering::SeqCst) == 2
    })
    .await;
    // Reset (SO_LINGER 0): HAProxy aborts a queued connection on a client error (CQ).
    socket2::SockRef::from(&quitter)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(quitter);
    wait_until("the reset waiter to leave", || {
        be.queued.load(Ordering::SeqCst) == 1
    })
    .await;
    let line = logs.find(&format!("127.0.0.1:{quitter_port} ")).await;
    assert!(line.contains(" CQ "), "{line}");
    holder.shutdown().await.unwrap();
    let _ = read_all(holder).await;
    assert_eq!(read_all(patient).await, "A|1");
    assert_eq!(*seen.lock().unwrap(), ["", "2"]);
    wait_until("no slot leaked", || {
        srv.conns.load(Ordering::SeqCst) == 0 && be.queued.load(Ordering::SeqCst) == 0
    })
    .await;
    p.stop().await;
}

fn temp_socket_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("proxyd-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[tokio::test]
async fn access_lines_reach_unix_and_udp_targets_with_their_pri_and_level() {
    let path = temp_socket_path("unix-udp");
    let unix = tokio::net::UnixDatagram::bind(&path).unwrap();
    let (udp, udp_addr) = LogSink::new().await;
    let (quiet, quiet_addr) = LogSink::new().await;
    let (a, _) = backend("127.0.0.1:0", "A").await;
    let p = start(&format!(
        "{DEFAULTS}listen l\n bind 127.0.0.1:1\n option tcplog\n log {udp_addr} local0\n log {} local3 info\n log {quiet_addr} local1 notice\n server a {a}\n",
        path.display()
    ));
    assert_eq!(exchange(p.addr(), b"hi").await, "A|2");
    let via_udp = udp.find(" l l/a ").await;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(STEP, unix.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let via_unix = String::from_utf8(buf[..n].to_vec()).unwrap();
    let tail = format!(" proxyd[{}]: 127.0.0.1:", std::process::id());
    // PRI = facility * 8 + info (6): local0 = 16 -> 134, local3 = 19 -> 158.
    for (line, pri) in [(&via_udp, "<134>"), (&via_unix, "<158>")] {
        assert!(line.starts_with(pri), "{line}");
        assert!(line.contains(&tail), "{line}");
        assert!(
            line.contains(" l l/a ") && line.contains(" 3 -- "),
            "{line}"
        );
        // One connection: %ac/%fc/%bc/%sc/%rc = 1/1/1/1/0 (the listener's early permits for
        // the next connection are not counted), queues 0/0.
        assert!(line.ends_with(" 1/1/1/1/0 0/0\n"), "{line}");
    }
    // `max notice` drops info lines.
    assert_eq!(quiet.next_within(Duration::from_millis(300)).await, None);
    p.stop().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_unix_log_target_missing_at_start_is_retried() {
    use proxyd::tcplog::{Level, Logger};
    let path = temp_socket_path("late");
    let target = lbcore::config::proxy::LogTarget {
        address: path.display().to_string(),
        facility: "local0".into(),
        level: None,
        min_level: None,
    };
    let logger = Logger::start(vec![vec![target]], 16);
    logger.log(0, Level::Info, "lost".into());
    wait_until("the send to fail", || logger.failed() == 1).await;
    let unix = tokio::net::UnixDatagram::bind(&path).unwrap();
    logger.log(0, Level::Info, "found".into());
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(STEP, unix.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8(buf[..n].to_vec()).unwrap();
    assert!(
        line.starts_with("<134>") && line.ends_with("]: found\n"),
        "{line}"
    );
    assert_eq!((logger.sent(), logger.failed()), (1, 1));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_full_log_channel_drops_and_counts_without_blocking() {
    use proxyd::tcplog::{Level, Logger};
    let (sink, addr) = LogSink::new().await;
    let target = lbcore::config::proxy::LogTarget {
        address: addr.to_string(),
        facility: "local0".into(),
        level: None,
        min_level: None,
    };
    let logger = Logger::start(vec![vec![target]], 1);
    // The current-thread test runtime cannot run the logger task before this loop yields, so
    // the channel (capacity 1) takes the first line and drops the other 49.
    for i in 0..50 {
        logger.log(0, Level::Info, format!("line {i}"));
    }
    assert_eq!(logger.dropped(), 49);
    let first = sink.next_within(STEP).await.unwrap();
    assert!(first.ends_with("]: line 0\n"), "{first}");
    assert_eq!(sink.next_within(Duration::from_millis(200)).await, None);
}

#[tokio::test]
async fn hard_shutdown_takes_waiters_out_of_the_queue_and_frees_every_slot() {
    let (a, _) = backend("127.0.0.1:0", "A").await;
    let p = start(&format!(
        "{DEFAULTS}listen q\n bind 127.0.0.1:1\n timeout queue 5s\n server a {a} maxconn 1\n"
    ));
    let shared = p.shared.clone();
    let srv = shared.server("q", "a").unwrap();
    let _holder = established(p.addr(), "A").await;
    let _w1 = queued_client(p.addr(), "1").await;
    let _w2 = queued_client(p.addr(), "2").await;
    wait_until("two waiters", || {
        shared.backends[0].queued.load(Ordering::SeqCst) == 2
    })
    .await;
    p.stop().await;
    wait_until("queues and slots to empty", || {
        shared.backends[0].queued.load(Ordering::SeqCst) == 0
            && srv.conns.load(Ordering::SeqCst) == 0
    })
    .await;
}

#[tokio::test]
async fn racing_timeouts_and_releases_leak_no_slot() {
    // 40 clients on a server with maxconn 2 and a queue timeout close to the service time:
    // grants and give-ups race. Every client is either served or refused with sQ, and at the end
    // no slot and no queue entry is left.
    let (logs, log_addr) = LogSink::new().await;
    let (a, _) = backend("127.0.0.1:0", "A").await;
    let p = start(&format!(
        "{DEFAULTS}listen q\n bind 127.0.0.1:1\n option tcplog\n log {log_addr} local0\n timeout queue 60ms\n server a {a} maxconn 2\n"
    ));
    let srv = p.shared.server("q", "a").unwrap();
    let addr = p.addr();
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i % 7)).await;
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut tag = [0u8; 1];
            match tokio::time::timeout(STEP, s.read(&mut tag)).await.unwrap() {
                Ok(1) => {
                    // Served: hold the slot a little, then finish.
                    tokio::time::sleep(Duration::from_millis(20 + i % 30)).await;
                    s.shutdown().await.unwrap();
                    let mut rest = Vec::new();
                    let _ = tokio::time::timeout(STEP, s.read_to_end(&mut rest)).await;
                    true
                }
                _ => false,
            }
        }));
    }
    let mut served = 0;
    for t in tasks {
        served += usize::from(t.await.unwrap());
    }
    let mut normal = 0;
    let mut refused = 0;
    for _ in 0..40 {
        let line = logs.find(" q/").await;
        if line.contains(" -- ") {
            normal += 1;
        } else {
            assert!(line.contains(" sQ "), "{line}");
            refused += 1;
        }
    }
    assert_eq!((normal, refused), (served, 40 - served));
    assert!(
        served >= 2 && refused >= 1,
        "served {served}, refused {refused}"
    );
    wait_until("slots and queues to empty", || {
        srv.conns.load(Ordering::SeqCst) == 0
            && p.shared.backends[0].queued.load(Ordering::SeqCst) == 0
    })
    .await;
    p.stop().await;
}

#[tokio::test]
async fn bytes_sent_while_queued_are_relayed_without_a_fin() {
    // An echo server: the queued client's request must reach it as soon as the slot is granted,
    // not only when the client sends more or closes.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let p = start(&format!(
        "{DEFAULTS}listen q\n bind 127.0.0.1:1\n timeout queue 5s\n server e {e} maxconn 1\n"
    ));
    let mut holder = TcpStream::connect(p.addr()).await.unwrap();
    holder.write_all(b"h").await.unwrap();
    let mut one = [0u8; 1];
    holder.read_exact(&mut one).await.unwrap();
    let mut waiter = TcpStream::connect(p.addr()).await.unwrap();
    waiter.write_all(b"ping").await.unwrap();
    wait_until("the waiter to queue", || {
        p.shared.backends[0].queued.load(Ordering::SeqCst) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(holder);
    let mut echo = [0u8; 4];
    tokio::time::timeout(STEP, waiter.read_exact(&mut echo))
        .await
        .expect("the queued request was never relayed")
        .unwrap();
    assert_eq!(&echo, b"ping");
    p.stop().await;
}

#[tokio::test]
async fn health_transitions_requeue_waiters_like_haproxy() {
    let (a, _) = backend("127.0.0.1:0", "A").await;
    let (b, _) = backend("127.0.0.1:0", "B").await;
    // `down`: a waiter stuck to a full server that goes DOWN is redispatched (option redispatch).
    // `up`: a backend-queue waiter takes a server that comes back.
    let p = start(&format!(
        "{DEFAULTS}listen down\n bind 127.0.0.1:1\n option redispatch\n timeout queue 5s\n stick-table type ip size 1k expire 1m\n stick on src\n server a {a} maxconn 1\n server b {b} maxconn 1\n\
         listen up\n bind 127.0.0.1:1\n timeout queue 5s\n server a {a} maxconn 1\n server b {b} maxconn 1 disabled\n"
    ));
    let shared = p.shared.clone();

    let mut holder = TcpStream::connect(p.addrs[0].1).await.unwrap();
    let mut tag = [0u8; 1];
    holder.read_exact(&mut tag).await.unwrap();
    let (x, y) = if &tag == b"A" { (0, "B") } else { (1, "A") };
    let xs = shared.backends[0].servers[x].clone();
    let waiter = queued_client(p.addrs[0].1, "w").await;
    wait_until("the waiter to queue on its server", || {
        xs.queued.load(Ordering::SeqCst) == 1
    })
    .await;
    xs.usable.store(false, Ordering::SeqCst);
    proxyd::queue::server_changed(&shared, 0, x, false);
    assert_eq!(read_all(waiter).await, format!("{y}|1"));
    assert_eq!(xs.queued.load(Ordering::SeqCst), 0);
    drop(holder);

    let _busy = established(p.addrs[1].1, "A").await;
    let waiter = queued_client(p.addrs[1].1, "w").await;
    wait_until("the waiter to queue in the backend", || {
        shared.backends[1].queued.load(Ordering::SeqCst) == 1
    })
    .await;
    // `disabled` is maintenance (HAProxy): the operator makes it ready.
    shared.backends[1].servers[1].set_admin(proxyd::state::Admin::Ready);
    proxyd::queue::server_changed(&shared, 1, 1, true);
    assert_eq!(read_all(waiter).await, "B|1");
    p.stop().await;
}

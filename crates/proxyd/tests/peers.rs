//! Stick-table replication between two in-process proxyds on 127.0.0.1 (`peers` section, one
//! peer each): entries learned by connections through box A reach box B's table and send the
//! same clients to the same server there; a restarted box gets everything again (full resync);
//! the remaining expiry travels with each entry; received entries are not pushed back; the later
//! write wins; a hello from an unknown peer (or garbage) is refused and counted.

mod support;

use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lbcore::peers::{self, Hello, HelloStatus, Message, Update, Updates};
use proxyd::peers::{Peers, PeersError};
use support::{Backend, STEP, eventually, source, tags_from_all};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const SECTION: &str = "lbpair";
const TABLE: &str = "st";

/// A port free right now on 127.0.0.1 (the kernel's choice; released for the peer to bind).
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// haproxy.cfg of either box: the same `peers` section, a replicated table and, with
/// `servers`, a `listen` sticking on the source into it (round robin otherwise).
fn config(ports: (u16, u16), expire: &str, servers: Option<(SocketAddr, SocketAddr)>) -> String {
    let mut c = format!(
        "peers {SECTION}\n  peer lb1 127.0.0.1:{}\n  peer lb2 127.0.0.1:{}\n{}backend {TABLE}\n  stick-table type ip size 10k expire {expire} peers {SECTION}\n",
        ports.0,
        ports.1,
        support::DEFAULTS
    );
    if let Some((a, b)) = servers {
        c.push_str(&format!(
            "listen cas\n  bind 127.0.0.1:1\n  balance roundrobin\n  stick on src table {TABLE}\n  server cas1 {a}\n  server cas2 {b}\n"
        ));
    }
    c
}

/// One in-process box: proxyd serving and replicating as peer `name`.
struct Node {
    shared: Arc<proxyd::Shared>,
    frontend: Option<SocketAddr>,
    peers: Peers,
    stop: CancellationToken,
    shutdown: proxyd::Shutdown,
    serve: tokio::task::JoinHandle<Result<(), proxyd::Error>>,
}

impl Node {
    fn start(text: &str, name: &str) -> Node {
        let mut cfg = support::parse(text);
        for b in cfg.frontends.iter_mut().flat_map(|f| f.binds.iter_mut()) {
            b.addr.set_port(0);
        }
        // The test starts replication itself, to read its counters and stop it alone: the
        // proxy's own copy has no `peers` sections, so `serve` starts none (its tables still
        // name the section, which is how replication finds them).
        let mut own = cfg.clone();
        own.peers.clear();
        let proxy = proxyd::Proxy::bind(Arc::new(own)).unwrap();
        let frontend = proxy.local_addrs().first().map(|(_, a)| *a);
        let shared = proxy.shared();
        let stop = CancellationToken::new();
        let peers = proxyd::peers::start(&cfg, name, proxy.current(), stop.clone()).unwrap();
        let shutdown = proxyd::Shutdown::new();
        let serve = tokio::spawn(proxy.serve(shutdown.clone()));
        Node {
            shared,
            frontend,
            peers,
            stop,
            shutdown,
            serve,
        }
    }

    /// Stops replication (connections closed) and the proxy.
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(STEP, self.peers.task)
            .await
            .expect("peers task ends after stop")
            .unwrap();
        self.shutdown.hard.cancel();
        let _ = tokio::time::timeout(STEP, self.serve).await;
    }

    fn table(&self) -> &proxyd::state::NamedTable {
        self.shared
            .stick_tables
            .iter()
            .find(|t| t.name == TABLE)
            .unwrap()
    }

    /// What a connection's `stick store-request` does (session.rs): learn, then publish the
    /// table's update sequence.
    fn learn(&self, key: IpAddr, server_id: u32) {
        let t = self.table();
        let seq = t
            .table
            .lock()
            .unwrap()
            .learn(key, server_id, proxyd::state::now());
        t.changed.send_replace(seq);
    }

    /// The server id stuck to `key`, without refreshing it (expired entries read as absent).
    fn get(&self, key: IpAddr) -> Option<u32> {
        let now = proxyd::state::now();
        let t = self.table().table.lock().unwrap();
        t.peek(key)
            .filter(|e| e.expires_in(now).is_none_or(|d| !d.is_zero()))
            .map(|e| e.server_id)
    }

    fn expires_in(&self, key: IpAddr) -> Option<Duration> {
        let t = self.table().table.lock().unwrap();
        t.peek(key)?.expires_in(proxyd::state::now())
    }

    /// Its connection to the other box passed the hello.
    fn connected(&self) -> bool {
        self.peers
            .stats
            .connected_out
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1
    }

    fn len(&self) -> usize {
        self.table().table.lock().unwrap().len()
    }

    fn stat(&self, f: impl Fn(&proxyd::peers::PeersStats) -> &std::sync::atomic::AtomicU64) -> u64 {
        f(&self.peers.stats).load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Distinct keys: 192.0.2.x for the first 250, 2001:db8::i beyond.
fn key(i: usize) -> IpAddr {
    match u8::try_from(i + 1) {
        Ok(x) if i < 250 => IpAddr::from([192, 0, 2, x]),
        _ => IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::try_from(i).unwrap()]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_learned_on_a_send_clients_to_the_same_server_on_b() {
    let cas1 = Backend::local("cas1").await;
    let cas2 = Backend::local("cas2").await;
    let ports = (free_port(), free_port());
    let text = config(ports, "1h", Some((cas1.addr, cas2.addr)));
    let b = Node::start(&text, "lb2");
    let a = Node::start(&text, "lb1");
    // Both directions up first, so both full resyncs are empty and anything B sends later
    // would be an echo.
    eventually(Duration::from_secs(10), "both boxes connected", || {
        a.connected() && b.connected()
    })
    .await;
    let srcs: Vec<IpAddr> = (0..300).map(source).collect();
    let on_a = tags_from_all(&srcs, a.frontend.unwrap(), 16).await;
    assert!(
        on_a.iter().all(Option::is_some),
        "every client reached a CAS"
    );
    let ones = on_a.iter().filter(|t| t.as_deref() == Some("cas1")).count();
    assert!(
        (100..=200).contains(&ones),
        "round robin spreads the clients: {ones} of 300 on cas1"
    );
    eventually(Duration::from_secs(5), "B has A's 300 entries", || {
        b.len() == 300
    })
    .await;
    for s in &srcs {
        assert_eq!(b.get(*s), a.get(*s), "entry of {s}");
    }
    // Received entries are not pushed back: when B learns a client of its own, that entry
    // alone goes to A (its resync found an empty table).
    let own: IpAddr = "192.0.2.250".parse().unwrap();
    b.learn(own, 2);
    eventually(Duration::from_secs(5), "A has B's own entry", || {
        a.get(own) == Some(2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(b.stat(|s| &s.entries_sent), 1, "B echoed A's entries");
    assert_eq!(a.stat(|s| &s.entries_received), 1);
    assert_eq!(b.stat(|s| &s.entries_applied), 300);
    // Failover: the same clients through B reach the same CAS.
    let on_b = tags_from_all(&srcs, b.frontend.unwrap(), 16).await;
    let same = on_a.iter().zip(&on_b).filter(|(x, y)| x == y).count();
    assert_eq!(same, 300, "clients kept their CAS through B");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_comes_back_gets_a_full_resync() {
    let ports = (free_port(), free_port());
    let text = config(ports, "1h", None);
    // A learns while B is not there yet: its pusher retries with backoff.
    let a = Node::start(&text, "lb1");
    for i in 0..100 {
        a.learn(key(i), 1 + u32::try_from(i % 2).unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = Node::start(&text, "lb2");
    eventually(Duration::from_secs(10), "B has A's 100 entries", || {
        b.len() == 100
    })
    .await;
    assert_eq!(b.stat(|s| &s.resyncs_received), 1);
    // B goes away; A learns more; a fresh, empty B comes back on the same address.
    b.stop().await;
    for i in 100..400 {
        a.learn(key(i), 2);
    }
    let b = Node::start(&text, "lb2");
    assert_eq!(b.len(), 0);
    eventually(
        Duration::from_secs(10),
        "the new B has all 400 entries",
        || b.len() == 400,
    )
    .await;
    for i in [0, 1, 99, 100, 399] {
        assert_eq!(b.get(key(i)), a.get(key(i)), "entry {i}");
    }
    assert!(a.stat(|s| &s.resyncs_sent) >= 2);
    assert!(a.stat(|s| &s.sessions_out) >= 2);
    // Incremental updates flow again after the resync.
    a.learn(key(7), 9);
    eventually(
        Duration::from_secs(5),
        "B follows a change after the resync",
        || b.get(key(7)) == Some(9),
    )
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remaining_expiry_travels_with_each_entry() {
    let ports = (free_port(), free_port());
    let text = config(ports, "2s", None);
    let a = Node::start(&text, "lb1");
    let k: IpAddr = "192.0.2.77".parse().unwrap();
    a.learn(k, 2);
    // The entry ages on A before B exists: B must store what is left, not a fresh 2 s.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let b = Node::start(&text, "lb2");
    eventually(Duration::from_secs(3), "B has the entry", || {
        b.get(k).is_some()
    })
    .await;
    let left_a = a.expires_in(k).unwrap();
    let left_b = b.expires_in(k).unwrap();
    assert!(
        left_b <= left_a + Duration::from_millis(20),
        "B keeps it {left_b:?}, A only {left_a:?}"
    );
    assert!(
        left_b < Duration::from_millis(1100),
        "B restarted the expiry: {left_b:?}"
    );
    // Both sides let it expire at about the same time.
    tokio::time::sleep(left_a + Duration::from_millis(100)).await;
    assert_eq!(a.get(k), None);
    assert_eq!(b.get(k), None, "B kept an entry A let expire");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_later_write_wins_on_both_ends() {
    let ports = (free_port(), free_port());
    let text = config(ports, "1h", None);
    let a = Node::start(&text, "lb1");
    let b = Node::start(&text, "lb2");
    let k: IpAddr = "192.0.2.5".parse().unwrap();
    a.learn(k, 1);
    eventually(Duration::from_secs(5), "B learns k -> 1", || {
        b.get(k) == Some(1)
    })
    .await;
    // The client fails over and B sends it to server 2: A follows.
    tokio::time::sleep(Duration::from_millis(20)).await;
    b.learn(k, 2);
    eventually(Duration::from_secs(5), "A follows k -> 2", || {
        a.get(k) == Some(2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!((a.get(k), b.get(k)), (Some(2), Some(2)));
    // One entry each way, no ping-pong.
    assert_eq!(a.stat(|s| &s.entries_sent), 1);
    assert_eq!(b.stat(|s| &s.entries_sent), 1);
    a.stop().await;
    b.stop().await;
}

/// Sends `hello` to `addr`, returns the reply (if any) and whether the peer then closed.
async fn try_hello(addr: SocketAddr, first: &[u8]) -> (Option<Message>, bool) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(first).await.unwrap();
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + STEP;
    let mut reply = None;
    loop {
        let mut chunk = [0u8; 256];
        let n = match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
            Err(_) => return (reply, false),
        };
        if n == 0 {
            return (reply, true);
        }
        buf.extend_from_slice(&chunk[..n]);
        if reply.is_none()
            && let Ok(Some((m, used))) = peers::decode_stream(&buf)
        {
            reply = Some(m);
            buf.drain(..used);
            // Whatever the peer thinks of us, try to sneak an entry in.
            let mut upd = Vec::new();
            peers::encode(
                &Message::Updates(Updates {
                    table: TABLE.into(),
                    entries: vec![Update {
                        key: "192.0.2.66".parse().unwrap(),
                        server_id: 1,
                        expire: None,
                    }],
                }),
                &mut upd,
            )
            .unwrap();
            let _ = s.write_all(&upd).await;
        }
    }
}

fn hello(from: &str, major: u8) -> Vec<u8> {
    let mut v = Vec::new();
    peers::encode(
        &Message::Hello(Hello {
            major,
            minor: 0,
            from: from.into(),
            to: "lb1".into(),
            section: SECTION.into(),
        }),
        &mut v,
    )
    .unwrap();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_peers_and_garbage_are_refused_and_counted() {
    let ports = (free_port(), free_port());
    let text = config(ports, "1h", None);
    let a = Node::start(&text, "lb1");
    let addr = a.peers.listening[0].1;
    assert_eq!(addr.port(), ports.0);
    let status = |m: Option<Message>| match m {
        Some(Message::HelloReply(r)) => r.status,
        other => panic!("expected a hello reply, got {other:?}"),
    };
    let (reply, closed) = try_hello(addr, &hello("intruder", 1)).await;
    assert_eq!(status(reply), HelloStatus::UnknownPeer);
    assert!(closed, "a refused peer is disconnected");
    let (reply, closed) = try_hello(addr, &hello("lb2", 2)).await;
    assert_eq!(status(reply), HelloStatus::BadVersion);
    assert!(closed);
    let (reply, closed) = try_hello(addr, &hello("lb1", 1)).await;
    assert_eq!(status(reply), HelloStatus::UnknownPeer, "our own name");
    assert!(closed);
    let (reply, closed) = try_hello(addr, b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(reply, None);
    assert!(closed, "garbage is disconnected");
    assert_eq!(a.stat(|s| &s.refused), 4);
    assert_eq!(a.len(), 0, "nothing was applied from a refused connection");
    assert_eq!(a.stat(|s| &s.entries_received), 0);
    // The real peer is still welcome.
    let b = Node::start(&text, "lb2");
    b.learn("192.0.2.9".parse().unwrap(), 2);
    eventually(Duration::from_secs(5), "A learns from B", || a.len() == 1).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_section_without_the_local_peer_is_refused() {
    let text = config((free_port(), free_port()), "1h", None);
    let cfg = Arc::new(support::parse(&text));
    let proxy = proxyd::Proxy::bind(cfg.clone()).unwrap();
    let err =
        proxyd::peers::start(&cfg, "vm", proxy.current(), CancellationToken::new()).unwrap_err();
    assert!(matches!(err, PeersError::NoLocalPeer { .. }));
    assert_eq!(
        err.to_string(),
        "peers section 'lbpair' has no peer named 'vm'; its peers are: lb1, lb2"
    );
    assert_eq!(proxyd::peers::local_name(Some("lb2"), &cfg), "lb2");
}

/// Replication lag on loopback, entry learned on A → visible in B's table: median and p99 of
/// 1,000 single learns one after the other, then of a burst of 1,000 learns. Not a test: run
/// with `cargo test -p proxyd --test peers -- --ignored --nocapture` (docs/benchmarks.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement"]
async fn replication_lag() {
    let ports = (free_port(), free_port());
    let text = config(ports, "1h", None);
    let a = Node::start(&text, "lb1");
    let b = Node::start(&text, "lb2");
    eventually(Duration::from_secs(10), "both connected", || {
        a.connected() && b.connected()
    })
    .await;
    let table = b.table().table.clone();
    // A thread polls B's table every 20 µs so the observation does not wait for a timer tick.
    let watch = |keys: Vec<IpAddr>, t0: Instant| {
        let table = table.clone();
        std::thread::spawn(move || {
            let mut seen = vec![None; keys.len()];
            let limit = t0 + Duration::from_secs(10);
            while seen.iter().any(Option::is_none) && proxyd::state::now() < limit {
                {
                    let t = table.lock().unwrap();
                    for (i, k) in keys.iter().enumerate() {
                        if seen[i].is_none() && t.peek(*k).is_some() {
                            seen[i] = Some(proxyd::state::now());
                        }
                    }
                }
                std::thread::sleep(Duration::from_micros(20));
            }
            seen
        })
    };
    let mut single = Vec::new();
    for i in 0..1000 {
        let k = key(i);
        let t0 = proxyd::state::now();
        let w = watch(vec![k], t0);
        a.learn(k, 1);
        let seen = tokio::task::spawn_blocking(move || w.join().unwrap())
            .await
            .unwrap();
        single.push(seen[0].expect("entry replicated") - t0);
    }
    let keys: Vec<IpAddr> = (0..1000)
        .map(|i| IpAddr::from([0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::try_from(i).unwrap()]))
        .collect();
    let t0 = proxyd::state::now();
    let w = watch(keys.clone(), t0);
    let mut learned = Vec::new();
    for k in &keys {
        learned.push(proxyd::state::now());
        a.learn(*k, 2);
    }
    let seen = tokio::task::spawn_blocking(move || w.join().unwrap())
        .await
        .unwrap();
    let mut burst: Vec<Duration> = seen
        .iter()
        .zip(&learned)
        .map(|(s, l)| s.expect("entry replicated").saturating_duration_since(*l))
        .collect();
    let pct = |v: &mut Vec<Duration>, p: usize| {
        v.sort();
        v[(v.len() * p / 100).min(v.len() - 1)]
    };
    println!(
        "replication lag, 1000 single learns: median {:?}, p99 {:?}, max {:?}",
        pct(&mut single, 50),
        pct(&mut single, 99),
        single.last().unwrap()
    );
    println!(
        "replication lag, burst of 1000 learns: median {:?}, p99 {:?}, max {:?}",
        pct(&mut burst, 50),
        pct(&mut burst, 99),
        burst.last().unwrap()
    );
    a.stop().await;
    b.stop().await;
}

//! Hitless reload in the running process (issue 5): established connections are untouched,
//! new ones never fail, listeners are kept, added and closed, and what an operator set
//! (operator states, weights) carries over.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use proxyd::state::Admin;
use support::{Backend, DEFAULTS, STEP, parse};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A port nobody listens on right now (bound then released by the OS).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Generation `i` of the configuration: the weights and the client timeout change every time,
/// odd generations add a second listener and a third server.
fn config(i: u32, port: u16, port2: u16, a: SocketAddr, b: SocketAddr, c: SocketAddr) -> String {
    let mut text = format!(
        "{DEFAULTS}frontend fe\n bind 127.0.0.1:{port}\n timeout client {}s\n default_backend be\n",
        30 + i
    );
    if i % 2 == 1 {
        text.push_str(&format!(" bind 127.0.0.1:{port2}\n"));
    }
    text.push_str(&format!(
        "backend be\n balance roundrobin\n server a {a} weight {}\n server b {b} weight 10\n",
        10 + i
    ));
    if i % 2 == 1 {
        text.push_str(&format!(" server c {c} weight 5\n"));
    }
    text
}

/// Connects through the proxy, reads the backend's tag line and checks an echo.
async fn one_exchange(addr: SocketAddr, payload: &[u8]) -> Result<String, String> {
    let s = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let mut r = BufReader::new(s);
    let mut tag = String::new();
    tokio::time::timeout(STEP, r.read_line(&mut tag))
        .await
        .map_err(|_| "no tag".to_string())?
        .map_err(|e| format!("tag: {e}"))?;
    if tag.is_empty() {
        return Err("closed before the tag".into());
    }
    r.get_mut()
        .write_all(payload)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut back = vec![0u8; payload.len()];
    tokio::time::timeout(STEP, r.read_exact(&mut back))
        .await
        .map_err(|_| "no echo".to_string())?
        .map_err(|e| format!("echo: {e}"))?;
    if back != payload {
        return Err("echo differs".into());
    }
    Ok(tag.trim().to_string())
}

/// An established connection kept open across the reloads.
struct LongLived {
    stream: BufReader<TcpStream>,
}

impl LongLived {
    async fn open(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut stream = BufReader::new(s);
        let mut tag = String::new();
        tokio::time::timeout(STEP, stream.read_line(&mut tag))
            .await
            .unwrap()
            .unwrap();
        assert!(!tag.is_empty());
        LongLived { stream }
    }

    async fn echo(&mut self, payload: &[u8]) -> Result<(), String> {
        self.stream
            .get_mut()
            .write_all(payload)
            .await
            .map_err(|e| e.to_string())?;
        let mut back = vec![0u8; payload.len()];
        tokio::time::timeout(STEP, self.stream.read_exact(&mut back))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        (back == payload)
            .then_some(())
            .ok_or_else(|| "echo differs".into())
    }
}

async fn reload(
    tx: &tokio::sync::mpsc::Sender<proxyd::ReloadRequest>,
    text: &str,
) -> Result<proxyd::ReloadReport, proxyd::Error> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    tx.send(proxyd::ReloadRequest {
        config: Arc::new(parse(text)),
        reply,
    })
    .await
    .unwrap();
    tokio::time::timeout(STEP, answer).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_reloads_under_load_lose_nothing() {
    let (a, b, c) = (
        Backend::local("a").await,
        Backend::local("b").await,
        Backend::local("c").await,
    );
    let (port, port2) = (free_port(), free_port());
    let conf = |i| config(i, port, port2, a.addr, b.addr, c.addr);
    let proxy = proxyd::Proxy::bind(Arc::new(parse(&conf(0)))).unwrap();
    let current = proxy.current();
    let shutdown = proxyd::Shutdown::new();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(proxy.serve_with_reloads(shutdown.clone(), Some(rx)));
    let front = SocketAddr::from(([127, 0, 0, 1], port));

    // 200 established connections that must survive every reload untouched.
    let mut long = Vec::new();
    for _ in 0..200 {
        long.push(LongLived::open(front).await);
    }
    // The operator drains b: that must survive the reloads too.
    current
        .borrow()
        .server("be", "b")
        .unwrap()
        .set_admin(Admin::Drain);

    // A stream of new connections, one after the other, for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for k in 0..2u8 {
        let (stop, ok, failed, errors) = (stop.clone(), ok.clone(), failed.clone(), errors.clone());
        clients.push(tokio::spawn(async move {
            let mut n = 0u32;
            // Bounded: at most 100,000 exchanges even if the stop flag never came.
            while !stop.load(Ordering::SeqCst) && n < 100_000 {
                n += 1;
                match one_exchange(front, &[k; 32]).await {
                    Ok(tag) if tag != "b" => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(tag) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        errors
                            .lock()
                            .unwrap()
                            .push(format!("drained server b got {tag}"));
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        errors.lock().unwrap().push(e);
                    }
                }
            }
        }));
    }

    for i in 1..=10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let report = reload(&tx, &conf(i)).await.unwrap();
        // The main listener is always carried over; the second one comes and goes.
        assert!(report.kept >= 1, "{report:?}");
        if i % 2 == 1 {
            assert_eq!(report.bound, 1, "generation {i}: {report:?}");
            one_exchange(SocketAddr::from(([127, 0, 0, 1], port2)), b"second")
                .await
                .unwrap_or_else(|e| panic!("generation {i}: new listener: {e}"));
        } else {
            assert_eq!(report.closed, 1, "generation {i}: {report:?}");
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }

    let errors = errors.lock().unwrap().clone();
    assert_eq!(failed.load(Ordering::SeqCst), 0, "{errors:?}");
    assert!(
        ok.load(Ordering::SeqCst) >= 100,
        "only {} exchanges",
        ok.load(Ordering::SeqCst)
    );
    for (i, l) in long.iter_mut().enumerate() {
        l.echo(b"still here")
            .await
            .unwrap_or_else(|e| panic!("long-lived connection {i}: {e}"));
    }
    // The last generation has no second listener; the operator's drain and the configured
    // weight of the last file are in force.
    assert!(TcpStream::connect(("127.0.0.1", port2)).await.is_err());
    let g = current.borrow().clone();
    assert_eq!(g.server("be", "b").unwrap().admin(), Admin::Drain);
    assert_eq!(
        g.server("be", "a").unwrap().weight.load(Ordering::SeqCst),
        20
    );
    assert!(g.server("be", "c").is_none());
    // The 200 connections are still counted on the servers they use (states are shared).
    let conns: u32 = ["a", "b"]
        .iter()
        .map(|s| g.server("be", s).unwrap().conns.load(Ordering::SeqCst))
        .sum();
    assert_eq!(conns, 200);

    drop(long);
    shutdown.hard.cancel();
    tokio::time::timeout(STEP, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_cannot_bind_changes_nothing() {
    let a = Backend::local("a").await;
    let port = free_port();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let conf = |extra: &str| {
        format!(
            "{DEFAULTS}frontend fe\n bind 127.0.0.1:{port}\n{extra} default_backend be\nbackend be\n server a {} weight 7\n",
            a.addr
        )
    };
    let proxy = proxyd::Proxy::bind(Arc::new(parse(&conf("")))).unwrap();
    let current = proxy.current();
    let shutdown = proxyd::Shutdown::new();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let task = tokio::spawn(proxy.serve_with_reloads(shutdown.clone(), Some(rx)));
    let before = current.borrow().clone();

    // Another process holds `busy` without SO_REUSEADDR semantics that would let us share it.
    let bad = conf(&format!(" bind 127.0.0.1:{busy}\n"));
    let err = reload(&tx, &bad.replace("weight 7", "weight 9"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&busy.to_string()), "{err}");
    // Nothing changed: same generation, still serving.
    assert!(Arc::ptr_eq(&before, &current.borrow()));
    assert_eq!(
        before
            .server("be", "a")
            .unwrap()
            .weight
            .load(Ordering::SeqCst),
        7
    );
    one_exchange(SocketAddr::from(([127, 0, 0, 1], port)), b"alive")
        .await
        .unwrap();
    drop(taken);
    shutdown.hard.cancel();
    tokio::time::timeout(STEP, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Polls `f` every 20 ms for at most [`STEP`].
async fn within_step(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..250 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The binary: SIGHUP applies a changed file in the same process and refuses an invalid one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_running_process() {
    let a = Backend::local("a").await;
    let (port, port2) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("proxyd-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("haproxy.cfg");
    let conf = |extra: &str| {
        format!(
            "{DEFAULTS}frontend fe\n bind 127.0.0.1:{port}\n{extra} default_backend be\nbackend be\n server a {}\n",
            a.addr
        )
    };
    std::fs::write(&file, conf("")).unwrap();
    let log = dir.join("stderr");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_proxyd"))
        .args(["-db", "--liveness-socket", "none", "-f"])
        .arg(&file)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let front = SocketAddr::from(([127, 0, 0, 1], port));
    let second = SocketAddr::from(([127, 0, 0, 1], port2));
    within_step("proxyd to serve", async || {
        one_exchange(front, b"x").await.is_ok()
    })
    .await;
    let mut kept = LongLived::open(front).await;

    std::fs::write(&file, conf(&format!(" bind 127.0.0.1:{port2}\n"))).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    within_step("the added listener to serve", async || {
        one_exchange(second, b"y").await.is_ok()
    })
    .await;
    kept.echo(b"after reload").await.unwrap();

    std::fs::write(&file, "frontend broken\n bind nonsense\n").unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    within_step("the refusal in the log", async || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("reload: configuration invalid")
    })
    .await;
    one_exchange(front, b"z").await.unwrap();
    one_exchange(second, b"z").await.unwrap();
    kept.echo(b"after refusal").await.unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "one process, still running"
    );

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plain HTTP/1.0 GET; the status line and body.
async fn http_get(addr: SocketAddr, path: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut out = String::new();
    tokio::time::timeout(STEP, s.read_to_string(&mut out))
        .await
        .ok()?
        .ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// One runtime API command over the Unix socket; the answer.
async fn api(path: &std::path::Path, cmd: &str) -> Option<String> {
    let mut s = tokio::net::UnixStream::connect(path).await.ok()?;
    s.write_all(format!("{cmd}\n").as_bytes()).await.ok()?;
    let mut out = String::new();
    tokio::time::timeout(STEP, s.read_to_string(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(out)
}

/// The binary serves its stats listener and runtime API socket from the start, and a reload
/// that changes the stats URI restarts the listener on the new one; the API sees the new
/// generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_stats_and_api_across_a_reload() {
    let a = Backend::local("a").await;
    let (port, stats_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("proxyd-services-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("api.sock");
    let file = dir.join("haproxy.cfg");
    let conf = |uri: &str, weight: u32| {
        format!(
            "global\n stats socket {} mode 600 level admin\n{DEFAULTS}frontend fe\n bind 127.0.0.1:{port}\n default_backend be\nbackend be\n server a {} weight {weight}\nlisten stats\n bind 127.0.0.1:{stats_port}\n mode http\n stats enable\n stats uri {uri}\n",
            sock.display(),
            a.addr
        )
    };
    std::fs::write(&file, conf("/stats", 10)).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_proxyd"))
        .args(["-db", "--liveness-socket", "none", "-f"])
        .arg(&file)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let stats = SocketAddr::from(([127, 0, 0, 1], stats_port));
    within_step("the stats CSV", async || {
        http_get(stats, "/stats;csv")
            .await
            .is_some_and(|(status, body)| status.contains("200") && body.starts_with("# pxname"))
    })
    .await;
    let weight = api(&sock, "get weight be/a").await.unwrap();
    assert!(weight.starts_with("10 (initial 10)"), "{weight:?}");

    std::fs::write(&file, conf("/lb", 20)).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    within_step("the stats page on its new URI", async || {
        http_get(stats, "/lb;csv")
            .await
            .is_some_and(|(status, _)| status.contains("200"))
    })
    .await;
    within_step("the API to see the new weight", async || {
        api(&sock, "get weight be/a")
            .await
            .is_some_and(|w| w.starts_with("20 (initial 20)"))
    })
    .await;

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

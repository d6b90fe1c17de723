//! Health checks against real servers on 127.0.0.1 started by each test: TCP, HTTP(S),
//! TLS hello (TLS-1.2-only server, as hardened IIS), SMTP (hand-written and aiosmtpd), tcp-check
//! scripts, and the checker's rise/fall transitions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::Duration;

use lbcore::balance::HealthState;
use lbcore::config::proxy::{ExpectKind, HealthCheck, TcpCheckStep};
use proxyd::check::{
    CheckSpec, Peer, ServerCheck, Status, TlsCheck, UsableFlag, first_check_offset, preflight,
    run_check, spawn_checker,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(2);

fn owa() -> HealthCheck {
    HealthCheck::Http {
        method: "GET".into(),
        uri: "/owa/healthcheck.htm".into(),
        version: "HTTP/1.0".into(),
        headers: vec![],
        body: String::new(),
        expect: vec![],
    }
}

async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// An address nobody listens on.
async fn closed_port() -> SocketAddr {
    let (_l, a) = listener().await;
    a
}

/// A TLS-1.2-only acceptor with a fresh self-signed certificate.
fn tls12_acceptor() -> TlsAcceptor {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(ck.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        ck.key_pair.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// Serves HTTP: answers `status` (read at each request) and records the request line.
async fn http_conn<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    status: Arc<AtomicU16>,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
) {
    let mut r = BufReader::new(s);
    let mut first = String::new();
    if r.read_line(&mut first).await.is_err() {
        return;
    }
    seen.lock().unwrap().push(first.trim_end().to_owned());
    let mut line = String::new();
    while r.read_line(&mut line).await.map(|n| n > 2).unwrap_or(false) {
        line.clear();
    }
    let code = status.load(Ordering::SeqCst);
    let reason = match code {
        200 => "OK",
        302 => "Found",
        503 => "Service Unavailable",
        _ => "Other",
    };
    let resp = format!("HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\n\r\n");
    let _ = r.get_mut().write_all(resp.as_bytes()).await;
    let _ = r.get_mut().shutdown().await;
}

type Seen = Arc<std::sync::Mutex<Vec<String>>>;

async fn http_server(code: u16, tls: Option<TlsAcceptor>) -> (SocketAddr, Arc<AtomicU16>, Seen) {
    let (l, a) = listener().await;
    let status = Arc::new(AtomicU16::new(code));
    let seen: Seen = Arc::default();
    let (st, se) = (status.clone(), seen.clone());
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (st, se, tls) = (st.clone(), se.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acc) => {
                        if let Ok(s) = acc.accept(s).await {
                            http_conn(s, st, se).await;
                        }
                    }
                    None => http_conn(s, st, se).await,
                }
            });
        }
    });
    (a, status, seen)
}

/// Accepts and holds connections without ever answering.
async fn silent_server() -> SocketAddr {
    let (l, a) = listener().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    a
}

/// A tiny SMTP server answering `banner`, then 250 to HELO; records the commands.
async fn smtp_server(banner: &'static str) -> (SocketAddr, Seen) {
    let (l, a) = listener().await;
    let seen: Seen = Arc::default();
    let se = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let se = se.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(s);
                r.get_mut().write_all(banner.as_bytes()).await.unwrap();
                let mut line = String::new();
                for _ in 0..4 {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        break;
                    }
                    se.lock().unwrap().push(line.trim_end().to_owned());
                    let reply: &[u8] = if line.starts_with("QUIT") {
                        b"221 bye\r\n"
                    } else {
                        b"250-mx.example.org\r\n250 HELP\r\n"
                    };
                    let _ = r.get_mut().write_all(reply).await;
                }
            });
        }
    });
    (a, seen)
}

#[tokio::test]
async fn tcp_connect_passes_and_refused_is_l4con() {
    let (_l, a) = listener().await;
    let r = run_check(&HealthCheck::Tcp, a, None, T).await;
    assert_eq!(r.status, Status::L4Ok);
    assert!(r.passed());
    let r = run_check(&HealthCheck::Tcp, closed_port().await, None, T).await;
    assert_eq!(r.status, Status::L4Con);
    assert_eq!(r.info, "Connection refused");
    assert!(!r.passed());
}

#[tokio::test]
async fn http_owa_statuses() {
    let (a, status, seen) = http_server(200, None).await;
    let r = run_check(&owa(), a, None, T).await;
    assert_eq!((r.status, r.code), (Status::L7Ok, Some(200)));
    assert_eq!(seen.lock().unwrap()[0], "GET /owa/healthcheck.htm HTTP/1.0");

    status.store(302, Ordering::SeqCst);
    assert_eq!(run_check(&owa(), a, None, T).await.status, Status::L7Ok);
    let strict = http_check_from_cfg(
        "option httpchk GET /owa/healthcheck.htm\n  http-check expect status 200",
    );
    let r = run_check(&strict, a, None, T).await;
    assert_eq!((r.status, r.code), (Status::L7Sts, Some(302)));

    status.store(503, Ordering::SeqCst);
    let r = run_check(&owa(), a, None, T).await;
    assert_eq!((r.status, r.code), (Status::L7Sts, Some(503)));
    assert_eq!(r.info, "Service Unavailable");

    assert_eq!(
        run_check(&owa(), closed_port().await, None, T).await.status,
        Status::L4Con
    );
}

#[tokio::test]
async fn http_garbage_is_l7rsp_and_silence_is_l7tout() {
    let (l, a) = listener().await;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut b = [0u8; 256];
            let _ = s.read(&mut b).await;
            let _ = s.write_all(b"SSH-2.0-OpenSSH\r\n").await;
        }
    });
    assert_eq!(run_check(&owa(), a, None, T).await.status, Status::L7Rsp);
    let silent = silent_server().await;
    let r = run_check(&owa(), silent, None, Duration::from_millis(200)).await;
    assert_eq!(r.status, Status::L7Tout);
    assert!(r.duration >= Duration::from_millis(200) && r.duration < Duration::from_secs(2));
}

#[tokio::test]
async fn https_check_ssl_verify_none_against_tls12_only_server() {
    let (a, _status, seen) = http_server(200, Some(tls12_acceptor())).await;
    let tls = TlsCheck::insecure();
    let r = run_check(&owa(), a, Some(&tls), T).await;
    assert_eq!((r.status, r.code), (Status::L7Ok, Some(200)));
    assert_eq!(seen.lock().unwrap()[0], "GET /owa/healthcheck.htm HTTP/1.0");
    // Plain TCP check with check-ssl is a handshake: L6OK.
    assert_eq!(
        run_check(&HealthCheck::Tcp, a, Some(&tls), T).await.status,
        Status::L6Ok
    );
    // verify required without a CA that signed the cert: handshake refused.
    let strict = TlsCheck::verified(rustls::RootCertStore::empty(), None, None);
    assert_eq!(
        run_check(&owa(), a, Some(&strict), T).await.status,
        Status::L6Rsp
    );
}

#[tokio::test]
async fn ssl_hello_chk_accepted_by_tls12_only_server_and_fails_otherwise() {
    let (a, _, _) = http_server(200, Some(tls12_acceptor())).await;
    let r = run_check(&HealthCheck::SslHello, a, None, T).await;
    assert_eq!(r.status, Status::L6Ok, "{r:?}");
    // A plain HTTP server does not answer a ClientHello with a ServerHello.
    let (plain, _, _) = http_server(200, None).await;
    assert_eq!(
        run_check(&HealthCheck::SslHello, plain, None, T)
            .await
            .status,
        Status::L6Rsp
    );
    let silent = silent_server().await;
    let r = run_check(
        &HealthCheck::SslHello,
        silent,
        None,
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(r.status, Status::L6Tout);
    assert_eq!(
        run_check(&HealthCheck::SslHello, closed_port().await, None, T)
            .await
            .status,
        Status::L4Con
    );
}

fn smtpchk() -> HealthCheck {
    HealthCheck::Smtp {
        verb: "HELO".into(),
        domain: "lb.example.org".into(),
    }
}

#[tokio::test]
async fn smtp_banner_helo_quit() {
    let (a, seen) = smtp_server("220 mx.example.org ESMTP\r\n").await;
    let r = run_check(&smtpchk(), a, None, T).await;
    assert_eq!((r.status, r.code), (Status::L7Ok, Some(250)));
    // Let the server read QUIT.
    for _ in 0..100 {
        if seen.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*seen.lock().unwrap(), vec!["HELO lb.example.org", "QUIT"]);

    let (bad, _) = smtp_server("554 go away\r\n").await;
    let r = run_check(&smtpchk(), bad, None, T).await;
    assert_eq!((r.status, r.code), (Status::L7Sts, Some(554)));
    let silent = silent_server().await;
    let r = run_check(&smtpchk(), silent, None, Duration::from_millis(200)).await;
    assert_eq!(r.status, Status::L7Tout);
}

#[tokio::test]
async fn smtp_against_aiosmtpd() {
    let port = closed_port().await.port();
    let child = std::process::Command::new("/usr/bin/python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("python3 -m aiosmtpd not runnable");
        }
        eprintln!("SKIP: python3 -m aiosmtpd not runnable");
        return;
    };
    let a: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut ok = None;
    // Bounded: up to 5 s for the server to come up.
    for _ in 0..50 {
        if TcpStream::connect(a).await.is_ok() {
            ok = Some(run_check(&smtpchk(), a, None, T).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let r = ok.expect("aiosmtpd did not start");
    assert_eq!((r.status, r.code), (Status::L7Ok, Some(250)), "{r:?}");
}

#[tokio::test]
async fn tcp_check_scripts() {
    let (a, _) = smtp_server("220 mx.example.org ESMTP\r\n").await;
    let script = |pat: &str, kind, negated| {
        HealthCheck::TcpCheck(vec![
            TcpCheckStep::Expect {
                negated: false,
                kind: ExpectKind::Rstring,
                pattern: b"^220 ".to_vec(),
            },
            TcpCheckStep::Send(b"HELO lb\r\n".to_vec()),
            TcpCheckStep::Expect {
                negated,
                kind,
                pattern: pat.as_bytes().to_vec(),
            },
            TcpCheckStep::Send(b"QUIT\r\n".to_vec()),
        ])
    };
    let r = run_check(&script("250 HELP", ExpectKind::String, false), a, None, T).await;
    assert_eq!(r.status, Status::L7Ok, "{r:?}");
    let r = run_check(&script("^250-mx", ExpectKind::Rstring, false), a, None, T).await;
    assert_eq!(r.status, Status::L7Ok, "{r:?}");
    let r = run_check(&script("554", ExpectKind::String, true), a, None, T).await;
    assert_eq!(r.status, Status::L7Ok, "{r:?}");
    let r = run_check(&script("250", ExpectKind::String, true), a, None, T).await;
    assert_eq!(r.status, Status::L7Rsp, "{r:?}");
    // Expected content never comes: the server keeps the line open, so it times out.
    let short = Duration::from_millis(300);
    let r = run_check(&script("NOPE", ExpectKind::String, false), a, None, short).await;
    assert_eq!(r.status, Status::L7Tout, "{r:?}");
    // Explicit connect to another port first.
    let (_l, other) = listener().await;
    let explicit = HealthCheck::TcpCheck(vec![TcpCheckStep::Connect {
        port: Some(other.port()),
        ssl: false,
    }]);
    let r = run_check(&explicit, closed_port().await, None, T).await;
    assert_eq!(r.status, Status::L4Ok);
}

#[test]
fn first_check_offset_is_deterministic_and_within_inter() {
    let inter = Duration::from_secs(2);
    let offs: Vec<_> = (1..=20)
        .map(|id| first_check_offset("be", id, inter))
        .collect();
    assert!(offs.iter().all(|o| *o < inter));
    assert_eq!(
        offs,
        (1..=20)
            .map(|id| first_check_offset("be", id, inter))
            .collect::<Vec<_>>()
    );
    let distinct: std::collections::HashSet<_> = offs.iter().collect();
    assert!(distinct.len() >= 18, "offsets not spread: {offs:?}");
}

fn spec(target: SocketAddr, inter: Duration, rise: u32, fall: u32) -> CheckSpec {
    CheckSpec {
        backend: "owa".into(),
        server: "cas1".into(),
        id: 1,
        target,
        kind: owa(),
        tls: None,
        timeout: Duration::from_millis(500),
        inter,
        fastinter: inter,
        downinter: inter,
        rise,
        fall,
        backup: false,
    }
}

/// Polls `state` until `want` is reached, recording every distinct state seen (bounded).
async fn watch_states(state: &ServerCheck, want: HealthState) -> Vec<HealthState> {
    let mut seen = vec![state.state()];
    for _ in 0..2000 {
        let s = state.state();
        if *seen.last().unwrap() != s {
            seen.push(s);
        }
        if s == want {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("never reached {want}: {seen:?}");
}

#[tokio::test]
async fn checker_goes_down_after_fall_and_up_after_rise() {
    let (a, status, _) = http_server(200, None).await;
    let inter = Duration::from_millis(60);
    let sp = spec(a, inter, 2, 3);
    let flag: Arc<AtomicBool> = Arc::new(AtomicBool::new(true));
    let state = ServerCheck::new(&sp, flag.clone());
    let mut up_rx = state.subscribe();
    let peers = vec![Peer {
        backup: false,
        usable: flag.clone(),
    }];
    let stop = CancellationToken::new();
    let task = spawn_checker(sp, state.clone(), peers, stop.clone());

    // Starts UP "going down" (health = rise): one success makes it fully UP.
    let seen = watch_states(&state, HealthState::Up).await;
    assert!(flag.get());

    status.store(503, Ordering::SeqCst);
    let t0 = tokio::time::Instant::now();
    let seen_down = watch_states(&state, HealthState::Down).await;
    let took = t0.elapsed();
    assert_eq!(
        seen_down,
        vec![
            HealthState::Up,
            HealthState::GoingDown {
                remaining: 2,
                fall: 3
            },
            HealthState::GoingDown {
                remaining: 1,
                fall: 3
            },
            HealthState::Down,
        ],
        "before: {seen:?}"
    );
    // Three failures: the last at least 2×inter after the first.
    assert!(took >= inter * 2, "down after {took:?}");
    assert!(!flag.get());
    assert!(!*up_rx.borrow_and_update());
    let last = state.last().unwrap();
    assert_eq!((last.status, last.code), (Status::L7Sts, Some(503)));

    status.store(200, Ordering::SeqCst);
    let seen_up = watch_states(&state, HealthState::Up).await;
    assert_eq!(
        seen_up,
        vec![
            HealthState::Down,
            HealthState::GoingUp {
                successes: 1,
                rise: 2
            },
            HealthState::Up
        ]
    );
    assert!(flag.get());
    up_rx.changed().await.unwrap();
    assert!(*up_rx.borrow());

    stop.cancel();
    tokio::time::timeout(T, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn checker_connection_refused_goes_down_and_transition_line() {
    let addr = closed_port().await;
    let sp = spec(addr, Duration::from_millis(30), 2, 2);
    let flag: Arc<AtomicBool> = Arc::new(AtomicBool::new(true));
    let state = ServerCheck::new(&sp, flag.clone());
    let stop = CancellationToken::new();
    let other: Arc<AtomicBool> = Arc::new(AtomicBool::new(true));
    let peers = vec![
        Peer {
            backup: false,
            usable: flag.clone(),
        },
        Peer {
            backup: true,
            usable: other.clone(),
        },
    ];
    let task = spawn_checker(sp.clone(), state.clone(), peers.clone(), stop.clone());
    watch_states(&state, HealthState::Down).await;
    assert!(!flag.get());
    let last = state.last().unwrap();
    let line = proxyd::check::transition_line(
        &sp,
        &state,
        lbcore::balance::Transition::Down,
        &last,
        &peers,
    );
    let want = format!(
        "Server owa/cas1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: {}ms. 0 active and 1 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        last.duration.as_millis()
    );
    assert_eq!(line, want);
    stop.cancel();
    tokio::time::timeout(T, task).await.unwrap().unwrap();
}

#[test]
fn spec_from_server_honours_check_port_and_addr() {
    let text = "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1m\n    timeout server 1m\n\
backend be\n    option httpchk GET /owa/healthcheck.htm\n    timeout check 4s\n\
    server cas1 192.0.2.11 check port 135 addr 192.0.2.99 inter 3s rise 4 fall 5 check-ssl verify none\n\
    server cas2 192.0.2.12\n";
    let (cfg, diags) = lbcore::config::haproxy::parse_str(
        text,
        std::path::Path::new("t.cfg"),
        &Default::default(),
    );
    let cfg = cfg.unwrap_or_else(|| panic!("{diags:?}"));
    let be = cfg.backend("be").unwrap();
    let sp =
        CheckSpec::from_server("be", &be.servers[0], &be.health_check, be.timeout_check).unwrap();
    assert_eq!(sp.target, "192.0.2.99:135".parse().unwrap());
    assert_eq!((sp.inter, sp.rise, sp.fall), (Duration::from_secs(3), 4, 5));
    assert_eq!(sp.timeout, Duration::from_secs(4));
    assert!(sp.tls.is_some());
    assert_eq!(sp.kind, owa());
    // No service port and no check port: refused, as HAProxy does.
    assert!(CheckSpec::from_server("be", &be.servers[1], &be.health_check, None).is_err());
}

/// Polls `f` every 5 ms for up to 5 s.
async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

#[tokio::test]
async fn spawn_all_drives_shared_usable_flags() {
    let (live, status, _) = http_server(200, None).await;
    let dead = closed_port().await;
    let text = format!(
        "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1m\n    timeout server 1m\n\
backend owa\n    option httpchk GET /owa/healthcheck.htm\n\
    server cas1 {live} check inter 40ms rise 2 fall 2\n\
    server cas2 {dead} check inter 40ms rise 2 fall 2\n\
    server cas3 {dead}\n"
    );
    let (cfg, diags) = lbcore::config::haproxy::parse_str(
        &text,
        std::path::Path::new("t.cfg"),
        &Default::default(),
    );
    let cfg = Arc::new(cfg.unwrap_or_else(|| panic!("{diags:?}")));
    let shared = Arc::new(proxyd::Shared::new(cfg));
    let stop = CancellationToken::new();
    let checkers = proxyd::check::spawn_all(&shared, &stop);
    // cas3 has no `check`: no checker, stays usable.
    assert_eq!(checkers.len(), 2);
    let usable = |i: usize| shared.backends[0].servers[i].usable.load(Ordering::Acquire);
    assert!(eventually(|| !usable(1)).await, "cas2 never went DOWN");
    assert!(usable(0) && usable(2));
    let mut down_rx = checkers[0].state.subscribe();
    status.store(503, Ordering::SeqCst);
    assert!(eventually(|| !usable(0)).await, "cas1 never went DOWN");
    down_rx.changed().await.unwrap();
    assert!(!*down_rx.borrow());
    stop.cancel();
    for c in checkers {
        tokio::time::timeout(T, c.task).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn connect_timeout_is_l4tout() {
    // A listener never accepting, with its accept queue filled: Linux drops further SYNs, so a
    // connect neither succeeds nor fails before the check's timeout.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    let sock = socket2::Socket::from(l);
    sock.listen(0).unwrap();
    let mut held = Vec::new();
    let mut hung = false;
    // Bounded: at most 16 fillers.
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(a)).await {
            Ok(Ok(s)) => held.push(s),
            _ => {
                hung = true;
                break;
            }
        }
    }
    assert!(hung, "accept queue never filled");
    let r = run_check(&HealthCheck::Tcp, a, None, Duration::from_millis(200)).await;
    assert_eq!(r.status, Status::L4Tout, "{r:?}");
    drop(sock);
}

/// Parses a backend with `lines` (after `backend be`) and returns its health check.
fn http_check_from_cfg(lines: &str) -> HealthCheck {
    let text = format!(
        "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend be\n  {lines}\n  server s 192.0.2.1:80 check\n"
    );
    let (cfg, d) = lbcore::config::haproxy::parse_str(
        &text,
        std::path::Path::new("t.cfg"),
        &Default::default(),
    );
    assert!(d.is_empty(), "{d}");
    cfg.unwrap().backends[0].health_check.clone()
}

/// Serves one fixed HTTP answer (`head` then `body`) per connection and records each request.
async fn fixed_http_server(head: String, body: Vec<u8>) -> (SocketAddr, Seen) {
    let (l, a) = listener().await;
    let seen: Seen = Arc::default();
    let se = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (se, head, body) = (se.clone(), head.clone(), body.clone());
            tokio::spawn(async move {
                let mut r = BufReader::new(s);
                let mut req = String::new();
                let mut line = String::new();
                // Bounded: a check request has a handful of lines.
                for _ in 0..32 {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    req.push_str(&line);
                }
                se.lock().unwrap().push(req);
                let s = r.get_mut();
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (a, seen)
}

fn answer(code: u16, reason: &str, body: &str) -> (String, Vec<u8>) {
    (
        format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
        body.as_bytes().to_vec(),
    )
}

#[tokio::test]
async fn http_check_expect_status_and_rstatus() {
    let (h, b) = answer(302, "Found", "");
    let (found, _) = fixed_http_server(h, b).await;
    let (h, b) = answer(503, "Service Unavailable", "");
    let (down, _) = fixed_http_server(h, b).await;
    let run = |cfg: &'static str, a: SocketAddr| async move {
        let c = http_check_from_cfg(&format!("option httpchk GET /owa/healthcheck.htm\n  {cfg}"));
        let r = run_check(&c, a, None, T).await;
        (r.status, r.code, r.info)
    };
    let sts = |code: u16, info: &str| (Status::L7Sts, Some(code), info.to_owned());
    let ok = |code: u16, info: &str| (Status::L7Ok, Some(code), info.to_owned());
    assert_eq!(
        run("http-check expect status 200", found).await,
        sts(302, "Found")
    );
    assert_eq!(
        run("http-check expect status 200,301-302", found).await,
        ok(302, "Found")
    );
    assert_eq!(
        run("http-check expect ! status 503", found).await,
        ok(302, "Found")
    );
    assert_eq!(
        run("http-check expect ! status 500-599", down).await,
        sts(503, "Service Unavailable")
    );
    assert_eq!(
        run("http-check expect rstatus ^3", found).await,
        ok(302, "Found")
    );
    assert_eq!(
        run("http-check expect rstatus ^(2|3)", down).await,
        sts(503, "Service Unavailable")
    );
    // Several rules: all must pass, the first failing one decides.
    assert_eq!(
        run(
            "http-check expect rstatus ^3\n  http-check expect status 301",
            found
        )
        .await,
        sts(302, "Found")
    );
}

#[tokio::test]
async fn http_check_expect_string_and_rstring_on_the_body() {
    let (h, b) = answer(200, "OK", "<html><body>Exchange OWA healthy</body></html>");
    let (page, _) = fixed_http_server(h, b).await;
    let (h, b) = answer(200, "OK", "");
    let (empty, _) = fixed_http_server(h, b).await;
    let run = |cfg: &'static str, a: SocketAddr| async move {
        let c = http_check_from_cfg(&format!("option httpchk GET /owa/healthcheck.htm\n  {cfg}"));
        let r = run_check(&c, a, None, T).await;
        (r.status, r.info)
    };
    let rsp = |info: &str| (Status::L7Rsp, info.to_owned());
    let ok = (Status::L7Ok, "OK".to_owned());
    assert_eq!(run("http-check expect string OWA", page).await, ok);
    assert_eq!(
        run("http-check expect string \"OWA down\"", page).await,
        rsp("HTTP content check did not match")
    );
    assert_eq!(
        run("http-check expect rstring healthy</body>$", page)
            .await
            .0,
        Status::L7Rsp
    );
    assert_eq!(
        run("http-check expect rstring healthy</body>", page).await,
        ok
    );
    assert_eq!(run("http-check expect ! string error", page).await, ok);
    assert_eq!(
        run("http-check expect ! rstring [Hh]ealthy", page).await,
        rsp("HTTP check matched unwanted content")
    );
    assert_eq!(
        run("http-check expect string OWA", empty).await,
        rsp("HTTP content check could not find a response body")
    );
}

#[tokio::test]
async fn http_check_body_read_is_bounded_to_the_buffer_size() {
    // 64 KiB body, the marker after the first 16 KiB: HAProxy only looks at what fits in its
    // buffer, and the check must not wait for the rest.
    let mut body = vec![b'x'; 64 * 1024];
    body[20 * 1024..20 * 1024 + 6].copy_from_slice(b"MARKER");
    body[100..104].copy_from_slice(b"HEAD");
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let (a, _) = fixed_http_server(head, body).await;
    let c = http_check_from_cfg("option httpchk\n  http-check expect string MARKER");
    let r = run_check(&c, a, None, T).await;
    assert_eq!(
        (r.status, r.info.as_str()),
        (Status::L7Rsp, "HTTP content check did not match")
    );
    let c = http_check_from_cfg("option httpchk\n  http-check expect string HEAD");
    assert_eq!(run_check(&c, a, None, T).await.status, Status::L7Ok);
    assert_eq!(proxyd::check::HTTP_CHECK_BUFSIZE, 16 * 1024);

    // A body that never ends: the check stops reading at the bound, well before the timeout.
    let (l, endless) = listener().await;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 1024];
                let _ = s.read(&mut b).await;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
                // Bounded: 1 MiB at most.
                for _ in 0..256 {
                    if s.write_all(&[b'y'; 4096]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let c = http_check_from_cfg("option httpchk\n  http-check expect ! string z");
    let r = run_check(&c, endless, None, Duration::from_secs(5)).await;
    assert_eq!(r.status, Status::L7Ok, "{r:?}");
    assert!(r.duration < Duration::from_secs(2), "{r:?}");
}

#[tokio::test]
async fn http_check_send_sets_method_uri_version_headers_and_body() {
    let (h, b) = answer(200, "OK", "up");
    let (a, seen) = fixed_http_server(h, b).await;
    let c = http_check_from_cfg(
        "option httpchk OPTIONS /\n  http-check send meth GET uri /owa/healthcheck.htm ver HTTP/1.1 hdr Host mail.example.org hdr User-Agent proxyd-check",
    );
    assert_eq!(run_check(&c, a, None, T).await.status, Status::L7Ok);
    assert_eq!(
        seen.lock().unwrap()[0],
        "GET /owa/healthcheck.htm HTTP/1.1\r\nHost: mail.example.org\r\nUser-Agent: proxyd-check\r\nConnection: close\r\n"
    );
    let c = http_check_from_cfg("option httpchk POST /probe\n  http-check send body ping");
    let HealthCheck::Http { body, .. } = &c else {
        panic!("{c:?}")
    };
    assert_eq!(body, "ping");
}

/// A directory for this test's files, removed on drop (even on panic).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("proxyd-check-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, file: &str, text: &str) -> std::path::PathBuf {
        let p = self.0.join(file);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

fn make_ca(cn: &str) -> Ca {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_owned());
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A TLS-1.2-only acceptor presenting a certificate for `name` signed by `ca`.
fn tls12_acceptor_signed(ca: &Ca, name: &str) -> TlsAcceptor {
    let p = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let chain = vec![rustls::pki_types::CertificateDer::from(cert.der().to_vec())];
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// Parses one backend whose only server line carries `params`.
fn server_cfg(params: &str) -> (lbcore::config::proxy::ProxyConfig, String) {
    let text = format!(
        "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\nbackend be\n  option httpchk GET /owa/healthcheck.htm\n  server cas1 {params}\n"
    );
    let (cfg, d) = lbcore::config::haproxy::parse_str(
        &text,
        std::path::Path::new("t.cfg"),
        &Default::default(),
    );
    (cfg.unwrap_or_else(|| panic!("{d}")), text)
}

#[tokio::test]
async fn verify_required_with_ca_file_checks_the_chain_and_the_name() {
    let dir = TempDir::new("verify");
    let ca = make_ca("Exchange Lab CA");
    let other = make_ca("Other CA");
    let ca_pem = dir.write("ca.pem", &ca.cert.pem());
    let other_pem = dir.write("other.pem", &other.cert.pem());
    let (a, _, _) = http_server(200, Some(tls12_acceptor_signed(&ca, "cas1.example.org"))).await;

    let check = |params: String| {
        let (cfg, _) = server_cfg(&params);
        let be = &cfg.backends[0];
        assert!(preflight(&cfg).is_empty(), "{}", preflight(&cfg));
        let tls = TlsCheck::for_server(&be.servers[0]).unwrap().unwrap();
        let kind = be.health_check.clone();
        async move { run_check(&kind, a, Some(&tls), T).await }
    };
    let base = format!("{a} check check-ssl verify required");
    // Right CA, SNI = the certificate's name: the HTTPS check passes.
    let r = check(format!(
        "{base} ca-file {} check-sni cas1.example.org",
        ca_pem.display()
    ))
    .await;
    assert_eq!((r.status, r.code), (Status::L7Ok, Some(200)), "{r:?}");
    // Another CA: the handshake fails, L6RSP as HAProxy.
    let r = check(format!(
        "{base} ca-file {} check-sni cas1.example.org",
        other_pem.display()
    ))
    .await;
    assert_eq!(r.status, Status::L6Rsp, "{r:?}");
    assert!(r.info.starts_with("SSL handshake failure ("), "{r:?}");
    assert!(r.info.contains("UnknownIssuer"), "{r:?}");
    // Right CA, wrong name sent: refused.
    let r = check(format!(
        "{base} ca-file {} check-sni owa.example.org",
        ca_pem.display()
    ))
    .await;
    assert_eq!(r.status, Status::L6Rsp, "{r:?}");
    assert!(r.info.contains("not valid for name"), "{r:?}");
    // No SNI: verifyhost names the certificate.
    let r = check(format!(
        "{base} ca-file {} verifyhost cas2.example.org",
        ca_pem.display()
    ))
    .await;
    assert_eq!(r.status, Status::L6Rsp, "{r:?}");
    let r = check(format!(
        "{base} ca-file {} verifyhost cas1.example.org",
        ca_pem.display()
    ))
    .await;
    assert_eq!(r.status, Status::L7Ok, "{r:?}");
    // Neither SNI nor verifyhost: HAProxy checks the chain only.
    let r = check(format!("{base} ca-file {}", ca_pem.display())).await;
    assert_eq!(r.status, Status::L7Ok, "{r:?}");
    let r = check(format!("{base} ca-file {}", other_pem.display())).await;
    assert_eq!(r.status, Status::L6Rsp, "{r:?}");
    // verify none with SNI: any certificate.
    let r = check(format!(
        "{a} check check-ssl verify none check-sni owa.example.org"
    ))
    .await;
    assert_eq!(r.status, Status::L7Ok, "{r:?}");
}

#[test]
fn preflight_reports_unreadable_ca_files_bad_names_and_bad_regexes_where_written() {
    let dir = TempDir::new("preflight");
    let junk = dir.write("junk.pem", "not a certificate\n");
    let missing = dir.0.join("missing.pem");
    let text = format!(
        "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
backend be\n  option httpchk\n  http-check expect rstring (unclosed\n  http-check expect rstatus ^2\n\
  server a 192.0.2.1:443 check check-ssl ca-file {}\n\
  server b 192.0.2.2:443 check check-ssl ca-file {}\n\
  server c 192.0.2.3:443 check check-ssl verify none check-sni bad_name!\n",
        missing.display(),
        junk.display()
    );
    let (cfg, d) = lbcore::config::haproxy::parse_str(
        &text,
        std::path::Path::new("t.cfg"),
        &Default::default(),
    );
    let cfg = cfg.unwrap_or_else(|| panic!("{d}"));
    let d = preflight(&cfg).to_string();
    let lines: Vec<&str> = d.lines().collect();
    assert_eq!(lines.len(), 4, "{d}");
    assert_eq!(
        lines[0],
        format!(
            "t.cfg:9:48: error: 'server be/a': 'ca-file' : unable to load {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "t.cfg:10:48: error: 'server be/b': 'ca-file' : unable to load {}: no PEM certificate in it",
            junk.display()
        )
    );
    assert_eq!(
        lines[2],
        "t.cfg:11:1: error: 'server be/c': invalid check-sni name 'bad_name!'"
    );
    assert!(
        lines[3].starts_with("t.cfg:7:29: error: backend 'be': invalid regular expression '(unclosed' in 'http-check expect': "),
        "{d}"
    );
}

//! The liveness contract (DESIGN §1, `lbcore::liveness`) as vrrpd will see it: the pid file and
//! the answer on the liveness socket follow the real health of the servers.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lbcore::liveness::{self, Answer};

/// A fresh directory per test, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("proxyd-live-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills the daemon if a test fails half way.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ask(path: &Path, request: &[u8]) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(request)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Polls the socket (bounded: 10 s) until the answer satisfies `want`.
fn wait_answer(path: &Path, want: impl Fn(&Answer) -> bool) -> Answer {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(line) = ask(path, liveness::REQUEST) {
            if let Ok(a) = Answer::decode(line.as_bytes())
                && want(&a)
            {
                return a;
            }
            last = line;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no matching liveness answer within 10 s; last: {last:?}");
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The stale-socket test needs no other test forking while it holds a socket (a forked child
/// keeps a copy of the listener until it execs, and the probe then finds it live).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn answer_follows_server_health_and_stops_with_the_listeners() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = Dir::new("health");
    let (front, dead) = (free_port(), free_port());
    let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = dir.0.join("p.cfg");
    std::fs::write(
        &cfg,
        format!(
            "defaults\n mode tcp\n timeout connect 500ms\n timeout client 5s\n timeout server 5s\n\
             listen owa\n bind 127.0.0.1:{front}\n server cas1 {}\n\
             listen smtp\n bind 127.0.0.1:{}\n server cas1 127.0.0.1:{dead} check inter 100ms fall 2 rise 1\n",
            live.local_addr().unwrap(),
            free_port()
        ),
    )
    .unwrap();
    let (pidfile, sock) = (dir.0.join("proxyd.pid"), dir.0.join("live.sock"));
    let child = Command::new(env!("CARGO_BIN_EXE_proxyd"))
        .args(["-db", "-f"])
        .arg(&cfg)
        .arg("-p")
        .arg(&pidfile)
        .arg("--liveness-socket")
        .arg(&sock)
        .spawn()
        .unwrap();
    let mut d = Daemon(child);
    let pid = d.0.id();

    // The smtp server never listens: after fall x inter it is DOWN and proxyd is not serving.
    let a = wait_answer(&sock, |a| !a.serving());
    assert_eq!(a.pid, pid);
    assert_eq!((a.frontends, a.usable()), (2, 1));
    assert_eq!(a.down, ["smtp"]);
    let pid_text = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(liveness::parse_pid_file(&pid_text), Ok(pid));

    // A malformed request is answered with an error line, and the socket keeps serving.
    let err = ask(&sock, b"show info\n").unwrap();
    assert!(err.starts_with("error"), "{err:?}");

    // The server comes up: after rise x inter proxyd is serving again.
    let _l = std::net::TcpListener::bind(("127.0.0.1", dead)).unwrap();
    let a = wait_answer(&sock, Answer::serving);
    assert_eq!(a.frontends, 2);

    // SIGUSR1: listeners stop, so the liveness socket goes away (a draining proxyd does not
    // serve); with no connection open the process exits 0 and removes its pid file.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let status = (0..200)
        .find_map(|_| {
            let s = d.0.try_wait().unwrap();
            if s.is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            s
        })
        .expect("proxyd did not exit on SIGUSR1 within 10 s");
    assert_eq!(status.code(), Some(0));
    assert!(!sock.exists(), "liveness socket left behind");
    assert!(!pidfile.exists(), "pid file left behind");
}

fn shared() -> Arc<proxyd::Shared> {
    let (cfg, diags) = lbcore::config::haproxy::parse_str(
        "defaults\n mode tcp\nlisten a\n bind 127.0.0.1:1\n server s 127.0.0.1:9\n",
        Path::new("t.cfg"),
        &BTreeMap::new(),
    );
    assert!(!diags.has_errors(), "{diags}");
    Arc::new(proxyd::Shared::new(Arc::new(cfg.unwrap())))
}

#[test]
fn stale_socket_file_is_replaced_and_a_live_one_is_not_stolen() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(stale_socket());
}

async fn stale_socket() {
    let dir = Dir::new("stale");
    let path = dir.0.join("live.sock");
    // A socket file left by a dead process: nobody listens on it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let l = proxyd::liveness::bind(&path).unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let counters = Arc::new(proxyd::liveness::Counters::default());
    let task = tokio::spawn(proxyd::liveness::serve(
        l,
        path.clone(),
        tokio::sync::watch::channel(shared()).1,
        counters.clone(),
        stop.clone(),
    ));
    // A second proxyd pointed at the same path must not take it over.
    let e = proxyd::liveness::bind(&path).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);

    let p = path.clone();
    let line = tokio::task::spawn_blocking(move || ask(&p, liveness::REQUEST))
        .await
        .unwrap()
        .unwrap();
    let a = Answer::decode(line.as_bytes()).unwrap();
    assert!(a.serving(), "{line}");
    // A client that sends nothing is dropped after the request timeout and counted.
    let p = path.clone();
    let silent = tokio::task::spawn_blocking(move || ask(&p, b""))
        .await
        .unwrap()
        .unwrap();
    assert!(silent.starts_with("error"), "{silent:?}");
    assert_eq!(counters.answered.load(Ordering::Relaxed), 1);
    assert_eq!(counters.bad_requests.load(Ordering::Relaxed), 1);

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert!(!path.exists());
}

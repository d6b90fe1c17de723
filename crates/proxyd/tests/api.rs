//! The runtime API end to end: a real proxyd on loopback with tagged echo backends (the CAS
//! stand-ins of these tests), its `stats socket`s from the configuration on Unix sockets in a
//! per-test directory, driven as a script would (one line per connection, `;`, `prompt`).

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lbcore::config::proxy::StatsSocket;
use proxyd::api::{self, ApiError, Counters};
use support::{Backend, STEP, connect_from, read_tag, source, tag_from};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;

/// A directory of its own under the system temp dir, removed on drop (even on panic).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "proxyd-api-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A proxyd with its runtime API sockets `user.sock`, `operator.sock`, `admin.sock`.
struct Lab {
    dir: TempDir,
    addrs: Vec<(String, SocketAddr)>,
    shared: Arc<proxyd::Shared>,
    counters: Arc<Counters>,
    stop: CancellationToken,
    shutdown: proxyd::Shutdown,
    task: tokio::task::JoinHandle<Result<(), proxyd::Error>>,
    apis: Vec<tokio::task::JoinHandle<()>>,
}

impl Lab {
    /// Starts proxyd on `body` (sections after `global`/`defaults`; binds on port 1 become
    /// ephemeral) with the three sockets declared in `global`.
    async fn start(tag: &str, body: &str) -> Lab {
        let dir = TempDir::new(tag);
        let mut global = String::from("global\n");
        for l in ["user", "operator", "admin"] {
            global.push_str(&format!(
                " stats socket {} mode 600 level {l}\n",
                dir.path(&format!("{l}.sock")).display()
            ));
        }
        global.push_str(" stats timeout 5s\n");
        let mut cfg = support::parse(&format!("{global}{}{body}", support::DEFAULTS));
        for fe in &mut cfg.frontends {
            for b in &mut fe.binds {
                if b.addr.port() == 1 {
                    b.addr.set_port(0);
                }
            }
        }
        let cfg = Arc::new(cfg);
        // The test runs the API sockets itself (to read their counters): the proxy's own copy
        // of the configuration has none, so `serve` does not start a second set on the same paths.
        let mut served = (*cfg).clone();
        served.global.stats_sockets.clear();
        let proxy = proxyd::Proxy::bind(Arc::new(served)).unwrap();
        let addrs = proxy.local_addrs();
        let shared = proxy.shared();
        let current = proxy.current();
        let stop = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let apis = cfg
            .global
            .stats_sockets
            .iter()
            .map(|s| {
                api::spawn_counted(
                    s,
                    cfg.global.stats_timeout,
                    current.clone(),
                    stop.clone(),
                    counters.clone(),
                )
                .unwrap()
            })
            .collect();
        let shutdown = proxyd::Shutdown::new();
        let task = tokio::spawn(proxy.serve(shutdown.clone()));
        Lab {
            dir,
            addrs,
            shared,
            counters,
            stop,
            shutdown,
            task,
            apis,
        }
    }

    fn addr(&self, fe: &str) -> SocketAddr {
        self.addrs.iter().find(|(n, _)| n == fe).unwrap().1
    }

    fn sock(&self, level: &str) -> PathBuf {
        self.dir.path(&format!("{level}.sock"))
    }

    /// Sends `line` on the `level` socket and reads the answer to the close.
    async fn cmd(&self, level: &str, line: &str) -> String {
        send(&self.sock(level), line).await
    }

    fn errors(&self) -> u64 {
        self.counters.errors.load(Ordering::SeqCst)
    }

    fn admin(&self, be: &str, srv: &str) -> proxyd::state::Admin {
        self.shared.server(be, srv).unwrap().admin()
    }

    async fn stop(self) {
        self.stop.cancel();
        for a in self.apis {
            tokio::time::timeout(STEP, a).await.unwrap().unwrap();
        }
        self.shutdown.hard.cancel();
        tokio::time::timeout(STEP, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// One connection: writes `line` and a newline, reads until the server closes.
async fn send(path: &Path, line: &str) -> String {
    let mut s = tokio::time::timeout(STEP, UnixStream::connect(path))
        .await
        .expect("connect in time")
        .unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
    s.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    read_to_close(&mut s).await
}

async fn read_to_close(s: &mut UnixStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(STEP, s.read_to_end(&mut out))
        .await
        .expect("the API closes the connection")
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// Reads until `out` ends with `suffix`.
async fn read_until(s: &mut UnixStream, suffix: &str) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(suffix.as_bytes()) {
        let n = tokio::time::timeout(STEP, s.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {suffix:?} after {:?}", String::from_utf8_lossy(&out)))
            .unwrap();
        assert_ne!(n, 0, "closed early: {:?}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(out).unwrap()
}

const TWO_CAS: &str = "frontend fe\n bind 127.0.0.1:1\n default_backend be\n\
backend be\n balance roundrobin\n stick-table type ip size 1k expire 30m\n stick on src\n";

async fn two_cas(tag: &str) -> (Lab, Backend, Backend) {
    let b1 = Backend::local("cas1").await;
    let b2 = Backend::local("cas2").await;
    let lab = Lab::start(
        tag,
        &format!(
            "{TWO_CAS} server cas1 {} weight 50\n server cas2 {} weight 50\n",
            b1.addr, b2.addr
        ),
    )
    .await;
    (lab, b1, b2)
}

fn other(tag: &str) -> &'static str {
    if tag == "cas1" { "cas2" } else { "cas1" }
}

#[tokio::test]
async fn drain_moves_new_clients_and_keeps_sticky_ones() {
    let (lab, _b1, _b2) = two_cas("drain").await;
    let fe = lab.addr("fe");
    let sticky = source(0);
    let stuck = tag_from(sticky, fe).await.expect("first connection served");
    assert_eq!(
        lab.cmd("admin", &format!("set server be/{stuck} state drain"))
            .await,
        "\n"
    );
    assert_eq!(lab.admin("be", &stuck), proxyd::state::Admin::Drain);
    let state = lab.cmd("user", "show servers state be").await;
    let line = state
        .lines()
        .find(|l| l.split(' ').nth(3) == Some(stuck.as_str()))
        .unwrap();
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!((f[5], f[6]), ("2", "8"), "running, forced drain: {line}");
    for i in 1..=10 {
        assert_eq!(
            tag_from(source(i), fe).await.as_deref(),
            Some(other(&stuck)),
            "new client {i} avoids the drained server"
        );
    }
    for _ in 0..3 {
        assert_eq!(
            tag_from(sticky, fe).await.as_deref(),
            Some(stuck.as_str()),
            "the sticky client still reaches it"
        );
    }
    // Back to ready: new clients reach it again.
    assert_eq!(
        lab.cmd("admin", &format!("set server be/{stuck} state ready"))
            .await,
        "\n"
    );
    let mut seen = 0;
    for i in 20..30 {
        if tag_from(source(i), fe).await.as_deref() == Some(stuck.as_str()) {
            seen += 1;
        }
    }
    assert!(seen > 0, "ready server takes new clients again");
    lab.stop().await;
}

#[tokio::test]
async fn maint_takes_a_server_out_even_for_sticky_clients() {
    let (lab, _b1, _b2) = two_cas("maint").await;
    let fe = lab.addr("fe");
    let sticky = source(0);
    let stuck = tag_from(sticky, fe).await.unwrap();
    // The deprecated spelling is HAProxy's `set server ... state maint`.
    assert_eq!(
        lab.cmd("admin", &format!("disable server be/{stuck}"))
            .await,
        "\n"
    );
    assert_eq!(lab.admin("be", &stuck), proxyd::state::Admin::Maint);
    let state = lab.cmd("admin", "show servers state").await;
    let f: Vec<String> = state
        .lines()
        .find(|l| l.split(' ').nth(3) == Some(stuck.as_str()))
        .unwrap()
        .split(' ')
        .map(String::from)
        .collect();
    assert_eq!(
        (f[5].as_str(), f[6].as_str()),
        ("0", "1"),
        "stopped, forced maint"
    );
    for i in 0..5 {
        assert_eq!(
            tag_from(source(i), fe).await.as_deref(),
            Some(other(&stuck)),
            "client {i}"
        );
    }
    assert_eq!(
        lab.cmd("admin", &format!("enable server be/{stuck}")).await,
        "\n"
    );
    assert_eq!(lab.admin("be", &stuck), proxyd::state::Admin::Ready);
    lab.stop().await;
}

#[tokio::test]
async fn weights_steer_new_connections() {
    let b1 = Backend::local("cas1").await;
    let b2 = Backend::local("cas2").await;
    let lab = Lab::start(
        "weight",
        &format!(
            "frontend fe\n bind 127.0.0.1:1\n default_backend be\nbackend be\n balance roundrobin\n server cas1 {} weight 50\n server cas2 {} weight 50\n\
             frontend fs\n bind 127.0.0.1:1\n default_backend st\nbackend st\n balance static-rr\n server s1 {} weight 50\n",
            b1.addr, b2.addr, b1.addr
        ),
    )
    .await;
    let fe = lab.addr("fe");
    assert_eq!(
        lab.cmd("user", "get weight be/cas1").await,
        "50 (initial 50)\n\n"
    );
    assert_eq!(lab.cmd("admin", "set server be/cas1 weight 0").await, "\n");
    for i in 0..8 {
        assert_eq!(tag_from(source(i), fe).await.as_deref(), Some("cas2"));
    }
    assert_eq!(
        lab.cmd("user", "get weight be/cas1").await,
        "0 (initial 50)\n\n"
    );
    // HAProxy's percentages are of the initial weight, capped at 256.
    assert_eq!(lab.cmd("admin", "set weight be/cas1 50%").await, "\n");
    assert_eq!(
        lab.cmd("user", "get weight be/cas1").await,
        "25 (initial 50)\n\n"
    );
    assert_eq!(lab.cmd("admin", "set weight be/cas1 600%").await, "\n");
    assert_eq!(
        lab.cmd("user", "get weight be/cas1").await,
        "256 (initial 50)\n\n"
    );
    assert_eq!(lab.cmd("admin", "set server be/cas2 weight 0").await, "\n");
    for i in 10..18 {
        assert_eq!(tag_from(source(i), fe).await.as_deref(), Some("cas1"));
    }
    let state = lab.cmd("user", "show servers state be").await;
    assert!(state.contains(" cas1 127.0.0.1 2 0 256 50 "), "{state}");
    assert!(state.contains(" cas2 127.0.0.1 2 0 0 50 "), "{state}");
    // A static algorithm takes only 0 and the initial weight, as in HAProxy.
    let before = lab.errors();
    assert_eq!(
        lab.cmd("admin", "set server st/s1 weight 10").await,
        "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"
    );
    assert_eq!(lab.errors(), before + 1);
    assert_eq!(
        lab.cmd("user", "get weight st/s1").await,
        "50 (initial 50)\n\n"
    );
    assert_eq!(lab.cmd("admin", "set server st/s1 weight 0%").await, "\n");
    assert_eq!(
        lab.cmd("user", "get weight st/s1").await,
        "0 (initial 50)\n\n"
    );
    lab.stop().await;
}

#[tokio::test]
async fn levels_are_enforced() {
    let (lab, _b1, _b2) = two_cas("levels").await;
    tag_from(source(0), lab.addr("fe")).await.unwrap();
    for (level, word) in [
        ("user", "user"),
        ("operator", "operator"),
        ("admin", "admin"),
    ] {
        assert_eq!(
            lab.cmd(level, "show cli level").await,
            format!("{word}\n\n")
        );
    }
    let denied = "Permission denied\n\n";
    let changes = [
        "set server be/cas1 state maint",
        "set server be/cas1 weight 1",
        "set weight be/cas1 1",
        "disable server be/cas1",
        "enable server be/cas1",
        "shutdown sessions server be/cas1",
        // Level first, as HAProxy: malformed admin commands are refused for the level.
        "set server be/cas1 state bogus",
    ];
    for level in ["user", "operator"] {
        for c in changes {
            let before = lab.counters.denied.load(Ordering::SeqCst);
            assert_eq!(lab.cmd(level, c).await, denied, "{level}: {c}");
            assert_eq!(lab.counters.denied.load(Ordering::SeqCst), before + 1);
        }
    }
    assert_eq!(lab.admin("be", "cas1"), proxyd::state::Admin::Ready);
    assert_eq!(
        lab.cmd("user", "get weight be/cas1").await,
        "50 (initial 50)\n\n"
    );
    // Tables: user sees the header only and may not clear or filter.
    let t = lab.cmd("user", "show table be").await;
    assert_eq!(
        t,
        "# table: be, type: ip, size:1024, used:1\n# contents not dumped due to insufficient privileges\n\n"
    );
    assert_eq!(lab.cmd("user", "clear table be").await, denied);
    assert_eq!(lab.cmd("user", "show table be key 127.0.1.1").await, denied);
    assert_eq!(lab.cmd("user", "operator").await, denied);
    assert!(
        lab.cmd("operator", "show table be")
            .await
            .contains("key=127.0.1.1")
    );
    assert_eq!(lab.cmd("operator", "clear table be").await, "\n");
    assert!(
        lab.cmd("operator", "show table be")
            .await
            .contains("used:0")
    );
    // Lowering the level within a connection.
    assert_eq!(
        lab.cmd(
            "admin",
            "user;show cli level;set server be/cas1 state maint"
        )
        .await,
        "\nuser\n\nPermission denied\n\n"
    );
    assert_eq!(lab.admin("be", "cas1"), proxyd::state::Admin::Ready);
    assert_eq!(
        lab.cmd("admin", "set server be/cas1 state maint").await,
        "\n"
    );
    assert_eq!(lab.admin("be", "cas1"), proxyd::state::Admin::Maint);
    lab.stop().await;
}

#[tokio::test]
async fn shutdown_sessions_closes_live_relayed_connections() {
    let (lab, b1, b2) = two_cas("shutdown").await;
    let fe = lab.addr("fe");
    // One live connection per server (round robin alternates new sources).
    let mut conns = Vec::new();
    for i in 0..2 {
        let mut s = connect_from(source(i), fe).await.unwrap();
        let tag = read_tag(&mut s).await.unwrap();
        conns.push((tag, s));
    }
    conns.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        conns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["cas1", "cas2"]
    );
    support::eventually(STEP, "both relayed", || {
        b1.open.load(Ordering::SeqCst) == 1 && b2.open.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(
        lab.cmd("admin", "shutdown sessions server be/cas1").await,
        "\n"
    );
    let (_, mut c1) = conns.remove(0);
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(STEP, c1.read(&mut buf))
        .await
        .expect("the client sees its session end");
    assert!(matches!(n, Ok(0) | Err(_)), "closed, got {n:?}");
    support::eventually(STEP, "cas1's side closed", || {
        b1.open.load(Ordering::SeqCst) == 0
    })
    .await;
    // The other server's session is untouched and still relays.
    let (_, mut c2) = conns.remove(0);
    c2.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    tokio::time::timeout(STEP, c2.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"ping");
    assert_eq!(b2.open.load(Ordering::SeqCst), 1);
    lab.stop().await;
}

#[tokio::test]
async fn show_and_clear_table_after_traffic() {
    let (lab, _b1, _b2) = two_cas("table").await;
    let fe = lab.addr("fe");
    let mut stuck = Vec::new();
    for i in 0..4 {
        stuck.push(tag_from(source(i), fe).await.unwrap());
    }
    let list = lab.cmd("user", "show table").await;
    assert_eq!(list, "# table: be, type: ip, size:1024, used:4\n\n");
    let dump = lab.cmd("operator", "show table be").await;
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines[0], "# table: be, type: ip, size:1024, used:4");
    assert_eq!(lines.len(), 6, "{dump}");
    assert_eq!(lines[5], "");
    for (i, tag) in stuck.iter().enumerate() {
        let id = if tag == "cas1" { 1 } else { 2 };
        let entry = lines
            .iter()
            .find(|l| l.contains(&format!(" key={} ", source(i))))
            .unwrap_or_else(|| panic!("{} in {dump}", source(i)));
        assert!(entry.starts_with("0x"), "{entry}");
        assert!(
            entry.ends_with(&format!(" server_id={id} server_key={tag}")),
            "{entry}"
        );
        let exp: u64 = entry
            .split(' ')
            .find_map(|w| w.strip_prefix("exp="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(exp > 1_700_000 && exp <= 1_800_000, "30 min expiry: {exp}");
    }
    // One entry by key.
    let one = lab
        .cmd("operator", &format!("show table be key {}", source(0)))
        .await;
    assert_eq!(one.lines().count(), 3, "header, entry, end: {one}");
    assert!(one.ends_with("\n\n"));
    assert!(one.contains(&format!("key={} ", source(0))));
    assert_eq!(
        lab.cmd("operator", "show table be key 127.9.9.9").await,
        "\n"
    );
    // Clear one key, then every entry of one server, then all.
    assert_eq!(
        lab.cmd("operator", &format!("clear table be key {}", source(0)))
            .await,
        "\n"
    );
    assert!(lab.cmd("user", "show table").await.contains("used:3"));
    let cas1_left = stuck[1..].iter().filter(|t| *t == "cas1").count();
    assert_eq!(
        lab.cmd("operator", "clear table be data.server_id eq 1")
            .await,
        "\n"
    );
    assert!(
        lab.cmd("user", "show table")
            .await
            .contains(&format!("used:{}", 3 - cas1_left))
    );
    assert_eq!(lab.cmd("operator", "clear table be").await, "\n");
    assert!(lab.cmd("user", "show table").await.contains("used:0"));
    assert_eq!(
        lab.cmd("operator", "show table nope").await,
        "No such table\n\n"
    );
    // A cleared client is balanced afresh and learned again.
    tag_from(source(0), fe).await.unwrap();
    assert!(lab.cmd("user", "show table").await.contains("used:1"));
    lab.stop().await;
}

/// `show servers state` without the time column (it moves by itself).
fn without_times(s: &str) -> String {
    s.lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(' ').collect();
            if f.len() == 25 {
                f[9] = "T";
            }
            f.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `show table` without the expiry countdowns.
fn without_exp(s: &str) -> String {
    s.split(' ')
        .filter(|w| !w.starts_with("exp="))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn malformed_commands_change_nothing() {
    let (lab, _b1, _b2) = two_cas("malformed").await;
    for i in 0..3 {
        tag_from(source(i), lab.addr("fe")).await.unwrap();
    }
    let state = without_times(&lab.cmd("admin", "show servers state").await);
    let table = without_exp(&lab.cmd("admin", "show table be").await);
    let bad: &[(&str, &str)] = &[
        (
            "frobnicate",
            "Unknown command: 'frobnicate'; 'help' lists the commands.",
        ),
        (
            "set server be/cas1 state bogus",
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.",
        ),
        (
            "set server be/cas1 weight 300",
            "Absolute weight can only be between 0 and 256 inclusive.",
        ),
        (
            "set weight be/cas1 abc",
            "Empty weight string empty or preceded by garbage",
        ),
        (
            "set weight be/cas1 10x",
            "Trailing garbage in weight string",
        ),
        ("set server be/nope state maint", "No such server."),
        ("set server nope/cas1 state maint", "No such backend."),
        ("set server be state maint", "Require 'backend/server'."),
        (
            "set server be/cas1 addr 192.0.2.1",
            "'set server addr' is not supported by proxyd.",
        ),
        ("shutdown sessions server be/nope", "No such server."),
        ("clear table nope", "No such table"),
        (
            "clear table be key notanip",
            "Invalid key 'notanip' for a table of type ip.",
        ),
        (
            "clear table be foo",
            "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>",
        ),
        (
            "clear table be data.conn_cnt gt 1",
            "Filter entry #1: Unknown data type",
        ),
        ("show servers state nope", "Can't find backend."),
        (
            "show sess",
            "'show sess' is a HAProxy command proxyd does not implement; 'help' lists the commands.",
        ),
    ];
    let before = lab.errors();
    for (line, answer) in bad {
        assert_eq!(
            lab.cmd("admin", line).await,
            format!("{answer}\n\n"),
            "{line}"
        );
    }
    assert_eq!(lab.errors(), before + bad.len() as u64, "each one counted");
    assert_eq!(
        without_times(&lab.cmd("admin", "show servers state").await),
        state
    );
    assert_eq!(without_exp(&lab.cmd("admin", "show table be").await), table);
    lab.stop().await;
}

#[tokio::test]
async fn one_line_per_connection_semicolons_and_prompt() {
    let (lab, _b1, _b2) = two_cas("prompt").await;
    // `;` separates commands; each answer ends with an empty line; the connection closes.
    assert_eq!(
        lab.cmd(
            "admin",
            "get weight be/cas1;get weight be/nope ;show backend"
        )
        .await,
        "50 (initial 50)\n\nNo such server.\n\n# name\nbe\n\n"
    );
    let help = lab.cmd("user", "help").await;
    assert!(help.starts_with("The following commands are valid at this level:\n"));
    assert!(help.ends_with("  quit                                    : disconnect\n\n"));
    let info = lab.cmd("user", "show info").await;
    assert!(info.starts_with("Name: proxyd\n"), "{info}");
    assert!(info.contains(&format!("\nPid: {}\n", std::process::id())));
    assert!(info.ends_with("\n\n"));
    // Interactive: a prompt after each answer, the connection stays until `quit`.
    let mut s = UnixStream::connect(lab.sock("operator")).await.unwrap();
    s.write_all(b"prompt\n").await.unwrap();
    assert_eq!(read_until(&mut s, "> ").await, "\n> ");
    s.write_all(b"get weight be/cas2\n").await.unwrap();
    assert_eq!(read_until(&mut s, "> ").await, "50 (initial 50)\n\n> ");
    s.write_all(b"\nshow cli level\n").await.unwrap();
    assert_eq!(read_until(&mut s, "> ").await, "operator\n\n> ");
    s.write_all(b"quit\n").await.unwrap();
    assert_eq!(read_to_close(&mut s).await, "");
    // Two lines sent at once without `prompt`: both answered, then closed.
    let mut s = UnixStream::connect(lab.sock("user")).await.unwrap();
    s.write_all(b"get weight be/cas1\nget weight be/cas2\n")
        .await
        .unwrap();
    assert_eq!(
        read_to_close(&mut s).await,
        "50 (initial 50)\n\n50 (initial 50)\n\n"
    );
    lab.stop().await;
}

#[tokio::test]
async fn long_lines_and_idle_clients_are_cut() {
    let dir = TempDir::new("limits");
    let cfg = Arc::new(support::parse(&format!(
        "{}backend be\n server s1 127.0.0.1:9\n",
        support::DEFAULTS
    )));
    let shared = Arc::new(proxyd::Shared::new(cfg));
    let (_tx, current) = tokio::sync::watch::channel(shared);
    let current2 = current.clone();
    let sock = StatsSocket {
        path: dir.path("a.sock").display().to_string(),
        mode: None,
        level: Some("admin".into()),
        expose_fd_listeners: false,
    };
    let stop = CancellationToken::new();
    let counters = Arc::new(Counters::default());
    let task = api::spawn_counted(
        &sock,
        Some(Duration::from_millis(300)),
        current,
        stop.clone(),
        counters.clone(),
    )
    .unwrap();
    let path = dir.path("a.sock");
    // The rest of the line stays unread when the API closes: the kernel may then report a reset
    // after the answer, so read what arrives up to the close or the error.
    let mut s = UnixStream::connect(&path).await.unwrap();
    s.write_all(format!("{}\n", "x".repeat(20_000)).as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(Ok(n @ 1..)) = tokio::time::timeout(STEP, s.read(&mut buf)).await {
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "Line too long (more than 16384 bytes).\n\n"
    );
    assert_eq!(counters.errors.load(Ordering::SeqCst), 1);
    // An idle interactive client is disconnected after `stats timeout`.
    let mut s = UnixStream::connect(&path).await.unwrap();
    s.write_all(b"prompt\n").await.unwrap();
    assert_eq!(read_until(&mut s, "> ").await, "\n> ");
    let t0 = tokio::time::Instant::now();
    assert_eq!(read_to_close(&mut s).await, "");
    let idle = t0.elapsed();
    assert!(
        idle >= Duration::from_millis(250) && idle < Duration::from_secs(3),
        "{idle:?}"
    );
    // A client that never sends a line is cut too.
    let mut s = UnixStream::connect(&path).await.unwrap();
    assert_eq!(read_to_close(&mut s).await, "");
    // More than ten clients at once: the eleventh waits until one leaves (on a socket whose
    // timeout does not free the slots meanwhile).
    let path = dir.path("b.sock");
    let slow = StatsSocket {
        path: path.display().to_string(),
        ..sock
    };
    let task2 = api::spawn(&slow, None, current2, stop.clone()).unwrap();
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut s = UnixStream::connect(&path).await.unwrap();
        s.write_all(b"prompt\n").await.unwrap();
        assert_eq!(read_until(&mut s, "> ").await, "\n> ");
        held.push(s);
    }
    let mut late = UnixStream::connect(&path).await.unwrap();
    late.write_all(b"show backend\n").await.unwrap();
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(100), late.read(&mut buf))
            .await
            .is_err(),
        "the eleventh client waits"
    );
    drop(held);
    assert_eq!(read_to_close(&mut late).await, "# name\nbe\n\n");
    stop.cancel();
    tokio::time::timeout(STEP, task).await.unwrap().unwrap();
    tokio::time::timeout(STEP, task2).await.unwrap().unwrap();
}

#[tokio::test]
async fn each_command_reads_the_generation_in_force() {
    let dir = TempDir::new("generation");
    let first = Arc::new(proxyd::Shared::new(Arc::new(support::parse(&format!(
        "{}backend old\n server s1 127.0.0.1:9\n",
        support::DEFAULTS
    )))));
    let (tx, current) = tokio::sync::watch::channel(first);
    let sock = StatsSocket {
        path: format!("unix@{}", dir.path("a.sock").display()),
        mode: Some(0o600),
        level: None,
        expose_fd_listeners: false,
    };
    let stop = CancellationToken::new();
    let task = api::spawn(&sock, None, current, stop.clone()).unwrap();
    let path = dir.path("a.sock");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        send(&path, "show cli level").await,
        "operator\n\n",
        "HAProxy's default"
    );
    let mut s = UnixStream::connect(&path).await.unwrap();
    s.write_all(b"prompt\nshow backend\n").await.unwrap();
    assert_eq!(
        read_until(&mut s, "old\n\n> ").await,
        "\n> # name\nold\n\n> "
    );
    tx.send_replace(Arc::new(proxyd::Shared::new(Arc::new(support::parse(
        &format!("{}backend new\n server s1 127.0.0.1:9\n", support::DEFAULTS),
    )))));
    s.write_all(b"show backend\n").await.unwrap();
    assert_eq!(read_until(&mut s, "> ").await, "# name\nnew\n\n> ");
    stop.cancel();
    tokio::time::timeout(STEP, task).await.unwrap().unwrap();
    // The connection ends with the API.
    assert_eq!(read_to_close(&mut s).await, "");
}

#[tokio::test]
async fn socket_setup_errors_and_tcp_form() {
    let dir = TempDir::new("setup");
    let shared = Arc::new(proxyd::Shared::new(Arc::new(support::parse(&format!(
        "{}backend be\n server s1 127.0.0.1:9\n",
        support::DEFAULTS
    )))));
    let (_tx, current) = tokio::sync::watch::channel(shared);
    let stop = CancellationToken::new();
    let sock = |path: String, level: Option<&str>| StatsSocket {
        path,
        mode: None,
        level: level.map(String::from),
        expose_fd_listeners: false,
    };
    let file = dir.path("plain");
    std::fs::write(&file, b"not a socket").unwrap();
    let e = api::spawn(
        &sock(file.display().to_string(), None),
        None,
        current.clone(),
        stop.clone(),
    )
    .unwrap_err();
    assert!(matches!(e, ApiError::NotSocket(_)), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), b"not a socket", "left alone");
    let e = api::spawn(
        &sock(dir.path("x.sock").display().to_string(), Some("root")),
        None,
        current.clone(),
        stop.clone(),
    )
    .unwrap_err();
    assert!(matches!(e, ApiError::Level { .. }), "{e}");
    let e = api::spawn(
        &sock("abns@haproxy".into(), None),
        None,
        current.clone(),
        stop.clone(),
    )
    .unwrap_err();
    assert!(matches!(e, ApiError::Address(_)), "{e}");
    // A socket left by a previous run is replaced.
    let path = dir.path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let t1 = api::spawn(
        &sock(path.display().to_string(), Some("user")),
        None,
        current.clone(),
        stop.clone(),
    )
    .unwrap();
    assert_eq!(send(&path, "show cli level").await, "user\n\n");
    // TCP: `ipv4@addr:port` and `addr:port`.
    for form in ["ipv4@127.0.0.1", "127.0.0.1"] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = api::spawn(
            &sock(format!("{form}:{port}"), Some("admin")),
            None,
            current.clone(),
            stop.clone(),
        )
        .unwrap();
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(b"show cli level\n").await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(STEP, s.read_to_string(&mut out))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out, "admin\n\n", "{form}");
        drop(t);
    }
    stop.cancel();
    tokio::time::timeout(STEP, t1).await.unwrap().unwrap();
}

/// True when `socat` is installed; otherwise says so loudly, and fails under CI=true.
fn have_socat() -> bool {
    let found = std::process::Command::new("socat")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "socat is required under CI (tests/run installs it)"
        );
        eprintln!("SKIPPED: socat not installed; the runtime API was not driven as a user would");
    }
    found
}

/// `echo "$cmd" | socat stdio unix-connect:$sock`, as the HAProxy docs and scripts do.
async fn socat(sock: &Path, cmd: &str) -> String {
    let sock = sock.to_owned();
    let cmd = cmd.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new("socat")
            .args(["-t", "5", "stdio"])
            .arg(format!("unix-connect:{}", sock.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{cmd}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn socat_drives_the_socket_as_a_user_would() {
    if !have_socat() {
        return;
    }
    let (lab, _b1, _b2) = two_cas("socat").await;
    let fe = lab.addr("fe");
    let admin = lab.sock("admin");
    assert_eq!(socat(&admin, "set server be/cas2 state drain").await, "\n");
    for i in 0..4 {
        assert_eq!(tag_from(source(i), fe).await.as_deref(), Some("cas1"));
    }
    let state = socat(&admin, "show servers state be").await;
    // The column a script reads: srv_admin_state (7th) is 8 for cas2.
    let admin_states: Vec<(String, String)> = state
        .lines()
        .skip(2)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[3].to_owned(), f[6].to_owned())
        })
        .collect();
    assert_eq!(
        admin_states,
        [
            ("cas1".to_owned(), "0".to_owned()),
            ("cas2".to_owned(), "8".to_owned())
        ]
    );
    assert_eq!(
        socat(&admin, "set server be/cas2 state ready; get weight be/cas2").await,
        "\n50 (initial 50)\n\n"
    );
    assert_eq!(lab.admin("be", "cas2"), proxyd::state::Admin::Ready);
    let table = socat(&lab.sock("operator"), "show table be").await;
    assert!(
        table.starts_with("# table: be, type: ip, size:1024, used:4\n"),
        "{table}"
    );
    assert_eq!(table.matches("server_key=cas1").count(), 4, "{table}");
    lab.stop().await;
}

/// Column `name` of the CSV row whose `svname` is `sv`.
fn csv_col(csv: &str, sv: &str, name: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let i = header.iter().position(|h| *h == name).unwrap();
    let row = lines
        .find(|l| l.split(',').nth(1) == Some(sv))
        .unwrap_or_else(|| panic!("no {sv} in {csv}"));
    row.split(',').nth(i).unwrap().to_owned()
}

#[tokio::test]
async fn show_stat_is_the_stats_csv() {
    let (lab, b1, _b2) = two_cas("stat").await;
    for i in 0..4 {
        tag_from(source(i), lab.addr("fe")).await.unwrap();
    }
    assert_eq!(
        lab.cmd("admin", "set server be/cas2 state drain").await,
        "\n"
    );
    let csv = lab.cmd("operator", "show stat").await;
    assert!(
        csv.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,"),
        "{csv}"
    );
    assert!(csv.ends_with("\n\n"));
    assert_eq!(csv_col(&csv, "cas2", "status"), "DRAIN");
    assert_eq!(csv_col(&csv, "cas1", "stot"), "2");
    assert_eq!(csv_col(&csv, "FRONTEND", "stot"), "4");
    assert_eq!(csv_col(&csv, "cas1", "addr"), b1.addr.to_string());
    assert_eq!(csv_col(&csv, "BACKEND", "algo"), "roundrobin");
    // Below operator level HAProxy leaves addresses and the algorithm out.
    let user = lab.cmd("user", "show stat").await;
    assert_eq!(csv_col(&user, "cas1", "addr"), "");
    assert_eq!(csv_col(&user, "BACKEND", "algo"), "");
    assert_eq!(csv_col(&user, "cas2", "status"), "DRAIN");
    lab.stop().await;
}

//! `vrrp_script` runs and the native `track_proxyd` tracker, in-process against real programs:
//! `/bin/sh` scripts (exit codes, signals, timeouts that must kill the whole process group, runs
//! skipped while one is going, rise/fall, PATH search, the user switch when root) and a real
//! proxyd (target/debug/proxyd next to this test's executable; `cargo build --workspace --bins`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lbcore::config::vrrp::{GlobalDefs, TrackProxyd, VrrpConfig, VrrpScript, Weight};
use lbcore::vrrp::track::Status;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vrrpd::track::proxyd::{self, Check, Watch};
use vrrpd::track::script::{self, DEFAULT_PATH, Error, Outcome};
use vrrpd::track::{Verdict, plan};

/// A scratch directory removed on drop (even when the test panics).
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "vrrpd-track-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `vrrp_script s` block of a keepalived.conf built around `body`.
fn script_block(body: &str) -> VrrpScript {
    let text = format!(
        "vrrp_script s {{\n{body}\n}}\nvrrp_instance VI_1 {{\n interface lo\n virtual_router_id 51\n \
         priority 100\n virtual_ipaddress {{\n 192.0.2.100\n }}\n track_script {{\n s\n }}\n}}\n"
    );
    let (cfg, d) = lbcore::config::keepalived::parse_str(&text, Path::new("t.conf"));
    let cfg = cfg.unwrap_or_else(|| panic!("config: {d}"));
    cfg.scripts.get("s").cloned().expect("script s")
}

fn sh(line: &str) -> String {
    format!("script \"/bin/sh -c '{line}'\"")
}

fn prepared(body: &str) -> script::Prepared {
    script::prepare(&script_block(body), &GlobalDefs::default(), DEFAULT_PATH).expect("prepare")
}

async fn next(rx: &mut mpsc::Receiver<Verdict>, within: Duration) -> Option<Verdict> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

#[tokio::test]
async fn exit_codes_and_signals_decide_success() {
    let stop = CancellationToken::new();
    assert_eq!(
        script::run_once(&prepared("script /bin/true"), &stop).await,
        Outcome::Exit(0)
    );
    assert_eq!(
        script::run_once(&prepared(&sh("exit 3")), &stop).await,
        Outcome::Exit(3)
    );
    let killed = script::run_once(&prepared(&sh("kill -9 $$")), &stop).await;
    assert_eq!(killed, Outcome::Signal(9));
    assert!(!killed.success() && Outcome::Exit(0).success() && !Outcome::TimedOut.success());
}

#[tokio::test]
async fn a_bare_name_is_found_on_path_and_killall_works_as_written() {
    // The seed's `killall -0 haproxy`, run without a shell: exit 1 when no such process.
    let p = prepared("script \"killall -0 no-such-process-xyz\"");
    assert!(p.program.is_absolute() && p.program.ends_with("killall"));
    assert_eq!(p.argv[0], "killall");
    let stop = CancellationToken::new();
    assert_eq!(script::run_once(&p, &stop).await, Outcome::Exit(1));
    // And 0 for a process that runs (a `sleep` of ours).
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("sleep");
    let p = prepared("script \"killall -0 sleep\"");
    assert_eq!(script::run_once(&p, &stop).await, Outcome::Exit(0));
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    // Not on PATH, or a path that is not there: the script cannot be prepared.
    assert_eq!(
        script::resolve("no-such-program-xyz", DEFAULT_PATH),
        Err(Error::NotFound("no-such-program-xyz".into()))
    );
    assert!(script::resolve("/nonexistent/prog", DEFAULT_PATH).is_err());
    assert!(script::resolve("sh", "/nonexistent:/bin").is_ok_and(|p| p == Path::new("/bin/sh")));
    // Shell syntax is not interpreted: `;` is an argument of `true`, which ignores it.
    let p = prepared("script \"/bin/true ; exit 7\"");
    assert_eq!(script::run_once(&p, &stop).await, Outcome::Exit(0));
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = Scratch::new("timeout");
    let bg = dir.path("bg.pid");
    let p = prepared(&format!(
        "{}\ntimeout 0.3",
        sh(&format!("sleep 30 & echo $! > {}; sleep 30", bg.display()))
    ));
    let t0 = vrrpd::clock::now();
    let out = script::run_once(&p, &CancellationToken::new()).await;
    let took = t0.elapsed();
    assert_eq!(out, Outcome::TimedOut);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    let pid: i32 = std::fs::read_to_string(&bg)
        .expect("background pid")
        .trim()
        .parse()
        .expect("pid");
    // The background sleep was in the script's group: SIGTERM reached it too.
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        !alive(pid) || is_zombie(pid)
    });
    assert!(gone, "background process {pid} of the script survived");
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

#[tokio::test]
async fn a_script_ignoring_sigterm_is_killed_2s_later() {
    let dir = Scratch::new("term");
    let f = dir.path("ignore-term.sh");
    std::fs::write(&f, "#!/bin/sh\ntrap '' TERM\nsleep 30\n").expect("script");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let p = prepared(&format!("script {}\ntimeout 0.2", f.display()));
    let t0 = vrrpd::clock::now();
    let out = script::run_once(&p, &CancellationToken::new()).await;
    let took = t0.elapsed();
    assert_eq!(out, Outcome::TimedOut);
    // 0.2 s timeout + 2 s before SIGKILL (keepalived's delay).
    assert!(
        took >= Duration::from_millis(2150) && took < Duration::from_millis(3500),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_run_still_going_at_the_next_interval_is_skipped() {
    let dir = Scratch::new("skip");
    let log = dir.path("runs");
    let p = prepared(&format!(
        "{}\ninterval 0.2\ntimeout 5",
        sh(&format!("echo run >> {}; sleep 0.9", log.display()))
    ));
    let (tx, mut rx) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let task = tokio::spawn(script::run(3, p, tx, stop.clone()));
    // First run at once; it lasts 0.9 s: the ticks at 0.2..0.8 s are skipped.
    let v = next(&mut rx, Duration::from_secs(3))
        .await
        .expect("a verdict after the first run");
    assert_eq!((v.tracker, v.status), (3, Status::Up));
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.cancel();
    task.await.expect("task");
    let runs = std::fs::read_to_string(&log).expect("log").lines().count();
    // ~1.7 s elapsed: 2 runs (at 0 and ~1.0 s), never the 9 the interval alone would give.
    assert!((2..=3).contains(&runs), "{runs} runs");
}

#[tokio::test]
async fn rise_and_fall_count_consecutive_runs() {
    let dir = Scratch::new("risefall");
    let state = dir.path("state");
    let log = dir.path("log");
    std::fs::write(&state, "0").expect("state");
    let p = prepared(&format!(
        "{}\ninterval 0.15\nrise 3\nfall 2",
        sh(&format!(
            "r=$(cat {s}); echo $r >> {l}; exit $r",
            s = state.display(),
            l = log.display()
        ))
    ));
    let (tx, mut rx) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let task = tokio::spawn(script::run(0, p, tx, stop.clone()));
    // keepalived starts at rise-1: the first success is enough.
    let v = next(&mut rx, Duration::from_secs(3)).await.expect("up");
    assert_eq!(v.status, Status::Up);
    assert_eq!(read_log(&log), vec!["0"]);
    std::fs::write(&state, "1").expect("state");
    let v = next(&mut rx, Duration::from_secs(3)).await.expect("down");
    assert_eq!(v.status, Status::Down);
    let failures = trailing(&read_log(&log), "1");
    assert!(
        (2..=3).contains(&failures),
        "down after {failures} failures (fall 2)"
    );
    std::fs::write(&state, "0").expect("state");
    let v = next(&mut rx, Duration::from_secs(3))
        .await
        .expect("up again");
    assert_eq!(v.status, Status::Up);
    let successes = trailing(&read_log(&log), "0");
    assert!(
        (3..=4).contains(&successes),
        "up after {successes} successes (rise 3)"
    );
    stop.cancel();
    task.await.expect("task");
}

fn read_log(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn trailing(lines: &[String], v: &str) -> usize {
    lines.iter().rev().take_while(|l| *l == v).count()
}

#[tokio::test]
async fn init_fail_starts_down_and_needs_rise_successes() {
    let p = prepared("script /bin/true\ninterval 0.1\nrise 2\ninit_fail");
    let (tx, mut rx) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let t0 = vrrpd::clock::now();
    let task = tokio::spawn(script::run(0, p, tx, stop.clone()));
    let v = next(&mut rx, Duration::from_secs(3)).await.expect("up");
    assert_eq!(v.status, Status::Up);
    // Two runs: at once and one interval later.
    assert!(
        t0.elapsed() >= Duration::from_millis(90),
        "{:?}",
        t0.elapsed()
    );
    stop.cancel();
    task.await.expect("task");
}

#[tokio::test]
async fn script_runs_as_its_user_when_root() {
    if !Uid::effective().is_root() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "script_runs_as_its_user_when_root needs root under CI=true"
        );
        eprintln!("SKIPPED script_runs_as_its_user_when_root: not root");
        return;
    }
    let dir = Scratch::new("user");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = dir.path("id");
    let p = prepared(&format!(
        "{}\nuser nobody",
        sh(&format!("id -u > {}", out.display()))
    ));
    let (uid, _) = p.ids.expect("a user switch");
    assert_ne!(uid.as_raw(), 0);
    assert_eq!(
        script::run_once(&p, &CancellationToken::new()).await,
        Outcome::Exit(0)
    );
    let got = std::fs::read_to_string(&out).expect("id output");
    assert_eq!(got.trim(), uid.to_string());
    // Global script_user applies when the block has none.
    let global = GlobalDefs {
        script_user: Some(("nobody".into(), None)),
        ..GlobalDefs::default()
    };
    let p =
        script::prepare(&script_block("script /bin/true"), &global, DEFAULT_PATH).expect("prepare");
    assert_eq!(p.ids.map(|(u, _)| u), Some(uid));
    // Unset: root, as keepalived 2.2.7.
    assert_eq!(prepared("script /bin/true").ids, None);
    // An unknown user disables the script.
    let err = script::prepare(
        &script_block("script /bin/true\nuser no-such-user-xyz"),
        &GlobalDefs::default(),
        DEFAULT_PATH,
    );
    assert_eq!(err, Err(Error::UnknownUser("no-such-user-xyz".into())));
}

#[test]
fn script_security_rejects_files_others_can_write() {
    let root = (Uid::from_raw(0), nix::unistd::Gid::from_raw(0));
    // /bin/true and its directories belong to root.
    assert_eq!(
        script::insecure_component(Path::new("/bin/true"), root.0, root.1),
        None
    );
    let dir = Scratch::new("security");
    let f = dir.path("check.sh");
    std::fs::write(&f, "#!/bin/sh\nexit 0\n").expect("script");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o757)).expect("chmod");
    assert_eq!(
        script::insecure_component(&f, root.0, root.1),
        Some(f.clone())
    );
    let secure = GlobalDefs {
        enable_script_security: true,
        ..GlobalDefs::default()
    };
    let s = script_block(&format!("script {}", f.display()));
    assert!(matches!(
        script::prepare(&s, &secure, DEFAULT_PATH),
        Err(Error::Unsafe(_))
    ));
    // Without enable_script_security it runs (with a warning).
    assert!(script::prepare(&s, &GlobalDefs::default(), DEFAULT_PATH).is_ok());
    // /bin/true is accepted under enable_script_security.
    assert!(script::prepare(&script_block("script /bin/true"), &secure, DEFAULT_PATH).is_ok());
}

// ---- track_proxyd ---------------------------------------------------------------------------

fn proxyd_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let mut dir = exe.parent().expect("dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let p = dir.join("proxyd");
    assert!(
        p.is_file(),
        "{} not found: build it first (cargo build --workspace --bins)",
        p.display()
    );
    p
}

/// A real proxyd on loopback with its pid file and liveness socket in `dir`.
struct Proxyd {
    child: Child,
    pid_file: PathBuf,
    socket: PathBuf,
}

impl Proxyd {
    fn start(dir: &Scratch) -> Self {
        // Ports the kernel just handed out as free (a computed port can collide with another
        // test's connection).
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port()
        };
        let (port, server_port) = (free(), free());
        let cfg = dir.path("proxyd.cfg");
        std::fs::write(
            &cfg,
            format!(
                "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 5s\n    \
                 timeout server 5s\nlisten l1\n    bind 127.0.0.1:{port}\n    server s1 127.0.0.1:{server_port}\n",
            ),
        )
        .expect("cfg");
        let pid_file = dir.path("proxyd.pid");
        let socket = dir.path("live.sock");
        let child = Command::new(proxyd_bin())
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .arg("-p")
            .arg(&pid_file)
            .arg("--liveness-socket")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path("proxyd.err")).expect("stderr file"))
            .spawn()
            .expect("start proxyd");
        let mut child = child;
        let deadline = vrrpd::clock::now() + Duration::from_secs(10);
        while !(socket.exists() && pid_file.exists()) {
            let exited = child.try_wait().expect("try_wait");
            if exited.is_some() || vrrpd::clock::now() >= deadline {
                let err = std::fs::read_to_string(dir.path("proxyd.err")).unwrap_or_default();
                panic!("proxyd did not start ({exited:?}):\n{err}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Proxyd {
            child,
            pid_file,
            socket,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn spec(&self, require_serving: bool, interval: Duration) -> TrackProxyd {
        TrackProxyd {
            name: "proxyd".into(),
            pid_file: self.pid_file.clone(),
            liveness_socket: self.socket.clone(),
            require_serving,
            interval,
            timeout: interval / 2,
            weight: Weight::default(),
            span: lbcore::diag::Span::file_start("t.conf"),
        }
    }
}

impl Drop for Proxyd {
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn proxyd_up_then_its_exit_is_seen_at_once_through_the_pidfd() {
    let dir = Scratch::new("pidfd");
    let mut px = Proxyd::start(&dir);
    let pid = px.pid();
    // Serving query on: the real proxyd answers for its pid.
    let mut w = Watch::new(px.spec(true, Duration::from_secs(1)));
    assert_eq!(w.check().await, Check::Up(pid));
    let answer = proxyd::query(&px.socket).await.expect("liveness answer");
    assert_eq!(answer.pid, pid);
    // An interval of 30 s: only the pidfd can report the exit in time.
    let (tx, mut rx) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let task = tokio::spawn(proxyd::run(
        5,
        Watch::new(px.spec(false, Duration::from_secs(30))),
        tx,
        stop.clone(),
    ));
    let v = next(&mut rx, Duration::from_secs(3)).await.expect("up");
    assert_eq!((v.tracker, v.status), (5, Status::Up));
    let t0 = vrrpd::clock::now();
    px.child.kill().expect("kill proxyd");
    let v = next(&mut rx, Duration::from_secs(3)).await.expect("down");
    let took = t0.elapsed();
    assert_eq!(v.status, Status::Down);
    eprintln!("proxyd exit seen after {took:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    // Reaped or not, the pid file still names the dead pid: it stays down.
    let _ = px.child.wait();
    assert!(next(&mut rx, Duration::from_millis(300)).await.is_none());
    let mut w = Watch::new(px.spec(false, Duration::from_secs(1)));
    assert!(matches!(w.check().await, Check::Down(_)));
    stop.cancel();
    task.await.expect("task");
}

#[tokio::test]
async fn a_stopped_proxyd_is_down_with_require_serving_only() {
    let dir = Scratch::new("sigstop");
    let px = Proxyd::start(&dir);
    let pid = Pid::from_raw(px.pid() as i32);
    let interval = Duration::from_millis(300);
    let (tx, mut rx) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let serving = tokio::spawn(proxyd::run(
        0,
        Watch::new(px.spec(true, interval)),
        tx.clone(),
        stop.clone(),
    ));
    let alive_only = tokio::spawn(proxyd::run(
        1,
        Watch::new(px.spec(false, interval)),
        tx,
        stop.clone(),
    ));
    let mut ups = Vec::new();
    for _ in 0..2 {
        let v = next(&mut rx, Duration::from_secs(3)).await.expect("up");
        assert_eq!(v.status, Status::Up);
        ups.push(v.tracker);
    }
    ups.sort_unstable();
    assert_eq!(ups, vec![0, 1]);
    let t0 = vrrpd::clock::now();
    kill(pid, Signal::SIGSTOP).expect("SIGSTOP");
    let v = next(&mut rx, Duration::from_secs(3)).await.expect("down");
    let took = t0.elapsed();
    assert_eq!((v.tracker, v.status), (0, Status::Down));
    // At most one interval until the next check plus the query timeout (interval / 2).
    eprintln!("stopped proxyd seen after {took:?}");
    assert!(
        took <= interval + interval / 2 + Duration::from_millis(200),
        "{took:?}"
    );
    // The pid-only tracker says nothing: the process exists.
    assert!(next(&mut rx, Duration::from_millis(700)).await.is_none());
    kill(pid, Signal::SIGCONT).expect("SIGCONT");
    let v = next(&mut rx, Duration::from_secs(3))
        .await
        .expect("up again");
    assert_eq!((v.tracker, v.status), (0, Status::Up));
    stop.cancel();
    serving.await.expect("task");
    alive_only.await.expect("task");
}

#[tokio::test]
async fn a_missing_or_stale_pid_file_is_down() {
    let dir = Scratch::new("stale");
    let spec = |pid_file: PathBuf| TrackProxyd {
        name: "p".into(),
        pid_file,
        liveness_socket: dir.path("none.sock"),
        require_serving: false,
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        weight: Weight::default(),
        span: lbcore::diag::Span::file_start("t.conf"),
    };
    let mut w = Watch::new(spec(dir.path("absent.pid")));
    assert!(matches!(w.check().await, Check::Down(_)));
    let stale = dir.path("stale.pid");
    std::fs::write(&stale, format!("{}\n", 1u32 << 23)).expect("pid file");
    let mut w = Watch::new(spec(stale.clone()));
    assert!(matches!(w.check().await, Check::Down(_)));
    std::fs::write(&stale, "garbage\n").expect("pid file");
    assert!(matches!(w.check().await, Check::Down(_)));
    // Our own pid: alive; require_serving without a socket: down.
    std::fs::write(&stale, format!("{}\n", std::process::id())).expect("pid file");
    assert_eq!(w.check().await, Check::Up(std::process::id()));
    let mut w = Watch::new(TrackProxyd {
        require_serving: true,
        ..spec(stale)
    });
    assert!(matches!(w.check().await, Check::Down(_)));
}

#[test]
fn track_proxyd_is_planned_with_weight_0_by_default() {
    let text = "track_proxyd px {\n pid_file /run/p.pid\n}\nvrrp_instance VI_1 {\n interface lo\n \
                virtual_router_id 51\n priority 100\n dont_track_primary\n virtual_ipaddress {\n \
                192.0.2.100\n }\n track_proxyd {\n px\n }\n}\n\
                vrrp_instance VI_2 {\n interface lo\n virtual_router_id 52\n priority 100\n \
                dont_track_primary\n virtual_ipaddress {\n 192.0.2.101\n }\n track_proxyd {\n px \
                weight -20\n }\n}\n";
    let (cfg, d) = lbcore::config::keepalived::parse_str(text, Path::new("t.conf"));
    let cfg: VrrpConfig = cfg.unwrap_or_else(|| panic!("{d}"));
    let plan = plan(&cfg);
    assert_eq!(plan.specs.len(), 1);
    assert_eq!(plan.proxyds.len(), 1);
    let links = &plan.specs[0].links;
    assert_eq!(links[0].weight, Weight::default());
    assert_eq!(links[1].weight.value, -20);
    assert_eq!(plan.proxyds[0].1.pid_file, Path::new("/run/p.pid"));
    assert_eq!(plan.proxyds[0].1.timeout, Duration::from_millis(500));
}

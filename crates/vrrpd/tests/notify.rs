//! Notifications through `vrrpd::notify::spawn`, with the real things: notify scripts (`/bin/sh`
//! recording argv, pid and process group), the notify FIFO read back, mail received by a real
//! SMTP server (Debian's aiosmtpd on loopback), and an SMTP server that is down or never answers
//! while scripts and FIFO lines keep arriving on time.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{TempDir, now};
use lbcore::config::vrrp::VrrpConfig;
use tokio_util::sync::CancellationToken;
use vrrpd::notify::{self, Announced, Event, Subject};

/// How long a script or FIFO line may take to show up after its event (a fork and exec of
/// `/bin/sh` on a loaded 2-core machine).
const PROMPT: Duration = Duration::from_secs(2);

fn parse(text: &str) -> VrrpConfig {
    let (c, d) = lbcore::config::keepalived::parse_str(text, Path::new("notify-test.conf"));
    c.unwrap_or_else(|| panic!("config does not parse: {d:?}"))
}

fn conf(global: &str, instance_extra: &str) -> String {
    format!(
        "global_defs {{\n{global}\n}}\n\
         vrrp_instance VI_1 {{\n interface lo\n virtual_router_id 51\n priority 100\n\
         virtual_ipaddress {{\n  192.0.2.100\n }}\n{instance_extra}\n}}\n"
    )
}

fn ev(state: Announced, priority: u8) -> Event {
    Event {
        subject: Subject::Instance,
        name: "VI_1".into(),
        state,
        priority,
        at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    }
}

/// Polls `f` every 20 ms until it yields, at most `limit`.
fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if now() - start > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// A command running a script that appends `TAG pid pgid args...` to `log`.
fn recorder(log: &Path, tag: &str) -> String {
    let script = log.with_file_name("rec.sh");
    if !script.exists() {
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\ntag=$1\nshift\npgid=$(cut -d' ' -f5 /proc/$$/stat)\necho \"$tag $$ $pgid $*\" >> {}\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!("\"{} {tag}\"", script.display())
}

/// Reads what is in the FIFO without blocking (the writer keeps it open read-write).
fn read_fifo(reader: &mut std::fs::File, buf: &mut String) {
    let mut chunk = [0u8; 4096];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.push_str(std::str::from_utf8(&chunk[..n]).expect("utf-8 fifo")),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("fifo read: {e}"),
        }
    }
}

fn open_reader(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .expect("open fifo for reading")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_run_with_keepalived_s_arguments_in_order() {
    let dir = TempDir::new("notify-scripts");
    let log = dir.path("log");
    let text = conf(
        "",
        &format!(
            " notify_master {}\n notify_backup {}\n notify_stop {}\n notify {}",
            recorder(&log, "master"),
            recorder(&log, "backup"),
            recorder(&log, "stop"),
            recorder(&log, "generic"),
        ),
    );
    let config = parse(&text);
    let (n, task) =
        notify::spawn(&config, CancellationToken::new()).expect("scripts are configured");
    n.emit(ev(Announced::Backup, 100));
    let got = tokio::task::spawn_blocking({
        let log = log.clone();
        move || wait_for(PROMPT, || (lines(&log).len() >= 2).then(|| lines(&log)))
    })
    .await
    .unwrap()
    .expect("backup scripts ran");
    n.emit(ev(Announced::Master, 103));
    n.emit(ev(Announced::Stop, 103));
    drop(n);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("notification task ends once drained")
        .unwrap();
    let all = lines(&log);
    assert_eq!(all.len(), 6, "{all:?}");
    assert_eq!(&all[..2], &got[..]);
    // Per line: tag, pid, pgid, appended arguments.
    let parsed: Vec<(String, u32, u32, String)> = all
        .iter()
        .map(|l| {
            let mut w = l.splitn(4, ' ');
            let tag = w.next().unwrap().to_string();
            let pid = w.next().unwrap().parse().unwrap();
            let pgid = w.next().unwrap().parse().unwrap();
            (tag, pid, pgid, w.next().unwrap_or("").to_string())
        })
        .collect();
    for (tag, pid, pgid, _) in &parsed {
        assert_eq!(pid, pgid, "{tag} leads its own process group");
    }
    let find = |tag: &str, args: &str| {
        parsed
            .iter()
            .find(|p| p.0 == tag && p.3 == args)
            .unwrap_or_else(|| panic!("no {tag} {args:?} in {all:?}"))
            .1
    };
    // The specific script takes no argument; the generic one keepalived's four.
    let pairs = [
        ("backup", "generic", "INSTANCE VI_1 BACKUP 100"),
        ("master", "generic", "INSTANCE VI_1 MASTER 103"),
        ("stop", "generic", "INSTANCE VI_1 STOP 103"),
    ];
    let mut last = 0;
    for (specific, generic, args) in pairs {
        let s = find(specific, "");
        let g = find(generic, args);
        // keepalived's order: the state's script is started before the generic one, and events
        // in their order (pids are handed out in fork order).
        assert!(
            last < s && s < g,
            "{specific} ({s}) before {args} ({g}), after {last}"
        );
        last = g;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_lines_are_keepalived_s_and_the_fifo_is_created_0644() {
    let dir = TempDir::new("notify-fifo");
    let fifo = dir.path("notify.fifo");
    let vfifo = dir.path("vrrp.fifo");
    let text = conf(
        &format!(
            " notify_fifo {}\n vrrp_notify_fifo {}",
            fifo.display(),
            vfifo.display()
        ),
        "",
    );
    let config = parse(&text);
    let (n, task) = notify::spawn(&config, CancellationToken::new()).expect("fifo configured");
    for p in [&fifo, &vfifo] {
        let m = std::fs::metadata(p).expect("fifo created");
        assert!(m.file_type().is_fifo());
        assert_eq!(m.permissions().mode() & 0o777, 0o644);
    }
    let mut r1 = open_reader(&fifo);
    let mut r2 = open_reader(&vfifo);
    n.emit(ev(Announced::Backup, 100));
    n.emit(ev(Announced::Master, 103));
    n.emit(Event {
        subject: Subject::Group,
        name: "G1".into(),
        state: Announced::Fault,
        priority: 0,
        at: SystemTime::UNIX_EPOCH,
    });
    let want = "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 103\n";
    let (mut b1, mut b2) = (String::new(), String::new());
    let got = tokio::task::spawn_blocking(move || {
        wait_for(PROMPT, || {
            read_fifo(&mut r1, &mut b1);
            read_fifo(&mut r2, &mut b2);
            (b1.len() >= want.len() && b2.len() >= want.len()).then(|| (b1.clone(), b2.clone()))
        })
    })
    .await
    .unwrap()
    .expect("fifo lines arrive");
    // The group G1 is not configured: nothing is written for it.
    assert_eq!(got.0, want);
    assert_eq!(got.1, want);
    drop(n);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    assert!(!fifo.exists(), "a fifo vrrpd created is removed at exit");
}

#[test]
fn a_full_fifo_drops_lines_and_never_blocks() {
    let dir = TempDir::new("notify-fifo-full");
    let path = dir.path("full.fifo");
    let mut f = notify::fifo::Fifo::open(&lbcore::config::vrrp::NotifyFifo {
        path: path.clone(),
        owner: None,
    })
    .unwrap();
    let line = notify::fifo::line(Subject::Instance, "VI_1", Announced::Master, 103);
    let start = now();
    // A pipe holds 64 KiB by default: 4000 lines of 27 bytes overflow it.
    for _ in 0..4000 {
        f.write_line(&line);
    }
    assert!(now() - start < Duration::from_secs(1), "writes never wait");
    assert!(f.dropped() > 0, "nothing dropped");
    assert_eq!(f.written() + f.dropped(), 4000);
    // What was written is whole lines.
    let mut r = open_reader(&path);
    let mut buf = String::new();
    read_fifo(&mut r, &mut buf);
    assert_eq!(
        buf.len(),
        line.len() * usize::try_from(f.written()).unwrap()
    );
    f.close();
}

/// aiosmtpd on loopback, printing each message it receives (its default Debugging handler).
struct SmtpServer {
    child: Child,
    port: u16,
    out: Arc<Mutex<String>>,
}

impl SmtpServer {
    fn start() -> Option<Self> {
        if !Path::new("/usr/bin/python3").exists() {
            return None;
        }
        let port = free_port();
        let mut child = Command::new("/usr/bin/python3")
            .args(["-u", "-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let out = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&l);
                s.push('\n');
            }
        });
        let up = wait_for(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        up.map(|_| SmtpServer { child, port, out })
    }

    fn subjects(&self) -> Vec<String> {
        self.out
            .lock()
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
            .collect()
    }

    fn text(&self) -> String {
        self.out.lock().unwrap().clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn smtp_or_skip(test: &str) -> Option<SmtpServer> {
    let s = SmtpServer::start();
    if s.is_none() {
        assert!(
            !common::ci(),
            "{test}: /usr/bin/python3 -m aiosmtpd is needed under CI"
        );
        eprintln!("SKIPPED {test}: /usr/bin/python3 -m aiosmtpd not available");
    }
    s
}

fn mail_globals(port: u16, extra: &str) -> String {
    format!(
        " router_id lb1\n notification_email {{\n  ops@example.com\n  oncall@example.com\n }}\n\
         notification_email_from vrrp@example.com\n smtp_server 127.0.0.1 {port}\n\
         smtp_connect_timeout 5\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mail_per_state_change_with_keepalived_s_subject() {
    let Some(server) = smtp_or_skip("one_mail_per_state_change_with_keepalived_s_subject") else {
        return;
    };
    let text = conf(&mail_globals(server.port, ""), " smtp_alert");
    let config = parse(&text);
    let (n, task) = notify::spawn(&config, CancellationToken::new()).expect("mail configured");
    n.emit(ev(Announced::Backup, 100));
    n.emit(ev(Announced::Master, 103));
    // No state change (a priority change announced again): no second mail.
    n.emit(ev(Announced::Master, 101));
    n.emit(ev(Announced::Fault, 0));
    n.emit(ev(Announced::Stop, 0));
    drop(n);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("mail leaves within the drain")
        .unwrap();
    let want = [
        "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
        "[lb1] VRRP Instance VI_1 - Entering MASTER state",
        "[lb1] VRRP Instance VI_1 - Entering FAULT state",
        "[lb1] VRRP Instance VI_1 - Stopping",
    ];
    let got = tokio::task::spawn_blocking({
        let out = Arc::clone(&server.out);
        move || {
            wait_for(PROMPT, || {
                let s = out.lock().unwrap();
                (s.matches("Subject: ").count() >= want.len()).then_some(())
            })
        }
    })
    .await
    .unwrap();
    assert!(got.is_some(), "mails received: {}", server.text());
    assert_eq!(server.subjects(), want, "{}", server.text());
    let t = server.text();
    for h in [
        "From: vrrp@example.com",
        "To: ops@example.com, oncall@example.com",
        "X-Mailer: Keepalived",
        "=> VRRP Instance is now owning VRRP VIPs <=",
        "=> VRRP Instance is no longer owning VRRP VIPs <=",
        "=> VRRP Instance stopping <=",
        "Date: Tue, 14 Nov 2023 22:13:20 +0000",
    ] {
        assert!(t.contains(h), "{h:?} missing from {t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_email_faults_skips_the_fault_mail() {
    let Some(server) = smtp_or_skip("no_email_faults_skips_the_fault_mail") else {
        return;
    };
    let text = conf(
        &mail_globals(server.port, " no_email_faults"),
        " smtp_alert",
    );
    let (n, task) = notify::spawn(&parse(&text), CancellationToken::new()).unwrap();
    n.emit(ev(Announced::Master, 100));
    n.emit(ev(Announced::Fault, 0));
    n.emit(ev(Announced::Backup, 100));
    drop(n);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    let out = Arc::clone(&server.out);
    let seen = tokio::task::spawn_blocking(move || {
        wait_for(PROMPT, || {
            (out.lock().unwrap().matches("Subject: ").count() >= 2).then_some(())
        })
    })
    .await
    .unwrap();
    assert!(seen.is_some(), "{}", server.text());
    assert_eq!(
        server.subjects(),
        [
            "[lb1] VRRP Instance VI_1 - Entering MASTER state",
            "[lb1] VRRP Instance VI_1 - Entering BACKUP state"
        ]
    );
}

/// With the SMTP server `port` down or silent, scripts and FIFO lines still follow each event
/// promptly, and the task still ends within the daemon's drain.
async fn events_stay_on_time_with(port: u16, tag: &str) {
    let dir = TempDir::new(tag);
    let fifo = dir.path("n.fifo");
    let log = dir.path("log");
    let text = conf(
        &mail_globals(port, &format!(" notify_fifo {}", fifo.display())),
        &format!(" smtp_alert\n notify {}", recorder(&log, "generic")),
    );
    let (n, task) = notify::spawn(&parse(&text), CancellationToken::new()).unwrap();
    let mut reader = open_reader(&fifo);
    let mut buf = String::new();
    let mut worst = Duration::ZERO;
    for i in 0..6u8 {
        let state = if i % 2 == 0 {
            Announced::Master
        } else {
            Announced::Backup
        };
        let emitted: Instant = now();
        n.emit(ev(state, 100 + i));
        let want_line = format!("INSTANCE \"VI_1\" {} {}\n", state.as_str(), 100 + i);
        let want_log = usize::from(i) + 1;
        let (r, b, took) = tokio::task::spawn_blocking({
            let log = log.clone();
            move || {
                let ok = wait_for(PROMPT, || {
                    read_fifo(&mut reader, &mut buf);
                    (buf.ends_with(&want_line) && lines(&log).len() >= want_log).then_some(())
                });
                assert!(
                    ok.is_some(),
                    "event {i}: fifo {buf:?}, log {:?}",
                    lines(&log)
                );
                (reader, buf, now() - emitted)
            }
        })
        .await
        .unwrap();
        reader = r;
        buf = b;
        worst = worst.max(took);
    }
    eprintln!("{tag}: worst event-to-script-and-fifo delay {worst:?}");
    drop(n);
    let start = now();
    tokio::time::timeout(
        vrrpd::daemon::NOTIFY_DRAIN + Duration::from_millis(500),
        task,
    )
    .await
    .expect("the drain is bounded even when mail cannot leave")
    .unwrap();
    eprintln!("{tag}: drain took {:?}", now() - start);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_server_down_delays_nothing() {
    // A port nobody listens on: connection refused at every attempt.
    let port = free_port();
    events_stay_on_time_with(port, "notify-smtp-down").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_server_that_never_answers_delays_nothing() {
    // Accepts connections (the kernel completes the handshake) but never sends a greeting.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    events_stay_on_time_with(port, "notify-smtp-silent").await;
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_queue_is_bounded_and_drops_the_oldest() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let text = conf(&mail_globals(port, ""), " smtp_alert");
    let settings = notify::smtp::Settings::from_global(&parse(&text).global)
        .unwrap()
        .unwrap();
    let mailer = notify::smtp::Mailer::start(settings.clone());
    let extra = 50;
    for i in 0..notify::smtp::QUEUE + extra {
        let m = settings
            .message(
                Subject::Instance,
                &format!("VI_{i}"),
                Announced::Master,
                SystemTime::UNIX_EPOCH,
            )
            .unwrap();
        mailer.push(format!("VI_{i}"), m);
    }
    assert!(mailer.pending() <= notify::smtp::QUEUE);
    // The sender holds at most one mail outside the queue.
    let dropped = mailer.stats().dropped;
    assert!(
        dropped + 1 >= u64::try_from(extra).unwrap(),
        "dropped {dropped}"
    );
    let start = now();
    let stats = mailer.close(Duration::from_millis(300)).await;
    assert!(now() - start < Duration::from_secs(1), "close is bounded");
    assert_eq!(stats.sent, 0);
    drop(silent);
}

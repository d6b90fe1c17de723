//! The notification task: for each [`Event`], in keepalived's order
//! (`ka:keepalived/vrrp/vrrp_notify.c send_instance_notifies`): the state's own script, the
//! generic `notify` script with its four arguments, the FIFO line(s), the mail.
//!
//! Events that are not state changes go to fewer sinks, as in keepalived:
//! - `MASTER_RX_LOWER_PRI` (`vrrp_notify.c send_event_notify`): the instance's
//!   `notify_master_rx_lower_pri` script with no argument, then the FIFO line. No generic script,
//!   no mail; written whatever `notify_priority_changes` says.
//! - `MASTER_PRIORITY` / `BACKUP_PRIORITY` (`vrrp_notify.c send_instance_priority_notifies`,
//!   called from `vrrp.c vrrp_set_effective_priority` when `notify_priority_changes` is on): the
//!   FIFO line only.
//!
//! Owns which sink gets what (including keepalived's `last_email_state` rule and
//! `no_email_faults`, which only state changes take part in), which instances announce priority
//! changes, and the drain at exit. Must not: wait for a script or a mail server; every sink here
//! returns at once.

use std::collections::HashMap;
use std::time::Duration;

use lbcore::config::vrrp::{Command, Notify, VrrpConfig};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::fifo::{self, Fifo};
use super::script::{self, RunAs};
use super::smtp::{Mailer, Settings};
use super::{Announced, Event, Subject};

/// keepalived's timeout for `notify_stop` scripts at exit (`TIMER_HZ` in `send_instance_notifies`).
pub const STOP_SCRIPT_TIMEOUT: Duration = Duration::from_secs(1);

/// Scripts and switches of one instance or group.
#[derive(Debug)]
struct Target {
    notify: Notify,
    smtp_alert: bool,
    /// Writes `MASTER_PRIORITY` / `BACKUP_PRIORITY` FIFO lines ([`priority_changes`]; always
    /// false for a group: keepalived announces priorities per instance only).
    priority_changes: bool,
}

/// Everything the notification task writes to.
#[derive(Debug)]
pub(super) struct Dispatcher {
    targets: HashMap<(Subject, String), Target>,
    default_user: Option<RunAs>,
    fifos: Vec<Fifo>,
    fifo_scripts: Vec<u32>,
    mail: Option<(Settings, Mailer)>,
    no_email_faults: bool,
    last_email: HashMap<(Subject, String), Announced>,
    stop_scripts: JoinSet<()>,
}

fn has_script(n: &Notify) -> bool {
    [
        &n.master,
        &n.backup,
        &n.fault,
        &n.stop,
        &n.deleted,
        &n.generic,
        &n.master_rx_lower_pri,
    ]
    .iter()
    .any(|c| c.is_some())
}

impl Dispatcher {
    /// The sinks `config` asks for; `None` when there is nothing to tell.
    pub(super) fn new(config: &VrrpConfig) -> Option<Self> {
        let g = &config.global;
        let mut targets = HashMap::new();
        for i in &config.instances {
            // The model has resolved notify_priority_changes as keepalived does: the
            // instance's keyword, else its sync group's, else the global default.
            targets.insert(
                (Subject::Instance, i.name.clone()),
                Target {
                    notify: i.notify.clone(),
                    smtp_alert: i.smtp_alert,
                    priority_changes: i.notify_priority_changes,
                },
            );
        }
        for s in &config.sync_groups {
            targets.insert(
                (Subject::Group, s.name.clone()),
                Target {
                    notify: s.notify.clone(),
                    smtp_alert: s.smtp_alert,
                    priority_changes: false,
                },
            );
        }
        let scripts = targets.values().any(|t| has_script(&t.notify));
        let alerts = targets.values().any(|t| t.smtp_alert);
        let mail = if alerts {
            match Settings::from_global(g) {
                Ok(Some(s)) => Some(s),
                Ok(None) => {
                    tracing::warn!(
                        "smtp_alert is set but smtp_server or notification_email is missing: no mail will be sent"
                    );
                    None
                }
                Err(e) => {
                    tracing::error!(error = %e, "smtp alerts disabled");
                    None
                }
            }
        } else {
            None
        };
        let fifo_cfgs: Vec<_> = [
            (&g.notify_fifo, &g.notify_fifo_script),
            (&g.vrrp_notify_fifo, &g.vrrp_notify_fifo_script),
        ]
        .into_iter()
        .filter_map(|(f, s)| f.as_ref().map(|f| (f, s)))
        .collect();
        if !scripts && mail.is_none() && fifo_cfgs.is_empty() {
            return None;
        }
        let default_user = if scripts || fifo_cfgs.iter().any(|(_, s)| s.is_some()) {
            script::default_user(g).unwrap_or_else(|e| {
                tracing::error!(error = %e, "script_user cannot be resolved; scripts run as vrrpd's user");
                None
            })
        } else {
            None
        };
        let mut fifos = Vec::new();
        let mut fifo_scripts = Vec::new();
        for (cfg, reader) in fifo_cfgs {
            match Fifo::open(cfg) {
                Ok(f) => {
                    tracing::info!(fifo = %f.path().display(), "notify fifo open");
                    if let Some(cmd) = reader {
                        let path = cfg.path.to_string_lossy().into_owned();
                        match script::start(cmd, &[&path], default_user, None) {
                            Ok((pid, _reaper)) => fifo_scripts.push(pid),
                            Err(e) => {
                                tracing::error!(fifo = %path, error = %e, "notify fifo script not started");
                            }
                        }
                    }
                    fifos.push(f);
                }
                Err(e) => tracing::error!(error = %e, "notify fifo disabled"),
            }
        }
        Some(Dispatcher {
            targets,
            default_user,
            fifos,
            fifo_scripts,
            mail: mail.map(|s| {
                let m = Mailer::start(s.clone());
                (s, m)
            }),
            no_email_faults: g.no_email_faults,
            last_email: HashMap::new(),
            stop_scripts: JoinSet::new(),
        })
    }

    /// Handles events until every sender is gone, then drains within
    /// [`crate::daemon::NOTIFY_DRAIN`] (or until `stop`).
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Event>, stop: CancellationToken) {
        while let Some(ev) = rx.recv().await {
            self.dispatch(&ev);
        }
        let drain = crate::daemon::NOTIFY_DRAIN.saturating_sub(Duration::from_millis(250));
        let scripts = async { while self.stop_scripts.join_next().await.is_some() {} };
        let mail = async {
            if let Some((_, m)) = self.mail.take() {
                let s = m.close(drain).await;
                tracing::debug!(
                    sent = s.sent,
                    failed = s.failed,
                    dropped = s.dropped,
                    "mail queue closed"
                );
            }
        };
        tokio::select! {
            _ = async { tokio::join!(scripts, mail) } => {}
            () = stop.cancelled() => tracing::warn!("notification drain cut short"),
        }
        for pid in self.fifo_scripts.drain(..) {
            script::signal_group(pid, nix::sys::signal::Signal::SIGTERM);
        }
        for f in self.fifos.drain(..) {
            f.close();
        }
    }

    fn dispatch(&mut self, ev: &Event) {
        if !ev.state.is_state_change() {
            self.dispatch_event(ev);
            return;
        }
        let key = (ev.subject, ev.name.clone());
        let Some(t) = self.targets.get(&key) else {
            tracing::debug!(name = %ev.name, "notification for an unknown instance or group");
            return;
        };
        let state = ev.state.as_str();
        let n = &t.notify;
        let specific = match ev.state {
            Announced::Master => &n.master,
            Announced::Backup => &n.backup,
            Announced::Fault => &n.fault,
            Announced::Stop => &n.stop,
            Announced::Deleted => &n.deleted,
            // Not state changes: dispatch_event.
            Announced::MasterRxLowerPri | Announced::MasterPriority | Announced::BackupPriority => {
                &None
            }
        };
        // keepalived: notify_stop (and the generic script announcing STOP) get 1 s at exit.
        let deadline = (ev.state == Announced::Stop).then_some(STOP_SCRIPT_TIMEOUT);
        let user = self.default_user;
        if let Some(cmd) = specific {
            run_script(&mut self.stop_scripts, user, cmd, &[], deadline, ev);
        }
        if let Some(cmd) = &n.generic {
            let prio = ev.priority.to_string();
            let args = [ev.subject.as_str(), &ev.name, state, &prio];
            run_script(&mut self.stop_scripts, user, cmd, &args, deadline, ev);
        }
        let line = fifo::line(ev.subject, &ev.name, ev.state, ev.priority);
        for f in &mut self.fifos {
            f.write_line(&line);
        }
        let t = &self.targets[&key];
        let faults_ok = !self.no_email_faults || ev.state != Announced::Fault;
        if t.smtp_alert
            && faults_ok
            && self.last_email.get(&key) != Some(&ev.state)
            && let Some((settings, mailer)) = &self.mail
        {
            self.last_email.insert(key, ev.state);
            match settings.message(ev.subject, &ev.name, ev.state, ev.at) {
                Ok(m) => mailer.push(
                    super::smtp::subject(&settings.router_id, ev.subject, &ev.name, ev.state),
                    m,
                ),
                Err(e) => tracing::error!(name = %ev.name, error = %e, "smtp alert not built"),
            }
        }
    }

    /// An event while in a state (not a state change): never the generic script, never mail,
    /// and `last_email_state` untouched.
    fn dispatch_event(&mut self, ev: &Event) {
        let key = (ev.subject, ev.name.clone());
        let Some(t) = self.targets.get(&key) else {
            return;
        };
        if ev.subject != Subject::Instance {
            // keepalived announces neither event for a sync group.
            tracing::debug!(name = %ev.name, state = ev.state.as_str(), "instance event for a group ignored");
            return;
        }
        match ev.state {
            // vrrp_notify.c send_event_notify: the script (no argument), then the FIFO line.
            Announced::MasterRxLowerPri => {
                if let Some(cmd) = &t.notify.master_rx_lower_pri {
                    run_script(
                        &mut self.stop_scripts,
                        self.default_user,
                        cmd,
                        &[],
                        None,
                        ev,
                    );
                }
            }
            // vrrp_notify.c send_instance_priority_notifies: the FIFO line only, and only with
            // notify_priority_changes.
            Announced::MasterPriority | Announced::BackupPriority => {
                if !t.priority_changes {
                    return;
                }
            }
            // State changes: dispatch.
            Announced::Master
            | Announced::Backup
            | Announced::Fault
            | Announced::Stop
            | Announced::Deleted => return,
        }
        let line = fifo::line(ev.subject, &ev.name, ev.state, ev.priority);
        for f in &mut self.fifos {
            f.write_line(&line);
        }
    }
}

/// Starts one script; a timed one (STOP) is reaped in `timed` so the drain can wait for it.
fn run_script(
    timed: &mut JoinSet<()>,
    user: Option<RunAs>,
    cmd: &Command,
    extra: &[&str],
    deadline: Option<Duration>,
    ev: &Event,
) {
    let state = ev.state.as_str();
    match script::start(cmd, extra, user, deadline) {
        Ok((pid, reaper)) => {
            tracing::debug!(instance = %ev.name, state, pid, program = %cmd.argv[0], "notify script started");
            if deadline.is_some() {
                timed.spawn(async move {
                    let _ = reaper.await;
                });
            }
        }
        Err(e) => {
            tracing::error!(instance = %ev.name, state, program = ?cmd.argv.first(), error = %e, "notify script not started");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::SystemTime;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::notify::{Notifier, spawn};

    /// How long a script may take to show up (fork and exec on a loaded 2-core machine).
    const PROMPT: Duration = Duration::from_secs(3);

    /// A directory removed on drop.
    struct Tmp(PathBuf);

    impl Tmp {
        fn new(tag: &str) -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "vrrpd-dispatch-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).expect("temp dir");
            Tmp(p)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        /// A command running a script that appends `TAG args...` to `log`.
        fn recorder(&self, tag: &str) -> String {
            let script = self.path("rec.sh");
            if !script.exists() {
                std::fs::write(
                    &script,
                    format!("#!/bin/sh\necho \"$*\" >> {}\n", self.path("log").display()),
                )
                .expect("write script");
                std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
            }
            format!("\"{} {tag}\"", script.display())
        }

        fn log(&self) -> Vec<String> {
            std::fs::read_to_string(self.path("log"))
                .map(|s| s.lines().map(str::to_string).collect())
                .unwrap_or_default()
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn parse(text: &str) -> VrrpConfig {
        let (c, d) = lbcore::config::keepalived::parse_str(text, Path::new("dispatch-test.conf"));
        c.unwrap_or_else(|| panic!("config does not parse: {d}"))
    }

    fn instance(name: &str, vrid: u8, extra: &str) -> String {
        format!(
            "vrrp_instance {name} {{\n interface lo\n virtual_router_id {vrid}\n priority 100\n\
             virtual_ipaddress {{\n  192.0.2.{vrid}\n }}\n{extra}\n}}\n"
        )
    }

    fn ev(subject: Subject, name: &str, state: Announced, priority: u8) -> Event {
        Event {
            subject,
            name: name.into(),
            state,
            priority,
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    /// Polls `f` every 20 ms for at most `limit`.
    async fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
        let start = crate::clock::now();
        while !f() {
            if crate::clock::now() - start > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Drops the last notifier and waits for the task's drain.
    async fn finish(n: Notifier, task: tokio::task::JoinHandle<()>) {
        drop(n);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("notification task ends once drained")
            .expect("notification task");
    }

    fn read_all(reader: &mut std::fs::File) -> String {
        let mut out = String::new();
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) => return out,
                Ok(n) => out.push_str(std::str::from_utf8(&chunk[..n]).expect("utf-8 fifo")),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return out,
                Err(e) => panic!("fifo read: {e}"),
            }
        }
    }

    fn flags(config: &VrrpConfig) -> Vec<(String, bool)> {
        let d = Dispatcher::new(config).expect("a FIFO is configured");
        let mut v: Vec<_> = d
            .targets
            .iter()
            .filter(|(k, _)| k.0 == Subject::Instance)
            .map(|(k, t)| (k.1.clone(), t.priority_changes))
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn priority_changes_follow_the_instance_then_its_group_then_the_global_default() {
        let dir = Tmp::new("flags");
        let fifo = dir.path("fifo");
        let conf = |global: &str, group: &str, vi_2: &str| {
            format!(
                "global_defs {{\n vrrp_notify_fifo {}\n{global}\n}}\n\
                 vrrp_sync_group G1 {{\n group {{\n  VI_1\n  VI_2\n }}\n{group}\n}}\n{}{}{}",
                fifo.display(),
                instance("VI_1", 1, ""),
                instance("VI_2", 2, vi_2),
                instance("VI_3", 3, ""),
            )
        };
        let f =
            |g: &str, s: &str, i: &str| -> Vec<(String, bool)> { flags(&parse(&conf(g, s, i))) };
        let t = |a: bool, b: bool, c: bool| {
            vec![
                ("VI_1".to_string(), a),
                ("VI_2".to_string(), b),
                ("VI_3".to_string(), c),
            ]
        };
        // Nothing set: off.
        assert_eq!(f("", "", ""), t(false, false, false));
        // The global default alone: everyone.
        assert_eq!(
            f(" vrrp_notify_priority_changes", "", ""),
            t(true, true, true)
        );
        // keepalived 2.2.7: the group's keyword turns members on, not others.
        assert_eq!(f("", " notify_priority_changes", ""), t(true, true, false));
        // keepalived 2.2.7: the group's `false` beats the global default for its members.
        assert_eq!(
            f(
                " vrrp_notify_priority_changes",
                " notify_priority_changes false",
                ""
            ),
            t(false, false, true)
        );
        // The member's own keyword, against the global default and its group.
        assert_eq!(f("", "", " notify_priority_changes"), t(false, true, false));
        assert_eq!(
            f(
                " vrrp_notify_priority_changes",
                "",
                " notify_priority_changes false"
            ),
            t(true, false, true)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_that_are_not_state_changes_reach_only_their_sinks() {
        let dir = Tmp::new("events");
        let fifo = dir.path("fifo");
        let text = format!(
            "global_defs {{\n vrrp_notify_fifo {}\n}}\n\
             vrrp_sync_group G1 {{\n group {{\n  VI_1\n  VI_3\n }}\n notify {}\n}}\n{}{}{}",
            fifo.display(),
            dir.recorder("ggeneric"),
            instance(
                "VI_1",
                1,
                &format!(
                    " notify_priority_changes\n notify_master_rx_lower_pri {}\n notify {}\n\
                     notify_master {}\n notify_backup {}\n smtp_alert",
                    dir.recorder("rxlow"),
                    dir.recorder("generic"),
                    dir.recorder("master"),
                    dir.recorder("backup"),
                )
            ),
            instance("VI_2", 2, ""),
            instance("VI_3", 3, ""),
        );
        let config = parse(&text);
        let (n, task) = spawn(&config, CancellationToken::new()).expect("scripts and a FIFO");
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .expect("the FIFO exists once spawn returns");
        let i = Subject::Instance;
        n.emit(ev(i, "VI_1", Announced::MasterRxLowerPri, 105));
        n.emit(ev(i, "VI_1", Announced::MasterPriority, 107));
        n.emit(ev(i, "VI_1", Announced::BackupPriority, 90));
        // No notify_priority_changes: no line; no script: the line only.
        n.emit(ev(i, "VI_2", Announced::MasterPriority, 50));
        n.emit(ev(i, "VI_2", Announced::MasterRxLowerPri, 100));
        // A member without the keyword, in a group without it either.
        n.emit(ev(i, "VI_3", Announced::BackupPriority, 99));
        // keepalived announces neither for a group.
        n.emit(ev(Subject::Group, "G1", Announced::MasterPriority, 0));
        n.emit(ev(Subject::Group, "G1", Announced::MasterRxLowerPri, 0));
        n.emit(ev(i, "VI_1", Announced::Stop, 90));
        finish(n, task).await;
        assert_eq!(
            read_all(&mut reader),
            "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 105\n\
             INSTANCE \"VI_1\" MASTER_PRIORITY 107\n\
             INSTANCE \"VI_1\" BACKUP_PRIORITY 90\n\
             INSTANCE \"VI_2\" MASTER_RX_LOWER_PRI 100\n\
             INSTANCE \"VI_1\" STOP 90\n"
        );
        assert!(
            wait_for(PROMPT, || dir.log().len() >= 2).await,
            "scripts ran: {:?}",
            dir.log()
        );
        // Anything else started would have shown up by now too.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut log = dir.log();
        log.sort();
        // The rx_lower_pri script without arguments; the generic script for STOP only.
        assert_eq!(log, ["generic INSTANCE VI_1 STOP 90", "rxlow"]);
    }

    #[test]
    fn a_lone_rx_lower_pri_script_starts_the_dispatcher() {
        let dir = Tmp::new("lone");
        let config = parse(&instance(
            "VI_1",
            1,
            &format!(" notify_master_rx_lower_pri {}", dir.recorder("rxlow")),
        ));
        assert!(Dispatcher::new(&config).is_some());
        assert!(
            Dispatcher::new(&parse(&instance("VI_1", 1, " notify_priority_changes"))).is_none()
        );
    }

    /// aiosmtpd on loopback printing what it receives; `None` (skipped loudly, failing under
    /// CI=true) when Debian's python3-aiosmtpd is missing.
    struct Smtp {
        child: Child,
        port: u16,
        out: std::sync::Arc<std::sync::Mutex<String>>,
    }

    impl Smtp {
        async fn start(test: &str) -> Option<Self> {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let child = std::process::Command::new("/usr/bin/python3")
                .args(["-u", "-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn();
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            let Ok(mut child) = child else {
                assert!(
                    !ci,
                    "{test}: /usr/bin/python3 -m aiosmtpd is needed under CI"
                );
                eprintln!("SKIPPED {test}: /usr/bin/python3 not available");
                return None;
            };
            let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let stdout = child.stdout.take().expect("stdout");
            let sink = std::sync::Arc::clone(&out);
            std::thread::spawn(move || {
                use std::io::BufRead;
                for l in std::io::BufReader::new(stdout)
                    .lines()
                    .map_while(Result::ok)
                {
                    let mut s = sink
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    s.push_str(&l);
                    s.push('\n');
                }
            });
            let up = wait_for(Duration::from_secs(10), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            })
            .await;
            let mut s = Smtp { child, port, out };
            if !up {
                let _ = s.child.kill();
                assert!(
                    !ci,
                    "{test}: /usr/bin/python3 -m aiosmtpd is needed under CI"
                );
                eprintln!("SKIPPED {test}: /usr/bin/python3 -m aiosmtpd does not start");
                return None;
            }
            s.port = port;
            Some(s)
        }

        fn subjects(&self) -> Vec<String> {
            self.out
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .lines()
                .filter_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
                .collect()
        }
    }

    impl Drop for Smtp {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_are_never_mailed_nor_reset_the_last_mailed_state() {
        const TEST: &str = "events_are_never_mailed_nor_reset_the_last_mailed_state";
        let Some(server) = Smtp::start(TEST).await else {
            return;
        };
        let text = format!(
            "global_defs {{\n router_id lb1\n notification_email {{\n  ops@example.com\n }}\n\
             notification_email_from vrrp@example.com\n smtp_server 127.0.0.1 {}\n\
             smtp_connect_timeout 5\n}}\n{}",
            server.port,
            instance("VI_1", 1, " smtp_alert\n notify_priority_changes"),
        );
        let config = parse(&text);
        let (n, task) = spawn(&config, CancellationToken::new()).expect("mail configured");
        let i = Subject::Instance;
        n.emit(ev(i, "VI_1", Announced::Master, 100));
        n.emit(ev(i, "VI_1", Announced::MasterPriority, 105));
        n.emit(ev(i, "VI_1", Announced::MasterRxLowerPri, 105));
        // Still MASTER for the mail rule: no second mail.
        n.emit(ev(i, "VI_1", Announced::Master, 105));
        n.emit(ev(i, "VI_1", Announced::BackupPriority, 95));
        n.emit(ev(i, "VI_1", Announced::Backup, 95));
        n.emit(ev(i, "VI_1", Announced::BackupPriority, 96));
        finish(n, task).await;
        assert!(
            wait_for(PROMPT, || server.subjects().len() >= 2).await,
            "mails: {:?}",
            server.subjects()
        );
        assert_eq!(
            server.subjects(),
            [
                "[lb1] VRRP Instance VI_1 - Entering MASTER state",
                "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
            ]
        );
    }
}

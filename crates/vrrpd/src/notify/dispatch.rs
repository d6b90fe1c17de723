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

use lbcore::config::vrrp::{Command, Notify, SyncGroup, VrrpConfig, VrrpInstance};
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

/// Whether instance `i` announces its priority changes: keepalived takes the instance's own
/// `notify_priority_changes`, else its sync group's, else global `vrrp_notify_priority_changes`
/// (observed with keepalived 2.2.7: a group's `notify_priority_changes` turns the lines on for a
/// member without the keyword, and a group's `notify_priority_changes false` turns them off
/// despite the global default; the member's own keyword wins over both).
///
/// The model holds both flags with the global default already applied, so a member whose flag
/// equals the global default is taken as not having the keyword and follows its group. The one
/// case this gets wrong is a member that repeats the global default explicitly while its group
/// says otherwise (it follows its group here, its own keyword in keepalived).
fn priority_changes(i: &VrrpInstance, group: Option<&SyncGroup>, global: bool) -> bool {
    match group {
        Some(g) if i.notify_priority_changes == global => g.notify_priority_changes,
        _ => i.notify_priority_changes,
    }
}

impl Dispatcher {
    /// The sinks `config` asks for; `None` when there is nothing to tell.
    pub(super) fn new(config: &VrrpConfig) -> Option<Self> {
        let g = &config.global;
        let mut targets = HashMap::new();
        for i in &config.instances {
            // keepalived: an instance belongs to the first group naming it.
            let group = config
                .sync_groups
                .iter()
                .find(|s| s.members.contains(&i.name));
            targets.insert(
                (Subject::Instance, i.name.clone()),
                Target {
                    notify: i.notify.clone(),
                    smtp_alert: i.smtp_alert,
                    priority_changes: priority_changes(i, group, g.notify_priority_changes),
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

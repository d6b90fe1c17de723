//! Notifications of state changes: notify scripts, the notify FIFO and SMTP alerts
//! (keepalived-vrrp.md §3.4).
//!
//! Owns the [`Event`] a driver emits on each transition and the bounded queue it goes through.
//! A driver never waits for a notification: [`Notifier::emit`] only enqueues, and a full queue
//! drops the event and counts it. Running scripts, writing the FIFO and sending mail happen on
//! the consumer side, outside the state machine's task.
//!
//! - [`script`]: notify scripts (asynchronous, reaped, own process group, keepalived's
//!   environment hygiene and script user).
//! - [`fifo`]: `notify_fifo` / `vrrp_notify_fifo` (never blocks; a full FIFO drops the line).
//! - [`smtp`]: the mail queue (bounded, retried, off the dispatch path).
//!
//! Must not: block the dispatch loop (every sink is non-blocking or runs in its own task), nor
//! read a clock other than through [`crate::clock`].

mod dispatch;
pub mod fifo;
pub mod script;
pub mod smtp;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use lbcore::vrrp::fsm::State;
use tokio::sync::mpsc;

/// Events queued between the drivers and the notification task.
pub const QUEUE: usize = 1024;

/// Who changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A `vrrp_instance` (`INSTANCE` in notify arguments and FIFO lines).
    Instance,
    /// A `vrrp_sync_group` (`GROUP`).
    Group,
}

impl Subject {
    /// keepalived's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Instance => "INSTANCE",
            Subject::Group => "GROUP",
        }
    }
}

/// The state announced, in keepalived's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// `MASTER`.
    Master,
    /// `BACKUP`.
    Backup,
    /// `FAULT`.
    Fault,
    /// `STOP` (the instance stopped: daemon shutdown or reload removing it).
    Stop,
    /// `DELETED` (removed by a reload).
    Deleted,
    /// `MASTER_RX_LOWER_PRI`: a master received an advert with a lower priority (not a state
    /// change; the event carries the instance's effective priority).
    MasterRxLowerPri,
    /// `MASTER_PRIORITY`: the effective priority changed while master (not a state change; the
    /// event carries the new priority). Sent only with `notify_priority_changes`.
    MasterPriority,
    /// `BACKUP_PRIORITY`: the effective priority changed while backup (not a state change; the
    /// event carries the new priority). Sent only with `notify_priority_changes`.
    BackupPriority,
}

impl Announced {
    /// keepalived's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Announced::Master => "MASTER",
            Announced::Backup => "BACKUP",
            Announced::Fault => "FAULT",
            Announced::Stop => "STOP",
            Announced::Deleted => "DELETED",
            Announced::MasterRxLowerPri => "MASTER_RX_LOWER_PRI",
            Announced::MasterPriority => "MASTER_PRIORITY",
            Announced::BackupPriority => "BACKUP_PRIORITY",
        }
    }

    /// Whether this announces a change of state (MASTER, BACKUP, FAULT, STOP, DELETED), as
    /// opposed to an event while in a state (`MASTER_RX_LOWER_PRI`, `*_PRIORITY`), which never
    /// sends mail nor counts as a transition.
    pub fn is_state_change(self) -> bool {
        match self {
            Announced::Master
            | Announced::Backup
            | Announced::Fault
            | Announced::Stop
            | Announced::Deleted => true,
            Announced::MasterRxLowerPri | Announced::MasterPriority | Announced::BackupPriority => {
                false
            }
        }
    }

    /// What a transition of the state machine into `to` announces.
    pub fn from_state(to: State) -> Self {
        match to {
            State::Master => Announced::Master,
            State::Backup => Announced::Backup,
            State::Fault => Announced::Fault,
            State::Initialize => Announced::Stop,
        }
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Instance or group.
    pub subject: Subject,
    /// Its name.
    pub name: String,
    /// New state.
    pub state: Announced,
    /// Effective priority at the transition, or at the event for `MASTER_RX_LOWER_PRI`, or the
    /// new effective priority for `MASTER_PRIORITY` / `BACKUP_PRIORITY` (groups announce 0, as
    /// keepalived).
    pub priority: u8,
    /// Wall-clock time of the transition (mail `Date:`, status output).
    pub at: SystemTime,
}

/// The sending side, cloned into every driver.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
}

impl Notifier {
    /// A notifier and the receiver the notification task consumes.
    pub fn channel() -> (Self, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (
            Notifier {
                tx,
                dropped: Arc::default(),
            },
            rx,
        )
    }

    /// Queues `event` without waiting; a full or closed queue drops it (counted and logged).
    pub fn emit(&self, event: Event) {
        if let Err(e) = self.tx.try_send(event) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let ev = match &e {
                mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => ev,
            };
            tracing::warn!(name = %ev.name, state = ev.state.as_str(), dropped = n, "notification dropped: queue full or closed");
        }
    }

    /// Events dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Starts the notification task for what `config` asks to be told (notify scripts, FIFO,
/// SMTP); `None` when nothing listens, so drivers skip building events.
///
/// Must be called inside a tokio runtime. The task handles events in arrival order (for each:
/// specific script, generic script, FIFO, mail: keepalived's `send_instance_notifies`) and ends
/// once every [`Notifier`] is dropped and the queue is drained: it then gives `notify_stop`
/// scripts their 1 s and the mail queue what is left of [`crate::daemon::NOTIFY_DRAIN`]. `stop`
/// cuts that drain short.
pub fn spawn(
    config: &lbcore::config::vrrp::VrrpConfig,
    stop: tokio_util::sync::CancellationToken,
) -> Option<(Notifier, tokio::task::JoinHandle<()>)> {
    let dispatcher = dispatch::Dispatcher::new(config)?;
    let (notifier, rx) = Notifier::channel();
    let task = tokio::spawn(dispatcher.run(rx, stop));
    Some((notifier, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u8) -> Event {
        Event {
            subject: Subject::Instance,
            name: "VI_1".into(),
            state: Announced::Master,
            priority: i,
            at: SystemTime::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn emit_never_waits_and_counts_what_does_not_fit() {
        let (n, mut rx) = Notifier::channel();
        for i in 0..QUEUE + 3 {
            n.emit(ev(u8::try_from(i % 200).unwrap()));
        }
        assert_eq!(n.dropped(), 3);
        assert_eq!(rx.recv().await.unwrap().priority, 0);
        drop(rx);
        n.emit(ev(1));
        assert_eq!(n.dropped(), 4);
    }

    #[test]
    fn words_are_keepalived_s() {
        assert_eq!(Announced::from_state(State::Master).as_str(), "MASTER");
        assert_eq!(Announced::from_state(State::Initialize).as_str(), "STOP");
        assert_eq!(Subject::Group.as_str(), "GROUP");
    }

    #[test]
    fn only_the_five_states_are_state_changes() {
        for s in [
            State::Master,
            State::Backup,
            State::Fault,
            State::Initialize,
        ] {
            assert!(Announced::from_state(s).is_state_change());
        }
        assert!(Announced::Deleted.is_state_change());
        for (a, word) in [
            (Announced::MasterRxLowerPri, "MASTER_RX_LOWER_PRI"),
            (Announced::MasterPriority, "MASTER_PRIORITY"),
            (Announced::BackupPriority, "BACKUP_PRIORITY"),
        ] {
            assert!(!a.is_state_change(), "{word}");
            assert_eq!(a.as_str(), word);
        }
    }
}

//! SMTP alerts (keepalived-vrrp.md §1.2, §3.4; `ka:keepalived/core/smtp.c`,
//! `ka:keepalived/vrrp/vrrp_notify.c vrrp_smtp_notifier`).
//!
//! Owns the mail's words (subject `[router_id] VRRP Instance VI_1 - Entering MASTER state`, body,
//! headers Date, From, To, Subject, `X-Mailer: Keepalived`) and the mail queue: bounded (a full
//! queue drops the oldest mail, counted and logged), one sender task sending with lettre over
//! plain SMTP, each attempt bounded by `smtp_connect_timeout`, retried with backoff. Must not: let
//! a slow or unreachable server delay anything else (the dispatcher only pushes to the queue), or
//! decide when a mail is due (the `last_email_state` rule lives in [`super::dispatch`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use lbcore::config::vrrp::GlobalDefs;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Announced, Subject};

/// Mails waiting at most; a full queue drops the oldest.
pub const QUEUE: usize = 64;
/// Attempts per mail (the first plus retries).
pub const ATTEMPTS: u32 = 4;
/// First retry delay; doubled at each retry.
pub const BACKOFF: Duration = Duration::from_secs(1);

/// The subject keepalived writes: `[lb1] VRRP Instance VI_1 - Entering MASTER state`.
pub fn subject(router_id: &str, who: Subject, name: &str, state: Announced) -> String {
    let kind = match who {
        Subject::Instance => "Instance",
        Subject::Group => "Group",
    };
    let what = match state {
        Announced::Master => "Entering MASTER state",
        Announced::Backup => "Entering BACKUP state",
        Announced::Fault => "Entering FAULT state",
        Announced::Stop => "Stopping",
        Announced::Deleted => "Deleted",
        // Not state changes: the dispatcher never mails them (keepalived neither).
        Announced::MasterRxLowerPri | Announced::MasterPriority | Announced::BackupPriority => {
            state.as_str()
        }
    };
    format!("[{router_id}] VRRP {kind} {name} - {what}")
}

/// The body keepalived writes (one line).
pub fn body(who: Subject, state: Announced) -> &'static str {
    match (who, state) {
        (Subject::Instance, Announced::Master) => "=> VRRP Instance is now owning VRRP VIPs <=",
        (Subject::Instance, Announced::Backup | Announced::Fault) => {
            "=> VRRP Instance is no longer owning VRRP VIPs <="
        }
        (Subject::Instance, Announced::Stop) => "=> VRRP Instance stopping <=",
        (Subject::Instance, Announced::Deleted) => "=> VRRP Instance deleted <=",
        (Subject::Group, Announced::Master) => {
            "=> All VRRP group instances are now in MASTER state <="
        }
        (Subject::Group, Announced::Backup) => {
            "=> All VRRP group instances are now in BACKUP state <="
        }
        (Subject::Group, Announced::Fault) => {
            "=> All VRRP group instances are now in FAULT state <="
        }
        (Subject::Group, Announced::Stop) => "=> All VRRP group instances are now stopping <=",
        (Subject::Group, Announced::Deleted) => "=> VRRP group deleted <=",
        // Not state changes: the dispatcher never mails them (keepalived neither).
        (
            _,
            Announced::MasterRxLowerPri | Announced::MasterPriority | Announced::BackupPriority,
        ) => "",
    }
}

/// The local host name (keepalived's default `router_id`, HELO name and From domain).
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Errors building the mail settings.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// An address does not parse.
    #[error("bad mail address {0:?}: {1}")]
    Address(String, lettre::address::AddressError),
    /// The message could not be built.
    #[error("cannot build mail: {0}")]
    Build(#[from] lettre::error::Error),
}

/// What every mail shares (global_defs).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `router_id` (or the host name).
    pub router_id: String,
    /// `notification_email_from` (or `keepalived@<host name>`).
    pub from: Mailbox,
    /// `notification_email`.
    pub to: Vec<Mailbox>,
    /// SMTP server host and port.
    pub server: (String, u16),
    /// HELO name.
    pub helo: String,
    /// `smtp_connect_timeout`: bound of each attempt's connect and of each reply.
    pub timeout: Duration,
}

impl Settings {
    /// The mail settings of `g`; `Ok(None)` when no mail can be sent (no `smtp_server` or no
    /// recipients: keepalived's `smtp_alert()` returns early then).
    pub fn from_global(g: &GlobalDefs) -> Result<Option<Self>, MailError> {
        let Some(server) = g.smtp_server.clone() else {
            return Ok(None);
        };
        if g.notification_email.is_empty() {
            return Ok(None);
        }
        let host = host_name();
        let parse = |s: &str| {
            s.parse::<Mailbox>()
                .map_err(|e| MailError::Address(s.to_string(), e))
        };
        let from = match &g.notification_email_from {
            Some(f) => parse(f)?,
            None => parse(&format!("keepalived@{host}"))?,
        };
        let to = g
            .notification_email
            .iter()
            .map(|a| parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Settings {
            router_id: g.router_id.clone().unwrap_or_else(|| host.clone()),
            from,
            to,
            server,
            helo: g.smtp_helo_name.clone().unwrap_or(host),
            timeout: g.smtp_connect_timeout,
        }))
    }

    /// The mail announcing `state` of `name`, dated `at`.
    pub fn message(
        &self,
        who: Subject,
        name: &str,
        state: Announced,
        at: SystemTime,
    ) -> Result<Message, MailError> {
        let mut b = Message::builder()
            .date(at)
            .from(self.from.clone())
            .subject(subject(&self.router_id, who, name, state));
        for t in &self.to {
            b = b.to(t.clone());
        }
        let mut m = b.body(format!("{}\r\n", body(who, state)))?;
        m.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Mailer"),
            "Keepalived".to_string(),
        ));
        Ok(m)
    }
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<(String, Message)>>,
    wake: Notify,
    closing: std::sync::atomic::AtomicBool,
    dropped: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
}

/// The mail queue and its sender task.
#[derive(Debug)]
pub struct Mailer {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// Counters of a [`Mailer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MailStats {
    /// Mails accepted by the server.
    pub sent: u64,
    /// Mails given up after [`ATTEMPTS`].
    pub failed: u64,
    /// Mails dropped from a full queue (oldest first).
    pub dropped: u64,
}

impl Mailer {
    /// Starts the sender task for `settings`.
    pub fn start(settings: Settings) -> Self {
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(sender(settings, Arc::clone(&shared)));
        Mailer { shared, task }
    }

    /// Queues `message` (its subject is `label` in logs) without waiting; a full queue drops the
    /// oldest mail.
    pub fn push(&self, label: String, message: Message) {
        {
            let mut q = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if q.len() >= QUEUE
                && let Some((old, _)) = q.pop_front()
            {
                let n = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(subject = %old, dropped = n, "mail queue full: oldest mail dropped");
            }
            q.push_back((label, message));
        }
        self.shared.wake.notify_one();
    }

    /// Counters so far.
    pub fn stats(&self) -> MailStats {
        MailStats {
            sent: self.shared.sent.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
        }
    }

    /// Mails still queued (not counting one being sent).
    pub fn pending(&self) -> usize {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Sends what is queued for at most `limit`, then stops the sender; what is left is
    /// abandoned (logged).
    pub async fn close(mut self, limit: Duration) -> MailStats {
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
        if tokio::time::timeout(limit, &mut self.task).await.is_err() {
            self.task.abort();
            let left = self.pending();
            tracing::warn!(abandoned = left, "mail still queued at exit was abandoned");
        }
        self.stats()
    }
}

async fn sender(settings: Settings, shared: Arc<Shared>) {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.server.0)
        .port(settings.server.1)
        .hello_name(ClientId::Domain(settings.helo.clone()))
        .timeout(Some(settings.timeout))
        .build();
    // Each attempt is bounded as a whole too: lettre's timeout covers one step at a time.
    let attempt_limit = settings.timeout.saturating_mul(2);
    loop {
        let next = shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        let Some((label, message)) = next else {
            if shared.closing.load(Ordering::Relaxed) {
                return;
            }
            shared.wake.notified().await;
            continue;
        };
        let mut delay = BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let r = tokio::time::timeout(attempt_limit, transport.send(message.clone())).await;
            let (err, permanent) = match r {
                Ok(Ok(_)) => {
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(subject = %label, "SMTP alert successfully sent.");
                    break;
                }
                // RFC 5321 §4.2.1: a 5yz reply is a permanent failure; sending the same mail
                // again cannot succeed.
                Ok(Err(e)) => (e.to_string(), e.is_permanent()),
                Err(_) => ("timed out".to_string(), false),
            };
            if permanent || attempt == ATTEMPTS || shared.closing.load(Ordering::Relaxed) {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(subject = %label, server = %settings.server.0, port = settings.server.1, attempts = attempt, error = %err, "smtp alert not sent");
                break;
            }
            tracing::info!(subject = %label, server = %settings.server.0, port = settings.server.1, attempt, retry_in = ?delay, error = %err, "smtp alert failed; retrying");
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_bodies_are_keepalived_s() {
        assert_eq!(
            subject("lb1", Subject::Instance, "VI_1", Announced::Master),
            "[lb1] VRRP Instance VI_1 - Entering MASTER state"
        );
        assert_eq!(
            subject("lb1", Subject::Group, "G1", Announced::Stop),
            "[lb1] VRRP Group G1 - Stopping"
        );
        assert_eq!(
            body(Subject::Instance, Announced::Backup),
            "=> VRRP Instance is no longer owning VRRP VIPs <="
        );
    }

    #[test]
    fn no_server_or_no_recipient_means_no_mail() {
        let mut g = GlobalDefs {
            notification_email: vec!["ops@example.com".into()],
            ..GlobalDefs::default()
        };
        assert!(Settings::from_global(&g).unwrap().is_none());
        g.smtp_server = Some(("127.0.0.1".into(), 25));
        let s = Settings::from_global(&g).unwrap().unwrap();
        assert_eq!(s.to.len(), 1);
        g.notification_email.clear();
        assert!(Settings::from_global(&g).unwrap().is_none());
    }

    #[test]
    fn message_has_keepalived_s_headers() {
        let g = GlobalDefs {
            notification_email: vec!["a@example.com".into(), "b@example.com".into()],
            notification_email_from: Some("vrrp@example.com".into()),
            smtp_server: Some(("127.0.0.1".into(), 25)),
            router_id: Some("lb1".into()),
            ..GlobalDefs::default()
        };
        let s = Settings::from_global(&g).unwrap().unwrap();
        let m = s
            .message(
                Subject::Instance,
                "VI_1",
                Announced::Master,
                SystemTime::UNIX_EPOCH,
            )
            .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        for want in [
            "Subject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\n",
            "From: vrrp@example.com\r\n",
            "To: a@example.com, b@example.com\r\n",
            "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n",
            "X-Mailer: Keepalived\r\n",
            "\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from {text}");
        }
    }

    /// A server answering MAIL FROM with 550 (permanent, RFC 5321 §4.2.1): the mail is given
    /// up after one attempt, not retried; a 451 (transient) is retried.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_permanent_refusal_is_not_retried() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        for (code, attempts) in [("550", 1usize), ("451", ATTEMPTS as usize)] {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            let conns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let seen = conns.clone();
            let server = tokio::spawn(async move {
                while let Ok((s, _)) = l.accept().await {
                    seen.fetch_add(1, Ordering::SeqCst);
                    let (r, mut w) = s.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let _ = w.write_all(b"220 test ESMTP\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let up = line.to_ascii_uppercase();
                        let answer = if up.starts_with("EHLO") || up.starts_with("HELO") {
                            "250 test\r\n".to_string()
                        } else if up.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            break;
                        } else if up.starts_with("MAIL") {
                            format!("{code} refused\r\n")
                        } else {
                            "250 ok\r\n".to_string()
                        };
                        if w.write_all(answer.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                }
            });
            let g = GlobalDefs {
                notification_email: vec!["ops@example.com".into()],
                notification_email_from: Some("vrrp@example.com".into()),
                smtp_server: Some(("127.0.0.1".into(), port)),
                smtp_connect_timeout: Duration::from_secs(2),
                ..GlobalDefs::default()
            };
            let s = Settings::from_global(&g).unwrap().unwrap();
            let m = s
                .message(
                    Subject::Instance,
                    "VI_1",
                    Announced::Master,
                    SystemTime::UNIX_EPOCH,
                )
                .unwrap();
            let mailer = Mailer::start(s);
            mailer.push("VI_1 MASTER".into(), m);
            // Retries take 1 + 2 + 4 s; closing would cut them short, so wait for the verdict.
            for _ in 0..150 {
                if mailer.stats().failed > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let stats = mailer.close(Duration::from_secs(1)).await;
            assert_eq!((stats.sent, stats.failed), (0, 1), "{code}");
            assert_eq!(conns.load(Ordering::SeqCst), attempts, "{code}");
            server.abort();
        }
    }
}

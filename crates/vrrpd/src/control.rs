//! The control socket behind `vrrpd status [--json]`.
//!
//! Owns the Unix socket (binding it next to a possibly stale file, removing it at exit), its
//! request/answer format (one request line per connection: `status` or `status json`), the
//! report built from instance snapshots, its text and JSON renderings, and the client side used
//! by `vrrpd status`. It must not change any state: it only reads [`crate::status`].

use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use lbcore::vrrp::fsm::{Reason, State};
use lbcore::vrrp::track::{Effect, Status};

use crate::daemon::RunOptions;
use crate::status::{InstanceStatus, Registry, Shared, Utc};

/// How long a client has to send its request line.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest request line accepted (bytes, newline included).
pub const MAX_REQUEST: usize = 64;
/// How long the client waits for the daemon's answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections served at once; more are closed at once and counted as refused.
pub const MAX_CONNECTIONS: usize = 16;
/// Socket file permissions: the answer includes nothing secret, but only root asks.
const SOCKET_MODE: u32 = 0o600;

/// A request on the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `status`: the human table.
    Status,
    /// `status json`: the same report as JSON.
    StatusJson,
}

impl Request {
    /// The request line the client sends.
    pub fn line(self) -> &'static str {
        match self {
            Request::Status => "status\n",
            Request::StatusJson => "status json\n",
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No newline within [`MAX_REQUEST`] bytes.
    #[error("request longer than {MAX_REQUEST} bytes")]
    TooLong,
    /// The connection closed or timed out before a full line.
    #[error("incomplete request")]
    Incomplete,
    /// Not a known request.
    #[error("unknown request (expected `status` or `status json`)")]
    Unknown,
}

/// Parses one request line (without its newline; a trailing `\r` and surrounding blanks are
/// ignored).
pub fn parse_request(line: &[u8]) -> Result<Request, RequestError> {
    let text = std::str::from_utf8(line).map_err(|_| RequestError::Unknown)?;
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    match words.as_slice() {
        ["status"] => Ok(Request::Status),
        ["status", "json"] => Ok(Request::StatusJson),
        _ => Err(RequestError::Unknown),
    }
}

/// Counters of the control socket, reported in every answer.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests answered.
    pub answered: AtomicU64,
    /// Requests refused (malformed, too long, incomplete, or over [`MAX_CONNECTIONS`]).
    pub malformed: AtomicU64,
}

/// Binds the control socket at `path` (its directory is created if missing). A file left by a
/// vrrpd that died is replaced; a socket another live process answers on is not
/// (`AddrInUse`), so two daemons never steal each other's.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match UnixListener::bind(path) {
        Ok(l) => return finish_bind(l, path),
        Err(e) if e.kind() != io::ErrorKind::AddrInUse => return Err(e),
        Err(_) => {}
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is answered by another process", path.display()),
        ));
    }
    std::fs::remove_file(path)?;
    finish_bind(UnixListener::bind(path)?, path)
}

fn finish_bind(l: UnixListener, path: &Path) -> io::Result<UnixListener> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))?;
    Ok(l)
}

/// Starts answering status queries until `stop`; the socket file is removed when it ends.
/// `None` when no socket is configured or it cannot be bound (logged; the daemon runs on).
pub fn spawn(
    opts: &RunOptions,
    statuses: Registry,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let path = opts.control_socket.clone()?;
    let listener = match bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot open the control socket; vrrpd status will not answer");
            return None;
        }
    };
    tracing::info!(path = %path.display(), "control socket listening");
    let counters = Arc::new(Counters::default());
    Some(tokio::spawn(serve(
        listener, path, statuses, counters, stop,
    )))
}

async fn serve(
    listener: UnixListener,
    path: PathBuf,
    statuses: Registry,
    counters: Arc<Counters>,
    stop: CancellationToken,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            r = listener.accept() => match r {
                Ok((stream, _)) if conns.len() >= MAX_CONNECTIONS => {
                    let n = counters.malformed.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::warn!(malformed = n, "control socket busy; connection refused");
                    drop(stream);
                }
                Ok((stream, _)) => {
                    let statuses = statuses.clone();
                    let counters = Arc::clone(&counters);
                    conns.spawn(answer(stream, statuses, counters));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    conns.shutdown().await;
    drop(listener);
    if let Err(e) = std::fs::remove_file(&path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the control socket");
        }
    }
}

async fn read_request(stream: &mut UnixStream) -> Result<Request, RequestError> {
    let mut buf = Vec::with_capacity(MAX_REQUEST);
    let mut chunk = [0u8; MAX_REQUEST];
    let read = async {
        loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|_| RequestError::Incomplete)?;
            if n == 0 {
                return Err(RequestError::Incomplete);
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                return parse_request(&buf[..pos]);
            }
            if buf.len() >= MAX_REQUEST {
                return Err(RequestError::TooLong);
            }
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, read)
        .await
        .unwrap_or(Err(RequestError::Incomplete))
}

async fn answer(mut stream: UnixStream, statuses: Registry, counters: Arc<Counters>) {
    let text = match read_request(&mut stream).await {
        Ok(req) => {
            counters.answered.fetch_add(1, Ordering::Relaxed);
            // The instances of this moment (a reload may add or remove some).
            let instances = statuses.lock().clone();
            let r = report(&instances, &counters);
            match req {
                Request::Status => render_text(&r),
                Request::StatusJson => render_json(&r),
            }
        }
        Err(e) => {
            let n = counters.malformed.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(error = %e, malformed = n, "control request refused");
            format!("error: {e}\n")
        }
    };
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, stream.write_all(text.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// Everything `vrrpd status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// One entry per instance, in configuration order.
    pub instances: Vec<InstanceReport>,
    /// The control socket's own counters.
    pub control: ControlReport,
}

/// The control socket's counters.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ControlReport {
    /// Requests answered (this one included).
    pub answered: u64,
    /// Requests refused as malformed.
    pub malformed: u64,
}

/// One instance in the report.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    /// Instance name.
    pub name: String,
    /// VRID.
    pub vrid: u8,
    /// Interface.
    pub interface: String,
    /// `INIT`, `BACKUP`, `MASTER` or `FAULT` (keepalived's names).
    pub state: &'static str,
    /// Configured priority.
    pub base_priority: u8,
    /// Effective priority (base plus tracker shares, clamped).
    pub effective_priority: u8,
    /// Each tracker's share.
    pub trackers: Vec<TrackerReport>,
    /// The master: ourselves when MASTER, else the one we hear.
    pub master: Option<MasterReport>,
    /// The most recent transition.
    pub last_transition: Option<TransitionReport>,
    /// Protocol counters.
    pub counters: CounterReport,
    /// Packets dropped, by kind.
    pub drops: std::collections::BTreeMap<String, u64>,
}

/// One tracker's share.
#[derive(Debug, Clone, Serialize)]
pub struct TrackerReport {
    /// Tracker name.
    pub name: String,
    /// `script`, `process`, `interface`, `file` or `proxyd`.
    pub kind: &'static str,
    /// `init`, `up` or `down`.
    pub status: &'static str,
    /// Priority added now (0 while it adds nothing or faults).
    pub delta: i32,
    /// True when this tracker puts the instance in FAULT.
    pub fault: bool,
}

/// The master as far as this instance knows.
#[derive(Debug, Clone, Serialize)]
pub struct MasterReport {
    /// Its address (`None` when we are master and the state machine does not name ours).
    pub address: Option<String>,
    /// Its priority, when known.
    pub priority: Option<u8>,
    /// True when that master is this instance.
    pub is_self: bool,
}

/// A transition with its wall-clock time.
#[derive(Debug, Clone, Serialize)]
pub struct TransitionReport {
    /// Seconds since the Unix epoch (with microseconds).
    pub at_unix: f64,
    /// The same time, RFC 3339 UTC.
    pub at: String,
    /// Previous state.
    pub from: &'static str,
    /// New state.
    pub to: &'static str,
    /// Why.
    pub reason: &'static str,
}

/// Protocol counters of one instance.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CounterReport {
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Adverts received (that passed validation).
    pub adverts_received: u64,
    /// Times this instance became master.
    pub became_master: u64,
    /// Times it left master.
    pub released_master: u64,
    /// Priority-0 adverts sent.
    pub priority_zero_sent: u64,
    /// Priority-0 adverts received.
    pub priority_zero_received: u64,
}

/// keepalived's name of a state.
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

/// The name of a transition reason in status output.
pub fn reason_name(r: Reason) -> &'static str {
    match r {
        Reason::Startup => "startup",
        Reason::MasterDown => "master_down",
        Reason::PeerStopped => "peer_stopped",
        Reason::HigherPriority => "higher_priority",
        Reason::Preempt => "preempt",
        Reason::Fault => "fault",
        Reason::FaultCleared => "fault_cleared",
        Reason::Shutdown => "shutdown",
        Reason::SyncGroup => "sync_group",
        Reason::Reload => "reload",
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Init => "init",
        Status::Up => "up",
        Status::Down => "down",
    }
}

/// Builds the report from the snapshots.
pub fn report(statuses: &[Shared<InstanceStatus>], counters: &Counters) -> Report {
    let instances = statuses
        .iter()
        .map(|s| instance_report(&s.lock()))
        .collect();
    Report {
        instances,
        control: ControlReport {
            answered: counters.answered.load(Ordering::Relaxed),
            malformed: counters.malformed.load(Ordering::Relaxed),
        },
    }
}

/// One instance's part of the report.
pub fn instance_report(s: &InstanceStatus) -> InstanceReport {
    let trackers = s
        .track
        .iter()
        .map(|sh| TrackerReport {
            name: sh.name.clone(),
            kind: sh.kind.as_str(),
            status: status_name(sh.status),
            delta: match sh.effect {
                Effect::Delta(d) => d,
                Effect::Fault => 0,
            },
            fault: sh.effect == Effect::Fault,
        })
        .collect();
    let master = match s.state {
        State::Master => Some(MasterReport {
            address: s.master_addr.map(|a| a.to_string()),
            priority: Some(s.effective_priority),
            is_self: true,
        }),
        State::Backup if s.master_addr.is_some() || s.master_priority.is_some() => {
            Some(MasterReport {
                address: s.master_addr.map(|a| a.to_string()),
                priority: s.master_priority,
                is_self: false,
            })
        }
        _ => None,
    };
    let last_transition = s.last_transition().map(|t| {
        let u = Utc::from_system(t.wall);
        TransitionReport {
            at_unix: u.secs as f64 + f64::from(u.micros) / 1e6,
            at: u.rfc3339(),
            from: state_name(t.from),
            to: state_name(t.to),
            reason: reason_name(t.reason),
        }
    });
    let st = &s.stats;
    let mut drops: std::collections::BTreeMap<String, u64> = s
        .drops
        .iter()
        .map(|(k, v)| ((*k).to_string(), *v))
        .collect();
    for (k, v) in [
        ("auth", st.auth_errors),
        ("interval", st.interval_errors),
        ("address_list", st.addr_list_errors),
        ("vrid", st.vrid_errors),
        ("version", st.version_errors),
    ] {
        if v > 0 {
            *drops.entry(k.to_string()).or_default() += v;
        }
    }
    InstanceReport {
        name: s.name.clone(),
        vrid: s.vrid,
        interface: s.interface.clone(),
        state: state_name(s.state),
        base_priority: s.base_priority,
        effective_priority: s.effective_priority,
        trackers,
        master,
        last_transition,
        counters: CounterReport {
            adverts_sent: st.adverts_tx,
            adverts_received: st.adverts_rx,
            became_master: st.became_master,
            released_master: st.released_master,
            priority_zero_sent: st.priority_zero_tx,
            priority_zero_received: st.priority_zero_rx,
        },
        drops,
    }
}

/// The report as JSON (one document, newline-terminated).
pub fn render_json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot serialize the status: {e}") }).to_string()
    });
    s.push('\n');
    s
}

/// The report as a human-readable table: one summary row per instance, then its details.
pub fn render_text(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let rows: Vec<[String; 7]> = r
        .instances
        .iter()
        .map(|i| {
            let master = match &i.master {
                Some(m) if m.is_self => "self".to_string(),
                Some(m) => format!(
                    "{} ({})",
                    m.address.as_deref().unwrap_or("?"),
                    m.priority.map_or("?".to_string(), |p| p.to_string())
                ),
                None => "-".to_string(),
            };
            let since = i.last_transition.as_ref().map_or("-".to_string(), |t| {
                format!("{} {}->{} ({})", t.at, t.from, t.to, t.reason)
            });
            [
                i.name.clone(),
                i.vrid.to_string(),
                i.interface.clone(),
                i.state.to_string(),
                format!("{}/{}", i.base_priority, i.effective_priority),
                master,
                since,
            ]
        })
        .collect();
    let header = [
        "INSTANCE",
        "VRID",
        "INTERFACE",
        "STATE",
        "PRIO base/eff",
        "MASTER (prio)",
        "LAST TRANSITION",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut l = String::new();
        for (n, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if n + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        l.trim_end().to_string() + "\n"
    };
    out.push_str(&line(&header));
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cells));
    }
    for i in &r.instances {
        let _ = writeln!(out, "\n{}:", i.name);
        for t in &i.trackers {
            let share = if t.fault {
                "FAULT".to_string()
            } else {
                format!("{:+}", t.delta)
            };
            let _ = writeln!(
                out,
                "  tracker {} ({}): {} {}",
                t.name, t.kind, t.status, share
            );
        }
        let c = &i.counters;
        let _ = writeln!(
            out,
            "  adverts: sent {} received {}; became master {}, released master {}; priority 0: sent {} received {}",
            c.adverts_sent,
            c.adverts_received,
            c.became_master,
            c.released_master,
            c.priority_zero_sent,
            c.priority_zero_received
        );
        if i.drops.is_empty() {
            out.push_str("  drops: none\n");
        } else {
            let d: Vec<String> = i.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(out, "  drops: {}", d.join(", "));
        }
    }
    let _ = writeln!(
        out,
        "\ncontrol socket: {} answered, {} malformed",
        r.control.answered, r.control.malformed
    );
    out
}

/// Why `vrrpd status` got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, sending or reading failed.
    #[error("cannot reach vrrpd at {path}: {source}")]
    Unreachable {
        /// The control socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The daemon refused the request.
    #[error("vrrpd at {path} refused the request: {answer}")]
    Refused {
        /// The control socket path.
        path: PathBuf,
        /// Its one-line error.
        answer: String,
    },
}

/// Sends one request to the daemon at `path` and returns its answer (blocking, bounded by
/// [`CLIENT_TIMEOUT`] per operation).
pub fn query(path: &Path, req: Request) -> Result<String, ClientError> {
    let unreachable = |source| ClientError::Unreachable {
        path: path.to_path_buf(),
        source,
    };
    let mut s = std::os::unix::net::UnixStream::connect(path).map_err(unreachable)?;
    s.set_read_timeout(Some(CLIENT_TIMEOUT))
        .map_err(unreachable)?;
    s.set_write_timeout(Some(CLIENT_TIMEOUT))
        .map_err(unreachable)?;
    s.write_all(req.line().as_bytes()).map_err(unreachable)?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(unreachable)?;
    if let Some(e) = answer.strip_prefix("error: ") {
        return Err(ClientError::Refused {
            path: path.to_path_buf(),
            answer: e.trim_end().to_string(),
        });
    }
    if answer.is_empty() {
        return Err(unreachable(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "empty answer",
        )));
    }
    Ok(answer)
}

/// `vrrpd status [--json]`: prints the answer on stdout and returns the exit code (0 answered,
/// 1 the daemon could not be reached or refused, with the socket path in the message).
pub fn status_command(path: &Path, json: bool) -> u8 {
    let req = if json {
        Request::StatusJson
    } else {
        Request::Status
    };
    match query(path, req) {
        Ok(answer) => {
            print!("{answer}");
            crate::exit::OK
        }
        Err(e) => {
            eprintln!("vrrpd: {e}");
            crate::exit::FATAL
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime};

    use super::*;
    use crate::clock;
    use crate::status::Transition;
    use crate::track::{Kind, Share};

    #[test]
    fn requests_parse_and_junk_is_refused() {
        assert_eq!(parse_request(b"status"), Ok(Request::Status));
        assert_eq!(parse_request(b" status json \r"), Ok(Request::StatusJson));
        assert_eq!(parse_request(b"status xml"), Err(RequestError::Unknown));
        assert_eq!(parse_request(b""), Err(RequestError::Unknown));
        assert_eq!(parse_request(b"\xff\xfe"), Err(RequestError::Unknown));
    }

    fn sample(now: Instant) -> InstanceStatus {
        let mut s = InstanceStatus::new("VI_1", 51, "eth0", 100);
        s.state = State::Backup;
        s.effective_priority = 98;
        s.master_addr = Some("192.0.2.11".parse().expect("addr"));
        s.master_priority = Some(101);
        s.track = vec![Share {
            name: "chk_proxyd".into(),
            kind: Kind::Script,
            status: Status::Down,
            effect: Effect::Delta(-2),
        }];
        s.stats.adverts_rx = 7;
        s.stats.auth_errors = 1;
        s.count_drop("ttl");
        s.record(Transition {
            at: now.checked_sub(Duration::from_secs(2)).unwrap_or(now),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_497_831),
            from: State::Initialize,
            to: State::Backup,
            reason: Reason::Startup,
        });
        s
    }

    #[test]
    fn report_carries_priorities_master_transition_and_counters() {
        let now = clock::now();
        let shared = vec![Shared::new(sample(now))];
        let counters = Counters::default();
        counters.malformed.fetch_add(3, Ordering::Relaxed);
        let r = report(&shared, &counters);
        let i = &r.instances[0];
        assert_eq!(
            (i.state, i.base_priority, i.effective_priority),
            ("BACKUP", 100, 98)
        );
        let m = i.master.as_ref().expect("master");
        assert_eq!(
            (m.address.as_deref(), m.priority, m.is_self),
            (Some("192.0.2.11"), Some(101), false)
        );
        let t = i.last_transition.as_ref().expect("transition");
        assert_eq!(t.at, "2026-11-24T05:23:51.000000Z");
        assert_eq!((t.from, t.to, t.reason), ("INIT", "BACKUP", "startup"));
        assert_eq!(i.trackers[0].delta, -2);
        assert_eq!(i.drops.get("ttl"), Some(&1));
        assert_eq!(i.drops.get("auth"), Some(&1));
        assert_eq!(r.control.malformed, 3);

        let v: serde_json::Value = serde_json::from_str(&render_json(&r)).expect("json");
        assert_eq!(v["instances"][0]["master"]["priority"], 101);
        assert_eq!(v["instances"][0]["trackers"][0]["status"], "down");
        assert_eq!(v["instances"][0]["counters"]["adverts_received"], 7);

        let text = render_text(&r);
        let row = text.lines().nth(1).expect("row");
        for part in [
            "VI_1",
            "51",
            "eth0",
            "BACKUP",
            "100/98",
            "192.0.2.11 (101)",
            "startup",
        ] {
            assert!(row.contains(part), "{part} missing in {row:?}");
        }
        assert!(
            text.contains("tracker chk_proxyd (script): down -2"),
            "{text}"
        );
        assert!(text.contains("3 malformed"), "{text}");
    }

    #[tokio::test]
    async fn socket_answers_refuses_junk_and_is_removed_at_stop() {
        let dir = std::env::temp_dir().join(format!("vrrpd-control-{}", std::process::id()));
        let path = dir.join("sub").join("control.sock");
        let _ = std::fs::remove_dir_all(&dir);
        // A stale socket file (nobody listening) is replaced.
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        drop(std::os::unix::net::UnixListener::bind(&path).expect("stale"));
        let opts = RunOptions {
            config_path: PathBuf::from("/nonexistent"),
            handle_signals: false,
            ignore_sigint: false,
            sd_notify: false,
            control_socket: Some(path.clone()),
        };
        let now = clock::now();
        let stop = CancellationToken::new();
        let task = spawn(
            &opts,
            Shared::new(vec![Shared::new(sample(now))]),
            stop.clone(),
        )
        .expect("spawned");
        let mode = std::fs::metadata(&path)
            .expect("socket")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let p = path.clone();
        let (text, json, junk) = tokio::task::spawn_blocking(move || {
            let junk = {
                let mut s = std::os::unix::net::UnixStream::connect(&p).expect("connect");
                s.write_all(b"gimme\n").expect("write");
                let mut a = String::new();
                s.read_to_string(&mut a).expect("read");
                a
            };
            (
                query(&p, Request::Status),
                query(&p, Request::StatusJson),
                junk,
            )
        })
        .await
        .expect("client");
        assert_eq!(
            junk,
            "error: unknown request (expected `status` or `status json`)\n"
        );
        assert!(text.expect("text").contains("BACKUP"));
        let v: serde_json::Value = serde_json::from_str(&json.expect("json")).expect("parse");
        assert_eq!(v["control"]["malformed"], 1);
        assert_eq!(v["control"]["answered"], 2);
        // A live socket is not stolen (bind's probe connection sends nothing: one more refusal).
        assert_eq!(
            bind(&path).expect_err("in use").kind(),
            io::ErrorKind::AddrInUse
        );

        stop.cancel();
        task.await.expect("task");
        assert!(!path.exists(), "socket file left behind");
        let err = query(&path, Request::Status).expect_err("gone");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

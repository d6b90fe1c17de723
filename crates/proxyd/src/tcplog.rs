//! HAProxy's `option tcplog` access-log line and the logger that ships it.
//!
//! Owns formatting `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`
//! (HAProxy configuration manual §8.2.2) from a finished session's record, and [`Logger`]: one
//! task fed by a bounded channel, holding one socket per `log` target. It must not decide what a
//! session logs nor when.
//!
//! # Logger
//!
//! - [`Logger::log`] never blocks: when the channel is full the line is dropped and counted
//!   ([`Logger::dropped`]), as HAProxy drops lines it cannot send.
//! - Targets: `ip[:port]` (UDP, port 514 by default; `udp@`, `ipv4@`, `ipv6@` prefixes
//!   accepted), an absolute path or `unix@path` (Unix datagram socket, `/dev/log`), `stdout`,
//!   `stderr`. Sockets are unconnected and every datagram is sent with `sendto(2)` to the address,
//!   as HAProxy does, so a Unix socket missing at start (or recreated by a syslog restart) is
//!   simply retried on the next line; failed sends are counted ([`Logger::failed`]). A send that
//!   would block is a failure too: the logger never waits on a slow syslog daemon.
//! - Format: RFC 3164 as HAProxy's `update_log_hdr` writes it,
//!   `<PRI>Mmm dd hh:mm:ss proxyd[pid]: <line>\n` (day space-padded, no hostname: HAProxy adds one
//!   only with `log-send-hostname`; the tag is the program name like HAProxy's default
//!   `log-tag`). PRI = facility × 8 + severity (RFC 3164 §4.1.1). The time is UTC (HAProxy uses
//!   the local time zone; the two agree on hosts running in UTC). Datagrams are cut at 1024
//!   bytes, HAProxy's default `len`. `stdout`/`stderr` get the bare line (HAProxy's
//!   `format raw`, the usual choice for those targets).
//! - Levels: a target's `max` drops messages less severe than it; `min` raises more severe ones
//!   to it (HAProxy `log ... <facility> [max [min]]`). Access lines are `info`.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lbcore::config::proxy::LogTarget;
use tokio::net::{UdpSocket, UnixDatagram};
use tokio::sync::mpsc;

/// What a session reports when it ends. The names are borrowed from the configuration, so a
/// connection copies none of them.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// Client address (`%ci:%cp`).
    pub client: SocketAddr,
    /// Accept time (`%t`).
    pub accepted: SystemTime,
    /// Frontend name (`%ft`).
    pub frontend: &'a str,
    /// Backend name (`%b`), `<NOSRV>`-style placeholders when none.
    pub backend: &'a str,
    /// Server name (`%s`).
    pub server: &'a str,
    /// Time waiting in queue (`%Tw`), `None` = never reached that stage (-1).
    pub tw: Option<Duration>,
    /// Time to connect to the server (`%Tc`), `None` = -1.
    pub tc: Option<Duration>,
    /// Total session time (`%Tt`).
    pub tt: Duration,
    /// Bytes sent to the client (`%B`).
    pub bytes: u64,
    /// Termination state (`%ts`, two characters; `--` = normal).
    pub termination: &'static str,
    /// `%ac/%fc/%bc/%sc/%rc`: process, frontend, backend, server connections and retries.
    pub counts: [u64; 5],
    /// `%sq/%bq`: position in the server queue and in the backend queue (0 = not queued there).
    pub queue: [u64; 2],
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

struct Civil {
    year: i64,
    month: usize,
    day: i64,
    hour: u64,
    min: u64,
    sec: u64,
    millis: u32,
}

/// UTC calendar fields of `t` (times before the epoch read as the epoch).
fn civil(t: SystemTime) -> Civil {
    let dt = time::OffsetDateTime::from(t.max(UNIX_EPOCH));
    Civil {
        year: i64::from(dt.year()),
        month: usize::from(u8::from(dt.month())),
        day: i64::from(dt.day()),
        hour: u64::from(dt.hour()),
        min: u64::from(dt.minute()),
        sec: u64::from(dt.second()),
        millis: u32::from(dt.millisecond()),
    }
}

/// `dd/Mon/yyyy:HH:MM:SS.mmm` in UTC.
pub fn format_date(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02}.{:03}",
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.min,
        c.sec,
        c.millis
    )
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-1".to_owned(), |d| d.as_millis().to_string())
}

/// The tcplog line for `r`.
pub fn format(r: &Record<'_>) -> String {
    let mut s = String::with_capacity(128);
    let ip = r.client.ip().to_canonical();
    let _ = write!(
        s,
        "{ip}:{} [{}] {} {}/{} {}/{}/{} {} {} {}/{}/{}/{}/{} {}/{}",
        r.client.port(),
        format_date(r.accepted),
        r.frontend,
        r.backend,
        r.server,
        ms(r.tw),
        ms(r.tc),
        r.tt.as_millis(),
        r.bytes,
        r.termination,
        r.counts[0],
        r.counts[1],
        r.counts[2],
        r.counts[3],
        r.counts[4],
        r.queue[0],
        r.queue[1],
    );
    s
}

/// Lines the logger channel holds before [`Logger::log`] starts dropping.
pub const DEFAULT_CAPACITY: usize = 4096;

/// HAProxy's default `len`: the longest datagram sent.
pub const MAX_LINE: usize = 1024;

/// Syslog severities (RFC 3164 §4.1.1), most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// 0
    Emerg = 0,
    /// 1
    Alert,
    /// 2
    Crit,
    /// 3
    Err,
    /// 4
    Warning,
    /// 5
    Notice,
    /// 6: access lines.
    Info,
    /// 7
    Debug,
}

impl Level {
    /// The level named `name` as HAProxy spells it.
    pub fn from_name(name: &str) -> Option<Level> {
        Some(match name {
            "emerg" => Level::Emerg,
            "alert" => Level::Alert,
            "crit" => Level::Crit,
            "err" => Level::Err,
            "warning" => Level::Warning,
            "notice" => Level::Notice,
            "info" => Level::Info,
            "debug" => Level::Debug,
            _ => return None,
        })
    }
}

/// Syslog facility code of `name` (`local0` = 16), `None` if unknown.
fn facility_code(name: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
        "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];
    NAMES
        .iter()
        .position(|n| *n == name)
        .and_then(|p| u8::try_from(p).ok())
}

/// Where one target sends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Address {
    Udp(SocketAddr),
    Unix(std::path::PathBuf),
    Stdout,
    Stderr,
}

fn parse_address(a: &str) -> Option<Address> {
    match a {
        "stdout" => return Some(Address::Stdout),
        "stderr" => return Some(Address::Stderr),
        _ => {}
    }
    if let Some(p) = a.strip_prefix("unix@") {
        return Some(Address::Unix(p.into()));
    }
    if a.starts_with('/') {
        return Some(Address::Unix(a.into()));
    }
    let a = ["udp@", "udp4@", "udp6@", "ipv4@", "ipv6@"]
        .iter()
        .find_map(|p| a.strip_prefix(p))
        .unwrap_or(a);
    a.parse::<SocketAddr>()
        .ok()
        .or_else(|| a.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 514)))
        .map(Address::Udp)
}

/// One target as a log set uses it.
#[derive(Debug, Clone, Copy)]
struct Route {
    sink: usize,
    facility: u8,
    max: Level,
    min: Option<Level>,
}

#[derive(Debug)]
struct Msg {
    set: usize,
    level: Level,
    line: String,
}

#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    failed: AtomicU64,
    sent: AtomicU64,
}

/// The access-log sink: a handle on the logger task (cheap to clone).
#[derive(Debug, Clone)]
pub struct Logger {
    tx: mpsc::Sender<Msg>,
    /// Per set: it has at least one usable target (else lines go to tracing).
    has_targets: Arc<[bool]>,
    counters: Arc<Counters>,
}

impl Logger {
    /// Starts the logger task (needs a tokio runtime). `sets[i]` lists the targets of log set
    /// `i` (a frontend's `log` lines); `capacity` bounds the channel. Unparsable addresses are
    /// warned about once and skipped.
    pub fn start(sets: Vec<Vec<LogTarget>>, capacity: usize) -> Logger {
        let mut sinks: Vec<Address> = Vec::new();
        let routes: Vec<Vec<Route>> = sets
            .iter()
            .map(|targets| {
                targets
                    .iter()
                    .filter_map(|t| {
                        let Some(addr) = parse_address(&t.address) else {
                            tracing::warn!(address = %t.address, "unsupported log target ignored");
                            return None;
                        };
                        let sink = sinks.iter().position(|s| *s == addr).unwrap_or_else(|| {
                            sinks.push(addr);
                            sinks.len() - 1
                        });
                        Some(Route {
                            sink,
                            facility: facility_code(&t.facility).unwrap_or(16),
                            max: t
                                .level
                                .as_deref()
                                .and_then(Level::from_name)
                                .unwrap_or(Level::Debug),
                            min: t.min_level.as_deref().and_then(Level::from_name),
                        })
                    })
                    .collect()
            })
            .collect();
        let has_targets = routes.iter().map(|r| !r.is_empty()).collect();
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(rx, sinks, routes, counters.clone()));
        Logger {
            tx,
            has_targets,
            counters,
        }
    }

    /// Queues `line` at `level` for every target of log set `set`; never blocks. A set without
    /// targets sends the line to tracing instead.
    pub fn log(&self, set: usize, level: Level, line: String) {
        if !self.has_targets.get(set).copied().unwrap_or(false) {
            tracing::info!(line, "tcplog");
            return;
        }
        if self.tx.try_send(Msg { set, level, line }).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped because the channel was full (or the task gone).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Datagrams or writes that failed (target missing, would block, I/O error).
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// Datagrams or writes sent.
    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::Relaxed)
    }
}

enum Sink {
    Udp(Option<UdpSocket>, SocketAddr),
    Unix(Option<UnixDatagram>, std::path::PathBuf),
    Stdout(tokio::io::Stdout),
    Stderr(tokio::io::Stderr),
}

impl Sink {
    async fn open(a: Address) -> Sink {
        match a {
            Address::Udp(addr) => {
                let bind: SocketAddr = if addr.is_ipv6() {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                };
                let s = UdpSocket::bind(bind).await;
                if let Err(e) = &s {
                    tracing::warn!(%addr, error = %e, "cannot open log socket");
                }
                Sink::Udp(s.ok(), addr)
            }
            Address::Unix(path) => {
                let s = UnixDatagram::unbound();
                if let Err(e) = &s {
                    tracing::warn!(path = %path.display(), error = %e, "cannot open log socket");
                }
                Sink::Unix(s.ok(), path)
            }
            Address::Stdout => Sink::Stdout(tokio::io::stdout()),
            Address::Stderr => Sink::Stderr(tokio::io::stderr()),
        }
    }

    /// Sends without waiting on the receiver: a send that would block fails (HAProxy drops too).
    async fn send(&mut self, datagram: &[u8], raw: &str) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt as _;
        let unavailable = || std::io::Error::from(std::io::ErrorKind::NotConnected);
        match self {
            Sink::Udp(s, addr) => {
                let s = s.as_ref().ok_or_else(unavailable)?;
                match s.try_send_to(datagram, *addr) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        // A fresh socket is not known writable until the reactor polled it once.
                        let _ = tokio::time::timeout(WRITABLE_GRACE, s.writable()).await;
                        s.try_send_to(datagram, *addr).map(drop)
                    }
                    r => r.map(drop),
                }
            }
            Sink::Unix(s, path) => {
                let s = s.as_ref().ok_or_else(unavailable)?;
                match s.try_send_to(datagram, &*path) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let _ = tokio::time::timeout(WRITABLE_GRACE, s.writable()).await;
                        s.try_send_to(datagram, &*path).map(drop)
                    }
                    r => r.map(drop),
                }
            }
            Sink::Stdout(o) => {
                o.write_all(raw.as_bytes()).await?;
                o.write_all(b"\n").await
            }
            Sink::Stderr(o) => {
                o.write_all(raw.as_bytes()).await?;
                o.write_all(b"\n").await
            }
        }
    }
}

/// How long a send waits for a socket the reactor has not yet seen writable.
const WRITABLE_GRACE: std::time::Duration = std::time::Duration::from_millis(5);

/// `<PRI>Mmm dd hh:mm:ss proxyd[pid]: ` for `t` (HAProxy's `update_log_hdr`, no hostname).
pub fn syslog_header(pri: u8, t: SystemTime, pid: u32) -> String {
    let c = civil(t);
    format!(
        "<{pri}>{} {:2} {:02}:{:02}:{:02} proxyd[{pid}]: ",
        MONTHS[c.month - 1],
        c.day,
        c.hour,
        c.min,
        c.sec
    )
}

async fn run(
    mut rx: mpsc::Receiver<Msg>,
    addresses: Vec<Address>,
    routes: Vec<Vec<Route>>,
    counters: Arc<Counters>,
) {
    let mut sinks = Vec::with_capacity(addresses.len());
    for a in addresses {
        sinks.push(Sink::open(a).await);
    }
    let pid = std::process::id();
    let mut buf = String::with_capacity(MAX_LINE);
    while let Some(msg) = rx.recv().await {
        #[allow(clippy::disallowed_methods)] // The syslog header's wall-clock time.
        let now = SystemTime::now();
        for r in routes.get(msg.set).map_or(&[][..], |v| v.as_slice()) {
            if msg.level > r.max {
                continue;
            }
            let level = r.min.map_or(msg.level, |m| msg.level.max(m));
            // RFC 3164 §4.1.1: PRI = facility * 8 + severity.
            let pri = r.facility * 8 + level as u8;
            buf.clear();
            buf.push_str(&syslog_header(pri, now, pid));
            buf.push_str(&msg.line);
            let mut cut = buf.len().min(MAX_LINE - 1);
            while !buf.is_char_boundary(cut) {
                cut -= 1;
            }
            buf.truncate(cut);
            buf.push('\n');
            match sinks[r.sink].send(buf.as_bytes(), &msg.line).await {
                Ok(()) => counters.sent.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    tracing::trace!(error = %e, "log send failed");
                    counters.failed.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_haproxy_sample_line() {
        // Reference §2.9: `127.0.0.1:34522 [24/Nov/2026:00:56:00.544] cas_rpc cas_rpc/cas1 1/0/2 5 -- 1/1/0/0/0 0/0`
        let accepted = UNIX_EPOCH + Duration::from_millis(1_795_481_760_544);
        let r = Record {
            client: "127.0.0.1:34522".parse().unwrap(),
            accepted,
            frontend: "cas_rpc",
            backend: "cas_rpc",
            server: "cas1",
            tw: Some(Duration::from_millis(1)),
            tc: Some(Duration::ZERO),
            tt: Duration::from_millis(2),
            bytes: 5,
            termination: "--",
            counts: [1, 1, 0, 0, 0],
            queue: [0, 0],
        };
        assert_eq!(
            format(&r),
            "127.0.0.1:34522 [24/Nov/2026:00:56:00.544] cas_rpc cas_rpc/cas1 1/0/2 5 -- 1/1/0/0/0 0/0"
        );
    }

    #[test]
    fn syslog_header_is_haproxys() {
        // 2026-11-04T09:05:07Z: the day is space-padded like RFC 3164 and HAProxy's `%2d`.
        let t = UNIX_EPOCH + Duration::from_secs(1_793_783_107);
        assert_eq!(
            syslog_header(134, t, 42),
            "<134>Nov  4 09:05:07 proxyd[42]: "
        );
    }

    #[test]
    fn addresses_and_levels() {
        assert_eq!(
            parse_address("10.0.0.1"),
            Some(Address::Udp("10.0.0.1:514".parse().unwrap()))
        );
        assert_eq!(
            parse_address("udp@[::1]:1514"),
            Some(Address::Udp("[::1]:1514".parse().unwrap()))
        );
        assert_eq!(
            parse_address("/dev/log"),
            Some(Address::Unix("/dev/log".into()))
        );
        assert_eq!(parse_address("stdout"), Some(Address::Stdout));
        assert_eq!(parse_address("ring@buf"), None);
        assert_eq!(facility_code("local0"), Some(16));
        assert!(Level::Info > Level::Notice);
    }

    #[test]
    fn leap_day_and_unreached_stages() {
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29T00:00:00Z
        assert_eq!(format_date(t), "29/Feb/2000:00:00:00.000");
        assert_eq!(ms(None), "-1");
    }
}

//! The stats listener: HAProxy's `listen stats` (`mode http`, `stats enable`) served by proxyd.
//!
//! Owns the listener's sockets and HTTP server ([`http`]), the snapshot of the generation in
//! force ([`snapshot`]), the admin actions of the page ([`admin`]) and the listeners' own
//! frontend counters. Rendering is `lbcore::stats`'. It reads the generation in force per
//! request (a reload replaces it) and must not hold a `Shared` between requests.

pub mod admin;
pub mod http;
pub mod snapshot;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use lbcore::config::proxy::StatsListener;
use lbcore::diag::Span;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Current, Error, Shared};

/// Concurrent connections one stats listener serves (its frontend's `slim`); more wait in the
/// kernel's backlog.
pub const MAX_CONNS: u32 = 64;

/// A stats listener's own frontend counters (its row on the page).
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// Connections being served.
    pub cur: AtomicU32,
    /// Highest `cur` seen.
    pub smax: AtomicU32,
    /// Connections in total.
    pub stot: AtomicU64,
    /// Bytes received.
    pub bin: AtomicU64,
    /// Bytes sent.
    pub bout: AtomicU64,
    /// Bad requests (malformed HTTP, oversized heads or bodies, unsupported methods).
    pub ereq: AtomicU64,
    /// Requests parsed.
    pub requests: AtomicU64,
    /// Responses by class: 1xx, 2xx, 3xx, 4xx, 5xx, other.
    pub responses: [AtomicU64; 6],
}

impl ListenerCounters {
    /// Counts one response with `status`.
    pub fn response(&self, status: u16) {
        let i = match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.responses[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The row the snapshot shows.
    pub fn frontend(&self) -> lbcore::stats::Frontend {
        let scur = self.cur.load(Ordering::Relaxed);
        lbcore::stats::Frontend {
            traffic: lbcore::stats::Traffic {
                scur,
                smax: self.smax.load(Ordering::Relaxed).max(scur),
                slim: Some(MAX_CONNS),
                stot: self.stot.load(Ordering::Relaxed),
                bin: self.bin.load(Ordering::Relaxed),
                bout: self.bout.load(Ordering::Relaxed),
            },
            dreq: 0,
            ereq: self.ereq.load(Ordering::Relaxed),
            http: Some(lbcore::stats::HttpCounters {
                requests: self.requests.load(Ordering::Relaxed),
                responses: std::array::from_fn(|i| self.responses[i].load(Ordering::Relaxed)),
            }),
        }
    }
}

type Registered = (String, Span, Weak<ListenerCounters>);

/// Every running stats listener's counters, so that each page (and `show stat`) lists them all.
fn registry() -> &'static Mutex<Vec<Registered>> {
    static R: OnceLock<Mutex<Vec<Registered>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Vec::new()))
}

fn register(l: &StatsListener) -> Arc<ListenerCounters> {
    let c = Arc::new(ListenerCounters::default());
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    r.retain(|(_, _, w)| w.strong_count() > 0);
    r.push((l.name.clone(), l.span.clone(), Arc::downgrade(&c)));
    c
}

/// A stats listener's name, declaration and counters.
pub type ListenerRow = (String, Span, Arc<ListenerCounters>);

/// The running stats listeners; of two with the same name (a reload's successor while its
/// predecessor drains), the newer.
pub fn listeners() -> Vec<ListenerRow> {
    let r = registry().lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<ListenerRow> = Vec::new();
    for (n, s, w) in r.iter().rev() {
        if let Some(c) = w.upgrade() {
            if !out.iter().any(|(m, ..)| m == n) {
                out.push((n.clone(), s.clone(), c));
            }
        }
    }
    out
}

/// When the process started serving stats (the page's uptime): the first call wins.
fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(crate::state::now)
}

/// The snapshot of `shared` now, with every running stats listener's row (what the page, the
/// CSV and `show stat` show). `version`: false with `stats hide-version`.
pub fn snapshot(shared: &Shared, version: bool) -> lbcore::stats::Snapshot {
    snapshot_for(shared, version, None)
}

/// [`snapshot`] as the listener `own` serves it: its own row stands for its name.
pub fn snapshot_for(
    shared: &Shared,
    version: bool,
    own: Option<&ListenerRow>,
) -> lbcore::stats::Snapshot {
    let now = crate::state::now();
    let start = process_start().min(shared.started);
    let mut rows = listeners();
    if let Some(own) = own {
        rows.retain(|(n, ..)| *n != own.0);
        rows.push(own.clone());
    }
    snapshot::build(
        shared,
        &rows,
        now,
        now.saturating_duration_since(start),
        version,
    )
}

/// Binds every address of `listener` and serves the stats page, CSV, JSON and `/metrics` on
/// them until `stop`; reads the generation in force from `current` per request. The handle
/// ends once the sockets are closed and open connections have finished (bounded by
/// [`http::GRACE`]). Must be called within a tokio runtime.
pub fn spawn(
    listener: &StatsListener,
    current: Current,
    stop: CancellationToken,
) -> Result<JoinHandle<()>, Error> {
    start(listener, current, stop).map(|(h, _)| h)
}

/// [`spawn`], also returning the bound addresses (ports given as 0 resolved).
pub fn start(
    listener: &StatsListener,
    current: Current,
    stop: CancellationToken,
) -> Result<(JoinHandle<()>, Vec<SocketAddr>), Error> {
    process_start();
    let mut sockets = Vec::new();
    for b in &listener.binds {
        let s =
            crate::listener::bind(b.addr, b.transparent, 128).map_err(|source| Error::Bind {
                addr: b.addr,
                source,
            })?;
        sockets.push(s);
    }
    let addrs = sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
    let counters = register(listener);
    let server = Arc::new(http::Server::new(listener.clone(), current, counters));
    Ok((tokio::spawn(http::serve(server, sockets, stop)), addrs))
}

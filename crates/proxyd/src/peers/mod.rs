//! Stick-table replication with the other box (HAProxy's `peers`, reference §2.6), over the
//! protocol of [`lbcore::peers`].
//!
//! Owns the sockets and tasks: for each enabled `peers` section the local peer listens on its
//! address ([`accept`]: hello check, received entries applied to the table of the same name) and
//! connects to every other peer ([`push`]: full resync after the hello, then the entries learned
//! here as they change, heartbeats, reconnect with bounded backoff). Tables are found by name in
//! the generation in force ([`Current`]) for every update, so reloads are followed.
//!
//! Must not decide protocol rules (framing, hello checks, last-writer-wins, expiry arithmetic are
//! lbcore's) nor choose servers. Memory is bounded: nothing is queued per peer: a pusher reads
//! what changed from the table itself (at most the table's size), a reader holds one frame of at
//! most [`lbcore::peers::MAX_FRAME`] bytes, and a peer too slow to take a write within
//! [`WRITE_TIMEOUT`] is disconnected and gets a full resync when it is back.
//!
//! Echo: an entry applied from a peer is remembered with the update sequence its write got;
//! pushers skip exactly that write, so it is never sent back (a later local write of the same key
//! is). A full resync sends every entry, received ones included, so a peer that restarted empty
//! gets back what it had taught; the receiver keeps whichever write is later ([`remote_wins`]).
//!
//! [`remote_wins`]: lbcore::peers::remote_wins

mod accept;
mod push;
mod wire;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use lbcore::balance::StickTable;
use lbcore::config::proxy::{PeersSection, ProxyConfig};
use lbcore::peers::{DecodeError, EncodeError, HelloStatus};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{Current, Shared};

/// How long connecting to a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a peer has to send its hello, or to answer ours.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// A write the peer does not take within this time ends the connection (it gets a full resync
/// once reconnected) instead of buffering for it.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After a scan of a table for changes (which holds the table's lock for as long as it runs:
/// it walks every entry), the next one waits this many times the scan's duration, so scans
/// take at most a fifth of the lock's time whatever the table size, and a burst of learns is
/// sent in a few frames. A small table is scanned at once after each learn.
pub const PUSH_GAP_FACTOR: u32 = 4;
/// Longest wait between two scans.
pub const PUSH_GAP_MAX: Duration = Duration::from_millis(50);

/// Errors of stick-table replication.
#[derive(Debug, thiserror::Error)]
pub enum PeersError {
    /// A `peers` section has no peer of the local name (the configuration check reports it too).
    #[error("peers section '{section}' has no peer named '{local}'; its peers are: {peers}")]
    NoLocalPeer {
        /// The section.
        section: String,
        /// The local peer name.
        local: String,
        /// Its peers, comma-separated.
        peers: String,
    },
    /// The local peer's address cannot be listened on.
    #[error("cannot listen for peers of section '{section}' on {addr}: {source}")]
    Bind {
        /// The section.
        section: String,
        /// The local peer's address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Socket I/O on a peer connection.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Bytes from a peer that are not a valid frame.
    #[error("bad frame: {0}")]
    Decode(#[from] DecodeError),
    /// A message that cannot be encoded (a name too long).
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
    /// The peer refused our hello.
    #[error("hello refused: {}", .0.as_str())]
    Refused(HelloStatus),
    /// A message out of place (a second hello, updates before a hello).
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// Nothing arrived, or a write was not taken, in time.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The peer closed the connection.
    #[error("connection closed by the peer")]
    Closed,
}

/// Counters of one replication runtime (all sections, all peers).
#[derive(Debug, Default)]
pub struct PeersStats {
    /// Hellos refused (unknown peer name, wrong address, other version, garbage).
    pub refused: AtomicU64,
    /// Outgoing connections that passed the hello.
    pub sessions_out: AtomicU64,
    /// Incoming connections that passed the hello.
    pub sessions_in: AtomicU64,
    /// Outgoing connections up now.
    pub connected_out: AtomicUsize,
    /// Incoming connections up now.
    pub connected_in: AtomicUsize,
    /// Full resyncs sent (one per outgoing session).
    pub resyncs_sent: AtomicU64,
    /// Full resyncs received completely.
    pub resyncs_received: AtomicU64,
    /// Entries sent (resyncs and incremental updates).
    pub entries_sent: AtomicU64,
    /// Entries received.
    pub entries_received: AtomicU64,
    /// Received entries written to a table (the others lost to a later local write, had
    /// expired, or named a table not replicated with the sender).
    pub entries_applied: AtomicU64,
}

impl PeersStats {
    fn add(c: &AtomicU64, n: usize) {
        c.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// A running replication: its supervisor task, counters and listening addresses.
#[derive(Debug)]
pub struct Peers {
    /// Ends after `stop` once every connection is closed.
    pub task: JoinHandle<()>,
    /// Counters.
    pub stats: Arc<PeersStats>,
    /// `(section, address)` each local peer listens on.
    pub listening: Vec<(String, SocketAddr)>,
}

/// The local peer name: `-L NAME` if given, else the `localpeer` of `global`, else the host name
/// (HAProxy's order).
pub fn local_name(explicit: Option<&str>, config: &ProxyConfig) -> String {
    explicit
        .map(str::to_owned)
        .or_else(|| config.global.localpeer.clone())
        .unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default()
        })
}

/// Starts replicating every enabled `peers` section of `config` as peer `local` (see
/// [`start`]); the handle ends after `stop`. Without any section it ends at once.
pub fn spawn(
    config: &ProxyConfig,
    local: &str,
    current: Current,
    stop: CancellationToken,
) -> Result<JoinHandle<()>, PeersError> {
    start(config, local, current, stop).map(|p| p.task)
}

/// Binds the local peer's address of every enabled `peers` section of `config` (now, so a bind
/// failure is reported to the caller), then serves them and connects to every other peer until
/// `stop`. Must be called inside a tokio runtime. A section without a peer named `local` is an
/// error (HAProxy would drop it silently).
pub fn start(
    config: &ProxyConfig,
    local: &str,
    current: Current,
    stop: CancellationToken,
) -> Result<Peers, PeersError> {
    let stats = Arc::new(PeersStats::default());
    let sections: Vec<PeersSection> = config
        .peers
        .iter()
        .filter(|s| !s.disabled)
        .cloned()
        .collect();
    let mut listeners = Vec::new();
    for s in &sections {
        let Some(me) = s.local(local) else {
            return Err(PeersError::NoLocalPeer {
                section: s.name.clone(),
                local: local.to_owned(),
                peers: s
                    .peers
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let l = accept::bind(me.addr).map_err(|source| PeersError::Bind {
            section: s.name.clone(),
            addr: me.addr,
            source,
        })?;
        listeners.push(l);
    }
    let mut listening = Vec::new();
    for (s, l) in sections.iter().zip(&listeners) {
        listening.push((s.name.clone(), l.local_addr()?));
    }
    let ctx = Arc::new(Ctx {
        local: local.to_owned(),
        sections,
        current,
        stop: stop.clone(),
        applied: Mutex::default(),
        stats: stats.clone(),
    });
    let mut set = JoinSet::new();
    for (si, l) in listeners.into_iter().enumerate() {
        set.spawn(accept::serve(ctx.clone(), si, l));
        for remote in ctx.sections[si].remotes(local) {
            tracing::info!(section = %ctx.sections[si].name, peer = %remote.name, addr = %remote.addr, "peer replication starting");
            set.spawn(push::run(ctx.clone(), si, remote.clone()));
        }
    }
    let task = tokio::spawn(async move {
        stop.cancelled().await;
        // Every task watches `stop`; their connections close as they return.
        while set.join_next().await.is_some() {}
    });
    Ok(Peers {
        task,
        stats,
        listening,
    })
}

/// What the tasks of one replication share.
struct Ctx {
    local: String,
    sections: Vec<PeersSection>,
    current: Current,
    stop: CancellationToken,
    /// Per table name: the table the writes were made in, and key → update sequence of the
    /// write that applied a received entry (not to be pushed back).
    applied: Mutex<HashMap<String, Applied>>,
    stats: Arc<PeersStats>,
}

struct Applied {
    table: Weak<Mutex<StickTable>>,
    writes: HashMap<IpAddr, u64>,
}

/// A replicated table of the generation in force.
struct TableRef {
    name: String,
    table: Arc<Mutex<StickTable>>,
    changed: Arc<watch::Sender<u64>>,
    /// The configured `expire` (what a received remaining time is measured against).
    expire: Option<Duration>,
}

/// The tables of `shared` replicated over `section` (`stick-table … peers <section>`).
fn tables(shared: &Shared, section: &str) -> Vec<TableRef> {
    shared
        .config
        .backends
        .iter()
        .filter_map(|b| b.stick_table.as_ref())
        .filter(|t| t.peers.as_deref() == Some(section))
        .filter_map(|t| {
            let n = shared.stick_tables.iter().find(|n| n.name == t.name)?;
            Some(TableRef {
                name: t.name.clone(),
                table: n.table.clone(),
                changed: n.changed.clone(),
                expire: t.expire,
            })
        })
        .collect()
}

impl Ctx {
    fn section(&self, si: usize) -> &PeersSection {
        &self.sections[si]
    }

    /// The table `name` replicated over section `si` in the generation in force.
    fn table(&self, si: usize, name: &str) -> Option<TableRef> {
        let shared = self.current.borrow().clone();
        tables(&shared, &self.sections[si].name)
            .into_iter()
            .find(|t| t.name == name)
    }
}

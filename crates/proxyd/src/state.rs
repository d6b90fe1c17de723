//! Run-time state shared by listeners, sessions, the health checker, the stats page and the
//! runtime API.
//!
//! Owns per-server atomics (health flag, operator state and weight, current and queued
//! connections), HAProxy's per-proxy and per-server counters ([`Counters`]), per-backend
//! balancer state, wait queues and the stick tables, indexed like the configuration, and the
//! access-log sink. Everything a reload carries over (server states, counters, stick tables,
//! connection slots) sits behind an `Arc` so that the next generation can share it. It must not
//! do I/O itself: sessions and checks drive it (the logger runs its own task).

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lbcore::balance::{self, Balancer, ServerView, StickTable};
use lbcore::config::proxy::{self, Backend, ProxyConfig};
use tokio::sync::{Semaphore, watch};

use crate::queue::Queues;
use crate::tcplog::Logger;

/// HAProxy's built-in process `maxconn` when neither the configuration nor ulimit sets one.
pub const DEFAULT_GLOBAL_MAXCONN: u32 = 4096;

/// The operator's state of a server (HAProxy's admin state: `set server B/S state ...`, the
/// stats page's admin actions, `disabled` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Admin {
    /// Normal operation.
    Ready,
    /// No new connections from the balancer; sticky clients still reach it (`DRAIN`).
    Drain,
    /// No traffic at all (`MAINT`).
    Maint,
}

impl Admin {
    fn from_u8(v: u8) -> Admin {
        match v {
            1 => Admin::Drain,
            2 => Admin::Maint,
            _ => Admin::Ready,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Admin::Ready => 0,
            Admin::Drain => 1,
            Admin::Maint => 2,
        }
    }

    /// HAProxy's word (`ready`, `drain`, `maint`).
    pub fn as_str(self) -> &'static str {
        match self {
            Admin::Ready => "ready",
            Admin::Drain => "drain",
            Admin::Maint => "maint",
        }
    }
}

/// HAProxy's traffic counters of a frontend, backend or server (the CSV's `smax`, `stot`,
/// `bin`, `bout`, `dreq`, `ereq`, `econ`, `eresp`, `wretr`, `wredis`, `qmax`). The
/// current values (`scur`, `qcur`) live where they are managed.
#[derive(Debug, Default)]
pub struct Counters {
    /// Highest concurrent sessions seen.
    pub smax: AtomicU32,
    /// Sessions in total.
    pub stot: AtomicU64,
    /// Bytes received from clients.
    pub bin: AtomicU64,
    /// Bytes sent to clients.
    pub bout: AtomicU64,
    /// Connections denied by `tcp-request connection reject` (frontends).
    pub dreq: AtomicU64,
    /// Connections that could not be routed to a backend (frontends).
    pub ereq: AtomicU64,
    /// Failed connections to a server.
    pub econ: AtomicU64,
    /// Sessions ended by a server-side error.
    pub eresp: AtomicU64,
    /// Connection retries.
    pub wretr: AtomicU64,
    /// Redispatches to another server.
    pub wredis: AtomicU64,
    /// Highest queue length seen.
    pub qmax: AtomicU32,
}

impl Counters {
    /// One more session, `cur` now running.
    pub fn session(&self, cur: u32) {
        self.stot.fetch_add(1, Ordering::Relaxed);
        self.smax.fetch_max(cur, Ordering::Relaxed);
    }

    /// Bytes relayed: `from_client` in, `to_client` out.
    pub fn bytes(&self, from_client: u64, to_client: u64) {
        if from_client > 0 {
            self.bin.fetch_add(from_client, Ordering::Relaxed);
        }
        if to_client > 0 {
            self.bout.fetch_add(to_client, Ordering::Relaxed);
        }
    }

    /// A queue reached `len`.
    pub fn queued(&self, len: u32) {
        self.qmax.fetch_max(len, Ordering::Relaxed);
    }
}

/// When a server's status last changed and how long it has been DOWN in total (the CSV's
/// `lastchg`, `downtime`).
#[derive(Debug, Clone, Copy)]
pub struct Changes {
    /// Last status change (health or operator).
    pub last: Instant,
    /// Since when it is DOWN, if it is.
    pub down_since: Option<Instant>,
    /// Time spent DOWN before `down_since`.
    pub downtime: Duration,
}

impl Changes {
    fn new(now: Instant) -> Self {
        Changes {
            last: now,
            down_since: None,
            downtime: Duration::ZERO,
        }
    }

    /// Total DOWN time up to `now`.
    pub fn downtime_at(&self, now: Instant) -> Duration {
        self.downtime
            + self
                .down_since
                .map_or(Duration::ZERO, |d| now.saturating_duration_since(d))
    }
}

/// The process clock as every run-time record reads it.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// One server's run-time state.
#[derive(Debug)]
pub struct ServerState {
    /// Health: UP (`true`) unless its checker marked it DOWN. Driven by the health checker;
    /// default UP. Whether it takes traffic also depends on [`ServerState::admin`].
    pub usable: AtomicBool,
    /// Connections currently assigned (connecting or relaying).
    pub conns: AtomicU32,
    /// Connections served in total.
    pub total: AtomicU64,
    /// Connections waiting in this server's queue (HAProxy's `qcur`).
    pub queued: AtomicU32,
    /// Health as the checker last decided it: `true` UP, `false` marked DOWN. Sessions to a
    /// server with `on-marked-down shutdown-sessions` end when it turns `false`.
    pub health: watch::Sender<bool>,
    /// Operator state ([`Admin`], stored as a byte).
    admin: AtomicU8,
    /// Current weight (`set server B/S weight`; starts at the configured one).
    pub weight: AtomicU32,
    /// Traffic counters.
    pub counters: Counters,
    /// Failed checks.
    pub chkfail: AtomicU64,
    /// UP to DOWN transitions.
    pub chkdown: AtomicU64,
    /// Status changes and downtime.
    pub changes: Mutex<Changes>,
    /// Its health checker's state, when it is checked.
    pub check: Mutex<Option<Arc<crate::check::checker::ServerCheck>>>,
    /// Sessions to this server end when this fires (`shutdown sessions server B/S`).
    pub kill: watch::Sender<u64>,
}

impl ServerState {
    /// A server in its initial state: UP, `admin`, `weight`.
    pub fn new(admin: Admin, weight: u32) -> Self {
        ServerState {
            usable: AtomicBool::new(true),
            conns: AtomicU32::new(0),
            total: AtomicU64::new(0),
            queued: AtomicU32::new(0),
            health: watch::Sender::new(true),
            admin: AtomicU8::new(admin.as_u8()),
            weight: AtomicU32::new(weight),
            counters: Counters::default(),
            chkfail: AtomicU64::new(0),
            chkdown: AtomicU64::new(0),
            changes: Mutex::new(Changes::new(now())),
            check: Mutex::new(None),
            kill: watch::Sender::new(0),
        }
    }

    /// The operator state.
    pub fn admin(&self) -> Admin {
        Admin::from_u8(self.admin.load(Ordering::Acquire))
    }

    /// Sets the operator state; returns the previous one. A change counts as a status change.
    pub fn set_admin(&self, admin: Admin) -> Admin {
        let old = Admin::from_u8(self.admin.swap(admin.as_u8(), Ordering::AcqRel));
        if old != admin {
            self.lock_changes().last = now();
        }
        old
    }

    /// Health UP (whatever the operator state).
    pub fn is_up(&self) -> bool {
        self.usable.load(Ordering::Acquire)
    }

    /// May receive connections at all: UP and not in maintenance. A draining server still
    /// serves sticky clients.
    pub fn takes_traffic(&self) -> bool {
        self.is_up() && self.admin() != Admin::Maint
    }

    /// The weight the balancer uses: the current weight, 0 while draining.
    pub fn lb_weight(&self) -> u32 {
        match self.admin() {
            Admin::Ready => self.weight.load(Ordering::Acquire),
            Admin::Drain | Admin::Maint => 0,
        }
    }

    /// Records a health transition (the checker calls this with the new health).
    pub fn health_changed(&self, up: bool) {
        let at = now();
        let mut c = self.lock_changes();
        c.last = at;
        if up {
            if let Some(since) = c.down_since.take() {
                c.downtime += at.saturating_duration_since(since);
            }
        } else {
            self.chkdown.fetch_add(1, Ordering::Relaxed);
            c.down_since.get_or_insert(at);
        }
    }

    /// The change record.
    pub fn lock_changes(&self) -> std::sync::MutexGuard<'_, Changes> {
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Its checker's state, when it is checked.
    pub fn check_state(&self) -> Option<Arc<crate::check::checker::ServerCheck>> {
        self.check
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Ends every session on this server (`shutdown sessions server`).
    pub fn shutdown_sessions(&self) {
        self.kill.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Takes a connection slot unless `maxconn` (0 = unlimited) is reached.
    pub fn try_take(&self, maxconn: u32) -> bool {
        self.conns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (maxconn == 0 || c < maxconn).then_some(c + 1)
            })
            .is_ok()
    }
}

/// A stick table and its name (the declaring backend's).
#[derive(Debug)]
pub struct NamedTable {
    /// Table name.
    pub name: String,
    /// The entries (shared with the next generation after a reload).
    pub table: Arc<Mutex<StickTable>>,
    /// The table's update sequence after every learned entry (replication to peers follows
    /// it: `subscribe()` and wait for a change).
    pub changed: Arc<watch::Sender<u64>>,
}

/// One backend's run-time state.
#[derive(Debug)]
pub struct BackendState {
    /// Servers, indexed like `Backend::servers`.
    pub servers: Vec<Arc<ServerState>>,
    /// The algorithm's position (round-robin cursor, leastconn tie order).
    pub balancer: Mutex<Balancer>,
    /// Connections waiting in the backend queue (no server assigned yet).
    pub queued: AtomicU32,
    /// The backend queue and every server queue ([`crate::queue`]).
    pub queues: Queues,
    /// Index in `Shared::stick_tables` of the table its first `stick on` rule uses, resolved
    /// once at start so a connection never looks a table up by name.
    pub stick: Option<usize>,
    /// The backend's counters.
    pub counters: Arc<Counters>,
}

impl BackendState {
    /// Snapshot of the servers for `lbcore::balance`.
    pub fn views(&self, be: &Backend) -> Vec<ServerView> {
        be.servers
            .iter()
            .zip(&self.servers)
            .map(|(cfg, st)| ServerView {
                id: cfg.id,
                weight: st.lb_weight(),
                backup: cfg.backup,
                usable: st.takes_traffic(),
                conns: st.conns.load(Ordering::Acquire),
                maxconn: cfg.maxconn,
            })
            .collect()
    }
}

/// Everything sessions share: the configuration and its run-time state.
#[derive(Debug)]
pub struct Shared {
    /// The configuration served.
    pub config: Arc<ProxyConfig>,
    /// Backends, indexed like `config.backends`.
    pub backends: Vec<BackendState>,
    /// Stick tables, in the order their backends are declared.
    pub stick_tables: Vec<NamedTable>,
    /// Process-wide `maxconn`.
    pub global_slots: Arc<Semaphore>,
    /// Per-frontend `maxconn`, indexed like `config.frontends`.
    pub frontend_slots: Vec<Arc<Semaphore>>,
    /// Connections being served process-wide (HAProxy's `%ac`). The slots alone over-count:
    /// each accept loop holds the next connection's permits while it waits.
    pub active: Arc<AtomicU32>,
    /// Connections being served per frontend (`%fc`), indexed like `config.frontends`.
    pub frontend_active: Vec<Arc<AtomicU32>>,
    /// Per-frontend counters, indexed like `config.frontends`.
    pub frontend_counters: Vec<Arc<Counters>>,
    /// When this generation started (the stats page's uptime is the process's, see
    /// [`Shared::started`]).
    pub started: Instant,
    /// Per-frontend routing with backend names resolved to indices once, indexed like
    /// `config.frontends`.
    pub routes: Vec<Routes>,
    /// The access-log sink, started on first use (it needs a running tokio runtime).
    logger: OnceLock<Logger>,
}

/// A frontend's `use_backend` / `default_backend` targets as indices into `config.backends`.
#[derive(Debug)]
pub struct Routes {
    /// Parallel to the frontend's `use_backends` (`None`: the name matches no backend).
    pub use_backends: Vec<Option<usize>>,
    /// `default_backend`.
    pub default_backend: Option<usize>,
}

fn algorithm(b: proxy::Balance) -> balance::Algorithm {
    match b {
        proxy::Balance::RoundRobin => balance::Algorithm::RoundRobin,
        proxy::Balance::StaticRr => balance::Algorithm::StaticRr,
        proxy::Balance::LeastConn => balance::Algorithm::LeastConn,
        proxy::Balance::Source => balance::Algorithm::Source,
        proxy::Balance::First => balance::Algorithm::First,
    }
}

fn hash_type(h: proxy::HashType) -> balance::HashType {
    match h {
        proxy::HashType::MapBased => balance::HashType::MapBased,
        proxy::HashType::Consistent => balance::HashType::Consistent,
    }
}

impl Shared {
    /// The stick table backend `bi` sticks with, if any.
    pub fn stick_table(&self, bi: usize) -> Option<&NamedTable> {
        let t = self.backends.get(bi)?.stick?;
        self.stick_tables.get(t)
    }

    /// Fresh state for `config`: every server UP, in maintenance if `disabled`, no connections.
    pub fn new(config: Arc<ProxyConfig>) -> Self {
        Self::next(config, None)
    }

    /// State for `config`, sharing with `prev` (the generation a reload replaces) whatever
    /// names the same thing: a server of the same backend and name keeps its state (health,
    /// operator state, weight, connections, counters; the weight follows the new configuration
    /// only if the operator had not changed it), a frontend or backend of the same name its
    /// counters and slots, a stick table of the same name, type and size its entries, the
    /// process its global slots.
    pub fn next(config: Arc<ProxyConfig>, prev: Option<&Shared>) -> Self {
        let old_server = |be: &str, srv: &lbcore::config::proxy::Server| {
            let prev = prev?;
            let bi = prev.backend_index(be)?;
            let si = prev.config.backends[bi]
                .servers
                .iter()
                .position(|s| s.name == srv.name)?;
            let state = prev.backends[bi].servers[si].clone();
            let old_weight = prev.config.backends[bi].servers[si].weight;
            if state.weight.load(Ordering::Acquire) == old_weight {
                state.weight.store(srv.weight, Ordering::Release);
            }
            Some(state)
        };
        let mut backends: Vec<BackendState> = config
            .backends
            .iter()
            .map(|be| BackendState {
                servers: be
                    .servers
                    .iter()
                    .map(|s| {
                        old_server(&be.name, s).unwrap_or_else(|| {
                            let admin = if s.disabled {
                                Admin::Maint
                            } else {
                                Admin::Ready
                            };
                            Arc::new(ServerState::new(admin, s.weight))
                        })
                    })
                    .collect(),
                balancer: Mutex::new(Balancer::new(
                    algorithm(be.balance),
                    hash_type(be.hash_type),
                    be.allbackups,
                )),
                queued: AtomicU32::new(0),
                queues: Queues::new(be.servers.len()),
                stick: None,
                counters: prev
                    .and_then(|p| {
                        p.backend_index(&be.name)
                            .map(|i| p.backends[i].counters.clone())
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let stick_tables: Vec<NamedTable> = config
            .backends
            .iter()
            .filter_map(|be| be.stick_table.as_ref())
            .map(|t| {
                let size = usize::try_from(t.size).unwrap_or(usize::MAX);
                let kept = prev.and_then(|p| {
                    let old = p.stick_tables.iter().find(|o| o.name == t.name)?;
                    let same = old.table.lock().ok()?.capacity() == size;
                    same.then(|| (old.table.clone(), old.changed.clone()))
                });
                let (table, changed) = kept.unwrap_or_else(|| {
                    (
                        Arc::new(Mutex::new(StickTable::new(size, t.expire))),
                        Arc::new(watch::Sender::new(0)),
                    )
                });
                NamedTable {
                    name: t.name.clone(),
                    table,
                    changed,
                }
            })
            .collect();
        for (state, be) in backends.iter_mut().zip(&config.backends) {
            state.stick = be
                .stick_rules
                .first()
                .and_then(|r| stick_tables.iter().position(|t| t.name == r.table));
        }
        let global = config.global.maxconn.unwrap_or(DEFAULT_GLOBAL_MAXCONN);
        let old_fe = |name: &str| {
            let p = prev?;
            let i = p.config.frontends.iter().position(|f| f.name == name)?;
            Some(i)
        };
        let frontend_slots = config
            .frontends
            .iter()
            .map(|f| {
                let limit = f.maxconn.unwrap_or(global);
                match (prev, old_fe(&f.name)) {
                    (Some(p), Some(i)) => resized(
                        &p.frontend_slots[i],
                        p.config.frontends[i].maxconn.unwrap_or(p.global_limit()),
                        limit,
                    ),
                    _ => Arc::new(Semaphore::new(limit as usize)),
                }
            })
            .collect();
        let frontend_active = config
            .frontends
            .iter()
            .map(|f| match (prev, old_fe(&f.name)) {
                (Some(p), Some(i)) => p.frontend_active[i].clone(),
                _ => Arc::new(AtomicU32::new(0)),
            })
            .collect();
        let frontend_counters = config
            .frontends
            .iter()
            .map(|f| match (prev, old_fe(&f.name)) {
                (Some(p), Some(i)) => p.frontend_counters[i].clone(),
                _ => Arc::default(),
            })
            .collect();
        let global_slots = match prev {
            Some(p) => resized(&p.global_slots, p.global_limit(), global),
            None => Arc::new(Semaphore::new(global as usize)),
        };
        let index = |name: &str| config.backends.iter().position(|b| b.name == name);
        let routes = config
            .frontends
            .iter()
            .map(|f| Routes {
                use_backends: f.use_backends.iter().map(|u| index(&u.backend)).collect(),
                default_backend: f.default_backend.as_deref().and_then(index),
            })
            .collect();
        Shared {
            global_slots,
            active: prev.map_or_else(Arc::default, |p| p.active.clone()),
            frontend_active,
            frontend_counters,
            started: now(),
            frontend_slots,
            routes,
            stick_tables,
            backends,
            config,
            logger: OnceLock::new(),
        }
    }

    /// The access logger: one task and one socket per distinct `log` target of the frontends,
    /// started on the first call (from within the tokio runtime). Log sets are frontend indices.
    pub fn logger(&self) -> &Logger {
        self.logger.get_or_init(|| {
            let sets = self
                .config
                .frontends
                .iter()
                .map(|f| f.logs.clone())
                .collect();
            Logger::start(sets, crate::tcplog::DEFAULT_CAPACITY)
        })
    }

    /// The process-wide `maxconn` in force.
    pub fn global_limit(&self) -> u32 {
        self.config.global.maxconn.unwrap_or(DEFAULT_GLOBAL_MAXCONN)
    }

    /// Index of the backend named `name`.
    pub fn backend_index(&self, name: &str) -> Option<usize> {
        self.config.backends.iter().position(|b| b.name == name)
    }

    /// The state of server `server` of backend `backend`, by name.
    pub fn server(&self, backend: &str, server: &str) -> Option<Arc<ServerState>> {
        let bi = self.backend_index(backend)?;
        let si = self.config.backends[bi]
            .servers
            .iter()
            .position(|s| s.name == server)?;
        Some(self.backends[bi].servers[si].clone())
    }
}

/// `sem`, carrying `old` permits in total, adjusted to carry `new`: permits held by running
/// connections stay held, and are returned to the same semaphore. Shrinking takes the permits
/// away as they come free.
fn resized(sem: &Arc<Semaphore>, old: u32, new: u32) -> Arc<Semaphore> {
    if new > old {
        sem.add_permits((new - old) as usize);
    } else if old > new {
        let gone = (old - new) as usize;
        let taken = sem.forget_permits(gone);
        if taken < gone {
            // The rest are held by connections: forget them as they are released.
            let sem = sem.clone();
            let mut left = (gone - taken) as u32;
            tokio::spawn(async move {
                while left > 0 {
                    match sem.acquire().await {
                        Ok(p) => {
                            p.forget();
                            left -= 1;
                        }
                        Err(_) => return,
                    }
                }
            });
        }
    }
    sem.clone()
}

/// `timeout connect` when none is configured (HAProxy warns and waits forever; we cap it).
pub const FALLBACK_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

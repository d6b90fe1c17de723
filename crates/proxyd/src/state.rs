//! Run-time state shared by listeners, sessions and the health checker.
//!
//! Owns per-server atomics (usable flag, current and queued connections), per-backend balancer
//! state, wait queues and the stick tables, indexed like the configuration, and the access-log
//! sink. It must not do I/O itself: sessions and checks drive it (the logger runs its own task).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lbcore::balance::{self, Balancer, ServerView, StickTable};
use lbcore::config::proxy::{self, Backend, ProxyConfig};
use tokio::sync::{Semaphore, watch};

use crate::queue::Queues;
use crate::tcplog::Logger;

/// HAProxy's built-in process `maxconn` when neither the configuration nor ulimit sets one.
pub const DEFAULT_GLOBAL_MAXCONN: u32 = 4096;

/// One server's run-time state.
#[derive(Debug)]
pub struct ServerState {
    /// Can take traffic (health UP, not disabled). Driven by the health checker; default UP.
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
}

impl ServerState {
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
    /// The entries.
    pub table: Mutex<StickTable>,
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
}

impl BackendState {
    /// Snapshot of the servers for `lbcore::balance`.
    pub fn views(&self, be: &Backend) -> Vec<ServerView> {
        be.servers
            .iter()
            .zip(&self.servers)
            .map(|(cfg, st)| ServerView {
                id: cfg.id,
                weight: cfg.weight,
                backup: cfg.backup,
                usable: st.usable.load(Ordering::Acquire),
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
    pub active: AtomicU32,
    /// Connections being served per frontend (`%fc`), indexed like `config.frontends`.
    pub frontend_active: Vec<AtomicU32>,
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
    pub fn stick_table(&self, bi: usize) -> Option<&Mutex<StickTable>> {
        let t = self.backends.get(bi)?.stick?;
        self.stick_tables.get(t).map(|t| &t.table)
    }

    /// Fresh state for `config`: every server usable unless `disabled`, no connections.
    pub fn new(config: Arc<ProxyConfig>) -> Self {
        let mut backends: Vec<BackendState> = config
            .backends
            .iter()
            .map(|be| BackendState {
                servers: be
                    .servers
                    .iter()
                    .map(|s| {
                        Arc::new(ServerState {
                            usable: AtomicBool::new(!s.disabled),
                            conns: AtomicU32::new(0),
                            total: AtomicU64::new(0),
                            queued: AtomicU32::new(0),
                            health: watch::Sender::new(true),
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
            })
            .collect();
        let stick_tables: Vec<NamedTable> = config
            .backends
            .iter()
            .filter_map(|be| be.stick_table.as_ref())
            .map(|t| {
                let size = usize::try_from(t.size).unwrap_or(usize::MAX);
                NamedTable {
                    name: t.name.clone(),
                    table: Mutex::new(StickTable::new(size, t.expire)),
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
        let frontend_slots = config
            .frontends
            .iter()
            .map(|f| Arc::new(Semaphore::new(f.maxconn.unwrap_or(global) as usize)))
            .collect();
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
            global_slots: Arc::new(Semaphore::new(global as usize)),
            active: AtomicU32::new(0),
            frontend_active: config.frontends.iter().map(|_| AtomicU32::new(0)).collect(),
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

/// `timeout connect` when none is configured (HAProxy warns and waits forever; we cap it).
pub const FALLBACK_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

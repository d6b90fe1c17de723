//! proxyd: the L4 load balancer runtime for Exchange 2010 CAS (HAProxy replacement).
//!
//! Owns the I/O shell around `lbcore`: listeners, per-connection sessions, relay, access logs and
//! shutdown. It must not parse configuration text (that is `lbcore::config`) nor implement
//! selection algorithms (that is `lbcore::balance`); health checks live in [`check`].

pub mod acl;
pub mod check;
pub mod cli;
pub mod listener;
pub mod liveness;
pub mod queue;
pub mod relay;
pub mod session;
pub mod state;
pub mod tcplog;

use std::net::SocketAddr;
use std::sync::Arc;

use lbcore::config::proxy::ProxyConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use state::{BackendState, ServerState, Shared};

/// The generation of run-time state in force. Whatever outlives a reload (the stats page, the
/// runtime API, the liveness socket, peers) reads it per request with `borrow().clone()`; a
/// reload publishes the next generation on it.
pub type Current = tokio::sync::watch::Receiver<Arc<Shared>>;

/// Errors of the proxyd runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listening socket could not be created or bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How the runtime is told to stop.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    /// Stop accepting, let established connections finish (SIGUSR1).
    pub graceful: CancellationToken,
    /// Stop now: close every connection (SIGTERM, SIGINT).
    pub hard: CancellationToken,
}

impl Shutdown {
    /// Fresh, untriggered tokens.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A bound proxy, ready to serve: listeners exist, nothing is accepted yet.
#[derive(Debug)]
pub struct Proxy {
    shared: Arc<Shared>,
    listeners: Vec<listener::Listener>,
    current: tokio::sync::watch::Sender<Arc<Shared>>,
}

impl Proxy {
    /// Builds run-time state from `config` and binds every frontend address.
    pub fn bind(config: Arc<ProxyConfig>) -> Result<Self, Error> {
        let shared = Arc::new(Shared::new(config.clone()));
        let mut listeners = Vec::new();
        let global = config
            .global
            .maxconn
            .unwrap_or(state::DEFAULT_GLOBAL_MAXCONN);
        for (fi, fe) in config.frontends.iter().enumerate() {
            let backlog = listener::backlog(fe.maxconn.unwrap_or(global));
            for b in &fe.binds {
                let l = listener::bind(b.addr, b.transparent, backlog).map_err(|source| {
                    Error::Bind {
                        addr: b.addr,
                        source,
                    }
                })?;
                listeners.push(listener::Listener::new(fi, l, b));
            }
        }
        let current = tokio::sync::watch::Sender::new(shared.clone());
        Ok(Proxy {
            shared,
            listeners,
            current,
        })
    }

    /// Bound addresses as `(frontend name, address)`, in configuration order.
    pub fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|l| {
                let name = self.shared.config.frontends[l.frontend].name.clone();
                l.socket.local_addr().ok().map(|a| (name, a))
            })
            .collect()
    }

    /// Follows the generation in force (see [`Current`]).
    pub fn current(&self) -> Current {
        self.current.subscribe()
    }

    /// The shared run-time state (server usable flags, counters) for a health checker or tests.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Accepts and relays until `shutdown`: on `graceful`, stops accepting and returns once every
    /// connection has finished; on `hard`, closes every connection and returns.
    pub async fn serve(self, shutdown: Shutdown) -> Result<(), Error> {
        let checks = CancellationToken::new();
        let _stop_checks = checks.clone().drop_guard();
        // Checkers drive `ServerState::usable` and `health` (`on-marked-down`); kept for the serve's life.
        let _checkers = check::spawn_all(&self.shared, &checks);
        let tracker = TaskTracker::new();
        for l in self.listeners {
            let shared = self.shared.clone();
            let sd = shutdown.clone();
            let tr = tracker.clone();
            tracker.spawn(listener::accept_loop(l, shared, sd, tr));
        }
        tracker.close();
        tokio::select! {
            () = tracker.wait() => {}
            () = shutdown.hard.cancelled() => {}
        }
        Ok(())
    }
}

/// Binds every frontend of `config` and serves until `shutdown` (see [`Proxy::serve`]).
pub async fn run(config: Arc<ProxyConfig>, shutdown: Shutdown) -> Result<(), Error> {
    Proxy::bind(config)?.serve(shutdown).await
}

//! proxyd: the L4 load balancer runtime for Exchange 2010 CAS (HAProxy replacement).
//!
//! Owns the I/O shell around `lbcore`: listeners, per-connection sessions, relay, access logs and
//! shutdown. It must not parse configuration text (that is `lbcore::config`) nor implement
//! selection algorithms (that is `lbcore::balance`); health checks live in [`check`].

pub mod acl;
pub mod api;
pub mod check;
pub mod cli;
pub mod listener;
pub mod liveness;
pub mod peers;
pub mod queue;
pub mod relay;
pub mod session;
pub mod state;
pub mod stats;
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
    /// A runtime API socket could not be set up.
    #[error(transparent)]
    Api(#[from] api::ApiError),
    /// Stick-table replication could not start.
    #[error(transparent)]
    Peers(#[from] peers::PeersError),
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
    /// This process's name in `peers` sections.
    local_peer: String,
    services: Option<Services>,
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
        let local_peer = peers::local_name(None, &config);
        Ok(Proxy {
            shared,
            listeners,
            current,
            local_peer,
            services: None,
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

    /// Sets this process's peer name (`-L NAME`; default `localpeer`, else the host name).
    pub fn set_local_peer(&mut self, name: &str) {
        self.local_peer = name.to_string();
    }

    /// Starts the stats listeners, the runtime API sockets and stick-table replication of the
    /// configuration (binding their sockets: call it before dropping privileges). [`Proxy::serve`]
    /// starts them if this was not called.
    pub fn start_services(&mut self) -> Result<(), Error> {
        if self.services.is_none() {
            let current = self.current.subscribe();
            self.services = Some(Services::start(
                &self.shared.config,
                &self.local_peer,
                &current,
            )?);
        }
        Ok(())
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
        self.serve_with_reloads(shutdown, None).await
    }

    /// [`Proxy::serve`], also applying the configurations received on `reloads` (SIGHUP) in this
    /// process, as [`Generation::reload`] describes. Each request is answered once the new
    /// generation serves (or why it was refused, the old one still serving).
    pub async fn serve_with_reloads(
        mut self,
        shutdown: Shutdown,
        mut reloads: Option<tokio::sync::mpsc::Receiver<ReloadRequest>>,
    ) -> Result<(), Error> {
        self.start_services()?;
        let mut services = self.services.take();
        let local_peer = self.local_peer.clone();
        let tracker = TaskTracker::new();
        let mut generation = Generation::start(
            self.shared,
            self.listeners,
            self.current,
            shutdown.clone(),
            tracker.clone(),
        );
        loop {
            let request = tokio::select! {
                () = shutdown.graceful.cancelled() => break,
                () = shutdown.hard.cancelled() => break,
                r = async { reloads.as_mut()?.recv().await }, if reloads.is_some() => r,
            };
            match request {
                Some(req) => {
                    let old = generation.shared.config.clone();
                    let result = generation.reload(req.config.clone()).await;
                    if result.is_ok()
                        && let Some(s) = services.as_mut()
                    {
                        s.reload(
                            &old,
                            &req.config,
                            &local_peer,
                            &generation.current.subscribe(),
                        )
                        .await;
                    }
                    let _ = req.reply.send(result);
                }
                None => reloads = None,
            }
        }
        // The accept loops see the same shutdown and hand their sockets back: closed here.
        drop(generation.stop_accepting().await);
        generation.checks.cancel();
        if let Some(s) = services {
            s.stop().await;
        }
        tracker.close();
        tokio::select! {
            () = tracker.wait() => {}
            () = shutdown.hard.cancelled() => {}
        }
        Ok(())
    }
}

/// The stats listeners, runtime API sockets and replication of one configuration. They read
/// the generation in force per request, so a reload only restarts the kind whose
/// configuration changed.
#[derive(Debug)]
struct Services {
    stats: Part,
    api: Part,
    peers: Part,
}

/// One kind of service: its tasks and the token that stops them.
#[derive(Debug, Default)]
struct Part {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Part {
    async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

impl Services {
    fn start(config: &ProxyConfig, local_peer: &str, current: &Current) -> Result<Self, Error> {
        Ok(Services {
            stats: Self::stats(config, current)?,
            api: Self::api(config, current)?,
            peers: Self::peers(config, local_peer, current)?,
        })
    }

    fn stats(config: &ProxyConfig, current: &Current) -> Result<Part, Error> {
        let mut part = Part::default();
        for l in &config.stats {
            part.tasks
                .push(stats::spawn(l, current.clone(), part.stop.clone())?);
        }
        Ok(part)
    }

    fn api(config: &ProxyConfig, current: &Current) -> Result<Part, Error> {
        let mut part = Part::default();
        for s in &config.global.stats_sockets {
            part.tasks.push(api::spawn(
                s,
                config.global.stats_timeout,
                current.clone(),
                part.stop.clone(),
            )?);
        }
        Ok(part)
    }

    fn peers(config: &ProxyConfig, local_peer: &str, current: &Current) -> Result<Part, Error> {
        let mut part = Part::default();
        if config.peers.iter().any(|p| !p.disabled) {
            part.tasks.push(peers::spawn(
                config,
                local_peer,
                current.clone(),
                part.stop.clone(),
            )?);
        }
        Ok(part)
    }

    /// After a reload from `old` to `new`: restarts each kind whose configuration changed. A
    /// service that cannot start again (its port taken meanwhile) is logged; the proxy serves on.
    async fn reload(
        &mut self,
        old: &ProxyConfig,
        new: &ProxyConfig,
        local_peer: &str,
        current: &Current,
    ) {
        if old.stats != new.stats {
            std::mem::take(&mut self.stats).stop().await;
            match Self::stats(new, current) {
                Ok(p) => self.stats = p,
                Err(e) => tracing::error!(error = %e, "reload: stats listener not restarted"),
            }
        }
        if old.global.stats_sockets != new.global.stats_sockets
            || old.global.stats_timeout != new.global.stats_timeout
        {
            std::mem::take(&mut self.api).stop().await;
            match Self::api(new, current) {
                Ok(p) => self.api = p,
                Err(e) => tracing::error!(error = %e, "reload: runtime API not restarted"),
            }
        }
        let tables = |c: &ProxyConfig| -> Vec<_> {
            c.backends
                .iter()
                .filter_map(|b| b.stick_table.clone())
                .collect()
        };
        if old.peers != new.peers || tables(old) != tables(new) {
            std::mem::take(&mut self.peers).stop().await;
            match Self::peers(new, local_peer, current) {
                Ok(p) => self.peers = p,
                Err(e) => tracing::error!(error = %e, "reload: replication not restarted"),
            }
        }
    }

    async fn stop(self) {
        self.stats.stop().await;
        self.api.stop().await;
        self.peers.stop().await;
    }
}

/// A new configuration to apply, and where to say how it went.
#[derive(Debug)]
pub struct ReloadRequest {
    /// The configuration, already loaded and validated (`-c` clean).
    pub config: Arc<ProxyConfig>,
    /// The outcome: what was kept, bound and closed, or why nothing changed.
    pub reply: tokio::sync::oneshot::Sender<Result<ReloadReport, Error>>,
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Listening sockets carried over as they were.
    pub kept: usize,
    /// Newly bound.
    pub bound: usize,
    /// Closed (their bind is gone).
    pub closed: usize,
}

/// The run-time state in force with its accept loops and health checkers. Sessions are not
/// part of it: each holds the generation it started in until it ends, so a reload never
/// touches an established connection.
struct Generation {
    shared: Arc<Shared>,
    current: tokio::sync::watch::Sender<Arc<Shared>>,
    shutdown: Shutdown,
    tracker: TaskTracker,
    /// Ends the accept loops (they hand their sockets back).
    handover: CancellationToken,
    loops: Vec<tokio::task::JoinHandle<listener::Listener>>,
    checks: CancellationToken,
    _checkers: Vec<check::Checker>,
}

impl Generation {
    fn start(
        shared: Arc<Shared>,
        listeners: Vec<listener::Listener>,
        current: tokio::sync::watch::Sender<Arc<Shared>>,
        shutdown: Shutdown,
        tracker: TaskTracker,
    ) -> Self {
        let checks = CancellationToken::new();
        // Checkers drive `ServerState::usable` and `health` (`on-marked-down`).
        let checkers = check::spawn_all(&shared, &checks);
        let handover = CancellationToken::new();
        let loops = listeners
            .into_iter()
            .map(|l| {
                tokio::spawn(listener::accept_until(
                    l,
                    shared.clone(),
                    shutdown.clone(),
                    tracker.clone(),
                    handover.clone(),
                ))
            })
            .collect();
        current.send_replace(shared.clone());
        Generation {
            shared,
            current,
            shutdown,
            tracker,
            handover,
            loops,
            checks,
            _checkers: checkers,
        }
    }

    /// Ends the accept loops and takes their sockets back.
    async fn stop_accepting(&mut self) -> Vec<listener::Listener> {
        self.handover.cancel();
        let mut out = Vec::new();
        for l in self.loops.drain(..) {
            match l.await {
                Ok(l) => out.push(l),
                Err(e) => tracing::error!(error = %e, "accept loop failed"),
            }
        }
        out
    }

    /// Replaces this generation with one for `config`, in this process (HAProxy needs a new
    /// process and `-sf`; here nothing is handed between processes):
    /// 1. every bind the running configuration lacks is bound first; if one fails, nothing
    ///    changes and the error is returned;
    /// 2. the accept loops stop and give their sockets back (a connection arriving meanwhile
    ///    waits in the kernel backlog: none is refused);
    /// 3. the next generation is built sharing what names the same thing ([`Shared::next`]:
    ///    server health, operator states and weights, counters, slots, stick tables);
    /// 4. sockets still configured are reused (their backlog set to the new `maxconn`), the
    ///    others closed; accept loops start on the new generation; health checkers restart,
    ///    each continuing from what its predecessor knew.
    ///
    /// Established connections keep the generation they started in until they end.
    async fn reload(&mut self, config: Arc<ProxyConfig>) -> Result<ReloadReport, Error> {
        let held: Vec<(SocketAddr, bool)> = self
            .shared
            .config
            .frontends
            .iter()
            .flat_map(|f| f.binds.iter().map(|b| (b.addr, b.transparent)))
            .collect();
        let global = config
            .global
            .maxconn
            .unwrap_or(state::DEFAULT_GLOBAL_MAXCONN);
        let mut fresh = Vec::new();
        for fe in &config.frontends {
            let backlog = listener::backlog(fe.maxconn.unwrap_or(global));
            for b in &fe.binds {
                if held.contains(&(b.addr, b.transparent)) {
                    continue;
                }
                let sock = listener::bind(b.addr, b.transparent, backlog).map_err(|source| {
                    Error::Bind {
                        addr: b.addr,
                        source,
                    }
                })?;
                fresh.push(((b.addr, b.transparent), sock));
            }
        }
        let mut old = self.stop_accepting().await;
        let shared = Arc::new(Shared::next(config.clone(), Some(&self.shared)));
        let mut report = ReloadReport {
            bound: fresh.len(),
            ..ReloadReport::default()
        };
        let mut listeners = Vec::new();
        for (fi, fe) in config.frontends.iter().enumerate() {
            let backlog = listener::backlog(fe.maxconn.unwrap_or(global));
            for b in &fe.binds {
                let key = (b.addr, b.transparent);
                let socket = if let Some(i) = old.iter().position(|l| l.key == key) {
                    let l = old.swap_remove(i);
                    if let Err(e) = socket2::SockRef::from(&l.socket).listen(backlog) {
                        tracing::warn!(addr = %b.addr, error = %e, "cannot update the listen backlog");
                    }
                    report.kept += 1;
                    l.socket
                } else if let Some(i) = fresh.iter().position(|(k, _)| *k == key) {
                    fresh.swap_remove(i).1
                } else {
                    // Two binds of one address in the new file: the first took the socket.
                    continue;
                };
                listeners.push(listener::Listener::new(fi, socket, b));
            }
        }
        report.closed = old.len();
        for l in &old {
            tracing::info!(addr = %l.key.0, "listener closed by reload");
        }
        drop(old);
        // The old checkers stop before the new ones read what they knew.
        self.checks.cancel();
        let next = Generation::start(
            shared,
            listeners,
            self.current.clone(),
            self.shutdown.clone(),
            self.tracker.clone(),
        );
        *self = next;
        tracing::info!(
            kept = report.kept,
            bound = report.bound,
            closed = report.closed,
            "reload complete"
        );
        Ok(report)
    }
}

/// Binds every frontend of `config` and serves until `shutdown` (see [`Proxy::serve`]).
pub async fn run(config: Arc<ProxyConfig>, shutdown: Shutdown) -> Result<(), Error> {
    Proxy::bind(config)?.serve(shutdown).await
}

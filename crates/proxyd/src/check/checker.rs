//! The per-server checker task: runs [`run_check`] every `Health::next_interval()`, the
//! first one at a deterministic offset in `[0, inter)` so a backend's checks are spread, feeds
//! `lbcore::balance::Health` and, on UP/DOWN, logs HAProxy's line and flips the usable flag.
//!
//! Owns the check schedule and the transition log line; it must not select servers or close
//! sessions itself (it announces DOWN on a watch channel the sessions follow).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lbcore::balance::{Health, HealthState, Transition};
use lbcore::config::proxy::{HealthCheck, Server};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::probe::{CheckResult, run_check};
use super::tls::TlsCheck;

/// A flag the relay reads to know whether a server may take traffic.
pub trait UsableFlag: Send + Sync + std::fmt::Debug {
    /// Current value.
    fn get(&self) -> bool;
    /// Sets it; the checker calls this on UP/DOWN transitions only.
    fn set(&self, usable: bool);
    /// Sessions currently on the server (for the DOWN line); 0 when unknown.
    fn sessions(&self) -> u32 {
        0
    }
    /// A check failed (the stats' `chkfail`).
    fn check_failed(&self) {}
}

impl UsableFlag for AtomicBool {
    fn get(&self) -> bool {
        self.load(Ordering::Acquire)
    }
    fn set(&self, usable: bool) {
        self.store(usable, Ordering::Release);
    }
}

impl UsableFlag for crate::state::ServerState {
    fn get(&self) -> bool {
        self.usable.load(Ordering::Acquire)
    }
    fn set(&self, usable: bool) {
        self.usable.store(usable, Ordering::Release);
        self.health_changed(usable);
        // Only the checker calls `set`, on UP/DOWN transitions: announce them to sessions.
        self.health.send_replace(usable);
    }
    fn sessions(&self) -> u32 {
        self.conns.load(Ordering::Acquire)
    }
    fn check_failed(&self) {
        self.chkfail.fetch_add(1, Ordering::Relaxed);
    }
}

/// A server as the running proxy sees it: besides the flag and the health watch, a transition
/// re-runs the queues (HAProxy's `pendconn_grab_from_px` when the server comes UP,
/// `pendconn_redistribute` when it goes DOWN), see [`crate::queue::server_changed`].
#[derive(Debug)]
struct RuntimeServer {
    shared: Arc<crate::state::Shared>,
    backend: usize,
    server: usize,
}

impl RuntimeServer {
    fn state(&self) -> &crate::state::ServerState {
        &self.shared.backends[self.backend].servers[self.server]
    }
}

impl UsableFlag for RuntimeServer {
    fn get(&self) -> bool {
        self.state().get()
    }
    fn set(&self, usable: bool) {
        self.state().set(usable);
        crate::queue::server_changed(&self.shared, self.backend, self.server, usable);
    }
    fn sessions(&self) -> u32 {
        self.state().sessions()
    }
    fn check_failed(&self) {
        self.state().check_failed();
    }
}

/// Why a checker cannot be built from a server line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    /// Neither the server nor `port` gives a port to check (HAProxy refuses this too).
    NoPort {
        /// Server name.
        server: String,
    },
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::NoPort { server } => write!(
                f,
                "server {server} has neither a service port nor a check port; check disabled"
            ),
        }
    }
}

impl std::error::Error for CheckError {}

/// Everything a checker needs to know about one server.
#[derive(Debug, Clone)]
pub struct CheckSpec {
    /// Backend name (for the log line).
    pub backend: String,
    /// Server name.
    pub server: String,
    /// Server id (seeds the first-check offset).
    pub id: u32,
    /// Address checked: `addr` if set, else the server's; port `port` if set, else the server's.
    pub target: SocketAddr,
    /// What to check (`http-check` rules included).
    pub kind: HealthCheck,
    /// `check-ssl` (or `None` for plain TCP).
    pub tls: Option<TlsCheck>,
    /// Time allowed per check (`timeout check`, else `inter`, as HAProxy).
    pub timeout: Duration,
    /// `inter`.
    pub inter: Duration,
    /// `fastinter`.
    pub fastinter: Duration,
    /// `downinter`.
    pub downinter: Duration,
    /// `rise`.
    pub rise: u32,
    /// `fall`.
    pub fall: u32,
    /// `backup` (for the "N active and M backup servers left" count).
    pub backup: bool,
}

impl CheckSpec {
    /// Builds the spec of `server` in `backend`, honouring `addr`, `port`, `check-ssl`, `verify`,
    /// `ca-file`, `check-sni` and `verifyhost`. [`super::preflight`] reports unusable TLS
    /// settings at startup; if they fail here anyway (a CA file removed since), the check
    /// trusts no certificate and so fails, visibly rather than silently insecure.
    pub fn from_server(
        backend: &str,
        server: &Server,
        kind: &HealthCheck,
        timeout_check: Option<Duration>,
    ) -> Result<Self, CheckError> {
        let port = server
            .check_port
            .or(server.port)
            .ok_or_else(|| CheckError::NoPort {
                server: server.name.clone(),
            })?;
        let ip = server.check_addr.unwrap_or(server.addr);
        let tls = TlsCheck::for_server(server).unwrap_or_else(|e| {
            tracing::error!(
                backend = %backend,
                server = %server.name,
                at = %e.span,
                error = %e.message,
                "tls check settings unusable; the check trusts no certificate"
            );
            Some(TlsCheck::verified(
                rustls::RootCertStore::empty(),
                None,
                None,
            ))
        });
        Ok(CheckSpec {
            backend: backend.to_owned(),
            server: server.name.clone(),
            id: server.id,
            target: SocketAddr::new(ip, port),
            kind: kind.clone(),
            tls,
            timeout: timeout_check.unwrap_or(server.inter),
            inter: server.inter,
            fastinter: server.fastinter,
            downinter: server.downinter,
            rise: server.rise,
            fall: server.fall,
            backup: server.backup,
        })
    }
}

/// One peer of the checked server in its backend (itself included), for the counts in the log.
#[derive(Debug, Clone)]
pub struct Peer {
    /// A backup server.
    pub backup: bool,
    /// Its usable flag.
    pub usable: Arc<dyn UsableFlag>,
}

/// A server's check state, shared between its checker and readers (stats, sessions).
#[derive(Debug)]
pub struct ServerCheck {
    health: Mutex<Health>,
    last: Mutex<Option<CheckResult>>,
    up: watch::Sender<bool>,
    usable: Arc<dyn UsableFlag>,
}

impl ServerCheck {
    /// Starts UP as HAProxy does (`health = rise`: DOWN at the first failure), driving `usable`.
    pub fn new(spec: &CheckSpec, usable: Arc<dyn UsableFlag>) -> Arc<Self> {
        let health = Health::new(
            spec.rise,
            spec.fall,
            spec.inter,
            Some(spec.fastinter),
            Some(spec.downinter),
        );
        let (up, _) = watch::channel(true);
        Arc::new(ServerCheck {
            health: Mutex::new(health),
            last: Mutex::new(None),
            up,
            usable,
        })
    }

    /// Continues from `prev`, the checker a reload replaces: a server it had marked DOWN starts
    /// DOWN (it needs `rise` successes), and its last result stays visible. A server that was UP
    /// starts UP as at startup (the transitional count is not carried).
    pub fn carry(&self, spec: &CheckSpec, prev: &ServerCheck) {
        let up = prev
            .health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_up();
        if !up {
            *self.health.lock().unwrap_or_else(|e| e.into_inner()) = Health::new_down(
                spec.rise,
                spec.fall,
                spec.inter,
                Some(spec.fastinter),
                Some(spec.downinter),
            );
            self.up.send_replace(false);
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = prev.last();
    }

    /// The state as the stats page shows it (`UP`, `UP 2/3`, `DOWN`, `DOWN 1/2`).
    pub fn state(&self) -> HealthState {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .state()
    }

    /// The last check's result.
    pub fn last(&self) -> Option<CheckResult> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Follows UP (`true`) / DOWN (`false`); sessions of a server with
    /// `on-marked-down shutdown-sessions` close when it turns `false`.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.up.subscribe()
    }

    /// Feeds one result; returns the transition, if any, after applying it to the flag.
    fn record(&self, result: &CheckResult) -> Option<Transition> {
        let t = self
            .health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(result.passed());
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(result.clone());
        if !result.passed() {
            self.usable.check_failed();
        }
        match t {
            Some(Transition::Up) => {
                self.usable.set(true);
                self.up.send_replace(true);
            }
            Some(Transition::Down) => {
                self.usable.set(false);
                self.up.send_replace(false);
            }
            None => {}
        }
        t
    }
}

/// Offset of the first check in `[0, inter)`, deterministic per backend and server id so both
/// boxes and restarts spread checks the same way (splitmix64 of the id and an FNV-1a of the name).
pub fn first_check_offset(backend: &str, id: u32, inter: Duration) -> Duration {
    let nanos = inter.as_nanos().min(u128::from(u64::MAX)) as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in backend.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ u64::from(id);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    Duration::from_nanos(z % nanos)
}

/// HAProxy's state-change line (`srv_append_status` in `src/server.c`).
pub fn transition_line(
    spec: &CheckSpec,
    state: &ServerCheck,
    transition: Transition,
    result: &CheckResult,
    peers: &[Peer],
) -> String {
    let active = peers.iter().filter(|p| !p.backup && p.usable.get()).count();
    let backup = peers.iter().filter(|p| p.backup && p.usable.get()).count();
    let sessions = state.usable.sessions();
    let mut line = format!(
        "Server {}/{} is {}, reason: {}",
        spec.backend,
        spec.server,
        match transition {
            Transition::Up => "UP",
            Transition::Down => "DOWN",
        },
        result.status.reason()
    );
    if let Some(code) = result.code {
        line.push_str(&format!(", code: {code}"));
    }
    if !result.info.is_empty() {
        line.push_str(&format!(", info: \"{}\"", result.info));
    }
    line.push_str(&format!(
        ", check duration: {}ms. ",
        result.duration.as_millis()
    ));
    match transition {
        Transition::Down => line.push_str(&format!(
            "{active} active and {backup} backup servers left. {sessions} sessions active, 0 requeued, 0 remaining in queue."
        )),
        Transition::Up => line.push_str(&format!(
            "{active} active and {backup} backup servers online. 0 sessions requeued, 0 total in queue."
        )),
    }
    line
}

/// Spawns the checker of one server: checks until `shutdown`, updating `state`. `peers` lists
/// the backend's servers (this one included) for the log line's counts.
pub fn spawn_checker(
    spec: CheckSpec,
    state: Arc<ServerCheck>,
    peers: Vec<Peer>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut delay = first_check_offset(&spec.backend, spec.id, spec.inter);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            let result = tokio::select! {
                () = shutdown.cancelled() => return,
                r = run_check(&spec.kind, spec.target, spec.tls.as_ref(), spec.timeout) => r,
            };
            tracing::debug!(
                backend = %spec.backend,
                server = %spec.server,
                status = result.status.code(),
                code = ?result.code,
                info = %result.info,
                duration_ms = result.duration.as_millis() as u64,
                "health check done"
            );
            if let Some(t) = state.record(&result) {
                let line = transition_line(&spec, &state, t, &result, &peers);
                match t {
                    Transition::Down => {
                        tracing::warn!(backend = %spec.backend, server = %spec.server, line = %line, "server down");
                        if !peers.iter().any(|p| p.usable.get()) {
                            tracing::error!(
                                backend = %spec.backend,
                                line = %format!("backend {} has no server available!", spec.backend),
                                "backend has no server available"
                            );
                        }
                    }
                    Transition::Up => {
                        tracing::info!(backend = %spec.backend, server = %spec.server, line = %line, "server up");
                    }
                }
            }
            delay = state
                .health
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_interval();
        }
    })
}

/// A running checker: its state and task.
#[derive(Debug)]
pub struct Checker {
    /// Index of the backend in `config.backends`.
    pub backend: usize,
    /// Index of the server in its backend.
    pub server: usize,
    /// The shared check state (stats, `subscribe` for `on-marked-down shutdown-sessions`).
    pub state: Arc<ServerCheck>,
    /// The task.
    pub task: JoinHandle<()>,
}

/// Spawns a checker for every server of `shared.config` that has `check` and is not `disabled`,
/// driving the `usable` flags of `shared`. A server that cannot be checked (no port) is logged
/// and left usable, as HAProxy without a check.
pub fn spawn_all(shared: &Arc<crate::state::Shared>, shutdown: &CancellationToken) -> Vec<Checker> {
    let mut out = Vec::new();
    for (bi, be) in shared.config.backends.iter().enumerate() {
        let flag = |si: usize| -> Arc<dyn UsableFlag> {
            Arc::new(RuntimeServer {
                shared: shared.clone(),
                backend: bi,
                server: si,
            })
        };
        let peers: Vec<Peer> = be
            .servers
            .iter()
            .enumerate()
            .map(|(si, s)| Peer {
                backup: s.backup,
                usable: flag(si),
            })
            .collect();
        for (si, srv) in be.servers.iter().enumerate() {
            let st = &shared.backends[bi].servers[si];
            // What a previous generation's checker knew (a reload): carried below.
            let prev = st
                .check
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if !srv.check || srv.disabled {
                // Unchecked servers count as UP (HAProxy), whatever an earlier checker said.
                if !st.is_up() {
                    flag(si).set(true);
                }
                continue;
            }
            let spec = match CheckSpec::from_server(
                &be.name,
                srv,
                &be.health_check,
                be.timeout_check,
            ) {
                Ok(spec) => spec,
                Err(e) => {
                    tracing::warn!(backend = %be.name, server = %srv.name, error = %e, "health check disabled");
                    continue;
                }
            };
            let state = ServerCheck::new(&spec, flag(si));
            if let Some(prev) = &prev {
                state.carry(&spec, prev);
            }
            *shared.backends[bi].servers[si]
                .check
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(state.clone());
            let task = spawn_checker(spec, state.clone(), peers.clone(), shutdown.clone());
            out.push(Checker {
                backend: bi,
                server: si,
                state,
                task,
            });
        }
    }
    out
}

//! The runtime API: HAProxy's `stats socket PATH mode M level L` command line, on a Unix socket
//! (or `ipv4@addr:port` / `addr:port` TCP, as HAProxy accepts), so existing socat scripts keep
//! working (reference §3.2).
//!
//! Owns the socket (created under a temporary name, given its mode, then renamed into place, as
//! HAProxy does), the connection loop (one line per connection, `;`-separated commands,
//! `prompt` for interactive mode, bounded line length, `stats timeout`, at most
//! [`DEFAULT_MAXCONN`] connections at once) and the execution of each command against the
//! generation in force, read per command from a [`Current`]. It must not parse or format
//! command text itself (that is `lbcore::runtime_api`) nor change server state except through
//! `state.rs` followed by [`crate::queue::server_changed`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use lbcore::config::proxy::{Balance, HashType, StatsSocket, StickKey};
use lbcore::runtime_api::format::{self, CheckRow, LastCheck, ServerRow, TableHead, TableRow};
use lbcore::runtime_api::{
    self as rapi, AdminState, Command, DEFAULT_MAXCONN, DEFAULT_TIMEOUT, Level, MAX_LINE,
    ServerRef, TableFilter, Weight,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Current;
use crate::state::{Admin, Shared};

/// Why a runtime API socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `level` is not `user`, `operator` or `admin`.
    #[error("stats socket {path}: unknown level '{level}' (user, operator or admin expected)")]
    Level {
        /// The socket as written.
        path: String,
        /// The level as written.
        level: String,
    },
    /// An address form proxyd does not serve (`abns@`, `fd@`, `sockpair@`, ...).
    #[error(
        "stats socket {0}: unsupported address (a path, unix@PATH, ipv4@ADDR:PORT, ipv6@ADDR:PORT or ADDR:PORT)"
    )]
    Address(String),
    /// Something other than a socket exists at the path.
    #[error("stats socket {0}: exists and is not a socket")]
    NotSocket(PathBuf),
    /// Binding failed.
    #[error("stats socket {what}: cannot bind: {source}")]
    Bind {
        /// The socket as written.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// Setting the mode or moving the socket into place failed.
    #[error("stats socket {path}: {source}")]
    Setup {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// What the runtime API counted (process-wide for [`spawn`]; a test passes its own to
/// [`spawn_counted`]).
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Commands run, including refused ones.
    pub commands: AtomicU64,
    /// Commands refused: unknown, malformed, not permitted, naming nothing, too long.
    pub errors: AtomicU64,
    /// Of those, refused for the level.
    pub denied: AtomicU64,
}

/// The process-wide counters [`spawn`] updates.
pub fn counters() -> &'static Arc<Counters> {
    static C: OnceLock<Arc<Counters>> = OnceLock::new();
    C.get_or_init(Arc::default)
}

/// When the process started, as `show info` reports it (set when the first socket starts, at
/// proxyd's start).
fn started() -> (Instant, SystemTime) {
    static S: OnceLock<(Instant, SystemTime)> = OnceLock::new();
    // `Start_time_sec` is wall-clock time; daemons may read the clock.
    #[allow(clippy::disallowed_methods)]
    *S.get_or_init(|| (crate::state::now(), SystemTime::now()))
}

enum Bound {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// Starts the runtime API on `sock` until `stop`; `timeout` is `stats timeout` (HAProxy's
/// 10 s when `None`). Must be called inside the tokio runtime. The socket file is left in place
/// when stopping (HAProxy does the same; the next start replaces it), so a reload that starts
/// a new API on the same path before stopping the old one loses nothing.
pub fn spawn(
    sock: &StatsSocket,
    timeout: Option<Duration>,
    current: Current,
    stop: CancellationToken,
) -> Result<JoinHandle<()>, ApiError> {
    spawn_counted(sock, timeout, current, stop, counters().clone())
}

/// [`spawn`], counting into `counters`.
pub fn spawn_counted(
    sock: &StatsSocket,
    timeout: Option<Duration>,
    current: Current,
    stop: CancellationToken,
    counters: Arc<Counters>,
) -> Result<JoinHandle<()>, ApiError> {
    let _ = started();
    let level = match &sock.level {
        None => Level::default(),
        Some(l) => Level::parse(l).ok_or_else(|| ApiError::Level {
            path: sock.path.clone(),
            level: l.clone(),
        })?,
    };
    let bound = bind(sock)?;
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
    let what = sock.path.clone();
    tracing::info!(socket = %what, level = level.as_str(), "runtime api listening");
    Ok(tokio::spawn(accept_loop(
        bound, what, level, timeout, current, stop, counters,
    )))
}

/// Parses HAProxy's address forms: `/path`, `unix@/path`, `ipv4@a.b.c.d:p`, `ipv6@[::1]:p` or
/// `ipv6@::1:p`, `a.b.c.d:p`.
fn address(s: &str) -> Result<Result<SocketAddr, PathBuf>, ApiError> {
    let bad = || ApiError::Address(s.to_owned());
    let tcp = |a: &str| -> Result<SocketAddr, ApiError> {
        if let Ok(sa) = a.parse::<SocketAddr>() {
            return Ok(sa);
        }
        // `ipv6@::1:9999`: the last colon separates the port.
        let (ip, port) = a.rsplit_once(':').ok_or_else(bad)?;
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        Ok(SocketAddr::new(ip, port))
    };
    if let Some(p) = s.strip_prefix("unix@") {
        return Ok(Err(PathBuf::from(p)));
    }
    if let Some(a) = s.strip_prefix("ipv4@") {
        return tcp(a).and_then(|sa| if sa.is_ipv4() { Ok(Ok(sa)) } else { Err(bad()) });
    }
    if let Some(a) = s.strip_prefix("ipv6@") {
        return tcp(a).and_then(|sa| if sa.is_ipv6() { Ok(Ok(sa)) } else { Err(bad()) });
    }
    if s.contains('@') {
        return Err(bad());
    }
    if !s.starts_with('/')
        && let Ok(sa) = s.parse::<SocketAddr>()
    {
        return Ok(Ok(sa));
    }
    Ok(Err(PathBuf::from(s)))
}

fn bind(sock: &StatsSocket) -> Result<Bound, ApiError> {
    let bind_err = |source| ApiError::Bind {
        what: sock.path.clone(),
        source,
    };
    match address(&sock.path)? {
        Ok(sa) => {
            let std = std::net::TcpListener::bind(sa).map_err(bind_err)?;
            std.set_nonblocking(true).map_err(bind_err)?;
            Ok(Bound::Tcp(TcpListener::from_std(std).map_err(bind_err)?))
        }
        Err(path) => bind_unix(&path, sock.mode).map(Bound::Unix),
    }
}

/// HAProxy's sequence: bind `PATH.<pid>.tmp`, set the mode, rename over `PATH` (replacing a
/// socket left by a previous run), so clients never see the socket with the wrong mode.
fn bind_unix(path: &Path, mode: Option<u32>) -> Result<UnixListener, ApiError> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.file_type().is_socket()
    {
        return Err(ApiError::NotSocket(path.to_owned()));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let setup = |source| ApiError::Setup {
        path: path.to_owned(),
        source,
    };
    let l = UnixListener::bind(&tmp).map_err(|source| ApiError::Bind {
        what: path.display().to_string(),
        source,
    })?;
    let placed = (|| {
        if let Some(m) = mode {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(m))?;
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(setup(e));
    }
    Ok(l)
}

async fn accept_loop(
    bound: Bound,
    what: String,
    level: Level,
    timeout: Duration,
    current: Current,
    stop: CancellationToken,
    counters: Arc<Counters>,
) {
    let slots = Arc::new(Semaphore::new(DEFAULT_MAXCONN));
    loop {
        // At most DEFAULT_MAXCONN at once: the next connection waits in the backlog.
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let conn = Conn {
            level,
            timeout,
            current: current.clone(),
            stop: stop.clone(),
            counters: counters.clone(),
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = accept(&bound) => a,
        };
        match accepted {
            Ok(Stream::Unix(s)) => {
                tokio::spawn(async move {
                    conn.serve(s).await;
                    drop(permit);
                });
            }
            Ok(Stream::Tcp(s)) => {
                tokio::spawn(async move {
                    conn.serve(s).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(socket = %what, error = %e, "runtime api accept failed");
                // EMFILE and the like: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

enum Stream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn accept(b: &Bound) -> io::Result<Stream> {
    match b {
        Bound::Unix(l) => l.accept().await.map(|(s, _)| Stream::Unix(s)),
        Bound::Tcp(l) => l.accept().await.map(|(s, _)| Stream::Tcp(s)),
    }
}

/// How reading a line ended.
enum LineRead {
    /// A line (its newline stripped later), or the last bytes before EOF.
    Line,
    /// End of input before any byte.
    Eof,
    /// More than [`MAX_LINE`] bytes without a newline.
    TooLong,
}

async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<LineRead> {
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(if buf.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Line
            });
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > MAX_LINE {
            return Ok(LineRead::TooLong);
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(take);
        if done {
            return Ok(LineRead::Line);
        }
    }
}

/// One client connection.
struct Conn {
    level: Level,
    timeout: Duration,
    current: Current,
    stop: CancellationToken,
    counters: Arc<Counters>,
}

/// What one command did to the connection.
struct Outcome {
    answer: String,
    error: bool,
    quit: bool,
}

impl Outcome {
    fn ok(answer: String) -> Self {
        Outcome {
            answer,
            error: false,
            quit: false,
        }
    }

    fn err(answer: impl Into<String>) -> Self {
        Outcome {
            answer: answer.into(),
            error: true,
            quit: false,
        }
    }
}

impl Conn {
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut self, stream: S) {
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        let (r, mut w) = tokio::io::split(stream);
        let mut r = BufReader::new(r);
        let mut interactive = false;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = tokio::select! {
                () = self.stop.cancelled() => return,
                r = tokio::time::timeout(self.timeout, read_line(&mut r, &mut buf)) => r,
            };
            let mut out = String::new();
            let mut quit = false;
            match read {
                Err(_) | Ok(Err(_)) | Ok(Ok(LineRead::Eof)) => return,
                Ok(Ok(LineRead::TooLong)) => {
                    self.counters.commands.fetch_add(1, Ordering::Relaxed);
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(limit = MAX_LINE, "runtime api line too long");
                    format::frame(
                        &mut out,
                        &format!("Line too long (more than {MAX_LINE} bytes)."),
                        false,
                    );
                    quit = true;
                }
                Ok(Ok(LineRead::Line)) => {
                    let line = String::from_utf8_lossy(&buf);
                    let commands = rapi::split_line(&line);
                    let single = commands.len() == 1;
                    for words in commands {
                        // HAProxy ignores an empty line in interactive mode, and empty
                        // commands between `;`.
                        if words.is_empty() && (interactive || !single) {
                            continue;
                        }
                        let o = self.run(&words, &mut interactive);
                        if o.quit {
                            quit = true;
                            break;
                        }
                        format::frame(&mut out, &o.answer, interactive);
                    }
                }
            }
            if !out.is_empty() {
                let wrote = tokio::time::timeout(self.timeout, w.write_all(out.as_bytes())).await;
                if !matches!(wrote, Ok(Ok(()))) {
                    return;
                }
            }
            // Without `prompt`, one line per connection: lines already received are answered
            // too (as HAProxy does), then the connection closes.
            if quit || (!interactive && !r.buffer().contains(&b'\n')) {
                let _ = w.shutdown().await;
                return;
            }
        }
    }

    /// Parses, checks the level and runs one command.
    fn run(&mut self, words: &[String], interactive: &mut bool) -> Outcome {
        self.counters.commands.fetch_add(1, Ordering::Relaxed);
        let line = words.join(" ");
        let outcome = match rapi::parse(words) {
            Err(rejected) if rejected.level > self.level => self.denied(&line),
            Err(rejected) => Outcome::err(rejected.error.to_string()),
            Ok(cmd) if cmd.level() > self.level => self.denied(&line),
            Ok(Command::Quit) => Outcome {
                answer: String::new(),
                error: false,
                quit: true,
            },
            Ok(Command::Prompt) => {
                *interactive = !*interactive;
                Outcome::ok(String::new())
            }
            Ok(Command::LowerLevel(l)) => {
                self.level = l;
                Outcome::ok(String::new())
            }
            Ok(Command::ShowCliLevel) => Outcome::ok(self.level.as_str().to_owned()),
            Ok(cmd) => {
                // The generation in force, per command: a reload may have replaced it.
                let shared = self.current.borrow().clone();
                let o = execute(&shared, &cmd, self.level);
                if cmd.changes_state() && !o.error {
                    tracing::info!(command = %line, "runtime api command applied");
                }
                o
            }
        };
        if outcome.error {
            let errors = self.counters.errors.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(command = %line, answer = %outcome.answer, errors, "runtime api command refused");
        }
        outcome
    }

    fn denied(&self, line: &str) -> Outcome {
        self.counters.denied.fetch_add(1, Ordering::Relaxed);
        tracing::info!(command = %line, level = self.level.as_str(), "runtime api permission denied");
        Outcome::err(format::PERMISSION_DENIED)
    }
}

/// Runs a command that reads or changes the generation `shared`.
fn execute(shared: &Arc<Shared>, cmd: &Command, level: Level) -> Outcome {
    match cmd {
        Command::Help(words) => Outcome::ok(format::help(words)),
        Command::ShowInfo => Outcome::ok(show_info(shared)),
        Command::ShowStat => show_stat(shared, level),
        Command::ShowServersState(be) => show_servers_state(shared, be.as_deref()),
        Command::ShowBackend => Outcome::ok(format::backends(
            shared.config.backends.iter().map(|b| b.name.as_str()),
        )),
        Command::ShowTables => Outcome::ok(show_tables(shared)),
        Command::ShowTable { name, filter } => show_table(shared, name, filter.as_ref(), level),
        Command::ClearTable { name, filter } => clear_table(shared, name, filter.as_ref()),
        Command::SetState(r, s) => set_state(shared, r, *s),
        Command::SetWeight(r, w) => set_weight(shared, r, *w),
        Command::GetWeight(r) => match lookup(shared, r) {
            Ok((bi, si)) => Outcome::ok(format::weight(
                shared.backends[bi].servers[si]
                    .weight
                    .load(Ordering::Acquire),
                shared.config.backends[bi].servers[si].weight,
            )),
            Err(o) => o,
        },
        Command::ShutdownSessions(r) => match lookup(shared, r) {
            Ok((bi, si)) => {
                let srv = &shared.backends[bi].servers[si];
                let sessions = srv.conns.load(Ordering::Acquire);
                srv.shutdown_sessions();
                tracing::info!(backend = %r.backend, server = %r.server, sessions, "runtime api shut down sessions");
                Outcome::ok(String::new())
            }
            Err(o) => o,
        },
        // Handled by the connection.
        Command::Prompt | Command::Quit | Command::LowerLevel(_) | Command::ShowCliLevel => {
            Outcome::ok(String::new())
        }
    }
}

/// `(backend index, server index)` of `r`, or HAProxy's answer.
fn lookup(shared: &Shared, r: &ServerRef) -> Result<(usize, usize), Outcome> {
    let bi = shared
        .backend_index(&r.backend)
        .ok_or_else(|| Outcome::err(format::NO_SUCH_BACKEND))?;
    let si = shared.config.backends[bi]
        .servers
        .iter()
        .position(|s| s.name == r.server)
        .ok_or_else(|| Outcome::err(format::NO_SUCH_SERVER))?;
    Ok((bi, si))
}

fn admin_of(s: AdminState) -> Admin {
    match s {
        AdminState::Ready => Admin::Ready,
        AdminState::Drain => Admin::Drain,
        AdminState::Maint => Admin::Maint,
    }
}

fn admin_state(a: Admin) -> AdminState {
    match a {
        Admin::Ready => AdminState::Ready,
        Admin::Drain => AdminState::Drain,
        Admin::Maint => AdminState::Maint,
    }
}

/// Servers of backend `bi` the balancer may pick: `(active, backup)`.
fn usable_counts(shared: &Shared, bi: usize) -> (usize, usize) {
    let cfg = &shared.config.backends[bi];
    let mut n = (0, 0);
    for (c, s) in cfg.servers.iter().zip(&shared.backends[bi].servers) {
        if s.takes_traffic() && s.lb_weight() > 0 {
            if c.backup {
                n.1 += 1;
            } else {
                n.0 += 1;
            }
        }
    }
    n
}

fn set_state(shared: &Arc<Shared>, r: &ServerRef, to: AdminState) -> Outcome {
    let (bi, si) = match lookup(shared, r) {
        Ok(i) => i,
        Err(o) => return o,
    };
    let srv = &shared.backends[bi].servers[si];
    let from = admin_state(srv.set_admin(admin_of(to)));
    if from == to {
        return Outcome::ok(String::new());
    }
    let queued_before = srv.queued.load(Ordering::SeqCst);
    crate::queue::server_changed(shared, bi, si, srv.takes_traffic());
    let queued = srv.queued.load(Ordering::SeqCst);
    let (active, backup) = usable_counts(shared, bi);
    let counts = format::Counts {
        active,
        backup,
        sessions: srv.conns.load(Ordering::Acquire),
        requeued: queued_before.saturating_sub(queued),
        queued,
    };
    let cfg = &shared.config.backends[bi].servers[si];
    if let Some(line) = format::admin_change_line(
        &r.backend,
        &r.server,
        cfg.backup,
        from,
        to,
        srv.is_up(),
        counts,
    ) {
        tracing::warn!(backend = %r.backend, server = %r.server, from = from.as_str(), to = to.as_str(), line = %line, "server admin state changed");
    }
    if to != AdminState::Ready && active + backup == 0 {
        let line = format::no_server_line(&r.backend);
        tracing::error!(backend = %r.backend, line = %line, "backend has no server available");
    }
    Outcome::ok(String::new())
}

fn set_weight(shared: &Arc<Shared>, r: &ServerRef, w: Weight) -> Outcome {
    let (bi, si) = match lookup(shared, r) {
        Ok(i) => i,
        Err(o) => return o,
    };
    let be = &shared.config.backends[bi];
    let initial = be.servers[si].weight;
    let new = w.resolve(initial);
    // HAProxy: a static algorithm cannot move weights without remapping every client.
    let dynamic = !(be.balance == Balance::StaticRr
        || (be.balance == Balance::Source && be.hash_type == HashType::MapBased));
    if !dynamic && !rapi::static_weight_allowed(new, initial) {
        return Outcome::err(format::STATIC_WEIGHT);
    }
    let srv = &shared.backends[bi].servers[si];
    let old = srv.weight.swap(new, Ordering::AcqRel);
    if old != new {
        crate::queue::server_changed(shared, bi, si, srv.takes_traffic());
        tracing::info!(backend = %r.backend, server = %r.server, old, new, "server weight changed");
    }
    Outcome::ok(String::new())
}

/// Proxy ids in HAProxy's numbering (see [`format::proxy_ids`]).
fn proxy_ids(shared: &Shared) -> Vec<(&str, u32)> {
    let c = &shared.config;
    let pos = |s: &lbcore::diag::Span| (s.line, s.col);
    format::proxy_ids(
        c.frontends
            .iter()
            .map(|f| (f.name.as_str(), pos(&f.span)))
            .chain(c.backends.iter().map(|b| (b.name.as_str(), pos(&b.span))))
            .chain(c.stats.iter().map(|s| (s.name.as_str(), pos(&s.span)))),
    )
}

fn show_servers_state(shared: &Shared, only: Option<&str>) -> Outcome {
    if let Some(b) = only
        && shared.backend_index(b).is_none()
    {
        return Outcome::err(format::CANT_FIND_BACKEND);
    }
    let ids = proxy_ids(shared);
    let now = crate::state::now();
    let mut out = format!(
        "{}\n{}\n",
        format::SERVERS_STATE_VERSION,
        format::SERVERS_STATE_HEADER
    );
    for (be, bs) in shared.config.backends.iter().zip(&shared.backends) {
        if only.is_some_and(|o| o != be.name) {
            continue;
        }
        let backend_id = ids
            .iter()
            .find(|(n, _)| *n == be.name)
            .map_or(0, |(_, id)| *id);
        for (cfg, st) in be.servers.iter().zip(&bs.servers) {
            let check = st.check_state();
            let last = check.as_ref().and_then(|c| c.last());
            let row = ServerRow {
                backend_id,
                backend: &be.name,
                id: cfg.id,
                name: &cfg.name,
                addr: cfg.addr,
                port: cfg.port,
                up: st.is_up(),
                admin: admin_state(st.admin()),
                disabled_in_config: cfg.disabled,
                weight: st.weight.load(Ordering::Acquire),
                initial_weight: cfg.weight,
                since_change: now.saturating_duration_since(st.lock_changes().last),
                check: check.as_ref().map(|c| CheckRow {
                    health: c.state(),
                    last: last.as_ref().map(|l| LastCheck {
                        code: l.status.code(),
                        passed: l.passed(),
                    }),
                }),
                rise: cfg.rise,
                fall: cfg.fall,
                check_port: cfg.check_port,
                check_addr: cfg.check_addr,
            };
            out.push_str(&format::servers_state_line(&row));
            out.push('\n');
        }
    }
    Outcome::ok(out)
}

/// The configuration of table `name`: its key type and size.
fn table_config<'a>(
    shared: &'a Shared,
    name: &str,
) -> Option<&'a lbcore::config::proxy::StickTable> {
    shared
        .config
        .backends
        .iter()
        .filter_map(|b| b.stick_table.as_ref())
        .find(|t| t.name == name)
}

fn key_word(k: StickKey) -> &'static str {
    match k {
        StickKey::Ip => "ip",
        StickKey::Ipv6 => "ipv6",
    }
}

fn head(shared: &Shared, t: &crate::state::NamedTable, used: usize) -> String {
    let cfg = table_config(shared, &t.name);
    format::table_head(&TableHead {
        name: &t.name,
        key_type: cfg.map_or("ip", |c| key_word(c.key)),
        size: cfg.map_or(0, |c| c.size),
        used,
    })
}

fn lock(t: &crate::state::NamedTable) -> std::sync::MutexGuard<'_, lbcore::balance::StickTable> {
    t.table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn show_tables(shared: &Shared) -> String {
    let now = crate::state::now();
    // HAProxy lists its tables newest first.
    let mut out = String::new();
    for t in shared.stick_tables.iter().rev() {
        let used = {
            let mut tab = lock(t);
            tab.purge_expired(now);
            tab.len()
        };
        out.push_str(&head(shared, t, used));
        out.push('\n');
    }
    out
}

/// A key filter's address for table `t`, or the error answer.
fn table_key(shared: &Shared, t: &crate::state::NamedTable, k: &str) -> Result<IpAddr, Outcome> {
    let kind = table_config(shared, &t.name).map_or(StickKey::Ip, |c| c.key);
    let parsed = match kind {
        StickKey::Ip => k.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
        StickKey::Ipv6 => k.parse::<IpAddr>().ok(),
    };
    parsed.ok_or_else(|| {
        Outcome::err(format!(
            "Invalid key '{k}' for a table of type {}.",
            key_word(kind)
        ))
    })
}

fn show_table(shared: &Shared, name: &str, filter: Option<&TableFilter>, level: Level) -> Outcome {
    let Some(t) = shared.stick_tables.iter().find(|t| t.name == name) else {
        return Outcome::err(format::NO_SUCH_TABLE);
    };
    let key = match filter {
        Some(TableFilter::Key(k)) => match table_key(shared, t, k) {
            Ok(a) => Some(a),
            Err(o) => return o,
        },
        _ => None,
    };
    let now = crate::state::now();
    let ipv6_table = table_config(shared, name).is_some_and(|c| c.key == StickKey::Ipv6);
    let servers = shared
        .backend_index(name)
        .map(|bi| &shared.config.backends[bi].servers);
    let server_key =
        |id: u32| servers.and_then(|ss| ss.iter().find(|s| s.id == id).map(|s| s.name.as_str()));
    // Copy what is shown and let go of the lock at once: sessions learn into this table.
    let (used, entries) = {
        let mut tab = lock(t);
        tab.purge_expired(now);
        let entries: Vec<(IpAddr, lbcore::balance::StickEntry)> = if level < Level::Operator {
            Vec::new()
        } else if let Some(k) = key {
            tab.peek(k).map(|e| (k, *e)).into_iter().collect()
        } else {
            tab.iter()
                .filter(|(_, e)| filter.is_none_or(|f| f.server_id_matches(e.server_id)))
                .map(|(k, e)| (*k, *e))
                .collect()
        };
        (tab.len(), entries)
    };
    let mut out = head(shared, t, used);
    out.push('\n');
    if level < Level::Operator {
        out.push_str(format::NOT_DUMPED);
        out.push('\n');
        return Outcome::ok(out);
    }
    if key.is_some() && entries.is_empty() {
        // HAProxy prints nothing at all for an absent key.
        return Outcome::ok(String::new());
    }
    for (k, e) in &entries {
        out.push_str(&format::table_row(&TableRow {
            tag: e.update,
            key: *k,
            ipv6_table,
            expires_in: e.expires_in(now),
            server_id: e.server_id,
            server_key: server_key(e.server_id),
        }));
        out.push('\n');
    }
    Outcome::ok(out)
}

fn clear_table(shared: &Shared, name: &str, filter: Option<&TableFilter>) -> Outcome {
    let Some(t) = shared.stick_tables.iter().find(|t| t.name == name) else {
        return Outcome::err(format::NO_SUCH_TABLE);
    };
    let key = match filter {
        Some(TableFilter::Key(k)) => match table_key(shared, t, k) {
            Ok(a) => Some(a),
            Err(o) => return o,
        },
        _ => None,
    };
    let mut tab = lock(t);
    let removed = match key {
        Some(k) => usize::from(tab.remove(k).is_some()),
        None => {
            let keys: Vec<IpAddr> = tab
                .iter()
                .filter(|(_, e)| filter.is_none_or(|f| f.server_id_matches(e.server_id)))
                .map(|(k, _)| *k)
                .collect();
            for k in &keys {
                tab.remove(*k);
            }
            keys.len()
        }
    };
    drop(tab);
    tracing::info!(table = %name, removed, "runtime api cleared table entries");
    Outcome::ok(String::new())
}

fn show_info(shared: &Shared) -> String {
    let (t0, wall0) = started();
    let now = crate::state::now();
    let fe_sum = |f: fn(&crate::state::Counters) -> u64| -> u64 {
        shared.frontend_counters.iter().map(|c| f(c)).sum()
    };
    let ulimit_n = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(0, |(soft, _)| soft);
    let node = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let nbthread = tokio::runtime::Handle::try_current().map_or(1, |h| {
        u32::try_from(h.metrics().num_workers()).unwrap_or(u32::MAX)
    });
    let version = env!("CARGO_PKG_VERSION");
    format::info(&format::Info {
        name: "proxyd",
        version,
        nbthread,
        pid: std::process::id(),
        uptime: now.saturating_duration_since(t0),
        start_time_sec: wall0
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        ulimit_n,
        maxconn: shared.global_limit(),
        curr_conns: shared.active.load(Ordering::Relaxed),
        cum_conns: fe_sum(|c| c.stot.load(Ordering::Relaxed)),
        stopping: false,
        listeners: shared.config.frontends.iter().map(|f| f.binds.len()).sum(),
        dropped_logs: shared.logger().dropped(),
        total_bytes_out: fe_sum(|c| c.bout.load(Ordering::Relaxed)),
        node: &node,
    })
}

/// `show stat`: the stats page's CSV (`lbcore::stats::csv`) of the generation in force. Below
/// operator level HAProxy leaves the `addr` and `algo` columns empty; so does this.
fn show_stat(shared: &Shared, level: Level) -> Outcome {
    let mut snap = crate::stats::snapshot(shared, true);
    if level < Level::Operator {
        for b in snap.proxies.iter_mut().filter_map(|p| p.backend.as_mut()) {
            b.algo.clear();
            for s in &mut b.servers {
                s.addr.clear();
            }
        }
    }
    Outcome::ok(lbcore::stats::csv::render(&snap))
}

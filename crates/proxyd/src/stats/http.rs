//! The stats listener's HTTP/1.1 server (hyper 1): GET and HEAD for the page, `;csv`, `;json`
//! and `/metrics`, POST for admin actions; Basic authentication; bounded heads, header counts,
//! bodies, connections and times.
//!
//! Owns request routing, authentication and response framing. It must not render (that is
//! `lbcore::stats`) nor touch server states itself (that is [`super::admin`]).

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use lbcore::config::proxy::StatsListener;
use lbcore::stats::html::{ActionResult, HtmlOptions};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ListenerCounters;
use crate::Current;
use crate::acl::{ConnInfo, condition_matches};

/// Time allowed for a request head to arrive (also the keep-alive idle limit).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (hyper's read buffer; hyper answers 431 beyond it).
pub const MAX_HEAD: usize = 16 * 1024;
/// Most request headers (hyper answers 431 beyond).
pub const MAX_HEADERS: usize = 32;
/// Largest admin form body; larger ones get HAProxy's `EXCD`.
pub const MAX_FORM: usize = 16 * 1024;
/// Longest a connection lives, keep-alive included.
pub const MAX_CONN_LIFE: Duration = Duration::from_secs(300);
/// How long open connections may finish after `stop`.
pub const GRACE: Duration = Duration::from_secs(2);
/// The default Basic realm (`stats realm` overrides).
pub const DEFAULT_REALM: &str = "proxyd Statistics";

type Body = Full<Bytes>;

/// One stats listener's request handler.
#[derive(Debug)]
pub struct Server {
    cfg: StatsListener,
    current: Current,
    counters: Arc<ListenerCounters>,
    slots: Arc<Semaphore>,
}

impl Server {
    /// A handler for `cfg`, reading `current` per request and counting into `counters`.
    pub fn new(cfg: StatsListener, current: Current, counters: Arc<ListenerCounters>) -> Self {
        Server {
            cfg,
            current,
            counters,
            slots: Arc::new(Semaphore::new(super::MAX_CONNS as usize)),
        }
    }
}

/// Accepts on `sockets` until `stop`, then lets open connections finish within [`GRACE`].
pub async fn serve(server: Arc<Server>, sockets: Vec<TcpListener>, stop: CancellationToken) {
    let conns = TaskTracker::new();
    let accepting = TaskTracker::new();
    for sock in sockets {
        let (server, stop, conns) = (server.clone(), stop.clone(), conns.clone());
        accepting.spawn(accept_loop(server, sock, stop, conns));
    }
    accepting.close();
    accepting.wait().await;
    conns.close();
    if tokio::time::timeout(GRACE + Duration::from_millis(500), conns.wait())
        .await
        .is_err()
    {
        tracing::debug!(listener = %server.cfg.name, "stats connections still open after grace");
    }
}

async fn accept_loop(
    server: Arc<Server>,
    sock: TcpListener,
    stop: CancellationToken,
    conns: TaskTracker,
) {
    let local = sock.local_addr().ok();
    tracing::info!(listener = %server.cfg.name, addr = ?local, "stats listener ready");
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            p = server.slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            a = sock.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let dst = stream.local_addr().unwrap_or(peer);
                let (server, stop) = (server.clone(), stop.clone());
                conns.spawn(async move {
                    connection(server, stream, ConnInfo { src: peer, dst }, stop).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!(listener = %server.cfg.name, error = %e, "stats accept failed");
                tokio::time::sleep(crate::listener::ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

/// A TCP stream that counts the bytes it moves into the listener's counters.
struct Counted {
    inner: TcpStream,
    counters: Arc<ListenerCounters>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.counters.bin.fetch_add(n, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.counters.bout.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn connection(
    server: Arc<Server>,
    stream: TcpStream,
    conn: ConnInfo,
    stop: CancellationToken,
) {
    let c = &server.counters;
    let cur = c.cur.fetch_add(1, Ordering::Relaxed) + 1;
    c.smax.fetch_max(cur, Ordering::Relaxed);
    c.stot.fetch_add(1, Ordering::Relaxed);
    let io = TokioIo::new(Counted {
        inner: stream,
        counters: c.clone(),
    });
    let svc_server = server.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let server = svc_server.clone();
        async move { Ok::<_, Infallible>(server.handle(req, conn).await) }
    });
    let http = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::pin!(http);
    let result = tokio::select! {
        r = &mut http => Some(r),
        () = stop.cancelled() => {
            http.as_mut().graceful_shutdown();
            tokio::time::timeout(GRACE, &mut http).await.ok()
        }
        () = tokio::time::sleep(MAX_CONN_LIFE) => {
            http.as_mut().graceful_shutdown();
            tokio::time::timeout(GRACE, &mut http).await.ok()
        }
    };
    if let Some(Err(e)) = result {
        if e.is_parse() || e.is_parse_too_large() || e.is_parse_status() {
            // hyper answered 400 (or 431 for an oversized head) and closed.
            c.ereq.fetch_add(1, Ordering::Relaxed);
            c.response(400);
            tracing::debug!(listener = %server.cfg.name, client = %conn.src, error = %e, "stats bad request");
        } else {
            tracing::debug!(listener = %server.cfg.name, client = %conn.src, error = %e, "stats connection ended");
        }
    }
    c.cur.fetch_sub(1, Ordering::Relaxed);
}

fn response(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    r
}

fn error_page(status: StatusCode, text: &str) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("");
    response(
        status,
        "text/html",
        format!(
            "<html><body><h1>{} {reason}</h1>\n{text}\n</body></html>\n",
            status.as_u16()
        ),
    )
}

/// Whether `req` carries one of `cfg.auth`'s accounts (Basic, RFC 7617).
fn authorized(cfg: &StatsListener, req: &Request<Incoming>) -> bool {
    if cfg.auth.is_empty() {
        return true;
    }
    let Some(v) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, cred)) = v.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(cred.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(raw) else {
        return false;
    };
    let Some((user, password)) = text.split_once(':') else {
        return false;
    };
    cfg.auth
        .iter()
        .any(|a| a.user == user && a.password == password)
}

/// The options after the stats URI: `;csv`, `;json`, `;norefresh`, `;st=CODE` (others are
/// accepted and ignored, as HAProxy's `;up`, `;typed`).
#[derive(Debug, Default)]
struct Opts {
    csv: bool,
    json: bool,
    norefresh: bool,
    st: Option<ActionResult>,
}

fn opts(rest: &str) -> Opts {
    let mut o = Opts::default();
    for t in rest.split(';').skip(1) {
        match t {
            "csv" => o.csv = true,
            "json" => o.json = true,
            "norefresh" => o.norefresh = true,
            _ => {
                if let Some(code) = t.strip_prefix("st=") {
                    o.st = Some(ActionResult::from_code(code));
                }
            }
        }
    }
    o
}

impl Server {
    fn snapshot(&self, shared: &crate::Shared) -> lbcore::stats::Snapshot {
        let own = (
            self.cfg.name.clone(),
            self.cfg.span.clone(),
            self.counters.clone(),
        );
        super::snapshot_for(shared, !self.cfg.hide_version, Some(&own))
    }

    fn admin_allowed(&self, conn: &ConnInfo) -> bool {
        self.cfg.admin && condition_matches(&self.cfg.acls, self.cfg.admin_when.as_ref(), conn)
    }

    async fn handle(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<Body> {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let r = self.route(req, conn).await;
        let status = r.status();
        if status == StatusCode::BAD_REQUEST
            || status == StatusCode::METHOD_NOT_ALLOWED
            || status == StatusCode::LENGTH_REQUIRED
        {
            self.counters.ereq.fetch_add(1, Ordering::Relaxed);
        }
        self.counters.response(status.as_u16());
        r
    }

    async fn route(&self, req: Request<Incoming>, conn: ConnInfo) -> Response<Body> {
        let method = req.method().clone();
        if method != Method::GET && method != Method::HEAD && method != Method::POST {
            let mut r = error_page(
                StatusCode::METHOD_NOT_ALLOWED,
                "Only GET, HEAD and POST are served here.",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
            return r;
        }
        let target = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let path = target.split('?').next().unwrap_or("");
        let is_metrics = path == "/metrics";
        let rest = target.strip_prefix(self.cfg.uri.as_str());
        let is_stats = rest.is_some_and(|r| {
            r.is_empty() || r.starts_with(';') || r.starts_with('?') || r.starts_with('/')
        });
        if !is_metrics && !is_stats {
            return error_page(
                StatusCode::NOT_FOUND,
                "The requested URL was not found on this server.",
            );
        }
        if !authorized(&self.cfg, &req) {
            let realm = self.cfg.realm.as_deref().unwrap_or(DEFAULT_REALM);
            let mut r = error_page(
                StatusCode::UNAUTHORIZED,
                "You need a valid user and password to access this content.",
            );
            let v = format!("Basic realm=\"{}\"", realm.replace(['"', '\\'], ""));
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            return r;
        }
        let shared = self.current.borrow().clone();
        if is_metrics {
            if method == Method::POST {
                return error_page(StatusCode::METHOD_NOT_ALLOWED, "Use GET.");
            }
            let snap = self.snapshot(&shared);
            return response(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                lbcore::stats::prometheus::render(&snap),
            );
        }
        let o = opts(rest.unwrap_or(""));
        if method == Method::POST {
            return self.post(req, &shared, conn).await;
        }
        let snap = self.snapshot(&shared);
        if o.csv {
            return response(
                StatusCode::OK,
                "text/plain",
                lbcore::stats::csv::render(&snap),
            );
        }
        if o.json {
            return response(
                StatusCode::OK,
                "application/json",
                lbcore::stats::json::render(&snap),
            );
        }
        let page = lbcore::stats::html::render(
            &snap,
            &HtmlOptions {
                uri: &self.cfg.uri,
                refresh: if o.norefresh { None } else { self.cfg.refresh },
                admin: self.admin_allowed(&conn),
                message: o.st,
            },
        );
        response(StatusCode::OK, "text/html; charset=utf-8", page)
    }

    /// An admin form: applied when this client may act; answered with a redirect to the page
    /// carrying the result (`;st=CODE`), as HAProxy does.
    async fn post(
        &self,
        req: Request<Incoming>,
        shared: &Arc<crate::Shared>,
        conn: ConnInfo,
    ) -> Response<Body> {
        let redirect = |st: ActionResult| {
            let mut r = response(StatusCode::SEE_OTHER, "text/plain", Bytes::new());
            let loc = format!("{};st={}", self.cfg.uri, st.code());
            if let Ok(v) = HeaderValue::from_str(&loc) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        };
        if !self.admin_allowed(&conn) {
            tracing::info!(listener = %self.cfg.name, client = %conn.src, "stats admin action denied");
            return redirect(ActionResult::Deny);
        }
        let len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let Some(len) = len else {
            return error_page(StatusCode::LENGTH_REQUIRED, "A Content-Length is required.");
        };
        if len > MAX_FORM as u64 {
            return redirect(ActionResult::Excd);
        }
        let body = Limited::new(req.into_body(), MAX_FORM).collect();
        let form = match tokio::time::timeout(BODY_TIMEOUT, body).await {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(_)) => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "Your browser sent an invalid request.",
                );
            }
            Err(_) => {
                return error_page(StatusCode::REQUEST_TIMEOUT, "The request body timed out.");
            }
        };
        let snap = self.snapshot(shared);
        let st = super::admin::apply(shared, &snap, &form, &self.cfg.name, conn.src);
        redirect(st)
    }
}

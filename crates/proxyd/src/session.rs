//! One client connection from accept to close.
//!
//! Owns the per-connection decisions in HAProxy's order: `tcp-request connection` rules, backend
//! choice (`use_backend`, `default_backend`), stickiness then the algorithm, per-server `maxconn`
//! with a queue bounded by `timeout queue`, connect with `timeout connect`, `retries` and
//! `option redispatch`, the relay, and the access log. It must not touch listeners or health.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use lbcore::config::proxy::{Backend, TcpAction};
use tokio::net::TcpStream;

use crate::acl::{self, ConnInfo};
use crate::relay::{self, End};
use crate::state::FALLBACK_CONNECT_TIMEOUT;
use crate::{Shared, tcplog};

/// A held server connection slot; released (and queued sessions woken) on drop.
struct Slot {
    shared: Arc<Shared>,
    backend: usize,
    server: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let b = &self.shared.backends[self.backend];
        b.servers[self.server].conns.fetch_sub(1, Ordering::AcqRel);
        b.released.notify_waiters();
    }
}

enum Pick {
    Server(Slot),
    AllFull,
    NoServer,
}

/// Stickiness first, then the algorithm; skips `exclude` and servers at `maxconn`.
fn pick(shared: &Arc<Shared>, bi: usize, src: IpAddr, exclude: &[usize], sticky: bool) -> Pick {
    let be = &shared.config.backends[bi];
    let st = &shared.backends[bi];
    let stuck = if sticky {
        be.stick_rules.first().and_then(|r| {
            let table = shared.stick_tables.get(&r.table)?;
            table
                .lock()
                .ok()?
                .lookup(src, tokio::time::Instant::now().into_std())
        })
    } else {
        None
    };
    let views = st.views(be);
    let candidates = match st.balancer.lock() {
        Ok(mut b) => b.select_sticky(&views, Some(src), stuck),
        Err(_) => return Pick::NoServer,
    };
    let mut any = false;
    for i in candidates.into_iter().filter(|i| !exclude.contains(i)) {
        any = true;
        if st.servers[i].try_take(be.servers[i].maxconn) {
            return Pick::Server(Slot {
                shared: shared.clone(),
                backend: bi,
                server: i,
            });
        }
    }
    if any { Pick::AllFull } else { Pick::NoServer }
}

/// Waits for a free server slot up to `timeout queue` (HAProxy: `timeout connect` when unset).
async fn pick_queued(
    shared: &Arc<Shared>,
    bi: usize,
    src: IpAddr,
    exclude: &[usize],
    sticky: bool,
) -> Result<Slot, &'static str> {
    let be = &shared.config.backends[bi];
    let limit = be
        .timeout_queue
        .or(be.timeout_connect)
        .unwrap_or(FALLBACK_CONNECT_TIMEOUT);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let notified = shared.backends[bi].released.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match pick(shared, bi, src, exclude, sticky) {
            Pick::Server(s) => return Ok(s),
            Pick::NoServer => return Err("SC"),
            Pick::AllFull => {}
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Err("sQ");
        }
    }
}

fn set_keepalive(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_keepalive(true);
}

async fn connect(be: &Backend, si: usize, dst_port: u16) -> Result<TcpStream, &'static str> {
    let srv = &be.servers[si];
    // A server without a port goes to the port the client connected to (Exchange RPC ports).
    let addr = SocketAddr::new(srv.addr, srv.port.unwrap_or(dst_port));
    let limit = be.timeout_connect.unwrap_or(FALLBACK_CONNECT_TIMEOUT);
    match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "server connect failed");
            Err("SC")
        }
        Err(_) => Err("sC"),
    }
}

/// Serves one accepted connection until it closes.
pub async fn handle(shared: Arc<Shared>, fe_idx: usize, client: TcpStream, peer: SocketAddr) {
    #[allow(clippy::disallowed_methods)]
    // The access log's wall-clock date (%t); daemons may read the clock.
    let accepted = SystemTime::now();
    let t0 = tokio::time::Instant::now().into_std();
    let fe = &shared.config.frontends[fe_idx];
    let Ok(local) = client.local_addr() else {
        return;
    };
    let info = ConnInfo {
        src: peer,
        dst: local,
    };
    let src = peer.ip().to_canonical();
    if fe.tcpka {
        set_keepalive(&client);
    }
    for rule in &fe.tcp_request {
        if acl::condition_matches(&fe.acls, rule.condition.as_ref(), &info) {
            match rule.action {
                TcpAction::Accept => break,
                TcpAction::Reject => {
                    tracing::debug!(frontend = %fe.name, client = %peer, "connection rejected by tcp-request");
                    return;
                }
            }
        }
    }
    let routes = &shared.routes[fe_idx];
    let chosen = fe
        .use_backends
        .iter()
        .zip(&routes.use_backends)
        .find(|(u, _)| acl::condition_matches(&fe.acls, u.condition.as_ref(), &info))
        .map_or(routes.default_backend, |(_, bi)| *bi);
    let Some(bi) = chosen else {
        tracing::warn!(frontend = %fe.name, client = %peer, "no backend for connection");
        return;
    };
    let be = &shared.config.backends[bi];

    let mut record = tcplog::Record {
        client: peer,
        accepted,
        frontend: fe.name.clone(),
        backend: be.name.clone(),
        server: "<NOSRV>".into(),
        tw: None,
        tc: None,
        tt: Duration::ZERO,
        bytes: 0,
        termination: "--",
        counts: [0; 5],
    };

    let mut retries = 0u64;
    let mut tried: Vec<usize> = Vec::new();
    let q0 = tokio::time::Instant::now().into_std();
    let mut slot = match pick_queued(&shared, bi, src, &tried, true).await {
        Ok(s) => s,
        Err(ts) => return finish(&shared, fe_idx, bi, None, record, t0, ts, 0, retries),
    };
    record.tw = Some(q0.elapsed());
    let c0 = tokio::time::Instant::now().into_std();
    let server = loop {
        match connect(be, slot.server, local.port()).await {
            Ok(s) => break s,
            Err(ts) => {
                if retries >= u64::from(be.retries) {
                    record.server = be.servers[slot.server].name.clone();
                    return finish(
                        &shared,
                        fe_idx,
                        bi,
                        Some(slot.server),
                        record,
                        t0,
                        ts,
                        0,
                        retries,
                    );
                }
                retries += 1;
                // `option redispatch`: the last retry goes to another server (HAProxy's default
                // interval -1); without it every retry goes to the same server.
                if be.redispatch && retries == u64::from(be.retries) {
                    tried.push(slot.server);
                    if let Ok(s) = pick_queued(&shared, bi, src, &tried, false).await {
                        slot = s;
                    }
                }
            }
        }
    };
    record.tc = Some(c0.elapsed());
    let si = slot.server;
    record.server = be.servers[si].name.clone();
    shared.backends[bi].servers[si]
        .total
        .fetch_add(1, Ordering::Relaxed);
    if let Some(rule) = be.stick_rules.first()
        && let Some(t) = shared.stick_tables.get(&rule.table)
        && let Ok(mut t) = t.lock()
    {
        t.learn(
            src,
            be.servers[si].id,
            tokio::time::Instant::now().into_std(),
        );
    }
    if be.tcpka {
        set_keepalive(&server);
    }
    let idle = match (fe.timeout_client, be.timeout_server) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    // `on-marked-down shutdown-sessions`: end the relay when the checker marks the server DOWN.
    let mut health = be.servers[si]
        .shutdown_sessions_on_down
        .then(|| shared.backends[bi].servers[si].health.subscribe());
    let marked_down = async {
        match health.as_mut() {
            Some(rx) => {
                if rx.wait_for(|up| !*up).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    };
    let (totals, end) = relay::relay_until(
        &client,
        &server,
        idle,
        cfg!(target_os = "linux"),
        marked_down,
    )
    .await;
    let ts = match end {
        End::Closed => "--",
        End::Idle => "cD",
        End::Error => "SD",
        // HAProxy's `D`: killed because the server went DOWN (`SF_ERR_DOWN`), in the data phase.
        End::Killed => "DD",
    };
    let nothing = totals.to_client == 0 && totals.to_server == 0;
    if nothing && (fe.log.dontlognull || be.log.dontlognull) {
        return;
    }
    finish(
        &shared,
        fe_idx,
        bi,
        Some(si),
        record,
        t0,
        ts,
        totals.to_client,
        retries,
    );
    drop(slot);
}

#[allow(clippy::too_many_arguments)] // One call site per outcome; a struct would only rename them.
fn finish(
    shared: &Shared,
    fe_idx: usize,
    bi: usize,
    si: Option<usize>,
    mut record: tcplog::Record,
    t0: Instant,
    termination: &'static str,
    bytes: u64,
    retries: u64,
) {
    let fe = &shared.config.frontends[fe_idx];
    let be = &shared.config.backends[bi];
    if !(fe.log.tcplog || be.log.tcplog) {
        tracing::debug!(frontend = %fe.name, backend = %be.name, termination, bytes, "session closed");
        return;
    }
    let global_max = shared
        .config
        .global
        .maxconn
        .unwrap_or(crate::state::DEFAULT_GLOBAL_MAXCONN);
    let fe_max = fe.maxconn.unwrap_or(global_max);
    let st = &shared.backends[bi];
    let bc: u64 = st
        .servers
        .iter()
        .map(|s| u64::from(s.conns.load(Ordering::Relaxed)))
        .sum();
    record.tt = t0.elapsed();
    record.termination = termination;
    record.bytes = bytes;
    record.counts = [
        u64::from(global_max).saturating_sub(shared.global_slots.available_permits() as u64),
        u64::from(fe_max).saturating_sub(shared.frontend_slots[fe_idx].available_permits() as u64),
        bc,
        si.map_or(0, |i| {
            u64::from(st.servers[i].conns.load(Ordering::Relaxed))
        }),
        retries,
    ];
    tcplog::emit(&fe.logs, &tcplog::format(&record));
}

//! One client connection from accept to close.
//!
//! Owns the per-connection decisions in HAProxy's order: `tcp-request connection` rules, backend
//! choice (`use_backend`, `default_backend`), stickiness then the algorithm, per-server `maxconn`
//! through [`crate::queue`] bounded by `timeout queue`, connect with `timeout connect`, `retries`
//! and `option redispatch`, the relay with `timeout client`/`timeout server`, and the access
//! log. It must not touch listeners or health.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use lbcore::config::proxy::{Backend, Balance, TcpAction};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::acl::{self, ConnInfo};
use crate::queue::{self, Choice, Positions, Refusal, Slot};
use crate::relay::{self, Timeouts};
use crate::state::FALLBACK_CONNECT_TIMEOUT;
use crate::{Shared, tcplog};

/// The server choice for a new connection: a stick-table hit is assigned directly (HAProxy's
/// `SF_DIRECT`), `balance source` assigns its hashed server, other algorithms give candidates.
/// `exclude` (servers already tried) and `sticky = false` are for redispatch after a failure.
fn choose(shared: &Shared, bi: usize, src: IpAddr, exclude: &[usize], sticky: bool) -> Choice {
    let be = &shared.config.backends[bi];
    let st = &shared.backends[bi];
    let stuck = if sticky {
        shared.stick_table(bi).and_then(|t| {
            t.table
                .lock()
                .ok()?
                .lookup(src, tokio::time::Instant::now().into_std())
        })
    } else {
        None
    };
    let views = st.views(be);
    // `Balancer::select_sticky` honours a hit on a usable server: that is a direct assignment.
    if let Some(i) = stuck
        .and_then(|id| be.servers.iter().position(|s| s.id == id))
        .filter(|&i| views[i].usable && !exclude.contains(&i))
    {
        return Choice::Assigned {
            server: i,
            direct: true,
        };
    }
    let mut candidates = match st.balancer.lock() {
        Ok(mut b) => b.select(&views, Some(src)),
        Err(_) => Vec::new(),
    };
    candidates.retain(|i| !exclude.contains(i));
    if be.balance == Balance::Source && sticky && exclude.is_empty() {
        // HAProxy queues on the hashed server rather than break the source affinity.
        if let Some(&first) = candidates.first() {
            return Choice::Assigned {
                server: first,
                direct: false,
            };
        }
    }
    Choice::Any(candidates)
}

/// A slot for `choice`: at once when one is free, else through the queues until `timeout queue`
/// (HAProxy: `timeout connect` when unset). Gives up early if the client resets meanwhile.
async fn get_slot(
    shared: &Arc<Shared>,
    bi: usize,
    src: IpAddr,
    choice: Choice,
    client: &TcpStream,
) -> Result<(Slot, Positions), (Refusal, Positions)> {
    if let Some(s) = queue::try_fast(shared, bi, &choice) {
        return Ok((s, Positions::default()));
    }
    let be = &shared.config.backends[bi];
    let limit = be
        .timeout_queue
        .or(be.timeout_connect)
        .unwrap_or(FALLBACK_CONNECT_TIMEOUT);
    let deadline = tokio::time::Instant::now() + limit;
    let redispatch = || choose(shared, bi, src, &[], false);
    queue::acquire(
        shared,
        bi,
        choice,
        redispatch,
        deadline,
        client_reset(client),
    )
    .await
}

/// Completes when the client connection fails (RST) while it waits in a queue. A FIN does not
/// count: HAProxy keeps a half-closed client queued unless `option abortonclose`
/// (`back_may_abort_req`), and its request and FIN are relayed once a server is connected.
///
/// Readiness is only observed, never consumed: bytes the client sends while queued must still
/// wake the relay's first read (edge-triggered), so after the first readiness this polls the
/// socket error instead of waiting for another edge.
async fn client_reset(client: &TcpStream) {
    if client.ready(Interest::READABLE).await.is_err() {
        return;
    }
    // Bounded by the caller's queue deadline.
    loop {
        if matches!(client.take_error(), Ok(Some(_)) | Err(_)) {
            return;
        }
        tokio::time::sleep(RESET_POLL).await;
    }
}

/// How often a queued client that sent bytes or a FIN is checked for a reset.
const RESET_POLL: Duration = Duration::from_millis(100);

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

/// Serves one accepted connection until it closes. `local` is the address the client reached
/// when the listener knows it (see `listener::Listener::local`); otherwise it is asked.
pub async fn handle(
    shared: Arc<Shared>,
    fe_idx: usize,
    client: TcpStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
) {
    #[allow(clippy::disallowed_methods)]
    // The access log's wall-clock date (%t); daemons may read the clock.
    let accepted = SystemTime::now();
    let t0 = tokio::time::Instant::now().into_std();
    let fe = &shared.config.frontends[fe_idx];
    let Some(local) = local.or_else(|| client.local_addr().ok()) else {
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
    let fe_counters = &shared.frontend_counters[fe_idx];
    fe_counters.session(shared.frontend_active[fe_idx].load(Ordering::Relaxed));
    for rule in &fe.tcp_request {
        if acl::condition_matches(&fe.acls, rule.condition.as_ref(), &info) {
            match rule.action {
                TcpAction::Accept => break,
                TcpAction::Reject => {
                    fe_counters.dreq.fetch_add(1, Ordering::Relaxed);
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
        fe_counters.ereq.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(frontend = %fe.name, client = %peer, "no backend for connection");
        return;
    };
    let be_counters = &shared.backends[bi].counters;
    let be = &shared.config.backends[bi];

    let mut record = tcplog::Record {
        client: peer,
        accepted,
        frontend: &fe.name,
        backend: &be.name,
        server: "<NOSRV>",
        tw: None,
        tc: None,
        tt: Duration::ZERO,
        bytes: 0,
        termination: "--",
        counts: [0; 5],
        queue: [0; 2],
    };

    let mut retries = 0u64;
    let mut tried: Vec<usize> = Vec::new();
    let q0 = tokio::time::Instant::now().into_std();
    let choice = choose(&shared, bi, src, &tried, true);
    let assigned = match choice {
        Choice::Assigned { server, .. } => Some(server),
        Choice::Any(_) => None,
    };
    let queued = |pos: &Positions, si: Option<usize>| {
        be_counters.queued(u32::try_from(pos.backend).unwrap_or(u32::MAX));
        if let Some(si) = si {
            shared.backends[bi].servers[si]
                .counters
                .queued(u32::try_from(pos.srv).unwrap_or(u32::MAX));
        }
    };
    let mut slot = match get_slot(&shared, bi, src, choice, &client).await {
        Ok((s, pos)) => {
            record.queue = [pos.srv, pos.backend];
            queued(&pos, Some(s.server()));
            s
        }
        Err((refusal, pos)) => {
            record.queue = [pos.srv, pos.backend];
            queued(&pos, assigned);
            if pos.queued {
                record.tw = Some(q0.elapsed());
            }
            if let Some(si) = assigned {
                record.server = &be.servers[si].name;
            }
            let ts = match refusal {
                Refusal::NoServer => "SC",
                Refusal::QueueFull | Refusal::Timeout => "sQ",
                Refusal::ClientAbort => "CQ",
            };
            return finish(&shared, fe_idx, bi, None, record, t0, ts, 0, retries);
        }
    };
    record.tw = Some(q0.elapsed());
    let c0 = tokio::time::Instant::now().into_std();
    let server = loop {
        match connect(be, slot.server(), local.port()).await {
            Ok(s) => break s,
            Err(ts) => {
                let srv = &shared.backends[bi].servers[slot.server()].counters;
                srv.econ.fetch_add(1, Ordering::Relaxed);
                be_counters.econ.fetch_add(1, Ordering::Relaxed);
                if retries >= u64::from(be.retries) {
                    record.server = &be.servers[slot.server()].name;
                    return finish(
                        &shared,
                        fe_idx,
                        bi,
                        Some(slot.server()),
                        record,
                        t0,
                        ts,
                        0,
                        retries,
                    );
                }
                retries += 1;
                srv.wretr.fetch_add(1, Ordering::Relaxed);
                be_counters.wretr.fetch_add(1, Ordering::Relaxed);
                // `option redispatch`: the last retry goes to another server (HAProxy's default
                // interval -1); without it every retry goes to the same server.
                if be.redispatch && retries == u64::from(be.retries) {
                    tried.push(slot.server());
                    let choice = choose(&shared, bi, src, &tried, false);
                    if let Ok((s, _)) = get_slot(&shared, bi, src, choice, &client).await {
                        srv.wredis.fetch_add(1, Ordering::Relaxed);
                        be_counters.wredis.fetch_add(1, Ordering::Relaxed);
                        slot = s;
                    }
                }
            }
        }
    };
    record.tc = Some(c0.elapsed());
    let si = slot.server();
    record.server = &be.servers[si].name;
    let srv_state = &shared.backends[bi].servers[si];
    srv_state.total.fetch_add(1, Ordering::Relaxed);
    srv_state
        .counters
        .session(srv_state.conns.load(Ordering::Relaxed));
    be_counters.session(
        shared.backends[bi]
            .servers
            .iter()
            .map(|s| s.conns.load(Ordering::Relaxed))
            .sum(),
    );
    if let Some(t) = shared.stick_table(bi)
        && let Ok(mut table) = t.table.lock()
    {
        let seq = table.learn(
            src,
            be.servers[si].id,
            tokio::time::Instant::now().into_std(),
        );
        drop(table);
        t.changed.send_replace(seq);
    }
    if be.tcpka {
        set_keepalive(&server);
    }
    let timeouts = Timeouts {
        client: fe.timeout_client,
        server: be.timeout_server,
    };
    // `on-marked-down shutdown-sessions`: end the relay when the checker marks the server DOWN.
    let mut health = be.servers[si]
        .shutdown_sessions_on_down
        .then(|| shared.backends[bi].servers[si].health.subscribe());
    // `shutdown sessions server B/S` from the runtime API.
    let mut kill = srv_state.kill.subscribe();
    let marked_down = async {
        let down = async {
            match health.as_mut() {
                Some(rx) => {
                    if rx.wait_for(|up| !*up).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        let killed = async {
            if kill.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = down => {}
            () = killed => {}
        }
    };
    let meter = relay::Meter {
        counters: vec![fe_counters, be_counters, &srv_state.counters],
    };
    let (totals, end) = relay::relay_until(
        &client,
        &server,
        timeouts,
        cfg!(target_os = "linux"),
        marked_down,
        &meter,
    )
    .await;
    if matches!(end, relay::End::ServerError | relay::End::ServerTimeout) {
        srv_state.counters.eresp.fetch_add(1, Ordering::Relaxed);
        be_counters.eresp.fetch_add(1, Ordering::Relaxed);
    }
    let ts = end.termination();
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
    mut record: tcplog::Record<'_>,
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
        u64::from(shared.active.load(Ordering::Relaxed)),
        u64::from(shared.frontend_active[fe_idx].load(Ordering::Relaxed)),
        bc,
        si.map_or(0, |i| {
            u64::from(st.servers[i].conns.load(Ordering::Relaxed))
        }),
        retries,
    ];
    shared
        .logger()
        .log(fe_idx, tcplog::Level::Info, tcplog::format(&record));
}

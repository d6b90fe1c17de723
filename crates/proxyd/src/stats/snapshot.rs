//! Builds an `lbcore::stats::Snapshot` from the generation in force: atomics and counters read
//! once each, ages computed against one `now`.
//!
//! Owns the mapping from run-time state to HAProxy's fields and the proxy ids (`iid`:
//! declaration order of every proxy name, stats listeners included). It must not render nor
//! change anything.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lbcore::config::proxy::Balance;
use lbcore::stats::{self as st, Snapshot};

use super::ListenerCounters;
use crate::state::{Admin, Counters, ServerState, Shared};

/// The process's version as the page shows it.
pub const VERSION: &str = concat!("proxyd ", env!("CARGO_PKG_VERSION"));

fn admin(a: Admin) -> st::Admin {
    match a {
        Admin::Ready => st::Admin::Ready,
        Admin::Drain => st::Admin::Drain,
        Admin::Maint => st::Admin::Maint,
    }
}

/// HAProxy's name of a `balance` algorithm (the CSV's `algo`).
pub fn algo(b: Balance) -> &'static str {
    match b {
        Balance::RoundRobin => "roundrobin",
        Balance::StaticRr => "static-rr",
        Balance::LeastConn => "leastconn",
        Balance::Source => "source",
        Balance::First => "first",
    }
}

fn traffic(c: &Counters, scur: u32, slim: Option<u32>) -> st::Traffic {
    st::Traffic {
        scur,
        smax: c.smax.load(Ordering::Relaxed).max(scur),
        slim,
        stot: c.stot.load(Ordering::Relaxed),
        bin: c.bin.load(Ordering::Relaxed),
        bout: c.bout.load(Ordering::Relaxed),
    }
}

fn server(cfg: &lbcore::config::proxy::Server, s: &ServerState, now: Instant) -> st::Server {
    let c = &s.counters;
    let scur = s.conns.load(Ordering::Relaxed);
    let qcur = s.queued.load(Ordering::Relaxed);
    let changes = *s.lock_changes();
    let check = s.check_state().map(|chk| st::Check {
        health: chk.state(),
        rise: cfg.rise,
        fall: cfg.fall,
        last: chk.last().map(|r| st::CheckResult {
            status: r.status.code().to_string(),
            desc: r.status.reason().to_string(),
            info: r.info.clone(),
            code: r.code,
            duration: r.duration,
        }),
    });
    let port = cfg.port.map(|p| format!(":{p}")).unwrap_or_default();
    let addr = match cfg.addr {
        std::net::IpAddr::V6(a) => format!("[{a}]{port}"),
        a @ std::net::IpAddr::V4(_) => format!("{a}{port}"),
    };
    st::Server {
        name: cfg.name.clone(),
        sid: cfg.id,
        addr,
        backup: cfg.backup,
        traffic: traffic(c, scur, (cfg.maxconn > 0).then_some(cfg.maxconn)),
        qcur,
        qmax: c.qmax.load(Ordering::Relaxed).max(qcur),
        qlimit: (cfg.maxqueue > 0).then_some(cfg.maxqueue),
        econ: c.econ.load(Ordering::Relaxed),
        eresp: c.eresp.load(Ordering::Relaxed),
        wretr: c.wretr.load(Ordering::Relaxed),
        wredis: c.wredis.load(Ordering::Relaxed),
        lbtot: s.total.load(Ordering::Relaxed),
        admin: admin(s.admin()),
        up: s.is_up(),
        weight: s.weight.load(Ordering::Relaxed),
        check,
        chkfail: s.chkfail.load(Ordering::Relaxed),
        chkdown: s.chkdown.load(Ordering::Relaxed),
        lastchg: now.saturating_duration_since(changes.last),
        downtime: changes.downtime_at(now),
    }
}

/// One proxy name's place: where it is declared (for the id) and its rows.
struct Entry {
    key: (String, u32, u32),
    proxy: st::Proxy,
}

/// The snapshot of `shared` at `now`, with the stats listeners' own frontends (`listeners`:
/// name, declaration position, counters). `version`: shown unless `stats hide-version`.
pub fn build(
    shared: &Shared,
    listeners: &[(String, lbcore::diag::Span, std::sync::Arc<ListenerCounters>)],
    now: Instant,
    uptime: Duration,
    version: bool,
) -> Snapshot {
    let cfg = &shared.config;
    let global = shared.global_limit();
    let mut entries: Vec<Entry> = Vec::new();
    let key = |s: &lbcore::diag::Span| (s.file.display().to_string(), s.line, s.col);
    let slot = |entries: &mut Vec<Entry>, name: &str, span: &lbcore::diag::Span| -> usize {
        if let Some(i) = entries.iter().position(|e| e.proxy.name == name) {
            return i;
        }
        entries.push(Entry {
            key: key(span),
            proxy: st::Proxy {
                name: name.to_string(),
                ..st::Proxy::default()
            },
        });
        entries.len() - 1
    };
    for (fi, fe) in cfg.frontends.iter().enumerate() {
        let i = slot(&mut entries, &fe.name, &fe.span);
        let c = &shared.frontend_counters[fi];
        let scur = shared.frontend_active[fi].load(Ordering::Relaxed);
        entries[i].proxy.frontend = Some(st::Frontend {
            traffic: traffic(c, scur, Some(fe.maxconn.unwrap_or(global))),
            dreq: c.dreq.load(Ordering::Relaxed),
            ereq: c.ereq.load(Ordering::Relaxed),
            http: None,
        });
    }
    for (bi, be) in cfg.backends.iter().enumerate() {
        let i = slot(&mut entries, &be.name, &be.span);
        let bs = &shared.backends[bi];
        let servers: Vec<st::Server> = be
            .servers
            .iter()
            .zip(&bs.servers)
            .map(|(c, s)| server(c, s, now))
            .collect();
        let c = &bs.counters;
        let scur = servers.iter().map(|s| s.traffic.scur).sum();
        let qcur = bs.queued.load(Ordering::Relaxed);
        entries[i].proxy.backend = Some(st::Backend {
            traffic: traffic(c, scur, None),
            qcur,
            qmax: c.qmax.load(Ordering::Relaxed).max(qcur),
            econ: c.econ.load(Ordering::Relaxed),
            eresp: c.eresp.load(Ordering::Relaxed),
            wretr: c.wretr.load(Ordering::Relaxed),
            wredis: c.wredis.load(Ordering::Relaxed),
            lbtot: servers.iter().map(|s| s.lbtot).sum(),
            algo: algo(be.balance).to_string(),
            lastchg: servers.iter().map(|s| s.lastchg).min(),
            servers,
        });
    }
    for (name, span, c) in listeners {
        let i = slot(&mut entries, name, span);
        let p = &mut entries[i].proxy;
        p.http = true;
        p.frontend = Some(c.frontend());
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    let proxies = entries
        .into_iter()
        // HAProxy 2.6 numbers proxies from 2 in declaration order (as `show servers state`).
        .zip(2u32..)
        .map(|(e, iid)| st::Proxy { iid, ..e.proxy })
        .collect();
    Snapshot {
        pid: std::process::id(),
        version: version.then(|| VERSION.to_string()),
        uptime,
        proxies,
    }
}

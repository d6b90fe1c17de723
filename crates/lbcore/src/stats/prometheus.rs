//! The Prometheus text exposition (format 0.0.4) of a snapshot, with the names, help texts and
//! types of HAProxy 2.6's built-in exporter (`haproxy_frontend_*`, `haproxy_backend_*`,
//! `haproxy_server_*`; reference §3.5, captured from haproxy 2.6.12's `/metrics`).
//!
//! Owns the metric families; it must not invent metrics HAProxy does not export. Unlimited limits
//! and counters of unchecked servers are `NaN`, as HAProxy prints them.

use std::fmt::Write as _;

use super::model::{Backend, Frontend, Proxy, Server, Snapshot};
use super::status::{backend_status, frontend_status, server_status};

/// HAProxy's `check_status` label values, in its order.
pub const CHECK_STATES: [&str; 16] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP",
    "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];

/// The server `state` label values, in HAProxy's order.
pub const SERVER_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];

enum Num {
    Int(u64),
    Secs(f64),
    NaN,
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Int(v) => write!(f, "{v}"),
            Num::Secs(v) => write!(f, "{v:.6}"),
            Num::NaN => f.write_str("NaN"),
        }
    }
}

fn opt(v: Option<u32>) -> Num {
    v.map_or(Num::NaN, |v| Num::Int(u64::from(v)))
}

fn int(v: impl Into<u64>) -> Num {
    Num::Int(v.into())
}

/// Escapes a label value (backslash, quote, line feed).
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP haproxy_{name} {help}");
        let _ = writeln!(self.0, "# TYPE haproxy_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: Num) {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        let _ = writeln!(self.0, "haproxy_{name}{{{}}} {v}", l.join(","));
    }
}

const CUR: &str = "Number of current sessions on the frontend, backend or server";
const MAX: &str = "Highest value of current sessions encountered since process started";
const LIMIT: &str = "Frontend/listener/server's maxconn, backend's fullconn";
const TOT: &str = "Total number of sessions since process started";
const BIN: &str = "Total number of request bytes since process started";
const BOUT: &str = "Total number of response bytes since process started";
const STATUS: &str = "Current status of the service, per state label value.";
const QCUR: &str = "Number of current queued connections";
const QMAX: &str = "Highest value of queued connections encountered since process started";
const ECON: &str = "Total number of failed connections to server since the worker process started";
const ERESP: &str = "Total number of invalid responses since the worker process started";
const WRETR: &str = "Total number of server connection retries since the worker process started";
const WREDIS: &str = "Total number of server redispatches due to connection failures since the worker process started";
const WEIGHT: &str =
    "Server's effective weight, or sum of active servers' effective weights for a backend";
const UWEIGHT: &str = "Server's user weight, or sum of active servers' user weights for a backend";
const LASTCHG: &str = "How long ago the last server state changed, in seconds";
const LBTOT: &str = "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)";

type FeMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Frontend) -> Num,
);
type BeMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Backend) -> Num,
);
type SvMetric = (&'static str, &'static str, &'static str, fn(&Server) -> Num);

/// The exposition of `snap`.
pub fn render(snap: &Snapshot) -> String {
    let mut o = Out(String::new());
    let fes: Vec<(&Proxy, &Frontend)> = snap
        .proxies
        .iter()
        .filter_map(|p| Some((p, p.frontend.as_ref()?)))
        .collect();
    let bes: Vec<(&Proxy, &Backend)> = snap
        .proxies
        .iter()
        .filter_map(|p| Some((p, p.backend.as_ref()?)))
        .collect();

    let fe_metrics: [FeMetric; 9] = [
        ("frontend_current_sessions", "gauge", CUR, |f| {
            int(f.traffic.scur)
        }),
        ("frontend_max_sessions", "gauge", MAX, |f| {
            int(f.traffic.smax)
        }),
        ("frontend_limit_sessions", "gauge", LIMIT, |f| {
            opt(f.traffic.slim)
        }),
        ("frontend_sessions_total", "counter", TOT, |f| {
            int(f.traffic.stot)
        }),
        ("frontend_bytes_in_total", "counter", BIN, |f| {
            int(f.traffic.bin)
        }),
        ("frontend_bytes_out_total", "counter", BOUT, |f| {
            int(f.traffic.bout)
        }),
        (
            "frontend_requests_denied_total",
            "counter",
            "Total number of denied requests since process started",
            |f| int(f.dreq),
        ),
        (
            "frontend_request_errors_total",
            "counter",
            "Total number of invalid requests since process started",
            |f| int(f.ereq),
        ),
        (
            "frontend_http_requests_total",
            "counter",
            "Total number of HTTP requests processed by this object since the worker process started",
            |f| f.http.map_or(Num::NaN, |h| int(h.requests)),
        ),
    ];
    for (i, (name, kind, help, get)) in fe_metrics.iter().enumerate() {
        if i == 8 {
            frontend_status_family(&mut o, &fes);
        }
        let rows: Vec<_> = fes
            .iter()
            .filter(|(_, f)| *name != "frontend_http_requests_total" || f.http.is_some())
            .collect();
        if rows.is_empty() {
            continue;
        }
        o.family(name, kind, help);
        for (p, f) in rows {
            o.sample(name, &[("proxy", &p.name)], get(f));
        }
    }
    let http: Vec<_> = fes.iter().filter(|(_, f)| f.http.is_some()).collect();
    if !http.is_empty() {
        let name = "frontend_http_responses_total";
        o.family(
            name,
            "counter",
            "Total number of HTTP responses with status 100-199 returned by this object since the worker process started",
        );
        for (p, f) in http {
            let h = f.http.unwrap_or_default();
            for (code, n) in ["1xx", "2xx", "3xx", "4xx", "5xx", "other"]
                .into_iter()
                .zip(h.responses)
            {
                o.sample(name, &[("proxy", &p.name), ("code", code)], int(n));
            }
        }
    }

    let be_metrics: [BeMetric; 17] = [
        ("backend_current_queue", "gauge", QCUR, |b| int(b.qcur)),
        ("backend_max_queue", "gauge", QMAX, |b| int(b.qmax)),
        ("backend_current_sessions", "gauge", CUR, |b| {
            int(b.traffic.scur)
        }),
        ("backend_max_sessions", "gauge", MAX, |b| {
            int(b.traffic.smax)
        }),
        ("backend_sessions_total", "counter", TOT, |b| {
            int(b.traffic.stot)
        }),
        ("backend_bytes_in_total", "counter", BIN, |b| {
            int(b.traffic.bin)
        }),
        ("backend_bytes_out_total", "counter", BOUT, |b| {
            int(b.traffic.bout)
        }),
        ("backend_connection_errors_total", "counter", ECON, |b| {
            int(b.econ)
        }),
        ("backend_response_errors_total", "counter", ERESP, |b| {
            int(b.eresp)
        }),
        ("backend_retry_warnings_total", "counter", WRETR, |b| {
            int(b.wretr)
        }),
        (
            "backend_redispatch_warnings_total",
            "counter",
            WREDIS,
            |b| int(b.wredis),
        ),
        ("backend_weight", "gauge", WEIGHT, |b| int(b.weight())),
        (
            "backend_active_servers",
            "gauge",
            "Total number of active UP servers with a non-zero weight",
            |b| int(b.active()),
        ),
        (
            "backend_backup_servers",
            "gauge",
            "Total number of backup UP servers with a non-zero weight",
            |b| int(b.backups()),
        ),
        ("backend_check_last_change_seconds", "gauge", LASTCHG, |b| {
            b.lastchg.map_or(Num::NaN, |d| int(d.as_secs()))
        }),
        ("backend_loadbalanced_total", "counter", LBTOT, |b| {
            int(b.lbtot)
        }),
        ("backend_uweight", "gauge", UWEIGHT, |b| int(b.weight())),
    ];
    for (i, (name, kind, help, get)) in be_metrics.iter().enumerate() {
        if bes.is_empty() {
            break;
        }
        if i == 11 {
            o.family("backend_status", "gauge", STATUS);
            for (p, b) in &bes {
                let up = backend_status(b) == "UP";
                for (state, on) in [("DOWN", !up), ("UP", up)] {
                    o.sample(
                        "backend_status",
                        &[("proxy", &p.name), ("state", state)],
                        int(u8::from(on)),
                    );
                }
            }
        }
        o.family(name, kind, help);
        for (p, b) in &bes {
            o.sample(name, &[("proxy", &p.name)], get(b));
        }
    }

    let svs: Vec<(&Proxy, &Server)> = bes
        .iter()
        .flat_map(|(p, b)| b.servers.iter().map(move |s| (*p, s)))
        .collect();
    let sv_metrics: [SvMetric; 20] = [
        ("server_current_queue", "gauge", QCUR, |s| int(s.qcur)),
        ("server_max_queue", "gauge", QMAX, |s| int(s.qmax)),
        ("server_current_sessions", "gauge", CUR, |s| {
            int(s.traffic.scur)
        }),
        ("server_max_sessions", "gauge", MAX, |s| int(s.traffic.smax)),
        ("server_limit_sessions", "gauge", LIMIT, |s| {
            opt(s.traffic.slim)
        }),
        ("server_sessions_total", "counter", TOT, |s| {
            int(s.traffic.stot)
        }),
        ("server_bytes_in_total", "counter", BIN, |s| {
            int(s.traffic.bin)
        }),
        ("server_bytes_out_total", "counter", BOUT, |s| {
            int(s.traffic.bout)
        }),
        ("server_connection_errors_total", "counter", ECON, |s| {
            int(s.econ)
        }),
        ("server_response_errors_total", "counter", ERESP, |s| {
            int(s.eresp)
        }),
        ("server_retry_warnings_total", "counter", WRETR, |s| {
            int(s.wretr)
        }),
        ("server_redispatch_warnings_total", "counter", WREDIS, |s| {
            int(s.wredis)
        }),
        ("server_weight", "gauge", WEIGHT, |s| int(s.weight)),
        (
            "server_check_failures_total",
            "counter",
            "Total number of failed individual health checks per server/backend, since the worker process started",
            |s| {
                if s.check.is_some() {
                    int(s.chkfail)
                } else {
                    Num::NaN
                }
            },
        ),
        (
            "server_check_up_down_total",
            "counter",
            "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started",
            |s| {
                if s.check.is_some() {
                    int(s.chkdown)
                } else {
                    Num::NaN
                }
            },
        ),
        ("server_check_last_change_seconds", "gauge", LASTCHG, |s| {
            int(s.lastchg.as_secs())
        }),
        (
            "server_downtime_seconds_total",
            "counter",
            "Total time spent in DOWN state, for server or backend",
            |s| {
                if s.check.is_some() {
                    int(s.downtime.as_secs())
                } else {
                    Num::NaN
                }
            },
        ),
        (
            "server_queue_limit",
            "gauge",
            "Limit on the number of connections in queue, for servers only (maxqueue argument)",
            |s| opt(s.qlimit),
        ),
        ("server_loadbalanced_total", "counter", LBTOT, |s| {
            int(s.lbtot)
        }),
        ("server_uweight", "gauge", UWEIGHT, |s| int(s.weight)),
    ];
    for (i, (name, kind, help, get)) in sv_metrics.iter().enumerate() {
        if svs.is_empty() {
            break;
        }
        if i == 12 {
            server_status_family(&mut o, &svs);
        }
        if i == 18 {
            server_check_families(&mut o, &svs);
        }
        o.family(name, kind, help);
        for (p, s) in &svs {
            o.sample(name, &[("proxy", &p.name), ("server", &s.name)], get(s));
        }
    }
    o.0
}

fn frontend_status_family(o: &mut Out, fes: &[(&Proxy, &Frontend)]) {
    if fes.is_empty() {
        return;
    }
    o.family("frontend_status", "gauge", STATUS);
    for (p, f) in fes {
        // A frontend that accepts (OPEN or FULL) is UP for the exporter.
        let up = matches!(
            frontend_status(f.traffic.scur, f.traffic.slim),
            "OPEN" | "FULL"
        );
        for (state, on) in [("DOWN", !up), ("UP", up)] {
            o.sample(
                "frontend_status",
                &[("proxy", &p.name), ("state", state)],
                int(u8::from(on)),
            );
        }
    }
}

fn server_status_family(o: &mut Out, svs: &[(&Proxy, &Server)]) {
    o.family("server_status", "gauge", STATUS);
    for (p, s) in svs {
        let on = server_status(s).prometheus_state();
        for state in SERVER_STATES {
            o.sample(
                "server_status",
                &[("proxy", &p.name), ("server", &s.name), ("state", state)],
                int(u8::from(state == on)),
            );
        }
    }
}

/// `check_status` (one-hot), `check_code` and `check_duration_seconds`: checked servers only.
fn server_check_families(o: &mut Out, svs: &[(&Proxy, &Server)]) {
    let checked: Vec<_> = svs.iter().filter(|(_, s)| s.check.is_some()).collect();
    if checked.is_empty() {
        return;
    }
    o.family(
        "server_check_status",
        "gauge",
        "Status of last health check, per state label value.",
    );
    for (p, s) in &checked {
        let last = s.check.as_ref().and_then(|c| c.last.as_ref());
        for state in CHECK_STATES {
            let on = last.is_some_and(|r| r.status == state);
            o.sample(
                "server_check_status",
                &[("proxy", &p.name), ("server", &s.name), ("state", state)],
                int(u8::from(on)),
            );
        }
    }
    o.family(
        "server_check_code",
        "gauge",
        "layer5-7 code, if available of the last health check.",
    );
    for (p, s) in &checked {
        let code = s
            .check
            .as_ref()
            .and_then(|c| c.last.as_ref())
            .and_then(|r| r.code);
        o.sample(
            "server_check_code",
            &[("proxy", &p.name), ("server", &s.name)],
            int(code.unwrap_or(0)),
        );
    }
    o.family(
        "server_check_duration_seconds",
        "gauge",
        "Total duration of the latest server health check, in seconds.",
    );
    for (p, s) in &checked {
        let d = s
            .check
            .as_ref()
            .and_then(|c| c.last.as_ref())
            .map_or(0.0, |r| r.duration.as_secs_f64());
        o.sample(
            "server_check_duration_seconds",
            &[("proxy", &p.name), ("server", &s.name)],
            Num::Secs(d),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_and_type_and_one_hot_states() {
        let text = render(&crate::stats::csv::tests::sample());
        // Every sample's family was announced by HELP and TYPE lines before it.
        let mut announced = std::collections::BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut w = rest.split(' ');
                let name = w.next().unwrap();
                assert!(matches!(w.next(), Some("gauge" | "counter")), "{line}");
                assert!(text.contains(&format!("# HELP {name} ")), "{name}");
                assert!(announced.insert(name.to_string()), "family twice: {name}");
            } else if !line.starts_with('#') {
                let name = line.split('{').next().unwrap();
                assert!(announced.contains(name), "sample before its family: {line}");
            }
        }
        for l in [
            r#"haproxy_server_status{proxy="cas_rpc",server="cas2",state="DRAIN"} 1"#,
            r#"haproxy_server_status{proxy="cas_rpc",server="cas2",state="UP"} 0"#,
            r#"haproxy_server_status{proxy="cas_rpc",server="cas1",state="UP"} 1"#,
            r#"haproxy_server_current_sessions{proxy="cas_rpc",server="cas2"} 2"#,
            r#"haproxy_server_sessions_total{proxy="cas_rpc",server="cas1"} 10"#,
            r#"haproxy_server_bytes_in_total{proxy="cas_rpc",server="cas1"} 100"#,
            r#"haproxy_server_bytes_out_total{proxy="cas_rpc",server="cas1"} 200"#,
            r#"haproxy_server_check_duration_seconds{proxy="cas_rpc",server="cas1"} 0.003000"#,
            r#"haproxy_server_check_status{proxy="cas_rpc",server="cas1",state="L4OK"} 1"#,
            r#"haproxy_server_weight{proxy="cas_rpc",server="cas1"} 1"#,
            r#"haproxy_server_limit_sessions{proxy="cas_rpc",server="cas1"} NaN"#,
            r#"haproxy_frontend_current_sessions{proxy="cas_rpc"} 3"#,
            r#"haproxy_frontend_limit_sessions{proxy="cas_rpc"} 4096"#,
            r#"haproxy_frontend_status{proxy="cas_rpc",state="UP"} 1"#,
            r#"haproxy_backend_status{proxy="cas_rpc",state="UP"} 1"#,
            r#"haproxy_backend_active_servers{proxy="cas_rpc"} 1"#,
        ] {
            assert!(text.lines().any(|x| x == l), "missing {l} in\n{text}");
        }
        // One state set per server.
        let ones = text
            .lines()
            .filter(|l| l.starts_with("haproxy_server_status{") && l.ends_with(" 1"))
            .count();
        assert_eq!(ones, 2);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

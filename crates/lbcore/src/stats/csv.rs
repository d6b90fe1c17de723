//! HAProxy 2.6's CSV (`<uri>;csv`, `show stat`): the header, and one line per row with the
//! fields proxyd has; every other column is left empty, as HAProxy leaves the fields it does not
//! know for an object.
//!
//! Owns the column list (captured from haproxy 2.6.12's `;csv`, including the stats modules'
//! columns after `-`) and the field values of each row, which the JSON renderer shares. It must
//! not decide statuses (that is [`super::status`]).

use std::fmt::Write as _;

use super::model::{Row, Snapshot};
use super::status::{backend_status, frontend_status, server_status};

/// Every CSV column, in order, as haproxy 2.6.12 prints its header (fields 0 to 102, the `-`
/// separator, then the SSL, HTTP/2 and HTTP/1 module counters).
pub const FIELDS: [&str; 128] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    "-",
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// One field's value, typed as HAProxy types it (the typed JSON's `value.type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `u32`.
    U32(u32),
    /// `u64`.
    U64(u64),
    /// `str`.
    Str(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::U32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// Position of column `name` in [`FIELDS`].
pub fn position(name: &str) -> Option<usize> {
    FIELDS.iter().position(|f| *f == name)
}

fn secs32(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

fn ms64(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The fields proxyd fills for `row`, as `(column name, value)` in column order.
pub fn fields(snap: &Snapshot, row: &Row<'_>) -> Vec<(&'static str, Value)> {
    use Value::{Str, U32, U64};
    let p = row.proxy();
    let mut v: Vec<(&'static str, Value)> = vec![
        ("pxname", Str(p.name.clone())),
        ("svname", Str(row.svname().to_string())),
    ];
    let mode = Str(if p.http { "http" } else { "tcp" }.into());
    match row {
        Row::Frontend(_, f) => {
            let t = &f.traffic;
            v.push(("scur", U32(t.scur)));
            v.push(("smax", U32(t.smax)));
            if let Some(l) = t.slim {
                v.push(("slim", U32(l)));
            }
            v.extend([
                ("stot", U64(t.stot)),
                ("bin", U64(t.bin)),
                ("bout", U64(t.bout)),
                ("dreq", U64(f.dreq)),
                ("dresp", U64(0)),
                ("ereq", U64(f.ereq)),
                ("status", Str(frontend_status(t.scur, t.slim).into())),
                ("pid", U32(snap.pid)),
                ("iid", U32(p.iid)),
                ("sid", U32(0)),
                ("type", U32(0)),
            ]);
            if let Some(h) = &f.http {
                let names = [
                    "hrsp_1xx",
                    "hrsp_2xx",
                    "hrsp_3xx",
                    "hrsp_4xx",
                    "hrsp_5xx",
                    "hrsp_other",
                ];
                v.extend(names.into_iter().zip(h.responses).map(|(n, c)| (n, U64(c))));
                v.push(("req_tot", U64(h.requests)));
            }
            v.push(("mode", mode));
        }
        Row::Server(_, _, s) => {
            let t = &s.traffic;
            let checked = s.check.as_ref();
            v.extend([
                ("qcur", U32(s.qcur)),
                ("qmax", U32(s.qmax)),
                ("scur", U32(t.scur)),
                ("smax", U32(t.smax)),
            ]);
            if let Some(l) = t.slim {
                v.push(("slim", U32(l)));
            }
            v.extend([
                ("stot", U64(t.stot)),
                ("bin", U64(t.bin)),
                ("bout", U64(t.bout)),
                ("dresp", U64(0)),
                ("econ", U64(s.econ)),
                ("eresp", U64(s.eresp)),
                ("wretr", U64(s.wretr)),
                ("wredis", U64(s.wredis)),
                ("status", Str(server_status(s).to_string())),
                ("weight", U32(s.weight)),
                ("act", U32(u32::from(!s.backup))),
                ("bck", U32(u32::from(s.backup))),
            ]);
            if checked.is_some() {
                v.push(("chkfail", U64(s.chkfail)));
                v.push(("chkdown", U64(s.chkdown)));
            }
            v.push(("lastchg", U32(secs32(s.lastchg))));
            if checked.is_some() {
                v.push(("downtime", U32(secs32(s.downtime))));
            }
            if let Some(q) = s.qlimit {
                v.push(("qlimit", U32(q)));
            }
            v.extend([
                ("pid", U32(snap.pid)),
                ("iid", U32(p.iid)),
                ("sid", U32(s.sid)),
                ("lbtot", U64(s.lbtot)),
                ("type", U32(2)),
            ]);
            if let Some(c) = checked {
                match &c.last {
                    Some(r) => {
                        v.push(("check_status", Str(r.status.clone())));
                        if let Some(code) = r.code {
                            v.push(("check_code", U32(u32::from(code))));
                        }
                        v.push(("check_duration", U64(ms64(r.duration))));
                        v.push(("last_chk", Str(r.info.clone())));
                        v.push(("check_desc", Str(r.desc.clone())));
                    }
                    None => {
                        // HAProxy before the first result: INI, "Initializing".
                        v.push(("check_status", Str("INI".into())));
                        v.push(("last_chk", Str(String::new())));
                        v.push(("check_desc", Str("Initializing".into())));
                    }
                }
                v.extend([
                    ("check_rise", U32(c.rise)),
                    ("check_fall", U32(c.fall)),
                    ("check_health", U32(c.raw_health())),
                ]);
            }
            v.push(("addr", Str(s.addr.clone())));
            v.push(("mode", mode));
            v.push(("uweight", U32(s.weight)));
        }
        Row::Backend(_, b) => {
            let t = &b.traffic;
            v.extend([
                ("qcur", U32(b.qcur)),
                ("qmax", U32(b.qmax)),
                ("scur", U32(t.scur)),
                ("smax", U32(t.smax)),
                ("stot", U64(t.stot)),
                ("bin", U64(t.bin)),
                ("bout", U64(t.bout)),
                ("dreq", U64(0)),
                ("dresp", U64(0)),
                ("econ", U64(b.econ)),
                ("eresp", U64(b.eresp)),
                ("wretr", U64(b.wretr)),
                ("wredis", U64(b.wredis)),
                ("status", Str(backend_status(b).into())),
                ("weight", U32(b.weight())),
                ("act", U32(b.active())),
                ("bck", U32(b.backups())),
            ]);
            if let Some(l) = b.lastchg {
                v.push(("lastchg", U32(secs32(l))));
            }
            v.extend([
                ("pid", U32(snap.pid)),
                ("iid", U32(p.iid)),
                ("sid", U32(0)),
                ("lbtot", U64(b.lbtot)),
                ("type", U32(1)),
                ("mode", mode),
                ("algo", Str(b.algo.clone())),
                ("uweight", U32(b.weight())),
            ]);
        }
    }
    v
}

/// The header line, newline included: `# pxname,svname,...,h1_spliced_bytes_out,`.
pub fn header() -> String {
    let mut s = String::from("# ");
    for f in FIELDS {
        s.push_str(f);
        s.push(',');
    }
    s.push('\n');
    s
}

/// Escapes a CSV value as HAProxy does (`csv_enc`): quoted when it holds a comma, quote or line
/// break, with quotes doubled.
fn csv_escape(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// The whole CSV: header, then one line per row of `snap` (HAProxy's order).
pub fn render(snap: &Snapshot) -> String {
    let mut out = header();
    for row in snap.rows() {
        let mut cols: Vec<Option<Value>> = vec![None; FIELDS.len()];
        for (name, val) in fields(snap, &row) {
            if let Some(i) = position(name) {
                cols[i] = Some(val);
            }
        }
        if let Some(i) = position("-") {
            cols[i] = Some(Value::Str("-".into()));
        }
        for c in cols {
            if let Some(c) = c {
                let _ = write!(out, "{}", csv_escape(&c.to_string()));
            }
            out.push(',');
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::balance::HealthState;
    use crate::stats::model::*;
    use std::time::Duration;

    /// The header haproxy 2.6.12 printed for `curl .../stats;csv` (and `show stat`), captured
    /// locally into this file.
    const HAPROXY_HEADER: &str = include_str!("haproxy-2.6-csv-header.txt");

    #[test]
    fn header_is_haproxy_26s() {
        assert_eq!(header(), HAPROXY_HEADER);
        assert_eq!(position("status"), Some(17));
        assert_eq!(position("check_status"), Some(36));
        assert_eq!(position("uweight"), Some(99));
    }

    pub(crate) fn sample() -> Snapshot {
        let cas = |name: &str, sid, admin, health| Server {
            name: name.into(),
            sid,
            addr: format!("192.0.2.{sid}:135"),
            admin,
            up: true,
            weight: 1,
            traffic: Traffic {
                scur: sid,
                smax: 5,
                stot: 10,
                bin: 100,
                bout: 200,
                slim: None,
            },
            check: Some(Check {
                health,
                rise: 2,
                fall: 3,
                last: Some(CheckResult {
                    status: "L4OK".into(),
                    desc: "Layer4 check passed".into(),
                    info: String::new(),
                    code: None,
                    duration: Duration::from_millis(3),
                }),
            }),
            chkfail: 1,
            chkdown: 0,
            lastchg: Duration::from_secs(42),
            downtime: Duration::ZERO,
            ..Server::default()
        };
        Snapshot {
            pid: 77,
            version: Some("0.1.0".into()),
            uptime: Duration::from_secs(3600),
            proxies: vec![Proxy {
                name: "cas_rpc".into(),
                iid: 1,
                http: false,
                frontend: Some(Frontend {
                    traffic: Traffic {
                        scur: 3,
                        smax: 9,
                        slim: Some(4096),
                        stot: 20,
                        bin: 1000,
                        bout: 2000,
                    },
                    dreq: 2,
                    ereq: 1,
                    http: None,
                }),
                backend: Some(Backend {
                    algo: "source".into(),
                    lastchg: Some(Duration::from_secs(42)),
                    servers: vec![
                        cas("cas1", 1, Admin::Ready, HealthState::Up),
                        cas(
                            "cas2",
                            2,
                            Admin::Drain,
                            HealthState::GoingDown {
                                remaining: 2,
                                fall: 3,
                            },
                        ),
                    ],
                    ..Backend::default()
                }),
            }],
        }
    }

    #[test]
    fn rows_fill_known_columns_and_leave_the_rest_empty() {
        let csv = render(&sample());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 5);
        let cells = |l: &str| -> Vec<String> { l.split(',').map(str::to_string).collect() };
        let col = |l: &str, name: &str| cells(l)[position(name).unwrap()].clone();
        // Every line has one cell per column plus the empty one after the trailing comma.
        for l in &lines[1..] {
            assert_eq!(cells(l).len(), FIELDS.len() + 1, "{l}");
            assert_eq!(col(l, "-"), "-");
        }
        let fe = lines[1];
        assert!(fe.starts_with("cas_rpc,FRONTEND,,,3,9,4096,20,1000,2000,2,0,1,,,,,OPEN,"));
        let cas2 = lines[3];
        assert_eq!(col(cas2, "svname"), "cas2");
        assert_eq!(col(cas2, "status"), "DRAIN 2/3");
        assert_eq!(col(cas2, "check_health"), "3");
        assert_eq!(col(cas2, "check_status"), "L4OK");
        assert_eq!(col(cas2, "check_duration"), "3");
        assert_eq!(col(cas2, "check_desc"), "Layer4 check passed");
        assert_eq!(col(cas2, "lastchg"), "42");
        assert_eq!(col(cas2, "addr"), "192.0.2.2:135");
        assert_eq!(col(cas2, "rate"), "");
        assert_eq!(col(lines[2], "status"), "UP");
        let be = lines[4];
        assert_eq!(col(be, "svname"), "BACKEND");
        assert_eq!(col(be, "status"), "UP");
        assert_eq!(col(be, "weight"), "1");
        assert_eq!(col(be, "act"), "1");
        assert_eq!(col(be, "algo"), "source");
        assert_eq!(col(be, "type"), "1");
    }

    #[test]
    fn values_with_commas_are_quoted() {
        assert_eq!(csv_escape("a,b"), "\"a,b\"");
        assert_eq!(csv_escape("say \"x\", ok"), "\"say \"\"x\"\", ok\"");
        assert_eq!(csv_escape("plain"), "plain");
    }
}

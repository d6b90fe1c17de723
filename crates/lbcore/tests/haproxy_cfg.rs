//! haproxy.cfg front end of proxyd: the Exchange reference config field by field, every error
//! path with its exact `file:line:col` diagnostic, `${VAR}` expansion and units.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lbcore::config::haproxy::parse_str;
use lbcore::config::load_proxy;
use lbcore::config::proxy::*;

fn parse_env(text: &str, env: &[(&str, &str)]) -> (Option<ProxyConfig>, String) {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (cfg, d) = parse_str(text, Path::new("t.cfg"), &env);
    (cfg, d.to_string())
}

fn parse(text: &str) -> (Option<ProxyConfig>, String) {
    parse_env(text, &[])
}

/// A valid config around `body`, with timeouts set so no "missing timeouts" warning appears.
const HEAD: &str = "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";

fn with_head(body: &str) -> (Option<ProxyConfig>, String) {
    parse(&format!("{HEAD}{body}"))
}

fn ok(text: &str) -> ProxyConfig {
    let (cfg, d) = parse(text);
    assert_eq!(d, "", "unexpected diagnostics");
    cfg.expect("valid config")
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn reference_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/proxyd/haproxy.cfg")
}

#[test]
fn reference_exchange_config_parses_to_the_expected_model() {
    let (cfg, d) = load_proxy(&reference_path(), &BTreeMap::new());
    assert!(d.is_empty(), "{d}");
    let cfg = cfg.expect("valid");

    let g = &cfg.global;
    assert_eq!(g.maxconn, Some(20000));
    assert_eq!(
        g.pidfile.as_deref(),
        Some(Path::new("/run/proxyd/proxyd.pid"))
    );
    assert_eq!(
        g.logs,
        vec![LogTarget {
            address: "127.0.0.1:514".into(),
            facility: "local0".into(),
            level: Some("notice".into()),
            min_level: None,
        }]
    );
    assert_eq!(
        g.stats_sockets,
        vec![StatsSocket {
            path: "/run/proxyd/admin.sock".into(),
            mode: Some(0o600),
            level: Some("admin".into()),
            expose_fd_listeners: false,
        }]
    );
    assert_eq!(g.stats_timeout, Some(Duration::from_secs(120)));
    assert!(!g.daemon);

    let names: Vec<&str> = cfg.frontends.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["cas_https", "cas_rpc", "cas_pop_imap", "hub_smtp"]);
    let names: Vec<&str> = cfg.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "st_src_cas",
            "cas_https",
            "cas_rpc",
            "cas_pop_imap",
            "hub_smtp"
        ]
    );

    // Table-only backend.
    let st = cfg.backend("st_src_cas").unwrap();
    assert!(st.servers.is_empty());
    assert_eq!(
        st.stick_table,
        Some(StickTable {
            name: "st_src_cas".into(),
            key: StickKey::Ip,
            size: 200 * 1024,
            expire: Some(Duration::from_secs(7200)),
            nopurge: false,
            peers: None,
        })
    );

    // Defaults applied to every proxy.
    for b in &cfg.backends {
        assert_eq!(
            b.timeout_connect,
            Some(Duration::from_secs(5)),
            "{}",
            b.name
        );
        assert_eq!(b.timeout_server, Some(Duration::from_secs(7200)));
        assert_eq!(b.timeout_check, Some(Duration::from_secs(5)));
        assert_eq!(b.timeout_queue, None);
        assert_eq!(b.retries, 3);
        assert!(b.redispatch);
        assert_eq!(
            b.log,
            LogOptions {
                tcplog: true,
                dontlognull: true
            }
        );
        assert_eq!(b.hash_type, HashType::MapBased);
        for s in &b.servers {
            assert_eq!(s.inter, Duration::from_secs(5));
            assert_eq!(s.fastinter, Duration::from_secs(5));
            assert_eq!(s.downinter, Duration::from_secs(5));
            assert_eq!((s.rise, s.fall, s.weight), (2, 3, 1));
            assert!(s.check);
            assert!(!s.backup && !s.disabled && !s.check_ssl);
            assert_eq!((s.maxconn, s.maxqueue), (0, 0));
        }
    }
    for f in &cfg.frontends {
        assert_eq!(f.timeout_client, Some(Duration::from_secs(7200)));
        assert_eq!(f.default_backend.as_deref(), Some(f.name.as_str()));
        assert_eq!(f.logs, g.logs, "log global expands");
        assert!(f.log.tcplog && f.log.dontlognull);
    }

    let https = cfg.backend("cas_https").unwrap();
    assert_eq!(https.balance, Balance::LeastConn);
    assert_eq!(https.health_check, HealthCheck::SslHello);
    assert_eq!(https.stick_rules.len(), 1);
    assert_eq!(https.stick_rules[0].table, "st_src_cas");
    let s: Vec<(&str, u32, IpAddr, Option<u16>)> = https
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.id, s.addr, s.port))
        .collect();
    assert_eq!(
        s,
        [
            ("cas1", 1, ip("192.0.2.21"), Some(443)),
            ("cas2", 2, ip("192.0.2.22"), Some(443))
        ]
    );
    let fe = cfg.frontend("cas_https").unwrap();
    assert_eq!(fe.binds.len(), 1);
    assert_eq!(fe.binds[0].addr, sa("192.0.2.100:443"));
    assert!(!fe.binds[0].transparent);
    assert_eq!(fe.binds[0].span.line, 30);

    let rpc = cfg.backend("cas_rpc").unwrap();
    assert!(rpc.tcpka);
    assert_eq!(rpc.health_check, HealthCheck::Tcp);
    assert_eq!(rpc.stick_rules[0].table, "st_src_cas");
    for s in &rpc.servers {
        assert_eq!(s.port, None, "no port: the client's destination port");
        assert_eq!(s.check_port, Some(135));
    }
    let fe = cfg.frontend("cas_rpc").unwrap();
    assert!(fe.tcpka);
    let binds: Vec<SocketAddr> = fe.binds.iter().map(|b| b.addr).collect();
    assert_eq!(
        binds,
        [
            sa("192.0.2.100:135"),
            sa("192.0.2.100:60000"),
            sa("192.0.2.100:60001")
        ]
    );

    let pop = cfg.frontend("cas_pop_imap").unwrap();
    assert_eq!(pop.binds.len(), 4);
    let pop_be = cfg.backend("cas_pop_imap").unwrap();
    assert!(pop_be.stick_rules.is_empty());
    assert_eq!(pop_be.servers[1].check_port, Some(143));

    let smtp = cfg.frontend("hub_smtp").unwrap();
    assert_eq!(
        smtp.acls,
        vec![Acl {
            name: "relay_ok".into(),
            criterion: AclCriterion::Src,
            patterns: vec![
                AclPattern::Net {
                    addr: ip("192.0.2.0"),
                    prefix: 24
                },
                AclPattern::Net {
                    addr: ip("198.51.100.10"),
                    prefix: 32
                },
            ],
            span: smtp.acls[0].span.clone(),
        }]
    );
    assert_eq!(smtp.tcp_request.len(), 1);
    assert_eq!(smtp.tcp_request[0].action, TcpAction::Reject);
    assert_eq!(
        smtp.tcp_request[0].condition,
        Some(Condition {
            unless: true,
            any_of: vec![vec![AclTerm {
                negated: false,
                acl: AclRef::Named("relay_ok".into())
            }]],
        })
    );
    let smtp_be = cfg.backend("hub_smtp").unwrap();
    assert_eq!(smtp_be.balance, Balance::RoundRobin);
    assert_eq!(
        smtp_be.health_check,
        HealthCheck::Smtp {
            verb: "HELO".into(),
            domain: "lb.example.org".into()
        }
    );

    assert_eq!(cfg.stats.len(), 1);
    let st = &cfg.stats[0];
    assert_eq!(st.name, "stats");
    assert_eq!(st.binds[0].addr, sa("127.0.0.1:8080"));
    assert_eq!(st.uri, "/haproxy?stats");
    assert_eq!(st.refresh, Some(Duration::from_secs(10)));
    assert!(st.admin);
}

/// Each case: a config body after [`HEAD`] (HEAD is 4 lines, so the body starts at line 5) and the
/// exact diagnostics it must produce.
fn assert_diags(body: &str, expected: &str) {
    let (cfg, d) = with_head(body);
    assert_eq!(d, expected, "config:\n{body}");
    let has_error = expected.contains(": error: ");
    assert_eq!(cfg.is_none(), has_error);
}

const CASES: &[(&str, &str)] = &[
    (
        "listen x\n  bind :80\n  frobnicate 1\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: unknown keyword 'frobnicate' in 'listen' section\n",
    ),
    (
        "listen x\n  bind :80\n  balanse roundrobin\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: unknown keyword 'balanse' in 'listen' section; did you mean 'balance'?\n",
    ),
    (
        "listen x\n  bind :80\n  balance roundrobyn\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:11: error: unknown balance algorithm 'roundrobyn'; roundrobin, static-rr, leastconn, source or first expected; did you mean 'roundrobin'?\n",
    ),
    (
        "listen x\n  bind :80\n  balance uri\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:11: error: balance 'uri' is valid HAProxy but not supported by proxyd (roundrobin, static-rr, leastconn, source, first)\n",
    ),
    (
        "listen x\n  bind :80\n  hash-type consistant\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:13: error: invalid hash-type 'consistant': map-based or consistent expected; did you mean 'consistent'?\n",
    ),
    (
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 chek\n",
        "t.cfg:7:27: error: 'server x/s1': unknown keyword 'chek'; did you mean 'check'?\n",
    ),
    (
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 inter 0\n",
        "t.cfg:7:33: error: 'server x/s1': invalid value 0 for 'inter'\n",
    ),
    (
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 weight 300 rise 0\n",
        "t.cfg:7:34: error: 'server x/s1': invalid value 300 for 'weight' (0 to 256)\nt.cfg:7:43: error: 'server x/s1': invalid value 0 for 'rise' (at least 1)\n",
    ),
    (
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 slowstart 10s\n",
        "t.cfg:7:27: warning: 'server x/s1': server parameter 'slowstart' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "listen x\n  bind :80\n  server s1 cas1.example.org:80\n",
        "t.cfg:7:13: error: invalid server address 'cas1.example.org:80': an IP address expected (host names are not resolved)\nt.cfg:5:1: warning: listen 'x' has no server\n",
    ),
    (
        "listen x\n  bind :80\n  server s1 192.0.2.21:80\n  server s1 192.0.2.22:80\n",
        "t.cfg:8:3: error: listen 'x': another server named 's1' was already defined at t.cfg:7:3\n",
    ),
    (
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 id 2\n  server s2 192.0.2.22:80 id 2\n",
        "t.cfg:8:3: error: listen 'x': server 's2' has the same id 2 as server 's1'\n",
    ),
    (
        "listen x\n  bind :80\n  server s1 192.0.2.21 check\n",
        "t.cfg:5:1: error: listen 'x': a server without a port needs 'port <n>' to be checked\n",
    ),
    (
        "listen x\n  bind :80\n  server s1 192.0.2.21:80\nlisten x\n  bind :81\n  server s1 192.0.2.21:80\n",
        "t.cfg:8:1: error: proxy 'x' has the same name as listen 'x' declared at t.cfg:5:1\n",
    ),
    (
        "frontend f\n  bind :80\n  default_backend bakend\nbackend backend\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:19: error: frontend 'f': unable to find default_backend 'bakend'; did you mean 'backend'?\n",
    ),
    (
        "frontend f\n  bind :80\n  use_backend nothere if TRUE\n",
        "t.cfg:7:15: error: frontend 'f': unable to find backend 'nothere'\n",
    ),
    (
        "listen x\n  bind :80\n  stick on src table st_src\n  server s1 192.0.2.21:80\nbackend st_src_cas\n  stick-table type ip size 1k\n",
        "t.cfg:7:3: error: listen 'x': unable to find stick-table 'st_src'\n",
    ),
    (
        "listen x\n  bind :80\n  stick on src\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: listen 'x': unable to find stick-table 'x'\n",
    ),
    (
        "listen x\n  bind :80\n  acl ok src 192.0.2.0/24\n  tcp-request connection reject unless okk\n  server s1 192.0.2.21:80\n",
        "t.cfg:8:3: error: listen 'x': unknown ACL 'okk'; did you mean 'ok'?\n",
    ),
    (
        "listen x\n  bind :80\n  acl ok src 192.0.2.0/33 bogus\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:14: error: invalid prefix length in '192.0.2.0/33'\nt.cfg:7:27: error: invalid address or network 'bogus'\nt.cfg:7:3: error: acl 'ok' has no pattern\n",
    ),
    (
        "listen x\n  bind :80\n  acl ok req.ssl_sni example.org\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:10: error: ACL criterion 'req.ssl_sni' is not supported (src, dst, src_port, dst_port)\n",
    ),
    (
        "listen x\n  bind :80\n  mode http\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: error: listen 'x': 'mode http' is only supported for a stats listener ('listen' with 'stats enable') until L7 exists; use 'mode tcp'\n",
    ),
    (
        "backend b\n  bind :80\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:3: error: 'bind' is not allowed in a 'backend' section\n",
    ),
    (
        "listen x\n  bind 192.0.2.100:99999\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:8: error: bind address '192.0.2.100:99999': invalid port or port range '99999'\nt.cfg:5:1: error: listen 'x' has no 'bind' line\n",
    ),
    (
        "listen x\n  bind :80 transparant\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:12: error: unknown bind parameter 'transparant'; did you mean 'transparent'?\n",
    ),
    (
        "listen x\n  bind /run/x.sock\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:8: error: bind address '/run/x.sock': only IPv4/IPv6 addresses are supported (no UNIX sockets or fd@)\nt.cfg:5:1: error: listen 'x' has no 'bind' line\n",
    ),
    (
        "listen x\n  bind :80\n  timeout client 5x\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:18: error: invalid time unit 'x' in '5x': us, ms, s, m, h or d expected\n",
    ),
    (
        "listen x\n  bind :80\n  timeout clinet 5s\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:11: error: unknown timeout 'clinet'; did you mean 'client'?\n",
    ),
    (
        "listen x\n  bind :80\n  option tcplogg\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:10: error: unknown option 'tcplogg'; did you mean 'tcplog'?\n",
    ),
    (
        "listen x\n  bind :80\n  option httplog\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:10: warning: option 'httplog' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "listen x\n  bind :80\n  cookie SRV insert\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: warning: keyword 'cookie' is valid HAProxy but not implemented by proxyd; ignored\n",
    ),
    (
        "listen x\n  bind :80\n  stick-table type string size 1k\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:20: error: stick-table type 'string' is valid HAProxy but not supported by proxyd (ip or ipv6)\n",
    ),
    (
        "listen x\n  bind :80\n  tcp-check expect regex foo\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:20: error: unsupported tcp-check expect matcher 'regex': string, rstring or binary expected\n",
    ),
    (
        "listen x\n  bind :80\n  server s1 192.0.2.21:80 verify maybe on-marked-down nothing\n",
        "t.cfg:7:34: error: 'server x/s1': invalid verify 'maybe': none or required expected\nt.cfg:7:55: error: 'server x/s1': invalid on-marked-down 'nothing': shutdown-sessions expected\n",
    ),
    (
        "global\n  maxconn many\n  chroot /var/empty\n  deamon\n",
        "t.cfg:6:11: error: invalid value 'many' for maxconn: an integer expected\nt.cfg:7:3: warning: global keyword 'chroot' is valid HAProxy but not implemented by proxyd; ignored\nt.cfg:8:3: error: unknown keyword 'deamon' in 'global' section; did you mean 'daemon'?\n",
    ),
    (
        "daemon\n",
        "t.cfg:5:1: error: unknown keyword 'daemon' in 'defaults' section\n",
    ),
    (
        "userlist u\n  user admin insecure-password x\n",
        "t.cfg:5:1: warning: section 'userlist' is valid HAProxy but not implemented by proxyd; its content is ignored\n",
    ),
    (
        "listen x\n  bind :80\n",
        "t.cfg:5:1: warning: listen 'x' has no server\n",
    ),
    (
        "frontend f\n  server s1 192.0.2.21:80\n",
        "t.cfg:6:3: error: 'server' is not allowed in a 'frontend' section\nt.cfg:5:1: error: frontend 'f' has no 'bind' line\nt.cfg:5:1: warning: frontend 'f' has no 'default_backend' and no 'use_backend'; it will refuse every connection\n",
    ),
    (
        "frontend f\n  bind :80\n  stick-table type ip size 1k\n  default_backend b\nbackend b\n  stick on src table f\n  server s1 192.0.2.21:80\n",
        "t.cfg:7:3: warning: stick-table in frontend 'f' is ignored (no track-sc support); declare it in a backend or listen section\nt.cfg:10:3: error: backend 'b': unable to find stick-table 'f'\n",
    ),
];

#[test]
fn every_error_path_reports_its_exact_diagnostic() {
    for (body, expected) in CASES {
        assert_diags(body, expected);
    }
}

#[test]
fn env_vars_expand_in_double_quotes_only() {
    let text = format!(
        "{HEAD}listen x\n  bind \"${{VIP}}:443\"\n  server s1 \"${{CAS1}}:443\"\n  server s2 \"${{CAS2-192.0.2.22}}\":443\n"
    );
    let (cfg, d) = parse_env(&text, &[("VIP", "192.0.2.100"), ("CAS1", "192.0.2.21")]);
    assert_eq!(d, "");
    let cfg = cfg.unwrap();
    assert_eq!(cfg.frontends[0].binds[0].addr, sa("192.0.2.100:443"));
    let be = &cfg.backends[0];
    assert_eq!(
        (be.servers[0].addr, be.servers[0].port),
        (ip("192.0.2.21"), Some(443))
    );
    assert_eq!(
        (be.servers[1].addr, be.servers[1].port),
        (ip("192.0.2.22"), Some(443))
    );

    // Unquoted: no expansion, so the address is invalid.
    let (cfg, d) = parse_env(
        &format!("{HEAD}listen x\n  bind ${{VIP}}:443\n  server s1 192.0.2.21\n"),
        &[("VIP", "192.0.2.100")],
    );
    assert!(cfg.is_none());
    assert_eq!(
        d,
        "t.cfg:6:8: error: bind address '${VIP}:443': invalid IP address '${VIP}'\n\
         t.cfg:5:1: error: listen 'x' has no 'bind' line\n"
    );

    // Unset without default: a warning, and the empty expansion is then checked.
    let (cfg, d) = parse(&format!(
        "{HEAD}listen x\n  bind \"${{NOPE}}:443\"\n  server s1 192.0.2.21\n"
    ));
    assert!(cfg.is_some());
    assert_eq!(
        d,
        "t.cfg:6:9: warning: environment variable 'NOPE' is not set; it expands to an empty string\n"
    );
}

#[test]
fn time_and_size_units() {
    let cfg = ok(
        "defaults\n  timeout connect 250\n  timeout client 90m\n  timeout server 1d\n  timeout queue 1500ms\n  timeout check 500us\n\
listen x\n  bind :80\n  stick-table type ipv6 size 1g expire 30m nopurge\n  stick on src\n  server s1 192.0.2.21:80 inter 3s fastinter 500 downinter 1m\n",
    );
    let f = &cfg.frontends[0];
    assert_eq!(f.timeout_client, Some(Duration::from_secs(90 * 60)));
    let b = &cfg.backends[0];
    assert_eq!(b.timeout_connect, Some(Duration::from_millis(250)));
    assert_eq!(b.timeout_server, Some(Duration::from_secs(86_400)));
    assert_eq!(b.timeout_queue, Some(Duration::from_millis(1500)));
    assert_eq!(b.timeout_check, Some(Duration::from_micros(500)));
    let t = b.stick_table.as_ref().unwrap();
    assert_eq!(
        (t.key, t.size, t.expire, t.nopurge),
        (
            StickKey::Ipv6,
            1 << 30,
            Some(Duration::from_secs(1800)),
            true
        )
    );
    assert_eq!(b.stick_rules[0].table, "x");
    let s = &b.servers[0];
    assert_eq!(s.inter, Duration::from_secs(3));
    assert_eq!(s.fastinter, Duration::from_millis(500));
    assert_eq!(s.downinter, Duration::from_secs(60));
}

#[test]
fn deprecated_2011_forms_are_accepted_with_warnings() {
    let (cfg, d) = parse(
        "defaults\n  contimeout 5000\n  clitimeout 50000\n  srvtimeout 50000\n\
listen Exchange 192.0.2.100:443\n  server cas1 192.0.2.21:443 check\n",
    );
    assert_eq!(
        d,
        "t.cfg:2:3: warning: 'contimeout' is deprecated (HAProxy 2.1+ refuses it); use 'timeout connect'\n\
         t.cfg:3:3: warning: 'clitimeout' is deprecated (HAProxy 2.1+ refuses it); use 'timeout client'\n\
         t.cfg:4:3: warning: 'srvtimeout' is deprecated (HAProxy 2.1+ refuses it); use 'timeout server'\n\
         t.cfg:5:17: warning: 'listen NAME ADDR:PORT' is deprecated (HAProxy 2.x refuses it); use a 'bind' line\n"
    );
    let cfg = cfg.unwrap();
    assert_eq!(cfg.frontends[0].binds[0].addr, sa("192.0.2.100:443"));
    assert_eq!(
        cfg.frontends[0].timeout_client,
        Some(Duration::from_secs(50))
    );
    assert_eq!(
        cfg.backends[0].timeout_connect,
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        cfg.backends[0].timeout_server,
        Some(Duration::from_secs(50))
    );
}

#[test]
fn bind_lists_ranges_ipv6_wildcards_transparent() {
    let cfg = ok(&format!(
        "{HEAD}frontend f\n  bind 192.0.2.100:60000-60002,:::443 transparent\n  bind *:25\n  bind ipv6@2001:db8::1:993\n  maxconn 500\n  default_backend b\n\
backend b\n  server s1 192.0.2.21\n"
    ));
    let f = &cfg.frontends[0];
    let got: Vec<(SocketAddr, bool)> = f.binds.iter().map(|b| (b.addr, b.transparent)).collect();
    assert_eq!(
        got,
        [
            (sa("192.0.2.100:60000"), true),
            (sa("192.0.2.100:60001"), true),
            (sa("192.0.2.100:60002"), true),
            (sa("[::]:443"), true),
            (sa("0.0.0.0:25"), false),
            (sa("[2001:db8::1]:993"), false),
        ]
    );
    assert_eq!(f.maxconn, Some(500));
    assert_eq!(f.default_backend.as_deref(), Some("b"));
}

#[test]
fn server_parameters_overlay_default_server_and_ids_fill_gaps() {
    let cfg = ok(&format!(
        "{HEAD}backend b\n  balance source\n  hash-type consistent\n  default-server inter 3s rise 5 fall 4 weight 10 maxconn 100 check-ssl verify none\n\
  server a 192.0.2.21:443 check id 1\n  server b 192.0.2.22:443 weight 0 backup disabled id 3\n\
  server c 192.0.2.23:443 check maxqueue 7 port 444 addr 192.0.2.99 verify required ca-file /etc/ssl/cas.pem on-marked-down shutdown-sessions fastinter 1s\n\
  server d [2001:db8::5]:443\n\
frontend f\n  bind :443\n  default_backend b\n"
    ));
    let b = &cfg.backends[0];
    assert_eq!(
        (b.balance, b.hash_type),
        (Balance::Source, HashType::Consistent)
    );
    let ids: Vec<(&str, u32)> = b.servers.iter().map(|s| (s.name.as_str(), s.id)).collect();
    assert_eq!(ids, [("a", 1), ("b", 3), ("c", 2), ("d", 4)]);
    let a = &b.servers[0];
    assert!(a.check && a.check_ssl);
    assert_eq!((a.rise, a.fall, a.weight, a.maxconn), (5, 4, 10, 100));
    assert_eq!(a.verify, Some(Verify::None));
    assert_eq!(a.inter, Duration::from_secs(3));
    let sb = &b.servers[1];
    assert!(sb.backup && sb.disabled && !sb.check);
    assert_eq!(sb.weight, 0);
    let c = &b.servers[2];
    assert_eq!(c.maxqueue, 7);
    assert_eq!(
        (c.check_port, c.check_addr),
        (Some(444), Some(ip("192.0.2.99")))
    );
    assert_eq!(c.verify, Some(Verify::Required));
    assert!(c.shutdown_sessions_on_down);
    assert_eq!(
        (c.inter, c.fastinter, c.downinter),
        (
            Duration::from_secs(3),
            Duration::from_secs(1),
            Duration::from_secs(3)
        )
    );
    assert_eq!(
        (b.servers[3].addr, b.servers[3].port),
        (ip("2001:db8::5"), Some(443))
    );
}

#[test]
fn routing_conditions_checks_and_option_overrides() {
    let cfg = ok(&format!(
        "{HEAD}  option redispatch\n  option tcplog\n\
frontend f\n  bind :25\n  no option tcplog\n  acl lan src 192.0.2.0/255.255.255.0 2001:db8::/32\n  acl smtp dst_port 25 587:588\n  acl lan src 198.51.100.1\n\
  tcp-request connection accept if lan smtp or LOCALHOST\n  tcp-request connection reject if !lan\n  use_backend relay if smtp ! lan\n  default_backend b\n\
backend b\n  no option redispatch\n  option tcp-check\n  tcp-check connect port 25\n  tcp-check expect string 220\n  tcp-check send \"QUIT\\r\\n\"\n  tcp-check expect ! rstring ^5\n  tcp-check send-binary 0a0B\n  server s 192.0.2.21:25 check\n\
backend relay\n  option httpchk GET /owa/healthcheck.htm\n  balance first\n  server s 192.0.2.22:25 check maxconn 10\n"
    ));
    let f = &cfg.frontends[0];
    assert!(!f.log.tcplog);
    assert_eq!(f.acls.len(), 3);
    assert_eq!(
        f.acls[0].patterns,
        vec![
            AclPattern::Net {
                addr: ip("192.0.2.0"),
                prefix: 24
            },
            AclPattern::Net {
                addr: ip("2001:db8::"),
                prefix: 32
            },
        ]
    );
    assert_eq!(
        f.acls[1].patterns,
        vec![
            AclPattern::Ports { lo: 25, hi: 25 },
            AclPattern::Ports { lo: 587, hi: 588 }
        ]
    );
    let named = |n: &str, negated| AclTerm {
        negated,
        acl: AclRef::Named(n.into()),
    };
    assert_eq!(
        f.tcp_request[0].condition,
        Some(Condition {
            unless: false,
            any_of: vec![
                vec![named("lan", false), named("smtp", false)],
                vec![AclTerm {
                    negated: false,
                    acl: AclRef::Localhost
                }],
            ],
        })
    );
    assert_eq!(f.tcp_request[0].action, TcpAction::Accept);
    assert_eq!(
        f.tcp_request[1].condition.as_ref().unwrap().any_of,
        vec![vec![named("lan", true)]]
    );
    assert_eq!(f.use_backends[0].backend, "relay");
    assert_eq!(
        f.use_backends[0].condition.as_ref().unwrap().any_of,
        vec![vec![named("smtp", false), named("lan", true)]]
    );
    let b = cfg.backend("b").unwrap();
    assert!(!b.redispatch);
    assert!(b.log.tcplog);
    assert_eq!(
        b.health_check,
        HealthCheck::TcpCheck(vec![
            TcpCheckStep::Connect {
                port: Some(25),
                ssl: false
            },
            TcpCheckStep::Expect {
                negated: false,
                kind: ExpectKind::String,
                pattern: b"220".to_vec()
            },
            TcpCheckStep::Send(b"QUIT\r\n".to_vec()),
            TcpCheckStep::Expect {
                negated: true,
                kind: ExpectKind::Rstring,
                pattern: b"^5".to_vec()
            },
            TcpCheckStep::SendBinary(vec![0x0a, 0x0b]),
        ])
    );
    let r = cfg.backend("relay").unwrap();
    assert!(r.redispatch, "inherited from defaults");
    assert_eq!(r.balance, Balance::First);
    assert_eq!(
        r.health_check,
        HealthCheck::Http {
            method: "GET".into(),
            uri: "/owa/healthcheck.htm".into(),
            version: "HTTP/1.0".into(),
            headers: vec![],
            body: String::new(),
            expect: vec![],
        }
    );
}

#[test]
fn every_problem_of_several_sections_in_one_pass() {
    let (cfg, d) = parse(
        "global\n  maxconn x\n  bogus\ndefaults\n  mode tcp\n  timeout client 1s\n  timeout connect 1s\n  timeout server 1s\n\
frontend f\n  bind :80\n  default_backend nope\n  frob\nbackend b\n  server s1 192.0.2.21:80 chek\n  server s1 192.0.2.22:80\n",
    );
    assert!(cfg.is_none());
    assert_eq!(
        d,
        "t.cfg:2:11: error: invalid value 'x' for maxconn: an integer expected\n\
         t.cfg:3:3: error: unknown keyword 'bogus' in 'global' section\n\
         t.cfg:12:3: error: unknown keyword 'frob' in 'frontend' section\n\
         t.cfg:14:27: error: 'server b/s1': unknown keyword 'chek'; did you mean 'check'?\n\
         t.cfg:11:19: error: frontend 'f': unable to find default_backend 'nope'\n\
         t.cfg:15:3: error: backend 'b': another server named 's1' was already defined at t.cfg:14:3\n"
    );
}

#[test]
fn missing_file_is_one_diagnostic() {
    let (cfg, d) = load_proxy(Path::new("/nonexistent/haproxy.cfg"), &BTreeMap::new());
    assert!(cfg.is_none());
    assert_eq!(d.error_count(), 1);
    assert!(
        d.to_string()
            .starts_with("/nonexistent/haproxy.cfg:1:1: error: cannot read configuration file: ")
    );
}

/// `Debug` of a model with every `Span { .. }` removed, to compare models across dialects.
fn without_spans(cfg: &ProxyConfig) -> String {
    let s = format!("{cfg:?}");
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(p) = rest.find("Span {") {
        out.push_str(&rest[..p]);
        let end = rest[p..].find('}').expect("closing brace") + p + 1;
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn yaml_front_end_reads_the_same_model_as_haproxy_cfg() {
    // The shipped YAML twin of the shipped haproxy.cfg.
    let yaml = reference_path().with_file_name("proxyd.yaml");
    let (cfg_y, d) = load_proxy(&yaml, &BTreeMap::new());
    assert!(d.is_empty(), "{d}");
    let (cfg_h, d) = load_proxy(&reference_path(), &BTreeMap::new());
    assert!(d.is_empty(), "{d}");
    assert_eq!(
        without_spans(&cfg_y.unwrap()),
        without_spans(&cfg_h.unwrap())
    );
}

#[test]
fn yaml_diagnostics_point_into_the_yaml_document() {
    let parse_y = |text: &str, env: &[(&str, &str)]| {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (cfg, d) = lbcore::config::proxy_yaml::parse_str(text, Path::new("p.yaml"), &env);
        (cfg, d.to_string())
    };
    let (cfg, d) = parse_y(
        "defaults:\n  timeout: {connect: 1s, client: 1s, server: 1s}\nlisten:\n  x:\n    bind: \"${VIP}:80\"\n    balance: roundrobyn\n    server:\n      s1: 192.0.2.21:80 chek\n    frob: 1\nfrontends: {}\n",
        &[("VIP", "192.0.2.100")],
    );
    assert!(cfg.is_none());
    assert_eq!(
        d,
        "p.yaml:10:1: error: unknown top-level key 'frontends': global, defaults, frontend, backend, listen or peers expected; did you mean 'frontend'?\n\
         p.yaml:6:14: error: unknown balance algorithm 'roundrobyn'; roundrobin, static-rr, leastconn, source or first expected; did you mean 'roundrobin'?\n\
         p.yaml:8:25: error: 'server x/s1': unknown keyword 'chek'; did you mean 'check'?\n\
         p.yaml:9:5: error: unknown keyword 'frob' in 'listen' section\n"
    );
    let (_, d) = parse_y("listen: [a\n", &[]);
    assert!(d.starts_with("p.yaml:2:1: error: invalid YAML: "), "{d}");
    let (cfg, d) = parse_y(
        "defaults:\n  timeout: {connect: 1s, client: 1s, server: 1s}\nlisten:\n  x:\n    bind: \"${VIP}:80\"\n    server: {s1: 192.0.2.21}\n",
        &[("VIP", "192.0.2.100")],
    );
    assert_eq!(d, "");
    assert_eq!(
        cfg.unwrap().frontends[0].binds[0].addr,
        sa("192.0.2.100:80")
    );
}

/// Reference §1.5 verbatim (peers section, `expose-fd listeners`, comments after values).
const REFERENCE_1_5: &str = "global
    log 127.0.0.1:514 local0 notice
    maxconn 20000
    stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners
    stats timeout 2m
peers lbpair                              # needs a peer named like the host or -L <name>
    peer lb1 10.0.0.2:10000
    peer lb2 10.0.0.3:10000
defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
    option redispatch
    retries 3
    timeout connect 5s
    timeout client 2h                     # > Outlook Anywhere 15-min keep-alive
    timeout server 2h
    timeout check 5s
    default-server inter 5s fall 3 rise 2
backend st_src_cas                        # table-only backend, shared
    stick-table type ip size 200k expire 2h peers lbpair
listen cas_https
    bind 10.0.0.10:443
    balance leastconn
    stick on src table st_src_cas
    option ssl-hello-chk                  # SSLv3 hello — see 3.6 caveat
    server cas1 10.0.0.11:443 check
    server cas2 10.0.0.12:443 check
listen stats
    bind 10.0.0.2:8080
    mode http
    stats enable
    stats uri /haproxy?stats
    stats refresh 10s
    stats admin if TRUE
";

#[test]
fn reference_text_verbatim_is_valid_with_warnings_for_what_is_not_implemented() {
    let (cfg, d) = parse(REFERENCE_1_5);
    assert_eq!(d, "", "peers and its replicated table are implemented");
    let cfg = cfg.unwrap();
    assert!(cfg.global.stats_sockets[0].expose_fd_listeners);
    let t = cfg
        .backend("st_src_cas")
        .unwrap()
        .stick_table
        .as_ref()
        .unwrap();
    assert_eq!(t.peers.as_deref(), Some("lbpair"));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const TOKENS: &[&str] = &[
        "global",
        "defaults",
        "listen x",
        "frontend f",
        "backend b",
        "bind",
        ":80",
        "192.0.2.1:1-3",
        "server s",
        "192.0.2.21",
        "check",
        "port",
        "inter",
        "0",
        "5s",
        "\"",
        "'",
        "\\",
        "#",
        "${V}",
        "\"${V-1}\"",
        "$",
        "{",
        "}",
        "acl a src",
        "if",
        "unless",
        "!",
        "or",
        "a",
        "stick on src",
        "table",
        "stick-table type ip size 1k",
        "use_backend",
        "default_backend",
        "timeout",
        "client",
        "mode http",
        "stats enable",
        "option",
        "tcp-check",
        "expect",
        "!",
        "\\x4",
        "tcp-request connection reject",
        "balance",
        "hash-type",
        "default-server",
        "\n",
        "\n",
        "\n",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// No input panics, and a config is returned exactly when no error was reported.
        #[test]
        fn never_panics_and_config_iff_no_error(
            toks in proptest::collection::vec(proptest::sample::select(TOKENS), 0..60)
        ) {
            let text = toks.join(" ");
            let env: BTreeMap<String, String> = [("V".to_string(), "192.0.2.9".to_string())].into();
            let (cfg, d) = parse_str(&text, Path::new("p.cfg"), &env);
            prop_assert_eq!(cfg.is_some(), !d.has_errors());
            let (cfg, d) = lbcore::config::proxy_yaml::parse_str(&text.replace(" \n ", "\n"), Path::new("p.yaml"), &env);
            prop_assert_eq!(cfg.is_some(), !d.has_errors());
        }
    }
}

#[test]
fn missing_timeouts_are_warnings_naming_them() {
    let (cfg, d) = parse(
        "frontend f\n  bind :80\n  default_backend b\nbackend b\n  timeout connect 1s\n  server s 192.0.2.21:80\nlisten l\n  bind :81\n  timeout server 1s\n  server s 192.0.2.21:80\n",
    );
    assert!(cfg.is_some());
    assert_eq!(
        d,
        "t.cfg:1:1: warning: missing timeouts for frontend 'f': client; idle connections never expire\n\
         t.cfg:4:1: warning: missing timeouts for backend 'b': server; idle connections never expire\n\
         t.cfg:7:1: warning: missing timeouts for listen 'l': client, connect; idle connections never expire\n"
    );
}

#[test]
fn option_allbackups_parsed_inherited_and_negated() {
    let cfg = ok(&format!(
        "{HEAD}  option allbackups\n\
backend inherits\n  server a 192.0.2.1:443\n  server b1 192.0.2.2:443 backup\n\
backend negated\n  no option allbackups\n  server a 192.0.2.1:443\n\
listen own\n  bind :8443\n  server a 192.0.2.1:443\n\
defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
backend reset\n  server a 192.0.2.1:443\n\
backend set\n  option allbackups\n  server a 192.0.2.1:443\n"
    ));
    assert!(cfg.backend("inherits").unwrap().allbackups, "from defaults");
    assert!(!cfg.backend("negated").unwrap().allbackups);
    assert!(cfg.backend("own").unwrap().allbackups, "listen inherits");
    assert!(
        !cfg.backend("reset").unwrap().allbackups,
        "a new defaults section resets it"
    );
    assert!(cfg.backend("set").unwrap().allbackups);
}

#[test]
fn option_allbackups_takes_no_argument() {
    let (_, d) = with_head("backend b\n  option allbackups yes\n  server a 192.0.2.1:443\n");
    assert_eq!(
        d,
        "t.cfg:6:21: error: 'option allbackups' takes no argument\n"
    );
}

//! haproxy.cfg health-check keywords added for Exchange: `http-check expect|send` (model,
//! `defaults` inheritance, YAML dialect) and the TLS check parameters (`verify`, `ca-file`,
//! `check-sni`, `verifyhost`, `ssl-server-verify`) with HAProxy 2.6's "no CA file" error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lbcore::config::haproxy::parse_str;
use lbcore::config::proxy::*;

fn parse(text: &str) -> (Option<ProxyConfig>, String) {
    let (cfg, d) = parse_str(text, Path::new("t.cfg"), &BTreeMap::new());
    (cfg, d.to_string())
}

const HEAD: &str = "defaults\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n";

fn ok(body: &str) -> ProxyConfig {
    let (cfg, d) = parse(&format!("{HEAD}{body}"));
    assert_eq!(d, "", "unexpected diagnostics");
    cfg.expect("valid config")
}

fn expects(hc: &HealthCheck) -> Vec<(bool, HttpMatch, u32, u32)> {
    let HealthCheck::Http { expect, .. } = hc else {
        panic!("not an HTTP check: {hc:?}")
    };
    expect
        .iter()
        .map(|e| (e.negated, e.matcher.clone(), e.span.line, e.span.col))
        .collect()
}

#[test]
fn http_check_expect_and_send_build_the_http_check() {
    let cfg = ok(
        "backend owa\n  option httpchk GET /owa/healthcheck.htm\n  http-check send hdr Host mail.example.org hdr X-Probe \"proxyd 1\"\n  http-check expect status 200,301-302\n  http-check expect ! rstring (?i)error\n  http-check expect string OK\n  http-check expect rstatus ^2\n  server cas1 192.0.2.21:443 check\n",
    );
    let hc = &cfg.backends[0].health_check;
    let HealthCheck::Http {
        method,
        uri,
        version,
        headers,
        body,
        ..
    } = hc
    else {
        panic!("{hc:?}")
    };
    assert_eq!(
        (
            method.as_str(),
            uri.as_str(),
            version.as_str(),
            body.as_str()
        ),
        ("GET", "/owa/healthcheck.htm", "HTTP/1.0", "")
    );
    assert_eq!(
        headers,
        &[
            ("Host".to_string(), "mail.example.org".to_string()),
            ("X-Probe".to_string(), "proxyd 1".to_string())
        ]
    );
    assert_eq!(
        expects(hc),
        vec![
            (
                false,
                HttpMatch::Status(vec![(200, 200), (301, 302)]),
                8,
                28
            ),
            (true, HttpMatch::Rstring("(?i)error".into()), 9, 31),
            (false, HttpMatch::String("OK".into()), 10, 28),
            (false, HttpMatch::Rstatus("^2".into()), 11, 29),
        ]
    );
}

#[test]
fn http_check_send_overrides_option_httpchk_and_defaults_rules_are_replaced_not_merged() {
    let cfg = ok(
        "  option httpchk\n  http-check expect status 200\nbackend inherits\n  server a 192.0.2.1:80 check\nbackend own\n  http-check send meth HEAD uri /owa/ ver HTTP/1.1 body x\n  http-check expect string up\n  server a 192.0.2.1:80 check\n",
    );
    let inh = &cfg.backend("inherits").unwrap().health_check;
    assert_eq!(
        expects(inh),
        vec![(false, HttpMatch::Status(vec![(200, 200)]), 6, 28)]
    );
    let own = &cfg.backend("own").unwrap().health_check;
    assert_eq!(
        expects(own),
        vec![(false, HttpMatch::String("up".into()), 11, 28)]
    );
    let HealthCheck::Http {
        method,
        uri,
        version,
        body,
        ..
    } = own
    else {
        panic!()
    };
    assert_eq!(
        (
            method.as_str(),
            uri.as_str(),
            version.as_str(),
            body.as_str()
        ),
        ("HEAD", "/owa/", "HTTP/1.1", "x")
    );
    // Without `http-check expect` the expectation list is empty: 2xx/3xx pass (proxyd's probe).
    let plain = ok("backend b\n  option httpchk\n  server a 192.0.2.1:80 check\n");
    assert!(expects(&plain.backends[0].health_check).is_empty());
}

#[test]
fn http_check_rules_without_option_httpchk_warn() {
    let (cfg, d) = parse(&format!(
        "{HEAD}backend b\n  http-check expect status 200\n  server a 192.0.2.1:80 check\n"
    ));
    assert!(cfg.is_some());
    assert_eq!(
        d,
        "t.cfg:5:1: warning: backend 'b': 'http-check' rules without 'option httpchk' are ignored\n"
    );
    assert_eq!(cfg.unwrap().backends[0].health_check, HealthCheck::Tcp);
}

#[test]
fn http_check_in_the_yaml_dialect() {
    let yaml = "defaults:\n  timeout: {connect: 1s, client: 1s, server: 1s}\nbackend:\n  owa:\n    option: httpchk GET /owa/healthcheck.htm\n    http-check:\n      expect: [status 200, '! string error']\n    server: cas1 192.0.2.21:443 check\n";
    let (cfg, d) =
        lbcore::config::proxy_yaml::parse_str(yaml, Path::new("p.yaml"), &BTreeMap::new());
    assert!(d.is_empty(), "{d}");
    let cfg = cfg.unwrap();
    assert_eq!(
        expects(&cfg.backends[0].health_check),
        vec![
            (false, HttpMatch::Status(vec![(200, 200)]), 7, 23),
            (true, HttpMatch::String("error".into()), 7, 38),
        ]
    );
}

const NO_CA_DEFAULT: &str = "verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default.";

#[test]
fn check_ssl_verifies_by_default_and_then_needs_a_ca_file_as_haproxy_26() {
    // HAProxy 2.6 ssl_sock_prepare_srv_ctx: `ssl-server-verify` defaults to required.
    let (cfg, d) = parse(&format!(
        "{HEAD}backend b\n  server a 192.0.2.1:443 check check-ssl\n  server c 192.0.2.3:443 check check-ssl verify required\n"
    ));
    assert!(cfg.is_none());
    assert_eq!(
        d,
        format!(
            "t.cfg:6:3: error: 'server b/a': {NO_CA_DEFAULT}\nt.cfg:7:42: error: 'server b/c': {NO_CA_DEFAULT}\n"
        )
    );
    // With `ssl-server-verify none`, only an explicit `verify required` needs one.
    let (cfg, d) = parse(&format!(
        "global\n  ssl-server-verify none\n{HEAD}backend b\n  server a 192.0.2.1:443 check check-ssl\n  server c 192.0.2.3:443 check check-ssl verify required\n"
    ));
    assert!(cfg.is_none());
    assert_eq!(
        d,
        "t.cfg:9:42: error: 'server b/c': verify is enabled but no CA file specified.\n"
    );
    // Plain checks never need one; `verify none` neither.
    let cfg = ok(
        "backend b\n  server a 192.0.2.1:443 check verify required\n  server c 192.0.2.3:443 check check-ssl verify none\n",
    );
    assert_eq!(cfg.backends[0].servers[0].verify, Some(Verify::Required));
    assert_eq!(cfg.backends[0].servers[1].verify, Some(Verify::None));
}

#[test]
fn ca_file_check_sni_and_verifyhost_on_servers_and_default_server() {
    let cfg = ok(
        "backend b\n  default-server check check-ssl ca-file /etc/proxyd/exchange-ca.pem check-sni mail.example.org\n  server a 192.0.2.1:443\n  server c 192.0.2.3:443 ca-file \"/etc/proxyd/other ca.pem\" verifyhost cas3.example.org\n",
    );
    let s = &cfg.backends[0].servers;
    assert_eq!(s[0].verify, Some(Verify::Required), "HAProxy's default");
    assert_eq!(
        s[0].ca_file,
        Some(CaFile {
            path: PathBuf::from("/etc/proxyd/exchange-ca.pem"),
            span: s[0].ca_file.as_ref().unwrap().span.clone(),
        })
    );
    let sp = &s[0].ca_file.as_ref().unwrap().span;
    assert_eq!(
        (sp.line, sp.col),
        (6, 42),
        "the path of the default-server line"
    );
    assert_eq!(s[0].check_sni.as_deref(), Some("mail.example.org"));
    assert_eq!(s[0].verifyhost, None);
    let ca = s[1].ca_file.as_ref().unwrap();
    assert_eq!(ca.path, PathBuf::from("/etc/proxyd/other ca.pem"));
    assert_eq!((ca.span.line, ca.span.col), (8, 34));
    assert_eq!(s[1].check_sni.as_deref(), Some("mail.example.org"));
    assert_eq!(s[1].verifyhost.as_deref(), Some("cas3.example.org"));
    assert_eq!(cfg.global.ssl_server_verify, Verify::Required);
}

//! haproxy.cfg sections and keywords (reference §2.2–2.10) into [`ProxyConfig`].
//!
//! Owns: the keyword tables, where each keyword may appear (CFG §4.1 matrix), `defaults`
//! inheritance, and the cross-reference checks (backends, stick tables, ACLs, duplicate names).
//! Unknown keywords are errors with a "did you mean" hint; valid HAProxy keywords proxyd does not
//! implement are warnings naming them. Must not do lexing (see [`super::lexer`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::lexer::{Line, Word, parse_size, parse_time};
use crate::config::proxy::*;
use crate::diag::{Diagnostics, Span, did_you_mean};

const SECTIONS: &[&str] = &["global", "defaults", "frontend", "backend", "listen"];
const IGNORED_SECTIONS: &[&str] = &[
    "userlist",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "log-forward",
    "cache",
    "fcgi-app",
];

const GLOBAL_KW: &[&str] = &[
    "maxconn",
    "pidfile",
    "log",
    "stats",
    "user",
    "group",
    "daemon",
    "nbthread",
    "ssl-server-verify",
    "localpeer",
];
const GLOBAL_UNIMPL: &[&str] = &[
    "chroot",
    "uid",
    "gid",
    "nosplice",
    "maxpipes",
    "hard-stop-after",
    "spread-checks",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-options",
    "ssl-default-server-ciphers",
    "ssl-default-server-options",
    "ssl-default-bind-ciphersuites",
    "ca-base",
    "crt-base",
    "server-state-file",
    "server-state-base",
    "master-worker",
    "mworker-max-reloads",
    "node",
    "description",
    "log-send-hostname",
    "log-tag",
    "ulimit-n",
    "quiet",
    "ssl-dh-param-file",
    "lua-load",
    "setenv",
    "presetenv",
    "unsetenv",
    "resetenv",
    "cpu-map",
    "nbproc",
    "expose-experimental-directives",
    "insecure-fork-wanted",
    "tune",
];

// Where a proxy keyword may appear (CFG §4.1): defaults, frontend, listen, backend.
const D: u8 = 1;
const F: u8 = 2;
const L: u8 = 4;
const B: u8 = 8;
const PROXY_KW: &[(&str, u8)] = &[
    ("mode", D | F | L | B),
    ("bind", F | L),
    ("server", L | B),
    ("default-server", D | L | B),
    ("balance", D | L | B),
    ("hash-type", D | L | B),
    ("stick-table", F | L | B),
    ("stick", L | B),
    ("acl", F | L | B),
    ("tcp-request", F | L),
    ("use_backend", F | L),
    ("default_backend", D | F | L),
    ("timeout", D | F | L | B),
    ("contimeout", D | L | B),
    ("clitimeout", D | F | L),
    ("srvtimeout", D | L | B),
    ("option", D | F | L | B),
    ("no", D | F | L | B),
    ("tcp-check", D | L | B),
    ("http-check", D | L | B),
    ("maxconn", D | F | L),
    ("retries", D | L | B),
    ("log", D | F | L | B),
    ("stats", D | F | L | B),
];
const PROXY_UNIMPL: &[&str] = &[
    "http-request",
    "http-response",
    "http-after-response",
    "cookie",
    "errorfile",
    "errorloc",
    "compression",
    "capture",
    "redirect",
    "source",
    "fullconn",
    "hash-balance-factor",
    "log-format",
    "description",
    "id",
    "rate-limit",
    "persist",
    "monitor-uri",
    "email-alert",
    "unique-id-format",
    "server-template",
    "tcp-response",
    "use-server",
    "force-persist",
    "ignore-persist",
    "dispatch",
    "bind-process",
    "http-reuse",
    "backlog",
    "grace",
    "enabled",
    "disabled",
    "log-tag",
    "external-check",
    "load-server-state-from-file",
    "filter",
    "declare",
    "from",
];
const OPTIONS: &[&str] = &[
    "tcplog",
    "dontlognull",
    "redispatch",
    "allbackups",
    "tcpka",
    "clitcpka",
    "srvtcpka",
    "httpchk",
    "ssl-hello-chk",
    "smtpchk",
    "tcp-check",
];
const OPTIONS_UNIMPL: &[&str] = &[
    "httplog",
    "forwardfor",
    "http-server-close",
    "httpclose",
    "http-keep-alive",
    "abortonclose",
    "persist",
    "log-health-checks",
    "splice-auto",
    "splice-request",
    "splice-response",
    "independent-streams",
    "logasap",
    "log-separate-errors",
    "mysql-check",
    "pgsql-check",
    "redis-check",
    "ldap-check",
    "spop-check",
    "external-check",
    "http-buffer-request",
    "prefer-last-server",
    "checkcache",
    "contstats",
    "socket-stats",
    "transparent",
    "nolinger",
    "originalto",
    "http-no-delay",
    "http-pretend-keepalive",
    "http-use-proxy-header",
    "accept-invalid-http-request",
];
const SERVER_KW: &[&str] = &[
    "check",
    "inter",
    "fastinter",
    "downinter",
    "rise",
    "fall",
    "weight",
    "backup",
    "maxconn",
    "maxqueue",
    "disabled",
    "enabled",
    "port",
    "addr",
    "id",
    "check-ssl",
    "verify",
    "ca-file",
    "check-sni",
    "verifyhost",
    "on-marked-down",
];
// Valid HAProxy server parameters proxyd ignores, with how many arguments they take.
const SERVER_UNIMPL: &[(&str, usize)] = &[
    ("slowstart", 1),
    ("observe", 1),
    ("error-limit", 1),
    ("on-error", 1),
    ("on-marked-up", 1),
    ("send-proxy", 0),
    ("send-proxy-v2", 0),
    ("check-send-proxy", 0),
    ("source", 1),
    ("cookie", 1),
    ("track", 1),
    ("agent-check", 0),
    ("agent-port", 1),
    ("agent-inter", 1),
    ("non-stick", 0),
    ("ssl", 0),
    ("sni", 1),
    ("crt", 1),
    ("resolvers", 1),
    ("init-addr", 1),
    ("resolve-prefer", 1),
    ("minconn", 1),
    ("redir", 1),
    ("proto", 1),
    ("alpn", 1),
    ("check-alpn", 1),
    ("tfo", 0),
    ("no-check", 0),
];
const BIND_UNIMPL: &[(&str, usize)] = &[
    ("v4v6", 0),
    ("v6only", 0),
    ("interface", 1),
    ("maxconn", 1),
    ("backlog", 1),
    ("defer-accept", 0),
    ("tfo", 0),
    ("mss", 1),
    ("process", 1),
    ("thread", 1),
    ("accept-proxy", 0),
    ("ssl", 0),
    ("crt", 1),
    ("namespace", 1),
    ("alpn", 1),
    ("name", 1),
    ("id", 1),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Defaults,
    Frontend,
    Listen,
    Backend,
}

impl Kind {
    fn bit(self) -> u8 {
        match self {
            Kind::Defaults => D,
            Kind::Frontend => F,
            Kind::Listen => L,
            Kind::Backend => B,
        }
    }
    fn word(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Listen => "listen",
            Kind::Backend => "backend",
        }
    }
    fn has_frontend(self) -> bool {
        matches!(self, Kind::Frontend | Kind::Listen)
    }
    fn has_backend(self) -> bool {
        matches!(self, Kind::Backend | Kind::Listen)
    }
}

/// Server parameters as written (`default-server` and `server` overlay each other).
#[derive(Clone, Default, Debug)]
struct ServerParams {
    check: Option<bool>,
    inter: Option<Duration>,
    fastinter: Option<Duration>,
    downinter: Option<Duration>,
    rise: Option<u32>,
    fall: Option<u32>,
    weight: Option<u32>,
    backup: Option<bool>,
    maxconn: Option<u32>,
    maxqueue: Option<u32>,
    disabled: Option<bool>,
    check_port: Option<u16>,
    check_addr: Option<IpAddr>,
    id: Option<u32>,
    check_ssl: Option<bool>,
    verify: Option<Verify>,
    verify_span: Option<Span>,
    ca_file: Option<CaFile>,
    check_sni: Option<String>,
    verifyhost: Option<String>,
    shutdown_sessions: Option<bool>,
}

impl ServerParams {
    fn overlay(&self, over: &ServerParams) -> ServerParams {
        macro_rules! pick {
            ($($f:ident),*) => {
                ServerParams { $($f: over.$f.clone().or_else(|| self.$f.clone())),* }
            };
        }
        pick!(
            check,
            inter,
            fastinter,
            downinter,
            rise,
            fall,
            weight,
            backup,
            maxconn,
            maxqueue,
            disabled,
            check_port,
            check_addr,
            id,
            check_ssl,
            verify,
            verify_span,
            ca_file,
            check_sni,
            verifyhost,
            shutdown_sessions
        )
    }
}

#[derive(Clone, Debug)]
struct DraftServer {
    name: String,
    addr: IpAddr,
    port: Option<u16>,
    params: ServerParams,
    span: Span,
}

/// `http-check send` as written.
#[derive(Clone, Default, Debug)]
struct HttpSend {
    method: Option<String>,
    uri: Option<String>,
    version: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// A proxy (or `defaults`) while it is being read.
#[derive(Clone, Default, Debug)]
struct Draft {
    mode: Option<Mode>,
    mode_span: Option<Span>,
    balance: Option<Balance>,
    hash_type: Option<HashType>,
    timeout_connect: Option<Duration>,
    timeout_client: Option<Duration>,
    timeout_server: Option<Duration>,
    timeout_check: Option<Duration>,
    timeout_queue: Option<Duration>,
    retries: Option<u32>,
    log: LogOptions,
    logs: Vec<LogTarget>,
    redispatch: bool,
    allbackups: bool,
    clitcpka: bool,
    srvtcpka: bool,
    check: Option<HealthCheck>,
    tcp_checks: Vec<TcpCheckStep>,
    http_expects: Vec<HttpExpect>,
    http_send: Option<HttpSend>,
    // A proxy's own `http-check` lines replace the ones inherited from `defaults`.
    http_own: bool,
    default_server: ServerParams,
    maxconn: Option<u32>,
    default_backend: Option<(String, Span)>,
    // Proxy-only.
    binds: Vec<Bind>,
    servers: Vec<DraftServer>,
    acls: Vec<Acl>,
    tcp_request: Vec<TcpRequestRule>,
    use_backends: Vec<UseBackend>,
    stick_table: Option<(StickTable, Span)>,
    stick_rules: Vec<(Option<String>, Span)>,
    stats_enable: bool,
    stats_uri: Option<String>,
    stats_refresh: Option<Duration>,
    stats_admin: bool,
    stats_admin_when: Option<(Condition, Span)>,
    stats_auth: Vec<StatsAuth>,
    stats_realm: Option<String>,
    stats_hide_version: bool,
}

struct Proxy {
    kind: Kind,
    name: String,
    span: Span,
    draft: Draft,
}

enum Section {
    None,
    Global,
    Proxy(Kind),
    Peers,
    Ignored,
}

struct Parser<'a> {
    d: &'a mut Diagnostics,
    global: Global,
    defaults: Draft,
    proxies: Vec<Proxy>,
    peers: Vec<DraftPeers>,
}

/// A `peers` section while it is being read.
struct DraftPeers {
    name: String,
    span: Span,
    bind: Option<(SocketAddr, Span)>,
    // Name, address (`None`: `server NAME` alone, the local peer listening on `bind`), line.
    peers: Vec<(String, Option<SocketAddr>, Span)>,
    disabled: bool,
}

/// Reads every statement of `lines` into a [`ProxyConfig`], reporting problems into `d`. The
/// result is only meaningful when `d` has no errors.
pub fn parse(lines: &[Line], file: &Path, d: &mut Diagnostics) -> ProxyConfig {
    let _ = file;
    let mut p = Parser {
        d,
        global: Global::default(),
        defaults: Draft::default(),
        proxies: Vec::new(),
        peers: Vec::new(),
    };
    let mut section = Section::None;
    for line in lines {
        let kw = line.words[0].text.as_str();
        if let Some(s) = p.section_start(line) {
            section = s;
            continue;
        }
        if kw.starts_with('.') {
            p.d.error(
                &line.words[0].span,
                format!("conditional block directive '{kw}' is not supported"),
            );
            continue;
        }
        match section {
            Section::None => p.d.error(
                &line.words[0].span,
                format!("'{kw}' outside of a section; a section keyword (global, defaults, frontend, backend, listen) expected"),
            ),
            Section::Global => p.global_kw(&line.words),
            Section::Proxy(kind) => p.proxy_kw(kind, &line.words),
            Section::Peers => p.peers_kw(&line.words),
            Section::Ignored => {}
        }
    }
    p.finish()
}

fn arg(w: &[Word], i: usize) -> Option<&str> {
    w.get(i).map(|x| x.text.as_str())
}

impl Parser<'_> {
    fn section_start(&mut self, line: &Line) -> Option<Section> {
        let w = &line.words;
        let kw = w[0].text.as_str();
        if IGNORED_SECTIONS.contains(&kw) {
            self.d.warning(
                &w[0].span,
                format!("section '{kw}' is valid HAProxy but not implemented by proxyd; its content is ignored"),
            );
            return Some(Section::Ignored);
        }
        if kw == "peers" {
            self.peers_start(w);
            return Some(Section::Peers);
        }
        if !SECTIONS.contains(&kw) {
            return None;
        }
        let kind = match kw {
            "global" => {
                if w.len() > 1 {
                    self.d.error(&w[1].span, "'global' takes no argument");
                }
                return Some(Section::Global);
            }
            "defaults" => {
                // Each `defaults` starts from scratch (HAProxy resets them).
                self.defaults = Draft::default();
                if w.len() > 2 {
                    self.d.error(&w[2].span, "'defaults' takes at most a name");
                }
                return Some(Section::Proxy(Kind::Defaults));
            }
            "frontend" => Kind::Frontend,
            "backend" => Kind::Backend,
            _ => Kind::Listen,
        };
        let Some(name) = w.get(1) else {
            self.d.error(&w[0].span, format!("'{kw}' needs a name"));
            // Read the section anyway so its own problems are reported.
            self.proxies.push(Proxy {
                kind,
                name: String::new(),
                span: w[0].span.clone(),
                draft: self.defaults.clone(),
            });
            return Some(Section::Proxy(kind));
        };
        if !name
            .text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            self.d.error(
                &name.span,
                format!("invalid character in proxy name '{}'", name.text),
            );
        }
        let mut draft = self.defaults.clone();
        draft.http_own = false;
        if let Some(addr) = w.get(2) {
            if kind == Kind::Listen {
                self.d.warning(
                    &addr.span,
                    "'listen NAME ADDR:PORT' is deprecated (HAProxy 2.x refuses it); use a 'bind' line",
                );
                let binds = self.parse_bind_addrs(addr);
                draft.binds.extend(binds);
            } else {
                self.d
                    .error(&addr.span, format!("'{kw}' takes only a name"));
            }
        }
        self.proxies.push(Proxy {
            kind,
            name: name.text.clone(),
            span: w[0].span.clone(),
            draft,
        });
        Some(Section::Proxy(kind))
    }

    fn unknown(&mut self, w: &Word, section: &str, candidates: &[&str]) {
        let hint = did_you_mean(&w.text, candidates.iter().copied())
            .map(|c| format!("; did you mean '{c}'?"))
            .unwrap_or_default();
        self.d.error(
            &w.span,
            format!("unknown keyword '{}' in '{section}' section{hint}", w.text),
        );
    }

    fn unimplemented(&mut self, w: &Word, what: &str) {
        self.d.warning(
            &w.span,
            format!(
                "{what} '{}' is valid HAProxy but not implemented by proxyd; ignored",
                w.text
            ),
        );
    }

    fn need<'w>(&mut self, w: &'w [Word], i: usize, what: &str) -> Option<&'w Word> {
        let r = w.get(i);
        if r.is_none() {
            self.d
                .error(&w[i - 1].span, format!("'{}' expects {what}", w[0].text));
        }
        r
    }

    fn num<T: std::str::FromStr>(&mut self, w: &Word, what: &str) -> Option<T> {
        let r = w.text.parse().ok();
        if r.is_none() {
            self.d.error(
                &w.span,
                format!("invalid value '{}' for {what}: an integer expected", w.text),
            );
        }
        r
    }

    fn time(&mut self, w: &Word) -> Option<Duration> {
        parse_time(&w.text)
            .map_err(|e| self.d.error(&w.span, e))
            .ok()
    }

    fn extra(&mut self, w: &[Word], n: usize) {
        if let Some(x) = w.get(n) {
            self.d.error(
                &x.span,
                format!("unexpected argument '{}' to '{}'", x.text, w[0].text),
            );
        }
    }

    fn global_kw(&mut self, w: &[Word]) {
        let kw = w[0].text.as_str();
        match kw {
            "maxconn" | "nbthread" => {
                if let Some(a) = self.need(w, 1, "a number") {
                    let v = self.num::<u32>(a, kw);
                    if kw == "maxconn" {
                        self.global.maxconn = v;
                    } else {
                        self.global.nbthread = v;
                    }
                }
                self.extra(w, 2);
            }
            "pidfile" => {
                if let Some(a) = self.need(w, 1, "a path") {
                    self.global.pidfile = Some(PathBuf::from(&a.text));
                }
                self.extra(w, 2);
            }
            "user" | "group" => {
                if let Some(a) = self.need(w, 1, "a name") {
                    let v = Some(a.text.clone());
                    if kw == "user" {
                        self.global.user = v;
                    } else {
                        self.global.group = v;
                    }
                }
                self.extra(w, 2);
            }
            "daemon" => {
                self.global.daemon = true;
                self.extra(w, 1);
            }
            "log" => {
                if let Some(t) = self.log_target(w) {
                    self.global.logs.push(t);
                }
            }
            "stats" => self.global_stats(w),
            "localpeer" => {
                if let Some(a) = self.need(w, 1, "a peer name") {
                    self.global.localpeer = Some(a.text.clone());
                }
                self.extra(w, 2);
            }
            "ssl-server-verify" => {
                if let Some(a) = self.need(w, 1, "none or required") {
                    match a.text.as_str() {
                        "none" => self.global.ssl_server_verify = Verify::None,
                        "required" => self.global.ssl_server_verify = Verify::Required,
                        t => self.d.error(
                            &a.span,
                            format!("invalid ssl-server-verify '{t}': none or required expected"),
                        ),
                    }
                }
                self.extra(w, 2);
            }
            _ if GLOBAL_UNIMPL.contains(&kw) || kw.starts_with("tune.") => {
                self.unimplemented(&w[0], "global keyword");
            }
            _ => self.unknown(&w[0], "global", GLOBAL_KW),
        }
    }

    fn global_stats(&mut self, w: &[Word]) {
        match arg(w, 1) {
            Some("socket") => {
                let Some(path) = self.need(w, 2, "'socket <path>'") else {
                    return;
                };
                let mut s = StatsSocket {
                    path: path.text.clone(),
                    mode: None,
                    level: None,
                    expose_fd_listeners: false,
                };
                let mut i = 3;
                while i < w.len() {
                    match w[i].text.as_str() {
                        "mode" => {
                            if let Some(m) = self.need(w, i + 1, "an octal mode") {
                                s.mode = u32::from_str_radix(&m.text, 8)
                                    .map_err(|_| {
                                        self.d.error(
                                            &m.span,
                                            format!("invalid octal mode '{}'", m.text),
                                        )
                                    })
                                    .ok();
                            }
                            i += 2;
                        }
                        "level" => {
                            if let Some(l) = self.need(w, i + 1, "user, operator or admin") {
                                if !["user", "operator", "admin"].contains(&l.text.as_str()) {
                                    self.d.error(&l.span, format!("invalid stats socket level '{}': user, operator or admin expected", l.text));
                                }
                                s.level = Some(l.text.clone());
                            }
                            i += 2;
                        }
                        "expose-fd" => {
                            if arg(w, i + 1) == Some("listeners") {
                                s.expose_fd_listeners = true;
                            } else {
                                self.d.error(&w[i].span, "'expose-fd' expects 'listeners'");
                            }
                            i += 2;
                        }
                        _ => {
                            self.unimplemented(&w[i], "stats socket parameter");
                            i += 1;
                        }
                    }
                }
                self.global.stats_sockets.push(s);
            }
            Some("timeout") => {
                if let Some(t) = self.need(w, 2, "a time") {
                    self.global.stats_timeout = self.time(t);
                }
                self.extra(w, 3);
            }
            Some(_) => self.unimplemented(&w[1], "global stats keyword"),
            None => {
                self.d
                    .error(&w[0].span, "'stats' expects 'socket' or 'timeout'");
            }
        }
    }

    fn log_target(&mut self, w: &[Word]) -> Option<LogTarget> {
        let addr = self.need(w, 1, "an address and a facility")?.text.clone();
        let mut i = 2;
        while matches!(arg(w, i), Some("len" | "format" | "sample")) {
            i += 2;
        }
        let Some(fac) = w.get(i) else {
            self.d
                .error(&w[0].span, "'log' expects a facility after the address");
            return None;
        };
        Some(LogTarget {
            address: addr,
            facility: fac.text.clone(),
            level: arg(w, i + 1).map(str::to_string),
            min_level: arg(w, i + 2).map(str::to_string),
        })
    }

    fn cur(&mut self, kind: Kind) -> &mut Draft {
        if kind == Kind::Defaults {
            &mut self.defaults
        } else {
            &mut self
                .proxies
                .last_mut()
                .expect("a proxy section is open")
                .draft
        }
    }

    fn proxy_name(&self, kind: Kind) -> String {
        if kind == Kind::Defaults {
            "defaults".into()
        } else {
            self.proxies
                .last()
                .map(|p| p.name.clone())
                .unwrap_or_default()
        }
    }

    fn proxy_kw(&mut self, kind: Kind, w: &[Word]) {
        let kw = w[0].text.as_str();
        let Some(&(_, scope)) = PROXY_KW.iter().find(|(k, _)| *k == kw) else {
            if PROXY_UNIMPL.contains(&kw) {
                self.unimplemented(&w[0], "keyword");
            } else {
                let names: Vec<&str> = PROXY_KW.iter().map(|(k, _)| *k).collect();
                self.unknown(&w[0], kind.word(), &names);
            }
            return;
        };
        if scope & kind.bit() == 0 {
            self.d.error(
                &w[0].span,
                format!("'{kw}' is not allowed in a '{}' section", kind.word()),
            );
            return;
        }
        match kw {
            "mode" => {
                let Some(a) = self.need(w, 1, "tcp or http") else {
                    return;
                };
                let m = match a.text.as_str() {
                    "tcp" => Some(Mode::Tcp),
                    "http" => Some(Mode::Http),
                    _ => {
                        self.d.error(
                            &a.span,
                            format!("invalid mode '{}': tcp or http expected", a.text),
                        );
                        None
                    }
                };
                let span = w[0].span.clone();
                let dr = self.cur(kind);
                dr.mode = m;
                dr.mode_span = Some(span);
                self.extra(w, 2);
            }
            "bind" => {
                let Some(a) = self.need(w, 1, "an address list") else {
                    return;
                };
                let mut binds = self.parse_bind_addrs(a);
                let mut i = 2;
                while i < w.len() {
                    let p = w[i].text.as_str();
                    if p == "transparent" {
                        binds.iter_mut().for_each(|b| b.transparent = true);
                        i += 1;
                    } else if let Some(&(_, n)) = BIND_UNIMPL.iter().find(|(k, _)| *k == p) {
                        self.unimplemented(&w[i], "bind parameter");
                        i += 1 + n;
                    } else {
                        let hint = did_you_mean(
                            p,
                            BIND_UNIMPL.iter().map(|(k, _)| *k).chain(["transparent"]),
                        )
                        .map(|c| format!("; did you mean '{c}'?"))
                        .unwrap_or_default();
                        self.d
                            .error(&w[i].span, format!("unknown bind parameter '{p}'{hint}"));
                        i += 1;
                    }
                }
                self.cur(kind).binds.extend(binds);
            }
            "server" | "default-server" => self.server(kind, w),
            "balance" => {
                let Some(a) = self.need(w, 1, "an algorithm") else {
                    return;
                };
                let b = match a.text.as_str() {
                    "roundrobin" => Some(Balance::RoundRobin),
                    "static-rr" => Some(Balance::StaticRr),
                    "leastconn" => Some(Balance::LeastConn),
                    "source" => Some(Balance::Source),
                    "first" => Some(Balance::First),
                    "uri" | "url_param" | "random" | "hash" | "rdp-cookie" => {
                        self.d.error(&a.span, format!("balance '{}' is valid HAProxy but not supported by proxyd (roundrobin, static-rr, leastconn, source, first)", a.text));
                        None
                    }
                    t if t.starts_with("hdr(")
                        || t.starts_with("rdp-cookie(")
                        || t.starts_with("random(") =>
                    {
                        self.d.error(&a.span, format!("balance '{t}' is valid HAProxy but not supported by proxyd (roundrobin, static-rr, leastconn, source, first)"));
                        None
                    }
                    t => {
                        let hint = did_you_mean(
                            t,
                            ["roundrobin", "static-rr", "leastconn", "source", "first"],
                        )
                        .map(|c| format!("; did you mean '{c}'?"))
                        .unwrap_or_default();
                        self.d.error(&a.span, format!("unknown balance algorithm '{t}'; roundrobin, static-rr, leastconn, source or first expected{hint}"));
                        None
                    }
                };
                if b.is_some() {
                    self.cur(kind).balance = b;
                }
                self.extra(w, 2);
            }
            "hash-type" => {
                let Some(a) = self.need(w, 1, "map-based or consistent") else {
                    return;
                };
                let h = match a.text.as_str() {
                    "map-based" => Some(HashType::MapBased),
                    "consistent" => Some(HashType::Consistent),
                    t => {
                        let hint = did_you_mean(t, ["map-based", "consistent"])
                            .map(|c| format!("; did you mean '{c}'?"))
                            .unwrap_or_default();
                        self.d.error(
                            &a.span,
                            format!(
                                "invalid hash-type '{t}': map-based or consistent expected{hint}"
                            ),
                        );
                        None
                    }
                };
                for x in w.iter().skip(2) {
                    if !["sdbm", "djb2", "wt6", "crc32", "avalanche"].contains(&x.text.as_str()) {
                        self.d.error(&x.span, format!("invalid hash function '{}': sdbm, djb2, wt6, crc32 or avalanche expected", x.text));
                    } else {
                        self.unimplemented(x, "hash function");
                    }
                }
                if h.is_some() {
                    self.cur(kind).hash_type = h;
                }
            }
            "stick-table" => self.stick_table(kind, w),
            "stick" => {
                match arg(w, 1) {
                    Some("on") => {}
                    Some("match" | "store-request" | "store-response") => {
                        self.unimplemented(&w[1], "stick rule");
                        return;
                    }
                    _ => {
                        self.d
                            .error(&w[0].span, "'stick' expects 'on src [table <name>]'");
                        return;
                    }
                }
                let Some(s) = self.need(w, 2, "a sample ('src')") else {
                    return;
                };
                if s.text != "src" {
                    self.d.error(
                        &s.span,
                        format!("stick on '{}' is not supported; only 'src'", s.text),
                    );
                }
                let mut table = None;
                let mut i = 3;
                if arg(w, 3) == Some("table") {
                    table = self.need(w, 4, "a table name").map(|t| t.text.clone());
                    i = 5;
                }
                if let Some(x) = w.get(i) {
                    self.d.error(
                        &x.span,
                        format!(
                            "unexpected '{}' in 'stick on' (conditions are not supported)",
                            x.text
                        ),
                    );
                }
                let span = w[0].span.clone();
                self.cur(kind).stick_rules.push((table, span));
            }
            "acl" => self.acl(kind, w),
            "tcp-request" => {
                if arg(w, 1) != Some("connection") {
                    if w.len() > 1 {
                        self.unimplemented(&w[1], "tcp-request ruleset");
                    } else {
                        self.d
                            .error(&w[0].span, "'tcp-request' expects 'connection'");
                    }
                    return;
                }
                let Some(a) = self.need(w, 2, "accept or reject") else {
                    return;
                };
                let action = match a.text.as_str() {
                    "accept" => TcpAction::Accept,
                    "reject" => TcpAction::Reject,
                    "silent-drop" | "expect-proxy" | "track-sc0" | "track-sc1" | "track-sc2"
                    | "set-src" | "sc-inc-gpc0" => {
                        self.unimplemented(a, "tcp-request connection action");
                        return;
                    }
                    t => {
                        self.d.error(&a.span, format!("unknown tcp-request connection action '{t}': accept or reject expected"));
                        return;
                    }
                };
                let condition = self.condition(w, 3);
                let span = w[0].span.clone();
                self.cur(kind).tcp_request.push(TcpRequestRule {
                    action,
                    condition,
                    span,
                });
            }
            "use_backend" => {
                let Some(b) = self.need(w, 1, "a backend name") else {
                    return;
                };
                let backend = b.text.clone();
                let condition = self.condition(w, 2);
                let span = b.span.clone();
                self.cur(kind).use_backends.push(UseBackend {
                    backend,
                    condition,
                    span,
                });
            }
            "default_backend" => {
                let Some(b) = self.need(w, 1, "a backend name") else {
                    return;
                };
                let v = (b.text.clone(), b.span.clone());
                self.cur(kind).default_backend = Some(v);
                self.extra(w, 2);
            }
            "timeout" => {
                let Some(which) = self.need(w, 1, "a timeout name and a time") else {
                    return;
                };
                let which_s = which.text.clone();
                let which_span = which.span.clone();
                let Some(t) = self.need(w, 2, "a time") else {
                    return;
                };
                let v = self.time(t);
                self.extra(w, 3);
                let name = self.proxy_name(kind);
                let allowed = match which_s.as_str() {
                    "client" => F | L | D,
                    "connect" | "server" | "check" | "queue" => B | L | D,
                    "http-request" | "http-keep-alive" | "tunnel" | "client-fin" | "server-fin"
                    | "tarpit" => {
                        self.unimplemented(which, "timeout");
                        return;
                    }
                    t => {
                        let hint =
                            did_you_mean(t, ["client", "connect", "server", "check", "queue"])
                                .map(|c| format!("; did you mean '{c}'?"))
                                .unwrap_or_default();
                        self.d
                            .error(&which_span, format!("unknown timeout '{t}'{hint}"));
                        return;
                    }
                };
                if allowed & kind.bit() == 0 {
                    self.d.warning(
                        &which_span,
                        format!(
                            "'timeout {which_s}' has no effect in {} '{name}'",
                            kind.word()
                        ),
                    );
                    return;
                }
                self.set_timeout(kind, &which_s, v);
            }
            "contimeout" | "clitimeout" | "srvtimeout" => {
                let modern = match kw {
                    "contimeout" => "connect",
                    "clitimeout" => "client",
                    _ => "server",
                };
                self.d.warning(
                    &w[0].span,
                    format!(
                        "'{kw}' is deprecated (HAProxy 2.1+ refuses it); use 'timeout {modern}'"
                    ),
                );
                let Some(t) = self.need(w, 1, "a time") else {
                    return;
                };
                let v = self.time(t);
                self.extra(w, 2);
                self.set_timeout(kind, modern, v);
            }
            "option" | "no" => self.option(kind, w),
            "tcp-check" => self.tcp_check(kind, w),
            "http-check" => self.http_check(kind, w),
            "maxconn" | "retries" => {
                let Some(a) = self.need(w, 1, "a number") else {
                    return;
                };
                let v = self.num::<u32>(a, kw);
                self.extra(w, 2);
                let dr = self.cur(kind);
                if kw == "maxconn" {
                    dr.maxconn = v;
                } else {
                    dr.retries = v;
                }
            }
            "log" => match arg(w, 1) {
                Some("global") => {
                    let g = self.global.logs.clone();
                    self.extra(w, 2);
                    self.cur(kind).logs.extend(g);
                }
                _ => {
                    if let Some(t) = self.log_target(w) {
                        self.cur(kind).logs.push(t);
                    }
                }
            },
            "stats" => self.stats(kind, w),
            _ => unreachable!("every PROXY_KW entry is handled"),
        }
    }

    fn set_timeout(&mut self, kind: Kind, which: &str, v: Option<Duration>) {
        let dr = self.cur(kind);
        let slot = match which {
            "client" => &mut dr.timeout_client,
            "connect" => &mut dr.timeout_connect,
            "server" => &mut dr.timeout_server,
            "check" => &mut dr.timeout_check,
            _ => &mut dr.timeout_queue,
        };
        if v.is_some() {
            *slot = v;
        }
    }

    fn option(&mut self, kind: Kind, w: &[Word]) {
        let negated = w[0].text == "no";
        let base = usize::from(negated);
        if negated && arg(w, 1) != Some("option") {
            // `no` only negates options in proxy sections (CFG §4: "no option <name>").
            let at = w.get(1).unwrap_or(&w[0]);
            self.d.error(
                &at.span,
                "'no' is only supported before 'option' ('no option <name>')",
            );
            return;
        }
        let Some(o) = self.need(w, base + 1, "an option name") else {
            return;
        };
        let name = o.text.clone();
        let args = &w[base + 2..];
        if OPTIONS_UNIMPL.contains(&name.as_str()) {
            self.unimplemented(o, "option");
            return;
        }
        if !OPTIONS.contains(&name.as_str()) {
            let hint = did_you_mean(&name, OPTIONS.iter().copied())
                .map(|c| format!("; did you mean '{c}'?"))
                .unwrap_or_default();
            self.d
                .error(&o.span, format!("unknown option '{name}'{hint}"));
            return;
        }
        let is_check = matches!(
            name.as_str(),
            "httpchk" | "ssl-hello-chk" | "smtpchk" | "tcp-check"
        );
        if is_check && kind == Kind::Frontend {
            self.d.error(
                &o.span,
                format!("'option {name}' is not allowed in a 'frontend' section"),
            );
            return;
        }
        if negated && is_check {
            let dr = self.cur(kind);
            dr.check = None;
            return;
        }
        let check = match name.as_str() {
            "httpchk" => {
                let a: Vec<String> = args.iter().map(|x| x.text.clone()).collect();
                let (method, uri, version) = match a.as_slice() {
                    [] => ("OPTIONS".into(), "/".into(), "HTTP/1.0".into()),
                    [u] => ("OPTIONS".into(), u.clone(), "HTTP/1.0".into()),
                    [m, u] => (m.clone(), u.clone(), "HTTP/1.0".into()),
                    [m, u, v, ..] => (m.clone(), u.clone(), v.clone()),
                };
                if args.len() > 3 {
                    self.d.error(
                        &args[3].span,
                        "'option httpchk' takes at most a method, a URI and a version",
                    );
                }
                Some(HealthCheck::Http {
                    method,
                    uri,
                    version,
                    headers: Vec::new(),
                    body: String::new(),
                    expect: Vec::new(),
                })
            }
            "ssl-hello-chk" => {
                self.extra(&w[base + 1..], 1);
                Some(HealthCheck::SslHello)
            }
            "smtpchk" => match args {
                [] => Some(HealthCheck::Smtp {
                    verb: "HELO".into(),
                    domain: DEFAULT_SMTPCHK_DOMAIN.into(),
                }),
                [v, dom] if v.text == "HELO" || v.text == "EHLO" => Some(HealthCheck::Smtp {
                    verb: v.text.clone(),
                    domain: dom.text.clone(),
                }),
                _ => {
                    self.d.error(
                        &o.span,
                        "'option smtpchk' expects nothing or 'HELO|EHLO <domain>'",
                    );
                    None
                }
            },
            "tcp-check" => Some(HealthCheck::TcpCheck(Vec::new())),
            _ => None,
        };
        if is_check {
            if check.is_some() {
                self.cur(kind).check = check;
            }
            return;
        }
        if let Some(x) = args.first() {
            self.d
                .error(&x.span, format!("'option {name}' takes no argument"));
        }
        let on = !negated;
        let dr = self.cur(kind);
        match name.as_str() {
            "tcplog" => dr.log.tcplog = on,
            "dontlognull" => dr.log.dontlognull = on,
            "redispatch" => dr.redispatch = on,
            "allbackups" => dr.allbackups = on,
            "tcpka" => {
                dr.clitcpka = on;
                dr.srvtcpka = on;
            }
            "clitcpka" => dr.clitcpka = on,
            _ => dr.srvtcpka = on,
        }
    }

    fn tcp_check(&mut self, kind: Kind, w: &[Word]) {
        let Some(a) = self.need(w, 1, "connect, send, send-binary or expect") else {
            return;
        };
        let step = match a.text.as_str() {
            "connect" => {
                let mut port = None;
                let mut ssl = false;
                let mut i = 2;
                while i < w.len() {
                    match w[i].text.as_str() {
                        "port" => {
                            if let Some(p) = self.need(w, i + 1, "a port") {
                                port = self.num::<u16>(p, "tcp-check connect port");
                            }
                            i += 2;
                        }
                        "ssl" => {
                            ssl = true;
                            i += 1;
                        }
                        _ => {
                            self.unimplemented(&w[i], "tcp-check connect parameter");
                            i += 1;
                        }
                    }
                }
                TcpCheckStep::Connect { port, ssl }
            }
            "send" => {
                let Some(s) = self.need(w, 2, "a string") else {
                    return;
                };
                self.extra(w, 3);
                TcpCheckStep::Send(s.text.as_bytes().to_vec())
            }
            "send-binary" => {
                let Some(s) = self.need(w, 2, "hex digits") else {
                    return;
                };
                let Some(b) = self.hex(s) else { return };
                self.extra(w, 3);
                TcpCheckStep::SendBinary(b)
            }
            "expect" => {
                let mut i = 2;
                let negated = arg(w, 2) == Some("!");
                if negated {
                    i += 1;
                }
                let Some(k) = self.need(w, i, "string, rstring or binary and a pattern") else {
                    return;
                };
                let kind_e = match k.text.as_str() {
                    "string" => ExpectKind::String,
                    "rstring" => ExpectKind::Rstring,
                    "binary" => ExpectKind::Binary,
                    t => {
                        self.d.error(&k.span, format!("unsupported tcp-check expect matcher '{t}': string, rstring or binary expected"));
                        return;
                    }
                };
                let Some(p) = self.need(w, i + 1, "a pattern") else {
                    return;
                };
                let pattern = if kind_e == ExpectKind::Binary {
                    let Some(b) = self.hex(p) else { return };
                    b
                } else {
                    p.text.as_bytes().to_vec()
                };
                self.extra(w, i + 2);
                TcpCheckStep::Expect {
                    negated,
                    kind: kind_e,
                    pattern,
                }
            }
            "comment" | "set-var" | "unset-var" | "send-lf" | "expect-lf" => {
                self.unimplemented(a, "tcp-check action");
                return;
            }
            t => {
                self.d.error(&a.span, format!("unknown tcp-check action '{t}': connect, send, send-binary or expect expected"));
                return;
            }
        };
        self.cur(kind).tcp_checks.push(step);
    }

    /// `http-check send|expect ...` (HAProxy 2.2+ syntax; CFG `http-check`).
    fn http_check(&mut self, kind: Kind, w: &[Word]) {
        const ACTIONS: &[&str] = &[
            "send",
            "expect",
            "disable-on-404",
            "send-state",
            "connect",
            "comment",
            "set-var",
            "unset-var",
        ];
        let Some(a) = self.need(w, 1, "send or expect") else {
            return;
        };
        match a.text.as_str() {
            "expect" => {
                if let Some(e) = self.http_expect(w) {
                    self.cur_http(kind).http_expects.push(e);
                }
            }
            "send" => {
                let Some(send) = self.http_send(w) else {
                    return;
                };
                let dr = self.cur_http(kind);
                if dr.http_send.is_some() {
                    self.d.error(
                        &w[0].span,
                        "only one 'http-check send' per proxy is supported by proxyd",
                    );
                    return;
                }
                dr.http_send = Some(send);
            }
            "disable-on-404" | "send-state" | "connect" | "comment" | "set-var" | "unset-var" => {
                self.unimplemented(a, "http-check action")
            }
            t => {
                let hint = did_you_mean(t, ACTIONS.iter().copied())
                    .map(|c| format!("; did you mean '{c}'?"))
                    .unwrap_or_default();
                self.d.error(
                    &a.span,
                    format!("unknown http-check action '{t}': send or expect expected{hint}"),
                );
            }
        }
    }

    /// The draft `http-check` lines go to, dropping inherited ones at a proxy's first own line.
    fn cur_http(&mut self, kind: Kind) -> &mut Draft {
        let dr = self.cur(kind);
        if kind != Kind::Defaults && !dr.http_own {
            dr.http_expects.clear();
            dr.http_send = None;
            dr.http_own = true;
        }
        dr
    }

    /// `http-check expect [options] [!] status|rstatus|string|rstring <pattern>`.
    fn http_expect(&mut self, w: &[Word]) -> Option<HttpExpect> {
        const MATCHERS: &[&str] = &["status", "rstatus", "string", "rstring", "hdr", "fhdr"];
        let mut i = 2;
        while let Some(
            "min-recv" | "comment" | "ok-status" | "error-status" | "tout-status" | "on-success"
            | "on-error" | "status-code",
        ) = arg(w, i)
        {
            self.unimplemented(&w[i], "http-check expect option");
            i += 2;
        }
        let negated = arg(w, i) == Some("!");
        if negated {
            i += 1;
        }
        let m = self.need(w, i, "status, rstatus, string or rstring and a pattern")?;
        let matcher = match m.text.as_str() {
            "status" | "rstatus" | "string" | "rstring" => m.text.clone(),
            "hdr" | "fhdr" => {
                self.d.error(&m.span, format!("http-check expect matcher '{}' is valid HAProxy but not supported by proxyd (status, rstatus, string, rstring)", m.text));
                return None;
            }
            t => {
                let hint = did_you_mean(t, MATCHERS.iter().copied())
                    .map(|c| format!("; did you mean '{c}'?"))
                    .unwrap_or_default();
                self.d.error(&m.span, format!("unknown http-check expect matcher '{t}': status, rstatus, string or rstring expected{hint}"));
                return None;
            }
        };
        let p = self.need(w, i + 1, "a pattern")?;
        self.extra(w, i + 2);
        let matcher = match matcher.as_str() {
            "status" => HttpMatch::Status(self.status_codes(p)?),
            "rstatus" => HttpMatch::Rstatus(p.text.clone()),
            "string" => HttpMatch::String(p.text.clone()),
            _ => HttpMatch::Rstring(p.text.clone()),
        };
        if matches!(&matcher, HttpMatch::Rstatus(x) | HttpMatch::Rstring(x) | HttpMatch::String(x) if x.is_empty())
        {
            self.d.error(&p.span, "empty http-check expect pattern");
            return None;
        }
        Some(HttpExpect {
            negated,
            matcher,
            span: p.span.clone(),
        })
    }

    /// `200`, `200,302`, `200-399`: a list of codes and inclusive ranges.
    fn status_codes(&mut self, w: &Word) -> Option<Vec<(u16, u16)>> {
        let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=999).contains(c));
        let mut out = Vec::new();
        for part in w.text.split(',') {
            let r = match part.split_once('-') {
                Some((a, b)) => code(a).zip(code(b)).filter(|(a, b)| a <= b),
                None => code(part).map(|c| (c, c)),
            };
            let Some(r) = r else {
                self.d.error(&w.span, format!("invalid HTTP status '{part}' in '{}': three-digit codes or ranges such as 200,301-302 expected", w.text));
                return None;
            };
            out.push(r);
        }
        Some(out)
    }

    /// `http-check send [meth m] [uri u] [ver v] [hdr name value]* [body b] [comment c]`.
    fn http_send(&mut self, w: &[Word]) -> Option<HttpSend> {
        const PARAMS: &[&str] = &["meth", "uri", "ver", "hdr", "body", "comment"];
        let mut send = HttpSend::default();
        let mut ok = true;
        let mut i = 2;
        while i < w.len() {
            let k = w[i].text.as_str();
            let n = if k == "hdr" { 2 } else { 1 };
            if (PARAMS.contains(&k) || k == "uri-lf" || k == "body-lf") && w.len() <= i + n {
                let what = if k == "hdr" {
                    "a name and a value"
                } else {
                    "a value"
                };
                self.d.error(
                    &w[i].span,
                    format!("'http-check send' '{k}' expects {what}"),
                );
                return None;
            }
            let v = w.get(i + 1).map(|x| x.text.clone()).unwrap_or_default();
            match k {
                "meth" => send.method = Some(v),
                "uri" => send.uri = Some(v),
                "ver" => send.version = Some(v),
                "body" => send.body = Some(v),
                "comment" => {}
                "hdr" => {
                    let value = w[i + 2].text.clone();
                    let bad = v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic() && b != b':');
                    if bad || value.contains(['\r', '\n']) {
                        self.d.error(
                            &w[i + 1].span,
                            format!("invalid header '{v}' in 'http-check send'"),
                        );
                        ok = false;
                    }
                    send.headers.push((v, value));
                }
                "uri-lf" | "body-lf" => {
                    self.d.error(
                        &w[i].span,
                        format!("'http-check send {k}' (log-format) is not supported by proxyd; use '{}'", &k[..k.len() - 3]),
                    );
                    ok = false;
                }
                _ => {
                    let hint = did_you_mean(k, PARAMS.iter().copied())
                        .map(|c| format!("; did you mean '{c}'?"))
                        .unwrap_or_default();
                    self.d.error(
                        &w[i].span,
                        format!("unknown 'http-check send' parameter '{k}'{hint}"),
                    );
                    return None;
                }
            }
            i += 1 + n;
        }
        ok.then_some(send)
    }

    fn hex(&mut self, w: &Word) -> Option<Vec<u8>> {
        let t = w.text.as_bytes();
        let ok = t.len() % 2 == 0 && t.iter().all(u8::is_ascii_hexdigit);
        if !ok {
            self.d
                .error(&w.span, format!("invalid hex string '{}'", w.text));
            return None;
        }
        Some(
            t.chunks(2)
                .map(|c| {
                    u8::from_str_radix(std::str::from_utf8(c).unwrap_or("00"), 16).unwrap_or(0)
                })
                .collect(),
        )
    }

    fn stats(&mut self, kind: Kind, w: &[Word]) {
        let Some(a) = self.need(w, 1, "a stats keyword") else {
            return;
        };
        match a.text.as_str() {
            "enable" => self.cur(kind).stats_enable = true,
            "uri" => {
                if let Some(u) = self.need(w, 2, "a URI prefix") {
                    let u = u.text.clone();
                    let dr = self.cur(kind);
                    dr.stats_uri = Some(u);
                    dr.stats_enable = true;
                }
            }
            "refresh" => {
                if let Some(t) = self.need(w, 2, "a time") {
                    let v = self.time(t);
                    let dr = self.cur(kind);
                    dr.stats_refresh = v;
                    dr.stats_enable = true;
                }
            }
            "admin" => {
                // CFG `stats admin`: layer-4 ACLs (`src`, `dst`) and TRUE/LOCALHOST apply.
                if !matches!(w.get(2).map(|t| t.text.as_str()), Some("if" | "unless")) {
                    self.d.error(
                        &a.span,
                        "'stats admin' requires either 'if' or 'unless' followed by a condition",
                    );
                    return;
                }
                if let Some(c) = self.condition(w, 2) {
                    let dr = self.cur(kind);
                    dr.stats_admin = true;
                    dr.stats_admin_when = Some((c, a.span.clone()));
                    dr.stats_enable = true;
                }
            }
            "auth" => {
                let Some(acct) = self.need(w, 2, "a user:password account") else {
                    return;
                };
                // HAProxy takes an account without ':' silently; it could never log in.
                let Some((user, password)) = acct.text.split_once(':') else {
                    self.d.error(
                        &acct.span,
                        format!(
                            "'stats auth' needs a user:password account, got '{}'",
                            acct.text
                        ),
                    );
                    return;
                };
                let auth = StatsAuth {
                    user: user.to_string(),
                    password: password.to_string(),
                };
                let dr = self.cur(kind);
                dr.stats_auth.push(auth);
                dr.stats_enable = true;
            }
            "realm" => {
                if let Some(r) = self.need(w, 2, "a realm name") {
                    let r = r.text.clone();
                    let dr = self.cur(kind);
                    dr.stats_realm = Some(r);
                    dr.stats_enable = true;
                }
            }
            "hide-version" => {
                let dr = self.cur(kind);
                dr.stats_hide_version = true;
                dr.stats_enable = true;
            }
            "scope" | "show-legends" | "show-node" | "show-desc" | "http-request" => {
                self.unimplemented(a, "stats keyword");
            }
            t => self
                .d
                .error(&a.span, format!("unknown stats keyword '{t}'")),
        }
    }

    fn stick_table(&mut self, kind: Kind, w: &[Word]) {
        let name = self.proxy_name(kind);
        let mut key = None;
        let mut size = None;
        let mut table = StickTable {
            name,
            key: StickKey::Ip,
            size: 0,
            expire: None,
            nopurge: false,
            peers: None,
        };
        let mut i = 1;
        while i < w.len() {
            let p = w[i].text.as_str();
            match p {
                "type" => {
                    if let Some(t) = self.need(w, i + 1, "a key type") {
                        key = match t.text.as_str() {
                            "ip" => Some(StickKey::Ip),
                            "ipv6" => Some(StickKey::Ipv6),
                            "integer" | "string" | "binary" => {
                                self.d.error(&t.span, format!("stick-table type '{}' is valid HAProxy but not supported by proxyd (ip or ipv6)", t.text));
                                None
                            }
                            x => {
                                self.d.error(
                                    &t.span,
                                    format!("invalid stick-table type '{x}': ip or ipv6 expected"),
                                );
                                None
                            }
                        };
                    }
                    i += 2;
                    if matches!(arg(w, i), Some("len")) {
                        i += 2;
                    }
                }
                "size" => {
                    if let Some(s) = self.need(w, i + 1, "a size") {
                        size = parse_size(&s.text)
                            .map_err(|e| self.d.error(&s.span, e))
                            .ok();
                    }
                    i += 2;
                }
                "expire" => {
                    if let Some(t) = self.need(w, i + 1, "a time") {
                        table.expire = self.time(t);
                    }
                    i += 2;
                }
                "peers" => {
                    if let Some(t) = self.need(w, i + 1, "a peers section name") {
                        table.peers = Some(t.text.clone());
                    }
                    i += 2;
                }
                "nopurge" => {
                    table.nopurge = true;
                    i += 1;
                }
                "store" | "srvkey" => {
                    self.unimplemented(&w[i], "stick-table parameter");
                    i += 2;
                }
                _ => {
                    let hint = did_you_mean(
                        p,
                        [
                            "type", "size", "expire", "peers", "nopurge", "store", "srvkey",
                        ],
                    )
                    .map(|c| format!("; did you mean '{c}'?"))
                    .unwrap_or_default();
                    self.d.error(
                        &w[i].span,
                        format!("unknown stick-table parameter '{p}'{hint}"),
                    );
                    i += 1;
                }
            }
        }
        if key.is_none() && !w.iter().any(|x| x.text == "type") {
            self.d
                .error(&w[0].span, "'stick-table' needs 'type ip|ipv6'");
        }
        if size.is_none() && !w.iter().any(|x| x.text == "size") {
            self.d.error(&w[0].span, "'stick-table' needs 'size <n>'");
        }
        table.key = key.unwrap_or(StickKey::Ip);
        table.size = size.unwrap_or(0);
        let span = w[0].span.clone();
        let dr = self.cur(kind);
        if dr.stick_table.is_some() {
            self.d.error(&span, "only one 'stick-table' per proxy");
            return;
        }
        dr.stick_table = Some((table, span));
    }

    fn acl(&mut self, kind: Kind, w: &[Word]) {
        let Some(name) = self.need(w, 1, "a name, a criterion and values") else {
            return;
        };
        if !name
            .text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            self.d.error(
                &name.span,
                format!("invalid character in ACL name '{}'", name.text),
            );
        }
        let Some(c) = self.need(w, 2, "a criterion and values") else {
            return;
        };
        let criterion = match c.text.as_str() {
            "src" => AclCriterion::Src,
            "dst" => AclCriterion::Dst,
            "src_port" => AclCriterion::SrcPort,
            "dst_port" => AclCriterion::DstPort,
            t => {
                let hint = did_you_mean(t, ["src", "dst", "src_port", "dst_port"])
                    .map(|c| format!("; did you mean '{c}'?"))
                    .unwrap_or_default();
                self.d.error(
                    &c.span,
                    format!(
                        "ACL criterion '{t}' is not supported (src, dst, src_port, dst_port){hint}"
                    ),
                );
                return;
            }
        };
        let mut patterns = Vec::new();
        let mut i = 3;
        while i < w.len() {
            let t = w[i].text.as_str();
            match t {
                "-n" | "-u" | "-i" | "--" => {}
                "-m" => i += 1,
                "-f" | "-M" => {
                    self.d.error(
                        &w[i].span,
                        format!("ACL flag '{t}' (pattern files) is not supported"),
                    );
                    i += 1;
                }
                _ => {
                    let p = match criterion {
                        AclCriterion::Src | AclCriterion::Dst => parse_net(t),
                        _ => parse_ports(t),
                    };
                    match p {
                        Ok(p) => patterns.push(p),
                        Err(e) => self.d.error(&w[i].span, e),
                    }
                }
            }
            i += 1;
        }
        if patterns.is_empty() {
            self.d
                .error(&w[0].span, format!("acl '{}' has no pattern", name.text));
        }
        let acl = Acl {
            name: name.text.clone(),
            criterion,
            patterns,
            span: w[0].span.clone(),
        };
        self.cur(kind).acls.push(acl);
    }

    /// Reads `[if|unless cond]` from `w[i..]`.
    fn condition(&mut self, w: &[Word], i: usize) -> Option<Condition> {
        let first = w.get(i)?;
        let unless = match first.text.as_str() {
            "if" => false,
            "unless" => true,
            t => {
                self.d
                    .error(&first.span, format!("'if' or 'unless' expected, got '{t}'"));
                return None;
            }
        };
        let mut any_of = vec![Vec::new()];
        let mut j = i + 1;
        while j < w.len() {
            let mut t = w[j].text.as_str();
            match t {
                "or" | "||" => any_of.push(Vec::new()),
                "{" => {
                    self.d.error(
                        &w[j].span,
                        "anonymous ACLs ('{ ... }') are not supported; declare a named acl",
                    );
                    return None;
                }
                _ => {
                    let mut negated = false;
                    if t == "!" {
                        negated = true;
                        j += 1;
                        let Some(n) = w.get(j) else {
                            self.d.error(&w[j - 1].span, "ACL name expected after '!'");
                            return None;
                        };
                        t = n.text.as_str();
                    } else if let Some(rest) = t.strip_prefix('!') {
                        negated = true;
                        t = rest;
                    }
                    let acl = match t {
                        "TRUE" => AclRef::True,
                        "FALSE" => AclRef::False,
                        "LOCALHOST" => AclRef::Localhost,
                        n => AclRef::Named(n.to_string()),
                    };
                    any_of
                        .last_mut()
                        .expect("never empty")
                        .push(AclTerm { negated, acl });
                }
            }
            j += 1;
        }
        if any_of.iter().any(Vec::is_empty) {
            self.d.error(
                &first.span,
                format!("empty condition after '{}'", first.text),
            );
            return None;
        }
        Some(Condition { unless, any_of })
    }

    fn server(&mut self, kind: Kind, w: &[Word]) {
        let is_default = w[0].text == "default-server";
        let mut i = 1;
        let mut head = None;
        if !is_default {
            let Some(name) = self.need(w, 1, "a name and an address") else {
                return;
            };
            let Some(addr) = self.need(w, 2, "an address") else {
                return;
            };
            match parse_server_addr(&addr.text) {
                Ok((a, p)) => head = Some((name.text.clone(), a, p)),
                Err(e) => self.d.error(&addr.span, e),
            }
            i = 3;
        }
        let who = if is_default {
            "default-server".to_string()
        } else {
            format!("server {}/{}", self.proxy_name(kind), w[1].text)
        };
        let mut p = ServerParams::default();
        while i < w.len() {
            let k = w[i].text.as_str();
            let val = w.get(i + 1);
            let take = |s: &mut Self, what: &str| -> Option<Word> {
                if val.is_none() {
                    s.d.error(&w[i].span, format!("'{who}': '{k}' expects {what}"));
                }
                val.cloned()
            };
            let mut used = 1;
            match k {
                "check" => p.check = Some(true),
                "no-check" => p.check = Some(false),
                "backup" => p.backup = Some(true),
                "disabled" => p.disabled = Some(true),
                "enabled" => p.disabled = Some(false),
                "check-ssl" => p.check_ssl = Some(true),
                "inter" | "fastinter" | "downinter" => {
                    used = 2;
                    if let Some(v) = take(self, "a time") {
                        let t = self.time(&v);
                        if t == Some(Duration::ZERO) {
                            self.d
                                .error(&v.span, format!("'{who}': invalid value 0 for '{k}'"));
                        }
                        match k {
                            "inter" => p.inter = t,
                            "fastinter" => p.fastinter = t,
                            _ => p.downinter = t,
                        }
                    }
                }
                "rise" | "fall" | "weight" | "maxconn" | "maxqueue" | "id" => {
                    used = 2;
                    if let Some(v) = take(self, "a number") {
                        let n = self.num::<u32>(&v, &format!("'{k}' of '{who}'"));
                        let bad = match (k, n) {
                            ("rise" | "fall" | "id", Some(0)) => true,
                            ("weight", Some(x)) => x > MAX_WEIGHT,
                            _ => false,
                        };
                        if bad {
                            let n = n.unwrap_or(0);
                            let range = if k == "weight" {
                                "0 to 256"
                            } else {
                                "at least 1"
                            };
                            self.d.error(
                                &v.span,
                                format!("'{who}': invalid value {n} for '{k}' ({range})"),
                            );
                        }
                        match k {
                            "rise" => p.rise = n,
                            "fall" => p.fall = n,
                            "weight" => p.weight = n,
                            "maxconn" => p.maxconn = n,
                            "maxqueue" => p.maxqueue = n,
                            _ => p.id = n,
                        }
                    }
                }
                "port" => {
                    used = 2;
                    if let Some(v) = take(self, "a port") {
                        p.check_port = self.num::<u16>(&v, &format!("'port' of '{who}'"));
                    }
                }
                "addr" => {
                    used = 2;
                    if let Some(v) = take(self, "an address") {
                        p.check_addr = v
                            .text
                            .parse()
                            .map_err(|_| {
                                self.d.error(
                                    &v.span,
                                    format!("'{who}': invalid check address '{}'", v.text),
                                )
                            })
                            .ok();
                    }
                }
                "ca-file" | "check-sni" | "verifyhost" => {
                    used = 2;
                    let what = if k == "ca-file" {
                        "a path"
                    } else {
                        "a host name"
                    };
                    if let Some(v) = take(self, what) {
                        if v.text.is_empty() {
                            self.d
                                .error(&v.span, format!("'{who}': '{k}' expects {what}"));
                        } else if k == "ca-file" {
                            p.ca_file = Some(CaFile {
                                path: PathBuf::from(&v.text),
                                span: v.span.clone(),
                            });
                        } else if k == "check-sni" {
                            p.check_sni = Some(v.text.clone());
                        } else {
                            p.verifyhost = Some(v.text.clone());
                        }
                    }
                }
                "verify" => {
                    used = 2;
                    if let Some(v) = take(self, "none or required") {
                        p.verify_span = Some(w[i].span.clone());
                        p.verify = match v.text.as_str() {
                            "none" => Some(Verify::None),
                            "required" => Some(Verify::Required),
                            t => {
                                self.d.error(
                                    &v.span,
                                    format!(
                                        "'{who}': invalid verify '{t}': none or required expected"
                                    ),
                                );
                                None
                            }
                        };
                    }
                }
                "on-marked-down" => {
                    used = 2;
                    if let Some(v) = take(self, "shutdown-sessions") {
                        if v.text == "shutdown-sessions" {
                            p.shutdown_sessions = Some(true);
                        } else {
                            self.d.error(&v.span, format!("'{who}': invalid on-marked-down '{}': shutdown-sessions expected", v.text));
                        }
                    }
                }
                _ => {
                    if let Some(&(_, n)) = SERVER_UNIMPL.iter().find(|(x, _)| *x == k) {
                        self.d.warning(&w[i].span, format!("'{who}': server parameter '{k}' is valid HAProxy but not implemented by proxyd; ignored"));
                        used = 1 + n;
                    } else {
                        let hint = did_you_mean(k, SERVER_KW.iter().copied())
                            .map(|c| format!("; did you mean '{c}'?"))
                            .unwrap_or_default();
                        self.d
                            .error(&w[i].span, format!("'{who}': unknown keyword '{k}'{hint}"));
                    }
                }
            }
            i += used;
        }
        let dr = self.cur(kind);
        match head {
            None if is_default => dr.default_server = dr.default_server.overlay(&p),
            None => {}
            Some((name, addr, port)) => dr.servers.push(DraftServer {
                name,
                addr,
                port,
                params: p,
                span: w[0].span.clone(),
            }),
        }
    }

    fn parse_bind_addrs(&mut self, w: &Word) -> Vec<Bind> {
        let mut out = Vec::new();
        for part in w.text.split(',') {
            match parse_bind_one(part) {
                Ok((ip, lo, hi)) => {
                    for port in lo..=hi {
                        out.push(Bind {
                            addr: SocketAddr::new(ip, port),
                            transparent: false,
                            span: w.span.clone(),
                        });
                    }
                }
                Err(e) => self.d.error(&w.span, e),
            }
        }
        out
    }

    fn finish(mut self) -> ProxyConfig {
        let mut cfg = ProxyConfig {
            global: std::mem::take(&mut self.global),
            frontends: Vec::new(),
            backends: Vec::new(),
            stats: Vec::new(),
            peers: Vec::new(),
        };
        cfg.peers = self.finish_peers();
        let proxies = std::mem::take(&mut self.proxies);
        // Duplicate names: two proxies clash when they share a capability (CFG §4).
        for (i, p) in proxies.iter().enumerate() {
            if p.name.is_empty() {
                continue;
            }
            if let Some(q) = proxies[..i].iter().find(|q| {
                q.name == p.name
                    && ((q.kind.has_frontend() && p.kind.has_frontend())
                        || (q.kind.has_backend() && p.kind.has_backend()))
            }) {
                self.d.error(
                    &p.span,
                    format!(
                        "proxy '{}' has the same name as {} '{}' declared at {}",
                        p.name,
                        q.kind.word(),
                        q.name,
                        q.span
                    ),
                );
            }
        }
        let backend_names: Vec<&str> = proxies
            .iter()
            .filter(|p| p.kind.has_backend() && p.draft.mode != Some(Mode::Http))
            .map(|p| p.name.as_str())
            .collect();
        // A table declared in a pure frontend only serves `track-sc` in HAProxy, which proxyd
        // does not implement: it cannot be the target of `stick on ... table`.
        for p in proxies.iter().filter(|p| !p.kind.has_backend()) {
            if let Some((_, span)) = &p.draft.stick_table {
                self.d.warning(
                    span,
                    format!(
                        "stick-table in frontend '{}' is ignored (no track-sc support); declare it in a backend or listen section",
                        p.name
                    ),
                );
            }
        }
        let tables: Vec<&str> = proxies
            .iter()
            .filter(|p| p.kind.has_backend() && p.draft.stick_table.is_some())
            .map(|p| p.name.as_str())
            .collect();
        let hint = |word: &str, cands: &[&str]| {
            did_you_mean(word, cands.iter().copied())
                .map(|c| format!("; did you mean '{c}'?"))
                .unwrap_or_default()
        };
        // A table names an existing `peers` section (HAProxy: "unable to find sync peers").
        let sections: Vec<&str> = cfg.peers.iter().map(|s| s.name.as_str()).collect();
        for p in proxies.iter().filter(|p| p.kind.has_backend()) {
            if let Some((
                StickTable {
                    peers: Some(ps), ..
                },
                span,
            )) = &p.draft.stick_table
                && !sections.contains(&ps.as_str())
            {
                self.d.error(
                    span,
                    format!(
                        "{} '{}': stick-table refers to unknown peers section '{ps}'{}",
                        p.kind.word(),
                        p.name,
                        hint(ps, &sections)
                    ),
                );
            }
        }
        for p in &proxies {
            let dr = &p.draft;
            if dr.mode == Some(Mode::Http) {
                let is_stats = p.kind == Kind::Listen && dr.stats_enable;
                if !is_stats {
                    let span = dr.mode_span.clone().unwrap_or_else(|| p.span.clone());
                    self.d.error(
                        &span,
                        format!("{} '{}': 'mode http' is only supported for a stats listener ('listen' with 'stats enable') until L7 exists; use 'mode tcp'", p.kind.word(), p.name),
                    );
                    continue;
                }
                if dr.binds.is_empty() {
                    self.d
                        .error(&p.span, format!("listen '{}' has no 'bind' line", p.name));
                }
                if let Some((c, span)) = &dr.stats_admin_when {
                    let names: Vec<&str> = dr.acls.iter().map(|a| a.name.as_str()).collect();
                    for t in c.any_of.iter().flatten() {
                        if let AclRef::Named(n) = &t.acl {
                            if !names.contains(&n.as_str()) {
                                self.d.error(
                                    span,
                                    format!(
                                        "listen '{}': 'stats admin': unknown ACL '{n}'{}",
                                        p.name,
                                        hint(n, &names)
                                    ),
                                );
                            }
                        }
                    }
                }
                cfg.stats.push(StatsListener {
                    name: p.name.clone(),
                    binds: dr.binds.clone(),
                    uri: dr
                        .stats_uri
                        .clone()
                        .unwrap_or_else(|| "/haproxy?stats".into()),
                    refresh: dr.stats_refresh,
                    admin: dr.stats_admin,
                    admin_when: dr.stats_admin_when.as_ref().map(|(c, _)| c.clone()),
                    acls: dr.acls.clone(),
                    auth: dr.stats_auth.clone(),
                    realm: dr.stats_realm.clone(),
                    hide_version: dr.stats_hide_version,
                    span: p.span.clone(),
                });
                continue;
            }
            if dr.stats_enable {
                self.d.warning(
                    &p.span,
                    format!(
                        "{} '{}': 'stats' needs 'mode http'; ignored",
                        p.kind.word(),
                        p.name
                    ),
                );
            }
            let acl_names: Vec<&str> = dr.acls.iter().map(|a| a.name.as_str()).collect();
            let check_cond = |d: &mut Diagnostics, c: &Option<Condition>, span: &Span| {
                for t in c.iter().flat_map(|c| c.any_of.iter().flatten()) {
                    if let AclRef::Named(n) = &t.acl {
                        if !acl_names.contains(&n.as_str()) {
                            d.error(
                                span,
                                format!(
                                    "{} '{}': unknown ACL '{n}'{}",
                                    p.kind.word(),
                                    p.name,
                                    hint(n, &acl_names)
                                ),
                            );
                        }
                    }
                }
            };
            if p.kind.has_frontend() {
                if dr.binds.is_empty() {
                    self.d.error(
                        &p.span,
                        format!("{} '{}' has no 'bind' line", p.kind.word(), p.name),
                    );
                }
                for r in &dr.tcp_request {
                    check_cond(self.d, &r.condition, &r.span);
                }
                for u in &dr.use_backends {
                    check_cond(self.d, &u.condition, &u.span);
                    if !backend_names.contains(&u.backend.as_str()) {
                        self.d.error(
                            &u.span,
                            format!(
                                "{} '{}': unable to find backend '{}'{}",
                                p.kind.word(),
                                p.name,
                                u.backend,
                                hint(&u.backend, &backend_names)
                            ),
                        );
                    }
                }
                let mut default_backend = None;
                if let Some((b, span)) = &dr.default_backend {
                    if !backend_names.contains(&b.as_str()) {
                        self.d.error(
                            span,
                            format!(
                                "{} '{}': unable to find default_backend '{b}'{}",
                                p.kind.word(),
                                p.name,
                                hint(b, &backend_names)
                            ),
                        );
                    }
                    default_backend = Some(b.clone());
                } else if p.kind == Kind::Listen {
                    default_backend = Some(p.name.clone());
                } else if dr.use_backends.is_empty() {
                    self.d.warning(&p.span, format!("frontend '{}' has no 'default_backend' and no 'use_backend'; it will refuse every connection", p.name));
                }
                let mut missing = Vec::new();
                if dr.timeout_client.is_none() {
                    missing.push("client");
                }
                if p.kind == Kind::Listen {
                    if dr.timeout_connect.is_none() {
                        missing.push("connect");
                    }
                    if dr.timeout_server.is_none() {
                        missing.push("server");
                    }
                }
                if !missing.is_empty() {
                    self.d.warning(
                        &p.span,
                        format!(
                            "missing timeouts for {} '{}': {}; idle connections never expire",
                            p.kind.word(),
                            p.name,
                            missing.join(", ")
                        ),
                    );
                }
                cfg.frontends.push(Frontend {
                    name: p.name.clone(),
                    span: p.span.clone(),
                    binds: dr.binds.clone(),
                    maxconn: dr.maxconn,
                    timeout_client: dr.timeout_client,
                    acls: dr.acls.clone(),
                    tcp_request: dr.tcp_request.clone(),
                    use_backends: dr.use_backends.clone(),
                    default_backend,
                    log: dr.log,
                    logs: dr.logs.clone(),
                    tcpka: dr.clitcpka,
                });
            }
            if p.kind.has_backend() {
                let mut stick_rules = Vec::new();
                for (t, span) in &dr.stick_rules {
                    let table = t.clone().unwrap_or_else(|| p.name.clone());
                    if !tables.contains(&table.as_str()) {
                        self.d.error(
                            span,
                            format!(
                                "{} '{}': unable to find stick-table '{table}'{}",
                                p.kind.word(),
                                p.name,
                                hint(&table, &tables)
                            ),
                        );
                    }
                    stick_rules.push(StickRule {
                        table,
                        span: span.clone(),
                    });
                }
                let mut servers = Vec::new();
                let explicit: BTreeSet<u32> =
                    dr.servers.iter().filter_map(|s| s.params.id).collect();
                let mut seen: BTreeMap<&str, &Span> = BTreeMap::new();
                let mut seen_ids: BTreeMap<u32, &str> = BTreeMap::new();
                let mut next_id = 1;
                for s in &dr.servers {
                    if let Some(prev) = seen.insert(&s.name, &s.span) {
                        self.d.error(
                            &s.span,
                            format!(
                                "{} '{}': another server named '{}' was already defined at {prev}",
                                p.kind.word(),
                                p.name,
                                s.name
                            ),
                        );
                    }
                    let sp = dr.default_server.overlay(&s.params);
                    let id = match sp.id {
                        Some(id) => id,
                        None => {
                            while explicit.contains(&next_id) {
                                next_id += 1;
                            }
                            next_id += 1;
                            next_id - 1
                        }
                    };
                    if let Some(other) = seen_ids.insert(id, &s.name) {
                        self.d.error(
                            &s.span,
                            format!(
                                "{} '{}': server '{}' has the same id {id} as server '{other}'",
                                p.kind.word(),
                                p.name,
                                s.name
                            ),
                        );
                    }
                    let inter = sp.inter.unwrap_or(DEFAULT_INTER);
                    let check_ssl = sp.check_ssl.unwrap_or(false);
                    // HAProxy (ssl_sock_prepare_srv_ctx): a server using TLS verifies by
                    // default (`ssl-server-verify required`) and then needs a CA file.
                    let verify = check_ssl
                        .then(|| sp.verify.unwrap_or(cfg.global.ssl_server_verify))
                        .or(sp.verify);
                    if check_ssl && verify == Some(Verify::Required) && sp.ca_file.is_none() {
                        let at = sp.verify_span.as_ref().unwrap_or(&s.span);
                        let msg = if cfg.global.ssl_server_verify == Verify::Required {
                            "verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default."
                        } else {
                            "verify is enabled but no CA file specified."
                        };
                        self.d
                            .error(at, format!("'server {}/{}': {msg}", p.name, s.name));
                    }
                    servers.push(Server {
                        name: s.name.clone(),
                        id,
                        addr: s.addr,
                        port: s.port,
                        check: sp.check.unwrap_or(false),
                        inter,
                        fastinter: sp.fastinter.unwrap_or(inter),
                        downinter: sp.downinter.unwrap_or(inter),
                        rise: sp.rise.unwrap_or(DEFAULT_RISE),
                        fall: sp.fall.unwrap_or(DEFAULT_FALL),
                        weight: sp.weight.unwrap_or(DEFAULT_WEIGHT),
                        backup: sp.backup.unwrap_or(false),
                        maxconn: sp.maxconn.unwrap_or(0),
                        maxqueue: sp.maxqueue.unwrap_or(0),
                        disabled: sp.disabled.unwrap_or(false),
                        check_port: sp.check_port,
                        check_addr: sp.check_addr,
                        check_ssl,
                        verify,
                        ca_file: sp.ca_file.clone(),
                        check_sni: sp.check_sni.clone(),
                        verifyhost: sp.verifyhost.clone(),
                        shutdown_sessions_on_down: sp.shutdown_sessions.unwrap_or(false),
                        span: s.span.clone(),
                    });
                }
                if p.kind == Kind::Backend && !servers.is_empty() {
                    let missing: Vec<&str> = [
                        ("connect", dr.timeout_connect.is_none()),
                        ("server", dr.timeout_server.is_none()),
                    ]
                    .iter()
                    .filter(|(_, m)| *m)
                    .map(|(n, _)| *n)
                    .collect();
                    if !missing.is_empty() {
                        self.d.warning(
                            &p.span,
                            format!(
                                "missing timeouts for backend '{}': {}; idle connections never expire",
                                p.name,
                                missing.join(", ")
                            ),
                        );
                    }
                }
                if servers.is_empty() && dr.stick_table.is_none() {
                    self.d.warning(
                        &p.span,
                        format!("{} '{}' has no server", p.kind.word(), p.name),
                    );
                }
                if servers
                    .iter()
                    .any(|s| s.port.is_none() && s.check && s.check_port.is_none())
                {
                    self.d.error(
                        &p.span,
                        format!(
                            "{} '{}': a server without a port needs 'port <n>' to be checked",
                            p.kind.word(),
                            p.name
                        ),
                    );
                }
                if dr.balance == Some(Balance::First) && servers.iter().any(|s| s.maxconn == 0) {
                    self.d.warning(
                        &p.span,
                        format!(
                            "{} '{}': 'balance first' needs 'maxconn' on every server",
                            p.kind.word(),
                            p.name
                        ),
                    );
                }
                let check = dr.check.clone().unwrap_or_default();
                if !dr.tcp_checks.is_empty() && !matches!(check, HealthCheck::TcpCheck(_)) {
                    self.d.warning(
                        &p.span,
                        format!(
                            "{} '{}': 'tcp-check' rules without 'option tcp-check' are ignored",
                            p.kind.word(),
                            p.name
                        ),
                    );
                }
                let has_http_rules = !dr.http_expects.is_empty() || dr.http_send.is_some();
                if has_http_rules && !matches!(check, HealthCheck::Http { .. }) {
                    self.d.warning(
                        &p.span,
                        format!(
                            "{} '{}': 'http-check' rules without 'option httpchk' are ignored",
                            p.kind.word(),
                            p.name
                        ),
                    );
                }
                let health_check = match check {
                    HealthCheck::TcpCheck(_) => HealthCheck::TcpCheck(dr.tcp_checks.clone()),
                    HealthCheck::Http {
                        method,
                        uri,
                        version,
                        ..
                    } => {
                        // CFG `http-check send`: its meth/uri/ver override `option httpchk`'s.
                        let send = dr.http_send.clone().unwrap_or_default();
                        HealthCheck::Http {
                            method: send.method.unwrap_or(method),
                            uri: send.uri.unwrap_or(uri),
                            version: send.version.unwrap_or(version),
                            headers: send.headers,
                            body: send.body.unwrap_or_default(),
                            expect: dr.http_expects.clone(),
                        }
                    }
                    c => c,
                };
                cfg.backends.push(Backend {
                    name: p.name.clone(),
                    span: p.span.clone(),
                    balance: dr.balance.unwrap_or_default(),
                    hash_type: dr.hash_type.unwrap_or_default(),
                    servers,
                    stick_table: dr.stick_table.as_ref().map(|(t, _)| t.clone()),
                    stick_rules,
                    timeout_connect: dr.timeout_connect,
                    timeout_server: dr.timeout_server,
                    timeout_check: dr.timeout_check,
                    timeout_queue: dr.timeout_queue,
                    retries: dr.retries.unwrap_or(DEFAULT_RETRIES),
                    redispatch: dr.redispatch,
                    allbackups: dr.allbackups,
                    tcpka: dr.srvtcpka,
                    health_check,
                    log: dr.log,
                });
            }
        }
        cfg
    }
}

impl Parser<'_> {
    fn peers_start(&mut self, w: &[Word]) {
        let name = match w.get(1) {
            Some(n) => n.text.clone(),
            None => {
                self.d.error(&w[0].span, "'peers' needs a name");
                String::new()
            }
        };
        self.extra(w, 2);
        if !name.is_empty()
            && let Some(prev) = self.peers.iter().find(|p| p.name == name)
        {
            self.d.error(
                &w[0].span,
                format!(
                    "peers section '{name}' has the same name as another peers section declared at {}",
                    prev.span
                ),
            );
        }
        self.peers.push(DraftPeers {
            name,
            span: w[0].span.clone(),
            bind: None,
            peers: Vec::new(),
            disabled: false,
        });
    }

    /// A peer address: `ip:port` (IPv6 in brackets), a port required.
    fn peer_addr(&mut self, w: &Word) -> Option<SocketAddr> {
        match parse_server_addr(&w.text) {
            Ok((ip, Some(port))) => Some(SocketAddr::new(ip, port)),
            Ok((_, None)) => {
                self.d.error(
                    &w.span,
                    format!("peer address '{}' needs a port ('addr:port')", w.text),
                );
                None
            }
            Err(e) => {
                self.d.error(&w.span, e);
                None
            }
        }
    }

    fn peers_kw(&mut self, w: &[Word]) {
        let kw = w[0].text.as_str();
        let mut add = None;
        match kw {
            "peer" => {
                if let Some(n) = self.need(w, 1, "a peer name and an address")
                    && let Some(a) = self.need(w, 2, "an address (addr:port)")
                {
                    add = Some((n.text.clone(), self.peer_addr(a), true));
                }
                self.extra(w, 3);
            }
            "server" => {
                if let Some(n) = self.need(w, 1, "a peer name") {
                    let addr = w.get(2).map(|a| self.peer_addr(a));
                    match addr {
                        Some(a) => add = Some((n.text.clone(), a, true)),
                        None => add = Some((n.text.clone(), None, false)),
                    }
                }
                self.extra(w, 3);
            }
            "bind" => {
                if let Some(a) = self.need(w, 1, "an address (addr:port)") {
                    let addr = match parse_bind_one(&a.text) {
                        Ok((ip, lo, hi)) if lo == hi => Some(SocketAddr::new(ip, lo)),
                        Ok(_) => {
                            self.d.error(
                                &a.span,
                                format!("peers 'bind' takes one port, not a range: '{}'", a.text),
                            );
                            None
                        }
                        Err(e) => {
                            self.d.error(&a.span, e);
                            None
                        }
                    };
                    if let Some(d) = self.peers.last_mut() {
                        if let Some((_, prev)) = &d.bind {
                            let msg = format!("only one 'bind' per peers section (the first is at {prev})");
                            self.d.error(&w[0].span, msg);
                        } else if let Some(addr) = addr {
                            d.bind = Some((addr, w[0].span.clone()));
                        }
                    }
                }
                self.extra(w, 2);
            }
            "disabled" | "enabled" => {
                if let Some(d) = self.peers.last_mut() {
                    d.disabled = kw == "disabled";
                }
                self.extra(w, 1);
            }
            "table" => self.d.error(
                &w[0].span,
                "'table' in a peers section is not supported by proxyd; declare the stick-table in a backend with 'peers <section>'",
            ),
            "default-server" | "default-bind" | "log" => {
                self.unimplemented(&w[0], "peers keyword");
            }
            _ => self.unknown(
                &w[0],
                "peers",
                &["peer", "server", "bind", "disabled", "enabled"],
            ),
        }
        let Some((name, addr, addressed)) = add else {
            return;
        };
        // The name's position: in YAML, `peer:` is one key for every peer.
        let span = w.get(1).map_or(&w[0].span, |n| &n.span).clone();
        let Some(d) = self.peers.last_mut() else {
            return;
        };
        if let Some((_, _, prev)) = d.peers.iter().find(|(n, _, _)| *n == name) {
            let msg = format!(
                "peers section '{}': another peer named '{name}' was already defined at {prev}",
                d.name
            );
            self.d.error(&span, msg);
            return;
        }
        // An address that did not parse was reported; keep the peer out of the section.
        if addressed && addr.is_none() {
            return;
        }
        d.peers.push((name, addr, span));
    }

    fn finish_peers(&mut self) -> Vec<PeersSection> {
        let mut out = Vec::new();
        for d in std::mem::take(&mut self.peers) {
            let unaddressed: Vec<&(String, Option<SocketAddr>, Span)> =
                d.peers.iter().filter(|(_, a, _)| a.is_none()).collect();
            for (n, _, span) in unaddressed.iter().skip(1) {
                self.d.error(
                    span,
                    format!("peers section '{}': peer '{n}' has no address; only the local peer may omit it (it listens on 'bind')", d.name),
                );
            }
            match (&d.bind, unaddressed.first()) {
                (None, Some((n, _, span))) => self.d.error(
                    span,
                    format!("peers section '{}': peer '{n}' has no address and the section has no 'bind ADDR:PORT'", d.name),
                ),
                (Some((_, span)), None) => self.d.error(
                    span,
                    format!("peers section '{}': 'bind' is the local peer's address, but no 'server NAME' line without an address names the local peer", d.name),
                ),
                _ => {}
            }
            if d.peers.is_empty() {
                self.d
                    .error(&d.span, format!("peers section '{}' has no peer", d.name));
            }
            let bind = d.bind.as_ref().map(|(a, _)| *a);
            out.push(PeersSection {
                name: d.name,
                peers: d
                    .peers
                    .into_iter()
                    .filter_map(|(name, addr, span)| {
                        Some(Peer {
                            name,
                            addr: addr.or(bind)?,
                            span,
                        })
                    })
                    .collect(),
                disabled: d.disabled,
                span: d.span,
            });
        }
        out
    }
}

fn parse_bind_one(s: &str) -> Result<(IpAddr, u16, u16), String> {
    let t = s
        .strip_prefix("ipv4@")
        .or_else(|| s.strip_prefix("ipv6@"))
        .unwrap_or(s);
    if t.starts_with('/') || t.contains('@') {
        return Err(format!(
            "bind address '{s}': only IPv4/IPv6 addresses are supported (no UNIX sockets or fd@)"
        ));
    }
    let Some((host, ports)) = t.rsplit_once(':') else {
        return Err(format!(
            "bind address '{s}': a port is required ('addr:port')"
        ));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = match host {
        "" | "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        h => h
            .parse()
            .map_err(|_| format!("bind address '{s}': invalid IP address '{h}'"))?,
    };
    let bad = || format!("bind address '{s}': invalid port or port range '{ports}'");
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if lo == 0 || hi < lo {
        return Err(bad());
    }
    Ok((ip, lo, hi))
}

fn parse_server_addr(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!(
            "invalid server address '{s}': an IP address expected (host names are not resolved)"
        ));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = host.parse().map_err(|_| {
        format!(
            "invalid server address '{s}': an IP address expected (host names are not resolved)"
        )
    })?;
    if port.is_empty() {
        return Ok((ip, None));
    }
    if port.starts_with('+') || port.starts_with('-') {
        return Err(format!(
            "server address '{s}': port offsets are not supported"
        ));
    }
    let p: u16 = port
        .parse()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("server address '{s}': invalid port '{port}'"))?;
    Ok((ip, Some(p)))
}

fn parse_net(s: &str) -> Result<AclPattern, String> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = a
        .parse()
        .map_err(|_| format!("invalid address or network '{s}'"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => max,
        Some(l) => {
            if let Ok(mask) = l.parse::<Ipv4Addr>() {
                let bits = u32::from(mask);
                if bits.leading_ones() + bits.trailing_zeros() != 32 || !ip.is_ipv4() {
                    return Err(format!("invalid netmask in '{s}'"));
                }
                u8::try_from(bits.leading_ones()).unwrap_or(32)
            } else {
                l.parse::<u8>()
                    .ok()
                    .filter(|&p| p <= max)
                    .ok_or_else(|| format!("invalid prefix length in '{s}'"))?
            }
        }
    };
    let addr = match ip {
        IpAddr::V4(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4((u32::from(v) & m).into())
        }
        IpAddr::V6(v) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6((u128::from(v) & m).into())
        }
    };
    Ok(AclPattern::Net { addr, prefix })
}

fn parse_ports(s: &str) -> Result<AclPattern, String> {
    let bad = || format!("invalid port or port range '{s}'");
    let (lo, hi) = match s.split_once(':').or_else(|| s.split_once('-')) {
        Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
        None => {
            let p = s.parse().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok(AclPattern::Ports { lo, hi })
}

//! The validated domain model of proxyd's configuration, whichever dialect it came from.
//!
//! Owns: the types the proxy runtime consumes (durations, enums, socket addresses, defaults
//! applied, `defaults` sections already folded into each proxy, cross-references checked). A
//! `listen` section yields one [`Frontend`] and one [`Backend`] of the same name. Nothing here
//! parses text; the front end is [`super::haproxy`]. Defaults are HAProxy 2.6's (reference §2.4).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::diag::{Diagnostics, Span};

/// Default health-check interval (`inter`), HAProxy's 2000 ms.
pub const DEFAULT_INTER: Duration = Duration::from_millis(2000);
/// Default consecutive successes to go UP (`rise`).
pub const DEFAULT_RISE: u32 = 2;
/// Default consecutive failures to go DOWN (`fall`).
pub const DEFAULT_FALL: u32 = 3;
/// Default server weight.
pub const DEFAULT_WEIGHT: u32 = 1;
/// Largest server weight HAProxy accepts.
pub const MAX_WEIGHT: u32 = 256;
/// Default connect retries (`retries`).
pub const DEFAULT_RETRIES: u32 = 3;
/// Default SMTP check greeting (`option smtpchk` without arguments).
pub const DEFAULT_SMTPCHK_DOMAIN: &str = "localhost";

/// The whole proxyd configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// `global` section.
    pub global: Global,
    /// Frontends (and the listening half of `listen` sections), in file order.
    pub frontends: Vec<Frontend>,
    /// Backends (and the server half of `listen` sections), in file order.
    pub backends: Vec<Backend>,
    /// `listen` sections in `mode http` with `stats enable` (the only HTTP proxies accepted).
    pub stats: Vec<StatsListener>,
    /// `peers` sections (stick-table replication), in file order.
    pub peers: Vec<PeersSection>,
}

impl ProxyConfig {
    /// The backend named `name`.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// The frontend named `name`.
    pub fn frontend(&self, name: &str) -> Option<&Frontend> {
        self.frontends.iter().find(|f| f.name == name)
    }

    /// The `peers` section named `name`.
    pub fn peers_section(&self, name: &str) -> Option<&PeersSection> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// Checks that every enabled `peers` section has a peer named `local` (the host name,
    /// `-L NAME` or `localpeer`): an error for each one that does not. HAProxy drops such a
    /// section with a warning, silently turning replication off (reference §1.5); proxyd refuses.
    pub fn check_local_peer(&self, local: &str, d: &mut Diagnostics) {
        for s in self.peers.iter().filter(|s| !s.disabled) {
            if s.local(local).is_none() {
                let names: Vec<&str> = s.peers.iter().map(|p| p.name.as_str()).collect();
                d.error(
                    &s.span,
                    format!(
                        "peers section '{}' has no peer named '{local}', the local peer name (the host name unless set with -L NAME or 'localpeer'); its peers are: {}",
                        s.name,
                        names.join(", ")
                    ),
                );
            }
        }
    }
}

/// `global` section (process settings).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Global {
    /// `maxconn`: process-wide concurrent connection limit.
    pub maxconn: Option<u32>,
    /// `pidfile`.
    pub pidfile: Option<PathBuf>,
    /// `log` targets.
    pub logs: Vec<LogTarget>,
    /// `stats socket` lines.
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout`.
    pub stats_timeout: Option<Duration>,
    /// `user`.
    pub user: Option<String>,
    /// `group`.
    pub group: Option<String>,
    /// `daemon`: detach unless run with `-db`.
    pub daemon: bool,
    /// `nbthread`.
    pub nbthread: Option<u32>,
    /// `ssl-server-verify none|required`: the `verify` of servers that do not set one
    /// (HAProxy's default is `required`).
    pub ssl_server_verify: Verify,
    /// `localpeer <name>`: the local peer name when proxyd runs without `-L` (else the host name).
    pub localpeer: Option<String>,
}

/// One `log <addr> [len n] [format f] <facility> [max [min]]` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// Address as written (`127.0.0.1:514`, `/dev/log`, `stdout`, …).
    pub address: String,
    /// Syslog facility (`local0`, …).
    pub facility: String,
    /// Highest level sent (`max`), if given.
    pub level: Option<String>,
    /// Lowest level a message is raised to (`min`), if given.
    pub min_level: Option<String>,
}

/// One `stats socket <path> [mode m] [level l] [expose-fd listeners]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    /// Path or `addr:port`.
    pub path: String,
    /// `mode` (octal permissions).
    pub mode: Option<u32>,
    /// `level` (`user`, `operator`, `admin`).
    pub level: Option<String>,
    /// `expose-fd listeners`.
    pub expose_fd_listeners: bool,
}

/// Proxy mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Layer 4 relay.
    #[default]
    Tcp,
    /// HTTP: accepted only for a stats listener until L7 exists.
    Http,
}

/// Logging options shared by frontends and backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogOptions {
    /// `option tcplog`.
    pub tcplog: bool,
    /// `option dontlognull`.
    pub dontlognull: bool,
}

/// A frontend: where clients connect and how they are routed.
#[derive(Debug, Clone, PartialEq)]
pub struct Frontend {
    /// Proxy name.
    pub name: String,
    /// Where the section starts.
    pub span: Span,
    /// Every listening socket (comma lists and port ranges expanded), in file order.
    pub binds: Vec<Bind>,
    /// `maxconn` of this frontend.
    pub maxconn: Option<u32>,
    /// `timeout client`.
    pub timeout_client: Option<Duration>,
    /// `acl` lines, in file order (lines sharing a name are ORed).
    pub acls: Vec<Acl>,
    /// `tcp-request connection` rules, in file order.
    pub tcp_request: Vec<TcpRequestRule>,
    /// `use_backend` rules, in file order; the first match wins.
    pub use_backends: Vec<UseBackend>,
    /// `default_backend` (for a `listen`, its own name unless set).
    pub default_backend: Option<String>,
    /// Log options.
    pub log: LogOptions,
    /// Log targets (`log global` expanded).
    pub logs: Vec<LogTarget>,
    /// `option tcpka` / `option clitcpka`: keep-alive on client sockets.
    pub tcpka: bool,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Address and port (`*`/empty = `0.0.0.0`).
    pub addr: SocketAddr,
    /// `transparent`.
    pub transparent: bool,
    /// The `bind` line.
    pub span: Span,
}

/// A backend: a server farm with its algorithm, persistence and checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    /// Proxy name.
    pub name: String,
    /// Where the section starts.
    pub span: Span,
    /// `balance`.
    pub balance: Balance,
    /// `hash-type`.
    pub hash_type: HashType,
    /// Servers, in file order.
    pub servers: Vec<Server>,
    /// `stick-table` declared here, if any.
    pub stick_table: Option<StickTable>,
    /// `stick on` rules, in file order.
    pub stick_rules: Vec<StickRule>,
    /// `timeout connect`.
    pub timeout_connect: Option<Duration>,
    /// `timeout server`.
    pub timeout_server: Option<Duration>,
    /// `timeout check`.
    pub timeout_check: Option<Duration>,
    /// `timeout queue`.
    pub timeout_queue: Option<Duration>,
    /// `retries`.
    pub retries: u32,
    /// `option redispatch`.
    pub redispatch: bool,
    /// `option allbackups`: when no active server is usable, spread over every usable backup
    /// instead of only the first one.
    pub allbackups: bool,
    /// `option tcpka` / `option srvtcpka`: keep-alive on server sockets.
    pub tcpka: bool,
    /// The check servers with `check` run.
    pub health_check: HealthCheck,
    /// Log options.
    pub log: LogOptions,
}

/// `balance` algorithms supported in TCP mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Weighted dynamic round robin (HAProxy's default).
    #[default]
    RoundRobin,
    /// Weighted static round robin.
    StaticRr,
    /// Fewest connections, round robin among equals.
    LeastConn,
    /// Hash of the source address.
    Source,
    /// Lowest server id with a free slot.
    First,
}

/// `hash-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashType {
    /// Static array of servers (HAProxy's default).
    #[default]
    MapBased,
    /// Consistent hashing ring.
    Consistent,
}

/// One server.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Server name (unique in its backend).
    pub name: String,
    /// Server id (`id`, or the first free one from 1 in file order, as HAProxy assigns).
    pub id: u32,
    /// Address.
    pub addr: IpAddr,
    /// Port; `None` = the port the client connected to.
    pub port: Option<u16>,
    /// `check`.
    pub check: bool,
    /// `inter`.
    pub inter: Duration,
    /// `fastinter` (defaults to `inter`).
    pub fastinter: Duration,
    /// `downinter` (defaults to `inter`).
    pub downinter: Duration,
    /// `rise`.
    pub rise: u32,
    /// `fall`.
    pub fall: u32,
    /// `weight` (0 = no load balancing, persistence still honoured).
    pub weight: u32,
    /// `backup`.
    pub backup: bool,
    /// `maxconn` (0 = unlimited).
    pub maxconn: u32,
    /// `maxqueue` (0 = unlimited).
    pub maxqueue: u32,
    /// `disabled`: starts in maintenance.
    pub disabled: bool,
    /// `port`: check port, if different.
    pub check_port: Option<u16>,
    /// `addr`: check address, if different.
    pub check_addr: Option<IpAddr>,
    /// `check-ssl`: run the check over TLS.
    pub check_ssl: bool,
    /// `verify` as written, or the global `ssl-server-verify` (default `required`) when the
    /// server runs its checks over TLS (`check-ssl`); `None` for a plain check.
    pub verify: Option<Verify>,
    /// `ca-file <path>`: PEM CA certificates a `verify required` check trusts. proxyd loads it
    /// at startup (lbcore reads no file); the span is the path's, for a located error.
    pub ca_file: Option<CaFile>,
    /// `check-sni <name>`: the SNI a TLS check sends, and then the name its certificate must
    /// carry (HAProxy checks the name it sent).
    pub check_sni: Option<String>,
    /// `verifyhost <name>`: the name the certificate must carry when no SNI is sent. With
    /// neither, `verify required` checks the chain only, as HAProxy.
    pub verifyhost: Option<String>,
    /// `on-marked-down shutdown-sessions`.
    pub shutdown_sessions_on_down: bool,
    /// The `server` line.
    pub span: Span,
}

/// `verify none|required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// Do not verify the server certificate.
    None,
    /// Verify it (HAProxy's default, `ssl-server-verify required`).
    #[default]
    Required,
}

/// A `ca-file <path>` server parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    /// The path as written.
    pub path: PathBuf,
    /// Where the path is written.
    pub span: Span,
}

/// `stick-table` declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct StickTable {
    /// The table's name (its proxy's name).
    pub name: String,
    /// Key type.
    pub key: StickKey,
    /// Maximum entries (`size`, units k/m/g = 2^10/2^20/2^30).
    pub size: u64,
    /// `expire`.
    pub expire: Option<Duration>,
    /// `nopurge`.
    pub nopurge: bool,
    /// `peers <section>`: the entries are replicated to the section's other peers (checked to
    /// name a section of [`ProxyConfig::peers`]).
    pub peers: Option<String>,
}

/// Stick-table key types supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickKey {
    /// `type ip` (IPv4).
    Ip,
    /// `type ipv6`.
    Ipv6,
}

/// A `peers <name>` section: the proxyd processes that replicate the stick tables naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeersSection {
    /// Section name.
    pub name: String,
    /// Peers in file order (`peer NAME ADDR:PORT`, or `server NAME [ADDR:PORT]` with the
    /// section's `bind` address given to the peer without one), names unique.
    pub peers: Vec<Peer>,
    /// `disabled`: the section is kept but nothing is replicated.
    pub disabled: bool,
    /// Where the section starts.
    pub span: Span,
}

impl PeersSection {
    /// The peer named `local` (this process), if any.
    pub fn local(&self, local: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name == local)
    }

    /// Every peer but `local`: the ones this process connects to.
    pub fn remotes<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Peer> + 'a {
        self.peers.iter().filter(move |p| p.name != local)
    }
}

/// One peer of a `peers` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Peer name (the local one is the host name or `-L NAME`).
    pub name: String,
    /// Where it listens for its peers (the local peer binds it; the others are connected to).
    pub addr: SocketAddr,
    /// The `peer` / `server` line.
    pub span: Span,
}

/// `stick on src [table t]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickRule {
    /// Table used (resolved: the proxy's own name when `table` is absent).
    pub table: String,
    /// The rule's line.
    pub span: Span,
}

/// One `acl` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// ACL name.
    pub name: String,
    /// What it tests.
    pub criterion: AclCriterion,
    /// Patterns (any match makes the line true).
    pub patterns: Vec<AclPattern>,
    /// The line.
    pub span: Span,
}

/// Layer-4 sample fetches usable in an ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclCriterion {
    /// Client address.
    Src,
    /// Destination (local) address.
    Dst,
    /// Client port.
    SrcPort,
    /// Destination (local) port.
    DstPort,
}

/// One ACL pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclPattern {
    /// Network `addr/prefix` (a single address has the full prefix length).
    Net {
        /// Network address (host bits cleared).
        addr: IpAddr,
        /// Prefix length.
        prefix: u8,
    },
    /// Inclusive port range.
    Ports {
        /// Lowest port.
        lo: u16,
        /// Highest port.
        hi: u16,
    },
}

/// `if|unless` condition: OR of AND-groups of (possibly negated) ACL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `unless` inverts the result.
    pub unless: bool,
    /// OR of AND-groups.
    pub any_of: Vec<Vec<AclTerm>>,
}

/// One term of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclTerm {
    /// `!` before the name.
    pub negated: bool,
    /// Named ACL or predefined one.
    pub acl: AclRef,
}

/// What a condition term refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclRef {
    /// An `acl` of the same proxy.
    Named(String),
    /// `TRUE`.
    True,
    /// `FALSE`.
    False,
    /// `LOCALHOST` (`src 127.0.0.1/8 ::1`).
    Localhost,
}

/// `tcp-request connection <action> [if|unless cond]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRequestRule {
    /// What to do.
    pub action: TcpAction,
    /// When (always if `None`).
    pub condition: Option<Condition>,
    /// The rule's line.
    pub span: Span,
}

/// `tcp-request connection` actions supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpAction {
    /// Accept and stop evaluating rules.
    Accept,
    /// Close the connection.
    Reject,
}

/// `use_backend <name> [if|unless cond]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseBackend {
    /// Backend name (checked to exist).
    pub backend: String,
    /// When (always if `None`).
    pub condition: Option<Condition>,
    /// The rule's line.
    pub span: Span,
}

/// Health check a backend's servers run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HealthCheck {
    /// Plain connect (TLS handshake with `check-ssl`).
    #[default]
    Tcp,
    /// `option httpchk [method] [uri] [version]`, with `http-check send` and `http-check expect`.
    Http {
        /// Method (default `OPTIONS`; `http-check send meth` overrides).
        method: String,
        /// URI (default `/`; `http-check send uri` overrides).
        uri: String,
        /// Version (default `HTTP/1.0`; `http-check send ver` overrides).
        version: String,
        /// `http-check send hdr <name> <value>` headers, in order.
        headers: Vec<(String, String)>,
        /// `http-check send body <string>` (empty: no body).
        body: String,
        /// `http-check expect` rules, evaluated in order on the one response; all must pass.
        /// Empty: any 2xx or 3xx status passes, as HAProxy.
        expect: Vec<HttpExpect>,
    },
    /// `option ssl-hello-chk`.
    SslHello,
    /// `option smtpchk [HELO|EHLO domain]`.
    Smtp {
        /// `HELO` or `EHLO`.
        verb: String,
        /// Domain announced.
        domain: String,
    },
    /// `option tcp-check` with its `tcp-check` steps.
    TcpCheck(Vec<TcpCheckStep>),
}

/// One `tcp-check` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpCheckStep {
    /// `tcp-check connect [port N] [ssl]`.
    Connect {
        /// Port, if not the server's.
        port: Option<u16>,
        /// Over TLS.
        ssl: bool,
    },
    /// `tcp-check send <string>` (escapes already applied by the lexer).
    Send(Vec<u8>),
    /// `tcp-check send-binary <hex>`.
    SendBinary(Vec<u8>),
    /// `tcp-check expect [!] string|rstring|binary <pattern>`.
    Expect {
        /// `!`: the check fails if it matches.
        negated: bool,
        /// What kind of pattern.
        kind: ExpectKind,
        /// Pattern (decoded bytes for `binary`).
        pattern: Vec<u8>,
    },
}

/// One `http-check expect [!] <matcher> <pattern>` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpExpect {
    /// `!`: the rule passes when the matcher does not match.
    pub negated: bool,
    /// What is matched.
    pub matcher: HttpMatch,
    /// Where the pattern is written (regular expressions are compiled by proxyd at startup).
    pub span: Span,
}

/// `http-check expect` matchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpMatch {
    /// `status <codes>`: comma-separated codes or `lo-hi` ranges (inclusive). Failure is L7STS.
    Status(Vec<(u16, u16)>),
    /// `rstatus <regex>` on the three status digits. Failure is L7STS.
    Rstatus(String),
    /// `string <str>`: the body contains it. Failure is L7RSP.
    String(String),
    /// `rstring <regex>` on the body. Failure is L7RSP.
    Rstring(String),
}

/// `tcp-check expect` pattern kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectKind {
    /// Substring.
    String,
    /// Regular expression.
    Rstring,
    /// Binary substring.
    Binary,
}

/// A `listen` in `mode http` with `stats enable`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsListener {
    /// Proxy name.
    pub name: String,
    /// Listening sockets.
    pub binds: Vec<Bind>,
    /// `stats uri` (default `/haproxy?stats`).
    pub uri: String,
    /// `stats refresh`.
    pub refresh: Option<Duration>,
    /// `stats admin` present.
    pub admin: bool,
    /// The `stats admin if|unless <cond>` condition: a client may use the admin actions when
    /// it matches (evaluated on the client's connection with [`StatsListener::acls`]).
    pub admin_when: Option<Condition>,
    /// `acl` lines of the section (what `stats admin` conditions refer to).
    pub acls: Vec<Acl>,
    /// `stats auth <user>:<password>` accounts, in file order; empty: no authentication.
    pub auth: Vec<StatsAuth>,
    /// `stats realm` (the Basic authentication realm; proxyd's default when `None`).
    pub realm: Option<String>,
    /// `stats hide-version`: the page does not show the version.
    pub hide_version: bool,
    /// Where the section starts.
    pub span: Span,
}

/// One `stats auth <user>:<password>` account (the password in clear, as HAProxy keeps it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsAuth {
    /// User name (before the first `:`).
    pub user: String,
    /// Password (after the first `:`).
    pub password: String,
}

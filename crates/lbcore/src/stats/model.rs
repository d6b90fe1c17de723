//! The snapshot the stats renderers read: proxies with their frontend, backend and servers, and
//! HAProxy's counters for each (MGMT §9.1 names them).
//!
//! Owns plain data and the rules that derive values from it (a backend's weight, active and
//! backup counts, a server's raw check health). It must not know where the numbers come from:
//! proxyd fills it from atomics, a test writes it by hand.

use std::time::Duration;

use crate::balance::HealthState;

/// A server's operator state (HAProxy's admin state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Admin {
    /// Normal operation.
    #[default]
    Ready,
    /// No new balanced connections; sticky ones still come (`DRAIN`).
    Drain,
    /// No traffic at all (`MAINT`).
    Maint,
}

/// Everything one stats request shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Process id (`pid` column).
    pub pid: u32,
    /// Version shown on the page; `None` with `stats hide-version`.
    pub version: Option<String>,
    /// Time since the process started.
    pub uptime: Duration,
    /// Proxies in declaration order (HAProxy's `iid` order).
    pub proxies: Vec<Proxy>,
}

/// One named proxy: a frontend, a backend, or both (a `listen` section).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Proxy {
    /// Proxy name (`pxname`).
    pub name: String,
    /// Proxy id (`iid`; the admin form's `b=#<iid>`).
    pub iid: u32,
    /// `mode http` (a stats listener); otherwise `tcp`.
    pub http: bool,
    /// Its listening half.
    pub frontend: Option<Frontend>,
    /// Its server farm.
    pub backend: Option<Backend>,
}

/// Session and byte counters common to every row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    /// Current sessions (`scur`).
    pub scur: u32,
    /// Highest `scur` seen (`smax`).
    pub smax: u32,
    /// Session limit (`slim`): a frontend's or server's `maxconn`; `None` when unlimited.
    pub slim: Option<u32>,
    /// Sessions in total (`stot`).
    pub stot: u64,
    /// Bytes from clients (`bin`).
    pub bin: u64,
    /// Bytes to clients (`bout`).
    pub bout: u64,
}

/// HTTP counters of an HTTP frontend (the stats listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HttpCounters {
    /// Requests received (`req_tot`).
    pub requests: u64,
    /// Responses by class: 1xx, 2xx, 3xx, 4xx, 5xx, other (`hrsp_*`).
    pub responses: [u64; 6],
}

/// A frontend row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frontend {
    /// Sessions and bytes.
    pub traffic: Traffic,
    /// Connections denied by `tcp-request connection` rules (`dreq`).
    pub dreq: u64,
    /// Request errors (`ereq`): unroutable connections, malformed HTTP requests.
    pub ereq: u64,
    /// HTTP counters (`mode http` only).
    pub http: Option<HttpCounters>,
}

/// A backend row and its servers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Backend {
    /// Sessions and bytes (`slim` unused: proxyd has no `fullconn`).
    pub traffic: Traffic,
    /// Connections waiting in the backend queue (`qcur`).
    pub qcur: u32,
    /// Highest `qcur` seen (`qmax`).
    pub qmax: u32,
    /// Failed connections to servers (`econ`).
    pub econ: u64,
    /// Server-side errors (`eresp`).
    pub eresp: u64,
    /// Connection retries (`wretr`).
    pub wretr: u64,
    /// Redispatches (`wredis`).
    pub wredis: u64,
    /// Connections routed by load balancing (`lbtot`).
    pub lbtot: u64,
    /// `balance` algorithm as HAProxy names it (`algo`).
    pub algo: String,
    /// Time since the most recent status change of one of its servers (`lastchg`).
    pub lastchg: Option<Duration>,
    /// Servers in declaration order.
    pub servers: Vec<Server>,
}

/// A server row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Server {
    /// Server name (`svname`).
    pub name: String,
    /// Server id (`sid`).
    pub sid: u32,
    /// `address:port` (`addr`).
    pub addr: String,
    /// A `backup` server.
    pub backup: bool,
    /// Sessions and bytes (`slim` = its `maxconn`).
    pub traffic: Traffic,
    /// Connections waiting in its queue (`qcur`).
    pub qcur: u32,
    /// Highest `qcur` seen (`qmax`).
    pub qmax: u32,
    /// `maxqueue` (`qlimit`); `None` when unlimited.
    pub qlimit: Option<u32>,
    /// Failed connections (`econ`).
    pub econ: u64,
    /// Server-side errors (`eresp`).
    pub eresp: u64,
    /// Connection retries (`wretr`).
    pub wretr: u64,
    /// Redispatches away from it (`wredis`).
    pub wredis: u64,
    /// Times it was picked (`lbtot`).
    pub lbtot: u64,
    /// Operator state.
    pub admin: Admin,
    /// Health: UP (`true`) or marked DOWN. For a checked server [`Check::health`] decides.
    pub up: bool,
    /// Current weight (`weight`, `uweight`).
    pub weight: u32,
    /// Its health check; `None`: not checked (`no check`).
    pub check: Option<Check>,
    /// Failed checks (`chkfail`).
    pub chkfail: u64,
    /// UP to DOWN transitions (`chkdown`).
    pub chkdown: u64,
    /// Time since its last status change (`lastchg`).
    pub lastchg: Duration,
    /// Time spent DOWN in total (`downtime`).
    pub downtime: Duration,
}

/// A server's health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Rise/fall state.
    pub health: HealthState,
    /// `rise`.
    pub rise: u32,
    /// `fall`.
    pub fall: u32,
    /// The last result; `None` before the first one (`INI`).
    pub last: Option<CheckResult>,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// HAProxy's code (`L4OK`, `L7STS`, ...).
    pub status: String,
    /// Its description (`Layer4 check passed`).
    pub desc: String,
    /// Detail (`Connection refused`, an HTTP reason), possibly empty.
    pub info: String,
    /// Layer 5-7 code (HTTP status, SMTP reply), when one was read.
    pub code: Option<u16>,
    /// How long the check took.
    pub duration: Duration,
}

impl Check {
    /// HAProxy's raw counter (`check_health`): `0..=rise+fall-1`, UP from `rise`.
    pub fn raw_health(&self) -> u32 {
        let full = self.rise + self.fall.max(1) - 1;
        match self.health {
            HealthState::Up => full,
            HealthState::GoingDown { remaining, .. } => remaining + self.rise - 1,
            HealthState::Down => 0,
            HealthState::GoingUp { successes, .. } => successes,
        }
    }

    /// Whether the check counts the server UP.
    pub fn is_up(&self) -> bool {
        matches!(self.health, HealthState::Up | HealthState::GoingDown { .. })
    }
}

impl Server {
    /// Health UP, whatever the operator state: the checker's view when checked.
    pub fn is_up(&self) -> bool {
        self.check.as_ref().map_or(self.up, Check::is_up)
    }

    /// Takes balanced traffic: UP, ready and weighted (HAProxy's `srv_currently_usable`, with
    /// a draining server at weight 0).
    pub fn balanced(&self) -> bool {
        self.is_up() && self.admin == Admin::Ready && self.weight > 0
    }
}

impl Backend {
    /// Active servers taking balanced traffic (`act`).
    pub fn active(&self) -> u32 {
        count(self.servers.iter().filter(|s| !s.backup && s.balanced()))
    }

    /// Backup servers taking balanced traffic (`bck`).
    pub fn backups(&self) -> u32 {
        count(self.servers.iter().filter(|s| s.backup && s.balanced()))
    }

    /// The weight in use (`weight`): the active servers' total, or the backups' when no active
    /// server takes traffic (HAProxy's `tot_weight`).
    pub fn weight(&self) -> u32 {
        let sum = |backup: bool| -> u32 {
            self.servers
                .iter()
                .filter(|s| s.backup == backup && s.balanced())
                .map(|s| s.weight)
                .sum()
        };
        match sum(false) {
            0 => sum(true),
            w => w,
        }
    }
}

fn count<'a>(it: impl Iterator<Item = &'a Server>) -> u32 {
    u32::try_from(it.count()).unwrap_or(u32::MAX)
}

/// One row of the CSV, in HAProxy's order (FRONTEND, servers, BACKEND per proxy).
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    /// The proxy's frontend.
    Frontend(&'a Proxy, &'a Frontend),
    /// One server of the proxy's backend.
    Server(&'a Proxy, &'a Backend, &'a Server),
    /// The proxy's backend.
    Backend(&'a Proxy, &'a Backend),
}

impl Row<'_> {
    /// HAProxy's object type (`type` column: 0 frontend, 1 backend, 2 server).
    pub fn type_code(&self) -> u32 {
        match self {
            Row::Frontend(..) => 0,
            Row::Backend(..) => 1,
            Row::Server(..) => 2,
        }
    }

    /// The proxy the row belongs to.
    pub fn proxy(&self) -> &Proxy {
        match self {
            Row::Frontend(p, _) | Row::Server(p, ..) | Row::Backend(p, _) => p,
        }
    }

    /// `svname`: `FRONTEND`, `BACKEND` or the server's name.
    pub fn svname(&self) -> &str {
        match self {
            Row::Frontend(..) => "FRONTEND",
            Row::Backend(..) => "BACKEND",
            Row::Server(_, _, s) => &s.name,
        }
    }
}

impl Snapshot {
    /// Every row in HAProxy's order.
    pub fn rows(&self) -> Vec<Row<'_>> {
        let mut out = Vec::new();
        for p in &self.proxies {
            if let Some(f) = &p.frontend {
                out.push(Row::Frontend(p, f));
            }
            if let Some(b) = &p.backend {
                out.extend(b.servers.iter().map(|s| Row::Server(p, b, s)));
                out.push(Row::Backend(p, b));
            }
        }
        out
    }

    /// The proxy named `name`.
    pub fn proxy(&self, name: &str) -> Option<&Proxy> {
        self.proxies.iter().find(|p| p.name == name)
    }
}

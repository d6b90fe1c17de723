//! The runtime API's answers, formatted from plain data as HAProxy 2.6.12 prints them: `help`,
//! `show servers state`, `show table`, `show info`, `show backend`, `get weight`, the framing
//! of an answer, and the log lines of operator state changes.
//!
//! Owns the wording and the numeric encodings HAProxy uses (`srv_op_state`, `SRV_ADMF_*`,
//! `HCHK_STATUS_*`, `CHK_RES_*`, `CHK_ST_*`, from its `server-t.h` and `check-t.h`). It must
//! not read run-time state: the caller snapshots it into the row types below.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use super::AdminState;
use crate::balance::HealthState;

/// What `show table <name>` prints instead of entries below operator level.
pub const NOT_DUMPED: &str = "# contents not dumped due to insufficient privileges";
/// A command above the connection's level.
pub const PERMISSION_DENIED: &str = "Permission denied";
/// `get weight`, `set server`, ...: the backend does not exist.
pub const NO_SUCH_BACKEND: &str = "No such backend.";
/// `get weight`, `set server`, ...: the server does not exist in the backend.
pub const NO_SUCH_SERVER: &str = "No such server.";
/// `show servers state <backend>`: the backend does not exist.
pub const CANT_FIND_BACKEND: &str = "Can't find backend.";
/// `show|clear table <name>`: no such table.
pub const NO_SUCH_TABLE: &str = "No such table";
/// `set server ... weight` on a backend with a static algorithm.
pub const STATIC_WEIGHT: &str =
    "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.";

/// `show servers state` format version (the first line).
pub const SERVERS_STATE_VERSION: &str = "1";

/// `show servers state` column header (HAProxy 2.6, reference §3.2).
pub const SERVERS_STATE_HEADER: &str = "# be_id be_name srv_id srv_name srv_addr srv_op_state \
     srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status \
     srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id \
     srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr \
     srv_agent_addr srv_agent_port";

/// The commands `help` lists, in HAProxy's layout (usage padded to 40 columns).
const HELP: &[(&str, &str)] = &[
    (
        "clear table <table> [<filter>]*",
        "remove an entry from a table (filter: data/key)",
    ),
    (
        "disable server (DEPRECATED)",
        "disable a server for maintenance (use 'set server' instead)",
    ),
    (
        "enable server  (DEPRECATED)",
        "enable a disabled server (use 'set server' instead)",
    ),
    ("get weight <bk>/<srv>", "report a server's current weight"),
    (
        "operator",
        "lower the level of the current CLI session to operator",
    ),
    (
        "set server <bk>/<srv> [opts]",
        "change a server's state (ready|drain|maint) or weight",
    ),
    (
        "set weight <bk>/<srv>  (DEPRECATED)",
        "change a server's weight (use 'set server' instead)",
    ),
    (
        "show backend",
        "list backends in the current running config",
    ),
    (
        "show cli level",
        "display the level of the current CLI session",
    ),
    ("show info", "report information about the running process"),
    (
        "show servers state [<backend>]",
        "dump volatile server information (all or for a single backend)",
    ),
    ("show stat", "report counters for each proxy and server"),
    (
        "show table <table> [<filter>]*",
        "report table usage stats or dump this table's contents (filter: data/key)",
    ),
    (
        "shutdown sessions server <bk>/<srv>",
        "kill sessions on a server",
    ),
    ("user", "lower the level of the current CLI session to user"),
    ("help [<command>]", "list matching or all commands"),
    ("prompt", "toggle interactive mode with prompt"),
    ("quit", "disconnect"),
];

/// `help [words]`: every command, or those whose usage starts with `words` (all of them when
/// none does, as HAProxy).
pub fn help(words: &[String]) -> String {
    let prefix = words.join(" ");
    let matching: Vec<_> = HELP
        .iter()
        .filter(|(usage, _)| !prefix.is_empty() && usage.starts_with(&prefix))
        .collect();
    let lines: Vec<_> = if matching.is_empty() {
        HELP.iter().collect()
    } else {
        matching
    };
    let mut out = String::from("The following commands are valid at this level:\n");
    for (usage, what) in lines {
        let _ = writeln!(out, "  {usage:<40}: {what}");
    }
    out
}

/// Appends `answer` to `out` as HAProxy frames it: the text with a final newline, an empty
/// line, then the prompt in interactive mode. An empty answer is just the empty line.
pub fn frame(out: &mut String, answer: &str, interactive: bool) {
    out.push_str(answer);
    if !answer.is_empty() && !answer.ends_with('\n') {
        out.push('\n');
    }
    out.push('\n');
    if interactive {
        out.push_str(super::PROMPT);
    }
}

/// `get weight`: `10 (initial 50)`.
pub fn weight(current: u32, initial: u32) -> String {
    format!("{current} (initial {initial})")
}

/// `show backend`: a `# name` header and one backend per line.
pub fn backends<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("# name\n");
    for n in names {
        out.push_str(n);
        out.push('\n');
    }
    out
}

/// The last check of a checked server, for `show servers state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastCheck<'a> {
    /// HAProxy's short code (`L4OK`, `L7STS`, ...).
    pub code: &'a str,
    /// Whether it passed.
    pub passed: bool,
}

/// A checked server's check state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckRow<'a> {
    /// The rise/fall state.
    pub health: HealthState,
    /// The last result, once a check ran.
    pub last: Option<LastCheck<'a>>,
}

/// One server as `show servers state` reports it, snapshotted by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRow<'a> {
    /// The backend's proxy id (see [`proxy_ids`]).
    pub backend_id: u32,
    /// Backend name.
    pub backend: &'a str,
    /// Server id.
    pub id: u32,
    /// Server name.
    pub name: &'a str,
    /// Address.
    pub addr: IpAddr,
    /// Port (`None`: the client's, printed 0).
    pub port: Option<u16>,
    /// Health UP (always true for an unchecked server).
    pub up: bool,
    /// Operator state.
    pub admin: AdminState,
    /// `disabled` in the configuration (HAProxy's `SRV_ADMF_CMAINT`, shown while in maint).
    pub disabled_in_config: bool,
    /// Current weight.
    pub weight: u32,
    /// Configured weight.
    pub initial_weight: u32,
    /// Since the last status change.
    pub since_change: Duration,
    /// Its check, when it has one.
    pub check: Option<CheckRow<'a>>,
    /// Configured `rise`.
    pub rise: u32,
    /// Configured `fall`.
    pub fall: u32,
    /// `port` of the check, when set.
    pub check_port: Option<u16>,
    /// `addr` of the check, when set.
    pub check_addr: Option<IpAddr>,
}

/// HAProxy's `HCHK_STATUS_*` number of a check code (`include/haproxy/check-t.h`; `L7OK` is
/// `L7OKD`); `None` for a code it does not know.
pub fn check_status_number(code: &str) -> Option<u8> {
    Some(match code {
        "UNK" => 0,
        "INI" => 1,
        "HANA" => 4,
        "SOCKERR" => 5,
        "L4OK" => 6,
        "L4TOUT" => 7,
        "L4CON" => 8,
        "L6OK" => 9,
        "L6TOUT" => 10,
        "L6RSP" => 11,
        "L7TOUT" => 12,
        "L7RSP" => 13,
        "L7OK" => 15,
        "L7OKC" => 16,
        "L7STS" => 17,
        "PROCERR" => 18,
        "PROCTOUT" => 19,
        "PROCOK" => 20,
        _ => return None,
    })
}

/// The raw rise/fall counter HAProxy keeps (`check->health`, 0..rise+fall-1) for a state.
pub fn raw_health(state: HealthState, rise: u32, fall: u32) -> u32 {
    let rise = rise.max(1);
    match state {
        HealthState::Up => rise + fall.max(1) - 1,
        HealthState::GoingDown { remaining, .. } => remaining + rise - 1,
        HealthState::Down => 0,
        HealthState::GoingUp { successes, .. } => successes,
    }
}

// HAProxy's encodings (server-t.h, check-t.h).
const SRV_ST_STOPPED: u8 = 0;
const SRV_ST_RUNNING: u8 = 2;
const SRV_ADMF_FMAINT: u8 = 0x01;
const SRV_ADMF_CMAINT: u8 = 0x04;
const SRV_ADMF_FDRAIN: u8 = 0x08;
const CHK_RES_UNKNOWN: u8 = 0;
const CHK_RES_FAILED: u8 = 2;
const CHK_RES_PASSED: u8 = 3;
const CHK_ST_CONFIGURED: u8 = 0x02;
const CHK_ST_ENABLED: u8 = 0x04;
const CHK_ST_PAUSED: u8 = 0x08;
const HCHK_STATUS_INI: u8 = 1;

/// One `show servers state` line (without newline), HAProxy's 25 fields in order.
pub fn servers_state_line(r: &ServerRow<'_>) -> String {
    let maint = r.admin == AdminState::Maint;
    let op_state = if maint || !r.up {
        SRV_ST_STOPPED
    } else {
        SRV_ST_RUNNING
    };
    let admin_state = match r.admin {
        AdminState::Ready => 0,
        AdminState::Drain => SRV_ADMF_FDRAIN,
        AdminState::Maint if r.disabled_in_config => SRV_ADMF_FMAINT | SRV_ADMF_CMAINT,
        AdminState::Maint => SRV_ADMF_FMAINT,
    };
    let paused = if maint { CHK_ST_PAUSED } else { 0 };
    // Maintenance zeroes the counter (HAProxy pauses the check and sets health to 0).
    let (status, result, health, state) = match &r.check {
        Some(c) => (
            c.last
                .and_then(|l| check_status_number(l.code))
                .unwrap_or(HCHK_STATUS_INI),
            match c.last {
                Some(l) if l.passed => CHK_RES_PASSED,
                Some(_) => CHK_RES_FAILED,
                None => CHK_RES_UNKNOWN,
            },
            if maint {
                0
            } else {
                raw_health(c.health, r.rise, r.fall)
            },
            CHK_ST_CONFIGURED | CHK_ST_ENABLED | paused,
        ),
        None => (
            HCHK_STATUS_INI,
            CHK_RES_UNKNOWN,
            if maint { 0 } else { r.rise },
            paused,
        ),
    };
    let dash = |a: Option<IpAddr>| a.map_or_else(|| "-".to_owned(), |a| a.to_string());
    format!(
        "{} {} {} {} {} {op_state} {admin_state} {} {} {} {status} {result} {health} {state} 0 0 0 - {} - 0 {} {} - 0",
        r.backend_id,
        r.backend,
        r.id,
        r.name,
        r.addr,
        r.weight,
        r.initial_weight,
        r.since_change.as_secs(),
        r.port.unwrap_or(0),
        r.check_port.unwrap_or(0),
        dash(r.check_addr),
    )
}

/// `show servers state`: version line, header, one line per server.
pub fn servers_state<'a>(rows: impl IntoIterator<Item = &'a ServerRow<'a>>) -> String {
    let mut out = format!("{SERVERS_STATE_VERSION}\n{SERVERS_STATE_HEADER}\n");
    for r in rows {
        out.push_str(&servers_state_line(r));
        out.push('\n');
    }
    out
}

/// HAProxy's proxy ids (`be_id`, the CSV's `iid`): proxies numbered from 2 in declaration
/// order (observed on 2.6: the first proxy of a file is 2), a `listen` (a frontend and a
/// backend of one name) once. `sections` are `(name, position)` in any order, position being
/// anything ordered like the file (line numbers). Returns `(name, id)` in id order.
pub fn proxy_ids<'a, P: Ord + Copy>(
    sections: impl IntoIterator<Item = (&'a str, P)>,
) -> Vec<(&'a str, u32)> {
    let mut all: Vec<(P, &'a str)> = Vec::new();
    for (name, pos) in sections {
        match all.iter_mut().find(|(_, n)| *n == name) {
            Some(e) if pos < e.0 => e.0 = pos,
            Some(_) => {}
            None => all.push((pos, name)),
        }
    }
    all.sort_by_key(|a| a.0);
    all.into_iter()
        .zip(2u32..)
        .map(|((_, name), id)| (name, id))
        .collect()
}

/// A stick table as `show table` heads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableHead<'a> {
    /// Table name.
    pub name: &'a str,
    /// Key type word (`ip`, `ipv6`, `integer`, `string`, `binary`).
    pub key_type: &'a str,
    /// Configured size.
    pub size: u64,
    /// Entries in use.
    pub used: usize,
}

/// `# table: cas_rpc, type: ip, size:10240, used:1`.
pub fn table_head(t: &TableHead<'_>) -> String {
    format!(
        "# table: {}, type: {}, size:{}, used:{}",
        t.name, t.key_type, t.size, t.used
    )
}

/// One stick-table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRow<'a> {
    /// What HAProxy prints as the entry's address: proxyd prints the entry's update sequence
    /// number (a stable handle, not a pointer).
    pub tag: u64,
    /// The key.
    pub key: IpAddr,
    /// The table is `type ipv6` (IPv4 keys print IPv4-mapped, `::ffff:a.b.c.d`).
    pub ipv6_table: bool,
    /// Time left before expiry; `None` without `expire` (printed `exp=0`).
    pub expires_in: Option<Duration>,
    /// `server_id`.
    pub server_id: u32,
    /// The server's name (`server_key`), when the id names a server of the backend.
    pub server_key: Option<&'a str>,
}

/// `0x…: key=127.0.0.1 use=0 exp=1799993 server_id=1 server_key=cas1`.
pub fn table_row(r: &TableRow<'_>) -> String {
    let key = match (r.key, r.ipv6_table) {
        (IpAddr::V4(v4), true) => IpAddr::V6(v4.to_ipv6_mapped()),
        (k, _) => k,
    };
    let exp = r.expires_in.map_or(0, |d| d.as_millis());
    let mut line = format!(
        "0x{:x}: key={key} use=0 exp={exp} server_id={}",
        r.tag, r.server_id
    );
    if let Some(k) = r.server_key {
        let _ = write!(line, " server_key={k}");
    }
    line
}

/// What `show info` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info<'a> {
    /// `Name`.
    pub name: &'a str,
    /// `Version`.
    pub version: &'a str,
    /// `Nbthread`: worker threads.
    pub nbthread: u32,
    /// `Pid`.
    pub pid: u32,
    /// Time since the process started.
    pub uptime: Duration,
    /// `Start_time_sec`: Unix time the process started.
    pub start_time_sec: u64,
    /// `Ulimit-n`: the open-file limit.
    pub ulimit_n: u64,
    /// `Maxconn` / `Hard_maxconn`.
    pub maxconn: u32,
    /// `CurrConns`.
    pub curr_conns: u32,
    /// `CumConns`: connections accepted in total.
    pub cum_conns: u64,
    /// `Stopping`.
    pub stopping: bool,
    /// `Listeners`.
    pub listeners: usize,
    /// `DroppedLogs`.
    pub dropped_logs: u64,
    /// `TotalBytesOut`: bytes sent to clients.
    pub total_bytes_out: u64,
    /// `node`: the host name.
    pub node: &'a str,
}

/// HAProxy's uptime form: `0d 0h00m10s`.
pub fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}d {}h{:02}m{:02}s",
        s / 86_400,
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

/// `show info`: `Key: value` lines in HAProxy's order, for the fields proxyd has.
pub fn info(i: &Info<'_>) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{k}: {v}");
    };
    kv("Name", &i.name);
    kv("Version", &i.version);
    kv("Nbthread", &i.nbthread);
    kv("Nbproc", &1);
    kv("Process_num", &1);
    kv("Pid", &i.pid);
    kv("Uptime", &uptime(i.uptime));
    kv("Uptime_sec", &i.uptime.as_secs());
    kv("Ulimit-n", &i.ulimit_n);
    kv("Maxconn", &i.maxconn);
    kv("Hard_maxconn", &i.maxconn);
    kv("CurrConns", &i.curr_conns);
    kv("CumConns", &i.cum_conns);
    kv("node", &i.node);
    kv("Stopping", &u8::from(i.stopping));
    kv("Listeners", &i.listeners);
    kv("ActivePeers", &0);
    kv("ConnectedPeers", &0);
    kv("DroppedLogs", &i.dropped_logs);
    kv("TotalBytesOut", &i.total_bytes_out);
    kv("Start_time_sec", &i.start_time_sec);
    out
}

/// Server counts and queue figures a state-change log line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Active (non-backup) servers usable after the change.
    pub active: usize,
    /// Backup servers usable after the change.
    pub backup: usize,
    /// Sessions on the server.
    pub sessions: u32,
    /// Queued connections moved to other servers.
    pub requeued: u32,
    /// Connections still queued.
    pub queued: u32,
}

/// The line HAProxy logs (warning, and notice to the proxy's log) when an operator moves a
/// server from `from` to `to` (`srv_set_admin_flag` / `srv_clr_admin_flag` in `server.c`);
/// `None` when nothing changed. `up` is the server's health.
pub fn admin_change_line(
    backend: &str,
    server: &str,
    backup: bool,
    from: AdminState,
    to: AdminState,
    up: bool,
    c: Counts,
) -> Option<String> {
    let who = format!(
        "{}Server {backend}/{server}",
        if backup { "Backup " } else { "" }
    );
    let updown = if up { "UP" } else { "DOWN" };
    Some(match (from, to) {
        (a, b) if a == b => return None,
        (_, AdminState::Maint) if !up => format!("{who} was DOWN and now enters maintenance."),
        (_, AdminState::Maint) => format!(
            "{who} is going DOWN for maintenance. {} active and {} backup servers left. {} sessions active, {} requeued, {} remaining in queue.",
            c.active, c.backup, c.sessions, c.requeued, c.queued
        ),
        (AdminState::Maint, b) => format!(
            "{who} is {updown}/{} (leaving forced maintenance).",
            if b == AdminState::Drain {
                "DRAIN"
            } else {
                "READY"
            }
        ),
        (_, AdminState::Drain) => format!(
            "{who} enters drain state. {} active and {} backup servers online. {} sessions requeued, {} total in queue.",
            c.active, c.backup, c.requeued, c.queued
        ),
        (_, AdminState::Ready) => format!("{who} is {updown} (leaving forced drain)."),
    })
}

/// HAProxy's alert when a backend has no usable server left.
pub fn no_server_line(backend: &str) -> String {
    format!("proxy '{backend}' has no server available!")
}

//! HAProxy 2.6's runtime API (the `stats socket` command line), the pure part: splitting a
//! line into commands, parsing each into a typed [`Command`], the access level each needs, and
//! the answers' wording ([`format`]).
//!
//! Owns the command grammar and every error text, as HAProxy 2.6.12 words them where it has a
//! text (observed on the Debian build, reference `haproxy-exchange.md` §3.2), so socat scripts
//! written against HAProxy read the same answers. It must not touch sockets, clocks or run-time
//! state: proxyd's `api` module reads the line, looks names up, applies the command and writes
//! the framed answer.
//!
//! # Wire rules (HAProxy management guide §9.3, observed)
//!
//! - A connection sends one line; `;` separates commands on it (`\;` is a literal `;`, a `\`
//!   escapes any character, words are separated by spaces or tabs, quotes are not special).
//! - Every answer ends with an empty line. After `prompt` the connection stays open and each
//!   answer is followed by the prompt `> `; without it the connection closes after the line.
//! - Levels: `user` < `operator` < `admin`; a command above the socket's level answers
//!   `Permission denied` and changes nothing.

pub mod format;

use std::fmt;
use std::time::Duration;

/// Longest command line accepted, newline included (HAProxy's `tune.bufsize`).
pub const MAX_LINE: usize = 16 * 1024;

/// `stats timeout` when the configuration sets none (HAProxy's default: 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections one socket serves at once (HAProxy's `stats maxconn` default); more wait.
pub const DEFAULT_MAXCONN: usize = 10;

/// The prompt written after each answer in interactive mode.
pub const PROMPT: &str = "> ";

/// Most data filters one `show table` / `clear table` accepts (HAProxy's
/// `STKTABLE_FILTER_LEN`).
pub const MAX_TABLE_FILTERS: usize = 4;

/// A socket's access level (`stats socket ... level L`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Read-only, without sensitive data (addresses, table contents).
    User,
    /// Reads everything, clears tables.
    Operator,
    /// Changes servers.
    Admin,
}

impl Level {
    /// The configuration word (`user`, `operator`, `admin`).
    pub fn parse(word: &str) -> Option<Level> {
        match word {
            "user" => Some(Level::User),
            "operator" => Some(Level::Operator),
            "admin" => Some(Level::Admin),
            _ => None,
        }
    }

    /// The word, as `show cli level` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::User => "user",
            Level::Operator => "operator",
            Level::Admin => "admin",
        }
    }
}

/// HAProxy's default level for a `stats socket` without `level` (observed: `operator`).
impl Default for Level {
    fn default() -> Self {
        Level::Operator
    }
}

/// The operator state `set server B/S state` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdminState {
    /// `ready`: normal operation.
    Ready,
    /// `drain`: no new balanced connections; sticky clients still reach it.
    Drain,
    /// `maint`: no traffic.
    Maint,
}

impl AdminState {
    /// The word (`ready`, `drain`, `maint`).
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
        }
    }
}

/// `<backend>/<server>` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRef {
    /// Backend name (before the first `/`).
    pub backend: String,
    /// Server name (after it).
    pub server: String,
}

impl fmt::Display for ServerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.backend, self.server)
    }
}

/// A weight as `set server B/S weight` / `set weight` take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// `N`: 0..=256.
    Absolute(u32),
    /// `N%`: a share of the configured (initial) weight, capped at 25600 % as HAProxy does.
    Percent(u32),
}

/// Highest weight a server may have.
pub const MAX_WEIGHT: u32 = 256;

impl Weight {
    /// The weight to set on a server whose configured weight is `initial` (a percentage is of
    /// the initial weight, rounded down, at most [`MAX_WEIGHT`]).
    pub fn resolve(self, initial: u32) -> u32 {
        match self {
            Weight::Absolute(w) => w,
            Weight::Percent(p) => {
                let w = u64::from(initial) * u64::from(p) / 100;
                u32::try_from(w.min(u64::from(MAX_WEIGHT))).unwrap_or(MAX_WEIGHT)
            }
        }
    }
}

/// Whether a backend whose algorithm is static (`static-rr`, map-based hashing) accepts `new`
/// as the weight of a server configured with `initial`: only 0 and the initial weight, since
/// such an algorithm cannot move a weight without remapping (HAProxy's
/// `server_parse_weight_change_request`).
pub fn static_weight_allowed(new: u32, initial: u32) -> bool {
    new == 0 || new == initial
}

/// A comparison of `data.<type> <op> <value>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `le`
    Le,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `gt`
    Gt,
}

impl CmpOp {
    fn parse(word: &str) -> Option<CmpOp> {
        match word {
            "eq" => Some(CmpOp::Eq),
            "ne" => Some(CmpOp::Ne),
            "le" => Some(CmpOp::Le),
            "ge" => Some(CmpOp::Ge),
            "lt" => Some(CmpOp::Lt),
            "gt" => Some(CmpOp::Gt),
            _ => None,
        }
    }

    /// `lhs <op> rhs`.
    pub fn holds(self, lhs: i64, rhs: i64) -> bool {
        match self {
            CmpOp::Eq => lhs == rhs,
            CmpOp::Ne => lhs != rhs,
            CmpOp::Le => lhs <= rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Lt => lhs < rhs,
            CmpOp::Gt => lhs > rhs,
        }
    }
}

/// Which entries `show table` / `clear table` act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableFilter {
    /// `key <k>`: the one entry with this key (as written; the table's type decides how it
    /// reads).
    Key(String),
    /// `data.server_id <op> <value>` (up to [`MAX_TABLE_FILTERS`], all must hold).
    ServerId(Vec<(CmpOp, i64)>),
}

impl TableFilter {
    /// Whether an entry stuck to `server_id` passes the data filters (a key filter is applied
    /// by lookup, not here: it passes).
    pub fn server_id_matches(&self, server_id: u32) -> bool {
        match self {
            TableFilter::Key(_) => true,
            TableFilter::ServerId(conds) => conds
                .iter()
                .all(|(op, v)| op.holds(i64::from(server_id), *v)),
        }
    }
}

/// One command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `help [<word>...]`: the command list, or the lines starting with the words.
    Help(Vec<String>),
    /// `prompt`: toggle interactive mode.
    Prompt,
    /// `quit`: close the connection.
    Quit,
    /// `show info`.
    ShowInfo,
    /// `show stat`: the CSV.
    ShowStat,
    /// `show servers state [<backend>]`.
    ShowServersState(Option<String>),
    /// `show backend`.
    ShowBackend,
    /// `show table`: one header line per table.
    ShowTables,
    /// `show table <name> [filter]`.
    ShowTable {
        /// Table name.
        name: String,
        /// Which entries.
        filter: Option<TableFilter>,
    },
    /// `clear table <name> [filter]`.
    ClearTable {
        /// Table name.
        name: String,
        /// Which entries (all without).
        filter: Option<TableFilter>,
    },
    /// `set server <b>/<s> state ready|drain|maint`; `enable server` (ready) and
    /// `disable server` (maint) are the deprecated spellings.
    SetState(ServerRef, AdminState),
    /// `set server <b>/<s> weight <w>[%]` or `set weight <b>/<s> <w>[%]`.
    SetWeight(ServerRef, Weight),
    /// `get weight <b>/<s>`.
    GetWeight(ServerRef),
    /// `shutdown sessions server <b>/<s>`.
    ShutdownSessions(ServerRef),
    /// `show cli level`.
    ShowCliLevel,
    /// `user` / `operator`: lower this connection's level.
    LowerLevel(Level),
}

impl Command {
    /// The level the command needs (HAProxy 2.6's `cli_has_level` checks, observed at each
    /// level). `show table <name>` without a filter is allowed to `user`, who sees only the
    /// header (see [`format::NOT_DUMPED`]).
    pub fn level(&self) -> Level {
        match self {
            Command::Help(_)
            | Command::Prompt
            | Command::Quit
            | Command::ShowInfo
            | Command::ShowStat
            | Command::ShowServersState(_)
            | Command::ShowBackend
            | Command::ShowTables
            | Command::ShowTable { filter: None, .. }
            | Command::GetWeight(_)
            | Command::ShowCliLevel
            | Command::LowerLevel(Level::User) => Level::User,
            Command::ShowTable {
                filter: Some(_), ..
            }
            | Command::ClearTable { .. }
            | Command::LowerLevel(_) => Level::Operator,
            Command::SetState(..) | Command::SetWeight(..) | Command::ShutdownSessions(_) => {
                Level::Admin
            }
        }
    }

    /// Whether it changes run-time state (what the audit log records).
    pub fn changes_state(&self) -> bool {
        matches!(
            self,
            Command::ClearTable { .. }
                | Command::SetState(..)
                | Command::SetWeight(..)
                | Command::ShutdownSessions(_)
        )
    }
}

/// Why a command was not parsed. The text is the one-line answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but blanks.
    #[error("Empty command; 'help' lists the commands.")]
    Empty,
    /// No such command.
    #[error("Unknown command: '{0}'; 'help' lists the commands.")]
    Unknown(String),
    /// A HAProxy command proxyd does not implement.
    #[error("'{0}' is a HAProxy command proxyd does not implement; 'help' lists the commands.")]
    NotImplemented(String),
    /// A `<backend>/<server>` argument is missing or has no `/`.
    #[error("Require 'backend/server'.")]
    RequireServer,
    /// `set server B/S` without a known option.
    #[error("usage: set server <backend>/<server> state ready|drain|maint | weight <weight>[%]")]
    SetServerUsage,
    /// `set server B/S state` with a wrong word.
    #[error("'set server <srv> state' expects 'ready', 'drain' and 'maint'.")]
    StateExpected,
    /// No weight given.
    #[error("Require <weight> or <weight%>.")]
    WeightRequired,
    /// The weight does not start with a number.
    #[error("Empty weight string empty or preceded by garbage")]
    WeightGarbage,
    /// Something follows the number.
    #[error("Trailing garbage in weight string")]
    WeightTrailing,
    /// An absolute weight outside 0..=256.
    #[error("Absolute weight can only be between 0 and 256 inclusive.")]
    WeightRange,
    /// A negative percentage.
    #[error("Relative weight must be positive.")]
    WeightNegative,
    /// `clear table` without a table, or with an unknown filter.
    #[error(
        "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>"
    )]
    ClearTableArgs,
    /// `show table <t>` with an unknown filter.
    #[error(
        "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>"
    )]
    ShowTableArgs,
    /// `key` without a value.
    #[error("Key value expected")]
    KeyExpected,
    /// `data.<type>` other than `server_id` (the only data proxyd's tables store).
    #[error("Filter entry #{0}: Unknown data type")]
    DataType(usize),
    /// A data filter without a valid operator.
    #[error(
        "Filter entry #{0}: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\""
    )]
    DataOperator(usize),
    /// A data filter without an integer.
    #[error("Filter entry #{0}: Require a valid integer value to compare against")]
    DataValue(usize),
    /// More data filters than HAProxy accepts.
    #[error("Too many filters, at most {MAX_TABLE_FILTERS} are supported")]
    TooManyFilters,
    /// A variant of a known command proxyd does not implement (`show info json`, `set server
    /// B/S addr`, ...).
    #[error("'{0}' is not supported by proxyd.")]
    Unsupported(String),
}

/// A command that failed to parse, with the level its command word needs: a caller below
/// that level answers `Permission denied` instead (HAProxy checks the level first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Level of the command the words name (`User` for an unknown command).
    pub level: Level,
    /// What is wrong.
    pub error: ParseError,
}

/// Splits one line into commands (separated by unescaped `;`) of words (separated by
/// unescaped spaces or tabs). A `\` makes the next character literal. A trailing `\r` (from a
/// telnet client) is dropped; empty commands are kept as empty word lists.
pub fn split_line(line: &str) -> Vec<Vec<String>> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
                in_word = true;
            }
            ';' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                commands.push(std::mem::take(&mut words));
            }
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    commands.push(words);
    commands
}

/// HAProxy 2.6 commands proxyd does not implement, by their leading words (from its `help`).
const HAPROXY_ONLY: &[&str] = &[
    "abort ssl",
    "add acl",
    "add map",
    "add server",
    "add ssl",
    "clear acl",
    "clear counters",
    "clear map",
    "commit",
    "del acl",
    "del map",
    "del server",
    "del ssl",
    "disable agent",
    "disable dynamic-cookie",
    "disable frontend",
    "disable health",
    "enable agent",
    "enable dynamic-cookie",
    "enable frontend",
    "enable health",
    "get acl",
    "get map",
    "get var",
    "new ssl",
    "prepare",
    "set dynamic-cookie-key",
    "set map",
    "set maxconn",
    "set profiling",
    "set rate-limit",
    "set severity-output",
    "set ssl",
    "set table",
    "set timeout",
    "show acl",
    "show activity",
    "show cache",
    "show cli sockets",
    "show env",
    "show errors",
    "show events",
    "show fd",
    "show libs",
    "show map",
    "show peers",
    "show pools",
    "show profiling",
    "show resolvers",
    "show schema",
    "show servers conn",
    "show sess",
    "show ssl",
    "show startup-logs",
    "show tasks",
    "show threads",
    "show tls-keys",
    "show trace",
    "show version",
    "shutdown frontend",
    "shutdown session",
    "trace",
];

fn server_ref(word: Option<&String>) -> Result<ServerRef, ParseError> {
    let w = word.ok_or(ParseError::RequireServer)?;
    let (backend, server) = w.split_once('/').ok_or(ParseError::RequireServer)?;
    Ok(ServerRef {
        backend: backend.to_owned(),
        server: server.to_owned(),
    })
}

/// Parses a weight as HAProxy's `server_parse_weight_change_request` does (a `strtol` prefix,
/// then `%` or nothing).
pub fn parse_weight(s: &str) -> Result<Weight, ParseError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let digits_start = i;
    let mut value: i64 = 0;
    while let Some(d) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
        value = value.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        i += 1;
    }
    if i == digits_start {
        return Err(ParseError::WeightGarbage);
    }
    if negative {
        value = -value;
    }
    let rest = &s[i..];
    if rest == "%" {
        if value < 0 {
            return Err(ParseError::WeightNegative);
        }
        // HAProxy caps the percentage to avoid an overflow, then the result at 256.
        return Ok(Weight::Percent(
            u32::try_from(value.min(25_600)).unwrap_or(25_600),
        ));
    }
    if !(0..=i64::from(MAX_WEIGHT)).contains(&value) {
        return Err(ParseError::WeightRange);
    }
    if !rest.is_empty() {
        return Err(ParseError::WeightTrailing);
    }
    Ok(Weight::Absolute(u32::try_from(value).unwrap_or(0)))
}

/// The filter of `show|clear table <name> ...` (`args` after the name); `usage` is the error
/// for words that are neither `key` nor `data.*`.
fn table_filter(args: &[String], usage: ParseError) -> Result<Option<TableFilter>, ParseError> {
    let Some(first) = args.first() else {
        return Ok(None);
    };
    if first == "key" {
        return match args.get(1) {
            Some(k) => Ok(Some(TableFilter::Key(k.clone()))),
            None => Err(ParseError::KeyExpected),
        };
    }
    let mut conds = Vec::new();
    let mut rest = args;
    while let Some(word) = rest.first() {
        let n = conds.len() + 1;
        let Some(data) = word.strip_prefix("data.") else {
            return Err(usage);
        };
        if n > MAX_TABLE_FILTERS {
            return Err(ParseError::TooManyFilters);
        }
        if data != "server_id" {
            return Err(ParseError::DataType(n));
        }
        let op = rest
            .get(1)
            .and_then(|o| CmpOp::parse(o))
            .ok_or(ParseError::DataOperator(n))?;
        let value = rest
            .get(2)
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or(ParseError::DataValue(n))?;
        conds.push((op, value));
        rest = &rest[3..];
    }
    Ok(Some(TableFilter::ServerId(conds)))
}

/// The start of an unknown command for its error line (the line may be 16 KiB of garbage).
fn shorten(line: &str) -> String {
    const MAX: usize = 64;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_owned(),
    }
}

fn rejected(level: Level, error: ParseError) -> Rejected {
    Rejected { level, error }
}

/// Parses one command's words (one element of [`split_line`]).
pub fn parse(words: &[String]) -> Result<Command, Rejected> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let user = |e| rejected(Level::User, e);
    let oper = |e| rejected(Level::Operator, e);
    let admin = |e| rejected(Level::Admin, e);
    match w.as_slice() {
        [] => Err(user(ParseError::Empty)),
        ["help", rest @ ..] => Ok(Command::Help(
            rest.iter().map(|s| (*s).to_owned()).collect(),
        )),
        ["prompt", ..] => Ok(Command::Prompt),
        ["quit", ..] => Ok(Command::Quit),
        ["user", ..] => Ok(Command::LowerLevel(Level::User)),
        ["operator", ..] => Ok(Command::LowerLevel(Level::Operator)),
        ["show", "info", rest @ ..] => match rest
            .iter()
            .find(|a| matches!(**a, "json" | "typed" | "desc" | "float"))
        {
            Some(a) => Err(user(ParseError::Unsupported(format!("show info {a}")))),
            None => Ok(Command::ShowInfo),
        },
        ["show", "stat", rest @ ..] => match rest.first() {
            Some(a) => Err(user(ParseError::Unsupported(format!("show stat {a}")))),
            None => Ok(Command::ShowStat),
        },
        ["show", "servers", "state", rest @ ..] => Ok(Command::ShowServersState(
            rest.first().map(|s| (*s).to_owned()),
        )),
        ["show", "backend", ..] => Ok(Command::ShowBackend),
        ["show", "cli", "level", ..] => Ok(Command::ShowCliLevel),
        ["show", "table"] => Ok(Command::ShowTables),
        ["show", "table", name, ..] => {
            // A filter needs operator level: below it, the level answers first.
            let filter = table_filter(&words[3..], ParseError::ShowTableArgs).map_err(oper)?;
            Ok(Command::ShowTable {
                name: (*name).to_owned(),
                filter,
            })
        }
        ["clear", "table"] => Err(oper(ParseError::ClearTableArgs)),
        ["clear", "table", name, ..] => {
            let filter = table_filter(&words[3..], ParseError::ClearTableArgs).map_err(oper)?;
            Ok(Command::ClearTable {
                name: (*name).to_owned(),
                filter,
            })
        }
        ["set", "server", rest @ ..] => {
            let srv = server_ref(words.get(2)).map_err(admin)?;
            match rest.get(1..).unwrap_or_default() {
                ["state", state, ..] => {
                    let s = match *state {
                        "ready" => AdminState::Ready,
                        "drain" => AdminState::Drain,
                        "maint" => AdminState::Maint,
                        _ => return Err(admin(ParseError::StateExpected)),
                    };
                    Ok(Command::SetState(srv, s))
                }
                ["state"] => Err(admin(ParseError::StateExpected)),
                ["weight", w, ..] => Ok(Command::SetWeight(srv, parse_weight(w).map_err(admin)?)),
                ["weight"] => Err(admin(ParseError::WeightRequired)),
                [
                    opt @ ("addr" | "agent" | "agent-addr" | "agent-port" | "agent-send"
                    | "check-addr" | "check-port" | "fqdn" | "health" | "ssl"),
                    ..,
                ] => Err(admin(ParseError::Unsupported(format!("set server {opt}")))),
                _ => Err(admin(ParseError::SetServerUsage)),
            }
        }
        ["set", "weight", rest @ ..] => {
            let srv = server_ref(words.get(2)).map_err(admin)?;
            match rest.get(1) {
                Some(w) => Ok(Command::SetWeight(srv, parse_weight(w).map_err(admin)?)),
                None => Err(admin(ParseError::WeightRequired)),
            }
        }
        ["get", "weight", ..] => Ok(Command::GetWeight(server_ref(words.get(2)).map_err(user)?)),
        ["enable", "server", ..] => Ok(Command::SetState(
            server_ref(words.get(2)).map_err(admin)?,
            AdminState::Ready,
        )),
        ["disable", "server", ..] => Ok(Command::SetState(
            server_ref(words.get(2)).map_err(admin)?,
            AdminState::Maint,
        )),
        ["shutdown", "sessions", "server", ..] => Ok(Command::ShutdownSessions(
            server_ref(words.get(3)).map_err(admin)?,
        )),
        _ => {
            let line = w.join(" ");
            let known = HAPROXY_ONLY.iter().find(|p| {
                line == **p
                    || line
                        .strip_prefix(**p)
                        .is_some_and(|rest| rest.starts_with(' '))
            });
            Err(user(match known {
                Some(p) => ParseError::NotImplemented((*p).to_owned()),
                None => ParseError::Unknown(shorten(&line)),
            }))
        }
    }
}

#[cfg(test)]
mod tests;

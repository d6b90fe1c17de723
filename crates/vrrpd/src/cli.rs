//! Command line: keepalived's options (reference §3.1), parsed with clap.
//!
//! Owns: the option set, its defaults, and the split between options we act on, options we accept
//! as no-ops with a warning, and options we refuse (checkers, genhash, namespaces). Must not: read
//! the configuration, touch the network or start anything.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

/// keepalived's default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";
/// keepalived's default (parent) pid file.
pub const DEFAULT_PID_FILE: &str = "/run/keepalived.pid";
/// keepalived's default VRRP child pid file.
pub const DEFAULT_VRRP_PID_FILE: &str = "/run/keepalived_vrrp.pid";

/// syslog facility (`-S`): `0`-`7` mean local0-local7, as in keepalived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    /// `daemon` (default).
    Daemon,
    /// `user`.
    User,
    /// `local0`..`local7`.
    Local(u8),
}

impl Facility {
    /// The `LOG_*` facility value for `openlog`.
    pub fn to_libc(self) -> libc::c_int {
        match self {
            Facility::Daemon => libc::LOG_DAEMON,
            Facility::User => libc::LOG_USER,
            Facility::Local(n) => libc::LOG_LOCAL0 + (libc::c_int::from(n) << 3),
        }
    }
}

fn parse_facility(s: &str) -> Result<Facility, String> {
    let lower = s.to_ascii_lowercase();
    let local = |d: &str| {
        d.parse::<u8>()
            .ok()
            .filter(|n| *n <= 7)
            .map(Facility::Local)
    };
    match lower.as_str() {
        "daemon" => Ok(Facility::Daemon),
        "user" => Ok(Facility::User),
        _ => local(&lower)
            .or_else(|| lower.strip_prefix("local").and_then(local))
            .ok_or_else(|| {
                format!("invalid facility '{s}': expected 0-7, local0-local7, user or daemon")
            }),
    }
}

/// keepalived's `--signum` names and the signals vrrpd answers to.
fn signum(name: &str) -> Option<i32> {
    match name.to_ascii_uppercase().as_str() {
        "RELOAD" => Some(libc::SIGHUP),
        "STOP" => Some(libc::SIGTERM),
        "DATA" => Some(libc::SIGUSR1),
        "STATS" => Some(libc::SIGUSR2),
        "JSON" => Some(crate::dump::json_signal()),
        "STATS_CLEAR" => Some(crate::dump::stats_clear_signal()),
        _ => None,
    }
}

/// vrrpd's command line (a superset-compatible subset of keepalived's).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "vrrpd",
    about = "VRRP daemon, a drop-in replacement for keepalived's VRRP process",
    disable_version_flag = true
)]
pub struct Opts {
    /// Use the specified configuration file (.yaml/.yml: YAML, otherwise keepalived.conf).
    #[arg(short = 'f', long = "use-file", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub use_file: PathBuf,
    /// Check the configuration (-f), write diagnostics to LOG_FILE (default stderr) and exit:
    /// 0 valid, 1 not.
    #[arg(short = 't', long = "config-test", value_name = "LOG_FILE", num_args = 0..=1, require_equals = true)]
    pub config_test: Option<Option<PathBuf>>,
    /// Do not fork into the background.
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,
    /// Log to the console (stderr) instead of syslog.
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,
    /// Detailed (debug-level) logging.
    #[arg(short = 'D', long = "log-detail")]
    pub log_detail: bool,
    /// syslog facility: 0-7 (local0-7), local0-local7, user or daemon.
    #[arg(short = 'S', long = "log-facility", value_name = "FACILITY", value_parser = parse_facility, default_value = "daemon")]
    pub log_facility: Facility,
    /// Do not log to syslog (log to stderr).
    #[arg(short = 'G', long = "no-syslog")]
    pub no_syslog: bool,
    /// Pid file (keepalived's parent pid file).
    #[arg(short = 'p', long = "pid", value_name = "FILE", default_value = DEFAULT_PID_FILE)]
    pub pid_file: PathBuf,
    /// VRRP child pid file (vrrpd is one process: both files hold its pid).
    #[arg(short = 'r', long = "vrrp_pid", value_name = "FILE", default_value = DEFAULT_VRRP_PID_FILE)]
    pub vrrp_pid_file: PathBuf,
    /// Run the VRRP subsystem only (always the case).
    #[arg(short = 'P', long = "vrrp")]
    pub vrrp_only: bool,
    /// Run the checker subsystem only (refused: vrrpd has no checkers).
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Print the signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR or JSON and exit.
    #[arg(long = "signum", value_name = "SIGFUNC")]
    pub signum: Option<String>,
    /// Do not stop on SIGINT.
    #[arg(long = "ignore-sigint")]
    pub ignore_sigint: bool,
    /// Unix socket answering `vrrpd status` (`none` disables it).
    #[arg(long = "control-socket", value_name = "PATH", default_value = DEFAULT_CONTROL_SOCKET, global = true)]
    pub control_socket: PathBuf,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    /// Run in network namespace NAME (refused: use `ip netns exec NAME vrrpd`).
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    pub namespace: Option<String>,
    /// keepalived's hash generator (refused).
    #[arg(short = 'T', long = "genhash")]
    pub genhash: bool,

    /// Accepted for compatibility, no effect: -B/--no_bfd.
    #[arg(short = 'B', long = "no_bfd", hide = true)]
    pub no_bfd: bool,
    /// Accepted for compatibility, no effect: --all.
    #[arg(long = "all", hide = true)]
    pub all: bool,
    /// Accepted for compatibility, no effect: -X/--release-vips.
    #[arg(short = 'X', long = "release-vips", hide = true)]
    pub release_vips: bool,
    /// Accepted, not honoured (VIPs are always released on stop): -V/--dont-release-vrrp.
    #[arg(short = 'V', long = "dont-release-vrrp", hide = true)]
    pub dont_release_vrrp: bool,
    /// Accepted for compatibility, no effect: -I/--dont-release-ipvs.
    #[arg(short = 'I', long = "dont-release-ipvs", hide = true)]
    pub dont_release_ipvs: bool,
    /// Accepted for compatibility, no effect (vrrpd never respawns): -R/--dont-respawn.
    #[arg(short = 'R', long = "dont-respawn", hide = true)]
    pub dont_respawn: bool,
    /// Accepted for compatibility, no effect: -d/--dump-conf.
    #[arg(short = 'd', long = "dump-conf", hide = true)]
    pub dump_conf: bool,
    /// Accepted for compatibility, no effect: -c/--checkers_pid.
    #[arg(short = 'c', long = "checkers_pid", value_name = "FILE", hide = true)]
    pub checkers_pid: Option<PathBuf>,
    /// Accepted for compatibility, no effect: -b/--bfd_pid.
    #[arg(short = 'b', long = "bfd_pid", value_name = "FILE", hide = true)]
    pub bfd_pid: Option<PathBuf>,
    /// Accepted for compatibility, no effect: -a/--address-monitoring.
    #[arg(short = 'a', long = "address-monitoring", hide = true)]
    pub address_monitoring: bool,
    /// Accepted for compatibility, no effect: -e/--all-config.
    #[arg(short = 'e', long = "all-config", hide = true)]
    pub all_config: bool,
    /// Accepted, not honoured (no `@ID` conditional lines): -i/--config-id.
    #[arg(short = 'i', long = "config-id", value_name = "ID", hide = true)]
    pub config_id: Option<String>,
    /// Accepted for compatibility, no effect: -x/--snmp.
    #[arg(short = 'x', long = "snmp", hide = true)]
    pub snmp: bool,
    /// Accepted for compatibility, no effect: -m/--core-dump.
    #[arg(short = 'm', long = "core-dump", hide = true)]
    pub core_dump: bool,
    /// Accepted for compatibility, no effect: --no-mem-check.
    #[arg(long = "no-mem-check", hide = true)]
    pub no_mem_check: bool,
    /// Accepted for compatibility, no effect: -u/--umask.
    #[arg(short = 'u', long = "umask", value_name = "MASK", hide = true)]
    pub umask: Option<String>,

    /// Accepted for compatibility, no effect: --perf.
    #[arg(long = "perf", action = ArgAction::SetTrue, hide = true)]
    pub perf: bool,

    /// A command for a running vrrpd instead of starting one.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands for a running daemon (vrrpd's own; keepalived has none).
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Ask the running vrrpd (over --control-socket) for each instance's state, priorities,
    /// trackers, master, last transition and counters. Exit 0 answered, 1 unreachable.
    Status {
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// What `vrrpd status` asks, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRequest {
    /// The daemon's control socket.
    pub socket: PathBuf,
    /// `--json`.
    pub json: bool,
}

/// What the command line asks for once compatibility flags are sorted out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Check a configuration file and exit.
    ConfigTest {
        /// The configuration (`-f`).
        config: PathBuf,
        /// Where the diagnostics go (`-t=LOG_FILE`); `None` = stderr.
        log: Option<PathBuf>,
    },
    /// Print a signal number and exit.
    Signum(i32),
    /// Print the version and exit.
    Version,
    /// Run the daemon.
    Run,
}

/// A command line we refuse to run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// `-C`: only the checker subsystem was asked for.
    #[error("-C/--check: vrrpd has no checker subsystem (use proxyd health checks)")]
    NoCheckers,
    /// `-T`: genhash.
    #[error("-T/--genhash is not supported")]
    Genhash,
    /// `-s NAME`.
    #[error("-s/--namespace is not supported: run `ip netns exec {0} vrrpd ...` instead")]
    Namespace(String),
    /// `--signum` with an unknown name.
    #[error("unknown signal function '{0}' (STOP, RELOAD, DATA, STATS, STATS_CLEAR or JSON)")]
    Signum(String),
    /// A daemon command reached [`Opts::mode`]: the entry point must dispatch
    /// [`Opts::status_request`] first; never start a daemon for it.
    #[error("the status command is not dispatched by this entry point")]
    CommandNotDispatched,
}

impl Opts {
    /// `vrrpd status [--json]`: the request to send, if that is what the command line asks.
    pub fn status_request(&self) -> Option<StatusRequest> {
        self.command
            .as_ref()
            .map(|Command::Status { json }| StatusRequest {
                socket: self.control_socket.clone(),
                json: *json,
            })
    }

    /// What to do, or why we refuse. A daemon command ([`Opts::status_request`]) is never
    /// [`Mode::Run`].
    pub fn mode(&self) -> Result<Mode, CliError> {
        if self.command.is_some() {
            return Err(CliError::CommandNotDispatched);
        }
        if self.version {
            return Ok(Mode::Version);
        }
        if let Some(name) = &self.signum {
            return signum(name)
                .map(Mode::Signum)
                .ok_or_else(|| CliError::Signum(name.clone()));
        }
        // keepalived: `-t[=LOG_FILE]`; the configuration is always the one of `-f`.
        if let Some(log) = &self.config_test {
            return Ok(Mode::ConfigTest {
                config: self.use_file.clone(),
                log: log.clone(),
            });
        }
        if self.check {
            return Err(CliError::NoCheckers);
        }
        if self.genhash {
            return Err(CliError::Genhash);
        }
        if let Some(ns) = &self.namespace {
            return Err(CliError::Namespace(ns.clone()));
        }
        Ok(Mode::Run)
    }

    /// One warning per accepted keepalived option that has no effect here.
    pub fn warnings(&self) -> Vec<String> {
        let flags: [(bool, &str); 17] = [
            (self.no_bfd, "-B/--no_bfd"),
            (self.all, "--all"),
            (self.release_vips, "-X/--release-vips"),
            (
                self.dont_release_vrrp,
                "-V/--dont-release-vrrp (VIPs are always released on stop)",
            ),
            (self.dont_release_ipvs, "-I/--dont-release-ipvs"),
            (
                self.dont_respawn,
                "-R/--dont-respawn (vrrpd is a single process)",
            ),
            (self.dump_conf, "-d/--dump-conf"),
            (self.checkers_pid.is_some(), "-c/--checkers_pid"),
            (self.bfd_pid.is_some(), "-b/--bfd_pid"),
            (self.address_monitoring, "-a/--address-monitoring"),
            (self.all_config, "-e/--all-config"),
            (
                self.config_id.is_some(),
                "-i/--config-id (conditional @ID lines are not evaluated)",
            ),
            (self.snmp, "-x/--snmp"),
            (self.core_dump, "-m/--core-dump"),
            (self.no_mem_check, "--no-mem-check"),
            (self.umask.is_some(), "-u/--umask"),
            (self.perf, "--perf"),
        ];
        flags
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, name)| {
                format!("option {name} is accepted for keepalived compatibility and ignored")
            })
            .collect()
    }

    /// Logs go to stderr (not syslog): `-l`, `-G`, or not daemonized.
    pub fn log_to_stderr(&self) -> bool {
        self.log_console || self.no_syslog || self.dont_fork
    }
}

/// The `-v` text. keepalived prints its version on stderr; exporters parse it from there.
pub fn version_text() -> String {
    // keepalived's first line is `Keepalived v2.2.7 (01/16,2022)`, and tools parse its second
    // word as the version whose formats to expect (keepalived-exporter needs >= 1.3.8 for the
    // JSON dump): vrrpd names the keepalived release whose behaviour and formats it follows.
    format!(
        "Keepalived v{KEEPALIVED_COMPAT} (vrrpd {}, keepalived-compatible VRRP daemon)\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The keepalived release whose behaviour, command line and file formats vrrpd follows.
pub const KEEPALIVED_COMPAT: &str = "2.2.7";

/// Default control socket (systemd `RuntimeDirectory=vrrpd`).
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/vrrpd/control.sock";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Opts {
        Opts::try_parse_from(std::iter::once("vrrpd").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn defaults_are_keepalived_paths() {
        let o = parse(&[]);
        assert_eq!(o.use_file, PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(o.pid_file, PathBuf::from(DEFAULT_PID_FILE));
        assert_eq!(o.vrrp_pid_file, PathBuf::from(DEFAULT_VRRP_PID_FILE));
        assert_eq!(o.log_facility, Facility::Daemon);
        assert_eq!(o.mode(), Ok(Mode::Run));
        assert!(!o.log_to_stderr());
    }

    #[test]
    fn config_test_checks_use_file_and_takes_an_optional_log_file() {
        let test = |config: &str, log: Option<&str>| {
            Ok(Mode::ConfigTest {
                config: config.into(),
                log: log.map(PathBuf::from),
            })
        };
        assert_eq!(parse(&["-t"]).mode(), test(DEFAULT_CONFIG, None));
        assert_eq!(
            parse(&["-f", "/x.conf", "-t"]).mode(),
            test("/x.conf", None)
        );
        assert_eq!(
            parse(&["-f", "/x.conf", "--config-test=/tmp/check.log"]).mode(),
            test("/x.conf", Some("/tmp/check.log"))
        );
        assert_eq!(
            parse(&["-t=/tmp/check.log"]).mode(),
            test(DEFAULT_CONFIG, Some("/tmp/check.log"))
        );
        // Without `=` the next word is not the option's value (keepalived's getopt `t::`).
        assert!(
            Opts::try_parse_from(["vrrpd", "-t", "/y.conf"]).is_err(),
            "a stray argument is refused"
        );
    }

    #[test]
    fn keepalived_systemd_command_line_parses() {
        // Debian's unit: keepalived --dont-fork $DAEMON_ARGS, with typical DAEMON_ARGS.
        let o = parse(&["--dont-fork", "-D", "-P", "-S", "local3", "-l"]);
        assert!(o.dont_fork && o.log_detail && o.vrrp_only && o.log_console);
        assert_eq!(o.log_facility, Facility::Local(3));
        assert!(o.warnings().is_empty());
        assert_eq!(o.mode(), Ok(Mode::Run));
    }

    #[test]
    fn facility_forms() {
        assert_eq!(parse_facility("5"), Ok(Facility::Local(5)));
        assert_eq!(parse_facility("LOCAL7"), Ok(Facility::Local(7)));
        assert_eq!(parse_facility("user"), Ok(Facility::User));
        assert!(parse_facility("8").is_err());
        assert!(parse_facility("local8").is_err());
        assert!(parse_facility("kern").is_err());
        assert_eq!(Facility::Local(2).to_libc(), libc::LOG_LOCAL2);
    }

    #[test]
    fn refused_and_ignored_options() {
        assert_eq!(parse(&["-C"]).mode(), Err(CliError::NoCheckers));
        assert_eq!(
            parse(&["-s", "ns1"]).mode(),
            Err(CliError::Namespace("ns1".into()))
        );
        let o = parse(&["-X", "-R", "-c", "/run/c.pid"]);
        assert_eq!(o.mode(), Ok(Mode::Run));
        assert_eq!(o.warnings().len(), 3);
        assert_eq!(parse(&["--signum=RELOAD"]).mode(), Ok(Mode::Signum(1)));
        assert_eq!(parse(&["--signum", "stop"]).mode(), Ok(Mode::Signum(15)));
        assert_eq!(parse(&["--signum=JSON"]).mode(), Ok(Mode::Signum(36)));
        assert_eq!(
            parse(&["--signum=STATS_CLEAR"]).mode(),
            Ok(Mode::Signum(63))
        );
        assert_eq!(parse(&["--signum=DATA"]).mode(), Ok(Mode::Signum(10)));
        assert_eq!(parse(&["--signum=STATS"]).mode(), Ok(Mode::Signum(12)));
        assert!(parse(&["--signum=TDATA"]).mode().is_err());
        assert_eq!(parse(&["-v"]).mode(), Ok(Mode::Version));
    }

    #[test]
    fn status_command_names_the_socket_and_never_runs_the_daemon() {
        let o = parse(&["status"]);
        assert_eq!(
            o.status_request(),
            Some(StatusRequest {
                socket: DEFAULT_CONTROL_SOCKET.into(),
                json: false
            })
        );
        assert_eq!(o.mode(), Err(CliError::CommandNotDispatched));
        let o = parse(&["status", "--json", "--control-socket", "/tmp/c.sock"]);
        assert_eq!(
            o.status_request(),
            Some(StatusRequest {
                socket: "/tmp/c.sock".into(),
                json: true
            })
        );
        let o = parse(&["--control-socket=/tmp/d.sock", "status"]);
        assert_eq!(
            o.status_request().map(|r| r.socket),
            Some("/tmp/d.sock".into())
        );
        assert_eq!(parse(&[]).status_request(), None);
        assert!(Opts::try_parse_from(["vrrpd", "status", "--xml"]).is_err());
    }
}

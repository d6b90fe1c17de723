//! vrrpd: a drop-in replacement for keepalived's VRRP process, as a thin I/O shell around
//! `lbcore`'s sans-io VRRP state machine.
//!
//! The library holds everything but argument handling; `main.rs` parses the command line, loads
//! the configuration, daemonizes, installs logging and calls [`run`].
//!
//! - [`cli`]: keepalived's command-line options.
//! - [`config`]: loading (keepalived.conf or YAML) and `-t`.
//! - [`daemon`]: [`run`]: set-up, signals, shutdown.
//! - [`driver`]: one task per instance around `lbcore::vrrp::fsm::Instance`.
//! - [`rx`]: receive loop per socket: checks, decode, demultiplex by VRID.
//! - [`socket`]: raw VRRP sockets. [`garp`]: gratuitous ARP / unsolicited NA.
//! - [`track`]: trackers and the hub that turns their verdicts into priorities and faults.
//! - [`notify`]: state-change announcements (scripts, FIFO, mail) off the drivers' path.
//! - [`control`]: the status socket behind `vrrpd status`; [`dump`]: keepalived's signal dumps.
//! - [`netlink`]: interfaces and VIPs. [`pidfile`], [`logging`], [`status`], [`ratelimit`],
//!   [`clock`], [`sys`] (every `unsafe` block).

pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod driver;
pub mod dump;
pub mod garp;
pub mod logging;
pub mod netlink;
pub mod notify;
pub mod pidfile;
pub mod ratelimit;
pub mod rx;
pub mod socket;
pub mod status;
pub mod sync;
pub mod sys;
pub mod track;

pub use daemon::{RunError, RunOptions, run};

/// Process exit codes (DESIGN §3.6).
pub mod exit {
    /// Normal exit; `-t` on a valid file.
    pub const OK: u8 = 0;
    /// Fatal runtime error; `-t` on an invalid file; refused command line.
    pub const FATAL: u8 = 1;
    /// The configuration is invalid at startup (EX_USAGE).
    pub const CONFIG: u8 = 64;
}

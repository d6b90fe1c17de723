//! Health checks (reference §3.6): one-shot probes with HAProxy's status codes ([`run_check`]) and
//! a per-server task that feeds `lbcore`'s rise/fall counter and flips the server's usable flag
//! ([`spawn_checker`]).
//!
//! Owns check I/O and state-change logging; it must not choose servers or touch sessions beyond
//! announcing DOWN transitions on a watch channel (`on-marked-down shutdown-sessions`).

pub mod checker;
pub mod probe;
pub mod tls;

pub use checker::{
    CheckError, CheckSpec, Checker, Peer, ServerCheck, UsableFlag, first_check_offset, spawn_all,
    spawn_checker, transition_line,
};
pub use probe::{CheckOptions, CheckResult, Status, run_check, run_check_with};
pub use tls::TlsCheck;

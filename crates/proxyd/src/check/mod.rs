//! Health checks (reference §3.6): one-shot probes with HAProxy's status codes ([`run_check`]) and
//! a per-server task that feeds `lbcore`'s rise/fall counter and flips the server's usable flag
//! ([`spawn_checker`]).
//!
//! Owns check I/O and state-change logging; it must not choose servers or touch sessions beyond
//! announcing DOWN transitions on a watch channel (`on-marked-down shutdown-sessions`).

pub mod checker;
pub mod preflight;
pub mod probe;
pub mod tls;

pub use checker::{
    CheckError, CheckSpec, Checker, Peer, ServerCheck, UsableFlag, first_check_offset, spawn_all,
    spawn_checker, transition_line,
};
pub use preflight::preflight;
pub use probe::{CheckResult, HTTP_CHECK_BUFSIZE, Status, run_check};
pub use tls::{TlsCheck, TlsSetupError, load_ca_file};

//! keepalived-compatible dump files for existing tooling (keepalived-vrrp.md §3.2, §3.5):
//! SIGUSR1 writes `keepalived.data`, SIGUSR2 `keepalived.stats`, SIGRTMIN+2 `keepalived.json`.
//!
//! Owns the three formats and writing them atomically. It must not change any state.

use lbcore::config::vrrp::VrrpConfig;

use crate::status::{InstanceStatus, Shared};

/// Which dump a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dump {
    /// SIGUSR1: configuration and state (`keepalived.data`).
    Data,
    /// SIGUSR2: counters (`keepalived.stats`).
    Stats,
    /// SIGRTMIN+2: JSON (`keepalived.json`).
    Json,
}

/// The signal number keepalived uses for the JSON dump (SIGRTMIN+2).
pub fn json_signal() -> i32 {
    libc::SIGRTMIN() + 2
}

/// Handles a dump signal.
///
/// Not wired yet: logs that the dump is not written (the dump module fills this in).
pub fn on_signal(kind: Dump, config: &VrrpConfig, statuses: &[Shared<InstanceStatus>]) {
    let _ = (config, statuses);
    let signal = match kind {
        Dump::Data => "sigusr1",
        Dump::Stats => "sigusr2",
        Dump::Json => "sigrtmin+2",
    };
    tracing::info!("{signal}: state dumps are not implemented yet; ignored");
}

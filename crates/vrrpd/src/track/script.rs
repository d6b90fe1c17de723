//! `vrrp_script` trackers: the command run directly at each interval, its exit status fed
//! through keepalived's rise/fall counter (`lbcore::vrrp::track::ScriptCounter`).
//!
//! Not implemented yet: scripts stay in their initial status.

use lbcore::config::vrrp::{GlobalDefs, VrrpScript};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Verdict;

/// Starts one task per script; each sends a [`Verdict`] (with its index) when its status changes.
pub fn start_all(
    scripts: Vec<(usize, VrrpScript)>,
    global: &GlobalDefs,
    tx: &mpsc::Sender<Verdict>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let _ = (global, tx, stop, tasks);
    for (_, s) in scripts {
        tracing::warn!(script = %s.name, "vrrp_script tracking is not implemented yet; the script is not run");
    }
}

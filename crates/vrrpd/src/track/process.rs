//! `vrrp_track_process` trackers, driven by kernel process events (proc connector), not polling.
//!
//! Not implemented yet: processes stay in their initial status.

use lbcore::config::vrrp::TrackProcess;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Verdict;

/// Starts watching every process tracker; sends a [`Verdict`] (with its index) on each change.
pub fn start_all(
    processes: Vec<(usize, TrackProcess)>,
    tx: &mpsc::Sender<Verdict>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let _ = (tx, stop, tasks);
    for (_, p) in processes {
        tracing::warn!(process = %p.name, "vrrp_track_process is not implemented yet; not tracked");
    }
}

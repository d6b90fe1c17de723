//! `track_file` trackers: a number read from a file, times the weight.
//!
//! Not implemented yet: files stay in their initial status.

use lbcore::config::vrrp::TrackFile;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Verdict;

/// Starts watching every track file; sends a [`Verdict`] with the value read on each change.
pub fn start_all(
    files: Vec<(usize, TrackFile)>,
    tx: &mpsc::Sender<Verdict>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let _ = (tx, stop, tasks);
    for (_, f) in files {
        tracing::warn!(file = %f.name, "track_file is not implemented yet; not tracked");
    }
}

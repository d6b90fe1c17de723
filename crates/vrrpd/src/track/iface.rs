//! Interface trackers (`track_interface`, and each instance's own interface unless
//! `dont_track_primary`): link up/down from rtnetlink events.
//!
//! Not implemented yet: interfaces stay in their initial status (no FAULT on link loss).

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Verdict;

/// Starts watching the links named in `interfaces`; sends a [`Verdict`] on each change.
pub fn start_all(
    interfaces: Vec<(usize, String)>,
    tx: &mpsc::Sender<Verdict>,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let _ = (interfaces, tx, stop, tasks);
}

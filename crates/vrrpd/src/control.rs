//! The control socket behind `vrrpd status [--json]`.
//!
//! Owns the Unix socket, its request/answer format and rendering instance snapshots for it. It
//! must not change any state: it only reads [`crate::status`].

use tokio_util::sync::CancellationToken;

use crate::daemon::RunOptions;
use crate::status::{InstanceStatus, Shared};

/// Starts answering status queries until `stop`.
///
/// Not wired yet: returns `None` (the control module fills this in).
pub fn spawn(
    opts: &RunOptions,
    statuses: Vec<Shared<InstanceStatus>>,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let _ = (opts, statuses, stop);
    None
}

//! The daemon's one clock read.
//!
//! Owns: turning "now" into the `std::time::Instant` that lbcore's state machine takes. It reads
//! tokio's clock (CLOCK_MONOTONIC, and pausable in tests), never `std::time::Instant::now`. Must
//! not: be bypassed; every other module gets time from here.

use std::time::Instant;

/// Now, on tokio's monotonic clock.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A tokio sleep deadline for an lbcore instant.
pub fn deadline(at: Instant) -> tokio::time::Instant {
    tokio::time::Instant::from_std(at)
}

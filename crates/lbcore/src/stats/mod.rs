//! The stats page's data model and its renderers: HAProxy's HTML report, CSV (`;csv`, `show
//! stat`), typed JSON (`;json`) and the Prometheus exposition (`/metrics`).
//!
//! Owns: a plain [`Snapshot`] of proxies, frontends, backends and servers with HAProxy's
//! counters, the status text rules ([`status`]) and pure text renderers. It must not do I/O nor
//! read a clock: the caller (proxyd's stats listener, the runtime API) builds the snapshot from
//! its run-time state and passes ages (`lastchg`, `downtime`, uptime) as durations. Formats
//! follow HAProxy 2.6 as observed locally (reference §3.1, §3.5).

pub mod csv;
pub mod html;
pub mod json;
pub mod model;
pub mod prometheus;
pub mod status;

pub use model::*;
pub use status::{ServerStatus, backend_status, frontend_status, server_status};

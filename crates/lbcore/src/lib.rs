//! Pure shared core of the `proxyd` + `vrrpd` load-balancer pair.
//!
//! This crate contains no networking code and takes no timestamps from the OS: every function that
//! needs the time is given it (`now: Instant`), and every byte it decodes or encodes comes from or goes
//! to a caller-owned buffer. The daemons are thin I/O shells around it.
//!
//! - [`balance`]: server selection (HAProxy's balance algorithms), stick tables and health-check
//!   rise/fall hysteresis.
//! - [`config`]: typed configuration models and their front ends (keepalived.conf, YAML), with
//!   `file:line:col` diagnostics ([`diag`]).
//! - [`liveness`]: the pid-file and liveness-socket contract between proxyd and vrrpd.
//! - [`vrrp`]: the VRRP wire format, timers and sans-io state machine.
#![forbid(unsafe_code)]

pub mod balance;
pub mod config;
pub mod diag;
pub mod liveness;
pub mod peers;
pub mod runtime_api;
pub mod stats;
pub mod vrrp;

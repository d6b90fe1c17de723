//! Typed configuration models and their front ends.
//!
//! Two stages, as DESIGN §3.4 says: a front end (keepalived.conf or YAML) reads text into raw
//! structures and reports every problem with its `file:line:col`; `validate` turns them into the
//! domain types below (`Duration`, enums, checked ranges) that the daemons use.
//!
//! - [`vrrp`]: the domain model of vrrpd (global_defs, scripts, tracked processes, instances,
//!   sync groups).
//! - [`keepalived`]: keepalived.conf front end (lexer with includes, keyword tables).
//! - [`vrrp_yaml`]: the YAML front end for the same model.

pub mod keepalived;
pub mod vrrp;
pub mod vrrp_yaml;

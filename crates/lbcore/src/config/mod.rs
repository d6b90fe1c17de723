//! Typed configuration models and their front ends.
//!
//! Two stages, as DESIGN §3.4 says: a front end (keepalived.conf or YAML) reads text into raw
//! structures and reports every problem with its `file:line:col`; validation turns them into the
//! domain types below (`Duration`, enums, checked ranges) that the daemons use. Both vrrpd front
//! ends share one validation ([`keepalived`]'s), so a setting means the same in either dialect.
//!
//! - [`vrrp`]: the domain model of vrrpd (global_defs, scripts, tracked processes, instances,
//!   sync groups).
//! - [`keepalived`]: keepalived.conf front end (lexer with includes, keyword tables).
//! - [`vrrp_yaml`]: the YAML front end for the same model.
//! - [`load_vrrp`]: picks the front end from the file name.
//! - [`proxy`]: the domain model of proxyd (global, frontends, backends, servers, stick tables,
//!   ACLs, health checks).
//! - [`haproxy`]: the haproxy.cfg front end (the subset Exchange deployments use).
//! - [`proxy_yaml`]: the YAML front end for the same model (haproxy.cfg keywords as keys).
//! - [`load_proxy`]: picks the proxyd front end from the file name.

pub mod haproxy;
pub mod keepalived;
pub mod proxy;
pub mod proxy_yaml;
pub mod vrrp;
pub mod vrrp_yaml;

use std::collections::BTreeMap;
use std::path::Path;

use crate::diag::{Diagnostics, Span};
use vrrp::VrrpConfig;

/// Reads vrrpd's configuration from `path`: `.yaml` / `.yml` with the YAML front end, anything
/// else as keepalived.conf. Returns `Some(config)` iff no diagnostic is an error.
pub fn load_vrrp(path: &Path) -> (Option<VrrpConfig>, Diagnostics) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let mut d = Diagnostics::new();
            d.error(
                &Span::file_start(path),
                format!("cannot read configuration file: {e}"),
            );
            return (None, d);
        }
    };
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    if yaml {
        vrrp_yaml::parse_str(&text, path)
    } else {
        keepalived::parse_str(&text, path)
    }
}

/// Reads proxyd's configuration from `path`: `.yaml` / `.yml` with the YAML front end, anything
/// else as haproxy.cfg; `env` feeds `${VAR}` expansion (lbcore never reads the process
/// environment). Returns `Some(config)` iff no diagnostic is an error.
pub fn load_proxy(
    path: &Path,
    env: &BTreeMap<String, String>,
) -> (Option<proxy::ProxyConfig>, Diagnostics) {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let yaml = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
            if yaml {
                proxy_yaml::parse_str(&text, path, env)
            } else {
                haproxy::parse_str(&text, path, env)
            }
        }
        Err(e) => {
            let mut d = Diagnostics::new();
            d.error(
                &Span::file_start(path),
                format!("cannot read configuration file: {e}"),
            );
            (None, d)
        }
    }
}

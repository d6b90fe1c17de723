//! Startup checks of what the health checks will need from outside the config text: every
//! `ca-file` readable and holding PEM certificates, `check-sni`/`verifyhost` valid names, and
//! every `http-check expect rstatus|rstring` a valid regular expression. lbcore reads no files
//! and has no regex engine, so this runs in proxyd right after the config is parsed.
//!
//! Owns those checks and their located diagnostics; it must not start checks or keep state.

use lbcore::config::proxy::{HealthCheck, HttpMatch, ProxyConfig};
use lbcore::diag::Diagnostics;

use super::tls::TlsCheck;

/// Problems of `config` only visible with the filesystem and the regex engine, as
/// `file:line:col` errors (the `ca-file` path, the server line, the regex pattern).
pub fn preflight(config: &ProxyConfig) -> Diagnostics {
    let mut d = Diagnostics::new();
    for be in &config.backends {
        for s in &be.servers {
            // HAProxy loads `ca-file` while parsing the server line, used or not.
            if let Some(ca) = &s.ca_file
                && let Err(e) = super::tls::load_ca_file(&ca.path)
            {
                d.error(
                    &ca.span,
                    format!("'server {}/{}': 'ca-file' : {e}", be.name, s.name),
                );
                continue;
            }
            if let Err(e) = TlsCheck::for_server(s) {
                d.error(
                    &e.span,
                    format!("'server {}/{}': {}", be.name, s.name, e.message),
                );
            }
        }
        if let HealthCheck::Http { expect, .. } = &be.health_check {
            for e in expect {
                if let HttpMatch::Rstatus(p) | HttpMatch::Rstring(p) = &e.matcher
                    && let Err(err) = regex::bytes::Regex::new(p)
                {
                    let first = err.to_string();
                    let first = first.lines().last().unwrap_or("").trim().to_owned();
                    d.error(
                        &e.span,
                        format!(
                            "backend '{}': invalid regular expression '{p}' in 'http-check expect': {first}",
                            be.name
                        ),
                    );
                }
            }
        }
    }
    d
}

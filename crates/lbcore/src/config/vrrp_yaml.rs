//! YAML front end for the vrrpd model. Being written.

use std::path::Path;

use crate::config::vrrp::VrrpConfig;
use crate::diag::Diagnostics;

/// Parses vrrpd YAML text read from `path`. Returns `Some(config)` iff no diagnostic is an error.
pub fn parse_str(_text: &str, _path: &Path) -> (Option<VrrpConfig>, Diagnostics) {
    (None, Diagnostics::new())
}

//! haproxy.cfg front end for proxyd (reference §2): the subset Exchange deployments use.
//!
//! Two stages, like the keepalived front end: [`lexer`] turns text into positioned words, then
//! [`parser`] reads sections and keywords into drafts (folding `defaults` into each proxy) and
//! validates them into a [`ProxyConfig`], reporting every problem in one pass, cross-references
//! included. Must not read files other than the one given, nor the process environment.

pub mod lexer;
pub mod parser;

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::proxy::ProxyConfig;
use crate::diag::Diagnostics;

/// Parses haproxy.cfg `text` (named `file` in diagnostics); `env` feeds `${VAR}` expansion.
/// Returns `Some(config)` iff no diagnostic is an error.
pub fn parse_str(
    text: &str,
    file: &Path,
    env: &BTreeMap<String, String>,
) -> (Option<ProxyConfig>, Diagnostics) {
    let mut diags = Diagnostics::new();
    let lines = lexer::lex(text, file, env, &mut diags);
    let cfg = parser::parse(&lines, file, &mut diags);
    if diags.has_errors() {
        (None, diags)
    } else {
        (Some(cfg), diags)
    }
}

//! keepalived.conf front end: reads a keepalived 2.2.7 configuration unchanged (drop-in) into
//! the vrrpd model.
//!
//! Pipeline: `params` (conditional lines, `$NAME` parameters) → `lexer` (comments, quotes,
//! escapes, continuation, includes; every token has its `file:line:col`) → `tree` (blocks) → `parser` (keyword tables of reference §1.2–1.7 into
//! the keyword-level `raw` form) → `validate` (ranges, defaults, cross-references; shared with
//! the YAML front end). Every problem is reported in one pass. Must not: do any I/O other than
//! reading the included files.

pub(crate) mod keywords;
pub(crate) mod lexer;
pub(crate) mod params;
pub(crate) mod parser;
pub(crate) mod raw;
pub(crate) mod tree;
pub(crate) mod validate;

use std::path::Path;

use crate::config::vrrp::VrrpConfig;
use crate::diag::{Diagnostics, Span};

/// Parses keepalived.conf text read from `path` (used in diagnostics and as the base directory
/// of relative includes). Returns `Some(config)` iff no diagnostic is an error.
pub fn parse_str(text: &str, path: &Path) -> (Option<VrrpConfig>, Diagnostics) {
    let mut d = Diagnostics::new();
    let toks = lexer::lex(text, path, &mut d);
    let nodes = tree::build(&toks, &mut d);
    let raw = parser::interpret(&nodes, Span::file_start(path), &mut d);
    let config = validate::validate(raw, &mut d);
    if d.has_errors() {
        (None, d)
    } else {
        (Some(config), d)
    }
}

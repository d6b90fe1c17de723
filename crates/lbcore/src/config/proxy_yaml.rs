//! YAML front end for the proxyd model.
//!
//! Owns: the YAML schema, which is haproxy.cfg's keywords as mapping keys, so one document
//! describes both dialects and both go through the same keyword reader and validation
//! ([`super::haproxy::parser`]). A value becomes one haproxy.cfg statement per scalar:
//!
//! - `key: value` → `key value` (the value is split into words with haproxy.cfg's lexical rules);
//! - `key: [a, b]` → `key a` and `key b`; `key: {sub: v}` → `key sub v` (nesting composes);
//! - `key: true` or `key:` (empty) → `key`; `key: false` → nothing;
//! - top level: `global:` and `defaults:` mappings, and `frontend:`, `backend:`, `listen:`,
//!   `peers:` mappings of section name → keyword mapping, read in document order (so
//!   `peers: {lbpair: {peer: {lb1: "192.0.2.11:10000"}}}` is `peers lbpair` / `peer lb1 …`);
//! - `${VAR}`, `$VAR`, `${VAR-default}` expand anywhere in a value (YAML quotes are YAML's).
//!
//! Positions come from yaml-rust2's marked events. Must not read any file but the one given,
//! nor the process environment.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::haproxy::lexer::{self, Line, Word};
use super::haproxy::parser;
use super::proxy::ProxyConfig;
use crate::diag::{Diagnostics, Span, did_you_mean};

const TOP: &[&str] = &[
    "global", "defaults", "frontend", "backend", "listen", "peers",
];

/// Parses proxyd YAML `text` read from `path`; `env` feeds `${VAR}` expansion. Returns
/// `Some(config)` iff no diagnostic is an error.
pub fn parse_str(
    text: &str,
    path: &Path,
    env: &BTreeMap<String, String>,
) -> (Option<ProxyConfig>, Diagnostics) {
    let mut d = Diagnostics::new();
    let file: Arc<Path> = Arc::from(path);
    let mut rx = Rx(Vec::new());
    if let Err(e) = Parser::new_from_str(text).load(&mut rx, false) {
        d.error(
            &span(&file, e.marker()),
            format!("invalid YAML: {}", e.info()),
        );
        return (None, d);
    }
    let mut i =
        rx.0.iter()
            .position(|(e, _)| matches!(e, Event::DocumentStart))
            .map_or(rx.0.len(), |p| p + 1);
    let root = node(&rx.0, &mut i, &file);
    let mut lines = Vec::new();
    let mut cx = Cx {
        file: &file,
        env,
        d: &mut d,
    };
    match root {
        None | Some(Node::Scalar(..)) if text.trim().is_empty() => {}
        Some(Node::Map(entries, _)) => cx.top(&entries, &mut lines),
        Some(other) => cx.d.error(
            other.span(),
            "the document must be a mapping of global, defaults, frontend, backend, listen, peers",
        ),
        None => {
            cx.d.error(&Span::new(file.clone(), 1, 1), "unreadable YAML document")
        }
    }
    let cfg = parser::parse(&lines, path, &mut d);
    if d.has_errors() {
        (None, d)
    } else {
        (Some(cfg), d)
    }
}

struct Rx(Vec<(Event, Marker)>);

impl MarkedEventReceiver for Rx {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.0.push((ev, mark));
    }
}

fn span(file: &Arc<Path>, m: &Marker) -> Span {
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    Span::new(file.clone(), n(m.line()), n(m.col() + 1))
}

enum Node {
    Scalar(String, TScalarStyle, Span),
    Map(Vec<(Node, Node)>, Span),
    Seq(Vec<Node>, Span),
}

impl Node {
    fn span(&self) -> &Span {
        match self {
            Node::Scalar(_, _, s) | Node::Map(_, s) | Node::Seq(_, s) => s,
        }
    }
}

fn node(ev: &[(Event, Marker)], i: &mut usize, file: &Arc<Path>) -> Option<Node> {
    let (e, m) = ev.get(*i)?;
    let sp = span(file, m);
    *i += 1;
    match e {
        Event::Scalar(v, style, ..) => Some(Node::Scalar(v.clone(), *style, sp)),
        // Aliases are not expanded; an alias reads as an empty value.
        Event::Alias(_) => Some(Node::Scalar(String::new(), TScalarStyle::Plain, sp)),
        Event::MappingStart(..) => {
            let mut out = Vec::new();
            loop {
                if matches!(ev.get(*i)?.0, Event::MappingEnd) {
                    *i += 1;
                    return Some(Node::Map(out, sp));
                }
                let k = node(ev, i, file)?;
                let v = node(ev, i, file)?;
                out.push((k, v));
            }
        }
        Event::SequenceStart(..) => {
            let mut out = Vec::new();
            loop {
                if matches!(ev.get(*i)?.0, Event::SequenceEnd) {
                    *i += 1;
                    return Some(Node::Seq(out, sp));
                }
                out.push(node(ev, i, file)?);
            }
        }
        _ => None,
    }
}

struct Cx<'a> {
    file: &'a Arc<Path>,
    env: &'a BTreeMap<String, String>,
    d: &'a mut Diagnostics,
}

impl Cx<'_> {
    fn key(&mut self, k: &Node) -> Option<(String, Span)> {
        match k {
            Node::Scalar(s, _, sp) => Some((s.clone(), sp.clone())),
            other => {
                self.d.error(other.span(), "a key must be a plain string");
                None
            }
        }
    }

    fn top(&mut self, entries: &[(Node, Node)], lines: &mut Vec<Line>) {
        for (k, v) in entries {
            let Some((name, sp)) = self.key(k) else {
                continue;
            };
            let head = Word {
                text: name.clone(),
                span: sp.clone(),
            };
            match name.as_str() {
                "global" | "defaults" => {
                    lines.push(Line { words: vec![head] });
                    self.body(v, lines);
                }
                "frontend" | "backend" | "listen" | "peers" => {
                    let Node::Map(proxies, _) = v else {
                        self.d.error(
                            v.span(),
                            format!("'{name}' must be a mapping of proxy name to keywords"),
                        );
                        continue;
                    };
                    for (pk, pv) in proxies {
                        let Some((pname, psp)) = self.key(pk) else {
                            continue;
                        };
                        lines.push(Line {
                            words: vec![
                                head.clone(),
                                Word {
                                    text: pname,
                                    span: psp,
                                },
                            ],
                        });
                        self.body(pv, lines);
                    }
                }
                _ => {
                    let hint = did_you_mean(&name, TOP.iter().copied())
                        .map(|c| format!("; did you mean '{c}'?"))
                        .unwrap_or_default();
                    self.d.error(
                        &sp,
                        format!("unknown top-level key '{name}': global, defaults, frontend, backend, listen or peers expected{hint}"),
                    );
                }
            }
        }
    }

    fn body(&mut self, v: &Node, lines: &mut Vec<Line>) {
        match v {
            Node::Map(entries, _) => {
                for (k, val) in entries {
                    let Node::Scalar(..) = k else {
                        self.d.error(k.span(), "a key must be a plain string");
                        continue;
                    };
                    let words = self.words(k);
                    if !words.is_empty() {
                        self.emit(words, val, lines);
                    }
                }
            }
            Node::Scalar(s, ..) if s.is_empty() || s == "~" || s == "null" => {}
            other => self
                .d
                .error(other.span(), "a section must be a mapping of keywords"),
        }
    }

    fn emit(&mut self, prefix: Vec<Word>, v: &Node, lines: &mut Vec<Line>) {
        match v {
            Node::Scalar(s, style, _) => {
                let plain = *style == TScalarStyle::Plain;
                if plain && s == "false" {
                    return;
                }
                let mut words = prefix;
                if !(plain && (s == "true" || s.is_empty() || s == "~" || s == "null")) {
                    words.extend(self.words(v));
                }
                lines.push(Line { words });
            }
            Node::Seq(items, _) => {
                for it in items {
                    self.emit(prefix.clone(), it, lines);
                }
            }
            Node::Map(entries, _) => {
                for (k, val) in entries {
                    let mut p = prefix.clone();
                    p.extend(self.words(k));
                    self.emit(p, val, lines);
                }
            }
        }
    }

    /// A scalar's words, with positions mapped back into the YAML document.
    fn words(&mut self, n: &Node) -> Vec<Word> {
        let Node::Scalar(s, style, sp) = n else {
            self.d.error(n.span(), "a key must be a plain string");
            return Vec::new();
        };
        let text = lexer::expand_env(s, sp, self.env, self.d);
        let quoted = u32::from(matches!(
            style,
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
        ));
        let mut inner = Diagnostics::new();
        let lines = lexer::lex(&text, Path::new(""), &BTreeMap::new(), &mut inner);
        let remap = |s: &Span| {
            if s.line == 1 {
                Span::new(self.file.clone(), sp.line, sp.col + quoted + s.col - 1)
            } else {
                Span::new(self.file.clone(), sp.line + s.line - 1, s.col)
            }
        };
        for di in inner.iter() {
            let at = remap(&di.span);
            match di.severity {
                crate::diag::Severity::Error => self.d.error(&at, di.message.clone()),
                crate::diag::Severity::Warning => self.d.warning(&at, di.message.clone()),
            }
        }
        lines
            .into_iter()
            .flat_map(|l| l.words)
            .map(|w| Word {
                span: remap(&w.span),
                text: w.text,
            })
            .collect()
    }
}

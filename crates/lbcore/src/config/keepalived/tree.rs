//! Block structure of keepalived.conf: `keyword [args] [{ ... }]`, with `{` on the keyword's line
//! or on the next one (reference §1.1).
//!
//! Owns: turning the token stream into a tree of [`Node`]s and reporting brace errors (extra `}`,
//! stray `{`, unclosed block). Must not: know any keyword.

use crate::diag::{Diagnostics, Span};

use super::lexer::{Tok, TokKind};

/// `keyword args... [{ children }]`.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kw: Tok,
    pub args: Vec<Tok>,
    pub block: Option<Block>,
}

/// A `{ ... }` block.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    /// The `{`.
    pub open: Span,
    pub items: Vec<Node>,
}

/// Builds the tree of the whole stream.
pub(crate) fn build(toks: &[Tok], diags: &mut Diagnostics) -> Vec<Node> {
    let mut pos = 0;
    items(toks, &mut pos, None, diags)
}

/// Reads nodes until the `}` closing `open` (consumed) or the end of the stream.
fn items(toks: &[Tok], pos: &mut usize, open: Option<&Span>, diags: &mut Diagnostics) -> Vec<Node> {
    let mut out = Vec::new();
    while let Some(t) = toks.get(*pos) {
        match t.kind {
            TokKind::Eol => *pos += 1,
            TokKind::Close => {
                *pos += 1;
                if open.is_some() {
                    return out;
                }
                diags.error(&t.span, "extra '}' (no block is open)");
            }
            TokKind::Open => {
                // keepalived: "Unexpected '{' - ignoring"; its contents are skipped with it so one
                // mistake does not cascade.
                diags.error(&t.span, "unexpected '{' (a block must follow a keyword)");
                *pos += 1;
                let _ = items(toks, pos, Some(&t.span), diags);
            }
            TokKind::Word => {
                let kw = t.clone();
                *pos += 1;
                let mut args = Vec::new();
                let mut block = None;
                while let Some(a) = toks.get(*pos) {
                    match a.kind {
                        TokKind::Word => {
                            args.push(a.clone());
                            *pos += 1;
                        }
                        TokKind::Open => {
                            *pos += 1;
                            let children = items(toks, pos, Some(&a.span), diags);
                            block = Some(Block {
                                open: a.span.clone(),
                                items: children,
                            });
                            break;
                        }
                        TokKind::Close => break,
                        TokKind::Eol => {
                            *pos += 1;
                            // `{` on the next line belongs to this keyword.
                            let mut k = *pos;
                            while toks.get(k).is_some_and(|x| x.kind == TokKind::Eol) {
                                k += 1;
                            }
                            if let Some(o) = toks.get(k).filter(|x| x.kind == TokKind::Open) {
                                *pos = k + 1;
                                let children = items(toks, pos, Some(&o.span), diags);
                                block = Some(Block {
                                    open: o.span.clone(),
                                    items: children,
                                });
                            }
                            break;
                        }
                    }
                }
                out.push(Node { kw, args, block });
            }
        }
    }
    if let Some(open) = open {
        diags.error(open, "missing '}': this block is never closed");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::keepalived::lexer::lex;

    fn tree(text: &str) -> (Vec<Node>, Diagnostics) {
        let mut d = Diagnostics::new();
        let toks = lex(text, Path::new("t.conf"), &mut d);
        let t = build(&toks, &mut d);
        (t, d)
    }

    fn shape(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| {
                let mut s = n.kw.text.clone();
                for a in &n.args {
                    s.push(' ');
                    s.push_str(&a.text);
                }
                if let Some(b) = &n.block {
                    s.push_str(&format!(" {{{}}}", shape(&b.items)));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn one_line_and_next_line_braces() {
        let (t, d) = tree("a X { b 1 }\nc\n{\n d\n}\ne { f { g } h }\n");
        assert!(d.is_empty(), "{d}");
        assert_eq!(shape(&t), "a X {b 1}; c {d}; e {f {g}; h}");
    }

    #[test]
    fn brace_errors() {
        let (_, d) = tree("a {\n b\n}\n}\n{ x }\nc {\n");
        assert_eq!(
            d.to_string(),
            "t.conf:4:1: error: extra '}' (no block is open)\n\
             t.conf:5:1: error: unexpected '{' (a block must follow a keyword)\n\
             t.conf:6:3: error: missing '}': this block is never closed\n"
        );
    }
}

//! keepalived.conf lexical rules (reference §1.1, keepalived `lib/parser.c`): comments, quoting,
//! escapes, line continuation, braces, and `include` expansion.
//!
//! Owns: turning files into one token stream in which every token carries the [`Span`] of the
//! file it came from, `include*` directives resolved (globs, `{a,b}` braces, relative to the
//! including file, loops detected). Lines reach the tokenizer through [`super::params`]
//! (conditional lines, parameter substitution). Must not: know any keyword other than the
//! `include` family and `include_check`; this module and [`std::fs`] reads of included files are
//! its only I/O.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostics, Span};

use super::params::{PLine, Params, Source};

/// Deepest include nesting accepted (a loop is reported before this is reached; this bounds
/// pathological but loop-free trees).
const MAX_INCLUDE_DEPTH: usize = 32;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// A word (quotes removed, escapes applied).
    Word,
    /// `{`.
    Open,
    /// `}`.
    Close,
    /// End of a logical line.
    Eol,
}

/// One token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tok {
    pub kind: TokKind,
    pub text: String,
    pub span: Span,
    /// Some part of the word was quoted.
    pub quoted: bool,
}

/// `include_check` flags (keepalived `man5`): which include problems are errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct IncludeCheck {
    /// Error if a match is not a readable file.
    readable: bool,
    /// Error if a pattern without wildcards matches nothing.
    matched: bool,
    /// Error if a pattern with wildcards matches nothing.
    wildcard_match: bool,
    /// Error if one alternative of a `{a,b}` expansion matches nothing.
    brace_match: bool,
}

impl IncludeCheck {
    const ALL: Self = Self {
        readable: true,
        matched: true,
        wildcard_match: true,
        brace_match: true,
    };

    fn union(self, o: Self) -> Self {
        Self {
            readable: self.readable || o.readable,
            matched: self.matched || o.matched,
            wildcard_match: self.wildcard_match || o.wildcard_match,
            brace_match: self.brace_match || o.brace_match,
        }
    }

    /// The checks an `include*` variant adds.
    fn for_variant(kw: &str) -> Option<Self> {
        let none = Self::default();
        Some(match kw {
            "include" => none,
            "includer" => Self {
                readable: true,
                ..none
            },
            "includem" => Self {
                readable: true,
                matched: true,
                ..none
            },
            "includew" => Self {
                readable: true,
                wildcard_match: true,
                ..none
            },
            "includeb" => Self {
                readable: true,
                brace_match: true,
                ..none
            },
            "includea" => Self::ALL,
            _ => return None,
        })
    }
}

/// Reads the main file's text and everything it includes into one token stream.
pub(crate) fn lex(text: &str, path: &Path, diags: &mut Diagnostics) -> Vec<Tok> {
    let mut lx = Lexer {
        out: Vec::new(),
        stack: Vec::new(),
        params: Params::default(),
        diags,
    };
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    lx.file(text, Arc::from(path), canon, IncludeCheck::default());
    lx.out
}

struct Lexer<'d> {
    out: Vec<Tok>,
    /// Canonical paths of the files being read, outermost first.
    stack: Vec<PathBuf>,
    /// Parameter definitions, shared by a file and the files it includes (as in keepalived).
    params: Params,
    diags: &'d mut Diagnostics,
}

/// A word being built, with the position of its first character.
struct Pending {
    text: String,
    line: u32,
    col: u32,
    quoted: bool,
}

impl Lexer<'_> {
    fn file(&mut self, text: &str, name: Arc<Path>, canon: PathBuf, mut check: IncludeCheck) {
        self.stack.push(canon);
        let mut src = Source::new(text);
        while let Some((toks, include_words)) = self.logical_line(&mut src, &name) {
            self.line(toks, include_words, &name, &mut check);
        }
        self.params.end_of_file();
        self.stack.pop();
    }

    /// Handles one logical line: an include, an `include_check` or plain tokens.
    fn line(
        &mut self,
        toks: Vec<Tok>,
        include_words: bool,
        name: &Arc<Path>,
        check: &mut IncludeCheck,
    ) {
        let Some(first) = toks.first() else { return };
        if include_words {
            let variant = IncludeCheck::for_variant(&first.text).unwrap_or_default();
            let first = first.clone();
            if toks.len() < 2 {
                self.diags
                    .error(&first.span, format!("'{}' needs a file name", first.text));
                return;
            }
            for pat in &toks[1..] {
                self.include(&first, pat, check.union(variant), name);
            }
            return;
        }
        if first.kind == TokKind::Word && !first.quoted {
            if first.text == "include_check" {
                *check = parse_include_check(&toks[1..], self.diags);
            } else if first.text.starts_with("~SEQ") || first.text.starts_with("~LST") {
                self.diags.error(
                    &first.span,
                    "keepalived ~SEQ / ~LST sequence and list blocks are not supported",
                );
                return;
            }
        }
        self.emit(toks);
    }

    fn emit(&mut self, toks: Vec<Tok>) {
        let Some(last) = toks.last() else { return };
        let eol = Tok {
            kind: TokKind::Eol,
            text: String::new(),
            span: last.span.clone(),
            quoted: false,
        };
        self.out.extend(toks);
        self.out.push(eol);
    }

    /// Reads one logical line (continuation lines joined) from `src`. Returns its tokens and
    /// whether it is an include line (whose words keep their braces), or `None` at the end.
    fn logical_line(&mut self, src: &mut Source<'_>, name: &Arc<Path>) -> Option<(Vec<Tok>, bool)> {
        let mut toks: Vec<Tok> = Vec::new();
        let mut cur: Option<Pending> = None;
        let mut include_line = false;
        let mut read_any = false;
        'lines: while let Some(pl) = self.params.next_line(src, name, self.diags) {
            read_any = true;
            let PLine {
                line: line_no,
                ref chars,
                ..
            } = pl;
            let col = |j: usize| pl.col(j);
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                match c {
                    ' ' | '\t' | '\r' | '\u{b}' | '\u{c}' => {
                        self.finish(&mut cur, &mut toks, name, &mut include_line);
                        j += 1;
                    }
                    '#' | '!' => break,
                    '{' | '}' if !include_line => {
                        self.finish(&mut cur, &mut toks, name, &mut include_line);
                        toks.push(Tok {
                            kind: if c == '{' {
                                TokKind::Open
                            } else {
                                TokKind::Close
                            },
                            text: c.to_string(),
                            span: Span::new(name.clone(), line_no, col(j)),
                            quoted: false,
                        });
                        j += 1;
                    }
                    '\\' => {
                        if j + 1 == chars.len() {
                            // Trailing backslash: the logical line goes on.
                            continue 'lines;
                        }
                        let next = chars[j + 1];
                        let p = cur.get_or_insert_with(|| Pending::at(line_no, col(j)));
                        if matches!(next, '#' | '!' | '"' | '\'' | '\\' | '{' | '}' | ' ' | '\t') {
                            p.text.push(next);
                        } else {
                            p.text.push('\\');
                            p.text.push(next);
                        }
                        j += 2;
                    }
                    '"' | '\'' => {
                        let p = cur.get_or_insert_with(|| Pending::at(line_no, col(j)));
                        p.quoted = true;
                        match quoted(chars, j, &mut p.text) {
                            Some(end) => j = end,
                            None => {
                                self.diags.error(
                                    &Span::new(name.clone(), line_no, col(j)),
                                    format!("unterminated quote ({c})"),
                                );
                                j = chars.len();
                            }
                        }
                    }
                    _ => {
                        cur.get_or_insert_with(|| Pending::at(line_no, col(j)))
                            .text
                            .push(c);
                        j += 1;
                    }
                }
            }
            break;
        }
        if !read_any {
            return None;
        }
        self.finish(&mut cur, &mut toks, name, &mut include_line);
        Some((toks, include_line))
    }

    fn finish(
        &mut self,
        cur: &mut Option<Pending>,
        toks: &mut Vec<Tok>,
        name: &Arc<Path>,
        include_line: &mut bool,
    ) {
        if let Some(p) = cur.take() {
            if toks.is_empty() && !p.quoted && IncludeCheck::for_variant(&p.text).is_some() {
                *include_line = true;
            }
            toks.push(Tok {
                kind: TokKind::Word,
                text: p.text,
                span: Span::new(name.clone(), p.line, p.col),
                quoted: p.quoted,
            });
        }
    }

    /// Expands one include pattern and reads every file it names.
    fn include(&mut self, kw: &Tok, pat: &Tok, check: IncludeCheck, name: &Arc<Path>) {
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            self.diags.error(
                &pat.span,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH}"),
            );
            return;
        }
        let base = name.parent().map(Path::to_path_buf).unwrap_or_default();
        let alternatives = brace_expand(&pat.text);
        let braced = alternatives.len() > 1 || pat.text.contains('{');
        for alt in alternatives {
            // man5: relative paths are relative to the directory of the including file.
            let full = if Path::new(&alt).is_absolute() {
                PathBuf::from(&alt)
            } else {
                base.join(&alt)
            };
            let full_str = full.to_string_lossy().into_owned();
            let wildcard = alt.contains(['*', '?', '[']);
            let matches: Vec<PathBuf> = if wildcard {
                match glob::glob(&full_str) {
                    Ok(paths) => paths.filter_map(Result::ok).collect(),
                    Err(e) => {
                        self.diags
                            .error(&pat.span, format!("bad include pattern '{alt}': {e}"));
                        continue;
                    }
                }
            } else if full.exists() {
                vec![full.clone()]
            } else {
                Vec::new()
            };
            if matches.is_empty() {
                let is_error = (wildcard && check.wildcard_match)
                    || (!wildcard && check.matched)
                    || (braced && check.brace_match);
                if is_error {
                    self.diags.error(
                        &pat.span,
                        format!("{}: no file matches '{full_str}'", kw.text),
                    );
                } else if !wildcard {
                    self.diags
                        .warning(&pat.span, format!("include file '{full_str}' not found"));
                }
                continue;
            }
            for m in matches {
                self.read_included(kw, pat, &m, check);
            }
        }
    }

    fn read_included(&mut self, kw: &Tok, pat: &Tok, path: &Path, check: IncludeCheck) {
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&canon) {
            self.diags.error(
                &pat.span,
                format!("include loop: '{}' is already being read", path.display()),
            );
            return;
        }
        match std::fs::read_to_string(path) {
            Ok(text) => {
                // man5: the include_check setting is saved when a file is opened and restored
                // when it is closed; the included file starts with the current setting.
                self.file(&text, Arc::from(path), canon, check);
            }
            Err(e) => {
                let msg = format!("cannot read include file '{}': {e}", path.display());
                if check.readable {
                    self.diags.error(&pat.span, format!("{}: {msg}", kw.text));
                } else {
                    self.diags.warning(&pat.span, msg);
                }
            }
        }
    }
}

impl Pending {
    fn at(line: u32, col: u32) -> Self {
        Self {
            text: String::new(),
            line,
            col,
            quoted: false,
        }
    }
}

/// Reads a quoted segment starting at `chars[start]` (the quote) into `out`, applying the
/// shell-like escapes of `man5` "Quoted strings". Returns the index after the closing quote.
fn quoted(chars: &[char], start: usize, out: &mut String) -> Option<usize> {
    let q = chars[start];
    let mut j = start + 1;
    while j < chars.len() {
        let c = chars[j];
        if c == q {
            return Some(j + 1);
        }
        if c == '\\' && j + 1 < chars.len() {
            j = unescape(chars, j + 1, out);
            continue;
        }
        out.push(c);
        j += 1;
    }
    None
}

/// Applies the escape whose letter is at `chars[j]` (after a backslash); returns the index after it.
/// `\a \b \E \f \n \r \t \v \nnn \xXX \cC`; any other `\C` is `C`.
pub(crate) fn unescape(chars: &[char], j: usize, out: &mut String) -> usize {
    let c = chars[j];
    let simple = match c {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'E' | 'e' => Some('\u{1b}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        _ => None,
    };
    if let Some(s) = simple {
        out.push(s);
        return j + 1;
    }
    match c {
        '0'..='7' => {
            let mut v = 0u32;
            let mut k = j;
            while k < chars.len() && k < j + 3 && chars[k].is_digit(8) {
                v = v * 8 + chars[k].to_digit(8).unwrap_or(0);
                k += 1;
            }
            out.push(char::from_u32(v & 0xff).unwrap_or('?'));
            k
        }
        'x' if j + 1 < chars.len() && chars[j + 1].is_ascii_hexdigit() => {
            let mut v = 0u32;
            let mut k = j + 1;
            while k < chars.len() && k < j + 3 && chars[k].is_ascii_hexdigit() {
                v = v * 16 + chars[k].to_digit(16).unwrap_or(0);
                k += 1;
            }
            out.push(char::from_u32(v).unwrap_or('?'));
            k
        }
        'c' if j + 1 < chars.len() => {
            out.push(char::from_u32(u32::from(chars[j + 1]) & 0x1f).unwrap_or('?'));
            j + 2
        }
        other => {
            out.push(other);
            j + 1
        }
    }
}

/// csh-style brace expansion: `a{b,c{d,e}}f` → `abf acdf acef`. Unbalanced braces are literal.
pub(crate) fn brace_expand(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    // Find the first top-level `{` with a matching `}` and at least one top-level comma.
    for (i, &c) in chars.iter().enumerate() {
        if c != '{' {
            continue;
        }
        let mut depth = 0;
        let mut commas = Vec::new();
        let mut close = None;
        for (k, &d) in chars.iter().enumerate().skip(i) {
            match d {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(k);
                        break;
                    }
                }
                ',' if depth == 1 => commas.push(k),
                _ => {}
            }
        }
        let Some(close) = close else { continue };
        if commas.is_empty() {
            continue;
        }
        let pre: String = chars[..i].iter().collect();
        let post: String = chars[close + 1..].iter().collect();
        let mut bounds = vec![i];
        bounds.extend(&commas);
        bounds.push(close);
        let mut out = Vec::new();
        for w in bounds.windows(2) {
            let mid: String = chars[w[0] + 1..w[1]].iter().collect();
            out.extend(brace_expand(&format!("{pre}{mid}{post}")));
        }
        return out;
    }
    vec![s.to_string()]
}

/// `include_check [OPTIONS]`: no option = all; `+opt` adds, `-opt` removes, a bare list sets.
fn parse_include_check(args: &[Tok], diags: &mut Diagnostics) -> IncludeCheck {
    if args.is_empty() {
        return IncludeCheck::ALL;
    }
    let mut c = IncludeCheck::default();
    for a in args {
        let (on, word) = match a.text.strip_prefix('+') {
            Some(w) => (true, w),
            None => match a.text.strip_prefix('-') {
                Some(w) => (false, w),
                None => (true, a.text.as_str()),
            },
        };
        match word {
            "readable" => c.readable = on,
            "match" => c.matched = on,
            "wildcard_match" => c.wildcard_match = on,
            "brace_match" => c.brace_match = on,
            other => diags.error(
                &a.span,
                format!(
                    "unknown include_check option '{other}' (readable, match, wildcard_match, brace_match)"
                ),
            ),
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> (Vec<String>, Diagnostics) {
        let mut d = Diagnostics::new();
        let toks = lex(text, Path::new("t.conf"), &mut d);
        let w = toks
            .iter()
            .map(|t| match t.kind {
                TokKind::Eol => "⏎".to_string(),
                _ => t.text.clone(),
            })
            .collect();
        (w, d)
    }

    #[test]
    fn splits_braces_comments_and_quotes() {
        let (w, d) = words("vrrp_instance X{ state MASTER } # c\n a\"b c\"d 'e # f' ! g\n");
        assert!(d.is_empty(), "{d}");
        assert_eq!(
            w,
            [
                "vrrp_instance",
                "X",
                "{",
                "state",
                "MASTER",
                "}",
                "⏎",
                "ab cd",
                "e # f",
                "⏎"
            ]
        );
    }

    #[test]
    fn escapes_and_continuation() {
        let (w, d) = words("a\\#b \"\\x41\\t\\101\" \\\n  c\n");
        assert!(d.is_empty(), "{d}");
        assert_eq!(w, ["a#b", "A\tA", "c", "⏎"]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let (_, d) = words("script \"abc\n");
        assert_eq!(
            d.to_string(),
            "t.conf:1:8: error: unterminated quote (\")\n"
        );
    }

    #[test]
    fn brace_expansion() {
        assert_eq!(brace_expand("a{b,c{d,e}}f"), ["abf", "acdf", "acef"]);
        assert_eq!(brace_expand("x{y}z"), ["x{y}z"]);
        assert_eq!(brace_expand("{,a}"), ["", "a"]);
    }
}

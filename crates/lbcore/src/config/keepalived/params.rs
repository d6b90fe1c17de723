//! keepalived's line preprocessing (`keepalived.conf(5)` "ADVANCED CONFIGURATION", keepalived
//! `lib/parser.c` `read_line`): conditional lines (`@ID`, `@^ID`) and parameter substitution
//! (`$NAME=VALUE` definitions, multi-line definitions, `$NAME` / `${NAME}` uses).
//!
//! Owns: the definitions in force (shared by a file and everything it includes, as in keepalived),
//! turning one physical line into the lines the tokenizer reads, and the position of every
//! character (a substituted character is placed at the `$` of its reference). Must not: tokenize,
//! know any keyword, or read files.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use crate::diag::{Diagnostics, Span};

/// Substitutions allowed for one line read from a file, all the lines its expansions produce
/// included: a definition that refers to itself stops here with an error.
pub(crate) const MAX_SUBSTITUTIONS: u32 = 10_000;
/// Longest line a substitution may produce (keepalived's limit is 1024 bytes, `MAXBUF`).
pub(crate) const MAX_LINE_CHARS: usize = 1 << 16;
/// Most lines that multi-line substitutions may have queued at once.
pub(crate) const MAX_PENDING_LINES: usize = 1 << 16;

/// A line ready for the tokenizer: its characters and where each one was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PLine {
    /// Line number in the file (of the reference, for substituted lines).
    pub line: u32,
    pub chars: Vec<char>,
    /// Column of each character (the `$` of the reference for substituted ones).
    pub cols: Vec<u32>,
}

impl PLine {
    /// A physical line as written.
    pub(crate) fn physical(text: &str, line: u32) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let cols = (1..=chars.len())
            .map(|c| u32::try_from(c).unwrap_or(u32::MAX))
            .collect();
        Self { line, chars, cols }
    }

    /// Text placed entirely at one column.
    fn at(text: &str, line: u32, col: u32) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let cols = vec![col; chars.len()];
        Self { line, chars, cols }
    }

    /// The column of character `j` (one past the last for the end of the line).
    pub(crate) fn col(&self, j: usize) -> u32 {
        match self.cols.get(j) {
            Some(c) => *c,
            None => self.cols.last().map_or(1, |c| c.saturating_add(1)),
        }
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars[from..to].iter().collect()
    }

    /// Drops a comment (`#` or `!` outside quotes, not escaped), with the tokenizer's rules.
    fn decomment(&mut self) {
        if let Some(end) = comment_start(&self.chars) {
            self.chars.truncate(end);
            self.cols.truncate(end);
        }
    }

    fn first_non_blank(&self) -> Option<usize> {
        self.chars.iter().position(|c| !is_blank(*c))
    }

    fn drain_front(&mut self, n: usize) {
        self.chars.drain(..n);
        self.cols.drain(..n);
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Where a comment starts: `#` or `!` outside `"..."` / `'...'`, not after a backslash.
fn comment_start(chars: &[char]) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut j = 0;
    while j < chars.len() {
        match (quote, chars[j]) {
            (_, '\\') => j += 1,
            (Some(q), c) if c == q => quote = None,
            (None, c @ ('"' | '\'')) => quote = Some(c),
            (None, '#' | '!') => return Some(j),
            _ => {}
        }
        j += 1;
    }
    None
}

/// A parameter's value: one line, or several for a multi-line definition.
#[derive(Debug, Clone)]
struct Definition {
    lines: Vec<String>,
    multiline: bool,
}

/// The parameters defined so far, and a multi-line definition being read.
#[derive(Debug, Default)]
pub(crate) struct Params {
    defs: HashMap<String, Definition>,
    /// The name of a multi-line definition whose continuation lines are being read.
    open: Option<String>,
}

/// One file's lines on their way to the tokenizer.
pub(crate) struct Source<'t> {
    lines: Vec<&'t str>,
    next: usize,
    /// Lines produced by a multi-line substitution, read before the next physical line.
    pending: VecDeque<PLine>,
    /// Substitutions left for the current physical line and its expansions.
    budget: u32,
}

impl<'t> Source<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Self {
            lines: text.lines().collect(),
            next: 0,
            pending: VecDeque::new(),
            budget: MAX_SUBSTITUTIONS,
        }
    }
}

/// What the reference at a `$` is.
struct Reference {
    name: String,
    /// Index after the reference (after `}` when braced).
    end: usize,
}

/// `$NAME` followed by a blank or the end of the line, or `${NAME}`; `at` is the `$`.
fn reference(chars: &[char], at: usize) -> Option<Reference> {
    let braced = chars.get(at + 1) == Some(&'{');
    let start = at + 1 + usize::from(braced);
    let first = *chars.get(start)?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let mut end = start + 1;
    while chars
        .get(end)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
    {
        end += 1;
    }
    let name: String = chars[start..end].iter().collect();
    if braced {
        (chars.get(end) == Some(&'}')).then_some(Reference { name, end: end + 1 })
    } else {
        (chars.get(end).is_none_or(|c| is_blank(*c))).then_some(Reference { name, end })
    }
}

impl Params {
    /// The next line for the tokenizer from `src`, or `None` at the end of the file. `file` is
    /// the file being read (diagnostics, `$_PWD`).
    pub(crate) fn next_line(
        &mut self,
        src: &mut Source<'_>,
        file: &std::sync::Arc<Path>,
        diags: &mut Diagnostics,
    ) -> Option<PLine> {
        loop {
            let line = match src.pending.pop_front() {
                Some(l) => l,
                None => {
                    let idx = src.next;
                    let text = src.lines.get(idx)?;
                    src.next += 1;
                    src.budget = MAX_SUBSTITUTIONS;
                    let mut l = PLine::physical(text, u32::try_from(idx + 1).unwrap_or(u32::MAX));
                    l.decomment();
                    if self.open.is_some() {
                        self.continue_definition(&l);
                        continue;
                    }
                    l
                }
            };
            if let Some(l) = self.preprocess(line, src, file, diags) {
                return Some(l);
            }
        }
    }

    /// Ends a multi-line definition left open at the end of a file.
    pub(crate) fn end_of_file(&mut self) {
        self.open = None;
    }

    /// A continuation line of a multi-line definition (`$NAME= \` then lines ending in `\`).
    fn continue_definition(&mut self, l: &PLine) {
        let Some(name) = self.open.clone() else {
            return;
        };
        let text = l.text(0, l.chars.len());
        let text = text.trim_matches(is_blank);
        // keepalived: an empty line ends the definition.
        if text.is_empty() {
            self.open = None;
            return;
        }
        let (text, more) = match text.strip_suffix('\\') {
            Some(t) => (t.trim_end_matches(is_blank), true),
            None => (text, false),
        };
        if let Some(def) = self.defs.get_mut(&name)
            && !text.is_empty()
        {
            def.lines.push(text.to_string());
        }
        if !more {
            self.open = None;
        }
    }

    /// Conditional, definition and substitution on one line (keepalived's order, repeated while a
    /// substitution changes the line and leaves an `@` or a `$` to look at). `None`: nothing for
    /// the tokenizer.
    fn preprocess(
        &mut self,
        mut l: PLine,
        src: &mut Source<'_>,
        file: &std::sync::Arc<Path>,
        diags: &mut Diagnostics,
    ) -> Option<PLine> {
        loop {
            let Some(start) = l.first_non_blank() else {
                return Some(l);
            };
            if l.chars[start] == '@' {
                // man5 "Conditional configuration": `@ID line` applies only when the config id
                // (-i, default the host name) is ID, `@^ID line` only when it is not. vrrpd has no
                // config id: `@ID` lines are dropped, `@^ID` lines kept.
                let id_end = (start + 1..l.chars.len())
                    .find(|&k| is_blank(l.chars[k]))
                    .unwrap_or(l.chars.len());
                let id = l.text(start + 1, id_end);
                if id.starts_with('^') {
                    let rest = (id_end..l.chars.len())
                        .find(|&k| !is_blank(l.chars[k]))
                        .unwrap_or(l.chars.len());
                    l.drain_front(rest);
                    continue;
                }
                diags.warning(
                    &Span::new(file.clone(), l.line, l.col(start)),
                    format!(
                        "line applies only to config id '{id}'; skipped (vrrpd has no config id)"
                    ),
                );
                return None;
            }
            if l.chars[start] == '$' && self.define(&l, start) {
                return None;
            }
            // keepalived always has its standard definitions (`_PWD`), so any `$` is looked at.
            if l.chars[start] == '~' || !l.chars.contains(&'$') {
                return Some(l);
            }
            match self.substitute(&mut l, src, file) {
                Ok(false) => return Some(l),
                Ok(true) => {
                    let again = l.first_non_blank().is_some_and(|s| l.chars[s] == '@')
                        || l.chars.contains(&'$');
                    if !again {
                        return Some(l);
                    }
                }
                Err(msg) => {
                    diags.error(&Span::new(file.clone(), l.line, l.col(start)), msg);
                    src.pending.clear();
                    return None;
                }
            }
        }
    }

    /// `$NAME=VALUE` at `start` (no blank before `=`); returns false if the line is not one.
    fn define(&mut self, l: &PLine, start: usize) -> bool {
        let c = &l.chars;
        let Some(first) = c.get(start + 1) else {
            return false;
        };
        if !(first.is_ascii_alphabetic() || *first == '_') {
            return false;
        }
        let mut eq = start + 2;
        while c
            .get(eq)
            .is_some_and(|x| x.is_ascii_alphanumeric() || *x == '_')
        {
            eq += 1;
        }
        if c.get(eq) != Some(&'=') {
            return false;
        }
        let name = l.text(start + 1, eq);
        let value = l.text(eq + 1, c.len());
        let value = value.trim_matches(is_blank);
        let def = match value.strip_suffix('\\') {
            Some(first) => {
                let first = first.trim_end_matches(is_blank);
                self.open = Some(name.clone());
                Definition {
                    lines: if first.is_empty() {
                        Vec::new()
                    } else {
                        vec![first.to_string()]
                    },
                    multiline: true,
                }
            }
            None => Definition {
                lines: vec![value.to_string()],
                multiline: false,
            },
        };
        self.defs.insert(name, def);
        true
    }

    /// The value of `name`: a definition, or keepalived's `_PWD` (the directory of the file).
    fn lookup(&self, name: &str, file: &Path) -> Option<Definition> {
        if let Some(d) = self.defs.get(name) {
            return Some(d.clone());
        }
        if name == "_PWD" {
            let dir = file.parent().unwrap_or(Path::new("."));
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            return Some(Definition {
                lines: vec![dir.to_string_lossy().into_owned()],
                multiline: false,
            });
        }
        None
    }

    /// Replaces every defined reference in `l`, rescanning each replacement (substitution is
    /// recursive, done at use time). A multi-line definition is used only at the end of a line:
    /// its first line replaces the reference, the others are queued before the next physical
    /// line. Returns whether anything changed.
    fn substitute(
        &mut self,
        l: &mut PLine,
        src: &mut Source<'_>,
        file: &Path,
    ) -> Result<bool, String> {
        let mut changed = false;
        let mut i = 0;
        while i < l.chars.len() {
            if l.chars[i] != '$' {
                i += 1;
                continue;
            }
            let Some(r) = reference(&l.chars, i) else {
                i += 1;
                continue;
            };
            let at_end = l.chars[r.end..].iter().all(|c| is_blank(*c));
            let Some(def) = self
                .lookup(&r.name, file)
                .filter(|d| !d.multiline || at_end)
            else {
                i += 1;
                continue;
            };
            if src.budget == 0 {
                return Err(format!(
                    "parameter substitution of '{}' does not end after {MAX_SUBSTITUTIONS} \
                     substitutions (does a definition refer to itself?)",
                    r.name
                ));
            }
            src.budget -= 1;
            let col = l.col(i);
            let first = def.lines.first().cloned().unwrap_or_default();
            let replaced = PLine::at(&first, l.line, col);
            let end = if def.multiline { l.chars.len() } else { r.end };
            l.chars.splice(i..end, replaced.chars);
            l.cols.splice(i..end, replaced.cols);
            if l.chars.len() > MAX_LINE_CHARS {
                return Err(format!(
                    "parameter substitution of '{}' makes a line longer than {MAX_LINE_CHARS} \
                     characters (does a definition refer to itself?)",
                    r.name
                ));
            }
            if def.multiline {
                if src.pending.len() + def.lines.len() > MAX_PENDING_LINES {
                    return Err(format!(
                        "parameter substitution of '{}' makes more than {MAX_PENDING_LINES} \
                         lines (does a definition refer to itself?)",
                        r.name
                    ));
                }
                for (k, line) in def.lines.iter().skip(1).enumerate() {
                    src.pending.insert(k, PLine::at(line, l.line, col));
                }
            }
            changed = true;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = |s: &str| {
            let c: Vec<char> = s.chars().collect();
            reference(&c, 0).map(|r| (r.name, r.end))
        };
        assert_eq!(r("$A"), Some(("A".into(), 2)));
        assert_eq!(r("$A_1 x"), Some(("A_1".into(), 4)));
        assert_eq!(r("${A}x"), Some(("A".into(), 4)));
        assert_eq!(r("$Ax"), Some(("Ax".into(), 3)));
        assert_eq!(r("$A.x"), None, "not followed by a blank: needs braces");
        assert_eq!(r("${A"), None);
        assert_eq!(r("$1"), None);
        assert_eq!(r("$"), None);
    }

    #[test]
    fn comments_follow_the_tokenizer() {
        let c = |s: &str| comment_start(&s.chars().collect::<Vec<_>>());
        assert_eq!(c("a # b"), Some(2));
        assert_eq!(c("a \"# b\" ! c"), Some(8));
        assert_eq!(c("a '#' \\# b"), None);
    }
}

//! Diagnostics shared by every config front end: a position, a severity and a message, printed as
//! `file:line:col: error|warning: message` so editors and CI annotate the right line.
//!
//! Parsers collect every problem into [`Diagnostics`] in one pass instead of stopping at the first.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in a config file. Lines and columns start at 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    /// The file the position is in (shared: many spans point into one file).
    pub file: Arc<Path>,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column (in characters).
    pub col: u32,
}

impl Span {
    /// A span at `line:col` of `file`.
    pub fn new(file: Arc<Path>, line: u32, col: u32) -> Self {
        Self { file, line, col }
    }

    /// A span for a whole-file problem (reported at 1:1).
    pub fn file_start(file: impl Into<PathBuf>) -> Self {
        Self {
            file: Arc::from(file.into().as_path()),
            line: 1,
            col: 1,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration is still usable; something is ignored, deprecated or suspicious.
    Warning,
    /// The configuration cannot be used as written.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it is.
    pub span: Span,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong, in one line (may end with a "did you mean" hint).
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.span, self.severity, self.message)
    }
}

/// All problems found in one pass over a configuration, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error at `span`.
    pub fn error(&mut self, span: &Span, message: impl Into<String>) {
        self.push(span, Severity::Error, message);
    }

    /// Records a warning at `span`.
    pub fn warning(&mut self, span: &Span, message: impl Into<String>) {
        self.push(span, Severity::Warning, message);
    }

    fn push(&mut self, span: &Span, severity: Severity, message: impl Into<String>) {
        self.items.push(Diagnostic {
            span: span.clone(),
            severity,
            message: message.into(),
        });
    }

    /// Appends every diagnostic of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// True when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    /// Every diagnostic, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// True when nothing was reported.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The closest candidate to `word` (Damerau-free Levenshtein distance at most a third of its length,
/// minimum 2), for "did you mean" hints.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_file_line_col() {
        let mut d = Diagnostics::new();
        let span = Span::new(Arc::from(Path::new("a.conf")), 3, 5);
        d.error(&span, "bad");
        d.warning(&span, "meh");
        assert_eq!(
            d.to_string(),
            "a.conf:3:5: error: bad\na.conf:3:5: warning: meh\n"
        );
        assert!(d.has_errors());
        assert_eq!((d.error_count(), d.warning_count()), (1, 1));
    }

    #[test]
    fn suggests_close_words_only() {
        let kw = ["virtual_router_id", "priority", "interface"];
        assert_eq!(
            did_you_mean("virtual_routr_id", kw),
            Some("virtual_router_id")
        );
        assert_eq!(did_you_mean("priorty", kw), Some("priority"));
        assert_eq!(did_you_mean("zzzzzz", kw), None);
    }
}

//! haproxy.cfg lexical rules (reference §2.1): lines, words, `#` comments, backslash escapes,
//! weak `"…"` and strong `'…'` quotes, `$VAR`/`${VAR}`/`${VAR-default}` expansion inside double
//! quotes from a caller-given map, and the time and size units.
//!
//! Owns: turning text into positioned words. Must not interpret keywords, and must not read the
//! process environment (the caller passes it in).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::diag::{Diagnostics, Span};

/// One word with the column it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Text after quotes, escapes and expansion.
    pub text: String,
    /// Where it starts.
    pub span: Span,
}

/// One non-empty statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its words (never empty).
    pub words: Vec<Word>,
}

/// Splits `text` into statements, reporting unterminated quotes and bad escapes.
pub fn lex(
    text: &str,
    file: &Path,
    env: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) -> Vec<Line> {
    let file: Arc<Path> = Arc::from(file);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let words = lex_line(raw, &file, line_no, env, diags);
        if !words.is_empty() {
            out.push(Line { words });
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Weak,
    Strong,
}

fn lex_line(
    raw: &str,
    file: &Arc<Path>,
    line: u32,
    env: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) -> Vec<Word> {
    let chars: Vec<char> = raw.chars().collect();
    let span_at =
        |i: usize| Span::new(file.clone(), line, u32::try_from(i + 1).unwrap_or(u32::MAX));
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut start: Option<usize> = None;
    let mut quote = Quote::None;
    let mut quote_start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Quote::Strong => {
                if c == '\'' {
                    quote = Quote::None;
                } else {
                    cur.push(c);
                }
                i += 1;
            }
            Quote::Weak if c == '"' => {
                quote = Quote::None;
                i += 1;
            }
            Quote::Weak if c == '$' => {
                i = expand_var(&chars, i, &span_at(i), env, &mut cur, diags);
            }
            Quote::None if c == ' ' || c == '\t' => {
                if let Some(s) = start.take() {
                    words.push(Word {
                        text: std::mem::take(&mut cur),
                        span: span_at(s),
                    });
                }
                i += 1;
            }
            Quote::None if c == '#' => break,
            _ => {
                start.get_or_insert(i);
                if c == '\\' {
                    i = escape(&chars, i, &span_at(i), &mut cur, diags);
                } else if quote == Quote::None && c == '"' {
                    quote = Quote::Weak;
                    quote_start = i;
                    i += 1;
                } else if quote == Quote::None && c == '\'' {
                    quote = Quote::Strong;
                    quote_start = i;
                    i += 1;
                } else {
                    cur.push(c);
                    i += 1;
                }
            }
        }
    }
    if quote != Quote::None {
        diags.error(&span_at(quote_start), "unterminated quote");
    }
    if let Some(s) = start {
        words.push(Word {
            text: cur,
            span: span_at(s),
        });
    }
    words
}

/// Expands `$VAR`, `${VAR}` and `${VAR-default}` anywhere in `text` (the YAML front end's rule,
/// where YAML quotes are not haproxy.cfg quotes). `\$` is kept as is for the lexer to unescape.
pub fn expand_env(
    text: &str,
    span: &Span,
    env: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'$') => {
                out.push_str("\\$");
                i += 2;
            }
            '$' => i = expand_var(&chars, i, span, env, &mut out, diags),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Handles a backslash at `i`; returns the index after the escape.
fn escape(
    chars: &[char],
    i: usize,
    span: &Span,
    cur: &mut String,
    diags: &mut Diagnostics,
) -> usize {
    let Some(&n) = chars.get(i + 1) else {
        diags.error(span, "backslash at end of line");
        return i + 1;
    };
    match n {
        ' ' | '#' | '\\' | '\'' | '"' | '$' => cur.push(n),
        'n' => cur.push('\n'),
        'r' => cur.push('\r'),
        't' => cur.push('\t'),
        'x' => {
            let hex: String = chars.iter().skip(i + 2).take(2).collect();
            match u8::from_str_radix(&hex, 16) {
                Ok(b) if hex.len() == 2 => {
                    cur.push(char::from(b));
                    return i + 4;
                }
                _ => {
                    diags.error(span, "invalid \\x escape: two hex digits expected");
                    return i + 2;
                }
            }
        }
        other => {
            diags.error(span, format!("unknown escape sequence '\\{other}'"));
        }
    }
    i + 2
}

/// Expands `$VAR`, `${VAR}`, `${VAR-default}` at `i`; returns the index after it.
fn expand_var(
    chars: &[char],
    i: usize,
    span: &Span,
    env: &BTreeMap<String, String>,
    cur: &mut String,
    diags: &mut Diagnostics,
) -> usize {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let (name, default, next) = if chars.get(i + 1) == Some(&'{') {
        let Some(close) = chars[i + 2..].iter().position(|&c| c == '}') else {
            diags.error(span, "missing '}' after '${'");
            return chars.len();
        };
        let inner: String = chars[i + 2..i + 2 + close].iter().collect();
        let inner = inner.strip_suffix("[*]").unwrap_or(&inner).to_string();
        match inner.split_once('-') {
            Some((n, d)) => (n.to_string(), Some(d.to_string()), i + 3 + close),
            None => (inner, None, i + 3 + close),
        }
    } else {
        let len = chars[i + 1..].iter().take_while(|&&c| is_name(c)).count();
        if len == 0 {
            cur.push('$');
            return i + 1;
        }
        (
            chars[i + 1..i + 1 + len].iter().collect(),
            None,
            i + 1 + len,
        )
    };
    if name.is_empty() || !name.chars().all(is_name) {
        diags.error(span, format!("invalid environment variable name '{name}'"));
        return next;
    }
    match (env.get(&name), default) {
        (Some(v), _) => cur.push_str(v),
        (None, Some(d)) => cur.push_str(&d),
        (None, None) => diags.warning(
            span,
            format!("environment variable '{name}' is not set; it expands to an empty string"),
        ),
    }
    next
}

/// Parses a time: a decimal number with an optional unit `us ms s m h d` (default ms).
pub fn parse_time(s: &str) -> Result<Duration, String> {
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    let n: u64 = num.parse().map_err(|_| {
        format!("invalid time '{s}': a number with an optional unit (us, ms, s, m, h, d) expected")
    })?;
    let d = match unit {
        "us" => Duration::from_micros(n),
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86_400)),
        _ => {
            return Err(format!(
                "invalid time unit '{unit}' in '{s}': us, ms, s, m, h or d expected"
            ));
        }
    };
    Ok(d)
}

/// Parses a size: a decimal number with an optional unit `k m g` (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    let n: u64 = num.parse().map_err(|_| {
        format!("invalid size '{s}': a number with an optional unit (k, m, g) expected")
    })?;
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size unit '{unit}' in '{s}': k, m or g expected"
            ));
        }
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str, env: &[(&str, &str)]) -> (Vec<String>, Diagnostics) {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut d = Diagnostics::new();
        let lines = lex(s, Path::new("t.cfg"), &env, &mut d);
        let w = lines
            .into_iter()
            .flat_map(|l| l.words)
            .map(|w| w.text)
            .collect();
        (w, d)
    }

    #[test]
    fn quotes_escapes_comments() {
        let (w, d) = words(r#"a\ b "c d#e" 'f $X' g\#h "a"' b' # tail"#, &[("X", "no")]);
        assert!(d.is_empty(), "{d}");
        assert_eq!(w, ["a b", "c d#e", "f $X", "g#h", "a b"]);
    }

    #[test]
    fn env_expansion_in_double_quotes_only() {
        let (w, d) = words(
            r#""${SRV}:80" $SRV "${NOPE-dflt}" "$SRV/x" "\$SRV""#,
            &[("SRV", "192.0.2.21")],
        );
        assert!(d.is_empty(), "{d}");
        assert_eq!(w, ["192.0.2.21:80", "$SRV", "dflt", "192.0.2.21/x", "$SRV"]);
        let (w, d) = words(r#""${MISSING}x""#, &[]);
        assert_eq!(w, ["x"]);
        assert_eq!(
            d.to_string(),
            "t.cfg:1:2: warning: environment variable 'MISSING' is not set; it expands to an empty string\n"
        );
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let (_, d) = words("  log \"abc", &[]);
        assert_eq!(d.to_string(), "t.cfg:1:7: error: unterminated quote\n");
    }

    #[test]
    fn units() {
        assert_eq!(parse_time("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_time("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_time("1500"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_time("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_time("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_time("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_time("5x").is_err());
        assert!(parse_time("s").is_err());
        assert_eq!(parse_size("200k"), Ok(204_800));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("7"), Ok(7));
        assert!(parse_size("1t").is_err());
    }
}

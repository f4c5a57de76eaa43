//! Java `.properties` parsing (the format of Kafka's `server.properties` and of the
//! tools' `--command-config` files), with `java.util.Properties.load`'s rules, keeping
//! the line and column of every value so a bad setting is reported as `file:line:col`.
//!
//! - Lines end at `\n`, `\r\n` or `\r`; leading whitespace (space, tab, form feed) is
//!   skipped; a line whose first other character is `#` or `!` is a comment.
//! - A line ending in an odd number of backslashes continues on the next line, whose
//!   leading whitespace is skipped (a comment line never continues).
//! - The key ends at the first unescaped `=`, `:` or whitespace; whitespace around one
//!   `=` or `:` separator is skipped; the value is the rest of the line (trailing
//!   whitespace kept, as in Java).
//! - Escapes in keys and values: `\t`, `\n`, `\r`, `\f`, `\uXXXX` (exactly four hex
//!   digits; a UTF-16 surrogate pair makes one character); a backslash before any
//!   other character stands for that character.

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    /// Position of the value (for errors about the value).
    pub origin: Origin,
}

/// Input `java.util.Properties` rejects too; the origin is the escape's backslash.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PropertiesError {
    #[error("{origin}: malformed \\uxxxx escape '{text}'")]
    MalformedUnicode { origin: Origin, text: String },
    #[error("{origin}: \\u{code:04X} is half of a UTF-16 surrogate pair")]
    UnpairedSurrogate { origin: Origin, code: u32 },
}

/// A character of a logical line with its position in the file (1-based).
#[derive(Clone, Copy)]
struct At {
    c: char,
    line: usize,
    col: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Parses properties text into its entries, in file order (a later duplicate wins
/// when they are collected into a map).
pub fn parse(file: &str, text: &str) -> Result<Vec<Property>, PropertiesError> {
    let origin = |at: (usize, usize)| Origin {
        file: file.to_string(),
        line: at.0,
        col: at.1,
    };
    let mut out = Vec::new();
    for logical in logical_lines(text) {
        let (key, value, value_at) = split(&logical);
        out.push(Property {
            key: unescape(key, &origin)?,
            value: unescape(value, &origin)?,
            origin: origin(value_at),
        });
    }
    Ok(out)
}

/// Parses properties text into a map (a later duplicate key wins, as in Java).
pub fn parse_map(file: &str, text: &str) -> Result<BTreeMap<String, String>, PropertiesError> {
    Ok(parse(file, text)?
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect())
}

/// The natural lines of `text` (split at `\n`, `\r\n` or `\r`), numbered from 1.
fn natural_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text;
    let mut number = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        number += 1;
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            usize::from(end < rest.len())
        };
        rest = &rest[end + skip..];
        Some((number, line))
    })
}

/// Joins continued lines into logical lines, dropping blank and comment lines and the
/// leading whitespace of every natural line.
fn logical_lines(text: &str) -> Vec<Vec<At>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<At>> = None;
    for (number, line) in natural_lines(text) {
        let chars: Vec<At> = line
            .chars()
            .enumerate()
            .map(|(i, c)| At {
                c,
                line: number,
                col: i + 1,
            })
            .skip_while(|a| is_space(a.c))
            .collect();
        let mut logical = match current.take() {
            Some(l) => l,
            None if chars.is_empty() || matches!(chars[0].c, '#' | '!') => continue,
            None => Vec::new(),
        };
        let backslashes = chars.iter().rev().take_while(|a| a.c == '\\').count();
        logical.extend_from_slice(&chars);
        if backslashes % 2 == 1 {
            logical.pop();
            current = Some(logical);
        } else if !logical.is_empty() {
            out.push(logical);
        }
    }
    out.extend(current.filter(|l| !l.is_empty()));
    out
}

/// Splits a logical line into its (still escaped) key and value, and the position of
/// the value (just past the line's end when the value is empty).
fn split(line: &[At]) -> (&[At], &[At], (usize, usize)) {
    let mut key_end = line.len();
    let mut escaped = false;
    for (i, a) in line.iter().enumerate() {
        if !escaped && (matches!(a.c, '=' | ':') || is_space(a.c)) {
            key_end = i;
            break;
        }
        escaped = a.c == '\\' && !escaped;
    }
    let mut value_start = key_end;
    let mut separator = false;
    while let Some(a) = line.get(value_start) {
        if !is_space(a.c) {
            if separator || !matches!(a.c, '=' | ':') {
                break;
            }
            separator = true;
        }
        value_start += 1;
    }
    let at = match (line.get(value_start), line.last()) {
        (Some(a), _) => (a.line, a.col),
        (None, Some(last)) => (last.line, last.col + 1),
        (None, None) => (1, 1),
    };
    (&line[..key_end], &line[value_start..], at)
}

fn unescape(
    s: &[At],
    origin: &dyn Fn((usize, usize)) -> Origin,
) -> Result<String, PropertiesError> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let a = s[i];
        i += 1;
        if a.c != '\\' {
            out.push(a.c);
            continue;
        }
        let Some(next) = s.get(i) else { break };
        i += 1;
        match next.c {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            'u' => {
                let (code, after) = hex4(s, i).ok_or_else(|| malformed(s, i - 2, origin))?;
                i = after;
                let c = if (0xD800..0xDC00).contains(&code) {
                    // A high surrogate: the next escape must be its low half.
                    let low = (s.get(i).map(|a| a.c) == Some('\\')
                        && s.get(i + 1).map(|a| a.c) == Some('u'))
                    .then(|| hex4(s, i + 2))
                    .flatten()
                    .filter(|(low, _)| (0xDC00..0xE000).contains(low));
                    let Some((low, after)) = low else {
                        return Err(unpaired(a, code, origin));
                    };
                    i = after;
                    char::from_u32(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
                } else {
                    char::from_u32(code)
                };
                out.push(c.ok_or_else(|| unpaired(a, code, origin))?);
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The four hex digits at `s[i..]` and the index after them.
fn hex4(s: &[At], i: usize) -> Option<(u32, usize)> {
    let digits = s.get(i..i + 4)?;
    let mut code = 0;
    for a in digits {
        code = code * 16 + a.c.to_digit(16)?;
    }
    Some((code, i + 4))
}

fn malformed(s: &[At], at: usize, origin: &dyn Fn((usize, usize)) -> Origin) -> PropertiesError {
    PropertiesError::MalformedUnicode {
        origin: origin((s[at].line, s[at].col)),
        text: s[at..(at + 6).min(s.len())].iter().map(|a| a.c).collect(),
    }
}

fn unpaired(a: At, code: u32, origin: &dyn Fn((usize, usize)) -> Origin) -> PropertiesError {
    PropertiesError::UnpairedSurrogate {
        origin: origin((a.line, a.col)),
        code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms_comments_and_positions() {
        let text = "# comment\n! also\n\nlog.dirs=/tmp/a\nnum.partitions : 3\n  listeners PLAINTEXT://x:1\nlong=a\\\n  b\n";
        let p = parse("server.properties", text).expect("parses");
        assert_eq!(p.len(), 4);
        assert_eq!(
            (p[0].key.as_str(), p[0].value.as_str()),
            ("log.dirs", "/tmp/a")
        );
        assert_eq!(p[0].origin.line, 4);
        assert_eq!(p[0].origin.col, 10);
        assert_eq!(p[1].value, "3");
        assert_eq!(p[1].origin.col, 18);
        assert_eq!(p[2].key, "listeners");
        assert_eq!(p[2].origin.col, 13);
        assert_eq!(p[3].value, "ab");
        assert_eq!(p[3].origin.to_string(), "server.properties:7:6");
    }

    /// Moved from the CLI tools (`cli/src/tools/mod.rs`), which now use this parser.
    #[test]
    fn properties_files() {
        let text = "# comment\n! also\n\nacks = all\nlinger.ms:10\nclient.id my\\ client\n\
                    long.value=a\\\n   b\nescaped\\=key=\\u0041\\t\n";
        let p = parse_map("client.properties", text).expect("parses");
        assert_eq!(p["acks"], "all");
        assert_eq!(p["linger.ms"], "10");
        assert_eq!(p["client.id"], "my client");
        assert_eq!(p["long.value"], "ab");
        assert_eq!(p["escaped=key"], "A\t");
        assert_eq!(p.len(), 5);
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse("f", text)
            .expect("parses")
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators_follow_java() {
        assert_eq!(
            pairs("a=b\nc:d\ne f\ng = = h\ni\t:\tj\nk\nl=\nm\\ n\\:o=p\\=q"),
            vec![
                pair("a", "b"),
                pair("c", "d"),
                pair("e", "f"),
                pair("g", "= h"),
                pair("i", "j"),
                pair("k", ""),
                pair("l", ""),
                pair("m n:o", "p=q"),
            ]
        );
        // Trailing whitespace belongs to the value; a later key wins in a map.
        assert_eq!(pairs("a=b  \n"), vec![pair("a", "b  ")]);
        let m = parse_map("f", "a=1\na=2\n").expect("parses");
        assert_eq!(m["a"], "2");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            pairs(r"k=\t\n\r\f\\\q\u00e9\u20AC\uD83D\uDE00#!"),
            vec![pair("k", "\t\n\r\u{c}\\q\u{e9}\u{20ac}\u{1f600}#!")]
        );
        // An escaped trailing backslash is not a continuation.
        assert_eq!(
            pairs("path=C:\\\\\nnext=1"),
            vec![pair("path", "C:\\"), pair("next", "1")]
        );
    }

    #[test]
    fn continuations_and_line_ends() {
        // CRLF and lone CR end lines; a continued line's leading whitespace is dropped,
        // and what looks like a comment inside a continuation is value text.
        assert_eq!(
            pairs("a=1,\\\r\n    2,\\\r  # 3\rb=x\\\n"),
            vec![pair("a", "1,2,# 3"), pair("b", "x")]
        );
        // A comment line ending in a backslash does not continue.
        assert_eq!(pairs("# c\\\nk=v"), vec![pair("k", "v")]);
        // Blank lines, whitespace-only lines and comments after indentation.
        assert_eq!(
            pairs("\n \t\n\u{c}\n   # c\n\t! c\nk v"),
            vec![pair("k", "v")]
        );
        let p = parse("f", "k=\\\n\\\n  v").expect("parses");
        assert_eq!(p[0].value, "v");
        assert_eq!(p[0].origin.to_string(), "f:3:3");
    }

    #[test]
    fn bad_escapes_report_file_line_col() {
        let err = parse("client.properties", "ok=1\n  name = a\\u00G1b\n").expect_err("bad");
        assert_eq!(
            err.to_string(),
            "client.properties:2:11: malformed \\uxxxx escape '\\u00G1'"
        );
        // Cut short by the end of the line; and on a continuation line.
        let err = parse("f", "k=\\u12").expect_err("short");
        assert_eq!(err.to_string(), "f:1:3: malformed \\uxxxx escape '\\u12'");
        let err = parse("f", "k=a\\\n   \\uZZZZ").expect_err("bad");
        assert_eq!(err.to_string(), "f:2:4: malformed \\uxxxx escape '\\uZZZZ'");
        // A lone surrogate cannot be a character.
        let err = parse("f", "k=\\uD83Dx").expect_err("lone high");
        assert_eq!(
            err.to_string(),
            "f:1:3: \\uD83D is half of a UTF-16 surrogate pair"
        );
        let err = parse("f", "k=\\uDE00").expect_err("lone low");
        assert!(err.to_string().starts_with("f:1:3: \\uDE00"), "{err}");
    }
}

//! Java `.properties` parsing (the format of Kafka's `server.properties`), keeping the
//! line and column of every value so a bad setting is reported as `file:line:col`.

use std::fmt;

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

/// Parses properties text. Supports `key=value`, `key: value`, `key value`, `#`/`!`
/// comments, blank lines and backslash line continuations.
pub fn parse(file: &str, text: &str) -> Vec<Property> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let raw = lines[i];
        i += 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        let (key, sep_end) = split_key(trimmed);
        let after = &trimmed[sep_end..];
        let value_start = indent + sep_end + (after.len() - after.trim_start().len());
        let mut value = after.trim_start().to_string();
        while value.ends_with('\\') && !value.ends_with("\\\\") && i < lines.len() {
            value.pop();
            value.push_str(lines[i].trim_start());
            i += 1;
        }
        out.push(Property {
            key: unescape(key),
            value: unescape(value.trim_end()),
            origin: Origin {
                file: file.to_string(),
                line: line_no,
                col: value_start + 1,
            },
        });
    }
    out
}

/// Returns the key and the byte index just after the separator.
fn split_key(s: &str) -> (&str, usize) {
    let bytes = s.as_bytes();
    let mut k = 0;
    while k < bytes.len() {
        match bytes[k] {
            b'\\' => k += 2,
            b'=' | b':' | b' ' | b'\t' => break,
            _ => k += 1,
        }
    }
    let k = k.min(bytes.len());
    let key = &s[..k];
    let mut j = k;
    while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
        j += 1;
    }
    if j < bytes.len() && (bytes[j] == b'=' || bytes[j] == b':') {
        j += 1;
    }
    (key, j)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms_comments_and_positions() {
        let text = "# comment\n! also\n\nlog.dirs=/tmp/a\nnum.partitions : 3\n  listeners PLAINTEXT://x:1\nlong=a\\\n  b\n";
        let p = parse("server.properties", text);
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
}

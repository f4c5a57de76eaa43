//! Reading a scenario file: TOML syntax, structure, then the checks that need the whole
//! file (references between sections, times within the run). Every error names
//! `file:line:col` of the offending text and what was expected.

use std::ops::Range;
use std::path::Path;

use super::model::Scenario;
use super::suggest;

mod validate;

use self::validate::validate;

/// Why a scenario could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read (or is not UTF-8).
    #[error("{file}: cannot read the scenario: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML.
    #[error("{file}:{line}:{col}: {message}")]
    Syntax {
        file: String,
        line: usize,
        col: usize,
        message: String,
    },
    /// Valid TOML, but not a valid scenario.
    #[error("{file}:{line}:{col}: {message}")]
    Invalid {
        file: String,
        line: usize,
        col: usize,
        message: String,
    },
}

impl ScenarioError {
    /// The file name the error refers to.
    pub fn file(&self) -> &str {
        match self {
            ScenarioError::Io { file, .. }
            | ScenarioError::Syntax { file, .. }
            | ScenarioError::Invalid { file, .. } => file,
        }
    }

    /// 1-based line and column (in characters), when the error has a position.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Syntax { line, col, .. } | ScenarioError::Invalid { line, col, .. } => {
                Some((*line, *col))
            }
        }
    }

    /// What went wrong, without the position.
    pub fn message(&self) -> String {
        match self {
            ScenarioError::Io { source, .. } => source.to_string(),
            ScenarioError::Syntax { message, .. } | ScenarioError::Invalid { message, .. } => {
                message.clone()
            }
        }
    }
}

/// Reads and checks a scenario file. Errors name the path as given.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ScenarioError::Io {
        file: file.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ScenarioError::Io {
        file: file.clone(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ),
    })?;
    parse(&file, &text)
}

/// Parses and checks scenario text; `file_name` is used in errors and, without its
/// directory and extension, as the default `name`.
pub fn parse(file_name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let at = |span: Option<Range<usize>>| line_col(text, span.map_or(0, |s| s.start));
    // Syntax first, so that syntax and structure errors are told apart.
    if let Err(e) = toml::from_str::<toml::Table>(text) {
        let (line, col) = at(e.span());
        return Err(ScenarioError::Syntax {
            file: file_name.to_string(),
            line,
            col,
            message: one_line(e.message()),
        });
    }
    let mut scenario = toml::from_str::<Scenario>(text).map_err(|e| {
        let (line, col) = at(e.span());
        ScenarioError::Invalid {
            file: file_name.to_string(),
            line,
            col,
            message: rewrite_serde_message(e.message(), text, e.span()),
        }
    })?;
    validate(&mut scenario, file_name).map_err(|(span, message)| {
        let (line, col) = at(Some(span));
        ScenarioError::Invalid {
            file: file_name.to_string(),
            line,
            col,
            message,
        }
    })?;
    Ok(scenario)
}

/// Checks a scenario built in code from a parsed one (a sweep point): the same checks
/// as a file gets, with the message alone (its spans point into the original file).
pub(super) fn revalidate(s: &mut Scenario) -> Result<(), String> {
    let name = s.name.clone();
    validate(s, &name).map_err(|(_, message)| message)
}

/// 1-based line and column (counted in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(text.len());
    while !text.is_char_boundary(off) {
        off -= 1;
    }
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn one_line(msg: &str) -> String {
    msg.trim()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The names between backticks in a serde message.
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// serde's type names as a scenario author would say them.
fn plain_type(s: &str) -> String {
    match s.trim() {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a sequence" => "an array".into(),
        "a string" => "a string".into(),
        other => other.to_string(),
    }
}

/// Turns serde's and toml's wording into the scenario's: keys, not fields, with the
/// expected keys listed and a suggestion for a misspelt one.
fn rewrite_serde_message(msg: &str, text: &str, span: Option<Range<usize>>) -> String {
    let msg = one_line(msg);
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let Some((key, after)) = rest.split_once('`') else {
            return msg;
        };
        let expected = backticked(after);
        if expected.is_empty() {
            return format!("unknown key '{key}': this table takes no keys");
        }
        let mut out = format!(
            "unknown key '{key}', expected one of: {}",
            expected.join(", ")
        );
        let suggestion = suggest::did_you_mean(key, expected.iter().copied());
        if !suggestion.is_empty() {
            out.push_str(&suggestion);
        } else if expected.contains(&"config") {
            // `linger.ms = 5` written beside `topic = ...` instead of under `config`.
            let written = span
                .and_then(|s| text.get(s.start..))
                .and_then(|rest| rest.lines().next())
                .and_then(|line| line.split('=').next())
                .map(str::trim)
                .unwrap_or(key);
            if written.contains('.') {
                let written = written.trim_matches('"');
                out.push_str(&format!(
                    "; Kafka properties go under config, e.g. config = {{ \"{written}\" = ... }}"
                ));
            }
        }
        return out;
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or(rest);
        return format!("missing key '{key}'");
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.rsplit_once(", expected ") {
                return format!("expected {}, found {found}", plain_type(expected));
            }
        }
    }
    msg
}

pub(super) type Fail = (Range<usize>, String);

pub(super) fn fail<T>(span: &Range<usize>, msg: impl Into<String>) -> Result<T, Fail> {
    Err((span.clone(), msg.into()))
}

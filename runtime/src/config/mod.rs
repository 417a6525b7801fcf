//! Configuration: parse the TOML file, validate it, and produce typed values.
//!
//! Three steps, each in its own place: [`raw`] mirrors the file with serde
//! (unknown keys refused, source spans kept), `validate` checks every
//! section and builds the typed [`model`], and this module turns what went
//! wrong into [`Problem`]s that name the file, the key and the line.
//! Unknown keys are collected together with the semantic problems; a TOML
//! syntax error or a value of the wrong type stops at the first one.

pub mod model;
mod raw;
pub mod template;
pub mod units;
mod validate;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue};

pub use model::*;
pub use template::{BraceParams, Template};

/// A configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read the file: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<Problem>),
}

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line, if the problem has a place.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// Dotted key path, e.g. `apis[0].routes[2].key`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A problem before it is placed in the file: a span, a key path, a message.
type Found = (Option<Range<usize>>, String, String);

/// The most unknown keys reported for one file; past that the file is
/// probably not a Turnpike configuration at all.
const MAX_UNKNOWN_KEYS: usize = 50;

impl Config {
    /// Reads and validates a configuration file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Config::parse(&Config::read(path)?, &path.display().to_string())
    }

    /// Reads a configuration file's text, with the error `from_file` gives.
    pub fn read(path: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })
    }

    /// Validates configuration text; `origin` names it in problems, and
    /// relative paths in it are resolved against `origin`'s folder.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let place = |found: Vec<Found>| {
            ConfigError::Invalid(
                found
                    .into_iter()
                    .map(|(span, key, message)| {
                        let (line, column) = match span {
                            Some(span) => {
                                let (l, c) = line_column(text, span.start);
                                (Some(l), Some(c))
                            }
                            None => (None, None),
                        };
                        Problem {
                            file: origin.to_owned(),
                            line,
                            column,
                            key,
                            message,
                        }
                    })
                    .collect(),
            )
        };
        let mut document = match DeTable::parse(text) {
            Ok(document) => document,
            Err(e) => {
                return Err(place(vec![(
                    e.span(),
                    String::new(),
                    format!("invalid TOML: {}", e.message().trim_end()),
                )]));
            }
        };
        // serde stops at the first unknown key; each one found is recorded,
        // taken out of the document, and the rest read again.
        let mut problems: Vec<Found> = Vec::new();
        let raw = loop {
            let de = toml::de::Deserializer::from(document.clone());
            match serde_path_to_error::deserialize::<_, raw::RawConfig>(de) {
                Ok(raw) => break Some(raw),
                Err(e) => {
                    let path = e.path().clone();
                    let inner = e.into_inner();
                    let unknown = inner.message().starts_with("unknown field `");
                    problems.push((inner.span(), key_path(&path), inner.message().to_owned()));
                    if !unknown
                        || problems.len() >= MAX_UNKNOWN_KEYS
                        || !remove_key(&mut document, &path)
                    {
                        break None;
                    }
                }
            }
        };
        let base_dir = Path::new(origin)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let config = raw.map(|raw| {
            let mut validator = validate::Validator::new(base_dir);
            let config = validator.config(raw);
            let (found, warnings) = validator.into_findings();
            problems.extend(found);
            (config, warnings)
        });
        match config {
            Some((mut config, warnings)) if problems.is_empty() => {
                if let ConfigError::Invalid(placed) = place(warnings) {
                    config.warnings = placed;
                }
                Ok(config)
            }
            _ => {
                problems.sort_by_key(|(span, _, _)| span.as_ref().map(|s| s.start));
                Err(place(problems))
            }
        }
    }
}

/// Removes the key at `path` from `document`; says whether it was there.
fn remove_key(document: &mut Spanned<DeTable<'_>>, path: &serde_path_to_error::Path) -> bool {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path
        .iter()
        .filter(|s| !matches!(s, Segment::Map { key } if key.starts_with("$__serde_spanned")))
        .collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let table: &mut DeTable<'_> = document.get_mut();
    let mut value: Option<&mut DeValue<'_>> = None;
    for segment in parents {
        let next: &mut DeValue<'_> = match (segment, value.take()) {
            (Segment::Map { key }, None) => match table_entry(table, key) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Map { key }, Some(DeValue::Table(t))) => match table_entry(t, key) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Seq { index }, Some(DeValue::Array(items))) => match items.get_mut(*index) {
                Some(item) => item.get_mut(),
                None => return false,
            },
            _ => return false,
        };
        value = Some(next);
    }
    let table = match value {
        None => table,
        Some(DeValue::Table(t)) => t,
        Some(_) => return false,
    };
    let Segment::Map { key } = last else {
        return false;
    };
    let Some(found) = table.keys().find(|k| *k.get_ref() == key.as_str()).cloned() else {
        return false;
    };
    table.remove(&found).is_some()
}

fn table_entry<'t, 'i>(table: &'t mut DeTable<'i>, key: &str) -> Option<&'t mut DeValue<'i>> {
    table
        .iter_mut()
        .find(|(k, _)| *k.get_ref() == key)
        .map(|(_, v)| v.get_mut())
}

/// Renders a serde path as config keys (`apis[0].routes[1].key`), leaving
/// out the wrapper fields that carry source spans.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__serde_spanned") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;

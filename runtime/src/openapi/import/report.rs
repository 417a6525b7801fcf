//! What an import says about each part of the definition.

use std::fmt;

/// How a finding affects the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The definition is wrong or needs a `--map`: nothing is written
    /// unless `--partial`, which leaves the part out.
    Error,
    /// An AWS feature Turnpike does not have: the part is left out, the
    /// rest imports.
    Unsupported,
    /// Imported, but not exactly as API Gateway would serve it.
    Warning,
    /// An extension or field without effect on Turnpike.
    Ignored,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Unsupported => "unsupported",
            Severity::Warning => "warning",
            Severity::Ignored => "ignored",
        }
    }
}

/// One entry of the import report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How it affects the import.
    pub severity: Severity,
    /// `FILE:LINE` of the part.
    pub at: String,
    /// The JSON pointer of the part in the file.
    pub pointer: String,
    /// What happened, and what to do about it.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(
            f,
            "{}: {}: {pointer}: {}",
            self.at,
            self.severity.as_str(),
            self.message
        )
    }
}

/// The findings of one import, in document order.
#[derive(Debug, Default)]
pub struct Report {
    /// Every finding.
    pub findings: Vec<Finding>,
    /// Routes written to the configuration.
    pub routes_imported: usize,
    /// Routes left out.
    pub routes_left_out: usize,
}

impl Report {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// How many findings have `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// One line of counts.
    pub fn summary(&self) -> String {
        format!(
            "{} routes imported, {} left out; {} errors, {} unsupported, {} warnings, {} ignored",
            self.routes_imported,
            self.routes_left_out,
            self.count(Severity::Error),
            self.count(Severity::Unsupported),
            self.count(Severity::Warning),
            self.count(Severity::Ignored),
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        write!(f, "{}", self.summary())
    }
}

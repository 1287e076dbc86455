//! Findings about schema files: their severity, the file and key they
//! concern, and the one line `validate` and the load warnings print.

use std::fmt;
use std::path::{Path, PathBuf};

/// How serious a finding about a schema is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about a schema file, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The class of finding: `syntax`/`load` (file skipped), `unknown-key`,
    /// `wrong-type`, `selector`, `variable`, `value-type`, `operator`,
    /// `operator-args`, `field`, `field-type`, `plugin`, `duplicate-id`, and
    /// the checks only `validate` runs (`reference`, `machine-name`,
    /// `required`, `hidden`).
    pub code: &'static str,
    pub severity: Severity,
    pub file: PathBuf,
    /// Dotted key inside the file (`variables.pid.operator`), empty for the
    /// whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.key.is_empty() {
            write!(f, "{}: {level}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: {level}: `{}`: {}",
                self.file.display(),
                self.key,
                self.message
            )
        }
    }
}

/// Adds a finding to `diags`.
pub fn diag(
    diags: &mut Vec<Diagnostic>,
    code: &'static str,
    sev: Severity,
    file: &Path,
    key: &str,
    msg: String,
) {
    diags.push(Diagnostic {
        code,
        severity: sev,
        file: file.to_path_buf(),
        key: key.to_string(),
        message: msg,
    });
}

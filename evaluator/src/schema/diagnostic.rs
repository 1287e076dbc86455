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

/// The class of a finding: what `validate --strict` and the load warnings
/// group by. The one list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// `load`: the file cannot be used at all (skipped).
    Load,
    /// `unknown-key`: a key the schema language does not have (ignored).
    UnknownKey,
    /// `wrong-type`: a key whose value has the wrong type.
    WrongType,
    /// `selector`: a malformed selector (the schema never matches).
    Selector,
    /// `variable`: a variable definition that cannot be evaluated.
    Variable,
    /// `value-type`: a missing or unknown value type.
    ValueType,
    /// `operator`: an unknown operator (the value is left unchanged).
    Operator,
    /// `operator-args`: an operator without the keys it needs.
    OperatorArgs,
    /// `field`: a field without a machine name or value.
    Field,
    /// `field-type`: a field type other than high_level or scientific_metadata (ignored).
    FieldType,
    /// `plugin`: a plugin that is missing, or lacks what the schema uses.
    Plugin,
    /// `duplicate-id`: two schemas with the same id.
    DuplicateId,
    /// `file-name`: a file that will not be loaded as a schema (validate).
    FileName,
    /// `reference`: a reference to a variable never defined, or defined later (validate).
    Reference,
    /// `unused`: a variable nothing uses (validate).
    Unused,
    /// `machine-name`: a field SciCat does not have, or the ingestor sets itself (validate).
    MachineName,
    /// `required`: a required dataset field no entry sets (validate).
    Required,
    /// `hidden`: a schema an earlier selector always takes over (validate).
    Hidden,
    /// `against`: what a SciCat server says about the schema's output (validate --against).
    Against,
}

impl Code {
    /// Every code, in the order of [`Code`].
    pub const ALL: &[Code] = &[
        Code::Load,
        Code::UnknownKey,
        Code::WrongType,
        Code::Selector,
        Code::Variable,
        Code::ValueType,
        Code::Operator,
        Code::OperatorArgs,
        Code::Field,
        Code::FieldType,
        Code::Plugin,
        Code::DuplicateId,
        Code::FileName,
        Code::Reference,
        Code::Unused,
        Code::MachineName,
        Code::Required,
        Code::Hidden,
        Code::Against,
    ];

    /// The code's name (`unknown-key`).
    pub const fn name(self) -> &'static str {
        match self {
            Code::Load => "load",
            Code::UnknownKey => "unknown-key",
            Code::WrongType => "wrong-type",
            Code::Selector => "selector",
            Code::Variable => "variable",
            Code::ValueType => "value-type",
            Code::Operator => "operator",
            Code::OperatorArgs => "operator-args",
            Code::Field => "field",
            Code::FieldType => "field-type",
            Code::Plugin => "plugin",
            Code::DuplicateId => "duplicate-id",
            Code::FileName => "file-name",
            Code::Reference => "reference",
            Code::Unused => "unused",
            Code::MachineName => "machine-name",
            Code::Required => "required",
            Code::Hidden => "hidden",
            Code::Against => "against",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One finding about a schema file, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The class of finding.
    pub code: Code,
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
    code: Code,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_distinct_kebab_case_names() {
        let names: Vec<&str> = Code::ALL.iter().map(|c| c.name()).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} twice");
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{n}");
        }
        assert_eq!(Code::UnknownKey.to_string(), "unknown-key");
    }

    #[test]
    fn the_line_names_file_level_and_key() {
        let mut diags = Vec::new();
        let file = Path::new("s.imsc.json");
        diag(
            &mut diags,
            Code::Load,
            Severity::Error,
            file,
            "",
            "broken".into(),
        );
        diag(
            &mut diags,
            Code::Operator,
            Severity::Warning,
            file,
            "variables.v.operator",
            "unknown".into(),
        );
        assert_eq!(diags[0].to_string(), "s.imsc.json: error: broken");
        assert_eq!(
            diags[1].to_string(),
            "s.imsc.json: warning: `variables.v.operator`: unknown"
        );
    }
}

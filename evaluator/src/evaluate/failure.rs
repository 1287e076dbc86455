//! What did not evaluate and why, and the warning lines that list it.

use serde_json::Value;

use crate::evaluate::error::EvalError;

/// Something that did not evaluate, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Variable name, or the field's machine name.
    pub name: String,
    /// The definition as written (variables) or the template (fields).
    pub definition: Value,
    pub reason: String,
}

/// The reason a failure is reported with: references that are all to
/// variables that failed before become "uses x, which failed", so the root
/// cause is easy to find.
pub fn explain(error: EvalError, failed: &[Failure]) -> String {
    match error {
        EvalError::Unresolved { names, .. }
            if names.iter().all(|n| failed.iter().any(|f| &f.name == n)) =>
        {
            EvalError::UsesFailed(names).to_string()
        }
        other => other.to_string(),
    }
}

/// The warning for values sent although they are not what the file holds.
pub fn describe_read_problems(problems: &[Failure]) -> String {
    let items: Vec<String> = problems
        .iter()
        .map(|f| format!("{} ({}): {}", f.name, f.definition, f.reason))
        .collect();
    format!(
        "{} variable{} read with a problem (the value is still sent): {}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        items.join("; ")
    )
}

/// One warning line listing failures.
pub fn describe_failures(what: &str, failures: &[Failure]) -> String {
    let items: Vec<String> = failures
        .iter()
        .map(|f| format!("{} ({}): {}", f.name, f.definition, f.reason))
        .collect();
    format!(
        "{} {what}{} failed and {} left out: {}",
        failures.len(),
        if failures.len() == 1 { "" } else { "s" },
        if failures.len() == 1 { "is" } else { "are" },
        items.join("; ")
    )
}

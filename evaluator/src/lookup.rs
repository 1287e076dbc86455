//! What the evaluator asks of the world beyond the data file: SciCat
//! documents for `SC` variables and a schema plugin's hooks. The host
//! implements both (HTTP and WebAssembly); tests answer from memory.

use serde_json::Value;

use crate::evaluate::value::{Var, Vars};

/// GETs a JSON document from SciCat for `SC` variables (the url as rendered
/// from the schema; the implementation resolves it against the host).
pub trait ScFetch {
    fn get_json(&self, url: &str) -> Result<Value, String>;
}

/// The parts of a schema plugin the evaluator calls.
pub trait PluginHooks {
    /// `"source": "PLUGIN"`: a value for variable `name`.
    fn variable(&mut self, name: &str, args: &Value, vars: &Vars) -> Result<Var, String>;
    /// `"operator": "plugin:<name>"`: transforms a rendered value.
    fn operator(&mut self, name: &str, value: &Var, vars: &Vars) -> Result<Var, String>;
}

//! Example plugin: in-file schema selection. The schema applies when the
//! instrument named in the file (`/entry/instrument/name`, or the config's
//! `path`) is one of the config's `instruments` (compared without case and
//! surrounding blanks), whatever the file is called.
//!
//! It also offers the variable `instrument`: that name, normalised to lower
//! case, for schemas that want it.

use scicat_plugin_sdk::serde_json::Value;
use scicat_plugin_sdk::{Context, Metadata, NexusFile, Plugin, Result, Typed, Vars, export};

struct InstrumentSelect {
    path: String,
    instruments: Vec<String>,
}

fn normalise(name: &str) -> String {
    name.trim().to_lowercase()
}

impl InstrumentSelect {
    fn instrument(&self, file: &NexusFile) -> Result<String> {
        Ok(normalise(&file.read_string(&self.path)?))
    }
}

impl Plugin for InstrumentSelect {
    fn metadata() -> Metadata {
        Metadata::new("instrument-select", env!("CARGO_PKG_VERSION"))
            .description("selects the schema by the instrument name inside the file")
            .selects()
            .variable("instrument")
    }

    fn new(config: Value) -> Result<Self> {
        let path = config
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("/entry/instrument/name")
            .to_string();
        let instruments = config
            .get("instruments")
            .and_then(Value::as_array)
            .context("config needs `instruments`, a list of instrument names")?
            .iter()
            .map(|i| {
                i.as_str()
                    .map(normalise)
                    .context("`instruments` must hold texts")
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(InstrumentSelect { path, instruments })
    }

    fn select(&mut self, file: &NexusFile, _path: &str) -> Result<bool> {
        // A file without the instrument name is simply not ours.
        match self.instrument(file) {
            Ok(name) => Ok(self.instruments.contains(&name)),
            Err(_) => Ok(false),
        }
    }

    fn variable(
        &mut self,
        _name: &str,
        _args: &Value,
        file: &NexusFile,
        _vars: &Vars,
    ) -> Result<Typed> {
        Ok(self.instrument(file)?.into())
    }
}

export!(InstrumentSelect);

//! Example plugin: in-file schema selection. The schema applies when the
//! instrument named in the file (`/entry/instrument/name`, or the config's
//! `path`) is one of the config's `instruments` (compared without case and
//! surrounding blanks), whatever the file is called.
//!
//! It also offers the variable `instrument`: that name, normalised to lower
//! case, for schemas that want it.

use scicat_plugin_sdk::{Hooks, NexusFile, Result, Vars, export};
use serde::Deserialize;

/// The schema's `plugin.config`.
#[derive(Deserialize)]
struct Config {
    #[serde(default = "default_path")]
    path: String,
    /// Instrument names the schema is for.
    instruments: Vec<String>,
}

fn default_path() -> String {
    "/entry/instrument/name".into()
}

fn normalise(name: &str) -> String {
    name.trim().to_lowercase()
}

fn instrument(c: &Config, file: &NexusFile) -> Result<String> {
    Ok(normalise(&file.read_string(&c.path)?))
}

fn plugin() -> Hooks<Config> {
    Hooks::with_init(
        "instrument-select",
        env!("CARGO_PKG_VERSION"),
        |mut c: Config| {
            c.instruments = c.instruments.iter().map(|i| normalise(i)).collect();
            Ok(c)
        },
    )
    .description("selects the schema by the instrument name inside the file")
    // A file without the instrument name is simply not ours.
    .select(|c, file, _path| Ok(instrument(c, file).is_ok_and(|i| c.instruments.contains(&i))))
    .variable("instrument", |c, _: (), file, _: &Vars| instrument(c, file))
}

export!(plugin());

#[cfg(test)]
mod tests {
    use super::*;
    use scicat_plugin_sdk::MemFile;
    use scicat_plugin_sdk::serde_json::json;

    #[test]
    fn selects_by_the_instrument_inside_the_file() {
        let odin = MemFile::new().dataset("/entry/instrument/name", " ODIN ");
        let other = MemFile::new().dataset("/entry/instrument/name", "LOKI");
        let mut p = plugin().instance(json!({"instruments": ["odin"]})).unwrap();
        assert!(p.select(&odin, "/data/run_1.nxs").unwrap());
        assert!(!p.select(&other, "/data/run_1.nxs").unwrap());
        assert!(!p.select(&MemFile::new(), "/data/run_1.nxs").unwrap());
        let v = p
            .variable("instrument", json!(null), &odin, &Vars::new())
            .unwrap();
        assert_eq!(v.as_str(), Some("odin"));
        let e = plugin().instance(json!({})).err().unwrap();
        assert!(e.to_string().contains("instruments"), "{e}");
    }
}

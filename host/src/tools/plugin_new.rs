//! `plugin new NAME`: a plugin crate a newcomer can build, test and try at
//! once: the plugin (one variable, with a unit test on an in-memory file),
//! a schema using it, a golden case on a small fixture file written here,
//! the expectation that case must meet, and a README with the three
//! commands.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const LIB: &str = include_str!("plugin_new/lib.rs.in");
const CARGO: &str = include_str!("plugin_new/Cargo.toml.in");
const SCHEMA: &str = include_str!("plugin_new/schema.json.in");
const CASE: &str = include_str!("plugin_new/case.yml.in");
const EXPECTED: &str = include_str!("plugin_new/expected.json.in");
const README: &str = include_str!("plugin_new/README.md.in");

/// The SDK version a new plugin depends on (when not given a path).
pub const SDK_VERSION: &str = "0.2";

/// Whether `name` can be a crate name and a schema id.
fn check_name(name: &str) -> Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "{name:?} is not a plugin name: lower-case letters, digits, `-` and `_`, starting with a letter"
        );
    }
    Ok(())
}

/// Writes the crate `dir/name`; `sdk` is the plugin SDK's folder (a path
/// dependency), else it depends on the published SDK. Returns the folder.
pub fn new(name: &str, dir: &Path, sdk: Option<&Path>) -> Result<PathBuf> {
    check_name(name)?;
    let root = dir.join(name);
    if root.exists() {
        bail!(
            "{} exists already: choose another name or folder",
            root.display()
        );
    }
    let sdk = match sdk {
        Some(p) => {
            let p = std::path::absolute(p)?;
            if !p.join("Cargo.toml").is_file() {
                bail!(
                    "{}: no Cargo.toml, not the plugin SDK's folder",
                    p.display()
                );
            }
            format!("{{ path = {:?} }}", p.to_string_lossy())
        }
        None => format!("\"{SDK_VERSION}\""),
    };
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{lib}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk)
    };
    let files = [
        ("Cargo.toml".to_string(), fill(CARGO)),
        ("src/lib.rs".to_string(), fill(LIB)),
        (format!("schemas/{name}.imsc.json"), fill(SCHEMA)),
        (format!("tests/{name}.case.yml"), fill(CASE)),
        (format!("tests/{name}.expected.json"), fill(EXPECTED)),
        ("README.md".to_string(), fill(README)),
        (".gitignore".to_string(), "/target\n".to_string()),
    ];
    for (rel, text) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap_or(&root))?;
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    let data = root.join("tests/data/proposal/raw");
    std::fs::create_dir_all(&data)?;
    write_fixture(&data.join(format!("{name}_0001.nxs")))?;
    Ok(root)
}

/// A small NeXus file: a title, a start time, a user, an instrument with a
/// temperature log (290 to 296 K).
fn write_fixture(path: &Path) -> Result<()> {
    use hdf5::types::VarLenUnicode;
    let text = |g: &hdf5::Group, name: &str, value: &str| -> Result<()> {
        let v: VarLenUnicode = value.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        g.new_dataset::<VarLenUnicode>()
            .shape(())
            .create(name)?
            .write_scalar(&v)?;
        Ok(())
    };
    let group = |parent: &hdf5::Group, name: &str, class: &str| -> Result<hdf5::Group> {
        let g = parent
            .create_group_builder()
            .with_gcpl(|p| p.obj_track_times(false))
            .create(name)?;
        let c: VarLenUnicode = class.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        g.new_attr::<VarLenUnicode>()
            .shape(())
            .create("NX_class")?
            .write_scalar(&c)?;
        Ok(g)
    };
    let f = hdf5::File::with_options()
        .with_fcpl(|p| p.obj_track_times(false))
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let entry = group(&f, "entry", "NXentry")?;
    text(&entry, "title", "my first plugin run")?;
    text(&entry, "start_time", "2024-10-28T09:06:41Z")?;
    let user = group(&entry, "user_1", "NXuser")?;
    text(&user, "name", "Jane Doe")?;
    let inst = group(&entry, "instrument", "NXinstrument")?;
    text(&inst, "name", "MYINSTRUMENT")?;
    let log = group(&inst, "temperature", "NXlog")?;
    let t = log
        .new_dataset_builder()
        .with_data(&[290.0f64, 291.5, 293.0, 294.5, 296.0])
        .create("value")?;
    let k: VarLenUnicode = "K".parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    t.new_attr::<VarLenUnicode>()
        .shape(())
        .create("units")?
        .write_scalar(&k)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("my-plugin_2").is_ok());
        for bad in ["", "My", "2x", "a b", "../x", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}

//! The plugin interface, one binding module per version this host accepts
//! ([`v0_1`], [`v0_2`]), behind [`Pre`] and [`Bindings`]. Each module
//! converts its WIT types to the host's model (JSON values with units,
//! [`RawInfo`]), so nothing outside this folder sees a WIT type. Which
//! module a component gets is decided by the version the plugin SDK stamps
//! into it (the custom section [`STAMP_SECTION`], read by [`stamp`]).
//!
//! A new version: a folder `wit/since_vX.Y.Z/` (never edit a released one),
//! a module here, a [`Version`] and an entry in [`SUPPORTED`].

pub mod reads;
mod stamp;
pub mod v0_1;
pub mod v0_2;

use anyhow::{Result, bail};
use wasmtime::Store;
use wasmtime::component::{InstancePre, Resource};

use super::Hook;
use super::sandbox::State;
use crate::evaluate::{Var, Vars};
pub use reads::FileView;
pub use stamp::{STAMP_SECTION, stamp};

/// The `scicat:ingestor` versions this host runs, oldest first.
pub const SUPPORTED: &[Version] = &[Version::V0_1, Version::V0_2];

/// An accepted version of the plugin interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V0_1,
    V0_2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_1 => "0.1",
            Version::V0_2 => "0.2",
        }
    }

    /// The newest version: what `plugin new` and the SDK build against.
    pub fn newest() -> Version {
        SUPPORTED[SUPPORTED.len() - 1]
    }
}

/// The version a component's stamp names, or why it is refused: no stamp,
/// a stamp that is not a version, or a version this host does not run.
pub fn accept(stamp: Option<&str>) -> Result<Version> {
    let accepted = SUPPORTED
        .iter()
        .map(|v| format!("{}.x", v.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(v) = stamp else {
        bail!(
            "it carries no interface version (no `{STAMP_SECTION}` section): it was not built with the scicat plugin SDK, or with one older than its version stamp; this ingestor accepts scicat:ingestor {accepted}: rebuild it with scicat-plugin-sdk {}",
            Version::newest().as_str()
        );
    };
    let mut parts = v.split(['.', '-', '+']).map(|p| p.parse::<u64>().ok());
    let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
        bail!(
            "its interface version stamp {:?} is not a version; this ingestor accepts scicat:ingestor {accepted}",
            super::text::clean(v, 40)
        );
    };
    match (major, minor) {
        (0, 1) => Ok(Version::V0_1),
        (0, 2) => Ok(Version::V0_2),
        _ => bail!(
            "it was built against scicat:ingestor@{v}; this ingestor accepts {accepted}: rebuild the plugin with scicat-plugin-sdk {} (or update the ingestor, if the plugin is newer)",
            Version::newest().as_str()
        ),
    }
}

/// A component linked and checked against the bindings of its version.
pub enum Pre {
    V0_1(v0_1::PluginPre<State>),
    V0_2(v0_2::PluginPre<State>),
}

impl Pre {
    pub fn new(version: Version, pre: InstancePre<State>) -> wasmtime::Result<Pre> {
        Ok(match version {
            Version::V0_1 => Pre::V0_1(v0_1::PluginPre::new(pre)?),
            Version::V0_2 => Pre::V0_2(v0_2::PluginPre::new(pre)?),
        })
    }

    pub fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<Bindings> {
        Ok(match self {
            Pre::V0_1(p) => Bindings::V0_1(p.instantiate(store)?),
            Pre::V0_2(p) => Bindings::V0_2(p.instantiate(store)?),
        })
    }
}

/// What `metadata` says, in the host's terms.
#[derive(Debug, Clone, Default)]
pub struct RawInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub hooks: Vec<Hook>,
    pub variables: Vec<String>,
    pub operators: Vec<String>,
}

/// Where a `transform` runs (0.2 and later hand it to the plugin).
#[derive(Debug, Clone, Default)]
pub struct TransformContext {
    pub api_version: String,
    pub schema_id: String,
    pub data_file: String,
}

/// A call's outcome: a trap or host failure (outer), or what the plugin
/// returned (inner; a value it may not return is an inner error).
pub type Call<T> = wasmtime::Result<Result<T, String>>;

/// An instantiated plugin of one of the accepted versions.
pub enum Bindings {
    V0_1(v0_1::Plugin),
    V0_2(v0_2::Plugin),
}

impl Bindings {
    pub fn metadata(&self, s: &mut Store<State>) -> wasmtime::Result<RawInfo> {
        match self {
            Bindings::V0_1(b) => v0_1::metadata(b, s),
            Bindings::V0_2(b) => v0_2::metadata(b, s),
        }
    }

    pub fn init(&self, s: &mut Store<State>, config: &str) -> Call<()> {
        match self {
            Bindings::V0_1(b) => b.call_init(s, config),
            Bindings::V0_2(b) => b.call_init(s, config),
        }
    }

    pub fn select(&self, s: &mut Store<State>, f: &Resource<FileView>, path: &str) -> Call<bool> {
        let f = Resource::new_borrow(f.rep());
        match self {
            Bindings::V0_1(b) => b.call_select(s, f, path),
            Bindings::V0_2(b) => b.call_select(s, f, path),
        }
    }

    pub fn variable(
        &self,
        s: &mut Store<State>,
        name: &str,
        args: &str,
        f: &Resource<FileView>,
        vars: &Vars,
    ) -> Call<Var> {
        match self {
            Bindings::V0_1(b) => v0_1::variable(b, s, name, args, f, vars),
            Bindings::V0_2(b) => v0_2::variable(b, s, name, args, f, vars),
        }
    }

    pub fn operator(
        &self,
        s: &mut Store<State>,
        name: &str,
        value: &Var,
        vars: &Vars,
    ) -> Call<Var> {
        match self {
            Bindings::V0_1(b) => v0_1::operator(b, s, name, value, vars),
            Bindings::V0_2(b) => v0_2::operator(b, s, name, value, vars),
        }
    }

    pub fn transform(
        &self,
        s: &mut Store<State>,
        dataset: &str,
        f: &Resource<FileView>,
        cx: &TransformContext,
    ) -> Call<String> {
        let f = Resource::new_borrow(f.rep());
        match self {
            Bindings::V0_1(b) => b.call_transform(s, dataset, f),
            Bindings::V0_2(b) => v0_2::transform(b, s, dataset, f, cx),
        }
    }
}

/// The reason for a value over [`super::MAX_RETURN_BYTES`].
pub fn too_large(n: usize) -> String {
    format!(
        "it returned {} MiB, more than the {} MiB a plugin value may have",
        n >> 20,
        super::MAX_RETURN_BYTES >> 20
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_ships_the_newest_wit_unchanged() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |p: &str| std::fs::read_to_string(repo.join(p)).unwrap();
        assert_eq!(
            read("plugin-sdk/wit/since_v0.2.0/ingestor.wit"),
            read("wit/since_v0.2.0/ingestor.wit"),
            "plugin-sdk/wit is a copy of wit/ (the published SDK cannot reach ../wit)"
        );
    }

    #[test]
    fn versions_are_accepted_or_refused_with_what_to_do() {
        assert_eq!(accept(Some("0.1.0")).unwrap(), Version::V0_1);
        assert_eq!(accept(Some("0.1.7")).unwrap(), Version::V0_1);
        assert_eq!(accept(Some("0.2.0")).unwrap(), Version::V0_2);
        let e = accept(Some("9.9.0")).unwrap_err().to_string();
        assert!(
            e.contains("9.9.0") && e.contains("0.1.x, 0.2.x") && e.contains("rebuild"),
            "{e}"
        );
        let e = accept(None).unwrap_err().to_string();
        assert!(
            e.contains("no interface version") && e.contains("0.2"),
            "{e}"
        );
        assert!(accept(Some("x")).is_err());
    }
}

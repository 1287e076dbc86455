//! # Writing a SciCat ingestor plugin
//!
//! A plugin is a WebAssembly component that the ingestor runs, sandboxed,
//! for the schemas that name it. It can implement any of four hooks:
//!
//! | hook | used by the schema as | gets | returns |
//! | --- | --- | --- | --- |
//! | [`Plugin::select`] | `"selector": "plugin"` | the file view, the data file path | does the schema apply? |
//! | [`Plugin::variable`] | `{"source": "PLUGIN", "name": ...}` | name, `args`, file view, variables so far | a value with its unit |
//! | [`Plugin::operator`] | `{"source": "VALUE", "operator": "plugin:<name>"}` | the rendered value | a value with its unit |
//! | [`Plugin::transform`] | (always, when declared) | the finished dataset | the changed dataset |
//!
//! A whole plugin:
//!
//! ```ignore
//! use scicat_plugin_sdk::{Metadata, NexusFile, Plugin, Result, Typed, Vars, export};
//! use scicat_plugin_sdk::serde_json::Value;
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn metadata() -> Metadata {
//!         Metadata::new("hello", env!("CARGO_PKG_VERSION")).variable("greeting")
//!     }
//!     fn new(_config: Value) -> Result<Self> {
//!         Ok(Hello)
//!     }
//!     fn variable(&mut self, _name: &str, _args: &Value, file: &NexusFile, _vars: &Vars) -> Result<Typed> {
//!         Ok(format!("hello {}", file.read_string("/entry/title")?).into())
//!     }
//! }
//!
//! export!(Hello);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the
//! component is `target/wasm32-wasip2/release/<crate_name>.wasm`. The crate
//! must be a `cdylib` (`[lib] crate-type = ["cdylib"]`).
//!
//! [`Plugin::metadata`] declares the hooks: naming variables declares the
//! `variables` hook, naming operators the `operators` hook, and
//! [`Metadata::selects`] / [`Metadata::transforms`] the other two. The host
//! only calls declared hooks, and `scicat-ingestor validate` checks schemas
//! against the declaration.
//!
//! The sandbox: no files, network, environment or real clock (the wall clock
//! is fixed, randomness is deterministic); memory and time per call are
//! bounded by the host's config. `println!`/`eprintln!` output goes to the
//! ingestor's log at debug level. A panic is reported as a failure of the
//! hook, with the panic message.
//!
//! Failures: return an [`Error`] (`bail!`, `?` on the helpers,
//! [`Context::context`]). A failing variable or operator leaves that variable
//! undefined (one warning lists them); a failing select means "does not
//! match"; a failing transform stops the ingestion before anything is
//! uploaded.

extern crate self as scicat_plugin_sdk;

mod convert;
mod error;
mod file;
mod value;

pub use error::{Context, Error, Result};
pub use file::{Child, DatasetInfo, ElementType, Kind, NexusFile};
pub use serde_json;
pub use value::{Typed, Value, Vars};

use serde_json::{Map, Value as Json};

#[doc(hidden)]
#[allow(clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/since_v0.1.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "scicat_plugin_sdk::bindings",
        runtime_path: "scicat_plugin_sdk::__private::wit_bindgen::rt",
        bitflags_path: "scicat_plugin_sdk::__private::wit_bindgen::rt::bitflags",
    });
}

/// The WIT package version this SDK implements.
pub const WIT_VERSION: &str = "0.1.0";

/// What a plugin declares about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub description: String,
    pub select: bool,
    pub transform: bool,
    /// Names of the variables it computes (`*`: any name).
    pub variables: Vec<String>,
    /// Names of the operators it offers.
    pub operators: Vec<String>,
}

impl Metadata {
    /// `Metadata::new("my-plugin", env!("CARGO_PKG_VERSION"))`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Metadata {
            name: name.into(),
            version: version.into(),
            ..Default::default()
        }
    }

    /// A one-line description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Declares the `select` hook.
    pub fn selects(mut self) -> Self {
        self.select = true;
        self
    }

    /// Declares the `transform` hook.
    pub fn transforms(mut self) -> Self {
        self.transform = true;
        self
    }

    /// Declares a variable name (and so the `variables` hook).
    pub fn variable(mut self, name: impl Into<String>) -> Self {
        self.variables.push(name.into());
        self
    }

    /// Declares an operator name (and so the `operators` hook).
    pub fn operator(mut self, name: impl Into<String>) -> Self {
        self.operators.push(name.into());
        self
    }
}

/// An instrument plugin. Implement [`metadata`](Plugin::metadata),
/// [`new`](Plugin::new) and the hooks you declare, then `export!(YourType)`.
///
/// One value of your type is created per data file from the schema's
/// `plugin.config`, and the hooks for that file are called on it.
pub trait Plugin: Sized + 'static {
    /// Name, version and the hooks, variables and operators offered.
    fn metadata() -> Metadata;

    /// Called once per data file with the schema's `plugin.config` (an
    /// object, empty when the schema gives none).
    fn new(config: Json) -> Result<Self>;

    /// Whether the schema applies to the data file at `path`.
    fn select(&mut self, file: &NexusFile, path: &str) -> Result<bool> {
        let _ = (file, path);
        Err(Error::msg("this plugin has no select hook"))
    }

    /// The value of the `"source": "PLUGIN"` variable `name` (the
    /// definition's `name`, else the variable's own name), given the
    /// definition's `args` (null when absent).
    fn variable(
        &mut self,
        name: &str,
        args: &Json,
        file: &NexusFile,
        vars: &Vars,
    ) -> Result<Typed> {
        let _ = (args, file, vars);
        Err(Error::msg(format!("this plugin has no variable {name:?}")))
    }

    /// Operator `plugin:<name>` applied to a rendered value.
    fn operator(&mut self, name: &str, value: Typed, vars: &Vars) -> Result<Typed> {
        let _ = (value, vars);
        Err(Error::msg(format!("this plugin has no operator {name:?}")))
    }

    /// Changes the finished dataset before it is uploaded.
    fn transform(
        &mut self,
        dataset: Map<String, Json>,
        file: &NexusFile,
    ) -> Result<Map<String, Json>> {
        let _ = file;
        Ok(dataset)
    }
}

/// Exports a [`Plugin`] type as the component's hooks: `export!(MyPlugin);`
/// once, at the crate root.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        /// The interface version this plugin was built against, read by the
        /// host before it picks the bindings.
        #[unsafe(link_section = "scicat:ingestor-version")]
        #[used]
        static __SCICAT_INGESTOR_VERSION: [u8; 5] = *b"0.1.0";
        const _: () = {
            struct __ScicatPluginExports;
            impl $crate::__private::Guest for __ScicatPluginExports {
                fn metadata() -> $crate::__private::PluginInfo {
                    $crate::__private::metadata::<$plugin>()
                }
                fn init(
                    config: ::std::string::String,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::init::<$plugin>(config)
                }
                fn select(
                    file: $crate::__private::FileArg<'_>,
                    path: ::std::string::String,
                ) -> ::core::result::Result<bool, ::std::string::String> {
                    $crate::__private::select::<$plugin>(file, path)
                }
                fn variable(
                    name: ::std::string::String,
                    args: ::std::string::String,
                    file: $crate::__private::FileArg<'_>,
                    vars: ::std::vec::Vec<(::std::string::String, $crate::__private::TypedValue)>,
                ) -> ::core::result::Result<$crate::__private::TypedValue, ::std::string::String>
                {
                    $crate::__private::variable::<$plugin>(name, args, file, vars)
                }
                fn operator(
                    name: ::std::string::String,
                    value: $crate::__private::TypedValue,
                    vars: ::std::vec::Vec<(::std::string::String, $crate::__private::TypedValue)>,
                ) -> ::core::result::Result<$crate::__private::TypedValue, ::std::string::String>
                {
                    $crate::__private::operator::<$plugin>(name, value, vars)
                }
                fn transform(
                    dataset: ::std::string::String,
                    file: $crate::__private::FileArg<'_>,
                ) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                    $crate::__private::transform::<$plugin>(dataset, file)
                }
            }
    $crate::bindings::export_world!(__ScicatPluginExports with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    //! The glue between the generated bindings and [`Plugin`]; not API.

    use std::any::Any;
    use std::cell::RefCell;

    pub use crate::bindings::Guest;
    pub use crate::bindings::scicat::ingestor::types::{PluginInfo, TypedValue};
    pub use wit_bindgen;

    use super::*;
    use crate::bindings::scicat::ingestor::types::Hooks;

    pub type FileArg<'a> = &'a crate::bindings::NexusFile;

    thread_local! {
        static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    fn with<P: Plugin, R>(f: impl FnOnce(&mut P) -> Result<R>) -> std::result::Result<R, String> {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            if s.is_none() {
                *s = Some(Box::new(
                    P::new(Json::Object(Map::new())).map_err(|e| e.to_string())?,
                ));
            }
            let p = s
                .as_mut()
                .and_then(|b| b.downcast_mut::<P>())
                .ok_or("the plugin state has the wrong type")?;
            f(p).map_err(|e| e.to_string())
        })
    }

    pub fn metadata<P: Plugin>() -> PluginInfo {
        let m = P::metadata();
        let mut hooks = Hooks::empty();
        if m.select {
            hooks |= Hooks::SELECT;
        }
        if !m.variables.is_empty() {
            hooks |= Hooks::VARIABLES;
        }
        if !m.operators.is_empty() {
            hooks |= Hooks::OPERATORS;
        }
        if m.transform {
            hooks |= Hooks::TRANSFORM;
        }
        PluginInfo {
            name: m.name,
            version: m.version,
            description: m.description,
            hooks,
            variables: m.variables,
            operators: m.operators,
        }
    }

    pub fn init<P: Plugin>(config: String) -> std::result::Result<(), String> {
        let config: Json = if config.trim().is_empty() {
            Json::Object(Map::new())
        } else {
            serde_json::from_str(&config).map_err(|e| format!("the config is not JSON: {e}"))?
        };
        let p = P::new(config).map_err(|e| e.to_string())?;
        STATE.with(|s| *s.borrow_mut() = Some(Box::new(p)));
        Ok(())
    }

    pub fn select<P: Plugin>(file: FileArg<'_>, path: String) -> std::result::Result<bool, String> {
        let file = NexusFile::from_raw(file);
        with::<P, _>(|p| p.select(&file, &path))
    }

    fn vars(v: Vec<(String, TypedValue)>) -> Vars {
        v.into_iter()
            .map(|(k, t)| (k, crate::convert::from_wit(t)))
            .collect()
    }

    pub fn variable<P: Plugin>(
        name: String,
        args: String,
        file: FileArg<'_>,
        vs: Vec<(String, TypedValue)>,
    ) -> std::result::Result<TypedValue, String> {
        let args: Json = if args.trim().is_empty() {
            Json::Null
        } else {
            serde_json::from_str(&args).map_err(|e| format!("args are not JSON: {e}"))?
        };
        let file = NexusFile::from_raw(file);
        let vs = vars(vs);
        with::<P, _>(|p| p.variable(&name, &args, &file, &vs)).map(crate::convert::to_wit)
    }

    pub fn operator<P: Plugin>(
        name: String,
        value: TypedValue,
        vs: Vec<(String, TypedValue)>,
    ) -> std::result::Result<TypedValue, String> {
        let vs = vars(vs);
        let value = crate::convert::from_wit(value);
        with::<P, _>(|p| p.operator(&name, value, &vs)).map(crate::convert::to_wit)
    }

    pub fn transform<P: Plugin>(
        dataset: String,
        file: FileArg<'_>,
    ) -> std::result::Result<String, String> {
        let d: Map<String, Json> = serde_json::from_str(&dataset)
            .map_err(|e| format!("the dataset is not a JSON object: {e}"))?;
        let file = NexusFile::from_raw(file);
        let out = with::<P, _>(|p| p.transform(d, &file))?;
        serde_json::to_string(&out).map_err(|e| e.to_string())
    }
}

//! # Writing a SciCat ingestor plugin
//!
//! A plugin is a WebAssembly component that the ingestor runs, sandboxed,
//! for the schemas that name it. It can implement any of four hooks:
//!
//! | hook | used by the schema as | gets | returns |
//! | --- | --- | --- | --- |
//! | select | `"selector": "plugin"` | the file, the data file path | does the schema apply? |
//! | variable | `{"source": "PLUGIN", "name": ..., "args": {...}}` | its typed `args`, the file, variables so far | a value with its unit |
//! | operator | `{"source": "VALUE", "operator": "plugin:<name>"}` | the rendered value | a value with its unit |
//! | transform | (always, when registered) | the finished dataset, the file, a [`TransformContext`] | the changed dataset |
//!
//! You register each hook by writing its function: the name you register
//! it under is what the plugin declares to the ingestor, so the declaration
//! cannot drift from the code. Config and args are your own `serde` types.
//! A whole plugin, with its test on an in-memory file:
//!
//! ```
//! use scicat_plugin_sdk::{Dataset, Hooks, MemFile, NexusFile, Result, Typed, Vars, export};
//! use serde::Deserialize;
//!
//! /// The schema's `plugin.config`: `{"scale": 2.0}` (optional).
//! #[derive(Deserialize, Default)]
//! #[serde(default)]
//! struct Config {
//!     scale: Option<f64>,
//! }
//!
//! /// The variable's `args`: `{"path": "/entry/..."}`.
//! #[derive(Deserialize)]
//! struct Args {
//!     path: String,
//! }
//!
//! /// Variable `mean`: the mean of the dataset at `args.path`, with its unit.
//! fn mean(config: &mut Config, args: Args, file: &NexusFile, _vars: &Vars) -> Result<Typed> {
//!     let v = file.read_f64s(&args.path)?;
//!     let mean = v.iter().sum::<f64>() / v.len().max(1) as f64 * config.scale.unwrap_or(1.0);
//!     Ok(Typed::new(mean).with_unit(file.units(&args.path).unwrap_or_default()))
//! }
//!
//! fn plugin() -> Hooks<Config> {
//!     Hooks::new("mean", env!("CARGO_PKG_VERSION")).variable("mean", mean)
//! }
//!
//! export!(plugin());
//!
//! # fn main() {
//! // In the plugin's tests (`cargo test`): the real hook on an in-memory file.
//! let file = MemFile::new()
//!     .dataset("/entry/t", Dataset::new(vec![290.0, 296.0]).units("K"));
//! let mut p = plugin().instance(serde_json::json!({"scale": 1.0})).unwrap();
//! let t = p.variable("mean", serde_json::json!({"path": "/entry/t"}), &file, &Vars::new()).unwrap();
//! assert_eq!((t.as_f64(), t.unit.as_str()), (Some(293.0), "K"));
//! # }
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the
//! component is `target/wasm32-wasip2/release/<crate_name>.wasm`. The crate
//! must be a `cdylib` (`[lib] crate-type = ["cdylib"]`); `cargo test` runs
//! its tests natively.
//!
//! The [`Hooks`] builder registers `select`, `variable` (`"*"` for any
//! name), `operator` and `transform`; the host only calls what is
//! registered, and `scicat-ingestor validate` checks schemas against it.
//! A type implementing the [`Plugin`] trait (every method has a default;
//! you match names yourself) works too: `export!(MyType);`.
//!
//! The sandbox: no files, network, environment or real clock (the wall clock
//! is fixed, randomness is deterministic); memory and time per call are
//! bounded by the host's config. Log with [`log`] (levels, into the
//! ingestor's log); `println!`/`eprintln!` output goes to the ingestor's log
//! at debug level. A panic is reported as a failure of the hook, with the
//! panic message.
//!
//! Failures: return an [`Error`] (`bail!`, `?` on the helpers,
//! [`Context::context`]); a read that found nothing says so
//! ([`Error::is_not_found`]). A failing variable or operator leaves that
//! variable undefined (one warning lists them); a failing select means
//! "does not match"; a failing transform stops the ingestion before
//! anything is uploaded.
//!
//! This SDK implements the interface `scicat:ingestor@0.2.0` (its WIT is
//! in the crate, `wit/since_v0.2.0`) and stamps that version into the
//! component (the custom section `scicat:ingestor-version`), which the
//! ingestor reads to pick its bindings.

extern crate self as scicat_plugin_sdk;

mod convert;
mod error;
mod file;
mod hooks;
pub mod log;
mod mem;
mod value;

pub use error::{Context, Error, ErrorKind, Result};
pub use file::{Child, DatasetInfo, ElementType, FileView, Kind, NexusFile};
pub use hooks::{Hooks, Instance, TransformContext};
pub use mem::{Dataset, MemFile};
pub use serde;
pub use serde_json;
pub use value::{Typed, Value, Vars};

use serde_json::{Map, Value as Json};

#[doc(hidden)]
#[allow(clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/since_v0.2.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "scicat_plugin_sdk::bindings",
        runtime_path: "scicat_plugin_sdk::__private::wit_bindgen::rt",
        bitflags_path: "scicat_plugin_sdk::__private::wit_bindgen::rt::bitflags",
    });
}

/// The WIT package version this SDK implements (and stamps into plugins).
pub const WIT_VERSION: &str = "0.2.0";

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

/// A plugin as a type whose hooks are methods (all optional): the lower
/// level way, where [`metadata`](Plugin::metadata) declares what the
/// methods handle. [`Hooks`] is usually shorter. `export!(YourType);`.
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

    /// [`transform`](Plugin::transform), told where it runs.
    fn transform_in(
        &mut self,
        dataset: Map<String, Json>,
        file: &NexusFile,
        context: &TransformContext,
    ) -> Result<Map<String, Json>> {
        let _ = context;
        self.transform(dataset, file)
    }
}

/// Exports the plugin as the component's hooks, once, at the crate root:
/// `export!(plugin());` for a function returning [`Hooks`], or
/// `export!(MyType);` for a [`Plugin`] type. Also stamps the interface
/// version into the component.
#[macro_export]
macro_rules! export {
    ($hooks:ident ()) => {
        const _: () = {
            struct __ScicatPluginFactory;
            impl $crate::__private::Factory for __ScicatPluginFactory {
                fn metadata() -> $crate::Metadata {
                    $hooks().metadata()
                }
                fn create(
                    config: $crate::serde_json::Value,
                ) -> $crate::Result<::std::boxed::Box<dyn $crate::__private::Dispatch>> {
                    $crate::__private::boxed($hooks().instance(config)?)
                }
            }
            $crate::__export_glue!(__ScicatPluginFactory);
        };
    };
    ($plugin:ty) => {
        const _: () = {
            struct __ScicatPluginFactory;
            impl $crate::__private::Factory for __ScicatPluginFactory {
                fn metadata() -> $crate::Metadata {
                    <$plugin as $crate::Plugin>::metadata()
                }
                fn create(
                    config: $crate::serde_json::Value,
                ) -> $crate::Result<::std::boxed::Box<dyn $crate::__private::Dispatch>> {
                    $crate::__private::boxed($crate::__private::ByTrait(
                        <$plugin as $crate::Plugin>::new(config)?,
                    ))
                }
            }
            $crate::__export_glue!(__ScicatPluginFactory);
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_glue {
    ($factory:ty) => {
        /// The interface version this plugin was built against, read by the
        /// host before it picks the bindings.
        #[cfg_attr(target_arch = "wasm32", unsafe(link_section = "scicat:ingestor-version"))]
        #[used]
        static __SCICAT_INGESTOR_VERSION: [u8; 5] = *b"0.2.0";

        struct __ScicatPluginExports;
        impl $crate::__private::Guest for __ScicatPluginExports {
            fn metadata() -> $crate::__private::PluginInfo {
                $crate::__private::metadata::<$factory>()
            }
            fn init(config: ::std::string::String) -> ::core::result::Result<(), ::std::string::String> {
                $crate::__private::init::<$factory>(config)
            }
            fn select(
                file: $crate::__private::FileArg<'_>,
                path: ::std::string::String,
            ) -> ::core::result::Result<bool, ::std::string::String> {
                $crate::__private::select::<$factory>(file, path)
            }
            fn variable(
                name: ::std::string::String,
                args: ::std::string::String,
                file: $crate::__private::FileArg<'_>,
                vars: $crate::__private::VarsArg<'_>,
            ) -> ::core::result::Result<$crate::__private::TypedValue, ::std::string::String> {
                $crate::__private::variable::<$factory>(name, args, file, vars)
            }
            fn operator(
                name: ::std::string::String,
                value: $crate::__private::TypedValue,
                vars: $crate::__private::VarsArg<'_>,
            ) -> ::core::result::Result<$crate::__private::TypedValue, ::std::string::String> {
                $crate::__private::operator::<$factory>(name, value, vars)
            }
            fn transform(
                dataset: ::std::string::String,
                file: $crate::__private::FileArg<'_>,
                context: $crate::__private::WitContext,
            ) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                $crate::__private::transform::<$factory>(dataset, file, context)
            }
        }
        $crate::bindings::export_world!(__ScicatPluginExports with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    //! The glue between the generated bindings and the plugin; not API.

    use std::cell::RefCell;

    pub use crate::bindings::Guest;
    pub use crate::bindings::scicat::ingestor::types::{
        PluginInfo, TransformContext as WitContext, TypedValue,
    };
    pub use crate::hooks::Dispatch;
    pub use wit_bindgen;

    use super::*;
    use crate::bindings::scicat::ingestor::types::Hooks as Flags;

    pub type FileArg<'a> = &'a crate::bindings::NexusFile;
    pub type VarsArg<'a> = &'a crate::bindings::Variables;

    /// How the exported plugin is described and created per data file.
    pub trait Factory {
        fn metadata() -> Metadata;
        fn create(config: Json) -> Result<Box<dyn Dispatch>>;
    }

    /// A [`Plugin`] type as a [`Dispatch`].
    pub struct ByTrait<P>(pub P);

    impl<P: Plugin> Dispatch for ByTrait<P> {
        fn select(&mut self, file: &NexusFile, path: &str) -> Result<bool> {
            self.0.select(file, path)
        }
        fn variable(
            &mut self,
            name: &str,
            args: Json,
            file: &NexusFile,
            vars: &Vars,
        ) -> Result<Typed> {
            self.0.variable(name, &args, file, vars)
        }
        fn operator(&mut self, name: &str, value: Typed, vars: &Vars) -> Result<Typed> {
            self.0.operator(name, value, vars)
        }
        fn transform(
            &mut self,
            d: Map<String, Json>,
            file: &NexusFile,
            cx: &TransformContext,
        ) -> Result<Map<String, Json>> {
            self.0.transform_in(d, file, cx)
        }
    }

    pub fn boxed<D: Dispatch + 'static>(d: D) -> Result<Box<dyn Dispatch>> {
        Ok(Box::new(d))
    }

    thread_local! {
        static STATE: RefCell<Option<Box<dyn Dispatch>>> = const { RefCell::new(None) };
    }

    fn with<F: Factory, R>(
        f: impl FnOnce(&mut dyn Dispatch) -> Result<R>,
    ) -> std::result::Result<R, String> {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            if s.is_none() {
                *s = Some(F::create(Json::Object(Map::new())).map_err(|e| e.to_string())?);
            }
            match s.as_mut() {
                Some(p) => f(p.as_mut()).map_err(|e| e.to_string()),
                None => Err("the plugin was not initialised".into()),
            }
        })
    }

    pub fn metadata<F: Factory>() -> PluginInfo {
        let m = F::metadata();
        let mut hooks = Flags::empty();
        if m.select {
            hooks |= Flags::SELECT;
        }
        if !m.variables.is_empty() {
            hooks |= Flags::VARIABLES;
        }
        if !m.operators.is_empty() {
            hooks |= Flags::OPERATORS;
        }
        if m.transform {
            hooks |= Flags::TRANSFORM;
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

    pub fn init<F: Factory>(config: String) -> std::result::Result<(), String> {
        let config: Json = if config.trim().is_empty() {
            Json::Object(Map::new())
        } else {
            serde_json::from_str(&config).map_err(|e| format!("the config is not JSON: {e}"))?
        };
        let p = F::create(config).map_err(|e| e.to_string())?;
        STATE.with(|s| *s.borrow_mut() = Some(p));
        Ok(())
    }

    pub fn select<F: Factory>(
        file: FileArg<'_>,
        path: String,
    ) -> std::result::Result<bool, String> {
        let file = NexusFile::new(file);
        with::<F, _>(|p| p.select(&file, &path))
    }

    pub fn variable<F: Factory>(
        name: String,
        args: String,
        file: FileArg<'_>,
        vars: VarsArg<'_>,
    ) -> std::result::Result<TypedValue, String> {
        let args: Json = if args.trim().is_empty() {
            Json::Null
        } else {
            serde_json::from_str(&args).map_err(|e| format!("args are not JSON: {e}"))?
        };
        let file = NexusFile::new(file);
        let vars = Vars::from_host(vars);
        with::<F, _>(|p| p.variable(&name, args, &file, &vars)).map(crate::convert::to_wit)
    }

    pub fn operator<F: Factory>(
        name: String,
        value: TypedValue,
        vars: VarsArg<'_>,
    ) -> std::result::Result<TypedValue, String> {
        let vars = Vars::from_host(vars);
        let value = crate::convert::from_wit(value);
        with::<F, _>(|p| p.operator(&name, value, &vars)).map(crate::convert::to_wit)
    }

    pub fn transform<F: Factory>(
        dataset: String,
        file: FileArg<'_>,
        cx: WitContext,
    ) -> std::result::Result<String, String> {
        let d: Map<String, Json> = serde_json::from_str(&dataset)
            .map_err(|e| format!("the dataset is not a JSON object: {e}"))?;
        let file = NexusFile::new(file);
        let cx = TransformContext {
            api_version: cx.api_version,
            schema_id: cx.schema_id,
            data_file: cx.data_file,
        };
        let out = with::<F, _>(|p| p.transform(d, &file, &cx))?;
        serde_json::to_string(&out).map_err(|e| e.to_string())
    }
}

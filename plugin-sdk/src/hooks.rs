//! [`Hooks`]: a plugin registered by writing its functions. Each
//! registration names a hook and gives its function, so what the plugin
//! declares to the ingestor is exactly what it implements. Config and args
//! are deserialized into the function's own `serde` types.

use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use crate::Metadata;
use crate::error::{Error, Result};
use crate::file::{FileView, NexusFile};
use crate::value::{Typed, Vars};

/// Where a `transform` runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransformContext {
    /// The SciCat API version the dataset is built for (`3`, `4`).
    pub api_version: String,
    /// The `id` of the schema that selected the file.
    pub schema_id: String,
    /// The data file's path.
    pub data_file: String,
}

type Dataset = Map<String, Json>;
type InitFn<S> = Box<dyn Fn(Json) -> Result<S>>;
type SelectFn<S> = Box<dyn Fn(&mut S, &NexusFile, &str) -> Result<bool>>;
type VariableFn<S> = Box<dyn Fn(&mut S, &str, Json, &NexusFile, &Vars) -> Result<Typed>>;
type OperatorFn<S> = Box<dyn Fn(&mut S, &str, Typed, &Vars) -> Result<Typed>>;
type TransformFn<S> =
    Box<dyn Fn(&mut S, Dataset, &NexusFile, &TransformContext) -> Result<Dataset>>;

/// A plugin's hooks, registered one function at a time. `S` is the
/// plugin's state for one data file, made from the schema's config.
///
/// ```
/// use scicat_plugin_sdk::{Hooks, NexusFile, Result, Typed, Vars};
///
/// fn title(_: &mut (), _args: (), file: &NexusFile, _: &Vars) -> Result<Typed> {
///     Ok(file.read_string("/entry/title")?.into())
/// }
///
/// let hooks: Hooks<()> = Hooks::new("titles", "1.0.0").variable("title", title);
/// assert_eq!(hooks.metadata().variables, ["title"]);
/// ```
pub struct Hooks<S> {
    meta: Metadata,
    init: InitFn<S>,
    select: Option<SelectFn<S>>,
    variables: Vec<(String, VariableFn<S>)>,
    operators: Vec<(String, OperatorFn<S>)>,
    transform: Option<TransformFn<S>>,
}

/// `value` as a `T`; an empty config object also reads as `null`, so `()`
/// and `Option<_>` work for plugins without config.
fn typed<T: DeserializeOwned>(value: Json, what: &str) -> Result<T> {
    let empty = value.as_object().is_some_and(Map::is_empty);
    serde_json::from_value(value).or_else(|e| match empty {
        true => serde_json::from_value(Json::Null).map_err(|_| Error::msg(format!("{what}: {e}"))),
        false => Err(Error::msg(format!("{what}: {e}"))),
    })
}

impl<S: DeserializeOwned + 'static> Hooks<S> {
    /// A plugin whose state is its config, deserialized from the schema's
    /// `plugin.config` (`#[serde(default)]` makes fields optional).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Hooks::with_init(name, version, |config: S| Ok(config))
    }
}

impl<S: 'static> Hooks<S> {
    /// A plugin whose state `init` makes from its config `C` (compile a
    /// pattern once, check values, ...), once per data file.
    pub fn with_init<C: DeserializeOwned>(
        name: impl Into<String>,
        version: impl Into<String>,
        init: impl Fn(C) -> Result<S> + 'static,
    ) -> Self {
        Hooks {
            meta: Metadata::new(name, version),
            init: Box::new(move |config| init(typed(config, "plugin config")?)),
            select: None,
            variables: Vec::new(),
            operators: Vec::new(),
            transform: None,
        }
    }

    /// A one-line description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.meta.description = text.into();
        self
    }

    /// The `select` hook: does the schema apply to the data file at `path`?
    pub fn select(
        mut self,
        f: impl Fn(&mut S, &NexusFile, &str) -> Result<bool> + 'static,
    ) -> Self {
        self.select = Some(Box::new(f));
        self
    }

    /// Variable `name`, computed by `f` from the definition's `args` (`A`:
    /// your `serde` type, `()` for none), the file and the variables known
    /// so far. For any name, see [`Hooks::any_variable`].
    pub fn variable<A: DeserializeOwned, R: Into<Typed>>(
        mut self,
        name: &str,
        f: impl Fn(&mut S, A, &NexusFile, &Vars) -> Result<R> + 'static,
    ) -> Self {
        let what = format!("args of variable {name:?}");
        self.variables.push((
            name.to_string(),
            Box::new(move |s, _name, args, file, vars| {
                f(s, typed(args, &what)?, file, vars).map(Into::into)
            }),
        ));
        self
    }

    /// Variables of any name (`"*"`), the name asked for passed first.
    pub fn any_variable<A: DeserializeOwned, R: Into<Typed>>(
        mut self,
        f: impl Fn(&mut S, &str, A, &NexusFile, &Vars) -> Result<R> + 'static,
    ) -> Self {
        self.variables.push((
            "*".to_string(),
            Box::new(move |s, name, args, file, vars| {
                f(
                    s,
                    name,
                    typed(args, &format!("args of variable {name:?}"))?,
                    file,
                    vars,
                )
                .map(Into::into)
            }),
        ));
        self
    }

    /// Operator `plugin:<name>`, applied to a rendered value.
    pub fn operator<R: Into<Typed>>(
        mut self,
        name: &str,
        f: impl Fn(&mut S, Typed, &Vars) -> Result<R> + 'static,
    ) -> Self {
        self.operators.push((
            name.to_string(),
            Box::new(move |s, _name, value, vars| f(s, value, vars).map(Into::into)),
        ));
        self
    }

    /// The `transform` hook: changes the finished dataset.
    pub fn transform(
        mut self,
        f: impl Fn(&mut S, Dataset, &NexusFile, &TransformContext) -> Result<Dataset> + 'static,
    ) -> Self {
        self.transform = Some(Box::new(f));
        self
    }

    /// What the plugin declares: exactly what is registered.
    pub fn metadata(&self) -> Metadata {
        Metadata {
            select: self.select.is_some(),
            transform: self.transform.is_some(),
            variables: self.variables.iter().map(|(n, _)| n.clone()).collect(),
            operators: self.operators.iter().map(|(n, _)| n.clone()).collect(),
            ..self.meta.clone()
        }
    }

    /// The plugin for one data file, made from `config` as the ingestor
    /// does (what the plugin's tests call).
    pub fn instance(self, config: Json) -> Result<Instance<S>> {
        let state = (self.init)(config)?;
        Ok(Instance {
            hooks: Rc::new(self),
            state,
        })
    }
}

/// A plugin for one data file: its hooks and its state. The ingestor calls
/// these; a plugin's tests call them with a [`MemFile`](crate::MemFile).
pub struct Instance<S> {
    hooks: Rc<Hooks<S>>,
    /// The plugin's state (its config, or what `with_init` made).
    pub state: S,
}

impl<S: 'static> Instance<S> {
    /// The `select` hook.
    pub fn select(&mut self, file: &dyn FileView, path: &str) -> Result<bool> {
        Dispatch::select(self, &NexusFile::new(file), path)
    }

    /// Variable `name` with `args` (`Json::Null` when the schema gives none).
    pub fn variable(
        &mut self,
        name: &str,
        args: Json,
        file: &dyn FileView,
        vars: &Vars,
    ) -> Result<Typed> {
        Dispatch::variable(self, name, args, &NexusFile::new(file), vars)
    }

    /// Operator `name` on `value`.
    pub fn operator(&mut self, name: &str, value: impl Into<Typed>, vars: &Vars) -> Result<Typed> {
        Dispatch::operator(self, name, value.into(), vars)
    }

    /// The `transform` hook (the dataset unchanged without one).
    pub fn transform(
        &mut self,
        d: Dataset,
        file: &dyn FileView,
        cx: &TransformContext,
    ) -> Result<Dataset> {
        Dispatch::transform(self, d, &NexusFile::new(file), cx)
    }
}

/// The hooks as the export glue calls them.
#[doc(hidden)]
pub trait Dispatch {
    fn select(&mut self, file: &NexusFile, path: &str) -> Result<bool>;
    fn variable(&mut self, name: &str, args: Json, file: &NexusFile, vars: &Vars) -> Result<Typed>;
    fn operator(&mut self, name: &str, value: Typed, vars: &Vars) -> Result<Typed>;
    fn transform(&mut self, d: Dataset, file: &NexusFile, cx: &TransformContext)
    -> Result<Dataset>;
}

impl<S: 'static> Dispatch for Instance<S> {
    fn select(&mut self, file: &NexusFile, path: &str) -> Result<bool> {
        match &self.hooks.select {
            Some(f) => f(&mut self.state, file, path),
            None => Err(Error::msg("this plugin has no select hook")),
        }
    }

    fn variable(&mut self, name: &str, args: Json, file: &NexusFile, vars: &Vars) -> Result<Typed> {
        let hooks = &self.hooks.variables;
        let f = hooks
            .iter()
            .find(|(n, _)| n == name)
            .or_else(|| hooks.iter().find(|(n, _)| n == "*"));
        match f {
            Some((_, f)) => f(&mut self.state, name, args, file, vars),
            None => Err(Error::msg(format!("this plugin has no variable {name:?}"))),
        }
    }

    fn operator(&mut self, name: &str, value: Typed, vars: &Vars) -> Result<Typed> {
        match self.hooks.operators.iter().find(|(n, _)| n == name) {
            Some((_, f)) => f(&mut self.state, name, value, vars),
            None => Err(Error::msg(format!("this plugin has no operator {name:?}"))),
        }
    }

    fn transform(
        &mut self,
        d: Dataset,
        file: &NexusFile,
        cx: &TransformContext,
    ) -> Result<Dataset> {
        match &self.hooks.transform {
            Some(f) => f(&mut self.state, d, file, cx),
            None => Ok(d),
        }
    }
}

//! The host side of `scicat:ingestor@0.2.0`: generated bindings, the
//! `nexus-file` resource over [`FileView`] with typed errors and shapes,
//! the `variables` resource (the plugin asks for the variables it needs
//! instead of receiving all of them), the plugin's log, and the conversion
//! of its calls to the host's model.

mod convert;

use wasmtime::Store;
use wasmtime::component::Resource;

pub use super::reads::FileView;
use super::reads::{data_bytes, element_bytes};
use super::{Call, RawInfo};
use crate::evaluate::{Var, Vars};
use crate::nexus::{ElemType, Kind, NexusFile as Nexus};
use crate::plugin::sandbox::State;
use crate::plugin::{Hook, MAX_RETURN_BYTES, text};

/// The variables known when a hook is called, as the plugin queries them.
pub struct VarsView {
    pub vars: Vars,
}

wasmtime::component::bindgen!({
    path: "../wit/since_v0.2.0",
    world: "plugin",
    with: {
        "scicat:ingestor/nexus.nexus-file": FileView,
        "scicat:ingestor/vars.variables": VarsView,
    },
    imports: { default: trappable },
});

use scicat::ingestor::log::Level;
use scicat::ingestor::types::{
    Child, DatasetInfo, ElementType, Error as WitError, Hooks, NodeKind,
};

type R<T> = wasmtime::Result<Result<T, WitError>>;

/// Log lines a plugin may write per call; the rest are counted, not shown
/// (the log is the operators', not the plugin's).
const MAX_LOG_LINES: usize = 200;

pub(super) fn metadata(b: &Plugin, s: &mut Store<State>) -> wasmtime::Result<RawInfo> {
    let m = b.call_metadata(s)?;
    let hooks = [
        (Hooks::SELECT, Hook::Select),
        (Hooks::VARIABLES, Hook::Variables),
        (Hooks::OPERATORS, Hook::Operators),
        (Hooks::TRANSFORM, Hook::Transform),
    ]
    .into_iter()
    .filter(|(flag, _)| m.hooks.contains(*flag))
    .map(|(_, h)| h)
    .collect();
    Ok(RawInfo {
        name: m.name,
        version: m.version,
        description: m.description,
        hooks,
        variables: m.variables,
        operators: m.operators,
    })
}

/// A returned value as a variable, refused when too large.
fn checked(t: wasmtime::Result<Result<TypedValue, String>>) -> Call<Var> {
    Ok(t?.and_then(|t| {
        let size = convert::size_of(&t);
        if size > MAX_RETURN_BYTES {
            return Err(super::too_large(size));
        }
        convert::wit_to_var(t)
    }))
}

/// Runs `call` with the known variables as a resource, removed afterwards.
fn with_vars<T>(
    s: &mut Store<State>,
    vars: &Vars,
    call: impl FnOnce(&mut Store<State>, Resource<VarsView>) -> wasmtime::Result<T>,
) -> wasmtime::Result<T> {
    let r = s.data_mut().table.push(VarsView { vars: vars.clone() })?;
    let rep = r.rep();
    let out = call(s, Resource::new_borrow(rep));
    s.data_mut().table.delete(r)?;
    out
}

pub(super) fn variable(
    b: &Plugin,
    s: &mut Store<State>,
    name: &str,
    args: &str,
    f: &Resource<FileView>,
    vars: &Vars,
) -> Call<Var> {
    let file = Resource::new_borrow(f.rep());
    checked(with_vars(s, vars, |s, v| {
        b.call_variable(s, name, args, file, v)
    }))
}

pub(super) fn operator(
    b: &Plugin,
    s: &mut Store<State>,
    name: &str,
    value: &Var,
    vars: &Vars,
) -> Call<Var> {
    let value = convert::var_to_wit(value);
    checked(with_vars(s, vars, |s, v| {
        b.call_operator(s, name, &value, v)
    }))
}

pub(super) fn transform(
    b: &Plugin,
    s: &mut Store<State>,
    dataset: &str,
    file: Resource<FileView>,
    cx: &super::TransformContext,
) -> Call<String> {
    let cx = TransformContext {
        api_version: cx.api_version.clone(),
        schema_id: cx.schema_id.clone(),
        data_file: cx.data_file.clone(),
    };
    b.call_transform(s, dataset, file, &cx)
}

/// Why a read of `path` failed, as the plugin can act on it.
fn read_error(nx: &Nexus, path: &str, msg: String) -> WitError {
    if let Err(e) = nx.kind(path) {
        return WitError::NotFound(e);
    }
    if msg.contains("memory limit") || msg.contains("size overflows") {
        return WitError::TooLarge(msg);
    }
    WitError::Other(msg)
}

/// Checks that `path` is a readable dataset before reading it.
fn readable(nx: &Nexus, path: &str) -> Result<(), WitError> {
    match nx.kind(path) {
        Err(e) => Err(WitError::NotFound(e)),
        Ok(Kind::Dataset) => match nx.info(path) {
            Ok(i) => match i.elem {
                ElemType::Other(t) => Err(WitError::UnsupportedType(format!(
                    "{path} holds {t}, which plugins cannot read"
                ))),
                _ => Ok(()),
            },
            Err(e) => Err(WitError::Other(e)),
        },
        Ok(_) => Err(WitError::UnsupportedType(format!(
            "{path} is not a dataset"
        ))),
    }
}

impl scicat::ingestor::types::Host for State {}
impl scicat::ingestor::nexus::Host for State {}
impl scicat::ingestor::vars::Host for State {}

impl scicat::ingestor::log::Host for State {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return Ok(());
        }
        let level = match level {
            Level::Error => log::Level::Error,
            Level::Warn => log::Level::Warn,
            Level::Info => log::Level::Info,
            Level::Debug => log::Level::Debug,
            Level::Trace => log::Level::Trace,
        };
        log::log!(target: "plugin", level, "[{}] {}", self.plugin, text::clean(&message, text::MAX_TEXT));
        if self.log_lines == MAX_LOG_LINES {
            log::warn!(target: "plugin", "[{}] more than {MAX_LOG_LINES} log lines in one call: the rest are not shown", self.plugin);
        }
        Ok(())
    }
}

impl scicat::ingestor::vars::HostVariables for State {
    fn get(&mut self, v: Resource<VarsView>, name: String) -> wasmtime::Result<Option<TypedValue>> {
        Ok(self.table.get(&v)?.vars.get(&name).map(convert::var_to_wit))
    }

    fn names(&mut self, v: Resource<VarsView>) -> wasmtime::Result<Vec<String>> {
        Ok(self.table.get(&v)?.vars.keys().cloned().collect())
    }

    fn drop(&mut self, v: Resource<VarsView>) -> wasmtime::Result<()> {
        // The host owns it and deletes it after the call.
        let _ = v;
        Ok(())
    }
}

fn node(k: Kind) -> NodeKind {
    match k {
        Kind::Group => NodeKind::Group,
        Kind::Dataset => NodeKind::Dataset,
        Kind::Other => NodeKind::Other,
    }
}

impl scicat::ingestor::nexus::HostNexusFile for State {
    fn kind(&mut self, f: Resource<FileView>, path: String) -> wasmtime::Result<Option<NodeKind>> {
        Ok(self.view(&f)?.kind(&path).ok().map(node))
    }

    fn children(&mut self, f: Resource<FileView>, path: String) -> R<Vec<Child>> {
        let nx = self.view(&f)?;
        Ok(nx
            .children(&path)
            .map(|c| {
                c.into_iter()
                    .map(|(name, kind)| Child {
                        name,
                        kind: node(kind),
                    })
                    .collect()
            })
            .map_err(|e| match nx.kind(&path) {
                Err(e) => WitError::NotFound(e),
                Ok(Kind::Group) => WitError::Other(e),
                Ok(_) => WitError::UnsupportedType(e),
            }))
    }

    fn attributes(&mut self, f: Resource<FileView>, path: String) -> R<Vec<String>> {
        let nx = self.view(&f)?;
        Ok(nx
            .attribute_names(&path)
            .map_err(|e| read_error(&nx, &path, e)))
    }

    fn read_attribute(
        &mut self,
        f: Resource<FileView>,
        path: String,
        name: String,
    ) -> R<TypedValue> {
        let nx = self.view(&f)?;
        if let Ok(names) = nx.attribute_names(&path)
            && !names.contains(&name)
        {
            return Ok(Err(WitError::NotFound(format!(
                "{path} has no attribute `{name}`"
            ))));
        }
        let checked = nx.sizing(&path, Some(&name)).and_then(|(shape, esize)| {
            let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
            self.limits
                .reserve(n.and_then(|n| n.checked_mul(element_bytes(esize))))
                .map_err(|e| format!("{path}@{name}: {e}"))
        });
        Ok(checked
            .and_then(|()| {
                let a = nx.read_attribute(&path, &name)?;
                self.limits
                    .reserve(Some(data_bytes(&a.data)))
                    .map_err(|e| format!("{path}@{name}: {e}"))?;
                Ok(convert::array_to_wit(a, None))
            })
            .map_err(|e| read_error(&nx, &path, e)))
    }

    fn info(&mut self, f: Resource<FileView>, path: String) -> R<DatasetInfo> {
        let nx = self.view(&f)?;
        Ok(nx
            .info(&path)
            .map(|i| DatasetInfo {
                element: match i.elem {
                    ElemType::String => ElementType::Str,
                    ElemType::Integer => ElementType::Int,
                    ElemType::Float => ElementType::Float,
                    ElemType::Bool => ElementType::Boolean,
                    ElemType::Other(_) => ElementType::Other,
                },
                type_name: i.elem.name().to_string(),
                shape: i.shape.iter().map(|d| *d as u64).collect(),
            })
            .map_err(|e| match nx.kind(&path) {
                Err(e) => WitError::NotFound(e),
                Ok(Kind::Dataset) => WitError::Other(e),
                Ok(_) => WitError::UnsupportedType(e),
            }))
    }

    fn read(&mut self, f: Resource<FileView>, path: String) -> R<TypedValue> {
        let nx = self.view(&f)?;
        if let Err(e) = readable(&nx, &path) {
            return Ok(Err(e));
        }
        let a = self.bounded_read(&nx, &path, None)?;
        Ok(a.map(|a| convert::array_to_wit(a, nx.units(&path)))
            .map_err(|e| read_error(&nx, &path, e)))
    }

    fn read_slice(
        &mut self,
        f: Resource<FileView>,
        path: String,
        start: Vec<u64>,
        count: Vec<u64>,
    ) -> R<TypedValue> {
        let nx = self.view(&f)?;
        if let Err(e) = readable(&nx, &path) {
            return Ok(Err(e));
        }
        if let Ok(info) = nx.info(&path) {
            let fits = start.len() == info.shape.len()
                && count.len() == info.shape.len()
                && start
                    .iter()
                    .zip(&count)
                    .zip(&info.shape)
                    .all(|((s, c), n)| s.checked_add(*c).is_some_and(|e| e <= *n as u64));
            if !fits {
                return Ok(Err(WitError::OutOfBounds(format!(
                    "{path}: the slice from {start:?} of {count:?} is outside its shape {:?}",
                    info.shape
                ))));
            }
        }
        let a = self.bounded_read(&nx, &path, Some((start, count.clone())))?;
        Ok(a.map(|a| convert::slice_to_wit(a, count, nx.units(&path)))
            .map_err(|e| read_error(&nx, &path, e)))
    }

    fn units(&mut self, f: Resource<FileView>, path: String) -> wasmtime::Result<Option<String>> {
        Ok(self.view(&f)?.units(&path))
    }

    fn drop(&mut self, f: Resource<FileView>) -> wasmtime::Result<()> {
        self.table.delete(f)?;
        Ok(())
    }
}

//! The host side of `scicat:ingestor@0.1.0` (frozen): generated bindings,
//! the `nexus-file` resource over [`FileView`], and the conversion of its
//! calls to the host's model. 0.1 passes every known variable in each call
//! and reads flatten n-d data (the shape only in `info`).

mod convert;

use wasmtime::Store;
use wasmtime::component::Resource;

pub use super::reads::FileView;
use super::reads::{data_bytes, element_bytes};
use super::{Call, RawInfo};
use crate::evaluate::{Var, Vars};
use crate::nexus::{ElemType, Kind};
use crate::plugin::sandbox::State;
use crate::plugin::{Hook, MAX_RETURN_BYTES};

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "plugin",
    with: {
        "scicat:ingestor/nexus.nexus-file": FileView,
    },
    imports: { default: trappable },
});

use scicat::ingestor::types::{
    Child, DatasetInfo, ElementType, Hooks, NodeKind, Value as WitValue,
};

type R<T> = wasmtime::Result<Result<T, String>>;

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

fn typed_vars(vars: &Vars) -> Vec<(String, TypedValue)> {
    vars.iter()
        .map(|(k, v)| (k.clone(), convert::var_to_wit(v)))
        .collect()
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

pub(super) fn variable(
    b: &Plugin,
    s: &mut Store<State>,
    name: &str,
    args: &str,
    f: &Resource<FileView>,
    vars: &Vars,
) -> Call<Var> {
    let typed = typed_vars(vars);
    checked(b.call_variable(s, name, args, Resource::new_borrow(f.rep()), &typed))
}

pub(super) fn operator(
    b: &Plugin,
    s: &mut Store<State>,
    name: &str,
    value: &Var,
    vars: &Vars,
) -> Call<Var> {
    let v = convert::var_to_wit(value);
    let typed = typed_vars(vars);
    checked(b.call_operator(s, name, &v, &typed))
}

impl scicat::ingestor::types::Host for State {}
impl scicat::ingestor::nexus::Host for State {}

impl scicat::ingestor::nexus::HostNexusFile for State {
    fn children(&mut self, f: Resource<FileView>, path: String) -> R<Vec<Child>> {
        let nx = self.view(&f)?;
        Ok(nx.children(&path).map(|c| {
            c.into_iter()
                .map(|(name, kind)| Child {
                    name,
                    kind: match kind {
                        Kind::Group => NodeKind::Group,
                        Kind::Dataset => NodeKind::Dataset,
                        Kind::Other => NodeKind::Other,
                    },
                })
                .collect()
        }))
    }

    fn attributes(&mut self, f: Resource<FileView>, path: String) -> R<Vec<String>> {
        Ok(self.view(&f)?.attribute_names(&path))
    }

    fn read_attribute(
        &mut self,
        f: Resource<FileView>,
        path: String,
        name: String,
    ) -> R<TypedValue> {
        let nx = self.view(&f)?;
        let checked = nx.sizing(&path, Some(&name)).and_then(|(shape, esize)| {
            let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
            self.limits
                .reserve(n.and_then(|n| n.checked_mul(element_bytes(esize))))
                .map_err(|e| format!("{path}@{name}: {e}"))
        });
        Ok(checked.and_then(|()| {
            let a = nx.read_attribute(&path, &name)?;
            self.limits
                .reserve(Some(data_bytes(&a.data)))
                .map_err(|e| format!("{path}@{name}: {e}"))?;
            Ok(convert::array_to_wit(a, String::new()))
        }))
    }

    fn info(&mut self, f: Resource<FileView>, path: String) -> R<DatasetInfo> {
        let nx = self.view(&f)?;
        Ok(nx.info(&path).map(|i| DatasetInfo {
            element: match i.elem {
                ElemType::String => ElementType::Str,
                ElemType::Integer => ElementType::Int,
                ElemType::Float => ElementType::Float,
                ElemType::Bool => ElementType::Boolean,
                ElemType::Other(_) => ElementType::Other,
            },
            type_name: i.elem.name().to_string(),
            shape: i.shape.iter().map(|d| *d as u64).collect(),
        }))
    }

    fn read(&mut self, f: Resource<FileView>, path: String) -> R<TypedValue> {
        let nx = self.view(&f)?;
        let a = self.bounded_read(&nx, &path, None)?;
        Ok(a.map(|a| convert::array_to_wit(a, nx.units(&path).unwrap_or_default())))
    }

    fn read_slice(
        &mut self,
        f: Resource<FileView>,
        path: String,
        start: Vec<u64>,
        count: Vec<u64>,
    ) -> R<TypedValue> {
        let nx = self.view(&f)?;
        let a = self.bounded_read(&nx, &path, Some((start, count)))?;
        Ok(a.map(|a| {
            let mut t = convert::array_to_wit(a, nx.units(&path).unwrap_or_default());
            t.value = convert::as_list(t.value);
            t
        }))
    }

    fn units(&mut self, f: Resource<FileView>, path: String) -> wasmtime::Result<Option<String>> {
        Ok(self.view(&f)?.units(&path))
    }

    fn drop(&mut self, f: Resource<FileView>) -> wasmtime::Result<()> {
        self.table.delete(f)?;
        Ok(())
    }
}

//! The host side of the WIT world `scicat:ingestor/plugin@0.1.0`: generated
//! bindings, and the read-only `nexus-file` resource backed by [`NexusFile`].

use std::sync::Arc;

use wasmtime::component::Resource;

use super::convert;
use super::sandbox::State;
use crate::nexus::{ElemType, Kind, NexusFile as Nexus};

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "plugin",
    with: {
        "scicat:ingestor/nexus.nexus-file": FileView,
    },
    imports: { default: trappable },
});

pub use scicat::ingestor::types::{
    Child, DatasetInfo, ElementType, Hooks, NodeKind, Value as WitValue,
};

/// The data file as a plugin sees it.
pub struct FileView {
    pub file: Arc<Nexus>,
}

type R<T> = wasmtime::Result<Result<T, String>>;

impl State {
    fn view(&self, r: &Resource<FileView>) -> wasmtime::Result<Arc<Nexus>> {
        Ok(self.table.get(r)?.file.clone())
    }

    /// Refuses reads that could not fit in the plugin's memory anyway, so a
    /// plugin cannot make the host read a huge dataset into its own memory.
    fn check_size(&self, nx: &Nexus, path: &str, count: Option<&[u64]>) -> Result<(), String> {
        let info = nx.info(path)?;
        let n: u64 = match count {
            Some(c) => c.iter().product(),
            None => info.shape.iter().map(|d| *d as u64).product(),
        };
        let bytes = n.saturating_mul(8);
        if bytes > self.max_read_bytes {
            return Err(format!(
                "{path}: {n} values ({} MiB) do not fit the plugin's memory; read it in slices with read-slice",
                bytes >> 20
            ));
        }
        Ok(())
    }
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
        Ok(nx
            .read_attribute(&path, &name)
            .map(|a| convert::array_to_wit(a, String::new())))
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
        Ok(self.check_size(&nx, &path, None).and_then(|()| {
            let a = nx.read(&path)?;
            Ok(convert::array_to_wit(
                a,
                nx.units(&path).unwrap_or_default(),
            ))
        }))
    }

    fn read_slice(
        &mut self,
        f: Resource<FileView>,
        path: String,
        start: Vec<u64>,
        count: Vec<u64>,
    ) -> R<TypedValue> {
        let nx = self.view(&f)?;
        Ok(self.check_size(&nx, &path, Some(&count)).and_then(|()| {
            let a = nx.read_slice(&path, &start, &count)?;
            let mut t = convert::array_to_wit(a, nx.units(&path).unwrap_or_default());
            t.value = convert::as_list(t.value);
            Ok(t)
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

//! An in-memory NeXus file for a plugin's own tests: groups, datasets with
//! shape, type, units and attributes, read through the same [`FileView`]
//! the ingestor's file implements, so `cargo test` runs the real hooks.
//!
//! ```
//! use scicat_plugin_sdk::{Dataset, MemFile, NexusFile};
//!
//! let file = MemFile::new()
//!     .dataset("/entry/title", "LaB6 powder")
//!     .dataset(
//!         "/entry/sample/temperature",
//!         Dataset::new(vec![290.0, 291.0, 292.0, 293.0]).shape(&[2, 2]).units("K"),
//!     )
//!     .attribute("/entry", "NX_class", "NXentry");
//! let f = NexusFile::new(&file);
//! assert_eq!(f.read_string("/entry/title").unwrap(), "LaB6 powder");
//! assert_eq!(f.read_slice("/entry/sample/temperature", &[1, 0], &[1, 2]).unwrap().to_f64s(), Some(vec![292.0, 293.0]));
//! assert!(f.read("/entry/nothing").unwrap_err().is_not_found());
//! ```

use std::collections::BTreeMap;

use crate::error::{Error, ErrorKind, Result};
use crate::file::{Child, DatasetInfo, ElementType, FileView, Kind};
use crate::value::{Typed, Value};

/// A dataset of a [`MemFile`]: its values (flat, row-major), shape, units
/// and attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    value: Value,
    shape: Option<Vec<u64>>,
    units: Option<String>,
    attributes: BTreeMap<String, Value>,
}

impl Dataset {
    /// A scalar (`"text"`, `3`, `2.5`, `true`) or a one-dimensional list
    /// (`vec![1.0, 2.0]`); give another shape with [`Dataset::shape`].
    pub fn new(value: impl Into<Value>) -> Self {
        Dataset {
            value: value.into(),
            shape: None,
            units: None,
            attributes: BTreeMap::new(),
        }
    }

    /// The shape of the (flat, row-major) values.
    pub fn shape(mut self, shape: &[u64]) -> Self {
        self.shape = Some(shape.to_vec());
        self
    }

    /// The `units` attribute.
    pub fn units(mut self, units: impl Into<String>) -> Self {
        self.units = Some(units.into());
        self
    }

    /// Another attribute.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    fn len(&self) -> u64 {
        match &self.value {
            Value::Strs(v) => v.len() as u64,
            Value::Ints(v) => v.len() as u64,
            Value::Floats(v) => v.len() as u64,
            Value::Bools(v) => v.len() as u64,
            Value::Bytes(v) => v.len() as u64,
            _ => 1,
        }
    }

    fn dims(&self) -> Vec<u64> {
        match (&self.shape, self.len(), &self.value) {
            (Some(s), _, _) => s.clone(),
            (
                None,
                _,
                Value::Strs(_)
                | Value::Ints(_)
                | Value::Floats(_)
                | Value::Bools(_)
                | Value::Bytes(_),
            ) => {
                vec![self.len()]
            }
            (None, _, _) => Vec::new(),
        }
    }

    fn element(&self) -> (ElementType, &'static str) {
        match &self.value {
            Value::Str(_) | Value::Strs(_) => (ElementType::Str, "string"),
            Value::Int(_) | Value::Uint(_) | Value::Ints(_) | Value::Bytes(_) => {
                (ElementType::Int, "integer")
            }
            Value::Float(_) | Value::Floats(_) => (ElementType::Float, "float"),
            Value::Bool(_) | Value::Bools(_) => (ElementType::Bool, "bool"),
            Value::Null | Value::Json(_) => (ElementType::Other, "compound"),
        }
    }
}

impl<T: Into<Value>> From<T> for Dataset {
    fn from(v: T) -> Self {
        Dataset::new(v)
    }
}

#[derive(Debug, Clone)]
enum Node {
    Group(BTreeMap<String, Value>),
    Dataset(Dataset),
}

/// A NeXus file in memory, built path by path; groups on the way to a
/// dataset are made as needed.
#[derive(Debug, Clone, Default)]
pub struct MemFile {
    nodes: BTreeMap<String, Node>,
}

fn norm(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

fn parent(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(0) | None => None,
        Some(i) => Some(&path[..i]),
    }
}

fn not_found(path: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no object at {path}"))
}

impl MemFile {
    /// An empty file (just the root group).
    pub fn new() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Node::Group(BTreeMap::new()));
        MemFile { nodes }
    }

    fn make_groups(&mut self, path: &str) {
        let mut at = parent(path);
        while let Some(p) = at {
            self.nodes
                .entry(p.to_string())
                .or_insert_with(|| Node::Group(BTreeMap::new()));
            at = parent(p);
        }
    }

    /// A group at `path` (and its parents).
    pub fn group(mut self, path: &str) -> Self {
        let path = norm(path);
        self.make_groups(&path);
        self.nodes
            .entry(path)
            .or_insert_with(|| Node::Group(BTreeMap::new()));
        self
    }

    /// A dataset at `path`: a value (`"text"`, `2.5`, `vec![1, 2]`) or a
    /// [`Dataset`] with shape, units and attributes.
    pub fn dataset(mut self, path: &str, data: impl Into<Dataset>) -> Self {
        let path = norm(path);
        self.make_groups(&path);
        self.nodes.insert(path, Node::Dataset(data.into()));
        self
    }

    /// Attribute `name` of the group or dataset at `path` (a group is made
    /// if nothing is there yet).
    pub fn attribute(mut self, path: &str, name: &str, value: impl Into<Value>) -> Self {
        let path = norm(path);
        if !self.nodes.contains_key(&path) {
            self = self.group(&path);
        }
        match self.nodes.get_mut(&path) {
            Some(Node::Group(a)) => {
                a.insert(name.to_string(), value.into());
            }
            Some(Node::Dataset(d)) => {
                d.attributes.insert(name.to_string(), value.into());
            }
            None => {}
        }
        self
    }

    fn dataset_at(&self, path: &str) -> Result<&Dataset> {
        match self.nodes.get(&norm(path)) {
            Some(Node::Dataset(d)) => Ok(d),
            Some(Node::Group(_)) => Err(Error::new(
                ErrorKind::UnsupportedType,
                format!("{path} is a group, not a dataset"),
            )),
            None => Err(not_found(path)),
        }
    }
}

/// The elements of `v` at the flat indices `idx`.
fn pick(v: &Value, idx: &[usize]) -> Value {
    fn take<T: Clone>(v: &[T], idx: &[usize]) -> Vec<T> {
        idx.iter().filter_map(|i| v.get(*i).cloned()).collect()
    }
    match v {
        Value::Strs(x) => Value::Strs(take(x, idx)),
        Value::Ints(x) => Value::Ints(take(x, idx)),
        Value::Floats(x) => Value::Floats(take(x, idx)),
        Value::Bools(x) => Value::Bools(take(x, idx)),
        Value::Bytes(x) => Value::Bytes(take(x, idx)),
        Value::Str(s) => Value::Strs(vec![s.clone()]),
        Value::Int(i) => Value::Ints(vec![*i]),
        Value::Float(f) => Value::Floats(vec![*f]),
        Value::Bool(b) => Value::Bools(vec![*b]),
        other => other.clone(),
    }
}

impl FileView for MemFile {
    fn kind(&self, path: &str) -> Option<Kind> {
        self.nodes.get(&norm(path)).map(|n| match n {
            Node::Group(_) => Kind::Group,
            Node::Dataset(_) => Kind::Dataset,
        })
    }

    fn children(&self, path: &str) -> Result<Vec<Child>> {
        let path = norm(path);
        match self.nodes.get(&path) {
            Some(Node::Group(_)) => {}
            Some(_) => {
                return Err(Error::new(
                    ErrorKind::UnsupportedType,
                    format!("{path} is not a group"),
                ));
            }
            None => return Err(not_found(&path)),
        }
        Ok(self
            .nodes
            .iter()
            .filter(|(p, _)| parent(p) == Some(path.as_str()))
            .map(|(p, n)| Child {
                name: p.rsplit('/').next().unwrap_or_default().to_string(),
                kind: match n {
                    Node::Group(_) => Kind::Group,
                    Node::Dataset(_) => Kind::Dataset,
                },
            })
            .collect())
    }

    fn attributes(&self, path: &str) -> Result<Vec<String>> {
        match self.nodes.get(&norm(path)) {
            Some(Node::Group(a)) => Ok(a.keys().cloned().collect()),
            Some(Node::Dataset(d)) => {
                let mut names: Vec<String> = d.attributes.keys().cloned().collect();
                if d.units.is_some() {
                    names.push("units".into());
                    names.sort();
                }
                Ok(names)
            }
            None => Err(not_found(path)),
        }
    }

    fn read_attribute(&self, path: &str, name: &str) -> Result<Typed> {
        let value = match self.nodes.get(&norm(path)) {
            Some(Node::Group(a)) => a.get(name).cloned(),
            Some(Node::Dataset(d)) if name == "units" && d.units.is_some() => {
                d.units.clone().map(Value::Str)
            }
            Some(Node::Dataset(d)) => d.attributes.get(name).cloned(),
            None => return Err(not_found(path)),
        };
        value.map(Typed::new).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("{path} has no attribute `{name}`"),
            )
        })
    }

    fn info(&self, path: &str) -> Result<DatasetInfo> {
        let d = self.dataset_at(path)?;
        let (element, type_name) = d.element();
        Ok(DatasetInfo {
            element,
            type_name: type_name.into(),
            shape: d.dims(),
        })
    }

    fn read(&self, path: &str) -> Result<Typed> {
        let d = self.dataset_at(path)?;
        if d.element().0 == ElementType::Other {
            return Err(Error::new(
                ErrorKind::UnsupportedType,
                format!("{path} holds a type plugins cannot read"),
            ));
        }
        Ok(Typed {
            value: d.value.clone(),
            unit: d.units.clone().unwrap_or_default(),
            shape: d.dims(),
        })
    }

    fn read_slice(&self, path: &str, start: &[u64], count: &[u64]) -> Result<Typed> {
        let d = self.dataset_at(path)?;
        let dims = d.dims();
        let fits = start.len() == dims.len()
            && count.len() == dims.len()
            && start
                .iter()
                .zip(count)
                .zip(&dims)
                .all(|((s, c), n)| s.checked_add(*c).is_some_and(|e| e <= *n));
        if !fits {
            return Err(Error::new(
                ErrorKind::OutOfBounds,
                format!(
                    "{path}: the slice from {start:?} of {count:?} is outside its shape {dims:?}"
                ),
            ));
        }
        // Row-major: the flat index of every point of the block, in order.
        let mut idx = vec![0usize];
        for (k, (s, c)) in start.iter().zip(count).enumerate() {
            let stride: u64 = dims[k + 1..].iter().product();
            idx = idx
                .iter()
                .flat_map(|base| (*s..s + c).map(move |i| base + (i * stride) as usize))
                .collect();
        }
        Ok(Typed {
            value: pick(&d.value, &idx),
            unit: d.units.clone().unwrap_or_default(),
            shape: count.to_vec(),
        })
    }

    fn units(&self, path: &str) -> Option<String> {
        self.dataset_at(path).ok()?.units.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NexusFile;

    #[test]
    fn groups_datasets_attributes_and_slices() {
        let m = MemFile::new()
            .dataset("/entry/instrument/name", "ODIN")
            .dataset(
                "/entry/counts",
                Dataset::new(vec![1i64, 2, 3, 4, 5, 6])
                    .shape(&[2, 3])
                    .units("counts"),
            )
            .attribute("/entry", "NX_class", "NXentry");
        let f = NexusFile::new(&m);
        assert_eq!(f.kind("/entry"), Some(Kind::Group));
        assert_eq!(f.kind("/entry/counts"), Some(Kind::Dataset));
        assert!(!f.exists("/nothing"));
        let names: Vec<String> = f
            .children("/entry")
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["counts", "instrument"]);
        assert_eq!(f.attribute_string("/entry", "NX_class").unwrap(), "NXentry");
        assert_eq!(f.info("/entry/counts").unwrap().shape, [2, 3]);
        let t = f.read("/entry/counts").unwrap();
        assert_eq!((t.shape.clone(), t.unit.as_str()), (vec![2, 3], "counts"));
        let s = f.read_slice("/entry/counts", &[0, 1], &[2, 2]).unwrap();
        assert_eq!(s.to_i64s(), Some(vec![2, 3, 5, 6]));
        assert_eq!(s.shape, [2, 2]);
        let e = f.read_slice("/entry/counts", &[1, 2], &[1, 2]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::OutOfBounds);
        assert_eq!(
            f.read("/entry").unwrap_err().kind(),
            ErrorKind::UnsupportedType
        );
        assert!(f.read_string("/entry/missing").unwrap_err().is_not_found());
        assert_eq!(f.read_string("/entry/instrument/name").unwrap(), "ODIN");
    }
}

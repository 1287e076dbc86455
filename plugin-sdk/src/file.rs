//! The read-only view of the data file a hook receives, with typed helpers.

use crate::bindings::scicat::ingestor::nexus::NexusFile as RawFile;
use crate::bindings::scicat::ingestor::types as wit;
use crate::error::{Error, ErrorKind, Result};
use crate::value::{Typed, Value};

/// What an object in the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Group,
    Dataset,
    Other,
}

/// A child of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub name: String,
    pub kind: Kind,
}

/// The element type of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    Str,
    Int,
    Float,
    Bool,
    /// Not readable (compound, enum, reference, ...).
    Other,
}

/// Type and shape of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    pub element: ElementType,
    /// `string`, `integer`, `float`, `bool`, or a description.
    pub type_name: String,
    /// Empty for a scalar.
    pub shape: Vec<u64>,
}

impl DatasetInfo {
    /// Number of elements (1 for a scalar).
    pub fn len(&self) -> u64 {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A read-only view of a NeXus/HDF5 file: what the ingestor gives a hook
/// ([`NexusFile`] wraps it with typed helpers), and what [`MemFile`]
/// implements so a plugin's hooks run in `cargo test` without the host.
/// Paths are absolute, like `/entry/title`.
///
/// [`MemFile`]: crate::MemFile
pub trait FileView {
    /// What is at `path`; `None` when nothing is.
    fn kind(&self, path: &str) -> Option<Kind>;
    /// Children of the group at `path`, in name order.
    fn children(&self, path: &str) -> Result<Vec<Child>>;
    /// Attribute names of the object at `path`.
    fn attributes(&self, path: &str) -> Result<Vec<String>>;
    /// Attribute `name` of the object at `path` (no unit).
    fn read_attribute(&self, path: &str, name: &str) -> Result<Typed>;
    /// Type and shape of the dataset at `path`.
    fn info(&self, path: &str) -> Result<DatasetInfo>;
    /// The whole dataset: a scalar, or a flat list with its shape; with its unit.
    fn read(&self, path: &str) -> Result<Typed>;
    /// The block `start .. start + count`, a flat list with shape `count`.
    fn read_slice(&self, path: &str, start: &[u64], count: &[u64]) -> Result<Typed>;
    /// The `units` attribute of the dataset at `path`, if it has one.
    fn units(&self, path: &str) -> Option<String>;
}

/// The data file a hook reads, with typed helpers. Paths are absolute,
/// like `/entry/title`.
#[derive(Clone, Copy)]
pub struct NexusFile<'a> {
    view: &'a dyn FileView,
}

impl<'a> NexusFile<'a> {
    /// The helpers over any view (the ingestor's, or a [`MemFile`](crate::MemFile)).
    pub fn new(view: &'a dyn FileView) -> Self {
        NexusFile { view }
    }

    /// What is at `path` (one call); `None` when nothing is.
    pub fn kind(&self, path: &str) -> Option<Kind> {
        self.view.kind(path)
    }

    /// Whether something (a group or a dataset) exists at `path`.
    pub fn exists(&self, path: &str) -> bool {
        self.kind(path).is_some()
    }

    /// Children of the group at `path`, in name order.
    pub fn children(&self, path: &str) -> Result<Vec<Child>> {
        self.view.children(path)
    }

    /// Attribute names of the object at `path`.
    pub fn attributes(&self, path: &str) -> Result<Vec<String>> {
        self.view.attributes(path)
    }

    /// Attribute `name` of the object at `path`.
    pub fn attribute(&self, path: &str, name: &str) -> Result<Value> {
        Ok(self.view.read_attribute(path, name)?.value)
    }

    /// A text attribute (`NX_class`, ...).
    pub fn attribute_string(&self, path: &str, name: &str) -> Result<String> {
        let v = self.attribute(path, name)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::msg(format!("{path}@{name} is not text: {v:?}")))
    }

    /// Type and shape of the dataset at `path`.
    pub fn info(&self, path: &str) -> Result<DatasetInfo> {
        self.view.info(path)
    }

    /// The whole dataset at `path` with its unit and shape: a scalar dataset
    /// gives a scalar value, any other a flat list (row-major).
    pub fn read(&self, path: &str) -> Result<Typed> {
        self.view.read(path)
    }

    /// The block `start .. start + count` of the dataset at `path` (one entry
    /// per dimension), as a flat list with its unit and shape.
    pub fn read_slice(&self, path: &str, start: &[u64], count: &[u64]) -> Result<Typed> {
        self.view.read_slice(path, start, count)
    }

    /// The `units` attribute of the dataset at `path`, if it has one.
    pub fn units(&self, path: &str) -> Option<String> {
        self.view.units(path)
    }

    /// A text dataset (scalar, or an array of one).
    pub fn read_string(&self, path: &str) -> Result<String> {
        let v = self.read(path)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| not_a(path, "text", &v.value))
    }

    /// A list of texts (a single text gives a list of one).
    pub fn read_strings(&self, path: &str) -> Result<Vec<String>> {
        let v = self.read(path)?;
        v.to_strings()
            .ok_or_else(|| not_a(path, "list of texts", &v.value))
    }

    /// An integer dataset (scalar, or an array of one).
    pub fn read_i64(&self, path: &str) -> Result<i64> {
        let v = self.read(path)?;
        v.as_i64().ok_or_else(|| not_a(path, "integer", &v.value))
    }

    /// An integer array, flat.
    pub fn read_i64s(&self, path: &str) -> Result<Vec<i64>> {
        let v = self.read(path)?;
        v.to_i64s()
            .ok_or_else(|| not_a(path, "list of integers", &v.value))
    }

    /// A number as a float (scalar, or an array of one).
    pub fn read_f64(&self, path: &str) -> Result<f64> {
        let v = self.read(path)?;
        v.as_f64().ok_or_else(|| not_a(path, "number", &v.value))
    }

    /// A numeric array as floats, flat.
    pub fn read_f64s(&self, path: &str) -> Result<Vec<f64>> {
        let v = self.read(path)?;
        v.to_f64s()
            .ok_or_else(|| not_a(path, "list of numbers", &v.value))
    }

    /// A boolean dataset (scalar, or an array of one).
    pub fn read_bool(&self, path: &str) -> Result<bool> {
        let v = self.read(path)?;
        v.as_bool().ok_or_else(|| not_a(path, "boolean", &v.value))
    }

    /// Streams a one-dimensional numeric dataset in blocks of at most
    /// `chunk` values, so an array larger than the plugin's memory can be
    /// reduced (sum, mean, min, max) piece by piece.
    pub fn f64_chunks(
        &self,
        path: &str,
        chunk: u64,
    ) -> Result<impl Iterator<Item = Result<Vec<f64>>> + '_> {
        let info = self.info(path)?;
        if info.shape.len() != 1 {
            return Err(Error::msg(format!(
                "{path} has shape {:?}; f64_chunks reads one-dimensional datasets",
                info.shape
            )));
        }
        let len = info.shape[0];
        let chunk = chunk.max(1);
        let path = path.to_string();
        let mut at = 0u64;
        Ok(std::iter::from_fn(move || {
            if at >= len {
                return None;
            }
            let n = chunk.min(len - at);
            let block = self.read_slice(&path, &[at], &[n]).and_then(|v| {
                v.to_f64s()
                    .ok_or_else(|| not_a(&path, "list of numbers", &v.value))
            });
            at += n;
            Some(block)
        }))
    }
}

fn not_a(path: &str, what: &str, v: &Value) -> Error {
    let shown = v.text();
    let shown = if shown.len() > 80 {
        let mut end = 80;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &shown[..end])
    } else {
        shown
    };
    Error::msg(format!("{path} is not a {what}: {shown}"))
}

fn wit_error(e: wit::Error) -> Error {
    match e {
        wit::Error::NotFound(m) => Error::new(ErrorKind::NotFound, m),
        wit::Error::UnsupportedType(m) => Error::new(ErrorKind::UnsupportedType, m),
        wit::Error::OutOfBounds(m) => Error::new(ErrorKind::OutOfBounds, m),
        wit::Error::TooLarge(m) => Error::new(ErrorKind::TooLarge, m),
        wit::Error::Other(m) => Error::msg(m),
    }
}

fn kind(k: wit::NodeKind) -> Kind {
    match k {
        wit::NodeKind::Group => Kind::Group,
        wit::NodeKind::Dataset => Kind::Dataset,
        wit::NodeKind::Other => Kind::Other,
    }
}

/// The ingestor's file, through the interface.
impl FileView for RawFile {
    fn kind(&self, path: &str) -> Option<Kind> {
        RawFile::kind(self, path).map(kind)
    }

    fn children(&self, path: &str) -> Result<Vec<Child>> {
        Ok(RawFile::children(self, path)
            .map_err(wit_error)?
            .into_iter()
            .map(|c| Child {
                name: c.name,
                kind: kind(c.kind),
            })
            .collect())
    }

    fn attributes(&self, path: &str) -> Result<Vec<String>> {
        RawFile::attributes(self, path).map_err(wit_error)
    }

    fn read_attribute(&self, path: &str, name: &str) -> Result<Typed> {
        RawFile::read_attribute(self, path, name)
            .map(crate::convert::from_wit)
            .map_err(wit_error)
    }

    fn info(&self, path: &str) -> Result<DatasetInfo> {
        let i = RawFile::info(self, path).map_err(wit_error)?;
        Ok(DatasetInfo {
            element: match i.element {
                wit::ElementType::Str => ElementType::Str,
                wit::ElementType::Int => ElementType::Int,
                wit::ElementType::Float => ElementType::Float,
                wit::ElementType::Boolean => ElementType::Bool,
                wit::ElementType::Other => ElementType::Other,
            },
            type_name: i.type_name,
            shape: i.shape,
        })
    }

    fn read(&self, path: &str) -> Result<Typed> {
        RawFile::read(self, path)
            .map(crate::convert::from_wit)
            .map_err(wit_error)
    }

    fn read_slice(&self, path: &str, start: &[u64], count: &[u64]) -> Result<Typed> {
        RawFile::read_slice(self, path, start, count)
            .map(crate::convert::from_wit)
            .map_err(wit_error)
    }

    fn units(&self, path: &str) -> Option<String> {
        RawFile::units(self, path)
    }
}

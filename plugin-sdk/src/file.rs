//! The read-only view of the data file a hook receives, with typed helpers.

use crate::bindings::scicat::ingestor::nexus::NexusFile as RawFile;
use crate::bindings::scicat::ingestor::types as wit;
use crate::error::{Error, Result};
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

/// The data file, read-only. Paths are absolute, like `/entry/title`.
pub struct NexusFile<'a> {
    raw: &'a RawFile,
}

impl<'a> NexusFile<'a> {
    #[doc(hidden)]
    pub fn from_raw(raw: &'a RawFile) -> Self {
        NexusFile { raw }
    }

    /// Children of the group at `path`, in name order.
    pub fn children(&self, path: &str) -> Result<Vec<Child>> {
        Ok(self
            .raw
            .children(path)?
            .into_iter()
            .map(|c| Child {
                name: c.name,
                kind: match c.kind {
                    wit::NodeKind::Group => Kind::Group,
                    wit::NodeKind::Dataset => Kind::Dataset,
                    wit::NodeKind::Other => Kind::Other,
                },
            })
            .collect())
    }

    /// Whether something (a group or a dataset) exists at `path`.
    pub fn exists(&self, path: &str) -> bool {
        self.raw.info(path).is_ok() || self.raw.children(path).is_ok()
    }

    /// Attribute names of the object at `path`.
    pub fn attributes(&self, path: &str) -> Result<Vec<String>> {
        Ok(self.raw.attributes(path)?)
    }

    /// Attribute `name` of the object at `path`.
    pub fn attribute(&self, path: &str, name: &str) -> Result<Value> {
        Ok(crate::convert::from_wit(self.raw.read_attribute(path, name)?).value)
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
        let i = self.raw.info(path)?;
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

    /// The whole dataset at `path` with its unit: a scalar dataset gives a
    /// scalar value, any other a flat list (row-major).
    pub fn read(&self, path: &str) -> Result<Typed> {
        Ok(crate::convert::from_wit(self.raw.read(path)?))
    }

    /// The block `start .. start + count` of the dataset at `path` (one entry
    /// per dimension), as a flat list with its unit.
    pub fn read_slice(&self, path: &str, start: &[u64], count: &[u64]) -> Result<Typed> {
        Ok(crate::convert::from_wit(
            self.raw.read_slice(path, start, count)?,
        ))
    }

    /// The `units` attribute of the dataset at `path`, if it has one.
    pub fn units(&self, path: &str) -> Option<String> {
        self.raw.units(path)
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
        format!("{}…", &shown[..shown.floor_char_boundary(80)])
    } else {
        shown
    };
    Error::msg(format!("{path} is not a {what}: {shown}"))
}

//! What the evaluator reads from a data file: the value types (arrays of
//! strings, integers, floats or booleans with a shape), what an object is,
//! and the [`DataFile`] trait a file format implements (HDF5 in the host,
//! [`crate::memfile::MemFile`] in tests). Errors are [`NexusError`]s whose
//! `Display` is the one-line reason users see in the failure warnings.

use serde_json::Value;

/// The element type of a dataset or attribute as plugins and `inspect` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElemType {
    String,
    Integer,
    Float,
    Bool,
    /// Anything else (compound, enum, reference, ...): listed, not readable.
    Other(String),
}

impl ElemType {
    pub fn name(&self) -> &str {
        match self {
            ElemType::String => "string",
            ElemType::Integer => "integer",
            ElemType::Float => "float",
            ElemType::Bool => "bool",
            ElemType::Other(s) => s,
        }
    }
}

/// Values read from the file, flattened in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Strings(Vec<String>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Bools(Vec<bool>),
}

impl Data {
    pub fn len(&self) -> usize {
        match self {
            Data::Strings(v) => v.len(),
            Data::Ints(v) => v.len(),
            Data::Floats(v) => v.len(),
            Data::Bools(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn json_at(&self, i: usize) -> Value {
        match self {
            Data::Strings(v) => Value::String(v[i].clone()),
            Data::Ints(v) => Value::from(v[i]),
            Data::Floats(v) => serde_json::Number::from_f64(v[i])
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Data::Bools(v) => Value::Bool(v[i]),
        }
    }
}

/// An n-dimensional array of values (a scalar has an empty shape).
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub data: Data,
    pub shape: Vec<usize>,
}

impl Array {
    /// JSON form: a scalar or 1-element array becomes a scalar unless
    /// `keep_array`; larger arrays nest by shape.
    pub fn to_json(&self, keep_array: bool) -> Value {
        let n = self.data.len();
        if n == 1 && !keep_array {
            return self.data.json_at(0);
        }
        if self.shape.len() <= 1 || n == 0 {
            return Value::Array((0..n).map(|i| self.data.json_at(i)).collect());
        }
        let mut offset = 0;
        self.nest(0, &mut offset)
    }

    /// All values as one flat JSON list, whatever the shape.
    pub fn to_flat_json(&self) -> Value {
        Value::Array((0..self.data.len()).map(|i| self.data.json_at(i)).collect())
    }

    fn nest(&self, dim: usize, offset: &mut usize) -> Value {
        if dim + 1 == self.shape.len() {
            let v = (0..self.shape[dim])
                .map(|i| self.data.json_at(*offset + i))
                .collect();
            *offset += self.shape[dim];
            return Value::Array(v);
        }
        Value::Array(
            (0..self.shape[dim])
                .map(|_| self.nest(dim + 1, offset))
                .collect(),
        )
    }
}

/// What a child of a group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Group,
    Dataset,
    Other,
}

/// Type and shape of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    pub elem: ElemType,
    pub shape: Vec<usize>,
}

/// Why a data file could not give what was asked. `Display` is the one-line
/// reason the variable-failure warning quotes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NexusError {
    /// Nothing at a path (or nothing matches a wildcard path).
    #[error("{0}")]
    Missing(String),
    /// Anything else the file layer reports (wrong kind of object, a type it
    /// cannot read, a broken link), worded by that layer.
    #[error("{0}")]
    Read(String),
}

/// Reading a data file: what the evaluator, and anything else that walks a
/// file's tree, needs. Paths are absolute (`/entry/title`); a path pattern
/// may hold `*` segments (see [`DataFile::expand`]).
pub trait DataFile {
    /// What is at `path`, with a precise reason when nothing is.
    fn kind(&self, path: &str) -> Result<Kind, NexusError>;
    /// Children of the group at `path` in name order, with their kind.
    fn children(&self, path: &str) -> Result<Vec<(String, Kind)>, NexusError>;
    /// Reads the whole dataset at `path`.
    fn read(&self, path: &str) -> Result<Array, NexusError>;
    /// Reads the block `start .. start+count` (one pair per dimension) of the
    /// dataset at `path`.
    fn read_slice(&self, path: &str, start: &[u64], count: &[u64]) -> Result<Array, NexusError>;
    /// Attribute names of the object at `path`, sorted.
    fn attribute_names(&self, path: &str) -> Result<Vec<String>, NexusError>;
    /// Reads attribute `name` of the object at `path`.
    fn read_attribute(&self, path: &str, name: &str) -> Result<Array, NexusError>;
    /// The `units` attribute of the dataset at `path`, if it has one.
    fn units(&self, path: &str) -> Option<String>;
    /// The existing paths a pattern names, in name order: a segment that is
    /// `*` matches every child, any other segment with a `*` is a regular
    /// expression searched in the child's name. Fails when nothing matches.
    fn expand(&self, pattern: &str) -> Result<Vec<String>, NexusError>;
    /// Reads every dataset a pattern names, in the order of [`DataFile::expand`].
    fn read_each(&self, pattern: &str) -> Result<Vec<Array>, NexusError> {
        self.expand(pattern)?.iter().map(|p| self.read(p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_become_json_by_shape() {
        let a = Array {
            data: Data::Ints(vec![1, 2, 3, 4, 5, 6]),
            shape: vec![2, 3],
        };
        assert_eq!(a.to_json(false), serde_json::json!([[1, 2, 3], [4, 5, 6]]));
        let one = Array {
            data: Data::Floats(vec![2.5]),
            shape: vec![1],
        };
        assert_eq!(one.to_json(false), serde_json::json!(2.5));
        assert_eq!(one.to_json(true), serde_json::json!([2.5]));
    }

    #[test]
    fn scalars_and_flat_lists() {
        let scalar = Array {
            data: Data::Strings(vec!["x".into()]),
            shape: vec![],
        };
        assert_eq!(scalar.to_json(false), serde_json::json!("x"));
        assert_eq!(scalar.to_json(true), serde_json::json!(["x"]));
        let grid = Array {
            data: Data::Bools(vec![true, false, true, true]),
            shape: vec![2, 2],
        };
        assert_eq!(
            grid.to_flat_json(),
            serde_json::json!([true, false, true, true])
        );
        assert_eq!(grid.data.len(), 4);
        assert!(!grid.data.is_empty());
        let nan = Data::Floats(vec![f64::NAN]);
        assert_eq!(nan.json_at(0), serde_json::Value::Null);
    }

    #[test]
    fn element_type_names() {
        let names: Vec<String> = [
            ElemType::String,
            ElemType::Integer,
            ElemType::Float,
            ElemType::Bool,
            ElemType::Other("compound".into()),
        ]
        .iter()
        .map(|t| t.name().to_string())
        .collect();
        assert_eq!(names, ["string", "integer", "float", "bool", "compound"]);
    }
}

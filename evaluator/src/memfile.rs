//! An in-memory data file: a tree of groups and datasets with attributes,
//! built in a few lines, that behaves like the HDF5 file for everything the
//! evaluator asks (kinds, reads, slices, attributes, units, wildcards). For
//! fast tests of schema semantics without HDF5.

use std::collections::BTreeMap;

use crate::data::{Array, Data, DataFile, Kind, NexusError};

/// One object of the tree.
#[derive(Debug, Clone)]
enum Node {
    Group(Attrs),
    Dataset(Array, Attrs),
}

type Attrs = BTreeMap<String, Array>;

/// An in-memory data file; every path is absolute, parent groups are made
/// as needed.
#[derive(Debug, Clone)]
pub struct MemFile {
    nodes: BTreeMap<String, Node>,
}

impl Default for MemFile {
    fn default() -> Self {
        Self::new()
    }
}

fn norm(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

fn join(base: &str, name: &str) -> String {
    if base == "/" {
        format!("/{name}")
    } else {
        format!("{base}/{name}")
    }
}

impl MemFile {
    /// A file with only the root group.
    pub fn new() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Node::Group(Attrs::new()));
        MemFile { nodes }
    }

    fn make_parents(&mut self, path: &str) {
        let parent = parent_of(path).to_string();
        if !self.nodes.contains_key(&parent) {
            self.make_parents(&parent);
            self.nodes.insert(parent, Node::Group(Attrs::new()));
        }
    }

    /// Adds an (empty) group.
    pub fn group(mut self, path: &str) -> Self {
        let path = norm(path);
        self.make_parents(&path);
        self.nodes
            .entry(path)
            .or_insert_with(|| Node::Group(Attrs::new()));
        self
    }

    /// Adds a dataset of any shape (`data` in row-major order).
    pub fn dataset(mut self, path: &str, data: Data, shape: &[usize]) -> Self {
        let path = norm(path);
        self.make_parents(&path);
        let array = Array {
            data,
            shape: shape.to_vec(),
        };
        self.nodes.insert(path, Node::Dataset(array, Attrs::new()));
        self
    }

    /// Adds a scalar string dataset.
    pub fn text(self, path: &str, s: &str) -> Self {
        self.dataset(path, Data::Strings(vec![s.to_string()]), &[])
    }

    /// Adds a scalar integer dataset.
    pub fn int(self, path: &str, i: i64) -> Self {
        self.dataset(path, Data::Ints(vec![i]), &[])
    }

    /// Adds a scalar float dataset.
    pub fn float(self, path: &str, f: f64) -> Self {
        self.dataset(path, Data::Floats(vec![f]), &[])
    }

    /// Adds a one-dimensional float dataset.
    pub fn floats(self, path: &str, v: &[f64]) -> Self {
        self.dataset(path, Data::Floats(v.to_vec()), &[v.len()])
    }

    /// Sets attribute `name` of the object at `path` (which must exist).
    pub fn attr(mut self, path: &str, name: &str, data: Data) -> Self {
        let shape = if data.len() == 1 {
            vec![]
        } else {
            vec![data.len()]
        };
        let attrs = match self.nodes.get_mut(&norm(path)) {
            Some(Node::Group(a) | Node::Dataset(_, a)) => a,
            None => panic!("MemFile::attr: no object at {path}"),
        };
        attrs.insert(name.to_string(), Array { data, shape });
        self
    }

    /// Sets the `units` attribute of the dataset at `path`.
    pub fn with_units(self, path: &str, units: &str) -> Self {
        self.attr(path, "units", Data::Strings(vec![units.to_string()]))
    }

    fn node(&self, path: &str) -> Result<&Node, NexusError> {
        self.kind(path)?;
        Ok(&self.nodes[&norm(path)])
    }

    fn array(&self, path: &str) -> Result<&Array, NexusError> {
        match self.node(path)? {
            Node::Dataset(a, _) => Ok(a),
            Node::Group(_) => Err(NexusError::Read(format!(
                "{} is a group, not a dataset",
                norm(path)
            ))),
        }
    }

    fn attrs(&self, path: &str) -> Result<&Attrs, NexusError> {
        match self.node(path)? {
            Node::Group(a) | Node::Dataset(_, a) => Ok(a),
        }
    }

    fn names_in(&self, group: &str) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|k| k.as_str() != "/" && parent_of(k) == group)
            .map(|k| k[k.rfind('/').unwrap() + 1..].to_string())
            .collect()
    }

    fn walk(&self, segs: &[Segment], base: &str, out: &mut Vec<String>) {
        let Some((seg, rest)) = segs.split_first() else {
            return;
        };
        let mut visit = |name: &str| {
            let path = join(base, name);
            match self.nodes.get(&path) {
                Some(_) if rest.is_empty() => out.push(path),
                Some(Node::Group(_)) => self.walk(rest, &path, out),
                _ => {}
            }
        };
        match seg {
            Segment::Literal(name) => visit(name),
            Segment::Any => self.names_in(base).iter().for_each(|n| visit(n)),
            Segment::Pattern(re) => self
                .names_in(base)
                .iter()
                .filter(|n| re.is_match(n))
                .for_each(|n| visit(n)),
        }
    }
}

/// One segment of a path pattern.
enum Segment {
    Literal(String),
    Any,
    Pattern(regex::Regex),
}

impl Segment {
    fn parse(seg: &str) -> Result<Segment, NexusError> {
        Ok(if seg == "*" {
            Segment::Any
        } else if seg.contains('*') {
            Segment::Pattern(regex::Regex::new(seg).map_err(|e| {
                NexusError::Read(format!("path segment `{seg}` is not a valid pattern: {e}"))
            })?)
        } else {
            Segment::Literal(seg.to_string())
        })
    }
}

impl DataFile for MemFile {
    fn kind(&self, path: &str) -> Result<Kind, NexusError> {
        let path = norm(path);
        let mut at = String::new();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for (i, seg) in parts.iter().enumerate() {
            let parent = if at.is_empty() { "/" } else { at.as_str() };
            let next = join(parent, seg);
            let Some(node) = self.nodes.get(&next) else {
                return Err(NexusError::Missing(format!(
                    "no object `{seg}` in {parent}"
                )));
            };
            if matches!(node, Node::Dataset(..)) && i + 1 < parts.len() {
                return Err(NexusError::Read(format!(
                    "{next} is a dataset, not a group"
                )));
            }
            at = next;
        }
        Ok(match self.nodes.get(&path) {
            Some(Node::Dataset(..)) => Kind::Dataset,
            _ => Kind::Group,
        })
    }

    fn children(&self, path: &str) -> Result<Vec<(String, Kind)>, NexusError> {
        let path = norm(path);
        if let Node::Dataset(..) = self.node(&path)? {
            return Err(NexusError::Read(format!("{path} is not a group")));
        }
        Ok(self
            .names_in(&path)
            .into_iter()
            .map(|n| {
                let kind = match self.nodes[&join(&path, &n)] {
                    Node::Group(_) => Kind::Group,
                    Node::Dataset(..) => Kind::Dataset,
                };
                (n, kind)
            })
            .collect())
    }

    fn read(&self, path: &str) -> Result<Array, NexusError> {
        self.array(path).cloned()
    }

    fn read_slice(&self, path: &str, start: &[u64], count: &[u64]) -> Result<Array, NexusError> {
        let a = self.array(path)?;
        let p = norm(path);
        let shape = &a.shape;
        if start.len() != shape.len() || count.len() != shape.len() {
            return Err(NexusError::Read(format!(
                "{p}: has {} dimensions, the slice gives {} starts and {} counts",
                shape.len(),
                start.len(),
                count.len()
            )));
        }
        for (d, ((s, c), n)) in start.iter().zip(count).zip(shape).enumerate() {
            if s.saturating_add(*c) > *n as u64 {
                return Err(NexusError::Read(format!(
                    "{p}: slice {s}..{} is outside dimension {d} of length {n}",
                    s + c
                )));
            }
        }
        // Row-major: the flat index of each element of the block.
        let count: Vec<usize> = count.iter().map(|&c| c as usize).collect();
        let total: usize = count.iter().product();
        let mut picked = Vec::with_capacity(total);
        for k in 0..total {
            let (mut rem, mut flat, mut stride) = (k, 0usize, 1usize);
            for d in (0..shape.len()).rev() {
                let idx = start[d] as usize + rem % count[d];
                rem /= count[d];
                flat += idx * stride;
                stride *= shape[d];
            }
            picked.push(flat);
        }
        let data = match &a.data {
            Data::Strings(v) => Data::Strings(picked.iter().map(|&i| v[i].clone()).collect()),
            Data::Ints(v) => Data::Ints(picked.iter().map(|&i| v[i]).collect()),
            Data::Floats(v) => Data::Floats(picked.iter().map(|&i| v[i]).collect()),
            Data::Bools(v) => Data::Bools(picked.iter().map(|&i| v[i]).collect()),
        };
        Ok(Array { data, shape: count })
    }

    fn attribute_names(&self, path: &str) -> Result<Vec<String>, NexusError> {
        Ok(self.attrs(path)?.keys().cloned().collect())
    }

    fn read_attribute(&self, path: &str, name: &str) -> Result<Array, NexusError> {
        self.attrs(path)?
            .get(name)
            .cloned()
            .ok_or_else(|| NexusError::Missing(format!("{} has no attribute `{name}`", norm(path))))
    }

    fn units(&self, path: &str) -> Option<String> {
        self.array(path).ok()?;
        match self.read_attribute(path, "units").ok()?.data {
            Data::Strings(v) => v.into_iter().next(),
            _ => None,
        }
    }

    fn expand(&self, pattern: &str) -> Result<Vec<String>, NexusError> {
        let segs = pattern
            .split('/')
            .filter(|s| !s.is_empty())
            .map(Segment::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if !segs.iter().any(|s| !matches!(s, Segment::Literal(_))) {
            self.kind(pattern)?;
            return Ok(vec![norm(pattern)]);
        }
        let mut out = Vec::new();
        self.walk(&segs, "/", &mut out);
        if out.is_empty() {
            return Err(NexusError::Missing(format!(
                "nothing in the file matches {pattern}"
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> MemFile {
        MemFile::new()
            .text("/entry/title", "run 1")
            .floats("/entry/sample/temperature", &[290.0, 291.5])
            .with_units("/entry/sample/temperature", "K")
            .int("/entry/a1/count", 1)
            .int("/entry/a2/count", 2)
            .int("/entry/b1/count", 3)
            .dataset("/entry/grid", Data::Ints((0..12).collect()), &[3, 4])
    }

    #[test]
    fn kinds_children_and_reasons_like_the_hdf5_file() {
        let f = file();
        assert_eq!(f.kind("/entry").unwrap(), Kind::Group);
        assert_eq!(f.kind("entry//title/").unwrap(), Kind::Dataset);
        assert_eq!(
            f.kind("/entry/nope/x").unwrap_err().to_string(),
            "no object `nope` in /entry"
        );
        assert_eq!(
            f.kind("/entry/title/x").unwrap_err().to_string(),
            "/entry/title is a dataset, not a group"
        );
        let names: Vec<String> = f
            .children("/entry")
            .unwrap()
            .into_iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(names, ["a1", "a2", "b1", "grid", "sample", "title"]);
        assert_eq!(
            f.read("/entry").unwrap_err().to_string(),
            "/entry is a group, not a dataset"
        );
        assert_eq!(f.units("/entry/sample/temperature").as_deref(), Some("K"));
        assert_eq!(f.units("/entry/title"), None);
        assert_eq!(
            f.attribute_names("/entry/sample/temperature").unwrap(),
            ["units"]
        );
    }

    #[test]
    fn wildcards_expand_in_name_order() {
        let f = file();
        assert_eq!(
            f.expand("/entry/*/count").unwrap(),
            ["/entry/a1/count", "/entry/a2/count", "/entry/b1/count"]
        );
        // A segment with a `*` is a regular expression searched in the name.
        assert_eq!(
            f.expand("/entry/^a.*/count").unwrap(),
            ["/entry/a1/count", "/entry/a2/count"]
        );
        let all: Vec<serde_json::Value> = f
            .read_each("/entry/*/count")
            .unwrap()
            .iter()
            .map(|a| a.to_json(false))
            .collect();
        assert_eq!(all, [1, 2, 3]);
        assert_eq!(
            f.expand("/entry/^z.*/count").unwrap_err(),
            NexusError::Missing("nothing in the file matches /entry/^z.*/count".into())
        );
        assert!(f.expand("/entry/(*/count").is_err());
    }

    #[test]
    fn slices_pick_the_block_row_major() {
        let f = file();
        let s = f.read_slice("/entry/grid", &[1, 1], &[2, 2]).unwrap();
        assert_eq!(s.shape, [2, 2]);
        assert_eq!(s.data, Data::Ints(vec![5, 6, 9, 10]));
        assert!(f.read_slice("/entry/grid", &[2, 0], &[2, 1]).is_err());
        assert!(f.read_slice("/entry/grid", &[0], &[1]).is_err());
    }
}

//! The schemas of one ingestion, loaded lazily: every schema file's head (id,
//! order, name, selector) is read to sort the files and pick one, and only
//! the schema that is picked is converted in full. A folder of a thousand
//! schemas then costs a skim of each file, not a thousand conversions.
//! `validate` keeps loading every schema fully ([`SchemaSet`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::schema::{self, Code, Diagnostic, Schema, SchemaSet, Selector, Severity};

/// Picks the schema for a data file: the first (in order) whose selector
/// matches, else the fallback. `plugin_select` answers plugin selectors.
pub trait SelectSchema {
    fn select(
        &self,
        data_file: &str,
        plugin_select: &mut dyn FnMut(&Schema) -> bool,
    ) -> Result<&Schema>;
}

impl SelectSchema for SchemaSet {
    fn select(
        &self,
        data_file: &str,
        plugin_select: &mut dyn FnMut(&Schema) -> bool,
    ) -> Result<&Schema> {
        SchemaSet::select(self, data_file, plugin_select)
    }
}

/// What sorting and selection need of a schema file.
#[derive(Debug)]
struct Head {
    id: String,
    order: i64,
    name: String,
    selector: Selector,
}

/// A schema file whose head is usable; converted in full on first need.
#[derive(Debug)]
struct Entry {
    head: Head,
    file: PathBuf,
    full: OnceLock<Option<Schema>>,
}

impl Entry {
    /// The whole schema, converted once; its diagnostics are logged then
    /// (and a schema that cannot be used is logged as skipped: `None`).
    fn full(&self) -> Option<&Schema> {
        self.full
            .get_or_init(|| {
                let mut diags = Vec::new();
                let loaded = schema::load_file(&self.file, &mut diags);
                if let Err(reason) = &loaded {
                    schema::diag(
                        &mut diags,
                        Code::Load,
                        Severity::Error,
                        &self.file,
                        "",
                        format!("schema skipped: {reason}"),
                    );
                }
                crate::ingest::log_diagnostics(&diags);
                loaded.ok()
            })
            .as_ref()
    }
}

/// The schemas of a folder, sorted by their heads, plus the fallback.
#[derive(Debug, Default)]
pub struct LazySchemas {
    entries: Vec<Entry>,
    fallback: Option<Schema>,
    /// Findings made while loading (unusable files, duplicate ids, the
    /// fallback's); a schema's own findings are logged when it is converted.
    pub diagnostics: Vec<Diagnostic>,
}

impl LazySchemas {
    /// Reads the heads of the given schema files (and loads the fallback in
    /// full), with the same sorting and duplicate-id rules as [`SchemaSet`].
    pub fn load_files(files: &[PathBuf], fallback: Option<&Path>) -> LazySchemas {
        let mut set = LazySchemas::default();
        let mut entries = Vec::with_capacity(files.len());
        for f in files {
            match read_head(f) {
                Ok(head) => entries.push(Entry {
                    head,
                    file: f.clone(),
                    full: OnceLock::new(),
                }),
                Err(reason) => skipped(&mut set.diagnostics, f, "schema", reason),
            }
        }
        // A duplicate id only counts between schemas that load in full: only
        // for those few ids, find out now.
        let mut ids: Vec<&str> = entries.iter().map(|e| e.head.id.as_str()).collect();
        ids.sort_unstable();
        let mut dup_ids: Vec<String> = ids
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0].to_string())
            .collect();
        dup_ids.dedup();
        if !dup_ids.is_empty() {
            entries.retain(|e| !dup_ids.contains(&e.head.id) || e.full().is_some());
        }
        entries.sort_by(|a, b| {
            (a.head.order, a.head.name.to_lowercase(), &a.file).cmp(&(
                b.head.order,
                b.head.name.to_lowercase(),
                &b.file,
            ))
        });
        let mut kept: Vec<Entry> = Vec::with_capacity(entries.len());
        for e in entries {
            if let Some(first) = kept.iter().find(|k| k.head.id == e.head.id) {
                duplicate(&mut set.diagnostics, &e.head.id, &first.file, &e.file);
            } else {
                kept.push(e);
            }
        }
        set.entries = kept;
        if let Some(fb) = fallback {
            match schema::load_file(fb, &mut set.diagnostics) {
                Ok(s) => set.fallback = Some(s),
                Err(reason) => skipped(&mut set.diagnostics, fb, "fallback schema", reason),
            }
        }
        set
    }

    /// Reads the heads of every schema file of `dir`.
    pub fn load_dir(dir: &Path, fallback: Option<&Path>) -> Result<LazySchemas> {
        Ok(Self::load_files(&schema::schema_files(dir)?, fallback))
    }

    /// How many schema files can be selected (not counting the fallback).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn has_fallback(&self) -> bool {
        self.fallback.is_some()
    }
}

impl SelectSchema for LazySchemas {
    fn select(
        &self,
        data_file: &str,
        plugin_select: &mut dyn FnMut(&Schema) -> bool,
    ) -> Result<&Schema> {
        for e in &self.entries {
            // A plugin selector needs the schema's plugin: convert first.
            let matches = e
                .head
                .selector
                .matches(data_file, &mut || e.full().is_some_and(&mut *plugin_select));
            if matches && let Some(s) = e.full() {
                return Ok(s);
            }
        }
        // Nothing matched: the fallback, or the full set's error (which lists
        // the schemas that load in full, so those are converted now).
        let schemas = match self.fallback {
            Some(_) => Vec::new(),
            None => self
                .entries
                .iter()
                .filter_map(Entry::full)
                .cloned()
                .collect(),
        };
        let set = SchemaSet {
            schemas,
            fallback: self.fallback.clone(),
            diagnostics: Vec::new(),
        };
        set.select(data_file, &mut |_| false)?;
        self.fallback
            .as_ref()
            .ok_or_else(|| anyhow!("no schema applies to {data_file}"))
    }
}

fn skipped(diags: &mut Vec<Diagnostic>, file: &Path, what: &str, reason: String) {
    schema::diag(
        diags,
        Code::Load,
        Severity::Error,
        file,
        "",
        format!("{what} skipped: {reason}"),
    );
}

/// The two findings of [`SchemaSet`] for a duplicate id: one on each file.
fn duplicate(diags: &mut Vec<Diagnostic>, id: &str, first: &Path, other: &Path) {
    let msg = format!(
        "duplicate schema id {id:?}: also in {} (the one that sorts first, {}, is used)",
        first.display(),
        first.display()
    );
    schema::diag(diags, Code::DuplicateId, Severity::Error, other, "id", msg);
    let msg = format!(
        "duplicate schema id {id:?}: also in {} (this one is used)",
        other.display()
    );
    schema::diag(diags, Code::DuplicateId, Severity::Error, first, "id", msg);
}

/// The head of a schema file. JSON is skimmed (the other keys are checked
/// for syntax, not built); anything the skim cannot take goes the way of a
/// full load, so errors read the same.
fn read_head(path: &Path) -> Result<Head, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"));
    let raw = match (!yaml)
        .then(|| serde_json::from_str::<RawHead>(&text).ok())
        .flatten()
    {
        Some(raw) => raw,
        None => RawHead::of(&schema::parse_text(path, &text)?)?,
    };
    let has = |k: &str| raw.present.contains(&k);
    let (id, order) = schema::check_head(has, raw.id.as_ref(), raw.order.as_ref())?;
    Ok(Head {
        id,
        order,
        name: schema::text_of(raw.name.as_ref()),
        selector: Selector::parse(raw.selector.as_ref().unwrap_or(&Value::Null)),
    })
}

/// The top-level keys a head needs, and which required keys are present.
#[derive(Default)]
struct RawHead {
    id: Option<Value>,
    order: Option<Value>,
    name: Option<Value>,
    selector: Option<Value>,
    present: Vec<&'static str>,
}

const REQUIRED: [&str; 5] = ["id", "order", "selector", "variables", "schema"];

impl RawHead {
    /// From a parsed document, for files the skim does not take.
    fn of(doc: &Value) -> Result<RawHead, String> {
        let map = doc.as_object().ok_or_else(|| {
            format!(
                "a schema must be an object, found {}",
                crate::config::kind_of(doc)
            )
        })?;
        Ok(RawHead {
            id: map.get("id").cloned(),
            order: map.get("order").cloned(),
            name: map.get("name").cloned(),
            selector: map.get("selector").cloned(),
            present: REQUIRED
                .into_iter()
                .filter(|k| map.contains_key(*k))
                .collect(),
        })
    }
}

impl<'de> serde::Deserialize<'de> for RawHead {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawHead;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a schema object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RawHead, A::Error> {
                let mut h = RawHead::default();
                // A key given twice keeps its last value, as a full parse does.
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match k.as_ref() {
                        "id" => &mut h.id,
                        "order" => &mut h.order,
                        "name" => &mut h.name,
                        "selector" => &mut h.selector,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                            if let Some(r) = REQUIRED.iter().find(|r| **r == k.as_ref()) {
                                h.present.push(r);
                            }
                            continue;
                        }
                    };
                    *slot = Some(m.next_value::<Value>()?);
                }
                for (k, v) in [
                    ("id", &h.id),
                    ("order", &h.order),
                    ("selector", &h.selector),
                ] {
                    if v.is_some() {
                        h.present.push(k);
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn schema_json(id: &str, order: i64, selector: &str, variables: Value) -> String {
        json!({"id": id, "name": id, "order": order, "selector": selector,
               "variables": variables, "schema": {}})
        .to_string()
    }

    /// Selection and findings are those of the fully loaded set, but only the
    /// picked schema is converted.
    #[test]
    fn selects_like_the_full_set_converting_only_the_pick() {
        let d = tempfile::tempdir().unwrap();
        let vars = json!({"a": {"source": "VALUE", "value": "x", "value_type": "string"}});
        let mut files = vec![
            write(
                d.path(),
                "a.imsc.json",
                &schema_json("a", 2, "filename:starts_with:/x", vars.clone()),
            ),
            write(
                d.path(),
                "b.imsc.json",
                &schema_json("b", 1, "filename:contains:run", vars.clone()),
            ),
            // Selected by its head, unusable in full: skipped at selection.
            write(
                d.path(),
                "c.imsc.json",
                &schema_json("c", 0, "filename:contains:run", json!([])),
            ),
            write(d.path(), "d.imsc.json", "{\"id\": "),
            write(
                d.path(),
                "e.imsc.json",
                &json!({"id": "e", "order": 1}).to_string(),
            ),
            write(d.path(), "f.imsc.json", "[1]"),
            // Same id as b, sorts after it.
            write(
                d.path(),
                "g.imsc.json",
                &schema_json("b", 5, "filename:contains:run", vars.clone()),
            ),
            write(
                d.path(),
                "h.imsc.yml",
                "id: h\norder: 3\nselector: filename:contains:run\nvariables: {}\nschema: {}\n",
            ),
        ];
        files.sort();
        let lazy = LazySchemas::load_files(&files, None);
        let full = SchemaSet::load_files(&files, None);
        // a, b, c (a usable head) and h; g is b's duplicate.
        assert_eq!(lazy.len(), 4);
        let errors = |ds: &[Diagnostic]| -> Vec<String> {
            let mut v: Vec<String> = ds
                .iter()
                .filter(|d| !d.file.ends_with("c.imsc.json"))
                .map(|d| d.to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(errors(&lazy.diagnostics), errors(&full.diagnostics));
        for file in ["/data/run_1.nxs", "/x/y.nxs"] {
            let l = lazy.select(file, &mut |_| false).unwrap();
            let f = full.select(file, &mut |_| false).unwrap();
            assert_eq!(l.file, f.file, "{file}");
        }
        assert_eq!(
            lazy.select("/data/run_1.nxs", &mut |_| false).unwrap().id,
            "b"
        );
        let converted: Vec<&str> = lazy
            .entries
            .iter()
            .filter(|e| e.full.get().is_some())
            .map(|e| e.head.id.as_str())
            .collect();
        assert_eq!(converted, ["c", "b", "a"]);
        let lazy_err = lazy
            .select("/nothing", &mut |_| false)
            .unwrap_err()
            .to_string();
        let full_err = full
            .select("/nothing", &mut |_| false)
            .unwrap_err()
            .to_string();
        assert_eq!(lazy_err, full_err);
    }
}

//! All schemas of a folder, sorted by `order` and name, and picking the one
//! whose selector matches a data file (or the fallback).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::schema::diagnostic::{Code, Diagnostic, Severity, diag};
use crate::schema::model::Schema;
use crate::schema::parse::{is_schema_file_name, load_file};
use crate::schema::selector::describe_selector;

/// All schemas of a directory, sorted, plus the optional fallback.
#[derive(Debug, Default)]
pub struct SchemaSet {
    pub schemas: Vec<Schema>,
    pub fallback: Option<Schema>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The schema files of a directory, in name order.
pub fn schema_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the schemas directory {} (set ingestion.schemas_directory)",
            dir.display()
        )
    })?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_schema_file_name(&name) && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

impl SchemaSet {
    /// Loads the given schema files (and the fallback), reporting broken files
    /// as errors and skipping them, sorting the rest, and reporting duplicate
    /// ids (the one that sorts first is used).
    pub fn load_files(files: &[PathBuf], fallback: Option<&Path>) -> SchemaSet {
        let mut set = SchemaSet::default();
        for f in files {
            match load_file(f, &mut set.diagnostics) {
                Ok(s) => set.schemas.push(s),
                Err(reason) => diag(
                    &mut set.diagnostics,
                    Code::Load,
                    Severity::Error,
                    f,
                    "",
                    format!("schema skipped: {reason}"),
                ),
            }
        }
        set.schemas.sort_by(|a, b| {
            (a.order, a.name.to_lowercase(), &a.file).cmp(&(
                b.order,
                b.name.to_lowercase(),
                &b.file,
            ))
        });
        let mut kept: Vec<Schema> = Vec::with_capacity(set.schemas.len());
        for s in std::mem::take(&mut set.schemas) {
            if let Some(first) = kept.iter().find(|k| k.id == s.id) {
                let msg = format!(
                    "duplicate schema id {:?}: also in {} (the one that sorts first, {}, is used)",
                    s.id,
                    first.file.display(),
                    first.file.display()
                );
                diag(
                    &mut set.diagnostics,
                    Code::DuplicateId,
                    Severity::Error,
                    &s.file,
                    "id",
                    msg,
                );
                let msg = format!(
                    "duplicate schema id {:?}: also in {} (this one is used)",
                    s.id,
                    s.file.display()
                );
                let first_file = first.file.clone();
                diag(
                    &mut set.diagnostics,
                    Code::DuplicateId,
                    Severity::Error,
                    &first_file,
                    "id",
                    msg,
                );
            } else {
                kept.push(s);
            }
        }
        set.schemas = kept;
        if let Some(fb) = fallback {
            match load_file(fb, &mut set.diagnostics) {
                Ok(s) => set.fallback = Some(s),
                Err(reason) => diag(
                    &mut set.diagnostics,
                    Code::Load,
                    Severity::Error,
                    fb,
                    "",
                    format!("fallback schema skipped: {reason}"),
                ),
            }
        }
        set
    }

    /// Loads every schema file of `dir`.
    pub fn load_dir(dir: &Path, fallback: Option<&Path>) -> Result<SchemaSet> {
        Ok(Self::load_files(&schema_files(dir)?, fallback))
    }

    /// The first schema (in order) whose selector matches `data_file`, else
    /// the fallback; an error lists the schemas tried.
    pub fn select(
        &self,
        data_file: &str,
        plugin_select: &mut dyn FnMut(&Schema) -> bool,
    ) -> Result<&Schema> {
        for s in &self.schemas {
            if s.selector.matches(data_file, &mut || plugin_select(s)) {
                return Ok(s);
            }
        }
        if let Some(fb) = &self.fallback {
            log::info!(
                "no schema matches {data_file}; using the fallback schema {} ({})",
                fb.name,
                fb.file.display()
            );
            return Ok(fb);
        }
        if self.schemas.is_empty() {
            bail!(
                "no schema applies to {data_file}: no schema could be loaded (check ingestion.schemas_directory)"
            );
        }
        let tried: Vec<String> = self
            .schemas
            .iter()
            .map(|s| {
                format!(
                    "{} (order {}, selector {}, {})",
                    if s.name.is_empty() { &s.id } else { &s.name },
                    s.order,
                    describe_selector(&s.selector),
                    s.file.display()
                )
            })
            .collect();
        bail!(
            "no schema applies to {data_file} and no fallback schema is configured \
             (ingestion.fallback_schema_file_path); tried: {}",
            tried.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::schema::test_docs::{minimal, write};

    #[test]
    fn loading_sorts_by_order_then_name_ignoring_case() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.imsc.json", &minimal("1", "beta", 10, "*"));
        write(d.path(), "b.imsc.json", &minimal("2", "Alpha", 10, "*"));
        write(d.path(), "c.imsc.json", &minimal("3", "zeta", 5, "*"));
        write(
            d.path(),
            ".hidden.imsc.json",
            &minimal("4", "hidden", 1, "*"),
        );
        write(
            d.path(),
            "notes.json",
            &minimal("5", "not a schema", 1, "*"),
        );
        std::fs::write(
            d.path().join("d.imsc.yml"),
            "id: '6'\nname: yaml\norder: 7\nselector: '*'\nvariables: {}\nschema: {}\n",
        )
        .unwrap();
        let set = SchemaSet::load_dir(d.path(), None).unwrap();
        let ids: Vec<&str> = set.schemas.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["3", "6", "2", "1"]);
        assert!(set.diagnostics.is_empty(), "{:?}", set.diagnostics);
    }

    #[test]
    fn broken_files_are_skipped_with_a_reason_and_others_serve() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("bad.imsc.json"),
            "{\"id\": \"x\",\n \"order\": }",
        )
        .unwrap();
        let mut no_order = minimal("m", "m", 1, "*");
        no_order.as_object_mut().unwrap().remove("order");
        write(d.path(), "noorder.imsc.json", &no_order);
        let mut bad_source = minimal("s", "s", 1, "*");
        bad_source["variables"] = json!({"v": {"source": "FTP", "value_type": "string"}});
        write(d.path(), "badsource.imsc.json", &bad_source);
        write(d.path(), "good.imsc.json", &minimal("g", "g", 1, "*"));
        let set = SchemaSet::load_dir(d.path(), None).unwrap();
        assert_eq!(set.schemas.len(), 1);
        let errs: Vec<String> = set.diagnostics.iter().map(|d| d.to_string()).collect();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.contains("bad.imsc.json") && e.contains("line 2"))
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("noorder.imsc.json") && e.contains("order"))
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("badsource.imsc.json") && e.contains("FTP"))
        );
    }

    #[test]
    fn duplicate_ids_are_reported_and_the_first_sorted_is_used() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.imsc.json", &minimal("same", "later", 20, "*"));
        write(
            d.path(),
            "b.imsc.json",
            &minimal("same", "earlier", 10, "*"),
        );
        let set = SchemaSet::load_dir(d.path(), None).unwrap();
        assert_eq!(set.schemas.len(), 1);
        assert_eq!(set.schemas[0].name, "earlier");
        let errs: Vec<String> = set.diagnostics.iter().map(|d| d.to_string()).collect();
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().any(|e| e.contains("a.imsc.json")));
        assert!(errs.iter().any(|e| e.contains("b.imsc.json")));
    }

    #[test]
    fn selection_uses_the_first_match_then_the_fallback() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "a.imsc.json",
            &minimal("a", "a", 2, "filename:contains:coda"),
        );
        write(
            d.path(),
            "b.imsc.json",
            &minimal("b", "b", 1, "filename:contains:small"),
        );
        write(
            d.path(),
            "c.imsc.json",
            &minimal("c", "c", 0, "filename:nope:x"),
        );
        let fb_dir = tempfile::tempdir().unwrap();
        let fb = write(
            fb_dir.path(),
            "fallback.imsc.json",
            &minimal("fb", "fb", 0, "filename:contains:zzz"),
        );
        let set = SchemaSet::load_dir(d.path(), Some(&fb)).unwrap();
        let mut no_plugin = |_: &Schema| false;
        assert_eq!(
            set.select("/x/small-coda.h5", &mut no_plugin).unwrap().id,
            "b"
        );
        assert_eq!(set.select("/x/coda.h5", &mut no_plugin).unwrap().id, "a");
        assert_eq!(set.select("/x/other.h5", &mut no_plugin).unwrap().id, "fb");
        let set = SchemaSet::load_dir(d.path(), None).unwrap();
        let e = set
            .select("/x/other.h5", &mut no_plugin)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tried") && e.contains("coda") && e.contains("small"),
            "{e}"
        );
        // The malformed selector was reported at load, naming file and selector.
        assert!(
            set.diagnostics
                .iter()
                .any(|d| d.file.ends_with("c.imsc.json")
                    && d.key == "selector"
                    && d.message.contains("filename:nope:x"))
        );
    }
}

//! Reading generated NeXus fixtures: every string kind, numbers, booleans,
//! arrays, compression, units, wildcards, and the variable evaluation on top.

use crate::support;

use scicat_ingestor::evaluate::{self, Env, ScFetch};
use scicat_ingestor::nexus::{Data, ElemType, Kind, NexusFile};
use scicat_ingestor::schema;
use serde_json::{Value, json};
use support::fixtures::{self, Ess};

fn fixture() -> (tempfile::TempDir, NexusFile) {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("f.nxs");
    fixtures::write_ess(&p, &Ess::default());
    let f = NexusFile::open(&p).unwrap();
    (tmp, f)
}

#[test]
fn strings_of_every_kind_read_as_text() {
    let (_t, f) = fixture();
    // variable-length UTF-8
    assert_eq!(
        f.read("/entry/title").unwrap().to_json(false),
        json!("odin")
    );
    // variable-length ASCII
    assert_eq!(
        f.read("/entry/definition").unwrap().to_json(false),
        json!("NXtomo")
    );
    // fixed-length, null padded
    assert_eq!(
        f.read("/entry/instrument/name").unwrap().to_json(false),
        json!("ODIN")
    );
    // non-ASCII content and group names
    assert_eq!(
        f.read("/entry/user_SørenSchmidt/name")
            .unwrap()
            .to_json(false),
        json!("Søren Schmidt")
    );
    assert_eq!(f.info("/entry/title").unwrap().elem, ElemType::String);
}

#[test]
fn numbers_booleans_and_arrays() {
    let (_t, f) = fixture();
    let t = f.read("/entry/instrument/temperature/value").unwrap();
    assert_eq!(t.shape, vec![5]);
    assert_eq!(t.to_json(false), json!([290.0, 291.5, 293.0, 294.5, 296.0]));
    // 1-element array: a scalar unless a list is asked for
    let c = f.read("/entry/monitor/total_counts").unwrap();
    assert_eq!(c.to_json(false), json!(123456));
    assert_eq!(c.to_json(true), json!([123456]));
    assert_eq!(
        f.read("/entry/sample/in_beam").unwrap().data,
        Data::Bools(vec![true])
    );
    assert_eq!(
        f.read("/entry/sample/temperature").unwrap().to_json(false),
        json!(293.15)
    );
    // 2-D keeps its shape
    assert_eq!(
        f.read("/entry/data/image").unwrap().to_json(false),
        json!([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
    );
}

#[test]
fn compressed_chunked_arrays_and_slices() {
    let (_t, f) = fixture();
    let info = f.info("/entry/data/event_id").unwrap();
    assert_eq!(
        info,
        scicat_ingestor::nexus::DatasetInfo {
            elem: ElemType::Integer,
            shape: vec![20_000]
        }
    );
    let all = f.read("/entry/data/event_id").unwrap();
    let Data::Ints(v) = &all.data else { panic!() };
    assert_eq!(v.len(), 20_000);
    assert_eq!(v[12345], (12345 * 7919) % 4096);
    let part = f.read_slice("/entry/data/event_id", &[1000], &[3]).unwrap();
    assert_eq!(
        part.data,
        Data::Ints(vec![
            (1000 * 7919) % 4096,
            (1001 * 7919) % 4096,
            (1002 * 7919) % 4096
        ])
    );
    let block = f.read_slice("/entry/data/image", &[1, 1], &[2, 2]).unwrap();
    assert_eq!(block.to_json(false), json!([[5, 6], [9, 10]]));
    assert!(
        f.read_slice("/entry/data/image", &[2, 0], &[2, 1])
            .unwrap_err()
            .contains("outside")
    );
}

#[test]
fn units_children_and_attributes() {
    let (_t, f) = fixture();
    assert_eq!(
        f.units("/entry/instrument/temperature/value").as_deref(),
        Some("K")
    );
    assert_eq!(f.units("/entry/title"), None);
    let kids = f.children("/entry/instrument").unwrap();
    assert_eq!(
        kids,
        vec![
            ("name".to_string(), Kind::Dataset),
            ("temperature".to_string(), Kind::Group)
        ]
    );
    assert_eq!(f.attribute_names("/entry").unwrap(), vec!["NX_class"]);
    assert_eq!(
        f.read_attribute("/entry", "NX_class")
            .unwrap()
            .to_json(false),
        json!("NXentry")
    );
}

#[test]
fn wildcards_expand_in_name_order_over_utf8_names() {
    let (_t, f) = fixture();
    let paths = f.expand("/entry/user_*/name").unwrap();
    assert_eq!(
        paths,
        [
            "/entry/user_AndersPettersson/name",
            "/entry/user_FredrikBolmsten/name",
            "/entry/user_MattClarke/name",
            "/entry/user_SørenSchmidt/name"
        ]
    );
    assert_eq!(f.expand("/entry/*/name").unwrap().len(), 6);
    assert!(f.expand("/entry/nothing_*/name").is_err());
}

/// A file with `n` groups `/entry/user_NNNN` holding a `name`, plus things a
/// wildcard must step over: a dataset whose name matches, a matching group
/// without `name`, a group whose `name` is a group, and a broken link.
fn many_groups(dir: &std::path::Path, n: usize) -> NexusFile {
    let p = dir.join("many.nxs");
    let file = hdf5::File::create(&p).unwrap();
    let entry = file.create_group("entry").unwrap();
    for i in (0..n).rev() {
        let g = entry.create_group(&format!("user_{i:04}")).unwrap();
        fixtures::put_str(&g, "name", &format!("user number {i}"));
        fixtures::put_str(&g, "email", &format!("u{i}@example.org"));
    }
    fixtures::put_str(&entry, "user_is_a_dataset", "not a group");
    entry.create_group("user_without_name").unwrap();
    entry
        .create_group("user_zz_group_name")
        .unwrap()
        .create_group("name")
        .unwrap();
    entry.create_group("other").unwrap();
    entry.link_soft("/nowhere", "user_broken").unwrap();
    drop(file);
    NexusFile::open(&p).unwrap()
}

#[test]
fn wildcards_over_many_groups_read_what_each_path_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 1500;
    let f = many_groups(tmp.path(), n);
    let paths = f.expand("/entry/user_*/name").unwrap();
    let mut want: Vec<String> = (0..n).map(|i| format!("/entry/user_{i:04}/name")).collect();
    want.push("/entry/user_zz_group_name/name".into());
    assert_eq!(paths, want);

    // Every dataset in name order, as a read of its own path gives it.
    let all = f.read_each("/entry/user_[0-9][0-9]*/name").unwrap();
    assert_eq!(all.len(), n);
    for (i, a) in all.iter().enumerate() {
        assert_eq!(a, &f.read(&format!("/entry/user_{i:04}/name")).unwrap());
    }
    assert_eq!(
        all[1234].data,
        Data::Strings(vec!["user number 1234".into()])
    );
    // Two wildcard segments and a literal last one.
    assert_eq!(f.expand("/*/user_000[0-4].*/email").unwrap().len(), 5);
    assert_eq!(f.expand("/entry/*").unwrap().len(), n + 5);

    // A match that is not a dataset fails as reading its path does.
    let e = f.read_each("/entry/user_*/name").unwrap_err();
    assert_eq!(e, f.read("/entry/user_zz_group_name/name").unwrap_err());
    let e = f.read_each("/entry/user_br.*").unwrap_err();
    assert_eq!(e, f.read("/entry/user_broken").unwrap_err());
    assert_eq!(
        f.read_each("/entry/nobody_*/name").unwrap_err(),
        "nothing in the file matches /entry/nobody_*/name"
    );
    assert!(f.read_each("/entry/user_(*/name").is_err());
}

#[test]
fn missing_objects_are_one_line_reasons() {
    let (_t, f) = fixture();
    for (p, want) in [
        ("/entry/nope", "no object `nope` in /entry"),
        ("/nope/x", "no object `nope` in /"),
        ("/entry/title/x", "/entry/title is a dataset, not a group"),
        (
            "/entry/instrument",
            "/entry/instrument is a group, not a dataset",
        ),
    ] {
        let e = f.read(p).unwrap_err();
        assert!(e.contains(want), "{p}: {e}");
        assert!(!e.contains('\n'));
    }
}

struct NoSc;
impl ScFetch for NoSc {
    fn get_json(&self, url: &str) -> Result<Value, String> {
        Err(format!("offline: {url}"))
    }
}

#[test]
fn nxs_variables_follow_the_value_types() {
    let (_t, f) = fixture();
    let doc = json!({
        "id": "x", "order": 1, "selector": "*", "schema": {},
        "variables": {
            "names": {"source": "NXS", "path": "/entry/user_*/name", "value_type": "string[]"},
            "run": {"source": "NXS", "path": "/entry/entry_identifier", "value_type": "integer"},
            "temps": {"source": "NXS", "path": "/entry/instrument/temperature/value", "value_type": "float[]"},
            "counts": {"source": "NXS", "path": "/entry/monitor/total_counts", "value_type": "integer"},
            "counts_list": {"source": "NXS", "path": "/entry/monitor/total_counts", "value_type": "integer[]"},
            "with_unit": {"source": "NXS", "path": "/entry/title", "value_type": "string", "unit": "none-given"},
            "total": {"source": "VALUE", "value": "<temps>", "operator": "sum", "value_type": "float"},
            "bad_type": {"source": "NXS", "path": "/entry/title", "value_type": "integer"},
            "one_user": {"source": "NXS", "path": "/entry/user_Matt*/name", "value_type": "string"},
            "many_users": {"source": "NXS", "path": "/entry/user_*/name", "value_type": "string"},
            "empty": {"source": "NXS", "path": "/entry/data/empty", "value_type": "float"},
            "empty_list": {"source": "NXS", "path": "/entry/data/empty", "value_type": "float[]"}
        }
    });
    let mut diags = Vec::new();
    let s = schema::from_value(&doc, std::path::Path::new("t.imsc.json"), &mut diags).unwrap();
    let mut vars = evaluate::builtins("/x/f.nxs", "../ingestor", "x");
    let mut env = Env {
        nexus: &f,
        scicat: &NoSc,
        plugin: None,
    };
    let failures = evaluate::evaluate_variables(&s, &mut vars, &mut env);
    assert_eq!(vars["names"].value.as_array().unwrap().len(), 4);
    assert_eq!(vars["run"].value, json!(31010));
    assert_eq!(vars["temps"].unit, "K");
    assert_eq!(vars["counts"].value, json!(123456));
    assert_eq!(vars["counts"].unit, "counts");
    assert_eq!(vars["counts_list"].value, json!([123456]));
    assert_eq!(vars["with_unit"].unit, "none-given");
    assert_eq!(vars["total"].value, json!(1465.0));
    assert_eq!(vars["total"].unit, "K", "sum keeps the unit");
    assert_eq!(vars["one_user"].value, json!("Matt Clarke"));
    let failed: Vec<&str> = failures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(failed, ["bad_type", "many_users", "empty"]);
    assert!(
        failures[2].reason.contains("is empty"),
        "{}",
        failures[2].reason
    );
    assert_eq!(vars["empty_list"].value, json!([]));
    assert!(failures[1].reason.contains("list value type"));
}

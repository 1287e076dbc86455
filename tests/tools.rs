//! The tools for schema authors, through the built binary: `validate`,
//! `inspect`, `test` (offline golden tests) and `schema convert`.

use crate::support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::fixtures::{self, Ess};
use support::scicat_server::ScicatServer;
use support::*;

/// A schema that validates cleanly.
fn clean(id: &str, selector: &str, order: i64) -> Value {
    json!({
        "id": id, "name": format!("schema {id}"), "instrument": "x", "order": order,
        "selector": selector,
        "variables": {
            "title": {"source": "NXS", "path": "/entry/title", "value_type": "string"},
            "proposal": {"source": "NXS", "path": "/entry/experiment_identifier", "value_type": "string"},
            "pi": {"source": "SC", "url": "proposals/<proposal>", "field": "pi", "value_type": "string"},
            "folder": {"source": "VALUE", "value": "<data_file_path>", "operator": "dirname-2", "value_type": "string"}
        },
        "schema": {
            "name": {"field_type": "high_level", "machine_name": "datasetName", "value": "<title>", "type": "string"},
            "pi": {"field_type": "high_level", "machine_name": "principalInvestigator", "value": "<pi>", "type": "string"},
            "owner": {"field_type": "high_level", "machine_name": "owner", "value": "<pi>", "type": "string"},
            "oe": {"field_type": "high_level", "machine_name": "ownerEmail", "value": "a@example.org", "type": "email"},
            "ce": {"field_type": "high_level", "machine_name": "contactEmail", "value": "a@example.org", "type": "email"},
            "loc": {"field_type": "high_level", "machine_name": "creationLocation", "value": "ESS", "type": "string"},
            "sf": {"field_type": "high_level", "machine_name": "sourceFolder", "value": "<folder>", "type": "string"},
            "ct": {"field_type": "high_level", "machine_name": "creationTime", "value": "<now>", "type": "date"},
            "og": {"field_type": "high_level", "machine_name": "ownerGroup", "value": "ess_<proposal>", "type": "string"},
            "sm": {"field_type": "scientific_metadata", "machine_name": "proposal", "value": "<proposal>", "type": "string"}
        }
    })
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

/// stdout lines of `validate` that are findings for `file`.
fn findings<'a>(out: &'a str, file: &str) -> Vec<&'a str> {
    out.lines()
        .filter(|l| l.contains(&format!("/{file}:")))
        .collect()
}

#[test]
fn validate_passes_a_clean_schema() {
    let tmp = tempfile::tempdir().unwrap();
    write_json(
        tmp.path(),
        "ok.imsc.json",
        &clean("ok", "filename:contains:ok", 1),
    );
    let run = ingestor(&["validate", tmp.path().to_str().unwrap()], &[]);
    run.ok();
    assert!(
        run.stdout.contains("0 error(s), 0 warning(s)"),
        "{}",
        run.stdout
    );
}

#[test]
fn validate_reports_each_class_of_mistake_with_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // One broken schema per class, each with its own selector so that none
    // hides another (except where that is the point).
    let mut n = 0;
    let mut variant = |name: &str, f: &dyn Fn(&mut Value)| {
        n += 1;
        let mut s = clean(name, &format!("filename:contains:{name}"), 10 + n);
        f(&mut s);
        write_json(d, &format!("{name}.imsc.json"), &s);
    };
    variant("source", &|s| {
        s["variables"]["title"]["source"] = json!("FTP")
    });
    variant("operator", &|s| {
        s["variables"]["folder"]["operator"] = json!("dirname-3")
    });
    variant("vtype", &|s| {
        s["variables"]["title"]["value_type"] = json!("text")
    });
    variant("ftype", &|s| {
        s["schema"]["sm"]["field_type"] = json!("scientific")
    });
    variant("undefined", &|s| {
        s["schema"]["name"]["value"] = json!("<titel>")
    });
    variant("later", &|s| {
        s["variables"]["folder"]["value"] = json!("<late>");
        s["variables"]["late"] = json!({"source": "VALUE", "value": "x", "value_type": "string"});
    });
    variant("machine", &|s| {
        s["schema"]["name"]["machine_name"] = json!("datasetname")
    });
    variant("smkey", &|s| {
        s["schema"]["sm"]["machine_name"] = json!("a.b")
    });
    variant("required", &|s| {
        s["schema"].as_object_mut().unwrap().remove("ce");
    });
    variant("selector", &|s| {
        s["selector"] = json!("filename:ends_with:x")
    });
    variant("plugin", &|s| s["plugin"] = json!({"path": "missing.wasm"}));
    // Duplicate ids.
    write_json(
        d,
        "dup1.imsc.json",
        &clean("same-id", "filename:contains:dup1", 50),
    );
    write_json(
        d,
        "dup2.imsc.json",
        &clean("same-id", "filename:contains:dup2", 51),
    );
    // Hidden: an earlier schema takes every file of a later one.
    write_json(
        d,
        "broad.imsc.json",
        &clean("broad", "filename:contains:coda", 60),
    );
    write_json(
        d,
        "narrow.imsc.json",
        &clean("narrow", "filename:contains:small-coda", 61),
    );
    // Syntax error.
    std::fs::write(
        d.join("syntax.imsc.json"),
        "{\n  \"id\": \"s\",\n  \"order\": 1,\n  oops\n}",
    )
    .unwrap();

    let run = ingestor(&["validate", d.to_str().unwrap()], &[]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let out = &run.stdout;
    let expect: &[(&str, &str, &str)] = &[
        ("source.imsc.json", "", "unknown source \"FTP\""),
        (
            "operator.imsc.json",
            "`variables.folder.operator`",
            "unknown operator \"dirname-3\"",
        ),
        (
            "vtype.imsc.json",
            "`variables.title.value_type`",
            "unknown value type \"text\"",
        ),
        (
            "ftype.imsc.json",
            "`schema.sm.field_type`",
            "\"scientific\"",
        ),
        (
            "undefined.imsc.json",
            "`schema.name.value`",
            "<titel> is not a variable",
        ),
        (
            "later.imsc.json",
            "`variables.folder.value`",
            "<late> is used before it is defined",
        ),
        (
            "machine.imsc.json",
            "`schema.name.machine_name`",
            "did you mean `datasetName`",
        ),
        (
            "smkey.imsc.json",
            "`schema.sm.machine_name`",
            "cannot be a scientific metadata key",
        ),
        ("required.imsc.json", "`schema`", "`contactEmail`"),
        (
            "selector.imsc.json",
            "`selector`",
            "unknown selector operator",
        ),
        (
            "plugin.imsc.json",
            "`plugin.path`",
            "missing.wasm not found",
        ),
        ("dup1.imsc.json", "`id`", "duplicate schema id"),
        ("dup2.imsc.json", "`id`", "duplicate schema id"),
        ("narrow.imsc.json", "`selector`", "can never be selected"),
        ("syntax.imsc.json", "", "line 4"),
    ];
    for (file, key, text) in expect {
        let lines = findings(out, file);
        assert!(
            lines
                .iter()
                .any(|l| l.contains(": error: ") && l.contains(key) && l.contains(text)),
            "no error for {file} {key} {text:?} in:\n{}",
            lines.join("\n")
        );
    }
    // The clean parts stay clean: the broad schema has no error.
    assert!(
        findings(out, "broad.imsc.json")
            .iter()
            .all(|l| !l.contains(": error: "))
    );
}

#[test]
fn warnings_fail_only_with_strict() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = clean("w", "filename:contains:w", 1);
    s["variables"]["unused"] = json!({"source": "VALUE", "value": "x", "value_type": "string"});
    write_json(tmp.path(), "w.imsc.json", &s);
    let dir = tmp.path().to_str().unwrap();
    let run = ingestor(&["validate", dir], &[]);
    run.ok();
    assert!(run.stdout.contains("`variables.unused`"), "{}", run.stdout);
    let run = ingestor(&["validate", "--strict", dir], &[]);
    assert_ne!(run.code, 0);
    // The same report; only the verdict on its warning differs.
    assert!(run.stdout.contains("`variables.unused`"), "{}", run.stdout);
    assert!(
        run.stdout.contains("0 error(s), 1 warning(s)"),
        "{}",
        run.stdout
    );
}

#[test]
fn validate_against_asks_the_server() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    write_json(
        tmp.path(),
        "good.imsc.json",
        &clean("good", "filename:contains:good", 1),
    );
    let mut bad = clean("bad", "filename:contains:bad", 2);
    bad["schema"]["type"] = json!({"field_type": "high_level", "machine_name": "type", "value": "measurement", "type": "string"});
    write_json(tmp.path(), "bad.imsc.json", &bad);
    let run = ingestor(
        &[
            "validate",
            tmp.path().to_str().unwrap(),
            "--against",
            &server.url,
        ],
        &[("SCICAT_TOKEN", "t0k3n-for-validate")],
    );
    assert_ne!(run.code, 0);
    let bad_lines = findings(&run.stdout, "bad.imsc.json");
    assert!(
        bad_lines
            .iter()
            .any(|l| l.contains("would reject") && l.contains("type must be one of")),
        "{}",
        run.stdout
    );
    assert!(
        findings(&run.stdout, "good.imsc.json").is_empty(),
        "{}",
        run.stdout
    );
    assert_eq!(server.requests_to("POST datasets/isValid").len(), 2);
    assert!(server.datasets().is_empty(), "isValid creates nothing");
}

#[test]
fn inspect_shows_paths_types_units_and_values() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("f.nxs");
    fixtures::write_ess(&f, &Ess::default());
    let run = ingestor(&["inspect", f.to_str().unwrap()], &[]);
    run.ok();
    let line = |p: &str| {
        run.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(p))
            .unwrap_or_else(|| panic!("no line for {p} in\n{}", run.stdout))
            .to_string()
    };
    assert!(line("/entry").contains("group (NXentry)"));
    assert!(
        line("/entry/title").contains("string scalar") && line("/entry/title").contains("\"odin\"")
    );
    let t = line("/entry/instrument/temperature/value");
    assert!(
        t.contains("float [5]") && t.contains("[K]") && t.contains("290.0"),
        "{t}"
    );
    let ev = line("/entry/data/event_id");
    assert!(ev.contains("integer [20000]") && ev.contains('…'), "{ev}");
    assert!(line("/entry/user_SørenSchmidt/name").contains("Søren Schmidt"));

    let run = ingestor(
        &[
            "inspect",
            f.to_str().unwrap(),
            "--path",
            "/entry/sample",
            "--json",
        ],
        &[],
    );
    run.ok();
    let nodes = run.json();
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes[0]["path"], "/entry/sample");
    let temp = nodes
        .iter()
        .find(|n| n["path"] == "/entry/sample/temperature")
        .unwrap();
    assert_eq!(temp["type"], "float");
    assert_eq!(temp["units"], "K");
    assert_eq!(temp["preview"], json!(293.15));
    let run = ingestor(&["inspect", f.to_str().unwrap(), "--path", "/nope"], &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.last_line().contains("no object `nope`"),
        "{}",
        run.stderr
    );
}

/// A golden-test case folder: schema, fixture, recorded replies.
fn case_folder(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("schemas")).unwrap();
    std::fs::copy(
        schemas_dir().join("coda-like.imsc.json"),
        dir.join("schemas/coda-like.imsc.json"),
    )
    .unwrap();
    fixtures::ess_in_tree(&dir.join("data"), "coda_31010.nxs", &Ess::default());
    let case = dir.join("coda.case.yml");
    std::fs::write(
        &case,
        r#"description: the CODA-like schema on a generated file
schemas: schemas
nexus_file: data/443503/raw/coda_31010.nxs
config:
  dataset: {default_owner_group: ess}
scicat:
  proposals/443503: {pi_firstname: Jane, pi_lastname: Doe, pi_email: jane.doe@ess.eu}
  'instruments?filter={"where":{"name":{"ilike":"odin"}}}': [{id: inst-odin-1, name: ODIN}]
"#,
    )
    .unwrap();
    case
}

#[test]
fn golden_tests_pass_fail_with_a_diff_and_update() {
    let tmp = tempfile::tempdir().unwrap();
    let case = case_folder(tmp.path());
    let c = case.to_str().unwrap();
    // No expectation yet: a clear error that says what to do.
    let run = ingestor(&["test", c], &[]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.contains("--update"), "{}", run.stdout);
    // Record it.
    ingestor(&["test", "--update", c], &[]).ok();
    let expected_path = tmp.path().join("coda.expected.json");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
    let d = &expected["dataset"];
    assert_eq!(d["principalInvestigator"], "Jane Doe");
    assert_eq!(d["instrumentId"], "inst-odin-1");
    assert_eq!(d["creationTime"], "2024-01-01T00:00:00Z", "now is pinned");
    assert_eq!(
        d["sourceFolder"], "<case>/data/443503",
        "the scratch folder is normalised"
    );
    assert_eq!(
        expected["origdatablock"]["dataFileList"][0]["time"],
        "<time>"
    );
    // Passes now, twice (nothing volatile left), and wrote nothing into the case folder.
    ingestor(&["test", c], &[]).ok();
    let run = ingestor(&["test", tmp.path().to_str().unwrap()], &[]);
    run.ok();
    assert!(run.stdout.contains("PASS"), "{}", run.stdout);
    assert!(!tmp.path().join("data/443503/ingestor").exists());
    // A wrong expectation fails with one line per field.
    let mut wrong = expected.clone();
    wrong["dataset"]["datasetName"] = json!("not odin");
    wrong["dataset"]["scientificMetadata"]["run_number"]["value"] = json!(1);
    std::fs::write(
        &expected_path,
        serde_json::to_string_pretty(&wrong).unwrap(),
    )
    .unwrap();
    let run = ingestor(&["test", c], &[]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.contains("FAIL"));
    assert!(
        run.stdout
            .contains("dataset.datasetName: expected \"not odin\", got \"odin\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("dataset.scientificMetadata.run_number.value: expected 1, got 31010")
    );
    // --update makes it pass again.
    ingestor(&["test", "--update", c], &[]).ok();
    ingestor(&["test", c], &[]).ok();
    // A missing recorded reply is named.
    let text = std::fs::read_to_string(&case)
        .unwrap()
        .replace("proposals/443503", "proposals/1");
    std::fs::write(&case, text).unwrap();
    let run = ingestor(&["test", c], &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("no recorded reply for GET proposals/443503"),
        "{}",
        run.stderr
    );
}

#[test]
fn schema_convert_between_json_and_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let yml = tmp.path().join("coda.imsc.yml");
    let src = schemas_dir().join("coda-like.imsc.json");
    ingestor(
        &[
            "schema",
            "convert",
            src.to_str().unwrap(),
            "-o",
            yml.to_str().unwrap(),
        ],
        &[],
    )
    .ok();
    let text = std::fs::read_to_string(&yml).unwrap();
    assert!(text.find("job_id:").unwrap() < text.find("source_folder:").unwrap());
    let run = ingestor(&["schema", "convert", yml.to_str().unwrap()], &[]);
    run.ok();
    let back = run.json();
    let orig: Value = serde_json::from_str(&std::fs::read_to_string(&src).unwrap()).unwrap();
    assert_eq!(back, orig);
    let keys: Vec<&String> = back["variables"].as_object().unwrap().keys().collect();
    let orig_keys: Vec<&String> = orig["variables"].as_object().unwrap().keys().collect();
    assert_eq!(keys, orig_keys, "variable order is kept");
    // The YAML schema works as a schema.
    let run = ingestor(&["validate", yml.to_str().unwrap()], &[]);
    run.ok();
}

#[test]
fn every_subcommand_explains_itself_with_an_example() {
    for sub in [
        vec!["validate", "--help"],
        vec!["inspect", "--help"],
        vec!["test", "--help"],
        vec!["schema", "convert", "--help"],
    ] {
        let run = ingestor(&sub, &[]);
        run.ok();
        assert!(run.stdout.contains("Example"), "{sub:?}:\n{}", run.stdout);
        assert!(run.stdout.contains("scicat-ingestor "), "{sub:?}");
    }
    let run = ingestor(&["--help"], &[]);
    run.ok();
    for sub in ["validate", "inspect", "test", "schema"] {
        assert!(run.stdout.contains(sub), "{}", run.stdout);
    }
}

#[test]
fn golden_cases_load_their_config_as_production_does() {
    let tmp = tempfile::tempdir().unwrap();
    let case = case_folder(tmp.path());
    let c = case.to_str().unwrap();
    ingestor(&["test", "--update", c], &[]).ok();
    let original = std::fs::read_to_string(&case).unwrap();
    // A misspelt key: the case fails, naming it.
    let typo = original.replace("default_owner_group", "default_owner_grup");
    std::fs::write(&case, &typo).unwrap();
    let run = ingestor(&["test", c], &[]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.contains("default_owner_grup"), "{}", run.stdout);
    // A value production refuses is an error here too.
    let relativ = original.replace(
        "dataset: {default_owner_group: ess}",
        "dataset: {default_owner_group: ess}\n  ingestion: {file_handling: {file_path_type: relativ}}",
    );
    std::fs::write(&case, &relativ).unwrap();
    let run = ingestor(&["test", c], &[]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.contains("file_path_type"), "{}", run.stdout);
    // Warnings a case expects are asserted: listed, it passes; a listed one
    // that does not come, it fails.
    std::fs::write(&case, format!("{typo}warnings: [default_owner_grup]\n")).unwrap();
    let run = ingestor(&["test", c], &[]);
    assert!(
        run.stdout.contains("PASS"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    std::fs::write(
        &case,
        format!("{original}warnings: [a warning that never comes]\n"),
    )
    .unwrap();
    let run = ingestor(&["test", c], &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stdout.contains("a warning that never comes"),
        "{}",
        run.stdout
    );
}

#[test]
fn plugin_new_writes_a_crate_to_build_test_and_try() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let sdk = repo().join("plugin-sdk");
    let run = ingestor(
        &[
            "plugin",
            "new",
            "mean-t",
            "--dir",
            dir,
            "--sdk",
            sdk.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let root = tmp.path().join("mean-t");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();

    let cargo = read("Cargo.toml");
    assert!(
        cargo.contains(&format!(
            "scicat-plugin-sdk = {{ path = {:?} }}",
            sdk.to_str().unwrap()
        )),
        "{cargo}"
    );
    assert!(
        cargo.contains(r#"crate-type = ["cdylib"]"#) && cargo.contains("[workspace]"),
        "{cargo}"
    );
    let lib = read("src/lib.rs");
    assert!(
        lib.contains(r#".variable("mean", mean)"#)
            && lib.contains("MemFile")
            && lib.contains("#[test]"),
        "{lib}"
    );

    let schema: Value = serde_json::from_str(&read("schemas/mean-t.imsc.json")).unwrap();
    assert_eq!(schema["id"], "mean-t");
    assert_eq!(
        schema["plugin"]["path"],
        "../target/wasm32-wasip2/release/mean_t.wasm"
    );
    assert_eq!(schema["variables"]["temperature_mean"]["source"], "PLUGIN");

    let case = read("tests/mean-t.case.yml");
    assert!(
        case.contains("schemas: ../schemas")
            && case.contains("nexus_file: data/proposal/raw/mean-t_0001.nxs"),
        "{case}"
    );
    let expected: Value = serde_json::from_str(&read("tests/mean-t.expected.json")).unwrap();
    assert_eq!(expected["schema"], "mean-t");
    assert_eq!(
        expected["dataset"]["scientificMetadata"]["temperature_mean"],
        json!({"value": 293.0, "unit": "K", "human_name": "Mean temperature", "type": "float"})
    );
    // The fixture the case runs on, with what the expectation was made from.
    let fixture = root.join("tests/data/proposal/raw/mean-t_0001.nxs");
    let nx = scicat_ingestor::nexus::NexusFile::open(&fixture).unwrap();
    let t = nx.read("/entry/instrument/temperature/value").unwrap();
    assert_eq!(t.to_flat_json(), json!([290.0, 291.5, 293.0, 294.5, 296.0]));
    assert_eq!(
        nx.units("/entry/instrument/temperature/value").as_deref(),
        Some("K")
    );
    assert_eq!(
        expected["origdatablock"]["dataFileList"][0]["chk"],
        json!(b2(&fixture)),
        "the recorded expectation is of this very fixture"
    );

    let readme = read("README.md");
    for command in [
        "cargo test",
        "cargo build --target wasm32-wasip2 --release",
        "scicat-ingestor test tests/",
    ] {
        assert!(readme.contains(command), "{command}: {readme}");
    }

    let again = ingestor(&["plugin", "new", "mean-t", "--dir", dir], &[]);
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
    let bad = ingestor(&["plugin", "new", "../Evil", "--dir", dir], &[]);
    assert!(
        bad.code != 0 && bad.stderr.contains("is not a plugin name"),
        "{}",
        bad.stderr
    );
    let published = ingestor(&["plugin", "new", "other", "--dir", dir], &[]);
    assert_eq!(published.code, 0, "{}", published.stderr);
    let cargo = std::fs::read_to_string(tmp.path().join("other/Cargo.toml")).unwrap();
    assert!(cargo.contains(r#"scicat-plugin-sdk = "0.2""#), "{cargo}");
}

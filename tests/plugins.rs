//! End to end, plugins: the example plugins and a hostile one, built for
//! `wasm32-wasip2` by `make plugins`, run through the built ingestor on
//! generated fixtures; plus library-level checks of the sandbox (a host that
//! stays healthy after every misbehaviour), `describe` and the compiled-code
//! cache.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use scicat_ingestor::config::PluginOptions;
use scicat_ingestor::evaluate::{PluginHooks, Var, Vars};
use scicat_ingestor::nexus::NexusFile;
use scicat_ingestor::plugin::{self, Hook, Origin, PluginHost};
use serde_json::{Value, json};
use support::fixtures::{self, Ess};
use support::scicat_server::ScicatServer;
use support::wasm::*;
use support::*;

/// Runs the ingestor. HDF5's file locks are off: a fixture another test
/// thread is still writing can leak its locked descriptor into a child
/// process spawned meanwhile (HDF5 does not open with close-on-exec).
fn dry_run(dir: &Path, config: &Value, data: &Path, env: &[(&str, &str)]) -> Run {
    let cfg = write_config(dir, config);
    ingest(&cfg, data, &["--dry-run"], env)
}

#[test]
fn array_stats_example_puts_statistics_with_units_into_scientific_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = example_schemas("array-stats", tmp.path());
    let data = fixtures::ess_in_tree(tmp.path(), "run_31010.nxs", &Ess::default());
    let run = dry_run(tmp.path(), &plugin_config(&schemas, json!({})), &data, &[]);
    run.ok();
    let sm = &run.json()["dataset"]["scientificMetadata"];
    let check = |k: &str, v: Value, unit: &str| {
        assert_eq!(sm[k]["value"], v, "{k}: {}", sm[k]);
        assert_eq!(sm[k]["unit"], unit, "{k}: {}", sm[k]);
    };
    // Default temperature log: 290, 291.5, 293, 294.5, 296 K.
    check("temperature_mean", json!(293.0), "K");
    check("temperature_min", json!(290.0), "K");
    check("temperature_max", json!(296.0), "K");
    check("temperature_samples", json!(5), "");
    // The same mean through the operator hook, on the rendered NXS value.
    check("temperature_log_mean", json!(293.0), "K");
}

/// The array-stats example as built from the frozen 0.1 interface (see
/// tests/data/plugins/README.md).
fn v0_1_fixture() -> PathBuf {
    repo().join("tests/data/plugins/array_stats_v0_1.wasm")
}

#[test]
fn a_v0_1_component_still_loads_and_gives_the_same_output() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = example_schemas("array-stats", tmp.path());
    let data = fixtures::ess_in_tree(tmp.path(), "run_31010.nxs", &Ess::default());
    let config = plugin_config(&schemas, json!({}));
    let now = dry_run(tmp.path(), &config, &data, &[]);
    now.ok();

    let schema = schemas.join("array-stats.imsc.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&schema).unwrap()).unwrap();
    s["plugin"]["path"] = json!(v0_1_fixture());
    std::fs::write(&schema, s.to_string()).unwrap();
    let old = dry_run(tmp.path(), &config, &data, &[]);
    old.ok();
    assert_eq!(old.json()["dataset"], now.json()["dataset"]);

    let o = opts(Path::new(&shared_cache()));
    let info = plugin::describe(&v0_1_fixture(), &o).unwrap();
    assert_eq!(
        (info.name.as_str(), info.wit_version.as_str()),
        ("array-stats", "0.1.0")
    );
}

#[test]
fn components_stamped_with_another_version_or_none_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path());
    let bytes = std::fs::read(v0_1_fixture()).unwrap();
    let edit = |from: &[u8], to: &[u8], name: &str| {
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        let mut b = bytes.clone();
        b[at..at + to.len()].copy_from_slice(to);
        let path = tmp.path().join(name);
        std::fs::write(&path, b).unwrap();
        format!("{:#}", plugin::describe(&path, &o).unwrap_err())
    };
    let e = edit(
        b"scicat:ingestor-version0.1.0",
        b"scicat:ingestor-version9.9.0",
        "v9.wasm",
    );
    assert!(
        e.contains("v9.wasm")
            && e.contains("scicat:ingestor@9.9.0")
            && e.contains("accepts 0.1.x, 0.2.x")
            && e.contains("rebuild the plugin with scicat-plugin-sdk 0.2"),
        "{e}"
    );
    let e = edit(
        b"scicat:ingestor-version",
        b"scicat:ingestor-versioX",
        "unstamped.wasm",
    );
    assert!(
        e.contains("unstamped.wasm")
            && e.contains("carries no interface version")
            && e.contains("rebuild it with scicat-plugin-sdk 0.2"),
        "{e}"
    );
}

#[test]
fn instrument_select_example_chooses_the_schema_by_file_content() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = example_schemas("instrument-select", tmp.path());
    let config = plugin_config(&schemas, json!({}));
    let cases = [
        // (file name, instrument in the file, expected schema)
        ("run_0001.nxs", "ODIN", "example-instrument-select"),
        ("ymir_0002.nxs", " odin ", "example-instrument-select"),
        ("odin_0003.nxs", "YMIR", "example-any-other"),
    ];
    for (name, instrument, expected) in cases {
        let e = Ess {
            instrument: instrument.into(),
            ..Ess::default()
        };
        let data = fixtures::ess_in_tree(tmp.path(), name, &e);
        let run = dry_run(tmp.path(), &config, &data, &[]);
        run.ok();
        let out = run.json();
        assert_eq!(out["schema"], expected, "{name} with {instrument:?}");
        if expected == "example-instrument-select" {
            let d = &out["dataset"];
            assert_eq!(d["creationLocation"], "ESS:odin");
            assert_eq!(d["scientificMetadata"]["instrument"]["value"], "odin");
        }
    }
}

#[test]
fn title_keywords_example_transforms_the_finished_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = example_schemas("title-keywords", tmp.path());
    let config = plugin_config(&schemas, json!({}));
    let e = Ess {
        title: "LaB6   powder _saxs_290K".into(),
        ..Ess::default()
    };
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &e);
    let run = dry_run(tmp.path(), &config, &data, &[]);
    run.ok();
    let d = &run.json()["dataset"];
    assert_eq!(d["datasetName"], "LaB6 powder (saxs, 290 K)");
    assert_eq!(
        d["keywords"],
        json!(["ODIN", "LaB6   powder", "saxs", "290"])
    );
    assert_eq!(
        d["techniques"],
        json!([{"pid": "http://purl.org/pan-science/PaNET/PaNET01188", "name": "small angle x-ray scattering"}])
    );

    // A title that does not match leaves the dataset as the schema made it.
    let plain = fixtures::ess_in_tree(tmp.path(), "run_2.nxs", &Ess::default());
    let run = dry_run(tmp.path(), &config, &plain, &[]);
    run.ok();
    let d = &run.json()["dataset"];
    assert_eq!(d["datasetName"], "odin");
    assert_eq!(d["keywords"], json!(["ODIN"]));
}

// ---------------------------------------------------------------- hostile

/// Schemas using the hostile plugin with `config`: one that selects with it
/// (order 1) and a plain fallback (order 2). Variables `answer`, `title` and
/// `probe` come from the plugin.
fn hostile_case(dir: &Path, hostile: Value, select_with_plugin: bool) -> PathBuf {
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(&schemas).unwrap();
    let fields = json!({
        "dataset_name": {"field_type": "high_level", "machine_name": "datasetName", "value": "<title>", "type": "string"},
        "pi": {"field_type": "high_level", "machine_name": "principalInvestigator", "value": "Jane Doe", "type": "string"},
        "owner": {"field_type": "high_level", "machine_name": "owner", "value": "Jane Doe", "type": "string"},
        "owner_email": {"field_type": "high_level", "machine_name": "ownerEmail", "value": "jane@example.org", "type": "email"},
        "contact_email": {"field_type": "high_level", "machine_name": "contactEmail", "value": "jane@example.org", "type": "email"},
        "creation_location": {"field_type": "high_level", "machine_name": "creationLocation", "value": "ESS:ODIN", "type": "string"},
        "creation_time": {"field_type": "high_level", "machine_name": "creationTime", "value": "2024-10-28T09:06:41Z", "type": "date"},
        "source_folder": {"field_type": "high_level", "machine_name": "sourceFolder", "value": "<source_folder>", "type": "string"},
        "answer": {"field_type": "scientific_metadata", "machine_name": "answer", "value": "<answer>", "type": "integer"},
        "echo": {"field_type": "scientific_metadata", "machine_name": "echo", "value": "<echo>", "type": "string"},
        "probe": {"field_type": "scientific_metadata", "machine_name": "probe", "value": "<probe>", "type": "dict"},
    });
    let hostile_schema = json!({
        "id": "hostile",
        "name": "hostile",
        "instrument": "odin",
        "selector": if select_with_plugin { json!("plugin") } else { json!("*") },
        "order": 1,
        "plugin": {"path": wasm("hostile-plugin"), "may_set": hostile.get("may_set").cloned().unwrap_or(json!([])), "config": hostile},
        "variables": {
            "title": {"source": "PLUGIN", "value_type": "string"},
            // A trap in `answer` stops the file unless it is optional.
            "answer": {"source": "PLUGIN", "value_type": "integer", "optional": hostile.get("required") != Some(&json!(true))},
            "echo": {"source": "VALUE", "value": "echo <answer>", "operator": "plugin:echo", "value_type": "string"},
            "probe": {"source": "PLUGIN", "value_type": "dict"},
            "source_folder": {"source": "VALUE", "value": "<data_file_path>", "operator": "dirname-2", "value_type": "string"},
        },
        "schema": fields,
    });
    let plain = json!({
        "id": "plain",
        "name": "plain",
        "instrument": "odin",
        "selector": "*",
        "order": 2,
        "variables": {
            "title": {"source": "NXS", "path": "/entry/title", "value_type": "string"},
            "source_folder": {"source": "VALUE", "value": "<data_file_path>", "operator": "dirname-2", "value_type": "string"},
        },
        "schema": fields,
    });
    std::fs::write(
        schemas.join("hostile.imsc.json"),
        hostile_schema.to_string(),
    )
    .unwrap();
    std::fs::write(schemas.join("plain.imsc.json"), plain.to_string()).unwrap();
    schemas
}

/// Tight bounds so the misbehaviours are cut short quickly.
fn tight() -> Value {
    json!({"timeout_ms": 500, "max_memory_mb": 64})
}

fn hostile_run(hook: &str, mode: &str) -> (Run, std::time::Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = hostile_case(
        tmp.path(),
        json!({"hook": hook, "mode": mode}),
        hook == "select",
    );
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &Ess::default());
    let t0 = std::time::Instant::now();
    let run = dry_run(tmp.path(), &plugin_config(&schemas, tight()), &data, &[]);
    (run, t0.elapsed())
}

const PREFIX: &str =
    "plugin hostile (hostile_plugin.wasm): variables hook (variable \"answer\") failed: ";

/// A misbehaving `variables` call is a failed variable: the run goes on, the
/// warning names plugin, hook and reason, and the other plugin variables
/// still fail fast (the instance was dropped) rather than misbehaving again.
fn assert_variable_stopped(mode: &str, reason: &str) {
    let (run, took) = hostile_run("variable", mode);
    run.ok();
    let expected = format!("{PREFIX}{reason}");
    assert!(
        run.stderr.contains(&expected),
        "expected {expected:?} in:\n{}",
        run.stderr
    );
    let d = &run.json()["dataset"];
    assert!(d["scientificMetadata"].get("answer").is_none());
    // `title` was computed before the failure, so the dataset has it.
    assert_eq!(d["datasetName"], "odin");
    // The finished dataset is still transformed, in a fresh instance.
    assert_eq!(d["keywords"], json!(["transformed by hostile"]));
    assert!(
        run.stderr.contains("stopped earlier for this file"),
        "{}",
        run.stderr
    );
    // Far below what an unbounded plugin would take (forever).
    assert!(took.as_secs() < 120, "took {took:?}");
}

#[test]
fn hostile_infinite_loop_is_stopped_at_the_deadline() {
    assert_variable_stopped(
        "loop",
        "it ran longer than its time limit of 500 ms (plugins.timeout_ms)",
    );
}

#[test]
fn hostile_memory_bomb_is_stopped_at_the_memory_limit() {
    assert_variable_stopped(
        "memory",
        "it needs more than its memory limit of 64 MiB (plugins.max_memory_mb)",
    );
}

#[test]
fn hostile_panic_is_reported_with_its_message() {
    assert_variable_stopped(
        "panic",
        "it panicked: hostile plugin panics on purpose in variable",
    );
}

/// Bound: 16 MiB per value, enforced while wasmtime copies it (its own
/// default let 128 MiB through).
#[test]
fn hostile_huge_return_value_is_refused() {
    assert_variable_stopped(
        "huge",
        "it passed the host more than the 16 MiB a plugin value may have",
    );
}

#[test]
fn hostile_sleep_does_not_block_the_host() {
    // Time does not pass in the sandbox: an hour's sleep returns at once
    // (the host's own sleep could not be cut short by the CPU deadline). The
    // run takes about a second; 60 s is generous on a loaded machine and
    // still a minute against the hour an honoured sleep would take, and the
    // child is killed there rather than waited for.
    let tmp = tempfile::tempdir().unwrap();
    let schemas = hostile_case(
        tmp.path(),
        json!({"hook": "variable", "mode": "sleep"}),
        false,
    );
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &Ess::default());
    let cfg = write_config(tmp.path(), &plugin_config(&schemas, tight()));
    let run = ingestor_within(
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--nexus-file",
            data.to_str().unwrap(),
            "--dry-run",
        ],
        std::time::Duration::from_secs(60),
    )
    .expect("the plugin's hour-long sleep blocked the host for over 60 s");
    run.ok();
    assert_eq!(
        run.json()["dataset"]["scientificMetadata"]["answer"]["value"],
        7
    );
}

#[test]
fn hostile_select_counts_as_no_match() {
    let (run, _) = hostile_run("select", "loop");
    run.ok();
    assert_eq!(run.json()["schema"], "plain");
    assert!(
        run.stderr.contains(
            "plugin hostile (hostile_plugin.wasm): select hook failed: it ran longer than its time limit of 500 ms"
        ) && run.stderr.contains("treated as \"does not match\""),
        "{}",
        run.stderr
    );
}

#[test]
fn hostile_transform_stops_the_run_before_any_upload() {
    let (run, posts) = upload_run(json!({"hook": "transform", "mode": "panic"}));
    assert_ne!(run.code, 0, "{}", run.stderr);
    let last = run.last_line();
    assert!(
        last.contains("plugin hostile (hostile_plugin.wasm): transform hook failed: it panicked: hostile plugin panics on purpose in transform")
            && last.contains("nothing was uploaded"),
        "{last}"
    );
    assert!(posts.is_empty(), "{posts:#?}");
}

/// Runs the ingestor for real against the test server; returns the run and
/// the requests that were not GETs.
fn upload_run(hostile: Value) -> (Run, Vec<String>) {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let schemas = hostile_case(tmp.path(), hostile, false);
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &Ess::default());
    let mut config = plugin_config(&schemas, tight());
    config["scicat"] = json!({"host": server.url, "token": "test-token-0123456789"});
    let cfg = write_config(tmp.path(), &config);
    let run = ingestor(
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--nexus-file",
            data.to_str().unwrap(),
        ],
        &[],
    );
    let posts = server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    (run, posts)
}

/// Bound: a variable whose hook runs out of time stops the file (non-zero
/// exit, zero POSTs) unless the schema marks it optional.
#[test]
fn a_trapping_variable_stops_the_file_unless_it_is_optional() {
    let (run, posts) = upload_run(json!({"hook": "variable", "mode": "loop", "required": true}));
    assert_ne!(run.code, 0, "{}", run.stderr);
    let last = run.last_line();
    assert!(
        last.contains("ran longer than its time limit of 500 ms")
            && last.contains("variable `answer` is not marked")
            && last.contains("nothing was uploaded"),
        "{last}"
    );
    assert!(posts.is_empty(), "{posts:#?}");
    let (run, posts) = upload_run(json!({"hook": "variable", "mode": "loop"}));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("variable `answer` is optional"),
        "{}",
        run.stderr
    );
    assert!(!posts.is_empty());
}

/// Bound: a transform that points the dataset at another record, owner or
/// audience uploads nothing (zero POSTs), unless the schema grants exactly
/// those fields.
#[test]
fn transform_may_not_rewrite_protected_fields_without_a_grant() {
    let (run, posts) = upload_run(json!({"hook": "transform", "mode": "rewrite"}));
    assert_ne!(run.code, 0, "{}", run.stderr);
    let last = run.last_line();
    for f in [
        "`pid`",
        "`ownerGroup`",
        "`accessGroups`",
        "`isPublished`",
        "`sourceFolder`",
        "may_set",
        "nothing was uploaded",
    ] {
        assert!(last.contains(f), "{f}: {last}");
    }
    assert!(posts.is_empty(), "{posts:#?}");

    let tmp = tempfile::tempdir().unwrap();
    let grant = json!([
        "pid",
        "ownerGroup",
        "accessGroups",
        "isPublished",
        "sourceFolder"
    ]);
    let schemas = hostile_case(
        tmp.path(),
        json!({"hook": "transform", "mode": "rewrite", "may_set": grant}),
        false,
    );
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &Ess::default());
    let run = dry_run(tmp.path(), &plugin_config(&schemas, tight()), &data, &[]);
    run.ok();
    let d = &run.json()["dataset"];
    assert_eq!(d["ownerGroup"], "other-group");
    assert_eq!(d["isPublished"], true);
}

#[test]
fn the_sandbox_shows_no_environment_files_network_clock_or_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = hostile_case(tmp.path(), json!({}), false);
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &Ess::default());
    let token = "secret-token-do-not-leak-0123456789";
    let mut config = plugin_config(&schemas, json!({}));
    config["scicat"] = json!({"host": "", "token": token, "password": "pw-do-not-leak"});
    let env = [("SCICAT_TOKEN", token), ("HOME_SECRET", "do-not-leak")];
    let first = dry_run(tmp.path(), &config, &data, &env);
    first.ok();
    let out = first.json();
    let probe = &out["dataset"]["scientificMetadata"]["probe"]["value"];
    assert_eq!(probe["env"], json!([]), "{probe}");
    assert_eq!(probe["args"], json!([]), "{probe}");
    // Every probe must have run: a missing field is a failure, not a pass.
    let files = probe["files"].as_array().expect("files probed");
    assert_eq!(files.len(), 4, "{probe}");
    for f in files {
        assert!(!f.as_str().unwrap().ends_with("readable"), "{probe}");
    }
    assert_eq!(probe["wall_clock_secs"], 0, "{probe}");
    assert_eq!(probe["monotonic_elapsed_ns"], 0, "{probe}");
    // The connection attempt's error, not a connection.
    let network = probe["network"].as_str().expect("network probed");
    assert!(!network.is_empty() && network != "connected", "{probe}");
    assert!(probe["hash_seed"].is_string(), "{probe}");
    let text = out.to_string();
    assert!(
        !text.contains("do-not-leak") && !text.contains(token),
        "{probe}"
    );
    // The plugin sees the variables known so far, not the config.
    let vars = probe["vars"].to_string();
    assert!(
        vars.contains("data_file_path") && !vars.contains("token"),
        "{vars}"
    );
    // Deterministic: the same file and config give the same result.
    let second = dry_run(tmp.path(), &config, &data, &env);
    second.ok();
    let again = &second.json()["dataset"]["scientificMetadata"]["probe"]["value"];
    let strip = |p: &Value| {
        let mut p = p.clone();
        p["vars"] = Value::Null; // holds the run id and the time of the run
        p
    };
    assert_eq!(strip(probe), strip(again));
    // What the plugin printed is in the debug log under target "plugin".
    let verbose = dry_run(tmp.path(), &config, &data, &[("RUST_LOG", "plugin=debug")]);
    verbose.ok();
    assert!(
        verbose
            .stderr
            .contains("[hostile (hostile_plugin.wasm)] variable answer asked"),
        "{}",
        verbose.stderr
    );
}

// ---------------------------------------------------------- library level

fn opts(cache: &Path) -> PluginOptions {
    PluginOptions {
        max_memory_mb: 64,
        timeout_ms: 500,
        cache_dir: cache.to_string_lossy().into_owned(),
    }
}

fn ess_file(dir: &Path, name: &str) -> Arc<NexusFile> {
    let p = fixtures::ess_in_tree(dir, name, &Ess::default());
    Arc::new(NexusFile::open(&p).unwrap())
}

#[test]
fn interface_0_2_types_errors_kinds_shapes_variables_and_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let mut host = PluginHost::new(&opts(Path::new(&shared_cache()))).unwrap();
    let nexus = ess_file(tmp.path(), "run_1.nxs");
    let mut p = host
        .instantiate(&wasm("hostile-plugin"), &json!({}), &nexus)
        .unwrap();
    assert_eq!(p.info().wit_version, "0.2.0");
    let mut var =
        |name: &str, args: Value, vars: &Vars| p.variable(name, &args, vars).unwrap().value;
    let none = Vars::new();
    let t = "/entry/instrument/temperature/value";
    assert_eq!(
        var("error_kind", json!({"path": "/entry/nothing"}), &none),
        json!("NotFound")
    );
    assert_eq!(
        var("error_kind", json!({"path": "/entry"}), &none),
        json!("UnsupportedType")
    );
    assert_eq!(var("error_kind", json!({"path": t}), &none), json!("ok"));
    assert_eq!(
        var("slice_error", json!({"path": t}), &none),
        json!("OutOfBounds")
    );
    assert_eq!(
        var("kind", json!({"path": "/entry"}), &none),
        json!("Some(Group)")
    );
    assert_eq!(
        var("kind", json!({"path": "/entry/nothing"}), &none),
        json!("None")
    );
    assert_eq!(
        var("slice", json!({"path": t}), &none),
        json!({"values": [291.5, 293.0], "shape": [2], "unit": "K"})
    );
    let mut vars = Vars::new();
    vars.insert("b".into(), Var::with_unit(json!([1, 2]), "mm"));
    assert_eq!(var("var", json!({"name": "b"}), &vars), json!([1, 2]));
    assert_eq!(var("var", json!({"name": "c"}), &vars), json!("undefined"));
    assert_eq!(var("log", json!(null), &none), json!(1));

    let mut t = host
        .instantiate(
            &wasm("hostile-plugin"),
            &json!({"hook": "transform", "mode": "context"}),
            &nexus,
        )
        .unwrap();
    t.set_api_version(scicat_ingestor::api::ApiVersion::V4);
    let d = t.transform(serde_json::Map::new()).unwrap();
    assert_eq!(d["context"][0], "4");
    assert_eq!(d["context"][2], json!(nexus.path()));
}

#[test]
fn the_host_stays_healthy_after_every_misbehaviour() {
    let tmp = tempfile::tempdir().unwrap();
    let mut host = PluginHost::new(&opts(Path::new(&shared_cache()))).unwrap();
    let path = wasm("hostile-plugin");
    let vars = Vars::new();
    let mut files = 0;
    for mode in ["loop", "memory", "panic", "huge", "error"] {
        files += 1;
        let nexus = ess_file(tmp.path(), &format!("run_{files}.nxs"));
        let mut bad = host
            .instantiate(&path, &json!({"hook": "variable", "mode": mode}), &nexus)
            .unwrap();
        let e = bad.variable("answer", &Value::Null, &vars).unwrap_err();
        assert!(
            e.starts_with("plugin hostile (hostile_plugin.wasm): variables hook (variable \"answer\") failed: "),
            "{mode}: {e}"
        );
        // A trap ends the instance; an error or a refused value does not.
        let trapped = matches!(mode, "loop" | "memory" | "panic" | "huge");
        assert_eq!(bad.usable(), !trapped, "{mode}");
        let op = bad.operator("echo", &Var::new(json!("x")), &vars);
        if trapped {
            assert!(
                op.unwrap_err().contains("stopped earlier for this file"),
                "{mode}"
            );
        } else {
            assert_eq!(op.unwrap().value, json!("x"), "{mode}");
        }
        // The same host serves the same file and the next one.
        for nx in [
            nexus.clone(),
            ess_file(tmp.path(), &format!("next_{files}.nxs")),
        ] {
            let mut good = host.instantiate(&path, &json!({}), &nx).unwrap();
            assert_eq!(
                good.variable("answer", &Value::Null, &vars).unwrap(),
                Var::new(json!(42))
            );
            assert_eq!(
                good.variable("title", &Value::Null, &vars).unwrap().value,
                json!("odin")
            );
        }
    }
    // A failing init names the hook too.
    let nexus = ess_file(tmp.path(), "init.nxs");
    let e = host
        .instantiate(&path, &json!({"hook": "init", "mode": "panic"}), &nexus)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("init hook failed: it panicked"), "{e}");
}

#[test]
fn describe_reports_what_each_plugin_offers() {
    let o = opts(Path::new(&shared_cache()));
    let stats = plugin::describe(&wasm("array-stats"), &o).unwrap();
    assert_eq!(stats.name, "array-stats");
    assert_eq!(stats.wit_version, "0.2.0");
    assert_eq!(stats.hooks, [Hook::Variables, Hook::Operators]);
    assert_eq!(stats.variables, ["mean", "min", "max", "count"]);
    assert_eq!(stats.operators, ["mean", "min", "max"]);
    assert!(stats.implements(Hook::Variables) && !stats.implements(Hook::Select));

    let select = plugin::describe(&wasm("instrument-select"), &o).unwrap();
    assert_eq!(select.hooks, [Hook::Select, Hook::Variables]);
    let transform = plugin::describe(&wasm("title-keywords"), &o).unwrap();
    assert_eq!(transform.hooks, [Hook::Transform]);
    let hostile = plugin::describe(&wasm("hostile-plugin"), &o).unwrap();
    assert_eq!(
        hostile.hooks,
        [
            Hook::Select,
            Hook::Variables,
            Hook::Operators,
            Hook::Transform
        ]
    );
    assert!(hostile.variables.is_empty(), "`*` means any name");

    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.wasm");
    let e = format!("{:#}", plugin::describe(&missing, &o).unwrap_err());
    assert!(
        e.contains("missing.wasm") && e.contains("cannot read"),
        "{e}"
    );
    let junk = tmp.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").unwrap();
    let e = format!("{:#}", plugin::describe(&junk, &o).unwrap_err());
    assert!(e.contains("not a usable WebAssembly component"), "{e}");
}

#[test]
fn a_corrupt_or_stale_cache_entry_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path());
    let path = wasm("array-stats");
    let first = plugin::describe(&path, &o).unwrap();
    assert_eq!(first.origin, Origin::Compiled);
    let second = plugin::describe(&path, &o).unwrap();
    assert_eq!(second.origin, Origin::Cache);

    let entry = plugin::cache::entry_path(
        tmp.path(),
        plugin::engine::engine(),
        &std::fs::read(&path).unwrap(),
    );
    let good = std::fs::read(&entry).unwrap();
    let corruptions: Vec<(&str, Vec<u8>)> = vec![
        ("flipped byte", {
            let mut b = good.clone();
            let i = b.len() - 100;
            b[i] ^= 0xff;
            b
        }),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("garbage", b"garbage".to_vec()),
        ("other engine", {
            let mut b = good.clone();
            b[16 + 32] ^= 1; // the engine key
            b
        }),
        ("empty", Vec::new()),
    ];
    for (what, bytes) in corruptions {
        std::fs::write(&entry, &bytes).unwrap();
        let info = plugin::describe(&path, &o).unwrap_or_else(|e| panic!("{what}: {e:#}"));
        assert_eq!(info.origin, Origin::Compiled, "{what}");
        assert_eq!(info.variables, first.variables, "{what}");
        assert_eq!(std::fs::read(&entry).unwrap(), good, "{what}: rewritten");
        assert_eq!(
            plugin::describe(&path, &o).unwrap().origin,
            Origin::Cache,
            "{what}"
        );
    }
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn schemas_are_checked_against_what_the_plugin_declares() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = example_schemas("array-stats", tmp.path());
    let set = scicat_ingestor::schema::SchemaSet::load_dir(&schemas, None).unwrap();
    let schema = &set.schemas[0];
    let o = opts(Path::new(&shared_cache()));
    let stats = plugin::describe(&wasm("array-stats"), &o).unwrap();
    assert!(stats.check_schema(schema).is_empty());
    let transform = plugin::describe(&wasm("title-keywords"), &o).unwrap();
    let problems = transform.check_schema(schema);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`temperature_mean` asks the plugin for `mean`"))
            && problems.iter().any(|p| p.contains("operator plugin:mean")),
        "{problems:#?}"
    );
}

/// The golden test case each example plugin ships (`example-plugins/*/tests/`)
/// passes through `scicat-ingestor test`, offline, with the plugin sandboxed.
#[test]
fn each_example_plugin_ships_a_passing_golden_case() {
    for (example, title) in [
        ("array-stats", None),
        ("instrument-select", None),
        ("title-keywords", Some("LaB6   powder _saxs_290K")),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        example_schemas(example, tmp.path());
        let cases = tmp.path().join("tests");
        std::fs::create_dir_all(&cases).unwrap();
        let src = repo().join("example-plugins").join(example).join("tests");
        for name in [
            format!("{example}.case.yml"),
            format!("{example}.expected.json"),
        ] {
            std::fs::copy(src.join(&name), cases.join(&name))
                .unwrap_or_else(|e| panic!("{example}: {name}: {e}"));
        }
        let mut e = Ess::default();
        if let Some(t) = title {
            e.title = t.into();
        }
        fixtures::ess_in_tree(&cases.join("fixture"), "run_31010.nxs", &e);
        let case = cases.join(format!("{example}.case.yml"));
        let xdg = wasm_target_dir().join("xdg-cache");
        let run = ingestor(
            &["test", case.to_str().unwrap()],
            &[("XDG_CACHE_HOME", xdg.to_str().unwrap())],
        );
        assert_eq!(run.code, 0, "{example}:\n{}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("PASS"), "{example}: {}", run.stdout);
    }
}

/// `validate` loads the plugin a schema names and reports what the schema
/// uses but the plugin does not offer.
#[test]
fn validate_reports_plugins_lacking_what_the_schema_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = example_schemas("array-stats", tmp.path());
    let file = schemas.join("array-stats.imsc.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // array-stats has no select hook and no `median`.
    s["selector"] = json!({"and": ["plugin", "filename:contains:x"]});
    s["variables"]["temperature_log_mean"]["operator"] = json!("plugin:median");
    std::fs::write(&file, s.to_string()).unwrap();
    let xdg = wasm_target_dir().join("xdg-cache");
    let run = ingestor(
        &["validate", schemas.to_str().unwrap()],
        &[("XDG_CACHE_HOME", xdg.to_str().unwrap())],
    );
    assert_ne!(run.code, 0, "{}", run.stdout);
    let errors: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("array-stats.imsc.json: error: `plugin`"))
        .collect();
    assert!(
        errors.iter().any(|l| l.contains("no select hook")),
        "{}",
        run.stdout
    );
    assert!(
        errors.iter().any(|l| l.contains("plugin:median")),
        "{}",
        run.stdout
    );
    // The unmodified example validates cleanly.
    let clean = example_schemas("array-stats", &tmp.path().join("clean"));
    let run = ingestor(
        &["validate", clean.to_str().unwrap()],
        &[("XDG_CACHE_HOME", xdg.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
}

// ------------------------------------------------ cache entries forged by an attacker

/// The unkeyed checksum the cache used to store in each entry: what anyone
/// who can write the folder can recompute.
fn unkeyed(payload: &[u8]) -> Vec<u8> {
    blake2b_simd::Params::new()
        .hash_length(32)
        .hash(payload)
        .as_bytes()
        .to_vec()
}

const HEADER: usize = 16 + 3 * 32 + 8;

/// `header` with `payload`, its length and the unkeyed checksum put in.
fn forge(header: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut b = header[..HEADER].to_vec();
    b[16 + 64..16 + 96].copy_from_slice(&unkeyed(payload));
    b[16 + 96..HEADER].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    b.extend_from_slice(payload);
    b
}

/// A private cache folder with a valid entry for array-stats: (folder,
/// options, entry path, entry bytes).
fn cache_with_entry() -> (tempfile::TempDir, PluginOptions, PathBuf, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path());
    let path = wasm("array-stats");
    assert_eq!(
        plugin::describe(&path, &o).unwrap().origin,
        Origin::Compiled
    );
    let entry = plugin::cache::entry_path(
        tmp.path(),
        plugin::engine::engine(),
        &std::fs::read(&path).unwrap(),
    );
    let good = std::fs::read(&entry).unwrap();
    (tmp, o, entry, good)
}

/// Bound: a forged entry is never loaded (the plugin is recompiled and
/// describes itself as array-stats), and it is replaced by a good one.
#[test]
fn cache_entries_forged_with_a_recomputed_checksum_are_not_run() {
    let (tmp, o, entry, good) = cache_with_entry();
    // Another component's compiled code, under array-stats' name.
    let hostile = plugin::describe(&wasm("hostile-plugin"), &o).unwrap();
    assert_eq!(hostile.name, "hostile");
    let hostile_entry = plugin::cache::entry_path(
        tmp.path(),
        plugin::engine::engine(),
        &std::fs::read(wasm("hostile-plugin")).unwrap(),
    );
    let other_code = std::fs::read(&hostile_entry).unwrap()[HEADER..].to_vec();
    let mut patched = good[HEADER..].to_vec();
    let i = patched.len() - 100;
    patched[i] ^= 0xff;
    for (what, bytes) in [
        ("patched code, checksum recomputed", forge(&good, &patched)),
        (
            "swapped code, checksum recomputed",
            forge(&good, &other_code),
        ),
    ] {
        std::fs::write(&entry, &bytes).unwrap();
        let info = plugin::describe(&wasm("array-stats"), &o).unwrap();
        assert_eq!(info.origin, Origin::Compiled, "{what}");
        assert_eq!(info.name, "array-stats", "{what}");
        assert_eq!(std::fs::read(&entry).unwrap(), good, "{what}: rewritten");
    }
}

/// Bound: a symlink is not followed and a FIFO does not block the load
/// (it returns within 60 s; before, it waited forever for a writer).
#[test]
fn cache_entries_that_are_symlinks_or_fifos_are_replaced_without_reading_them() {
    let (tmp, o, entry, good) = cache_with_entry();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let target = elsewhere.join("entry");
    std::fs::write(&target, &good).unwrap();
    std::fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&target, &entry).unwrap();
    let info = plugin::describe(&wasm("array-stats"), &o).unwrap();
    assert_eq!(info.origin, Origin::Compiled, "symlink followed");
    assert!(entry.symlink_metadata().unwrap().is_file());

    std::fs::remove_file(&entry).unwrap();
    let c = std::ffi::CString::new(entry.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let o2 = o.clone();
    std::thread::spawn(move || {
        let _ = tx.send(plugin::describe(&wasm("array-stats"), &o2).map(|i| i.origin));
    });
    let origin = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a FIFO as cache entry blocks the load")
        .unwrap();
    assert_eq!(origin, Origin::Compiled);
    assert!(entry.symlink_metadata().unwrap().is_file());
}

/// This process's peak resident memory (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb << 10
}

/// Bound: a 2 GiB sparse entry with a valid header is refused by its size,
/// unread: the peak memory of the process stays under 1 GiB (reading it
/// whole took 2 GiB).
#[test]
fn a_huge_sparse_cache_entry_is_refused_before_reading() {
    let (_tmp, o, entry, good) = cache_with_entry();
    let f = std::fs::File::create(&entry).unwrap();
    use std::io::Write;
    (&f).write_all(&good[..HEADER]).unwrap();
    f.set_len(2 << 30).unwrap();
    drop(f);
    let info = plugin::describe(&wasm("array-stats"), &o).unwrap();
    assert_eq!(info.origin, Origin::Compiled);
    let peak = peak_rss();
    assert!(peak < 1 << 30, "peak RSS {} MiB", peak >> 20);
    assert_eq!(std::fs::read(&entry).unwrap(), good);
}

/// Bound: entries and folders other users could have written are never
/// loaded: a group/world-writable folder or one owned by someone else is
/// not used at all (nothing is written to it), an entry owned by someone
/// else or readable by others is recompiled.
#[test]
fn cache_folders_and_entries_others_could_write_are_not_trusted() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = unsafe { libc::geteuid() } == 0;
    let (tmp, o, entry, good) = cache_with_entry();
    // Made private: entry 0600, key 0600 outside the folder, a new folder
    // 0700 (an existing one only has to be closed to writes by others).
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(&entry), 0o600);
    let key = plugin::cache::key::path().unwrap();
    assert_eq!(mode(&key), 0o600);
    assert!(!key.starts_with(tmp.path()));
    let fresh = tmp.path().join("new/cache");
    let o_fresh = opts(&fresh);
    plugin::describe(&wasm("array-stats"), &o_fresh).unwrap();
    assert_eq!(mode(&fresh), 0o700);

    let set_mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let chown = |p: &Path, uid: u32| {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, u32::MAX) }, 0);
    };
    set_mode(&entry, 0o644);
    assert_eq!(
        plugin::describe(&wasm("array-stats"), &o).unwrap().origin,
        Origin::Compiled
    );
    assert_eq!(mode(&entry), 0o600);
    if root {
        chown(&entry, 65534);
        assert_eq!(
            plugin::describe(&wasm("array-stats"), &o).unwrap().origin,
            Origin::Compiled
        );
        assert_eq!(std::fs::metadata(&entry).unwrap().uid(), 0);
    }

    // A folder others can write: not used (the entry in it stays as it is).
    set_mode(tmp.path(), 0o777);
    std::fs::remove_file(&entry).unwrap();
    for _ in 0..2 {
        let info = plugin::describe(&wasm("array-stats"), &o).unwrap();
        assert_eq!(info.origin, Origin::Compiled, "world-writable folder");
    }
    assert!(
        !entry.exists(),
        "an entry was written to a world-writable folder"
    );
    set_mode(tmp.path(), 0o700);
    if root {
        chown(tmp.path(), 65534);
        plugin::describe(&wasm("array-stats"), &o).unwrap();
        assert_eq!(
            plugin::describe(&wasm("array-stats"), &o).unwrap().origin,
            Origin::Compiled
        );
        assert!(
            !entry.exists(),
            "an entry was written to another user's folder"
        );
        chown(tmp.path(), 0);
    }
    std::fs::write(&entry, &good).unwrap();
    set_mode(&entry, 0o600);
    assert_eq!(
        plugin::describe(&wasm("array-stats"), &o).unwrap().origin,
        Origin::Cache
    );
}

/// Bound: entries unused for 60 days are evicted, and the folder keeps at
/// most 64 entries.
#[test]
fn old_cache_entries_are_evicted() {
    let (tmp, o, entry, _) = cache_with_entry();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(90 * 24 * 3600);
    let mut planted = Vec::new();
    for i in 0..70 {
        let p = tmp.path().join(format!("{i:032x}-0000000000000000.cwasm"));
        let f = std::fs::File::create(&p).unwrap();
        if i == 0 {
            f.set_modified(old).unwrap();
        }
        planted.push(p);
    }
    std::fs::remove_file(&entry).unwrap();
    plugin::describe(&wasm("array-stats"), &o).unwrap();
    assert!(entry.exists());
    assert!(!planted[0].exists(), "an entry idle for 90 days was kept");
    let left = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".cwasm")
        })
        .count();
    assert!(left <= 64, "{left} entries left");
}

// ------------------------------------------------ host reads a plugin asks for

/// An ESS file plus `/entry/big` with datasets made to hurt a host that
/// reads before it checks: unwritten chunked datasets cost nothing on disk
/// but their full size in memory when read.
fn big_file(dir: &Path) -> Arc<NexusFile> {
    use hdf5::types::FixedAscii;
    let p = fixtures::ess_in_tree(dir, "big.nxs", &Ess::default());
    {
        let f = hdf5::File::open_rw(&p).unwrap();
        let g = f.create_group("/entry/big").unwrap();
        // 512 MiB of text in only 131072 strings.
        g.new_dataset::<FixedAscii<4096>>()
            .chunk(1024)
            .shape(131_072)
            .create("strings")
            .unwrap();
        // 512 MiB of floats; a fill value makes HDF5 write every byte.
        g.new_dataset::<f64>()
            .fill_value(1.5)
            .chunk(1 << 16)
            .shape(1 << 26)
            .create("floats")
            .unwrap();
        // 2^32 x 2^32 elements: the count wraps to 0 in 64 bits (made with
        // the C API: the hdf5 crate's own size arithmetic overflows).
        hdf5::sync::sync(|| unsafe {
            use hdf5_sys::{h5d, h5p, h5s};
            let dims = [1u64 << 32, 1u64 << 32];
            let space = h5s::H5Screate_simple(2, dims.as_ptr(), std::ptr::null());
            assert!(space >= 0);
            let dcpl = h5p::H5Pcreate(*hdf5::globals::H5P_DATASET_CREATE);
            assert!(h5p::H5Pset_chunk(dcpl, 2, [1u64, 1].as_ptr()) >= 0);
            let name = std::ffi::CString::new("overflow").unwrap();
            let ds = h5d::H5Dcreate2(
                g.id(),
                name.as_ptr(),
                *hdf5::globals::H5T_NATIVE_DOUBLE,
                space,
                h5p::H5P_DEFAULT,
                dcpl,
                h5p::H5P_DEFAULT,
            );
            assert!(ds >= 0, "HDF5 refuses the crafted shape");
            h5d::H5Dclose(ds);
            h5p::H5Pclose(dcpl);
            h5s::H5Sclose(space);
        });
    }
    Arc::new(NexusFile::open(&p).unwrap())
}

fn read_with(
    host: &mut PluginHost,
    nexus: &Arc<NexusFile>,
    path: &str,
) -> (Result<Var, String>, std::time::Duration) {
    let mut inst = host
        .instantiate(
            &wasm("hostile-plugin"),
            &json!({"hook": "variable", "mode": "read", "path": path}),
            nexus,
        )
        .unwrap();
    let t0 = std::time::Instant::now();
    let r = inst.variable("answer", &Value::Null, &Vars::new());
    (r, t0.elapsed())
}

/// Bounds: a 512 MiB read of strings (131072 of them) and a shape whose
/// element count wraps are refused before the host reads anything (peak
/// memory of the process under 1 GiB; before, the first took 512 MiB+ and
/// the second made the host allocate until killed or overrun its buffer).
#[test]
fn host_reads_are_checked_against_the_memory_budget_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let nexus = big_file(tmp.path());
    let mut host = PluginHost::new(&opts(Path::new(&shared_cache()))).unwrap();
    let (r, _) = read_with(&mut host, &nexus, "/entry/big/strings");
    let e = r.unwrap_err();
    assert!(
        e.contains("/entry/big/strings: reading it takes about 515 MiB"),
        "{e}"
    );
    let (r, _) = read_with(&mut host, &nexus, "/entry/big/overflow");
    let e = r.unwrap_err();
    assert!(e.contains("its size overflows"), "{e}");
    // The same crafted shape through a schema NXS variable.
    let e = nexus.read("/entry/big/overflow").unwrap_err();
    assert!(e.contains("more elements than memory can hold"), "{e}");
    let peak = peak_rss();
    assert!(peak < 1 << 30, "peak RSS {} MiB", peak >> 20);
}

/// Bound: a 512 MiB host read under a 20 ms limit is cut between pieces
/// (it returns within 3 s, and the process's peak memory stays under
/// 384 MiB) instead of running to the end (512 MiB and more).
#[test]
fn long_host_reads_stop_at_the_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let nexus = big_file(tmp.path());
    let mut o = opts(Path::new(&shared_cache()));
    o.max_memory_mb = 2048;
    o.timeout_ms = 20;
    let mut host = PluginHost::new(&o).unwrap();
    let (r, took) = read_with(&mut host, &nexus, "/entry/big/floats");
    let e = r.unwrap_err();
    assert!(
        e.contains("it ran longer than its time limit of 20 ms"),
        "{e}"
    );
    assert!(took.as_secs_f64() < 3.0, "took {took:?}");
    let peak = peak_rss();
    assert!(peak < 384 << 20, "peak RSS {} MiB", peak >> 20);
}

// ------------------------------------------------ what a plugin says, and why it stopped

/// Bound: a 1 MiB error message with control characters and a forged log
/// line stays one log line of at most a few KiB, escaped.
#[test]
fn plugin_text_cannot_forge_log_lines() {
    let (run, _) = hostile_run("variable", "forge");
    run.ok();
    for line in run.stderr.lines() {
        assert!(line.len() < 8192, "a {} byte log line", line.len());
        assert!(!line.starts_with("[2026-01-01"), "forged line: {line}");
        assert!(!line.contains('\u{1b}'), "terminal code: {line:?}");
    }
    assert!(
        run.stderr
            .contains("refused\\u{1b}[31m\\n[2026-01-01T00:00:00Z INFO  scicat_ingestor] dataset"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("more bytes)"), "{}", run.stderr);
}

/// `exit(3)` is `exit(1)` for WASIp2, which only tells success from
/// failure.
#[test]
fn wasi_exit_is_reported_as_such() {
    assert_variable_stopped("exit", "it called exit(1)");
}

/// A Rust plugin's stack lives in its linear memory: its overflow traps as
/// an access out of bounds, which the reason explains.
#[test]
fn a_stack_overflow_is_reported_as_such() {
    assert_variable_stopped(
        "recurse",
        "it accessed memory out of bounds (in a Rust or C plugin, usually its stack overflowed",
    );
}

/// A failing `select` is reported even when, because of it, no schema
/// matches.
#[test]
fn a_failing_select_is_reported_when_no_schema_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = hostile_case(tmp.path(), json!({"hook": "select", "mode": "panic"}), true);
    std::fs::remove_file(schemas.join("plain.imsc.json")).unwrap();
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &Ess::default());
    let run = dry_run(tmp.path(), &plugin_config(&schemas, tight()), &data, &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains(
            "select hook failed: it panicked: hostile plugin panics on purpose in select"
        ),
        "{}",
        run.stderr
    );
}

/// Random bytes (here: std's hash seed) are the same for the same file
/// and differ between files.
#[test]
fn plugin_randomness_is_seeded_by_the_data_file() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = hostile_case(tmp.path(), json!({}), false);
    let config = plugin_config(&schemas, json!({}));
    let seed = |name: &str| {
        let data = fixtures::ess_in_tree(tmp.path(), name, &Ess::default());
        let run = dry_run(tmp.path(), &config, &data, &[]);
        run.ok();
        run.json()["dataset"]["scientificMetadata"]["probe"]["value"]["hash_seed"].clone()
    };
    let a = seed("run_1.nxs");
    assert_eq!(a, seed("run_1.nxs"));
    assert_ne!(a, seed("run_2.nxs"));
}

/// Runs the ingestor, killing it after `limit`; `None` if it had to be
/// killed.
fn ingestor_within(args: &[&str], limit: std::time::Duration) -> Option<Run> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scicat-ingestor"))
        .args(args)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Some(Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Bound: an ingestion whose schema names a FIFO, /dev/zero or a 64 MiB
/// (sparse) file as its plugin ends within 60 s with a reason, having read
/// nothing (before, the first two hung or ate memory).
#[test]
fn plugin_paths_that_are_fifos_devices_or_huge_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo.wasm");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let huge = tmp.path().join("huge.wasm");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &Ess::default());
    for (path, reason) in [
        (fifo.as_path(), "not a regular file"),
        (Path::new("/dev/zero"), "not a regular file"),
        (huge.as_path(), "more than the 16777216 allowed"),
    ] {
        let dir = tmp.path().join(format!(
            "case-{}",
            path.file_name().unwrap().to_string_lossy()
        ));
        let schemas = example_schemas("array-stats", &dir);
        let file = schemas.join("array-stats.imsc.json");
        let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        s["plugin"]["path"] = json!(path);
        std::fs::write(&file, s.to_string()).unwrap();
        let cfg = write_config(&dir, &plugin_config(&schemas, json!({})));
        let run = ingestor_within(
            &[
                "-c",
                cfg.to_str().unwrap(),
                "--nexus-file",
                data.to_str().unwrap(),
                "--dry-run",
            ],
            std::time::Duration::from_secs(60),
        )
        .unwrap_or_else(|| panic!("{}: the ingestion hangs", path.display()));
        assert_ne!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains(reason),
            "{}: {}",
            path.display(),
            run.stderr
        );
    }
}

/// Bound: compiling runs in a child process with a CPU limit (60 s; made
/// 1 s here, less than the ~3 s a debug build needs for array-stats): the
/// compiler is stopped, the load fails with the reason, within 30 s.
#[test]
fn compilation_is_bounded_by_a_cpu_limit_in_a_child_process() {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = example_schemas("array-stats", tmp.path());
    let mut config = plugin_config(&schemas, json!({}));
    config["plugins"]["cache_dir"] = json!("off");
    let cfg = write_config(tmp.path(), &config);
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &Ess::default());
    let t0 = std::time::Instant::now();
    let run = ingestor(
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--nexus-file",
            data.to_str().unwrap(),
            "--dry-run",
        ],
        &[("SCICAT_PLUGIN_COMPILE_CPU_SECS", "1")],
    );
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("compiling it took more than 1 s of CPU time: refused"),
        "{}",
        run.stderr
    );
    assert!(t0.elapsed().as_secs() < 30, "took {:?}", t0.elapsed());
}

/// The key is made on first use (0600, in the user's config folder, not the
/// cache folder); entries made with another key are not trusted.
#[test]
fn the_cache_key_is_made_on_first_use_and_entries_need_it() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let schemas = example_schemas("array-stats", tmp.path());
    let mut config = plugin_config(&schemas, json!({}));
    config["plugins"]["cache_dir"] = json!("");
    let cfg = write_config(tmp.path(), &config);
    let data = fixtures::ess_in_tree(tmp.path(), "run_1.nxs", &Ess::default());
    let run = |xdg_config: &Path| {
        let r = ingestor(
            &[
                "-c",
                cfg.to_str().unwrap(),
                "--nexus-file",
                data.to_str().unwrap(),
                "--dry-run",
            ],
            &[
                ("XDG_CACHE_HOME", tmp.path().join("cache").to_str().unwrap()),
                ("XDG_CONFIG_HOME", xdg_config.to_str().unwrap()),
            ],
        );
        r.ok();
        r.stderr
    };
    let mine = tmp.path().join("config");
    assert!(run(&mine).contains("(compiled;"));
    let key = mine.join("scicat-ingestor/plugin-cache.key");
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.len()), (0o600, 32));
    assert!(run(&mine).contains("from the compiled-code cache"));
    // Same folder, another key (another user's, or a copied header): recompiled.
    let other = run(&tmp.path().join("other-config"));
    assert!(
        other.contains("(compiled;") && other.contains("authentication code does not match"),
        "{other}"
    );
}

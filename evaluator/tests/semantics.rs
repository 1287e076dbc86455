//! Schema semantics end to end against an in-memory data file: a schema as
//! written, evaluated with the built-ins, an answering SciCat and a plugin,
//! and the fields it renders. No HDF5, no network.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Value, json};

use scicat_evaluator::data::Data;
use scicat_evaluator::evaluate::{
    self, BUILTINS, Env, Failure, PluginHooks, ScFetch, VALUE_TYPES, Var, Vars,
};
use scicat_evaluator::memfile::MemFile;
use scicat_evaluator::schema::{self, Schema};

fn schema(variables: Value, fields: Value) -> Schema {
    let doc = json!({"id": "t", "name": "t", "order": 1, "selector": "*",
                     "variables": variables, "schema": fields});
    let mut diags = Vec::new();
    schema::from_value(&doc, Path::new("t.imsc.json"), &mut diags).unwrap()
}

fn file() -> MemFile {
    MemFile::new()
        .text("/entry/title", "LaB6 powder")
        .text("/entry/experiment_identifier", "443503")
        .floats("/entry/sample/temperature", &[290.0, 291.5])
        .with_units("/entry/sample/temperature", "K")
        .int("/entry/a1/count", 1)
        .int("/entry/a2/count", 2)
        .dataset("/entry/empty", Data::Floats(vec![]), &[0])
        .dataset("/entry/bad", Data::Floats(vec![f64::NAN, 1.0]), &[2])
        .text("/entry/mangled", "caf\u{fffd}")
}

/// SciCat replies by url; anything else is a 404.
struct Replies(HashMap<String, Value>);

impl ScFetch for Replies {
    fn get_json(&self, url: &str) -> Result<Value, String> {
        self.0
            .get(url)
            .cloned()
            .ok_or_else(|| format!("GET {url} answered 404"))
    }
}

fn replies() -> Replies {
    Replies(HashMap::from([
        (
            "proposals/443503".to_string(),
            json!({"pi_firstname": "Jane", "pi_lastname": "Doe"}),
        ),
        (
            "instruments".to_string(),
            json!([{"id": "i-1", "name": "coda"}]),
        ),
    ]))
}

/// Evaluates `s` on `f` without a plugin: the variables and the failures.
fn evaluate(s: &Schema, f: &MemFile) -> (Vars, Vec<Failure>) {
    let mut vars = evaluate::builtins("/ess/443503/raw/run.nxs", "../ingestor", &s.id);
    let sc = replies();
    let mut env = Env {
        nexus: f,
        scicat: &sc,
        plugin: None,
    };
    let failures = evaluate::evaluate_variables(s, &mut vars, &mut env);
    (vars, failures)
}

/// As [`evaluate`], the failures by name.
fn run(s: &Schema, f: &MemFile) -> (Vars, HashMap<String, String>) {
    let (vars, failures) = evaluate(s, f);
    (vars, by_name(&failures))
}

fn by_name(failures: &[Failure]) -> HashMap<String, String> {
    failures
        .iter()
        .map(|f| (f.name.clone(), f.reason.clone()))
        .collect()
}

#[test]
fn nxs_values_follow_value_types_units_and_wildcards() {
    let s = schema(
        json!({
            "title": {"source": "NXS", "path": "/entry/title", "value_type": "string"},
            "proposal": {"source": "NXS", "path": "/entry/experiment_identifier", "value_type": "integer"},
            "temps": {"source": "NXS", "path": "/entry/sample/temperature", "value_type": "float[]"},
            "temps_unit": {"source": "NXS", "path": "/entry/title", "value_type": "string", "unit": "none"},
            "counts": {"source": "NXS", "path": "/entry/*/count", "value_type": "integer[]", "unit": "n"},
            "one_count": {"source": "NXS", "path": "/entry/*/count", "value_type": "integer"},
            "empty": {"source": "NXS", "path": "/entry/empty", "value_type": "float"},
            "empty_list": {"source": "NXS", "path": "/entry/empty", "value_type": "float[]"},
            "missing": {"source": "NXS", "path": "/entry/nope/x", "value_type": "string"}
        }),
        json!({}),
    );
    let (vars, failed) = run(&s, &file());
    assert_eq!(vars["title"], Var::new(json!("LaB6 powder")));
    assert_eq!(vars["proposal"].value, json!(443503));
    // The file's units win; the definition's unit is the fallback.
    assert_eq!(vars["temps"], Var::with_unit(json!([290.0, 291.5]), "K"));
    assert_eq!(vars["temps_unit"].unit, "none");
    assert_eq!(vars["counts"], Var::with_unit(json!([1, 2]), "n"));
    assert_eq!(vars["empty_list"].value, json!([]));
    assert_eq!(
        failed["one_count"],
        "/entry/*/count matches 2 objects; use a list value type (e.g. string[]) to get them all"
    );
    assert_eq!(
        failed["empty"],
        "/entry/empty is empty (no value to read; a list value type gives [])"
    );
    assert_eq!(failed["missing"], "no object `nope` in /entry");
    assert_eq!(failed.len(), 3, "{failed:?}");
}

#[test]
fn sc_lookups_operators_and_the_root_cause_of_failures() {
    let s = schema(
        json!({
            "proposal": {"source": "NXS", "path": "/entry/experiment_identifier", "value_type": "string"},
            "pi_first": {"source": "SC", "url": "proposals/<proposal>", "field": "pi_firstname", "value_type": "string"},
            "pi": {"source": "VALUE", "value": "<pi_first> Doe", "operator": "to_upper", "value_type": "string"},
            "instruments": {"source": "SC", "url": "instruments", "field": "", "value_type": "list"},
            "instrument_id": {"source": "VALUE", "value": "<instruments>", "operator": "getitem", "field": 0, "value_type": "dict"},
            "no_field": {"source": "SC", "url": "proposals/<proposal>", "field": "email", "value_type": "string"},
            "not_object": {"source": "SC", "url": "instruments", "field": "id", "value_type": "string"},
            "gone": {"source": "SC", "url": "proposals/1", "field": "x", "value_type": "string"},
            "uses_gone": {"source": "VALUE", "value": "<gone>-<gone>", "value_type": "string"},
            "uses_gone_and_unknown": {"source": "VALUE", "value": "<gone> <later>", "value_type": "string"},
            "folder": {"source": "VALUE", "value": "<data_file_path>", "operator": "dirname-2", "value_type": "string"},
            "later": {"source": "VALUE", "value": "x", "value_type": "string"}
        }),
        json!({}),
    );
    let (vars, failed) = run(&s, &file());
    assert_eq!(vars["pi"].value, json!("JANE DOE"));
    assert_eq!(
        vars["instrument_id"].value,
        json!({"id": "i-1", "name": "coda"})
    );
    assert_eq!(vars["folder"].value, json!("/ess/443503"));
    assert_eq!(
        failed["no_field"],
        "the reply from proposals/443503 has no field `email`"
    );
    assert_eq!(
        failed["not_object"],
        "the reply from instruments is a list, not an object with field `id`"
    );
    assert_eq!(failed["gone"], "GET proposals/1 answered 404");
    // All references to failed variables: named as the root cause.
    assert_eq!(failed["uses_gone"], "uses gone and gone, which failed");
    // One is merely undefined (defined later): the references as they are.
    assert_eq!(
        failed["uses_gone_and_unknown"],
        "unresolved references <gone>, <later> in \"<gone> <later>\""
    );
    assert_eq!(failed.len(), 5, "{failed:?}");
}

/// A plugin whose variable hook answers `answer` and whose operator `rev`
/// reverses text; anything else fails.
struct Plugin;

impl PluginHooks for Plugin {
    fn variable(&mut self, name: &str, args: &Value, _: &Vars) -> Result<Var, String> {
        match name {
            "answer" => Ok(Var::new(json!(args["base"].as_i64().unwrap_or(0) + 42))),
            other => Err(format!("no variable {other}")),
        }
    }
    fn operator(&mut self, name: &str, value: &Var, _: &Vars) -> Result<Var, String> {
        match name {
            "rev" => Ok(Var::with_unit(
                json!(
                    evaluate::text(&value.value)
                        .chars()
                        .rev()
                        .collect::<String>()
                ),
                "u",
            )),
            other => Err(format!("no operator {other}")),
        }
    }
}

#[test]
fn plugin_sources_and_operators_go_through_the_hooks() {
    let s = schema(
        json!({
            "answer": {"source": "PLUGIN", "args": {"base": 1}, "value_type": "integer", "unit": "s"},
            "other": {"source": "PLUGIN", "value_type": "integer"},
            "backwards": {"source": "VALUE", "value": "abc", "operator": "plugin:rev", "value_type": "string"}
        }),
        json!({}),
    );
    let f = file();
    let sc = replies();
    let mut plugin = Plugin;
    let mut vars = Vars::new();
    let mut env = Env {
        nexus: &f,
        scicat: &sc,
        plugin: Some(&mut plugin),
    };
    let failed = by_name(&evaluate::evaluate_variables(&s, &mut vars, &mut env));
    assert_eq!(vars["answer"], Var::with_unit(json!(43), "s"));
    assert_eq!(vars["backwards"], Var::with_unit(json!("cba"), "u"));
    assert_eq!(failed["other"], "no variable other");
    // Without a plugin, each says what it needs.
    let (_, failed) = run(&s, &f);
    assert_eq!(failed["answer"], "a PLUGIN variable needs a schema plugin");
    assert_eq!(
        failed["backwards"],
        "operator plugin:rev needs a schema plugin"
    );
}

#[test]
fn fields_render_high_level_and_scientific_metadata() {
    let s = schema(
        json!({
            "title": {"source": "NXS", "path": "/entry/title", "value_type": "string"},
            "temps": {"source": "NXS", "path": "/entry/sample/temperature", "value_type": "float[]"},
            "gone": {"source": "SC", "url": "proposals/1", "field": "x", "value_type": "string"}
        }),
        json!({
            "name": {"field_type": "high_level", "machine_name": "datasetName", "value": "<title>", "type": "string"},
            "t": {"field_type": "scientific_metadata", "machine_name": "temperature", "value": "<temps>", "type": "float[]"},
            "t_mk": {"field_type": "scientific_metadata", "machine_name": "t_mk", "human_name": "T", "value": "<temps>", "type": "float[]", "unit": "mK"},
            "t_blank": {"field_type": "scientific_metadata", "machine_name": "t_blank", "human_name": "", "value": "<temps>", "type": "float[]", "unit": ""},
            "who": {"field_type": "high_level", "machine_name": "owner", "value": "<gone>", "type": "string"},
            "odd": {"field_type": "low_level", "machine_name": "x", "value": "1", "type": "string"}
        }),
    );
    let (vars, failed) = evaluate(&s, &file());
    let fields = evaluate::build_fields(&s, &vars, &failed);
    assert_eq!(fields.high_level["datasetName"], json!("LaB6 powder"));
    assert_eq!(
        fields.scientific["temperature"],
        json!({"value": [290.0, 291.5], "unit": "K", "human_name": "temperature", "type": "float[]"})
    );
    assert_eq!(
        fields.scientific["t_mk"],
        json!({"value": [290.0, 291.5], "unit": "mK", "human_name": "T", "type": "float[]"})
    );
    // Blank unit and human name: the value's unit and the machine name.
    assert_eq!(
        fields.scientific["t_blank"],
        json!({"value": [290.0, 291.5], "unit": "K", "human_name": "t_blank", "type": "float[]"})
    );
    assert_eq!(fields.ignored, ["odd"]);
    assert_eq!(
        by_name(&fields.failures)["owner"],
        "uses gone, which failed"
    );
    assert_eq!(
        evaluate::describe_failures("field", &fields.failures),
        "1 field failed and is left out: owner (\"<gone>\"): uses gone, which failed"
    );
}

#[test]
fn values_not_as_in_the_file_are_reported() {
    let s = schema(
        json!({
            "bad": {"source": "NXS", "path": "/entry/bad", "value_type": "list"},
            "mangled": {"source": "NXS", "path": "/entry/mangled", "value_type": "string"},
            "title": {"source": "NXS", "path": "/entry/title", "value_type": "string"}
        }),
        json!({}),
    );
    let (vars, failed) = run(&s, &file());
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(vars["bad"].value, json!([null, 1.0]));
    let problems = by_name(&evaluate::read_problems(&s, &vars));
    assert_eq!(problems["bad"], "1 NaN or infinite number sent as null");
    assert_eq!(
        problems["mangled"],
        "1 string with bytes that are not UTF-8, sent with U+FFFD in their place"
    );
    assert_eq!(problems.len(), 2);
    assert_eq!(
        evaluate::describe_read_problems(&evaluate::read_problems(&s, &vars)),
        "2 variables read with a problem (the value is still sent): \
         bad ({\"source\":\"NXS\",\"path\":\"/entry/bad\",\"value_type\":\"list\"}): 1 NaN or infinite number sent as null; \
         mangled ({\"source\":\"NXS\",\"path\":\"/entry/mangled\",\"value_type\":\"string\"}): \
         1 string with bytes that are not UTF-8, sent with U+FFFD in their place"
    );
}

#[test]
fn the_builtins_are_the_listed_ones() {
    let b = evaluate::builtins("/a/b.nxs", "d", "s");
    let names: Vec<&str> = b.keys().map(String::as_str).collect();
    assert_eq!(names, BUILTINS);
}

#[test]
fn every_listed_value_type_converts_and_no_other_does() {
    for t in VALUE_TYPES {
        let sample = match *t {
            "none" => Value::Null,
            "dict" => json!({"a": 1}),
            "date" => json!("2024-01-01"),
            "list" | "string[]" | "integer[]" | "float[]" => json!([1]),
            _ => json!(1),
        };
        assert!(evaluate::convert(sample, t).is_ok(), "{t}");
    }
    let e = evaluate::convert(json!(1), "complex").unwrap_err();
    assert_eq!(e.to_string(), "unknown value type \"complex\"");
}

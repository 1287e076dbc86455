//! End to end, SciCat API v4: the built binary against the test server's
//! `/api/v4` routes (as strict as the backend's `CreateDatasetDto`): the
//! same deployed schema uploads in v4 shape, existence checks and resume use
//! v4, proposals and samples stay on v3, `auto` asks once, a v4 403 on the
//! origdatablock names the rights needed, and `validate` knows v4.

use crate::support;

use serde_json::{Value, json};
use support::fixtures::{self, Ess};
use support::scicat_server::v4::validate_dataset_v4;
use support::scicat_server::{ScicatServer, validate_origdatablock};
use support::*;

const PID: &str = "20.500.12269/f22acb1c-950b-11ef-a3ef-fa163e9aae0a";

struct Case {
    _tmp: tempfile::TempDir,
    config: std::path::PathBuf,
    data: std::path::PathBuf,
}

/// The coda-like test schema (v3 machine names) with `api_version`.
fn case(server: &ScicatServer, api_version: &str, change: impl FnOnce(&mut Value)) -> Case {
    let tmp = tempfile::tempdir().unwrap();
    let schemas = coda_schema_with(tmp.path(), change);
    let data = fixtures::ess_in_tree(tmp.path(), "small_coda_31010.hdf", &Ess::default());
    let mut cfg = config_for(&server.url, &schemas);
    cfg["scicat"]["api_version"] = json!(api_version);
    let config = write_config(tmp.path(), &cfg);
    Case {
        _tmp: tmp,
        config,
        data,
    }
}

impl Case {
    fn run(&self) -> Run {
        ingest(&self.config, &self.data, &[], &[])
    }
}

#[test]
fn a_v3_schema_uploads_in_v4_shape_to_the_v4_routes() {
    let server = ScicatServer::start();
    let c = case(&server, "v4", |_| {});
    let run = c.run();
    run.ok();
    let posted = server.requests_to("POST v4/datasets");
    assert_eq!(posted.len(), 1, "{:#?}", server.requests());
    let body = posted[0].body.clone().unwrap();
    assert!(
        validate_dataset_v4(Some(&body)).is_empty(),
        "{:?}",
        validate_dataset_v4(Some(&body))
    );
    assert_eq!(body["proposalIds"], json!(["443503"]));
    assert_eq!(body["instrumentIds"], json!(["inst-odin-1"]));
    assert_eq!(body["principalInvestigators"], json!(["Jane Doe"]));
    for k in ["proposalId", "instrumentId", "principalInvestigator"] {
        assert!(body.get(k).is_none(), "{k} in a v4 body: {body:#}");
    }
    let odb = server.requests_to("POST v4/origdatablocks");
    assert_eq!(odb.len(), 1);
    assert!(validate_origdatablock(odb[0].body.as_ref()).is_empty());
    // Nothing was created on v3; the existence check was on v4; the
    // proposal lookup stayed on v3.
    assert!(server.requests_to("POST datasets").is_empty());
    assert!(server.requests_to("POST origdatablocks").is_empty());
    assert!(
        !server
            .requests_to("GET v4/datasets/20.500.12269")
            .is_empty()
    );
    assert!(!server.requests_to("GET proposals/443503").is_empty());
    assert!(server.requests_to("GET v4/proposals").is_empty());
    assert!(run.stderr.contains("SciCat API v4"), "{}", run.stderr);
    assert!(run.last_line().contains(PID), "{}", run.last_line());

    // Run again: found on v4 with its datablock (listed through the v4
    // origdatablocks filter), nothing created.
    let again = c.run();
    again.ok();
    assert!(
        again.last_line().contains("already in SciCat"),
        "{}",
        again.stderr
    );
    assert_eq!(server.requests_to("POST v4/datasets").len(), 1);
    let listed = server.requests_to("GET v4/origdatablocks");
    assert_eq!(
        listed.last().unwrap().filter,
        Some(json!({"where": {"datasetId": PID}}))
    );
}

#[test]
fn a_failed_datablock_is_resumed_on_v4() {
    let server = ScicatServer::start();
    let c = case(&server, "v4", |_| {});
    server.fail("POST v4/origdatablocks", 400, 1);
    let first = c.run();
    assert_ne!(first.code, 0);
    assert!(first.last_line().contains("400"), "{}", first.stderr);
    assert_eq!(server.datasets().len(), 1);
    assert!(server.origdatablocks().is_empty());
    let second = c.run();
    second.ok();
    assert!(
        second.last_line().contains("added now"),
        "{}",
        second.stderr
    );
    assert_eq!(server.requests_to("POST v4/datasets").len(), 1);
    assert_eq!(server.origdatablocks().len(), 1);
}

#[test]
fn a_v4_403_on_the_datablock_names_the_update_rights() {
    let server = ScicatServer::start();
    server.state().no_dataset_update_rights = true;
    let c = case(&server, "v4", |_| {});
    let run = c.run();
    assert_ne!(run.code, 0);
    let last = run.last_line();
    assert!(last.contains("403"), "{last}");
    assert!(
        last.contains("update rights on dataset") && last.contains(PID),
        "{last}"
    );
    // v3 does not ask for them.
    let server = ScicatServer::start();
    server.state().no_dataset_update_rights = true;
    case(&server, "v3", |_| {}).run().ok();
}

#[test]
fn auto_asks_once_and_takes_what_the_server_serves() {
    let server = ScicatServer::start();
    let run = case(&server, "auto", |_| {}).run();
    run.ok();
    assert!(
        run.stderr
            .contains("SciCat API v4 (scicat.api_version auto"),
        "{}",
        run.stderr
    );
    assert_eq!(server.requests_to("POST v4/datasets").len(), 1);

    // A server without v4 (404 there) gets v3 bodies on v3.
    let server = ScicatServer::start();
    server.fail("GET v4/datasets", 404, 1);
    let run = case(&server, "auto", |_| {}).run();
    run.ok();
    assert!(
        run.stderr
            .contains("SciCat API v3 (scicat.api_version auto"),
        "{}",
        run.stderr
    );
    assert_eq!(server.requests_to("POST datasets").len(), 1);
    assert!(server.requests_to("POST v4/").is_empty());
    assert_eq!(
        server
            .requests_to("GET v4/datasets")
            .iter()
            .filter(|r| r.path == "v4/datasets")
            .count(),
        1,
        "asked once"
    );
}

#[test]
fn v4_sends_every_matching_sample_and_v3_the_first() {
    for (version, expected) in [
        ("v4", json!(["sample-1", "sample-2"])),
        ("v3", json!("sample-1")),
    ] {
        let server = ScicatServer::start();
        server.state().samples = vec![
            json!({"sampleId": "sample-1", "description": "A Sample", "proposalId": "443503"}),
            json!({"sampleId": "sample-2", "description": "A Sample", "proposalId": "443503"}),
        ];
        let run = case(&server, version, |s| {
            s["sample_attachment"] = json!({"query_sample_name": true});
        })
        .run();
        run.ok();
        let d = &server.datasets()[0];
        let key = if version == "v4" {
            "sampleIds"
        } else {
            "sampleId"
        };
        assert_eq!(d[key], expected, "{version}");
        assert_eq!(
            run.stderr.contains("takes one sampleId"),
            version == "v3",
            "{version}: {}",
            run.stderr
        );
        // Samples are looked up on v3 whatever the dataset API.
        assert_eq!(server.requests_to("GET samples").len(), 1);
    }
}

#[test]
fn a_schema_may_name_v4_fields_directly() {
    let server = ScicatServer::start();
    let change = |s: &mut Value| {
        s["schema"]["principal_investigator"]["machine_name"] = json!("principalInvestigators");
        s["schema"]["principal_investigator"]["value"] = json!(["Jane Doe", "John Roe"]);
        s["schema"]["principal_investigator"]["type"] = json!("string[]");
    };
    case(&server, "v4", change).run().ok();
    assert_eq!(
        server.datasets()[0]["principalInvestigators"],
        json!(["Jane Doe", "John Roe"])
    );
    // The same schema on v3: one string.
    let server = ScicatServer::start();
    case(&server, "v3", change).run().ok();
    assert_eq!(
        server.datasets()[0]["principalInvestigator"],
        json!("Jane Doe; John Roe")
    );
}

#[test]
fn v4_400s_are_shown_and_not_retried() {
    let server = ScicatServer::start();
    let c = case(&server, "v4", |s| {
        s["schema"]["contact_email"]["value"] = json!("not-an-email");
    });
    let run = c.run();
    assert_ne!(run.code, 0);
    // Caught before sending: the local v4 rules know contactEmail.
    assert!(server.requests_to("POST v4/datasets").is_empty());
    assert!(run.last_line().contains("contactEmail"), "{}", run.stderr);

    // A rule only the server knows: its list of messages is shown.
    let server = ScicatServer::start();
    let c = case(&server, "v4", |s| {
        s["schema"]["quality"] = json!({"field_type": "high_level",
            "machine_name": "dataQualityMetrics", "value": "high", "type": "string"});
    });
    let run = c.run();
    assert_ne!(run.code, 0);
    assert_eq!(server.requests_to("POST v4/datasets").len(), 1);
    let last = run.last_line();
    assert!(
        last.contains("400") && last.contains("dataQualityMetrics must be a number"),
        "{last}"
    );
}

#[test]
fn validate_knows_v4_fields_and_asks_v4_is_valid() {
    let server = ScicatServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let schemas = coda_schema_with(tmp.path(), |s| {
        s["schema"]["principal_investigator"]["machine_name"] = json!("principalInvestigators");
        s["schema"]["principal_investigator"]["type"] = json!("string[]");
        s["schema"]["principal_investigator"]["value"] = json!(["<pi_firstname> <pi_lastname>"]);
    });
    let mut cfg = config_for(&server.url, &schemas);
    cfg["scicat"]["api_version"] = json!("v4");
    let cfg = write_config(tmp.path(), &cfg);
    let run = ingestor(
        &[
            "validate",
            "-c",
            cfg.to_str().unwrap(),
            "--against",
            &server.url,
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let asked = server.requests_to("POST v4/datasets/isValid");
    assert_eq!(asked.len(), 1);
    assert!(
        validate_dataset_v4(asked[0].body.as_ref()).is_empty(),
        "{:?}",
        asked[0].body
    );
    assert!(server.requests_to("POST datasets/isValid").is_empty());
}

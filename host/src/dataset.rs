//! The bodies SciCat receives: the dataset (the schema's fields plus what the
//! ingestor sets itself, config defaults, pid rules, sample id; unknown fields
//! dropped; required fields checked) and its origdatablock. Also checks a body
//! against the backend's rules before anything is sent.

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use scicat_evaluator::vocabulary::{self, FieldKind};

use crate::api::{self, ApiVersion};
use crate::config::DatasetOptions;
use crate::evaluate::Fields;
use crate::files::FileEntry;

/// Properties the v3 dataset body accepts; anything else is rejected.
pub const DATASET_PROPERTIES: &[&str] = crate::api::V3_PROPERTIES;

/// Fields the ingestor insists on before a v3 upload.
pub const REQUIRED: &[&str] = crate::api::V3_REQUIRED;

/// Fields the v3 backend types as strings.
const STRING_FIELDS: &[&str] = scicat_evaluator::vocabulary::V3_TEXT_FIELDS;

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// Builds the dataset body from the rendered fields. `warnings` receives what
/// was dropped or defaulted; an error names required fields still missing.
pub fn assemble(
    fields: &Fields,
    files: &[FileEntry],
    sample_ids: &[String],
    opts: &DatasetOptions,
    version: ApiVersion,
    warnings: &mut Vec<String>,
) -> Result<Map<String, Value>> {
    let mut d = fields.high_level.clone();

    if !opts.allow_dataset_pid {
        if d.remove("pid").is_some() {
            log::info!(
                "dataset.allow_dataset_pid is false: the schema's pid is dropped, SciCat assigns one"
            );
        }
    } else if opts.generate_dataset_pid {
        let id = uuid::Uuid::new_v4();
        let pid = if opts.dataset_pid_prefix.is_empty() {
            id.to_string()
        } else {
            format!("{}/{id}", opts.dataset_pid_prefix.trim_end_matches('/'))
        };
        log::info!("dataset.generate_dataset_pid is true: pid {pid}");
        d.insert("pid".into(), Value::String(pid));
    }

    d.insert(
        "size".into(),
        json!(files.iter().map(|f| f.size).sum::<u64>()),
    );
    d.insert("numberOfFiles".into(), json!(files.len()));
    d.insert("isPublished".into(), Value::Bool(false));
    if is_empty(d.get("type")) {
        d.insert("type".into(), json!("raw"));
    }
    d.insert(
        "scientificMetadata".into(),
        Value::Object(fields.scientific.clone()),
    );
    if !d.contains_key("techniques") {
        d.insert("techniques".into(), json!([]));
    }

    let defaults: [(&str, Value); 4] = [
        ("instrumentId", json!(opts.default_instrument_id)),
        ("proposalId", json!(opts.default_proposal_id)),
        ("ownerGroup", json!(opts.default_owner_group)),
        ("accessGroups", json!(opts.default_access_groups)),
    ];
    for (k, v) in defaults {
        // A schema may set the v4 name of the field instead.
        let v4 = api::field_in(ApiVersion::V4, k);
        if is_empty(d.get(k)) && is_empty(d.get(v4)) {
            if is_empty(Some(&v)) {
                d.remove(k);
            } else {
                log::info!("{k} is not set by the schema: using the config default {v}");
                d.insert(k.into(), v);
            }
        }
    }

    let schema_sets_sample = !is_empty(d.get("sampleId")) || !is_empty(d.get("sampleIds"));
    match (sample_ids, version) {
        ([], _) => {}
        ([first, ..], _) if schema_sets_sample => {
            log::info!("the schema sets the sample; the sample query's {first} is not used");
        }
        (all, ApiVersion::V4) => {
            d.insert("sampleIds".into(), json!(all));
        }
        ([first, rest @ ..], ApiVersion::V3) => {
            if !rest.is_empty() {
                warnings.push(format!(
                    "{} samples match; SciCat API v3 takes one sampleId: the first, {first} (others: {}; scicat.api_version v4 sends them all)",
                    sample_ids.len(),
                    rest.join(", ")
                ));
            }
            d.insert("sampleId".into(), Value::String(first.clone()));
        }
    }

    for k in STRING_FIELDS {
        if let Some(Value::Number(n)) = d.get(*k) {
            let s = n.to_string();
            d.insert((*k).into(), Value::String(s));
        }
    }

    Ok(d)
}

/// Puts the fields in the shape of `version`, drops fields SciCat does not
/// know (with a warning) and fails, naming them, when required fields are
/// missing. Runs after any plugin transform (plugins see one shape, v3 names
/// or whatever they set, whatever the version).
pub fn finalize(
    d: &mut Map<String, Value>,
    version: ApiVersion,
    warnings: &mut Vec<String>,
) -> Result<()> {
    api::reshape(d, version, warnings);
    let unknown: Vec<String> = d
        .keys()
        .filter(|k| !version.properties().contains(&k.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        warnings.push(format!(
            "SciCat API {} datasets have no field{} {}: dropped (the backend would reject the dataset)",
            version.name(),
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", ")
        ));
        for k in unknown {
            d.remove(&k);
        }
    }

    check_required(d, version)
}

/// Fails, naming them, when fields `version` requires are missing from `d`
/// (written with either version's names).
pub fn check_required(d: &Map<String, Value>, version: ApiVersion) -> Result<()> {
    let mut d = d.clone();
    api::reshape(&mut d, version, &mut Vec::new());
    let missing: Vec<&str> = version
        .required()
        .iter()
        .copied()
        .filter(|k| is_empty(d.get(*k)))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the dataset lacks required field{} {}: nothing was uploaded. Set {} in the schema \
             (a variable it uses may have failed: see the warnings above)",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            if missing.len() > 1 { "them" } else { "it" }
        );
    }
    Ok(())
}

/// The origdatablock body for a dataset. `pid` is the one SciCat returned
/// (unknown in a dry run without a pid).
pub fn origdatablock(
    dataset: &Map<String, Value>,
    files: Vec<FileEntry>,
    chk_alg: &str,
    pid: Option<&str>,
) -> Map<String, Value> {
    let mut b = Map::new();
    if let Some(pid) = pid {
        b.insert("datasetId".into(), json!(pid));
    }
    b.insert(
        "size".into(),
        json!(files.iter().map(|f| f.size).sum::<u64>()),
    );
    b.insert("chkAlg".into(), json!(chk_alg));
    b.insert(
        "dataFileList".into(),
        serde_json::to_value(files).expect("file entries serialise"),
    );
    for k in ["ownerGroup", "accessGroups"] {
        if let Some(v) = dataset.get(k) {
            b.insert(k.into(), v.clone());
        }
    }
    b
}

/// `local@domain.tld`: what `^[^@\s;]+@[^@\s;.]+(\.[^@\s;.]+)+$` accepts
/// (the backend's rule), without compiling a Unicode regex in every process.
fn email_ok(s: &str) -> bool {
    let plain =
        |part: &str| !part.is_empty() && !part.contains(|c: char| c == ';' || c.is_whitespace());
    let Some((local, domain)) = s.trim().split_once('@') else {
        return false;
    };
    let mut labels = domain.split('.');
    plain(local) && !domain.contains('@') && domain.contains('.') && labels.all(plain)
}

fn iso_ok(s: &str) -> bool {
    crate::evaluate::to_date(&Value::String(s.to_string())).is_ok()
}

/// What the backend of `version` would reject in a dataset body (empty
/// when none).
pub fn check_dataset(d: &Map<String, Value>, version: ApiVersion) -> Vec<String> {
    let mut p = Vec::new();
    for k in d.keys() {
        if !version.properties().contains(&k.as_str()) {
            p.push(format!("property {k} should not exist"));
        }
    }
    let required: &[&str] = match version {
        ApiVersion::V3 => vocabulary::V3_BACKEND_REQUIRED,
        ApiVersion::V4 => vocabulary::V4_BACKEND_REQUIRED,
    };
    for k in required.iter().copied() {
        if is_empty(d.get(k)) {
            p.push(format!(
                "{k} is missing{}",
                if k == "ownerGroup" {
                    " (set it in the schema or dataset.default_owner_group)"
                } else {
                    ""
                }
            ));
        }
    }
    p.extend(api::type_problems(d, version));
    for (k, v) in d {
        // Fields named alike in both versions; `type_problems` checks the rest.
        let kind = vocabulary::field(k)
            .filter(|f| f.v3 == Some(k.as_str()) && f.v4 == Some(k.as_str()))
            .map_or(FieldKind::Unchecked, |f| f.kind);
        let bad = match kind {
            FieldKind::Text => (!v.is_string()).then_some("must be a string"),
            FieldKind::TextList => (!v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
                .then_some("must be a list of strings"),
            FieldKind::Integer => (!(v.is_i64() || v.is_u64())).then_some("must be an integer"),
            FieldKind::Bool => (!v.is_boolean()).then_some("must be a boolean"),
            FieldKind::Object => (!v.is_object()).then_some("must be an object"),
            FieldKind::List => (!v.is_array()).then_some("must be a list"),
            FieldKind::Date => {
                (!v.as_str().is_some_and(iso_ok)).then_some("must be an ISO 8601 date")
            }
            FieldKind::Email => (!v.as_str().is_some_and(email_ok)).then_some("must be an email"),
            FieldKind::Emails => (!v.as_str().is_some_and(|s| s.split(';').all(email_ok)))
                .then_some("must be one or more emails separated by ;"),
            FieldKind::Unchecked => None,
        };
        if let Some(why) = bad {
            p.push(format!("{k} {why} (got {})", short(v)));
        }
    }
    p
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}...", &s[..s.floor_char_boundary(77)])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_as_the_backend_rule_checks_them() {
        let re = regex::Regex::new(r"^[^@\s;]+@[^@\s;.]+(\.[^@\s;.]+)+$").unwrap();
        for s in [
            "a@b.c",
            " a@b.c ",
            "a@b",
            "a@b.",
            "a@.b",
            "@b.c",
            "a@@b.c",
            "a@b@c.d",
            "a b@c.d",
            "a@b.c d",
            "a;b@c.d",
            "a@b.c;",
            "ü@ß.de",
            "a@b..c",
            "a@b.c.d",
            "a\u{2003}@b.c",
            "",
            "a@b.c\n",
            ".a@b.c",
            "a.@b.c",
        ] {
            assert_eq!(email_ok(s), re.is_match(s.trim()), "{s:?}");
        }
    }

    fn full(
        f: &Fields,
        files: &[FileEntry],
        samples: &[String],
        opts: &DatasetOptions,
        w: &mut Vec<String>,
    ) -> Result<Map<String, Value>> {
        full_in(ApiVersion::V3, f, files, samples, opts, w)
    }

    fn full_in(
        version: ApiVersion,
        f: &Fields,
        files: &[FileEntry],
        samples: &[String],
        opts: &DatasetOptions,
        w: &mut Vec<String>,
    ) -> Result<Map<String, Value>> {
        let mut d = assemble(f, files, samples, opts, version, w)?;
        finalize(&mut d, version, w)?;
        Ok(d)
    }

    fn fields(hl: Value) -> Fields {
        Fields {
            high_level: hl.as_object().unwrap().clone(),
            ..Default::default()
        }
    }

    fn complete() -> Value {
        json!({
            "pid": "20.500.12269/abc",
            "datasetName": "n", "principalInvestigator": "p", "creationLocation": "l",
            "owner": "o", "ownerEmail": "o@x.org", "contactEmail": "o@x.org",
            "sourceFolder": "/s", "creationTime": "2024-10-28T09:18:14.376Z",
        })
    }

    fn file(size: u64) -> FileEntry {
        FileEntry {
            path: "x".into(),
            size,
            time: "t".into(),
            chk: None,
            uid: None,
            gid: None,
            perm: None,
        }
    }

    #[test]
    fn an_empty_list_from_the_schema_takes_the_default() {
        let mut hl = complete();
        hl["accessGroups"] = json!([]);
        let opts = DatasetOptions {
            default_access_groups: vec!["ag".into()],
            ..Default::default()
        };
        let d = full(&fields(hl), &[], &[], &opts, &mut Vec::new()).unwrap();
        assert_eq!(d["accessGroups"], json!(["ag"]));
    }

    #[test]
    fn techniques_the_schema_sets_are_kept_and_absent_ones_are_an_empty_list() {
        let mut hl = complete();
        let set = json!([{"pid": "t1", "name": "SANS"}]);
        hl["techniques"] = set.clone();
        let opts = DatasetOptions::default();
        let d = full(&fields(hl), &[], &[], &opts, &mut Vec::new()).unwrap();
        assert_eq!(d["techniques"], set);
        let d = full(&fields(complete()), &[], &[], &opts, &mut Vec::new()).unwrap();
        assert_eq!(d["techniques"], json!([]));
    }

    #[test]
    fn a_sample_the_schema_sets_wins_over_the_sample_query() {
        for (key, value) in [("sampleId", json!("mine")), ("sampleIds", json!(["mine"]))] {
            let mut hl = complete();
            hl[key] = value.clone();
            let mut w = Vec::new();
            let d = assemble(
                &fields(hl),
                &[],
                &["queried".into()],
                &DatasetOptions::default(),
                ApiVersion::V3,
                &mut w,
            )
            .unwrap();
            assert_eq!(d[key], value, "{key}");
            let other = if key == "sampleId" {
                "sampleIds"
            } else {
                "sampleId"
            };
            assert!(!d.contains_key(other), "{key}: {d:?}");
        }
    }

    #[test]
    fn any_integer_passes_the_integer_check() {
        let integer = scicat_evaluator::vocabulary::DATASET_FIELDS
            .iter()
            .find(|f| f.kind == FieldKind::Integer && f.v3.is_some() && f.v3 == f.v4)
            .and_then(|f| f.v3)
            .expect("an integer field named alike in both versions");
        for v in [json!(-3), json!(u64::MAX), json!(7)] {
            let mut d = complete().as_object().unwrap().clone();
            d.insert(integer.into(), v.clone());
            let p = check_dataset(&d, ApiVersion::V3);
            assert!(!p.iter().any(|p| p.starts_with(integer)), "{v}: {p:?}");
        }
        let mut d = complete().as_object().unwrap().clone();
        d.insert(integer.into(), json!(1.5));
        let p = check_dataset(&d, ApiVersion::V3);
        assert!(p.iter().any(|p| p.starts_with(integer)), "{p:?}");
    }

    #[test]
    fn values_in_messages_are_cut_past_80_characters() {
        let exactly = json!("x".repeat(78));
        assert_eq!(short(&exactly), exactly.to_string());
        let longer = json!("x".repeat(79));
        let s = short(&longer);
        assert!(s.ends_with("...") && s.len() == 80, "{s}");
    }

    #[test]
    fn sets_its_own_fields_and_defaults() {
        let opts = DatasetOptions {
            default_owner_group: "og".into(),
            default_access_groups: vec!["ag".into()],
            default_instrument_id: "inst".into(),
            ..Default::default()
        };
        let mut w = Vec::new();
        let d = full(
            &fields(complete()),
            &[file(10), file(5)],
            &[],
            &opts,
            &mut w,
        )
        .unwrap();
        assert_eq!(d["size"], json!(15));
        assert_eq!(d["numberOfFiles"], json!(2));
        assert_eq!(d["isPublished"], json!(false));
        assert_eq!(d["type"], json!("raw"));
        assert_eq!(d["ownerGroup"], json!("og"));
        assert_eq!(d["accessGroups"], json!(["ag"]));
        assert_eq!(d["instrumentId"], json!("inst"));
        assert!(!d.contains_key("proposalId"), "empty defaults are not sent");
        assert_eq!(d["pid"], json!("20.500.12269/abc"));
        assert!(
            check_dataset(&d, ApiVersion::V3).is_empty(),
            "{:?}",
            check_dataset(&d, ApiVersion::V3)
        );
    }

    #[test]
    fn schema_values_win_over_defaults() {
        let mut hl = complete();
        hl["ownerGroup"] = json!("mine");
        let opts = DatasetOptions {
            default_owner_group: "og".into(),
            ..Default::default()
        };
        let d = full(&fields(hl), &[], &[], &opts, &mut Vec::new()).unwrap();
        assert_eq!(d["ownerGroup"], json!("mine"));
    }

    #[test]
    fn pid_rules() {
        let no = DatasetOptions {
            allow_dataset_pid: false,
            ..Default::default()
        };
        let d = full(&fields(complete()), &[], &[], &no, &mut Vec::new()).unwrap();
        assert!(!d.contains_key("pid"));
        let gen_pid = DatasetOptions {
            generate_dataset_pid: true,
            ..Default::default()
        };
        let d = full(&fields(complete()), &[], &[], &gen_pid, &mut Vec::new()).unwrap();
        let pid = d["pid"].as_str().unwrap();
        assert!(pid.starts_with("20.500.12269/"), "{pid}");
        assert_ne!(pid, "20.500.12269/abc");
    }

    #[test]
    fn unknown_fields_are_dropped_with_a_warning() {
        let mut hl = complete();
        hl["colour"] = json!("blue");
        let mut w = Vec::new();
        let d = full(&fields(hl), &[], &[], &DatasetOptions::default(), &mut w).unwrap();
        assert!(!d.contains_key("colour"));
        assert!(w.iter().any(|w| w.contains("colour")), "{w:?}");
    }

    #[test]
    fn missing_required_fields_fail_naming_them() {
        let mut hl = complete();
        hl.as_object_mut().unwrap().remove("owner");
        hl.as_object_mut().unwrap().remove("sourceFolder");
        let e = full(
            &fields(hl),
            &[],
            &[],
            &DatasetOptions::default(),
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("owner") && e.contains("sourceFolder"), "{e}");
    }

    #[test]
    fn sample_ids_take_the_first_and_warn() {
        let mut w = Vec::new();
        let d = full(
            &fields(complete()),
            &[],
            &["s1".into(), "s2".into()],
            &DatasetOptions::default(),
            &mut w,
        )
        .unwrap();
        assert_eq!(d["sampleId"], json!("s1"));
        assert!(w.iter().any(|w| w.contains("s2")));
    }

    #[test]
    fn numeric_ids_become_strings() {
        let mut hl = complete();
        hl["runNumber"] = json!(31010);
        let d = full(
            &fields(hl),
            &[],
            &[],
            &DatasetOptions::default(),
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(d["runNumber"], json!("31010"));
    }

    /// Each local verdict agrees with the test kit's copy of the backend's
    /// rules (itself compared with the real backend by
    /// `tests/backend_validator.rs`): what the backend refuses is refused
    /// here with the field and the reason, what it takes is taken.
    #[test]
    fn body_checks_mirror_the_backend() {
        use scicat_test_kit::scicat_server::validate_dataset;
        let mut base = complete().as_object().unwrap().clone();
        base.insert("ownerGroup".into(), json!("g"));
        base.insert("type".into(), json!("raw"));
        let judge = |change: &[(&str, Value)]| {
            let mut d = base.clone();
            for (k, v) in change {
                d.insert(k.to_string(), v.clone());
            }
            let ours = check_dataset(&d, ApiVersion::V3);
            (ours, validate_dataset(Some(&Value::Object(d))))
        };
        let (ours, backend) = judge(&[]);
        assert!(
            ours.is_empty() && backend.is_empty(),
            "{ours:?} {backend:?}"
        );

        let refused = [
            (
                "ownerEmail",
                json!(""),
                "ownerEmail must be an email (got \"\")",
            ),
            (
                "ownerEmail",
                json!("o.x.org"),
                "ownerEmail must be an email (got \"o.x.org\")",
            ),
            (
                "contactEmail",
                json!("a@b.org;nope"),
                "contactEmail must be one or more emails separated by ; (got \"a@b.org;nope\")",
            ),
            ("size", json!("12"), "size must be an integer (got \"12\")"),
            ("size", json!(1.5), "size must be an integer (got 1.5)"),
            (
                "keywords",
                json!([1]),
                "keywords must be a list of strings (got [1])",
            ),
            (
                "isPublished",
                json!("yes"),
                "isPublished must be a boolean (got \"yes\")",
            ),
            (
                "datasetName",
                json!(5),
                "datasetName must be a string (got 5)",
            ),
            (
                "principalInvestigator",
                json!(5),
                "principalInvestigator must be a string (got 5)",
            ),
            (
                "creationTime",
                json!("yesterday"),
                "creationTime must be an ISO 8601 date (got \"yesterday\")",
            ),
            ("owner", json!(""), "owner is missing"),
            ("colour", json!("red"), "property colour should not exist"),
        ];
        for (k, v, why) in refused {
            let (ours, backend) = judge(&[(k, v.clone())]);
            assert!(!backend.is_empty(), "the backend takes {k}: {v}");
            assert_eq!(ours, [why], "{k}: {v}; the backend says {backend:?}");
        }

        let taken = [
            ("contactEmail", json!("a@b.org;c@d.org")),
            ("size", json!(12)),
            ("keywords", json!(["a", "b"])),
            ("isPublished", json!(false)),
            ("scientificMetadata", json!({"t": {"value": 1}})),
        ];
        for (k, v) in taken {
            let (ours, backend) = judge(&[(k, v.clone())]);
            assert!(
                backend.is_empty(),
                "the backend refuses {k}: {v}: {backend:?}"
            );
            assert!(ours.is_empty(), "{k}: {v}: {ours:?}");
        }

        // Several problems at once: each reported, in the body's order.
        let (ours, _) = judge(&[
            ("ownerEmail", json!("")),
            ("contactEmail", json!("a@b.org;c@d.org")),
            ("size", json!("12")),
            ("keywords", json!([1])),
        ]);
        assert_eq!(
            ours,
            [
                "ownerEmail must be an email (got \"\")",
                "size must be an integer (got \"12\")",
                "keywords must be a list of strings (got [1])",
            ]
        );
    }

    #[test]
    fn origdatablock_carries_groups_and_sizes() {
        let mut d = complete().as_object().unwrap().clone();
        d.insert("ownerGroup".into(), json!("g"));
        d.insert("accessGroups".into(), json!(["a"]));
        let b = origdatablock(&d, vec![file(3), file(4)], "blake2b", Some("p1"));
        assert_eq!(b["datasetId"], json!("p1"));
        assert_eq!(b["size"], json!(7));
        assert_eq!(b["chkAlg"], json!("blake2b"));
        assert_eq!(b["ownerGroup"], json!("g"));
        assert_eq!(b["accessGroups"], json!(["a"]));
        assert_eq!(b["dataFileList"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn v4_bodies_use_lists_and_send_every_sample() {
        let opts = DatasetOptions {
            default_owner_group: "og".into(),
            default_instrument_id: "inst".into(),
            ..Default::default()
        };
        let mut hl = complete();
        hl["proposalId"] = json!(443503);
        let mut w = Vec::new();
        let d = full_in(
            ApiVersion::V4,
            &fields(hl),
            &[file(1)],
            &["s1".into(), "s2".into()],
            &opts,
            &mut w,
        )
        .unwrap();
        assert_eq!(d["sampleIds"], json!(["s1", "s2"]));
        assert_eq!(d["proposalIds"], json!(["443503"]));
        assert_eq!(d["instrumentIds"], json!(["inst"]));
        assert_eq!(d["principalInvestigators"], json!(["p"]));
        for k in [
            "sampleId",
            "proposalId",
            "instrumentId",
            "principalInvestigator",
        ] {
            assert!(!d.contains_key(k), "{k} left in a v4 body");
        }
        assert!(w.is_empty(), "{w:?}");
        assert!(
            check_dataset(&d, ApiVersion::V4).is_empty(),
            "{:?}",
            check_dataset(&d, ApiVersion::V4)
        );
        assert!(!check_dataset(&d, ApiVersion::V3).is_empty());
    }

    #[test]
    fn a_default_does_not_add_to_a_v4_field_the_schema_sets() {
        let opts = DatasetOptions {
            default_instrument_id: "inst".into(),
            ..Default::default()
        };
        let mut hl = complete();
        hl["instrumentIds"] = json!(["mine"]);
        let d = full_in(
            ApiVersion::V4,
            &fields(hl),
            &[],
            &[],
            &opts,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(d["instrumentIds"], json!(["mine"]));
    }

    #[test]
    fn required_fields_follow_the_version() {
        let mut hl = complete();
        let o = hl.as_object_mut().unwrap();
        o.remove("creationLocation");
        o.remove("principalInvestigator");
        let opts = DatasetOptions::default();
        let v4 = full_in(
            ApiVersion::V4,
            &fields(hl.clone()),
            &[],
            &[],
            &opts,
            &mut Vec::new(),
        );
        assert!(v4.is_ok(), "{v4:?}");
        let e = full_in(
            ApiVersion::V3,
            &fields(hl.clone()),
            &[],
            &[],
            &opts,
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("creationLocation") && e.contains("principalInvestigator"),
            "{e}"
        );
        // v4 stores no dataset without an owner (a 500), nor an empty name.
        let o = hl.as_object_mut().unwrap();
        o.remove("owner");
        o.insert("datasetName".into(), json!(""));
        let e = full_in(
            ApiVersion::V4,
            &fields(hl),
            &[],
            &[],
            &opts,
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("datasetName") && e.contains("owner"), "{e}");
    }
}

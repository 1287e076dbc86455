//! The `/api/v4` routes of the SciCat test server: datasets (by pid, by
//! filter, create, `isValid`) and origdatablocks (by filter, create), with
//! the v4 dataset body validated like the backend's `CreateDatasetDto`
//! (whitelist + forbid: v3 names such as `proposalId` are a 400). Proposals,
//! instruments, samples and auth have no v4 routes here either. The catalog
//! is the one the v3 routes see (the real backend has one database too).

use serde_json::Value;

use super::{State, error, filtered, is_email, is_iso_date, route as v3_route, store_dataset};

/// Properties of the v4 `CreateDatasetDto`.
const DATASET_PROPS: &[&str] = &[
    "pid",
    "type",
    "datasetName",
    "principalInvestigators",
    "startTime",
    "endTime",
    "creationLocation",
    "dataFormat",
    "sampleIds",
    "instrumentIds",
    "proposalIds",
    "runNumber",
    "owner",
    "ownerEmail",
    "orcidOfOwner",
    "contactEmail",
    "sourceFolder",
    "sourceFolderHost",
    "size",
    "packedSize",
    "numberOfFiles",
    "numberOfFilesArchived",
    "creationTime",
    "validationStatus",
    "keywords",
    "description",
    "classification",
    "license",
    "isPublished",
    "techniques",
    "sharedWith",
    "relationships",
    "datasetlifecycle",
    "scientificMetadata",
    "scientificMetadataSchema",
    "scientificMetadataValid",
    "comment",
    "dataQualityMetrics",
    "ownerGroup",
    "accessGroups",
    "instrumentGroup",
    "inputDatasets",
    "usedSoftware",
    "jobParameters",
    "jobLogData",
];

/// Answers a request below `/api/v4/` (`parts` without the prefix).
pub fn route(
    s: &mut State,
    method: &str,
    parts: &[&str],
    filter: Option<&Value>,
    headers: &[(String, String)],
    body: Option<Value>,
) -> (u16, Value) {
    // What v4 shares with v3 is answered by the same code.
    let same = |s: &mut State, body: Option<Value>| {
        v3_route(s, method, &parts.join("/"), parts, filter, headers, body)
    };
    match (method, parts) {
        ("GET", ["datasets"]) | ("GET", ["datasets", _]) => same(s, body),
        ("GET", ["origdatablocks"]) => (200, Value::Array(filtered(&s.origdatablocks, filter))),
        ("POST", ["datasets", "isValid"]) => (
            200,
            serde_json::json!({"valid": validate_dataset_v4(body.as_ref()).is_empty()}),
        ),
        ("POST", ["datasets"]) => {
            let problems = validate_dataset_v4(body.as_ref());
            if !problems.is_empty() {
                return error(400, problems);
            }
            store_dataset(s, body.unwrap())
        }
        ("POST", ["origdatablocks"]) => {
            if s.no_dataset_update_rights {
                return error(403, vec!["Unauthorized access".into()]);
            }
            same(s, body)
        }
        _ => error(
            404,
            vec![format!("Cannot {method} /api/v4/{}", parts.join("/"))],
        ),
    }
}

/// class-validator style checks of a v4 dataset body (`CreateDatasetDto`).
pub fn validate_dataset_v4(body: Option<&Value>) -> Vec<String> {
    let Some(Value::Object(d)) = body else {
        return vec!["the body must be a JSON object".into()];
    };
    let mut p = Vec::new();
    for k in d.keys() {
        if !DATASET_PROPS.contains(&k.as_str()) {
            p.push(format!("property {k} should not exist"));
        }
    }
    // `@IsString()` without `@IsOptional()`: required, "" allowed.
    for k in ["ownerGroup", "datasetName", "type"] {
        if !d.get(k).is_some_and(Value::is_string) {
            p.push(format!("{k} must be a string"));
        }
    }
    match d.get("sourceFolder") {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::String(_)) => p.push("sourceFolder should not be empty".into()),
        _ => p.push("sourceFolder must be a string".into()),
    }
    for k in [
        "pid",
        "owner",
        "orcidOfOwner",
        "validationStatus",
        "description",
        "classification",
        "license",
        "scientificMetadataSchema",
        "comment",
        "creationLocation",
        "dataFormat",
        "jobLogData",
        "runNumber",
        "instrumentGroup",
        "sourceFolderHost",
    ] {
        if let Some(v) = d.get(k)
            && !v.is_null()
            && !v.is_string()
        {
            p.push(format!("{k} must be a string"));
        }
    }
    match d.get("contactEmail") {
        Some(Value::String(s)) if !s.is_empty() && s.split(';').all(|e| is_email(e.trim())) => {}
        other => p.push(format!(
            "Expected an email or a list of semicolon separated emails, got {}",
            other.map(Value::to_string).unwrap_or_default()
        )),
    }
    match d.get("ownerEmail") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if is_email(s) => {}
        Some(_) => p.push("ownerEmail must be an email".into()),
    }
    match d.get("creationTime") {
        Some(Value::String(s)) if is_iso_date(s) => {}
        _ => p.push("creationTime must be a valid ISO 8601 date string".into()),
    }
    for k in ["startTime", "endTime"] {
        match d.get(k) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if is_iso_date(s) => {}
            Some(_) => p.push(format!("{k} must be a valid ISO 8601 date string")),
        }
    }
    for k in [
        "keywords",
        "sharedWith",
        "accessGroups",
        "principalInvestigators",
        "proposalIds",
        "sampleIds",
        "instrumentIds",
        "inputDatasets",
        "usedSoftware",
    ] {
        match d.get(k) {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
            Some(_) => p.push(format!("each value in {k} must be a string")),
        }
    }
    for k in [
        "size",
        "packedSize",
        "numberOfFiles",
        "numberOfFilesArchived",
    ] {
        match d.get(k) {
            None | Some(Value::Null) => {}
            Some(v) if v.is_i64() || v.is_u64() => {}
            Some(_) => p.push(format!("{k} must be an integer number")),
        }
    }
    if let Some(v) = d.get("dataQualityMetrics")
        && !v.is_null()
        && !v.is_number()
    {
        p.push(
            "dataQualityMetrics must be a number conforming to the specified constraints".into(),
        );
    }
    for k in ["isPublished", "scientificMetadataValid"] {
        if let Some(v) = d.get(k)
            && !v.is_null()
            && !v.is_boolean()
        {
            p.push(format!("{k} must be a boolean value"));
        }
    }
    for k in ["scientificMetadata", "jobParameters"] {
        if let Some(v) = d.get(k)
            && !v.is_null()
            && !v.is_object()
        {
            p.push(format!("{k} must be an object"));
        }
    }
    for k in ["techniques", "relationships"] {
        if let Some(v) = d.get(k)
            && !v.is_null()
            && !v.is_array()
        {
            p.push(format!("{k} must be an array"));
        }
    }
    p
}

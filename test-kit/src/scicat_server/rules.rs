//! What the real SciCat backend accepts in a dataset (v3 and v4) and an
//! origdatablock body, field by field, for the test server. The rules are
//! the outcome of the backend's whole chain (class-validator DTOs, the
//! interceptors, mongoose casting and required paths), not of the DTOs
//! alone: e.g. `endTime` takes anything but "", and a v4 dataset without
//! `owner` passes validation but fails when stored. Both 400s and those
//! storage 500s count as rejections here. `tests/backend_validator.rs`
//! compares these verdicts with the real backend's on bodies varied one
//! field at a time.

use serde_json::Value;

/// How one field is judged (`None`: the field is absent).
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// `@IsOptional() @IsString()`: absent, null or any string.
    Str,
    /// `@IsString()` without `@IsOptional()`: any string, "" included.
    StrRequired,
    /// A string that must not be "" (mongoose `required`); absent and null
    /// are fine.
    NonEmptyOptional,
    /// Absent is fine; null and "" are not (`pid`).
    NonEmptyIfPresent,
    /// A non-empty string, required.
    NonEmptyRequired,
    /// v3 `type`: `raw` or `derived`.
    RawOrDerived,
    Email,
    /// One or more emails separated by `;`, required.
    EmailList,
    /// Optional ISO 8601 date string (a space for the `T` is accepted).
    Date,
    /// Required; an ISO 8601 string with `T`, or an integer (a JS Date).
    CreationTime,
    /// Anything but "" (only the interceptor looks at it).
    NotEmptyString,
    /// Required ISO 8601 date string.
    DateRequired,
    /// Optional integer, null fine.
    Int,
    /// Optional integer, null not (mongoose `required`).
    IntIfPresent,
    IntRequired,
    /// Required number (file sizes: a fraction passes).
    NumberRequired,
    /// Optional number, null fine.
    Number,
    /// Optional boolean, null fine.
    Bool,
    /// Optional boolean, null not.
    BoolIfPresent,
    /// `@IsString({each: true})`: a string or a list of strings; null fine.
    StrEach,
    /// A list of nested objects with these string fields (all required).
    Nested(&'static [&'static str]),
    /// `@IsUrl` without protocol requirement; null fine.
    Url,
    /// An object, null not (`datasetlifecycle`).
    Object,
    /// An object or null.
    ObjectOrNull,
    /// v3 fields without validators that mongoose casts to a string list:
    /// anything but an object.
    NotObject,
    /// v3 `jobLogData`: a scalar (mongoose casts it to a string).
    Scalar,
    Any,
    /// The origdatablock's file list: non-empty, each entry valid.
    Files,
}

const V3_DATASET: &[(&str, Rule)] = &[
    ("pid", Rule::NonEmptyIfPresent),
    ("type", Rule::RawOrDerived),
    ("version", Rule::Str),
    ("datasetName", Rule::NonEmptyOptional),
    ("principalInvestigator", Rule::StrRequired),
    ("startTime", Rule::Date),
    ("endTime", Rule::NotEmptyString),
    ("creationLocation", Rule::StrRequired),
    ("dataFormat", Rule::Str),
    ("sampleId", Rule::Str),
    ("instrumentId", Rule::Str),
    ("proposalId", Rule::Str),
    ("runNumber", Rule::Str),
    ("owner", Rule::NonEmptyRequired),
    ("ownerEmail", Rule::Email),
    ("orcidOfOwner", Rule::Str),
    ("contactEmail", Rule::EmailList),
    ("sourceFolder", Rule::NonEmptyRequired),
    ("sourceFolderHost", Rule::Url),
    ("size", Rule::IntIfPresent),
    ("packedSize", Rule::Int),
    ("numberOfFiles", Rule::IntIfPresent),
    ("numberOfFilesArchived", Rule::Int),
    ("creationTime", Rule::CreationTime),
    ("validationStatus", Rule::Str),
    ("keywords", Rule::StrEach),
    ("description", Rule::Str),
    ("classification", Rule::Str),
    ("license", Rule::Str),
    ("isPublished", Rule::BoolIfPresent),
    ("techniques", Rule::Nested(&["pid", "name"])),
    ("sharedWith", Rule::StrEach),
    ("relationships", Rule::Nested(&["pid", "relationship"])),
    ("datasetlifecycle", Rule::Object),
    ("scientificMetadata", Rule::NotEmptyString),
    ("scientificMetadataSchema", Rule::Str),
    ("scientificMetadataValid", Rule::Bool),
    ("comment", Rule::Str),
    ("dataQualityMetrics", Rule::Number),
    ("ownerGroup", Rule::StrRequired),
    ("accessGroups", Rule::StrEach),
    ("instrumentGroup", Rule::Str),
    ("inputDatasets", Rule::NotObject),
    ("usedSoftware", Rule::NotObject),
    ("jobParameters", Rule::Any),
    ("jobLogData", Rule::Scalar),
];

const V4_DATASET: &[(&str, Rule)] = &[
    ("pid", Rule::NonEmptyIfPresent),
    ("type", Rule::NonEmptyRequired),
    ("datasetName", Rule::NonEmptyRequired),
    ("principalInvestigators", Rule::StrEach),
    ("startTime", Rule::Date),
    ("endTime", Rule::NotEmptyString),
    ("creationLocation", Rule::Str),
    ("dataFormat", Rule::Str),
    ("sampleIds", Rule::StrEach),
    ("instrumentIds", Rule::StrEach),
    ("proposalIds", Rule::StrEach),
    ("runNumber", Rule::Str),
    // Optional in the DTO, required by the mongoose schema: a 500.
    ("owner", Rule::NonEmptyRequired),
    ("ownerEmail", Rule::Email),
    ("orcidOfOwner", Rule::Str),
    ("contactEmail", Rule::EmailList),
    ("sourceFolder", Rule::NonEmptyRequired),
    ("sourceFolderHost", Rule::Url),
    ("size", Rule::IntIfPresent),
    ("packedSize", Rule::Int),
    ("numberOfFiles", Rule::IntIfPresent),
    ("numberOfFilesArchived", Rule::Int),
    ("creationTime", Rule::CreationTime),
    ("validationStatus", Rule::Str),
    ("keywords", Rule::StrEach),
    ("description", Rule::Str),
    ("classification", Rule::Str),
    ("license", Rule::Str),
    ("isPublished", Rule::BoolIfPresent),
    ("techniques", Rule::Nested(&["pid", "name"])),
    ("sharedWith", Rule::StrEach),
    ("relationships", Rule::Nested(&["pid", "relationship"])),
    ("datasetlifecycle", Rule::Object),
    ("scientificMetadata", Rule::NotEmptyString),
    ("scientificMetadataSchema", Rule::Str),
    ("scientificMetadataValid", Rule::Bool),
    ("comment", Rule::Str),
    ("dataQualityMetrics", Rule::Number),
    ("ownerGroup", Rule::StrRequired),
    ("accessGroups", Rule::StrEach),
    ("instrumentGroup", Rule::Str),
    ("inputDatasets", Rule::StrEach),
    ("usedSoftware", Rule::StrEach),
    ("jobParameters", Rule::ObjectOrNull),
    ("jobLogData", Rule::Str),
];

/// The same for v3 and v4.
const ORIGDATABLOCK: &[(&str, Rule)] = &[
    ("datasetId", Rule::NonEmptyRequired),
    ("size", Rule::IntRequired),
    ("chkAlg", Rule::NonEmptyOptional),
    ("dataFileList", Rule::Files),
    // Replaced by the dataset's; "" still fails the DTO.
    ("ownerGroup", Rule::NonEmptyOptional),
    ("accessGroups", Rule::StrEach),
    ("instrumentGroup", Rule::Str),
    ("isPublished", Rule::BoolIfPresent),
];

const FILE: &[(&str, Rule)] = &[
    ("path", Rule::NonEmptyRequired),
    ("size", Rule::NumberRequired),
    ("time", Rule::DateRequired),
    ("chk", Rule::Str),
    ("uid", Rule::Str),
    ("gid", Rule::Str),
    ("perm", Rule::Str),
];

/// A regex compiled once: compiling one per request made the test server
/// slower than the ingestor it serves.
macro_rules! cached_regex {
    ($re:expr) => {{
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        RE.get_or_init(|| regex::Regex::new($re).unwrap())
    }};
}

pub fn is_email(s: &str) -> bool {
    cached_regex!(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
        .is_match(s)
}

/// ISO 8601 as class-validator's `isISO8601` takes it (`T` or a space).
pub fn is_iso_date(s: &str) -> bool {
    cached_regex!(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
        .is_match(s)
}

/// `isURL` with `require_protocol: false`: a host with a top-level domain
/// (or an IP address), optional scheme, user, port and path.
fn is_url(s: &str) -> bool {
    cached_regex!(
        r"(?i)^([a-z][a-z0-9+.\-]*://)?([^@/\s]+@)?(([a-z0-9\-]+\.)+[a-z]{2,}|\d{1,3}(\.\d{1,3}){3})(:\d+)?([/?#]\S*)?$"
    )
    .is_match(s)
}

fn is_int(v: &Value) -> bool {
    v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// Why `v` (the value of `k`, `None` when absent) is rejected, if it is.
fn judge(k: &str, rule: Rule, v: Option<&Value>) -> Option<String> {
    use Rule::*;
    let null = matches!(v, None | Some(Value::Null));
    let s = v.and_then(Value::as_str);
    let bad = |why: &str| Some(format!("{k} {why}"));
    match rule {
        Any => None,
        Str | StrEach | Url | Email | Date | Int | Number | Bool | ObjectOrNull | NotObject
        | Scalar | Nested(_) | NonEmptyOptional
            if null =>
        {
            None
        }
        NonEmptyIfPresent | IntIfPresent | BoolIfPresent | NotEmptyString | Object
            if v.is_none() =>
        {
            None
        }
        NotEmptyString => (s == Some("")).then(|| format!("{k} should not be empty")),
        Str => s.is_none().then(|| format!("{k} must be a string")),
        StrRequired => s.is_none().then(|| format!("{k} must be a string")),
        NonEmptyOptional | NonEmptyIfPresent | NonEmptyRequired => match s {
            Some("") => bad("should not be empty"),
            Some(_) => None,
            None => bad("must be a string"),
        },
        RawOrDerived => (!matches!(s, Some("raw" | "derived")))
            .then(|| format!("{k} must be one of the following values: raw, derived")),
        Email => (!s.is_some_and(is_email)).then(|| format!("{k} must be an email")),
        EmailList => (!s
            .is_some_and(|s| !s.is_empty() && s.split(';').all(|e| is_email(e.trim()))))
        .then(|| {
            format!(
                "Expected an email or a list of semicolon separated emails, got {}",
                v.map(Value::to_string).unwrap_or_default()
            )
        }),
        Date | DateRequired => (!s.is_some_and(is_iso_date))
            .then(|| format!("{k} must be a valid ISO 8601 date string")),
        CreationTime => {
            let ok = match v {
                Some(Value::String(s)) => is_iso_date(s) && !s.contains(' '),
                Some(n @ Value::Number(_)) => is_int(n),
                _ => false,
            };
            (!ok).then(|| format!("{k} must be a valid ISO 8601 date string"))
        }
        Int | IntIfPresent | IntRequired => {
            (!v.is_some_and(is_int)).then(|| format!("{k} must be an integer number"))
        }
        Number | NumberRequired => (!v.is_some_and(Value::is_number))
            .then(|| format!("{k} must be a number conforming to the specified constraints")),
        Bool | BoolIfPresent => {
            (!v.is_some_and(Value::is_boolean)).then(|| format!("{k} must be a boolean value"))
        }
        StrEach => {
            let ok = match v {
                Some(Value::String(_)) => true,
                Some(Value::Array(a)) => a.iter().all(Value::is_string),
                _ => false,
            };
            (!ok).then(|| format!("each value in {k} must be a string"))
        }
        Nested(fields) => match v {
            Some(Value::Array(items)) => items.iter().enumerate().find_map(|(i, it)| {
                let Some(o) = it.as_object() else {
                    return Some(format!(
                        "{k}.{i}.each value in nested property {k} must be either object or array"
                    ));
                };
                o.keys()
                    .find(|f| !fields.contains(&f.as_str()))
                    .map(|f| format!("{k}.{i}.property {f} should not exist"))
                    .or_else(|| {
                        fields
                            .iter()
                            .find(|f| !o.get(**f).is_some_and(Value::is_string))
                            .map(|f| format!("{k}.{i}.{f} must be a string"))
                    })
            }),
            _ => bad("must be an array"),
        },
        Url => (!s.is_some_and(is_url)).then(|| format!("{k} must be a URL address")),
        Object | ObjectOrNull => {
            (!v.is_some_and(Value::is_object)).then(|| format!("{k} must be an object"))
        }
        NotObject => v
            .is_some_and(Value::is_object)
            .then(|| format!("{k}: Cast to [string] failed")),
        Scalar => v
            .is_some_and(|v| v.is_object() || v.is_array())
            .then(|| format!("{k}: Cast to string failed")),
        Files => match v {
            Some(Value::Array(list)) if !list.is_empty() => {
                let p: Vec<String> = list
                    .iter()
                    .enumerate()
                    .flat_map(|(i, f)| match f.as_object() {
                        Some(_) => check(FILE, f)
                            .into_iter()
                            .map(|m| format!("dataFileList.{i}.{m}"))
                            .collect(),
                        None => vec![format!("dataFileList.{i} must be an object")],
                    })
                    .collect();
                (!p.is_empty()).then(|| p.join("; "))
            }
            Some(Value::Array(_)) => bad("should not be empty"),
            _ => bad("must be an array"),
        },
    }
}

/// The problems of `body` under `table` (empty: accepted).
fn check(table: &[(&str, Rule)], body: &Value) -> Vec<String> {
    let Some(o) = body.as_object() else {
        return vec!["the body must be a JSON object".into()];
    };
    let mut p: Vec<String> = o
        .keys()
        .filter(|k| !table.iter().any(|(n, _)| n == k))
        .map(|k| format!("property {k} should not exist"))
        .collect();
    p.extend(
        table
            .iter()
            .filter_map(|(k, rule)| judge(k, *rule, o.get(*k))),
    );
    p
}

fn checked(table: &[(&str, Rule)], body: Option<&Value>) -> Vec<String> {
    match body {
        Some(b) => check(table, b),
        None => vec!["the body must be a JSON object".into()],
    }
}

/// Problems of a v3 dataset body.
pub fn validate_dataset(body: Option<&Value>) -> Vec<String> {
    checked(V3_DATASET, body)
}

/// Problems of a v4 dataset body.
pub fn validate_dataset_v4(body: Option<&Value>) -> Vec<String> {
    checked(V4_DATASET, body)
}

/// Problems of an origdatablock body (v3 and v4 alike).
pub fn validate_origdatablock(body: Option<&Value>) -> Vec<String> {
    checked(ORIGDATABLOCK, body)
}

//! The dataset fields, listed once: their names in SciCat API v3 and v4,
//! the type the backend checks, and who needs or sets them. Every list the
//! ingestor uses (each version's properties and required fields, the
//! renamed four, the protected fields, ...) is derived from
//! [`DATASET_FIELDS`] at compile time, in its order. To add a field: one row.

/// The type the backend checks a field's value against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    TextList,
    Integer,
    Bool,
    Object,
    List,
    /// ISO 8601 text.
    Date,
    Email,
    /// One or more emails separated by `;`.
    Emails,
    /// Not checked before sending.
    Unchecked,
}

/// The ingestor fails a v3 upload without it (before sending anything).
pub const REQUIRED_V3: u16 = 1;
/// The ingestor fails a v4 upload without it.
pub const REQUIRED_V4: u16 = 1 << 1;
/// The v3 backend rejects a dataset without it.
pub const BACKEND_V3: u16 = 1 << 2;
/// The v4 backend rejects a dataset without it.
pub const BACKEND_V4: u16 = 1 << 3;
/// The ingestor sets it itself (a schema's value is overwritten).
pub const SET_BY_INGESTOR: u16 = 1 << 4;
/// v3 types it as text: a number is sent as its text.
pub const TEXT_IN_V3: u16 = 1 << 5;

/// One dataset field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetField {
    /// Its name in API v3 (`None`: v4 only).
    pub v3: Option<&'static str>,
    /// Its name in API v4 (`None`: v3 only). A different name is the list
    /// that replaced a single value ([`FieldKind::TextList`] in v4).
    pub v4: Option<&'static str>,
    /// The type the backend checks (under the v3 name for renamed fields).
    pub kind: FieldKind,
    /// `REQUIRED_V3 | BACKEND_V3 | ...`.
    pub flags: u16,
}

const fn f(name: &'static str, kind: FieldKind, flags: u16) -> DatasetField {
    DatasetField {
        v3: Some(name),
        v4: Some(name),
        kind,
        flags,
    }
}

const fn renamed(v3: &'static str, v4: &'static str, flags: u16) -> DatasetField {
    DatasetField {
        v3: Some(v3),
        v4: Some(v4),
        kind: FieldKind::Text,
        flags,
    }
}

const fn v3_only(name: &'static str, kind: FieldKind) -> DatasetField {
    DatasetField {
        v3: Some(name),
        v4: None,
        kind,
        flags: 0,
    }
}

const fn v4_only(name: &'static str, kind: FieldKind) -> DatasetField {
    DatasetField {
        v3: None,
        v4: Some(name),
        kind,
        flags: 0,
    }
}

use FieldKind::*;

const REQUIRED_BY_ALL: u16 = REQUIRED_V3 | REQUIRED_V4 | BACKEND_V3 | BACKEND_V4;

/// Every dataset field of either API version, in the order of the backend's
/// DTOs. `owner` is optional in v4's `CreateDatasetDto` but required by the
/// mongoose schema: without it the backend answers 500 "Something went
/// wrong" after validation passed, which would look transient. `ownerGroup`
/// is checked apart (it may come from the config), `type` is always set by
/// the ingestor.
pub const DATASET_FIELDS: &[DatasetField] = &[
    f("pid", Text, 0),
    f("type", Text, BACKEND_V4),
    v3_only("version", Unchecked),
    f("datasetName", Text, REQUIRED_BY_ALL),
    renamed(
        "principalInvestigator",
        "principalInvestigators",
        REQUIRED_V3 | BACKEND_V3,
    ),
    f("startTime", Date, 0),
    f("endTime", Date, 0),
    f("creationLocation", Text, REQUIRED_V3 | BACKEND_V3),
    f("dataFormat", Text, 0),
    renamed("sampleId", "sampleIds", TEXT_IN_V3),
    renamed("instrumentId", "instrumentIds", TEXT_IN_V3),
    renamed("proposalId", "proposalIds", TEXT_IN_V3),
    f("runNumber", Text, TEXT_IN_V3),
    f("owner", Text, REQUIRED_BY_ALL),
    f("ownerEmail", Email, REQUIRED_V3),
    f("orcidOfOwner", Text, 0),
    f("contactEmail", Emails, REQUIRED_BY_ALL),
    f("sourceFolder", Text, REQUIRED_BY_ALL),
    f("sourceFolderHost", Text, 0),
    f("size", Integer, SET_BY_INGESTOR),
    f("packedSize", Integer, 0),
    f("numberOfFiles", Integer, SET_BY_INGESTOR),
    f("numberOfFilesArchived", Integer, 0),
    f("creationTime", Date, REQUIRED_BY_ALL),
    f("validationStatus", Unchecked, 0),
    f("keywords", TextList, 0),
    f("description", Text, 0),
    f("classification", Unchecked, 0),
    f("license", Text, 0),
    f("isPublished", Bool, SET_BY_INGESTOR),
    f("techniques", List, 0),
    f("sharedWith", TextList, 0),
    f("relationships", List, 0),
    f("datasetlifecycle", Unchecked, 0),
    f("scientificMetadata", Object, SET_BY_INGESTOR),
    f("scientificMetadataSchema", Unchecked, 0),
    f("scientificMetadataValid", Unchecked, 0),
    f("comment", Text, 0),
    f("dataQualityMetrics", Unchecked, 0),
    f("ownerGroup", Text, BACKEND_V3 | BACKEND_V4),
    f("accessGroups", TextList, 0),
    f("instrumentGroup", Text, 0),
    v4_only("inputDatasets", TextList),
    v4_only("usedSoftware", TextList),
    v4_only("jobParameters", Unchecked),
    v4_only("jobLogData", Unchecked),
];

/// Which name of a field a list holds.
#[derive(Clone, Copy)]
enum Api {
    V3,
    V4,
}

const fn name_in(field: &DatasetField, api: Api) -> Option<&'static str> {
    match api {
        Api::V3 => field.v3,
        Api::V4 => field.v4,
    }
}

const fn count(api: Api, flags: u16) -> usize {
    let (mut i, mut n) = (0, 0);
    while i < DATASET_FIELDS.len() {
        let field = &DATASET_FIELDS[i];
        if field.flags & flags == flags && name_in(field, api).is_some() {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The names in `api` of the fields with all of `flags`, in table order.
const fn names<const N: usize>(api: Api, flags: u16) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut i, mut n) = (0, 0);
    while i < DATASET_FIELDS.len() {
        let field = &DATASET_FIELDS[i];
        if field.flags & flags == flags
            && let Some(name) = name_in(field, api)
        {
            out[n] = name;
            n += 1;
        }
        i += 1;
    }
    out
}

const fn count_renamed() -> usize {
    let (mut i, mut n) = (0, 0);
    while i < DATASET_FIELDS.len() {
        if let (Some(a), Some(b)) = (DATASET_FIELDS[i].v3, DATASET_FIELDS[i].v4)
            && !a.eq_ignore_ascii_case(b)
        {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn renamed_pairs<const N: usize>() -> [(&'static str, &'static str); N] {
    let mut out = [("", ""); N];
    let (mut i, mut n) = (0, 0);
    while i < DATASET_FIELDS.len() {
        if let (Some(a), Some(b)) = (DATASET_FIELDS[i].v3, DATASET_FIELDS[i].v4)
            && !a.eq_ignore_ascii_case(b)
        {
            out[n] = (a, b);
            n += 1;
        }
        i += 1;
    }
    out
}

/// Properties the v3 dataset body accepts; anything else is rejected.
pub const V3_PROPERTIES: &[&str] = &names::<{ count(Api::V3, 0) }>(Api::V3, 0);
/// Properties of the v4 `CreateDatasetDto` (whitelist + forbid: anything
/// else is a 400).
pub const V4_PROPERTIES: &[&str] = &names::<{ count(Api::V4, 0) }>(Api::V4, 0);
/// Fields the ingestor insists on before a v3 upload.
pub const V3_REQUIRED: &[&str] = &names::<{ count(Api::V3, REQUIRED_V3) }>(Api::V3, REQUIRED_V3);
/// Fields the ingestor insists on before a v4 upload.
pub const V4_REQUIRED: &[&str] = &names::<{ count(Api::V4, REQUIRED_V4) }>(Api::V4, REQUIRED_V4);
/// Fields the v3 backend rejects a dataset without.
pub const V3_BACKEND_REQUIRED: &[&str] =
    &names::<{ count(Api::V3, BACKEND_V3) }>(Api::V3, BACKEND_V3);
/// Fields the v4 backend rejects a dataset without.
pub const V4_BACKEND_REQUIRED: &[&str] =
    &names::<{ count(Api::V4, BACKEND_V4) }>(Api::V4, BACKEND_V4);
/// Fields the ingestor sets itself.
pub const SET_BY_THE_INGESTOR: &[&str] =
    &names::<{ count(Api::V3, SET_BY_INGESTOR) }>(Api::V3, SET_BY_INGESTOR);
/// Dataset fields a plugin's `transform` may not add, change or remove
/// unless the schema grants them (`"plugin": {"may_set": [...]}`): who owns
/// and sees the dataset, then which record it lands in (the order messages
/// list them in).
pub const PROTECTED: &[&str] = &[
    "pid",
    "ownerGroup",
    "accessGroups",
    "sharedWith",
    "isPublished",
    "instrumentGroup",
    "sourceFolder",
    "sourceFolderHost",
    "size",
    "numberOfFiles",
];
/// v3 fields typed as text (a number is sent as its text).
pub const V3_TEXT_FIELDS: &[&str] = &names::<{ count(Api::V3, TEXT_IN_V3) }>(Api::V3, TEXT_IN_V3);
/// v3 single-valued field and the v4 list that replaces it.
pub const RENAMED: &[(&str, &str)] = &renamed_pairs::<{ count_renamed() }>();

/// The row of the field named `name` in either version.
pub fn field(name: &str) -> Option<&'static DatasetField> {
    DATASET_FIELDS
        .iter()
        .find(|f| f.v3 == Some(name) || f.v4 == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_are_the_table_in_order() {
        assert_eq!(V3_PROPERTIES.len(), 42);
        assert_eq!(V4_PROPERTIES.len(), 45);
        assert_eq!(
            V3_PROPERTIES[..4],
            ["pid", "type", "version", "datasetName"]
        );
        assert_eq!(
            V3_REQUIRED,
            [
                "datasetName",
                "principalInvestigator",
                "creationLocation",
                "owner",
                "ownerEmail",
                "contactEmail",
                "sourceFolder",
                "creationTime"
            ]
        );
        assert_eq!(
            V4_REQUIRED,
            [
                "datasetName",
                "owner",
                "contactEmail",
                "sourceFolder",
                "creationTime"
            ]
        );
        assert_eq!(
            V3_BACKEND_REQUIRED,
            [
                "datasetName",
                "principalInvestigator",
                "creationLocation",
                "owner",
                "contactEmail",
                "sourceFolder",
                "creationTime",
                "ownerGroup"
            ]
        );
        assert_eq!(
            V4_BACKEND_REQUIRED,
            [
                "type",
                "datasetName",
                "owner",
                "contactEmail",
                "sourceFolder",
                "creationTime",
                "ownerGroup"
            ]
        );
        assert_eq!(
            RENAMED,
            [
                ("principalInvestigator", "principalInvestigators"),
                ("sampleId", "sampleIds"),
                ("instrumentId", "instrumentIds"),
                ("proposalId", "proposalIds"),
            ]
        );
        assert_eq!(
            V3_TEXT_FIELDS,
            ["sampleId", "instrumentId", "proposalId", "runNumber"]
        );
        assert_eq!(
            SET_BY_THE_INGESTOR,
            ["size", "numberOfFiles", "isPublished", "scientificMetadata"]
        );
        assert_eq!(PROTECTED.len(), 10);
        assert!(PROTECTED.iter().all(|p| V3_PROPERTIES.contains(p)));
    }

    #[test]
    fn each_name_has_one_row() {
        for (i, a) in DATASET_FIELDS.iter().enumerate() {
            for b in &DATASET_FIELDS[i + 1..] {
                for n in [a.v3, a.v4].into_iter().flatten() {
                    assert!(b.v3 != Some(n) && b.v4 != Some(n), "{n} twice");
                }
            }
        }
        assert_eq!(field("proposalIds").unwrap().v3, Some("proposalId"));
        assert_eq!(field("colour"), None);
    }
}

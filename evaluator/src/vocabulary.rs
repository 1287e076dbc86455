//! Words several parts of the ingestor must agree on, each listed once here
//! and derived everywhere else.

/// Dataset fields a plugin's `transform` may not add, change or remove
/// unless the schema grants them (`"plugin": {"may_set": [...]}`): who owns
/// and sees the dataset, and which record it lands in.
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

//! The config options whose value is one of a closed set, as enums: a
//! misspelt value is refused when the config is read, naming the key and
//! the values that work, and the code past the loader matches on variants
//! instead of comparing strings.

use serde::{Deserialize, Serialize};

/// Written out with the spelling the config file uses, so the defaults
/// (which `--set` overrides are typed against) stay plain strings.
macro_rules! choice {
    ($(#[$doc:meta])* $name:ident, $key:literal, $hint:literal,
     { $($variant:ident => $canon:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// The dotted config key, for messages.
            pub const KEY: &'static str = $key;

            /// The spelling written back (and shown in messages).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $canon),+
                }
            }

            /// Case-insensitive, as the Python tool reads these values.
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                $(
                    if s.eq_ignore_ascii_case($canon) $(|| s.eq_ignore_ascii_case($alias))* {
                        return Some($name::$variant);
                    }
                )+
                None
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $name::parse(&s).ok_or_else(|| format!("is {s:?}: {}", $hint))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

choice!(
    /// How `dataFileList` paths are written.
    FilePathType, "ingestion.file_handling.file_path_type",
    "use \"absolute\" or \"relative\"",
    { Absolute => "absolute", Relative => "relative" }
);

choice!(
    /// The checksum of each data file (the only one SciCat's consumers here
    /// read is BLAKE2b).
    HashAlgorithm, "ingestion.file_handling.file_hash_algorithm",
    "only \"blake2b\" is supported",
    { Blake2b => "blake2b" }
);

choice!(
    /// The least severe log record written. Python's names, plus Rust's.
    LogLevel, "logging.logging_level",
    "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    {
        Trace => "TRACE" | "NOTSET",
        Debug => "DEBUG",
        Info => "INFO",
        Warning => "WARNING" | "WARN",
        Error => "ERROR" | "CRITICAL" | "FATAL",
        Off => "OFF",
    }
);

impl LogLevel {
    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Trace => log::LevelFilter::Trace,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Warning => log::LevelFilter::Warn,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Off => log::LevelFilter::Off,
        }
    }
}

/// The keys above: a value the loader refuses for one of them is reported as
/// a wrong value, not a wrong type.
pub const KEYS: &[&str] = &[FilePathType::KEY, HashAlgorithm::KEY, LogLevel::KEY];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_case_insensitively_and_write_canonically() {
        assert_eq!(LogLevel::parse(" warn "), Some(LogLevel::Warning));
        assert_eq!(LogLevel::parse("critical"), Some(LogLevel::Error));
        assert_eq!(LogLevel::Warning.as_str(), "WARNING");
        assert_eq!(
            HashAlgorithm::parse("BLAKE2B"),
            Some(HashAlgorithm::Blake2b)
        );
        assert_eq!(
            serde_json::to_value(FilePathType::Relative).unwrap(),
            serde_json::json!("relative")
        );
        assert_eq!(FilePathType::parse("relativ"), None);
        let e = FilePathType::try_from("relativ".to_string()).unwrap_err();
        assert_eq!(e, "is \"relativ\": use \"absolute\" or \"relative\"");
    }
}

//! Example plugin: a dataset transform. The title (`/entry/title`, or the
//! config's `title_path`) is matched against the config's `pattern`, a
//! regular expression with named groups. Then, in the finished dataset:
//!
//! - every named group's value is added to `keywords` (once);
//! - `datasetName` becomes the config's `name` template with `{group}`
//!   replaced by the group's value, blanks collapsed;
//! - `techniques` is filled from the config's `techniques` table, keyed by
//!   the value of the group `technique`.
//!
//! A title that does not match leaves the dataset unchanged, with a note on
//! stderr (the ingestor's debug log).

use std::collections::BTreeMap;

use regex_lite::Regex;
use scicat_plugin_sdk::serde_json::{self, Map, Value};
use scicat_plugin_sdk::{Context, Metadata, NexusFile, Plugin, Result, export};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    pattern: String,
    #[serde(default = "default_title_path")]
    title_path: String,
    #[serde(default)]
    name: Option<String>,
    /// Technique key (the `technique` group) -> `{"pid": ..., "name": ...}`.
    #[serde(default)]
    techniques: BTreeMap<String, Technique>,
}

#[derive(Deserialize, Clone)]
struct Technique {
    pid: String,
    name: String,
}

fn default_title_path() -> String {
    "/entry/title".into()
}

struct TitleKeywords {
    config: Config,
    pattern: Regex,
}

/// The named groups that matched, in pattern order.
fn groups(re: &Regex, title: &str) -> Option<Vec<(String, String)>> {
    let caps = re.captures(title)?;
    Some(
        re.capture_names()
            .flatten()
            .filter_map(|n| {
                caps.name(n)
                    .map(|m| (n.to_string(), m.as_str().trim().to_string()))
            })
            .filter(|(_, v)| !v.is_empty())
            .collect(),
    )
}

/// `{group}` replaced by its value, blanks collapsed.
fn fill(template: &str, groups: &[(String, String)]) -> String {
    let mut s = template.to_string();
    for (k, v) in groups {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Plugin for TitleKeywords {
    fn metadata() -> Metadata {
        Metadata::new("title-keywords", env!("CARGO_PKG_VERSION"))
            .description("keywords, datasetName and techniques parsed from the title")
            .transforms()
    }

    fn new(config: Value) -> Result<Self> {
        let config: Config = serde_json::from_value(config).context("plugin config")?;
        let pattern = Regex::new(&config.pattern).context("config `pattern`")?;
        Ok(TitleKeywords { config, pattern })
    }

    fn transform(
        &mut self,
        mut d: Map<String, Value>,
        file: &NexusFile,
    ) -> Result<Map<String, Value>> {
        let title = file.read_string(&self.config.title_path)?;
        let Some(groups) = groups(&self.pattern, &title) else {
            eprintln!(
                "title {title:?} does not match {:?}: dataset unchanged",
                self.config.pattern
            );
            return Ok(d);
        };

        let keywords = d
            .entry("keywords")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = keywords {
            for (_, v) in &groups {
                if !list.iter().any(|k| k.as_str() == Some(v)) {
                    list.push(Value::String(v.clone()));
                }
            }
        }

        if let Some(template) = &self.config.name {
            d.insert("datasetName".into(), Value::String(fill(template, &groups)));
        }

        let technique = groups
            .iter()
            .find(|(k, _)| k == "technique")
            .map(|(_, v)| v.to_lowercase());
        if let Some(t) = technique.and_then(|t| self.config.techniques.get(&t)) {
            d.insert(
                "techniques".into(),
                serde_json::json!([{"pid": t.pid, "name": t.name}]),
            );
        }
        Ok(d)
    }
}

export!(TitleKeywords);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_fill_the_template() {
        let re = Regex::new(r"^(?P<sample>.+?)\s*_(?P<technique>[a-z]+)_(?P<temperature>\d+)K$")
            .unwrap();
        let g = groups(&re, "LaB6  powder _saxs_290K").unwrap();
        assert_eq!(g[0], ("sample".into(), "LaB6  powder".into()));
        assert_eq!(
            fill("{sample} ({technique}, {temperature} K)", &g),
            "LaB6 powder (saxs, 290 K)"
        );
        assert!(groups(&re, "no match").is_none());
    }
}

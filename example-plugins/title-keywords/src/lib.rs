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
//! A title that does not match leaves the dataset unchanged, with a note in
//! the ingestor's log.

use std::collections::BTreeMap;

use regex_lite::Regex;
use scicat_plugin_sdk::serde_json::{self, Map, Value};
use scicat_plugin_sdk::{Context, Hooks, NexusFile, Result, export, log};
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

fn transform(
    tk: &mut TitleKeywords,
    mut d: Map<String, Value>,
    file: &NexusFile,
) -> Result<Map<String, Value>> {
    let title = file.read_string(&tk.config.title_path)?;
    let Some(groups) = groups(&tk.pattern, &title) else {
        log::info(format_args!(
            "title {title:?} does not match {:?}: dataset unchanged",
            tk.config.pattern
        ));
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

    if let Some(template) = &tk.config.name {
        d.insert("datasetName".into(), Value::String(fill(template, &groups)));
    }

    let technique = groups
        .iter()
        .find(|(k, _)| k == "technique")
        .map(|(_, v)| v.to_lowercase());
    if let Some(t) = technique.and_then(|t| tk.config.techniques.get(&t)) {
        d.insert(
            "techniques".into(),
            serde_json::json!([{"pid": t.pid, "name": t.name}]),
        );
    }
    Ok(d)
}

fn plugin() -> Hooks<TitleKeywords> {
    Hooks::with_init(
        "title-keywords",
        env!("CARGO_PKG_VERSION"),
        |config: Config| {
            let pattern = Regex::new(&config.pattern).context("config `pattern`")?;
            Ok(TitleKeywords { config, pattern })
        },
    )
    .description("keywords, datasetName and techniques parsed from the title")
    .transform(|tk, d, file, _| transform(tk, d, file))
}

export!(plugin());

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

    #[test]
    fn transform_fills_keywords_name_and_techniques() {
        use scicat_plugin_sdk::{MemFile, TransformContext};
        let file = MemFile::new().dataset("/entry/title", "LaB6   powder _saxs_290K");
        let config = serde_json::json!({
            "pattern": r"^(?P<sample>.+?)\s*_(?P<technique>[A-Za-z]+)_(?P<temperature>\d+)K$",
            "name": "{sample} ({technique}, {temperature} K)",
            "techniques": {"saxs": {"pid": "PaNET01188", "name": "small angle x-ray scattering"}}
        });
        let mut p = plugin().instance(config).unwrap();
        let d = serde_json::json!({"keywords": ["ODIN"]})
            .as_object()
            .unwrap()
            .clone();
        let out = p.transform(d, &file, &TransformContext::default()).unwrap();
        assert_eq!(
            out["keywords"],
            serde_json::json!(["ODIN", "LaB6   powder", "saxs", "290"])
        );
        assert_eq!(out["datasetName"], "LaB6 powder (saxs, 290 K)");
        assert_eq!(out["techniques"][0]["pid"], "PaNET01188");

        let other = MemFile::new().dataset("/entry/title", "no pattern here");
        let d = Map::new();
        assert_eq!(
            p.transform(d.clone(), &other, &TransformContext::default())
                .unwrap(),
            d
        );
        assert!(
            log::take()
                .iter()
                .any(|(_, l)| l.contains("does not match"))
        );
    }
}

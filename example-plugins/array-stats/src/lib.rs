//! Example plugin: statistics of a logged array (a temperature log, say),
//! with the array's unit, for scientific metadata.
//!
//! - Variables `mean`, `min`, `max`, `count` (`"source": "PLUGIN"`), with
//!   `"args": {"path": "/entry/.../value"}`: the array is streamed in blocks
//!   of `chunk` values (config, default 65536), so it may be larger than the
//!   plugin's memory. Each array is read once per data file.
//! - Operators `plugin:mean`, `plugin:min`, `plugin:max` on a numeric list
//!   value (e.g. `"<temperature_log>"`), keeping its unit.

use std::collections::HashMap;

use scicat_plugin_sdk::{Hooks, NexusFile, Result, Typed, Vars, bail, export};
use serde::Deserialize;

/// Running statistics of an array.
#[derive(Debug, Clone, Copy)]
struct Stats {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn new() -> Self {
        Stats {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    fn add(&mut self, values: &[f64]) {
        for &v in values.iter().filter(|v| !v.is_nan()) {
            self.count += 1;
            self.sum += v;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    fn get(&self, stat: &str) -> Result<Typed> {
        if self.count == 0 && stat != "count" {
            bail!("the array has no values");
        }
        Ok(match stat {
            "mean" => Typed::new(self.sum / self.count as f64),
            "min" => Typed::new(self.min),
            "max" => Typed::new(self.max),
            "count" => Typed::new(self.count as i64),
            other => bail!("unknown statistic {other:?} (mean, min, max, count)"),
        })
    }
}

/// The schema's `plugin.config`.
#[derive(Deserialize)]
#[serde(default)]
struct Config {
    chunk: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { chunk: 65536 }
    }
}

/// A variable's `args`.
#[derive(Deserialize)]
struct Args {
    path: String,
}

struct ArrayStats {
    chunk: u64,
    /// Statistics and unit per dataset path, computed once per file.
    seen: HashMap<String, (Stats, String)>,
}

impl ArrayStats {
    fn variable(&mut self, stat: &str, path: &str, file: &NexusFile) -> Result<Typed> {
        if !self.seen.contains_key(path) {
            let mut stats = Stats::new();
            for block in file.f64_chunks(path, self.chunk)? {
                stats.add(&block?);
            }
            let unit = file.units(path).unwrap_or_default();
            self.seen.insert(path.to_string(), (stats, unit));
        }
        let (stats, unit) = &self.seen[path];
        let out = stats.get(stat).map_err(|e| e.context(path))?;
        Ok(if stat == "count" {
            out
        } else {
            out.with_unit(unit.clone())
        })
    }
}

fn operator(stat: &str, value: Typed) -> Result<Typed> {
    let Some(numbers) = value.to_f64s() else {
        bail!(
            "operator {stat} needs a list of numbers, not {}",
            value.text()
        );
    };
    let mut stats = Stats::new();
    stats.add(&numbers);
    Ok(stats.get(stat)?.with_unit(value.unit))
}

fn plugin() -> Hooks<ArrayStats> {
    let mut hooks = Hooks::with_init("array-stats", env!("CARGO_PKG_VERSION"), |c: Config| {
        if c.chunk == 0 {
            bail!("config `chunk` must be a positive integer");
        }
        Ok(ArrayStats {
            chunk: c.chunk,
            seen: HashMap::new(),
        })
    })
    .description("mean, min, max and count of a numeric array, with its unit");
    for stat in ["mean", "min", "max", "count"] {
        hooks = hooks.variable(stat, move |s, a: Args, file, _: &Vars| {
            s.variable(stat, &a.path, file)
        });
    }
    for stat in ["mean", "min", "max"] {
        hooks = hooks.operator(stat, move |_, value, _| operator(stat, value));
    }
    hooks
}

export!(plugin());

#[cfg(test)]
mod tests {
    use super::*;
    use scicat_plugin_sdk::serde_json::json;
    use scicat_plugin_sdk::{Dataset, MemFile};

    #[test]
    fn statistics_of_a_streamed_array_keep_its_unit() {
        let file = MemFile::new().dataset(
            "/entry/t",
            Dataset::new(vec![290.0, f64::NAN, 296.0, 293.0]).units("K"),
        );
        let mut p = plugin().instance(json!({"chunk": 3})).unwrap();
        let var = |p: &mut scicat_plugin_sdk::Instance<ArrayStats>, name| {
            p.variable(name, json!({"path": "/entry/t"}), &file, &Vars::new())
                .unwrap()
        };
        let mean = var(&mut p, "mean");
        assert_eq!((mean.as_f64(), mean.unit.as_str()), (Some(293.0), "K"));
        assert_eq!(var(&mut p, "max").as_f64(), Some(296.0));
        assert_eq!(var(&mut p, "count").as_i64(), Some(3));
        let e = p
            .variable("mean", json!({"path": "/entry/x"}), &file, &Vars::new())
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        let op = p
            .operator(
                "min",
                Typed::new(vec![3.0, 1.0]).with_unit("K"),
                &Vars::new(),
            )
            .unwrap();
        assert_eq!((op.as_f64(), op.unit.as_str()), (Some(1.0), "K"));
        assert!(plugin().instance(json!({"chunk": 0})).is_err());
        assert_eq!(
            plugin().metadata().variables,
            ["mean", "min", "max", "count"]
        );
    }
}

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

use scicat_plugin_sdk::serde_json::Value;
use scicat_plugin_sdk::{
    Context, Error, Metadata, NexusFile, Plugin, Result, Typed, Vars, bail, export,
};

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

struct ArrayStats {
    chunk: u64,
    /// Statistics and unit per dataset path, computed once per file.
    seen: HashMap<String, (Stats, String)>,
}

impl Plugin for ArrayStats {
    fn metadata() -> Metadata {
        Metadata::new("array-stats", env!("CARGO_PKG_VERSION"))
            .description("mean, min, max and count of a numeric array, with its unit")
            .variable("mean")
            .variable("min")
            .variable("max")
            .variable("count")
            .operator("mean")
            .operator("min")
            .operator("max")
    }

    fn new(config: Value) -> Result<Self> {
        let chunk = match config.get("chunk") {
            None => 65536,
            Some(c) => c
                .as_u64()
                .filter(|c| *c > 0)
                .context("config `chunk` must be a positive integer")?,
        };
        Ok(ArrayStats {
            chunk,
            seen: HashMap::new(),
        })
    }

    fn variable(
        &mut self,
        name: &str,
        args: &Value,
        file: &NexusFile,
        _vars: &Vars,
    ) -> Result<Typed> {
        let path = args
            .get("path")
            .and_then(Value::as_str)
            .context("args need the dataset's \"path\"")?;
        if !self.seen.contains_key(path) {
            let mut stats = Stats::new();
            for block in file.f64_chunks(path, self.chunk)? {
                stats.add(&block?);
            }
            let unit = file.units(path).unwrap_or_default();
            self.seen.insert(path.to_string(), (stats, unit));
        }
        let (stats, unit) = &self.seen[path];
        let out = stats.get(name).map_err(|e| e.context(path))?;
        Ok(if name == "count" {
            out
        } else {
            out.with_unit(unit.clone())
        })
    }

    fn operator(&mut self, name: &str, value: Typed, _vars: &Vars) -> Result<Typed> {
        let numbers = value.to_f64s().ok_or_else(|| {
            Error::msg(format!(
                "operator {name} needs a list of numbers, not {}",
                value.text()
            ))
        })?;
        let mut stats = Stats::new();
        stats.add(&numbers);
        Ok(stats.get(name)?.with_unit(value.unit))
    }
}

export!(ArrayStats);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_skip_nan() {
        let mut s = Stats::new();
        s.add(&[290.0, f64::NAN, 296.0]);
        s.add(&[293.0]);
        assert_eq!(s.get("mean").unwrap().as_f64(), Some(293.0));
        assert_eq!(s.get("min").unwrap().as_f64(), Some(290.0));
        assert_eq!(s.get("max").unwrap().as_f64(), Some(296.0));
        assert_eq!(s.get("count").unwrap().as_i64(), Some(3));
        assert!(Stats::new().get("mean").is_err());
    }
}

#!/usr/bin/env bash
# Measures what plugins cost, with the release host:
#   - cold load: compiling each example plugin's component (empty cache),
#   - warm load: loading it from the compiled-code cache,
#   - extra time per file: a dry run of the array-stats schema with the
#     plugin, against the same fields computed by the built-in evaluator.
# Usage: tests/plugins/bench.sh [RUNS]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-20}
cargo build --quiet --release -p scicat-ingestor -p scicat-test-kit --bin scicat-ingestor --bin make-fixture
make --quiet --no-print-directory plugins
BIN=target/release/scicat-ingestor
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DATA=$WORK/443503/raw/run_31010.nxs
target/release/make-fixture "$DATA" --title "LaB6 powder_saxs_290K" 2>/dev/null

loaded_ms() { sed -n 's/.*loaded in \([0-9.]*\) ms.*/\1/p' | head -1; }

echo "plugin              size   cold load (compile)   warm load (cache)"
for p in array-stats instrument-select title-keywords; do
  wasm=target/wasm32-wasip2/release/${p//-/_}.wasm
  cache=$WORK/cache-$p
  cold=$($BIN -c example-plugins/$p/config.json --nexus-file "$DATA" --dry-run --set plugins.cache_dir="$cache" 2>&1 >/dev/null | loaded_ms)
  warm=$($BIN -c example-plugins/$p/config.json --nexus-file "$DATA" --dry-run --set plugins.cache_dir="$cache" 2>&1 >/dev/null | loaded_ms)
  printf "%-18s %5d KB   %8s ms          %8s ms\n" "$p" $(( $(stat -c %s "$wasm") / 1024 )) "$cold" "$warm"
done

# The same statistics without a plugin: NXS reads only (the built-in
# evaluator cannot compute a mean, so the baseline reads the log instead).
mkdir -p "$WORK/builtin"
python3 - "$WORK/builtin/builtin.imsc.json" <<'PY'
import json, sys
s = json.load(open("example-plugins/array-stats/schemas/array-stats.imsc.json"))
del s["plugin"]
for k, v in list(s["variables"].items()):
    if v["source"] == "PLUGIN" or v.get("operator", "").startswith("plugin:"):
        s["variables"][k] = {"source": "NXS", "path": "/entry/instrument/temperature/value", "value_type": "float[]"}
for k, f in s["schema"].items():
    if f["field_type"] == "scientific_metadata":
        f["type"] = "float[]"
json.dump(s, open(sys.argv[1], "w"))
PY
time_runs() { # $1 = schemas dir; prints ms per run
  local t0 t1
  t0=$(date +%s%N)
  for _ in $(seq "$RUNS"); do
    $BIN -c example-plugins/array-stats/config.json --nexus-file "$DATA" --dry-run \
      --set ingestion.schemas_directory="$1" --set plugins.cache_dir="$WORK/cache-array-stats" >/dev/null 2>&1
  done
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / RUNS / 1000000 ))
}
plugin_ms=$(time_runs "$PWD/example-plugins/array-stats/schemas")
builtin_ms=$(time_runs "$WORK/builtin")
echo "dry run per file, $RUNS runs: built-in evaluator ${builtin_ms} ms, with the array-stats plugin ${plugin_ms} ms (extra $((plugin_ms - builtin_ms)) ms)"

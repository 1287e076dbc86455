#!/usr/bin/env bash
# Benchmarks of the release build; prints times and ratios (never part of the
# tests). `make bench` builds first. SIZE_MIB sets the hashed file's size.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/scicat-ingestor
EX=target/release/examples
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-30}
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

calc() { awk "BEGIN { print $1 }"; }

best_of() { # best wall time in seconds of 3 runs of "$@"
  local best=""
  for _ in 1 2 3; do
    local s e t
    s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
    t=$(calc "$e - $s")
    if [ -z "$best" ] || [ "$(calc "$t < $best")" = 1 ]; then best=$t; fi
  done
  echo "$best"
}

echo "== hashing: BLAKE2b-512 of a ${SIZE_MIB} MiB file (page cache warm) =="
head -c "${SIZE_MIB}M" /dev/urandom > "$work/big.bin"
cat "$work/big.bin" > /dev/null
ours=$("$EX/b2sum" "$work/big.bin" | cut -d' ' -f1)
theirs=$(b2sum "$work/big.bin" | cut -d' ' -f1)
[ "$ours" = "$theirs" ] || { echo "digests differ!"; exit 1; }
t_ours=$(best_of "$EX/b2sum" "$work/big.bin")
t_b2sum=$(best_of b2sum "$work/big.bin")
printf "ingestor: %.2f s (%.0f MiB/s)   b2sum: %.2f s (%.0f MiB/s)   speed-up: %.2fx\n" \
  "$t_ours" "$(calc "$SIZE_MIB / $t_ours")" "$t_b2sum" "$(calc "$SIZE_MIB / $t_b2sum")" \
  "$(calc "$t_b2sum / $t_ours")"
peak() { /usr/bin/time -o "$work/peak" -f %M "$@" >/dev/null 2>&1; cat "$work/peak"; }
mem=$(peak "$EX/b2sum" "$work/big.bin")
echo "peak memory while hashing ${SIZE_MIB} MiB: ${mem} KiB"
rm -f "$work/big.bin"

echo "== dry run of one ESS-like file ($RUNS runs) =="
data="$work/data/443503/raw/demo_coda_31010.nxs"
"$EX/make-fixture" "$data" 2>/dev/null
s=$(date +%s.%N)
for _ in $(seq "$RUNS"); do "$BIN" -c demo/config.json --nexus-file "$data" -d >/dev/null 2>&1; done
e=$(date +%s.%N)
printf "mean wall time per dry run: %.1f ms\n" "$(calc "($e - $s) * 1000 / $RUNS")"
mem=$(peak "$BIN" -c demo/config.json --nexus-file "$data" -d)
echo "peak memory of a dry run: ${mem} KiB"

echo "== full ingestion against the test server ($RUNS files) =="
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$EX/scicat-test-server" "$port" >/dev/null 2>&1 &
server_pid=$!
sleep 0.5
for i in $(seq "$RUNS"); do "$EX/make-fixture" "$work/data/443503/raw/demo_coda_$i.nxs" --run "$i" 2>/dev/null; done
s=$(date +%s.%N)
for i in $(seq "$RUNS"); do
  "$BIN" -c demo/config.json --nexus-file "$work/data/443503/raw/demo_coda_$i.nxs" \
    --set ingestion.dry_run=false --set "scicat.host=http://127.0.0.1:$port/api/v3" --set scicat.token=bench >/dev/null 2>&1
done
e=$(date +%s.%N)
printf "mean wall time per ingested file (dataset + datablock created): %.1f ms\n" "$(calc "($e - $s) * 1000 / $RUNS")"
"$EX/make-fixture" "$work/data/443503/raw/demo_coda_9999.nxs" --run 9999 2>/dev/null
mem=$(peak "$BIN" -c demo/config.json --nexus-file "$work/data/443503/raw/demo_coda_9999.nxs" \
    --set ingestion.dry_run=false --set "scicat.host=http://127.0.0.1:$port/api/v3" --set scicat.token=bench)
echo "peak memory of a full ingestion: ${mem} KiB"

#!/usr/bin/env bash
# Many files: one process per file against `ingest --jobs 1` and `--jobs N`,
# for FILES small generated ESS-like files against the SciCat test server
# (a fast server, so the ingestor's own cost shows), plus the cost of a
# process that has nothing to do. Prints figures; never part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/scicat-ingestor}
EX=${EX:-target/release/examples}
# The test kit's binaries: make-fixture, scicat-test-server.
KIT=${KIT:-target/release}
FILES=${FILES:-1000}
JOBS=${JOBS:-$(nproc)}
# In memory when possible: on ext4, creating files soon after many were
# deleted (the previous run's cleanup) is slow for a while, which would be
# measured as the ingestor's cost. BENCH_DIR=/some/disk to measure a disk.
work=$(mktemp -d -p "${BENCH_DIR:-$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp )}")
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
calc() { awk "BEGIN { print $1 }"; }

# Each mode gets its own ingestor folder: deleting the last one's thousands
# of files would make ext4 slow to create the next ones for a while (its
# "recently deleted" inode checks), which is not the ingestor's cost.
mode=0
start_server() {
  mode=$((mode + 1))
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$KIT/scicat-test-server" "$port" >/dev/null 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  cat > "$work/config.json" <<JSON
{"scicat": {"host": "http://127.0.0.1:$port/api/v3", "token": "bench"},
 "ingestion": {"schemas_directory": "$PWD/tests/data/schemas",
               "file_handling": {"ingestor_files_directory": "../ingestor-$mode"}},
 "dataset": {"default_owner_group": "ess"}}
JSON
}

# "label", the figure recorded before (README, issue 15; "-" for none), then a
# command: wall s, CPU s (user + sys), peak RSS KiB.
measure() {
  local label=$1 was=$2; shift 2
  /usr/bin/time -o "$work/t" -f "%e %U %S %M" "$@" >/dev/null 2>"$work/err" || {
    echo "$label failed:"; tail -5 "$work/err"; exit 1; }
  read -r wall user sys rss < "$work/t"
  local cpu; cpu=$(calc "$user + $sys")
  printf "%-34s %8.1f files/s  %6.2f ms CPU/file  %7.2f s wall  peak RSS %6d KiB   before: %s\n" \
    "$label" "$(calc "$FILES / $wall")" "$(calc "$cpu * 1000 / $FILES")" "$wall" "$rss" "$was"
}

# The binary in the page cache as an installed one (scripts/settle.py).
python3 scripts/settle.py "$BIN"
echo "== many files: $FILES small ESS-like files, full ingestion against the test server =="
for i in $(seq "$FILES"); do
  "$KIT/make-fixture" "$work/data/443503/raw/coda_$i.nxs" --run "$((70000 + i))" 2>/dev/null
done
per_file() {
  for f in "$work"/data/443503/raw/*.nxs; do
    "$BIN" -c "$work/config.json" --nexus-file "$f" >/dev/null 2>&1 || return 1
  done
}
# The README's figures (a quiet 2-core machine, JOBS=2) before issue 15's work.
was() { if [ "$JOBS" = 2 ]; then echo "$1"; else echo "$2"; fi; }
start_server; measure "(a) one process per file" "112 files/s, 7.5 ms CPU/file" \
  bash -c "$(declare -f per_file); work=$work BIN=$BIN per_file"
start_server; measure "(b) ingest --jobs 1" "606 files/s, 1.3 ms CPU/file" \
  "$BIN" ingest -c "$work/config.json" "$work/data" --jobs 1
start_server; measure "(c) ingest --jobs $JOBS" "$(was "658 files/s" -)" \
  "$BIN" ingest -c "$work/config.json" "$work/data" --jobs "$JOBS"
start_server; measure "(c') ingest --jobs $((JOBS * 4))" "$(was "962 files/s" -)" \
  "$BIN" ingest -c "$work/config.json" "$work/data" --jobs "$((JOBS * 4))"
start_server; measure "(d) ingest --dry-run --jobs $JOBS" - \
  "$BIN" ingest -c "$work/config.json" "$work/data" --jobs "$JOBS" --dry-run

echo "== one process with little to do (mean of 200, each process's own CPU; where the CPU per process goes) =="
each() { # label, the CPU ms recorded before (issue 15's last round, timed as a shell loop), then a command run 200 times
  local label=$1 was=$2; shift 2
  local out
  out=$(python3 scripts/per_process.py 200 "$@") || { echo "$label: failed"; return 0; }
  read -r wall cpu _ <<< "$out"
  printf "%-58s %6.2f ms wall  %6.2f ms CPU   before: %s\n" "$label" "$wall" "$cpu" "$was"
}
one="$work/data/443503/raw/coda_1.nxs"
cat > "$work/offline.json" <<JSON
{"ingestion": {"schemas_directory": "$PWD/demo/schemas"}, "dataset": {"default_owner_group": "ess"}}
JSON
cp "$one" "$work/demo_coda_1.nxs"
each "/bin/true (process start)" 0.70 /bin/true
each "--help (static start, argument parsing)" 1.90 "$BIN" --help
each "inspect a file (+ HDF5 library start, one file read)" - "$BIN" inspect "$one"
each "dry run, no SciCat host (+ config, schemas, evaluation, hash)" 4.50 \
  "$BIN" -c "$work/offline.json" --nexus-file "$work/demo_coda_1.nxs" -d
each "dry run with a host (+ TLS roots, HTTP client, 3 lookups)" 6.50 \
  "$BIN" -c "$work/config.json" --nexus-file "$one" -d
# A full ingestion per process, each of a file not yet in the catalog (the
# issue's target: at most 4 ms of CPU).
start_server
n=$((FILES < 200 ? FILES : 200))
out=$(python3 scripts/per_process.py "$n" "$BIN" -c "$work/config.json" \
  --nexus-file "$work/data/443503/raw/coda_{i}.nxs") || { echo "full ingestion failed"; exit 1; }
read -r wall cpu _ <<< "$out"
printf "%-58s %6.2f ms wall  %6.2f ms CPU   before: %s\n" "full ingestion (test server)" \
  "$wall" "$cpu" "6.5-7.5 (target <= 4)"

#!/usr/bin/env bash
# Benchmarks of the release build (never part of the tests; `make bench`
# builds first): the curves of how cost grows with the work, each next to the
# figure of an older build when BEFORE names one.
#
#   BEFORE=DIR   a folder with an older build's `scicat-ingestor` and `b2sum`
#                (target/release/examples/b2sum), compared column by column
#   SIZES="1 16 256 1024 4096"   MiB of the hashed files (the disk needs room)
#   GROUP_COUNTS="10 100 1000 10000"   /entry/user_* groups of the wildcard curve
#   SCHEMA_COUNTS="1 10 100 1000"      schema files of the schema-count curve
#   RUNS=30      files of the per-process cost; REPEAT=5: best of, per point
#   ONLY="groups schemas hash threshold process"   the sections to run
#
# Without BEFORE each curve is still printed next to the figures recorded
# before the work on it (issue 15's table and the README, on a quiet 2-core
# machine), and the wildcard and schema curves next to the Python tool's.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release/scicat-ingestor
EX=$PWD/target/release/examples
# The test kit's binaries: make-fixture, scicat-test-server.
KIT=$PWD/target/release
SIZES=${SIZES:-1 16 256 1024 4096}
GROUP_COUNTS=${GROUP_COUNTS:-10 100 1000 10000}
SCHEMA_COUNTS=${SCHEMA_COUNTS:-1 10 100 1000}
RUNS=${RUNS:-30}
REPEAT=${REPEAT:-5}
ONLY=${ONLY:-groups schemas hash threshold process}
BEFORE=${BEFORE:-}
OLD_BIN=""
OLD_B2=""
if [ -n "$BEFORE" ]; then
  OLD_BIN=$(realpath "$BEFORE/scicat-ingestor")
  [ -x "$BEFORE/b2sum" ] && OLD_B2=$(realpath "$BEFORE/b2sum")
fi
work=$(mktemp -d)
server_pid=""
pwork=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$work" ${pwork:+"$pwork"}
}
trap cleanup EXIT

calc() { awk "BEGIN { print $1 }"; }

# Recorded figures (ms unless said): ours before issue 15, and the Python
# tool's on the same files. "-" where nothing was recorded.
declare -A WAS_GROUPS=([10]=8.9 [1000]=88 [10000]=874)
declare -A PY_GROUPS=([10]=400 [1000]=781 [10000]=3100)
declare -A WAS_SCHEMAS=([1]=9.0 [1000]=132)
declare -A PY_SCHEMAS=([1]=342 [1000]=669)
WAS_HASH_SHARE="94-96"        # % of coreutils b2sum's MiB/s on large files
WAS_PROCESS_CPU="6-8"         # ms of CPU per full ingestion of a small file
WAS_PROCESS_FAULTS="880-940"  # page faults per process
WAS_FILES_PER_S=112           # one process per file, one after another
recorded() { # ARRAY KEY: the recorded figure or "-"
  local -n a=$1
  echo "${a[$2]:--}"
}
ratio() { # OURS PYTHON: ours / Python's, or "-"
  if [ "$2" = - ]; then echo -; else calc "int($1 / $2 * 1000) / 1000"; fi
}
want() { [[ " $ONLY " == *" $1 "* ]]; }

best_ms() { # best wall time in ms of REPEAT runs of "$@"
  local best="" s e t
  for _ in $(seq "$REPEAT"); do
    s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    t=$(calc "($e - $s) / 1e6")
    if [ -z "$best" ] || [ "$(calc "$t < $best")" = 1 ]; then best=$t; fi
  done
  echo "$best"
}
# CPU time (perf's task-clock, all threads) resists a busy shared machine
# better than wall time; without perf, wall time it is.
if perf stat -x, -e task-clock -o /dev/null true >/dev/null 2>&1; then
  CLOCK="CPU ms (task-clock)"
  best_cost() { # best CPU time in ms of REPEAT runs of "$@"
    local best="" t
    for _ in $(seq "$REPEAT"); do
      perf stat -x, -e task-clock -o "$work/ps" "$@" >/dev/null 2>&1
      t=$(awk -F, '/task-clock/ { print $1 }' "$work/ps")
      if [ -z "$best" ] || [ "$(calc "$t < $best")" = 1 ]; then best=$t; fi
    done
    calc "int($best * 100) / 100"
  }
else
  CLOCK="wall ms"
  best_cost() { best_ms "$@"; }
fi
peak_kib() { /usr/bin/time -o "$work/peak" -f %M "$@" >/dev/null 2>&1; cat "$work/peak"; }
# Formats "before → ours" (just ours without BEFORE).
pair() { if [ -n "$BEFORE" ]; then printf "%10s → %-10s" "$1" "$2"; else printf "%10s" "$2"; fi; }

cfg=demo/config.json
nohash=(--set ingestion.file_handling.compute_file_hash=false --set ingestion.file_handling.save_file_hash=false)

if want process; then
  # First: the other sections create and delete many files, and for a
  # minute after that ext4 makes every new file (two per ingestion) search
  # past the deleted inodes, in the ingestor's time.
  echo "== per process: one small ESS-like file ($RUNS files): wall ms, CPU ms (user+sys), page faults =="
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$KIT/scicat-test-server" "$port" >/dev/null 2>&1 &
  server_pid=$!
  # In memory when possible, as in bench-batch.sh: the two small files an
  # ingestion creates should not be timed against ext4's inode search after
  # a deletion (BENCH_DIR=/some/disk to measure a disk).
  pwork=$(mktemp -d -p "${BENCH_DIR:-$( [ -d /dev/shm ] && echo /dev/shm || echo "$work" )}")
  fx=$pwork/fx/443503/raw
  for i in $(seq "$RUNS"); do "$KIT/make-fixture" "$fx/demo_coda_$i.nxs" --run "$i" 2>/dev/null; done
  # The binaries in the page cache as installed ones (scripts/settle.py).
  python3 scripts/settle.py "$BIN" ${OLD_BIN:+"$OLD_BIN"}
  # Each ingestion creates its dataset and its local state: a fresh server
  # and a folder of its own (hard links to the fixtures). Nothing is deleted
  # before a measurement: ext4 makes the next new files search past freshly
  # deleted inodes, which would be counted as the ingestor's CPU.
  runs=0
  fresh() { # sets $dir (and a new server on $port) for the next loop
    dir=$fx
    [ "$mode" = ingest ] || return 0
    runs=$((runs + 1))
    mkdir -p "$pwork/run$runs/443503"
    cp -al "$fx" "$pwork/run$runs/443503/raw"
    dir=$pwork/run$runs/443503/raw
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
    "$KIT/scicat-test-server" "$port" >/dev/null 2>&1 & server_pid=$!
    sleep 0.5
  }
  sleep 0.5
  # Means over RUNS processes, each read from the process's own usage
  # (scripts/per_process.py), so the shell's fork is not counted.
  loop_cost() { # BIN MODE(dry|ingest|start|open) DIR
    local f="$3/demo_coda_{i}.nxs"
    case $2 in
      start) python3 scripts/per_process.py "$RUNS" "$1" --version ;;
      open) python3 scripts/per_process.py "$RUNS" "$1" inspect "$f" ;;
      dry) python3 scripts/per_process.py "$RUNS" "$1" -c "$cfg" --nexus-file "$f" -d ;;
      ingest) python3 scripts/per_process.py "$RUNS" "$1" -c "$cfg" --nexus-file "$f" \
                --set ingestion.dry_run=false --set "scicat.host=http://127.0.0.1:$port/api/v3" \
                --set scicat.token=bench ;;
    esac
  }
  mean2() { # two "wall cpu faults" lines -> their means
    echo "$1 $2" | awk '{ printf "%.2f %.2f %d\n", ($1 + $4) / 2, ($2 + $5) / 2, ($3 + $6) / 2 }'
  }
  read -r _ tc _ <<< "$(python3 scripts/per_process.py "$RUNS" /bin/true)"
  echo "(the machine now: /bin/true costs $tc ms of CPU per process; shared machines drift by ±30 %)"
  printf "%-32s  %-23s  %-23s  %s\n" "" "wall ms" "CPU ms" "page faults"
  for mode in start open dry ingest; do
    case $mode in
      start) label="process start (--version)" ;;
      open) label="+ HDF5 open (inspect)" ;;
      dry) label="dry run" ;;
      ingest) label="full ingestion (test server)" ;;
    esac
    ow=""; oc=""; of=""
    if [ -n "$OLD_BIN" ]; then
      # New, old, old, new: a machine that speeds up or slows down during
      # the section weighs on both the same.
      fresh; a1=$(loop_cost "$BIN" "$mode" "$dir")
      fresh; b1=$(loop_cost "$OLD_BIN" "$mode" "$dir")
      fresh; b2=$(loop_cost "$OLD_BIN" "$mode" "$dir")
      fresh; a2=$(loop_cost "$BIN" "$mode" "$dir")
      read -r ew ec ef <<< "$(mean2 "$a1" "$a2")"
      read -r ow oc of <<< "$(mean2 "$b1" "$b2")"
    else
      fresh; read -r ew ec ef <<< "$(loop_cost "$BIN" "$mode" "$dir")"
    fi
    printf "%-32s  %s  %s  %s\n" "$label" "$(pair "$ow" "$ew")" "$(pair "$oc" "$ec")" "$(pair "$of" "$ef")"
  done
  printf "files per second (full ingestion, one after another): %s   (README before: %s)\n" \
    "$(pair "${ow:+$(calc "int(1000 / $ow)")}" "$(calc "int(1000 / $ew)")")" "$WAS_FILES_PER_S"
  echo "issue 15 before: $WAS_PROCESS_CPU ms of CPU and $WAS_PROCESS_FAULTS page faults per process; target CPU <= 4 ms"
  # Instructions do not drift with the machine: the user-space share of a
  # dry run, counted by valgrind.
  if command -v valgrind >/dev/null; then
    instr() {
      valgrind --tool=callgrind --callgrind-out-file="$work/cg" "$1" -c "$cfg" \
        --nexus-file "$fx/demo_coda_1.nxs" -d >/dev/null 2>&1
      awk '/^summary:/ { printf "%.2f", $2 / 1e6 }' "$work/cg"
    }
    oi=""; [ -n "$OLD_BIN" ] && oi=$(instr "$OLD_BIN")
    echo "dry run, user-space instructions (millions, callgrind): $(pair "$oi" "$(instr "$BIN")")"
  fi
  mem=$(peak_kib "$BIN" -c "$cfg" --nexus-file "$fx/demo_coda_1.nxs" -d)
  echo "peak memory of a dry run: ${mem} KiB"
fi

if want groups; then
  echo "== wildcard /entry/user_*/name over N groups: dry run (no hashing), best of $REPEAT =="
  printf "%8s  %-23s  %-20s  %-11s  %-10s  %s\n" groups "$CLOCK per dry run" "µs per added group" \
    "issue 15" "Python" "ours/Python"
  prev_n="" ; prev_old="" ; prev_new=""
  for n in $GROUP_COUNTS; do
    f="$work/g/443503/raw/demo_coda_g$n.nxs"
    "$KIT/make-fixture" "$f" --users "$n" 2>/dev/null
    new=$(best_cost "$BIN" -c "$cfg" --nexus-file "$f" -d "${nohash[@]}")
    old=""; [ -n "$OLD_BIN" ] && old=$(best_cost "$OLD_BIN" -c "$cfg" --nexus-file "$f" -d "${nohash[@]}")
    per_new="-"; per_old="-"
    if [ -n "$prev_n" ]; then
      per_new=$(calc "int(($new - $prev_new) * 1000 / ($n - $prev_n) * 10) / 10")
      [ -n "$old" ] && per_old=$(calc "int(($old - $prev_old) * 1000 / ($n - $prev_n) * 10) / 10")
    fi
    py=$(recorded PY_GROUPS "$n")
    printf "%8s  %s  %s  %-11s  %-10s  %s\n" "$n" "$(pair "$old" "$new")" "$(pair "$per_old" "$per_new")" \
      "$(recorded WAS_GROUPS "$n")" "$py" "$(ratio "$new" "$py")"
    prev_n=$n; prev_old=$old; prev_new=$new
    rm -f "$f"
  done
fi

if want schemas; then
  echo "== N schema files in the folder (N-1 that do not match): dry run (no hashing), best of $REPEAT =="
  f="$work/s/443503/raw/demo_coda_31010.nxs"
  "$KIT/make-fixture" "$f" 2>/dev/null
  printf "%8s  %-23s  %-20s  %-11s  %-10s  %s\n" schemas "$CLOCK per dry run" "µs per added schema" \
    "issue 15" "Python" "ours/Python"
  prev_n="" ; prev_old="" ; prev_new=""
  for n in $SCHEMA_COUNTS; do
    dir="$work/schemas_$n"
    mkdir -p "$dir"
    cp demo/schemas/demo-coda.imsc.json "$dir/"
    python3 - "$dir" "$n" <<'EOF'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
s = json.load(open(f"{d}/demo-coda.imsc.json"))
for i in range(1, n):
    s["id"] = f"bench-{i:05}"
    s["selector"] = f"filename:starts_with:/nowhere/{i}"
    s["order"] = i % 200
    json.dump(s, open(f"{d}/other-{i:05}.imsc.json", "w"), indent=2)
EOF
    new=$(best_cost "$BIN" -c "$cfg" --nexus-file "$f" -d "${nohash[@]}" --set "ingestion.schemas_directory=$dir")
    old=""; [ -n "$OLD_BIN" ] && old=$(best_cost "$OLD_BIN" -c "$cfg" --nexus-file "$f" -d "${nohash[@]}" --set "ingestion.schemas_directory=$dir")
    per_new="-"; per_old="-"
    if [ -n "$prev_n" ]; then
      per_new=$(calc "int(($new - $prev_new) * 1000 / ($n - $prev_n) * 10) / 10")
      [ -n "$old" ] && per_old=$(calc "int(($old - $prev_old) * 1000 / ($n - $prev_n) * 10) / 10")
    fi
    py=$(recorded PY_SCHEMAS "$n")
    printf "%8s  %s  %s  %-11s  %-10s  %s\n" "$n" "$(pair "$old" "$new")" "$(pair "$per_old" "$per_new")" \
      "$(recorded WAS_SCHEMAS "$n")" "$py" "$(ratio "$new" "$py")"
    prev_n=$n; prev_old=$old; prev_new=$new
    rm -rf "$dir"
  done
fi

if want hash; then
  echo "== BLAKE2b-512 of a file (page cache warm), best of 3: MiB/s and peak RSS =="
  printf "%8s  %-23s  %-23s  %-22s  %s\n" MiB "MiB/s" "peak RSS KiB" "coreutils b2sum MiB/s" \
    "% of b2sum (was $WAS_HASH_SHARE)"
  for mib in $SIZES; do
    f="$work/big.bin"
    head -c "${mib}M" /dev/urandom > "$f"
    cat "$f" > /dev/null
    ours=$("$EX/b2sum" "$f" | cut -d' ' -f1)
    [ "$ours" = "$(b2sum "$f" | cut -d' ' -f1)" ] || { echo "digests differ!"; exit 1; }
    t_new=$(REPEAT=3 best_ms "$EX/b2sum" "$f")
    m_new=$(peak_kib "$EX/b2sum" "$f")
    t_old=""; m_old=""; r_old=""
    if [ -n "$OLD_B2" ]; then
      t_old=$(REPEAT=3 best_ms "$OLD_B2" "$f"); m_old=$(peak_kib "$OLD_B2" "$f")
      r_old=$(calc "int($mib * 1000 / $t_old)")
    fi
    t_ref=$(REPEAT=3 best_ms b2sum "$f")
    printf "%8s  %s  %s  %-22s  %s\n" "$mib" "$(pair "$r_old" "$(calc "int($mib * 1000 / $t_new)")")" \
      "$(pair "$m_old" "$m_new")" "$(calc "int($mib * 1000 / $t_ref)")" "$(calc "int($t_ref / $t_new * 100)")"
    rm -f "$f"
  done
fi

if want threshold; then
  echo "== where inline hashing stops paying: ms per process (mean of $RUNS), inline vs reader thread =="
  printf "%8s  %8s  %10s\n" KiB inline overlapped
  for kib in 64 256 1024 2048 4096 8192 16384; do
    f="$work/t.bin"
    head -c "${kib}K" /dev/urandom > "$f"
    cat "$f" > /dev/null
    mean() {
      local s e
      s=$(date +%s%N)
      for _ in $(seq "$RUNS"); do "$EX/b2sum" "$1" "$f" >/dev/null; done
      e=$(date +%s%N)
      calc "int(($e - $s) / 1e3 / $RUNS) / 1000"
    }
    printf "%8s  %8s  %10s\n" "$kib" "$(mean --inline)" "$(mean --overlapped)"
    rm -f "$f"
  done
fi


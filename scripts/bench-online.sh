#!/usr/bin/env bash
# Files per second through Kafka: FILES small generated ESS-like files
# announced on a 4-partition topic (wrdn messages, as the file writer sends
# them) and ingested by `scicat-ingestor online` with 1, 4 and 10 workers,
# against the SciCat test server and a local broker (scripts/kafka.sh).
# Each run: the daemon joins its group first, then all messages are sent at
# once; the clock stops when the last file is ingested. Also prints the
# longest time a message waited between the broker and its commit.
# Prints figures; never part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/scicat-ingestor}
EX=${EX:-target/release/examples}
# The test kit's binaries: make-fixture, scicat-test-server.
KIT=${KIT:-target/release}
FILES=${FILES:-1000}
WORKERS=${WORKERS:-"1 4 10"}
# In memory when possible, each run with its own ingestor folder (see
# bench-batch.sh: ext4 is slow to create files soon after many were deleted).
work=$(mktemp -d -p "${BENCH_DIR:-$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp )}")
server_pid=""
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  scripts/kafka.sh stop "$work/kafka" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() { # name: its value from the daemon's /metrics (0 when absent)
  curl -s "http://127.0.0.1:$hport/metrics" | awk -v m="$1" '$1 == m { print $2; f=1 } END { if (!f) print 0 }'
}

bootstrap=$(scripts/kafka.sh start "$work/kafka" $$)
echo "== online: $FILES small ESS-like files through Kafka ($bootstrap, 4 partitions) =="
for i in $(seq "$FILES"); do
  "$KIT/make-fixture" "$work/data/443503/raw/coda_$i.nxs" --run "$((80000 + i))" 2>/dev/null
done
ls "$work"/data/443503/raw/*.nxs > "$work/files"

for w in $WORKERS; do
  port=$(free_port)
  "$KIT/scicat-test-server" "$port" >/dev/null 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  topic="bench-$w-$RANDOM"
  hport=$(free_port)
  cat > "$work/config.json" <<JSON
{"scicat": {"host": "http://127.0.0.1:$port/api/v3", "token": "bench",
            "health_endpoint": "http://127.0.0.1:$port/api/v3/instruments"},
 "ingestion": {"schemas_directory": "$PWD/tests/data/schemas", "max_offline_ingestors": $w,
               "file_handling": {"ingestor_files_directory": "../ingestor-$w"}},
 "dataset": {"default_owner_group": "ess"},
 "logging": {"logging_level": "WARNING"},
 "kafka": {"topics": "$topic", "group_id": "bench-$w", "bootstrap_servers": "$bootstrap",
           "session_timeout_ms": 6000, "dead_letter_journal": "$work/dead-letter-$w.jsonl"},
 "health_check": {"host": "127.0.0.1", "port": $hport}}
JSON
  "$EX/wrdn-produce" "$bootstrap" "$topic" --partitions 4 2>/dev/null
  "$BIN" online -c "$work/config.json" 2>"$work/daemon-$w.log" &
  daemon_pid=$!
  # Joined: wait until the group assignment is logged... at WARNING level it
  # is not, so wait for the health server and a moment for the join.
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$hport/metrics" >/dev/null && break; sleep 0.1; done
  sleep 3
  start=$(date +%s.%N)
  "$EX/wrdn-produce" "$bootstrap" "$topic" - < "$work/files" 2>/dev/null
  while :; do
    done_n=$(metric scicat_ingestor_files_ingested_total)
    failed=$(metric scicat_ingestor_files_dead_lettered_total)
    [ "$(awk "BEGIN { print ($done_n + $failed >= $FILES) }")" = 1 ] && break
    kill -0 "$daemon_pid" 2>/dev/null || { echo "the daemon died:"; tail -5 "$work/daemon-$w.log"; exit 1; }
    sleep 0.1
  done
  end=$(date +%s.%N)
  sleep 0.5
  wait_s=$(metric scicat_ingestor_max_commit_wait_seconds)
  printf "online, %2d worker(s)  %8.1f files/s  %7.2f s wall  longest broker-to-commit wait %6.2f s  (%s dead-lettered)\n" \
    "$w" "$(awk "BEGIN { print $FILES / ($end - $start) }")" "$(awk "BEGIN { print $end - $start }")" "$wait_s" "$failed"
  kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
done

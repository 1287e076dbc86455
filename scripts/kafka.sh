#!/usr/bin/env bash
# A real Apache Kafka broker for the online tests and `make bench`: 4.x,
# KRaft, one node, loopback only, assembled from Maven Central with mvn
# (no tarball download, no ZooKeeper).
#
#   scripts/kafka.sh install              jars into $KAFKA_HOME (once)
#   scripts/kafka.sh start DIR [OWNER]    format DIR, start a broker on a free
#                                         port, print its bootstrap address;
#                                         with OWNER (a pid) the broker stops
#                                         when that process exits
#   scripts/kafka.sh stop DIR             stop the broker started in DIR
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_HOME="${KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/scicat-ingestor/kafka/$KAFKA_VERSION}"

log() { echo "kafka: $*" >&2; }

install() {
  if [ -f "$KAFKA_HOME/libs/.complete" ]; then return 0; fi
  command -v java >/dev/null || { log "java (17+) is missing: apt-get install openjdk-17-jre-headless"; exit 1; }
  command -v mvn >/dev/null || { log "mvn is missing: apt-get install maven"; exit 1; }
  log "assembling Kafka $KAFKA_VERSION from Maven Central into $KAFKA_HOME (once)"
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>local.scicat-ingestor</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
  mkdir -p "$KAFKA_HOME"
  rm -rf "$KAFKA_HOME/libs"
  (cd "$work" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KAFKA_HOME/libs" >&2)
  touch "$KAFKA_HOME/libs/.complete"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

java_run() { # class args...
  java -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$DIR/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

start() {
  DIR="$(mkdir -p "$1" && cd "$1" && pwd)"
  local owner="${2:-}"
  install
  local port cport
  port="$(free_port)"
  cport="$(free_port)"
  mkdir -p "$DIR/data"
  cat >"$DIR/log4j2.properties" <<'LOG'
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = org.apache.kafka
logger.kafka.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
LOG
  cat >"$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=500
auto.create.topics.enable=true
PROPS
  java_run kafka.tools.StorageTool format -t "$(java_run kafka.tools.StorageTool random-uuid)" \
    -c "$DIR/server.properties" >"$DIR/format.log" 2>&1 \
    || { log "formatting failed:"; cat "$DIR/format.log" >&2; exit 1; }
  nohup java -Xms256m -Xmx768m -XX:+UseSerialGC \
    -Dlog4j2.configurationFile="$DIR/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$DIR/server.properties" >"$DIR/broker.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$DIR/broker.pid"
  echo "127.0.0.1:$port" >"$DIR/bootstrap"
  if [ -n "$owner" ]; then
    # The tests have no teardown hook: the broker goes when its owner does.
    # Its folder goes too: the tests make a new one each run.
    nohup bash -c "while kill -0 $owner 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done
      kill $pid 2>/dev/null; while kill -0 $pid 2>/dev/null; do sleep 0.5; done; rm -rf '$DIR'" \
      >/dev/null 2>&1 &
  fi
  local i
  for i in $(seq 1 240); do
    if grep -q "Kafka Server started" "$DIR/broker.log" 2>/dev/null; then
      echo "127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.5
  done
  log "the broker did not start; its log:"
  tail -30 "$DIR/broker.log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
}

stop() {
  local dir="$1" pid
  [ -f "$dir/broker.pid" ] || { log "no broker in $dir"; return 0; }
  pid="$(cat "$dir/broker.pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || { rm -f "$dir/broker.pid"; return 0; }; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/broker.pid"
}

case "${1:-}" in
  install) install ;;
  start) [ $# -ge 2 ] || { log "usage: $0 start DIR [OWNER_PID]"; exit 2; }; start "$2" "${3:-}" ;;
  stop) [ $# -ge 2 ] || { log "usage: $0 stop DIR"; exit 2; }; stop "$2" ;;
  *) log "usage: $0 install | start DIR [OWNER_PID] | stop DIR"; exit 2 ;;
esac

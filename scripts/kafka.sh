#!/usr/bin/env bash
# Single-node Apache Kafka 4.x broker (KRaft, combined broker+controller) on
# 127.0.0.1 for local development and tests. No Docker: the broker jars come
# from Maven Central through infra/kafka/pom.xml and are cached in var/kafka/libs.
#
# Usage: scripts/kafka.sh {start|stop|status|topics-ready}
#   start         start the broker (no-op if already running) and wait until ready
#   stop          stop the broker started by this script
#   status        print whether it runs; exit 0 if running, 3 if not
#   topics-ready  wait until the broker answers metadata requests (ready for
#                 topic creation); exit 0 if so, 1 on timeout
#
# Environment:
#   KAFKA_BOOTSTRAP_SERVERS      use this external Kafka instead; start/status only
#                                check that it is reachable, stop does nothing
#   LOTUS_KAFKA_PORT             client port (default 9092)
#   LOTUS_KAFKA_CONTROLLER_PORT  KRaft controller port (default 9093)
#   LOTUS_KAFKA_START_TIMEOUT    seconds to wait for readiness (default 60)
#   LOTUS_KAFKA_STATE_DIR        data, config, pid and log of this broker (default: var/kafka,
#                                var/run/kafka.pid, var/log/kafka.log); a second broker (the chaos
#                                suite's) sets it and its ports, and shares the jars in var/kafka/libs
#
# Progress goes to stderr; `start` prints one `export KAFKA_BOOTSTRAP_SERVERS=...`
# line on stdout, so `eval "$(scripts/kafka.sh start)"` works.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
readonly ROOT
readonly POM="infra/kafka/pom.xml"
readonly JARS_DIR="$ROOT/var/kafka"
readonly LIBS_DIR="$JARS_DIR/libs"
readonly MVN_LOG="$ROOT/var/log/kafka-mvn.log"
if [[ -n ${LOTUS_KAFKA_STATE_DIR:-} ]]; then
  readonly KAFKA_DIR="$LOTUS_KAFKA_STATE_DIR"
  readonly LOG_FILE="$KAFKA_DIR/kafka.log"
  readonly PID_FILE="$KAFKA_DIR/kafka.pid"
else
  readonly KAFKA_DIR="$JARS_DIR"
  readonly LOG_FILE="$ROOT/var/log/kafka.log"
  readonly PID_FILE="$ROOT/var/run/kafka.pid"
fi
readonly DATA_DIR="$KAFKA_DIR/data"
readonly CONFIG_FILE="$KAFKA_DIR/server.properties"
readonly LOG4J_FILE="$KAFKA_DIR/log4j2.properties"
readonly PORT="${LOTUS_KAFKA_PORT:-9092}"
readonly CONTROLLER_PORT="${LOTUS_KAFKA_CONTROLLER_PORT:-9093}"
readonly START_TIMEOUT="${LOTUS_KAFKA_START_TIMEOUT:-60}"
readonly EXTERNAL_TIMEOUT=30
readonly STOP_TIMEOUT=30

say() { printf 'lotus: %s\n' "$*" >&2; }
die() {
  printf 'lotus: %s\n' "$*" >&2
  exit 1
}

# --- small helpers ---------------------------------------------------------

# port_open HOST PORT: true if a TCP connection to HOST:PORT succeeds.
port_open() {
  # shellcheck disable=SC2016 # $1/$2 expand in the inner bash, on purpose
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# is_broker PID: true if PID is a live JVM running kafka.Kafka.
is_broker() {
  local cmdline
  [[ -r /proc/$1/cmdline ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *java* && $cmdline == *kafka.Kafka* ]]
}

# broker_pid: print the pid of our running broker, or fail.
broker_pid() {
  local pid
  [[ -f $PID_FILE ]] || return 1
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  is_broker "$pid" || return 1
  printf '%s\n' "$pid"
}

# configured_port: client port of the broker as last configured (falls back to PORT).
configured_port() {
  local port=""
  if [[ -f $CONFIG_FILE ]]; then
    port=$(sed -n 's|^advertised.listeners=PLAINTEXT://127.0.0.1:\([0-9]*\)$|\1|p' "$CONFIG_FILE")
  fi
  printf '%s\n' "${port:-$PORT}"
}

# external_host_port: first host:port of KAFKA_BOOTSTRAP_SERVERS, scheme and brackets removed.
external_host_port() {
  local first=${KAFKA_BOOTSTRAP_SERVERS%%,*}
  first=${first#*://}
  first=${first// /}
  [[ $first == *:* ]] || die "KAFKA_BOOTSTRAP_SERVERS must be host:port[,host:port...] (got: $KAFKA_BOOTSTRAP_SERVERS)"
  printf '%s\n' "$first"
}

split_host() { local h=${1%:*}; h=${h#[}; printf '%s\n' "${h%]}"; }
split_port() { printf '%s\n' "${1##*:}"; }

# metadata_ready HOST PORT: true if the broker answers a Kafka Metadata request
# listing at least one live (unfenced) broker. Speaks the wire protocol directly
# (ApiVersions v0 to pick a version, then a non-flexible Metadata request).
metadata_ready() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null
import socket, struct, sys

def call(sock, api_key, version, body, corr):
    client = b"lotus-probe"
    header = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    size = struct.unpack(">i", recv(sock, 4))[0]
    data = recv(sock, size)
    if struct.unpack(">i", data[:4])[0] != corr:
        raise SystemExit(1)
    return data[4:]

def recv(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise SystemExit(1)
        buf += chunk
    return buf

with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as s:
    resp = call(s, 18, 0, b"", 1)  # ApiVersions v0
    error, count = struct.unpack(">hi", resp[:6])
    if error != 0:
        raise SystemExit(1)
    ranges = {}
    for i in range(count):
        key, lo, hi = struct.unpack(">hhh", resp[6 + 6 * i:12 + 6 * i])
        ranges[key] = (lo, hi)
    lo, hi = ranges.get(3, (99, -1))  # Metadata
    version = max(lo, 1)
    if version > min(hi, 8):  # v9+ uses the flexible encoding; not needed here
        raise SystemExit(1)
    body = struct.pack(">i", 0)  # no topics, just brokers
    if version >= 4:
        body += b"\x00"  # allow_auto_topic_creation = false
    if version >= 8:
        body += b"\x00\x00"  # include cluster/topic authorized operations = false
    resp = call(s, 3, version, body, 2)
    offset = 4 if version >= 3 else 0  # throttle_time_ms
    brokers = struct.unpack(">i", resp[offset:offset + 4])[0]
    raise SystemExit(0 if brokers > 0 else 1)
PY
}

# --- prerequisites -----------------------------------------------------------

java_major() {
  local out version
  out=$(java -version 2>&1) || return 1
  out=${out%%$'\n'*}
  version=$(sed -E 's/.*version "([^"]*)".*/\1/' <<<"$out")
  version=${version#1.}
  printf '%s\n' "${version%%[!0-9]*}"
}

require_java() {
  local major
  command -v java >/dev/null 2>&1 || die "Java 17+ is required to run Kafka (found: no java on PATH)"
  major=$(java_major) || major=""
  if [[ ! $major =~ ^[0-9]+$ ]] || ((major < 17)); then
    die "Java 17+ is required to run Kafka (found: $(java -version 2>&1 | sed -n 1p))"
  fi
}

require_python() {
  python3 -c '' >/dev/null 2>&1 || die "python3 is required to check Kafka readiness"
}

require_port_number() {
  if [[ ! $2 =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > 65535)); then
    die "$1 must be a TCP port number (got: $2)"
  fi
}

# --- jars --------------------------------------------------------------------

kafka_version() {
  sed -n 's|.*<kafka.version>\(.*\)</kafka.version>.*|\1|p' "$POM" | sed -n 1p
}

# The jar cache is keyed on the pom's checksum, so editing the pom refetches.
pom_checksum() { cksum <"$POM" | cut -d' ' -f1; }

ensure_jars() {
  local marker="$LIBS_DIR/.complete" tmp="$JARS_DIR/libs.tmp" sum
  [[ -f $POM ]] || die "$POM is missing"
  sum=$(pom_checksum)
  if [[ -f $marker && $(<"$marker") == "$sum" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is required to download the Kafka jars once (then cached in var/kafka/libs)"
  say "fetching Apache Kafka $(kafka_version) jars with Maven into var/kafka/libs (first fetch takes a minute)"
  rm -rf "$tmp"
  if ! mvn -B -q -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" >"$MVN_LOG" 2>&1; then
    tail -n 20 "$MVN_LOG" >&2
    die "Maven could not fetch the Kafka jars; full output in var/log/kafka-mvn.log"
  fi
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  printf '%s\n' "$sum" >"$marker"
}

# Kafka 4.x logs through SLF4J; a log4j2 binding for the wrong SLF4J major
# silently drops every log line.
warn_if_logging_broken() {
  local api
  api=$(find "$LIBS_DIR" -maxdepth 1 -name 'slf4j-api-*.jar' -printf '%f\n' | sed -n 1p)
  if [[ $api == slf4j-api-1.* && -n $(find "$LIBS_DIR" -maxdepth 1 -name 'log4j-slf4j2-impl-*.jar') ]]; then
    say "warning: $api cannot use log4j-slf4j2-impl; var/log/kafka.log will miss broker logs (fix $POM)"
  fi
}

# --- config ------------------------------------------------------------------

write_server_properties() {
  cat >"$CONFIG_FILE" <<EOF
# Generated by scripts/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
log.dirs=$DATA_DIR
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=10
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.cleaner.dedupe.buffer.size=33554432
EOF
}

write_log4j_config() {
  cat >"$LOG4J_FILE" <<'EOF'
# Generated by scripts/kafka.sh. Console output goes to var/log/kafka.log.
status = warn
name = lotus-kafka
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.utils.name = org.apache.kafka.common.utils.AppInfoParser
logger.utils.level = WARN
logger.storage.name = org.apache.kafka.storage.internals
logger.storage.level = WARN
logger.log.name = kafka.log
logger.log.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
logger.coordinator.name = org.apache.kafka.coordinator.common.runtime.CoordinatorRuntime
logger.coordinator.level = WARN
logger.fetcher.name = kafka.server.ReplicaFetcherManager
logger.fetcher.level = WARN
logger.alterlogdirs.name = kafka.server.ReplicaAlterLogDirsManager
logger.alterlogdirs.level = WARN
EOF
}

# --- storage -----------------------------------------------------------------

storage_tool() {
  java -cp "$LIBS_DIR/*" -Dlog4j2.configurationFile="$LOG4J_FILE" kafka.tools.StorageTool "$@"
}

format_storage() {
  local cluster_id
  [[ -f $DATA_DIR/meta.properties ]] && return 0
  cluster_id=$(storage_tool random-uuid 2>>"$LOG_FILE" | tail -n 1) ||
    die "could not generate a Kafka cluster id; see ${LOG_FILE#"$ROOT"/}"
  say "formatting Kafka storage in ${DATA_DIR#"$ROOT"/} (cluster id $cluster_id)"
  mkdir -p "$DATA_DIR"
  storage_tool format --config "$CONFIG_FILE" --cluster-id "$cluster_id" >>"$LOG_FILE" 2>&1 ||
    die "formatting Kafka storage failed; see ${LOG_FILE#"$ROOT"/}"
}

# --- lifecycle ---------------------------------------------------------------

# check_port_free VAR PORT: fail unless nothing listens on 127.0.0.1:PORT.
check_port_free() {
  if port_open 127.0.0.1 "$2"; then
    die "port $2 is in use by another process; set $1"
  fi
}

launch_broker() {
  printf '\n=== %s scripts/kafka.sh start (port %s)\n' "$(date '+%F %T')" "$PORT" >>"$LOG_FILE"
  # setsid: the broker outlives the shell (and process group) that started it.
  nohup setsid java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J_FILE" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG_FILE" >>"$LOG_FILE" 2>&1 </dev/null &
  printf '%s\n' "$!" >"$PID_FILE"
}

fail_start() {
  local pid
  printf '\n' >&2
  say "$1; last lines of ${LOG_FILE#"$ROOT"/}:"
  tail -n 20 "$LOG_FILE" >&2 || true
  if pid=$(broker_pid); then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  exit 1
}

wait_until_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  printf 'lotus: waiting for Kafka on 127.0.0.1:%s ' "$PORT" >&2
  until port_open 127.0.0.1 "$PORT" && metadata_ready 127.0.0.1 "$PORT"; do
    is_broker "$pid" || fail_start "Kafka exited during startup"
    ((SECONDS < deadline)) || fail_start "Kafka did not become ready within ${START_TIMEOUT}s"
    printf '.' >&2
    sleep 1
  done
  printf ' ready\n' >&2
}

print_export_hint() {
  printf 'export KAFKA_BOOTSTRAP_SERVERS=%s\n' "$1"
}

start_external() {
  local hp host port deadline=$((SECONDS + EXTERNAL_TIMEOUT))
  hp=$(external_host_port)
  host=$(split_host "$hp")
  port=$(split_port "$hp")
  say "KAFKA_BOOTSTRAP_SERVERS is set; waiting for Kafka at $hp"
  until port_open "$host" "$port"; do
    ((SECONDS < deadline)) || die "Kafka at $hp is not reachable"
    sleep 1
  done
  print_export_hint "$KAFKA_BOOTSTRAP_SERVERS"
}

start_local() {
  local pid started=$SECONDS
  if broker_pid >/dev/null; then
    say "Kafka already running on 127.0.0.1:$(configured_port)"
    print_export_hint "127.0.0.1:$(configured_port)"
    return 0
  fi
  rm -f "$PID_FILE"
  require_port_number LOTUS_KAFKA_PORT "$PORT"
  require_port_number LOTUS_KAFKA_CONTROLLER_PORT "$CONTROLLER_PORT"
  require_java
  require_python
  mkdir -p "$KAFKA_DIR" "$JARS_DIR" "$ROOT/var/log" "$ROOT/var/run"
  ensure_jars
  warn_if_logging_broken
  check_port_free LOTUS_KAFKA_PORT "$PORT"
  check_port_free LOTUS_KAFKA_CONTROLLER_PORT "$CONTROLLER_PORT"
  write_server_properties
  write_log4j_config
  format_storage
  say "starting Kafka $(kafka_version) (KRaft) on 127.0.0.1:$PORT, log in ${LOG_FILE#"$ROOT"/}"
  launch_broker
  pid=$(<"$PID_FILE")
  wait_until_ready "$pid"
  say "Kafka running on 127.0.0.1:$PORT (pid $pid, up in $((SECONDS - started))s)"
  print_export_hint "127.0.0.1:$PORT"
}

stop_local() {
  local pid deadline=$((SECONDS + STOP_TIMEOUT))
  if ! pid=$(broker_pid); then
    rm -f "$PID_FILE"
    say "Kafka is not running"
    return 0
  fi
  say "stopping Kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  while is_broker "$pid" && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if is_broker "$pid"; then
    say "Kafka did not stop within ${STOP_TIMEOUT}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  say "Kafka stopped"
}

status() {
  local hp
  if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
    hp=$(external_host_port)
    if port_open "$(split_host "$hp")" "$(split_port "$hp")"; then
      echo "running (external, $hp)"
      return 0
    fi
    echo "not running (external, $hp not reachable)"
    return 3
  fi
  if broker_pid >/dev/null; then
    echo "running on 127.0.0.1:$(configured_port) (pid $(broker_pid))"
    return 0
  fi
  echo "not running"
  return 3
}

topics_ready() {
  local hp deadline=$((SECONDS + START_TIMEOUT))
  require_python
  hp="127.0.0.1:$(configured_port)"
  [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]] && hp=$(external_host_port)
  until metadata_ready "$(split_host "$hp")" "$(split_port "$hp")"; do
    ((SECONDS < deadline)) || die "Kafka at $hp is not ready (no live broker after ${START_TIMEOUT}s)"
    sleep 1
  done
  say "Kafka at $hp is ready"
}

main() {
  case "${1:-}" in
    start)
      if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then start_external; else start_local; fi
      ;;
    stop)
      if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
        say "KAFKA_BOOTSTRAP_SERVERS is set; not stopping an external Kafka"
      else
        stop_local
      fi
      ;;
    status) status ;;
    topics-ready) topics_ready ;;
    *)
      printf 'usage: %s {start|stop|status|topics-ready}\n' "$0" >&2
      exit 2
      ;;
  esac
}

main "$@"

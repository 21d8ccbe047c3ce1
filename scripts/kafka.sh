#!/usr/bin/env bash
# Apache Kafka 4.x in KRaft mode on 127.0.0.1 for local development and tests: by
# default one combined broker+controller (a laptop needs no more), with
# LOTUS_KAFKA_BROKERS=N a cluster of N combined nodes with one static quorum of N
# voters, so that replication, min.insync.replicas and a broker failover can be
# tried on one machine. No Docker: the broker jars come from Maven Central
# through infra/kafka/pom.xml and are cached in var/kafka/libs.
#
# Usage: scripts/kafka.sh {start|stop|status|kill|topics-ready} [NODE ...]
#   start [I ...]  start the broker, or the cluster's nodes I (default: all) that do not
#                  run yet, and wait until ready (a cluster: until every running node
#                  answers metadata listing every running node as a live broker)
#   stop [I ...]   stop the broker and every cluster node found under the cluster's state
#                  directory (whatever LOTUS_KAFKA_BROKERS says), or only nodes I
#   status         print whether the broker (each node) runs; exit 0 if it (every node of
#                  LOTUS_KAFKA_BROKERS) runs, 3 if not
#   kill I         SIGKILL node I and wait until it is gone (a crash, for failover tests)
#   topics-ready   wait until the broker answers metadata requests listing all
#                  LOTUS_KAFKA_BROKERS live brokers (ready for topic creation); exit 0 if
#                  so, 1 on timeout
#
# Environment:
#   KAFKA_BOOTSTRAP_SERVERS      use this external Kafka instead; start/status only
#                                check that it is reachable, stop does nothing
#   LOTUS_KAFKA_BROKERS          number of nodes (default 1: the single broker)
#   LOTUS_KAFKA_PORT             client port (default 9092); node I of a cluster listens
#                                on LOTUS_KAFKA_PORT + 2*(I-1)
#   LOTUS_KAFKA_CONTROLLER_PORT  KRaft controller port (default 9093); node I of a cluster
#                                on LOTUS_KAFKA_CONTROLLER_PORT + 2*(I-1)
#   LOTUS_KAFKA_START_TIMEOUT    seconds to wait for readiness (default 60; a cluster 120)
#   LOTUS_KAFKA_STATE_DIR        data, config, pid and log of this broker (default: var/kafka,
#                                var/run/kafka.pid, var/log/kafka.log); a second broker (the chaos
#                                suite's) sets it and its ports, and shares the jars in var/kafka/libs.
#                                A cluster keeps node I in $LOTUS_KAFKA_STATE_DIR/node-I/ (data/,
#                                server.properties, kafka.pid, kafka.log), by default under
#                                var/kafka-cluster/
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
# A cluster's nodes live apart from the single broker's var/kafka, so both can be kept.
CLUSTER_DIR="${LOTUS_KAFKA_STATE_DIR:-var/kafka-cluster}"
[[ $CLUSTER_DIR == /* ]] || CLUSTER_DIR="$ROOT/$CLUSTER_DIR"
readonly CLUSTER_DIR
readonly CLUSTER_LOG4J_FILE="$CLUSTER_DIR/log4j2.properties"
readonly CLUSTER_SIZE_FILE="$CLUSTER_DIR/brokers"
readonly EXTERNAL_TIMEOUT=30
readonly STOP_TIMEOUT=30

say() { printf 'lotus: %s\n' "$*" >&2; }
die() {
  printf 'lotus: %s\n' "$*" >&2
  exit 1
}

BROKERS="${LOTUS_KAFKA_BROKERS:-1}"
if [[ ! $BROKERS =~ ^[0-9]{1,4}$ ]] || ((10#$BROKERS < 1)); then
  die "LOTUS_KAFKA_BROKERS must be a whole number of brokers, 1 or more (got: $BROKERS)"
fi
BROKERS=$((10#$BROKERS))
readonly BROKERS
# Several JVMs starting at once on a small machine take longer than one.
START_TIMEOUT="${LOTUS_KAFKA_START_TIMEOUT:-$((BROKERS > 1 ? 120 : 60))}"
if [[ ! $START_TIMEOUT =~ ^[0-9]+$ ]]; then
  die "LOTUS_KAFKA_START_TIMEOUT must be a number of seconds (got: $START_TIMEOUT)"
fi
readonly START_TIMEOUT

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

# pid_in FILE: print the pid recorded in FILE if it is a running broker, or fail.
pid_in() {
  local pid
  [[ -f $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  is_broker "$pid" || return 1
  printf '%s\n' "$pid"
}

# broker_pid: print the pid of our running broker, or fail.
broker_pid() { pid_in "$PID_FILE"; }

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

# metadata_brokers HOST PORT: print the node ids of the live (unfenced) brokers, one
# line, space-separated, that the broker lists in its answer to a Kafka Metadata
# request; fail if it does not answer or lists none. Speaks the wire protocol
# directly (ApiVersions v0 to pick a version, then a non-flexible Metadata request).
metadata_brokers() {
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
    offset += 4
    ids = []
    try:
        for _ in range(brokers):  # node_id, host, port, rack (v1+, nullable)
            ids.append(struct.unpack(">i", resp[offset:offset + 4])[0])
            host_len = struct.unpack(">h", resp[offset + 4:offset + 6])[0]
            offset += 6 + host_len + 4
            rack_len = struct.unpack(">h", resp[offset:offset + 2])[0]
            offset += 2 + max(rack_len, 0)
    except struct.error:  # an answer this probe cannot read: live brokers, ids unknown
        ids = []
    print(" ".join(str(i) for i in sorted(ids)))
    raise SystemExit(0 if brokers > 0 else 1)
PY
}

# metadata_ready HOST PORT: true if the broker answers metadata listing at least one live broker.
metadata_ready() { metadata_brokers "$1" "$2" >/dev/null; }

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

# server_properties NODE_ID PORT CONTROLLER_PORT VOTERS DATA_DIR REPLICATION MIN_ISR:
# print a combined broker+controller's configuration.
server_properties() {
  cat <<EOF
# Generated by scripts/kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=$1
listeners=PLAINTEXT://127.0.0.1:$2,CONTROLLER://127.0.0.1:$3
advertised.listeners=PLAINTEXT://127.0.0.1:$2
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.quorum.voters=$4
log.dirs=$5
num.partitions=1
default.replication.factor=$6
auto.create.topics.enable=false
min.insync.replicas=$7
offsets.topic.replication.factor=$6
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$6
transaction.state.log.min.isr=$7
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$6
share.coordinator.state.topic.min.isr=$7
share.coordinator.state.topic.num.partitions=10
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.cleaner.dedupe.buffer.size=33554432
EOF
}

write_server_properties() {
  server_properties 1 "$PORT" "$CONTROLLER_PORT" "1@127.0.0.1:$CONTROLLER_PORT" "$DATA_DIR" 1 1 >"$CONFIG_FILE"
}

# write_log4j_config [FILE]: the logging setup (default: the single broker's).
write_log4j_config() {
  cat >"${1:-$LOG4J_FILE}" <<'EOF'
# Generated by scripts/kafka.sh. Console output goes to the broker's kafka.log.
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

# await_exec PID: give a process just started in the background time to exec java (until
# then its command line is this script's, and is_broker would call it gone).
await_exec() {
  local tries=0
  while ((tries++ < 100)) && [[ -e /proc/$1 ]] && ! is_broker "$1"; do
    sleep 0.05
  done
}

# run_kafka MIN_HEAP MAX_HEAP LOG4J CONFIG LOG PID_FILE: start one Kafka JVM in the background.
run_kafka() {
  # setsid: the broker outlives the shell (and process group) that started it.
  nohup setsid java "-Xms$1" "-Xmx$2" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$3" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$4" >>"$5" 2>&1 </dev/null &
  printf '%s\n' "$!" >"$6"
  await_exec "$!"
}

launch_broker() {
  printf '\n=== %s scripts/kafka.sh start (port %s)\n' "$(date '+%F %T')" "$PORT" >>"$LOG_FILE"
  run_kafka 256m 1g "$LOG4J_FILE" "$CONFIG_FILE" "$LOG_FILE" "$PID_FILE"
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
  if port_open 127.0.0.1 "$PORT" && [[ -n $(running_nodes) ]]; then
    die "port $PORT is in use by a Kafka cluster of $(rel "$CLUSTER_DIR") (nodes $(running_nodes)); use it with LOTUS_KAFKA_BROKERS=$(cat "$CLUSTER_SIZE_FILE" 2>/dev/null || echo N), or stop it (scripts/kafka.sh stop)"
  fi
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
  if ((BROKERS > 1)); then
    status_nodes && return 0
    return 3
  fi
  if broker_pid >/dev/null; then
    echo "running on 127.0.0.1:$(configured_port) (pid $(broker_pid))"
    status_cluster_too
    return 0
  fi
  echo "not running"
  status_cluster_too
  return 3
}

# status_cluster_too: with the single broker's status, the nodes of a cluster that runs.
status_cluster_too() {
  [[ -n $(running_nodes) ]] || return 0
  echo "a Kafka cluster runs from $(rel "$CLUSTER_DIR") (LOTUS_KAFKA_BROKERS=$(cat "$CLUSTER_SIZE_FILE" 2>/dev/null || echo '?')):"
  status_nodes || true
}

topics_ready() {
  local hp deadline=$((SECONDS + START_TIMEOUT)) i
  require_python
  if [[ -z ${KAFKA_BOOTSTRAP_SERVERS:-} ]] && ((BROKERS > 1)); then
    require_cluster_ports
    while true; do
      for i in $(seq 1 "$BROKERS"); do
        if node_sees_all "$i" "$(seq 1 "$BROKERS")"; then
          say "Kafka cluster at $(cluster_bootstrap) is ready ($BROKERS live brokers)"
          return 0
        fi
      done
      ((SECONDS < deadline)) || die "Kafka cluster at $(cluster_bootstrap) is not ready ($BROKERS live brokers not seen after ${START_TIMEOUT}s)"
      sleep 1
    done
  fi
  hp="127.0.0.1:$(configured_port)"
  [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]] && hp=$(external_host_port)
  until metadata_ready "$(split_host "$hp")" "$(split_port "$hp")"; do
    ((SECONDS < deadline)) || die "Kafka at $hp is not ready (no live broker after ${START_TIMEOUT}s)"
    sleep 1
  done
  say "Kafka at $hp is ready"
}

# --- cluster (LOTUS_KAFKA_BROKERS > 1) ---------------------------------------------

node_dir() { printf '%s/node-%s\n' "$CLUSTER_DIR" "$1"; }
node_port() { printf '%s\n' $((PORT + 2 * ($1 - 1))); }
node_controller_port() { printf '%s\n' $((CONTROLLER_PORT + 2 * ($1 - 1))); }
node_pid() { pid_in "$(node_dir "$1")/kafka.pid"; }
# node_configured_port I: node I's client port as last configured (falls back to the current one).
node_configured_port() {
  local port="" file
  file="$(node_dir "$1")/server.properties"
  if [[ -f $file ]]; then
    port=$(sed -n 's|^advertised.listeners=PLAINTEXT://127.0.0.1:\([0-9]*\)$|\1|p' "$file")
  fi
  printf '%s\n' "${port:-$(node_port "$1")}"
}
node_log() { printf '%s/kafka.log\n' "$(node_dir "$1")"; }
rel() { printf '%s\n' "${1#"$ROOT"/}"; }

# cluster_bootstrap: every node's client address, comma-separated.
cluster_bootstrap() {
  local i out=""
  for ((i = 1; i <= BROKERS; i++)); do
    out+="${out:+,}127.0.0.1:$(node_port "$i")"
  done
  printf '%s\n' "$out"
}

# require_cluster_ports: every node's two ports are valid and all of them differ.
require_cluster_ports() {
  local i seen=" " p c
  require_port_number LOTUS_KAFKA_PORT "$PORT"
  require_port_number LOTUS_KAFKA_CONTROLLER_PORT "$CONTROLLER_PORT"
  for ((i = 1; i <= BROKERS; i++)); do
    p=$(node_port "$i")
    c=$(node_controller_port "$i")
    require_port_number "LOTUS_KAFKA_PORT (node $i: LOTUS_KAFKA_PORT + $((2 * (i - 1))))" "$p"
    require_port_number "LOTUS_KAFKA_CONTROLLER_PORT (node $i: LOTUS_KAFKA_CONTROLLER_PORT + $((2 * (i - 1))))" "$c"
    if [[ $seen == *" $p "* || $seen == *" $c "* ]]; then
      die "the nodes' client ports (LOTUS_KAFKA_PORT + 2*(I-1)) and controller ports (LOTUS_KAFKA_CONTROLLER_PORT + 2*(I-1)) overlap; e.g. LOTUS_KAFKA_CONTROLLER_PORT = LOTUS_KAFKA_PORT + 1"
    fi
    seen+="$p $c "
  done
}

# node_args I ...: print the node numbers given (default: all), checking each.
node_args() {
  local i
  if (($# == 0)); then
    seq 1 "$BROKERS"
    return 0
  fi
  for i in "$@"; do
    if [[ ! $i =~ ^[0-9]+$ ]] || ((10#$i < 1 || 10#$i > BROKERS)); then
      die "no Kafka node '$i': nodes are 1..$BROKERS (LOTUS_KAFKA_BROKERS=$BROKERS)"
    fi
    printf '%s\n' $((10#$i))
  done
}

# found_nodes: the node numbers that have a directory under the cluster's state dir.
found_nodes() {
  local dir
  for dir in "$CLUSTER_DIR"/node-*; do
    if [[ -d $dir && ${dir##*/node-} =~ ^[0-9]+$ ]]; then
      printf '%s\n' "${dir##*/node-}"
    fi
  done | sort -n
}

# running_nodes: the node numbers whose broker runs, space-separated.
running_nodes() {
  local i out=""
  for i in $(found_nodes); do
    node_pid "$i" >/dev/null && out+="${out:+ }$i"
  done
  printf '%s\n' "$out"
}

# The replication of the cluster's defaults and internal topics: three copies, two
# of which must acknowledge a write, once there are three brokers.
cluster_replication() { printf '%s\n' $((BROKERS < 3 ? BROKERS : 3)); }
cluster_min_isr() {
  local rf
  rf=$(cluster_replication)
  printf '%s\n' $((rf > 1 ? rf - 1 : 1))
}

write_node_properties() {
  local i=$1 voters="" j
  for ((j = 1; j <= BROKERS; j++)); do
    voters+="${voters:+,}$j@127.0.0.1:$(node_controller_port "$j")"
  done
  {
    server_properties "$i" "$(node_port "$i")" "$(node_controller_port "$i")" "$voters" \
      "$(node_dir "$i")/data" "$(cluster_replication)" "$(cluster_min_isr)"
    printf '%s\n' "# A replica that is not in sync never becomes leader: no acknowledged write is lost." \
      "unclean.leader.election.enable=false"
  } >"$(node_dir "$i")/server.properties"
}

# check_cluster_size: a cluster formatted with another number of voters cannot start.
check_cluster_size() {
  local formatted
  [[ -f $CLUSTER_SIZE_FILE ]] || return 0
  formatted=$(<"$CLUSTER_SIZE_FILE")
  if [[ $formatted != "$BROKERS" ]] && compgen -G "$CLUSTER_DIR/node-*/data/meta.properties" >/dev/null; then
    die "$(rel "$CLUSTER_DIR") holds a $formatted-node Kafka cluster; set LOTUS_KAFKA_BROKERS=$formatted, or stop it and remove $(rel "$CLUSTER_DIR") for a fresh $BROKERS-node cluster"
  fi
}

# cluster_id: the id the nodes were formatted with, or a new one.
cluster_id() {
  local meta id
  for meta in "$CLUSTER_DIR"/node-*/data/meta.properties; do
    [[ -f $meta ]] || continue
    id=$(sed -n 's/^cluster\.id=//p' "$meta")
    if [[ -n $id ]]; then
      printf '%s\n' "$id"
      return 0
    fi
  done
  storage_tool random-uuid 2>>"$CLUSTER_DIR/storage.log" | tail -n 1
}

format_node() {
  local i=$1 id=$2 dir
  dir=$(node_dir "$i")
  [[ -f $dir/data/meta.properties ]] && return 0
  say "formatting node $i's storage in $(rel "$dir")/data (cluster id $id)"
  mkdir -p "$dir/data"
  java -cp "$LIBS_DIR/*" -Dlog4j2.configurationFile="$CLUSTER_LOG4J_FILE" kafka.tools.StorageTool \
    format --config "$dir/server.properties" --cluster-id "$id" >>"$(node_log "$i")" 2>&1 ||
    die "formatting Kafka node $i's storage failed; see $(rel "$(node_log "$i")")"
}

launch_node() {
  local i=$1 dir
  dir=$(node_dir "$i")
  printf '\n=== %s scripts/kafka.sh start (node %s of %s, port %s)\n' "$(date '+%F %T')" "$i" "$BROKERS" \
    "$(node_port "$i")" >>"$dir/kafka.log"
  # Three JVMs share the machine: a smaller heap each.
  run_kafka 128m 512m "$CLUSTER_LOG4J_FILE" "$dir/server.properties" "$dir/kafka.log" "$dir/kafka.pid"
}

# fail_cluster_start MESSAGE NODE...: show the nodes' logs, kill the nodes this start launched.
fail_cluster_start() {
  local message=$1 i pid
  shift
  printf '\n' >&2
  say "$message"
  for i in "$@"; do
    say "last lines of $(rel "$(node_log "$i")"):"
    tail -n 12 "$(node_log "$i")" >&2 || true
  done
  for i in "$@"; do
    if pid=$(node_pid "$i"); then
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$(node_dir "$i")/kafka.pid"
  done
  exit 1
}

# node_sees_all I RUNNING: true if node I answers metadata listing every running node.
node_sees_all() {
  local live want
  live=" $(metadata_brokers 127.0.0.1 "$(node_port "$1")") " || return 1
  for want in $2; do
    [[ $live == *" $want "* ]] || return 1
  done
}

# wait_cluster_ready NODE...: the nodes launched are up once each of them answers metadata
# listing every running node as a live broker (a node alone elects no controller, so
# this waits only after all were launched).
wait_cluster_ready() {
  local deadline=$((SECONDS + START_TIMEOUT)) i running ready
  printf 'lotus: waiting for Kafka nodes %s ' "$*" >&2
  while true; do
    for i in "$@"; do
      node_pid "$i" >/dev/null || fail_cluster_start "Kafka node $i exited during startup" "$@"
    done
    running=$(running_nodes)
    ready=1
    for i in "$@"; do
      node_sees_all "$i" "$running" || {
        ready=0
        break
      }
    done
    ((ready)) && break
    ((SECONDS < deadline)) ||
      fail_cluster_start "Kafka nodes $* did not all see brokers $running live within ${START_TIMEOUT}s" "$@"
    printf '.' >&2
    sleep 1
  done
  printf ' ready (live brokers: %s)\n' "$running" >&2
}

start_cluster() {
  local nodes i launch=() started=$SECONDS id
  node_args "$@" >/dev/null
  mapfile -t nodes < <(node_args "$@")
  require_cluster_ports
  require_java
  require_python
  mkdir -p "$CLUSTER_DIR" "$JARS_DIR" "$ROOT/var/log"
  check_cluster_size
  for i in "${nodes[@]}"; do
    if node_pid "$i" >/dev/null; then
      say "Kafka node $i already running on 127.0.0.1:$(node_port "$i")"
      continue
    fi
    if broker_pid >/dev/null && [[ $(configured_port) == "$(node_port "$i")" ]]; then
      die "the single Kafka broker runs on 127.0.0.1:$(node_port "$i"), node $i's port; stop it first (scripts/kafka.sh stop)"
    fi
    check_port_free "LOTUS_KAFKA_PORT (node $i uses LOTUS_KAFKA_PORT + $((2 * (i - 1))))" "$(node_port "$i")"
    check_port_free "LOTUS_KAFKA_CONTROLLER_PORT (node $i uses LOTUS_KAFKA_CONTROLLER_PORT + $((2 * (i - 1))))" \
      "$(node_controller_port "$i")"
    launch+=("$i")
  done
  if ((${#launch[@]} == 0)); then
    print_export_hint "$(cluster_bootstrap)"
    return 0
  fi
  ensure_jars
  warn_if_logging_broken
  write_log4j_config "$CLUSTER_LOG4J_FILE"
  id=$(cluster_id) || id=""
  [[ -n $id ]] || die "could not generate a Kafka cluster id; see $(rel "$CLUSTER_DIR")/storage.log"
  for i in "${launch[@]}"; do
    mkdir -p "$(node_dir "$i")"
    rm -f "$(node_dir "$i")/kafka.pid"
    write_node_properties "$i"
    format_node "$i" "$id"
  done
  printf '%s\n' "$BROKERS" >"$CLUSTER_SIZE_FILE"
  say "starting Kafka $(kafka_version) (KRaft) nodes ${launch[*]} of a $BROKERS-node cluster on $(cluster_bootstrap), logs in $(rel "$CLUSTER_DIR")/node-*/kafka.log"
  for i in "${launch[@]}"; do
    launch_node "$i"
  done
  wait_cluster_ready "${launch[@]}"
  say "Kafka cluster running on $(cluster_bootstrap) (up in $((SECONDS - started))s)"
  print_export_hint "$(cluster_bootstrap)"
}

# stop_pids LABEL:PIDFILE...: SIGTERM every broker at once (so that the quorum stays up while
# they shut down), wait, then SIGKILL what is left.
stop_pids() {
  local entry label file pid pids=() labels=() files=() deadline=$((SECONDS + STOP_TIMEOUT)) k alive
  for entry in "$@"; do
    label=${entry%%:*}
    file=${entry#*:}
    if pid=$(pid_in "$file"); then
      say "stopping $label (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      labels+=("$label")
    fi
    files+=("$file")
  done
  while true; do
    alive=0
    for k in "${!pids[@]}"; do
      is_broker "${pids[k]}" && alive=1
    done
    ((alive && SECONDS < deadline)) || break
    sleep 0.5
  done
  for k in "${!pids[@]}"; do
    if is_broker "${pids[k]}"; then
      say "${labels[k]} did not stop within ${STOP_TIMEOUT}s; killing it"
      kill -KILL "${pids[k]}" 2>/dev/null || true
    fi
  done
  rm -f "${files[@]}"
  ((${#pids[@]} == 0)) || say "Kafka stopped (${#pids[@]} node(s))"
}

# stop_cluster [I ...]: the nodes given, or every node found under the cluster's state dir.
stop_cluster() {
  local nodes i entries=()
  if (($# > 0)); then
    node_args "$@" >/dev/null
    mapfile -t nodes < <(node_args "$@")
  else
    mapfile -t nodes < <(found_nodes)
  fi
  for i in "${nodes[@]}"; do
    node_pid "$i" >/dev/null && entries+=("Kafka node $i:$(node_dir "$i")/kafka.pid")
  done
  if ((${#entries[@]} == 0)); then
    (($# == 0)) || say "Kafka node(s) $* not running"
    return 0
  fi
  stop_pids "${entries[@]}"
}

kill_node() {
  local i pid deadline=$((SECONDS + STOP_TIMEOUT))
  (($# == 1)) || die "usage: scripts/kafka.sh kill NODE (one of 1..$BROKERS)"
  i=$(node_args "$1")
  if ((BROKERS == 1)); then
    pid=$(broker_pid) || {
      say "Kafka is not running"
      return 0
    }
  else
    pid=$(node_pid "$i") || {
      say "Kafka node $i is not running"
      return 0
    }
  fi
  kill -KILL "$pid" 2>/dev/null || true
  while [[ -e /proc/$pid ]] && is_broker "$pid"; do
    ((SECONDS < deadline)) || die "Kafka node $i (pid $pid) is still there ${STOP_TIMEOUT}s after SIGKILL"
    sleep 0.1
  done
  if ((BROKERS == 1)); then rm -f "$PID_FILE"; else rm -f "$(node_dir "$i")/kafka.pid"; fi
  say "killed Kafka node $i (pid $pid)"
}

# status_nodes: one line per node found (and per node of LOTUS_KAFKA_BROKERS); true if
# every node of LOTUS_KAFKA_BROKERS runs.
status_nodes() {
  local i all=0 nodes
  ((BROKERS > 1)) && all=1
  nodes=$({
    found_nodes
    if ((BROKERS > 1)); then seq 1 "$BROKERS"; fi
  } | sort -nu)
  for i in $nodes; do
    if node_pid "$i" >/dev/null; then
      echo "node $i: running on 127.0.0.1:$(node_configured_port "$i") (pid $(node_pid "$i"))"
    else
      echo "node $i: not running"
      ((i <= BROKERS)) && all=0
    fi
  done
  ((all))
}

main() {
  local command=${1:-}
  (($# > 0)) && shift
  case "$command" in
    start)
      if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
        start_external
      elif ((BROKERS > 1)); then
        start_cluster "$@"
      else
        node_args "$@" >/dev/null
        start_local
      fi
      ;;
    stop)
      if [[ -n ${KAFKA_BOOTSTRAP_SERVERS:-} ]]; then
        say "KAFKA_BOOTSTRAP_SERVERS is set; not stopping an external Kafka"
      elif (($# > 0 && BROKERS > 1)); then
        stop_cluster "$@"
      elif (($# > 0)); then
        node_args "$@" >/dev/null
        stop_local
      elif ((BROKERS > 1)); then
        # Whatever runs: the cluster's nodes, and a single broker left from before.
        [[ -n $(running_nodes) ]] || say "Kafka cluster ($(rel "$CLUSTER_DIR")) is not running"
        stop_cluster
        broker_pid >/dev/null && stop_local
        :
      else
        stop_local
        stop_cluster
      fi
      ;;
    status) status ;;
    kill) kill_node "$@" ;;
    topics-ready) topics_ready ;;
    *)
      printf 'usage: %s {start|stop|status|kill|topics-ready} [NODE ...]\n' "$0" >&2
      exit 2
      ;;
  esac
}

main "$@"

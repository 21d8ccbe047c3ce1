#!/usr/bin/env bash
# `make chaos` (and the short step of `make test`): prepare the chaos suite's own PostgreSQL
# cluster (15/lotuschaos on 5499), a fresh Kafka broker (9192, state in var/chaos/kafka) and
# iptables, run `python -m tests.chaos "$@"`, and stop the broker and the cluster afterwards.
# With `--brokers 3` among the arguments the broker is a fresh three-node KRaft cluster instead
# (`scripts/kafka.sh` with LOTUS_KAFKA_BROKERS=3: clients on 9192, 9194, 9196).
# The shared PostgreSQL (5432) and Kafka (9092) are never touched. Needs root (pg_ctlcluster,
# iptables on loopback). Options: `python -m tests.chaos --help` (--short, --brokers, --orders, --seed, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${LOTUS_VENV:-.venv}/bin:$PATH"
export PYTHONUNBUFFERED=1
secrets=$(scripts/secrets.sh env)  # this checkout's keys and operator password
eval "$secrets"
say() { printf 'lotus: %s\n' "$*" >&2; }

[[ $(id -u) -eq 0 ]] || { say "the chaos suite needs root (pg_ctlcluster, iptables)"; exit 1; }
for tool in iptables:iptables nginx:nginx-light; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    say "installing ${tool##*:} (Debian package) for the chaos suite"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${tool##*:}" >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${tool##*:}" >/dev/null; }
  fi
done

export LOTUS_PG_CLUSTER=lotuschaos LOTUS_PG_PORT=5499
export LOTUS_KAFKA_PORT=9192 LOTUS_KAFKA_CONTROLLER_PORT=9193 LOTUS_KAFKA_STATE_DIR="$PWD/var/chaos/kafka"
# The broker count comes from the suite's own `--brokers N` (`python -m tests.chaos` reads it too).
LOTUS_KAFKA_BROKERS=1
args=("$@")
for i in "${!args[@]}"; do
  case ${args[i]} in
    --brokers) LOTUS_KAFKA_BROKERS=${args[i + 1]:-1} ;;
    --brokers=*) LOTUS_KAFKA_BROKERS=${args[i]#--brokers=} ;;
  esac
done
export LOTUS_KAFKA_BROKERS
unset DATABASE_URL KAFKA_BOOTSTRAP_SERVERS

teardown() {
  scripts/kafka.sh stop 2>/dev/null || true
  pg_ctlcluster --skip-systemctl-redirect 15 "$LOTUS_PG_CLUSTER" stop -m fast 2>/dev/null || true
  say "chaos: Kafka ($LOTUS_KAFKA_BROKERS broker(s)) and PostgreSQL cluster $LOTUS_PG_CLUSTER stopped"
}
trap teardown EXIT

scripts/postgres.sh start
scripts/kafka.sh stop >/dev/null 2>&1 || true
rm -rf "$LOTUS_KAFKA_STATE_DIR/data" "$LOTUS_KAFKA_STATE_DIR"/node-*/data  # a fresh broker (or cluster) per run
scripts/kafka.sh start >/dev/null
python -m tests.chaos "$@"

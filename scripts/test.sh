#!/usr/bin/env bash
# `make test`: everything CI runs, against the real PostgreSQL and Apache Kafka that the
# project's own scripts start (or DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS when given).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${LOTUS_VENV:-.venv}/bin:$PATH"
export PYTHONUNBUFFERED=1
secrets=$(scripts/secrets.sh env)  # this checkout's keys and operator password
eval "$secrets"
step() { printf '\n==> %s\n' "$*" >&2; }

step "lint: ruff and import contracts"
scripts/lint.sh

step "PostgreSQL"
scripts/postgres.sh start
DATABASE_URL=$(scripts/postgres.sh url)
export DATABASE_URL

step "Apache Kafka"
eval "$(scripts/kafka.sh start)"

step "npm packages: AsyncAPI's parser and renderer, newman (package-lock.json)"
scripts/npm.sh

step "Chromium (Debian's packages) for the browser tests: the admin's saga page, the AsyncAPI page"
scripts/browser.sh ensure

step "Django checks"
python manage.py check --fail-level WARNING
python manage.py makemigrations --check --dry-run
python manage.py asyncapi --check

step "pytest (unit, integration, end-to-end)"
python -m pytest "$@"

step "newman: the Postman acceptance scenarios against a running stack"
scripts/newman.sh

step "fuzz: schemathesis, every check and phase, as a customer and as the operator, against a running stack"
# A fixed seed keeps `make test` repeatable; `make fuzz` draws a new one each run (and prints it).
scripts/fuzz.sh "${LOTUS_FUZZ_EXAMPLES:-100}" --seed "${LOTUS_FUZZ_SEED:-14}"

step "benchmark, quick: completes, every order reaches NotifyingSourceSystem, books balance (no timing checks)"
python bench/saga_bench.py --quick

step "make up smoke test"
scripts/smoke-up.sh

step "make up smoke test on a three-broker cluster (LOTUS_KAFKA_BROKERS=3: replication factor 3, min in-sync 2)"
cluster=(env -u KAFKA_BOOTSTRAP_SERVERS LOTUS_KAFKA_BROKERS=3 LOTUS_KAFKA_PORT=9292 LOTUS_KAFKA_CONTROLLER_PORT=9293
  LOTUS_KAFKA_STATE_DIR="$PWD/var/smoke-cluster")
"${cluster[@]}" scripts/kafka.sh stop >/dev/null 2>&1 || true
rm -rf var/smoke-cluster
trap '"${cluster[@]}" scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
# The cluster is started first and given to make up as KAFKA_BOOTSTRAP_SERVERS, so that the smoke
# test's own manage.py ping publishes to it too (not to the single broker on 9092).
bootstrap=$("${cluster[@]}" scripts/kafka.sh start | sed -n 's/^export KAFKA_BOOTSTRAP_SERVERS=//p')
"${cluster[@]}" KAFKA_BOOTSTRAP_SERVERS="$bootstrap" scripts/smoke-up.sh
# What make up created there: every topic with three copies, two in sync (read back from the cluster).
"${cluster[@]}" KAFKA_BOOTSTRAP_SERVERS="$bootstrap" \
  LOTUS_KAFKA_REPLICATION_FACTOR=3 LOTUS_KAFKA_MIN_INSYNC_REPLICAS=2 python manage.py shell -c "$(cat <<'PY'
from lotus.messaging.kafka import all_topics, layouts, wanted
found = layouts()
assert sorted(found) == sorted(all_topics()), sorted(set(all_topics()) - set(found))
assert set(found.values()) == {wanted()}, found
print(f"lotus: {len(found)} topics on the three-broker cluster, each {wanted()}")
PY
)"
"${cluster[@]}" scripts/kafka.sh stop
trap - EXIT

step "chaos, short: faults while customers order on the suite's own PostgreSQL and Kafka, then invariants"
scripts/chaos.sh --short

step "chaos, short, on three brokers: nodes SIGKILLed one and two at a time, then invariants and nothing acknowledged lost"
scripts/chaos.sh --short --brokers 3

echo "lotus: make test passed" >&2

#!/usr/bin/env bash
# `make bench`: start PostgreSQL and Kafka if needed, then bench/saga_bench.py (arguments pass
# through: --concurrency N --duration S --consumers N --web-workers N --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${LOTUS_VENV:-.venv}/bin:$PATH"
export PYTHONUNBUFFERED=1
secrets=$(scripts/secrets.sh env)  # this checkout's keys and operator password
eval "$secrets"
if [ -z "${DATABASE_URL:-}" ]; then
  scripts/postgres.sh start
  DATABASE_URL=$(scripts/postgres.sh url)
  export DATABASE_URL
fi
eval "$(scripts/kafka.sh start)"
exec python bench/saga_bench.py "$@"

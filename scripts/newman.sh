#!/usr/bin/env bash
# Start a stack on PostgreSQL + Kafka (web, relays, consumers as separate processes), run the
# Postman collection with newman against it, and stop the stack whatever the result.
# Extra arguments go to newman. Needs DATABASE_URL (PostgreSQL) and Kafka running.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${LOTUS_NEWMAN_PORT:-8100}
secrets=$(scripts/secrets.sh env)  # the operator password the stack seeds
eval "$secrets"

if ! command -v npm >/dev/null 2>&1; then
  echo "lotus: npm (Node.js 18+) is required to run newman" >&2; exit 1
fi
if [ ! -x node_modules/.bin/newman ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "lotus: installing newman (package-lock.json) with npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

trap 'scripts/stack.sh stop newman' EXIT
scripts/stack.sh start newman "$port"
node_modules/.bin/newman run postman/OrderSaga.postman_collection.json \
  -e postman/local.postman_environment.json \
  --env-var "lotus=http://127.0.0.1:$port" \
  --env-var "operatorEmail=${LOTUS_OPERATOR_EMAIL:-operator@lotus.local}" \
  --env-var "operatorPassword=$LOTUS_OPERATOR_PASSWORD" \
  --reporters cli --color off "$@"

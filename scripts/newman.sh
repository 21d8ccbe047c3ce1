#!/usr/bin/env bash
# Start a stack on PostgreSQL + Kafka (web, relays, consumers as separate processes), run the
# Postman collection with newman against it, and stop the stack whatever the result.
# Extra arguments go to newman. Needs DATABASE_URL (PostgreSQL) and Kafka running.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${LOTUS_NEWMAN_PORT:-8100}
secrets=$(scripts/secrets.sh env)  # the operator password the stack seeds
eval "$secrets"

scripts/npm.sh  # newman (package-lock.json)

trap 'scripts/stack.sh stop newman' EXIT
scripts/stack.sh start newman "$port"
node_modules/.bin/newman run postman/OrderSaga.postman_collection.json \
  -e postman/local.postman_environment.json \
  --env-var "lotus=http://127.0.0.1:$port" \
  --env-var "operatorEmail=${LOTUS_OPERATOR_EMAIL:-operator@lotus.local}" \
  --env-var "operatorPassword=$LOTUS_OPERATOR_PASSWORD" \
  --reporters cli --color off "$@"

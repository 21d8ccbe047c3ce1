#!/usr/bin/env bash
# The fuzzer: start a split stack (scripts/stack.sh), write the OpenAPI document the code
# generates (every service's operations; the split stack's router serves only profiles' own),
# sign in as a fresh customer and as the operator, and run schemathesis with every check and
# every phase (examples, coverage, fuzzing, stateful) once per role. Any failure of any kind
# fails the script; the stack is stopped whatever the result.
#
#   scripts/fuzz.sh               LOTUS_FUZZ_EXAMPLES per operation (default 100; `make test`)
#   scripts/fuzz.sh 1000          the long run (`make fuzz`)
#   scripts/fuzz.sh 100 --seed 7  further arguments go to `st run` (both roles)
#
# LOTUS_FUZZ_STACK / LOTUS_FUZZ_PORT name the stack and its router's port (default fuzz, 8300;
# the services take the next six ports). Reports: var/fuzz/<role>/ (JUnit, NDJSON) and
# var/fuzz/summary.txt (requests sent per operation). Starts PostgreSQL and Kafka (as
# `make bench` does) unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are given.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${LOTUS_VENV:-.venv}/bin:$PATH"
export PYTHONUNBUFFERED=1
if [ -z "${DATABASE_URL:-}" ]; then
  scripts/postgres.sh start
  DATABASE_URL=$(scripts/postgres.sh url)
  export DATABASE_URL
fi
eval "$(scripts/kafka.sh start)"
examples=${1:-${LOTUS_FUZZ_EXAMPLES:-100}}
shift || true
name=${LOTUS_FUZZ_STACK:-fuzz}
port=${LOTUS_FUZZ_PORT:-8300}
out=var/fuzz
rm -rf "$out"
mkdir -p "$out"

trap 'scripts/stack.sh stop "$name"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
scripts/stack.sh start "$name" "$port"
# shellcheck disable=SC1090
source "var/run/stack-$name.env"

(unset LOTUS_SERVICES && python manage.py spectacular --format openapi-json --validate --fail-on-warn --file "$out/openapi.json")
python scripts/fuzz-tokens.py "$LOTUS_STACK_URL" >"$out/tokens.env"
# shellcheck disable=SC1091
source "$out/tokens.env"

status=0
for role in customer operator; do
  token_var="LOTUS_FUZZ_${role^^}_TOKEN"
  echo "lotus: schemathesis as the $role, $examples examples per operation and mode" >&2
  st --config-file schemathesis.toml run "$out/openapi.json" \
    --url "$LOTUS_STACK_URL" \
    --header "Authorization: Bearer ${!token_var}" \
    --checks all \
    --max-examples "$examples" \
    --generation-database none \
    --no-color \
    --report junit,ndjson --report-dir "$out/$role" \
    "$@" 2>&1 | tee "$out/$role.log" || status=1
done
python scripts/fuzz-report.py "$out" | tee "$out/summary.txt"
exit "$status"

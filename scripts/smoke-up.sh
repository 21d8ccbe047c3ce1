#!/usr/bin/env bash
# Start `make up` the way a user does (SQLite under a fresh var dir, the running Kafka),
# wait until /healthz and /readyz answer, then stop it with SIGINT like Ctrl-C and check
# that every process exits.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${LOTUS_SMOKE_PORT:-8765}
var_dir=$(mktemp -d /tmp/lotus-smoke.XXXXXX)
log="$var_dir/up.log"
timeout_s=${LOTUS_SMOKE_TIMEOUT:-180}

cleanup() {
  if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
}
start=$(date +%s)
env -u DATABASE_URL LOTUS_PORT="$port" LOTUS_VAR_DIR="$var_dir" setsid make up >"$log" 2>&1 &
pid=$!
trap cleanup EXIT

ready=""
while [ $(( $(date +%s) - start )) -lt "$timeout_s" ]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "lotus: make up exited early; its log:" >&2; tail -n 40 "$log" >&2; exit 1
  fi
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
    ready=yes; break
  fi
  sleep 1
done
if [ -z "$ready" ]; then
  echo "lotus: make up did not answer /healthz and /readyz within ${timeout_s}s; its log:" >&2
  tail -n 40 "$log" >&2; exit 1
fi
echo "lotus: make up answered /healthz and /readyz after $(( $(date +%s) - start ))s" >&2
curl -fsS "http://127.0.0.1:$port/readyz" >&2; echo >&2

echo "lotus: sending a ping through every relay and consumer" >&2
if ! env -u DATABASE_URL LOTUS_VAR_DIR="$var_dir" "${LOTUS_VENV:-.venv}/bin/python" manage.py ping --timeout 60 >&2; then
  echo "lotus: the ping did not travel; the make up log:" >&2; tail -n 60 "$log" >&2; exit 1
fi

kill -INT -- "-$pid"
for _ in $(seq 1 60); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
  echo "lotus: make up did not stop within 30 s of SIGINT; its log:" >&2; tail -n 40 "$log" >&2; exit 1
fi
wait "$pid" || true
if survivors=$(pgrep -s "$pid"); then
  echo "lotus: processes survived the stop: $survivors" >&2; exit 1
fi
echo "lotus: make up stopped cleanly" >&2
rm -rf "$var_dir"

#!/usr/bin/env bash
# Run the whole stack in the background on PostgreSQL and Kafka, as `make up` does in the
# foreground: web, and a relay and a consumer per service, as separate processes (Procfile).
# Used by `make test` for newman and by the end-to-end tests.
#
#   scripts/stack.sh start NAME PORT   fresh databases <db>_NAME_<service>, fresh topics, wait until ready
#   scripts/stack.sh stop NAME         Ctrl-C the stack and wait until every process is gone
#   scripts/stack.sh env NAME          print the environment of a running stack (to source)
#
# Needs DATABASE_URL (PostgreSQL) and a running Kafka (KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${LOTUS_VENV:-.venv}/bin:$PATH"
export PYTHONUNBUFFERED=1
mkdir -p var/run var/log

action=${1:?usage: scripts/stack.sh start|stop|env NAME [PORT]}
name=${2:?name the stack, e.g. e2e}
env_file="var/run/stack-$name.env"
pid_file="var/run/stack-$name.pid"
log="var/log/stack-$name.log"

start() {
  local port=${1:?port}
  if [ -z "${DATABASE_URL:-}" ]; then
    echo "lotus: scripts/stack.sh needs DATABASE_URL (PostgreSQL)" >&2; exit 1
  fi
  stop_stack 2>/dev/null || true
  local base=${DATABASE_URL%/*}
  cat >"$env_file" <<ENV
export DATABASE_URL=$base/lotus_$name
export LOTUS_KAFKA_NAMESPACE=$name$(date +%s)
export LOTUS_PORT=$port
export LOTUS_STACK_URL=http://127.0.0.1:$port
ENV
  # shellcheck disable=SC1090
  source "$env_file"
  echo "lotus: stack $name: fresh databases lotus_${name}_<service>, topics under $LOTUS_KAFKA_NAMESPACE" >&2
  python manage.py createdbs --fresh >/dev/null
  python manage.py migrateall >/dev/null
  python manage.py kafka_topics >&2
  python manage.py seed >&2
  python manage.py collectstatic --noinput --verbosity 0
  setsid honcho --no-colour start -f Procfile >"$log" 2>&1 &
  echo $! >"$pid_file"
  local started=$SECONDS
  until curl -fsS "$LOTUS_STACK_URL/readyz" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      echo "lotus: stack $name exited; log $log:" >&2; tail -n 40 "$log" >&2; exit 1
    fi
    if [ $((SECONDS - started)) -gt 120 ]; then
      echo "lotus: stack $name not ready after 120 s; log $log:" >&2; tail -n 40 "$log" >&2; exit 1
    fi
    sleep 0.5
  done
  python manage.py ping --timeout 60 >/dev/null
  echo "lotus: stack $name ready at $LOTUS_STACK_URL after $((SECONDS - started)) s (log: $log)" >&2
}

stop_stack() {
  [ -f "$pid_file" ] || return 0
  local pid
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -INT -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "lotus: stack $name did not stop within 30 s; killing it" >&2
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pid_file"
  echo "lotus: stack $name stopped" >&2
}

case "$action" in
  start) start "${3:-8100}" ;;
  stop) stop_stack ;;
  env) cat "$env_file" ;;
  *) echo "usage: scripts/stack.sh start|stop|env NAME [PORT]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Start `make up` the way a user does (SQLite under a fresh var dir, the running Kafka),
# wait until /healthz and /readyz answer, check that the API documents (OpenAPI, AsyncAPI and
# its page's renderer) are served and that a ping travels, SIGKILL one relay and one consumer
# and check that the others run on and that both come back by themselves, then the
# same with the web, check that a ping travels again, then stop it with SIGINT like Ctrl-C
# and check that every process exits.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${LOTUS_SMOKE_PORT:-8765}
secrets=$(scripts/secrets.sh env)  # what make up uses too (its ping below needs them)
eval "$secrets"
var_dir=$(mktemp -d /tmp/lotus-smoke.XXXXXX)
log="$var_dir/up.log"
timeout_s=${LOTUS_SMOKE_TIMEOUT:-180}
restart_timeout_s=${LOTUS_SMOKE_RESTART_TIMEOUT:-60}

# program -> pid, from supervisord (empty when the program is not running).
pids() {
  { "${LOTUS_VENV:-.venv}/bin/supervisorctl" -c "$var_dir/supervisor/supervisord.conf" status || true; } \
    | awk '$2 == "RUNNING" { sub(",", "", $4); print $1, $4 }' | sort
}
ping_all() {
  env -u DATABASE_URL LOTUS_VAR_DIR="$var_dir" "${LOTUS_VENV:-.venv}/bin/python" manage.py ping --timeout 60 >&2
}

# On failure: everything in make up's session (supervisord puts each program in a process
# group of its own, so the session is what holds them all).
cleanup() {
  pkill -KILL -s "$pid" 2>/dev/null || true
}
start=$(date +%s)
env -u DATABASE_URL LOTUS_PORT="$port" LOTUS_VAR_DIR="$var_dir" setsid make up >>"$log" 2>&1 &
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

# The API documents: the AsyncAPI document and its page's renderer (npm, collected by make up).
for path in /api/schema /api/asyncapi.json /api/asyncapi /static/asyncapi/index.js /static/asyncapi/default.min.css; do
  if ! curl -fsS -o /dev/null "http://127.0.0.1:$port$path"; then
    echo "lotus: make up does not serve $path" >&2; exit 1
  fi
done
echo "lotus: make up serves the OpenAPI and AsyncAPI documents and the AsyncAPI page's renderer" >&2

echo "lotus: sending a ping through every relay and consumer" >&2
if ! ping_all; then
  echo "lotus: the ping did not travel; the make up log:" >&2; tail -n 60 "$log" >&2; exit 1
fi

# SIGKILL the given programs; check that the web answers (unless it was killed), that they are
# running again with new pids within the bound and that every other program kept its pid.
kill_and_check() {
  local before after back program old new others_before others_after
  before=$(pids)
  for program in "$@"; do
    old=$(awk -v p="$program" '$1 == p { print $2 }' <<<"$before")
    if [ -z "$old" ]; then
      echo "lotus: $program is not running under supervisord:" >&2; echo "$before" >&2; exit 1
    fi
    echo "lotus: SIGKILL $program (pid $old)" >&2
    kill -KILL "$old"
  done
  if [[ " $* " != *" web "* ]] && ! curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null; then
    echo "lotus: the web stopped answering /healthz after the kills; its log:" >&2; tail -n 60 "$log" >&2; exit 1
  fi
  back=""
  for _ in $(seq 1 "$restart_timeout_s"); do
    after=$(pids)
    back=yes
    for program in "$@"; do
      old=$(awk -v p="$program" '$1 == p { print $2 }' <<<"$before")
      new=$(awk -v p="$program" '$1 == p { print $2 }' <<<"$after")
      if [ -z "$new" ] || [ "$new" = "$old" ]; then back=""; fi
    done
    if [ -n "$back" ] && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
    back=""
    sleep 1
  done
  if [ -z "$back" ]; then
    echo "lotus: $* were not running again (and the web answering) within ${restart_timeout_s}s:" >&2
    echo "$after" >&2; tail -n 60 "$log" >&2; exit 1
  fi
  others_before=$(awk -v killed=" $* " 'index(killed, " " $1 " ") == 0' <<<"$before")
  others_after=$(awk -v killed=" $* " 'index(killed, " " $1 " ") == 0' <<<"$after")
  if [ "$others_before" != "$others_after" ]; then
    echo "lotus: killing $* disturbed other programs; before and after:" >&2
    diff <(echo "$others_before") <(echo "$others_after") >&2 || true; exit 1
  fi
  echo "lotus: $* came back with new pids; the other $(wc -l <<<"$others_after") programs ran on" >&2
}
kill_and_check relay-orders consume-billing
kill_and_check web
echo "lotus: sending a ping through every relay and consumer again" >&2
if ! ping_all; then
  echo "lotus: the ping did not travel after the restarts; the make up log:" >&2; tail -n 60 "$log" >&2; exit 1
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
# supervisord exits once it reaped the programs; their output prefixers end a moment later.
for _ in $(seq 1 20); do
  survivors=$(pgrep -s "$pid") || break
  sleep 0.25
done
if survivors=$(pgrep -s "$pid"); then
  echo "lotus: processes survived the stop by 5 s: $(ps -o pid=,args= -p "${survivors//$'\n'/,}")" >&2; exit 1
fi
echo "lotus: make up stopped cleanly" >&2
rm -rf "$var_dir"

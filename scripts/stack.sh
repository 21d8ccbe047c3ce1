#!/usr/bin/env bash
# Run the whole stack in the background on PostgreSQL and Kafka, split as on Kubernetes: per
# service a web process (gunicorn serving only that service's API), a relay and consumers, all
# separate processes, behind nginx routing the API paths as the ingress does. Used by
# `make test` (newman, end-to-end tests) and `make bench`.
#
# Counts: LOTUS_STACK_WEB_WORKERS (gunicorn workers per service, default 1),
# LOTUS_STACK_CONSUMERS (consumer processes per service, default 1; useful up to the
# partition count, LOTUS_KAFKA_PARTITIONS).
#
# Tracing: the caller's environment reaches every process, so OTEL_TRACES_EXPORTER (and the
# other OTEL_* variables, LOTUS_TRACE_FILE) turn it on for the whole stack; each process names
# itself lotus-<service> (docs/tracing.md).
#
# Every client of this stack (newman, the end-to-end tests, the benchmark's customers) comes from
# 127.0.0.1 and a customer may order many times a minute, so the per-address and per-customer
# throttles are raised here unless the caller sets them (LOTUS_THROTTLE_*); sign-in per account
# keeps its default (each client signs in to its account once; the end-to-end tests check it).
#
#   scripts/stack.sh start NAME PORT   fresh databases <db>_NAME_<service>, fresh topics, wait until ready
#   scripts/stack.sh stop NAME         Ctrl-C the stack and wait until every process is gone
#   scripts/stack.sh env NAME          print the environment of a running stack (to source)
#   scripts/stack.sh procfile NAME PORT  only write the Procfile and nginx.conf (for a supervisor of
#                                      its own, as the chaos suite has) and print the Procfile's path
#
# Needs DATABASE_URL (PostgreSQL) and a running Kafka (KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092).
# Secrets come from the environment or this checkout's var/secrets (scripts/secrets.sh); as on
# Kubernetes, only profiles' processes get the private key that signs tokens, and each process
# serves its own service only (LOTUS_SERVICES).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${LOTUS_VENV:-.venv}/bin:$PATH"
export PYTHONUNBUFFERED=1
secrets=$(scripts/secrets.sh env)
eval "$secrets"
mkdir -p var/run var/log

action=${1:?usage: scripts/stack.sh start|stop|env|procfile NAME [PORT]}
name=${2:?name the stack, e.g. e2e}
run_dir="var/run/stack-$name"
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
export LOTUS_THROTTLE_LOGIN_ADDRESS=${LOTUS_THROTTLE_LOGIN_ADDRESS-1000000/min}
export LOTUS_THROTTLE_REGISTER=${LOTUS_THROTTLE_REGISTER-1000000/min}
export LOTUS_THROTTLE_TOP_UP=${LOTUS_THROTTLE_TOP_UP-1000000/min}
export LOTUS_THROTTLE_PLACE=${LOTUS_THROTTLE_PLACE-1000000/min}
ENV
  if [ -n "${LOTUS_THROTTLE_LOGIN_ACCOUNT+set}" ]; then
    echo "export LOTUS_THROTTLE_LOGIN_ACCOUNT=$LOTUS_THROTTLE_LOGIN_ACCOUNT" >>"$env_file"
  fi
  # shellcheck disable=SC1090
  source "$env_file"
  echo "lotus: stack $name: fresh databases lotus_${name}_<service>, topics under $LOTUS_KAFKA_NAMESPACE" >&2
  python manage.py createdbs --fresh >/dev/null
  python manage.py migrateall >/dev/null
  python manage.py kafka_topics >&2
  python manage.py seed >&2
  python manage.py collectstatic --noinput --verbosity 0
  ensure_nginx
  write_procfile "$port"
  setsid honcho --no-colour start -f "$run_dir/Procfile" -d . >"$log" 2>&1 &
  echo $! >"$pid_file"
  local started=$SECONDS
  until all_ready "$port"; do
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

SERVICES=(profiles billing orders stock delivery notifications)

ensure_nginx() {
  command -v nginx >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "lotus: nginx is required to route the split stack (install it: apt-get install nginx-light)" >&2; exit 1
  fi
  echo "lotus: installing nginx-light (Debian package) for the stack's router" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light >/dev/null; }
}

# web-<service> on port+1.., a relay and consumers per service, the deadline checker, nginx on port.
write_procfile() {
  local port=$1 workers=${LOTUS_STACK_WEB_WORKERS:-1} consumers=${LOTUS_STACK_CONSUMERS:-1} i=0 own
  local verifies_only="-u LOTUS_JWT_PRIVATE_KEY -u LOTUS_JWT_PRIVATE_KEY_FILE"
  mkdir -p "$run_dir/nginx"
  {
    for service in "${SERVICES[@]}"; do
      i=$((i + 1))
      own="LOTUS_SERVICES=$service"
      [ "$service" = profiles ] || own="$verifies_only $own"
      echo "web-$service: env $own gunicorn lotus.wsgi --bind 127.0.0.1:$((port + i)) --workers $workers --threads 4 --keep-alive 75 --graceful-timeout 10"
      # Prometheus /metrics: relays on port+10+i, consumers on port+20+i (+10 per extra consumer).
      echo "relay-$service: env $own LOTUS_METRICS_PORT=$((port + 10 + i)) python manage.py relay --service $service"
      for c in $(seq 1 "$consumers"); do
        echo "consume-$service-$c: env $own LOTUS_METRICS_PORT=$((port + 10 + 10 * c + i)) python manage.py consume --service $service"
      done
    done
    echo "deadlines-orders: env $verifies_only LOTUS_SERVICES=orders python manage.py expire_orders --loop"
    echo "router: nginx -p $PWD/$run_dir/nginx -c $PWD/$run_dir/nginx.conf -g 'daemon off;'"
  } >"$run_dir/Procfile"
  {
    echo "pid $PWD/$run_dir/nginx/nginx.pid;"
    echo "error_log stderr warn;"
    echo "events { worker_connections 1024; }"
    echo "http {"
    echo "  access_log off;"
    echo "  client_body_temp_path $PWD/$run_dir/nginx/body; proxy_temp_path $PWD/$run_dir/nginx/proxy;"
    echo "  fastcgi_temp_path $PWD/$run_dir/nginx/fastcgi; uwsgi_temp_path $PWD/$run_dir/nginx/uwsgi; scgi_temp_path $PWD/$run_dir/nginx/scgi;"
    i=0
    for service in "${SERVICES[@]}"; do
      i=$((i + 1))
      echo "  upstream $service { server 127.0.0.1:$((port + i)); keepalive 32; keepalive_timeout 30s; }"
    done
    echo "  map \$uri \$lotus_service {"
    echo "    default profiles;"
    for route in profile:profiles billing:billing order:orders stock:stock delivery:delivery notification:notifications; do
      echo "    ~^/${route%%:*} ${route##*:};"
    done
    echo "  }"
    echo "  server {"
    echo "    listen 127.0.0.1:$port;"
    echo "    proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host \$http_host;"
    # gunicorn answers a URL longer than it reads (4 KB) with an HTML 414: give the API's JSON
    # error instead (only 414 is intercepted: error_page in a location replaces the server's).
    # nginx's own limit is set above gunicorn's, so that this is the answer up to 32 KB.
    echo "    large_client_header_buffers 4 32k;"
    local intercept="proxy_intercept_errors on; error_page 414 = @uri_too_long;"
    for route in profile:profiles billing:billing order:orders stock:stock delivery:delivery notification:notifications; do
      echo "    location /${route%%:*} { proxy_pass http://${route##*:}; $intercept }"
    done
    echo "    location / { proxy_pass http://profiles; $intercept }"
    # nginx answers TRACE itself with a bare 405 (no Allow header, HTML): pass it to the service,
    # whose 405 lists the allowed methods in JSON as RFC 9110 asks (the fuzzer checks it).
    echo "    error_page 405 = @service;"
    echo "    location @service { proxy_pass http://\$lotus_service; }"
    echo "    location @uri_too_long { default_type application/json; return 414 '{\"error\": {\"status\": 414, \"code\": \"uri_too_long\", \"message\": \"The URL is too long.\"}}'; }"
    echo "  }"
    echo "}"
  } >"$run_dir/nginx.conf"
}

all_ready() {
  local port=$1 i
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 || return 1
  for i in 1 2 3 4 5 6; do
    curl -fsS "http://127.0.0.1:$((port + i))/readyz" >/dev/null 2>&1 || return 1
  done
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
  # Each start makes a namespace of its own: delete its topics, or the broker piles them up.
  if [ -f "$env_file" ]; then
    # shellcheck disable=SC1090
    (source "$env_file" && python manage.py kafka_topics --drop >&2) ||
      echo "lotus: could not delete the topics of stack $name" >&2
  fi
}

case "$action" in
  start) start "${3:-8100}" ;;
  stop) stop_stack ;;
  env) cat "$env_file" ;;
  procfile) write_procfile "${3:?port}" && echo "$PWD/$run_dir/Procfile" ;;
  *) echo "usage: scripts/stack.sh start|stop|env|procfile NAME [PORT]" >&2; exit 2 ;;
esac

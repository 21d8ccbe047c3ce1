#!/usr/bin/env bash
# `make up`: start Kafka (and PostgreSQL when DATABASE_URL points at it), migrate and seed
# every service database, then run the web process and every relay and consumer (Procfile)
# under supervisord until Ctrl-C: a process that exits or is killed is started again and the
# others run on (as on Kubernetes). With no DATABASE_URL each service gets a SQLite file under
# var/db/.
#
# LOTUS_TRACING=zipkin: also run a local trace viewer (Zipkin, scripts/zipkin.sh) on
# 127.0.0.1:9411 and export every process's spans to it (lotus/tracing.py). Any other tracing
# setup is the standard OTEL_* variables, passed through as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/${LOTUS_VENV:-.venv}/bin:$PATH"
export PYTHONUNBUFFERED=1
# This checkout's secret key, JWT keys and operator password (generated the first time, which
# prints the password); variables already set win.
secrets=$(scripts/secrets.sh env)
eval "$secrets"

# The /api/asyncapi page's renderer (npm, package-lock.json), collected with the static files.
scripts/npm.sh
procfile=Procfile
viewer_line=""
case "${LOTUS_TRACING:-}" in
  "") ;;
  zipkin)
    scripts/zipkin.sh fetch >/dev/null
    zipkin="http://127.0.0.1:${LOTUS_ZIPKIN_PORT:-9411}"
    export OTEL_TRACES_EXPORTER=${OTEL_TRACES_EXPORTER:-zipkin}
    export OTEL_EXPORTER_ZIPKIN_ENDPOINT=${OTEL_EXPORTER_ZIPKIN_ENDPOINT:-$zipkin/api/v2/spans}
    if [ -z "${LOTUS_TRACE_VIEWER_URL:-}" ]; then
      export LOTUS_TRACE_VIEWER_URL="$zipkin/zipkin/traces/{trace_id}"
    fi
    viewer_line="  traces         $zipkin/zipkin/   (Zipkin; every process exports its spans there)"
    ;;
  *) echo "lotus: LOTUS_TRACING=$LOTUS_TRACING is not known (zipkin, or unset and OTEL_* of your own)" >&2; exit 2 ;;
esac

# LOTUS_KAFKA_BROKERS=3: a local cluster of three brokers (scripts/kafka.sh), and topics that
# use it: three copies of each partition, two of which must have a write before it counts as
# acknowledged, so one broker can die without losing or refusing anything. A replication
# factor set by hand wins (and then the minimum in-sync is the settings' default unless set).
brokers=${LOTUS_KAFKA_BROKERS:-1}
case $brokers in
  "" | *[!0-9]*) ;; # scripts/kafka.sh refuses it with a clear message
  *)
    if [ -z "${LOTUS_KAFKA_REPLICATION_FACTOR:-}" ] && [ "$((10#$brokers))" -ge 2 ]; then
      replicas=$((10#$brokers >= 3 ? 3 : 2))
      export LOTUS_KAFKA_REPLICATION_FACTOR=$replicas
      export LOTUS_KAFKA_MIN_INSYNC_REPLICAS="${LOTUS_KAFKA_MIN_INSYNC_REPLICAS:-$((replicas - 1))}"
    fi
    ;;
esac
eval "$(scripts/kafka.sh start)"
if [ -n "${DATABASE_URL:-}" ]; then
  scripts/postgres.sh start
  echo "lotus: databases on ${DATABASE_URL%%\?*} (one per service)" >&2
else
  echo "lotus: databases are SQLite files under ${LOTUS_VAR_DIR:-var}/db (set DATABASE_URL for PostgreSQL)" >&2
fi

python manage.py createdbs
python manage.py migrateall
python manage.py kafka_topics
python manage.py seed
python manage.py collectstatic --noinput --verbosity 0

host=${LOTUS_HOST:-127.0.0.1}
port=${LOTUS_PORT:-8000}
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "lotus: port $port is in use by another process; set LOTUS_PORT" >&2
  exit 1
fi
state="${LOTUS_VAR_DIR:-var}/supervisor"
mkdir -p "$state"
state="$(cd "$state" && pwd)"
rm -f "$state"/*.log "$state"/*.log.[0-9]*
if [ -n "$viewer_line" ]; then
  # The Procfile's processes plus the viewer, supervised like them.
  procfile="$state/Procfile"
  { cat Procfile; echo "zipkin: scripts/zipkin.sh run"; } >"$procfile"
fi
(umask 077 && scripts/supervisord-conf.sh "$procfile" "$state" >"$state/supervisord.conf")
cat >&2 <<BANNER

lotus: starting web, relays and consumers (Ctrl-C stops them all)
  API            http://$host:$port/   (e.g. POST /profile/register)
  browsable API  http://$host:$port/api-auth/login/ then any endpoint in a browser
  admin          http://$host:$port/admin/   (operator: ${LOTUS_OPERATOR_EMAIL:-operator@lotus.local};
                 password: LOTUS_OPERATOR_PASSWORD, or $(scripts/secrets.sh dir)/operator_password)
  health         http://$host:$port/healthz  http://$host:$port/readyz
  API documents  http://$host:$port/api/docs (OpenAPI)  http://$host:$port/api/asyncapi (AsyncAPI: the messages)
  processes      supervisord restarts any that exits; ${LOTUS_VENV:-.venv}/bin/supervisorctl -c $state/supervisord.conf status
${viewer_line}

BANNER
exec supervisord --configuration "$state/supervisord.conf"

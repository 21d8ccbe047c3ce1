#!/usr/bin/env bash
# Local PostgreSQL for development and tests: the machine's PostgreSQL 15
# cluster (Debian's 15/main on 127.0.0.1:5432) with a `lotus` login role that
# may create databases (the project creates its per-service databases itself).
#
# Usage: scripts/postgres.sh {start|stop|url}
#   start  make sure PostgreSQL runs and the lotus role exists (idempotent)
#   stop   stop the cluster, but only if `start` was the one that started it
#   url    print the DATABASE_URL to use
#
# Environment:
#   DATABASE_URL       use this server instead; `start` only waits until it accepts
#                      TCP connections, `stop` does nothing
#   LOTUS_PG_CLUSTER   the Debian cluster to use (default main); a cluster other than
#   LOTUS_PG_PORT      main that does not exist yet is created (as root) on LOTUS_PG_PORT
#                      (default 5432), e.g. the chaos suite's own 15/lotuschaos on 5499
#
# Progress goes to stderr; only `url` writes to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
readonly ROOT
readonly PG_VERSION=15
readonly PG_CLUSTER=${LOTUS_PG_CLUSTER:-main}
readonly PG_HOST=127.0.0.1
readonly PG_PORT=${LOTUS_PG_PORT:-5432}
readonly ROLE=lotus
readonly PASSWORD=lotus
readonly DEFAULT_URL="postgresql://$ROLE:$PASSWORD@$PG_HOST:$PG_PORT/lotus"
readonly MIN_CONNECTIONS=300
readonly WAIT_TIMEOUT=30
readonly STARTED_MARKER="$ROOT/var/run/postgres${LOTUS_PG_CLUSTER:+-$LOTUS_PG_CLUSTER}.started"

say() { printf 'lotus: %s\n' "$*" >&2; }
die() {
  printf 'lotus: %s\n' "$*" >&2
  exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# port_open HOST PORT: true if a TCP connection to HOST:PORT succeeds.
port_open() {
  # shellcheck disable=SC2016 # $1/$2 expand in the inner bash, on purpose
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# --- external server (DATABASE_URL) -------------------------------------------

# url_host_port: print "HOST PORT" of DATABASE_URL (defaults: localhost 5432).
url_host_port() {
  python3 - "$DATABASE_URL" <<'PY'
import sys
from urllib.parse import parse_qs, urlsplit

url = urlsplit(sys.argv[1])
if url.scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
    raise SystemExit(1)
host = url.hostname or parse_qs(url.query).get("host", ["localhost"])[0]
print(host, url.port or 5432)
PY
}

start_external() {
  local host port deadline=$((SECONDS + WAIT_TIMEOUT))
  command -v python3 >/dev/null 2>&1 || die "python3 is required to parse DATABASE_URL"
  read -r host port < <(url_host_port) || die "DATABASE_URL is not a postgresql:// URL"
  if [[ $host == /* ]]; then
    until [[ -S $host/.s.PGSQL.$port ]]; do
      ((SECONDS < deadline)) || die "PostgreSQL socket $host/.s.PGSQL.$port (DATABASE_URL) does not exist"
      sleep 1
    done
    return 0
  fi
  until port_open "$host" "$port"; do
    ((SECONDS < deadline)) || die "PostgreSQL at $host:$port (DATABASE_URL) is not reachable"
    sleep 1
  done
}

# --- local cluster -------------------------------------------------------------

require_cluster() {
  local port
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v pg_lsclusters >/dev/null 2>&1; then
    die "PostgreSQL $PG_VERSION not found; install it or set DATABASE_URL"
  fi
  if [[ $PG_CLUSTER != main && -z $(cluster_field 3) ]]; then
    create_cluster
  fi
  port=$(cluster_field 3)
  [[ -n $port ]] || die "PostgreSQL $PG_VERSION not found; install it or set DATABASE_URL"
  [[ $port == "$PG_PORT" ]] ||
    die "PostgreSQL $PG_VERSION/$PG_CLUSTER listens on port $port, expected $PG_PORT; set DATABASE_URL"
  command -v pg_isready >/dev/null 2>&1 || die "pg_isready not found; install postgresql-client-$PG_VERSION"
}

# cluster_field N: column N of `pg_lsclusters` for our cluster (3 = port, 4 = status).
cluster_field() {
  pg_lsclusters --no-header | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" -v n="$1" \
    '$1 == v && $2 == c { print $n }'
}

# An extra cluster beside main (LOTUS_PG_CLUSTER), listening on loopback only.
create_cluster() {
  is_root || die "PostgreSQL cluster $PG_VERSION/$PG_CLUSTER does not exist; create it as root (pg_createcluster $PG_VERSION $PG_CLUSTER -p $PG_PORT)"
  say "creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER on port $PG_PORT"
  pg_createcluster "$PG_VERSION" "$PG_CLUSTER" -p "$PG_PORT" >&2 ||
    die "pg_createcluster $PG_VERSION $PG_CLUSTER failed"
}

cluster_online() { [[ $(cluster_field 4) == online* ]]; }

pg_ctl_cluster() {
  pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" "$1"
}

ensure_running() {
  cluster_online && return 0
  is_root || die "PostgreSQL is not running; start it (as root: pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER start) or set DATABASE_URL"
  say "starting PostgreSQL $PG_VERSION/$PG_CLUSTER"
  pg_ctl_cluster start >&2 || die "PostgreSQL failed to start; see /var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"
  mkdir -p "$(dirname "$STARTED_MARKER")"
  touch "$STARTED_MARKER"
}

wait_ready() {
  local deadline=$((SECONDS + WAIT_TIMEOUT))
  until pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; do
    ((SECONDS < deadline)) || die "PostgreSQL on $PG_HOST:$PG_PORT did not become ready within ${WAIT_TIMEOUT}s"
    sleep 1
  done
}

# as_postgres_psql ARGS...: psql as the postgres superuser over the local socket.
as_postgres_psql() {
  (cd / && runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@")
}

# lotus_psql ARGS...: psql as the lotus role over TCP with password auth.
lotus_psql() {
  PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q -At -v ON_ERROR_STOP=1 \
    -h "$PG_HOST" -p "$PG_PORT" -U "$ROLE" -d postgres "$@"
}

ensure_role() {
  as_postgres_psql <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  ELSE
    ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
SQL
  if [[ -z $(as_postgres_psql -c "SELECT 1 FROM pg_database WHERE datname = 'lotus'") ]]; then
    as_postgres_psql -c "CREATE DATABASE lotus OWNER $ROLE"
  fi
}

# Returns 0 if max_connections was raised (a restart is then needed).
raise_max_connections() {
  local current
  current=$(as_postgres_psql -c 'SHOW max_connections')
  ((current < MIN_CONNECTIONS)) || return 1
  say "raising max_connections from $current to $MIN_CONNECTIONS"
  as_postgres_psql -c "ALTER SYSTEM SET max_connections = $MIN_CONNECTIONS"
}

# The local cluster listens on loopback only, where TLS protects nothing and costs every
# statement an encryption round on both sides (a quarter of pgbench's TPS here): clients
# would negotiate it by default (sslmode=prefer), so the server stops offering it.
disable_loopback_tls() {
  [[ $(as_postgres_psql -c 'SHOW ssl') == on ]] || return 0
  [[ $(as_postgres_psql -c 'SHOW listen_addresses') == localhost ]] || return 0
  say "turning TLS off on the loopback-only cluster"
  as_postgres_psql -c "ALTER SYSTEM SET ssl = off" >/dev/null
  as_postgres_psql -c "SELECT pg_reload_conf()" >/dev/null
}

# other_clients: number of client connections besides our own.
other_clients() {
  as_postgres_psql -c "SELECT count(*) FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
}

# Apply a changed max_connections, unless that would cut off other clients.
restart_if_idle() {
  local clients
  clients=$(other_clients)
  if ((clients > 0)); then
    say "warning: not restarting PostgreSQL: $clients client(s) connected; the new max_connections applies after its next restart (or rerun this when idle)"
    return 0
  fi
  say "restarting PostgreSQL to apply max_connections"
  restart_cluster
}

restart_cluster() {
  pg_ctl_cluster restart >&2 || die "PostgreSQL failed to restart; see /var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"
  wait_ready
}

# Without root we cannot act as postgres; accept a setup that already works.
check_unprivileged_setup() {
  local current
  lotus_psql -c 'SELECT 1' >/dev/null 2>&1 ||
    die "role $ROLE cannot log in on $PG_HOST:$PG_PORT; run scripts/postgres.sh start as root once, or set DATABASE_URL"
  current=$(lotus_psql -c 'SHOW max_connections')
  if ((current < MIN_CONNECTIONS)); then
    say "warning: max_connections is $current (want $MIN_CONNECTIONS); run scripts/postgres.sh start as root once"
  fi
}

start_local() {
  require_cluster
  ensure_running
  wait_ready
  if is_root; then
    ensure_role
    disable_loopback_tls
    if raise_max_connections; then
      restart_if_idle
    fi
  else
    check_unprivileged_setup
  fi
  lotus_psql -c 'SELECT 1' >/dev/null ||
    die "role $ROLE cannot log in with a password on $PG_HOST:$PG_PORT; check pg_hba.conf"
  say "PostgreSQL $PG_VERSION ready on $PG_HOST:$PG_PORT (role $ROLE, may create databases)"
}

stop_local() {
  if [[ ! -f $STARTED_MARKER ]]; then
    say "PostgreSQL was not started by scripts/postgres.sh; not stopping it"
    return 0
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && cluster_online; then
    is_root || die "stopping PostgreSQL needs root (pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PG_CLUSTER stop)"
    say "stopping PostgreSQL $PG_VERSION/$PG_CLUSTER"
    pg_ctl_cluster stop >&2
  fi
  rm -f "$STARTED_MARKER"
}

main() {
  case "${1:-}" in
    start)
      if [[ -n ${DATABASE_URL:-} ]]; then start_external; else start_local; fi
      ;;
    stop)
      if [[ -n ${DATABASE_URL:-} ]]; then
        say "DATABASE_URL is set; not stopping an external PostgreSQL"
      else
        stop_local
      fi
      ;;
    url)
      printf '%s\n' "${DATABASE_URL:-$DEFAULT_URL}"
      ;;
    *)
      printf 'usage: %s {start|stop|url}\n' "$0" >&2
      exit 2
      ;;
  esac
}

main "$@"

#!/usr/bin/env bash
# The local trace viewer of `LOTUS_TRACING=zipkin make up`: Zipkin's server (its UI included),
# traces in memory, listening on 127.0.0.1:${LOTUS_ZIPKIN_PORT:-9411} only.
#
#   scripts/zipkin.sh fetch   fetch the pinned server jar from Maven Central once (needs mvn;
#                             cached in var/tools) and print its path
#   scripts/zipkin.sh run     run it in the foreground (supervisord runs it under `make up`)
#
# Jaeger was the first choice, but built from the Go module proxy it has no UI (its assets are
# built with npm from another repository and are not in the Go module): a placeholder page only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=3.5.1
tools="$root/var/tools"
jar="$tools/zipkin-server-$version-exec.jar"

fetch() {
  [ -s "$jar" ] && return 0
  command -v mvn >/dev/null 2>&1 || { echo "lotus: Maven (mvn) is needed once to fetch Zipkin $version" >&2; exit 1; }
  mkdir -p "$tools" "$root/var/log"
  echo "lotus: fetching Zipkin server $version from Maven Central into var/tools (once)" >&2
  if ! mvn -B -q dependency:copy -Dartifact="io.zipkin:zipkin-server:$version:jar:exec" \
    -DoutputDirectory="$tools" >"$root/var/log/zipkin-mvn.log" 2>&1; then
    echo "lotus: fetching Zipkin failed; the end of var/log/zipkin-mvn.log:" >&2
    tail -n 20 "$root/var/log/zipkin-mvn.log" >&2
    exit 1
  fi
}

case "${1:-}" in
  fetch) fetch && echo "$jar" ;;
  run)
    fetch
    port=${LOTUS_ZIPKIN_PORT:-9411}
    # Zipkin must not trace itself into itself, nor read Lotus's OTEL_* settings.
    exec env -u OTEL_TRACES_EXPORTER -u OTEL_SERVICE_NAME java -Xms64m -Xmx512m -jar "$jar" \
      --armeria.ports[0].port="$port" --armeria.ports[0].ip=127.0.0.1 --armeria.ports[0].protocols=http
    ;;
  *) echo "usage: scripts/zipkin.sh fetch|run" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Run Helm: `scripts/helm.sh lint helm/lotus`, `scripts/helm.sh template lotus helm/lotus`, ...
# The first call builds Helm v3.19.5 from the Go module proxy (needs Go) into var/tools/helm;
# later calls reuse it. Arguments and working directory are Helm's own.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=v3.19.5
tools="$root/var/tools"
helm="$tools/helm"

if [ ! -x "$helm" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "lotus: Go is needed once to build Helm $version (or put a helm binary at var/tools/helm)" >&2
    exit 1
  fi
  mkdir -p "$tools" "$root/var/log"
  log="$root/var/log/helm-build.log"
  # One build at a time: a second caller waits for the first one's binary.
  exec 9>"$tools/.helm-build.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  if [ ! -x "$helm" ]; then
    echo "lotus: building Helm $version into var/tools (once, about two minutes; log: var/log/helm-build.log)" >&2
    if ! GOBIN="$tools" go install "helm.sh/helm/v3/cmd/helm@$version" >"$log" 2>&1; then
      echo "lotus: building Helm failed; the end of $log:" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
  fi
  exec 9>&-
fi
exec "$helm" "$@"

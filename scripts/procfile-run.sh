#!/usr/bin/env bash
# Run one Procfile entry, as each supervisord program of `make up` does (scripts/supervisord-conf.sh):
#   scripts/procfile-run.sh PROCFILE NAME
# The entry is a shell command line (it may use ${VAR:-default}); bash replaces itself with a
# simple command, so the pid supervisord watches and signals is the process's own.
set -euo pipefail
procfile=$1
name=$2
command=$(sed -n "s/^$name:[[:space:]]*//p" "$procfile" | head -n 1)
if [ -z "$command" ]; then
  echo "lotus: $procfile has no entry $name" >&2
  exit 2
fi
exec bash -c "$command"

#!/usr/bin/env bash
# Run one Procfile entry with its output (stdout and stderr) prefixed by its name: what every
# supervisord program of `make up` runs (scripts/supervisord-conf.sh).
#   scripts/procfile-run.sh PROCFILE NAME [WIDTH]
# The entry's command replaces this shell, so the pid supervisord watches and signals is the
# process's own. The prefixing sed ignores SIGINT and SIGTERM (a stop signals the whole process
# group) and ends when the output does, so the process's last lines are still printed.
set -euo pipefail
procfile=$1
name=$2
width=${3:-${#name}}
command=$(sed -n "s/^$name:[[:space:]]*//p" "$procfile" | head -n 1)
if [ -z "$command" ]; then
  echo "lotus: $procfile has no entry $name" >&2
  exit 2
fi
prefix=$(printf '%-*s | ' "$width" "$name")
exec > >(
  trap '' INT TERM
  exec sed -u "s/^/$prefix/"
) 2>&1
exec bash -c "exec $command"

#!/usr/bin/env bash
# Formatting, lint and the import contracts that keep the six services independent.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LOTUS_VENV:-.venv}/bin
echo "lotus: ruff format --check" >&2
"$bin/ruff" format --check .
echo "lotus: ruff check" >&2
"$bin/ruff" check .
echo "lotus: import-linter" >&2
"$bin/lint-imports"

#!/usr/bin/env bash
# Create the virtualenv (LOTUS_VENV, default .venv) with LOTUS_PYTHON (>= 3.11) and install
# the pinned requirements file given as $1.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${LOTUS_PYTHON:-python3}
venv=${LOTUS_VENV:-.venv}
requirements=${1:-requirements.txt}

if ! command -v "$python" >/dev/null 2>&1; then
  echo "lotus: $python not found; Python 3.11+ is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "lotus: Python 3.11+ is required (found $("$python" --version 2>&1)); set PYTHON=..." >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "lotus: creating the virtualenv in $venv" >&2
  "$python" -m venv "$venv"
fi
echo "lotus: installing $requirements into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"

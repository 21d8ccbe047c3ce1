#!/usr/bin/env bash
# This checkout's secrets (lotus/local_secrets.py): a Django secret key, the RSA key pair that
# signs (profiles) and verifies (every service) tokens, and the operator's password, generated
# once under var/secrets/ (LOTUS_SECRETS_DIR; mode 600) and printed, the password, when made.
#   scripts/secrets.sh env      export lines for what the environment does not set yet (eval them)
#   scripts/secrets.sh ensure   only generate what is missing
#   scripts/secrets.sh dir      print the directory
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${LOTUS_VENV:-.venv}/bin/python" -m lotus.local_secrets "${1:-env}"

#!/usr/bin/env bash
# Install the npm packages pinned in package-lock.json into node_modules/: AsyncAPI's renderer
# (the /api/asyncapi page's static files), and for the tests newman and AsyncAPI's parser.
# Runs `npm ci` only when node_modules/ is missing or older than package-lock.json.
# Needs Node.js 18+ with npm.
set -euo pipefail
cd "$(dirname "$0")/.."
installed=node_modules/.package-lock.json
if [ -f "$installed" ] && [ ! package-lock.json -nt "$installed" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "lotus: npm (Node.js 18+) is required: the AsyncAPI page's renderer, newman and AsyncAPI's" \
    "parser come from npm (package-lock.json)" >&2
  exit 1
fi
echo "lotus: installing the npm packages of package-lock.json with npm ci" >&2
npm ci --no-audit --no-fund --loglevel=error

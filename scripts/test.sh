#!/usr/bin/env bash
# The README's test command: installs what is missing, type-checks, then runs every test
# against real servers (Temporal dev server, PyKMIP, cfssl) that jest's global setup starts
# on loopback and stops at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
npx tsc -p tsconfig.test.json
exec npx jest --ci "$@"

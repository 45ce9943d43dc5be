#!/usr/bin/env bash
# The README's demo command: installs what is missing, then runs every runbook against a local
# simulated cluster with live progress (Temporal UI on http://127.0.0.1:8233 while it runs).
# Ctrl-C stops it; running it again resumes. Extra arguments go to `ekm demo` (--fresh, --fast).
set -euo pipefail
cd "$(dirname "$0")/.."
# --help installs nothing (when the CLI is built already).
case " $* " in
  *" --help "* | *" -h "*) if [ -f dist/src/cli/main.js ]; then exec node dist/src/cli/main.js demo --help; fi ;;
esac
scripts/bootstrap.sh
exec node dist/src/cli/main.js demo "$@"

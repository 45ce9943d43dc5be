#!/usr/bin/env bash
# The README's test command. Two tiers (jest projects, listed in jest.config.js):
#   scripts/test.sh                everything: installs what is missing, type-checks, lints, runs the unit
#                                  tier, then the integration tier against real servers (Temporal dev
#                                  server, PyKMIP, cfssl) that jest's global setup starts on loopback
#                                  and stops at the end. What CI runs.
#   scripts/test.sh --unit         the fast loop: the unit tier alone. No server, no dist/ build, no
#                                  type-check (npx tsc -p tsconfig.test.json does that).
#   scripts/test.sh --integration  installs, type-checks, then the integration tier alone.
# Other arguments go to jest (a path, -t NAME, ...): `scripts/test.sh --unit test/kmip`, or without a
# tier flag one jest run over both tiers (servers are started only if an integration test is picked).
# (They go before --selectProjects, which would take any word after it for a project name.)
set -euo pipefail
cd "$(dirname "$0")/.."
jest=node_modules/.bin/jest

# The unit tier's files are independent: two workers (the integration tier runs its files one after
# another, jest.config.js), unless the arguments choose.
unit_workers() {
  case " $* " in *" -w"* | *" --maxWorkers"* | *" -i "* | *" --runInBand "*) ;; *) echo --maxWorkers=2 ;; esac
}

tier=all
case "${1:-}" in
  --unit) tier=unit; shift ;;
  --integration) tier=integration; shift ;;
esac

if [ "$tier" = unit ]; then
  # Only the node modules are needed: bootstrap when there are none; say so when they may be stale
  # (no `npm ci` under a running test, nor over a dependency being tried with `npm install`).
  [ -d node_modules ] || scripts/bootstrap.sh
  cmp -s package-lock.json node_modules/.ekm-lock-stamp 2>/dev/null ||
    echo "[test] package-lock.json changed since the last scripts/bootstrap.sh: node_modules may be stale" >&2
  exec "$jest" --ci $(unit_workers "$@") "$@" --selectProjects unit
fi

scripts/bootstrap.sh
npx tsc -p tsconfig.test.json
# The folder boundaries (workflows import no I/O, the product no tooling) and no floating promises.
npx eslint --max-warnings 0 .
if [ "$tier" = integration ]; then exec "$jest" --ci "$@" --selectProjects integration; fi
if [ $# -gt 0 ]; then exec "$jest" --ci "$@"; fi

started=$SECONDS
unit=0
"$jest" --ci "$(unit_workers)" --selectProjects unit || unit=$?
unit_time=$((SECONDS - started))
integration=0
"$jest" --ci --selectProjects integration || integration=$?
integration_time=$((SECONDS - started - unit_time))
verdict() { if [ "$1" = 0 ]; then echo passed; else echo "FAILED (exit $1)"; fi; }
printf '\n[test] unit tier: %s in %ss; integration tier: %s in %ss\n' \
  "$(verdict $unit)" "$unit_time" "$(verdict $integration)" "$integration_time"
[ "$unit" = 0 ] && [ "$integration" = 0 ]

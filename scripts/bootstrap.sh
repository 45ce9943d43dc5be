#!/usr/bin/env bash
# Installs what the tests and the demo need, only when it is missing, and caches it.
#   - node modules (npm ci, re-run when package-lock.json changes)
#   - the `temporal` CLI (dev server), built from its Go module into $EKM_TOOLS/bin
#   - PyKMIP (Debian python3-pykmip) and cfssl (Debian golang-cfssl)
#   - Chromium (Debian chromium) for the console's browser tests
#   - the TypeScript build in dist/
# Safe to run any number of times. Prints where each tool is.
set -euo pipefail

cd "$(dirname "$0")/.."
EKM_TOOLS="${EKM_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ekm-tools}"
TEMPORAL_CLI_VERSION="1.5.1"
TEMPORAL_BIN="$EKM_TOOLS/bin/temporal"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    log "need root to run: $*"; return 1; fi
}

apt_install() {
  log "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -q --no-install-recommends "$@" >/dev/null; then
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q --no-install-recommends "$@" >/dev/null
  fi
}

ensure_debian_tools() {
  local missing=()
  [ -x /usr/bin/pykmip-server ] || missing+=(python3-pykmip)
  command -v cfssl >/dev/null || missing+=(golang-cfssl)
  command -v openssl >/dev/null || missing+=(openssl)
  # The console's browser tests drive Debian's Chromium (playwright-core, no browser download).
  command -v chromium >/dev/null || missing+=(chromium fonts-liberation)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
  # PyKMIP 0.10 breaks on Python >= 3.12; Debian bookworm's /usr/bin/python3 is 3.11.
  head -1 /usr/bin/pykmip-server | grep -q '/usr/bin/python3' || { log "unexpected pykmip-server interpreter"; exit 1; }
}

ensure_temporal() {
  if [ -x "$TEMPORAL_BIN" ] && "$TEMPORAL_BIN" --version 2>/dev/null | grep -q "$TEMPORAL_CLI_VERSION"; then
    return
  fi
  command -v go >/dev/null || { log "Go is needed to build the temporal CLI"; exit 1; }
  log "building temporal CLI v$TEMPORAL_CLI_VERSION from its Go module (first run only, a few minutes)"
  mkdir -p "$EKM_TOOLS/bin"
  CGO_ENABLED=0 GOBIN="$EKM_TOOLS/bin" go install \
    -ldflags "-s -w -X github.com/temporalio/cli/temporalcli.Version=$TEMPORAL_CLI_VERSION" \
    "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
}

# The Compose specification's JSON schema, from compose-go (the library docker compose uses);
# the tests check docker-compose.yml against it.
COMPOSE_GO_VERSION="v2.16.2"
ensure_compose_schema() {
  local target="$EKM_TOOLS/compose-spec-$COMPOSE_GO_VERSION.json"
  [ -s "$target" ] && return
  log "fetching the compose specification schema (compose-go $COMPOSE_GO_VERSION)"
  local dir
  dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  mkdir -p "$EKM_TOOLS"
  install -m 0644 "$dir/schema/compose-spec.json" "$target"
}

ensure_node_modules() {
  local stamp=node_modules/.ekm-lock-stamp
  if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then return; fi
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json "$stamp"
}

# Rebuilt only when a source changed since the last build (the stamp the tests' global setup uses too).
ensure_build() {
  local stamp=dist/.compiled-at
  if [ -f "$stamp" ] && [ -z "$(find src workflows activities worker tools tsconfig.json package-lock.json -newer "$stamp" -print -quit)" ]; then
    return
  fi
  log "compiling TypeScript"
  npx tsc -p tsconfig.json
  date -u +%Y-%m-%dT%H:%M:%SZ > "$stamp"
}

ensure_debian_tools
ensure_temporal
ensure_compose_schema
ensure_node_modules
ensure_build

log "temporal: $TEMPORAL_BIN ($("$TEMPORAL_BIN" --version | head -1))"
log "pykmip:   /usr/bin/pykmip-server"
log "cfssl:    $(command -v cfssl)"
log "chromium: $(command -v chromium)"

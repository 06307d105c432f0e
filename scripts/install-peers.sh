#!/usr/bin/env bash
# Install the real MCP peers used by warden's integration tests:
#   - npm @modelcontextprotocol/server-everything and server-filesystem (pinned)
#   - a Python venv with the official MCP Python SDK (pinned)
# Usage: scripts/install-peers.sh [DIR]   (default: <repo root>/.peers)
# Idempotent: a stamp file records the installed versions; a matching stamp
# (and the expected files present) makes this a no-op. Progress goes to stderr.
set -euo pipefail

EVERYTHING_VERSION="2026.8.31"
FILESYSTEM_VERSION="2026.8.31"
MCP_PY_VERSION="2.3.0"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$REPO_ROOT/.peers}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

STAMP="$DIR/.stamp"
WANT_STAMP="server-everything=$EVERYTHING_VERSION
server-filesystem=$FILESYSTEM_VERSION
mcp-python=$MCP_PY_VERSION"

log() { printf 'install-peers: %s\n' "$*" >&2; }

EVERYTHING_JS="$DIR/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
FILESYSTEM_JS="$DIR/node/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"
VENV_PY="$DIR/venv/bin/python"

if [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$WANT_STAMP" ]] \
    && [[ -f "$EVERYTHING_JS" ]] && [[ -f "$FILESYSTEM_JS" ]] && [[ -x "$VENV_PY" ]]; then
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
    "@modelcontextprotocol/server-filesystem@$FILESYSTEM_VERSION" 1>&2

log "creating Python venv in $DIR/venv"
if [[ ! -x "$VENV_PY" ]]; then
    python3 -m venv "$DIR/venv" 1>&2 || {
        log "python3 -m venv failed (on Debian: apt-get install python3-venv)"
        rm -rf "$DIR/venv"
        exit 1
    }
fi
log "installing mcp==$MCP_PY_VERSION"
"$VENV_PY" -m pip install --quiet --disable-pip-version-check --no-input "mcp==$MCP_PY_VERSION" 1>&2

for f in "$EVERYTHING_JS" "$FILESYSTEM_JS"; do
    [[ -f "$f" ]] || { log "missing after install: $f"; exit 1; }
done
"$VENV_PY" -c 'import mcp' 1>&2

printf '%s' "$WANT_STAMP" > "$STAMP"
log "done"

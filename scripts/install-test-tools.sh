#!/usr/bin/env bash
# Install the system tools warden's tests drive, from Debian's packages:
# - `prometheus` (the server and `promtool`): the Prometheus scrape test and the alert-rule tests;
# - `golang-go` and `golang-golang-x-mod-dev` (Go and `golang.org/x/mod/sumdb/{note,tlog}`): the
#   Go program in crates/warden/tests/go checks warden's checkpoints, proofs and tiles with
#   Go's reference implementation.
# Each tool is installed only when missing, so the script is idempotent per tool.
# Needs root (CI runs as root) or sudo.
set -euo pipefail
log() { printf 'install-test-tools: %s\n' "$*" >&2; }

GOCODE=/usr/share/gocode/src/golang.org/x/mod/sumdb

missing=()
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    log "prometheus and promtool present"
else
    missing+=(prometheus)
fi
if command -v go >/dev/null 2>&1; then
    log "go present"
else
    missing+=(golang-go)
fi
if [[ -d "$GOCODE/note" && -d "$GOCODE/tlog" ]]; then
    log "golang.org/x/mod/sumdb present"
else
    missing+=(golang-golang-x-mod-dev)
fi
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || { log "apt-get not found: install ${missing[*]} by hand"; exit 1; }
SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"
log "installing Debian's ${missing[*]}"
$SUDO apt-get update -qq 1>&2
# The prometheus package's service is not started here (no init in containers; tests run their own).
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" 1>&2
command -v promtool >/dev/null 2>&1 || { log "promtool missing after install"; exit 1; }
command -v go >/dev/null 2>&1 || { log "go missing after install"; exit 1; }
[[ -d "$GOCODE/tlog" ]] || { log "$GOCODE/tlog missing after install"; exit 1; }
log "done: $(prometheus --version 2>&1 | head -1); $(go version)"

#!/usr/bin/env bash
# Install the system tools warden's tests drive: Debian's `prometheus` package (the server
# and `promtool`), used by the Prometheus scrape test and the alert-rule tests.
# Idempotent: does nothing when both are on PATH. Needs root (CI runs as root).
set -euo pipefail
log() { printf 'install-test-tools: %s\n' "$*" >&2; }
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    log "prometheus and promtool present"
    exit 0
fi
command -v apt-get >/dev/null 2>&1 || { log "apt-get not found: install prometheus (with promtool) by hand"; exit 1; }
SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"
log "installing Debian's prometheus package"
$SUDO apt-get update -qq 1>&2
# The package's service is not started here (no init in containers; tests run their own).
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus 1>&2
command -v promtool >/dev/null 2>&1 || { log "promtool missing after install"; exit 1; }
log "done: $(prometheus --version 2>&1 | head -1)"

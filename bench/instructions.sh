#!/usr/bin/env bash
# instructions.sh: instructions per proxied call, for warden and for the bare relay, so a
# regression is visible on a noisy machine (wall clock swings by ±50% here; instruction counts
# by well under 1%).
#
# Each path is driven by `loadgen drive` for LO and then HI sequential ~100-byte echo calls
# (and for the 1 MB profile, LO_MB and HI_MB calls of 1 MB); the proxy process is counted with
# `perf stat -e instructions:u` where the machine has hardware counters, else under
# `valgrind --tool=callgrind` (the echo server is not counted: valgrind does not follow
# children). Instructions per call = (count at HI − count at LO) / (HI − LO), so start-up, the
# handshake and shutdown cancel out. Under callgrind, warden's per-stage breakdown
# (cg-stages.py) comes from the same files.
#
# Usage: bench/instructions.sh [--lo N] [--hi N] [--lo-mb N] [--hi-mb N] [--no-large]
#                              [--no-sync] [--warden PATH] [--bin DIR] [--out DIR]
#   --bin: where loadgen, relay and mcp-echo-server are (default: $BENCH_BIN, else
#          $CARGO_TARGET_DIR/release, else bench/target/release)
#   --out: where the callgrind files and the report go (default: a fresh dir in /tmp)
# Prints a markdown report on stdout (also written to OUT/report.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
lo=100
hi=1100
lo_mb=2
hi_mb=8
large=1
sync=1
warden=${WARDEN_BIN:-$here/../target/release/warden}
bin=${BENCH_BIN:-${CARGO_TARGET_DIR:-$here/target}/release}
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --lo) lo=$2; shift 2 ;;
    --hi) hi=$2; shift 2 ;;
    --lo-mb) lo_mb=$2; shift 2 ;;
    --hi-mb) hi_mb=$2; shift 2 ;;
    --no-large) large=0; shift ;;
    --no-sync) sync=0; shift ;;
    --warden) warden=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "instructions.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for b in "$bin/loadgen" "$bin/relay" "$bin/mcp-echo-server" "$warden"; do
  [ -x "$b" ] || { echo "instructions.sh: missing $b (see --bin, --warden)" >&2; exit 2; }
done
out=${out:-$(mktemp -d /tmp/warden-instructions.XXXXXX)}
mkdir -p "$out"
server="$bin/mcp-echo-server"

# Which counter: perf's hardware counter if it works here, else callgrind.
if perf stat -x, -e instructions:u true 2>&1 >/dev/null | grep -qE '^[0-9]+,'; then
  tool=perf
elif command -v valgrind >/dev/null; then
  tool=callgrind
else
  echo "instructions.sh: no hardware counters and no valgrind (apt-get install valgrind)" >&2
  exit 2
fi

# count NAME CALLS BYTES CMD...: runs `loadgen drive` on the counted CMD, prints its
# instruction count and (callgrind only, else 0) its system-call count.
count() {
  local name=$1 calls=$2 bytes=$3; shift 3
  local tag="$name-$calls"
  local msg=()
  [ "$bytes" = 0 ] || msg=(--message-bytes "$bytes")
  if [ $tool = perf ]; then
    "$bin/loadgen" drive --calls "$calls" "${msg[@]}" -- \
      perf stat -x, -e instructions:u -o "$out/$tag.perf" -- "$@" >"$out/$tag.drive.json"
    echo "$(grep -E '^[0-9]+,' "$out/$tag.perf" | head -1 | cut -d, -f1) 0"
  else
    "$bin/loadgen" drive --calls "$calls" "${msg[@]}" -- \
      valgrind --tool=callgrind --collect-systime=yes --callgrind-out-file="$out/$tag.cg" \
      --log-file="$out/$tag.vg.log" "$@" >"$out/$tag.drive.json"
    # The "summary:" line holds the whole run's counts (all threads), in the order of the
    # "events:" line: Ir sysCount sysTime.
    grep -E '^summary:' "$out/$tag.cg" | awk '{print $2, $3}'
  fi
}

# per_call NAME LO HI BYTES CMD...: instructions per call between LO and HI calls.
declare -A per sys
per_call() {
  local name=$1 l=$2 h=$3 bytes=$4; shift 4
  diff_counts "$name" "$l" "$h" "$(count "$name" "$l" "$bytes" "$@")" "$(count "$name" "$h" "$bytes" "$@")"
}
# diff_counts NAME LO HI "IR_LO SYS_LO" "IR_HI SYS_HI": fills per[NAME] and sys[NAME].
diff_counts() {
  local name=$1 l=$2 h=$3 a b
  read -r -a a <<<"$4"
  read -r -a b <<<"$5"
  per[$name]=$(( (b[0] - a[0]) / (h - l) ))
  sys[$name]=$(awk -v x="${a[1]}" -v y="${b[1]}" -v n=$((h - l)) 'BEGIN { printf "%.1f", (y - x) / n }')
  echo "instructions.sh: $name: ${a[0]} at $l calls, ${b[0]} at $h calls → ${per[$name]} per call" >&2
}

warden_cmd() { # warden_cmd TAG [extra warden flags]: a fresh store per run
  local d; d=$(mktemp -d "$out/store-$1.XXXXXX"); shift
  echo "$warden" run --db "$d/audit.db" --key-dir "$d/keys" "$@" -- "$server"
}

echo "instructions.sh: counting with $tool into $out" >&2
per_call relay "$lo" "$hi" 0 "$bin/relay" -- "$server"
# count_warden NAME LO HI BYTES [warden flags]: like per_call, each run with a fresh store
# (the command line is split on spaces: the paths are mktemp dirs without any).
count_warden() {
  local name=$1 l=$2 h=$3 bytes=$4; shift 4
  local a b
  # shellcheck disable=SC2046
  a=$(count "$name" "$l" "$bytes" $(warden_cmd "$name-$l" "$@"))
  # shellcheck disable=SC2046
  b=$(count "$name" "$h" "$bytes" $(warden_cmd "$name-$h" "$@"))
  diff_counts "$name" "$l" "$h" "$a" "$b"
}
count_warden warden "$lo" "$hi" 0
[ $sync = 1 ] && count_warden warden-sync "$lo" "$hi" 0 --durability sync
if [ $large = 1 ]; then
  per_call relay-1mb "$lo_mb" "$hi_mb" 1000000 "$bin/relay" -- "$server"
  count_warden warden-1mb "$lo_mb" "$hi_mb" 1000000
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "–" }'; }
{
  echo "## Instructions per proxied call ($tool)"
  echo
  echo "Counted in the proxy process only (all its threads); $((hi - lo)) sequential ~100-byte echo calls"
  echo "(difference between $hi and $lo calls)$( [ $large = 1 ] && echo ", and $((hi_mb - lo_mb)) sequential 1 MB echoes ($hi_mb − $lo_mb)")."
  echo "warden: \`$warden\` ($("$warden" --version 2>/dev/null || echo '?'))."
  echo
  echo "User-space instructions only: the kernel's work for the system calls is not counted"
  echo "(their number per call is, under callgrind)."
  echo
  echo "Under callgrind, sha2 runs its software rounds (valgrind has no SHA-NI), so the count"
  echo "without them (\"no SHA\") is printed too; natively SHA-NI does that work in a small fraction."
  echo
  echo "| path | instructions per call | / relay | no SHA | no SHA / relay | system calls per call |"
  echo "|---|---:|---:|---:|---:|---:|"
  nosha() { # nosha NAME LO HI: per-call count without sha2's software rounds (callgrind only)
    if [ $tool = callgrind ]; then python3 "$here/cg-stages.py" --without-sha "$2" "$out/$1-$2.cg" "$3" "$out/$1-$3.cg"
    else echo "${per[$1]}"; fi
  }
  row() { # row LABEL NAME BASE LO HI
    local a b; a=$(nosha "$2" "$4" "$5"); b=$(nosha "$3" "$4" "$5")
    echo "| $1 | ${per[$2]} | $(ratio "${per[$2]}" "${per[$3]}") | $a | $(ratio "$a" "$b") | ${sys[$2]} |"
  }
  row relay relay relay "$lo" "$hi"
  row "warden (batch)" warden relay "$lo" "$hi"
  [ $sync = 1 ] && row "warden --durability sync" warden-sync relay "$lo" "$hi"
  if [ $large = 1 ]; then
    row "relay, 1 MB echo" relay-1mb relay-1mb "$lo_mb" "$hi_mb"
    row "warden (batch), 1 MB echo" warden-1mb relay-1mb "$lo_mb" "$hi_mb"
  fi
  if [ $tool = callgrind ]; then
    echo
    echo "### warden (batch), small calls: per-stage inclusive instructions per call"
    echo
    python3 "$here/cg-stages.py" "$lo" "$out/warden-$lo.cg" "$hi" "$out/warden-$hi.cg"
    if [ $sync = 1 ]; then
      echo
      echo "### warden --durability sync, small calls: per-stage inclusive instructions per call"
      echo
      python3 "$here/cg-stages.py" --top 15 "$lo" "$out/warden-sync-$lo.cg" "$hi" "$out/warden-sync-$hi.cg"
    fi
    if [ $large = 1 ]; then
      echo
      echo "### warden (batch), 1 MB echoes: where the instructions go, per call"
      echo
      python3 "$here/cg-stages.py" "$lo_mb" "$out/warden-1mb-$lo_mb.cg" "$hi_mb" "$out/warden-1mb-$hi_mb.cg"
    fi
  fi
} | tee "$out/report.md"

#!/usr/bin/env bash
# trace-ab.sh: what tracing every exchange costs in throughput (issue 6's and issue 12's ≤ 5%).
# Runs loadgen's pipelined workload (relay and warden) in ROUNDS interleaved rounds of three
# configurations: off (default flags), metrics (--metrics-listen), and metrics + traces
# (--otlp-endpoint to a local OTLP/HTTP sink: a Python server that reads each export whole and
# answers 200, started here and stopped at the end). Prints, per configuration, the median
# warden pipelined calls/s, warden/relay ratio and CPU per call, and the share of "off".
#
# Usage: bench/trace-ab.sh [--rounds N] [--warden PATH] [--bin DIR] [--out DIR] [-- LOADGEN ARGS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=3
warden=${WARDEN_BIN:-$here/../target/release/warden}
bin=${BENCH_BIN:-${CARGO_TARGET_DIR:-$here/target}/release}
out=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --warden) warden=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "trace-ab.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out=$(mktemp -d /tmp/trace-ab.XXXXXX)
mkdir -p "$out"
# The sink: prints its port on its first line, then serves until killed.
python3 -u - > "$out/sink.port" 2> "$out/sink.err" <<'PY' &
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        self.rfile.read(n)
        sys.stderr.write(f"export {self.path} {n} bytes\n")
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
# Wait for the port line (the sink prints it once it listens).
for _ in $(seq 1 500); do [ -s "$out/sink.port" ] && break; sleep 0.01; done
port=$(head -1 "$out/sink.port")
[ -n "$port" ] || { echo "trace-ab.sh: the OTLP sink did not start: $(cat "$out/sink.err")" >&2; exit 1; }
declare -A args
args[off]=""
args[metrics]="--warden-arg --metrics-listen --warden-arg 127.0.0.1:0"
args[traces]="--warden-arg --metrics-listen --warden-arg 127.0.0.1:0 --warden-arg --otlp-endpoint --warden-arg http://127.0.0.1:$port"
for r in $(seq 1 "$rounds"); do
  for c in off metrics traces; do
    # shellcheck disable=SC2086
    "$bin/loadgen" --reps 1 --paths relay,warden --workloads pipe --no-soak --warden "$warden" \
      ${args[$c]} "${extra[@]}" --json "$out/$c-$r.json" > "$out/$c-$r.md" 2> "$out/$c-$r.err"
    echo "round $r $c done" >&2
  done
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys, os
out, rounds = sys.argv[1], int(sys.argv[2])
def rep(c, r):
    m = json.load(open(os.path.join(out, f"{c}-{r}.json")))["metrics"]
    calls = m["pipe_calls_per_s"]["per_rep"][0]
    cpu = m["pipe_cpu_us_per_call"]["per_rep"][0]
    return calls["warden"], calls["warden"] / calls["relay"], cpu["warden"]
data = {c: [rep(c, r) for r in range(1, rounds + 1)] for c in ("off", "metrics", "traces")}
med = lambda xs: statistics.median(xs)
print(f"Pipelined calls (loadgen --workloads pipe), {rounds} interleaved rounds; medians.\n")
print("| configuration | warden calls/s | warden/relay | share of off (paired by round) | CPU µs per call |")
print("|---|---:|---:|---:|---:|")
for c in ("off", "metrics", "traces"):
    rows = data[c]
    share = med([rows[i][1] / data["off"][i][1] for i in range(rounds)])
    print(f"| {c} | {med([r[0] for r in rows]):,.0f} | {med([r[1] for r in rows]):.3f}× | "
          f"{share:.3f} | {med([r[2] for r in rows]):.1f} |")
PY
echo "exports received by the sink: $(grep -c '^export' "$out/sink.err" || true) (sink.err)" >&2
echo "results in $out" >&2

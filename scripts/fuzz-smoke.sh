#!/usr/bin/env bash
# Builds the fuzz target with libFuzzer on stable Rust (sanitizer coverage, no ASan) and runs it
# for a bounded time from the checked-in seeds, so the target keeps building and a regression
# on the strict reading is caught. Usage: scripts/fuzz-smoke.sh [SECONDS] (default 30).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-30}"
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares"
cargo build --release --locked --target "$target" --bin parse_frame
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
"target/$target/release/parse_frame" -max_total_time="$secs" -print_final_stats=1 "$corpus" seeds 2>&1 | tail -n 5
